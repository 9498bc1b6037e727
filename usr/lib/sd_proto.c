// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_proto.c - encode and decode Sheepdog headers and inode fields.
 */
#include <errno.h>
#include <string.h>

#include "sd_proto.h"

/*
 * Wire images of the headers, used only to pin the documented offsets at
 * compile time.  Encoding itself goes byte by byte through sd_put_le*().
 */
struct sd_wire_req_obj {
	uint8_t proto_ver;
	uint8_t opcode;
	uint16_t flags;
	uint32_t epoch;
	uint32_t id;
	uint32_t data_length;
	uint64_t oid;
	uint64_t cow_oid;
	uint8_t copies;
	uint8_t copy_policy;
	uint8_t ec_index;
	uint8_t reserved;
	uint32_t tgt_epoch;
	uint32_t offset;
	uint32_t pad;
} __attribute__((packed));

struct sd_wire_req_vdi {
	uint8_t hdr[16];
	uint64_t vdi_size;
	uint32_t base_vdi_id;
	uint8_t copies;
	uint8_t copy_policy;
	uint8_t store_policy;
	uint8_t block_size_shift;
	uint32_t snapid;
	uint32_t type;
	uint64_t pad;
} __attribute__((packed));

struct sd_wire_rsp_vdi {
	uint8_t proto_ver;
	uint8_t opcode;
	uint16_t flags;
	uint32_t epoch;
	uint32_t id;
	uint32_t data_length;
	uint32_t result;
	uint32_t rsvd;
	uint32_t vdi_id;
	uint32_t attr_id;
	uint8_t copies;
	uint8_t block_size_shift;
	uint8_t pad[14];
} __attribute__((packed));

struct sd_wire_rsp_obj {
	uint8_t hdr[20];
	uint8_t copies;
	uint8_t pad1[3];
	uint64_t offset;
	uint8_t pad2[16];
} __attribute__((packed));

_Static_assert(sizeof(struct sd_wire_req_obj) == SD_HDR_SIZE, "request header is 48 bytes");
_Static_assert(sizeof(struct sd_wire_req_vdi) == SD_HDR_SIZE, "vdi request header is 48 bytes");
_Static_assert(sizeof(struct sd_wire_rsp_vdi) == SD_HDR_SIZE, "response header is 48 bytes");
_Static_assert(sizeof(struct sd_wire_rsp_obj) == SD_HDR_SIZE, "obj response header is 48 bytes");
_Static_assert(offsetof(struct sd_wire_req_obj, id) == 8, "req.id");
_Static_assert(offsetof(struct sd_wire_req_obj, data_length) == 12, "req.data_length");
_Static_assert(offsetof(struct sd_wire_req_obj, oid) == 16, "req.oid");
_Static_assert(offsetof(struct sd_wire_req_obj, cow_oid) == 24, "req.cow_oid");
_Static_assert(offsetof(struct sd_wire_req_obj, copies) == 32, "req.copies");
_Static_assert(offsetof(struct sd_wire_req_obj, tgt_epoch) == 36, "req.tgt_epoch");
_Static_assert(offsetof(struct sd_wire_req_obj, offset) == 40, "req.offset");
_Static_assert(offsetof(struct sd_wire_req_vdi, vdi_size) == 16, "req.vdi_size");
_Static_assert(offsetof(struct sd_wire_req_vdi, base_vdi_id) == 24, "req.base_vdi_id");
_Static_assert(offsetof(struct sd_wire_req_vdi, copies) == 28, "req.vdi.copies");
_Static_assert(offsetof(struct sd_wire_req_vdi, block_size_shift) == 31, "req.block_size_shift");
_Static_assert(offsetof(struct sd_wire_req_vdi, snapid) == 32, "req.snapid");
_Static_assert(offsetof(struct sd_wire_req_vdi, type) == 36, "req.type");
_Static_assert(offsetof(struct sd_wire_rsp_vdi, result) == 16, "rsp.result");
_Static_assert(offsetof(struct sd_wire_rsp_vdi, vdi_id) == 24, "rsp.vdi_id");
_Static_assert(offsetof(struct sd_wire_rsp_vdi, attr_id) == 28, "rsp.attr_id");
_Static_assert(offsetof(struct sd_wire_rsp_vdi, copies) == 32, "rsp.copies");
_Static_assert(offsetof(struct sd_wire_rsp_vdi, block_size_shift) == 33, "rsp.block_size_shift");
_Static_assert(offsetof(struct sd_wire_rsp_obj, offset) == 24, "rsp.offset");

enum sd_layout sd_req_layout(uint8_t opcode)
{
	if (opcode >= SD_OP_CREATE_AND_WRITE_OBJ && opcode <= SD_OP_DISCARD_OBJ)
		return SD_LAYOUT_OBJ;
	if ((opcode >= SD_OP_NEW_VDI && opcode <= SD_OP_GET_CLUSTER_DEFAULT) ||
	    opcode == SD_OP_GET_VDI_ATTR)
		return SD_LAYOUT_VDI;
	return SD_LAYOUT_RAW;
}

enum sd_layout sd_rsp_layout(uint8_t opcode)
{
	if (opcode >= SD_OP_CREATE_AND_WRITE_OBJ && opcode <= SD_OP_DISCARD_OBJ)
		return SD_LAYOUT_OBJ;
	if ((opcode >= SD_OP_NEW_VDI && opcode <= SD_OP_DEL_VDI) ||
	    opcode == SD_OP_GET_VDI_ATTR)
		return SD_LAYOUT_VDI;
	if (opcode == SD_OP_GET_CLUSTER_DEFAULT)
		return SD_LAYOUT_CLUSTER;
	if (opcode == SD_OP_GET_NODE_LIST)
		return SD_LAYOUT_NODE;
	return SD_LAYOUT_RAW;
}

static void sd_common_encode(uint8_t *b, uint8_t ver, uint8_t op,
			     uint16_t flags, uint32_t epoch, uint32_t id,
			     uint32_t len)
{
	b[0] = ver;
	b[1] = op;
	sd_put_le16(b + 2, flags);
	sd_put_le32(b + 4, epoch);
	sd_put_le32(b + 8, id);
	sd_put_le32(b + 12, len);
}

void sd_req_encode(const struct sd_req *req, uint8_t b[SD_HDR_SIZE])
{
	memset(b, 0, SD_HDR_SIZE);
	sd_common_encode(b, req->proto_ver, req->opcode, req->flags,
			 req->epoch, req->id, req->data_length);
	switch (sd_req_layout(req->opcode)) {
	case SD_LAYOUT_OBJ:
		sd_put_le64(b + 16, req->obj.oid);
		sd_put_le64(b + 24, req->obj.cow_oid);
		b[32] = req->obj.copies;
		b[33] = req->obj.copy_policy;
		b[34] = req->obj.ec_index;
		sd_put_le32(b + 36, req->obj.tgt_epoch);
		sd_put_le32(b + 40, req->obj.offset);
		break;
	case SD_LAYOUT_VDI:
		sd_put_le64(b + 16, req->vdi.vdi_size);
		sd_put_le32(b + 24, req->vdi.base_vdi_id);
		b[28] = req->vdi.copies;
		b[29] = req->vdi.copy_policy;
		b[30] = req->vdi.store_policy;
		b[31] = req->vdi.block_size_shift;
		sd_put_le32(b + 32, req->vdi.snapid);
		sd_put_le32(b + 36, req->vdi.type);
		break;
	default:
		memcpy(b + 16, req->raw, 32);
		break;
	}
}

void sd_req_decode(const uint8_t b[SD_HDR_SIZE], struct sd_req *req)
{
	memset(req, 0, sizeof(*req));
	req->proto_ver = b[0];
	req->opcode = b[1];
	req->flags = sd_get_le16(b + 2);
	req->epoch = sd_get_le32(b + 4);
	req->id = sd_get_le32(b + 8);
	req->data_length = sd_get_le32(b + 12);
	switch (sd_req_layout(req->opcode)) {
	case SD_LAYOUT_OBJ:
		req->obj.oid = sd_get_le64(b + 16);
		req->obj.cow_oid = sd_get_le64(b + 24);
		req->obj.copies = b[32];
		req->obj.copy_policy = b[33];
		req->obj.ec_index = b[34];
		req->obj.tgt_epoch = sd_get_le32(b + 36);
		req->obj.offset = sd_get_le32(b + 40);
		break;
	case SD_LAYOUT_VDI:
		req->vdi.vdi_size = sd_get_le64(b + 16);
		req->vdi.base_vdi_id = sd_get_le32(b + 24);
		req->vdi.copies = b[28];
		req->vdi.copy_policy = b[29];
		req->vdi.store_policy = b[30];
		req->vdi.block_size_shift = b[31];
		req->vdi.snapid = sd_get_le32(b + 32);
		req->vdi.type = sd_get_le32(b + 36);
		break;
	default:
		memcpy(req->raw, b + 16, 32);
		break;
	}
}

void sd_rsp_encode(const struct sd_rsp *rsp, uint8_t b[SD_HDR_SIZE])
{
	memset(b, 0, SD_HDR_SIZE);
	sd_common_encode(b, rsp->proto_ver, rsp->opcode, rsp->flags,
			 rsp->epoch, rsp->id, rsp->data_length);
	sd_put_le32(b + 16, rsp->result);
	switch (sd_rsp_layout(rsp->opcode)) {
	case SD_LAYOUT_OBJ:
		b[20] = rsp->obj.copies;
		sd_put_le64(b + 24, rsp->obj.offset);
		break;
	case SD_LAYOUT_VDI:
		sd_put_le32(b + 24, rsp->vdi.vdi_id);
		sd_put_le32(b + 28, rsp->vdi.attr_id);
		b[32] = rsp->vdi.copies;
		b[33] = rsp->vdi.block_size_shift;
		break;
	case SD_LAYOUT_CLUSTER:
		b[20] = rsp->cluster.nr_copies;
		b[21] = rsp->cluster.copy_policy;
		b[22] = rsp->cluster.block_size_shift;
		break;
	case SD_LAYOUT_NODE:
		sd_put_le32(b + 20, rsp->node.nr_nodes);
		break;
	default:
		memcpy(b + 20, rsp->raw, 28);
		break;
	}
}

void sd_rsp_decode(const uint8_t b[SD_HDR_SIZE], struct sd_rsp *rsp)
{
	memset(rsp, 0, sizeof(*rsp));
	rsp->proto_ver = b[0];
	rsp->opcode = b[1];
	rsp->flags = sd_get_le16(b + 2);
	rsp->epoch = sd_get_le32(b + 4);
	rsp->id = sd_get_le32(b + 8);
	rsp->data_length = sd_get_le32(b + 12);
	rsp->result = sd_get_le32(b + 16);
	switch (sd_rsp_layout(rsp->opcode)) {
	case SD_LAYOUT_OBJ:
		rsp->obj.copies = b[20];
		rsp->obj.offset = sd_get_le64(b + 24);
		break;
	case SD_LAYOUT_VDI:
		rsp->vdi.vdi_id = sd_get_le32(b + 24);
		rsp->vdi.attr_id = sd_get_le32(b + 28);
		rsp->vdi.copies = b[32];
		rsp->vdi.block_size_shift = b[33];
		break;
	case SD_LAYOUT_CLUSTER:
		rsp->cluster.nr_copies = b[20];
		rsp->cluster.copy_policy = b[21];
		rsp->cluster.block_size_shift = b[22];
		break;
	case SD_LAYOUT_NODE:
		rsp->node.nr_nodes = sd_get_le32(b + 20);
		break;
	default:
		memcpy(rsp->raw, b + 20, 28);
		break;
	}
}

void sd_put_name(uint8_t *field, size_t size, const char *s)
{
	size_t n = s ? strnlen(s, size) : 0;

	if (n)
		memcpy(field, s, n);
	memset(field + n, 0, size - n);
}

void sd_get_name(const uint8_t *field, size_t size, char *out)
{
	size_t n = strnlen((const char *)field, size);

	memcpy(out, field, n);
	out[n] = '\0';
}

void sd_inode_hdr_decode(const uint8_t *b, struct sd_inode_hdr *h)
{
	memset(h, 0, sizeof(*h));
	sd_get_name(b + SD_INODE_OFF_NAME, SD_MAX_VDI_LEN, h->name);
	sd_get_name(b + SD_INODE_OFF_TAG, SD_MAX_VDI_TAG_LEN, h->tag);
	h->create_time = sd_get_le64(b + SD_INODE_OFF_CREATE_TIME);
	h->snap_ctime = sd_get_le64(b + SD_INODE_OFF_SNAP_CTIME);
	h->vm_clock_nsec = sd_get_le64(b + SD_INODE_OFF_VM_CLOCK_NSEC);
	h->vdi_size = sd_get_le64(b + SD_INODE_OFF_VDI_SIZE);
	h->vm_state_size = sd_get_le64(b + SD_INODE_OFF_VM_STATE_SIZE);
	h->copy_policy = b[SD_INODE_OFF_COPY_POLICY];
	h->store_policy = b[SD_INODE_OFF_STORE_POLICY];
	h->nr_copies = b[SD_INODE_OFF_NR_COPIES];
	h->block_size_shift = b[SD_INODE_OFF_BLOCK_SIZE_SHIFT];
	h->snap_id = sd_get_le32(b + SD_INODE_OFF_SNAP_ID);
	h->vdi_id = sd_get_le32(b + SD_INODE_OFF_VDI_ID);
	h->parent_vdi_id = sd_get_le32(b + SD_INODE_OFF_PARENT_VDI_ID);
	h->btree_counter = sd_get_le32(b + SD_INODE_OFF_BTREE_COUNTER);
}

void sd_inode_hdr_encode(const struct sd_inode_hdr *h, uint8_t *b)
{
	memset(b, 0, SD_INODE_HEADER_SIZE);
	sd_put_name(b + SD_INODE_OFF_NAME, SD_MAX_VDI_LEN, h->name);
	sd_put_name(b + SD_INODE_OFF_TAG, SD_MAX_VDI_TAG_LEN, h->tag);
	sd_put_le64(b + SD_INODE_OFF_CREATE_TIME, h->create_time);
	sd_put_le64(b + SD_INODE_OFF_SNAP_CTIME, h->snap_ctime);
	sd_put_le64(b + SD_INODE_OFF_VM_CLOCK_NSEC, h->vm_clock_nsec);
	sd_put_le64(b + SD_INODE_OFF_VDI_SIZE, h->vdi_size);
	sd_put_le64(b + SD_INODE_OFF_VM_STATE_SIZE, h->vm_state_size);
	b[SD_INODE_OFF_COPY_POLICY] = h->copy_policy;
	b[SD_INODE_OFF_STORE_POLICY] = h->store_policy;
	b[SD_INODE_OFF_NR_COPIES] = h->nr_copies;
	b[SD_INODE_OFF_BLOCK_SIZE_SHIFT] = h->block_size_shift;
	sd_put_le32(b + SD_INODE_OFF_SNAP_ID, h->snap_id);
	sd_put_le32(b + SD_INODE_OFF_VDI_ID, h->vdi_id);
	sd_put_le32(b + SD_INODE_OFF_PARENT_VDI_ID, h->parent_vdi_id);
	sd_put_le32(b + SD_INODE_OFF_BTREE_COUNTER, h->btree_counter);
}

#define FNV64_INIT	UINT64_C(0xcbf29ce484222325)

static uint64_t fnv1a64(const uint8_t *p, size_t len, uint64_t h)
{
	while (len--) {
		h ^= *p++;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint32_t sd_name_to_start_vid(const char *name, size_t len)
{
	uint32_t vid;

	vid = (uint32_t)(fnv1a64((const uint8_t *)name, len, FNV64_INIT) &
			 0xffffff);
	return vid ? vid : 1;
}

uint32_t sd_attr_home(const uint8_t *attr)
{
	uint64_t h;

	h = fnv1a64(attr + SD_ATTR_OFF_NAME, SD_ATTR_OFF_CTIME, FNV64_INIT);
	h = fnv1a64(attr + SD_ATTR_OFF_SNAP_ID, 4, h);
	h = fnv1a64(attr + SD_ATTR_OFF_KEY, SD_MAX_ATTR_KEY_LEN, h);
	return (uint32_t)h;
}

static const struct {
	uint32_t code;
	int err;
	const char *str;
} sd_results[] = {
	{ SD_RES_SUCCESS, 0, "Success" },
	{ SD_RES_UNKNOWN, EIO, "Unknown error" },
	{ SD_RES_NO_OBJ, ENOENT, "No object found" },
	{ SD_RES_EIO, EIO, "I/O error" },
	{ SD_RES_VDI_EXIST, EEXIST, "VDI exists already" },
	{ SD_RES_INVALID_PARMS, EINVAL, "Invalid parameters" },
	{ SD_RES_SYSTEM_ERROR, EIO, "System error" },
	{ SD_RES_VDI_LOCKED, EBUSY, "VDI is already locked" },
	{ SD_RES_NO_VDI, ENOENT, "No VDI found" },
	{ SD_RES_NO_BASE_VDI, ENOENT, "No base VDI found" },
	{ SD_RES_VDI_READ, EIO, "Cannot read requested VDI" },
	{ SD_RES_VDI_WRITE, EIO, "Cannot write requested VDI" },
	{ SD_RES_BASE_VDI_READ, EIO, "Cannot read base VDI" },
	{ SD_RES_BASE_VDI_WRITE, EIO, "Cannot write base VDI" },
	{ SD_RES_NO_TAG, ENOENT, "Requested tag is not found" },
	{ SD_RES_STARTUP, EAGAIN, "Sheep is starting up" },
	{ SD_RES_VDI_NOT_LOCKED, EINVAL, "VDI is not locked" },
	{ SD_RES_SHUTDOWN, ESHUTDOWN, "Sheep is shutting down" },
	{ SD_RES_NO_MEM, ENOMEM, "Cannot allocate memory" },
	{ SD_RES_FULL_VDI, ENOSPC, "We already have the maximum VDIs" },
	{ SD_RES_VER_MISMATCH, EPROTO, "Protocol version mismatch" },
	{ SD_RES_NO_SPACE, ENOSPC, "Server has no room for new objects" },
	{ SD_RES_WAIT_FOR_FORMAT, EAGAIN, "Sheepdog is not formatted yet" },
	{ SD_RES_WAIT_FOR_JOIN, EAGAIN, "Sheepdog is waiting for other nodes" },
	{ SD_RES_JOIN_FAILED, EIO, "Target node had failed to join sheepdog" },
	{ SD_RES_HALT, EIO, "Sheepdog is stopped serving IO request" },
	{ SD_RES_READONLY, EROFS, "Object is read-only" },
	{ SD_RES_INODE_INVALIDATED, ESTALE, "Inode object is invalidated" },
	{ SD_RES_OLD_NODE_VER, EAGAIN, "Request has an old epoch" },
	{ SD_RES_NEW_NODE_VER, EAGAIN, "Request has a new epoch" },
	{ SD_RES_NETWORK_ERROR, EIO, "Network error between sheep" },
	{ SD_RES_BUFFER_SMALL, ENOBUFS, "The buffer is too small" },
	{ SD_RES_NO_SUPPORT, EOPNOTSUPP, "Operation is not supported" },
	{ SD_RES_KILLED, ESHUTDOWN, "Node is killed" },
	{ SD_RES_CLUSTER_ERROR, EIO, "Cluster driver error" },
	{ SD_RES_COLLECTING_CINFO, EAGAIN, "Sheep is collecting cluster information" },
};

bool sd_result_is_transient(uint32_t result)
{
	switch (result) {
	case SD_RES_HALT:
	case SD_RES_SHUTDOWN:
	case SD_RES_KILLED:
	case SD_RES_STARTUP:
	case SD_RES_WAIT_FOR_FORMAT:
	case SD_RES_WAIT_FOR_JOIN:
	case SD_RES_OLD_NODE_VER:
	case SD_RES_NEW_NODE_VER:
	case SD_RES_NETWORK_ERROR:
	case SD_RES_COLLECTING_CINFO:
		return true;
	default:
		return false;
	}
}

const char *sd_result_str(uint32_t result)
{
	size_t i;

	for (i = 0; i < sizeof(sd_results) / sizeof(sd_results[0]); i++)
		if (sd_results[i].code == result)
			return sd_results[i].str;
	return "Invalid result code";
}

int sd_result_to_errno(uint32_t result)
{
	size_t i;

	for (i = 0; i < sizeof(sd_results) / sizeof(sd_results[0]); i++)
		if (sd_results[i].code == result)
			return sd_results[i].err;
	return EIO;
}

const char *sd_opcode_str(uint8_t opcode)
{
	switch (opcode) {
	case SD_OP_CREATE_AND_WRITE_OBJ: return "CREATE_AND_WRITE_OBJ";
	case SD_OP_READ_OBJ: return "READ_OBJ";
	case SD_OP_WRITE_OBJ: return "WRITE_OBJ";
	case SD_OP_REMOVE_OBJ: return "REMOVE_OBJ";
	case SD_OP_DISCARD_OBJ: return "DISCARD_OBJ";
	case SD_OP_NEW_VDI: return "NEW_VDI";
	case SD_OP_LOCK_VDI: return "LOCK_VDI";
	case SD_OP_RELEASE_VDI: return "RELEASE_VDI";
	case SD_OP_GET_VDI_INFO: return "GET_VDI_INFO";
	case SD_OP_READ_VDIS: return "READ_VDIS";
	case SD_OP_FLUSH_VDI: return "FLUSH_VDI";
	case SD_OP_DEL_VDI: return "DEL_VDI";
	case SD_OP_GET_CLUSTER_DEFAULT: return "GET_CLUSTER_DEFAULT";
	case SD_OP_GET_NODE_LIST: return "GET_NODE_LIST";
	case SD_OP_MAKE_FS: return "MAKE_FS";
	case SD_OP_STAT_CLUSTER: return "STAT_CLUSTER";
	case SD_OP_GET_VDI_ATTR: return "GET_VDI_ATTR";
	case SD_OP_GET_VDI_COPIES: return "GET_VDI_COPIES";
	case SD_OP_CLUSTER_INFO: return "CLUSTER_INFO";
	case SD_OP_OIDS_EXIST: return "OIDS_EXIST";
	case SD_OP_READ_DEL_VDIS: return "READ_DEL_VDIS";
	default: return "UNKNOWN_OP";
	}
}
