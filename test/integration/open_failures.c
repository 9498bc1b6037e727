// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * open_failures - sd_vdi_open errors and VDI locking.
 * Usage: open_failures ADDR VDI, with IT_LOCK_SHEEP naming LOCKADDR
 *
 * Against ADDR: a missing VDI -> -ENOENT with a message naming it; a
 * missing tag or snapshot id of an existing VDI -> -ENOENT; an address with
 * no listener (a unix path nobody listens on) fails in under 2 s.
 * Against LOCKADDR (a minisheep started with --lock), when given: a second
 * normal lock of an open VDI fails with -EBUSY (from the same client and
 * from another one), a snapshot can still be opened (never locked), and
 * after close the lock is released so a reopen works.
 */
/* itest: locksheep */

#include <inttypes.h>

#include "itest.h"

static void missing(struct sd_client *c, const char *vdi)
{
	char name[300];
	struct sd_vdi *v = NULL;
	uint32_t vid;
	int ret;

	snprintf(name, sizeof(name), "%s-missing", vdi);
	ret = it_open(c, name, NULL, 0, SD_LOCK_NORMAL, &v);
	CHECK(ret == -ENOENT, "open: missing VDI -> -ENOENT", "returned %d: %s",
	      ret, sd_get_error());
	CHECK(ret && strstr(sd_get_error(), name),
	      "open: missing VDI message names it", "message '%s'",
	      sd_get_error());
	ret = it_open(c, name, NULL, 0, SD_LOCK_NONE, &v);
	CHECK(ret == -ENOENT, "open: missing VDI without lock -> -ENOENT",
	      "returned %d: %s", ret, sd_get_error());

	ret = sd_vdi_create(c, vdi, 16 * IT_MIB, 0, &vid);
	if (ret)
		it_die("open: create", "sd_vdi_create(%s) = %d: %s", vdi, ret,
		       sd_get_error());
	ret = it_open(c, vdi, "no-such-tag", 0, SD_LOCK_NONE, &v);
	CHECK(ret == -ENOENT, "open: missing tag -> -ENOENT", "returned %d: %s",
	      ret, sd_get_error());
	CHECK(ret && sd_get_error()[0], "open: missing tag leaves a message",
	      "empty message");
	ret = it_open(c, vdi, NULL, 4242, SD_LOCK_NONE, &v);
	CHECK(ret == -ENOENT, "open: missing snapshot id -> -ENOENT",
	      "returned %d: %s", ret, sd_get_error());
	ret = it_open(c, vdi, NULL, 0, SD_LOCK_NORMAL, &v);
	CHECK(ret == 0, "open: existing VDI opens", "= %d: %s", ret,
	      sd_get_error());
	if (!ret)
		sd_vdi_close(v);
}

static void unreachable(void)
{
	char addr[200], path[150];
	struct sd_client *c;
	struct sd_vdi *v = NULL;
	uint64_t t0, ms;
	int ret;

	snprintf(path, sizeof(path), "/tmp/sd-nolistener-%d.sock",
		 (int)getpid());
	unlink(path);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	c = it_client(addr, 0, 10000);
	t0 = sd_now_ns();
	ret = it_open(c, "whatever", NULL, 0, SD_LOCK_NORMAL, &v);
	ms = (sd_now_ns() - t0) / 1000000;
	CHECK(ret < 0,
	      "open: unreachable address fails", "returned %d", ret);
	CHECK(ms < 2000, "open: unreachable address fails in under 2 s",
	      "took %" PRIu64 " ms", ms);
	CHECK(ret < 0 && sd_get_error()[0], "open: unreachable address leaves "
	      "a message", "message '%s'", sd_get_error());
	printf("# unreachable: %d '%s' after %" PRIu64 " ms\n", ret,
	       sd_get_error(), ms);
	sd_client_free(c);
}

static void locking(const char *lockaddr, const char *vdi)
{
	struct sd_client *c1, *c2;
	struct sd_vdi *v1 = NULL;
	uint32_t vid, svid;
	int ret;

	c1 = it_client(lockaddr, 0, 10000);
	c2 = it_client(lockaddr, 0, 10000);
	ret = sd_vdi_create(c1, vdi, 16 * IT_MIB, 0, &vid);
	if (ret)
		it_die("lock: create", "sd_vdi_create(%s) = %d: %s", vdi, ret,
		       sd_get_error());
	ret = sd_vdi_snapshot(c1, vdi, "s1", &svid);
	CHECK(ret == 0, "lock: snapshot before locking", "= %d: %s", ret,
	      sd_get_error());

	ret = it_open(c1, vdi, NULL, 0, SD_LOCK_NORMAL, &v1);
	CHECK(ret == 0, "lock: first normal lock", "= %d: %s", ret,
	      sd_get_error());
	if (ret)
		goto out;
	ret = it_open_expect(c2, vdi, NULL, SD_LOCK_NORMAL, -EBUSY,
			     "lock: second normal lock from another client "
			     "-> -EBUSY");
	CHECK(ret && sd_get_error()[0], "lock: -EBUSY leaves a message",
	      "empty message");
	it_open_expect(c1, vdi, NULL, SD_LOCK_NORMAL, -EBUSY,
		       "lock: second normal lock from the same client "
		       "-> -EBUSY");
	it_open_expect(c2, vdi, "s1", SD_LOCK_NORMAL, 0,
		       "lock: snapshot of a locked VDI opens (never locked)");
	it_open_expect(c2, vdi, NULL, SD_LOCK_NONE, 0,
		       "lock: lock NONE opens a locked VDI");

	sd_vdi_close(v1);
	if (!it_open_expect(c2, vdi, NULL, SD_LOCK_NORMAL, 0, "lock: released "
			    "by close, reopen from another client works"))
		it_open_expect(c1, vdi, NULL, SD_LOCK_NORMAL, 0,
			       "lock: and released again");
out:
	sd_client_free(c2);
	sd_client_free(c1);
}

int main(int argc, char **argv)
{
	const char *lockaddr = getenv("IT_LOCK_SHEEP");
	struct sd_client *c;
	char lockvdi[300];

	it_usage(argc >= 3, argv[0], "ADDR VDI (IT_LOCK_SHEEP: LOCKADDR)");
	c = it_client(argv[1], 0, 10000);
	missing(c, argv[2]);
	sd_client_free(c);
	unreachable();
	if (lockaddr && lockaddr[0]) {
		snprintf(lockvdi, sizeof(lockvdi), "%s-lock", argv[2]);
		locking(lockaddr, lockvdi);
	} else {
		t_skip("lock: normal locks", "no --lock minisheep given");
	}
	return t_exit();
}
