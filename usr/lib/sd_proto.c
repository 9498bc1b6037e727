// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_proto.c - encode and decode Sheepdog headers and inode fields.
 */
#include <errno.h>
#include <string.h>

#include "sd_proto.h"

/* the layout of bytes 16..47 of a request (@rsp false) or a response */
static enum sd_layout sd_layout_of(uint8_t opcode, bool rsp)
{
	if (opcode >= SD_OP_CREATE_AND_WRITE_OBJ && opcode <= SD_OP_DISCARD_OBJ)
		return SD_LAYOUT_OBJ;
	if (rsp && opcode == SD_OP_GET_CLUSTER_DEFAULT)
		return SD_LAYOUT_CLUSTER;
	if (rsp && opcode == SD_OP_GET_NODE_LIST)
		return SD_LAYOUT_NODE;
	/* a request's vdi range runs on to GET_CLUSTER_DEFAULT */
	if ((opcode >= SD_OP_NEW_VDI &&
	     opcode <= (rsp ? SD_OP_DEL_VDI : SD_OP_GET_CLUSTER_DEFAULT)) ||
	    opcode == SD_OP_GET_VDI_ATTR)
		return SD_LAYOUT_VDI;
	return SD_LAYOUT_RAW;
}

enum sd_layout sd_req_layout(uint8_t opcode)
{
	return sd_layout_of(opcode, false);
}

enum sd_layout sd_rsp_layout(uint8_t opcode)
{
	return sd_layout_of(opcode, true);
}

/*
 * Header and inode layouts as tables: each field's byte offset on the wire
 * and its member, so that one table serves encoding and decoding alike.
 * Integers (1, 2, 4 or 8 bytes) are little-endian on the wire; a longer
 * field (the raw parts of the headers) is copied as bytes.
 */
struct sd_field {
	uint16_t wire;		/* byte offset in the wire image */
	uint16_t mem;		/* offsetof the member */
	uint8_t size;		/* bytes, the member's size */
};

#define SD_FIELD(type, member, off) \
	{ (off), offsetof(type, member), sizeof(((type *)0)->member) }
#define SD_REQ(member, off)	SD_FIELD(struct sd_req, member, off)
#define SD_RSP(member, off)	SD_FIELD(struct sd_rsp, member, off)
#define SD_INODE(member, off)	SD_FIELD(struct sd_inode_hdr, member, off)
#define SD_NR(table)		(sizeof(table) / sizeof((table)[0]))

/* bytes 0..15: the same in requests and responses */
static const struct sd_field sd_req_common[] = {
	SD_REQ(proto_ver, 0), SD_REQ(opcode, 1), SD_REQ(flags, 2),
	SD_REQ(epoch, 4), SD_REQ(id, 8), SD_REQ(data_length, 12),
};
static const struct sd_field sd_rsp_common[] = {
	SD_RSP(proto_ver, 0), SD_RSP(opcode, 1), SD_RSP(flags, 2),
	SD_RSP(epoch, 4), SD_RSP(id, 8), SD_RSP(data_length, 12),
	SD_RSP(result, 16),
};

/* request bytes 16..47, by enum sd_layout */
static const struct sd_field sd_req_obj[] = {
	SD_REQ(obj.oid, 16), SD_REQ(obj.cow_oid, 24), SD_REQ(obj.copies, 32),
	SD_REQ(obj.copy_policy, 33), SD_REQ(obj.ec_index, 34),
	SD_REQ(obj.tgt_epoch, 36), SD_REQ(obj.offset, 40),
};
static const struct sd_field sd_req_vdi[] = {
	SD_REQ(vdi.vdi_size, 16), SD_REQ(vdi.base_vdi_id, 24),
	SD_REQ(vdi.copies, 28), SD_REQ(vdi.copy_policy, 29),
	SD_REQ(vdi.store_policy, 30), SD_REQ(vdi.block_size_shift, 31),
	SD_REQ(vdi.snapid, 32), SD_REQ(vdi.type, 36),
};
static const struct sd_field sd_req_raw[] = { SD_REQ(raw, 16) };

/* response bytes 20..47, by enum sd_layout */
static const struct sd_field sd_rsp_obj[] = {
	SD_RSP(obj.copies, 20), SD_RSP(obj.offset, 24),
};
static const struct sd_field sd_rsp_vdi[] = {
	SD_RSP(vdi.vdi_id, 24), SD_RSP(vdi.attr_id, 28),
	SD_RSP(vdi.copies, 32), SD_RSP(vdi.block_size_shift, 33),
};
static const struct sd_field sd_rsp_cluster[] = {
	SD_RSP(cluster.nr_copies, 20), SD_RSP(cluster.copy_policy, 21),
	SD_RSP(cluster.block_size_shift, 22),
};
static const struct sd_field sd_rsp_node[] = { SD_RSP(node.nr_nodes, 20) };
static const struct sd_field sd_rsp_raw[] = { SD_RSP(raw, 20) };

/* the inode header's fields other than its name and tag */
static const struct sd_field sd_inode_fields[] = {
	SD_INODE(create_time, SD_INODE_OFF_CREATE_TIME),
	SD_INODE(snap_ctime, SD_INODE_OFF_SNAP_CTIME),
	SD_INODE(vm_clock_nsec, SD_INODE_OFF_VM_CLOCK_NSEC),
	SD_INODE(vdi_size, SD_INODE_OFF_VDI_SIZE),
	SD_INODE(vm_state_size, SD_INODE_OFF_VM_STATE_SIZE),
	SD_INODE(copy_policy, SD_INODE_OFF_COPY_POLICY),
	SD_INODE(store_policy, SD_INODE_OFF_STORE_POLICY),
	SD_INODE(nr_copies, SD_INODE_OFF_NR_COPIES),
	SD_INODE(block_size_shift, SD_INODE_OFF_BLOCK_SIZE_SHIFT),
	SD_INODE(snap_id, SD_INODE_OFF_SNAP_ID),
	SD_INODE(vdi_id, SD_INODE_OFF_VDI_ID),
	SD_INODE(parent_vdi_id, SD_INODE_OFF_PARENT_VDI_ID),
	SD_INODE(btree_counter, SD_INODE_OFF_BTREE_COUNTER),
};

struct sd_layout_fields {
	const struct sd_field *f;
	size_t n;
};
#define SD_LAYOUT(table)	{ (table), SD_NR(table) }

static const struct sd_layout_fields sd_req_layouts[] = {
	[SD_LAYOUT_RAW] = SD_LAYOUT(sd_req_raw),
	[SD_LAYOUT_OBJ] = SD_LAYOUT(sd_req_obj),
	[SD_LAYOUT_VDI] = SD_LAYOUT(sd_req_vdi),
};
static const struct sd_layout_fields sd_rsp_layouts[] = {
	[SD_LAYOUT_RAW] = SD_LAYOUT(sd_rsp_raw),
	[SD_LAYOUT_OBJ] = SD_LAYOUT(sd_rsp_obj),
	[SD_LAYOUT_VDI] = SD_LAYOUT(sd_rsp_vdi),
	[SD_LAYOUT_CLUSTER] = SD_LAYOUT(sd_rsp_cluster),
	[SD_LAYOUT_NODE] = SD_LAYOUT(sd_rsp_node),
};

/* a header kind: its common fields, and its layouts by opcode */
struct sd_hdr_codec {
	const struct sd_field *common;
	size_t nr_common;
	enum sd_layout (*layout)(uint8_t opcode);
	const struct sd_layout_fields *layouts;
	size_t size;			/* of the struct */
};

static const struct sd_hdr_codec sd_req_codec = {
	sd_req_common, SD_NR(sd_req_common), sd_req_layout, sd_req_layouts,
	sizeof(struct sd_req),
};
static const struct sd_hdr_codec sd_rsp_codec = {
	sd_rsp_common, SD_NR(sd_rsp_common), sd_rsp_layout, sd_rsp_layouts,
	sizeof(struct sd_rsp),
};

/* @to_wire: struct @s into the wire image @b, else @b into @s */
static void sd_fields_copy(uint8_t *b, void *s, const struct sd_field *f,
			   size_t n, bool to_wire)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t *m = (uint8_t *)s + f[i].mem;
		uint8_t *w = b + f[i].wire;

		switch (f[i].size) {
		case 2:
			if (to_wire)
				sd_put_le16(w, *(uint16_t *)m);
			else
				*(uint16_t *)m = sd_get_le16(w);
			break;
		case 4:
			if (to_wire)
				sd_put_le32(w, *(uint32_t *)m);
			else
				*(uint32_t *)m = sd_get_le32(w);
			break;
		case 8:
			if (to_wire)
				sd_put_le64(w, *(uint64_t *)m);
			else
				*(uint64_t *)m = sd_get_le64(w);
			break;
		default:	/* single bytes and byte arrays */
			memcpy(to_wire ? w : m, to_wire ? m : w, f[i].size);
			break;
		}
	}
}

/*
 * A whole header, the other side zeroed first: the common fields, then the
 * rest by the layout of the opcode (byte 1, in place by then either way).
 */
static void sd_hdr_copy(uint8_t *b, void *s, const struct sd_hdr_codec *k,
			bool to_wire)
{
	const struct sd_layout_fields *l;

	memset(to_wire ? b : s, 0, to_wire ? SD_HDR_SIZE : k->size);
	sd_fields_copy(b, s, k->common, k->nr_common, to_wire);
	l = &k->layouts[k->layout(b[1])];
	sd_fields_copy(b, s, l->f, l->n, to_wire);
}

void sd_req_encode(const struct sd_req *req, uint8_t b[SD_HDR_SIZE])
{
	sd_hdr_copy(b, (void *)req, &sd_req_codec, true);
}

void sd_req_decode(const uint8_t b[SD_HDR_SIZE], struct sd_req *req)
{
	sd_hdr_copy((uint8_t *)b, req, &sd_req_codec, false);
}

void sd_rsp_encode(const struct sd_rsp *rsp, uint8_t b[SD_HDR_SIZE])
{
	sd_hdr_copy(b, (void *)rsp, &sd_rsp_codec, true);
}

void sd_rsp_decode(const uint8_t b[SD_HDR_SIZE], struct sd_rsp *rsp)
{
	sd_hdr_copy((uint8_t *)b, rsp, &sd_rsp_codec, false);
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
	sd_fields_copy((uint8_t *)b, h, sd_inode_fields, SD_NR(sd_inode_fields),
		       false);
}

void sd_inode_hdr_encode(const struct sd_inode_hdr *h, uint8_t *b)
{
	memset(b, 0, SD_INODE_HEADER_SIZE);
	sd_put_name(b + SD_INODE_OFF_NAME, SD_MAX_VDI_LEN, h->name);
	sd_put_name(b + SD_INODE_OFF_TAG, SD_MAX_VDI_TAG_LEN, h->tag);
	sd_fields_copy(b, (void *)h, sd_inode_fields, SD_NR(sd_inode_fields),
		       true);
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
