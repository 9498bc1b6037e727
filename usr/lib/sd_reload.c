// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_reload.c - the reload of an open VDI after SD_RES_READONLY (the VDI
 * was snapshotted while open: find the new working vid, move the lock) or
 * SD_RES_INODE_INVALIDATED (multipath: another gateway changed the index:
 * refresh it), and the merge of the reloaded inode into the handle.
 *
 * This file is the one bridge between layer 3 (sd_vdi.c: lookup, lock,
 * inode) and layer 4 (sd_io.c: the data path); those two never call each
 * other.  The data path asks for a reload (sd_reload_request()), parks
 * the pieces that need it, and once its creates and index updates have
 * drained (sd_reload_ready()) starts the request chain below
 * (sd_reload_begin()).  The chain uses layer 3's request builders and
 * inode decoder; its end merges the new state (reload_apply()) and hands
 * the parked work back to sd_io_reload_resume().
 *
 * The request chain runs on the client's I/O thread (it starts from
 * completion callbacks), so it only uses sd_client_submit():
 *
 *   REFRESH  READ_OBJ of the current inode, exactly SD_INODE_REFRESH_SIZE
 *            bytes (the refresh read that clears INVALIDATED); done when
 *            the inode is not a snapshot, else go on with LOOKUP
 *   LOOKUP   GET_VDI_INFO(name, no tag, snapid 0): the working vid; the
 *            same vid as before means the server refuses writes to the
 *            working VDI: -EROFS
 *   LOCK     (handle holds a lock) LOCK_VDI(name) with the same lock type:
 *            the lock on the new vid; a failure (-EBUSY ...) ends the reload
 *   READ     refresh read of the new inode; on success the old vid's lock
 *            is released, on failure the new one
 *
 * A reload asked for by READONLY starts at LOOKUP, by INVALIDATED at
 * REFRESH.  Its end is one sd_io_reload_resume() call.
 *
 * Growth (a resize by dog, sdctl or another gateway) is merged here too:
 * by a reload whose inode is larger, and by the size poll at the end of
 * this file (sd_vdi_watch_size(), sd_vdi_refresh_size()), which reads the
 * inode's 8-byte vdi_size and never makes I/O wait.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sd_hostlock.h"
#include "sd_vdi_internal.h"

/* ---- asking ------------------------------------------------------------ */

void sd_reload_request(struct sd_vdi *v, uint32_t res)
{
	/* a running reload is not extended: whoever still needs one after
	 * it finished hits the error again and asks again */
	if (v->rl.state == SD_RELOAD_BUSY)
		return;
	v->rl.why |= res == SD_RES_READONLY ? SD_RELOAD_LOOKUP :
		     SD_RELOAD_REFRESH;
	v->rl.state = SD_RELOAD_DRAIN;
}

bool sd_reload_ready(struct sd_vdi *v)
{
	if (v->rl.state != SD_RELOAD_DRAIN || v->meta_inflight)
		return false;
	v->rl.state = SD_RELOAD_BUSY;
	return true;
}

void sd_reload_lookup_init(struct sd_vdi *v, struct sd_request *req,
			   struct iovec *iov,
			   uint8_t names[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN],
			   bool lock)
{
	sd_lookup_req_init(req, iov, names, v->name, NULL, 0,
			   lock ? SD_OP_LOCK_VDI : SD_OP_GET_VDI_INFO,
			   sd_lock_type_of(v->lock));
	/* a resent LOCK_VDI would meet our own lock */
	req->req_flags = lock ? 0 : SD_REQ_RESEND;
	req->priv = v;
}

/* ---- merging ----------------------------------------------------------- */

/* the handle's arrays and counts follow @size (> v->size, @nr objects) */
static int grow_to(struct sd_vdi *v, uint64_t size, uint32_t nr,
		   bool index_done)
{
	uint32_t old_bytes = v->nr_objs / 8 + 1, new_bytes = nr / 8 + 1;
	uint32_t *index;
	uint8_t *dirty;

	if (!index_done && nr > v->nr_objs) {
		index = realloc(v->index, (size_t)nr * sizeof(*index));
		if (!index)
			return -ENOMEM;
		memset(index + v->nr_objs, 0,
		       (size_t)(nr - v->nr_objs) * sizeof(*index));
		v->index = index;
	}
	if (new_bytes > old_bytes) {
		dirty = realloc(v->dirty, new_bytes);
		if (!dirty)
			return -ENOMEM;
		memset(dirty + old_bytes, 0, new_bytes - old_bytes);
		v->dirty = dirty;
	}
	v->nr_objs = nr;
	/* readers check ranges against the size without mu: publish it
	 * after the arrays that cover it */
	__atomic_store_n(&v->size, size, __ATOMIC_RELEASE);
	return 0;
}

int sd_vdi_grow(struct sd_vdi *v, uint32_t vid, uint64_t size)
{
	uint64_t nr = sd_objs_for_size(size, v->shift);

	if (vid != v->vid || v->rl.state != SD_RELOAD_IDLE ||
	    size <= v->size || size > (UINT64_C(1) << 62) ||
	    nr > SD_MAX_DATA_OBJS)
		return 0;
	return grow_to(v, size, (uint32_t)nr, false);
}

static bool dirty_test(const struct sd_vdi *v, uint32_t i)
{
	return v->dirty[i >> 3] & (1u << (i & 7));
}

/*
 * Merge the reloaded inode (@vid, @h, @index of @nr entries) into the
 * handle (mu held, nothing of ours in flight on the index: the reload
 * drained creates, index updates and re-checks first).
 *
 * Same vid (INODE_INVALIDATED refresh): the server's index is the truth;
 * it replaces ours.  Entries whose gate is held (an index update parked to
 * be resent) get the server's value and their update goes out afterwards.
 *
 * New vid (snapshot): the new inode's index is the copy the snapshot made
 * of the old inode at snapshot time T.  Our index updates to the old inode
 * are never refused (inodes are not read-only), so an update that landed
 * after T is recorded in the snapshot only (protocol rule 8.5), although
 * its create landed before T and the write was acknowledged.  Rule: every
 * entry we changed on the old inode since the last reload (the dirty
 * bitmap, set when an index update is sent) whose value in memory (what we
 * published successfully or learnt from a re-check) differs from the new
 * inode's is published again on the new inode (sd_io_republish_queue():
 * one re-publish each, gated like a create), unless the new inode already
 * has the new vid there (someone wrote it in the new VDI, which is newer
 * than anything we did on the old one).  Entries we did not touch, or
 * whose value the copy already holds, come from the new inode.
 * Re-publishing an entry the copy already holds would be a no-op, so the
 * rule only errs towards harmless writes; an update that landed before T
 * is in the copy.
 */
static int reload_apply(struct sd_vdi *v, uint32_t vid,
			const struct sd_inode_hdr *h, uint32_t *index,
			uint32_t nr)
{
	bool moved = vid != v->vid;
	uint32_t i, nbytes = v->nr_objs / 8 + 1;

	if (h->block_size_shift != v->shift || nr < v->nr_objs)
		return -EPROTO;
	for (i = 0; moved && i < v->nr_objs; i++) {
		uint32_t ours = v->index[i];

		if (!v->dirty[i >> 3]) {
			i |= 7;		/* skip the whole byte */
			continue;
		}
		if (!dirty_test(v, i) || index[i] == ours || index[i] == vid ||
		    sd_gate_find(&v->gates, i))
			continue;
		if (sd_io_republish_queue(v, i, ours))
			continue;	/* keeps the server's value */
		index[i] = ours;
	}
	free(v->index);
	v->index = index;
	__atomic_store_n(&v->vid, vid, __ATOMIC_RELAXED);
	v->gen++;
	memset(v->dirty, 0, nbytes);
	/* the VDI grew: the read index has the new entries already; a
	 * failed growth keeps the old size (the next poll tries again) */
	if (h->vdi_size > v->size)
		(void)grow_to(v, h->vdi_size, nr, true);
	return 0;
}

enum {
	RL_STEP_REFRESH,
	RL_STEP_LOOKUP,
	RL_STEP_LOCK,
	RL_STEP_READ,
};

/* ---- the request chain ------------------------------------------------- */

struct rl_release {
	struct sd_request req;
};

static void rl_release_done(struct sd_request *req, int err)
{
	(void)err;
	free(sd_container_of(req, struct rl_release, req));
}

/* Fire-and-forget RELEASE_VDI (the handle may be gone when it answers). */
static void rl_release(struct sd_client *c, uint32_t vid, uint32_t type)
{
	struct rl_release *r = calloc(1, sizeof(*r));

	if (!r)
		return;
	sd_release_req_init(&r->req, vid, type);
	r->req.done = rl_release_done;
	if (sd_client_submit(c, &r->req))
		free(r);
}

static void rl_done(struct sd_request *req, int err);

/*
 * End of the chain: @err < 0, or the new state @vid with header @h and
 * @index (@nr entries, malloc'ed, ownership passes).  Merge it and give
 * the parked work back to the data path.
 */
static void rl_end(struct sd_vdi *v, int err, uint32_t vid,
		   const struct sd_inode_hdr *h, uint32_t *index, uint32_t nr)
{
	free(v->rl.buf);
	v->rl.buf = NULL;
	pthread_mutex_lock(&v->mu);
	if (!err) {
		err = reload_apply(v, vid, h, index, nr);
		if (!err)
			index = NULL;
	}
	free(index);
	v->rl.state = SD_RELOAD_IDLE;
	v->rl.why = 0;
	sd_io_reload_resume(v, err);	/* releases mu */
}

/* the refresh read of @vid (TGT-flagged in shared mode, like tgt) */
static int rl_read(struct sd_vdi *v, int step, uint32_t vid)
{
	struct sd_vdi_reload *rl = &v->rl;

	sd_inode_read_req_init(&rl->req, &rl->iov, vid, rl->buf, rl->len);
	if (v->lock == SD_LOCK_SHARED)
		rl->req.hdr.flags |= SD_FLAG_CMD_TGT;
	rl->req.done = rl_done;
	rl->req.priv = v;
	rl->step = step;
	return sd_client_submit(v->c, &rl->req);
}

static int rl_lookup(struct sd_vdi *v, int step)
{
	struct sd_vdi_reload *rl = &v->rl;

	sd_reload_lookup_init(v, &rl->req, &rl->iov, rl->names,
			      step == RL_STEP_LOCK);
	rl->req.done = rl_done;
	rl->step = step;
	return sd_client_submit(v->c, &rl->req);
}

/* the working vid is @vid (!= the old one): lock it if needed, read it */
static int rl_new_vid(struct sd_vdi *v, uint32_t vid)
{
	v->rl.new_vid = vid;
	if (v->lock != SD_LOCK_NONE)
		return rl_lookup(v, RL_STEP_LOCK);
	return rl_read(v, RL_STEP_READ, vid);
}

/* the refresh read @req of inode @vid came back: check and decode it */
static int rl_decode(struct sd_vdi *v, const struct sd_request *req,
		     uint32_t vid, struct sd_inode_hdr *h, uint32_t **index,
		     uint32_t *nr)
{
	int err = sd_inode_read_result(req, vid, v->rl.len);

	return err ? err : sd_inode_decode_full(v->rl.buf, vid, h, index, nr);
}

static void rl_done(struct sd_request *req, int err)
{
	struct sd_vdi *v = req->priv;
	struct sd_vdi_reload *rl = &v->rl;
	struct sd_inode_hdr h;
	uint32_t *index = NULL, nr = 0, vid;
	int ret;

	if (err)
		goto fail;
	if (req->rsp.result != SD_RES_SUCCESS) {
		err = -sd_result_to_errno(req->rsp.result);
		goto fail;
	}
	switch (rl->step) {
	case RL_STEP_REFRESH:
		err = rl_decode(v, req, rl->cur_vid, &h, &index, &nr);
		if (err)
			goto fail;
		if (!h.snap_ctime) {
			rl_end(v, 0, rl->cur_vid, &h, index, nr);
			return;
		}
		/* snapshotted under us: resolve the working VDI */
		free(index);
		ret = rl_lookup(v, RL_STEP_LOOKUP);
		break;
	case RL_STEP_LOOKUP:
		vid = req->rsp.vdi.vdi_id;
		if (vid == rl->cur_vid) {
			err = -EROFS;
			goto fail;
		}
		ret = rl_new_vid(v, vid);
		break;
	case RL_STEP_LOCK:
		/* the vid under the lock is the one we use */
		rl->new_vid = req->rsp.vdi.vdi_id;
		rl->locked_new = true;
		ret = rl_read(v, RL_STEP_READ, rl->new_vid);
		break;
	case RL_STEP_READ:
	default:
		err = rl_decode(v, req, rl->new_vid, &h, &index, &nr);
		if (err)
			goto fail;
		if (rl->locked_new) {
			/* the host record follows the lock to the new vid */
			sd_hostlock_moved(v->hl, rl->new_vid);
			rl_release(v->c, rl->cur_vid, sd_lock_type_of(v->lock));
		}
		rl_end(v, 0, rl->new_vid, &h, index, nr);
		return;
	}
	if (!ret)
		return;
	err = ret;
fail:
	if (rl->locked_new)
		rl_release(v->c, rl->new_vid, sd_lock_type_of(v->lock));
	rl_end(v, err, 0, NULL, NULL, 0);
}

void sd_reload_begin(struct sd_vdi *v)
{
	struct sd_vdi_reload *rl = &v->rl;
	unsigned int why;
	int ret;

	pthread_mutex_lock(&v->mu);
	why = rl->why;
	rl->why = 0;
	rl->cur_vid = v->vid;
	pthread_mutex_unlock(&v->mu);
	rl->locked_new = false;
	rl->new_vid = 0;
	rl->len = sd_inode_index_read_len(v->lock == SD_LOCK_SHARED);
	rl->buf = malloc(rl->len);
	if (!rl->buf) {
		rl_end(v, -ENOMEM, 0, NULL, NULL, 0);
		return;
	}
	if (why & SD_RELOAD_LOOKUP)
		ret = rl_lookup(v, RL_STEP_LOOKUP);
	else
		ret = rl_read(v, RL_STEP_REFRESH, rl->cur_vid);
	if (ret)
		rl_end(v, ret, 0, NULL, NULL, 0);
}

/* ---- the size poll ------------------------------------------------------ */

/*
 * The poll outlives the handle when sd_vdi_close() meets a timer or read
 * in flight (there is no way to cancel one): close only detaches it
 * (v = NULL), and the callback that comes back frees it.  mu orders close
 * against a callback (which takes v->mu inside it).
 */
struct sd_size_watch {
	pthread_mutex_t mu;
	struct sd_vdi *v;		/* NULL once the handle is closed */
	bool busy;			/* the timer or the read is in flight */
	uint32_t vid;			/* inode the read asks */
	struct sd_request req;		/* the timer, then the read */
	struct iovec iov;
	uint8_t buf[8];
};

/* READ_OBJ of the 8-byte vdi_size of inode @vid into @buf */
static void size_read_init(struct sd_request *req, struct iovec *iov,
			   uint32_t vid, uint8_t buf[8])
{
	sd_inode_read_req_init(req, iov, vid, buf, 8);
	req->hdr.obj.offset = SD_INODE_OFF_VDI_SIZE;
}

/* a size read of inode @vid came back: grow @v if it grew */
static int size_read_apply(struct sd_vdi *v, const struct sd_request *req,
			   uint32_t vid, const uint8_t buf[8])
{
	int ret = sd_inode_read_result(req, vid, 8);

	if (ret)
		return ret;
	pthread_mutex_lock(&v->mu);
	ret = sd_vdi_grow(v, vid, sd_get_le64(buf));
	pthread_mutex_unlock(&v->mu);
	return ret ? sd_set_error(-ret, "out of memory") : 0;
}

static void watch_done(struct sd_request *req, int err);

/*
 * Send the next step (w->mu held): the timer, or the read after it.
 * On failure (-errno) the poll stops (busy false); close frees it.
 */
static int watch_next(struct sd_size_watch *w, bool read)
{
	int ret;

	memset(&w->req, 0, sizeof(w->req));
	if (read) {
		w->vid = sd_vdi_vid(w->v);
		size_read_init(&w->req, &w->iov, w->vid, w->buf);
	}
	w->req.done = watch_done;
	w->req.priv = w;
	if (read)
		ret = sd_client_submit(w->v->c, &w->req);
	else
		ret = sd_client_sleep(w->v->c, &w->req,
				      sd_now_ns() + SD_SIZE_POLL_MS *
				      (uint64_t)1000000);
	w->busy = !ret;
	return ret;
}

static void watch_free(struct sd_size_watch *w)
{
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static void watch_done(struct sd_request *req, int err)
{
	struct sd_size_watch *w = req->priv;
	bool timer = req->req_flags & SD_REQ_TIMER;

	pthread_mutex_lock(&w->mu);
	w->busy = false;
	if (!w->v || err == -ECANCELED) {
		/* closed, or the client is going away */
		if (!w->v) {
			pthread_mutex_unlock(&w->mu);
			watch_free(w);
			return;
		}
		pthread_mutex_unlock(&w->mu);
		return;
	}
	if (!timer && !err)
		(void)size_read_apply(w->v, req, w->vid, w->buf);
	/* a failed read is tried again at the next tick */
	(void)watch_next(w, timer && !err);
	pthread_mutex_unlock(&w->mu);
}

int sd_vdi_watch_size(struct sd_vdi *v)
{
	struct sd_size_watch *w;
	int ret;

	if (v->readonly || v->watch)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return sd_set_error(ENOMEM, "out of memory");
	pthread_mutex_init(&w->mu, NULL);
	w->v = v;
	pthread_mutex_lock(&w->mu);
	ret = watch_next(w, false);
	pthread_mutex_unlock(&w->mu);
	if (ret) {
		watch_free(w);
		return ret;
	}
	v->watch = w;
	return 0;
}

void sd_size_watch_stop(struct sd_vdi *v)
{
	struct sd_size_watch *w = v->watch;
	bool busy;

	if (!w)
		return;
	v->watch = NULL;
	pthread_mutex_lock(&w->mu);
	w->v = NULL;
	busy = w->busy;
	pthread_mutex_unlock(&w->mu);
	if (!busy)
		watch_free(w);
}

int sd_vdi_refresh_size(struct sd_vdi *v)
{
	struct sd_request req;
	struct iovec iov;
	uint8_t buf[8];
	uint32_t vid = sd_vdi_vid(v);
	int ret;

	if (v->readonly)
		return 0;
	size_read_init(&req, &iov, vid, buf);
	ret = sd_client_call(v->c, &req);
	if (!ret)
		ret = size_read_apply(v, &req, vid, buf);
	return ret;
}
