// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * hostlock - the host lock records of sd_vdi_open() against a minisheep
 * started with --lock (locks kept per "node", as sheep 1.0 does: a normal
 * lock survives its client's death).
 *
 *   hostlock ADDR VDI suite     the checks below, one PASS/FAIL line each
 *   hostlock ADDR VDI crash     open VDI (lock=normal), write, then _exit
 *                               without closing: a gateway killed -9
 *   hostlock ADDR VDI hold      open VDI, print "HOLD PID", keep it open
 *                               until standard input ends, then close
 *
 * The suite (each case on its own VDI, VDI-1 ... VDI-5): a child that dies
 * holding the lock is taken over by the next open of this host within 2 s
 * and its data reads back, the record names the new holder and the dead
 * one; a live child holder makes the open fail with "VDI 'x' is already
 * locked by pid CHILD on this host"; the open on "another host" (another
 * lock directory) is refused with the sdctl hint until sd_vdi_unlock();
 * with lock=shared, minisheep drops a dead process's participation itself
 * (it models each client process as a sheep node), so the reopen simply
 * joins; a clean close leaves the record "released".
 *
 * Children are forked before the parent makes any client.
 */
/* itest: driven by hostlock.sh */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "sd_hostlock.h"

#define SIZE		(64 * IT_MIB)
#define PAT_OFF		(4 * IT_MIB - 2048)	/* objects 0 and 1 */
#define PAT_LEN		8192

static const char *addr;

/* child: open, write the pattern, then die as kill -9 would leave it */
static void child_crash(const char *name, enum sd_lock_mode mode)
{
	struct sd_client *c = it_client(addr, 2, 10000);
	struct sd_vdi *v;
	uint8_t buf[PAT_LEN];

	if (it_open(c, name, NULL, 0, mode, &v)) {
		fprintf(stderr, "crash: open %s: %s\n", name, sd_get_error());
		_exit(2);
	}
	it_pat_fill(buf, sizeof(buf), PAT_OFF, 7);
	if (sd_vdi_pwrite(v, buf, sizeof(buf), PAT_OFF, 0)) {
		fprintf(stderr, "crash: write: %s\n", sd_get_error());
		_exit(3);
	}
	_exit(0);
}

static pid_t fork_crash(const char *name, enum sd_lock_mode mode)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		it_die("fork", "%s", strerror(errno));
	if (!pid)
		child_crash(name, mode);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		it_die("crash child", "pid %d status %#x", (int)pid, st);
	return pid;
}

/* child: hold the VDI open until the pipe closes */
static pid_t fork_hold(const char *name, int *tell)
{
	int up[2], down[2];
	struct sd_client *c;
	struct sd_vdi *v;
	pid_t pid;
	char ch;

	if (pipe(up) || pipe(down))
		it_die("pipe", "%s", strerror(errno));
	pid = fork();
	if (pid < 0)
		it_die("fork", "%s", strerror(errno));
	if (!pid) {
		close(up[0]);
		close(down[1]);
		c = it_client(addr, 2, 10000);
		if (it_open(c, name, NULL, 0, SD_LOCK_NORMAL, &v))
			_exit(2);
		if (write(up[1], "o", 1) != 1)
			_exit(3);
		while (read(down[0], &ch, 1) > 0)
			;
		sd_vdi_close(v);
		sd_client_free(c);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &ch, 1) != 1)
		it_die("hold child", "did not open %s", name);
	close(up[0]);
	*tell = down[1];
	return pid;
}

static void end_hold(pid_t pid, int tell)
{
	int st;

	close(tell);
	waitpid(pid, &st, 0);
}

/* the record file of @name (normal lock) in the current lock directory */
static int record_of(struct sd_client *c, const char *name,
		     struct sd_hl_record *r)
{
	char fname[NAME_MAX + 1], path[PATH_MAX], buf[SD_HL_RECORD_MAX];
	uint64_t ctime;
	uint16_t flags;
	FILE *f;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (sd_cluster_info(c, &ctime, &flags) ||
	    sd_hl_file_name(ctime, name, NULL, fname, sizeof(fname)))
		return -1;
	snprintf(path, sizeof(path), "%s/%s", sd_hostlock_dir(), fname);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return sd_hl_parse(buf, n, r);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* create @name through a client of its own, gone before any fork */
static void make(const char *name)
{
	struct sd_client *c = it_client(addr, 2, 10000);
	int ret = sd_vdi_create(c, name, SIZE, 0, NULL);

	if (ret)
		it_die("create", "%s: %s", name, sd_get_error());
	sd_client_free(c);
}

static void case_crash_takeover(const char *name)
{
	struct sd_hl_record r;
	struct sd_client *c;
	uint8_t buf[PAT_LEN];
	struct sd_vdi *v;
	pid_t dead;
	double t;
	int ret;

	make(name);
	dead = fork_crash(name, SD_LOCK_NORMAL);

	c = it_client(addr, 2, 10000);
	t = now_s();
	ret = it_open(c, name, NULL, 0, SD_LOCK_NORMAL, &v);
	t = now_s() - t;
	CHECK(!ret && t < 2.0, "crash: the next open of this host takes the lock over within 2 s",
	      "ret %d (%.2f s): %s", ret, t, sd_get_error());
	if (ret) {
		sd_client_free(c);
		return;
	}
	printf("# takeover open took %.3f s\n", t);
	ret = sd_vdi_pread(v, buf, sizeof(buf), PAT_OFF);
	CHECK(!ret && it_pat_ok(buf, sizeof(buf), PAT_OFF, 7),
	      "crash: data written before the crash reads back", "ret %d",
	      ret);
	CHECK(!record_of(c, name, &r) && r.state == SD_HL_HELD &&
	      r.pid == getpid() && r.prev_pid == dead && r.node[0],
	      "crash: record names the new holder and the dead one",
	      "state %d pid %ld prev %ld node '%s'", r.state, r.pid,
	      r.prev_pid, r.node);
	sd_vdi_close(v);
	CHECK(!record_of(c, name, &r) && r.state == SD_HL_RELEASED,
	      "close: record says released", "state %d", r.state);
	it_open_expect(c, name, NULL, SD_LOCK_NORMAL, 0,
		       "close: the lock was released (reopen)");
	sd_client_free(c);
}

static void case_live_holder(const char *name)
{
	struct sd_client *c;
	struct sd_vdi *v;
	char want[600];
	int tell, ret;
	pid_t pid;

	make(name);
	pid = fork_hold(name, &tell);

	c = it_client(addr, 2, 10000);
	ret = it_open(c, name, NULL, 0, SD_LOCK_NORMAL, &v);
	snprintf(want, sizeof(want),
		 "VDI '%s' is already locked by pid %d on this host", name,
		 (int)pid);
	CHECK(ret == -EBUSY && !strcmp(sd_get_error(), want),
	      "live holder: refused, naming its pid", "ret %d '%s'", ret,
	      sd_get_error());
	if (!ret)
		sd_vdi_close(v);
	ret = sd_vdi_unlock(c, name, NULL, 0, false, NULL, 0);
	CHECK(ret == -EBUSY && strstr(sd_get_error(), "in use by pid"),
	      "live holder: sd_vdi_unlock refuses without force",
	      "ret %d '%s'", ret, sd_get_error());
	end_hold(pid, tell);
	it_open_expect(c, name, NULL, SD_LOCK_NORMAL, 0,
		       "live holder: after it closed, the open succeeds");
	sd_client_free(c);
}

static void case_other_host(const char *name, const char *dir_a,
			    const char *dir_b)
{
	struct sd_client *c;
	struct sd_vdi *v;
	char what[512];
	int ret;

	make(name);
	setenv(SD_HOSTLOCK_ENV, dir_a, 1);
	fork_crash(name, SD_LOCK_NORMAL);
	setenv(SD_HOSTLOCK_ENV, dir_b, 1);

	c = it_client(addr, 2, 10000);
	ret = it_open(c, name, NULL, 0, SD_LOCK_NORMAL, &v);
	CHECK(ret == -EBUSY && strstr(sd_get_error(), "VDI is already locked") &&
	      strstr(sd_get_error(), "sdctl vdi unlock"),
	      "other host: refused with the unlock hint", "ret %d '%s'", ret,
	      sd_get_error());
	if (!ret)
		sd_vdi_close(v);
	ret = sd_vdi_unlock(c, name, NULL, 0, false, what, sizeof(what));
	CHECK(!ret && strstr(what, "released the normal lock"),
	      "other host: sd_vdi_unlock releases it", "ret %d '%s'", ret,
	      sd_get_error());
	it_open_expect(c, name, NULL, SD_LOCK_NORMAL, 0,
		       "other host: then the open succeeds");
	sd_client_free(c);
}

static void case_shared(const char *name)
{
	struct sd_client *c;
	struct sd_vdi *v;
	int ret;

	make(name);
	fork_crash(name, SD_LOCK_SHARED);

	c = it_client(addr, 2, 10000);
	ret = it_open(c, name, NULL, 0, SD_LOCK_SHARED, &v);
	CHECK(!ret, "shared: after a crash the reopen joins (minisheep dropped the dead process's participation)",
	      "%s", sd_get_error());
	if (!ret)
		sd_vdi_close(v);
	sd_client_free(c);
}

static void case_unlock_errors(const char *name)
{
	struct sd_client *c;
	int ret;

	make(name);
	c = it_client(addr, 2, 10000);
	ret = sd_vdi_unlock(c, name, NULL, 0, false, NULL, 0);
	CHECK(ret == -ENOLCK, "unlock: an unlocked VDI -> -ENOLCK",
	      "ret %d '%s'", ret, sd_get_error());
	ret = sd_vdi_unlock(c, "no-such-vdi-here", NULL, 0, false, NULL, 0);
	CHECK(ret == -ENOENT, "unlock: a missing VDI -> -ENOENT",
	      "ret %d '%s'", ret, sd_get_error());
	sd_client_free(c);
}

int main(int argc, char **argv)
{
	char name[300], dir_a[PATH_MAX], dir_b[PATH_MAX];
	const char *base;

	it_usage(argc == 4, argv[0], "ADDR VDI suite|crash|hold");
	addr = argv[1];
	if (!strcmp(argv[3], "crash"))
		child_crash(argv[2], SD_LOCK_NORMAL);
	if (!strcmp(argv[3], "hold")) {
		struct sd_client *c = it_client(addr, 2, 10000);
		struct sd_vdi *v;
		char line[16];

		if (it_open(c, argv[2], NULL, 0, SD_LOCK_NORMAL, &v)) {
			fprintf(stderr, "hold: %s\n", sd_get_error());
			return 1;
		}
		printf("HOLD %d\n", (int)getpid());
		fflush(stdout);
		while (fgets(line, sizeof(line), stdin))
			;
		sd_vdi_close(v);
		sd_client_free(c);
		return 0;
	}
	if (strcmp(argv[3], "suite"))
		return 2;

	base = sd_hostlock_dir();
	snprintf(dir_a, sizeof(dir_a), "%s/host-a", base);
	snprintf(dir_b, sizeof(dir_b), "%s/host-b", base);
	snprintf(name, sizeof(name), "%s-1", argv[2]);
	case_crash_takeover(name);
	snprintf(name, sizeof(name), "%s-2", argv[2]);
	case_live_holder(name);
	snprintf(name, sizeof(name), "%s-4", argv[2]);
	case_shared(name);
	snprintf(name, sizeof(name), "%s-5", argv[2]);
	case_unlock_errors(name);
	snprintf(name, sizeof(name), "%s-3", argv[2]);
	case_other_host(name, dir_a, dir_b);
	return t_exit();
}
