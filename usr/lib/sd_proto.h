/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_proto.h - Sheepdog wire format: constants, headers, inode fields, oids.
 *
 * Layer 1 of the client library.  Every integer on the wire is encoded and
 * decoded explicitly as little-endian; nothing here depends on host byte
 * order or on compiler struct layout.  The layouts are sheep 1.0's (its
 * struct sd_req, struct sd_rsp and struct sd_inode); test_sd_proto.c pins
 * every size and offset.
 */
#ifndef SD_PROTO_H
#define SD_PROTO_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "sheepdog.h"

/* ---- framing --------------------------------------------------------- */

#define SD_HDR_SIZE		48
#define SD_PROTO_VER		0x02	/* public ops; 0..2 accepted */
#define SD_SHEEP_PROTO_VER	0x0A	/* internal ops (>= 0x80) */
#define SD_DEFAULT_PORT		7000

/* public opcodes */
#define SD_OP_CREATE_AND_WRITE_OBJ	0x01
#define SD_OP_READ_OBJ			0x02
#define SD_OP_WRITE_OBJ			0x03
#define SD_OP_REMOVE_OBJ		0x04
#define SD_OP_DISCARD_OBJ		0x05
#define SD_OP_NEW_VDI			0x11
#define SD_OP_LOCK_VDI			0x12
#define SD_OP_RELEASE_VDI		0x13
#define SD_OP_GET_VDI_INFO		0x14
#define SD_OP_READ_VDIS			0x15
#define SD_OP_FLUSH_VDI			0x16
#define SD_OP_DEL_VDI			0x17
#define SD_OP_GET_CLUSTER_DEFAULT	0x18

/* internal opcodes used by the real dog CLI (proto_ver 0x0A) */
#define SD_OP_GET_NODE_LIST		0x82
#define SD_OP_MAKE_FS			0x84
#define SD_OP_STAT_CLUSTER		0x87
#define SD_OP_GET_VDI_ATTR		0x89
#define SD_OP_GET_VDI_COPIES		0xAB
#define SD_OP_CLUSTER_INFO		0xBE
#define SD_OP_OIDS_EXIST		0xC6
#define SD_OP_READ_DEL_VDIS		0xC9

/* request flags */
#define SD_FLAG_CMD_WRITE	0x0001
#define SD_FLAG_CMD_COW		0x0002
#define SD_FLAG_CMD_CACHE	0x0004
#define SD_FLAG_CMD_DIRECT	0x0008
#define SD_FLAG_CMD_PIGGYBACK	0x0010
#define SD_FLAG_CMD_TGT		0x0020
/* GET_VDI_ATTR only (sheep/vdi.c get_vdi_attr()) */
#define SD_FLAG_CMD_CREAT	0x0100	/* create the attribute if missing */
#define SD_FLAG_CMD_EXCL	0x0200	/* with CREAT: VDI_EXIST if present */
#define SD_FLAG_CMD_DEL		0x0400	/* blank the name (the object stays) */

/* result codes */
#define SD_RES_SUCCESS		0x00
#define SD_RES_UNKNOWN		0x01
#define SD_RES_NO_OBJ		0x02
#define SD_RES_EIO		0x03
#define SD_RES_VDI_EXIST	0x04
#define SD_RES_INVALID_PARMS	0x05
#define SD_RES_SYSTEM_ERROR	0x06
#define SD_RES_VDI_LOCKED	0x07
#define SD_RES_NO_VDI		0x08
#define SD_RES_NO_BASE_VDI	0x09
#define SD_RES_VDI_READ		0x0A
#define SD_RES_VDI_WRITE	0x0B
#define SD_RES_BASE_VDI_READ	0x0C
#define SD_RES_BASE_VDI_WRITE	0x0D
#define SD_RES_NO_TAG		0x0E
#define SD_RES_STARTUP		0x0F
#define SD_RES_VDI_NOT_LOCKED	0x10
#define SD_RES_SHUTDOWN		0x11
#define SD_RES_NO_MEM		0x12
#define SD_RES_FULL_VDI		0x13
#define SD_RES_VER_MISMATCH	0x14
#define SD_RES_NO_SPACE		0x15
#define SD_RES_WAIT_FOR_FORMAT	0x16
#define SD_RES_WAIT_FOR_JOIN	0x17
#define SD_RES_JOIN_FAILED	0x18
#define SD_RES_HALT		0x19
#define SD_RES_READONLY		0x1A
#define SD_RES_INODE_INVALIDATED 0x1D
#define SD_RES_OLD_NODE_VER	0x81
#define SD_RES_NEW_NODE_VER	0x82
#define SD_RES_NETWORK_ERROR	0x86
#define SD_RES_BUFFER_SMALL	0x88
#define SD_RES_NO_SUPPORT	0x8B
#define SD_RES_KILLED		0x8D
#define SD_RES_CLUSTER_ERROR	0x91
#define SD_RES_COLLECTING_CINFO	0x95

/* lock types (LOCK_VDI / RELEASE_VDI "type" field) */
#define SD_LOCK_TYPE_NORMAL	0
#define SD_LOCK_TYPE_SHARED	1

/* ---- objects and vids ------------------------------------------------ */

#define SD_NR_VDIS		(1U << 24)
#define SD_VDI_BITMAP_SIZE	(SD_NR_VDIS / 8)	/* READ_VDIS payload */
/* name and tag fields, NUL-padded: the longest name (sheepdog.h) + NUL */
#define SD_MAX_VDI_LEN		(SD_VDI_NAME_MAX + 1)
#define SD_MAX_VDI_TAG_LEN	(SD_VDI_TAG_MAX + 1)
#define SD_MAX_DATA_OBJS	(1U << 20)

#define SD_VDI_BIT		(UINT64_C(1) << 63)
#define SD_VMSTATE_BIT		(UINT64_C(1) << 62)
#define SD_VDI_ATTR_BIT		(UINT64_C(1) << 61)
#define SD_VDI_BTREE_BIT	(UINT64_C(1) << 60)
#define SD_LEDGER_BIT		(UINT64_C(1) << 59)
#define SD_OID_TYPE_MASK	(UINT64_C(0x1f) << 59)

/* inode object layout (sheep's struct sd_inode) */
#define SD_INODE_HEADER_SIZE	4664
#define SD_INODE_INDEX_OFFSET	4664
#define SD_INODE_REFRESH_SIZE	4198968		/* header + data_vdi_id[] */
#define SD_INODE_GREF_OFFSET	4198968
#define SD_INODE_SIZE		12587576	/* whole object */

#define SD_INODE_OFF_NAME		0
#define SD_INODE_OFF_TAG		256
#define SD_INODE_OFF_CREATE_TIME	512
#define SD_INODE_OFF_SNAP_CTIME		520
#define SD_INODE_OFF_VM_CLOCK_NSEC	528
#define SD_INODE_OFF_VDI_SIZE		536
#define SD_INODE_OFF_VM_STATE_SIZE	544
#define SD_INODE_OFF_COPY_POLICY	552
#define SD_INODE_OFF_STORE_POLICY	553
#define SD_INODE_OFF_NR_COPIES		554
#define SD_INODE_OFF_BLOCK_SIZE_SHIFT	555
#define SD_INODE_OFF_SNAP_ID		556
#define SD_INODE_OFF_VDI_ID		560
#define SD_INODE_OFF_PARENT_VDI_ID	564
#define SD_INODE_OFF_BTREE_COUNTER	568

static inline uint64_t sd_vid_to_vdi_oid(uint32_t vid)
{
	return SD_VDI_BIT | ((uint64_t)vid << 32);
}

static inline uint64_t sd_vid_to_data_oid(uint32_t vid, uint32_t idx)
{
	return ((uint64_t)vid << 32) | idx;
}

static inline uint32_t sd_oid_to_vid(uint64_t oid)
{
	return (uint32_t)((oid >> 32) & 0xffffff);
}

static inline uint32_t sd_oid_to_idx(uint64_t oid)
{
	return (uint32_t)oid;
}

static inline bool sd_oid_is_data(uint64_t oid)
{
	return !(oid & SD_OID_TYPE_MASK);
}

static inline bool sd_oid_is_inode(uint64_t oid)
{
	return (oid & SD_OID_TYPE_MASK) == SD_VDI_BIT;
}

/*
 * VDI attribute object (sheep's struct sheepdog_vdi_attr): the key
 * fields, then the value.  GET_VDI_ATTR's payload is the object's first
 * data_length bytes.  Attribute objects of a VDI name live under the
 * name's hash vid (the response's vdi_id), at slot attr_id.
 */
#define SD_ATTR_OFF_NAME	0
#define SD_ATTR_OFF_TAG		256
#define SD_ATTR_OFF_CTIME	512
#define SD_ATTR_OFF_SNAP_ID	520
#define SD_ATTR_OFF_VALUE_LEN	524
#define SD_ATTR_OFF_KEY		528
#define SD_ATTR_OFF_VALUE	784
#define SD_MAX_ATTR_KEY_LEN	256
#define SD_ATTR_OBJ_SIZE	66320

static inline uint64_t sd_vid_to_attr_oid(uint32_t hashvid, uint32_t attr_id)
{
	return SD_VDI_ATTR_BIT | ((uint64_t)hashvid << 32) | attr_id;
}

/*
 * The slot sheep tries first for an attribute (its "home"): the low 32
 * bits of FNV-1a-64 over name[256], tag[256], snap_id (4 bytes) and
 * key[256] of the payload @attr (at least SD_ATTR_OFF_VALUE bytes), as
 * sheep/vdi.c hash_vdi_attr().  Later slots are linear probes.
 */
uint32_t sd_attr_home(const uint8_t *attr);

/* byte offset of data_vdi_id[idx] inside the inode object */
static inline uint32_t sd_inode_index_offset(uint32_t idx)
{
	return SD_INODE_INDEX_OFFSET + 4 * idx;
}

/* FNV-1a over the name (no NUL); the start vid of the name's family */
uint32_t sd_name_to_start_vid(const char *name, size_t len);

/* ---- explicit little-endian access ----------------------------------- */

static inline void sd_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void sd_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void sd_put_le64(uint8_t *p, uint64_t v)
{
	sd_put_le32(p, (uint32_t)v);
	sd_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t sd_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t sd_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	       ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t sd_get_le64(const uint8_t *p)
{
	return (uint64_t)sd_get_le32(p) | ((uint64_t)sd_get_le32(p + 4) << 32);
}

/* ---- headers (host representation) ----------------------------------- */

/*
 * The opcode selects the layout of bytes 16..47:
 *   0x01-0x05            obj
 *   0x11-0x18, 0x89      vdi
 *   anything else        raw (copied verbatim)
 * Zero the whole struct before filling it.
 */
struct sd_req {
	uint8_t proto_ver;
	uint8_t opcode;
	uint16_t flags;
	uint32_t epoch;
	uint32_t id;
	uint32_t data_length;
	union {
		struct {
			uint64_t oid;
			uint64_t cow_oid;
			uint8_t copies;
			uint8_t copy_policy;
			uint8_t ec_index;
			uint32_t tgt_epoch;
			uint32_t offset;
		} obj;
		struct {
			uint64_t vdi_size;
			uint32_t base_vdi_id;
			uint8_t copies;
			uint8_t copy_policy;
			uint8_t store_policy;
			uint8_t block_size_shift;
			uint32_t snapid;
			uint32_t type;
		} vdi;
		uint8_t raw[32];
	};
};

/*
 * Response bytes 20..47 by opcode:
 *   0x01-0x05            obj      (copies @20, offset @24)
 *   0x11-0x17, 0x89      vdi      (vdi_id @24, attr_id @28, copies @32,
 *                                  block_size_shift @33)
 *   0x18                 cluster  (nr_copies @20, copy_policy @21,
 *                                  block_size_shift @22)
 *   0x82                 node     (nr_nodes @20)
 *   anything else        raw
 */
struct sd_rsp {
	uint8_t proto_ver;
	uint8_t opcode;
	uint16_t flags;
	uint32_t epoch;
	uint32_t id;
	uint32_t data_length;
	uint32_t result;
	union {
		struct {
			uint8_t copies;
			uint64_t offset;
		} obj;
		struct {
			uint32_t vdi_id;
			uint32_t attr_id;
			uint8_t copies;
			uint8_t block_size_shift;
		} vdi;
		struct {
			uint8_t nr_copies;
			uint8_t copy_policy;
			uint8_t block_size_shift;
		} cluster;
		struct {
			uint32_t nr_nodes;
		} node;
		uint8_t raw[28];
	};
};

enum sd_layout {
	SD_LAYOUT_RAW,
	SD_LAYOUT_OBJ,
	SD_LAYOUT_VDI,
	SD_LAYOUT_CLUSTER,
	SD_LAYOUT_NODE,
};

enum sd_layout sd_req_layout(uint8_t opcode);
enum sd_layout sd_rsp_layout(uint8_t opcode);

void sd_req_encode(const struct sd_req *req, uint8_t buf[SD_HDR_SIZE]);
void sd_req_decode(const uint8_t buf[SD_HDR_SIZE], struct sd_req *req);
void sd_rsp_encode(const struct sd_rsp *rsp, uint8_t buf[SD_HDR_SIZE]);
void sd_rsp_decode(const uint8_t buf[SD_HDR_SIZE], struct sd_rsp *rsp);

/* ---- inode header ---------------------------------------------------- */

struct sd_inode_hdr {
	char name[SD_MAX_VDI_LEN + 1];		/* always NUL-terminated */
	char tag[SD_MAX_VDI_TAG_LEN + 1];
	uint64_t create_time;
	uint64_t snap_ctime;			/* != 0: snapshot */
	uint64_t vm_clock_nsec;
	uint64_t vdi_size;
	uint64_t vm_state_size;
	uint8_t copy_policy;
	uint8_t store_policy;
	uint8_t nr_copies;
	uint8_t block_size_shift;
	uint32_t snap_id;
	uint32_t vdi_id;
	uint32_t parent_vdi_id;
	uint32_t btree_counter;
};

/* @buf holds at least SD_INODE_HEADER_SIZE bytes */
void sd_inode_hdr_decode(const uint8_t *buf, struct sd_inode_hdr *hdr);
/* writes SD_INODE_HEADER_SIZE bytes; unused bytes become zero */
void sd_inode_hdr_encode(const struct sd_inode_hdr *hdr, uint8_t *buf);

/* copy a string into a fixed NUL-padded wire field of @size bytes */
void sd_put_name(uint8_t *field, size_t size, const char *s);
/* read a fixed NUL-padded field into a NUL-terminated string of size+1 */
void sd_get_name(const uint8_t *field, size_t size, char *out);

/* ---- results --------------------------------------------------------- */

/* human-readable name of a result code, e.g. "No object found" */
const char *sd_result_str(uint32_t result);
/* best errno for a result code (positive), e.g. NO_SPACE -> ENOSPC */
int sd_result_to_errno(uint32_t result);
/*
 * A state of the cluster or of one node that the next epoch or another
 * node clears: the request was not executed (or, for NETWORK_ERROR, may
 * have been partly) and is worth sending again: HALT, SHUTDOWN, KILLED,
 * STARTUP, WAIT_FOR_FORMAT, WAIT_FOR_JOIN, OLD/NEW_NODE_VER,
 * NETWORK_ERROR, COLLECTING_CINFO (doc/reliability.md, Cluster changes).
 */
bool sd_result_is_transient(uint32_t result);
/* printable opcode name, e.g. "READ_OBJ" */
const char *sd_opcode_str(uint8_t opcode);

#endif
