// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * iscsi_load.c - a small iSCSI load generator for the benchmarks.  It logs
 * in to one LUN with libiscsi, or to several LUNs of the target with
 * --lun, keeps QD READ(16) or WRITE(16) commands in flight on each with
 * libiscsi's asynchronous API driven by one poll() loop, random or
 * sequential, over the whole LUN or its first RANGE bytes, for a fixed time
 * (or one sequential pass with --once, to fill a LUN).
 *
 *   --lun SPEC (-l, repeatable)  SPEC is N, N-M or either with :QD, e.g.
 *                  --lun 1-16:2 or --lun 1:1 --lun 2:32; a LUN without :QD
 *                  gets -q.  With --lun the URL's LUN is not driven unless
 *                  listed.  LUN i of the list (from 0) seeds its sequence
 *                  with seed + i.
 *
 * Every LUN gets its own iSCSI session (its own context, TCP connection and
 * initiator name ...:iscsi-load-I, I its place in the list): like separate initiators, each has
 * its own command window at the target, so a deep queue on one LUN cannot
 * hold back another inside the initiator, and what the fairness runs of
 * scripts/bench.sh see is the target's scheduling.
 *
 * Latencies go into a fixed-size log-linear histogram per LUN
 * (load_common.h); the aggregate merges them.  Output, for one LUN one
 * parseable line:
 *   mode=randread bs=4096 qd=32 range=1073741824 secs=5.000 ios=N
 *   iops=X mibps=Y lat_us=Z p50_us=A p99_us=B p999_us=C
 * (on one line; p999_us is the 99.9th percentile).  For several LUNs first
 * one line per LUN, the same fields after "lun=N ", then the aggregate line
 * last: the same fields (qd the sum of the queue depths, range the sum of
 * the ranges, percentiles over all requests) followed by " luns=K".  Any
 * failed command ends the run with one error line and exit status 1.
 *
 * Without libiscsi's headers (libiscsi-dev) the file builds a stub that says
 * so and exits 3, so that `make` does not depend on libiscsi-dev; mk/bench.mk
 * links -liscsi only when the headers exist.
 */
#if !__has_include(<iscsi/iscsi.h>)
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "iscsi_load: built without libiscsi-dev; install it and rebuild\n");
	return 3;
}
#else
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "load_common.h"

#define LOAD_INITIATOR	"iqn.2026-11.org.sheepdog:iscsi-load-"
#define LOAD_MAX_LUNS	1024

struct load_slot {
	struct load_lun *lu;
	unsigned char *buf;
	struct scsi_iovec iov;
	uint64_t start_ns;
};

/* one driven LUN: its session, its run and its histogram */
struct load_lun {
	struct load_run r;
	struct load_hist hist;
	struct iscsi_context *iscsi;
	int lun;
	unsigned int index;	/* place in the list of LUNs */
	uint32_t lbsize;
	unsigned int inflight;
	struct load_slot slots[LOAD_MAX_QD];
};

/* the LUNs asked for: number and queue depth (0: -q) */
struct lun_spec {
	int lun;
	unsigned int qd;
};

static struct lun_spec specs[LOAD_MAX_LUNS];
static unsigned int nr_specs;
static struct load_lun **luns;
static unsigned int inflight;	/* over all LUNs */
static bool failed;		/* a command failed: stop everywhere */

static void usage(FILE *f)
{
	load_usage(f, "iscsi_load", "iscsi://HOST:PORT/IQN/LUN", "LUN");
	fprintf(f,
		"  -l, --lun N[-M][:QD]  drive these LUNs of the target, each in its own\n"
		"                      session, at QD (-q) each; repeatable (the URL's LUN)\n");
}

/* a LUN number of a --lun spec */
static int parse_lun(const char *s, char **end)
{
	long v;

	errno = 0;
	v = strtol(s, end, 10);
	if (errno || *end == s || v < 0 || v > 16383)
		return -1;
	return v;
}

/* add the LUNs of one --lun SPEC; -1 after a message */
static int add_luns(const char *spec)
{
	char *end;
	int first, last, lun;
	uint64_t qd = 0;
	unsigned int i;

	first = parse_lun(spec, &end);
	last = first;
	if (first >= 0 && *end == '-')
		last = parse_lun(end + 1, &end);
	if (first < 0 || last < first ||
	    (*end == ':' && (parse_size(end + 1, &qd) || !qd ||
			     qd > LOAD_MAX_QD)) ||
	    (*end && *end != ':'))
		return load_bad_value("iscsi_load", 'l', spec);
	for (lun = first; lun <= last; lun++) {
		for (i = 0; i < nr_specs; i++)
			if (specs[i].lun == lun) {
				fprintf(stderr, "iscsi_load: LUN %d is listed twice\n",
					lun);
				return -1;
			}
		if (nr_specs == LOAD_MAX_LUNS) {
			fprintf(stderr, "iscsi_load: more than %d LUNs\n",
				LOAD_MAX_LUNS);
			return -1;
		}
		specs[nr_specs++] = (struct lun_spec){ lun, qd };
	}
	return 0;
}

/* iscsi_load's own option for load_parse(): --lun */
static int own_opt(int c, const char *arg, struct load_opts *o)
{
	(void)o;
	if (c != 'l')
		return 0;
	return add_luns(arg) ? -1 : 1;
}

static int parse_opts(int argc, char **argv, struct load_opts *o)
{
	static const struct option lopts[] = {
		LOAD_LONG_OPTIONS,
		{ "lun", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};

	load_opts_init(o);
	return load_parse(argc, argv, "iscsi_load", LOAD_OPTSTRING "l:", lopts,
			  own_opt, usage, 1, o);
}

static void slot_done(struct iscsi_context *iscsi, int status, void *data,
		      void *priv);

/* Issue the next request on @sl; false when there is nothing more to do. */
static bool slot_submit(struct load_slot *sl)
{
	struct load_lun *lu = sl->lu;
	struct scsi_task *task;
	uint64_t blk, lba;
	uint32_t nblk = lu->r.o.bs / lu->lbsize;

	if (failed || !load_next_block(&lu->r, &blk))
		return false;
	lba = blk * nblk;
	sl->start_ns = load_now_ns();
	if (lu->r.o.write)
		task = iscsi_write16_task(lu->iscsi, lu->lun, lba, sl->buf,
					  lu->r.o.bs, lu->lbsize, 0, 0, 0, 0, 0,
					  slot_done, sl);
	else
		task = iscsi_read16_iov_task(lu->iscsi, lu->lun, lba,
					     lu->r.o.bs, lu->lbsize, 0, 0, 0,
					     0, 0, slot_done, sl, &sl->iov, 1);
	if (!task) {
		fprintf(stderr, "iscsi_load: LUN %d: cannot queue a command: %s\n",
			lu->lun, iscsi_get_error(lu->iscsi));
		failed = true;
		return false;
	}
	lu->inflight++;
	inflight++;
	return true;
}

static void slot_done(struct iscsi_context *iscsi, int status, void *data,
		      void *priv)
{
	struct load_slot *sl = priv;
	struct load_lun *lu = sl->lu;
	struct scsi_task *task = data;
	uint64_t t = load_now_ns();

	lu->inflight--;
	inflight--;
	if (status != SCSI_STATUS_GOOD) {
		if (!failed)
			fprintf(stderr, "iscsi_load: LUN %d: %s failed: %s\n",
				lu->lun, lu->r.o.write ? "WRITE(16)" : "READ(16)",
				iscsi_get_error(iscsi));
		failed = true;
	}
	load_count(&lu->r, status == SCSI_STATUS_GOOD, sl->start_ns, t);
	if (task)
		scsi_free_scsi_task(task);
	slot_submit(sl);
}

/*
 * Log in to lu->lun of the URL's target in a session of its own and size
 * the run from READ CAPACITY(16).
 */
static int load_connect(struct load_lun *lu)
{
	char initiator[sizeof(LOAD_INITIATOR) + 8];
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc;
	uint64_t size;
	int ret = -1;

	snprintf(initiator, sizeof(initiator), LOAD_INITIATOR "%u", lu->index);
	lu->iscsi = iscsi_create_context(initiator);
	if (!lu->iscsi) {
		fprintf(stderr, "iscsi_load: cannot create an iSCSI context\n");
		return -1;
	}
	url = iscsi_parse_full_url(lu->iscsi, lu->r.o.target[0]);
	if (!url) {
		fprintf(stderr, "iscsi_load: bad URL '%s': %s\n", lu->r.o.target[0],
			iscsi_get_error(lu->iscsi));
		return -1;
	}
	iscsi_set_targetname(lu->iscsi, url->target);
	iscsi_set_session_type(lu->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(lu->iscsi, ISCSI_HEADER_DIGEST_NONE);
	if (lu->lun < 0)
		lu->lun = url->lun;
	if (iscsi_full_connect_sync(lu->iscsi, url->portal, lu->lun)) {
		fprintf(stderr, "iscsi_load: login to LUN %d of %s failed: %s\n",
			lu->lun, lu->r.o.target[0], iscsi_get_error(lu->iscsi));
		goto out;
	}
	task = iscsi_readcapacity16_sync(lu->iscsi, lu->lun);
	if (!task || task->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi_load: LUN %d: READ CAPACITY(16) failed: %s\n",
			lu->lun, iscsi_get_error(lu->iscsi));
		if (task)
			scsi_free_scsi_task(task);
		goto out;
	}
	rc = scsi_datain_unmarshall(task);
	if (!rc || !rc->block_length) {
		fprintf(stderr, "iscsi_load: LUN %d: cannot parse READ CAPACITY(16)\n",
			lu->lun);
		scsi_free_scsi_task(task);
		goto out;
	}
	lu->lbsize = rc->block_length;
	size = (rc->returned_lba + 1) * rc->block_length;
	scsi_free_scsi_task(task);

	if (lu->r.o.bs % lu->lbsize) {
		fprintf(stderr, "iscsi_load: bs %u is not a multiple of the %u-byte block\n",
			lu->r.o.bs, lu->lbsize);
		goto out;
	}
	if (!lu->r.o.range || lu->r.o.range > size)
		lu->r.o.range = size;
	lu->r.nr_blocks = lu->r.o.range / lu->r.o.bs;
	if (!lu->r.nr_blocks) {
		fprintf(stderr, "iscsi_load: range %" PRIu64 " is smaller than bs %u\n",
			lu->r.o.range, lu->r.o.bs);
		goto out;
	}
	ret = 0;
out:
	iscsi_destroy_url(url);
	return ret;
}

static void load_lun_free(struct load_lun *lu, bool logout)
{
	unsigned int i;

	if (!lu)
		return;
	if (lu->iscsi) {
		if (logout)
			iscsi_logout_sync(lu->iscsi);
		iscsi_destroy_context(lu->iscsi);
	}
	for (i = 0; i < lu->r.o.qd; i++)
		free(lu->slots[i].buf);
	free(lu);
}

/* a driven LUN set up from @spec, its session logged in; NULL on failure */
static struct load_lun *load_lun_new(const struct load_opts *o,
				     const struct lun_spec *spec,
				     unsigned int index)
{
	struct load_lun *lu = calloc(1, sizeof(*lu));
	unsigned int i;

	if (!lu) {
		fprintf(stderr, "iscsi_load: out of memory\n");
		return NULL;
	}
	lu->r.o = *o;
	lu->r.o.seed += index;
	if (spec->qd)
		lu->r.o.qd = spec->qd;
	lu->r.hist = &lu->hist;
	lu->lun = spec->lun;
	lu->index = index;
	for (i = 0; i < lu->r.o.qd; i++) {
		struct load_slot *sl = &lu->slots[i];

		sl->lu = lu;
		/* non-zero data, different per slot */
		sl->buf = load_buf_alloc(&lu->r.o, 0xa5 ^ i, "iscsi_load");
		if (!sl->buf) {
			load_lun_free(lu, false);
			return NULL;
		}
		sl->iov.iov_base = sl->buf;
		sl->iov.iov_len = lu->r.o.bs;
	}
	return lu;
}

static int load_loop(struct pollfd *pfd, unsigned int n)
{
	unsigned int i;

	while (inflight) {
		for (i = 0; i < n; i++) {
			pfd[i].fd = iscsi_get_fd(luns[i]->iscsi);
			pfd[i].events = iscsi_which_events(luns[i]->iscsi);
			pfd[i].revents = 0;
		}
		if (poll(pfd, n, 1000) < 0) {
			if (errno == EINTR)
				continue;
			perror("iscsi_load: poll");
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (iscsi_service(luns[i]->iscsi, pfd[i].revents) >= 0)
				continue;
			fprintf(stderr, "iscsi_load: LUN %d: connection failed: %s\n",
				luns[i]->lun, iscsi_get_error(luns[i]->iscsi));
			return -1;
		}
	}
	return failed ? -1 : 0;
}

/* the lines of a run of @n LUNs from @t0 to @t1 (see the header) */
static void load_report(unsigned int n, uint64_t t0, uint64_t t1)
{
	static struct load_hist all;
	struct load_run sum;
	double secs = (t1 - t0) / 1e9;
	unsigned int i;

	if (n == 1) {
		load_print(&luns[0]->r, t0, t1);
		return;
	}
	sum = luns[0]->r;
	sum.o.qd = 0;
	sum.o.range = 0;
	sum.ios = 0;
	sum.lat_sum_ns = 0;
	sum.hist = &all;
	for (i = 0; i < n; i++) {
		printf("lun=%d ", luns[i]->lun);
		load_print_fields(&luns[i]->r, secs);
		putchar('\n');
		sum.o.qd += luns[i]->r.o.qd;
		sum.o.range += luns[i]->r.o.range;
		sum.ios += luns[i]->r.ios;
		sum.lat_sum_ns += luns[i]->r.lat_sum_ns;
		load_hist_merge(&all, &luns[i]->hist);
	}
	load_print_fields(&sum, secs);
	printf(" luns=%u\n", n);
}

int main(int argc, char **argv)
{
	struct load_opts o;
	struct pollfd *pfd = NULL;
	uint64_t t0;
	unsigned int i, j, n;
	int ret = 1;

	if (parse_opts(argc, argv, &o))
		return 2;
	if (!nr_specs)
		specs[nr_specs++] = (struct lun_spec){ -1, 0 };	/* the URL's */
	n = nr_specs;
	luns = calloc(n, sizeof(*luns));
	pfd = calloc(n, sizeof(*pfd));
	if (!luns || !pfd) {
		fprintf(stderr, "iscsi_load: out of memory\n");
		goto out;
	}
	for (i = 0; i < n; i++) {
		luns[i] = load_lun_new(&o, &specs[i], i);
		if (!luns[i] || load_connect(luns[i]))
			goto out;
	}
	t0 = load_now_ns();
	for (i = 0; i < n; i++)
		load_start(&luns[i]->r);
	for (i = 0; i < n; i++)
		for (j = 0; j < luns[i]->r.o.qd; j++)
			if (!slot_submit(&luns[i]->slots[j]))
				break;
	if (load_loop(pfd, n))
		goto out;
	load_report(n, t0, load_now_ns());
	ret = 0;
out:
	for (i = 0; luns && i < n; i++)
		load_lun_free(luns[i], !ret);
	free(luns);
	free(pfd);
	return ret;
}
#endif
