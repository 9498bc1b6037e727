// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_bs_sheepdog_cdb.c - unit test of the module's pure SCSI helpers
 * (usr/bs_sheepdog_cdb.c): the UNMAP parameter-list parser (good lists,
 * truncated lists, bad lengths, ranges past the end), LBA and block-count
 * decoding of 6/10/12/16-byte CDBs, the FUA decision, the zero-block test
 * and the errno-to-sense table.  Tables of cases where the cases differ
 * only in data, one small function per case otherwise.  tgtd's
 * find_mode_page and log_debug are stubbed.
 */
#include <errno.h>
#include <stdarg.h>

#include "../../usr/bs_sheepdog_cdb.c"
#include "tap.h"

/* ---- tgtd stubs -------------------------------------------------------- */

int is_debug;

/* what find_mode_page() answers for the caching page (NULL: no page) */
static struct tgt_mode_pg *caching_pg;

struct tgt_mode_pg *find_mode_page(struct tgt_scsi_lu *lu, uint8_t page,
				   uint8_t subpage)
{
	(void)lu;
	return page == TGT_MODE_PG_CACHING && !subpage ? caching_pg : NULL;
}

void log_debug(const char *fmt, ...)
{
	(void)fmt;
}

/* ---- UNMAP parameter list ---------------------------------------------- */

#define CAP		1000	/* LU capacity in blocks */
#define MAX_DESC	3

struct unmap_desc {
	uint64_t lba;
	uint32_t count;
};

struct unmap_case {
	const char *name;
	uint32_t buflen;	/* bytes of the list given to the parser */
	uint16_t bd_len;	/* the header's block descriptor data length */
	unsigned int nr_desc;	/* descriptors written into the buffer */
	struct unmap_desc desc[MAX_DESC];
	int ret;		/* 0, or -1 with key/asc */
	uint8_t key;
	uint16_t asc;
	unsigned int nr;	/* byte ranges expected (512-byte blocks) */
	struct bs_sd_range want[MAX_DESC];
};

#define RANGE(lba, count)	{ (lba) * 512ULL, (count) * 512ULL }
#define BAD(key, asc)		-1, TGT_SK_##key, TGT_ASC_##asc

static const struct unmap_case unmap_cases[] = {
	{ "unmap-empty-list", 0, 0, 0, { { 0, 0 } }, 0, 0, 0, 0, { { 0, 0 } } },
	{ "unmap-header-only", 8, 0, 0, { { 0, 0 } }, 0, 0, 0, 0, { { 0, 0 } } },
	{ "unmap-one", 24, 16, 1, { { 10, 5 } }, 0, 0, 0,
	  1, { RANGE(10, 5) } },
	{ "unmap-three", 56, 48, 3, { { 0, 1 }, { 500, 20 }, { 7, 3 } },
	  0, 0, 0, 3, { RANGE(0, 1), RANGE(500, 20), RANGE(7, 3) } },
	{ "unmap-up-to-the-end", 24, 16, 1, { { 990, 10 } }, 0, 0, 0,
	  1, { RANGE(990, 10) } },
	{ "unmap-whole-lu", 24, 16, 1, { { 0, CAP } }, 0, 0, 0,
	  1, { RANGE(0, CAP) } },
	/* a zero count does nothing, wherever it points */
	{ "unmap-count-zero-skipped", 40, 32, 2, { { 5000, 0 }, { 1, 1 } },
	  0, 0, 0, 1, { RANGE(1, 1) } },
	/* truncated lists: only the whole descriptors that arrived count */
	{ "unmap-bd-len-past-the-list", 24, 48, 1, { { 3, 4 } }, 0, 0, 0,
	  1, { RANGE(3, 4) } },
	{ "unmap-truncated-descriptor", 18, 16, 1, { { 3, 4 } }, 0, 0, 0,
	  0, { { 0, 0 } } },
	{ "unmap-truncated-second", 30, 32, 2, { { 3, 4 }, { 9, 9 } }, 0, 0, 0,
	  1, { RANGE(3, 4) } },
	{ "unmap-bd-len-not-multiple", 40, 20, 2, { { 3, 4 }, { 9, 9 } },
	  0, 0, 0, 1, { RANGE(3, 4) } },
	{ "unmap-bd-len-zero", 24, 0, 1, { { 3, 4 } }, 0, 0, 0,
	  0, { { 0, 0 } } },
	/* bad lengths */
	{ "unmap-short-header-1", 1, 0, 0, { { 0, 0 } },
	  BAD(ILLEGAL_REQUEST, PARAM_LIST_LENGTH), 0, { { 0, 0 } } },
	{ "unmap-short-header-7", 7, 0, 0, { { 0, 0 } },
	  BAD(ILLEGAL_REQUEST, PARAM_LIST_LENGTH), 0, { { 0, 0 } } },
	/* ranges past the end */
	{ "unmap-past-the-end", 24, 16, 1, { { 995, 10 } },
	  BAD(ILLEGAL_REQUEST, LBA_OUT_OF_RANGE), 0, { { 0, 0 } } },
	{ "unmap-lba-at-the-end", 24, 16, 1, { { CAP, 1 } },
	  BAD(ILLEGAL_REQUEST, LBA_OUT_OF_RANGE), 0, { { 0, 0 } } },
	{ "unmap-lba-beyond", 24, 16, 1, { { CAP + 1, 1 } },
	  BAD(ILLEGAL_REQUEST, LBA_OUT_OF_RANGE), 0, { { 0, 0 } } },
	{ "unmap-count-beyond", 24, 16, 1, { { 0, CAP + 1 } },
	  BAD(ILLEGAL_REQUEST, LBA_OUT_OF_RANGE), 0, { { 0, 0 } } },
	{ "unmap-lba-wraps", 24, 16, 1, { { UINT64_MAX, 2 } },
	  BAD(ILLEGAL_REQUEST, LBA_OUT_OF_RANGE), 0, { { 0, 0 } } },
	{ "unmap-second-past-the-end", 40, 32, 2, { { 1, 1 }, { 999, 2 } },
	  BAD(ILLEGAL_REQUEST, LBA_OUT_OF_RANGE), 0, { { 0, 0 } } },
};

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v & 0xffff);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, v & 0xffffffff);
}

/* an UNMAP parameter list: header, then @nr descriptors */
static void build_unmap_list(uint8_t *buf, size_t size, uint16_t bd_len,
			     const struct unmap_desc *d, unsigned int nr)
{
	unsigned int i;

	memset(buf, 0, size);
	put_be16(buf, 6 + bd_len);	/* unmap data length */
	put_be16(buf + 2, bd_len);
	for (i = 0; i < nr; i++) {
		put_be64(buf + 8 + 16 * i, d[i].lba);
		put_be32(buf + 8 + 16 * i + 8, d[i].count);
	}
}

static bool ranges_equal(const struct bs_sd_range *a,
			 const struct bs_sd_range *b, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (a[i].off != b[i].off || a[i].len != b[i].len)
			return false;
	return true;
}

/* what *ranges holds before the call: the parser must overwrite it */
static struct bs_sd_range not_set;

static void check_unmap_case(const struct unmap_case *c)
{
	uint8_t buf[8 + 16 * MAX_DESC];
	struct bs_sd_range *r = &not_set;
	unsigned int nr = 99;
	uint8_t key = 0;
	uint16_t asc = 0;
	int ret;

	build_unmap_list(buf, sizeof(buf), c->bd_len, c->desc, c->nr_desc);
	ret = bs_sd_unmap_parse(buf, c->buflen, CAP, 9, &r, &nr, &key, &asc);
	if (c->ret) {
		CHECK(ret == c->ret && key == c->key && asc == c->asc && !r,
		      c->name, "ret %d sense %x/%04x ranges %p, want %d %x/%04x",
		      ret, key, asc, (void *)r, c->ret, c->key, c->asc);
	} else {
		CHECK(ret == 0 && nr == c->nr && (nr == 0 || r) &&
		      ranges_equal(r, c->want, c->nr), c->name,
		      "ret %d (sense %x/%04x) nr %u, want %u", ret, key, asc,
		      nr, c->nr);
	}
	if (r != &not_set)
		free(r);
}

static void test_unmap_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(unmap_cases) / sizeof(unmap_cases[0]); i++)
		check_unmap_case(&unmap_cases[i]);
}

/* 4 KiB blocks: LBAs and counts scale by the LU's block size */
static void test_unmap_blk_shift(void)
{
	const struct unmap_desc d[] = { { 3, 2 } };
	uint8_t buf[24];
	struct bs_sd_range *r = NULL;
	unsigned int nr = 0;
	uint8_t key = 0;
	uint16_t asc = 0;
	int ret;

	build_unmap_list(buf, sizeof(buf), 16, d, 1);
	ret = bs_sd_unmap_parse(buf, sizeof(buf), CAP, 12, &r, &nr, &key,
				&asc);
	CHECK(ret == 0 && nr == 1 && r && r[0].off == 3 * 4096 &&
	      r[0].len == 2 * 4096, "unmap-4k-blocks",
	      "ret %d nr %u off %llu len %llu", ret, nr,
	      r ? (unsigned long long)r[0].off : 0ULL,
	      r ? (unsigned long long)r[0].len : 0ULL);
	free(r);
}

/* ---- LBA and block count ----------------------------------------------- */

struct cdb_case {
	const char *name;
	uint8_t cdb[16];
	uint64_t lba;
	uint32_t blocks;
};

static const struct cdb_case cdb_cases[] = {
	{ "cdb-read6", { TGT_OP_READ_6, 0x01, 0x02, 0x03, 0x10 },
	  0x010203, 16 },
	{ "cdb-read6-21-bit-lba", { TGT_OP_READ_6, 0xff, 0xff, 0xff, 1 },
	  0x1fffff, 1 },
	{ "cdb-write6-zero-is-256", { TGT_OP_WRITE_6, 0, 0, 7, 0 }, 7, 256 },
	{ "cdb-read10", { TGT_OP_READ_10, 0, 0x12, 0x34, 0x56, 0x78, 0,
			  0xab, 0xcd }, 0x12345678, 0xabcd },
	{ "cdb-write10-fua-ignored", { TGT_OP_WRITE_10, TGT_CDB1_FUA,
				       0, 0, 0, 9, 0, 0, 2 }, 9, 2 },
	{ "cdb-verify10", { TGT_OP_VERIFY_10, 0, 0xff, 0xff, 0xff, 0xff, 0,
			    0xff, 0xff }, 0xffffffff, 0xffff },
	{ "cdb-write-same10", { TGT_OP_WRITE_SAME_10, 0, 0, 0, 1, 0, 0,
				0, 0 }, 256, 0 },
	{ "cdb-read12", { TGT_OP_READ_12, 0, 0, 0, 0x10, 0, 0x01, 0x02,
			  0x03, 0x04 }, 0x1000, 0x01020304 },
	{ "cdb-write-verify12", { TGT_OP_WRITE_VERIFY_12, 0, 0xde, 0xad,
				  0xbe, 0xef, 0, 0, 0, 8 }, 0xdeadbeef, 8 },
	{ "cdb-read16", { TGT_OP_READ_16, 0, 0x01, 0x02, 0x03, 0x04, 0x05,
			  0x06, 0x07, 0x08, 0xff, 0xff, 0xff, 0xfe },
	  0x0102030405060708ULL, 0xfffffffe },
	{ "cdb-write-same16", { TGT_OP_WRITE_SAME_16, 0, 0xff, 0xff, 0xff,
				0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x10 },
	  UINT64_MAX, 0x1000 },
	{ "cdb-orwrite16", { TGT_OP_ORWRITE_16, 0, 0, 0, 0, 1, 0, 0, 0, 0,
			     0, 0, 0, 3 }, 1ULL << 32, 3 },
	/* groups 3, 6 and 7 have no LBA here */
	{ "cdb-group3", { 0x7e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			  0xff, 0xff, 0xff, 0xff, 0xff }, 0, 0 },
	{ "cdb-group6", { 0xc0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			  0xff, 0xff, 0xff, 0xff, 0xff }, 0, 0 },
	{ "cdb-group7", { 0xe0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			  0xff, 0xff, 0xff, 0xff, 0xff }, 0, 0 },
};

static void test_cdb_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(cdb_cases) / sizeof(cdb_cases[0]); i++) {
		const struct cdb_case *c = &cdb_cases[i];
		uint64_t lba = bs_sd_cdb_lba(c->cdb);
		uint32_t blocks = bs_sd_cdb_blocks(c->cdb);

		CHECK(lba == c->lba && blocks == c->blocks, c->name,
		      "lba %#llx blocks %u, want %#llx %u",
		      (unsigned long long)lba, blocks,
		      (unsigned long long)c->lba, c->blocks);
	}
}

/* ---- FUA --------------------------------------------------------------- */

static struct tgt_scsi_lu *test_lu;
static struct tgt_mode_pg *test_caching;

static bool needs_fua(int bsoflags, bool have_page, bool wce,
		      const uint8_t *cdb)
{
	test_lu->bsoflags = bsoflags;
	test_caching->data[0] = wce ? TGT_CACHING_WCE : 0;
	caching_pg = have_page ? test_caching : NULL;
	return bs_sd_write_needs_fua(test_lu, cdb);
}

static const uint8_t write10[10] = { TGT_OP_WRITE_10 };
static const uint8_t write10_fua[10] = { TGT_OP_WRITE_10, TGT_CDB1_FUA };
static const uint8_t write16_fua[16] = { TGT_OP_WRITE_16, TGT_CDB1_FUA };
/* in WRITE 6, bit 3 of byte 1 is an LBA bit, not FUA */
static const uint8_t write6_lba8[6] = { TGT_OP_WRITE_6, 0x08 };

static void test_fua_cache_on(void)
{
	CHECK(!needs_fua(0, true, true, write10), "fua-write-back",
	      "a plain WRITE 10 with the write cache on needs FUA");
}

static void test_fua_no_caching_page(void)
{
	CHECK(!needs_fua(0, false, false, write10), "fua-no-caching-page",
	      "without a caching page a plain write needs FUA");
}

static void test_fua_bit(void)
{
	CHECK(needs_fua(0, true, true, write10_fua) &&
	      needs_fua(0, true, true, write16_fua), "fua-bit",
	      "the FUA bit of WRITE 10/16 is ignored");
}

static void test_fua_write6(void)
{
	CHECK(!needs_fua(0, true, true, write6_lba8), "fua-write6-lba-bit",
	      "an LBA bit of WRITE 6 is read as FUA");
}

static void test_fua_wce_clear(void)
{
	CHECK(needs_fua(0, true, false, write10), "fua-wce-clear",
	      "write cache off (WCE clear) does not force FUA");
}

static void test_fua_bsoflags_sync(void)
{
	CHECK(needs_fua(O_SYNC, true, true, write10) &&
	      needs_fua(O_SYNC, true, true, write6_lba8), "fua-bsoflags-sync",
	      "--bsoflags sync does not force FUA");
}

/* ---- zero block -------------------------------------------------------- */

static void test_is_zero(void)
{
	uint8_t b[512] = { 0 };
	bool empty, zero, last, first, ones;

	empty = bs_sd_is_zero(b, 0);
	zero = bs_sd_is_zero(b, sizeof(b));
	b[511] = 1;
	last = bs_sd_is_zero(b, sizeof(b));
	b[511] = 0;
	b[0] = 1;
	first = bs_sd_is_zero(b, sizeof(b));
	memset(b, 0xff, sizeof(b));
	ones = bs_sd_is_zero(b, sizeof(b));
	CHECK(empty && zero && !last && !first && !ones, "is-zero",
	      "empty %d zero %d last-byte-set %d first-byte-set %d all-ones %d",
	      empty, zero, last, first, ones);
}

/* ---- errno to sense ---------------------------------------------------- */

struct sense_case {
	const char *name;
	int err;
	enum bs_sd_dir dir;
	uint8_t key;
	uint16_t asc;
};

#define R BS_SD_DIR_READ
#define W BS_SD_DIR_WRITE
/* one class of errno each: the case is named after the errno */
#define PATH(e, d) { "sense-" #e, -e, d, TGT_SK_ABORTED_COMMAND, \
		     TGT_ASC_LU_COMM_FAILURE }
#define FULL(e, d) { "sense-" #e, -e, d, TGT_SK_DATA_PROTECT, \
		     TGT_ASC_SPACE_ALLOC_FAILED_WP }
#define WPROT(e, d) { "sense-" #e, -e, d, TGT_SK_DATA_PROTECT, \
		      TGT_ASC_WRITE_PROTECT }
#define LBA(e, d) { "sense-" #e, -e, d, TGT_SK_ILLEGAL_REQUEST, \
		    TGT_ASC_LBA_OUT_OF_RANGE }
#define MEDIUM(e, d, asc) { "sense-" #e "-" #d, -e, d, \
			    TGT_SK_MEDIUM_ERROR, TGT_ASC_##asc }

static const struct sense_case sense_cases[] = {
	/* a lost or slow sheep is a path problem: retry or fail over */
	PATH(ETIMEDOUT, R), PATH(ECONNRESET, W), PATH(ECONNREFUSED, R),
	PATH(ECONNABORTED, W), PATH(ECANCELED, R), PATH(EHOSTUNREACH, W),
	PATH(EHOSTDOWN, R), PATH(ENETUNREACH, W), PATH(ENETDOWN, R),
	PATH(ENOTCONN, W), PATH(EPIPE, R), PATH(ENOMEM, W), PATH(EAGAIN, R),
	/* a full cluster, a read-only VDI */
	FULL(ENOSPC, W), FULL(EDQUOT, W),
	WPROT(EROFS, W), WPROT(EPERM, R), WPROT(EACCES, W),
	LBA(EINVAL, R), LBA(ERANGE, W),
	/* anything else: a medium error of the direction concerned */
	MEDIUM(EIO, R, READ_ERROR), MEDIUM(EIO, W, WRITE_ERROR),
	MEDIUM(EPROTO, R, READ_ERROR), MEDIUM(ENOENT, W, WRITE_ERROR),
	MEDIUM(ESTALE, W, WRITE_ERROR),
};

static void test_sense_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(sense_cases) / sizeof(sense_cases[0]); i++) {
		const struct sense_case *c = &sense_cases[i];
		uint8_t key = 0xff;
		uint16_t asc = 0xffff;

		bs_sd_errno_to_sense(c->err, c->dir, &key, &asc);
		CHECK(key == c->key && asc == c->asc, c->name,
		      "sense %x/%04x, want %x/%04x", key, asc, c->key, c->asc);
	}
}

int main(void)
{
	test_lu = calloc(1, sizeof(*test_lu));
	test_caching = calloc(1, sizeof(*test_caching) + 20);
	if (!test_lu || !test_caching) {
		t_skip("cdb", "out of memory");
		return 1;
	}

	test_unmap_table();
	test_unmap_blk_shift();
	test_cdb_table();
	test_fua_cache_on();
	test_fua_no_caching_page();
	test_fua_bit();
	test_fua_write6();
	test_fua_wce_clear();
	test_fua_bsoflags_sync();
	test_is_zero();
	test_sense_table();

	free(test_lu);
	free(test_caching);
	return t_exit();
}
