// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ops.c - execute one parsed minisheep request on a worker thread: the
 * protocol version check, the object operations (READ_OBJ, WRITE_OBJ,
 * CREATE_AND_WRITE_OBJ with copy-on-write, REMOVE_OBJ, DISCARD_OBJ) with
 * their READONLY and coherence gates, and dispatch of the VDI and cluster
 * operations to vdi.c and cluster.c.  Fills r->rsp / r->rdata and encodes
 * the response header.
 */
#include <stdlib.h>
#include <string.h>

#include "minisheep.h"

bool ops_alloc_rdata(struct ms_request *r, uint32_t len)
{
	free(r->rdata);
	r->rdata = NULL;
	r->rsp.data_length = 0;
	if (!len)
		return true;
	r->rdata = calloc(1, len);
	if (!r->rdata) {
		r->rsp.result = SD_RES_NO_MEM;
		return false;
	}
	r->rsp.data_length = len;
	return true;
}

static bool is_refresh_read(const struct sd_req *q)
{
	return sd_oid_is_inode(q->obj.oid) && q->obj.offset == 0 &&
		q->data_length == SD_INODE_REFRESH_SIZE;
}

/* READONLY and INODE_INVALIDATED checks shared by the object ops */
static int object_gate(const struct ms_request *r, bool modifies)
{
	uint64_t oid = r->req.obj.oid;

	if (modifies && sd_oid_is_data(oid) &&
	    vdi_is_snapshot(sd_oid_to_vid(oid)))
		return SD_RES_READONLY;
	if (r->req.flags & SD_FLAG_CMD_TGT &&
	    !(r->req.opcode == SD_OP_READ_OBJ && is_refresh_read(&r->req)))
		return vdi_coherence_check(oid, r->part_id);
	return SD_RES_SUCCESS;
}

static int op_read(struct ms_request *r)
{
	const struct sd_req *q = &r->req;
	int ret = object_gate(r, false);

	if (ret != SD_RES_SUCCESS)
		return ret;
	if (!ops_alloc_rdata(r, q->data_length))
		return SD_RES_NO_MEM;
	if (is_refresh_read(q))
		ret = vdi_refresh_read(q->obj.oid, r->rdata, q->data_length,
				       r->part_id);
	else
		ret = store_read(q->obj.oid, r->rdata, q->data_length,
				 q->obj.offset);
	if (ret != SD_RES_SUCCESS) {
		ops_alloc_rdata(r, 0);
		return ret;
	}
	return SD_RES_SUCCESS;
}

static int op_write(struct ms_request *r)
{
	const struct sd_req *q = &r->req;
	int ret;

	if (q->data_length && !(q->flags & SD_FLAG_CMD_WRITE))
		return SD_RES_INVALID_PARMS;
	ret = object_gate(r, true);
	if (ret != SD_RES_SUCCESS)
		return ret;
	if (sd_oid_is_inode(q->obj.oid))
		return vdi_inode_write(q->obj.oid, r->data, r->data_len,
				       q->obj.offset, r->part_id);
	return store_write(q->obj.oid, r->data, r->data_len, q->obj.offset);
}

/* COW create: the whole source object with the payload laid over it */
static int create_cow(const struct ms_request *r, uint64_t size)
{
	const struct sd_req *q = &r->req;
	uint64_t src_size;
	uint8_t *buf;
	int ret;

	ret = store_size(q->obj.cow_oid, &src_size);
	if (ret != SD_RES_SUCCESS)
		return ret;
	buf = calloc(1, size);
	if (!buf)
		return SD_RES_NO_MEM;
	if (src_size > size)
		src_size = size;
	ret = store_read(q->obj.cow_oid, buf, (uint32_t)src_size, 0);
	if (ret == SD_RES_SUCCESS) {
		if (r->data_len)
			memcpy(buf + q->obj.offset, r->data, r->data_len);
		ret = store_create(q->obj.oid, size, buf, (uint32_t)size, 0);
	}
	free(buf);
	return ret;
}

static int op_create(struct ms_request *r)
{
	const struct sd_req *q = &r->req;
	uint64_t oid = q->obj.oid, size;
	int ret;

	if (q->data_length && !(q->flags & SD_FLAG_CMD_WRITE))
		return SD_RES_INVALID_PARMS;
	size = store_object_size(oid, vdi_shift_of(sd_oid_to_vid(oid)));
	if (!size || !sd_oid_to_vid(oid) ||
	    (uint64_t)q->obj.offset + r->data_len > size)
		return SD_RES_INVALID_PARMS;
	ret = object_gate(r, true);
	if (ret != SD_RES_SUCCESS)
		return ret;
	if (sd_oid_is_inode(oid))
		return vdi_inode_create(oid, r->data, r->data_len,
					q->obj.offset);
	if ((q->flags & SD_FLAG_CMD_COW) && r->data_len != size)
		return create_cow(r, size);
	return store_create(oid, size, r->data, r->data_len, q->obj.offset);
}

static int check_version(const struct sd_req *q)
{
	if (q->opcode < 0x80)
		return q->proto_ver > SD_PROTO_VER ? SD_RES_VER_MISMATCH :
			SD_RES_SUCCESS;
	return q->proto_ver == SD_SHEEP_PROTO_VER ? SD_RES_SUCCESS :
		SD_RES_VER_MISMATCH;
}

static bool known_opcode(uint8_t op)
{
	return strcmp(sd_opcode_str(op), "UNKNOWN_OP") != 0;
}

static void dispatch(struct ms_request *r)
{
	struct sd_rsp *p = &r->rsp;

	switch (r->req.opcode) {
	case SD_OP_READ_OBJ:
		p->result = (uint32_t)op_read(r);
		break;
	case SD_OP_WRITE_OBJ:
		p->result = (uint32_t)op_write(r);
		break;
	case SD_OP_CREATE_AND_WRITE_OBJ:
		p->result = (uint32_t)op_create(r);
		break;
	case SD_OP_REMOVE_OBJ:
		p->result = (uint32_t)store_remove(r->req.obj.oid);
		break;
	case SD_OP_DISCARD_OBJ:
		vdi_op_discard(r);
		break;
	case SD_OP_NEW_VDI:
		vdi_op_new(r);
		break;
	case SD_OP_LOCK_VDI:
	case SD_OP_GET_VDI_INFO:
		vdi_op_lookup(r);
		break;
	case SD_OP_RELEASE_VDI:
		vdi_op_release(r);
		break;
	case SD_OP_DEL_VDI:
		vdi_op_del(r);
		break;
	case SD_OP_READ_VDIS:
		vdi_op_read_bitmap(r, false);
		break;
	case SD_OP_READ_DEL_VDIS:
		vdi_op_read_bitmap(r, true);
		break;
	case SD_OP_FLUSH_VDI:
		/* like sheep 1.0: no cache, writes are already stable */
		p->result = SD_RES_INVALID_PARMS;
		break;
	case SD_OP_GET_CLUSTER_DEFAULT:
		cluster_get_default(r);
		break;
	case SD_OP_GET_NODE_LIST:
		cluster_get_node_list(r);
		break;
	case SD_OP_STAT_CLUSTER:
		cluster_stat(r);
		break;
	case SD_OP_CLUSTER_INFO:
		cluster_info(r);
		break;
	case SD_OP_MAKE_FS:
		cluster_make_fs(r);
		break;
	case SD_OP_GET_VDI_COPIES:
		vdi_op_get_copies(r);
		break;
	case SD_OP_GET_VDI_ATTR:
		vdi_op_get_attr(r);
		break;
	case SD_OP_OIDS_EXIST: {
		uint32_t i, n = r->data_len / 8, missing = 0;
		uint64_t size;

		if (!ops_alloc_rdata(r, r->data_len & ~7u))
			break;
		for (i = 0; i < n; i++) {
			uint64_t oid = sd_get_le64(r->data + 8 * i);

			if (store_size(oid, &size) != SD_RES_SUCCESS)
				sd_put_le64(r->rdata + 8 * missing++, oid);
		}
		p->data_length = missing * 8;
		if (missing)
			p->result = SD_RES_NO_OBJ;
		break;
	}
	default:
		p->result = SD_RES_INVALID_PARMS;
		break;
	}
}

void ops_execute(struct ms_request *r)
{
	struct sd_rsp *p = &r->rsp;
	int ret;

	memset(p, 0, sizeof(*p));
	p->opcode = r->req.opcode;
	p->id = r->req.id;
	p->epoch = 1;
	p->result = SD_RES_SUCCESS;
	if (!known_opcode(r->req.opcode)) {
		p->result = SD_RES_INVALID_PARMS;
	} else if ((ret = check_version(&r->req)) != SD_RES_SUCCESS) {
		p->result = (uint32_t)ret;
	} else {
		dispatch(r);
		if (p->result != SD_RES_SUCCESS &&
		    r->req.opcode != SD_OP_OIDS_EXIST)
			ops_alloc_rdata(r, 0);
	}
	sd_rsp_encode(p, r->rhdr);
}

/* answer @r with @result without executing it (fault injection, limits) */
void ops_reply_error(struct ms_request *r, uint32_t result)
{
	struct sd_rsp *p = &r->rsp;

	ops_alloc_rdata(r, 0);
	memset(p, 0, sizeof(*p));
	p->opcode = r->req.opcode;
	p->id = r->req.id;
	p->epoch = 1;
	p->result = result;
	sd_rsp_encode(p, r->rhdr);
}
