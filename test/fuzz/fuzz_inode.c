// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_inode.c - fuzz harness for the wire codecs of usr/lib/sd_proto.c.
 *
 * The input, zero-padded to SD_INODE_HEADER_SIZE, is decoded as an inode
 * header, and its first 48 bytes as a request and as a response header.
 * For each: decode -> encode must keep every byte of a documented field
 * (names up to their first NUL), write zeros everywhere else, and be a
 * fixed point (decoding the result and encoding again changes nothing).
 * The significant byte ranges below come from the layouts documented in
 * usr/lib/sd_proto.h, written out independently of the codec.
 * fuzz_one_inode() is also called by test/unit/test_fuzz_regress.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sd_proto.h"
#include "fuzz_check.h"

struct fi_range {
	uint32_t off, len;
};

/* inode header fields, by offset (names handled separately) */
static const struct fi_range fi_inode_ints[] = {
	{ SD_INODE_OFF_CREATE_TIME, 8 }, { SD_INODE_OFF_SNAP_CTIME, 8 },
	{ SD_INODE_OFF_VM_CLOCK_NSEC, 8 }, { SD_INODE_OFF_VDI_SIZE, 8 },
	{ SD_INODE_OFF_VM_STATE_SIZE, 8 }, { SD_INODE_OFF_COPY_POLICY, 1 },
	{ SD_INODE_OFF_STORE_POLICY, 1 }, { SD_INODE_OFF_NR_COPIES, 1 },
	{ SD_INODE_OFF_BLOCK_SIZE_SHIFT, 1 }, { SD_INODE_OFF_SNAP_ID, 4 },
	{ SD_INODE_OFF_VDI_ID, 4 }, { SD_INODE_OFF_PARENT_VDI_ID, 4 },
	{ SD_INODE_OFF_BTREE_COUNTER, 4 },
};

static void fi_mark(uint8_t *mask, const struct fi_range *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		memset(mask + r[i].off, 1, r[i].len);
}

/* @out keeps @in where @mask is set and is zero elsewhere */
static void fi_check_masked(const char *what, const uint8_t *in,
			    const uint8_t *out, const uint8_t *mask, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		FUZZ_CHECK(out[i] == (mask[i] ? in[i] : 0),
			   "%s: byte %zu is 0x%02x after decode+encode, expected 0x%02x",
			   what, i, out[i], mask[i] ? in[i] : 0);
}

/* a NUL-padded name field: bytes up to the first NUL, then zeros */
static void fi_check_name(const char *what, const uint8_t *in,
			  const uint8_t *out, size_t size, const char *str)
{
	size_t n = strnlen((const char *)in, size);

	FUZZ_CHECK(memchr(str, '\0', size + 1) && strlen(str) == n &&
		   !memcmp(str, in, n),
		   "%s: decoded name is not the field up to its first NUL", what);
	FUZZ_CHECK(!memcmp(out, in, n), "%s: name bytes changed", what);
	while (n < size)
		FUZZ_CHECK(out[n++] == 0, "%s: padding byte %zu not zero",
			   what, n - 1);
}

static void fi_inode(const uint8_t *buf)
{
	static uint8_t mask[SD_INODE_HEADER_SIZE], out[SD_INODE_HEADER_SIZE],
		       again[SD_INODE_HEADER_SIZE];
	struct sd_inode_hdr *h, *h2;

	h = malloc(sizeof(*h));
	h2 = malloc(sizeof(*h2));
	FUZZ_CHECK(h && h2, "out of memory");
	memset(mask, 0, sizeof(mask));
	fi_mark(mask, fi_inode_ints, sizeof(fi_inode_ints) / sizeof(fi_inode_ints[0]));

	sd_inode_hdr_decode(buf, h);
	sd_inode_hdr_encode(h, out);
	fi_check_name("inode name", buf + SD_INODE_OFF_NAME, out + SD_INODE_OFF_NAME,
		      SD_MAX_VDI_LEN, h->name);
	fi_check_name("inode tag", buf + SD_INODE_OFF_TAG, out + SD_INODE_OFF_TAG,
		      SD_MAX_VDI_TAG_LEN, h->tag);
	/* names are checked; compare the rest with the names masked out */
	memset(mask + SD_INODE_OFF_NAME, 2, SD_MAX_VDI_LEN);
	memset(mask + SD_INODE_OFF_TAG, 2, SD_MAX_VDI_TAG_LEN);
	{
		size_t i;

		for (i = 0; i < SD_INODE_HEADER_SIZE; i++)
			if (mask[i] != 2)
				FUZZ_CHECK(out[i] == (mask[i] ? buf[i] : 0),
					   "inode: byte %zu is 0x%02x after decode+encode, expected 0x%02x",
					   i, out[i], mask[i] ? buf[i] : 0);
	}
	FUZZ_CHECK(h->vdi_size == sd_get_le64(buf + SD_INODE_OFF_VDI_SIZE) &&
		   h->vdi_id == sd_get_le32(buf + SD_INODE_OFF_VDI_ID) &&
		   h->block_size_shift == buf[SD_INODE_OFF_BLOCK_SIZE_SHIFT],
		   "inode: decoded fields differ from their little-endian bytes");

	sd_inode_hdr_decode(out, h2);
	sd_inode_hdr_encode(h2, again);
	FUZZ_CHECK(!memcmp(out, again, sizeof(out)),
		   "inode: encode(decode(x)) is not a fixed point");
	free(h2);
	free(h);
}

/* opcodes @lo..@hi: the significant bytes past the common header */
struct fi_layout {
	uint8_t lo, hi;
	const struct fi_range *r;
	size_t n;
};

static const struct fi_range fi_req_obj[] = { { 16, 19 }, { 36, 8 } };
static const struct fi_range fi_req_vdi[] = { { 16, 24 } };
static const struct fi_range fi_rsp_obj[] = { { 20, 1 }, { 24, 8 } };
static const struct fi_range fi_rsp_vdi[] = { { 24, 10 } };
static const struct fi_range fi_rsp_cluster[] = { { 20, 3 } };
static const struct fi_range fi_rsp_node[] = { { 20, 4 } };

#define FI_LAYOUT(lo, hi, r) { lo, hi, r, sizeof(r) / sizeof(r[0]) }

/* request headers: 16 common bytes, from the documented layouts */
static const struct fi_layout fi_req_layouts[] = {
	FI_LAYOUT(0x01, 0x05, fi_req_obj),
	FI_LAYOUT(0x11, 0x18, fi_req_vdi),
	FI_LAYOUT(0x89, 0x89, fi_req_vdi),
};

/* response headers: 20 common bytes */
static const struct fi_layout fi_rsp_layouts[] = {
	FI_LAYOUT(0x01, 0x05, fi_rsp_obj),
	FI_LAYOUT(0x11, 0x17, fi_rsp_vdi),
	FI_LAYOUT(0x89, 0x89, fi_rsp_vdi),
	FI_LAYOUT(0x18, 0x18, fi_rsp_cluster),
	FI_LAYOUT(0x82, 0x82, fi_rsp_node),
};

/*
 * The significant bytes of a header of @opcode: the @common bytes, then
 * those of its layout in @l (all of them for an opcode not in @l).
 */
static void fi_header_mask(uint8_t opcode, size_t common,
			   const struct fi_layout *l, size_t nl, uint8_t *mask)
{
	size_t i;

	memset(mask, 0, SD_HDR_SIZE);
	memset(mask, 1, common);
	for (i = 0; i < nl; i++) {
		if (opcode >= l[i].lo && opcode <= l[i].hi) {
			fi_mark(mask, l[i].r, l[i].n);
			return;
		}
	}
	memset(mask + common, 1, SD_HDR_SIZE - common);
}

static void fi_req_recode(const uint8_t *in, uint8_t *out)
{
	struct sd_req req;

	sd_req_decode(in, &req);
	sd_req_encode(&req, out);
}

static void fi_rsp_recode(const uint8_t *in, uint8_t *out)
{
	struct sd_rsp rsp;

	sd_rsp_decode(in, &rsp);
	sd_rsp_encode(&rsp, out);
}

/*
 * encode(decode(b)) keeps the significant bytes of @b (@mask) and clears
 * the rest, and encode(decode()) of its result changes nothing.
 */
static void fi_check_recode(const char *what, const uint8_t *b,
			    const uint8_t *mask,
			    void (*recode)(const uint8_t *in, uint8_t *out))
{
	uint8_t out[SD_HDR_SIZE], again[SD_HDR_SIZE];

	recode(b, out);
	fi_check_masked(what, b, out, mask, SD_HDR_SIZE);
	recode(out, again);
	FUZZ_CHECK(!memcmp(out, again, SD_HDR_SIZE),
		   "%s: encode(decode(x)) is not a fixed point", what);
}

static void fi_headers(const uint8_t *b)
{
	uint8_t mask[SD_HDR_SIZE];
	struct sd_req req;
	struct sd_rsp rsp;

	sd_req_decode(b, &req);
	FUZZ_CHECK(req.opcode == b[1] && req.id == sd_get_le32(b + 8) &&
		   req.data_length == sd_get_le32(b + 12),
		   "req: common fields decoded wrongly");
	fi_header_mask(b[1], 16, fi_req_layouts,
		       sizeof(fi_req_layouts) / sizeof(fi_req_layouts[0]), mask);
	fi_check_recode("req", b, mask, fi_req_recode);

	sd_rsp_decode(b, &rsp);
	FUZZ_CHECK(rsp.opcode == b[1] && rsp.id == sd_get_le32(b + 8) &&
		   rsp.data_length == sd_get_le32(b + 12) &&
		   rsp.result == sd_get_le32(b + 16),
		   "rsp: common fields decoded wrongly");
	fi_header_mask(b[1], 20, fi_rsp_layouts,
		       sizeof(fi_rsp_layouts) / sizeof(fi_rsp_layouts[0]), mask);
	fi_check_recode("rsp", b, mask, fi_rsp_recode);

	/* printable names exist for any value */
	FUZZ_CHECK(sd_opcode_str(b[1]) && sd_result_str(rsp.result) &&
		   sd_result_to_errno(rsp.result) >= 0,
		   "opcode/result strings");
}

int fuzz_one_inode(const uint8_t *data, size_t size)
{
	static uint8_t buf[SD_INODE_HEADER_SIZE];

	memset(buf, 0, sizeof(buf));
	memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
	fi_inode(buf);
	fi_headers(buf);
	return 0;
}

FUZZ_ENTRY(fuzz_one_inode)
