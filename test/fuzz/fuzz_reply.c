// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_reply.c - fuzz harness for the reply path of the connection layer
 * (usr/lib/sd_conn.c), driven through the real client over a real socket.
 *
 * Input: byte 0 gives the number of requests (1..8), then three bytes per
 * request describe it (opcode, reply buffer capacity and its split into
 * 1..4 iovecs, write payload size); every remaining byte is the reply
 * stream.  A real sd_client with one connection connects over a unix
 * socket to a fake sheep in this process, which first reads and checks
 * every request, then writes the stream as its "replies" and closes.  The
 * harness then checks that every request completed exactly once within a
 * bounded time, and compares each outcome with a small reference model of
 * the documented reply rules: a reply whose id and opcode match a request
 * in flight completes it with min(data_length, capacity) payload bytes
 * stored in its iovecs; an unknown id or a wrong opcode closes the
 * connection; whatever is still in flight when the stream ends fails with
 * -ECONNRESET.  Bytes past the capacity must stay untouched.
 * fuzz_one_reply() is also called by test/unit/test_fuzz_regress.c.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "sd_conn.h"
#include "sd_error.h"
#include "fuzz_check.h"

#define FR_MAX_REQS	8
#define FR_CFG_BYTES	3
#define FR_MAX_STREAM	(256 * 1024)	/* far below the client's size limit */
#define FR_GUARD	16		/* canary bytes past each capacity */
#define FR_CANARY	0xa5
#define FR_TIMEOUT_MS	5000		/* request deadline (never reached) */
#define FR_WAIT_MS	10000		/* beyond this the client hangs */
#define FR_EPOCH_TAG	0x5d000000u	/* epoch = tag | request index */

static const uint8_t fr_opcodes[8] = {
	SD_OP_READ_OBJ, SD_OP_WRITE_OBJ, SD_OP_CREATE_AND_WRITE_OBJ,
	SD_OP_GET_VDI_INFO, SD_OP_READ_VDIS, SD_OP_GET_CLUSTER_DEFAULT,
	SD_OP_GET_NODE_LIST, SD_OP_STAT_CLUSTER,
};

struct fr_req {
	struct sd_request req;
	struct iovec in_iov[4];
	struct iovec out_iov;
	uint8_t *in_buf;	/* cap + FR_GUARD bytes */
	uint8_t *out_buf;
	uint32_t cap;
	uint32_t id;		/* as the fake sheep read it */
	bool seen;
	int ncalls;
	int err;
};

struct fr_run {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int completed;
	int nreq;
	struct fr_req reqs[FR_MAX_REQS];
};

/* one listening socket for the whole process */
static struct {
	bool ready;
	int lfd;
	char dir[64];
	char path[108];
} fr_lsn = { .lfd = -1 };

static void fr_cleanup(void)
{
	if (fr_lsn.lfd >= 0)
		close(fr_lsn.lfd);
	unlink(fr_lsn.path);
	rmdir(fr_lsn.dir);
}

static void fr_listen_once(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (fr_lsn.ready)
		return;
	snprintf(fr_lsn.dir, sizeof(fr_lsn.dir), "/tmp/sdfuzz.XXXXXX");
	FUZZ_CHECK(mkdtemp(fr_lsn.dir), "mkdtemp: %s", strerror(errno));
	snprintf(fr_lsn.path, sizeof(fr_lsn.path), "%s/sock", fr_lsn.dir);
	fr_lsn.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fr_lsn.lfd >= 0, "socket: %s", strerror(errno));
	memcpy(sun.sun_path, fr_lsn.path, strlen(fr_lsn.path) + 1);
	FUZZ_CHECK(bind(fr_lsn.lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
		   listen(fr_lsn.lfd, 16) == 0, "bind/listen %s: %s",
		   fr_lsn.path, strerror(errno));
	atexit(fr_cleanup);
	fr_lsn.ready = true;
}

static int fr_ms_left(uint64_t deadline)
{
	uint64_t now = sd_now_ns();

	return now >= deadline ? 0 : (int)((deadline - now) / 1000000 + 1);
}

/* poll one fd until @deadline, riding over signals (libFuzzer's timer) */
static int fr_poll(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, fr_ms_left(deadline));
	} while (n < 0 && errno == EINTR);
	return n;
}

/* close connections a previous client left in the backlog */
static void fr_drain_backlog(void)
{
	int fd;

	while ((fd = accept4(fr_lsn.lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

static int fr_accept(struct fr_run *run, uint64_t deadline)
{
	struct timeval tv = { .tv_sec = FR_WAIT_MS / 1000 };
	int fd, n;

	n = fr_poll(fr_lsn.lfd, POLLIN, deadline);
	FUZZ_CHECK(n == 1,
		   "client did not connect within %d ms (poll: %s; %d of %d requests completed, first error %d)",
		   FR_WAIT_MS, n < 0 ? strerror(errno) : "timeout",
		   run->completed, run->nreq, run->reqs[0].err);
	do {
		fd = accept4(fr_lsn.lfd, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	FUZZ_CHECK(fd >= 0, "accept: %s", strerror(errno));
	/* accepted sockets are blocking; a stuck client shows as a timeout */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void fr_read_full(int fd, uint8_t *buf, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n;

		FUZZ_CHECK(fr_poll(fd, POLLIN, deadline) == 1,
			   "client stopped sending its requests (%zu bytes missing)",
			   len);
		n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		FUZZ_CHECK(n > 0, "client closed before sending every request: %s",
			   n < 0 ? strerror(errno) : "EOF");
		buf += n;
		len -= (size_t)n;
	}
}

static uint8_t fr_pattern(int idx, uint32_t i)
{
	return (uint8_t)(idx * 31 + i * 7 + 1);
}

/* the fake sheep's read side: every request arrives intact, exactly once */
static void fr_read_requests(int fd, struct fr_run *run, uint64_t deadline)
{
	uint8_t wire[SD_HDR_SIZE], *payload;
	int i;

	for (i = 0; i < run->nreq; i++) {
		struct fr_req *q;
		struct sd_req h;
		uint32_t k, j;

		fr_read_full(fd, wire, SD_HDR_SIZE, deadline);
		sd_req_decode(wire, &h);
		k = h.epoch & 0xffffff;
		FUZZ_CHECK((h.epoch & 0xff000000) == FR_EPOCH_TAG &&
			   k < (uint32_t)run->nreq && !run->reqs[k].seen,
			   "request header %d carries a foreign or repeated epoch %#x",
			   i, h.epoch);
		q = &run->reqs[k];
		q->seen = true;
		q->id = h.id;
		FUZZ_CHECK(h.opcode == q->req.hdr.opcode &&
			   h.flags == q->req.hdr.flags &&
			   h.data_length == q->req.hdr.data_length &&
			   h.proto_ver == q->req.hdr.proto_ver,
			   "request %u arrived with different header fields", k);
		if (!(h.flags & SD_FLAG_CMD_WRITE) || !h.data_length)
			continue;
		payload = malloc(h.data_length);
		FUZZ_CHECK(payload, "out of memory");
		fr_read_full(fd, payload, h.data_length, deadline);
		for (j = 0; j < h.data_length; j++)
			FUZZ_CHECK(payload[j] == fr_pattern((int)k, j),
				   "request %u: write payload byte %u differs", k, j);
		free(payload);
	}
}

/* write the stream; false if the client closed the connection first */
static bool fr_write_stream(int fd, const uint8_t *s, size_t len)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return false;
		FUZZ_CHECK(n > 0, "client stopped reading replies: %s",
			   n < 0 ? strerror(errno) : "0 bytes sent");
		s += n;
		len -= (size_t)n;
	}
	return true;
}

static void fr_done(struct sd_request *req, int err)
{
	struct fr_req *q = (struct fr_req *)req;
	struct fr_run *run = req->priv;

	pthread_mutex_lock(&run->lock);
	q->ncalls++;
	q->err = err;
	run->completed++;
	pthread_cond_broadcast(&run->cond);
	pthread_mutex_unlock(&run->lock);
}

static void fr_wait_all(struct fr_run *run)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += FR_WAIT_MS / 1000;
	pthread_mutex_lock(&run->lock);
	while (run->completed < run->nreq && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&run->cond, &run->lock, &ts);
	pthread_mutex_unlock(&run->lock);
	FUZZ_CHECK(run->completed >= run->nreq,
		   "only %d of %d requests completed within %d ms",
		   run->completed, run->nreq, FR_WAIT_MS);
}

static void fr_setup_req(struct fr_run *run, int k, const uint8_t *cfg)
{
	struct fr_req *q = &run->reqs[k];
	bool write = cfg[0] & 0x8;
	uint32_t out_len = write ? (uint32_t)(cfg[2] >> 2) * 3 : 0;
	int niov = 1 + (cfg[2] & 3), j;
	uint32_t i;

	q->cap = (uint32_t)cfg[1] * 4;
	q->in_buf = malloc(q->cap + FR_GUARD);
	q->out_buf = malloc(out_len + 1);
	FUZZ_CHECK(q->in_buf && q->out_buf, "out of memory");
	memset(q->in_buf, FR_CANARY, q->cap + FR_GUARD);
	for (i = 0; i < out_len; i++)
		q->out_buf[i] = fr_pattern(k, i);
	/* contiguous pieces, some possibly empty */
	for (j = 0; j < niov; j++) {
		uint32_t a = q->cap * (uint32_t)j / (uint32_t)niov;
		uint32_t b = q->cap * (uint32_t)(j + 1) / (uint32_t)niov;

		q->in_iov[j].iov_base = q->in_buf + a;
		q->in_iov[j].iov_len = b - a;
	}
	q->out_iov.iov_base = q->out_buf;
	q->out_iov.iov_len = out_len;

	q->req.hdr.proto_ver = SD_PROTO_VER;
	q->req.hdr.opcode = fr_opcodes[cfg[0] & 7];
	q->req.hdr.flags = write ? SD_FLAG_CMD_WRITE : 0;
	q->req.hdr.epoch = FR_EPOCH_TAG | (uint32_t)k;
	q->req.hdr.data_length = write ? out_len : q->cap;
	if (write) {
		q->req.out_iov = &q->out_iov;
		q->req.out_iovcnt = 1;
	}
	q->req.in_iov = q->in_iov;
	q->req.in_iovcnt = niov;
	q->req.done = fr_done;
	q->req.priv = run;
}

static void fr_check_canary(const struct fr_req *q, int k, uint32_t from)
{
	uint32_t i;

	for (i = from; i < q->cap + FR_GUARD; i++)
		FUZZ_CHECK(q->in_buf[i] == FR_CANARY,
			   "request %d: byte %u of its buffer (capacity %u, stored %u) was overwritten",
			   k, i, q->cap, from);
}

/*
 * Replay the stream through the reference model.  Returns true if a reply
 * was malformed; *reset tells whether some request failed with -ECONNRESET,
 * *oversize whether the stream ended inside an oversized reply.
 */
static bool fr_check_outcomes(struct fr_run *run, const uint8_t *s, size_t len,
			      bool *reset, bool *oversize)
{
	bool done[FR_MAX_REQS] = { false }, bad = false;
	size_t pos = 0;
	int k;

	*oversize = false;
	while (len - pos >= SD_HDR_SIZE) {
		uint8_t want[SD_HDR_SIZE], got[SD_HDR_SIZE];
		struct fr_req *q = NULL;
		struct sd_rsp rsp;
		uint32_t stored;

		sd_rsp_decode(s + pos, &rsp);
		pos += SD_HDR_SIZE;
		for (k = 0; k < run->nreq; k++)
			if (!done[k] && run->reqs[k].id == rsp.id)
				q = &run->reqs[k];
		if (!q || q->req.hdr.opcode != rsp.opcode) {
			bad = true;
			break;
		}
		if (rsp.data_length > len - pos) {
			/*
			 * Cut short by the end of the stream.  Longer than any
			 * real reply, the client may also call it malformed
			 * (its exact limit is private); the request fails
			 * with -ECONNRESET either way.
			 */
			*oversize = rsp.data_length >
				    (q->cap > SD_INODE_SIZE ? q->cap : SD_INODE_SIZE);
			break;
		}
		k = (int)(q - run->reqs);
		done[k] = true;
		FUZZ_CHECK(q->err == 0,
			   "request %d (id %#x): its whole reply arrived but done() got %d",
			   k, q->id, q->err);
		sd_rsp_encode(&rsp, want);
		sd_rsp_encode(&q->req.rsp, got);
		FUZZ_CHECK(!memcmp(want, got, SD_HDR_SIZE),
			   "request %d: rsp differs from the reply header", k);
		stored = rsp.data_length < q->cap ? rsp.data_length : q->cap;
		FUZZ_CHECK(q->req.in_len == stored,
			   "request %d: in_len %u, expected %u (data_length %u, capacity %u)",
			   k, q->req.in_len, stored, rsp.data_length, q->cap);
		FUZZ_CHECK(!memcmp(q->in_buf, s + pos, stored),
			   "request %d: stored payload differs from the stream", k);
		fr_check_canary(q, k, stored);
		pos += rsp.data_length;
	}
	*reset = false;
	for (k = 0; k < run->nreq; k++) {
		if (done[k])
			continue;
		*reset = true;
		FUZZ_CHECK(run->reqs[k].err == -ECONNRESET,
			   "request %d (id %#x): no complete reply in the stream, but done() got %d instead of -ECONNRESET",
			   k, run->reqs[k].id, run->reqs[k].err);
		fr_check_canary(&run->reqs[k], k, run->reqs[k].cap);
	}
	return bad;
}

int fuzz_one_reply(const uint8_t *data, size_t size)
{
	struct sd_client_opts opts = { .nr_addrs = 1, .nr_conns = 1,
				       .timeout_ms = FR_TIMEOUT_MS };
	char addr_str[160];
	struct sd_client_stats st;
	struct sd_client *c = NULL;
	struct sd_addr addr;
	struct fr_run *run;
	const uint8_t *stream;
	size_t stream_len;
	uint64_t deadline;
	bool whole, bad, reset, oversize;
	int nreq, k, fd;

	if (size < 1)
		return 0;
	nreq = 1 + data[0] % FR_MAX_REQS;
	if (size < 1 + (size_t)nreq * FR_CFG_BYTES)
		return 0;
	stream = data + 1 + nreq * FR_CFG_BYTES;
	stream_len = size - 1 - (size_t)nreq * FR_CFG_BYTES;
	if (stream_len > FR_MAX_STREAM)
		return 0;

	fr_listen_once();
	fr_drain_backlog();
	run = calloc(1, sizeof(*run));
	FUZZ_CHECK(run, "out of memory");
	pthread_mutex_init(&run->lock, NULL);
	pthread_cond_init(&run->cond, NULL);
	run->nreq = nreq;
	for (k = 0; k < nreq; k++)
		fr_setup_req(run, k, data + 1 + k * FR_CFG_BYTES);

	snprintf(addr_str, sizeof(addr_str), "unix:%s", fr_lsn.path);
	FUZZ_CHECK(sd_addr_parse(addr_str, &addr) == 0, "%s", sd_get_error());
	opts.addrs = &addr;
	FUZZ_CHECK(sd_client_new(&opts, &c) == 0, "sd_client_new: %s",
		   sd_get_error());
	for (k = 0; k < nreq; k++)
		FUZZ_CHECK(sd_client_submit(c, &run->reqs[k].req) == 0,
			   "submit %d: %s", k, sd_get_error());

	deadline = sd_now_ns() + (uint64_t)FR_WAIT_MS * 1000000;
	fd = fr_accept(run, deadline);
	fr_read_requests(fd, run, deadline);
	whole = fr_write_stream(fd, stream, stream_len);
	close(fd);

	fr_wait_all(run);
	sd_client_get_stats(c, &st);
	sd_client_free(c);

	for (k = 0; k < nreq; k++)
		FUZZ_CHECK(run->reqs[k].ncalls == 1,
			   "request %d: done() called %d times", k,
			   run->reqs[k].ncalls);
	bad = fr_check_outcomes(run, stream, stream_len, &reset, &oversize);
	FUZZ_CHECK(whole || bad || oversize,
		   "client closed the connection without a malformed reply");
	/*
	 * A bad reply after the last completion may still be unparsed when
	 * the counters are read; one that failed a request must be counted.
	 */
	if (bad)
		FUZZ_CHECK(st.bad_replies == 1 || (st.bad_replies == 0 && !reset),
			   "bad_replies is %llu after a malformed reply",
			   (unsigned long long)st.bad_replies);
	else
		FUZZ_CHECK(st.bad_replies <= (oversize ? 1u : 0u),
			   "bad_replies is %llu, but every reply was well-formed",
			   (unsigned long long)st.bad_replies);
	FUZZ_CHECK(st.submitted == (uint64_t)nreq && st.completed == (uint64_t)nreq &&
		   st.timeouts == 0,
		   "stats: submitted %llu completed %llu timeouts %llu for %d requests",
		   (unsigned long long)st.submitted,
		   (unsigned long long)st.completed,
		   (unsigned long long)st.timeouts, nreq);

	for (k = 0; k < nreq; k++) {
		free(run->reqs[k].in_buf);
		free(run->reqs[k].out_buf);
	}
	pthread_cond_destroy(&run->cond);
	pthread_mutex_destroy(&run->lock);
	free(run);
	return 0;
}

FUZZ_ENTRY(fuzz_one_reply)
