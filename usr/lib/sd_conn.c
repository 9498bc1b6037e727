// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_conn.c - layer 2 of the client library: a client, its connections to
 * sheep and the asynchronous requests that travel over them.
 *
 * Each client has one epoll loop over an eventfd (submissions, stop) and
 * the sockets of its connections; the epoll timeout is the nearest request
 * deadline, connect timeout or reconnect timer.  One thread at a time runs
 * it (the "driver"): a thread waiting in sd_client_done_wait() or
 * sd_client_cond_wait() when the loop is free, else the client's I/O
 * thread when something needs watching (see sd_conn.h); so a synchronous
 * caller alone sends, waits and completes its request without waking any
 * other thread.  Submitters append to a mutex-protected list; while the
 * driver sleeps in epoll_wait they send it themselves (submit_send()),
 * writing the eventfd only when the driver must wake sooner.  The driver
 * moves submissions into the client queue and the deadline list, hands
 * queued requests to the READY connection with the fewest requests in
 * flight, sends everything a connection has queued with as few sendmsg()
 * calls as possible, reads replies in batches (a payload that does not
 * come with the batch straight into the caller's iovecs), matches replies
 * through a per-connection slot table (id = slot | generation << 16) and
 * applies the lost-connection, timeout, reconnect and fail-fast rules of
 * sd_conn.h.
 *
 * An external-loop client has no I/O thread: the same loop body runs in
 * sd_client_process() on the owner thread, whose event loop watches the
 * epoll fd; a timerfd in the epoll set stands in for epoll_wait's timeout.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include "sd_conn.h"
#include "sd_error.h"
#include "sd_stats.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define SD_NS_PER_MS		1000000ULL
#define SD_CONNECT_TIMEOUT_MS	5000	/* cap; the request timeout if lower */
#define SD_RBUF_SIZE		16384	/* reply batch buffer per connection */
#define SD_SCRATCH_SIZE		8192	/* sink for reply bytes beyond in_iov */
#define SD_SLOT_BITS		16
#define SD_MAX_SLOTS		(1U << SD_SLOT_BITS)	/* in flight per conn */
#define SD_INITIAL_SLOTS	64
#define SD_REPLY_SLACK		65536	/* allowed beyond max(cap, inode) */
#define SD_RECV_BUDGET		1024	/* reads per wakeup, for fairness */
#define SD_SEND_IOV		(IOV_MAX < 1024 ? IOV_MAX : 1024)
#define SD_PROCESS_ROUNDS	16	/* loop passes per sd_client_process */
#define SD_RETRY_MIN_MS		10	/* first retry of a transient result */
#define SD_RETRY_MAX_MS		500
#define SD_ORPHAN_CHECK_MS	100	/* I/O thread: see io_thread() */

enum sd_conn_state {
	SD_CONN_IDLE,		/* no socket; connect on the next loop pass */
	SD_CONN_CONNECTING,	/* non-blocking connect under way */
	SD_CONN_READY,		/* carrying requests */
	SD_CONN_DEAD,		/* closed; back to IDLE at retry_ns */
};

struct sd_conn {
	struct sd_client *c;
	enum sd_conn_state state;
	int fd;
	uint32_t events;		/* epoll mask registered for fd */
	unsigned int addr_idx;		/* address in use / to try next */
	unsigned int backoff_ms;	/* next reconnect delay */
	unsigned int round_fails;	/* connect failures in this round */
	bool was_ready;			/* has been READY at least once */
	uint64_t retry_ns;		/* DEAD: when to go IDLE */
	uint64_t connect_deadline_ns;	/* CONNECTING: give up then */

	struct sd_list sendq;		/* assigned, not fully sent, in order */
	struct sd_list waitq;		/* fully sent, awaiting the reply */
	unsigned int nr_assigned;	/* sendq + waitq */

	/* id table: id = slot | gen << 16 */
	struct sd_request **slot_req;
	uint16_t *slot_gen;
	uint32_t *free_slots;		/* stack of free slot numbers */
	uint32_t nr_slots;
	uint32_t nr_free;

	/* receive side */
	struct sd_request *rx_req;	/* reply payload being read, or NULL */
	uint32_t rx_store;		/* payload bytes still to store */
	uint32_t rx_drop;		/* payload bytes still to drop */
	int rx_idx;			/* in_iov cursor */
	size_t rx_off;
	uint32_t rx_len;		/* bytes stored so far */
	size_t rpos, rlen;		/* unparsed bytes are rbuf[rpos..rlen) */
	uint8_t rbuf[SD_RBUF_SIZE];
};

struct sd_client {
	/* read-only after sd_client_new */
	struct sd_addr addrs[SD_MAX_ADDRS];
	char addr_str[SD_MAX_ADDRS][SD_ADDR_STR_MAX];
	unsigned int nr_addrs;
	unsigned int nr_conns;
	unsigned int timeout_ms;
	int epfd;
	int evfd;
	pthread_t thread;		/* I/O thread, or the external owner */
	bool external;			/* no I/O thread (sd_client_process) */
	int tfd;			/* external: timerfd of the next wakeup */

	/* shared with submitters, under lock */
	pthread_mutex_t lock;
	struct sd_list submitq;
	bool sleeping;			/* driver in (or about to be in) epoll_wait */
	bool stopping;
	/* the I/O thread mode's driver (leader/follower) */
	enum { SD_DRIVER_NONE, SD_DRIVER_IO, SD_DRIVER_WAITER } driver;
	pthread_cond_t io_cond;		/* the I/O thread waits for SD_DRIVER_IO */
	unsigned long pending;		/* accepted, not completed yet */
	unsigned long pending_timers;	/* of which sd_client_sleep() timers */
	bool quiet;			/* every connection READY at the last pass */
	uint64_t wake_ns;		/* next_wakeup() at the last pass */
	uint64_t nr_done;		/* completions so far (the driver's) */
	bool sending;			/* a submitter sends for the sleeping
					 * driver (submit_send()) */
	pthread_cond_t send_cond;	/* the driver waits for !sending */

	/* the driver only (and sd_client_free after the join) */
	struct sd_list queue;		/* waiting for a READY connection */
	struct sd_list delayed;		/* transient results: retried later */
	uint32_t gone_mask;		/* addresses whose node is going away */
	struct sd_list timers;		/* every accepted request, by deadline */
	bool ever_ready;		/* some connection was once established */
	uint32_t failed_mask;		/* addresses whose connect failed
					 * since a connection was last up */
	int conn_err;			/* last connect error (positive errno) */
	unsigned int conn_err_addr;
	struct sd_conn *conns;
	uint8_t scratch[SD_SCRATCH_SIZE];
	bool in_process;		/* external: inside sd_client_process */
	bool sending_only;		/* in owner_send() or submit_send():
					 * completes nothing */
	uint64_t armed_ns;		/* external: timerfd expiry, 0 = none */

	/* read by any thread */
	unsigned int cur_addr;		/* atomic */
	struct sd_client_stats st;	/* atomic counters */
};

/* the client whose loop this thread runs now */
static __thread struct sd_client *tls_driving;

/* ---- small helpers --------------------------------------------------- */

uint64_t sd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* a reply of sheep with @res to @r: by result, for the client and r's VDI */
static void stat_result(struct sd_client *c, const struct sd_request *r,
			uint32_t res)
{
	unsigned int i = sd_stats_result_index(res);

	sd_stat_add(&c->st.results[i], 1);
	if (r->vstats)
		sd_stat_add(&r->vstats->results[i], 1);
}

static const char *errstr(int err, char *buf, size_t len)
{
	return strerror_r(err, buf, len);
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t sum = 0;
	int i;

	for (i = 0; i < cnt; i++)
		sum += iov[i].iov_len;
	return sum;
}

/* bytes of header + payload that go on the wire for @r */
static size_t req_wire_len(const struct sd_request *r)
{
	size_t len = SD_HDR_SIZE;

	if (r->hdr.flags & SD_FLAG_CMD_WRITE)
		len += r->hdr.data_length;
	return len;
}

static void kick_eventfd(struct sd_client *c)
{
	uint64_t one = 1;
	ssize_t ret;

	do {
		ret = write(c->evfd, &one, sizeof(one));
	} while (ret < 0 && errno == EINTR);
	/* EAGAIN means the counter is already non-zero: still awake-able */
}

static void drain_eventfd(struct sd_client *c)
{
	uint64_t v;
	ssize_t ret;

	do {
		ret = read(c->evfd, &v, sizeof(v));
	} while (ret < 0 && errno == EINTR);
}

/*
 * Complete @r: unlink it from every list and call done().  @addr names the
 * address for the error message (set on the calling thread before done(),
 * so a callback may read it with sd_get_error()).
 */
static void req_complete(struct sd_client *c, struct sd_request *r, int err,
			 unsigned int addr)
{
	char eb[64];

	sd_list_del(&r->link);
	sd_list_del(&r->tlink);
	r->conn = NULL;
	c->nr_done++;
	__atomic_sub_fetch(&c->pending, 1, __ATOMIC_RELAXED);
	if (r->req_flags & SD_REQ_TIMER) {
		__atomic_sub_fetch(&c->pending_timers, 1, __ATOMIC_RELAXED);
		r->done(r, err);
		return;
	}
	if (err) {
		sd_set_error(-err, "%s to %s: %s",
			     r->req_flags & SD_REQ_PROBE ? "connect" :
			     sd_opcode_str(r->hdr.opcode),
			     c->addr_str[addr], errstr(-err, eb, sizeof(eb)));
		if (err == -ETIMEDOUT) {
			sd_stat_add(&c->st.timeouts, 1);
			if (r->vstats)
				sd_stat_add(&r->vstats->timeouts, 1);
		}
	} else if (!(r->req_flags & SD_REQ_PROBE)) {
		stat_result(c, r, r->rsp.result);
	}
	sd_stat_add(&c->st.completed, 1);
	r->done(r, err);
}

/* ---- slot table ------------------------------------------------------ */

static int slot_grow(struct sd_conn *cn)
{
	uint32_t n = cn->nr_slots ? cn->nr_slots * 2 : SD_INITIAL_SLOTS;
	struct sd_request **reqs;
	uint16_t *gens;
	uint32_t *fr, i;

	if (cn->nr_slots >= SD_MAX_SLOTS)
		return -ENOSPC;
	if (n > SD_MAX_SLOTS)
		n = SD_MAX_SLOTS;
	reqs = realloc(cn->slot_req, n * sizeof(*reqs));
	if (!reqs)
		return -ENOMEM;
	cn->slot_req = reqs;
	gens = realloc(cn->slot_gen, n * sizeof(*gens));
	if (!gens)
		return -ENOMEM;
	cn->slot_gen = gens;
	fr = realloc(cn->free_slots, n * sizeof(*fr));
	if (!fr)
		return -ENOMEM;
	cn->free_slots = fr;
	/* push the new slots so the lowest is popped first */
	for (i = n; i > cn->nr_slots; i--) {
		reqs[i - 1] = NULL;
		gens[i - 1] = 0;
		fr[cn->nr_free++] = i - 1;
	}
	cn->nr_slots = n;
	return 0;
}

static int slot_alloc(struct sd_conn *cn, struct sd_request *r)
{
	uint32_t s;

	if (!cn->nr_free && slot_grow(cn))
		return -1;
	s = cn->free_slots[--cn->nr_free];
	cn->slot_req[s] = r;
	r->slot = s;
	r->hdr.id = s | ((uint32_t)cn->slot_gen[s] << SD_SLOT_BITS);
	return 0;
}

static void slot_free(struct sd_conn *cn, struct sd_request *r)
{
	uint32_t s = r->slot;

	cn->slot_req[s] = NULL;
	cn->slot_gen[s]++;
	cn->free_slots[cn->nr_free++] = s;
}

static struct sd_request *slot_lookup(struct sd_conn *cn, uint32_t id)
{
	uint32_t s = id & (SD_MAX_SLOTS - 1);

	if (s >= cn->nr_slots || !cn->slot_req[s] ||
	    cn->slot_gen[s] != (uint16_t)(id >> SD_SLOT_BITS))
		return NULL;
	return cn->slot_req[s];
}

/* ---- connection state machine ---------------------------------------- */

static void conn_set_events(struct sd_conn *cn, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = cn };

	if (cn->events == ev)
		return;
	if (epoll_ctl(cn->c->epfd, EPOLL_CTL_MOD, cn->fd, &e) == 0)
		cn->events = ev;
}

static void conn_close_fd(struct sd_conn *cn)
{
	if (cn->fd < 0)
		return;
	epoll_ctl(cn->c->epfd, EPOLL_CTL_DEL, cn->fd, NULL);
	close(cn->fd);
	cn->fd = -1;
	cn->events = 0;
	cn->rx_req = NULL;
	cn->rpos = cn->rlen = 0;
}

static void queue_at_head(struct sd_client *c, struct sd_list *reqs)
{
	sd_list_splice_tail(&c->queue, reqs);
	sd_list_splice_tail(reqs, &c->queue);
}

/*
 * The connection is gone (EOF, error, bad reply, or recycled after a
 * deadline).  Close the socket first so no buffer of any request is
 * referenced any more, then: expired requests fail with -ETIMEDOUT, never
 * sent ones and SD_REQ_RESEND ones go back to the head of the client queue
 * in their order, the rest fail with -ECONNRESET.
 */
static void conn_lost(struct sd_client *c, struct sd_conn *cn)
{
	struct sd_list all, requeue, failed, *pos, *n;
	uint64_t now = sd_now_ns();

	conn_close_fd(cn);
	cn->state = SD_CONN_DEAD;
	cn->retry_ns = now + cn->backoff_ms * SD_NS_PER_MS;
	cn->backoff_ms = cn->backoff_ms * 2 > SD_RECONNECT_MAX_MS ?
			 SD_RECONNECT_MAX_MS : cn->backoff_ms * 2;

	sd_list_init(&all);
	sd_list_init(&requeue);
	sd_list_init(&failed);
	sd_list_splice_tail(&cn->waitq, &all);
	sd_list_splice_tail(&cn->sendq, &all);
	cn->nr_assigned = 0;

	sd_list_for_each_safe(pos, n, &all) {
		struct sd_request *r = sd_list_entry(pos, struct sd_request, link);

		slot_free(cn, r);
		sd_list_del(&r->link);
		if (r->deadline_ns <= now) {
			sd_list_add_tail(&r->link, &failed);
		} else if (!r->sent) {
			r->attempts--;
			r->conn = NULL;
			sd_list_add_tail(&r->link, &requeue);
		} else if (r->req_flags & SD_REQ_RESEND) {
			r->conn = NULL;
			sd_list_add_tail(&r->link, &requeue);
		} else {
			sd_list_add_tail(&r->link, &failed);
		}
	}
	queue_at_head(c, &requeue);

	sd_list_for_each_safe(pos, n, &failed) {
		struct sd_request *r = sd_list_entry(pos, struct sd_request, link);

		req_complete(c, r, r->deadline_ns <= now ? -ETIMEDOUT : -ECONNRESET,
			     cn->addr_idx);
	}
}

static void conn_ready(struct sd_client *c, struct sd_conn *cn)
{
	cn->state = SD_CONN_READY;
	cn->backoff_ms = SD_RECONNECT_MIN_MS;
	cn->round_fails = 0;
	if (cn->was_ready)
		sd_stat_add(&c->st.reconnects, 1);
	cn->was_ready = true;
	c->ever_ready = true;
	c->failed_mask = 0;		/* fail-fast counts failures since now */
	if (__atomic_exchange_n(&c->cur_addr, cn->addr_idx, __ATOMIC_RELAXED) !=
	    cn->addr_idx) {
		sd_stat_add(&c->st.failovers, 1);
		__atomic_store_n(&c->st.last_failover_ns, sd_now_ns(),
				 __ATOMIC_RELAXED);
	}
	conn_set_events(cn, EPOLLIN);
}

/*
 * A connect attempt failed with @err (negative).  Try the next address at
 * once while this round has untried ones, else wait for the backoff.
 * A full listen queue (-EAGAIN) is transient: same address, no blame.
 */
static void conn_connect_failed(struct sd_client *c, struct sd_conn *cn,
				int err, uint64_t now)
{
	unsigned int delay = 0;

	conn_close_fd(cn);
	cn->state = SD_CONN_DEAD;
	if (err != -EAGAIN) {
		c->conn_err = -err;
		c->conn_err_addr = cn->addr_idx;
		c->failed_mask |= 1U << cn->addr_idx;
		cn->addr_idx = (cn->addr_idx + 1) % c->nr_addrs;
		cn->round_fails++;
	}
	if (err == -EAGAIN || cn->round_fails >= c->nr_addrs) {
		delay = cn->backoff_ms;
		cn->backoff_ms = delay * 2 > SD_RECONNECT_MAX_MS ?
				 SD_RECONNECT_MAX_MS : delay * 2;
		cn->round_fails = 0;
	}
	cn->retry_ns = now + delay * SD_NS_PER_MS;
}

static void conn_start(struct sd_client *c, struct sd_conn *cn, uint64_t now)
{
	struct epoll_event e = { .data.ptr = cn };
	unsigned int tmo = c->timeout_ms < SD_CONNECT_TIMEOUT_MS ?
			   c->timeout_ms : SD_CONNECT_TIMEOUT_MS;
	int fd = -1, ret;

	ret = sd_addr_connect(&c->addrs[cn->addr_idx], &fd);
	if (ret && ret != -EINPROGRESS) {
		conn_connect_failed(c, cn, ret, now);
		return;
	}
	e.events = ret ? EPOLLOUT : EPOLLIN;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		ret = -errno;
		close(fd);
		conn_connect_failed(c, cn, ret, now);
		return;
	}
	cn->fd = fd;
	cn->events = e.events;
	cn->rpos = cn->rlen = 0;
	cn->rx_req = NULL;
	if (ret == 0) {
		conn_ready(c, cn);
	} else {
		cn->state = SD_CONN_CONNECTING;
		cn->connect_deadline_ns = now + tmo * SD_NS_PER_MS;
	}
}

/* CONNECTING and the socket became writable (or failed) */
static void conn_connect_done(struct sd_client *c, struct sd_conn *cn)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_connect_failed(c, cn, -err, sd_now_ns());
		return;
	}
	conn_ready(c, cn);
}

/* drive IDLE/DEAD/CONNECTING connections by time */
static void conns_advance(struct sd_client *c, uint64_t now)
{
	unsigned int i;

	for (i = 0; i < c->nr_conns; i++) {
		struct sd_conn *cn = &c->conns[i];

		if (cn->state == SD_CONN_CONNECTING &&
		    now >= cn->connect_deadline_ns)
			conn_connect_failed(c, cn, -ETIMEDOUT, now);
		if (cn->state == SD_CONN_DEAD && now >= cn->retry_ns)
			cn->state = SD_CONN_IDLE;
		if (cn->state == SD_CONN_IDLE)
			conn_start(c, cn, now);
	}
}

/* ---- sending --------------------------------------------------------- */

/*
 * Send as much of the connection's send queue as the socket takes, with
 * one sendmsg() per up to SD_SEND_IOV pieces.  Returns -1 if the connection
 * was lost.
 */
static int conn_flush(struct sd_client *c, struct sd_conn *cn)
{
	struct iovec iov[SD_SEND_IOV];

	while (!sd_list_empty(&cn->sendq)) {
		struct msghdr mh = { .msg_iov = iov };
		struct sd_list *pos;
		size_t asked = 0, wrote;
		ssize_t w;
		int n = 0;

		for (pos = cn->sendq.next; pos != &cn->sendq && n < SD_SEND_IOV;
		     pos = pos->next) {
			struct sd_request *r =
				sd_list_entry(pos, struct sd_request, link);
			size_t skip = r->sent;
			int i;

			if (skip < SD_HDR_SIZE) {
				iov[n].iov_base = r->wire + skip;
				iov[n].iov_len = SD_HDR_SIZE - skip;
				asked += iov[n++].iov_len;
				skip = 0;
			} else {
				skip -= SD_HDR_SIZE;
			}
			if (!(r->hdr.flags & SD_FLAG_CMD_WRITE))
				continue;
			for (i = 0; i < r->out_iovcnt && n < SD_SEND_IOV; i++) {
				size_t len = r->out_iov[i].iov_len;

				if (skip >= len) {
					skip -= len;
					continue;
				}
				iov[n].iov_base = (char *)r->out_iov[i].iov_base + skip;
				iov[n].iov_len = len - skip;
				asked += iov[n++].iov_len;
				skip = 0;
			}
		}
		mh.msg_iovlen = n;
		w = sendmsg(cn->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (c->sending_only) {
				/* the loop's next pass finds the error */
				conn_set_events(cn, EPOLLIN | EPOLLOUT);
				return -1;
			}
			conn_lost(c, cn);
			return -1;
		}
		/* advance by byte progress */
		wrote = (size_t)w;
		pos = cn->sendq.next;
		while (wrote) {
			struct sd_request *r;
			size_t left;

			if (pos == &cn->sendq) {
				/* the kernel took more than we offered */
				conn_lost(c, cn);
				return -1;
			}
			r = sd_list_entry(pos, struct sd_request, link);
			left = req_wire_len(r) - r->sent;

			if (wrote < left) {
				r->sent += wrote;
				break;
			}
			r->sent += left;
			wrote -= left;
			pos = pos->next;
			sd_list_del(&r->link);
			sd_list_add_tail(&r->link, &cn->waitq);
		}
		wrote = (size_t)w;
		if (wrote < asked)
			break;	/* short write: the socket buffer is full */
	}
	conn_set_events(cn, sd_list_empty(&cn->sendq) ? EPOLLIN :
			EPOLLIN | EPOLLOUT);
	return 0;
}

/* READY connection with the fewest requests in flight that has room */
static struct sd_conn *pick_conn(struct sd_client *c)
{
	struct sd_conn *best = NULL;
	unsigned int i;

	for (i = 0; i < c->nr_conns; i++) {
		struct sd_conn *cn = &c->conns[i];

		if (cn->state != SD_CONN_READY || cn->nr_assigned >= SD_MAX_SLOTS)
			continue;
		if (!best || cn->nr_assigned < best->nr_assigned)
			best = cn;
	}
	return best;
}

/* hand queued requests to connections, then send */
static void dispatch(struct sd_client *c)
{
	unsigned int i;

	while (!sd_list_empty(&c->queue)) {
		struct sd_request *r = sd_list_first_entry(&c->queue,
						struct sd_request, link);
		struct sd_conn *cn = pick_conn(c);

		if (cn && (r->req_flags & SD_REQ_PROBE)) {
			if (c->sending_only)
				break;	/* the loop completes it */
			req_complete(c, r, 0, cn->addr_idx);	/* up */
			continue;
		}
		if (!cn || slot_alloc(cn, r))
			break;
		sd_req_encode(&r->hdr, r->wire);
		r->sent = 0;
		r->conn = cn;
		if (r->attempts++) {
			sd_stat_add(&c->st.resent, 1);
			if (r->vstats)
				sd_stat_add(&r->vstats->resent, 1);
		}
		sd_list_del(&r->link);
		sd_list_add_tail(&r->link, &cn->sendq);
		cn->nr_assigned++;
	}
	for (i = 0; i < c->nr_conns; i++) {
		struct sd_conn *cn = &c->conns[i];

		/* with EPOLLOUT armed the socket is full: wait for it */
		if (cn->state == SD_CONN_READY && !sd_list_empty(&cn->sendq) &&
		    !(cn->events & EPOLLOUT))
			conn_flush(c, cn);
	}
}

/* ---- receiving ------------------------------------------------------- */

/* advance the payload cursor by @len bytes, copying from @src if given */
static void rx_advance(struct sd_conn *cn, const uint8_t *src, size_t len)
{
	struct sd_request *r = cn->rx_req;

	while (len) {
		const struct iovec *v = &r->in_iov[cn->rx_idx];
		size_t room = v->iov_len - cn->rx_off;
		size_t k = len < room ? len : room;

		if (src) {
			memcpy((char *)v->iov_base + cn->rx_off, src, k);
			src += k;
		}
		cn->rx_off += k;
		len -= k;
		if (cn->rx_off == v->iov_len) {
			cn->rx_idx++;
			cn->rx_off = 0;
		}
	}
}

/* account @n bytes received into the payload (store, then drop) */
static size_t rx_consume(struct sd_conn *cn, const uint8_t *src, size_t n)
{
	size_t used = 0, k;

	k = n < cn->rx_store ? n : cn->rx_store;
	if (k) {
		rx_advance(cn, src, k);
		cn->rx_store -= k;
		cn->rx_len += k;
		used += k;
	}
	k = n - used < cn->rx_drop ? n - used : cn->rx_drop;
	cn->rx_drop -= k;
	used += k;
	return used;
}

/*
 * Every connection on address @idx goes to the next address: its node said
 * it is going away (requests in flight on them are resent or fail as on a
 * lost connection).  With one address they reconnect to it after backoff.
 */
static void addr_gone(struct sd_client *c, unsigned int idx)
{
	uint64_t now = sd_now_ns();
	unsigned int i;

	for (i = 0; i < c->nr_conns; i++) {
		struct sd_conn *cn = &c->conns[i];

		if (cn->addr_idx != idx || cn->state == SD_CONN_DEAD)
			continue;
		if (cn->state != SD_CONN_IDLE)
			conn_lost(c, cn);
		if (c->nr_addrs > 1) {
			cn->addr_idx = (idx + 1) % c->nr_addrs;
			cn->state = SD_CONN_DEAD;
			cn->retry_ns = now;
		}
	}
}

/*
 * A reply with a cluster-transient result: send @r again after a backoff
 * unless its deadline comes first.  True when @r was taken care of (a
 * retry, or its -ETIMEDOUT completion).
 */
static bool retry_transient(struct sd_client *c, struct sd_conn *cn,
			    struct sd_request *r)
{
	uint32_t res = r->rsp.result;
	uint64_t now = sd_now_ns(), delay;
	unsigned int idx = cn->addr_idx;

	if (!sd_result_is_transient(res) ||
	    (res == SD_RES_NETWORK_ERROR && !(r->req_flags & SD_REQ_RESEND)))
		return false;
	stat_result(c, r, res);
	if (r->vstats)
		sd_stat_add(&r->vstats->transient, 1);
	delay = (uint64_t)SD_RETRY_MIN_MS << (r->retries < 6 ? r->retries : 6);
	if (delay > SD_RETRY_MAX_MS)
		delay = SD_RETRY_MAX_MS;
	/* not now: the connection is being parsed */
	if (res == SD_RES_SHUTDOWN || res == SD_RES_KILLED ||
	    res == SD_RES_NETWORK_ERROR)
		c->gone_mask |= 1U << idx;
	if (now + delay * SD_NS_PER_MS >= r->deadline_ns) {
		/* the node's state outlasts the deadline: a timeout */
		sd_list_init(&r->link);
		req_complete(c, r, -ETIMEDOUT, idx);
		return true;
	}
	r->retries++;
	r->retry_ns = now + delay * SD_NS_PER_MS;
	r->conn = NULL;
	r->sent = 0;
	r->in_len = 0;
	sd_list_add_tail(&r->link, &c->delayed);
	sd_stat_add(&c->st.transient, 1);
	return true;
}

static void rx_finish(struct sd_client *c, struct sd_conn *cn)
{
	struct sd_request *r = cn->rx_req;

	cn->rx_req = NULL;
	r->in_len = cn->rx_len;
	slot_free(cn, r);
	cn->nr_assigned--;
	sd_list_del(&r->link);
	if (retry_transient(c, cn, r))
		return;
	sd_list_init(&r->link);
	req_complete(c, r, 0, cn->addr_idx);
}

/* delayed retries whose time has come go back to the queue */
static void retry_due(struct sd_client *c, uint64_t now)
{
	struct sd_list *pos, *n;

	sd_list_for_each_safe(pos, n, &c->delayed) {
		struct sd_request *r = sd_list_entry(pos, struct sd_request,
						     link);

		if (r->retry_ns > now)
			continue;
		sd_list_del(&r->link);
		sd_list_add_tail(&r->link, &c->queue);
	}
}

static int bad_reply(struct sd_client *c, struct sd_conn *cn)
{
	sd_stat_add(&c->st.bad_replies, 1);
	conn_lost(c, cn);
	return -1;
}

/*
 * Parse what rbuf holds: headers, and payload bytes that came with them.
 * Returns -1 if the connection was closed (malformed reply).
 */
static int conn_parse(struct sd_client *c, struct sd_conn *cn)
{
	for (;;) {
		struct sd_request *r;
		struct sd_rsp rsp;
		size_t cap, limit;

		if (cn->rx_req) {
			cn->rpos += rx_consume(cn, cn->rbuf + cn->rpos,
					       cn->rlen - cn->rpos);
			if (cn->rx_store || cn->rx_drop)
				break;
			rx_finish(c, cn);
			continue;
		}
		if (cn->rlen - cn->rpos < SD_HDR_SIZE)
			break;
		sd_rsp_decode(cn->rbuf + cn->rpos, &rsp);
		cn->rpos += SD_HDR_SIZE;

		r = slot_lookup(cn, rsp.id);
		if (!r || r->hdr.opcode != rsp.opcode ||
		    r->sent != req_wire_len(r))
			return bad_reply(c, cn);
		cap = iov_total(r->in_iov, r->in_iovcnt);
		limit = (cap > SD_INODE_SIZE ? cap : SD_INODE_SIZE) +
			SD_REPLY_SLACK;
		if (rsp.data_length > limit)
			return bad_reply(c, cn);

		r->rsp = rsp;
		cn->rx_req = r;
		cn->rx_store = rsp.data_length < cap ? rsp.data_length : cap;
		cn->rx_drop = rsp.data_length - cn->rx_store;
		cn->rx_idx = 0;
		cn->rx_off = 0;
		cn->rx_len = 0;
	}
	if (cn->rpos == cn->rlen)
		cn->rpos = cn->rlen = 0;
	return 0;
}

/*
 * Build the receive vector: the rest of the current payload (straight into
 * the caller's buffers, then the scratch sink), followed by the header
 * buffer when the payload is fully covered, so the next reply header
 * usually arrives in the same call.
 */
static int rx_build_iov(struct sd_client *c, struct sd_conn *cn,
			struct iovec *iov, int max, size_t *asked)
{
	struct sd_request *r = cn->rx_req;
	size_t need = cn->rx_store, got = 0;
	int n = 0, i = cn->rx_idx;
	size_t off = cn->rx_off;

	while (need > got && n < max - 2 && i < r->in_iovcnt) {
		size_t len = r->in_iov[i].iov_len - off;

		if (len > need - got)
			len = need - got;
		if (len) {
			iov[n].iov_base = (char *)r->in_iov[i].iov_base + off;
			iov[n++].iov_len = len;
			got += len;
		}
		i++;
		off = 0;
	}
	if (got == need && cn->rx_drop) {
		size_t k = cn->rx_drop < SD_SCRATCH_SIZE ? cn->rx_drop :
			   SD_SCRATCH_SIZE;

		iov[n].iov_base = c->scratch;
		iov[n++].iov_len = k;
		got += k;
		need += cn->rx_drop;
	}
	if (got == need) {
		/* rbuf is empty while a payload is pending */
		cn->rpos = cn->rlen = 0;
		iov[n].iov_base = cn->rbuf;
		iov[n++].iov_len = SD_RBUF_SIZE;
		got += SD_RBUF_SIZE;
	}
	*asked = got;
	return n;
}

/* read and process everything the socket has; -1 if the conn was lost */
static int conn_recv(struct sd_client *c, struct sd_conn *cn)
{
	struct iovec iov[64];
	int budget;

	for (budget = 0; budget < SD_RECV_BUDGET; budget++) {
		struct msghdr mh = { .msg_iov = iov };
		size_t asked;
		ssize_t n;

		if (cn->rx_req) {
			mh.msg_iovlen = rx_build_iov(c, cn, iov, 64, &asked);
		} else {
			if (cn->rpos) {
				memmove(cn->rbuf, cn->rbuf + cn->rpos,
					cn->rlen - cn->rpos);
				cn->rlen -= cn->rpos;
				cn->rpos = 0;
			}
			iov[0].iov_base = cn->rbuf + cn->rlen;
			iov[0].iov_len = asked = SD_RBUF_SIZE - cn->rlen;
			mh.msg_iovlen = 1;
		}
		n = recvmsg(cn->fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			conn_lost(c, cn);
			return -1;
		}
		if (n == 0) {
			conn_lost(c, cn);
			return -1;
		}
		if (cn->rx_req) {
			size_t used = rx_consume(cn, NULL, n);

			cn->rlen += n - used;	/* the rest landed in rbuf */
		} else {
			cn->rlen += n;
		}
		if (conn_parse(c, cn) < 0)
			return -1;
		if ((size_t)n < asked)
			return 0;	/* drained; epoll reports more */
	}
	return 0;
}

/* ---- deadlines and fail-fast ----------------------------------------- */

static void timer_insert(struct sd_client *c, struct sd_request *r)
{
	struct sd_list *pos = c->timers.prev;

	/* usually appended: deadlines mostly grow with submission order */
	while (pos != &c->timers &&
	       sd_list_entry(pos, struct sd_request, tlink)->deadline_ns >
	       r->deadline_ns)
		pos = pos->prev;
	sd_list_insert(&r->tlink, pos, pos->next);
}

static void expire(struct sd_client *c, uint64_t now)
{
	while (!sd_list_empty(&c->timers)) {
		struct sd_request *r = sd_list_first_entry(&c->timers,
						struct sd_request, tlink);

		if (r->deadline_ns > now)
			break;
		if (r->req_flags & SD_REQ_TIMER) {
			req_complete(c, r, 0, 0);
		} else if (r->conn) {
			/* sheep may be stalled: recycle; completes r too */
			conn_lost(c, r->conn);
		} else {
			req_complete(c, r, -ETIMEDOUT,
				     __atomic_load_n(&c->cur_addr,
						     __ATOMIC_RELAXED));
		}
	}
}

/*
 * Every address failed to connect since a connection was last up, and none
 * is up or connecting: fail the queued requests that must not wait for a
 * reconnect (all of them while the client has never been up, else only
 * probes).
 */
static void fail_fast(struct sd_client *c)
{
	uint32_t all = (c->nr_addrs >= 32) ? ~0U : (1U << c->nr_addrs) - 1;
	struct sd_list *pos, *n;
	unsigned int i;

	if ((c->failed_mask & all) != all || sd_list_empty(&c->queue))
		return;
	for (i = 0; i < c->nr_conns; i++)
		if (c->conns[i].state == SD_CONN_CONNECTING ||
		    c->conns[i].state == SD_CONN_READY)
			return;
	sd_list_for_each_safe(pos, n, &c->queue) {
		struct sd_request *r = sd_list_entry(pos, struct sd_request, link);

		if (!c->ever_ready || (r->req_flags & SD_REQ_PROBE))
			req_complete(c, r, -c->conn_err, c->conn_err_addr);
	}
}

static uint64_t next_wakeup(struct sd_client *c)
{
	uint64_t t = UINT64_MAX;
	struct sd_list *pos, *n;
	unsigned int i;

	if (!sd_list_empty(&c->timers))
		t = sd_list_first_entry(&c->timers, struct sd_request,
					tlink)->deadline_ns;
	for (i = 0; i < c->nr_conns; i++) {
		struct sd_conn *cn = &c->conns[i];

		if (cn->state == SD_CONN_DEAD && cn->retry_ns < t)
			t = cn->retry_ns;
		else if (cn->state == SD_CONN_CONNECTING &&
			 cn->connect_deadline_ns < t)
			t = cn->connect_deadline_ns;
		else if (cn->state == SD_CONN_IDLE)
			t = 0;
	}
	/* requeued by a lost connection while another one is READY */
	if (!sd_list_empty(&c->queue) && pick_conn(c))
		t = 0;
	sd_list_for_each_safe(pos, n, &c->delayed) {
		struct sd_request *r = sd_list_entry(pos, struct sd_request,
						     link);

		if (r->retry_ns < t)
			t = r->retry_ns;
	}
	return t;
}

/* ---- the I/O thread -------------------------------------------------- */

/* move submissions into the queue; false when the client is stopping */
static bool take_submissions(struct sd_client *c)
{
	struct sd_list batch, *pos, *n;
	bool stopping;

	sd_list_init(&batch);
	pthread_mutex_lock(&c->lock);
	stopping = c->stopping;
	sd_list_splice_tail(&c->submitq, &batch);
	pthread_mutex_unlock(&c->lock);
	if (stopping) {
		/* sd_client_free completes them */
		queue_at_head(c, &batch);
		return false;
	}
	sd_list_for_each_safe(pos, n, &batch) {
		struct sd_request *r = sd_list_entry(pos, struct sd_request, link);

		timer_insert(c, r);
		/* a timer only waits in the deadline list */
		if (r->req_flags & SD_REQ_TIMER) {
			sd_list_del(&r->link);
			sd_list_init(&r->link);
		}
	}
	sd_list_splice_tail(&batch, &c->queue);
	return true;
}

static void handle_conn_event(struct sd_client *c, struct sd_conn *cn,
			      uint32_t ev)
{
	switch (cn->state) {
	case SD_CONN_CONNECTING:
		conn_connect_done(c, cn);
		break;
	case SD_CONN_READY:
		if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && conn_recv(c, cn))
			break;
		if ((ev & EPOLLOUT) && cn->state == SD_CONN_READY)
			conn_flush(c, cn);
		break;
	default:
		break;	/* stale event of a connection closed meanwhile */
	}
}

/* the loop body without the wait; false when the client is stopping */
static bool client_work(struct sd_client *c)
{
	uint64_t now = sd_now_ns();

	if (!take_submissions(c))
		return false;
	while (c->gone_mask) {
		unsigned int idx = (unsigned int)__builtin_ctz(c->gone_mask);

		c->gone_mask &= c->gone_mask - 1;
		addr_gone(c, idx);
	}
	conns_advance(c, now);
	fail_fast(c);
	expire(c, now);
	retry_due(c, now);
	dispatch(c);
	return true;
}

static void drain_timerfd(struct sd_client *c)
{
	uint64_t v;

	if (read(c->tfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	c->armed_ns = 0;
}

static void handle_events(struct sd_client *c, const struct epoll_event *evs,
			  int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!evs[i].data.ptr)
			drain_eventfd(c);
		else if (evs[i].data.ptr == &c->tfd)
			drain_timerfd(c);
		else
			handle_conn_event(c, evs[i].data.ptr, evs[i].events);
	}
}

static bool conns_all_ready(const struct sd_client *c)
{
	unsigned int i;

	for (i = 0; i < c->nr_conns; i++)
		if (c->conns[i].state != SD_CONN_READY)
			return false;
	return true;
}

/*
 * c->pending and c->pending_timers are counted up by submitters under
 * c->lock and down by the driver without it.  requests_pending(): a
 * request (not a timer) is accepted and not completed; timers_pending():
 * a timer is.
 */
static bool requests_pending(const struct sd_client *c)
{
	return __atomic_load_n(&c->pending, __ATOMIC_RELAXED) >
	       __atomic_load_n(&c->pending_timers, __ATOMIC_RELAXED);
}

static bool timers_pending(const struct sd_client *c)
{
	return __atomic_load_n(&c->pending_timers, __ATOMIC_RELAXED);
}

/* the epoll timeout until @t */
static int wait_ms(uint64_t t, uint64_t now)
{
	if (t == UINT64_MAX)
		return -1;
	if (t <= now)
		return 0;
	if ((t - now) / SD_NS_PER_MS >= INT_MAX)
		return INT_MAX;
	return (int)((t - now + SD_NS_PER_MS - 1) / SD_NS_PER_MS);
}

/*
 * Under c->lock, with nobody driving: give the loop to the I/O thread when
 * a request is in flight, a submission waits or a connection is not up.
 * When only timers are armed the I/O thread sleeps until the first (a
 * thread that comes to wait meanwhile runs the loop, and fires timers that
 * are due); when all is quiet nobody drives.
 */
static void driver_handoff(struct sd_client *c)
{
	if (c->driver != SD_DRIVER_NONE || c->stopping)
		return;
	if (requests_pending(c) || !c->quiet ||
	    !sd_list_empty(&c->submitq)) {
		c->driver = SD_DRIVER_IO;
		pthread_cond_signal(&c->io_cond);
	} else if (timers_pending(c)) {
		pthread_cond_signal(&c->io_cond);	/* wake_ns may be sooner */
	}
}

/* what the sockets reported while nobody watched them (an EOF) */
static void poll_now(struct sd_client *c)
{
	struct epoll_event evs[SD_MAX_CONNS + 1];

	handle_events(c, evs, epoll_wait(c->epfd, evs, SD_MAX_CONNS + 1, 0));
}

/*
 * One pass of the loop on the driver thread: the work, then the wait in
 * epoll_wait until an event or the next wakeup, then the events.  The
 * I/O thread's passes (@io) end instead of waiting when all is quiet; a
 * waiter's pass does not wait once something completed since @since (it
 * may be what the waiter waits for).  False when the driver should stop.
 */
static bool loop_pass(struct sd_client *c, bool io, uint64_t since)
{
	struct epoll_event evs[SD_MAX_CONNS + 1];
	uint64_t wake, now;
	bool quiet;
	int n, timeout;

	if (!client_work(c))
		return false;
	/* driver state: no submitter sends before c->sleeping is set */
	wake = next_wakeup(c);
	now = sd_now_ns();
	timeout = wait_ms(wake, now);
	quiet = conns_all_ready(c);

	pthread_mutex_lock(&c->lock);
	c->quiet = quiet;
	c->wake_ns = wake;
	if (io && !requests_pending(c) && quiet &&
	    sd_list_empty(&c->submitq) && wake > now) {
		pthread_mutex_unlock(&c->lock);
		return false;
	}
	if (!sd_list_empty(&c->submitq) || c->stopping ||
	    (!io && c->nr_done != since)) {
		pthread_mutex_unlock(&c->lock);
		return true;
	}
	c->sleeping = timeout != 0;
	pthread_mutex_unlock(&c->lock);

	n = epoll_wait(c->epfd, evs, SD_MAX_CONNS + 1, timeout);

	if (timeout != 0) {
		pthread_mutex_lock(&c->lock);
		while (c->sending)	/* a submitter works for us */
			pthread_cond_wait(&c->send_cond, &c->lock);
		c->sleeping = false;
		pthread_mutex_unlock(&c->lock);
	}
	handle_events(c, evs, n);
	return true;
}

/*
 * An I/O thread client's waiter (sd_client_cond_wait(), sd_client_done_wait())
 * runs the loop when nobody does: waiter_claim() makes it the driver (false
 * when somebody else drives), then waiter_pass() runs one pass of the loop
 * on this thread (send what waits, sleep until a reply or the next
 * deadline, complete what arrived), so that a lone synchronous caller needs
 * no other thread, and gives the loop to the I/O thread if anything is
 * still in flight.
 */
static bool waiter_claim(struct sd_client *c)
{
	bool mine = false;

	pthread_mutex_lock(&c->lock);
	if (c->driver == SD_DRIVER_NONE && !c->stopping) {
		c->driver = SD_DRIVER_WAITER;
		mine = true;
	}
	pthread_mutex_unlock(&c->lock);
	return mine;
}

static void waiter_pass(struct sd_client *c)
{
	uint64_t since;

	tls_driving = c;
	since = c->nr_done;
	poll_now(c);
	/* one pass, and the sends of what its callbacks submitted */
	if (loop_pass(c, false, since))
		client_work(c);
	tls_driving = NULL;
	pthread_mutex_lock(&c->lock);
	c->quiet = conns_all_ready(c);
	c->wake_ns = next_wakeup(c);
	c->driver = SD_DRIVER_NONE;
	driver_handoff(c);
	pthread_mutex_unlock(&c->lock);
}

static void *io_thread(void *arg)
{
	struct sd_client *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->driver != SD_DRIVER_IO && !c->stopping) {
			uint64_t now = sd_now_ns(), until;
			struct timespec ts;

			/*
			 * A synchronous caller's submission leaves the loop
			 * to it (sd_client_expect_wait()); should it not come
			 * to drive, what it submitted is taken over here, as
			 * are timers that fall due while nobody drives.
			 */
			if (c->driver == SD_DRIVER_NONE &&
			    (requests_pending(c) ||
			     (timers_pending(c) && c->wake_ns <= now))) {
				c->driver = SD_DRIVER_IO;
				break;
			}
			until = now + SD_ORPHAN_CHECK_MS * SD_NS_PER_MS;
			if (timers_pending(c) && c->wake_ns < until)
				until = c->wake_ns;
			ts.tv_sec = (time_t)(until / 1000000000ULL);
			ts.tv_nsec = (long)(until % 1000000000ULL);
			pthread_cond_timedwait(&c->io_cond, &c->lock, &ts);
		}
		if (c->stopping)
			break;
		pthread_mutex_unlock(&c->lock);
		tls_driving = c;
		poll_now(c);
		while (loop_pass(c, true, 0))
			;
		tls_driving = NULL;
		pthread_mutex_lock(&c->lock);
		c->driver = SD_DRIVER_NONE;
		driver_handoff(c);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- the external loop ------------------------------------------------ */

/* make the epoll fd readable at @t (UINT64_MAX: never) */
static void timer_arm(struct sd_client *c, uint64_t t)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (t == UINT64_MAX) {
		if (!c->armed_ns)
			return;
		c->armed_ns = 0;
		timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL);
		return;
	}
	/* an earlier expiry still ahead wakes us first: re-armed then */
	if (c->armed_ns && c->armed_ns <= t && c->armed_ns > sd_now_ns())
		return;
	if (!t)
		t = 1;		/* 0 would disarm: the past fires at once */
	its.it_value.tv_sec = (time_t)(t / 1000000000ULL);
	its.it_value.tv_nsec = (long)(t % 1000000000ULL);
	if (timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		c->armed_ns = t;
}

int sd_client_event_fd(const struct sd_client *c)
{
	return c->external ? c->epfd : -1;
}

bool sd_client_loop_owner(const struct sd_client *c)
{
	return c->external && pthread_equal(pthread_self(), c->thread);
}

void sd_client_process(struct sd_client *c)
{
	struct epoll_event evs[SD_MAX_CONNS + 2];
	bool idle = true;
	int round, n;

	if (!c->external || c->in_process)
		return;
	c->in_process = true;
	pthread_mutex_lock(&c->lock);
	c->sleeping = false;
	pthread_mutex_unlock(&c->lock);
	n = epoll_wait(c->epfd, evs, SD_MAX_CONNS + 2, 0);
	if (n > 0)
		handle_events(c, evs, n);
	/*
	 * More rounds only for what the callbacks submitted or what fell due:
	 * replies that arrive meanwhile keep the level-triggered fd readable
	 * for the owner's next loop pass.
	 */
	for (round = 0;; round++) {
		if (!client_work(c))
			break;
		pthread_mutex_lock(&c->lock);
		idle = sd_list_empty(&c->submitq) &&
		       next_wakeup(c) > sd_now_ns();
		if (idle || round + 1 >= SD_PROCESS_ROUNDS) {
			/* from now on a submission wakes the owner's loop */
			c->sleeping = true;
			pthread_mutex_unlock(&c->lock);
			break;
		}
		pthread_mutex_unlock(&c->lock);
	}
	/* more to do after the last round: the timer fires at once */
	timer_arm(c, idle ? next_wakeup(c) : 0);
	c->in_process = false;
}

/*
 * External loop: a submission on the owner thread outside
 * sd_client_process() is sent at once instead of through the eventfd and
 * the owner's next loop pass.  Nothing completes here (done() callbacks
 * never run inside sd_client_submit): a send error is left for the loop.
 */
static void owner_send(struct sd_client *c)
{
	c->in_process = true;
	c->sending_only = true;
	if (take_submissions(c))
		dispatch(c);
	c->sending_only = false;
	c->in_process = false;
	timer_arm(c, next_wakeup(c));
}

/*
 * The owner thread of an external-loop client waits for a completion:
 * its submissions were sent by owner_send (or wait in the queue for a
 * connection, with the timer armed for the connect or retry), and whatever
 * is in flight has a deadline the armed timer bounds, so the poll ends.
 */
static void owner_wait(struct sd_client *c)
{
	struct pollfd p;

	p.fd = c->epfd;
	p.events = POLLIN;
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	sd_client_process(c);
}

void sd_client_cond_wait(struct sd_client *c, pthread_cond_t *cond,
			 pthread_mutex_t *mu)
{
	bool owner = sd_client_loop_owner(c);

	/* @mu stays held until pthread_cond_wait: no completion is missed */
	if (!owner && (c->external || !waiter_claim(c))) {
		pthread_cond_wait(cond, mu);
		return;
	}
	pthread_mutex_unlock(mu);
	if (owner)
		owner_wait(c);
	else
		waiter_pass(c);
	pthread_mutex_lock(mu);
}

void sd_client_done_wait(struct sd_client *c, struct sd_done *d)
{
	bool owner = sd_client_loop_owner(c);

	while (!sd_done_is_set(d)) {
		if (owner)
			owner_wait(c);
		else if (!c->external && waiter_claim(c))
			waiter_pass(c);
		else
			sd_done_sleep(d);	/* returns at once once set */
	}
}

/* ---- public API ------------------------------------------------------ */

static void client_destroy(struct sd_client *c)
{
	unsigned int i;

	for (i = 0; c->conns && i < c->nr_conns; i++) {
		struct sd_conn *cn = &c->conns[i];

		if (cn->fd >= 0)
			close(cn->fd);
		free(cn->slot_req);
		free(cn->slot_gen);
		free(cn->free_slots);
	}
	free(c->conns);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->evfd >= 0)
		close(c->evfd);
	if (c->tfd >= 0)
		close(c->tfd);
	pthread_cond_destroy(&c->io_cond);
	pthread_cond_destroy(&c->send_cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int sd_client_new(const struct sd_client_opts *o, struct sd_client **out)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	sigset_t all, old;
	struct sd_client *c;
	unsigned int i;
	int ret;

	*out = NULL;
	if (!o || !o->addrs || o->nr_addrs < 1 || o->nr_addrs > SD_MAX_ADDRS)
		return sd_set_error(EINVAL, "client: need 1..%d addresses",
				    SD_MAX_ADDRS);
	if (o->nr_conns > SD_MAX_CONNS)
		return sd_set_error(EINVAL, "client: at most %d connections",
				    SD_MAX_CONNS);

	c = calloc(1, sizeof(*c));
	if (!c)
		return sd_set_error(ENOMEM, "client: out of memory");
	c->epfd = c->evfd = c->tfd = -1;
	c->external = o->external_loop;
	pthread_mutex_init(&c->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->io_cond, &ca);
		pthread_condattr_destroy(&ca);
		pthread_cond_init(&c->send_cond, NULL);
	}
	c->driver = SD_DRIVER_IO;	/* the I/O thread starts connecting */
	sd_list_init(&c->submitq);
	sd_list_init(&c->queue);
	sd_list_init(&c->timers);
	sd_list_init(&c->delayed);
	c->nr_addrs = o->nr_addrs;
	c->nr_conns = o->nr_conns ? o->nr_conns : SD_DEFAULT_CONNS;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : SD_DEFAULT_TIMEOUT_MS;
	c->conn_err = ECONNREFUSED;
	for (i = 0; i < c->nr_addrs; i++) {
		c->addrs[i] = o->addrs[i];
		sd_addr_format(&c->addrs[i], c->addr_str[i],
			       sizeof(c->addr_str[i]));
	}

	c->conns = calloc(c->nr_conns, sizeof(*c->conns));
	if (!c->conns) {
		ret = sd_set_error(ENOMEM, "client: out of memory");
		goto out_free;
	}
	for (i = 0; i < c->nr_conns; i++) {
		struct sd_conn *cn = &c->conns[i];

		cn->c = c;
		cn->fd = -1;
		cn->state = SD_CONN_IDLE;
		cn->backoff_ms = SD_RECONNECT_MIN_MS;
		sd_list_init(&cn->sendq);
		sd_list_init(&cn->waitq);
		if (slot_grow(cn)) {
			ret = sd_set_error(ENOMEM, "client: out of memory");
			goto out_free;
		}
	}

	c->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->evfd < 0) {
		ret = sd_set_error(errno, "client: eventfd: %s", strerror(errno));
		goto out_free;
	}
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0) {
		ret = sd_set_error(errno, "client: epoll_create1: %s",
				   strerror(errno));
		goto out_free;
	}
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->evfd, &e) < 0) {
		ret = sd_set_error(errno, "client: epoll_ctl: %s",
				   strerror(errno));
		goto out_free;
	}

	if (c->external) {
		struct epoll_event te = { .events = EPOLLIN,
					  .data.ptr = &c->tfd };

		c->tfd = timerfd_create(CLOCK_MONOTONIC,
					TFD_NONBLOCK | TFD_CLOEXEC);
		if (c->tfd < 0 ||
		    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->tfd, &te) < 0) {
			ret = sd_set_error(errno, "client: timerfd: %s",
					   strerror(errno));
			goto out_free;
		}
		c->thread = pthread_self();
		/* start connecting now, as the I/O thread would */
		timer_arm(c, 0);
		*out = c;
		return 0;
	}

	/* the thread inherits the mask: tgtd must get its signals itself */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&c->thread, NULL, io_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		ret = sd_set_error(ret, "client: cannot start I/O thread: %s",
				   strerror(ret));
		goto out_free;
	}
	pthread_setname_np(c->thread, "sd-io");
	*out = c;
	return 0;

out_free:
	client_destroy(c);
	return ret;
}

void sd_client_free(struct sd_client *c)
{
	struct sd_list all, *pos, *n;
	unsigned int i;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_signal(&c->io_cond);
	pthread_mutex_unlock(&c->lock);
	if (!c->external) {
		kick_eventfd(c);
		pthread_join(c->thread, NULL);
	}

	/* no socket references any buffer once closed */
	sd_list_init(&all);
	for (i = 0; i < c->nr_conns; i++) {
		struct sd_conn *cn = &c->conns[i];

		conn_close_fd(cn);
		sd_list_splice_tail(&cn->waitq, &all);
		sd_list_splice_tail(&cn->sendq, &all);
	}
	sd_list_splice_tail(&c->queue, &all);
	sd_list_splice_tail(&c->delayed, &all);
	pthread_mutex_lock(&c->lock);
	sd_list_splice_tail(&c->submitq, &all);
	pthread_mutex_unlock(&c->lock);
	/* armed timers are only in the deadline list */
	sd_list_for_each_safe(pos, n, &c->timers) {
		struct sd_request *r = sd_list_entry(pos, struct sd_request,
						     tlink);

		if ((r->req_flags & SD_REQ_TIMER) && sd_list_empty(&r->link))
			sd_list_add_tail(&r->link, &all);
	}

	sd_list_for_each_safe(pos, n, &all) {
		struct sd_request *r = sd_list_entry(pos, struct sd_request, link);

		req_complete(c, r, -ECANCELED,
			     __atomic_load_n(&c->cur_addr, __ATOMIC_RELAXED));
	}
	client_destroy(c);
}

/*
 * I/O thread mode, with c->sending set by client_enqueue() while the
 * driver sleeps in epoll_wait (it cannot leave loop_pass() before
 * c->sending is clear, so the driver's state is ours meanwhile): send
 * what was submitted, including what other submitters queue meanwhile,
 * instead of waking the driver for it.  Nothing completes here; a send
 * error is left for the driver (as in owner_send()).  The driver is woken
 * only when it would otherwise sleep past something new (a deadline, a
 * connection to open, a request no connection took).
 */
static void submit_send(struct sd_client *c)
{
	bool kick;

	c->sending_only = true;
	for (;;) {
		if (take_submissions(c))
			dispatch(c);
		pthread_mutex_lock(&c->lock);
		if (sd_list_empty(&c->submitq) || c->stopping)
			break;
		pthread_mutex_unlock(&c->lock);
	}
	c->sending_only = false;
	kick = c->stopping || next_wakeup(c) < c->wake_ns;
	c->sending = false;
	pthread_cond_signal(&c->send_cond);
	pthread_mutex_unlock(&c->lock);
	if (kick)
		kick_eventfd(c);
}

/* Queue @req (a request, or a timer) for the I/O thread or the owner. */
static int client_enqueue(struct sd_client *c, struct sd_request *req)
{
	bool kick, direct, send, timer = req->req_flags & SD_REQ_TIMER;

	if (!req->deadline_ns)
		req->deadline_ns = sd_now_ns() + c->timeout_ms * SD_NS_PER_MS;
	req->conn = NULL;
	req->sent = 0;
	req->attempts = 0;
	req->retries = 0;
	req->in_len = 0;
	sd_list_init(&req->tlink);

	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		return sd_set_error(ESHUTDOWN, "%s: client is shutting down",
				    timer ? "timer" :
				    sd_opcode_str(req->hdr.opcode));
	}
	sd_list_add_tail(&req->link, &c->submitq);
	__atomic_add_fetch(&c->pending, 1, __ATOMIC_RELAXED);
	if (timer)
		__atomic_add_fetch(&c->pending_timers, 1, __ATOMIC_RELAXED);
	if (!timer)
		sd_stat_add(&c->st.submitted, 1);
	/* the owner checks in_process, which only the owner touches */
	direct = sd_client_loop_owner(c) && !c->in_process;
	/* a thread about to wait runs the loop itself (waiter_pass) */
	if (!c->external && (timer || sd_expect_wait_client != c))
		driver_handoff(c);
	/* the driver sleeps: send ourselves, unless a submitter already does */
	send = !c->external && c->sleeping && !timer &&
	       !(req->req_flags & SD_REQ_PROBE);
	kick = !direct && !send && c->sleeping && !c->sending;
	if (send && c->sending)
		send = false;
	else if (send)
		c->sending = true;
	if (kick)
		c->sleeping = false;	/* one wakeup is enough */
	pthread_mutex_unlock(&c->lock);
	if (direct)
		owner_send(c);
	else if (send)
		submit_send(c);
	else if (kick)
		kick_eventfd(c);
	return 0;
}

int sd_client_submit(struct sd_client *c, struct sd_request *req)
{
	if (!c || !req || !req->done)
		return sd_set_error(EINVAL, "submit: missing client, request or callback");
	if (req->req_flags & SD_REQ_TIMER)
		return sd_set_error(EINVAL, "submit: timers go through sd_client_sleep()");
	if (req->out_iovcnt < 0 || req->in_iovcnt < 0 ||
	    (req->out_iovcnt && !req->out_iov) ||
	    (req->in_iovcnt && !req->in_iov))
		return sd_set_error(EINVAL, "%s: bad iovec", sd_opcode_str(req->hdr.opcode));
	if ((req->hdr.flags & SD_FLAG_CMD_WRITE) &&
	    iov_total(req->out_iov, req->out_iovcnt) != req->hdr.data_length)
		return sd_set_error(EINVAL, "%s: payload is %zu bytes but data_length is %u",
				    sd_opcode_str(req->hdr.opcode),
				    iov_total(req->out_iov, req->out_iovcnt),
				    req->hdr.data_length);
	return client_enqueue(c, req);
}

int sd_client_sleep(struct sd_client *c, struct sd_request *req,
		    uint64_t wake_ns)
{
	if (!c || !req || !req->done)
		return sd_set_error(EINVAL, "sleep: missing client, timer or callback");
	req->req_flags = SD_REQ_TIMER;
	req->out_iovcnt = 0;
	req->in_iovcnt = 0;
	req->deadline_ns = wake_ns ? wake_ns : 1;
	return client_enqueue(c, req);
}

struct sd_call_wait {
	struct sd_done done;
	int err;
	char msg[SD_ERROR_MAX];
	sd_request_done_fn saved_done;
	void *saved_priv;
};

static void call_done(struct sd_request *req, int err)
{
	struct sd_call_wait *w = req->priv;

	w->err = err;
	if (err)
		snprintf(w->msg, sizeof(w->msg), "%s", sd_get_error());
	sd_done_signal(&w->done);	/* the last touch of *w */
}

int sd_client_call(struct sd_client *c, struct sd_request *req)
{
	struct sd_call_wait w;
	int ret;

	if (c && (tls_driving == c ||
		  (!c->external && pthread_equal(pthread_self(), c->thread)) ||
		  (sd_client_loop_owner(c) && c->in_process)))
		return sd_set_error(EDEADLK, "%s: synchronous call on the client's I/O thread",
				    sd_opcode_str(req->hdr.opcode));
	sd_done_init(&w.done);
	w.err = 0;
	w.saved_done = req->done;
	w.saved_priv = req->priv;
	req->done = call_done;
	req->priv = &w;

	sd_client_expect_wait(c);
	ret = sd_client_submit(c, req);
	sd_client_expect_wait(NULL);
	if (ret == 0) {
		sd_client_done_wait(c, &w.done);
		ret = w.err;
		if (ret)
			sd_set_error(-ret, "%s", w.msg);
	}
	req->done = w.saved_done;
	req->priv = w.saved_priv;
	return ret;
}

int sd_client_wait_up(struct sd_client *c)
{
	struct sd_request req;

	memset(&req, 0, sizeof(req));
	req.req_flags = SD_REQ_PROBE;
	return sd_client_call(c, &req);
}

unsigned int sd_client_timeout_ms(const struct sd_client *c)
{
	return c->timeout_ms;
}

void sd_client_addr_str(const struct sd_client *c, char *buf, size_t len)
{
	unsigned int i = __atomic_load_n(&c->cur_addr, __ATOMIC_RELAXED);

	snprintf(buf, len, "%s", c->addr_str[i]);
}

void sd_client_get_stats(struct sd_client *c, struct sd_client_stats *st)
{
	unsigned int i;

	st->submitted = sd_stat_get(&c->st.submitted);
	st->completed = sd_stat_get(&c->st.completed);
	st->resent = sd_stat_get(&c->st.resent);
	st->transient = sd_stat_get(&c->st.transient);
	st->timeouts = sd_stat_get(&c->st.timeouts);
	st->reconnects = sd_stat_get(&c->st.reconnects);
	st->bad_replies = sd_stat_get(&c->st.bad_replies);
	st->failovers = sd_stat_get(&c->st.failovers);
	st->last_failover_ns = sd_stat_get(&c->st.last_failover_ns);
	for (i = 0; i < SD_CLIENT_NR_RESULTS; i++)
		st->results[i] = sd_stat_get(&c->st.results[i]);
}
