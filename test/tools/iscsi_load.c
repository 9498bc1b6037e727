// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * iscsi_load.c - a small iSCSI load generator for the benchmarks.  It logs
 * in to one LUN with libiscsi, keeps QD READ(16) or WRITE(16) commands in
 * flight with libiscsi's asynchronous API driven by a poll() loop, random or
 * sequential, over the whole LUN or its first RANGE bytes, for a fixed time
 * (or one sequential pass with --once, to fill a LUN).  It prints one
 * parseable line:
 *   mode=randread bs=4096 qd=32 range=1073741824 secs=5.000 ios=N
 *   iops=X mibps=Y lat_us=Z
 * (on one line).  Any failed command ends the run with one error line and
 * exit status 1.
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
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "load_common.h"

#define LOAD_INITIATOR	"iqn.2026-11.org.sheepdog:iscsi-load"

struct load_slot {
	struct load_state *st;
	unsigned char *buf;
	struct scsi_iovec iov;
	uint64_t start_ns;
	bool busy;
};

struct load_state {
	struct load_opts o;
	struct iscsi_context *iscsi;
	int lun;
	uint32_t lbsize;
	uint64_t nr_blocks;	/* of size o.bs inside the range */
	uint64_t cursor;	/* next sequential block */
	uint64_t rng;
	uint64_t end_ns;
	bool stopping;
	bool failed;
	unsigned int inflight;
	uint64_t ios;
	uint64_t lat_sum_ns;
	struct load_slot slots[LOAD_MAX_QD];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: iscsi_load [OPTIONS] iscsi://HOST:PORT/IQN/LUN\n"
		"  -m, --mode MODE     randread|randwrite|read|write (randread)\n"
		"  -b, --bs BYTES      request size, K/M suffixes (4096)\n"
		"  -q, --qd N          requests in flight, 1..%d (1)\n"
		"  -r, --range BYTES   only the first BYTES of the LUN (whole)\n"
		"  -t, --time SECONDS  run time (5)\n"
		"  -o, --once          one sequential pass over the range, then stop\n"
		"  -s, --seed N        random seed (1)\n", LOAD_MAX_QD);
}

static int parse_opts(int argc, char **argv, struct load_opts *o)
{
	static const struct option lopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "bs", required_argument, NULL, 'b' },
		{ "qd", required_argument, NULL, 'q' },
		{ "range", required_argument, NULL, 'r' },
		{ "time", required_argument, NULL, 't' },
		{ "once", no_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	load_opts_init(o);
	while ((c = getopt_long(argc, argv, LOAD_OPTSTRING, lopts,
				NULL)) != -1) {
		r = load_opt(c, optarg, o);
		if (r < 0)
			goto bad;
		if (r)
			continue;
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		usage(stderr);
		return -1;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -1;
	}
	o->target[0] = argv[optind];
	return 0;
bad:
	fprintf(stderr, "iscsi_load: bad value '%s' for -%c\n", optarg, c);
	return -1;
}

static void slot_done(struct iscsi_context *iscsi, int status, void *data,
		      void *priv);

/* Issue the next request on @sl; false when there is nothing more to do. */
static bool slot_submit(struct load_slot *sl)
{
	struct load_state *st = sl->st;
	struct scsi_task *task;
	uint64_t blk, lba;
	uint32_t nblk = st->o.bs / st->lbsize;

	if (st->stopping || st->failed)
		return false;
	if (st->o.random) {
		blk = next_rand(&st->rng) % st->nr_blocks;
	} else {
		if (st->cursor == st->nr_blocks) {
			if (st->o.once) {
				st->stopping = true;
				return false;
			}
			st->cursor = 0;
		}
		blk = st->cursor++;
	}
	lba = blk * nblk;
	sl->start_ns = now_ns();
	if (st->o.write)
		task = iscsi_write16_task(st->iscsi, st->lun, lba, sl->buf,
					  st->o.bs, st->lbsize, 0, 0, 0, 0, 0,
					  slot_done, sl);
	else
		task = iscsi_read16_iov_task(st->iscsi, st->lun, lba, st->o.bs,
					     st->lbsize, 0, 0, 0, 0, 0,
					     slot_done, sl, &sl->iov, 1);
	if (!task) {
		fprintf(stderr, "iscsi_load: cannot queue a command: %s\n",
			iscsi_get_error(st->iscsi));
		st->failed = true;
		return false;
	}
	sl->busy = true;
	st->inflight++;
	return true;
}

static void slot_done(struct iscsi_context *iscsi, int status, void *data,
		      void *priv)
{
	struct load_slot *sl = priv;
	struct load_state *st = sl->st;
	struct scsi_task *task = data;
	uint64_t t = now_ns();

	sl->busy = false;
	st->inflight--;
	if (status != SCSI_STATUS_GOOD) {
		if (!st->failed)
			fprintf(stderr, "iscsi_load: %s failed: %s\n",
				st->o.write ? "WRITE(16)" : "READ(16)",
				iscsi_get_error(iscsi));
		st->failed = true;
	} else {
		st->ios++;
		st->lat_sum_ns += t - sl->start_ns;
	}
	if (task)
		scsi_free_scsi_task(task);
	if (!st->o.once && t >= st->end_ns)
		st->stopping = true;
	slot_submit(sl);
}

static int load_connect(struct load_state *st)
{
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc;
	uint64_t size;
	int ret = -1;

	st->iscsi = iscsi_create_context(LOAD_INITIATOR);
	if (!st->iscsi) {
		fprintf(stderr, "iscsi_load: cannot create an iSCSI context\n");
		return -1;
	}
	url = iscsi_parse_full_url(st->iscsi, st->o.target[0]);
	if (!url) {
		fprintf(stderr, "iscsi_load: bad URL '%s': %s\n", st->o.target[0],
			iscsi_get_error(st->iscsi));
		return -1;
	}
	iscsi_set_targetname(st->iscsi, url->target);
	iscsi_set_session_type(st->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(st->iscsi, ISCSI_HEADER_DIGEST_NONE);
	st->lun = url->lun;
	if (iscsi_full_connect_sync(st->iscsi, url->portal, url->lun)) {
		fprintf(stderr, "iscsi_load: login to %s failed: %s\n",
			st->o.target[0], iscsi_get_error(st->iscsi));
		goto out;
	}
	task = iscsi_readcapacity16_sync(st->iscsi, st->lun);
	if (!task || task->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi_load: READ CAPACITY(16) failed: %s\n",
			iscsi_get_error(st->iscsi));
		if (task)
			scsi_free_scsi_task(task);
		goto out;
	}
	rc = scsi_datain_unmarshall(task);
	if (!rc || !rc->block_length) {
		fprintf(stderr, "iscsi_load: cannot parse READ CAPACITY(16)\n");
		scsi_free_scsi_task(task);
		goto out;
	}
	st->lbsize = rc->block_length;
	size = (rc->returned_lba + 1) * rc->block_length;
	scsi_free_scsi_task(task);

	if (st->o.bs % st->lbsize) {
		fprintf(stderr, "iscsi_load: bs %u is not a multiple of the %u-byte block\n",
			st->o.bs, st->lbsize);
		goto out;
	}
	if (!st->o.range || st->o.range > size)
		st->o.range = size;
	st->nr_blocks = st->o.range / st->o.bs;
	if (!st->nr_blocks) {
		fprintf(stderr, "iscsi_load: range %" PRIu64 " is smaller than bs %u\n",
			st->o.range, st->o.bs);
		goto out;
	}
	ret = 0;
out:
	iscsi_destroy_url(url);
	return ret;
}

static int load_loop(struct load_state *st)
{
	struct pollfd pfd;

	while (st->inflight) {
		pfd.fd = iscsi_get_fd(st->iscsi);
		pfd.events = iscsi_which_events(st->iscsi);
		pfd.revents = 0;
		if (poll(&pfd, 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			perror("iscsi_load: poll");
			return -1;
		}
		if (iscsi_service(st->iscsi, pfd.revents) < 0) {
			fprintf(stderr, "iscsi_load: connection failed: %s\n",
				iscsi_get_error(st->iscsi));
			return -1;
		}
	}
	return st->failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	static struct load_state st;
	uint64_t t0, t1;
	double secs;
	unsigned int i;
	int ret = 1;

	if (parse_opts(argc, argv, &st.o))
		return 2;
	st.rng = st.o.seed * 0x9e3779b97f4a7c15ull;
	if (load_connect(&st))
		goto out;
	for (i = 0; i < st.o.qd; i++) {
		struct load_slot *sl = &st.slots[i];

		sl->st = &st;
		sl->buf = aligned_alloc(4096, (st.o.bs + 4095) & ~4095u);
		if (!sl->buf) {
			fprintf(stderr, "iscsi_load: out of memory\n");
			goto out;
		}
		/* non-zero data, different per slot */
		memset(sl->buf, 0xa5 ^ i, st.o.bs);
		sl->iov.iov_base = sl->buf;
		sl->iov.iov_len = st.o.bs;
	}
	t0 = now_ns();
	st.end_ns = t0 + (uint64_t)(st.o.secs * 1e9);
	for (i = 0; i < st.o.qd; i++)
		if (!slot_submit(&st.slots[i]))
			break;
	if (load_loop(&st))
		goto out;
	t1 = now_ns();
	secs = (t1 - t0) / 1e9;
	load_print(&st.o, secs, st.ios, st.lat_sum_ns);
	ret = 0;
out:
	if (st.iscsi) {
		if (!ret)
			iscsi_logout_sync(st.iscsi);
		iscsi_destroy_context(st.iscsi);
	}
	for (i = 0; i < st.o.qd; i++)
		free(st.slots[i].buf);
	return ret;
}
#endif
