// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ops.c - execute one parsed minisheep request: the protocol version
 * check, the gateway operations (READ_OBJ, WRITE_OBJ, CREATE_AND_WRITE_OBJ
 * with copy-on-write, REMOVE_OBJ) as sheep/gateway.c runs them, with their
 * INODE_INVALIDATED and READONLY checks judged on the view of the node
 * that received the request, the local operations, and the cluster
 * operations (sheep/ops.c process_work, then the process_main step that
 * every node applies, node.c).  Fills r->rsp / r->rdata and encodes the
 * response header.
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

/*
 * The operations sheep runs as cluster operations with a process_work step
 * (sheep/ops.c, SD_OP_TYPE_CLUSTER): queue_cluster_request() blocks the
 * cluster while one runs.  MAKE_FS has only a process_main step in sheep;
 * minisheep runs it here too, as it wipes the one store.
 */
bool ops_is_cluster(uint8_t opcode)
{
	switch (opcode) {
	case SD_OP_NEW_VDI:
	case SD_OP_DEL_VDI:
	case SD_OP_GET_VDI_INFO:
	case SD_OP_LOCK_VDI:
	case SD_OP_RELEASE_VDI:
	case SD_OP_GET_VDI_ATTR:
	case SD_OP_MAKE_FS:
		return true;
	default:
		return false;
	}
}

/* as sheep/gateway.c is_inode_refresh_req() */
static bool is_inode_refresh_req(const struct sd_req *q)
{
	return sd_oid_is_inode(q->obj.oid) && q->obj.offset == 0 &&
		q->data_length == SD_INODE_REFRESH_SIZE;
}

/* the INODE_INVALIDATED check of a TGT-flagged request (the vid inside
 * the oid), as the gateway_*_obj() functions do it */
static bool refresh_required(const struct ms_request *r)
{
	return (r->req.flags & SD_FLAG_CMD_TGT) &&
		node_is_refresh_required(r->node, r->self,
					 sd_oid_to_vid(r->req.obj.oid));
}

/*
 * As sheep/gateway.c gateway_read_obj(): a stale node refuses TGT reads
 * but the refresh read, which makes it valid again afterwards
 * (validate_myself(): not atomic with the read).
 */
static int gateway_read_obj(struct ms_request *r)
{
	const struct sd_req *q = &r->req;
	int ret;

	if (!is_inode_refresh_req(q) && refresh_required(r))
		return SD_RES_INODE_INVALIDATED;
	if (!ops_alloc_rdata(r, q->data_length))
		return SD_RES_NO_MEM;
	ret = store_read(q->obj.oid, r->rdata, q->data_length, q->obj.offset);
	if (ret != SD_RES_SUCCESS) {
		ops_alloc_rdata(r, 0);
		return ret;
	}
	if (is_inode_refresh_req(q))
		node_validate_myself(r->node, r->self,
				     sd_oid_to_vid(q->obj.oid));
	return SD_RES_SUCCESS;
}

/* as sheep/gateway.c gateway_write_obj() (index updates: vdi.c) */
static int gateway_write_obj(struct ms_request *r)
{
	const struct sd_req *q = &r->req;

	if (q->data_length && !(q->flags & SD_FLAG_CMD_WRITE))
		return SD_RES_INVALID_PARMS;
	if (refresh_required(r))
		return SD_RES_INODE_INVALIDATED;
	if (node_oid_is_readonly(r->node, q->obj.oid))
		return SD_RES_READONLY;
	if (sd_oid_is_inode(q->obj.oid))
		return vdi_inode_write(r->node, r->self, q->obj.oid, r->data,
				       r->data_len, q->obj.offset);
	return store_write(q->obj.oid, r->data, r->data_len, q->obj.offset);
}

/*
 * As sheep/gateway.c gateway_handle_cow(): unless the payload is the
 * whole object, read the whole source object first and lay the payload
 * over it; then create the object from that buffer.
 */
static int gateway_handle_cow(const struct ms_request *r, uint64_t size)
{
	const struct sd_req *q = &r->req;
	uint8_t *buf;
	int ret = SD_RES_SUCCESS;

	buf = calloc(1, size);
	if (!buf)
		return SD_RES_NO_MEM;
	if (r->data_len != size)
		ret = store_read(q->obj.cow_oid, buf, (uint32_t)size, 0);
	if (ret == SD_RES_SUCCESS) {
		if (r->data_len)
			memcpy(buf + q->obj.offset, r->data, r->data_len);
		ret = store_create(q->obj.oid, size, buf, (uint32_t)size, 0);
	}
	free(buf);
	return ret;
}

/* as sheep/gateway.c gateway_create_and_write_obj() */
static int gateway_create_and_write_obj(struct ms_request *r)
{
	const struct sd_req *q = &r->req;
	uint64_t oid = q->obj.oid, size;

	if (q->data_length && !(q->flags & SD_FLAG_CMD_WRITE))
		return SD_RES_INVALID_PARMS;
	size = store_object_size(oid, vdi_shift_of(sd_oid_to_vid(oid)));
	if (!size || !sd_oid_to_vid(oid) ||
	    (uint64_t)q->obj.offset + r->data_len > size)
		return SD_RES_INVALID_PARMS;
	if (refresh_required(r))
		return SD_RES_INODE_INVALIDATED;
	if (node_oid_is_readonly(r->node, oid))
		return SD_RES_READONLY;
	if (q->flags & SD_FLAG_CMD_COW)
		return gateway_handle_cow(r, size);
	if (sd_oid_is_inode(oid))
		return vdi_inode_create(oid, r->data, r->data_len,
					q->obj.offset);
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

/* sheep/request.c queue_request()'s first checks: version, opcode */
int ops_check(const struct sd_req *q)
{
	if (!known_opcode(q->opcode))
		return SD_RES_INVALID_PARMS;
	return check_version(q);
}

/*
 * A cluster operation (on the cluster thread): once this node processed
 * the events before it (node_catch_up(), sheep's sd_block_handler()), its
 * process_work; then its process_main step, applied by every node in
 * order, and the result of this node.
 */
static int cluster_op(struct ms_request *r)
{
	const struct sd_req *q = &r->req;
	uint32_t vid = 0, type = 0;
	int ret;

	node_catch_up(r->node);
	switch (q->opcode) {
	case SD_OP_NEW_VDI:
		ret = vdi_cluster_new(r);
		vid = r->rsp.vdi.vdi_id;
		break;
	case SD_OP_DEL_VDI:
		ret = vdi_cluster_del(r);
		vid = r->rsp.vdi.vdi_id;
		break;
	case SD_OP_LOCK_VDI:
		/* cluster_lock_vdi_work(): the lookup of GET_VDI_INFO */
		ret = vdi_cluster_get_info(r);
		vid = r->rsp.vdi.vdi_id;
		type = q->vdi.type;
		break;
	case SD_OP_RELEASE_VDI:
		/* local_release_vdi(); cluster_release_vdi_main() unlocks */
		ret = SD_RES_SUCCESS;
		vid = q->vdi.base_vdi_id;
		type = q->vdi.type;
		break;
	case SD_OP_GET_VDI_INFO:
		ret = vdi_cluster_get_info(r);
		break;
	case SD_OP_GET_VDI_ATTR:
		ret = vdi_cluster_get_attr(r);
		break;
	case SD_OP_MAKE_FS:
		return cluster_make_fs(r);
	default:
		return SD_RES_INVALID_PARMS;
	}
	/*
	 * cluster_op_done() unblocks with the result; sd_notify_handler()
	 * runs process_main only after a success, and replies once the
	 * requester's node processed it
	 */
	if (ret != SD_RES_SUCCESS) {
		node_cluster_main(r->node, r->self, 0, 0, 0);
		return ret;
	}
	return node_cluster_main(r->node, r->self, q->opcode, vid, type);
}

static void dispatch(struct ms_request *r)
{
	struct sd_rsp *p = &r->rsp;

	if (ops_is_cluster(r->req.opcode)) {
		p->result = (uint32_t)cluster_op(r);
		return;
	}
	switch (r->req.opcode) {
	case SD_OP_READ_OBJ:
		p->result = (uint32_t)gateway_read_obj(r);
		break;
	case SD_OP_WRITE_OBJ:
		p->result = (uint32_t)gateway_write_obj(r);
		break;
	case SD_OP_CREATE_AND_WRITE_OBJ:
		p->result = (uint32_t)gateway_create_and_write_obj(r);
		break;
	case SD_OP_REMOVE_OBJ:
		/* gateway_remove_obj(): no inode or reference bookkeeping */
		p->result = (uint32_t)store_remove(r->req.obj.oid);
		break;
	case SD_OP_DISCARD_OBJ:
		p->result = (uint32_t)vdi_local_discard(r);
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
	case SD_OP_GET_VDI_COPIES:
		vdi_op_get_copies(r);
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
	p->result = SD_RES_SUCCESS;
	if (!known_opcode(r->req.opcode)) {
		p->result = SD_RES_INVALID_PARMS;
	} else if ((ret = check_version(&r->req)) != SD_RES_SUCCESS) {
		p->result = (uint32_t)ret;
	} else {
		dispatch(r);
		if (p->result != SD_RES_SUCCESS &&
		    r->req.opcode != SD_OP_OIDS_EXIST &&
		    r->req.opcode != SD_OP_STAT_CLUSTER)
			ops_alloc_rdata(r, 0);
	}
	p->epoch = node_epoch(r->node);
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
	p->epoch = node_epoch(r->node);
	p->result = result;
	sd_rsp_encode(p, r->rhdr);
}
