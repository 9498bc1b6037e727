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
