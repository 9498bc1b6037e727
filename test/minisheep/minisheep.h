/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * minisheep.h - internal interfaces of minisheep, a Sheepdog 1.0
 * compatible test server: one process and one object store that play a
 * small cluster of "sheep nodes".  main.c parses options, cluster.c owns the
 * persisted cluster configuration and the cluster-level requests, store.c
 * keeps objects as files, refcount.c counts inode references to data
 * objects, node.c holds the nodes, the ordered cluster event queue and each
 * node's own view of the VDI state (locks, participants, coherence,
 * snapshot flags, membership, epochs, object placement and recovery
 * windows), group.c runs cluster operations one at a time and the
 * asynchronous reference drops, vdi.c owns the VDI operations (lookup,
 * NEW_VDI, DEL_VDI, GET_VDI_ATTR, index updates), queue.c decides what a
 * request meets before it runs (node status, epochs, recovery, HALT),
 * ops.c executes one request, pool.c runs requests on worker threads,
 * server.c is the event loop, fault.c the control socket and
 * ctl_client.c the --ctl client.
 */
#ifndef MINISHEEP_H
#define MINISHEEP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "sd_list.h"
#include "sd_proto.h"

#define MS_NAME			"minisheep"
#define MS_MAX_LISTEN		16
#define MS_MAX_NODES		8	/* --listen N=ADDR, N = 1..8 */
#define MS_DEFAULT_WORKERS	8	/* --workers */
#define MS_MAX_WORKERS		256
#define MS_ATTR_OBJ_SIZE	66320
#define MS_BTREE_OBJ_SIZE	(UINT32_C(1) << 22)
#define MS_LEDGER_OBJ_SIZE	(UINT32_C(1) << 22)
#define MS_CLUSTER_FLAG_STRICT	0x0001	/* dog cluster format -t */
#define MS_CLUSTER_FLAG_LOCK	0x0008
#define MS_NODE_SIZE		80
#define MS_VDI_STATE_SIZE	1428
#define MS_MAX_PARTICIPANTS	31

/*
 * sheep's internal results (include/internal_proto.h), which its gateway
 * handles itself; only fault injection ("error OP RESULT") sends them to a
 * client
 */
#define MS_RES_OLD_NODE_VER	0x81
#define MS_RES_NEW_NODE_VER	0x82
#define MS_RES_NETWORK_ERROR	0x86

/* node_recovery_gate(): hold the request and look again later */
#define MS_GATE_WAIT		0x10000

/* GET_VDI_ATTR flags (sheep's SD_FLAG_CMD_CREAT, _EXCL, _DEL) */
#define MS_FLAG_CMD_CREAT	0x0100
#define MS_FLAG_CMD_EXCL	0x0200
#define MS_FLAG_CMD_DEL		0x0400

void ms_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* sleep @ms milliseconds, resuming after signals */
void ms_sleep_ms(unsigned int ms);

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

int cluster_load(const char *dir, int copies, int shift, bool lock,
		 bool strict);
int cluster_save(void);
uint64_t ms_now_ctime(void);
static inline bool ms_use_lock(void)
{
	return __atomic_load_n(&ms_cluster.flags, __ATOMIC_ACQUIRE) &
		MS_CLUSTER_FLAG_LOCK;
}

struct ms_request;
void cluster_get_node_list(struct ms_request *r);
void cluster_stat(struct ms_request *r);
void cluster_info(struct ms_request *r);
int cluster_make_fs(struct ms_request *r);
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
/* control "create-delay": ms between writing a create's temporary file
 * and renaming it over the object */
extern unsigned int store_create_delay_ms;
/* creates that replaced an existing object / found another create's
 * temporary file (stats) */
extern uint64_t store_nr_replaced, store_nr_tmp_exists;

/* ---- refcount.c: data object -> number of inode entries ---------------- */

/* all take their own lock */
void ref_get(uint64_t oid);
/* returns the remaining count (non-zero when it was never counted) */
uint32_t ref_put(uint64_t oid);
uint32_t ref_count(uint64_t oid);
void ref_clear(void);

/* ---- node.c: nodes, the cluster event queue, per-node VDI views ------ */

/*
 * A participant key names who holds a lock or takes part in a shared lock,
 * like sheep's struct node_id: the node's port in the low 16 bits (its
 * address is always 127.0.0.1); --participant connection adds the
 * connection id above them.
 */
extern unsigned int ms_lag_ms, ms_jitter_ms;	/* --cluster-lag MS[:J] */
extern unsigned int ms_recovery_ms, ms_recovery_pct;	/* --recovery */

/* sheep's sys->cinfo.status of one node, and its absence */
enum ms_node_state {
	MS_NODE_DOWN,		/* killed or stopped */
	MS_NODE_WAIT,		/* SD_STATUS_WAIT: listening, not accepted */
	MS_NODE_UP,		/* SD_STATUS_OK */
	MS_NODE_STOPPING,	/* SD_STATUS_KILLED: SIGTERM, dog node kill */
	MS_NODE_SHUTDOWN,	/* SD_STATUS_SHUTDOWN: dog cluster shutdown */
};

int node_setup(const bool exists[MS_MAX_NODES],
	       const uint16_t tcp_port[MS_MAX_NODES]);
bool node_exists(int n);
/* a member of the cluster: UP, STOPPING or SHUTDOWN */
bool node_alive(int n);
enum ms_node_state node_state(int n);
const char *node_state_name(enum ms_node_state st);
void node_set_state(int n, enum ms_node_state st);
uint64_t node_key(int n);
uint16_t node_port(int n);
int node_nr_alive(void);
/* the 40-byte node_id of a participant key */
void node_fill_id(uint8_t *p, uint64_t key);
/* one 80-byte sd_node of node @n */
void node_fill_sd_node(uint8_t *p, int n);
uint32_t node_epoch(int n);	/* the epoch node @n has reached */
uint32_t node_epoch_nodes(uint32_t epoch, uint32_t *alive_mask,
			  uint64_t *time_s);
/* a member leaves / a node joins: events, a new epoch, recovery */
void node_leave(int n);
void node_join(int n, unsigned int collect_ms);
/* a non-member (WAIT, or after a cluster shutdown) goes down */
void node_down(int n);
/* the cluster was down: form it from the waiting nodes in @ready once
 * they include the latest epoch's nodes; true if it formed */
bool node_form_cluster(uint32_t ready);
uint32_t node_waiting_mask(void);
void node_set_recovery(unsigned int ms, unsigned int pct);
/* what a gateway request meets (queue.c): SD_RES_SUCCESS, SD_RES_NO_OBJ
 * or MS_GATE_WAIT until *until_us */
int node_recovery_gate(int n, uint64_t oid, bool read, uint64_t *until_us);
uint64_t node_membership_wait_us(void);
bool node_halted(int n, uint32_t vid, bool write);
bool node_collecting(int n);
uint32_t node_members(int n);
void node_set_lag(unsigned int lag_ms, unsigned int jitter_ms);
void node_stats(int n, char *buf, size_t len);
void node_locks(int n, char *buf, size_t len);

/* start-up scan and wipes: every view at once */
void node_add_vdi_state_all(uint32_t vid, uint8_t copies, bool snapshot,
			    uint8_t policy, uint8_t shift, uint32_t parent);
void node_clean_vdi_state_all(void);

/* queries, on node @n's view as it is now (sheep/vdi.c) */
bool node_is_refresh_required(int n, uint64_t self, uint32_t vid);
bool node_oid_is_readonly(int n, uint64_t oid);
/* node @n's copies and (unless @shift is NULL) block shift of VDI @vid */
void node_get_vdi_layout(int n, uint32_t vid, uint8_t *copies,
			 uint8_t *shift);
/* GET_VDI_COPIES: node @n's vdi_state list into @buf (or BUFFER_SMALL) */
int node_fill_vdi_states(int n, uint8_t **buf, uint32_t max, uint32_t *len);
/* vids of NEW_VDI / DEL_VDI events node @n has not applied yet */
void node_unapplied_bits(int n, bool deleted, uint8_t *bitmap);

/* cluster notifications: post, then wait until node @n applied them */
void node_invalidate_other_nodes(int n, uint64_t self, uint32_t vid);
void node_validate_myself(int n, uint64_t self, uint32_t vid);
int node_notify_vdi_add(int n, uint32_t new_vid, uint8_t copies,
			uint32_t old_vid, uint8_t policy, uint8_t shift);
/* the process_main of a cluster operation; returns its result on @n */
int node_cluster_main(int n, uint64_t self, uint8_t opcode, uint32_t vid,
		      uint32_t type);
/* wait until node @n applied every event posted so far */
void node_catch_up(int n);

/* ---- vdi.c ---------------------------------------------------------- */

int vdi_init(void);
/* largest object size a request may carry */
uint64_t vdi_max_object_size(void);
uint8_t vdi_shift_of(uint32_t vid);
bool vdi_is_hyper(uint32_t vid);

/* cluster operations (process_work), one at a time (group.c) */
int vdi_cluster_new(struct ms_request *r);
int vdi_cluster_del(struct ms_request *r);
int vdi_cluster_get_info(struct ms_request *r);
int vdi_cluster_get_attr(struct ms_request *r);
/* local operations */
void vdi_op_read_bitmap(struct ms_request *r, bool deleted);
void vdi_op_get_copies(struct ms_request *r);
int vdi_local_discard(struct ms_request *r);
/* gateway_write_obj() of an inode object; SD_RES_* */
int vdi_inode_write(int node, uint64_t self, uint64_t oid, const uint8_t *buf,
		    uint32_t len, uint64_t off);
/* create of an inode object through CREATE_AND_WRITE_OBJ; SD_RES_* */
int vdi_inode_create(uint64_t oid, const uint8_t *buf, uint32_t len,
		     uint64_t off);
void vdi_wipe(void);
/* NEW_VDI / DEL_VDI of @vid reached the cluster (post_cluster_*()) */
void vdi_note_inuse(uint32_t vid);
void vdi_note_deleted(uint32_t vid);
/* control "snapshot-delay": ms between snapshot_vdi()'s base read and
 * base write */
extern unsigned int vdi_snapshot_delay_ms;

/* ---- queue.c: what a request meets before it runs --------------------- */

enum queue_verdict { QUEUE_RUN, QUEUE_REPLY, QUEUE_HOLD };
struct ms_request;
/* QUEUE_REPLY: answer *result without running; QUEUE_HOLD: look again at
 * *due_ms (monotonic) */
enum queue_verdict queue_admit(struct ms_request *r, uint32_t *result,
			       uint64_t *due_ms);

/* ---- requests (ops.c executes, server.c moves them) ------------------ */

struct ms_conn;

struct ms_request {
	struct sd_list link;
	struct ms_conn *conn;
	int node;		/* the node (0..MS_MAX_NODES-1) that got it */
	uint64_t self;		/* participant key of that node (node.c) */
	struct sd_req req;
	uint8_t *data;		/* request payload (WRITE flag) */
	uint32_t data_len;
	struct sd_rsp rsp;
	uint8_t rhdr[SD_HDR_SIZE];
	uint8_t *rdata;		/* response payload, rsp.data_length bytes */
	uint64_t due_ms;	/* delayed execution or delivery */
	uint32_t seq;		/* order of arrival on its connection */
};

/* an operation sheep runs as a cluster operation with a process_work step,
 * one at a time cluster-wide (sheep/ops.c) */
bool ops_is_cluster(uint8_t opcode);
/* version and opcode check: SD_RES_SUCCESS or the error */
int ops_check(const struct sd_req *q);
void ops_execute(struct ms_request *r);
void ops_reply_error(struct ms_request *r, uint32_t result);
/* allocate the response buffer; false (and NO_MEM) on failure */
bool ops_alloc_rdata(struct ms_request *r, uint32_t len);

/* ---- pool.c --------------------------------------------------------- */

/* requests waiting for the threads that execute them */
struct ms_req_queue {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct sd_list reqs;
	void (*done)(struct ms_request *r);	/* each executed request */
};
#define MS_REQ_QUEUE_INIT(q)						\
	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,		\
	  SD_LIST_INIT((q).reqs), NULL }
void req_queue_push(struct ms_req_queue *q, struct ms_request *r);
/* thread body: execute the requests of queue @arg in order, forever */
void *req_queue_serve(void *arg);
/* @nr detached threads running @fn(@arg), taking no signals; 0 or -1 */
int ms_start_threads(int nr, void *(*fn)(void *arg), void *arg,
		     const char *what);

int pool_start(int nr_threads, void (*done)(struct ms_request *r));
void pool_submit(struct ms_request *r);

/* ---- group.c -------------------------------------------------------- */

int group_start(void (*done)(struct ms_request *r));
/* a cluster operation: queued FIFO, executed one at a time */
void group_queue_cluster(struct ms_request *r);
/* work after the reply (sheep's io_wqueue): @fn(@arg) on its own thread,
 * or (--workers 0) in the event loop after the current replies */
void group_queue_work(void (*fn)(void *arg), void *arg);
/* --workers 0: run the deferred work; true if there was some */
bool group_run_deferred(void);

/* ---- server.c ------------------------------------------------------- */

int server_run(const char **listen, const int *listen_node, int nr_listen,
	       const char *ctl_path);
void server_kill_connections(void);
void server_release_stalled(void);
void server_stats(char *buf, size_t len);
/* node controls; return 0 or -errno */
int server_node_kill(int n);
int server_node_start(int n, unsigned int join_ms, unsigned int collect_ms);
int server_node_shutdown(int n, unsigned int linger_ms);
int server_cluster_shutdown(unsigned int linger_ms);
void server_node_stall(int n, bool on);
bool server_node_stalled(int n);
void server_node_counters(int n, uint64_t *requests, uint64_t *conns);
void server_node_ops(int n, char *buf, size_t len);
uint64_t ms_now_ms(void);
uint64_t ms_now_us(void);

/* ---- fault.c -------------------------------------------------------- */

struct ms_faults {
	unsigned int delay_ms;
	unsigned int reorder;
	unsigned int drop_after;
	bool stall;
	bool err_on[256];
	uint32_t err_result[256];
	unsigned int err_left[256];	/* 0 = until cleared */
	unsigned int op_delay_ms[256];	/* hold before execution */
};

extern struct ms_faults ms_faults;
/* true if @opcode must be answered with *result without executing */
bool fault_error_for(uint8_t opcode, uint32_t *result);
/* "NO_OBJ" for SD_RES_NO_OBJ...; NULL if unknown */
const char *fault_result_name(uint32_t code);
/* run one control command line; writes the one-line answer */
void fault_command(char *line, char *out, size_t outlen);

/* ---- ctl_client.c --------------------------------------------------- */

int ctl_client_main(const char *path, int argc, char **argv);

#endif
