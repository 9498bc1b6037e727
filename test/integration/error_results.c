// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * error_results - sheep error results reach the caller as errnos, and the
 * handle stays usable.  Usage: error_results ADDR VDI, with IT_SHEEP_CTL
 * naming minisheep's control socket (see run_binary.sh); without it the
 * program skips.
 *
 * With minisheep's `error OP RESULT 1` one request fails:
 *   WRITE_OBJ NO_SPACE            a write to an allocated object -> -ENOSPC,
 *                                 the next write succeeds
 *   CREATE_AND_WRITE_OBJ NO_SPACE a first write -> -ENOSPC, the object stays
 *                                 unallocated, the retry allocates it
 *   READ_OBJ EIO                  a read -> -EIO, the next read succeeds
 *   READ_OBJ EIO (async)          the async done() gets -EIO
 * Data written before and after the failures reads back intact, also after
 * a reopen.
 */
#include "itest.h"

static const char *ctl_path;

static void ctl(const char *cmd)
{
	char ans[256];

	if (it_ctl(ctl_path, ans, sizeof(ans), "%s", cmd))
		it_die("errors: control", "'%s' -> '%s'", cmd, ans);
}

int main(int argc, char **argv)
{
	struct it_aio w = IT_AIO_INIT;
	struct sd_client *c;
	struct sd_vdi *v = NULL;
	uint8_t *buf, *rbuf;
	uint64_t S, run, len = 200000;
	struct iovec iov;
	bool alloc;
	int ret;

	it_usage(argc >= 3, argv[0], "ADDR VDI (IT_SHEEP_CTL: control socket)");
	ctl_path = getenv("IT_SHEEP_CTL");
	if (!ctl_path || !ctl_path[0]) {
		t_skip("errors: injected results",
		       "needs minisheep's fault controls (SHEEP_ADDR set)");
		return 0;
	}
	c = it_client(argv[1], 0, 10000);
	ctl("reset");
	v = it_create_open(c, argv[2], 64 * IT_MIB, 0, SD_LOCK_NORMAL,
			   "errors", NULL);
	S = sd_vdi_object_size(v);
	buf = it_alloc(len);
	rbuf = it_alloc(len);

	/* allocate object 0 (straddling into 1) with data A */
	it_pat_fill(buf, len, S - 1000, 1);
	ret = sd_vdi_pwrite(v, buf, len, S - 1000, 0);
	CHECK(ret == 0, "errors: initial write", "= %d: %s", ret,
	      sd_get_error());

	ctl("error WRITE_OBJ NO_SPACE 1");
	it_pat_fill(buf, 5000, 100, 2);
	ret = sd_vdi_pwrite(v, buf, 5000, 100, 0);
	CHECK(ret == -ENOSPC, "errors: WRITE_OBJ NO_SPACE -> -ENOSPC",
	      "returned %d: %s", ret, sd_get_error());
	CHECK(ret == 0 || sd_get_error()[0],
	      "errors: failed write leaves a message", "empty sd_get_error()");
	/* sheep failures are not retried: the next write succeeds */
	it_pat_fill(buf, 5000, 100, 3);
	ret = sd_vdi_pwrite(v, buf, 5000, 100, 0);
	CHECK(ret == 0, "errors: next write after NO_SPACE succeeds",
	      "= %d: %s", ret, sd_get_error());
	ret = sd_vdi_pread(v, rbuf, 5000, 100);
	CHECK(ret == 0 && it_pat_ok(rbuf, 5000, 100, 3),
	      "errors: data of the retried write reads back", "ret %d", ret);

	ctl("error CREATE_AND_WRITE_OBJ NO_SPACE 1");
	it_pat_fill(buf, 3000, 9 * S + 17, 4);
	ret = sd_vdi_pwrite(v, buf, 3000, 9 * S + 17, 0);
	CHECK(ret == -ENOSPC, "errors: CREATE_AND_WRITE_OBJ NO_SPACE -> "
	      "-ENOSPC", "returned %d: %s", ret, sd_get_error());
	ret = sd_vdi_block_status(v, 9 * S, S, &run, &alloc);
	CHECK(ret == 0 && !alloc, "errors: failed create leaves the object "
	      "unallocated", "ret %d allocated %d", ret, alloc);
	ret = sd_vdi_pread(v, rbuf, 3000, 9 * S + 17);
	CHECK(ret == 0 && it_pat_ok(rbuf, 3000, 9 * S + 17, 0),
	      "errors: failed create reads zeros", "ret %d", ret);
	ret = sd_vdi_pwrite(v, buf, 3000, 9 * S + 17, 0);
	CHECK(ret == 0, "errors: create succeeds on retry", "= %d: %s", ret,
	      sd_get_error());

	ctl("error READ_OBJ EIO 1");
	ret = sd_vdi_pread(v, rbuf, 4096, S - 500);
	CHECK(ret == -EIO, "errors: READ_OBJ EIO -> -EIO", "returned %d: %s",
	      ret, sd_get_error());
	ret = sd_vdi_pread(v, rbuf, 4096, S - 500);
	CHECK(ret == 0 && it_pat_ok(rbuf, 4096, S - 500, 1),
	      "errors: next read after EIO succeeds with the data",
	      "ret %d: %s", ret, sd_get_error());

	ctl("error READ_OBJ EIO 1");
	iov.iov_base = rbuf;
	iov.iov_len = 4096;
	ret = sd_vdi_aio_read(v, &iov, 1, S + 10, it_aio_done, &w);
	if (!ret)
		ret = it_aio_wait(&w);
	CHECK(ret == -EIO, "errors: async read gets -EIO in done()",
	      "got %d", ret);
	ctl("reset");

	/* everything still as written, also after a reopen */
	ret = sd_vdi_pread(v, rbuf, len, S - 1000);
	CHECK(ret == 0 && it_pat_ok(rbuf, len, S - 1000, 1),
	      "errors: earlier data intact", "ret %d", ret);
	sd_vdi_close(v);
	ret = it_open(c, argv[2], NULL, 0, SD_LOCK_NORMAL, &v);
	CHECK(ret == 0, "errors: reopen", "= %d: %s", ret, sd_get_error());
	if (!ret) {
		ret = sd_vdi_pread(v, rbuf, 5000, 100);
		CHECK(ret == 0 && it_pat_ok(rbuf, 5000, 100, 3),
		      "errors: retried write present after reopen", "ret %d",
		      ret);
		ret = sd_vdi_pread(v, rbuf, 3000, 9 * S + 17);
		CHECK(ret == 0 && it_pat_ok(rbuf, 3000, 9 * S + 17, 4),
		      "errors: retried create present after reopen", "ret %d",
		      ret);
		sd_vdi_close(v);
	}
	free(buf);
	free(rbuf);
	sd_client_free(c);
	return t_exit();
}
