// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_vdi.c - opening and closing VDIs (layer 3): name lookup with or without
 * a lock (GET_VDI_INFO / LOCK_VDI), reading and checking the inode header
 * and index, releasing the lock on close, and the sd_vdi_* queries.  The
 * synchronous lookup and inode readers are also used by sd_admin.c, the
 * request builders and the inode decoder by the reload (sd_reload.c).
 * Nothing here calls the data path (sd_io.c).
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

void sd_inode_read_req_init(struct sd_request *req, struct iovec *iov,
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

int sd_inode_read_result(const struct sd_request *req, uint32_t vid,
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

/*
 * Synchronous READ_OBJ of [0, len) of inode @vid into a malloc'ed buffer
 * (free() it), or NULL with *ret = -errno and a message.
 */
static uint8_t *inode_read(struct sd_client *c, uint32_t vid, uint32_t len,
			   int *ret)
{
	struct sd_request req;
	struct iovec iov;
	uint8_t *buf;

	buf = malloc(len);
	if (!buf) {
		*ret = sd_set_error(ENOMEM, "out of memory");
		return NULL;
	}
	sd_inode_read_req_init(&req, &iov, vid, buf, len);
	*ret = sd_client_call(c, &req);
	if (!*ret)
		*ret = sd_inode_read_result(&req, vid, len);
	if (*ret) {
		free(buf);
		return NULL;
	}
	return buf;
}

int sd_read_inode_hdr(struct sd_client *c, uint32_t vid,
		      struct sd_inode_hdr *h)
{
	uint8_t *buf;
	int ret;

	buf = inode_read(c, vid, SD_INODE_HEADER_SIZE, &ret);
	if (!buf)
		return ret;
	sd_inode_hdr_decode(buf, h);
	free(buf);
	return 0;
}

/*
 * The checks of a decoded inode header @h of @vid: a store policy we know,
 * a valid block size, our vid, a size of at most 2^20 objects.  0 with
 * *nr = the VDI's object count, or -errno with a message.
 */
static int inode_hdr_check(const struct sd_inode_hdr *h, uint32_t vid,
			   uint64_t *nr)
{
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
	*nr = sd_objs_for_size(h->vdi_size, h->block_size_shift);
	if (h->vdi_size > (UINT64_C(1) << 62) || *nr > SD_MAX_DATA_OBJS)
		return sd_set_error(EPROTO,
				    "VDI '%s': size %llu needs more than %u objects",
				    h->name, (unsigned long long)h->vdi_size,
				    SD_MAX_DATA_OBJS);
	return 0;
}

int sd_inode_decode_full(const uint8_t *buf, uint32_t vid,
			 struct sd_inode_hdr *h, uint32_t **index,
			 uint32_t *nr_objs)
{
	uint32_t *idx;
	uint64_t nr;
	uint32_t i;
	int ret;

	sd_inode_hdr_decode(buf, h);
	ret = inode_hdr_check(h, vid, &nr);
	if (ret)
		return ret;
	idx = malloc((nr ? nr : 1) * sizeof(*idx));
	if (!idx)
		return sd_set_error(ENOMEM, "out of memory");
	for (i = 0; i < nr; i++)
		idx[i] = sd_get_le32(buf + sd_inode_index_offset(i));
	*index = idx;
	*nr_objs = (uint32_t)nr;
	return 0;
}

/*
 * Synchronous read and check of the header and index of inode @vid.  A
 * refresh read (shared handles) is the exact whole-index read sheep
 * expects.  Otherwise only the entries the VDI has are needed: the first
 * read takes the header and SD_OPEN_INDEX_ENTRIES entries (some 21 KiB
 * instead of 4 MiB: an LU of a VDI up to 16 GiB with 4 MiB objects opens
 * in one small read), and a larger VDI reads the whole index then.
 */
#define SD_OPEN_INDEX_ENTRIES	4096

static int read_inode_full(struct sd_client *c, uint32_t vid, bool refresh,
			   struct sd_inode_hdr *h, uint32_t **index,
			   uint32_t *nr_objs)
{
	uint32_t len = refresh ? sd_inode_index_read_len(true) :
		       SD_INODE_INDEX_OFFSET + SD_OPEN_INDEX_ENTRIES * 4;
	uint8_t *buf;
	uint64_t nr;
	int ret;

	buf = inode_read(c, vid, len, &ret);
	if (!buf)
		return ret;
	if (!refresh) {
		/* the object count tells whether the short read was enough */
		sd_inode_hdr_decode(buf, h);
		ret = inode_hdr_check(h, vid, &nr);
		if (ret)
			goto out;
		if (nr > SD_OPEN_INDEX_ENTRIES) {
			free(buf);
			buf = inode_read(c, vid, sd_inode_index_read_len(false),
					 &ret);
			if (!buf)
				return ret;
		}
	}
	ret = sd_inode_decode_full(buf, vid, h, index, nr_objs);
out:
	free(buf);
	return ret;
}

void sd_release_req_init(struct sd_request *req, uint32_t vid, uint32_t type)
{
	memset(req, 0, sizeof(*req));
	req->hdr.proto_ver = SD_PROTO_VER;
	req->hdr.opcode = SD_OP_RELEASE_VDI;
	req->hdr.vdi.base_vdi_id = vid;
	req->hdr.vdi.type = type;
	req->req_flags = SD_REQ_RESEND;
}

void sd_vdi_release(struct sd_client *c, uint32_t vid, uint32_t type)
{
	struct sd_request req;

	sd_release_req_init(&req, vid, type);
	/* sheep always answers SUCCESS; a lost lock is not our problem now */
	(void)sd_client_call(c, &req);
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
	struct sd_inode_hdr inode;
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

	/* a shared client may be long up when its sheep goes away */
	ret = sd_client_wait_up(c);
	if (ret) {
		snprintf(why, sizeof(why), "%s", sd_get_error());
		return sd_set_error(-ret, "cannot open VDI '%s'%s: %s", a->name,
				    snap, why);
	}

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

	ret = read_inode_full(c, vid, lock == SD_LOCK_SHARED, &inode,
			      &v->index, &v->nr_objs);
	if (ret) {
		snprintf(why, sizeof(why), "%s", sd_get_error());
		ret = sd_set_error(-ret, "cannot open VDI '%s'%s: %s", a->name,
				   snap, why);
		goto fail;
	}

	v->c = c;
	snprintf(v->name, sizeof(v->name), "%s", a->name);
	v->lock = lock;
	v->readonly = snapshot || inode.snap_ctime != 0;
	v->vid = vid;
	v->size = inode.vdi_size;
	v->shift = inode.block_size_shift;
	v->nr_copies = inode.nr_copies;
	v->copy_policy = inode.copy_policy;
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
	sd_list_init(&v->rl.bg_waiters);
	sd_list_init(&v->rl.pub);
	sd_list_init(&v->fence[SD_FENCE_READ].waiters);
	sd_list_init(&v->fence[SD_FENCE_CLUSTER].waiters);
	*out = v;
	return 0;

fail:
	if (locked) {
		/* keep the open error, not the release's */
		snprintf(why, sizeof(why), "%s", sd_get_error());
		sd_hostlock_releasing(v->hl);
		sd_vdi_release(c, vid, sd_lock_type_of(lock));
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
	sd_size_watch_stop(v);
	/* background re-checks / re-publishes still point at the handle */
	pthread_mutex_lock(&v->mu);
	while (v->bg_inflight)
		sd_client_cond_wait(v->c, &v->bg_cond, &v->mu);
	pthread_mutex_unlock(&v->mu);
	if (v->lock != SD_LOCK_NONE) {
		/* the record first: see sd_hostlock_releasing() */
		sd_hostlock_releasing(v->hl);
		sd_vdi_release(v->c, v->vid, sd_lock_type_of(v->lock));
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
	return __atomic_load_n(&v->size, __ATOMIC_ACQUIRE);
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
