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

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "load_common.h"

#define LOAD_INITIATOR	"iqn.2026-11.org.sheepdog:iscsi-load"

struct load_slot {
	struct load_state *st;
	unsigned char *buf;
	struct scsi_iovec iov;
	uint64_t start_ns;
};

struct load_state {
	struct load_run r;
	struct iscsi_context *iscsi;
	int lun;
	uint32_t lbsize;
	bool failed;
	unsigned int inflight;
	struct load_slot slots[LOAD_MAX_QD];
};

static void usage(FILE *f)
{
	load_usage(f, "iscsi_load", "iscsi://HOST:PORT/IQN/LUN", "LUN");
}

static int parse_opts(int argc, char **argv, struct load_opts *o)
{
	static const struct option lopts[] = {
		LOAD_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	load_opts_init(o);
	while ((c = getopt_long(argc, argv, LOAD_OPTSTRING, lopts,
				NULL)) != -1) {
		r = load_opt(c, optarg, o);
		if (r < 0)
			return load_bad_value("iscsi_load", c, optarg);
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
}

static void slot_done(struct iscsi_context *iscsi, int status, void *data,
		      void *priv);

/* Issue the next request on @sl; false when there is nothing more to do. */
static bool slot_submit(struct load_slot *sl)
{
	struct load_state *st = sl->st;
	struct scsi_task *task;
	uint64_t blk, lba;
	uint32_t nblk = st->r.o.bs / st->lbsize;

	if (st->failed || !load_next_block(&st->r, &blk))
		return false;
	lba = blk * nblk;
	sl->start_ns = load_now_ns();
	if (st->r.o.write)
		task = iscsi_write16_task(st->iscsi, st->lun, lba, sl->buf,
					  st->r.o.bs, st->lbsize, 0, 0, 0, 0, 0,
					  slot_done, sl);
	else
		task = iscsi_read16_iov_task(st->iscsi, st->lun, lba,
					     st->r.o.bs, st->lbsize, 0, 0, 0,
					     0, 0, slot_done, sl, &sl->iov, 1);
	if (!task) {
		fprintf(stderr, "iscsi_load: cannot queue a command: %s\n",
			iscsi_get_error(st->iscsi));
		st->failed = true;
		return false;
	}
	st->inflight++;
	return true;
}

static void slot_done(struct iscsi_context *iscsi, int status, void *data,
		      void *priv)
{
	struct load_slot *sl = priv;
	struct load_state *st = sl->st;
	struct scsi_task *task = data;
	uint64_t t = load_now_ns();

	st->inflight--;
	if (status != SCSI_STATUS_GOOD) {
		if (!st->failed)
			fprintf(stderr, "iscsi_load: %s failed: %s\n",
				st->r.o.write ? "WRITE(16)" : "READ(16)",
				iscsi_get_error(iscsi));
		st->failed = true;
	}
	load_count(&st->r, status == SCSI_STATUS_GOOD, sl->start_ns, t);
	if (task)
		scsi_free_scsi_task(task);
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
	url = iscsi_parse_full_url(st->iscsi, st->r.o.target[0]);
	if (!url) {
		fprintf(stderr, "iscsi_load: bad URL '%s': %s\n", st->r.o.target[0],
			iscsi_get_error(st->iscsi));
		return -1;
	}
	iscsi_set_targetname(st->iscsi, url->target);
	iscsi_set_session_type(st->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(st->iscsi, ISCSI_HEADER_DIGEST_NONE);
	st->lun = url->lun;
	if (iscsi_full_connect_sync(st->iscsi, url->portal, url->lun)) {
		fprintf(stderr, "iscsi_load: login to %s failed: %s\n",
			st->r.o.target[0], iscsi_get_error(st->iscsi));
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

	if (st->r.o.bs % st->lbsize) {
		fprintf(stderr, "iscsi_load: bs %u is not a multiple of the %u-byte block\n",
			st->r.o.bs, st->lbsize);
		goto out;
	}
	if (!st->r.o.range || st->r.o.range > size)
		st->r.o.range = size;
	st->r.nr_blocks = st->r.o.range / st->r.o.bs;
	if (!st->r.nr_blocks) {
		fprintf(stderr, "iscsi_load: range %" PRIu64 " is smaller than bs %u\n",
			st->r.o.range, st->r.o.bs);
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
	uint64_t t0;
	unsigned int i;
	int ret = 1;

	if (parse_opts(argc, argv, &st.r.o))
		return 2;
	if (load_connect(&st))
		goto out;
	for (i = 0; i < st.r.o.qd; i++) {
		struct load_slot *sl = &st.slots[i];

		sl->st = &st;
		/* non-zero data, different per slot */
		sl->buf = load_buf_alloc(&st.r.o, 0xa5 ^ i, "iscsi_load");
		if (!sl->buf)
			goto out;
		sl->iov.iov_base = sl->buf;
		sl->iov.iov_len = st.r.o.bs;
	}
	t0 = load_start(&st.r);
	for (i = 0; i < st.r.o.qd; i++)
		if (!slot_submit(&st.slots[i]))
			break;
	if (load_loop(&st))
		goto out;
	load_print(&st.r, t0, load_now_ns());
	ret = 0;
out:
	if (st.iscsi) {
		if (!ret)
			iscsi_logout_sync(st.iscsi);
		iscsi_destroy_context(st.iscsi);
	}
	for (i = 0; i < st.r.o.qd; i++)
		free(st.slots[i].buf);
	return ret;
}
#endif
