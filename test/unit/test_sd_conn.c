// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_conn.c - unit tests of layer 2 (usr/lib/sd_conn.c) against a small
 * scriptable fake sheep that runs in a thread of this process on a unix
 * socket in a private temporary directory.  The fake answers READ_OBJ with
 * a pattern derived from oid and offset, checks WRITE_OBJ payloads against
 * the same pattern, and can be told to reorder, stall, drop a connection,
 * send malformed replies, send more payload than asked, or restart.
 */
#include <dirent.h>
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
#include <sys/uio.h>
#include <sys/un.h>

#include "tap.h"
#include "sd_conn.h"

/* ---- the fake sheep -------------------------------------------------- */

#define FS_MAX_CONNS	64
#define FS_MAX_HELD	256

enum fs_bad {
	FS_BAD_NONE,
	FS_BAD_ID,
	FS_BAD_OPCODE,
	FS_BAD_LENGTH,
};

struct fs_conn {
	int fd;
	int nreq;
	int nheld;
	struct sd_req held[FS_MAX_HELD];
};

struct fake_sheep {
	char dir[64];
	char path[108];
	int lfd;
	pthread_t thread;
	pthread_mutex_t lock;
	struct fs_conn *conns[FS_MAX_CONNS];

	/* script, under lock */
	bool stall;		/* read, never answer */
	int reverse_k;		/* answer each batch of k in reverse */
	int drop_after;		/* hold n requests then close (once) */
	enum fs_bad bad;	/* next reply malformed (once) */
	uint32_t extra;		/* extra READ_OBJ payload bytes */
	int transient_n;	/* answer the next n requests with: */
	uint32_t transient_res;
	int restart_ms;		/* close everything, reopen after ms */
	int down;
	bool stop;

	/* counters, under lock */
	int accepted;
	int closed;
	int requests;
	int write_bad;
	int used_conns;		/* connections that carried requests */
};

static struct fake_sheep fs;

static uint8_t pattern(uint64_t oid, uint64_t pos)
{
	uint64_t x = oid * 0x9e3779b97f4a7c15ULL + pos;

	return (uint8_t)(x ^ (x >> 13) ^ (pos >> 7));
}

static uint64_t ms_since(uint64_t t0)
{
	return (sd_now_ns() - t0) / 1000000;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int fs_listen(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	unlink(fs.path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fs.path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 128) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void fs_close_conn(int i)
{
	close(fs.conns[i]->fd);
	free(fs.conns[i]);
	fs.conns[i] = NULL;
	fs.closed++;
}

static void fs_send(int fd, const uint8_t *hdr, const uint8_t *data, size_t len)
{
	struct iovec iov[2] = {
		{ (void *)hdr, SD_HDR_SIZE },
		{ (void *)data, len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	size_t total = SD_HDR_SIZE + len;

	while (total) {
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		total -= w;
		while (w > 0 && mh.msg_iovlen) {
			if ((size_t)w >= mh.msg_iov->iov_len) {
				w -= mh.msg_iov->iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + w;
				mh.msg_iov->iov_len -= w;
				w = 0;
			}
		}
	}
}

/* answer one request; @bad makes the header malformed */
static void fs_reply(int fd, const struct sd_req *rq, enum fs_bad bad,
		     uint32_t extra)
{
	struct sd_rsp rsp;
	uint8_t hdr[SD_HDR_SIZE];
	uint8_t *data = NULL;
	uint32_t len = 0, i;

	memset(&rsp, 0, sizeof(rsp));
	rsp.opcode = rq->opcode;
	rsp.id = rq->id;
	rsp.result = SD_RES_SUCCESS;
	if (rq->opcode == SD_OP_READ_OBJ) {
		len = rq->data_length + extra;
		data = malloc(len ? len : 1);
		if (!data)
			return;
		for (i = 0; i < len; i++)
			data[i] = pattern(rq->obj.oid, (uint64_t)rq->obj.offset + i);
	}
	rsp.data_length = len;
	switch (bad) {
	case FS_BAD_ID:
		rsp.id ^= 0xffff0000;
		break;
	case FS_BAD_OPCODE:
		rsp.opcode = SD_OP_WRITE_OBJ;
		break;
	case FS_BAD_LENGTH:
		rsp.data_length = 0xf0000000;
		len = 0;
		break;
	default:
		break;
	}
	sd_rsp_encode(&rsp, hdr);
	fs_send(fd, hdr, data, len);
	free(data);
}

static bool recv_all(int fd, void *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, MSG_WAITALL);

	return n == (ssize_t)len;
}

/* read one request of connection @i and act on the script */
static void fs_serve(int i)
{
	struct fs_conn *fc = fs.conns[i];
	uint8_t hdr[SD_HDR_SIZE];
	struct sd_req rq;
	enum fs_bad bad;
	uint32_t extra;
	int k;

	if (!recv_all(fc->fd, hdr, sizeof(hdr))) {
		fs_close_conn(i);
		return;
	}
	sd_req_decode(hdr, &rq);
	if (rq.flags & SD_FLAG_CMD_WRITE) {
		uint8_t *p = malloc(rq.data_length ? rq.data_length : 1);
		uint32_t j;

		if (!p || rq.data_length > (64U << 20) ||
		    !recv_all(fc->fd, p, rq.data_length)) {
			free(p);
			fs_close_conn(i);
			return;
		}
		for (j = 0; j < rq.data_length; j++)
			if (p[j] != pattern(rq.obj.oid, (uint64_t)rq.obj.offset + j))
				break;
		if (j != rq.data_length)
			fs.write_bad++;
		free(p);
	}
	fs.requests++;
	if (fc->nreq++ == 0)
		fs.used_conns++;

	if (fs.stall) {
		if (fc->nheld < FS_MAX_HELD)
			fc->held[fc->nheld++] = rq;
		return;
	}
	if (fs.drop_after) {
		fc->held[fc->nheld++] = rq;
		if (fc->nheld >= fs.drop_after) {
			fs.drop_after = 0;
			fs_close_conn(i);
		}
		return;
	}
	if (fs.transient_n) {
		struct sd_rsp rsp = { .opcode = rq.opcode, .id = rq.id,
				      .result = fs.transient_res };

		if (fs.transient_n > 0)
			fs.transient_n--;
		sd_rsp_encode(&rsp, hdr);
		fs_send(fc->fd, hdr, NULL, 0);
		return;
	}
	bad = fs.bad;
	fs.bad = FS_BAD_NONE;
	extra = fs.extra;
	if (bad) {
		fs_reply(fc->fd, &rq, bad, 0);
		return;
	}
	if (fs.reverse_k) {
		fc->held[fc->nheld++] = rq;
		if (fc->nheld < fs.reverse_k)
			return;
		for (k = fc->nheld - 1; k >= 0; k--)
			fs_reply(fc->fd, &fc->held[k], FS_BAD_NONE, extra);
		fc->nheld = 0;
		return;
	}
	fs_reply(fc->fd, &rq, FS_BAD_NONE, extra);
}

static void *fs_thread(void *arg)
{
	uint64_t down_since = 0;

	(void)arg;
	pthread_mutex_lock(&fs.lock);
	while (!fs.stop) {
		struct pollfd pfd[FS_MAX_CONNS + 1];
		int map[FS_MAX_CONNS + 1];
		int i, n = 0, ret;

		if (fs.restart_ms && !fs.down) {
			for (i = 0; i < FS_MAX_CONNS; i++)
				if (fs.conns[i])
					fs_close_conn(i);
			close(fs.lfd);
			fs.lfd = -1;
			fs.down = 1;
			down_since = sd_now_ns();
		}
		if (fs.down && ms_since(down_since) >= (uint64_t)fs.restart_ms) {
			fs.lfd = fs_listen();
			fs.down = 0;
			fs.restart_ms = 0;
		}
		if (fs.lfd >= 0) {
			pfd[n].fd = fs.lfd;
			pfd[n].events = POLLIN;
			map[n++] = -1;
		}
		for (i = 0; i < FS_MAX_CONNS; i++) {
			if (!fs.conns[i])
				continue;
			pfd[n].fd = fs.conns[i]->fd;
			pfd[n].events = POLLIN;
			map[n++] = i;
		}
		pthread_mutex_unlock(&fs.lock);
		ret = poll(pfd, n, 10);
		pthread_mutex_lock(&fs.lock);
		if (ret <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (map[i] < 0) {
				int cfd = accept4(fs.lfd, NULL, NULL, SOCK_CLOEXEC);
				int j;

				if (cfd < 0)
					continue;
				for (j = 0; j < FS_MAX_CONNS && fs.conns[j]; j++)
					;
				if (j == FS_MAX_CONNS) {
					close(cfd);
					continue;
				}
				fs.conns[j] = calloc(1, sizeof(struct fs_conn));
				if (!fs.conns[j]) {
					close(cfd);
					continue;
				}
				fs.conns[j]->fd = cfd;
				fs.accepted++;
			} else if (fs.conns[map[i]] &&
				   fs.conns[map[i]]->fd == pfd[i].fd) {
				fs_serve(map[i]);
			}
		}
	}
	for (int i = 0; i < FS_MAX_CONNS; i++)
		if (fs.conns[i])
			fs_close_conn(i);
	pthread_mutex_unlock(&fs.lock);
	return NULL;
}

static int fs_start(void)
{
	snprintf(fs.dir, sizeof(fs.dir), "/tmp/test_sd_conn.XXXXXX");
	if (!mkdtemp(fs.dir))
		return -1;
	snprintf(fs.path, sizeof(fs.path), "%s/sock", fs.dir);
	pthread_mutex_init(&fs.lock, NULL);
	fs.lfd = fs_listen();
	if (fs.lfd < 0)
		return -1;
	return pthread_create(&fs.thread, NULL, fs_thread, NULL) ? -1 : 0;
}

static void fs_stop(void)
{
	pthread_mutex_lock(&fs.lock);
	fs.stop = true;
	pthread_mutex_unlock(&fs.lock);
	pthread_join(fs.thread, NULL);
	if (fs.lfd >= 0)
		close(fs.lfd);
	unlink(fs.path);
	rmdir(fs.dir);
}

/* all faults off */
static void fs_reset(void)
{
	pthread_mutex_lock(&fs.lock);
	fs.stall = false;
	fs.reverse_k = 0;
	fs.drop_after = 0;
	fs.bad = FS_BAD_NONE;
	fs.extra = 0;
	fs.transient_n = 0;
	fs.used_conns = 0;
	for (int i = 0; i < FS_MAX_CONNS; i++)
		if (fs.conns[i])
			fs.conns[i]->nheld = 0;
	pthread_mutex_unlock(&fs.lock);
}

#define FS_SET(field, val) do {			\
	pthread_mutex_lock(&fs.lock);		\
	fs.field = (val);			\
	pthread_mutex_unlock(&fs.lock);		\
} while (0)

static int fs_get(const int *field)
{
	int v;

	pthread_mutex_lock(&fs.lock);
	v = *field;
	pthread_mutex_unlock(&fs.lock);
	return v;
}

static int fs_open_conns(void)
{
	int i, n = 0;

	pthread_mutex_lock(&fs.lock);
	for (i = 0; i < FS_MAX_CONNS; i++)
		n += fs.conns[i] != NULL;
	pthread_mutex_unlock(&fs.lock);
	return n;
}

/* wait until the server has closed @want connections (or 2 s) */
static void fs_wait_closed(int want)
{
	uint64_t t0 = sd_now_ns();

	while (fs_get(&fs.closed) < want && ms_since(t0) < 2000)
		msleep(5);
}

/* ---- client-side helpers --------------------------------------------- */

struct treq {
	struct sd_request req;
	struct iovec iov[3];
	uint8_t *buf;
	uint32_t len;
	int err;
	int order;		/* completion rank */
	bool done;
};

static pthread_mutex_t t_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t t_cond = PTHREAD_COND_INITIALIZER;
static int t_done_count;

static void treq_done(struct sd_request *req, int err)
{
	struct treq *t = sd_container_of(req, struct treq, req);

	pthread_mutex_lock(&t_lock);
	t->err = err;
	t->done = true;
	t->order = t_done_count++;
	pthread_cond_broadcast(&t_cond);
	pthread_mutex_unlock(&t_lock);
}

/* wait until @n completions were counted since the reset (or @ms) */
static bool wait_done(int n, int ms)
{
	struct timespec ts;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&t_lock);
	while (t_done_count < n && ok)
		ok = pthread_cond_timedwait(&t_cond, &t_lock, &ts) == 0;
	ok = t_done_count >= n;
	pthread_mutex_unlock(&t_lock);
	return ok;
}

/* the completions counted so far, for messages and checks outside wait_done */
static int done_count(void)
{
	int n;

	pthread_mutex_lock(&t_lock);
	n = t_done_count;
	pthread_mutex_unlock(&t_lock);
	return n;
}

static void reset_done(void)
{
	pthread_mutex_lock(&t_lock);
	t_done_count = 0;
	pthread_mutex_unlock(&t_lock);
}

static uint64_t test_oid(int i)
{
	return sd_vid_to_data_oid(0x1234, (uint32_t)i);
}

/* a READ_OBJ of @len bytes at @off into a buffer split in @pieces */
static void treq_read(struct treq *t, uint64_t oid, uint32_t off, uint32_t len,
		      int pieces, unsigned int flags)
{
	uint32_t a, b;

	memset(t, 0, sizeof(*t));
	t->len = len;
	t->buf = malloc(len ? len : 1);
	memset(t->buf, 0xee, len);
	t->req.hdr.proto_ver = SD_PROTO_VER;
	t->req.hdr.opcode = SD_OP_READ_OBJ;
	t->req.hdr.data_length = len;
	t->req.hdr.obj.oid = oid;
	t->req.hdr.obj.offset = off;
	if (pieces < 2 || len < 3) {
		t->iov[0] = (struct iovec){ t->buf, len };
		t->req.in_iovcnt = 1;
	} else {
		a = len / 3;
		b = len / 2;
		t->iov[0] = (struct iovec){ t->buf, a };
		t->iov[1] = (struct iovec){ t->buf + a, b - a };
		t->iov[2] = (struct iovec){ t->buf + b, len - b };
		t->req.in_iovcnt = 3;
	}
	t->req.in_iov = t->iov;
	t->req.req_flags = flags;
	t->req.done = treq_done;
}

static void treq_write(struct treq *t, uint64_t oid, uint32_t off, uint32_t len,
		       unsigned int flags)
{
	uint32_t i, a = len / 2;

	memset(t, 0, sizeof(*t));
	t->len = len;
	t->buf = malloc(len ? len : 1);
	for (i = 0; i < len; i++)
		t->buf[i] = pattern(oid, (uint64_t)off + i);
	t->req.hdr.proto_ver = SD_PROTO_VER;
	t->req.hdr.opcode = SD_OP_WRITE_OBJ;
	t->req.hdr.flags = SD_FLAG_CMD_WRITE;
	t->req.hdr.data_length = len;
	t->req.hdr.obj.oid = oid;
	t->req.hdr.obj.offset = off;
	t->iov[0] = (struct iovec){ t->buf, a };
	t->iov[1] = (struct iovec){ t->buf + a, len - a };
	t->req.out_iov = t->iov;
	t->req.out_iovcnt = 2;
	t->req.req_flags = flags;
	t->req.done = treq_done;
}

static bool read_ok(const struct treq *t)
{
	uint32_t i;

	if (t->err || t->req.rsp.result != SD_RES_SUCCESS ||
	    t->req.in_len != t->len)
		return false;
	for (i = 0; i < t->len; i++)
		if (t->buf[i] != pattern(t->req.hdr.obj.oid,
					 (uint64_t)t->req.hdr.obj.offset + i))
			return false;
	return true;
}

static struct sd_addr addr_of(const char *path)
{
	struct sd_addr a;
	size_t n;

	memset(&a, 0, sizeof(a));
	a.kind = SD_ADDR_UNIX;
	n = strlen(path);
	if (n > SD_ADDR_PATH_MAX)
		n = SD_ADDR_PATH_MAX;
	memcpy(a.path, path, n);
	return a;
}

static int new_client(const struct sd_addr *addrs, unsigned int n,
		      unsigned int conns, unsigned int timeout_ms,
		      struct sd_client **c)
{
	struct sd_client_opts o = {
		.addrs = addrs, .nr_addrs = n, .nr_conns = conns,
		.timeout_ms = timeout_ms,
	};

	return sd_client_new(&o, c);
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- tests ----------------------------------------------------------- */

#define NPIPE 1000

static void test_pipelined(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct sd_client_stats st;
	struct treq *t = calloc(NPIPE, sizeof(*t));
	int i, bad = 0, first_bad = -1;

	fs_reset();
	reset_done();
	if (!t || new_client(&a, 1, 2, 10000, &c)) {
		CHECK(0, "pipelined: client", "%s", sd_get_error());
		free(t);
		return;
	}
	for (i = 0; i < NPIPE; i++) {
		uint32_t len = 1 + (uint32_t)(i * 7919) % 65536;
		uint32_t off = (uint32_t)(i * 4099) % 1000000;

		if (i % 2)
			treq_write(&t[i], test_oid(i), off, len, SD_REQ_RESEND);
		else
			treq_read(&t[i], test_oid(i), off, len, i % 4 ? 3 : 1,
				  SD_REQ_RESEND);
		if (sd_client_submit(c, &t[i].req))
			bad++;
	}
	CHECK(bad == 0, "pipelined: 1000 submissions accepted", "%d refused", bad);
	CHECK(wait_done(NPIPE, 20000), "pipelined: all 1000 complete",
	      "%d of %d", done_count(), NPIPE);
	bad = 0;
	for (i = 0; i < NPIPE; i++) {
		bool ok = t[i].done && (i % 2 ? !t[i].err &&
				t[i].req.rsp.result == SD_RES_SUCCESS :
				read_ok(&t[i]));
		if (!ok && bad++ == 0)
			first_bad = i;
	}
	CHECK(bad == 0, "pipelined: every reply correct (data, length, result)",
	      "%d wrong, first #%d err %d", bad, first_bad,
	      first_bad >= 0 ? t[first_bad].err : 0);
	CHECK(fs_get(&fs.write_bad) == 0, "pipelined: server saw intact write payloads",
	      "%d corrupt", fs_get(&fs.write_bad));
	CHECK(fs_get(&fs.used_conns) == 2, "pipelined: both connections used",
	      "%d used", fs_get(&fs.used_conns));
	sd_client_get_stats(c, &st);
	CHECK(st.submitted == NPIPE && st.completed == NPIPE && !st.bad_replies &&
	      !st.timeouts, "pipelined: stats", "submitted %llu completed %llu",
	      (unsigned long long)st.submitted, (unsigned long long)st.completed);
	sd_client_free(c);
	for (i = 0; i < NPIPE; i++)
		free(t[i].buf);
	free(t);
}

static void test_reorder(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct treq t[16];
	int i, wrong_data = 0, wrong_order = 0;

	fs_reset();
	FS_SET(reverse_k, 8);
	reset_done();
	if (new_client(&a, 1, 1, 5000, &c)) {
		CHECK(0, "reorder: client", "%s", sd_get_error());
		return;
	}
	for (i = 0; i < 16; i++) {
		treq_read(&t[i], test_oid(100 + i), (uint32_t)i * 512, 4096 + i,
			  2, 0);
		sd_client_submit(c, &t[i].req);
	}
	CHECK(wait_done(16, 5000), "reorder: all complete", "%d done",
	      done_count());
	for (i = 0; i < 16; i++) {
		int group = i / 8, expect = group * 8 + (7 - i % 8);

		wrong_data += !read_ok(&t[i]);
		wrong_order += t[i].order != expect;
	}
	CHECK(wrong_order == 0, "reorder: replies arrived in reverse order",
	      "%d out of place", wrong_order);
	CHECK(wrong_data == 0, "reorder: out-of-order replies matched to their requests",
	      "%d wrong", wrong_data);
	sd_client_free(c);
	for (i = 0; i < 16; i++)
		free(t[i].buf);
	fs_reset();
}

static void test_stall(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct sd_client_stats st;
	struct treq t;
	char eb[64];
	uint64_t t0, el;
	int ret, acc0;

	fs_reset();
	if (new_client(&a, 1, 1, 500, &c)) {
		CHECK(0, "stall: client", "%s", sd_get_error());
		return;
	}
	treq_read(&t, test_oid(1), 0, 512, 1, SD_REQ_RESEND);
	ret = sd_client_call(c, &t.req);	/* connected and working */
	free(t.buf);
	acc0 = fs_get(&fs.accepted);
	FS_SET(stall, true);
	treq_read(&t, test_oid(1), 0, 512, 1, SD_REQ_RESEND);
	t0 = sd_now_ns();
	ret = sd_client_call(c, &t.req);
	el = ms_since(t0);
	CHECK(ret == -ETIMEDOUT, "stall: request times out", "got %d", ret);
	CHECK(el >= 480 && el <= 700, "stall: within timeout + 200 ms",
	      "%llu ms", (unsigned long long)el);
	CHECK(strstr(sd_get_error(), "READ_OBJ to unix:") &&
	      strstr(sd_get_error(), fs.path) &&
	      strstr(sd_get_error(), strerror_r(ETIMEDOUT, eb, sizeof(eb))),
	      "stall: message names opcode, address and error", "'%s'",
	      sd_get_error());
	free(t.buf);

	FS_SET(stall, false);
	treq_read(&t, test_oid(2), 100, 2000, 3, 0);
	ret = sd_client_call(c, &t.req);
	CHECK(ret == 0 && read_ok(&t), "stall: client recovers afterwards",
	      "ret %d: %s", ret, sd_get_error());
	CHECK(fs_get(&fs.accepted) > acc0, "stall: recovery used a new connection",
	      "accepted %d before %d", fs_get(&fs.accepted), acc0);
	sd_client_get_stats(c, &st);
	CHECK(st.timeouts == 1, "stall: one timeout counted", "%llu",
	      (unsigned long long)st.timeouts);
	free(t.buf);
	sd_client_free(c);
}

static void test_deadline_order(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct treq t[2];
	uint64_t t0;

	fs_reset();
	FS_SET(stall, true);
	reset_done();
	if (new_client(&a, 1, 1, 800, &c)) {
		CHECK(0, "deadline: client", "%s", sd_get_error());
		return;
	}
	t0 = sd_now_ns();
	treq_read(&t[0], test_oid(1), 0, 64, 1, SD_REQ_RESEND);
	treq_read(&t[1], test_oid(2), 0, 64, 1, SD_REQ_RESEND);
	t[1].req.deadline_ns = t0 + 200 * 1000000ULL;
	sd_client_submit(c, &t[0].req);
	sd_client_submit(c, &t[1].req);
	wait_done(1, 2000);
	CHECK(t[1].done && t[1].err == -ETIMEDOUT && !t[0].done &&
	      ms_since(t0) < 600,
	      "deadline: earlier explicit deadline expires first",
	      "b done %d err %d, a done %d", t[1].done, t[1].err, t[0].done);
	wait_done(2, 3000);
	CHECK(t[0].err == -ETIMEDOUT && ms_since(t0) >= 750,
	      "deadline: default deadline kept across the recycle",
	      "err %d after %llu ms", t[0].err,
	      (unsigned long long)ms_since(t0));
	sd_client_free(c);
	free(t[0].buf);
	free(t[1].buf);
	fs_reset();
}

static void test_resend(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct sd_client_stats st;
	struct treq t[6];
	int i, resend_ok = 0, reset_ok = 0;

	fs_reset();
	FS_SET(drop_after, 6);
	reset_done();
	if (new_client(&a, 1, 1, 5000, &c)) {
		CHECK(0, "resend: client", "%s", sd_get_error());
		return;
	}
	for (i = 0; i < 6; i++) {
		if (i == 2)
			treq_write(&t[i], test_oid(i), 7, 70000, SD_REQ_RESEND);
		else
			treq_read(&t[i], test_oid(i), 10, 3000, 2,
				  i % 2 ? 0 : SD_REQ_RESEND);
		sd_client_submit(c, &t[i].req);
	}
	CHECK(wait_done(6, 5000), "resend: all complete", "%d", done_count());
	for (i = 0; i < 6; i++) {
		if (i % 2 == 0)
			resend_ok += i == 2 ? t[i].err == 0 && !t[i].req.rsp.result :
				     read_ok(&t[i]);
		else
			reset_ok += t[i].err == -ECONNRESET;
	}
	CHECK(resend_ok == 3, "resend: SD_REQ_RESEND requests succeed after the drop",
	      "%d of 3", resend_ok);
	CHECK(reset_ok == 3, "resend: other requests fail with -ECONNRESET",
	      "%d of 3", reset_ok);
	sd_client_get_stats(c, &st);
	CHECK(st.resent == 3 && st.reconnects >= 1, "resend: counted",
	      "resent %llu reconnects %llu", (unsigned long long)st.resent,
	      (unsigned long long)st.reconnects);
	CHECK(fs_get(&fs.write_bad) == 0, "resend: resent write payload intact",
	      "%d", fs_get(&fs.write_bad));
	sd_client_free(c);
	for (i = 0; i < 6; i++)
		free(t[i].buf);
}

static void test_malformed(void)
{
	static const struct {
		enum fs_bad kind;
		const char *name;
	} kinds[] = {
		{ FS_BAD_ID, "unknown id" },
		{ FS_BAD_OPCODE, "wrong opcode" },
		{ FS_BAD_LENGTH, "absurd data_length" },
	};
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct sd_client_stats st;
	struct treq t, u;
	char name[128];
	unsigned int k;
	int ret;

	fs_reset();
	if (new_client(&a, 1, 2, 5000, &c)) {
		CHECK(0, "malformed: client", "%s", sd_get_error());
		return;
	}
	/* make sure both connections are up */
	treq_read(&t, test_oid(9), 0, 100, 1, 0);
	sd_client_call(c, &t.req);
	free(t.buf);
	msleep(50);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		int closed0 = fs_get(&fs.closed);

		FS_SET(bad, kinds[k].kind);
		treq_read(&t, test_oid(10 + k), 5, 5000, 3, SD_REQ_RESEND);
		ret = sd_client_call(c, &t.req);
		snprintf(name, sizeof(name),
			 "malformed (%s): resendable request succeeds on a new connection",
			 kinds[k].name);
		CHECK(ret == 0 && read_ok(&t), name, "ret %d: %s", ret,
		      sd_get_error());
		fs_wait_closed(closed0 + 1);
		msleep(50);
		snprintf(name, sizeof(name),
			 "malformed (%s): only that connection closed",
			 kinds[k].name);
		CHECK(fs_get(&fs.closed) == closed0 + 1, name, "%d closed",
		      fs_get(&fs.closed) - closed0);
		free(t.buf);
	}
	FS_SET(bad, FS_BAD_ID);
	treq_read(&u, test_oid(20), 0, 100, 1, 0);
	ret = sd_client_call(c, &u.req);
	CHECK(ret == -ECONNRESET, "malformed: non-resendable request gets -ECONNRESET",
	      "ret %d", ret);
	free(u.buf);
	sd_client_get_stats(c, &st);
	CHECK(st.bad_replies == 4, "malformed: bad replies counted", "%llu",
	      (unsigned long long)st.bad_replies);
	sd_client_free(c);
	fs_reset();
}

static void test_long_reply(void)
{
	static const uint32_t extras[] = { 1000, 100000 };
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct sd_client_stats st;
	struct treq t;
	unsigned int k;
	int ret, acc0;

	fs_reset();
	if (new_client(&a, 1, 1, 5000, &c)) {
		CHECK(0, "long reply: client", "%s", sd_get_error());
		return;
	}
	treq_read(&t, test_oid(1), 0, 10, 1, 0);
	sd_client_call(c, &t.req);
	free(t.buf);
	acc0 = fs_get(&fs.accepted);
	for (k = 0; k < 2; k++) {
		FS_SET(extra, extras[k]);
		treq_read(&t, test_oid(30), 33, 4096, 3, 0);
		ret = sd_client_call(c, &t.req);
		CHECK(ret == 0 && read_ok(&t) &&
		      t.req.rsp.data_length == 4096 + extras[k],
		      "long reply: capacity filled, extra bytes dropped",
		      "ret %d in_len %u data_length %u", ret, t.req.in_len,
		      t.req.rsp.data_length);
		free(t.buf);
		FS_SET(extra, 0);
		treq_read(&t, test_oid(31), 0, 777, 1, 0);
		ret = sd_client_call(c, &t.req);
		CHECK(ret == 0 && read_ok(&t), "long reply: stream stays in sync",
		      "ret %d", ret);
		free(t.buf);
	}
	sd_client_get_stats(c, &st);
	CHECK(st.bad_replies == 0 && fs_get(&fs.accepted) == acc0,
	      "long reply: no reconnect, no bad reply", "bad %llu accepted +%d",
	      (unsigned long long)st.bad_replies, fs_get(&fs.accepted) - acc0);
	sd_client_free(c);
}

/* a unix socket that exists but does not listen: connect is refused */
static int refusing_socket(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	unlink(path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void test_failover(void)
{
	struct sd_addr a[2];
	struct sd_client *c;
	struct treq t;
	char path[128], cur[SD_ADDR_STR_MAX], want[SD_ADDR_STR_MAX];
	int rfd, ret;

	fs_reset();
	snprintf(path, sizeof(path), "%s/refuse", fs.dir);
	rfd = refusing_socket(path);
	a[0] = addr_of(path);
	a[1] = addr_of(fs.path);
	if (new_client(a, 2, 2, 5000, &c)) {
		CHECK(0, "failover: client", "%s", sd_get_error());
		return;
	}
	treq_read(&t, test_oid(40), 0, 1000, 1, 0);
	ret = sd_client_call(c, &t.req);
	CHECK(rfd >= 0 && ret == 0 && read_ok(&t),
	      "failover: first address refuses, second works", "ret %d: %s",
	      ret, sd_get_error());
	sd_client_addr_str(c, cur, sizeof(cur));
	snprintf(want, sizeof(want), "unix:%s", fs.path);
	CHECK(!strcmp(cur, want), "failover: current address is the second",
	      "'%s'", cur);
	free(t.buf);
	sd_client_free(c);
	if (rfd >= 0)
		close(rfd);
	unlink(path);
}

/*
 * Cluster-transient results are sent again after a backoff until the
 * deadline; a node going away also closes that address's connections.
 */
static void test_transient(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client_stats st;
	struct sd_client *c;
	struct treq t;
	uint64_t t0;
	int ret, closed0;

	fs_reset();
	if (new_client(&a, 1, 2, 3000, &c)) {
		CHECK(0, "transient: client", "%s", sd_get_error());
		return;
	}
	FS_SET(transient_res, SD_RES_HALT);
	FS_SET(transient_n, 3);
	treq_read(&t, test_oid(50), 0, 4096, 1, 0);
	t0 = sd_now_ns();
	ret = sd_client_call(c, &t.req);
	sd_client_get_stats(c, &st);
	CHECK(ret == 0 && read_ok(&t) && st.transient == 3 &&
	      ms_since(t0) >= 10 + 20 + 40,
	      "transient: HALT three times, then served after backoff",
	      "ret %d result %#x transient %llu ms %llu", ret,
	      t.req.rsp.result, (unsigned long long)st.transient,
	      (unsigned long long)ms_since(t0));
	free(t.buf);

	closed0 = fs_get(&fs.closed);
	FS_SET(transient_res, SD_RES_KILLED);
	FS_SET(transient_n, 1);
	treq_read(&t, test_oid(51), 0, 4096, 1, SD_REQ_RESEND);
	ret = sd_client_call(c, &t.req);
	msleep(50);
	CHECK(ret == 0 && read_ok(&t) && fs_get(&fs.closed) > closed0,
	      "transient: KILLED closes the address's connections, the "
	      "request is served after a reconnect",
	      "ret %d closed %d -> %d", ret, closed0, fs_get(&fs.closed));
	free(t.buf);

	FS_SET(transient_res, SD_RES_WAIT_FOR_JOIN);
	FS_SET(transient_n, -1);	/* for ever */
	treq_read(&t, test_oid(52), 0, 4096, 1, 0);
	t.req.deadline_ns = sd_now_ns() + UINT64_C(700) * 1000000;
	t0 = sd_now_ns();
	ret = sd_client_call(c, &t.req);
	CHECK(ret == -ETIMEDOUT && ms_since(t0) < 700 + 300,
	      "transient: a state that outlasts the deadline is a timeout",
	      "ret %d ms %llu", ret, (unsigned long long)ms_since(t0));
	free(t.buf);
	FS_SET(transient_n, 0);

	FS_SET(transient_res, SD_RES_EIO);
	FS_SET(transient_n, 1);
	treq_read(&t, test_oid(53), 0, 4096, 1, 0);
	ret = sd_client_call(c, &t.req);
	CHECK(ret == 0 && t.req.rsp.result == SD_RES_EIO,
	      "transient: other results reach the caller at once",
	      "ret %d result %#x", ret, t.req.rsp.result);
	free(t.buf);
	sd_client_free(c);
}

static void test_failfast(void)
{
	struct sd_addr a;
	struct sd_client *c;
	struct treq t;
	char path[128];
	uint64_t t0, el;
	int ret, rfd, round;

	for (round = 0; round < 2; round++) {
		snprintf(path, sizeof(path), "%s/%s", fs.dir,
			 round ? "refusing" : "nothing");
		rfd = round ? refusing_socket(path) : -1;
		a = addr_of(path);
		if (new_client(&a, 1, 2, 10000, &c)) {
			CHECK(0, "failfast: client", "%s", sd_get_error());
			return;
		}
		treq_read(&t, test_oid(1), 0, 100, 1, SD_REQ_RESEND);
		t0 = sd_now_ns();
		ret = sd_client_call(c, &t.req);
		el = ms_since(t0);
		CHECK((round ? ret == -ECONNREFUSED : ret == -ENOENT) && el < 1000,
		      round ? "failfast: refused address fails in < 1 s" :
			      "failfast: missing socket fails in < 1 s",
		      "ret %d after %llu ms", ret, (unsigned long long)el);
		CHECK(strstr(sd_get_error(), path) != NULL,
		      "failfast: message names the address", "'%s'",
		      sd_get_error());
		free(t.buf);
		/* a later submission follows the same rule */
		msleep(100);
		treq_read(&t, test_oid(1), 0, 100, 1, 0);
		t0 = sd_now_ns();
		ret = sd_client_call(c, &t.req);
		el = ms_since(t0);
		CHECK(ret < 0 && ret != -ETIMEDOUT && el < 1000,
		      "failfast: later request fails fast too",
		      "ret %d after %llu ms", ret, (unsigned long long)el);
		free(t.buf);
		sd_client_free(c);
		if (rfd >= 0)
			close(rfd);
		unlink(path);
	}
}

/*
 * sd_client_wait_up() on a client that has been up: at once while a
 * connection is up; fails fast once every address refused since the
 * connection was lost (a shared client's sheep went away), while an
 * ordinary request queued meanwhile still waits for the reconnect.
 */
static void test_wait_up(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct treq t;
	uint64_t t0, el;
	int ret;
	bool ok;

	fs_reset();
	if (new_client(&a, 1, 2, 5000, &c)) {
		CHECK(0, "wait_up: client", "%s", sd_get_error());
		return;
	}
	treq_read(&t, test_oid(1), 0, 100, 1, 0);
	ret = sd_client_call(c, &t.req);
	free(t.buf);
	CHECK(ret == 0, "wait_up: connected before", "%d", ret);
	t0 = sd_now_ns();
	ret = sd_client_wait_up(c);
	CHECK(ret == 0 && ms_since(t0) < 100, "wait_up: up at once",
	      "ret %d after %llu ms", ret, (unsigned long long)ms_since(t0));

	FS_SET(restart_ms, 1500);
	t0 = sd_now_ns();
	while (!fs_get(&fs.down) && ms_since(t0) < 1000)
		msleep(1);
	reset_done();
	treq_read(&t, test_oid(70), 0, 4096, 1, SD_REQ_RESEND);
	sd_client_submit(c, &t.req);
	t0 = sd_now_ns();
	ret = sd_client_wait_up(c);
	el = ms_since(t0);
	CHECK(ret == -ECONNREFUSED && el < 1000,
	      "wait_up: sheep gone fails fast", "ret %d after %llu ms", ret,
	      (unsigned long long)el);
	CHECK(strstr(sd_get_error(), "connect to") &&
	      strstr(sd_get_error(), fs.path),
	      "wait_up: message names the address", "'%s'", sd_get_error());
	CHECK(done_count() == 0, "wait_up: queued request still waits", "%d",
	      done_count());
	/* wait before CHECK: its message arguments may be read first */
	ok = wait_done(1, 4000);
	CHECK(ok && read_ok(&t),
	      "wait_up: queued request succeeds after the restart",
	      "done %d err %d", done_count(), t.err);
	free(t.buf);
	ret = sd_client_wait_up(c);
	CHECK(ret == 0, "wait_up: up again", "%d", ret);
	sd_client_free(c);
}

/* ---- synchronous callers that send for a sleeping driver ---------- */

#define SYNC_THREADS	8
#define SYNC_CALLS	200

struct sync_arg {
	struct sd_client *c;
	int id;
	int bad;		/* wrong replies */
};

static void *sync_caller(void *p)
{
	struct sync_arg *a = p;
	int i;

	for (i = 0; i < SYNC_CALLS; i++) {
		int n = a->id * SYNC_CALLS + i;
		uint32_t off = (uint32_t)(n * 4099) % 1000000;
		struct treq t;
		bool ok;

		if (i % 3 == 2)
			treq_write(&t, test_oid(n), off, 4096, SD_REQ_RESEND);
		else
			treq_read(&t, test_oid(n), off, 4096, 1, SD_REQ_RESEND);
		ok = sd_client_call(a->c, &t.req) == 0;
		if (i % 3 == 2)
			ok = ok && t.req.rsp.result == SD_RES_SUCCESS;
		else
			ok = ok && read_ok(&t);
		if (!ok)
			a->bad++;
		free(t.buf);
	}
	return NULL;
}

/*
 * Many threads in sd_client_call() at once: while the client's loop sleeps
 * in epoll_wait their submissions are sent by the submitters themselves
 * (submit_send()), and every reply still reaches its caller.  Then the
 * deadline rule of that path: a call sent that way while the loop sleeps
 * towards a far deadline still times out on its own.
 */
static void test_sync_callers(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sync_arg arg[SYNC_THREADS];
	pthread_t th[SYNC_THREADS];
	struct sd_client_stats st;
	struct sd_client *c;
	struct treq far, t;
	uint64_t t0, el;
	int i, bad = 0, ret;

	fs_reset();
	reset_done();
	if (new_client(&a, 1, 2, 500, &c)) {
		CHECK(0, "sync callers: client", "%s", sd_get_error());
		return;
	}
	for (i = 0; i < SYNC_THREADS; i++) {
		arg[i] = (struct sync_arg){ .c = c, .id = i };
		pthread_create(&th[i], NULL, sync_caller, &arg[i]);
	}
	for (i = 0; i < SYNC_THREADS; i++) {
		pthread_join(th[i], NULL);
		bad += arg[i].bad;
	}
	CHECK(bad == 0, "sync callers: 8 threads x 200 calls, every reply correct",
	      "%d wrong", bad);
	CHECK(fs_get(&fs.write_bad) == 0,
	      "sync callers: server saw intact write payloads", "%d corrupt",
	      fs_get(&fs.write_bad));
	sd_client_get_stats(c, &st);
	CHECK(st.submitted == SYNC_THREADS * SYNC_CALLS &&
	      st.completed == SYNC_THREADS * SYNC_CALLS && !st.timeouts,
	      "sync callers: stats", "submitted %llu completed %llu",
	      (unsigned long long)st.submitted,
	      (unsigned long long)st.completed);

	/* the loop sleeps towards a 5 s deadline; a 500 ms call must not */
	FS_SET(stall, true);
	treq_read(&far, test_oid(1), 0, 512, 1, 0);
	far.req.deadline_ns = sd_now_ns() + 5000000000ULL;
	ret = sd_client_submit(c, &far.req);
	msleep(50);
	treq_read(&t, test_oid(2), 0, 512, 1, 0);
	t0 = sd_now_ns();
	ret = ret ?: sd_client_call(c, &t.req);
	el = ms_since(t0);
	CHECK(ret == -ETIMEDOUT && el >= 480 && el <= 800,
	      "sync callers: a call sent while the loop sleeps keeps its deadline",
	      "ret %d after %llu ms", ret, (unsigned long long)el);
	FS_SET(stall, false);
	CHECK(wait_done(1, 6000), "sync callers: the far request ends too",
	      "done %d", done_count());
	free(t.buf);
	free(far.buf);
	sd_client_free(c);
}

static void test_restart(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct sd_client_stats st;
	struct treq t[10];
	uint64_t t0;
	int i, ok = 0, ret;

	fs_reset();
	if (new_client(&a, 1, 2, 5000, &c)) {
		CHECK(0, "restart: client", "%s", sd_get_error());
		return;
	}
	treq_read(&t[0], test_oid(1), 0, 100, 1, 0);
	ret = sd_client_call(c, &t[0].req);
	free(t[0].buf);
	CHECK(ret == 0, "restart: connected before", "%d", ret);
	FS_SET(restart_ms, 300);
	t0 = sd_now_ns();
	while (!fs_get(&fs.down) && fs_get(&fs.restart_ms) && ms_since(t0) < 1000)
		msleep(1);
	reset_done();
	for (i = 0; i < 10; i++) {
		treq_read(&t[i], test_oid(50 + i), 0, 8192, 2, SD_REQ_RESEND);
		sd_client_submit(c, &t[i].req);
	}
	CHECK(wait_done(10, 5000), "restart: queued requests complete", "%d",
	      done_count());
	for (i = 0; i < 10; i++)
		ok += read_ok(&t[i]);
	CHECK(ok == 10, "restart: queued requests succeed after reconnect",
	      "%d of 10 (first err %d)", ok, t[0].err);
	CHECK(ms_since(t0) >= 250, "restart: they waited for the server",
	      "%llu ms", (unsigned long long)ms_since(t0));
	sd_client_get_stats(c, &st);
	CHECK(st.reconnects >= 1, "restart: reconnect counted", "%llu",
	      (unsigned long long)st.reconnects);
	for (i = 0; i < 10; i++)
		free(t[i].buf);
	sd_client_free(c);
}

struct chain {
	struct sd_client *c;
	struct treq t;
	int left;
	int failures;
	int call_ret;
	bool try_call;
};

static void chain_done(struct sd_request *req, int err)
{
	struct treq *t = sd_container_of(req, struct treq, req);
	struct chain *ch = sd_container_of(t, struct chain, t);

	if (err || !read_ok(t))
		ch->failures++;
	if (ch->try_call) {
		struct treq u;

		treq_read(&u, test_oid(1), 0, 10, 1, 0);
		ch->call_ret = sd_client_call(ch->c, &u.req);
		free(u.buf);
		ch->try_call = false;
	}
	if (--ch->left > 0) {
		t->err = 0;
		t->req.deadline_ns = 0;
		t->req.hdr.obj.offset += 1;
		memset(t->buf, 0, t->len);
		if (sd_client_submit(ch->c, &t->req) == 0)
			return;
		ch->failures++;
	}
	treq_done(req, err);
}

static void test_callbacks(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct chain ch = { .left = 100, .try_call = true, .call_ret = 1 };
	bool ok;

	fs_reset();
	reset_done();
	if (new_client(&a, 1, 2, 5000, &ch.c)) {
		CHECK(0, "callbacks: client", "%s", sd_get_error());
		return;
	}
	treq_read(&ch.t, test_oid(60), 0, 300, 2, 0);
	ch.t.req.done = chain_done;
	sd_client_submit(ch.c, &ch.t.req);
	/* wait before CHECK: its message arguments may be read first */
	ok = wait_done(1, 5000);
	CHECK(ok && ch.left == 0 && ch.failures == 0,
	      "callbacks: 100 requests chained from done() complete",
	      "left %d failures %d", ch.left, ch.failures);
	CHECK(ch.call_ret == -EDEADLK, "callbacks: sd_client_call on the I/O thread gives -EDEADLK",
	      "ret %d", ch.call_ret);
	sd_client_free(ch.c);
	free(ch.t.buf);
}

static void test_cancel_and_invalid(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client *c;
	struct treq t[5], w;
	int i, canceled = 0, ret;

	fs_reset();
	FS_SET(stall, true);
	reset_done();
	if (new_client(&a, 1, 2, 5000, &c)) {
		CHECK(0, "cancel: client", "%s", sd_get_error());
		return;
	}
	for (i = 0; i < 5; i++) {
		treq_read(&t[i], test_oid(i), 0, 100, 1, SD_REQ_RESEND);
		sd_client_submit(c, &t[i].req);
	}
	treq_write(&w, test_oid(1), 0, 100, 0);
	w.req.hdr.data_length = 99;
	ret = sd_client_submit(c, &w.req);
	CHECK(ret == -EINVAL && !w.done, "submit: payload/data_length mismatch refused",
	      "ret %d", ret);
	free(w.buf);
	msleep(50);
	sd_client_free(c);
	for (i = 0; i < 5; i++) {
		canceled += t[i].done && t[i].err == -ECANCELED;
		free(t[i].buf);
	}
	CHECK(canceled == 5, "free: outstanding requests complete with -ECANCELED",
	      "%d of 5", canceled);
	fs_reset();
}

static void test_leaks(void)
{
	struct sd_addr live = addr_of(fs.path), dead;
	char path[128];
	int fds0, thr0, fds1, thr1, i, failed = 0;
	uint64_t t0;

	fs_reset();
	snprintf(path, sizeof(path), "%s/none", fs.dir);
	dead = addr_of(path);
	t0 = sd_now_ns();
	while (fs_open_conns() && ms_since(t0) < 2000)
		msleep(5);
	fds0 = count_dir("/proc/self/fd");
	thr0 = count_dir("/proc/self/task");
	for (i = 0; i < 200; i++) {
		struct sd_client *c;
		struct treq t;

		if (new_client(i % 2 ? &dead : &live, 1, 2, 2000, &c)) {
			failed++;
			continue;
		}
		if (i % 4 == 0) {
			treq_read(&t, test_oid(i), 0, 64, 1, 0);
			failed += sd_client_call(c, &t.req) != 0;
			free(t.buf);
		}
		sd_client_free(c);
	}
	t0 = sd_now_ns();
	while (fs_open_conns() && ms_since(t0) < 2000)
		msleep(5);
	fds1 = count_dir("/proc/self/fd");
	thr1 = count_dir("/proc/self/task");
	CHECK(failed == 0, "leaks: 200 clients created and used", "%d failed", failed);
	CHECK(fds0 > 0 && fds0 == fds1, "leaks: no fd leaked by 200 clients",
	      "%d before, %d after", fds0, fds1);
	CHECK(thr0 > 0 && thr0 == thr1, "leaks: no thread leaked",
	      "%d before, %d after", thr0, thr1);
}

/* ---- external loop -------------------------------------------------- */

static pthread_t ext_owner;
static int ext_wrong_thread;

static void ext_done(struct sd_request *req, int err)
{
	if (!pthread_equal(pthread_self(), ext_owner))
		ext_wrong_thread++;
	treq_done(req, err);
}

/* run the owner's loop: poll the event fd, process, until @n are done */
static bool ext_run(struct sd_client *c, int n, int ms)
{
	struct pollfd p = { .fd = sd_client_event_fd(c), .events = POLLIN };
	uint64_t t0 = sd_now_ns();

	for (;;) {
		pthread_mutex_lock(&t_lock);
		if (t_done_count >= n) {
			pthread_mutex_unlock(&t_lock);
			return true;
		}
		pthread_mutex_unlock(&t_lock);
		if (ms_since(t0) > (uint64_t)ms)
			return false;
		if (poll(&p, 1, 50) > 0)
			sd_client_process(c);
	}
}

struct ext_thread_arg {
	struct sd_client *c;
	int ret;
};

/* a non-owner thread's synchronous call: woken through the event fd */
static void *ext_caller(void *arg)
{
	struct ext_thread_arg *a = arg;
	struct treq t;
	int ret;

	treq_read(&t, test_oid(9), 0, 4096, 1, 0);
	ret = sd_client_call(a->c, &t.req);
	if (!ret && !read_ok(&t))
		ret = -EIO;
	free(t.buf);
	__atomic_store_n(&a->ret, ret, __ATOMIC_RELEASE);
	return NULL;
}

static void test_external_loop(void)
{
	struct sd_addr a = addr_of(fs.path);
	struct sd_client_opts o = { .addrs = &a, .nr_addrs = 1, .nr_conns = 2,
				    .timeout_ms = 500,
				    .external_loop = true };
	struct ext_thread_arg arg;
	struct sd_client *c;
	struct treq t[64];
	pthread_t th;
	uint64_t t0, el;
	int i, ok = 0, ret, req0, thr0 = count_dir("/proc/self/task");

	fs_reset();
	ext_owner = pthread_self();
	ext_wrong_thread = 0;
	if (sd_client_new(&o, &c)) {
		CHECK(0, "external: client", "%s", sd_get_error());
		return;
	}
	CHECK(sd_client_event_fd(c) >= 0 && count_dir("/proc/self/task") == thr0
	      && sd_client_loop_owner(c),
	      "external: an event fd, no I/O thread, owned by its creator",
	      "fd %d threads %d -> %d", sd_client_event_fd(c), thr0,
	      count_dir("/proc/self/task"));

	/* the owner's synchronous call runs the loop itself */
	treq_read(&t[0], test_oid(1), 0, 512, 1, 0);
	ret = sd_client_call(c, &t[0].req);
	CHECK(ret == 0 && read_ok(&t[0]), "external: sync call on the owner",
	      "ret %d: %s", ret, sd_get_error());
	free(t[0].buf);

	/*
	 * the owner's submissions go out at once, without process (a few
	 * small ones: nobody reads the replies meanwhile)
	 */
	reset_done();
	req0 = fs_get(&fs.requests);
	for (i = 0; i < 8; i++) {
		treq_read(&t[i], test_oid(i), 0, 512, 1, 0);
		t[i].req.done = ext_done;
		sd_client_submit(c, &t[i].req);
	}
	t0 = sd_now_ns();
	while (fs_get(&fs.requests) - req0 < 8 && ms_since(t0) < 300)
		msleep(1);
	CHECK(fs_get(&fs.requests) - req0 == 8 && done_count() == 0,
	      "external: the owner's submissions are sent without process",
	      "%d of 8 reached the server, %d done", fs_get(&fs.requests) - req0,
	      done_count());
	CHECK(ext_run(c, 8, 3000), "external: ... and complete in process",
	      "%d done", done_count());
	for (i = 0; i < 8; i++)
		free(t[i].buf);

	/* pipelined async requests complete on the owner, inside process */
	reset_done();
	for (i = 0; i < 64; i++) {
		if (i % 2)
			treq_write(&t[i], test_oid(i), 0, 8192, 0);
		else
			treq_read(&t[i], test_oid(i), 64, 4000, 3, 0);
		t[i].req.done = ext_done;
		sd_client_submit(c, &t[i].req);
	}
	CHECK(done_count() == 0, "external: nothing completes outside process",
	      "%d done", done_count());
	CHECK(ext_run(c, 64, 5000), "external: 64 requests done via the loop",
	      "%d done", done_count());
	for (i = 0; i < 64; i++) {
		if (i % 2 ? !t[i].err && t[i].req.rsp.result == SD_RES_SUCCESS
			  : read_ok(&t[i]))
			ok++;
		free(t[i].buf);
	}
	CHECK(ok == 64 && ext_wrong_thread == 0,
	      "external: every reply right, every callback on the owner",
	      "%d ok, %d on another thread", ok, ext_wrong_thread);

	/* another thread's call wakes the owner's loop through the fd */
	reset_done();
	arg.c = c;
	arg.ret = 1;
	pthread_create(&th, NULL, ext_caller, &arg);
	t0 = sd_now_ns();
	while (__atomic_load_n(&arg.ret, __ATOMIC_ACQUIRE) == 1 &&
	       ms_since(t0) < 3000) {
		struct pollfd p = { .fd = sd_client_event_fd(c),
				    .events = POLLIN };

		if (poll(&p, 1, 50) > 0)
			sd_client_process(c);
	}
	pthread_join(th, NULL);
	CHECK(arg.ret == 0, "external: a worker thread's call is served",
	      "ret %d", arg.ret);

	/* a deadline makes the fd readable: a stalled request times out */
	FS_SET(stall, true);
	reset_done();
	treq_read(&t[0], test_oid(3), 0, 512, 1, 0);
	t[0].req.done = ext_done;
	t0 = sd_now_ns();
	sd_client_submit(c, &t[0].req);
	ext_run(c, 1, 3000);
	el = ms_since(t0);
	CHECK(t[0].done && t[0].err == -ETIMEDOUT && el >= 480 && el <= 800,
	      "external: the timer expires a stalled request in time",
	      "done %d err %d after %llu ms", t[0].done, t[0].err,
	      (unsigned long long)el);
	free(t[0].buf);
	FS_SET(stall, false);
	sd_client_free(c);

	/*
	 * a send that fails inside the owner's submit (the server closed the
	 * connection) completes nothing there, not even the request that was
	 * in flight on that connection; the loop fails that one and resends
	 * the rest after reconnecting
	 */
	o.nr_conns = 1;
	o.timeout_ms = 5000;
	if (sd_client_new(&o, &c)) {
		CHECK(0, "external: second client", "%s", sd_get_error());
		return;
	}
	treq_read(&t[0], test_oid(1), 0, 512, 1, 0);
	ret = sd_client_call(c, &t[0].req);
	free(t[0].buf);
	reset_done();
	FS_SET(stall, true);
	req0 = fs_get(&fs.requests);
	treq_read(&t[4], test_oid(59), 0, 512, 1, 0);	/* not resendable */
	t[4].req.done = ext_done;
	sd_client_submit(c, &t[4].req);
	t0 = sd_now_ns();
	while (fs_get(&fs.requests) == req0 && ms_since(t0) < 1000)
		msleep(1);
	FS_SET(stall, false);
	FS_SET(restart_ms, 300);
	while (!fs_get(&fs.down) && ms_since(t0) < 2000)
		msleep(1);
	for (i = 0; i < 4; i++) {
		treq_read(&t[i], test_oid(60 + i), 0, 8192, 2, 0);
		t[i].req.done = ext_done;
		sd_client_submit(c, &t[i].req);
	}
	CHECK(ret == 0 && done_count() == 0,
	      "external: a send error in submit completes nothing there",
	      "call %d, %d done", ret, done_count());
	ok = 0;
	if (ext_run(c, 5, 5000))
		for (i = 0; i < 4; i++)
			ok += read_ok(&t[i]);
	CHECK(ok == 4 && t[4].err == -ECONNRESET,
	      "external: ... the loop fails the one in flight, resends the rest",
	      "%d of 4 (first err %d), in flight: err %d", ok, t[0].err,
	      t[4].err);
	free(t[4].buf);
	for (i = 0; i < 4; i++)
		free(t[i].buf);
	sd_client_free(c);
}

int main(void)
{
	if (fs_start()) {
		CHECK(0, "fake sheep starts", "%s", strerror(errno));
		return t_exit();
	}
	test_pipelined();
	test_reorder();
	test_stall();
	test_deadline_order();
	test_resend();
	test_malformed();
	test_long_reply();
	test_transient();
	test_failover();
	test_failfast();
	test_wait_up();
	test_sync_callers();
	test_restart();
	test_callbacks();
	test_cancel_and_invalid();
	test_leaks();
	test_external_loop();
	fs_stop();
	return t_exit();
}
