/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bs_sheepdog.h - private declarations shared by the files of the tgt
 * backing-store module bs_sheepdog.so: the per-LU state, the per-command
 * request, and the entry points of the option parser (bs_sheepdog_opts.c),
 * the descriptor-file reader (bs_sheepdog_desc.c), the registry of VDI
 * handles shared by the LUs of one VDI (bs_sheepdog_share.c),
 * the CDB/sense helpers (bs_sheepdog_cdb.c), the worker pool
 * (bs_sheepdog_worker.c) and online growth (bs_sheepdog_resize.c).
 * Nothing here is visible outside the module.
 *
 * What an LU costs: its struct bs_sd_lu and a reference to a shared VDI
 * handle.  The threads, file descriptors and sheep connections are the
 * process's, shared by every LU: one completion eventfd and one worker
 * pool (started with the first LU, kept for the life of tgtd), and one client
 * (connection pool) per set of client settings (bs_sheepdog_share.c).
 */
#ifndef BS_SHEEPDOG_H
#define BS_SHEEPDOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sheepdog.h"
#include "tgt_abi.h"

#define BS_SD_DEFAULT_TIMEOUT_S	15
#define BS_SD_MAX_TIMEOUT_S	3600
#define BS_SD_NR_WORKERS	8		/* per tgtd, not per LU */
#define BS_SD_CHUNK		(1U << 20)	/* worker buffer size */
#define BS_SD_DESC_MAX		4096		/* descriptor file bytes */

/* parsed --bsopts */
struct bs_sd_opts {
	unsigned int timeout_s;
	unsigned int nr_conns;
	enum sd_lock_mode lock;
	bool loop_thread;		/* loop=thread: a library I/O thread */
	unsigned int nr_fallback;
	struct sd_addr fallback[SD_MAX_ADDRS - 1];
};

/* per-LU state; the LU's private area holds a pointer to it */
struct bs_sd_lu {
	struct tgt_scsi_lu *lu;
	struct bs_sd_opts opts;
	bool bsopts_given;		/* --bsopts beats a descriptor's */
	struct bs_sd_share *share;	/* client + VDI, shared per VDI */
	struct sd_vdi *vdi;		/* = bs_sd_share_vdi(share) or NULL */
	uint64_t size;			/* bytes; grows (bs_sheepdog_resize.c) */
	unsigned int blk_shift;
	bool readonly;
	struct tgt_work resize_work;	/* bs_sheepdog_resize.c */

	/* range locks: ORWRITE against overlapping writes in flight */
	pthread_mutex_t rl_lock;
	pthread_cond_t rl_cond;
	struct sd_list rl_writes;
	struct sd_list rl_orwrites;

	/* status (bs_sheepdog_status.c) */
	struct sd_list status_link;	/* the process's LUs, main thread */
	char *backing;			/* bs_open's path (tgtd frees its own
					 * copy before bs_close) */
	struct sd_io_stats stats;	/* commands the module executed */
	uint64_t sense[16];		/* CHECK CONDITIONs by sense key */
};

enum bs_sd_dir {
	BS_SD_DIR_READ,		/* errors -> MEDIUM ERROR / READ ERROR */
	BS_SD_DIR_WRITE,	/* errors -> MEDIUM ERROR / WRITE ERROR */
};

struct bs_sd_req;
typedef void (*bs_sd_work_fn)(struct bs_sd_req *req);

/* one accepted SCSI command */
struct bs_sd_req {
	struct sd_list link;		/* the work queue, then the done queue */
	struct bs_sd_lu *sl;
	struct tgt_scsi_cmd *cmd;
	uint8_t opcode;
	enum bs_sd_dir dir;
	struct iovec iov;
	uint64_t off;
	uint64_t len;
	unsigned int io_flags;		/* SD_IO_* */
	bs_sd_work_fn work;		/* worker job, or NULL */

	atomic_int pending;		/* outstanding async parts + 1 */
	atomic_int err;			/* first -errno, 0 = none */
	uint8_t sense_key;		/* explicit sense when non-zero */
	uint16_t sense_asc;

	struct sd_list rl_link;		/* rl_writes / rl_orwrites */
	bool rl_held;
	uint64_t start_ns;		/* sd_io_stats_begin() */
};

/* bs_sheepdog_opts.c */
int bs_sd_opts_parse(const char *s, struct bs_sd_opts *o, char *why,
		     size_t whylen);

/* bs_sheepdog_desc.c: a descriptor file's contents */
struct bs_sd_desc {
	char target[1024];		/* backing-store = ADDR:VDI[:TAG] */
	char bsopts[BS_SD_DESC_MAX];	/* bsopts = ... */
	bool has_bsopts;
};
int bs_sd_desc_parse(const char *buf, size_t len, struct bs_sd_desc *d,
		     char *why, size_t whylen);
int bs_sd_target_resolve(struct bs_sd_lu *sl, const char *path,
			 struct sd_target *t);

/* bs_sheepdog_share.c (tgtd's main thread only) */
struct bs_sd_share;
struct bs_sd_share *bs_sd_share_get(const struct sd_target *t,
				    const struct bs_sd_opts *o,
				    const char *path);
void bs_sd_share_put(struct bs_sd_share *s);
struct sd_vdi *bs_sd_share_vdi(const struct bs_sd_share *s);

/* bs_sheepdog_cdb.c */
uint64_t bs_sd_cdb_lba(const uint8_t *cdb);
uint32_t bs_sd_cdb_blocks(const uint8_t *cdb);
bool bs_sd_write_needs_fua(struct tgt_scsi_lu *lu, const uint8_t *cdb);
void bs_sd_errno_to_sense(int err, enum bs_sd_dir dir, uint8_t *key,
			  uint16_t *asc);
bool bs_sd_is_zero(const void *buf, size_t len);

struct bs_sd_range {
	uint64_t off;
	uint64_t len;
};
int bs_sd_unmap_parse(const uint8_t *buf, uint32_t buflen,
		      uint64_t capacity, unsigned int blk_shift,
		      struct bs_sd_range **ranges, unsigned int *nr,
		      uint8_t *key, uint16_t *asc);

/* bs_sheepdog.c */
void bs_sd_req_set_sense(struct bs_sd_req *req, uint8_t key, uint16_t asc);
void bs_sd_req_set_err(struct bs_sd_req *req, int err);
void bs_sd_req_put(struct bs_sd_req *req);
void bs_sd_aio_done(void *opaque, int err);

/*
 * bs_sheepdog_status.c (tgtd's main thread): the LUs' counters and the
 * process's status socket (doc/bs_sheepdog.8, STATUS)
 */
int bs_sd_status_start(void);
void bs_sd_status_stop(void);
void bs_sd_status_lu_add(struct bs_sd_lu *sl);
void bs_sd_status_lu_del(struct bs_sd_lu *sl);
void bs_sd_status_lu_opened(struct bs_sd_lu *sl, const char *path);
void bs_sd_status_lu_closed(struct bs_sd_lu *sl);
void bs_sd_status_cmd_begin(struct bs_sd_req *req);
void bs_sd_status_cmd_end(struct bs_sd_req *req, int err, uint8_t key);

/* true while tgtd's main loop runs a client (bs_sheepdog_share.c) */
extern __thread bool bs_sd_in_event;

/* bs_sheepdog_resize.c (main thread): follow the VDI's growth */
void bs_sd_resize_start(struct bs_sd_lu *sl);
void bs_sd_resize_stop(struct bs_sd_lu *sl);

/* bs_sheepdog_worker.c: the process's worker pool (the main thread starts
 * it once; any thread queues) */
int bs_sd_workers_start(void);
void bs_sd_work_queue(struct bs_sd_req *req, bs_sd_work_fn fn);
bool bs_sd_rl_write_begin(struct bs_sd_req *req);
void bs_sd_rl_write_end(struct bs_sd_req *req);
void bs_sd_job_locked_write(struct bs_sd_req *req);
void bs_sd_job_write_verify(struct bs_sd_req *req);
void bs_sd_job_verify(struct bs_sd_req *req);
void bs_sd_job_write_same(struct bs_sd_req *req);
void bs_sd_job_orwrite(struct bs_sd_req *req);

#endif
