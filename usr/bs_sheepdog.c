// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bs_sheepdog.c - tgtd backing-store module "sheepdog" (bs_sheepdog.so):
 * registration, LU lifecycle (bs_init/bs_open/bs_close/bs_exit), command
 * dispatch and completion.  A thin adapter over the client library: it
 * decodes SCSI commands and calls sd_vdi_* functions, never building wire
 * requests.  Commands run asynchronously: bs_cmd_submit (tgtd's main thread)
 * starts the library's async I/O or queues a worker job and returns at once.
 * The library runs on tgtd's main loop (bs_sheepdog_share.c): a command
 * whose last reply is read there completes at once.  Completions anywhere
 * else (worker threads, or inside bs_cmd_submit, where tgtd does not
 * expect one) go onto the process's mutex-protected list and wake the main
 * thread through one eventfd, whose handler completes them; either way the
 * SCSI status and sense are set and target_cmd_io_done() is called exactly
 * once per command.  LUs that open the same VDI share one VDI handle, and
 * all LUs with the same client settings share one client (connection
 * pool); the worker threads and the eventfd serve every LU.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bs_sheepdog.h"

#define BS_SD_NAME "sheepdog"

static struct bs_sd_lu *lu_state(struct tgt_scsi_lu *lu)
{
	struct bs_sd_lu *sl;

	memcpy(&sl, tgt_lu_private(lu), sizeof(sl));
	return sl;
}

static void lu_set_state(struct tgt_scsi_lu *lu, struct bs_sd_lu *sl)
{
	memcpy(tgt_lu_private(lu), &sl, sizeof(sl));
}

/* ---- completion --------------------------------------------------- */

/*
 * The process's completion queue: requests finished off the main loop, for
 * done_handler to complete.  Set up with the first LU (bs_sd_init, main
 * thread) and kept for the life of tgtd.
 */
static struct {
	int efd;
	pthread_mutex_t lock;
	struct sd_list list;
} done_q = {
	.efd = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.list = SD_LIST_INIT(done_q.list),
};

/* record the first error of a request (any thread) */
void bs_sd_req_set_err(struct bs_sd_req *req, int err)
{
	int zero = 0;

	if (err)
		atomic_compare_exchange_strong(&req->err, &zero, err);
}

/*
 * Record explicit sense for the request's completion (any thread); it wins
 * over an errno.  The caller still drops its reference.
 */
void bs_sd_req_set_sense(struct bs_sd_req *req, uint8_t key, uint16_t asc)
{
	req->sense_key = key;
	req->sense_asc = asc;
}

static void complete_one(struct bs_sd_req *req);

/* complete a finished request now (main loop) or queue it for it */
static void req_finish(struct bs_sd_req *req)
{
	bool was_empty;
	uint64_t one = 1;

	bs_sd_rl_write_end(req);
	if (bs_sd_in_event) {
		complete_one(req);
		return;
	}
	pthread_mutex_lock(&done_q.lock);
	was_empty = sd_list_empty(&done_q.list);
	sd_list_add_tail(&req->link, &done_q.list);
	pthread_mutex_unlock(&done_q.lock);
	if (was_empty && write(done_q.efd, &one, sizeof(one)) != sizeof(one))
		log_error("bs_sheepdog: eventfd write failed: %m\n");
}

/* drop one reference; the last one finishes the request */
void bs_sd_req_put(struct bs_sd_req *req)
{
	if (atomic_fetch_sub(&req->pending, 1) == 1)
		req_finish(req);
}

/* library completion callback (library I/O thread) */
void bs_sd_aio_done(void *opaque, int err)
{
	struct bs_sd_req *req = opaque;

	bs_sd_req_set_err(req, err);
	bs_sd_req_put(req);
}

/* start one async part; a refusal is recorded as the request's error */
#define AIO_PART(req, call) do {					\
	atomic_fetch_add(&(req)->pending, 1);				\
	int __r = (call);						\
	if (__r < 0) {							\
		bs_sd_req_set_err((req), __r);				\
		atomic_fetch_sub(&(req)->pending, 1);			\
	}								\
} while (0)

static void complete_one(struct bs_sd_req *req)
{
	struct tgt_scsi_cmd *cmd = req->cmd;
	int err = atomic_load(&req->err);
	uint8_t key = req->sense_key;
	uint16_t asc = req->sense_asc;
	int result = TGT_SAM_GOOD;

	if (!key && err) {
		bs_sd_errno_to_sense(err, req->dir, &key, &asc);
		log_error("bs_sheepdog: %s: opcode 0x%02x at byte %llu length %llu failed: %s\n",
			  req->sl->lu->path ? req->sl->lu->path : "?",
			  req->opcode, (unsigned long long)req->off,
			  (unsigned long long)req->len, strerror(-err));
	}
	if (key) {
		sense_data_build(cmd, key, asc);
		result = TGT_SAM_CHECK_CONDITION;
	} else {
		/* also drops the stray sense sbc leaves on UNMAP */
		cmd->sense_len = 0;
	}
	bs_sd_status_cmd_end(req, err, key);
	free(req);
	target_cmd_io_done(cmd, result);
}

/* eventfd handler on tgtd's main thread: drain the completion list */
static void done_handler(int fd, int events, void *data)
{
	struct sd_list batch, *pos, *n;
	uint64_t cnt;

	(void)events;
	(void)data;
	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_error("bs_sheepdog: eventfd read failed: %m\n");
	sd_list_init(&batch);
	pthread_mutex_lock(&done_q.lock);
	sd_list_splice_tail(&done_q.list, &batch);
	pthread_mutex_unlock(&done_q.lock);
	sd_list_for_each_safe(pos, n, &batch)
		complete_one(sd_list_entry(pos, struct bs_sd_req, link));
}

/* ---- command dispatch (main thread) -------------------------------- */

static void submit_read(struct bs_sd_req *req)
{
	struct tgt_scsi_cmd *cmd = req->cmd;
	uint64_t len = cmd->tl;

	if (cmd->in_sdb.length < len)
		len = cmd->in_sdb.length;
	req->dir = BS_SD_DIR_READ;
	req->off = cmd->offset;
	req->len = len;
	if (!len)
		return;
	req->iov.iov_base = tgt_cmd_in_buf(cmd);
	req->iov.iov_len = len;
	AIO_PART(req, sd_vdi_aio_read(req->sl->vdi, &req->iov, 1, req->off,
				      bs_sd_aio_done, req));
}

/*
 * The data-out part of a write-class command: range, buffer and FUA.
 * False when there is nothing to write.
 */
static bool prepare_write(struct bs_sd_req *req)
{
	struct tgt_scsi_cmd *cmd = req->cmd;

	req->dir = BS_SD_DIR_WRITE;
	req->off = cmd->offset;
	req->len = cmd->out_sdb.length;
	if (!req->len)
		return false;
	req->iov.iov_base = tgt_cmd_out_buf(cmd);
	req->iov.iov_len = req->len;
	req->io_flags = bs_sd_write_needs_fua(cmd->dev, cmd->scb) ?
			SD_IO_FUA : 0;
	return true;
}

static void submit_write(struct bs_sd_req *req)
{
	if (!prepare_write(req))
		return;
	if (!bs_sd_rl_write_begin(req)) {
		bs_sd_work_queue(req, bs_sd_job_locked_write);
		return;
	}
	AIO_PART(req, sd_vdi_aio_write(req->sl->vdi, &req->iov, 1, req->off,
				       req->io_flags, bs_sd_aio_done, req));
}

/* the data-out commands a worker runs: WRITE AND VERIFY, ORWRITE */
static void submit_write_verify(struct bs_sd_req *req)
{
	if (prepare_write(req))
		bs_sd_work_queue(req, bs_sd_job_write_verify);
}

static void submit_orwrite(struct bs_sd_req *req)
{
	if (prepare_write(req))
		bs_sd_work_queue(req, bs_sd_job_orwrite);
}

static bool range_ok(struct bs_sd_lu *sl, uint64_t lba, uint64_t blocks)
{
	uint64_t cap = sl->size >> sl->blk_shift;

	return lba <= cap && blocks <= cap - lba;
}

static void submit_verify(struct bs_sd_req *req)
{
	struct tgt_scsi_cmd *cmd = req->cmd;
	struct bs_sd_lu *sl = req->sl;
	const uint8_t *cdb = cmd->scb;
	unsigned int bytchk = (cdb[1] >> TGT_CDB1_BYTCHK_SHIFT) &
			      TGT_CDB1_BYTCHK_MASK;
	uint64_t lba = bs_sd_cdb_lba(cdb);
	uint64_t blocks = bs_sd_cdb_blocks(cdb);
	uint64_t bs = 1ULL << sl->blk_shift;

	req->dir = BS_SD_DIR_READ;
	req->off = lba << sl->blk_shift;
	req->len = blocks << sl->blk_shift;
	if (bytchk == TGT_BYTCHK_NONE || !blocks)
		return;
	if (!range_ok(sl, lba, blocks)) {
		bs_sd_req_set_sense(req, TGT_SK_ILLEGAL_REQUEST,
				    TGT_ASC_LBA_OUT_OF_RANGE);
		return;
	}
	if (bytchk == TGT_BYTCHK_RESERVED) {
		bs_sd_req_set_sense(req, TGT_SK_ILLEGAL_REQUEST,
				    TGT_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	req->iov.iov_base = tgt_cmd_out_buf(cmd);
	if (bytchk == TGT_BYTCHK_ONE_BLOCK) {
		if (cmd->out_sdb.length < bs) {
			bs_sd_req_set_sense(req, TGT_SK_ILLEGAL_REQUEST,
					    TGT_ASC_PARAM_LIST_LENGTH);
			return;
		}
		req->iov.iov_len = bs;
	} else {
		if (cmd->out_sdb.length < req->len)
			req->len = cmd->out_sdb.length;
		req->iov.iov_len = req->len;
	}
	if (!req->len)
		return;
	bs_sd_work_queue(req, bs_sd_job_verify);
}

static void submit_sync_cache(struct bs_sd_req *req)
{
	struct tgt_scsi_cmd *cmd = req->cmd;

	req->dir = BS_SD_DIR_WRITE;
	if (cmd->scb[1] & TGT_CDB1_SYNC_IMMED) {
		bs_sd_req_set_sense(req, TGT_SK_ILLEGAL_REQUEST,
				    TGT_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (req->sl->readonly)
		return;
	AIO_PART(req, sd_vdi_aio_flush(req->sl->vdi, bs_sd_aio_done, req));
}

static void submit_unmap(struct bs_sd_req *req)
{
	struct tgt_scsi_cmd *cmd = req->cmd;
	struct bs_sd_lu *sl = req->sl;
	struct bs_sd_range *r;
	unsigned int nr, i;
	uint8_t key;
	uint16_t asc;

	req->dir = BS_SD_DIR_WRITE;
	if (bs_sd_unmap_parse(tgt_cmd_out_buf(cmd), cmd->out_sdb.length,
			      sl->size >> sl->blk_shift, sl->blk_shift, &r,
			      &nr, &key, &asc)) {
		if (is_debug)
			log_debug("bs_sheepdog: UNMAP refused: list length %u (header %u/%u), sense %x/%04x\n",
				  cmd->out_sdb.length,
				  tgt_get_be16(tgt_cmd_out_buf(cmd)),
				  tgt_get_be16((uint8_t *)tgt_cmd_out_buf(cmd) + 2),
				  key, asc);
		bs_sd_req_set_sense(req, key, asc);
		return;
	}
	for (i = 0; i < nr; i++) {
		req->off = r[i].off;
		req->len = r[i].len;
		AIO_PART(req, sd_vdi_aio_discard(sl->vdi, r[i].off, r[i].len,
						 bs_sd_aio_done, req));
	}
	free(r);
}

static void submit_write_same(struct bs_sd_req *req)
{
	struct tgt_scsi_cmd *cmd = req->cmd;
	struct bs_sd_lu *sl = req->sl;
	const uint8_t *cdb = cmd->scb;
	uint64_t cap = sl->size >> sl->blk_shift;
	uint64_t lba = bs_sd_cdb_lba(cdb);
	uint64_t blocks = bs_sd_cdb_blocks(cdb);
	uint64_t bs = 1ULL << sl->blk_shift;
	bool unmap = cdb[1] & TGT_CDB1_WS_UNMAP;
	bool ndob = cdb[0] == TGT_OP_WRITE_SAME_16 &&
		    (cdb[1] & TGT_CDB1_WS_NDOB);
	const void *block = tgt_cmd_out_buf(cmd);

	req->dir = BS_SD_DIR_WRITE;
	if (lba > cap) {
		bs_sd_req_set_sense(req, TGT_SK_ILLEGAL_REQUEST,
				    TGT_ASC_LBA_OUT_OF_RANGE);
		return;
	}
	if (!blocks)
		blocks = cap - lba;	/* 0 = to the end of the LU */
	if (!range_ok(sl, lba, blocks)) {
		bs_sd_req_set_sense(req, TGT_SK_ILLEGAL_REQUEST,
				    TGT_ASC_LBA_OUT_OF_RANGE);
		return;
	}
	/* no stamping of LBAs into the blocks */
	if (cdb[1] & (TGT_CDB1_WS_LBDATA | TGT_CDB1_WS_PBDATA)) {
		bs_sd_req_set_sense(req, TGT_SK_ILLEGAL_REQUEST,
				    TGT_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (!ndob && cmd->out_sdb.length < bs) {
		bs_sd_req_set_sense(req, TGT_SK_ILLEGAL_REQUEST,
				    TGT_ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	req->off = lba << sl->blk_shift;
	req->len = blocks << sl->blk_shift;
	req->io_flags = bs_sd_write_needs_fua(cmd->dev, cdb) ? SD_IO_FUA : 0;
	if (is_debug)
		log_debug("bs_sheepdog: WRITE SAME 0x%02x lba %llu blocks %llu%s%s\n",
			  cdb[0], (unsigned long long)lba,
			  (unsigned long long)blocks, unmap ? " unmap" : "",
			  ndob ? " ndob" : "");
	if (!req->len)
		return;
	if (unmap) {
		/*
		 * Deallocate whatever the block holds: SBC lets the device
		 * server unmap instead of writing, and LBPRZ promises zeros
		 * (what tgt's rdwr store does too).
		 */
		AIO_PART(req, sd_vdi_aio_discard(sl->vdi, req->off, req->len,
						 bs_sd_aio_done, req));
		return;
	}
	if (ndob || bs_sd_is_zero(block, bs)) {
		AIO_PART(req, sd_vdi_aio_zero(sl->vdi, req->off, req->len,
					      req->io_flags, bs_sd_aio_done,
					      req));
		return;
	}
	/* a non-zero block: replicate it on a worker */
	req->iov.iov_base = (void *)block;
	req->iov.iov_len = bs;
	bs_sd_work_queue(req, bs_sd_job_write_same);
}

/* PRE-FETCH: nothing to read ahead */
static void submit_prefetch(struct bs_sd_req *req)
{
	(void)req;
}

typedef void (*bs_sd_submit_fn)(struct bs_sd_req *req);

/*
 * Every opcode the module advertises to tgtd, with the function that
 * starts it, or NULL for the commands tgt's SBC layer answers itself: they
 * must be advertised too, since once TEST UNIT READY is in the bitmap tgtd
 * rejects every opcode that is not.  register_bs_module() makes both the
 * template's bitmap and the dispatch array from this table.
 */
static const struct {
	uint8_t opcode;
	bs_sd_submit_fn submit;
} bs_sd_ops[] = {
	/* answered by tgt */
	{ TGT_OP_TEST_UNIT_READY, NULL },
	{ TGT_OP_REQUEST_SENSE, NULL },
	{ TGT_OP_FORMAT_UNIT, NULL },
	{ TGT_OP_INQUIRY, NULL },
	{ TGT_OP_MODE_SELECT_6, NULL },
	{ TGT_OP_RESERVE_6, NULL },
	{ TGT_OP_RELEASE_6, NULL },
	{ TGT_OP_MODE_SENSE_6, NULL },
	{ TGT_OP_START_STOP_UNIT, NULL },
	{ TGT_OP_SEND_DIAGNOSTIC, NULL },
	{ TGT_OP_PREVENT_ALLOW_REMOVAL, NULL },
	{ TGT_OP_READ_CAPACITY_10, NULL },
	{ TGT_OP_MODE_SELECT_10, NULL },
	{ TGT_OP_MODE_SENSE_10, NULL },
	{ TGT_OP_PERSISTENT_RESERVE_IN, NULL },
	{ TGT_OP_PERSISTENT_RESERVE_OUT, NULL },
	{ TGT_OP_SERVICE_ACTION_IN_16, NULL },
	{ TGT_OP_REPORT_LUNS, NULL },
	{ TGT_OP_MAINTENANCE_IN, NULL },
	/* executed by the module */
	{ TGT_OP_READ_6, submit_read },
	{ TGT_OP_READ_10, submit_read },
	{ TGT_OP_READ_12, submit_read },
	{ TGT_OP_READ_16, submit_read },
	{ TGT_OP_WRITE_6, submit_write },
	{ TGT_OP_WRITE_10, submit_write },
	{ TGT_OP_WRITE_12, submit_write },
	{ TGT_OP_WRITE_16, submit_write },
	{ TGT_OP_WRITE_VERIFY_10, submit_write_verify },
	{ TGT_OP_WRITE_VERIFY_12, submit_write_verify },
	{ TGT_OP_WRITE_VERIFY_16, submit_write_verify },
	{ TGT_OP_VERIFY_10, submit_verify },
	{ TGT_OP_VERIFY_12, submit_verify },
	{ TGT_OP_VERIFY_16, submit_verify },
	{ TGT_OP_SYNCHRONIZE_CACHE_10, submit_sync_cache },
	{ TGT_OP_SYNCHRONIZE_CACHE_16, submit_sync_cache },
	{ TGT_OP_PRE_FETCH_10, submit_prefetch },
	{ TGT_OP_PRE_FETCH_16, submit_prefetch },
	{ TGT_OP_UNMAP, submit_unmap },
	{ TGT_OP_WRITE_SAME_10, submit_write_same },
	{ TGT_OP_WRITE_SAME_16, submit_write_same },
	{ TGT_OP_ORWRITE_16, submit_orwrite },
};

#define BS_SD_NR_OPS (sizeof(bs_sd_ops) / sizeof(bs_sd_ops[0]))

/* bs_sd_ops by opcode; filled once by register_bs_module() */
static bs_sd_submit_fn bs_sd_dispatch[256];

static int bs_sd_cmd_submit(struct tgt_scsi_cmd *cmd)
{
	struct bs_sd_lu *sl = lu_state(cmd->dev);
	struct bs_sd_req *req;

	req = calloc(1, sizeof(*req));
	if (!req)
		return -1;	/* sbc answers HARDWARE ERROR */
	req->sl = sl;
	req->cmd = cmd;
	req->opcode = cmd->scb[0];
	atomic_init(&req->pending, 1);
	atomic_init(&req->err, 0);
	sd_list_init(&req->link);
	sd_list_init(&req->rl_link);
	tgt_cmd_set_async(cmd);
	bs_sd_status_cmd_begin(req);

	if (!sl->vdi)
		bs_sd_req_set_sense(req, TGT_SK_NOT_READY,
				    TGT_ASC_MEDIUM_NOT_PRESENT);
	else if (!bs_sd_dispatch[req->opcode])
		bs_sd_req_set_sense(req, TGT_SK_ILLEGAL_REQUEST,
				    TGT_ASC_INVALID_OPCODE);
	else
		bs_sd_dispatch[req->opcode](req);
	bs_sd_req_put(req);	/* the submitter's reference */
	return 0;
}

/* ---- LU lifecycle -------------------------------------------------- */

/* LUs alive (bs_init .. bs_exit): the status socket is up while any is */
static unsigned int nr_lus;

/*
 * The completion queue's eventfd and the worker pool, started for the
 * first LU (done_q.efd is -1 until then) and kept for the life of tgtd:
 * idle, they are 8 sleeping threads and one fd, and stopping them with
 * the last LU would only churn threads in a create/delete cycle.
 */
static int shared_start(void)
{
	done_q.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (done_q.efd < 0) {
		log_error("bs_sheepdog: eventfd: %m\n");
		return TGTADM_NOMEM;
	}
	if (tgt_event_add(done_q.efd, EPOLLIN, done_handler, NULL)) {
		log_error("bs_sheepdog: cannot register the eventfd\n");
		goto fail;
	}
	if (bs_sd_workers_start()) {
		log_error("bs_sheepdog: cannot start worker threads\n");
		tgt_event_del(done_q.efd);
		goto fail;
	}
	return TGTADM_SUCCESS;

fail:
	close(done_q.efd);
	done_q.efd = -1;
	return TGTADM_NOMEM;
}

static void lu_state_free(struct bs_sd_lu *sl)
{
	pthread_mutex_destroy(&sl->rl_lock);
	pthread_cond_destroy(&sl->rl_cond);
	free(sl);
}

static int bs_sd_init(struct tgt_scsi_lu *lu, char *bsopts)
{
	struct bs_sd_lu *sl;
	char why[SD_ERROR_MAX];
	int ret;

	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return TGTADM_NOMEM;
	sl->lu = lu;
	pthread_mutex_init(&sl->rl_lock, NULL);
	pthread_cond_init(&sl->rl_cond, NULL);
	sd_list_init(&sl->rl_writes);
	sd_list_init(&sl->rl_orwrites);

	sl->bsopts_given = bsopts && *bsopts;
	ret = bs_sd_opts_parse(bsopts, &sl->opts, why, sizeof(why));
	if (ret) {
		log_error("bs_sheepdog: bad bsopts '%s': %s\n", bsopts, why);
		goto fail;
	}
	if (done_q.efd < 0) {
		ret = shared_start();
		if (ret)
			goto fail;
	}
	if (!nr_lus++)
		bs_sd_status_start();	/* the LUs work without it */
	bs_sd_status_lu_add(sl);
	lu_set_state(lu, sl);
	return TGTADM_SUCCESS;

fail:
	lu_state_free(sl);
	return ret;
}

static void bs_sd_exit(struct tgt_scsi_lu *lu)
{
	struct bs_sd_lu *sl = lu_state(lu);

	if (!sl)
		return;
	lu_set_state(lu, NULL);
	bs_sd_status_lu_del(sl);
	lu_state_free(sl);
	if (!--nr_lus)
		bs_sd_status_stop();
}

static void vpd_refresh(struct tgt_scsi_lu *lu, uint8_t page)
{
	struct tgt_vpd *vpd = lu->attrs.lu_vpd[TGT_VPD_INDEX(page)];

	if (vpd && vpd->vpd_update)
		vpd->vpd_update(lu, NULL);
}

/* drop the LU's reference to its shared client + VDI (main thread) */
static void lu_release_vdi(struct bs_sd_lu *sl)
{
	bs_sd_resize_stop(sl);
	sl->vdi = NULL;
	bs_sd_share_put(sl->share);
	sl->share = NULL;
	sl->readonly = false;
}

static int bs_sd_open(struct tgt_scsi_lu *lu, char *path, int *fd,
		      uint64_t *size)
{
	struct bs_sd_lu *sl = lu_state(lu);
	struct sd_target t;
	unsigned int objsize, maxpb;

	*fd = -1;
	if (!sl)
		return -1;
	if (sl->share)
		lu_release_vdi(sl);	/* reopened without a close */
	/* a backing-store string, or the path of a descriptor file */
	if (bs_sd_target_resolve(sl, path, &t))
		return -1;

	/* every LU of this tgtd on the same VDI uses one client + handle */
	sl->share = bs_sd_share_get(&t, &sl->opts, path);
	if (!sl->share)
		return -1;	/* one line already logged */
	sl->vdi = bs_sd_share_vdi(sl->share);
	bs_sd_status_lu_opened(sl, path);

	sl->size = sd_vdi_size(sl->vdi);
	sl->blk_shift = lu->blk_shift;
	sl->readonly = sd_vdi_readonly(sl->vdi) || t.tag[0] || t.snapid;

	/* thin provisioning: UNMAP without --params, LBPME/LBPRZ advertised */
	lu->attrs.thinprovisioning = 1;
	vpd_refresh(lu, TGT_VPD_BLOCK_LIMITS);
	vpd_refresh(lu, TGT_VPD_LB_PROVISIONING);
	if (sl->readonly)
		lu->attrs.readonly = 1;
	if (!lu->attrs.no_auto_lbppbe) {
		/* READ CAPACITY 16 has 4 bits for the exponent */
		objsize = sd_vdi_object_size(sl->vdi);
		maxpb = (1U << lu->blk_shift) << 15;
		update_lbppbe(lu, (int)(objsize < maxpb ? objsize : maxpb));
	}
	bs_sd_resize_start(sl);
	*size = sl->size;
	if (is_debug)
		log_debug("bs_sheepdog: opened '%s' (%llu bytes%s)\n", path,
			  (unsigned long long)sl->size,
			  sl->readonly ? ", read-only snapshot" : "");
	return 0;
}

static void bs_sd_close(struct tgt_scsi_lu *lu)
{
	struct bs_sd_lu *sl = lu_state(lu);

	if (!sl)
		return;
	if (sl->share)
		bs_sd_status_lu_closed(sl);
	lu_release_vdi(sl);
}

static struct tgt_backingstore_template bs_sd_template = {
	.bs_name = BS_SD_NAME,
	.bs_datasize = sizeof(struct bs_sd_lu *),
	.bs_open = bs_sd_open,
	.bs_close = bs_sd_close,
	.bs_init = bs_sd_init,
	.bs_exit = bs_sd_exit,
	.bs_cmd_submit = bs_sd_cmd_submit,
	.bs_oflags_supported = O_SYNC,
};

/* The only exported symbol: called once by tgtd after dlopen. */
__attribute__((visibility("default"))) void register_bs_module(void);

void register_bs_module(void)
{
	unsigned long *map = bs_sd_template.bs_supported_ops;
	size_t i;

	for (i = 0; i < BS_SD_NR_OPS; i++) {
		uint8_t op = bs_sd_ops[i].opcode;

		map[op / 64] |= 1UL << (op % 64);
		bs_sd_dispatch[op] = bs_sd_ops[i].submit;
	}
	register_backingstore_template(&bs_sd_template);
}
