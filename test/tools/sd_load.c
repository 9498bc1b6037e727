// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_load.c - the benchmarks' "library alone" load generator: the same
 * workload as iscsi_load (QD requests in flight, random or sequential, read
 * or write, whole VDI or its first RANGE bytes, fixed time or one
 * sequential pass with --once) issued straight to libsheepdog's async API.
 * Completions resubmit from the library's I/O thread, so nothing but the
 * library and the sheep is measured.  It prints iscsi_load's one-line
 * result up to its latency field:
 *   mode=randread bs=4096 qd=32 range=1073741824 secs=5.000 ios=N
 *   iops=X mibps=Y lat_us=Z
 * (on one line).  A failed request ends the run with one error line and
 * exit status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sheepdog.h"
#include "load_common.h"


struct load_slot {
	struct load_state *st;
	void *buf;
	struct iovec iov;
	uint64_t start_ns;
	bool again;		/* completed inside its submit: send next_blk */
	uint64_t next_blk;
};

/* the slot whose submit call runs on this thread, if any */
static __thread struct load_slot *submitting;

struct load_state {
	struct load_run r;
	struct sd_vdi *vdi;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	int err;
	unsigned int inflight;
	struct load_slot slots[LOAD_MAX_QD];
};

static void usage(FILE *f)
{
	load_usage(f, "sd_load", "ADDR VDI", "VDI");
	fprintf(f,
		"  -c, --conns N       connections to the sheep, 1..%d (%d)\n"
		"  -l, --lock MODE     none|normal|shared (none)\n"
		"  -S, --stride BYTES  block k is at k * BYTES (the request size)\n",
		SD_MAX_CONNS, SD_DEFAULT_CONNS);
}

static enum sd_lock_mode lock_mode = SD_LOCK_NONE;
static uint64_t stride;		/* 0 = the request size */

/* sd_load's own options for load_parse(): --conns, --lock, --stride */
static int own_opt(int c, const char *arg, struct load_opts *o)
{
	uint64_t v;

	switch (c) {
	case 'c':
		if (parse_size(arg, &v) || !v || v > SD_MAX_CONNS)
			goto bad;
		o->conns = v;
		return 1;
	case 'l':
		if (!strcmp(arg, "none"))
			lock_mode = SD_LOCK_NONE;
		else if (!strcmp(arg, "normal"))
			lock_mode = SD_LOCK_NORMAL;
		else if (!strcmp(arg, "shared"))
			lock_mode = SD_LOCK_SHARED;
		else
			goto bad;
		return 1;
	case 'S':
		if (parse_size(arg, &v) || !v)
			goto bad;
		stride = v;
		return 1;
	default:
		return 0;
	}
bad:
	return load_bad_value("sd_load", c, arg);
}

static int parse_opts(int argc, char **argv, struct load_opts *o)
{
	static const struct option lopts[] = {
		LOAD_LONG_OPTIONS,
		{ "conns", required_argument, NULL, 'c' },
		{ "lock", required_argument, NULL, 'l' },
		{ "stride", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};

	load_opts_init(o);
	o->conns = SD_DEFAULT_CONNS;
	return load_parse(argc, argv, "sd_load", LOAD_OPTSTRING "c:l:S:", lopts,
			  own_opt, usage, 2, o);
}

static void slot_done(void *opaque, int err);

/*
 * Pick the next block (st->mu held); false when the run is over.  A slot
 * keeps its place in st->inflight from one request to the next, so the
 * count only drops when a slot retires.
 */
static bool next_block(struct load_state *st, uint64_t *blk)
{
	return !st->err && load_next_block(&st->r, blk);
}

/* The slot is done for good (st->mu held). */
static void slot_retire(struct load_state *st)
{
	if (!--st->inflight)
		pthread_cond_signal(&st->idle);
}

/*
 * Send the request for @blk on @sl, which already counts as in flight.
 * The library may complete a request inside the submit call (a read of
 * an unallocated block needs no sheep); slot_done then only records the
 * next block, and the loop here sends it, so that a long run of such
 * requests does not nest one call deeper each.
 */
static void slot_send(struct load_slot *sl, uint64_t blk)
{
	struct load_state *st = sl->st;
	int ret;

	do {
		sl->again = false;
		sl->start_ns = load_now_ns();
		submitting = sl;
		if (st->r.o.write)
			ret = sd_vdi_aio_write(st->vdi, &sl->iov, 1,
					       blk * stride, 0, slot_done, sl);
		else
			ret = sd_vdi_aio_read(st->vdi, &sl->iov, 1,
					      blk * stride, slot_done, sl);
		submitting = NULL;
		if (ret < 0) {
			fprintf(stderr, "sd_load: cannot submit: %s\n",
				sd_get_error());
			pthread_mutex_lock(&st->mu);
			st->err = ret;
			slot_retire(st);
			pthread_mutex_unlock(&st->mu);
			return;
		}
		blk = sl->next_blk;
	} while (sl->again);
}

static void slot_done(void *opaque, int err)
{
	struct load_slot *sl = opaque;
	struct load_state *st = sl->st;
	uint64_t t = load_now_ns(), blk = 0;
	bool more;

	pthread_mutex_lock(&st->mu);
	if (err) {
		if (!st->err)
			fprintf(stderr, "sd_load: %s failed: %s\n",
				st->r.o.write ? "write" : "read", strerror(-err));
		st->err = err;
	}
	load_count(&st->r, !err, sl->start_ns, t);
	more = next_block(st, &blk);
	if (!more)
		slot_retire(st);
	pthread_mutex_unlock(&st->mu);
	if (!more)
		return;
	if (submitting == sl) {
		sl->next_blk = blk;	/* slot_send's loop sends it */
		sl->again = true;
	} else {
		slot_send(sl, blk);
	}
}

static int load_open(struct load_state *st, struct sd_client **cp)
{
	struct sd_addr addr;
	struct sd_client_opts co = { 0 };
	struct sd_vdi_open_args va = { 0 };
	uint64_t size;

	if (sd_addr_parse(st->r.o.target[0], &addr) < 0) {
		fprintf(stderr, "sd_load: %s\n", sd_get_error());
		return -1;
	}
	co.addrs = &addr;
	co.nr_addrs = 1;
	co.nr_conns = st->r.o.conns;
	if (sd_client_new(&co, cp) < 0) {
		fprintf(stderr, "sd_load: %s\n", sd_get_error());
		return -1;
	}
	va.name = st->r.o.target[1];
	va.lock = lock_mode;
	if (sd_vdi_open(*cp, &va, &st->vdi) < 0) {
		fprintf(stderr, "sd_load: cannot open VDI '%s': %s\n",
			st->r.o.target[1], sd_get_error());
		return -1;
	}
	size = sd_vdi_size(st->vdi);
	if (!st->r.o.range || st->r.o.range > size)
		st->r.o.range = size;
	if (!stride)
		stride = st->r.o.bs;
	if (stride < st->r.o.bs) {
		fprintf(stderr, "sd_load: stride %" PRIu64 " is smaller than bs %u\n",
			stride, st->r.o.bs);
		return -1;
	}
	st->r.nr_blocks = (st->r.o.range - st->r.o.bs) / stride + 1;
	if (st->r.o.range < st->r.o.bs)
		st->r.nr_blocks = 0;
	if (!st->r.nr_blocks) {
		fprintf(stderr, "sd_load: range %" PRIu64 " is smaller than bs %u\n",
			st->r.o.range, st->r.o.bs);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct load_state st;
	struct sd_client *client = NULL;
	uint64_t t0, t1;
	unsigned int i;
	int ret = 1;

	if (parse_opts(argc, argv, &st.r.o))
		return 2;
	pthread_mutex_init(&st.mu, NULL);
	pthread_cond_init(&st.idle, NULL);
	if (load_open(&st, &client))
		goto out;
	for (i = 0; i < st.r.o.qd; i++) {
		struct load_slot *sl = &st.slots[i];

		sl->st = &st;
		sl->buf = load_buf_alloc(&st.r.o, 0x5a ^ i, "sd_load");
		if (!sl->buf)
			goto out;
		sl->iov.iov_base = sl->buf;
		sl->iov.iov_len = st.r.o.bs;
	}
	t0 = load_start(&st.r);
	for (i = 0; i < st.r.o.qd; i++) {
		uint64_t blk;
		bool more;

		pthread_mutex_lock(&st.mu);
		more = next_block(&st, &blk);
		if (more)
			st.inflight++;
		pthread_mutex_unlock(&st.mu);
		if (!more)
			break;
		slot_send(&st.slots[i], blk);
	}
	pthread_mutex_lock(&st.mu);
	while (st.inflight)
		pthread_cond_wait(&st.idle, &st.mu);
	pthread_mutex_unlock(&st.mu);
	t1 = load_now_ns();
	if (st.err)
		goto out;
	load_print(&st.r, t0, t1);
	ret = 0;
out:
	if (st.vdi)
		sd_vdi_close(st.vdi);
	if (client)
		sd_client_free(client);
	for (i = 0; i < st.r.o.qd; i++)
		free(st.slots[i].buf);
	return ret;
}
