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

#include "sd_vdi.h"

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

static int vdi_check_names(const char *name, const char *tag)
{
	if (!name || !*name)
		return sd_set_error(EINVAL, "missing VDI name");
	if (strlen(name) >= SD_MAX_VDI_LEN)
		return sd_set_error(EINVAL, "VDI name '%.32s...' is longer than %d bytes",
				    name, SD_MAX_VDI_LEN - 1);
	if (tag && strlen(tag) >= SD_MAX_VDI_TAG_LEN)
		return sd_set_error(EINVAL, "snapshot tag '%.32s...' is longer than %d bytes",
				    tag, SD_MAX_VDI_TAG_LEN - 1);
	return 0;
}

/*
 * The lookup round trip.  Returns a connection error (message set by
 * sd_client_call) or 0 with *result and, on success, *vid.
 */
static int vdi_lookup_raw(struct sd_client *c, const char *name,
			  const char *tag, uint32_t snapid, uint8_t opcode,
			  uint32_t lock_type, uint32_t *vid, uint32_t *result)
{
	uint8_t payload[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN];
	struct sd_request req;
	struct iovec iov;
	int ret;

	ret = vdi_check_names(name, tag);
	if (ret)
		return ret;
	sd_put_name(payload, SD_MAX_VDI_LEN, name);
	sd_put_name(payload + SD_MAX_VDI_LEN, SD_MAX_VDI_TAG_LEN,
		    tag ? tag : "");
	iov.iov_base = payload;
	iov.iov_len = sizeof(payload);

	memset(&req, 0, sizeof(req));
	req.hdr.proto_ver = SD_PROTO_VER;
	req.hdr.opcode = opcode;
	req.hdr.flags = SD_FLAG_CMD_WRITE;
	req.hdr.data_length = sizeof(payload);
	req.hdr.vdi.snapid = snapid;
	if (opcode == SD_OP_LOCK_VDI)
		req.hdr.vdi.type = lock_type;
	req.out_iov = &iov;
	req.out_iovcnt = 1;

	ret = sd_client_call(c, &req);
	if (ret)
		return ret;
	*result = req.rsp.result;
	if (req.rsp.result == SD_RES_SUCCESS)
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
	ret = vdi_lookup_raw(c, name, tag, snapid, opcode, lock_type, vid,
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

/* READ_OBJ of [0, len) of inode @vid into @buf. */
static int inode_read(struct sd_client *c, uint32_t vid, uint8_t *buf,
		      uint32_t len)
{
	struct sd_request req;
	struct iovec iov;
	int ret;

	iov.iov_base = buf;
	iov.iov_len = len;
	memset(&req, 0, sizeof(req));
	req.hdr.proto_ver = SD_PROTO_VER;
	req.hdr.opcode = SD_OP_READ_OBJ;
	req.hdr.data_length = len;
	req.hdr.obj.oid = sd_vid_to_vdi_oid(vid);
	req.hdr.obj.offset = 0;
	req.in_iov = &iov;
	req.in_iovcnt = 1;
	req.req_flags = SD_REQ_RESEND;

	ret = sd_client_call(c, &req);
	if (ret)
		return ret;
	if (req.rsp.result != SD_RES_SUCCESS)
		return sd_set_error(sd_result_to_errno(req.rsp.result),
				    "reading inode of vid 0x%06x: %s", vid,
				    sd_result_str(req.rsp.result));
	if (req.in_len != len)
		return sd_set_error(EPROTO,
				    "reading inode of vid 0x%06x: short reply (%u of %u bytes)",
				    vid, req.in_len, len);
	return 0;
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

int sd_read_inode_full(struct sd_client *c, uint32_t vid,
		       struct sd_inode_hdr *h, uint32_t **index,
		       uint32_t *nr_objs)
{
	uint32_t *idx = NULL;
	uint64_t nr;
	uint8_t *buf;
	uint32_t i;
	int ret;

	buf = malloc(SD_INODE_REFRESH_SIZE);
	if (!buf)
		return sd_set_error(ENOMEM, "out of memory");
	ret = inode_read(c, vid, buf, SD_INODE_REFRESH_SIZE);
	if (ret)
		goto out;
	sd_inode_hdr_decode(buf, h);

	if (h->store_policy == 1) {
		ret = sd_set_error(EOPNOTSUPP,
				   "VDI '%s': hyper volumes are not supported",
				   h->name);
		goto out;
	}
	if (h->store_policy != 0) {
		ret = sd_set_error(EPROTO, "VDI '%s': unknown store policy %u",
				   h->name, h->store_policy);
		goto out;
	}
	if (h->block_size_shift < SD_MIN_BLOCK_SHIFT ||
	    h->block_size_shift > SD_MAX_BLOCK_SHIFT) {
		ret = sd_set_error(EPROTO,
				   "VDI '%s': bad block_size_shift %u in inode",
				   h->name, h->block_size_shift);
		goto out;
	}
	if (h->vdi_id != vid) {
		ret = sd_set_error(EPROTO,
				   "inode of vid 0x%06x claims vid 0x%06x",
				   vid, h->vdi_id);
		goto out;
	}
	nr = sd_objs_for_size(h->vdi_size, h->block_size_shift);
	if (h->vdi_size > (UINT64_C(1) << 62) || nr > SD_MAX_DATA_OBJS) {
		ret = sd_set_error(EPROTO,
				   "VDI '%s': size %llu needs more than %u objects",
				   h->name, (unsigned long long)h->vdi_size,
				   SD_MAX_DATA_OBJS);
		goto out;
	}

	idx = malloc((nr ? nr : 1) * sizeof(*idx));
	if (!idx) {
		ret = sd_set_error(ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nr; i++)
		idx[i] = sd_get_le32(buf + sd_inode_index_offset(i));
	*index = idx;
	*nr_objs = (uint32_t)nr;
out:
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

int sd_vdi_open(struct sd_client *c, const struct sd_vdi_open_args *a,
		struct sd_vdi **out)
{
	char why[SD_ERROR_MAX], snap[300];
	uint32_t result = SD_RES_SUCCESS;
	bool snapshot, locked = false;
	enum sd_lock_mode lock;
	struct sd_vdi *v;
	uint8_t opcode;
	uint32_t vid = 0;
	int ret;

	*out = NULL;
	if (!c || !a)
		return sd_set_error(EINVAL, "sd_vdi_open: missing arguments");
	ret = vdi_check_names(a->name, a->tag);
	if (ret)
		return ret;
	if (a->lock != SD_LOCK_NONE && a->lock != SD_LOCK_NORMAL &&
	    a->lock != SD_LOCK_SHARED)
		return sd_set_error(EINVAL, "cannot open VDI '%s': bad lock mode %d",
				    a->name, (int)a->lock);

	snapshot = (a->tag && *a->tag) || a->snapid;
	lock = snapshot ? SD_LOCK_NONE : a->lock;
	opcode = lock == SD_LOCK_NONE ? SD_OP_GET_VDI_INFO : SD_OP_LOCK_VDI;
	vdi_snap_desc(a->tag, a->snapid, snap, sizeof(snap));

	v = calloc(1, sizeof(*v));
	if (!v)
		return sd_set_error(ENOMEM, "out of memory");

	ret = vdi_lookup_raw(c, a->name, a->tag, a->snapid, opcode,
			     lock_type_of(lock), &vid, &result);
	if (ret) {
		snprintf(why, sizeof(why), "%s", sd_get_error());
		ret = sd_set_error(-ret, "cannot open VDI '%s'%s: %s", a->name,
				   snap, why);
		goto fail;
	}
	if (result != SD_RES_SUCCESS) {
		ret = sd_set_error(sd_result_to_errno(result),
				   "cannot open VDI '%s'%s: %s", a->name, snap,
				   sd_result_str(result));
		goto fail;
	}
	locked = lock != SD_LOCK_NONE;

	ret = sd_read_inode_full(c, vid, &v->inode, &v->index, &v->nr_objs);
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
	pthread_mutex_init(&v->mu, NULL);
	sd_gate_table_init(&v->gates);
	sd_list_init(&v->write_calls);
	sd_list_init(&v->flush_waiters);
	*out = v;
	return 0;

fail:
	if (locked) {
		/* keep the open error, not the release's */
		snprintf(why, sizeof(why), "%s", sd_get_error());
		sd_vdi_release(c, vid, lock_type_of(lock));
		sd_set_error(-ret, "%s", why);
	}
	free(v->index);
	free(v);
	return ret;
}

void sd_vdi_close(struct sd_vdi *v)
{
	if (!v)
		return;
	if (v->lock != SD_LOCK_NONE)
		sd_vdi_release(v->c, v->vid, lock_type_of(v->lock));
	pthread_mutex_destroy(&v->mu);
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
	return v->vid;
}

const char *sd_vdi_name(const struct sd_vdi *v)
{
	return v->name;
}

bool sd_vdi_readonly(const struct sd_vdi *v)
{
	return v->readonly;
}
