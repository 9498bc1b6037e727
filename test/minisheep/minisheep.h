/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * minisheep.h - internal interfaces of minisheep, the single-node Sheepdog
 * 1.0 compatible test server.  main.c parses options, cluster.c owns the
 * persisted cluster configuration, store.c keeps objects as files,
 * refcount.c counts inode references to data objects, vdi.c owns the VDI
 * state (bitmaps, lookup, locks, coherence, index updates), ops.c executes
 * one request, pool.c runs requests on worker threads, server.c is the event
 * loop, fault.c the control socket and ctl_client.c the --ctl client.
 */
#ifndef MINISHEEP_H
#define MINISHEEP_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "sd_list.h"
#include "sd_proto.h"

#define MS_NAME			"minisheep"
#define MS_MAX_LISTEN		16
#define MS_DEFAULT_WORKERS	8	/* --workers */
#define MS_MAX_WORKERS		256
#define MS_ATTR_OBJ_SIZE	66320
#define MS_BTREE_OBJ_SIZE	(UINT32_C(1) << 22)
#define MS_LEDGER_OBJ_SIZE	(UINT32_C(1) << 22)
#define MS_CLUSTER_FLAG_LOCK	0x0008
#define MS_NODE_SIZE		80
#define MS_VDI_STATE_SIZE	1428
#define MS_MAX_PARTICIPANTS	31

void ms_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- cluster.c: configuration persisted in DIR/config ---------------- */

struct ms_cluster {
	uint64_t ctime;		/* (sec << 32) | nsec, never 0 once formatted */
	uint8_t copies;
	uint8_t copy_policy;
	uint8_t block_shift;
	uint16_t flags;		/* MS_CLUSTER_FLAG_LOCK */
	char store[16];
};

extern struct ms_cluster ms_cluster;
extern char ms_dir[];		/* data directory */
extern bool ms_nosync;
extern int ms_workers;		/* worker threads; 0 = run in the event loop */
extern uint16_t ms_node_port;	/* first TCP listen port, else 7000 */

int cluster_load(const char *dir, int copies, int shift, bool lock);
int cluster_save(void);
uint64_t ms_now_ctime(void);
/* fill one 80-byte sd_node describing this node */
void cluster_fill_node(uint8_t *p);
void cluster_fill_node_id(uint8_t *p);

struct ms_request;
void cluster_get_node_list(struct ms_request *r);
void cluster_stat(struct ms_request *r);
void cluster_info(struct ms_request *r);
void cluster_make_fs(struct ms_request *r);
void cluster_get_default(struct ms_request *r);

/* ---- store.c: objects as files under DIR/obj ------------------------- */

int store_init(const char *dir);
/* all return SD_RES_* */
int store_read(uint64_t oid, void *buf, uint32_t len, uint64_t off);
int store_write(uint64_t oid, const void *buf, uint32_t len, uint64_t off);
/* create or replace @oid with @size zero bytes, @buf placed at @off */
int store_create(uint64_t oid, uint64_t size, const void *buf, uint32_t len,
		 uint64_t off);
int store_remove(uint64_t oid);
int store_size(uint64_t oid, uint64_t *size);
/* call @fn for every stored object; stops at a non-zero return */
int store_for_each(int (*fn)(uint64_t oid, void *arg), void *arg);
int store_wipe(void);
/* size a new object of this type gets, 0 if the oid is not valid */
uint64_t store_object_size(uint64_t oid, uint8_t data_shift);

/* ---- refcount.c: data object -> number of inode entries ---------------- */

void ref_get(uint64_t oid);
/* returns the remaining count (non-zero when it was never counted) */
uint32_t ref_put(uint64_t oid);
uint32_t ref_count(uint64_t oid);
void ref_clear(void);

/* ---- vdi.c ---------------------------------------------------------- */

int vdi_init(void);
/* largest object size a request may carry */
uint64_t vdi_max_object_size(void);
uint8_t vdi_shift_of(uint32_t vid);
bool vdi_is_snapshot(uint32_t vid);

void vdi_op_new(struct ms_request *r);
void vdi_op_lookup(struct ms_request *r);	/* GET_VDI_INFO, LOCK_VDI */
void vdi_op_release(struct ms_request *r);
void vdi_op_del(struct ms_request *r);
void vdi_op_read_bitmap(struct ms_request *r, bool deleted);
void vdi_op_get_copies(struct ms_request *r);
void vdi_op_get_attr(struct ms_request *r);
void vdi_op_discard(struct ms_request *r);
/*
 * Shared-lock participants and coherence state are keyed by a participant
 * id (server.c: the client process, or the connection, see
 * ms_participant_mode); it stands for the sheep node that received the
 * request.
 */
/* write to an inode object (index updates, coherence); SD_RES_* */
int vdi_inode_write(uint64_t oid, const uint8_t *buf, uint32_t len,
		    uint64_t off, uint64_t part_id);
/* create of an inode object through CREATE_AND_WRITE_OBJ; SD_RES_* */
int vdi_inode_create(uint64_t oid, const uint8_t *buf, uint32_t len,
		     uint64_t off);
/* coherence gate for TGT-flagged object I/O; SD_RES_* */
int vdi_coherence_check(uint64_t oid, uint64_t part_id);
int vdi_refresh_read(uint64_t oid, uint8_t *buf, uint32_t len,
		     uint64_t part_id);
/* the last connection of @part_id closed: drop it from shared locks;
 * returns how many it was in */
int vdi_participant_left(uint64_t part_id);
void vdi_wipe(void);

/* ---- requests (ops.c executes, server.c moves them) ------------------ */

struct ms_conn;

struct ms_request {
	struct sd_list link;
	struct ms_conn *conn;
	uint64_t conn_id;
	uint64_t part_id;	/* lock / coherence participant (server.c) */
	struct sd_req req;
	uint8_t *data;		/* request payload (WRITE flag) */
	uint32_t data_len;
	struct sd_rsp rsp;
	uint8_t rhdr[SD_HDR_SIZE];
	uint8_t *rdata;		/* response payload, rsp.data_length bytes */
	uint64_t due_ms;	/* delayed delivery */
	uint32_t seq;		/* order of arrival on its connection */
};

void ops_execute(struct ms_request *r);
void ops_reply_error(struct ms_request *r, uint32_t result);
/* allocate the response buffer; false (and NO_MEM) on failure */
bool ops_alloc_rdata(struct ms_request *r, uint32_t len);

/* ---- pool.c --------------------------------------------------------- */

int pool_start(int nr_threads, void (*done)(struct ms_request *r));
void pool_submit(struct ms_request *r);

/* ---- server.c ------------------------------------------------------- */

/*
 * Who is one shared-lock / coherence participant ("sheep node"):
 * PROCESS - every connection of one client process (SO_PEERCRED pid of a
 *           UNIX socket peer); TCP peers and peers without a visible pid
 *           fall back to one participant per connection.
 * CONNECTION - every connection on its own.
 */
enum ms_participant_mode {
	MS_PARTICIPANT_PROCESS,
	MS_PARTICIPANT_CONNECTION,
};

extern enum ms_participant_mode ms_participant_mode;

int server_run(const char **listen, int nr_listen, const char *ctl_path);
void server_kill_connections(void);
void server_release_stalled(void);
void server_stats(char *buf, size_t len);
uint64_t ms_now_ms(void);

/* ---- fault.c -------------------------------------------------------- */

struct ms_faults {
	unsigned int delay_ms;
	unsigned int reorder;
	unsigned int drop_after;
	bool stall;
	bool err_on[256];
	uint32_t err_result[256];
	unsigned int err_left[256];	/* 0 = until cleared */
};

extern struct ms_faults ms_faults;
/* true if @opcode must be answered with *result without executing */
bool fault_error_for(uint8_t opcode, uint32_t *result);
/* run one control command line; writes the one-line answer */
void fault_command(char *line, char *out, size_t outlen);

/* ---- ctl_client.c --------------------------------------------------- */

int ctl_client_main(const char *path, int argc, char **argv);

#endif
