// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_vdi.c - opening and closing VDIs (layer 3): name lookup with or without
 * a lock (GET_VDI_INFO / LOCK_VDI), reading and checking the inode header
 * and index, releasing the lock on close, and the sd_vdi_* queries.  The
 * synchronous lookup and inode readers are also used by sd_admin.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_hostlock.h"
#include "sd_vdi_internal.h"

/* " tag 'x'" / " snapshot N" / "" for messages */
static void vdi_snap_desc(const char *tag, uint32_t snapid, char *buf,
			  size_t len)
{
	if (tag && *tag)
		snprintf(buf, len, " tag '%s'", tag);
	else if (snapid)
		snprintf(buf, len, " snapshot %u", snapid);
	else
		buf[0] = '\0';
}

void sd_lookup_req_init(struct sd_request *req, struct iovec *iov,
			uint8_t payload[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN],
			const char *name, const char *tag, uint32_t snapid,
			uint8_t opcode, uint32_t lock_type)
{
	sd_put_name(payload, SD_MAX_VDI_LEN, name);
	sd_put_name(payload + SD_MAX_VDI_LEN, SD_MAX_VDI_TAG_LEN,
		    tag ? tag : "");
	iov->iov_base = payload;
	iov->iov_len = SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN;

	memset(req, 0, sizeof(*req));
	req->hdr.proto_ver = SD_PROTO_VER;
	req->hdr.opcode = opcode;
	req->hdr.flags = SD_FLAG_CMD_WRITE;
	req->hdr.data_length = SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN;
	req->hdr.vdi.snapid = snapid;
	if (opcode == SD_OP_LOCK_VDI)
		req->hdr.vdi.type = lock_type;
	req->out_iov = iov;
	req->out_iovcnt = 1;
}

int sd_vdi_lookup_raw(struct sd_client *c, const char *name, const char *tag,
		      uint32_t snapid, uint8_t opcode, uint32_t lock_type,
		      uint32_t *vid, uint32_t *result)
{
	uint8_t payload[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN];
	struct sd_request req;
	struct iovec iov;
	int ret;

	ret = sd_check_names(name, tag);
	if (ret)
		return ret;
	sd_lookup_req_init(&req, &iov, payload, name, tag, snapid, opcode,
			   lock_type);
	ret = sd_client_call(c, &req);
	if (ret)
		return ret;
	*result = req.rsp.result;
	if (req.rsp.result == SD_RES_SUCCESS ||
	    (req.rsp.result == SD_RES_VDI_LOCKED && req.rsp.vdi.vdi_id))
		*vid = req.rsp.vdi.vdi_id;
	return 0;
}

int sd_vdi_lookup(struct sd_client *c, const char *name, const char *tag,
		  uint32_t snapid, uint8_t opcode, uint32_t lock_type,
		  uint32_t *vid)
{
	uint32_t result = SD_RES_SUCCESS;
	char snap[300];
	int ret;

	if (opcode != SD_OP_GET_VDI_INFO && opcode != SD_OP_LOCK_VDI)
		return sd_set_error(EINVAL, "bad lookup opcode 0x%02x", opcode);
	ret = sd_vdi_lookup_raw(c, name, tag, snapid, opcode, lock_type, vid,
				&result);
	if (ret)
		return ret;
	if (result != SD_RES_SUCCESS) {
		vdi_snap_desc(tag, snapid, snap, sizeof(snap));
		return sd_set_error(sd_result_to_errno(result), "VDI '%s'%s: %s",
				    name, snap, sd_result_str(result));
	}
	return 0;
}

/* Fill @req (and @iov) for a READ_OBJ of [0, len) of inode @vid. */
static void inode_read_req_init(struct sd_request *req, struct iovec *iov,
				uint32_t vid, uint8_t *buf, uint32_t len)
{
	iov->iov_base = buf;
	iov->iov_len = len;
	memset(req, 0, sizeof(*req));
	req->hdr.proto_ver = SD_PROTO_VER;
	req->hdr.opcode = SD_OP_READ_OBJ;
	req->hdr.data_length = len;
	req->hdr.obj.oid = sd_vid_to_vdi_oid(vid);
	req->hdr.obj.offset = 0;
	req->in_iov = iov;
	req->in_iovcnt = 1;
	req->req_flags = SD_REQ_RESEND;
}

/* Result of an inode read of @len bytes: 0 or -errno with a message. */
static int inode_read_result(const struct sd_request *req, uint32_t vid,
			     uint32_t len)
{
	if (req->rsp.result != SD_RES_SUCCESS)
		return sd_set_error(sd_result_to_errno(req->rsp.result),
				    "reading inode of vid 0x%06x: %s", vid,
				    sd_result_str(req->rsp.result));
	if (req->in_len != len)
		return sd_set_error(EPROTO,
				    "reading inode of vid 0x%06x: short reply (%u of %u bytes)",
				    vid, req->in_len, len);
	return 0;
}

/* READ_OBJ of [0, len) of inode @vid into @buf. */
static int inode_read(struct sd_client *c, uint32_t vid, uint8_t *buf,
		      uint32_t len)
{
	struct sd_request req;
	struct iovec iov;
	int ret;

	inode_read_req_init(&req, &iov, vid, buf, len);
	ret = sd_client_call(c, &req);
	if (ret)
		return ret;
	return inode_read_result(&req, vid, len);
}

int sd_read_inode_hdr(struct sd_client *c, uint32_t vid,
		      struct sd_inode_hdr *h)
{
	uint8_t *buf;
	int ret;

	buf = malloc(SD_INODE_HEADER_SIZE);
	if (!buf)
		return sd_set_error(ENOMEM, "out of memory");
	ret = inode_read(c, vid, buf, SD_INODE_HEADER_SIZE);
	if (!ret)
		sd_inode_hdr_decode(buf, h);
	free(buf);
	return ret;
}

/*
 * Decode and check the refresh range @buf of inode @vid: header into @h,
 * a malloc'ed host-order index into *index (*nr_objs entries).
 */
static int inode_decode_full(const uint8_t *buf, uint32_t vid,
			     struct sd_inode_hdr *h, uint32_t **index,
			     uint32_t *nr_objs)
{
	uint32_t *idx;
	uint64_t nr;
	uint32_t i;

	sd_inode_hdr_decode(buf, h);
	if (h->store_policy == 1)
		return sd_set_error(EOPNOTSUPP,
				    "VDI '%s': hyper volumes are not supported",
				    h->name);
	if (h->store_policy != 0)
		return sd_set_error(EPROTO, "VDI '%s': unknown store policy %u",
				    h->name, h->store_policy);
	if (h->block_size_shift < SD_MIN_BLOCK_SHIFT ||
	    h->block_size_shift > SD_MAX_BLOCK_SHIFT)
		return sd_set_error(EPROTO,
				    "VDI '%s': bad block_size_shift %u in inode",
				    h->name, h->block_size_shift);
	if (h->vdi_id != vid)
		return sd_set_error(EPROTO,
				    "inode of vid 0x%06x claims vid 0x%06x",
				    vid, h->vdi_id);
	nr = sd_objs_for_size(h->vdi_size, h->block_size_shift);
	if (h->vdi_size > (UINT64_C(1) << 62) || nr > SD_MAX_DATA_OBJS)
		return sd_set_error(EPROTO,
				    "VDI '%s': size %llu needs more than %u objects",
				    h->name, (unsigned long long)h->vdi_size,
				    SD_MAX_DATA_OBJS);

	idx = malloc((nr ? nr : 1) * sizeof(*idx));
	if (!idx)
		return sd_set_error(ENOMEM, "out of memory");
	for (i = 0; i < nr; i++)
		idx[i] = sd_get_le32(buf + sd_inode_index_offset(i));
	*index = idx;
	*nr_objs = (uint32_t)nr;
	return 0;
}

int sd_read_inode_full(struct sd_client *c, uint32_t vid, bool refresh,
		       struct sd_inode_hdr *h, uint32_t **index,
		       uint32_t *nr_objs)
{
	uint32_t len = sd_inode_index_read_len(refresh);
	uint8_t *buf;
	int ret;

	buf = malloc(len);
	if (!buf)
		return sd_set_error(ENOMEM, "out of memory");
	ret = inode_read(c, vid, buf, len);
	if (!ret)
		ret = inode_decode_full(buf, vid, h, index, nr_objs);
	free(buf);
	return ret;
}

void sd_vdi_release(struct sd_client *c, uint32_t vid, uint32_t type)
{
	struct sd_request req;

	memset(&req, 0, sizeof(req));
	req.hdr.proto_ver = SD_PROTO_VER;
	req.hdr.opcode = SD_OP_RELEASE_VDI;
	req.hdr.vdi.base_vdi_id = vid;
	req.hdr.vdi.type = type;
	req.req_flags = SD_REQ_RESEND;
	/* sheep always answers SUCCESS; a lost lock is not our problem now */
	(void)sd_client_call(c, &req);
}

static uint32_t lock_type_of(enum sd_lock_mode m)
{
	return m == SD_LOCK_SHARED ? SD_LOCK_TYPE_SHARED : SD_LOCK_TYPE_NORMAL;
}

/* ---- asynchronous reload (READONLY / INODE_INVALIDATED) --------------- */

/*
 * The request chain of a reload runs on the client's I/O thread (it starts
 * from completion callbacks), so it only uses sd_client_submit():
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
 * REFRESH.  Its end is one sd_io_reload_finish() call.
 */
enum {
	RL_STEP_REFRESH,
	RL_STEP_LOOKUP,
	RL_STEP_LOCK,
	RL_STEP_READ,
};

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
	r->req.hdr.proto_ver = SD_PROTO_VER;
	r->req.hdr.opcode = SD_OP_RELEASE_VDI;
	r->req.hdr.vdi.base_vdi_id = vid;
	r->req.hdr.vdi.type = type;
	r->req.req_flags = SD_REQ_RESEND;
	r->req.done = rl_release_done;
	if (sd_client_submit(c, &r->req))
		free(r);
}

static void rl_done(struct sd_request *req, int err);

static void rl_end(struct sd_vdi *v, int err, uint32_t vid,
		   const struct sd_inode_hdr *h, uint32_t *index, uint32_t nr)
{
	free(v->rl.buf);
	v->rl.buf = NULL;
	sd_io_reload_finish(v, err, vid, h, index, nr);
}

/* the refresh read of @vid (TGT-flagged in shared mode, like tgt) */
static int rl_read(struct sd_vdi *v, int step, uint32_t vid)
{
	struct sd_vdi_reload *rl = &v->rl;

	inode_read_req_init(&rl->req, &rl->iov, vid, rl->buf, rl->len);
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
	uint8_t opcode = step == RL_STEP_LOCK ? SD_OP_LOCK_VDI :
			 SD_OP_GET_VDI_INFO;

	sd_lookup_req_init(&rl->req, &rl->iov, rl->names, v->name, NULL, 0,
			   opcode, lock_type_of(v->lock));
	rl->req.req_flags = step == RL_STEP_LOCK ? 0 : SD_REQ_RESEND;
	rl->req.done = rl_done;
	rl->req.priv = v;
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
		err = inode_read_result(req, rl->cur_vid, rl->len);
		if (!err)
			err = inode_decode_full(rl->buf, rl->cur_vid, &h, &index,
						&nr);
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
		err = inode_read_result(req, rl->new_vid, rl->len);
		if (!err)
			err = inode_decode_full(rl->buf, rl->new_vid, &h, &index,
						&nr);
		if (err)
			goto fail;
		if (rl->locked_new) {
			/* the host record follows the lock to the new vid */
			sd_hostlock_moved(v->hl, rl->new_vid);
			rl_release(v->c, rl->cur_vid, lock_type_of(v->lock));
		}
		rl_end(v, 0, rl->new_vid, &h, index, nr);
		return;
	}
	if (!ret)
		return;
	err = ret;
fail:
	if (rl->locked_new)
		rl_release(v->c, rl->new_vid, lock_type_of(v->lock));
	rl_end(v, err, 0, NULL, NULL, 0);
}

void sd_vdi_reload_begin(struct sd_vdi *v)
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

/* GET_VDI_INFO of sd_vdi_open() (no lock): 0 and *vid, or -errno */
static int vdi_open_lookup(struct sd_client *c,
			   const struct sd_vdi_open_args *a, const char *snap,
			   uint32_t *vid)
{
	uint32_t result = SD_RES_SUCCESS;
	char why[SD_ERROR_MAX];
	int ret;

	ret = sd_vdi_lookup_raw(c, a->name, a->tag, a->snapid,
				SD_OP_GET_VDI_INFO, 0, vid, &result);
	if (ret) {
		snprintf(why, sizeof(why), "%s", sd_get_error());
		return sd_set_error(-ret, "cannot open VDI '%s'%s: %s",
				    a->name, snap, why);
	}
	if (result != SD_RES_SUCCESS)
		return sd_set_error(sd_result_to_errno(result),
				    "cannot open VDI '%s'%s: %s", a->name, snap,
				    sd_result_str(result));
	return 0;
}

int sd_vdi_open(struct sd_client *c, const struct sd_vdi_open_args *a,
		struct sd_vdi **out)
{
	char why[SD_ERROR_MAX], snap[300];
	bool snapshot, locked = false;
	enum sd_lock_mode lock;
	struct sd_vdi *v;
	uint32_t vid = 0;
	int ret;

	*out = NULL;
	if (!c || !a)
		return sd_set_error(EINVAL, "sd_vdi_open: missing arguments");
	ret = sd_check_names(a->name, a->tag);
	if (ret)
		return ret;
	if (a->lock != SD_LOCK_NONE && a->lock != SD_LOCK_NORMAL &&
	    a->lock != SD_LOCK_SHARED)
		return sd_set_error(EINVAL, "cannot open VDI '%s': bad lock mode %d",
				    a->name, (int)a->lock);

	snapshot = (a->tag && *a->tag) || a->snapid;
	lock = snapshot ? SD_LOCK_NONE : a->lock;
	vdi_snap_desc(a->tag, a->snapid, snap, sizeof(snap));

	v = calloc(1, sizeof(*v));
	if (!v)
		return sd_set_error(ENOMEM, "out of memory");

	if (lock != SD_LOCK_NONE) {
		/* LOCK_VDI with the host record (takeover of a dead local
		 * holder's lock); its message is complete */
		ret = sd_hostlock_open(c, a->name, lock, &vid, &v->hl);
		locked = !ret;
	} else {
		ret = vdi_open_lookup(c, a, snap, &vid);
	}
	if (ret)
		goto fail;

	ret = sd_read_inode_full(c, vid, lock == SD_LOCK_SHARED, &v->inode, &v->index, &v->nr_objs);
	if (ret) {
		snprintf(why, sizeof(why), "%s", sd_get_error());
		ret = sd_set_error(-ret, "cannot open VDI '%s'%s: %s", a->name,
				   snap, why);
		goto fail;
	}

	v->c = c;
	snprintf(v->name, sizeof(v->name), "%s", a->name);
	snprintf(v->tag, sizeof(v->tag), "%s", a->tag ? a->tag : "");
	v->snapid = a->snapid;
	v->lock = lock;
	v->readonly = snapshot || v->inode.snap_ctime != 0;
	v->vid = vid;
	v->size = v->inode.vdi_size;
	v->shift = v->inode.block_size_shift;
	v->nr_copies = v->inode.nr_copies;
	v->copy_policy = v->inode.copy_policy;
	v->dirty = calloc(v->nr_objs / 8 + 1, 1);
	if (lock == SD_LOCK_SHARED)
		v->claims = sd_claim_book_new();
	if (!v->dirty || (lock == SD_LOCK_SHARED && !v->claims)) {
		ret = sd_set_error(ENOMEM, "out of memory");
		goto fail;
	}
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->bg_cond, NULL);
	sd_gate_table_init(&v->gates);
	sd_list_init(&v->write_calls);
	sd_list_init(&v->flush_waiters);
	v->rl.state = SD_RELOAD_IDLE;
	sd_list_init(&v->rl.waiters);
	sd_list_init(&v->fence.waiters);
	sd_list_init(&v->cfence.waiters);
	sd_list_init(&v->rl.bg_waiters);
	*out = v;
	return 0;

fail:
	if (locked) {
		/* keep the open error, not the release's */
		snprintf(why, sizeof(why), "%s", sd_get_error());
		sd_hostlock_releasing(v->hl);
		sd_vdi_release(c, vid, lock_type_of(lock));
		sd_set_error(-ret, "%s", why);
	}
	sd_hostlock_free(v->hl);
	sd_claim_book_free(v->claims);
	free(v->dirty);
	free(v->index);
	free(v);
	return ret;
}

void sd_vdi_close(struct sd_vdi *v)
{
	if (!v)
		return;
	/* background re-checks / re-publishes still point at the handle */
	pthread_mutex_lock(&v->mu);
	while (v->bg_inflight)
		sd_client_cond_wait(v->c, &v->bg_cond, &v->mu);
	pthread_mutex_unlock(&v->mu);
	if (v->lock != SD_LOCK_NONE) {
		/* the record first: see sd_hostlock_releasing() */
		sd_hostlock_releasing(v->hl);
		sd_vdi_release(v->c, v->vid, lock_type_of(v->lock));
	}
	sd_hostlock_free(v->hl);
	pthread_cond_destroy(&v->bg_cond);
	pthread_mutex_destroy(&v->mu);
	sd_claim_book_free(v->claims);
	free(v->dirty);
	free(v->index);
	free(v);
}

uint64_t sd_vdi_size(const struct sd_vdi *v)
{
	return v->size;
}

uint32_t sd_vdi_object_size(const struct sd_vdi *v)
{
	return UINT32_C(1) << v->shift;
}

uint32_t sd_vdi_vid(const struct sd_vdi *v)
{
	return __atomic_load_n(&v->vid, __ATOMIC_RELAXED);
}

const char *sd_vdi_name(const struct sd_vdi *v)
{
	return v->name;
}

bool sd_vdi_readonly(const struct sd_vdi *v)
{
	return v->readonly;
}
