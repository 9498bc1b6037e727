// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nbd_load.c - iscsi_load's workload over NBD, for the benchmarks: it
 * connects to one NBD export with libnbd (one connection, nbd_connect_uri)
 * and keeps QD reads or writes in flight with libnbd's asynchronous API
 * driven by one poll() loop, random or sequential, over the whole export
 * or its first RANGE bytes, for a fixed time (or one sequential pass with
 * --once, to fill an export).  Options, block sequence, request buffers,
 * latency histogram and the one result line are load_common.h's, so the
 * NBD, iSCSI and library paths of scripts/bench.sh run the same workload:
 *   mode=randread bs=4096 qd=32 range=1073741824 secs=5.000 ios=N
 *   iops=X mibps=Y lat_us=Z p50_us=A p99_us=B p999_us=C
 * (on one line).  Any failed command ends the run with one error line and
 * exit status 1.
 *
 * libnbd runs completion callbacks with its handle lock held, so a
 * callback only records the completion and the loop resubmits the slot
 * right after the nbd_aio_notify_read() that ran it.  libnbd reads one
 * reply per notification and sends a command as it is queued, so a
 * request costs one poll(), one send and the receives of its reply; the
 * client asks for simple replies (nbd_set_request_structured_replies
 * false: a read's reply is then a header and the data, two receives
 * instead of four) and does not have libnbd clear read buffers first
 * (nbd_set_pread_initialize false), as nothing looks at the data.
 *
 * Without libnbd's header (libnbd-dev) the file builds a stub that says so
 * and exits 3, so that `make` does not depend on libnbd-dev;
 * mk/faulttools.mk links -lnbd only when the header exists.
 */
#if !__has_include(<libnbd.h>)
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "nbd_load: built without libnbd-dev; install it and rebuild\n");
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

#include <libnbd.h>

#include "load_common.h"

struct load_slot {
	void *buf;
	uint64_t start_ns;
};

static struct nbd_handle *nbd;
static struct load_run run;
static struct load_hist hist;
static struct load_slot slots[LOAD_MAX_QD];
static unsigned int inflight;
/* slots whose request completed, to be resubmitted by the loop */
static struct load_slot *done[LOAD_MAX_QD];
static unsigned int nr_done;
static bool failed;		/* a command failed: stop */

static void usage(FILE *f)
{
	load_usage(f, "nbd_load", "NBD-URI", "export");
	fprintf(f,
		"\n"
		"Keeps QD NBD reads or writes in flight on one connection to the export\n"
		"at NBD-URI (libnbd's nbd_connect_uri: nbd+unix:///?socket=PATH,\n"
		"nbd://HOST:PORT[/EXPORT], ...), random or sequential blocks of BYTES\n"
		"over the export (its size from the handshake) or its first BYTES.\n"
		"Prints one line when done:\n"
		"  mode=M bs=B qd=Q range=R secs=S ios=N iops=X mibps=Y lat_us=Z\n"
		"  p50_us=A p99_us=B p999_us=C   (on one line; latencies in microseconds)\n"
		"Exit status: 0 done, 1 a failed connection or command (one error line),\n"
		"2 bad usage.\n");
}

static int parse_opts(int argc, char **argv, struct load_opts *o)
{
	static const struct option lopts[] = {
		LOAD_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};

	load_opts_init(o);
	return load_parse(argc, argv, "nbd_load", LOAD_OPTSTRING, lopts, NULL,
			  usage, 1, o);
}

/* libnbd's completion callback: count it, leave the resubmit to the loop */
static int slot_done(void *opaque, int *error)
{
	struct load_slot *sl = opaque;
	uint64_t t = load_now_ns();

	inflight--;
	if (*error) {
		if (!failed)
			fprintf(stderr, "nbd_load: %s failed: %s\n",
				run.o.write ? "write" : "read", strerror(*error));
		failed = true;
	}
	load_count(&run, !*error, sl->start_ns, t);
	done[nr_done++] = sl;
	return 1;	/* retire the command */
}

/* Issue the next request on @sl; false when there is nothing more to do. */
static bool slot_submit(struct load_slot *sl)
{
	nbd_completion_callback cb = { .callback = slot_done, .user_data = sl };
	uint64_t blk, off;
	int64_t cookie;

	if (failed || !load_next_block(&run, &blk))
		return false;
	off = blk * run.o.bs;
	sl->start_ns = load_now_ns();
	inflight++;
	if (run.o.write)
		cookie = nbd_aio_pwrite(nbd, sl->buf, run.o.bs, off, cb, 0);
	else
		cookie = nbd_aio_pread(nbd, sl->buf, run.o.bs, off, cb, 0);
	if (cookie < 0) {
		inflight--;
		fprintf(stderr, "nbd_load: cannot queue a command: %s\n",
			nbd_get_error());
		failed = true;
		return false;
	}
	return true;
}

/* Connect to the URI and size the run from the export's size. */
static int load_connect(void)
{
	int64_t size;

	nbd = nbd_create();
	if (!nbd) {
		fprintf(stderr, "nbd_load: cannot create a handle: %s\n",
			nbd_get_error());
		return -1;
	}
	if (nbd_set_pread_initialize(nbd, false) < 0 ||
	    nbd_set_request_structured_replies(nbd, false) < 0 ||
	    nbd_connect_uri(nbd, run.o.target[0]) < 0) {
		fprintf(stderr, "nbd_load: cannot connect to '%s': %s\n",
			run.o.target[0], nbd_get_error());
		return -1;
	}
	size = nbd_get_size(nbd);
	if (size < 0) {
		fprintf(stderr, "nbd_load: cannot get the export's size: %s\n",
			nbd_get_error());
		return -1;
	}
	if (!run.o.range || run.o.range > (uint64_t)size)
		run.o.range = size;
	run.nr_blocks = run.o.range / run.o.bs;
	if (!run.nr_blocks) {
		fprintf(stderr, "nbd_load: range %" PRIu64 " is smaller than bs %u\n",
			run.o.range, run.o.bs);
		return -1;
	}
	return 0;
}

/*
 * Until nothing is in flight: wait for the direction libnbd wants, let it
 * handle the socket (which runs the completion callbacks of all replies
 * that arrived), then resubmit the slots that completed.
 */
static int load_loop(void)
{
	struct pollfd pfd = { .fd = nbd_aio_get_fd(nbd) };
	unsigned int i, n;
	int dir, r;

	while (inflight) {
		dir = nbd_aio_get_direction(nbd);
		pfd.events = (dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
			     (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0);
		if (poll(&pfd, 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			perror("nbd_load: poll");
			return -1;
		}
		r = 0;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			r = nbd_aio_notify_read(nbd);
		else if (pfd.revents & POLLOUT)
			r = nbd_aio_notify_write(nbd);
		if (r < 0) {
			/* unless a failed command said it already */
			if (!failed)
				fprintf(stderr, "nbd_load: connection failed: %s\n",
					nbd_get_error());
			return -1;
		}
		n = nr_done;
		nr_done = 0;
		for (i = 0; i < n; i++)
			slot_submit(done[i]);
	}
	return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t t0;
	unsigned int i;
	int ret = 1;

	if (parse_opts(argc, argv, &run.o))
		return 2;
	run.hist = &hist;
	for (i = 0; i < run.o.qd; i++) {
		/* non-zero data, different per slot */
		slots[i].buf = load_buf_alloc(&run.o, 0x3c ^ i, "nbd_load");
		if (!slots[i].buf)
			goto out;
	}
	if (load_connect())
		goto out;
	t0 = load_start(&run);
	for (i = 0; i < run.o.qd; i++)
		if (!slot_submit(&slots[i]))
			break;
	if (load_loop())
		goto out;
	load_print(&run, t0, load_now_ns());
	ret = 0;
out:
	if (nbd) {
		if (!ret)
			nbd_shutdown(nbd, 0);
		nbd_close(nbd);
	}
	for (i = 0; i < run.o.qd; i++)
		free(slots[i].buf);
	return ret;
}
#endif
