// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_proto.c - byte-exact unit tests of the Sheepdog wire format.
 *
 * Request and response headers are encoded from filled-in structs and
 * compared byte for byte with hand-written 48-byte images laid out as
 * sheep's struct sd_req and struct sd_rsp, then decoded back.
 * The inode header is checked at struct sd_inode's offsets in the raw
 * buffer; oid helpers, the FNV-1a start vid (upstream check values) and
 * the result-code tables are checked against known answers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "sd_proto.h"

/* compare a 48-byte header with the expected image; names the first difference */
static void check_bytes(const char *name, const uint8_t *got,
			const uint8_t *want, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (got[i] != want[i])
			break;
	CHECK(i == len, name, "byte %zu is 0x%02x, expected 0x%02x", i,
	      i < len ? got[i] : 0, i < len ? want[i] : 0);
}

/* the first byte at which @a and @b differ, or @len */
static size_t first_diff(const void *a, const void *b, size_t len)
{
	const uint8_t *x = a, *y = b;
	size_t i;

	for (i = 0; i < len && x[i] == y[i]; i++)
		;
	return i;
}

/*
 * @buf (what @s encoded to) is exactly @want, and @back (what @want decoded
 * to) is exactly @s: both were zeroed first, so padding and unused union
 * bytes compare equal.  @kind is "sd_req" or "sd_rsp".
 */
static void check_image(const char *kind, const char *what,
			const uint8_t *buf, const uint8_t *want,
			const void *back, const void *s, size_t size)
{
	char name[128];

	snprintf(name, sizeof(name), "%s_encode %s", kind, what);
	check_bytes(name, buf, want, SD_HDR_SIZE);
	snprintf(name, sizeof(name), "%s_decode %s", kind, what);
	CHECK(!memcmp(back, s, size), name, "decoded struct differs at byte %zu",
	      first_diff(back, s, size));
}

/* encode *@s and decode @want (KIND req or rsp), then check_image() */
#define CHECK_HDR_IMAGE(KIND, what, s, want)				\
	do {								\
		struct sd_##KIND back_;					\
		uint8_t buf_[SD_HDR_SIZE];				\
									\
		memset(buf_, 0xee, sizeof(buf_));			\
		sd_##KIND##_encode((s), buf_);				\
		memset(&back_, 0xee, sizeof(back_));			\
		sd_##KIND##_decode((want), &back_);			\
		check_image("sd_" #KIND, (what), buf_, (want), &back_,	\
			    (s), sizeof(back_));			\
	} while (0)

/* ---- requests -------------------------------------------------------- */

static void check_req_obj(void)
{
	static const uint8_t want[SD_HDR_SIZE] = {
		/* 0 */  0x01, 0x03, 0x21, 0x00,		/* ver, WRITE_OBJ, WRITE|TGT */
		/* 4 */  0x44, 0x33, 0x22, 0x11,		/* epoch */
		/* 8 */  0xd4, 0xc3, 0xb2, 0xa1,		/* id */
		/* 12 */ 0x00, 0x10, 0x00, 0x00,		/* data_length 4096 */
		/* 16 */ 0x07, 0x00, 0x00, 0x00, 0xfc, 0x32, 0xfd, 0x00, /* oid */
		/* 24 */ 0x09, 0x00, 0x00, 0x00, 0x25, 0x2b, 0x7c, 0x00, /* cow_oid */
		/* 32 */ 0x03, 0x02, 0x01, 0x00,		/* copies, policy, ec, rsvd */
		/* 36 */ 0x0d, 0xf0, 0xad, 0x0b,		/* tgt_epoch */
		/* 40 */ 0x56, 0x34, 0x12, 0x00,		/* offset */
		/* 44 */ 0x00, 0x00, 0x00, 0x00,		/* pad */
	};
	struct sd_req req;

	memset(&req, 0, sizeof(req));
	req.proto_ver = 0x01;
	req.opcode = SD_OP_WRITE_OBJ;
	req.flags = SD_FLAG_CMD_WRITE | SD_FLAG_CMD_TGT;
	req.epoch = 0x11223344;
	req.id = 0xa1b2c3d4;
	req.data_length = 4096;
	req.obj.oid = UINT64_C(0x00fd32fc00000007);
	req.obj.cow_oid = UINT64_C(0x007c2b2500000009);
	req.obj.copies = 3;
	req.obj.copy_policy = 2;
	req.obj.ec_index = 1;
	req.obj.tgt_epoch = 0x0badf00d;
	req.obj.offset = 0x123456;

	CHECK_HDR_IMAGE(req, "obj layout (WRITE_OBJ)", &req, want);
}

static void check_req_vdi(void)
{
	static const uint8_t want[SD_HDR_SIZE] = {
		/* 0 */  0x02, 0x11, 0x01, 0x00,		/* ver, NEW_VDI, WRITE */
		/* 4 */  0x00, 0x00, 0x00, 0x00,		/* epoch */
		/* 8 */  0x07, 0x00, 0x00, 0x00,		/* id */
		/* 12 */ 0x00, 0x01, 0x00, 0x00,		/* data_length 256 */
		/* 16 */ 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x00, /* 5 GiB */
		/* 24 */ 0x25, 0x2b, 0x7c, 0x00,		/* base_vdi_id */
		/* 28 */ 0x03, 0x04, 0x01, 0x16,		/* copies, cp, sp, shift 22 */
		/* 32 */ 0x02, 0x00, 0x00, 0x00,		/* snapid */
		/* 36 */ 0x01, 0x00, 0x00, 0x00,		/* type shared */
		/* 40 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct sd_req req;
	uint8_t buf[SD_HDR_SIZE];

	memset(&req, 0, sizeof(req));
	req.proto_ver = SD_PROTO_VER;
	req.opcode = SD_OP_NEW_VDI;
	req.flags = SD_FLAG_CMD_WRITE;
	req.id = 7;
	req.data_length = SD_MAX_VDI_LEN;
	req.vdi.vdi_size = UINT64_C(5) << 30;
	req.vdi.base_vdi_id = 0x7c2b25;
	req.vdi.copies = 3;
	req.vdi.copy_policy = 4;
	req.vdi.store_policy = 1;
	req.vdi.block_size_shift = 22;
	req.vdi.snapid = 2;
	req.vdi.type = SD_LOCK_TYPE_SHARED;

	CHECK_HDR_IMAGE(req, "vdi layout (NEW_VDI)", &req, want);

	/* GET_VDI_ATTR (an internal opcode) also uses the vdi layout */
	req.opcode = SD_OP_GET_VDI_ATTR;
	req.proto_ver = SD_SHEEP_PROTO_VER;
	sd_req_encode(&req, buf);
	CHECK(buf[0] == 0x0a && buf[1] == 0x89 && !memcmp(buf + 2, want + 2, SD_HDR_SIZE - 2),
	      "sd_req_encode GET_VDI_ATTR uses the vdi layout",
	      "bytes 0-1 %02x %02x, body differs: %d", buf[0], buf[1],
	      memcmp(buf + 2, want + 2, SD_HDR_SIZE - 2));
}

static void check_req_raw(void)
{
	struct sd_req req, back;
	uint8_t buf[SD_HDR_SIZE];
	int i;

	memset(&req, 0, sizeof(req));
	req.proto_ver = SD_SHEEP_PROTO_VER;
	req.opcode = SD_OP_GET_NODE_LIST;
	req.data_length = 0x10000;
	for (i = 0; i < 32; i++)
		req.raw[i] = (uint8_t)(0x40 + i);
	sd_req_encode(&req, buf);
	for (i = 0; i < 32; i++)
		if (buf[16 + i] != 0x40 + i)
			break;
	CHECK(buf[0] == 0x0a && buf[1] == 0x82 && sd_get_le32(buf + 12) == 0x10000 && i == 32,
	      "sd_req_encode raw layout copies bytes 16..47 verbatim",
	      "first bad byte %d", 16 + i);
	sd_req_decode(buf, &back);
	CHECK(!memcmp(back.raw, req.raw, 32) && back.data_length == 0x10000,
	      "sd_req_decode raw layout", "raw bytes differ");

	CHECK(sd_req_layout(0x01) == SD_LAYOUT_OBJ && sd_req_layout(0x05) == SD_LAYOUT_OBJ &&
	      sd_req_layout(0x06) == SD_LAYOUT_RAW && sd_req_layout(0x11) == SD_LAYOUT_VDI &&
	      sd_req_layout(0x18) == SD_LAYOUT_VDI && sd_req_layout(0x89) == SD_LAYOUT_VDI &&
	      sd_req_layout(0x19) == SD_LAYOUT_RAW && sd_req_layout(0x00) == SD_LAYOUT_RAW,
	      "sd_req_layout by opcode", "wrong layout");
	CHECK(sd_rsp_layout(0x02) == SD_LAYOUT_OBJ && sd_rsp_layout(0x14) == SD_LAYOUT_VDI &&
	      sd_rsp_layout(0x17) == SD_LAYOUT_VDI && sd_rsp_layout(0x89) == SD_LAYOUT_VDI &&
	      sd_rsp_layout(0x18) == SD_LAYOUT_CLUSTER && sd_rsp_layout(0x82) == SD_LAYOUT_NODE &&
	      sd_rsp_layout(0x87) == SD_LAYOUT_RAW,
	      "sd_rsp_layout by opcode", "wrong layout");
}

/* ---- responses ------------------------------------------------------- */

static void check_rsp_obj(void)
{
	static const uint8_t want[SD_HDR_SIZE] = {
		/* 0 */  0x00, 0x02, 0x00, 0x00,		/* ver 0, READ_OBJ */
		/* 4 */  0x05, 0x00, 0x00, 0x00,		/* epoch */
		/* 8 */  0x04, 0x03, 0x02, 0x01,		/* id */
		/* 12 */ 0x00, 0x00, 0x40, 0x00,		/* data_length 4 MiB */
		/* 16 */ 0x02, 0x00, 0x00, 0x00,		/* result NO_OBJ */
		/* 20 */ 0x03, 0x00, 0x00, 0x00,		/* copies */
		/* 24 */ 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* offset */
		/* 32 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct sd_rsp rsp;

	memset(&rsp, 0, sizeof(rsp));
	rsp.opcode = SD_OP_READ_OBJ;
	rsp.epoch = 5;
	rsp.id = 0x01020304;
	rsp.data_length = 1U << 22;
	rsp.result = SD_RES_NO_OBJ;
	rsp.obj.copies = 3;
	rsp.obj.offset = UINT64_C(0x1122334455667788);

	CHECK_HDR_IMAGE(rsp, "obj layout (READ_OBJ)", &rsp, want);
}

static void check_rsp_vdi(void)
{
	static const uint8_t want[SD_HDR_SIZE] = {
		/* 0 */  0x00, 0x14, 0x00, 0x00,		/* GET_VDI_INFO */
		/* 4 */  0x09, 0x00, 0x00, 0x00,		/* epoch */
		/* 8 */  0xef, 0xbe, 0xad, 0xde,		/* id */
		/* 12 */ 0x00, 0x00, 0x00, 0x00,		/* data_length */
		/* 16 */ 0x1a, 0x00, 0x00, 0x00,		/* result READONLY */
		/* 20 */ 0x00, 0x00, 0x00, 0x00,		/* rsvd */
		/* 24 */ 0xfc, 0x32, 0xfd, 0x00,		/* vdi_id */
		/* 28 */ 0x78, 0x56, 0x34, 0x12,		/* attr_id */
		/* 32 */ 0x02, 0x16, 0x00, 0x00,		/* copies, block_size_shift */
		/* 36 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct sd_rsp rsp;

	memset(&rsp, 0, sizeof(rsp));
	rsp.opcode = SD_OP_GET_VDI_INFO;
	rsp.epoch = 9;
	rsp.id = 0xdeadbeef;
	rsp.result = SD_RES_READONLY;
	rsp.vdi.vdi_id = 0xfd32fc;
	rsp.vdi.attr_id = 0x12345678;
	rsp.vdi.copies = 2;
	rsp.vdi.block_size_shift = 22;

	CHECK_HDR_IMAGE(rsp, "vdi layout (GET_VDI_INFO)", &rsp, want);
}

static void check_rsp_cluster_node_raw(void)
{
	static const uint8_t want[SD_HDR_SIZE] = {
		/* 0 */  0x00, 0x18, 0x00, 0x00,		/* GET_CLUSTER_DEFAULT */
		/* 4 */  0x01, 0x00, 0x00, 0x00,		/* epoch */
		/* 8 */  0x2a, 0x00, 0x00, 0x00,		/* id */
		/* 12 */ 0x00, 0x00, 0x00, 0x00,
		/* 16 */ 0x00, 0x00, 0x00, 0x00,		/* result SUCCESS */
		/* 20 */ 0x03, 0x42, 0x17, 0x00,		/* nr_copies, policy, shift */
		/* 24 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		/* 36 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct sd_rsp rsp, back;
	uint8_t buf[SD_HDR_SIZE];
	int i;

	memset(&rsp, 0, sizeof(rsp));
	rsp.opcode = SD_OP_GET_CLUSTER_DEFAULT;
	rsp.epoch = 1;
	rsp.id = 42;
	rsp.cluster.nr_copies = 3;
	rsp.cluster.copy_policy = 0x42;
	rsp.cluster.block_size_shift = 23;

	CHECK_HDR_IMAGE(rsp, "cluster layout (GET_CLUSTER_DEFAULT)", &rsp, want);

	memset(&rsp, 0, sizeof(rsp));
	rsp.opcode = SD_OP_GET_NODE_LIST;
	rsp.data_length = 0x100;
	rsp.node.nr_nodes = 0x01000005;
	sd_rsp_encode(&rsp, buf);
	sd_rsp_decode(buf, &back);
	CHECK(buf[20] == 0x05 && buf[21] == 0 && buf[22] == 0 && buf[23] == 0x01 &&
	      buf[24] == 0 && back.node.nr_nodes == 0x01000005,
	      "sd_rsp node layout (GET_NODE_LIST) nr_nodes at 20",
	      "bytes 20-23 %02x %02x %02x %02x decoded %u", buf[20], buf[21],
	      buf[22], buf[23], back.node.nr_nodes);

	memset(&rsp, 0, sizeof(rsp));
	rsp.opcode = SD_OP_STAT_CLUSTER;
	rsp.result = SD_RES_NO_SUPPORT;
	for (i = 0; i < 28; i++)
		rsp.raw[i] = (uint8_t)(0x80 | i);
	sd_rsp_encode(&rsp, buf);
	for (i = 0; i < 28; i++)
		if (buf[20 + i] != (0x80 | i))
			break;
	sd_rsp_decode(buf, &back);
	CHECK(i == 28 && sd_get_le32(buf + 16) == SD_RES_NO_SUPPORT &&
	      !memcmp(back.raw, rsp.raw, 28) && back.result == SD_RES_NO_SUPPORT,
	      "sd_rsp raw layout copies bytes 20..47 verbatim",
	      "first bad byte %d", 20 + i);
}

/* ---- inode header ---------------------------------------------------- */

static void check_inode_hdr(void)
{
	const size_t guard = 64;
	struct sd_inode_hdr h, back;
	uint8_t *buf;
	size_t i, nz;
	int ok;

	buf = malloc(SD_INODE_HEADER_SIZE + guard);
	if (!buf) {
		CHECK(0, "inode header buffer", "malloc failed");
		return;
	}
	memset(&h, 0, sizeof(h));
	strcpy(h.name, "test");
	strcpy(h.tag, "snap-tag");
	h.create_time = UINT64_C(0x5b1e2a3c00000123);
	h.snap_ctime = UINT64_C(0x5b1e2b0000000456);
	h.vm_clock_nsec = UINT64_C(0x0102030405060708);
	h.vdi_size = UINT64_C(10) << 30;
	h.vm_state_size = UINT64_C(0x1111222233334444);
	h.copy_policy = 0x21;
	h.store_policy = 1;
	h.nr_copies = 3;
	h.block_size_shift = 22;
	h.snap_id = 7;
	h.vdi_id = 0x7c2b25;
	h.parent_vdi_id = 0x7c2b24;
	h.btree_counter = 0xabcdef01;

	memset(buf, 0xee, SD_INODE_HEADER_SIZE + guard);
	sd_inode_hdr_encode(&h, buf);

	CHECK(!memcmp(buf + SD_INODE_OFF_NAME, "test", 5) &&
	      !memcmp(buf + SD_INODE_OFF_TAG, "snap-tag", 9),
	      "inode encode: name at 0, tag at 256", "name '%.8s' tag '%.8s'",
	      buf, buf + 256);
	for (nz = 0, i = 4; i < 256; i++)
		nz += buf[i] != 0;
	for (i = 256 + 8; i < 512; i++)
		nz += buf[i] != 0;
	CHECK(nz == 0, "inode encode: name and tag are NUL-padded", "%zu non-zero pad bytes", nz);

	CHECK(SD_INODE_OFF_CREATE_TIME == 512 && SD_INODE_OFF_SNAP_CTIME == 520 &&
	      SD_INODE_OFF_VM_CLOCK_NSEC == 528 && SD_INODE_OFF_VDI_SIZE == 536 &&
	      SD_INODE_OFF_VM_STATE_SIZE == 544 && SD_INODE_OFF_COPY_POLICY == 552 &&
	      SD_INODE_OFF_STORE_POLICY == 553 && SD_INODE_OFF_NR_COPIES == 554 &&
	      SD_INODE_OFF_BLOCK_SIZE_SHIFT == 555 && SD_INODE_OFF_SNAP_ID == 556 &&
	      SD_INODE_OFF_VDI_ID == 560 && SD_INODE_OFF_PARENT_VDI_ID == 564 &&
	      SD_INODE_OFF_BTREE_COUNTER == 568,
	      "inode offsets match struct sd_inode", "an SD_INODE_OFF_* constant is wrong");

	/* raw bytes at the documented offsets (literal numbers, not the macros) */
	ok = sd_get_le64(buf + 512) == h.create_time &&
	     buf[512] == 0x23 && buf[519] == 0x5b &&
	     sd_get_le64(buf + 520) == h.snap_ctime &&
	     sd_get_le64(buf + 528) == h.vm_clock_nsec && buf[528] == 0x08 &&
	     sd_get_le64(buf + 536) == (UINT64_C(10) << 30) &&
	     sd_get_le64(buf + 544) == h.vm_state_size &&
	     buf[552] == 0x21 && buf[553] == 1 && buf[554] == 3 && buf[555] == 22 &&
	     buf[556] == 7 && buf[557] == 0 && buf[558] == 0 && buf[559] == 0 &&
	     buf[560] == 0x25 && buf[561] == 0x2b && buf[562] == 0x7c && buf[563] == 0 &&
	     buf[564] == 0x24 && buf[565] == 0x2b && buf[566] == 0x7c && buf[567] == 0 &&
	     buf[568] == 0x01 && buf[569] == 0xef && buf[570] == 0xcd && buf[571] == 0xab;
	CHECK(ok, "inode encode: every field at its little-endian offset",
	      "bytes 552-571 differ or 64-bit fields wrong (552: %02x %02x %02x %02x, 556: %02x, 560: %02x)",
	      buf[552], buf[553], buf[554], buf[555], buf[556], buf[560]);

	for (nz = 0, i = 572; i < SD_INODE_HEADER_SIZE; i++)
		nz += buf[i] != 0;
	CHECK(nz == 0, "inode encode: unused bytes 572..4663 are zero", "%zu non-zero", nz);
	for (nz = 0, i = SD_INODE_HEADER_SIZE; i < SD_INODE_HEADER_SIZE + guard; i++)
		nz += buf[i] != 0xee;
	CHECK(nz == 0, "inode encode: writes no byte past 4664", "%zu bytes clobbered", nz);

	memset(&back, 0xee, sizeof(back));
	sd_inode_hdr_decode(buf, &back);
	CHECK(!strcmp(back.name, "test") && !strcmp(back.tag, "snap-tag") &&
	      back.create_time == h.create_time && back.snap_ctime == h.snap_ctime &&
	      back.vm_clock_nsec == h.vm_clock_nsec && back.vdi_size == h.vdi_size &&
	      back.vm_state_size == h.vm_state_size &&
	      back.copy_policy == h.copy_policy && back.store_policy == h.store_policy &&
	      back.nr_copies == h.nr_copies && back.block_size_shift == h.block_size_shift &&
	      back.snap_id == h.snap_id && back.vdi_id == h.vdi_id &&
	      back.parent_vdi_id == h.parent_vdi_id && back.btree_counter == h.btree_counter,
	      "inode decode: round trip of every field",
	      "name '%s' tag '%s' vdi_id 0x%x parent 0x%x snap_id %u",
	      back.name, back.tag, back.vdi_id, back.parent_vdi_id, back.snap_id);

	/* a 256-byte name fills the field without a NUL; decode terminates it */
	memset(buf, 0, SD_INODE_HEADER_SIZE);
	memset(buf, 'n', 256);
	memset(buf + 256, 't', 256);
	sd_inode_hdr_decode(buf, &back);
	CHECK(strlen(back.name) == 256 && strlen(back.tag) == 256 && back.name[0] == 'n' &&
	      back.tag[0] == 't',
	      "inode decode: full-width name and tag are NUL-terminated",
	      "name len %zu tag len %zu", strnlen(back.name, 257), strnlen(back.tag, 257));
	free(buf);
}

static void check_names(void)
{
	uint8_t f[8], g[9];
	char out[9];

	memset(f, 0xff, sizeof(f));
	sd_put_name(f, sizeof(f), "abc");
	CHECK(!memcmp(f, "abc\0\0\0\0\0", 8), "sd_put_name pads with NUL",
	      "got %02x %02x %02x %02x", f[0], f[3], f[4], f[7]);

	memset(f, 0xff, sizeof(f));
	sd_put_name(f, sizeof(f), "abcdefghijk");
	CHECK(!memcmp(f, "abcdefgh", 8), "sd_put_name truncates to the field", "got '%.8s'", f);

	memset(f, 0xff, sizeof(f));
	sd_put_name(f, sizeof(f), NULL);
	CHECK(!memcmp(f, "\0\0\0\0\0\0\0\0", 8), "sd_put_name NULL gives an empty field",
	      "first byte %02x", f[0]);

	memcpy(g, "12345678Z", 9);
	memset(out, 'X', sizeof(out));
	sd_get_name(g, 8, out);
	CHECK(!strcmp(out, "12345678"), "sd_get_name stops at the field size", "got '%s'", out);
	memcpy(g, "ab\0cdefg", 8);
	sd_get_name(g, 8, out);
	CHECK(!strcmp(out, "ab"), "sd_get_name stops at NUL", "got '%s'", out);
}

/* ---- oids, vids, results --------------------------------------------- */

static void check_oids(void)
{
	uint64_t inode = sd_vid_to_vdi_oid(0xfd32fc);
	uint64_t data = sd_vid_to_data_oid(0xfd32fc, 7);

	CHECK(inode == UINT64_C(0x80fd32fc00000000), "sd_vid_to_vdi_oid",
	      "got 0x%016llx", (unsigned long long)inode);
	CHECK(data == UINT64_C(0x00fd32fc00000007), "sd_vid_to_data_oid",
	      "got 0x%016llx", (unsigned long long)data);
	CHECK(sd_oid_to_vid(inode) == 0xfd32fc && sd_oid_to_vid(data) == 0xfd32fc &&
	      sd_oid_to_vid(SD_VMSTATE_BIT | UINT64_C(0x00ffffff00000001)) == 0xffffff,
	      "sd_oid_to_vid drops the type bits", "got 0x%x 0x%x",
	      sd_oid_to_vid(inode), sd_oid_to_vid(data));
	CHECK(sd_oid_to_idx(data) == 7 && sd_oid_to_idx(inode) == 0 &&
	      sd_oid_to_idx(sd_vid_to_data_oid(1, 0xfffff)) == 0xfffff,
	      "sd_oid_to_idx", "got %u", sd_oid_to_idx(data));
	CHECK(sd_oid_is_data(data) && !sd_oid_is_data(inode) &&
	      !sd_oid_is_data(SD_VMSTATE_BIT | data) && !sd_oid_is_data(SD_LEDGER_BIT | data) &&
	      !sd_oid_is_data(SD_VDI_BTREE_BIT | data),
	      "sd_oid_is_data", "wrong classification");
	CHECK(sd_oid_is_inode(inode) && !sd_oid_is_inode(data) &&
	      !sd_oid_is_inode(SD_VDI_ATTR_BIT | inode) && !sd_oid_is_inode(SD_VDI_ATTR_BIT | data),
	      "sd_oid_is_inode", "wrong classification");
	CHECK(sd_inode_index_offset(0) == 4664 && sd_inode_index_offset(1) == 4668 &&
	      sd_inode_index_offset(SD_MAX_DATA_OBJS - 1) == 4198964 &&
	      sd_inode_index_offset(SD_MAX_DATA_OBJS) == SD_INODE_REFRESH_SIZE &&
	      SD_INODE_GREF_OFFSET + 8 * SD_MAX_DATA_OBJS == SD_INODE_SIZE,
	      "sd_inode_index_offset and inode size constants",
	      "index_offset(0) %u (1) %u (last) %u", sd_inode_index_offset(0),
	      sd_inode_index_offset(1), sd_inode_index_offset(SD_MAX_DATA_OBJS - 1));
}

static void check_start_vid(void)
{
	static const struct {
		const char *name;
		uint32_t vid;
	} cases[] = {
		{ "test", 0x7c2b25 },
		{ "test1", 0xfd32fc },
		{ "test2", 0xfd3815 },
	};
	char name[64];
	uint32_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = sd_name_to_start_vid(cases[i].name, strlen(cases[i].name));
		snprintf(name, sizeof(name), "sd_name_to_start_vid '%s'", cases[i].name);
		CHECK(v == cases[i].vid, name, "got 0x%06x, expected 0x%06x", v, cases[i].vid);
	}
	v = sd_name_to_start_vid("test1-and-more", 5);
	CHECK(v == 0xfd32fc, "sd_name_to_start_vid hashes only len bytes", "got 0x%06x", v);
	/* empty name: FNV offset basis & 0xffffff */
	v = sd_name_to_start_vid("", 0);
	CHECK(v == 0x222325, "sd_name_to_start_vid empty name", "got 0x%06x", v);
}

static void check_results(void)
{
	CHECK(sd_result_to_errno(SD_RES_NO_SPACE) == ENOSPC, "sd_result_to_errno NO_SPACE",
	      "got %d", sd_result_to_errno(SD_RES_NO_SPACE));
	CHECK(sd_result_to_errno(SD_RES_READONLY) == EROFS, "sd_result_to_errno READONLY",
	      "got %d", sd_result_to_errno(SD_RES_READONLY));
	CHECK(sd_result_to_errno(SD_RES_NO_VDI) == ENOENT, "sd_result_to_errno NO_VDI",
	      "got %d", sd_result_to_errno(SD_RES_NO_VDI));
	CHECK(sd_result_to_errno(SD_RES_SUCCESS) == 0, "sd_result_to_errno SUCCESS",
	      "got %d", sd_result_to_errno(SD_RES_SUCCESS));
	CHECK(sd_result_to_errno(SD_RES_VDI_LOCKED) == EBUSY, "sd_result_to_errno VDI_LOCKED",
	      "got %d", sd_result_to_errno(SD_RES_VDI_LOCKED));
	CHECK(sd_result_to_errno(0x7777) == EIO, "sd_result_to_errno unknown code",
	      "got %d", sd_result_to_errno(0x7777));
	CHECK(!strcmp(sd_result_str(SD_RES_NO_OBJ), "No object found") &&
	      !strcmp(sd_result_str(0x7777), "Invalid result code"),
	      "sd_result_str", "got '%s' / '%s'", sd_result_str(SD_RES_NO_OBJ),
	      sd_result_str(0x7777));
	CHECK(!strcmp(sd_opcode_str(SD_OP_READ_OBJ), "READ_OBJ") &&
	      !strcmp(sd_opcode_str(SD_OP_GET_CLUSTER_DEFAULT), "GET_CLUSTER_DEFAULT") &&
	      !strcmp(sd_opcode_str(0x7f), "UNKNOWN_OP"),
	      "sd_opcode_str", "got '%s'", sd_opcode_str(SD_OP_READ_OBJ));
}

int main(void)
{
	check_req_obj();
	check_req_vdi();
	check_req_raw();
	check_rsp_obj();
	check_rsp_vdi();
	check_rsp_cluster_node_raw();
	check_inode_hdr();
	check_names();
	check_oids();
	check_start_vid();
	check_results();
	return t_exit();
}
