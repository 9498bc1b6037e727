// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bs_sheepdog_worker.c - the worker pool of the sheepdog backing store
 * (BS_SD_NR_WORKERS threads for the whole tgtd, shared by every LU), and
 * the commands it runs.  Single-step commands (READ, WRITE, UNMAP,
 * SYNCHRONIZE CACHE, zeroing) go straight to the library's async API from
 * tgtd's main thread; the multi-step ones (WRITE AND VERIFY,
 * VERIFY with BYTCHK, WRITE SAME of a non-zero block, ORWRITE) are queued
 * here and use the library's synchronous API on a worker thread.  The file
 * also holds the range locks that serialise ORWRITE against overlapping
 * writes and ORWRITEs in flight on the same LU.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bs_sheepdog.h"

/* the process's worker pool: every LU's multi-step commands */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sd_list list;		/* queued jobs, any LU */
	bool stop;
	int nr;
	pthread_t threads[BS_SD_NR_WORKERS];
} workers = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.list = SD_LIST_INIT(workers.list),
};

static void *worker_main(void *arg)
{
	struct bs_sd_req *req;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&workers.lock);
		while (!workers.stop && sd_list_empty(&workers.list))
			pthread_cond_wait(&workers.cond, &workers.lock);
		if (sd_list_empty(&workers.list)) {
			pthread_mutex_unlock(&workers.lock);
			break;
		}
		req = sd_list_first_entry(&workers.list, struct bs_sd_req,
					  link);
		sd_list_del(&req->link);
		pthread_mutex_unlock(&workers.lock);

		req->work(req);
		bs_sd_req_put(req);
	}
	return NULL;
}

/* join the started workers of a failed start (nothing is queued yet) */
static void workers_stop(void)
{
	int i;

	pthread_mutex_lock(&workers.lock);
	workers.stop = true;
	pthread_cond_broadcast(&workers.cond);
	pthread_mutex_unlock(&workers.lock);
	for (i = 0; i < workers.nr; i++)
		pthread_join(workers.threads[i], NULL);
	workers.nr = 0;
}

/*
 * Start the pool with every signal blocked (tgtd's SIGUSR2 included).
 * A job waits only for range locks that running jobs or async writes in
 * flight hold (never for a queued job), so a fixed pool cannot deadlock,
 * however many LUs share it.
 */
int bs_sd_workers_start(void)
{
	sigset_t all, old;
	int i, ret = 0;

	workers.stop = false;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < BS_SD_NR_WORKERS; i++) {
		ret = pthread_create(&workers.threads[i], NULL, worker_main,
				     NULL);
		if (ret)
			break;
		workers.nr++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		workers_stop();
		return -ret;
	}
	return 0;
}

/*
 * Hand @req to a worker, which runs @fn with a reference of its own and
 * drops it when the job is done.
 */
void bs_sd_work_queue(struct bs_sd_req *req, bs_sd_work_fn fn)
{
	atomic_fetch_add(&req->pending, 1);
	req->work = fn;
	pthread_mutex_lock(&workers.lock);
	sd_list_add_tail(&req->link, &workers.list);
	pthread_cond_signal(&workers.cond);
	pthread_mutex_unlock(&workers.lock);
}

/* ---- range locks -------------------------------------------------- */

static bool overlaps(const struct bs_sd_req *a, const struct bs_sd_req *b)
{
	return a->off < b->off + b->len && b->off < a->off + a->len;
}

static bool list_overlaps(struct sd_list *head, const struct bs_sd_req *req)
{
	struct sd_list *pos, *n;

	sd_list_for_each_safe(pos, n, head) {
		if (overlaps(sd_list_entry(pos, struct bs_sd_req, rl_link),
			     req))
			return true;
	}
	return false;
}

/*
 * Called on the main thread before an async write is sent.  Registers the
 * range and returns true, or returns false when an ORWRITE holds an
 * overlapping range (the caller then queues the write to a worker, which
 * waits for the ORWRITE).
 */
bool bs_sd_rl_write_begin(struct bs_sd_req *req)
{
	struct bs_sd_lu *sl = req->sl;
	bool ok = false;

	pthread_mutex_lock(&sl->rl_lock);
	if (!list_overlaps(&sl->rl_orwrites, req)) {
		sd_list_add_tail(&req->rl_link, &sl->rl_writes);
		req->rl_held = true;
		ok = true;
	}
	pthread_mutex_unlock(&sl->rl_lock);
	return ok;
}

void bs_sd_rl_write_end(struct bs_sd_req *req)
{
	struct bs_sd_lu *sl = req->sl;

	if (!req->rl_held)
		return;
	pthread_mutex_lock(&sl->rl_lock);
	sd_list_del(&req->rl_link);
	req->rl_held = false;
	pthread_cond_broadcast(&sl->rl_cond);
	pthread_mutex_unlock(&sl->rl_lock);
}

/* ---- worker jobs (sync API; errors recorded on the request) -------- */

static void job_err(struct bs_sd_req *req, int err, enum bs_sd_dir dir)
{
	req->dir = dir;
	bs_sd_req_set_err(req, err);
}

/* a WRITE that overlapped a held ORWRITE range */
void bs_sd_job_locked_write(struct bs_sd_req *req)
{
	struct bs_sd_lu *sl = req->sl;
	int ret;

	pthread_mutex_lock(&sl->rl_lock);
	while (list_overlaps(&sl->rl_orwrites, req))
		pthread_cond_wait(&sl->rl_cond, &sl->rl_lock);
	sd_list_add_tail(&req->rl_link, &sl->rl_writes);
	req->rl_held = true;
	pthread_mutex_unlock(&sl->rl_lock);

	ret = sd_vdi_pwrite(sl->vdi, req->iov.iov_base, req->len, req->off,
			    req->io_flags);
	if (ret < 0)
		job_err(req, ret, BS_SD_DIR_WRITE);
	bs_sd_rl_write_end(req);
}

/* compare [off, off+len) of the VDI with @buf, chunk by chunk */
static int compare_range(struct bs_sd_req *req, const uint8_t *buf,
			 size_t buf_stride_mask, uint64_t off, uint64_t len)
{
	uint8_t *tmp;
	uint64_t done = 0;
	int ret = 0;

	tmp = malloc(BS_SD_CHUNK);
	if (!tmp)
		return -ENOMEM;
	while (done < len) {
		size_t n = len - done > BS_SD_CHUNK ? BS_SD_CHUNK : len - done;
		size_t i;

		ret = sd_vdi_pread(req->sl->vdi, tmp, n, off + done);
		if (ret < 0)
			break;
		if (buf_stride_mask) {
			/* one block compared against every block */
			for (i = 0; i < n; i++)
				if (tmp[i] != buf[(done + i) & buf_stride_mask])
					break;
		} else {
			i = memcmp(tmp, buf + done, n) ? 0 : n;
		}
		if (i != n) {
			bs_sd_req_set_sense(req, TGT_SK_MISCOMPARE,
					    TGT_ASC_MISCOMPARE_VERIFY);
			ret = 1;
			break;
		}
		done += n;
	}
	free(tmp);
	return ret;
}

void bs_sd_job_write_verify(struct bs_sd_req *req)
{
	int ret;

	ret = sd_vdi_pwrite(req->sl->vdi, req->iov.iov_base, req->len,
			    req->off, req->io_flags);
	if (ret < 0) {
		job_err(req, ret, BS_SD_DIR_WRITE);
		return;
	}
	ret = compare_range(req, req->iov.iov_base, 0, req->off, req->len);
	if (ret < 0)
		job_err(req, ret, BS_SD_DIR_READ);
}

/*
 * VERIFY with BYTCHK: iov holds either the whole range (stride 0) or one
 * block to compare against every block (BYTCHK 3; iov_len is the block
 * size, a power of two).
 */
void bs_sd_job_verify(struct bs_sd_req *req)
{
	size_t mask = req->iov.iov_len < req->len ? req->iov.iov_len - 1 : 0;
	int ret;

	ret = compare_range(req, req->iov.iov_base, mask, req->off, req->len);
	if (ret < 0)
		job_err(req, ret, BS_SD_DIR_READ);
}

/* WRITE SAME of a non-zero block: replicate it across the range */
void bs_sd_job_write_same(struct bs_sd_req *req)
{
	size_t bs = req->iov.iov_len, chunk, i;
	uint64_t done = 0;
	uint8_t *buf;
	int ret;

	chunk = req->len < BS_SD_CHUNK ? req->len : BS_SD_CHUNK;
	chunk -= chunk % bs;
	buf = malloc(chunk);
	if (!buf) {
		job_err(req, -ENOMEM, BS_SD_DIR_WRITE);
		return;
	}
	for (i = 0; i < chunk; i += bs)
		memcpy(buf + i, req->iov.iov_base, bs);
	while (done < req->len) {
		size_t n = req->len - done > chunk ? chunk : req->len - done;

		ret = sd_vdi_pwrite(req->sl->vdi, buf, n, req->off + done,
				    req->io_flags);
		if (ret < 0) {
			job_err(req, ret, BS_SD_DIR_WRITE);
			break;
		}
		done += n;
	}
	free(buf);
}

/* ORWRITE 16: read, OR the data-out buffer in, write; under a range lock */
void bs_sd_job_orwrite(struct bs_sd_req *req)
{
	struct bs_sd_lu *sl = req->sl;
	const uint8_t *src = req->iov.iov_base;
	uint8_t *buf;
	size_t i;
	int ret;

	buf = malloc(req->len);
	if (!buf) {
		job_err(req, -ENOMEM, BS_SD_DIR_WRITE);
		return;
	}
	pthread_mutex_lock(&sl->rl_lock);
	while (list_overlaps(&sl->rl_writes, req) ||
	       list_overlaps(&sl->rl_orwrites, req))
		pthread_cond_wait(&sl->rl_cond, &sl->rl_lock);
	sd_list_add_tail(&req->rl_link, &sl->rl_orwrites);
	req->rl_held = true;
	pthread_mutex_unlock(&sl->rl_lock);

	ret = sd_vdi_pread(sl->vdi, buf, req->len, req->off);
	if (ret < 0) {
		job_err(req, ret, BS_SD_DIR_READ);
		goto out;
	}
	for (i = 0; i < req->len; i++)
		buf[i] |= src[i];
	ret = sd_vdi_pwrite(sl->vdi, buf, req->len, req->off, req->io_flags);
	if (ret < 0)
		job_err(req, ret, BS_SD_DIR_WRITE);
out:
	bs_sd_rl_write_end(req);
	free(buf);
}
