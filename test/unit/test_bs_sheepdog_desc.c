// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_bs_sheepdog_desc.c - unit test of the module's descriptor files
 * (usr/bs_sheepdog_desc.c): the KEY = VALUE parser, the bounded reader
 * (missing file, directory, FIFO, oversize), bsopts precedence against
 * --bsopts, and that every failure logs exactly one line.  tgtd's log
 * functions are stubbed; the option parser is the module's own.
 */
#include <stdarg.h>
#include <sys/stat.h>

#include "../../usr/bs_sheepdog_desc.c"
#include "../../usr/bs_sheepdog_opts.c"
#include "tap.h"

int is_debug;
static int nr_log;
static char last_log[1024];

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_log, sizeof(last_log), fmt, ap);
	va_end(ap);
	nr_log++;
}

void log_debug(const char *fmt, ...)
{
	(void)fmt;
}

static char dir[] = "/tmp/test_desc.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

static int parse_str(const char *s, struct bs_sd_desc *d, char *why)
{
	return bs_sd_desc_parse(s, strlen(s), d, why, 256);
}

static void test_parser(void)
{
	struct bs_sd_desc d;
	char why[256] = "";
	int r;

	r = parse_str("# vol0\n\n  backing-store =  unix:/var/lib/sheepdog/sock:vol0  \r\n"
		      "\t# indented comment\nbsopts=timeout=10;connections=3", &d, why);
	CHECK(!r && !strcmp(d.target, "unix:/var/lib/sheepdog/sock:vol0") &&
	      d.has_bsopts && !strcmp(d.bsopts, "timeout=10;connections=3"),
	      "desc-parse-full", "r=%d why=%s target='%s' bsopts='%s'", r,
	      why, d.target, d.bsopts);

	r = parse_str("backing-store=tcp:[::1]:7000:vol#1:snap", &d, why);
	CHECK(!r && !strcmp(d.target, "tcp:[::1]:7000:vol#1:snap") &&
	      !d.has_bsopts, "desc-parse-hash-in-value",
	      "r=%d why=%s target='%s'", r, why, d.target);

	r = parse_str("# nothing\n", &d, why);
	CHECK(r && strstr(why, "no 'backing-store"), "desc-parse-missing",
	      "r=%d why=%s", r, why);

	r = parse_str("backing-store = a\nbacking-store = b\n", &d, why);
	CHECK(r && strstr(why, "line 2") && strstr(why, "twice"),
	      "desc-parse-duplicate", "r=%d why=%s", r, why);

	r = parse_str("backing-store = a\nbsopts=x\nbsopts=y\n", &d, why);
	CHECK(r && strstr(why, "line 3"), "desc-parse-duplicate-bsopts",
	      "r=%d why=%s", r, why);

	r = parse_str("backing-store = a\nbackingstore = b\n", &d, why);
	CHECK(r && strstr(why, "line 2") &&
	      strstr(why, "unknown key 'backingstore'"), "desc-parse-unknown",
	      "r=%d why=%s", r, why);

	r = parse_str("unix:/s:vol0\n", &d, why);
	CHECK(r && strstr(why, "line 1: not KEY = VALUE"),
	      "desc-parse-no-equals", "r=%d why=%s", r, why);

	r = parse_str("backing-store =   \n", &d, why);
	CHECK(r && strstr(why, "empty value"), "desc-parse-empty-value",
	      "r=%d why=%s", r, why);

	r = bs_sd_desc_parse("backing-store = a\0b\n", 20, &d, why, 256);
	CHECK(r && strstr(why, "NUL"), "desc-parse-nul", "r=%d why=%s", r,
	      why);

	r = parse_str("backing-store = a\x01z\n", &d, why);
	CHECK(r && strstr(why, "control character"), "desc-parse-control",
	      "r=%d why=%s", r, why);
}

static void init_lu(struct bs_sd_lu *sl, const char *bsopts)
{
	char why[256];

	memset(sl, 0, sizeof(*sl));
	sl->bsopts_given = bsopts && *bsopts;
	bs_sd_opts_parse(bsopts, &sl->opts, why, sizeof(why));
}

/* resolve PATH; the number of log lines it wrote */
static int resolve(struct bs_sd_lu *sl, const char *path, int *ret,
		   struct sd_target *t)
{
	int before = nr_log;

	last_log[0] = '\0';
	*ret = bs_sd_target_resolve(sl, path, t);
	return nr_log - before;
}

static void test_resolve(void)
{
	struct bs_sd_lu sl;
	struct sd_target t;
	const char *p;
	char path[256], big[BS_SD_DESC_MAX + 64];
	int r, logs;

	p = write_file("vol0.conf",
		       "backing-store = unix:/run/sheep.sock:vol0:monday\n"
		       "bsopts = timeout=7;connections=3;lock=shared;fallback=tcp:10.0.0.2:7000\n");
	init_lu(&sl, NULL);
	logs = resolve(&sl, p, &r, &t);
	CHECK(!r && !logs && !strcmp(t.vdi, "vol0") &&
	      !strcmp(t.tag, "monday") && !strcmp(t.addr.path, "/run/sheep.sock"),
	      "desc-resolve-target", "r=%d logs=%d vdi=%s tag=%s log=%s", r,
	      logs, t.vdi, t.tag, last_log);
	CHECK(sl.opts.timeout_s == 7 && sl.opts.nr_conns == 3 &&
	      sl.opts.lock == SD_LOCK_SHARED && sl.opts.nr_fallback == 1,
	      "desc-bsopts-apply", "timeout=%u conns=%u lock=%d fb=%u",
	      sl.opts.timeout_s, sl.opts.nr_conns, sl.opts.lock,
	      sl.opts.nr_fallback);

	init_lu(&sl, "timeout=20");
	logs = resolve(&sl, p, &r, &t);
	CHECK(!r && !logs && sl.opts.timeout_s == 20 &&
	      sl.opts.nr_conns == SD_DEFAULT_CONNS &&
	      sl.opts.lock == SD_LOCK_NORMAL && !sl.opts.nr_fallback,
	      "desc-bsopts-given-wins", "r=%d timeout=%u conns=%u lock=%d",
	      r, sl.opts.timeout_s, sl.opts.nr_conns, sl.opts.lock);

	/* a plain string after a descriptor: back to the defaults */
	init_lu(&sl, NULL);
	resolve(&sl, p, &r, &t);
	logs = resolve(&sl, "unix:/s:vol1", &r, &t);
	CHECK(!r && !logs && sl.opts.timeout_s == BS_SD_DEFAULT_TIMEOUT_S &&
	      sl.opts.lock == SD_LOCK_NORMAL && !strcmp(t.vdi, "vol1"),
	      "desc-plain-resets-opts", "r=%d timeout=%u", r,
	      sl.opts.timeout_s);

	p = write_file("badopts.conf", "backing-store = unix:/s:v\nbsopts = timeout=0\n");
	init_lu(&sl, "timeout=20");
	logs = resolve(&sl, p, &r, &t);
	CHECK(r && logs == 1 && strstr(last_log, "bad descriptor") &&
	      strstr(last_log, "bad timeout"), "desc-bad-bsopts",
	      "r=%d logs=%d log=%s", r, logs, last_log);

	p = write_file("badtarget.conf", "backing-store = unix:/s\n");
	logs = resolve(&sl, p, &r, &t);
	CHECK(r && logs == 1 && strstr(last_log, "badtarget.conf") &&
	      strstr(last_log, "backing-store:"), "desc-bad-target",
	      "r=%d logs=%d log=%s", r, logs, last_log);

	p = write_file("nested.conf", "backing-store = /etc/tgt/other.conf\n");
	logs = resolve(&sl, p, &r, &t);
	CHECK(r && logs == 1, "desc-no-nesting", "r=%d logs=%d log=%s", r,
	      logs, last_log);

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	logs = resolve(&sl, path, &r, &t);
	CHECK(r && logs == 1 && strstr(last_log, "cannot read descriptor") &&
	      strstr(last_log, "No such file"), "desc-missing",
	      "r=%d logs=%d log=%s", r, logs, last_log);

	logs = resolve(&sl, dir, &r, &t);
	CHECK(r && logs == 1 && strstr(last_log, "not a regular file"),
	      "desc-directory", "r=%d logs=%d log=%s", r, logs, last_log);

	snprintf(path, sizeof(path), "%s/fifo", dir);
	if (mkfifo(path, 0600)) {
		t_skip("desc-fifo", "mkfifo failed");
	} else {
		logs = resolve(&sl, path, &r, &t);
		CHECK(r && logs == 1 && strstr(last_log, "not a regular file"),
		      "desc-fifo", "r=%d logs=%d log=%s", r, logs, last_log);
	}

	memset(big, '#', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "backing-store = unix:/s:v\n", 26);
	p = write_file("big.conf", big);
	logs = resolve(&sl, p, &r, &t);
	CHECK(r && logs == 1 && strstr(last_log, "larger than 4096"),
	      "desc-too-big", "r=%d logs=%d log=%s", r, logs, last_log);

	big[BS_SD_DESC_MAX] = '\0';	/* exactly the limit */
	p = write_file("limit.conf", big);
	logs = resolve(&sl, p, &r, &t);
	CHECK(!r && !logs, "desc-at-limit", "r=%d logs=%d log=%s", r, logs,
	      last_log);

	logs = resolve(&sl, "nonsense", &r, &t);
	CHECK(r && logs == 1 && strstr(last_log, "nonsense"),
	      "desc-plain-bad", "r=%d logs=%d log=%s", r, logs, last_log);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir)) {
		t_skip("desc", "mkdtemp failed");
		return 0;
	}
	test_parser();
	test_resolve();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	return t_exit();
}
