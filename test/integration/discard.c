// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * discard - discard and zeroing read back as zeros.
 * Usage: discard ADDR VDI
 *
 * Fills objects 0-4 with a pattern, then: discards whole objects (they read
 * as zeros and are deallocated, also in a reopened handle's index), discards
 * part of an object (zeroed range, neighbours intact, object stays
 * allocated), discards a range straddling two objects partially, discards
 * an unallocated range (stays unallocated), zeroes without UNMAP (allocates,
 * reads zeros), zeroes with UNMAP, and runs an async discard.  Everything is
 * compared with an exact in-memory model, before and after a reopen.
 */
#include "itest.h"

#define VDI_SIZE	(64 * IT_MIB)

static uint8_t *shadow;
static uint64_t S;

static void model_zero(uint64_t off, uint64_t len)
{
	memset(shadow + off, 0, len);
}

static void check_range(struct sd_vdi *v, const char *name, uint64_t off,
			uint64_t len)
{
	char why[256] = "";

	CHECK(it_read_compare(v, shadow, off, len, why, sizeof(why)) == 0, name,
	      "%s", why);
}

static void check_alloc(struct sd_vdi *v, const char *name, uint64_t obj,
			bool want)
{
	uint64_t run = 0;
	bool alloc = !want;
	int ret;

	ret = sd_vdi_block_status(v, obj * S, S, &run, &alloc);
	CHECK(ret == 0 && alloc == want && run == S, name,
	      "block_status(object %" PRIu64 ") = %d allocated %d run %"
	      PRIu64 ", expected allocated %d run %" PRIu64, obj, ret, alloc,
	      run, want, S);
}

static void do_discard(struct sd_vdi *v, const char *name, uint64_t off,
		       uint64_t len)
{
	int ret = sd_vdi_discard(v, off, len);

	CHECK(ret == 0, name, "sd_vdi_discard(%" PRIu64 ", %" PRIu64
	      ") = %d: %s", off, len, ret, sd_get_error());
	if (!ret)
		model_zero(off, len);
}

/* what check_all() expects of each object after the steps of main() */
static const struct {
	uint64_t obj;
	bool allocated;
	const char *what;
} final_alloc[] = {
	{ 1, false, "whole discard deallocated object 1" },
	{ 2, true, "rewrite reallocated object 2" },
	{ 0, true, "partly discarded object 0 stays allocated" },
	{ 3, true, "partly discarded object 3 stays allocated" },
	{ 10, false, "discard of a hole keeps object 10 unallocated" },
	{ 8, true, "zero without UNMAP allocated object 8" },
	{ 6, false, "async discard deallocated object 6" },
	{ 7, false, "zero with UNMAP deallocated object 7" },
};

static void check_all(struct sd_vdi *v, const char *when)
{
	char name[128];
	size_t i;

	snprintf(name, sizeof(name), "discard: %s objects 0-12 equal the model",
		 when);
	check_range(v, name, 0, 13 * S);
	for (i = 0; i < sizeof(final_alloc) / sizeof(final_alloc[0]); i++) {
		snprintf(name, sizeof(name), "discard: %s %s", when,
			 final_alloc[i].what);
		check_alloc(v, name, final_alloc[i].obj,
			    final_alloc[i].allocated);
	}
}

int main(int argc, char **argv)
{
	struct it_aio w = IT_AIO_INIT;
	struct sd_client *c;
	struct sd_vdi *v = NULL;
	int ret;

	it_usage(argc >= 3, argv[0], "ADDR VDI");
	c = it_client(argv[1], 0, 10000);
	v = it_create_open(c, argv[2], VDI_SIZE, 0, SD_LOCK_NORMAL, "discard",
			   NULL);
	S = sd_vdi_object_size(v);
	if (VDI_SIZE < 16 * S)
		it_die("discard: size", "object size %" PRIu64 " too large", S);
	shadow = it_alloc(VDI_SIZE);

	/* objects 0-4 and 6-7 full of data, object 5 untouched */
	it_write_pat(v, 0, 5 * S, 7, shadow, "discard: fill objects 0-4");
	it_write_pat(v, 6 * S, 2 * S, 8, shadow, "discard: fill objects 6-7");

	do_discard(v, "discard: whole objects 1-2", S, 2 * S);
	check_range(v, "discard: objects 1-2 read zeros, neighbours intact",
		    S - 4096, 2 * S + 8192);
	check_alloc(v, "discard: object 1 deallocated", 1, false);
	check_alloc(v, "discard: object 2 deallocated", 2, false);

	do_discard(v, "discard: part of object 0", S / 2 - 1000, 4000 + 33);
	check_range(v, "discard: partial range zero, neighbours intact", 0, S);
	check_alloc(v, "discard: partly discarded object stays allocated", 0,
		    true);

	do_discard(v, "discard: straddling objects 3 and 4 partially",
		   3 * S + S / 2 + 7, S / 2 + 100);
	check_range(v, "discard: straddling range zero, neighbours intact",
		    3 * S, 2 * S);

	do_discard(v, "discard: range over unallocated objects", 10 * S,
		   2 * S);
	check_alloc(v, "discard: unallocated range stays unallocated", 10,
		    false);

	ret = sd_vdi_zero(v, 8 * S + 1, S - 1, 0);
	CHECK(ret == 0, "discard: zero without UNMAP", "= %d: %s", ret,
	      sd_get_error());
	check_alloc(v, "discard: zero without UNMAP allocates", 8, true);

	ret = sd_vdi_zero(v, 7 * S, S, SD_IO_UNMAP);
	CHECK(ret == 0, "discard: zero with UNMAP", "= %d: %s", ret,
	      sd_get_error());
	if (!ret)
		model_zero(7 * S, S);
	check_alloc(v, "discard: zero with UNMAP deallocates", 7, false);

	ret = sd_vdi_aio_discard(v, 6 * S, S, it_aio_done, &w);
	if (!ret)
		ret = it_aio_wait(&w);
	CHECK(ret == 0, "discard: async discard of object 6", "= %d: %s", ret,
	      sd_get_error());
	if (!ret)
		model_zero(6 * S, S);

	/* a write into a discarded object allocates it again */
	it_write_pat(v, 2 * S + 500, 1000, 9, shadow,
		     "discard: rewrite into a discarded object");
	check_range(v, "discard: rewritten object reads data and zeros",
		    2 * S, S);
	/* discard the rest around it again (partial, object stays) */
	do_discard(v, "discard: partial discard in the rewritten object",
		   2 * S + 700, 100);

	ret = sd_vdi_discard(v, VDI_SIZE - S, S + 512);
	CHECK(ret < 0, "discard: range past the end is refused", "returned %d",
	      ret);

	check_all(v, "before reopen:");
	sd_vdi_close(v);
	ret = it_open(c, argv[2], NULL, 0, SD_LOCK_NORMAL, &v);
	if (ret)
		it_die("discard: reopen", "sd_vdi_open = %d: %s", ret,
		       sd_get_error());
	check_all(v, "after reopen:");
	sd_vdi_close(v);
	sd_client_free(c);
	free(shadow);
	return t_exit();
}
