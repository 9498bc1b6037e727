// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_admin.c - VDI administration: create, resize, snapshot, clone,
 * delete, list.
 *
 * These are the management operations of sheepdog.h used by sdctl.  Each one
 * is a short synchronous sequence of requests on an existing client, the
 * same sequence the upstream dog tool sends (dog's vdi_create(),
 * vdi_resize(), vdi_snapshot(), vdi_clone() and vdi_delete()):
 * lookups with GET_VDI_INFO, inode reads and index updates with
 * READ_OBJ/WRITE_OBJ, and NEW_VDI/DEL_VDI for the VDI table.  Every failure
 * leaves one line naming the VDI and the sheep's reason in sd_get_error().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_parse.h"
#include "sd_vdi_internal.h"

/* dog zeroes at most this many non-zero index entries per WRITE_OBJ */
#define ADMIN_DEL_BATCH		128

/* ---- request helpers -------------------------------------------------- */

/*
 * One synchronous request.  @out is the payload (CMD_WRITE set when
 * out_len > 0), @in receives the reply payload.  Returns 0 when the sheep
 * answered (its result is in *rsp), else -errno with the connection
 * layer's message.  *got is the number of reply bytes stored.
 */
static int admin_call(struct sd_client *c, struct sd_req *hdr,
		      const void *out, uint32_t out_len, void *in,
		      uint32_t in_len, bool resend, struct sd_rsp *rsp,
		      uint32_t *got)
{
	struct sd_request req;
	struct iovec oiov, iiov;
	int ret;

	memset(&req, 0, sizeof(req));
	if (!hdr->proto_ver)
		hdr->proto_ver = hdr->opcode >= 0x80 ? SD_SHEEP_PROTO_VER :
						       SD_PROTO_VER;
	if (out_len) {
		hdr->flags |= SD_FLAG_CMD_WRITE;
		hdr->data_length = out_len;
		oiov.iov_base = (void *)out;
		oiov.iov_len = out_len;
		req.out_iov = &oiov;
		req.out_iovcnt = 1;
	} else {
		hdr->data_length = in_len;
	}
	if (in_len) {
		iiov.iov_base = in;
		iiov.iov_len = in_len;
		req.in_iov = &iiov;
		req.in_iovcnt = 1;
	}
	req.hdr = *hdr;
	req.req_flags = resend ? SD_REQ_RESEND : 0;

	ret = sd_client_call(c, &req);
	if (ret < 0)
		return ret;
	*rsp = req.rsp;
	if (got)
		*got = req.in_len;
	return 0;
}

/* Record "VDI 'name'<what>: <sheep reason>" for a failed result. */
static int admin_result_error(const char *name, const char *what,
			      uint32_t result)
{
	sd_set_error(sd_result_to_errno(result), "%s", sd_result_str(result));
	return sd_error_context("VDI '%s'%s", name, what);
}

/*
 * Name the VDI in front of the current message (e.g. a connection error),
 * unless the message has its context already.  Returns @ret.
 */
static int admin_name_error(const char *name, int ret)
{
	sd_error_context("VDI '%s'", name);
	return ret;
}

/*
 * GET_VDI_INFO of @name (with @tag or @snapid); a refusal names the VDI and
 * the snapshot asked for, as sd_vdi_lookup() does.
 */
static int admin_lookup(struct sd_client *c, const char *name,
			const char *tag, uint32_t snapid, uint32_t *vid)
{
	uint32_t result = SD_RES_SUCCESS;
	char what[SD_VDI_TAG_MAX + 16];
	int ret;

	ret = sd_vdi_lookup_raw(c, name, tag, snapid, SD_OP_GET_VDI_INFO, 0,
				vid, &result);
	if (ret < 0)
		return admin_name_error(name, ret);
	if (result == SD_RES_SUCCESS)
		return 0;
	if (tag && *tag)
		snprintf(what, sizeof(what), " tag '%s'", tag);
	else if (snapid)
		snprintf(what, sizeof(what), " snapshot %u", snapid);
	else
		what[0] = '\0';
	return admin_result_error(name, what, result);
}

/* READ_OBJ of exactly @len bytes at @off of the inode of @vid. */
static int admin_read_inode(struct sd_client *c, const char *name,
			    uint32_t vid, uint32_t off, void *buf,
			    uint32_t len)
{
	struct sd_req hdr;
	struct sd_rsp rsp;
	uint32_t got = 0;
	int ret;

	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = SD_OP_READ_OBJ;
	hdr.flags = SD_FLAG_CMD_DIRECT;
	hdr.obj.oid = sd_vid_to_vdi_oid(vid);
	hdr.obj.offset = off;
	ret = admin_call(c, &hdr, NULL, 0, buf, len, true, &rsp, &got);
	if (ret < 0)
		return admin_name_error(name, ret);
	if (rsp.result != SD_RES_SUCCESS)
		return admin_result_error(name, ": reading inode",
					  rsp.result);
	if (got != len)
		return sd_set_error(EPROTO,
				    "VDI '%s': short inode read (%u of %u bytes)",
				    name, got, len);
	return 0;
}

/* WRITE_OBJ of @len bytes at @off into the inode of @vid. */
static int admin_write_inode(struct sd_client *c, const char *name,
			     uint32_t vid, uint8_t copies, uint32_t off,
			     const void *buf, uint32_t len)
{
	struct sd_req hdr;
	struct sd_rsp rsp;
	int ret;

	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = SD_OP_WRITE_OBJ;
	hdr.flags = SD_FLAG_CMD_DIRECT;
	hdr.obj.oid = sd_vid_to_vdi_oid(vid);
	hdr.obj.copies = copies;
	hdr.obj.offset = off;
	/* rewriting the same bytes is harmless: resendable */
	ret = admin_call(c, &hdr, buf, len, NULL, 0, true, &rsp, NULL);
	if (ret < 0)
		return admin_name_error(name, ret);
	if (rsp.result != SD_RES_SUCCESS)
		return admin_result_error(name, ": updating inode", rsp.result);
	return 0;
}

/*
 * NEW_VDI.  @base is the parent vid (0 for a fresh VDI), @snapid non-zero
 * asks for a snapshot.  *vid = the new working vid.
 */
static int admin_new_vdi(struct sd_client *c, const char *name,
			 uint64_t size, uint32_t base, uint32_t snapid,
			 const struct sd_inode_hdr *like, uint8_t shift,
			 uint32_t *vid)
{
	uint8_t payload[SD_MAX_VDI_LEN];
	struct sd_req hdr;
	struct sd_rsp rsp;
	int ret;

	sd_put_name(payload, sizeof(payload), name);
	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = SD_OP_NEW_VDI;
	hdr.vdi.vdi_size = size;
	hdr.vdi.base_vdi_id = base;
	hdr.vdi.snapid = snapid;
	hdr.vdi.block_size_shift = shift;
	if (like) {
		hdr.vdi.copies = like->nr_copies;
		hdr.vdi.copy_policy = like->copy_policy;
		hdr.vdi.store_policy = like->store_policy;
	}
	/* not resendable: a second NEW_VDI would create another vid */
	ret = admin_call(c, &hdr, payload, sizeof(payload), NULL, 0, false,
			 &rsp, NULL);
	if (ret < 0)
		return admin_name_error(name, ret);
	if (rsp.result == SD_RES_VDI_EXIST)
		return sd_set_error(EEXIST, "VDI '%s' already exists", name);
	if (rsp.result != SD_RES_SUCCESS)
		return admin_result_error(name, "", rsp.result);
	if (vid)
		*vid = rsp.vdi.vdi_id;
	return 0;
}

/* Look up @name (+tag/snapid) and read its inode header. */
static int admin_find(struct sd_client *c, const char *name, const char *tag,
		      uint32_t snapid, uint32_t *vid,
		      struct sd_inode_hdr *ih)
{
	int ret;

	ret = sd_check_names(name, tag);
	if (ret < 0)
		return ret;
	ret = admin_lookup(c, name, tag, snapid, vid);
	if (ret < 0)
		return ret;
	ret = sd_read_inode_hdr(c, *vid, ih);
	if (ret < 0)
		return admin_name_error(name, ret);
	return 0;
}

static uint64_t admin_nr_objs(uint64_t size, uint8_t shift)
{
	uint64_t n = (size + (UINT64_C(1) << shift) - 1) >> shift;

	return n > SD_MAX_DATA_OBJS ? SD_MAX_DATA_OBJS : n;
}

/* Read the used part of the index of @vid into a malloc'd array. */
static int admin_read_index(struct sd_client *c, const char *name,
			    uint32_t vid, uint64_t nr, uint8_t **out)
{
	uint8_t *idx;
	int ret;

	*out = NULL;
	if (!nr)
		return 0;
	idx = malloc(nr * 4);
	if (!idx)
		return sd_set_error(ENOMEM, "VDI '%s': out of memory", name);
	ret = admin_read_inode(c, name, vid, SD_INODE_INDEX_OFFSET, idx,
			       (uint32_t)(nr * 4));
	if (ret < 0) {
		free(idx);
		return ret;
	}
	*out = idx;
	return 0;
}

/* ---- create ----------------------------------------------------------- */

/*
 * A flat-index VDI holds at most 2^20 objects (dog's vdi_create() and
 * vdi_resize(): object size * OLD_MAX_DATA_OBJS): -EINVAL beyond.
 */
static int admin_max_check(const char *name, uint64_t size, uint8_t shift)
{
	uint64_t max = (uint64_t)SD_MAX_DATA_OBJS << shift;

	if (size <= max)
		return 0;
	return sd_set_error(EINVAL,
			    "VDI '%s': size %llu too large (at most %llu bytes with %u-byte objects)",
			    name, (unsigned long long)size,
			    (unsigned long long)max, 1U << shift);
}

static int admin_default_shift(struct sd_client *c, const char *name,
			       uint8_t *shift)
{
	struct sd_req hdr;
	struct sd_rsp rsp;
	int ret;

	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = SD_OP_GET_CLUSTER_DEFAULT;
	ret = admin_call(c, &hdr, NULL, 0, NULL, 0, true, &rsp, NULL);
	if (ret < 0)
		return admin_name_error(name, ret);
	if (rsp.result != SD_RES_SUCCESS)
		return admin_result_error(name, ": cluster defaults",
					  rsp.result);
	*shift = rsp.cluster.block_size_shift ? rsp.cluster.block_size_shift :
						SD_DEFAULT_BLOCK_SHIFT;
	if (*shift < SD_MIN_BLOCK_SHIFT || *shift > SD_MAX_BLOCK_SHIFT)
		return sd_set_error(EPROTO,
				    "VDI '%s': sheep reports bad default block shift %u",
				    name, *shift);
	return 0;
}

int sd_vdi_create(struct sd_client *c, const char *name, uint64_t size,
		  uint8_t block_size_shift, uint32_t *vid)
{
	uint8_t shift = block_size_shift;
	int ret;

	ret = sd_check_names(name, NULL);
	if (ret < 0)
		return ret;
	if (shift && (shift < SD_MIN_BLOCK_SHIFT ||
		      shift > SD_MAX_BLOCK_SHIFT))
		return sd_set_error(EINVAL,
				    "VDI '%s': block size shift %u out of range (%d..%d)",
				    name, shift, SD_MIN_BLOCK_SHIFT,
				    SD_MAX_BLOCK_SHIFT);
	if (!size)
		return sd_set_error(EINVAL, "VDI '%s': size must not be 0",
				    name);
	if (size % 512)
		return sd_set_error(EINVAL,
				    "VDI '%s': size %llu is not a multiple of 512",
				    name, (unsigned long long)size);
	if (!shift) {
		ret = admin_default_shift(c, name, &shift);
		if (ret < 0)
			return ret;
	}
	ret = admin_max_check(name, size, shift);
	if (ret < 0)
		return ret;
	return admin_new_vdi(c, name, size, 0, 0, NULL, shift, vid);
}

/* ---- resize ----------------------------------------------------------- */

int sd_vdi_resize(struct sd_client *c, const char *name, uint64_t new_size,
		  uint64_t *old_size)
{
	struct sd_inode_hdr ih;
	uint8_t le[8];
	uint32_t vid;
	int ret;

	if (new_size % 512)
		return sd_set_error(EINVAL,
				    "VDI '%s': size %llu is not a multiple of 512",
				    name, (unsigned long long)new_size);
	/* dog's vdi_resize(): the working VDI's header */
	ret = admin_find(c, name, NULL, 0, &vid, &ih);
	if (ret < 0)
		return ret;
	if (old_size)
		*old_size = ih.vdi_size;
	if (ih.store_policy != 0)
		return sd_set_error(EOPNOTSUPP,
				    "VDI '%s': hyper volumes are not supported",
				    name);
	if (ih.block_size_shift < SD_MIN_BLOCK_SHIFT ||
	    ih.block_size_shift > SD_MAX_BLOCK_SHIFT)
		return sd_set_error(EPROTO,
				    "VDI '%s': bad block_size_shift %u in inode",
				    name, ih.block_size_shift);
	if (new_size < ih.vdi_size)
		return sd_set_error(EINVAL,
				    "VDI '%s': shrinking is not supported (size %llu, asked %llu)",
				    name, (unsigned long long)ih.vdi_size,
				    (unsigned long long)new_size);
	ret = admin_max_check(name, new_size, ih.block_size_shift);
	if (ret < 0 || new_size == ih.vdi_size)
		return ret;
	/* only the size field: dog rewrites the whole header it read, which
	 * could undo a snapshot's change made meanwhile */
	sd_put_le64(le, new_size);
	return admin_write_inode(c, name, vid, ih.nr_copies,
				 SD_INODE_OFF_VDI_SIZE, le, sizeof(le));
}

/* ---- snapshot --------------------------------------------------------- */

int sd_vdi_snapshot(struct sd_client *c, const char *name, const char *tag,
		    uint32_t *snap_vid)
{
	uint8_t tagbuf[SD_MAX_VDI_TAG_LEN];
	struct sd_inode_hdr ih;
	uint32_t vid, other;
	int ret;

	if (!tag)
		tag = "";
	ret = sd_check_names(name, tag);
	if (ret < 0)
		return ret;
	if (sd_all_digits(tag, strlen(tag)))
		return sd_set_error(EINVAL,
				    "VDI '%s': tag '%s' is all digits (it would read as a snapshot id)",
				    name, tag);

	ret = admin_find(c, name, NULL, 0, &vid, &ih);
	if (ret < 0)
		return ret;
	if (ih.store_policy != 0)
		return sd_set_error(EOPNOTSUPP,
				    "VDI '%s': snapshots of hyper volumes are not supported",
				    name);

	if (*tag) {
		ret = admin_lookup(c, name, tag, 0, &other);
		if (ret == 0)
			return sd_set_error(EEXIST,
					    "VDI '%s': tag '%s' exists already",
					    name, tag);
		/* NO_TAG is the expected answer (ENOENT) */
		if (ret != -ENOENT)
			return ret;
		sd_clear_error();
	}

	sd_put_name(tagbuf, sizeof(tagbuf), tag);
	ret = admin_write_inode(c, name, vid, ih.nr_copies, SD_INODE_OFF_TAG,
				tagbuf, sizeof(tagbuf));
	if (ret < 0)
		return ret;
	ret = admin_new_vdi(c, name, ih.vdi_size, vid, 1, &ih,
			    ih.block_size_shift, NULL);
	if (ret < 0) {
		/* best effort: the working VDI should not keep the tag */
		char msg[SD_ERROR_MAX];

		snprintf(msg, sizeof(msg), "%s", sd_get_error());
		sd_put_name(tagbuf, sizeof(tagbuf), ih.tag);
		admin_write_inode(c, name, vid, ih.nr_copies, SD_INODE_OFF_TAG,
				  tagbuf, sizeof(tagbuf));
		return sd_set_error(-ret, "%s", msg);
	}
	if (snap_vid)
		*snap_vid = vid;
	return 0;
}

/* ---- clone ------------------------------------------------------------ */

int sd_vdi_clone(struct sd_client *c, const char *src, const char *tag,
		 uint32_t snapid, const char *dst, uint32_t *vid)
{
	struct sd_inode_hdr ih;
	uint32_t svid;
	int ret;

	if (!tag)
		tag = "";
	ret = sd_check_names(dst, NULL);
	if (ret < 0)
		return ret;
	if (!*tag && !snapid)
		return sd_set_error(EINVAL,
				    "VDI '%s': clone needs a snapshot tag or id",
				    src ? src : "");
	ret = admin_find(c, src, tag, snapid, &svid, &ih);
	if (ret < 0)
		return ret;
	if (!ih.snap_ctime)
		return sd_set_error(EINVAL,
				    "VDI '%s': clone source must be a snapshot",
				    src);
	if (ih.store_policy != 0)
		return sd_set_error(EOPNOTSUPP,
				    "VDI '%s': cloning hyper volumes is not supported",
				    src);
	return admin_new_vdi(c, dst, ih.vdi_size, svid, 0, &ih,
			     ih.block_size_shift, vid);
}

/* ---- delete ----------------------------------------------------------- */

/* Zero every non-zero index entry, at most ADMIN_DEL_BATCH per write. */
static int admin_zero_index(struct sd_client *c, const char *name,
			    uint32_t vid, uint8_t copies, uint8_t *idx,
			    uint64_t nr)
{
	uint64_t i = 0, first, last;
	unsigned int count;
	int ret;

	while (i < nr) {
		while (i < nr && !sd_get_le32(idx + 4 * i))
			i++;
		if (i == nr)
			break;
		first = last = i;
		count = 0;
		while (i < nr && count < ADMIN_DEL_BATCH) {
			if (sd_get_le32(idx + 4 * i)) {
				sd_put_le32(idx + 4 * i, 0);
				last = i;
				count++;
			}
			i++;
		}
		ret = admin_write_inode(c, name, vid, copies,
					sd_inode_index_offset((uint32_t)first),
					idx + 4 * first,
					(uint32_t)(4 * (last - first + 1)));
		if (ret < 0)
			return ret;
		i = last + 1;
	}
	return 0;
}

int sd_vdi_delete(struct sd_client *c, const char *name, const char *tag,
		  uint32_t snapid)
{
	uint8_t payload[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN];
	struct sd_inode_hdr ih;
	struct sd_req hdr;
	struct sd_rsp rsp;
	uint8_t *idx = NULL;
	uint64_t nr;
	uint32_t vid;
	int ret;

	if (!tag)
		tag = "";
	ret = admin_find(c, name, tag, snapid, &vid, &ih);
	if (ret < 0)
		return ret;

	if (ih.store_policy == 0) {
		nr = admin_nr_objs(ih.vdi_size, ih.block_size_shift);
		ret = admin_read_index(c, name, vid, nr, &idx);
		if (ret < 0)
			return ret;
		ret = admin_zero_index(c, name, vid, ih.nr_copies, idx, nr);
		free(idx);
		if (ret < 0)
			return ret;
	}

	sd_put_name(payload, SD_MAX_VDI_LEN, name);
	sd_put_name(payload + SD_MAX_VDI_LEN, SD_MAX_VDI_TAG_LEN, tag);
	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = SD_OP_DEL_VDI;
	hdr.vdi.snapid = snapid;
	ret = admin_call(c, &hdr, payload, sizeof(payload), NULL, 0, false,
			 &rsp, NULL);
	if (ret < 0)
		return admin_name_error(name, ret);
	if (rsp.result != SD_RES_SUCCESS)
		return admin_result_error(name, ": delete", rsp.result);
	return 0;
}

/* ---- list ------------------------------------------------------------- */

static int admin_read_bitmap(struct sd_client *c, uint8_t op, uint8_t *map,
			     bool optional)
{
	struct sd_req hdr;
	struct sd_rsp rsp;
	uint32_t got = 0;
	int ret;

	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = op;
	ret = admin_call(c, &hdr, NULL, 0, map, SD_VDI_BITMAP_SIZE, true,
			 &rsp, &got);
	if (ret < 0) {
		sd_error_context("listing VDIs");
		return ret;
	}
	if (optional && (rsp.result == SD_RES_INVALID_PARMS ||
			 rsp.result == SD_RES_NO_SUPPORT)) {
		memset(map, 0, SD_VDI_BITMAP_SIZE);
		return 0;
	}
	if (rsp.result != SD_RES_SUCCESS)
		return sd_set_error(sd_result_to_errno(rsp.result),
				    "listing VDIs (%s): %s", sd_opcode_str(op),
				    sd_result_str(rsp.result));
	if (got != SD_VDI_BITMAP_SIZE)
		return sd_set_error(EPROTO,
				    "listing VDIs (%s): short bitmap (%u bytes)",
				    sd_opcode_str(op), got);
	return 0;
}

static bool admin_bit(const uint8_t *map, uint32_t v)
{
	return map[v / 8] & (1U << (v % 8));
}

static int admin_info_cmp(const void *a, const void *b)
{
	const struct sd_vdi_info *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	if (x->snap_id != y->snap_id)
		return x->snap_id < y->snap_id ? -1 : 1;
	return 0;
}

/* Fill @info from the inode of @vid; *skip for deleted (empty) names. */
static int admin_fill_info(struct sd_client *c, uint32_t vid,
			   struct sd_vdi_info *info, bool *skip)
{
	struct sd_inode_hdr ih;
	uint8_t *idx = NULL;
	uint64_t nr, i;
	uint32_t e;
	int ret;

	*skip = false;
	ret = sd_read_inode_hdr(c, vid, &ih);
	if (ret == -ENOENT) {
		/* a vid whose inode is gone: nothing to list */
		sd_clear_error();
		*skip = true;
		return 0;
	}
	if (ret < 0)
		return ret;
	if (!ih.name[0]) {
		*skip = true;
		return 0;
	}
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", ih.name);
	snprintf(info->tag, sizeof(info->tag), "%s", ih.tag);
	info->vid = vid;
	info->snap_id = ih.snap_id;
	info->parent_vid = ih.parent_vdi_id;
	info->size = ih.vdi_size;
	info->create_time = ih.create_time;
	info->snap_ctime = ih.snap_ctime;
	info->block_size_shift = ih.block_size_shift;
	info->nr_copies = ih.nr_copies;
	info->copy_policy = ih.copy_policy;
	info->store_policy = ih.store_policy;
	info->is_snapshot = ih.snap_ctime != 0;

	/* hyper volumes keep a B-tree there, not a flat array */
	if (ih.store_policy != 0 || ih.block_size_shift < SD_MIN_BLOCK_SHIFT ||
	    ih.block_size_shift > SD_MAX_BLOCK_SHIFT)
		return 0;
	nr = admin_nr_objs(ih.vdi_size, ih.block_size_shift);
	ret = admin_read_index(c, ih.name, vid, nr, &idx);
	if (ret < 0)
		return ret;
	for (i = 0; i < nr; i++) {
		e = sd_get_le32(idx + 4 * i);
		if (!e)
			continue;
		if (e == vid)
			info->used_objs++;
		else
			info->shared_objs++;
	}
	free(idx);
	return 0;
}

int sd_vdi_list(struct sd_client *c, struct sd_vdi_info **out, size_t *n)
{
	uint8_t *inuse = NULL, *deleted = NULL;
	struct sd_vdi_info *list = NULL, *tmp;
	size_t nr = 0, cap = 0;
	bool skip;
	uint32_t v;
	int ret;

	*out = NULL;
	*n = 0;
	inuse = malloc(SD_VDI_BITMAP_SIZE);
	deleted = malloc(SD_VDI_BITMAP_SIZE);
	if (!inuse || !deleted) {
		ret = sd_set_error(ENOMEM, "listing VDIs: out of memory");
		goto out;
	}
	ret = admin_read_bitmap(c, SD_OP_READ_VDIS, inuse, false);
	if (ret < 0)
		goto out;
	ret = admin_read_bitmap(c, SD_OP_READ_DEL_VDIS, deleted, true);
	if (ret < 0)
		goto out;

	for (v = 1; v < SD_NR_VDIS; v++) {
		if (!inuse[v / 8]) {
			v |= 7;		/* skip the empty byte */
			continue;
		}
		if (!admin_bit(inuse, v) || admin_bit(deleted, v))
			continue;
		if (nr == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(list, cap * sizeof(*list));
			if (!tmp) {
				ret = sd_set_error(ENOMEM,
						   "listing VDIs: out of memory");
				goto out;
			}
			list = tmp;
		}
		ret = admin_fill_info(c, v, &list[nr], &skip);
		if (ret < 0)
			goto out;
		if (!skip)
			nr++;
	}
	if (nr)
		qsort(list, nr, sizeof(*list), admin_info_cmp);
	*out = list;
	*n = nr;
	list = NULL;
	ret = 0;
out:
	free(list);
	free(inuse);
	free(deleted);
	return ret;
}
