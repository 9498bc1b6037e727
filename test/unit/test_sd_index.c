// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_index.c - unit test of the VDI index math: splitting byte ranges
 * into object pieces for every block_size_shift 20..31, the last (short)
 * object of a VDI, data/inode oids and index entry offsets, and the
 * allocation runs block status reports.  Pure functions only
 * (usr/lib/sd_index.[ch] and the oid helpers of sd_proto.h): nothing is
 * stubbed.  The reference splitter below works with division instead of
 * shifts.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "sd_proto.h"	/* oids and index entry offsets */
#include "../../usr/lib/sd_index.c"

/* Split with plain division and compare with sd_span_*; 0 when equal. */
static int check_split(uint64_t off, uint64_t len, unsigned int shift,
		       char *why, size_t wlen)
{
	uint64_t obj = UINT64_C(1) << shift;
	uint64_t pos = off, end = off + len, covered = 0;
	uint32_t n = sd_span_count(off, len, shift), k = 0;
	struct sd_span s;

	while (pos < end) {
		uint64_t idx = pos / obj;
		uint64_t stop = (idx + 1) * obj;

		if (stop > end)
			stop = end;
		if (k >= n) {
			snprintf(why, wlen, "count %u too small", n);
			return 1;
		}
		sd_span_get(off, len, shift, k, &s);
		if (s.idx != idx || s.obj_off != pos % obj ||
		    s.len != stop - pos || s.buf_off != pos - off) {
			snprintf(why, wlen,
				 "piece %u: got idx %u off %u len %u buf %llu, want idx %llu off %llu len %llu buf %llu",
				 k, s.idx, s.obj_off, s.len,
				 (unsigned long long)s.buf_off,
				 (unsigned long long)idx,
				 (unsigned long long)(pos % obj),
				 (unsigned long long)(stop - pos),
				 (unsigned long long)(pos - off));
			return 1;
		}
		covered += s.len;
		pos = stop;
		k++;
	}
	if (k != n) {
		snprintf(why, wlen, "count %u, reference %u", n, k);
		return 1;
	}
	if (covered != len) {
		snprintf(why, wlen, "pieces cover %llu of %llu bytes",
			 (unsigned long long)covered, (unsigned long long)len);
		return 1;
	}
	return 0;
}

static void test_split_all_shifts(void)
{
	char name[128], why[256];
	unsigned int shift;

	for (shift = SD_MIN_BLOCK_SHIFT; shift <= SD_MAX_BLOCK_SHIFT; shift++) {
		uint64_t S = UINT64_C(1) << shift;
		struct {
			uint64_t off, len;
			uint32_t pieces;
			const char *what;
		} cases[] = {
			{ 0, 512, 1, "head of object 0" },
			{ 5 * S + 100, 4096, 1, "inside object 5" },
			{ 3 * S, S, 1, "exactly object 3" },
			{ S - 512, 1024, 2, "crossing 2 objects" },
			{ 7 * S - 1, 2, 2, "2 bytes across a boundary" },
			{ 2 * S - 4096, S + 8192, 3, "crossing 3 objects" },
			{ 9 * S, 3 * S, 3, "3 whole objects" },
			{ S + 1, 2 * S - 2, 2, "2 objects minus edges" },
			{ 1, 3 * S, 4, "unaligned over 4 objects" },
		};
		size_t i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint32_t n = sd_span_count(cases[i].off, cases[i].len,
						   shift);
			int bad;

			why[0] = '\0';
			bad = check_split(cases[i].off, cases[i].len, shift,
					  why, sizeof(why));
			if (!bad && n != cases[i].pieces) {
				bad = 1;
				snprintf(why, sizeof(why), "%u pieces, want %u",
					 n, cases[i].pieces);
			}
			snprintf(name, sizeof(name), "split shift %u: %s",
				 shift, cases[i].what);
			CHECK(!bad, name, "%s", why);
		}
	}
}

static void test_split_explicit(void)
{
	struct sd_span s;

	/* 4 MiB objects, 1 MiB at 3.5 MiB: [3.5, 4) in 0, [0, 0.5) in 1 */
	CHECK(sd_span_count(0x380000, 0x100000, 22) == 2, "explicit count",
	      "got %u", sd_span_count(0x380000, 0x100000, 22));
	sd_span_get(0x380000, 0x100000, 22, 0, &s);
	CHECK(s.idx == 0 && s.obj_off == 0x380000 && s.len == 0x80000 &&
	      s.buf_off == 0, "explicit piece 0",
	      "idx %u off %#x len %#x buf %llu", s.idx, s.obj_off, s.len,
	      (unsigned long long)s.buf_off);
	sd_span_get(0x380000, 0x100000, 22, 1, &s);
	CHECK(s.idx == 1 && s.obj_off == 0 && s.len == 0x80000 &&
	      s.buf_off == 0x80000, "explicit piece 1",
	      "idx %u off %#x len %#x buf %llu", s.idx, s.obj_off, s.len,
	      (unsigned long long)s.buf_off);
	CHECK(sd_span_count(12345, 0, 22) == 0, "empty range has no pieces",
	      "got %u", sd_span_count(12345, 0, 22));
	CHECK(sd_span_whole(&(struct sd_span){ 3, 0, 1u << 22, 0 }, 22) &&
	      !sd_span_whole(&(struct sd_span){ 3, 0, (1u << 22) - 1, 0 }, 22) &&
	      !sd_span_whole(&(struct sd_span){ 3, 1, (1u << 22) - 1, 0 }, 22),
	      "whole-object test", "wrong");

	/* shift 31: 2 GiB objects, offsets beyond 4 GiB */
	sd_span_get((UINT64_C(5) << 31) - 10, 30, 31, 1, &s);
	CHECK(s.idx == 5 && s.obj_off == 0 && s.len == 20 && s.buf_off == 10,
	      "shift 31 second piece", "idx %u off %u len %u", s.idx,
	      s.obj_off, s.len);
	sd_span_get(UINT64_C(3) << 31, UINT64_C(1) << 31, 31, 0, &s);
	CHECK(s.len == UINT32_C(1) << 31 && sd_span_whole(&s, 31),
	      "shift 31 whole object length", "len %u", s.len);
}

static void test_last_object(void)
{
	char name[96], why[256];
	unsigned int shift;

	for (shift = SD_MIN_BLOCK_SHIFT; shift <= SD_MAX_BLOCK_SHIFT; shift++) {
		uint64_t S = UINT64_C(1) << shift;
		uint64_t size = 10 * S + S / 2 + 512;	/* not a multiple */
		uint64_t nr = sd_objs_for_size(size, shift);
		uint32_t n;
		struct sd_span s;

		snprintf(name, sizeof(name), "shift %u: object count rounds up",
			 shift);
		CHECK(nr == 11, name, "got %llu", (unsigned long long)nr);

		/* the tail of the disk: last 1.5 objects up to size */
		n = sd_span_count(size - S, S, shift);
		sd_span_get(size - S, S, shift, n - 1, &s);
		snprintf(name, sizeof(name), "shift %u: short last object",
			 shift);
		CHECK(n == 2 && s.idx == 10 && s.obj_off == 0 &&
		      s.len == S / 2 + 512 && !sd_span_whole(&s, shift), name,
		      "n %u idx %u off %u len %u", n, s.idx, s.obj_off, s.len);
		snprintf(name, sizeof(name), "shift %u: tail split", shift);
		why[0] = '\0';
		CHECK(!check_split(size - S, S, shift, why, sizeof(why)),
		      name, "%s", why);

		snprintf(name, sizeof(name), "shift %u: exact multiple", shift);
		CHECK(sd_objs_for_size(4 * S, shift) == 4 &&
		      sd_objs_for_size(4 * S + 1, shift) == 5 &&
		      sd_objs_for_size(0, shift) == 0, name, "wrong count");
	}
	/* the flat index limit: 4 TiB at shift 22 is exactly 2^20 objects */
	CHECK(sd_objs_for_size(UINT64_C(4) << 40, 22) == SD_MAX_DATA_OBJS &&
	      sd_objs_for_size((UINT64_C(4) << 40) + 1, 22) ==
	      SD_MAX_DATA_OBJS + 1, "2^20 object limit at 4 TiB",
	      "wrong count");
}

static void test_oids(void)
{
	CHECK(sd_vid_to_data_oid(0xabcdef, 5) == UINT64_C(0x00abcdef00000005),
	      "data oid", "%#llx",
	      (unsigned long long)sd_vid_to_data_oid(0xabcdef, 5));
	CHECK(sd_vid_to_data_oid(0x7c2b25, 0xfffff) ==
	      UINT64_C(0x007c2b25000fffff), "data oid of last index", "%#llx",
	      (unsigned long long)sd_vid_to_data_oid(0x7c2b25, 0xfffff));
	CHECK(sd_vid_to_vdi_oid(0xabcdef) == UINT64_C(0x80abcdef00000000),
	      "inode oid", "%#llx",
	      (unsigned long long)sd_vid_to_vdi_oid(0xabcdef));
	CHECK(sd_inode_index_offset(0) == 4664 &&
	      sd_inode_index_offset(7) == 4664 + 28 &&
	      sd_inode_index_offset(SD_MAX_DATA_OBJS - 1) + 4 ==
	      SD_INODE_REFRESH_SIZE, "index entry offsets", "%u",
	      sd_inode_index_offset(7));
	/* the object of a byte: offset 0x1234567 with 1 MiB objects */
	CHECK((UINT64_C(0x1234567) >> 20) == 0x12 &&
	      (UINT64_C(0x1234567) & ((1 << 20) - 1)) == 0x34567,
	      "byte to index and object offset", "wrong");
}

static void test_index_runs(void)
{
	/* 8 objects of 1 MiB, size 7.5 MiB: A A 0 0 0 A B 0(short) */
	uint32_t idx[8] = { 7, 7, 0, 0, 0, 7, 3, 0 };
	const unsigned int sh = 20;
	const uint64_t S = 1 << sh, size = 7 * S + S / 2;
	bool a = false;
	uint64_t r;

	r = sd_index_run(idx, 8, sh, size, 0, size, &a);
	CHECK(r == 2 * S && a, "run merges allocated neighbours",
	      "run %llu alloc %d", (unsigned long long)r, a);
	r = sd_index_run(idx, 8, sh, size, 100, size - 100, &a);
	CHECK(r == 2 * S - 100 && a, "run from unaligned offset",
	      "run %llu alloc %d", (unsigned long long)r, a);
	r = sd_index_run(idx, 8, sh, size, 2 * S, size - 2 * S, &a);
	CHECK(r == 3 * S && !a, "run merges holes", "run %llu alloc %d",
	      (unsigned long long)r, a);
	r = sd_index_run(idx, 8, sh, size, 5 * S, size - 5 * S, &a);
	CHECK(r == 2 * S && a, "owned and inherited are both allocated",
	      "run %llu alloc %d", (unsigned long long)r, a);
	r = sd_index_run(idx, 8, sh, size, 7 * S + 10, S, &a);
	CHECK(r == S / 2 - 10 && !a, "run stops at the VDI size",
	      "run %llu alloc %d", (unsigned long long)r, a);
	r = sd_index_run(idx, 8, sh, size, 2 * S + 5, 1000, &a);
	CHECK(r == 1000 && !a, "run limited by len", "run %llu alloc %d",
	      (unsigned long long)r, a);
	r = sd_index_run(idx, 8, sh, size, S, 1, &a);
	CHECK(r == 1 && a, "one-byte run", "run %llu", (unsigned long long)r);
	r = sd_index_run(idx, 8, sh, size, size, 10, &a);
	CHECK(r == 0, "run at the end is empty", "run %llu",
	      (unsigned long long)r);
}

int main(void)
{
	test_split_all_shifts();
	test_split_explicit();
	test_last_object();
	test_oids();
	test_index_runs();
	return t_exit();
}
