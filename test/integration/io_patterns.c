// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * io_patterns - write data patterns across object boundaries and read them
 * back.  Usage: io_patterns ADDR VDI SHIFT SIZE_MIB [DUMPDIR]
 *
 * Creates VDI with block_size_shift SHIFT (0 = cluster default), writes
 * patterns straddling two and three objects at unaligned offsets, single
 * bytes, multi-iovec async writes, overwrites inside earlier writes and the
 * last bytes of the VDI, keeps an exact in-memory copy of the disk, and
 * compares every written region (with margins), a full scan of the VDI and,
 * after a reopen, the regions again.  Out-of-range requests must fail.
 * With DUMPDIR, each region's expected bytes go to DUMPDIR/N.bin and a line
 * "N OFFSET LEN" to DUMPDIR/list, so the shell driver can compare
 * `sdctl vdi read` output with them.
 */
/* itest: driven by io_patterns.sh and minisheep_workers.sh */

#include "itest.h"

struct region {
	uint64_t off;
	uint64_t len;
	const char *what;
};

#define MAX_REGIONS 32

static struct region regions[MAX_REGIONS];
static int nr_regions;
static uint8_t *shadow;		/* the whole VDI as it must read */
static uint64_t vdi_size;
static char prefix[64];

static const char *cname(const char *what)
{
	return it_name(prefix, what);
}

static void add_region(uint64_t off, uint64_t len, const char *what)
{
	if (nr_regions < MAX_REGIONS) {
		regions[nr_regions].off = off;
		regions[nr_regions].len = len;
		regions[nr_regions].what = what;
		nr_regions++;
	}
}

/* synchronous patterned write, mirrored into the shadow */
static void do_write(struct sd_vdi *v, uint64_t off, uint64_t len,
		     uint64_t seed, const char *what)
{
	it_write_pat(v, off, len, seed, shadow, cname(what));
	add_region(off, len, what);
}

/* async write of one buffer cut into three iovecs of odd sizes */
static void do_aio_write3(struct sd_vdi *v, uint64_t off, uint64_t len,
			  uint64_t seed, const char *what)
{
	struct it_aio w = IT_AIO_INIT;
	uint8_t *buf = it_alloc(len);
	struct iovec iov[3];
	uint64_t a = len / 3 + 1, b = len / 3 + 7;
	int ret;

	it_pat_fill(buf, len, off, seed);
	iov[0].iov_base = buf;
	iov[0].iov_len = a;
	iov[1].iov_base = buf + a;
	iov[1].iov_len = b;
	iov[2].iov_base = buf + a + b;
	iov[2].iov_len = len - a - b;
	ret = sd_vdi_aio_write(v, iov, 3, off, 0, it_aio_done, &w);
	if (!ret)
		ret = it_aio_wait(&w);
	CHECK(ret == 0, cname(what), "aio_write 3 iovecs (off=%" PRIu64
	      ", len=%" PRIu64 ") = %d: %s", off, len, ret, sd_get_error());
	if (!ret)
		memcpy(shadow + off, buf, len);
	add_region(off, len, what);
	free(buf);
}

/* async read of a region with margins into two iovecs */
static int verify_range_aio2(struct sd_vdi *v, uint64_t off, uint64_t len,
			     char *why, size_t whylen)
{
	struct it_aio w = IT_AIO_INIT;
	uint8_t *buf = it_alloc(len);
	struct iovec iov[2];
	int ret;

	memset(buf, 0x5a, len);
	iov[0].iov_base = buf;
	iov[0].iov_len = len / 2 + 3;
	iov[1].iov_base = buf + len / 2 + 3;
	iov[1].iov_len = len - (len / 2 + 3);
	ret = sd_vdi_aio_read(v, iov, 2, off, it_aio_done, &w);
	if (!ret)
		ret = it_aio_wait(&w);
	if (ret)
		snprintf(why, whylen, "aio_read 2 iovecs = %d: %s", ret,
			 sd_get_error());
	else if (memcmp(buf, shadow + off, len)) {
		snprintf(why, whylen, "aio_read data differs");
		ret = -1;
	}
	free(buf);
	return ret;
}

static void verify_regions(struct sd_vdi *v, const char *when)
{
	char why[256], name[160];
	int i, bad = 0;

	for (i = 0; i < nr_regions; i++) {
		uint64_t a = regions[i].off, b = a + regions[i].len;

		a = a > 8192 ? a - 8192 : 0;
		b = b + 8192 < vdi_size ? b + 8192 : vdi_size;
		snprintf(name, sizeof(name), "%s read back %s", when,
			 regions[i].what);
		if (it_read_compare(v, shadow, a, b - a, why, sizeof(why))) {
			CHECK(0, cname(name), "%s", why);
			bad++;
		} else {
			CHECK(1, cname(name), " ");
		}
	}
	(void)bad;
}

static void full_scan(struct sd_vdi *v, const char *when)
{
	uint64_t chunk = 4 * IT_MIB, off;
	char why[256] = "", name[96];
	int ret = 0;

	for (off = 0; off < vdi_size; off += chunk) {
		uint64_t n = vdi_size - off < chunk ? vdi_size - off : chunk;

		ret = it_read_compare(v, shadow, off, n, why, sizeof(why));
		if (ret)
			break;
	}
	snprintf(name, sizeof(name), "%s full scan equals model", when);
	CHECK(ret == 0, cname(name), "%s", why);
}

static void dump_regions(const char *dir)
{
	char path[512];
	FILE *list, *f;
	int i;

	snprintf(path, sizeof(path), "%s/list", dir);
	list = fopen(path, "w");
	if (!list)
		it_die(cname("dump"), "cannot write %s", path);
	for (i = 0; i < nr_regions; i++) {
		snprintf(path, sizeof(path), "%s/%d.bin", dir, i);
		f = fopen(path, "w");
		if (!f || fwrite(shadow + regions[i].off, 1, regions[i].len,
				 f) != regions[i].len)
			it_die(cname("dump"), "cannot write %s", path);
		fclose(f);
		fprintf(list, "%d %" PRIu64 " %" PRIu64 " %s\n", i,
			regions[i].off, regions[i].len, regions[i].what);
	}
	fclose(list);
}

int main(int argc, char **argv)
{
	struct sd_client *c;
	struct sd_vdi *v = NULL;
	uint64_t S, run;
	uint32_t vid = 0;
	unsigned int shift;
	bool alloc;
	uint8_t byte;
	int ret;

	it_usage(argc >= 5, argv[0], "ADDR VDI SHIFT SIZE_MIB [DUMPDIR]");
	shift = atoi(argv[3]);
	vdi_size = strtoull(argv[4], NULL, 0) * IT_MIB;
	snprintf(prefix, sizeof(prefix), "patterns[shift %u]",
		 shift ? shift : SD_DEFAULT_BLOCK_SHIFT);

	c = it_client(argv[1], 0, 10000);
	v = it_create_open(c, argv[2], vdi_size, shift, SD_LOCK_NORMAL, prefix,
			   &vid);
	CHECK(vid != 0, cname("create returns a vid"), "vid 0");
	S = sd_vdi_object_size(v);
	CHECK(sd_vdi_size(v) == vdi_size, cname("size"), "size %" PRIu64
	      ", expected %" PRIu64, sd_vdi_size(v), vdi_size);
	CHECK(S == (1ULL << (shift ? shift : SD_DEFAULT_BLOCK_SHIFT)),
	      cname("object size"), "object size %" PRIu64, S);
	CHECK(sd_vdi_vid(v) == vid, cname("open vid"), "vid %u, create said %u",
	      sd_vdi_vid(v), vid);
	CHECK(!sd_vdi_readonly(v), cname("working VDI is writable"), " ");
	if (vdi_size < 10 * S)
		it_die(cname("size"), "VDI must hold at least 10 objects");

	shadow = it_alloc(vdi_size);

	do_write(v, S - 1000, 3001, 11, "straddle 2 objects, unaligned");
	do_write(v, 3 * S - 12345, S + 12345 + 20003, 12,
		 "straddle 3 objects, unaligned");
	do_write(v, 5 * S + 1, 1, 13, "one byte at object+1");
	do_write(v, 5 * S + 511, 2, 14, "two bytes across a sector");
	do_write(v, 5 * S - 1, 2, 15, "two bytes across an object boundary");
	do_write(v, S - 100, 250, 16, "overwrite inside earlier write");
	do_aio_write3(v, 6 * S - 70001, 140003, 17,
		      "async 3-iovec write across a boundary");
	do_write(v, vdi_size - 1, 1, 18, "last byte of the VDI");
	do_write(v, vdi_size - 4097 - 10, 4097, 19, "tail of the VDI");
	do_write(v, vdi_size - S - 3, S + 3, 20,
		 "last object plus 3 bytes before it");

	/* out of range: refused, and nothing written */
	byte = 0xff;
	ret = sd_vdi_pwrite(v, &byte, 1, vdi_size, 0);
	CHECK(ret < 0, cname("write at size is refused"), "returned %d", ret);
	ret = sd_vdi_pwrite(v, &byte, 2, vdi_size - 1, 0);
	CHECK(ret < 0, cname("write crossing the end is refused"),
	      "returned %d", ret);
	ret = sd_vdi_pread(v, &byte, 1, vdi_size);
	CHECK(ret < 0, cname("read at size is refused"), "returned %d", ret);

	verify_regions(v, "sync");
	{
		char why[256] = "";
		uint64_t a = 6 * S - 70001 - 4096;

		ret = verify_range_aio2(v, a, 140003 + 8192, why, sizeof(why));
		CHECK(ret == 0, cname("async 2-iovec read across a boundary"),
		      "%s", why);
	}
	full_scan(v, "before reopen:");

	ret = sd_vdi_block_status(v, 7 * S, S, &run, &alloc);
	CHECK(ret == 0 && !alloc && run == S,
	      cname("untouched object is unallocated"),
	      "ret %d allocated %d run %" PRIu64, ret, alloc, run);
	ret = sd_vdi_block_status(v, 3 * S + 5, 3 * S, &run, &alloc);
	/* the run ends at an object boundary or at the length asked */
	CHECK(ret == 0 && alloc && run >= S - 5 && run <= 3 * S &&
	      (run == 3 * S || (run - (S - 5)) % S == 0),
	      cname("written object is allocated, run ends at a boundary"),
	      "ret %d allocated %d run %" PRIu64, ret, alloc, run);

	sd_vdi_close(v);
	v = NULL;
	ret = it_open(c, argv[2], NULL, 0, SD_LOCK_NORMAL, &v);
	if (ret)
		it_die(cname("reopen"), "sd_vdi_open(%s) = %d: %s", argv[2],
		       ret, sd_get_error());
	verify_regions(v, "after reopen");
	full_scan(v, "after reopen:");
	ret = sd_vdi_block_status(v, 2 * S, S, &run, &alloc);
	CHECK(ret == 0 && alloc && run == S,
	      cname("after reopen the index shows the allocation"),
	      "ret %d allocated %d run %" PRIu64, ret, alloc, run);
	sd_vdi_close(v);

	if (argc > 5)
		dump_regions(argv[5]);
	free(shadow);
	sd_client_free(c);
	return t_exit();
}
