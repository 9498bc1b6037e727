// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * server.c - minisheep's event loop.  One thread owns every socket: it
 * accepts clients on each --listen address, parses each connection's
 * requests in order (48-byte header, then the payload only when the WRITE
 * flag is set), hands them to the worker pool (or, with --workers 0,
 * executes them itself), and writes the replies back in completion order,
 * each header + payload as one unit.  It also applies
 * the faults configured through the control socket (reply delay, reply
 * reordering, dropping connections, stalling, per-opcode execution delay,
 * injected errors), serves the control socket itself and shuts down
 * cleanly on SIGTERM/SIGINT.  Every listener belongs to a node
 * (--listen N=ADDR) and so does every connection it accepts; requests
 * carry their node.  Before a request runs, queue.c decides what it meets
 * on its node (status, epochs, recovery, HALT): it runs, is answered at
 * once, or is held and asked about again later.  Cluster operations go to
 * group.c's cluster thread, everything else to the worker pool.  Killing
 * a node (control "node N kill", like kill -9 of that sheep) closes its
 * listeners and its client connections; "node N start" opens the
 * listeners again and the node joins, at once or after a while in which
 * it answers WAIT_FOR_JOIN; "node N shutdown" is a clean stop (KILLED
 * answers, then it leaves) and "cluster shutdown" stops every node.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "minisheep.h"
#include "sd_error.h"
#include "../common/sd_listen.h"

#define MAX_INFLIGHT		256	/* per connection, then stop reading */
#define RESUME_INFLIGHT		128
#define REORDER_FLUSH_MS	100
#define READS_PER_EVENT		64
#define SHUTDOWN_GRACE_MS	10000
#define CTL_LINE_MAX		1024

enum ev_kind { EV_LISTEN, EV_CONN, EV_CTL_LISTEN, EV_CTL, EV_WAKE, EV_SIGNAL };

struct ev {
	enum ev_kind kind;
	int fd;
};

struct ms_conn {
	struct ev ev;			/* first: epoll data points here */
	struct sd_list link;		/* live or dead list */
	uint64_t id;
	int node;			/* the node whose listener accepted it */
	uint64_t self;			/* its participant key (node.c) */
	bool closed;
	bool paused;
	uint32_t events;
	uint32_t refs;			/* requests still referring to it */
	uint32_t nread;
	uint8_t hdr[SD_HDR_SIZE];
	uint32_t hdr_got;
	struct ms_request *cur;		/* request whose payload is arriving */
	uint32_t data_got;
	struct sd_list outq;		/* replies being written */
	size_t wpos;
	struct sd_list held;		/* reorder batch, newest first */
	uint32_t nheld;
	uint64_t held_since;
};

struct ctl_conn {
	struct ev ev;
	size_t len;
	char buf[CTL_LINE_MAX];
};

struct listener {
	struct ev ev;
	int node;
	bool open;
	struct sd_addr addr;			/* as bound (TCP: the port) */
	char path[SD_ADDR_PATH_MAX + 1];	/* unix socket to unlink */
};

static int epfd = -1;
static struct ev wake_ev = { EV_WAKE, -1 };
static struct ev sig_ev = { EV_SIGNAL, -1 };
static struct listener listeners[MS_MAX_LISTEN + 1];
static int nr_listeners;

static struct sd_list live_conns = SD_LIST_INIT(live_conns);
static struct sd_list dead_conns = SD_LIST_INIT(dead_conns);
static struct sd_list delayed = SD_LIST_INIT(delayed);
static struct sd_list stalled = SD_LIST_INIT(stalled);

static struct sd_list exec_delayed = SD_LIST_INIT(exec_delayed);

static pthread_mutex_t done_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct sd_list done_list = SD_LIST_INIT(done_list);

static uint64_t next_conn_id = 1;
static uint64_t nr_executing;
static uint64_t stat_requests, stat_connections, stat_ops[256];
static uint64_t node_requests[MS_MAX_NODES], node_conns[MS_MAX_NODES];
static uint64_t node_ops[MS_MAX_NODES][256];
static bool node_stall[MS_MAX_NODES];
static uint64_t node_executing[MS_MAX_NODES];
/* what queue.c decided: answers by result (low byte of the code), holds */
static uint64_t gate_answers[256], gate_holds;
/* node timers (monotonic ms, 0 = none): joining after a start with a
 * delay, going away at the end of a clean stop or cluster shutdown */
static uint64_t node_join_at[MS_MAX_NODES], node_stop_at[MS_MAX_NODES];
static unsigned int node_collect_ms[MS_MAX_NODES];
#define STOP_GRACE_MS		10000	/* a stop waits at most this for
					   its requests to finish */
static bool stopping;

uint64_t ms_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t ms_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void ev_add(struct ev *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, ev->fd, &e))
		ms_log("epoll_ctl add: %s", strerror(errno));
}

static void ev_del(struct ev *ev)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, ev->fd, NULL);
}

/* ---- connections and requests -------------------------------------- */

static void conn_update_events(struct ms_conn *c)
{
	uint32_t want = 0;
	struct epoll_event e;

	if (c->closed)
		return;
	if (!c->paused && !stopping)
		want |= EPOLLIN;
	if (!sd_list_empty(&c->outq))
		want |= EPOLLOUT;
	if (want == c->events)
		return;
	e.events = want;
	e.data.ptr = &c->ev;
	if (!epoll_ctl(epfd, EPOLL_CTL_MOD, c->ev.fd, &e))
		c->events = want;
}

static struct ms_request *req_new(struct ms_conn *c)
{
	struct ms_request *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	sd_list_init(&r->link);
	r->conn = c;
	r->node = c->node;
	r->self = c->self;
	c->refs++;
	return r;
}

static void req_free(struct ms_request *r)
{
	struct ms_conn *c = r->conn;

	sd_list_del(&r->link);
	free(r->data);
	free(r->rdata);
	free(r);
	c->refs--;
	if (c->paused && c->refs < RESUME_INFLIGHT) {
		c->paused = false;
		conn_update_events(c);
	}
}

static void free_list(struct sd_list *head)
{
	struct sd_list *pos, *n;

	sd_list_for_each_safe(pos, n, head)
		req_free(sd_list_entry(pos, struct ms_request, link));
}

static void conn_close(struct ms_conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	ev_del(&c->ev);
	close(c->ev.fd);
	sd_list_del(&c->link);
	sd_list_add_tail(&c->link, &dead_conns);
	if (c->cur) {
		req_free(c->cur);
		c->cur = NULL;
	}
	free_list(&c->outq);
	free_list(&c->held);
	c->nheld = 0;
	/* sheep releases nothing when a client disconnects */
}

/* free closed connections nothing refers to any more */
static void reap_conns(void)
{
	struct sd_list *pos, *n;

	sd_list_for_each_safe(pos, n, &dead_conns) {
		struct ms_conn *c = sd_list_entry(pos, struct ms_conn, link);

		if (!c->refs) {
			sd_list_del(&c->link);
			free(c);
		}
	}
}

static void conn_write(struct ms_conn *c)
{
	while (!c->closed && !sd_list_empty(&c->outq)) {
		struct ms_request *r = sd_list_first_entry(&c->outq,
						struct ms_request, link);
		size_t total = SD_HDR_SIZE + r->rsp.data_length;
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (c->wpos < SD_HDR_SIZE) {
			iov[n].iov_base = r->rhdr + c->wpos;
			iov[n++].iov_len = SD_HDR_SIZE - c->wpos;
			if (r->rsp.data_length) {
				iov[n].iov_base = r->rdata;
				iov[n++].iov_len = r->rsp.data_length;
			}
		} else {
			iov[n].iov_base = r->rdata + (c->wpos - SD_HDR_SIZE);
			iov[n++].iov_len = total - c->wpos;
		}
		w = writev(c->ev.fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_close(c);
			break;
		}
		c->wpos += (size_t)w;
		if (c->wpos == total) {
			c->wpos = 0;
			req_free(r);
		}
	}
	conn_update_events(c);
}

static void flush_held(struct ms_conn *c)
{
	sd_list_splice_tail(&c->held, &c->outq);
	c->nheld = 0;
	conn_write(c);
}

/* a reply is ready to go out (after any delay) */
static void deliver(struct ms_request *r)
{
	struct ms_conn *c = r->conn;

	sd_list_del(&r->link);
	if (c->closed) {
		req_free(r);
		return;
	}
	if (ms_faults.reorder > 1 && !stopping) {
		struct sd_list *pos = c->held.next;

		/* keep the batch in reverse request order */
		while (pos != &c->held &&
		       sd_list_entry(pos, struct ms_request, link)->seq > r->seq)
			pos = pos->next;
		sd_list_insert(&r->link, pos->prev, pos);
		if (!c->nheld++)
			c->held_since = ms_now_ms();
		if (c->nheld >= ms_faults.reorder)
			flush_held(c);
		return;
	}
	sd_list_add_tail(&r->link, &c->outq);
	conn_write(c);
}

static void complete(struct ms_request *r)
{
	sd_list_del(&r->link);
	if (r->conn->closed) {
		req_free(r);
		return;
	}
	if (ms_faults.delay_ms && !stopping) {
		r->due_ms = ms_now_ms() + ms_faults.delay_ms;
		sd_list_add_tail(&r->link, &delayed);
		return;
	}
	deliver(r);
}

/* worker thread: hand a finished request back to the event loop */
static void pool_done_cb(struct ms_request *r)
{
	uint64_t one = 1;

	pthread_mutex_lock(&done_mutex);
	sd_list_add_tail(&r->link, &done_list);
	pthread_mutex_unlock(&done_mutex);
	if (write(wake_ev.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ms_log("eventfd write: %s", strerror(errno));
}

static void drain_done(void)
{
	struct sd_list list = SD_LIST_INIT(list), *pos, *n;
	uint64_t v;

	if (read(wake_ev.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		ms_log("eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&done_mutex);
	sd_list_splice_tail(&done_list, &list);
	pthread_mutex_unlock(&done_mutex);
	sd_list_for_each_safe(pos, n, &list) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		nr_executing--;
		node_executing[r->node]--;
		complete(r);
	}
}

static void execute(struct ms_request *r)
{
	if (!ms_workers) {
		/* --workers 0: no hand-off to a thread and back */
		ops_execute(r);
		complete(r);
		return;
	}
	nr_executing++;
	node_executing[r->node]++;
	if (ops_is_cluster(r->req.opcode))
		group_queue_cluster(r);
	else
		pool_submit(r);
}

static bool is_stalled(const struct ms_request *r)
{
	return ms_faults.stall || node_stall[r->node];
}

/*
 * Hold it (stall), or ask queue.c what it meets: run it, answer it at
 * once, or hold it and ask again at its due time (sheep's wait queue and
 * requeue_request())
 */
static void admit(struct ms_request *r)
{
	uint32_t result = SD_RES_SUCCESS;
	uint64_t due = 0;

	if (is_stalled(r)) {
		sd_list_add_tail(&r->link, &stalled);
		return;
	}
	switch (queue_admit(r, &result, &due)) {
	case QUEUE_REPLY:
		gate_answers[result & 0xff]++;
		ops_reply_error(r, result);
		complete(r);
		break;
	case QUEUE_HOLD:
		gate_holds++;
		/* at least 1 ms on: a due request is admitted again */
		r->due_ms = due > ms_now_ms() ? due : ms_now_ms() + 1;
		sd_list_add_tail(&r->link, &exec_delayed);
		break;
	case QUEUE_RUN:
	default:
		execute(r);
		break;
	}
}

/* a whole request (header and payload) has been read from @c */
static void request_read(struct ms_conn *c, struct ms_request *r, bool answered)
{
	uint32_t result;

	c->nread++;
	r->seq = c->nread;
	if (answered) {
		complete(r);
	} else if (fault_error_for(r->req.opcode, &result)) {
		ops_reply_error(r, result);
		complete(r);
	} else if (ms_faults.op_delay_ms[r->req.opcode] && !stopping) {
		/* control "op-delay": held before it executes */
		r->due_ms = ms_now_ms() + ms_faults.op_delay_ms[r->req.opcode];
		sd_list_add_tail(&r->link, &exec_delayed);
	} else {
		admit(r);
	}
	if (c->closed)
		return;
	if (ms_faults.drop_after && c->nread >= ms_faults.drop_after) {
		ms_log("conn %llu: dropped after %u requests (fault)",
		       (unsigned long long)c->id, c->nread);
		conn_close(c);
		return;
	}
	if (c->refs >= MAX_INFLIGHT) {
		c->paused = true;
		conn_update_events(c);
	}
}

static void header_read(struct ms_conn *c)
{
	struct ms_request *r = req_new(c);
	uint64_t limit = vdi_max_object_size() + 4096;

	if (!r) {
		conn_close(c);
		return;
	}
	sd_req_decode(c->hdr, &r->req);
	stat_requests++;
	stat_ops[r->req.opcode]++;
	node_requests[c->node]++;
	node_ops[c->node][r->req.opcode]++;
	if (r->req.data_length > limit) {
		if (r->req.flags & SD_FLAG_CMD_WRITE) {
			/* the payload cannot be skipped safely */
			ms_log("conn %llu: %s payload of %u bytes, closing",
			       (unsigned long long)c->id,
			       sd_opcode_str(r->req.opcode),
			       r->req.data_length);
			req_free(r);
			conn_close(c);
			return;
		}
		ops_reply_error(r, SD_RES_INVALID_PARMS);
		request_read(c, r, true);
		return;
	}
	if ((r->req.flags & SD_FLAG_CMD_WRITE) && r->req.data_length) {
		r->data = malloc(r->req.data_length);
		if (!r->data) {
			req_free(r);
			conn_close(c);
			return;
		}
		r->data_len = r->req.data_length;
		c->cur = r;
		c->data_got = 0;
		return;
	}
	request_read(c, r, false);
}

static void conn_read(struct ms_conn *c)
{
	int budget = READS_PER_EVENT;

	while (!c->closed && !c->paused && !stopping && budget > 0) {
		ssize_t n;

		if (c->cur)
			n = read(c->ev.fd, c->cur->data + c->data_got,
				 c->cur->data_len - c->data_got);
		else
			n = read(c->ev.fd, c->hdr + c->hdr_got,
				 SD_HDR_SIZE - c->hdr_got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (c->hdr_got || c->cur)
				ms_log("conn %llu: truncated request, closing",
				       (unsigned long long)c->id);
			conn_close(c);
			return;
		}
		if (c->cur) {
			c->data_got += (uint32_t)n;
			if (c->data_got == c->cur->data_len) {
				struct ms_request *r = c->cur;

				c->cur = NULL;
				budget--;
				request_read(c, r, false);
			}
		} else {
			c->hdr_got += (uint32_t)n;
			if (c->hdr_got == SD_HDR_SIZE) {
				c->hdr_got = 0;
				budget--;
				header_read(c);
			}
		}
	}
}

static void accept_client(struct ev *l)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct ms_conn *c;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen,
		     SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			ms_log("accept: %s", strerror(errno));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ev.kind = EV_CONN;
	c->ev.fd = fd;
	c->id = next_conn_id++;
	c->node = ((struct listener *)l)->node;
	c->self = node_key(c->node);
	sd_list_init(&c->outq);
	sd_list_init(&c->held);
	sd_list_add_tail(&c->link, &live_conns);
	c->events = EPOLLIN;
	ev_add(&c->ev, EPOLLIN);
	stat_connections++;
	node_conns[c->node]++;
}

/* ---- control socket ------------------------------------------------- */

static void ctl_accept(struct ev *l)
{
	struct ctl_conn *cc;
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	cc = calloc(1, sizeof(*cc));
	if (!cc) {
		close(fd);
		return;
	}
	cc->ev.kind = EV_CTL;
	cc->ev.fd = fd;
	ev_add(&cc->ev, EPOLLIN);
}

static void ctl_close(struct ctl_conn *cc)
{
	ev_del(&cc->ev);
	close(cc->ev.fd);
	free(cc);
}

static void ctl_answer(struct ctl_conn *cc, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(cc->ev.fd, s + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

static void ctl_read(struct ctl_conn *cc)
{
	char out[4096 + 64];
	char *nl;
	ssize_t n;

	n = read(cc->ev.fd, cc->buf + cc->len, sizeof(cc->buf) - 1 - cc->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_close(cc);
		return;
	}
	cc->len += (size_t)n;
	cc->buf[cc->len] = '\0';
	while ((nl = strchr(cc->buf, '\n'))) {
		*nl = '\0';
		fault_command(cc->buf, out, sizeof(out) - 1);
		strcat(out, "\n");
		ctl_answer(cc, out);
		cc->len -= (size_t)(nl + 1 - cc->buf);
		memmove(cc->buf, nl + 1, cc->len + 1);
	}
	if (cc->len >= sizeof(cc->buf) - 1) {
		ctl_answer(cc, "error: line too long\n");
		ctl_close(cc);
	}
}

static int ctl_listen(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		ms_log("control socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(fd, 16)) {
		ms_log("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- hooks for fault.c ---------------------------------------------- */

void server_kill_connections(void)
{
	struct sd_list *pos, *n;

	sd_list_for_each_safe(pos, n, &live_conns)
		conn_close(sd_list_entry(pos, struct ms_conn, link));
}

/* execute the held requests no stall applies to any more */
void server_release_stalled(void)
{
	struct sd_list *pos, *n;

	sd_list_for_each_safe(pos, n, &stalled) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		if (is_stalled(r))
			continue;
		sd_list_del(&r->link);
		admit(r);
	}
}

void server_node_stall(int n, bool on)
{
	node_stall[n] = on;
	if (!on)
		server_release_stalled();
}

bool server_node_stalled(int n)
{
	return node_stall[n];
}

void server_node_counters(int n, uint64_t *requests, uint64_t *conns)
{
	*requests = node_requests[n];
	*conns = node_conns[n];
}

static void listener_close(struct listener *l)
{
	if (!l->open)
		return;
	ev_del(&l->ev);
	close(l->ev.fd);
	l->open = false;
}

static void t_min(uint64_t *a, uint64_t b)
{
	if (b < *a)
		*a = b;
}

static void node_close_listeners(int n)
{
	int i;

	for (i = 0; i < nr_listeners; i++)
		if (listeners[i].ev.kind == EV_LISTEN && listeners[i].node == n)
			listener_close(&listeners[i]);
}

/* close node @n's client connections and drop the requests it holds */
static void node_drop_clients(int n)
{
	struct sd_list *pos, *next;

	sd_list_for_each_safe(pos, next, &live_conns) {
		struct ms_conn *c = sd_list_entry(pos, struct ms_conn, link);

		if (c->node == n)
			conn_close(c);
	}
	sd_list_for_each_safe(pos, next, &stalled) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		if (r->node == n)
			req_free(r);
	}
	sd_list_for_each_safe(pos, next, &exec_delayed) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		if (r->node == n)
			req_free(r);
	}
}

/* node @n's held requests are admitted again now (its status changed) */
static void node_regate(int n)
{
	struct sd_list *pos;

	for (pos = exec_delayed.next; pos != &exec_delayed; pos = pos->next) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		if (r->node == n)
			r->due_ms = 0;
	}
}

/* replies of node @n not yet written */
static bool node_replies_pending(int n)
{
	struct sd_list *pos;

	for (pos = live_conns.next; pos != &live_conns; pos = pos->next) {
		struct ms_conn *c = sd_list_entry(pos, struct ms_conn, link);

		if (c->node == n && (!sd_list_empty(&c->outq) || c->nheld))
			return true;
	}
	for (pos = delayed.next; pos != &delayed; pos = pos->next)
		if (sd_list_entry(pos, struct ms_request, link)->node == n)
			return true;
	return false;
}

/*
 * kill -9 of node @n's sheep: its listeners stop (the UNIX socket files
 * stay: new connects are refused), its client connections close (requests
 * already executing finish, their replies are dropped; held ones are
 * dropped), and a member leaves the cluster (node.c).
 */
int server_node_kill(int n)
{
	enum ms_node_state st;

	if (!node_exists(n))
		return -ENOENT;
	st = node_state(n);
	if (st == MS_NODE_DOWN)
		return -EALREADY;
	node_close_listeners(n);
	node_drop_clients(n);
	node_join_at[n] = node_stop_at[n] = 0;
	if (st == MS_NODE_UP || st == MS_NODE_STOPPING)
		node_leave(n);
	else
		node_down(n);
	return 0;
}

static int listener_open(struct listener *l);

/*
 * Node @n's sheep starts again on the same addresses (sheep/sheep.c
 * main(): it listens before it joins).  It joins at once, or after
 * @join_ms in which it is WAIT (queue.c: WAIT_FOR_JOIN, its old epoch):
 * the time the cluster driver takes to accept it.  While the cluster is
 * down it waits for the latest epoch's nodes (nodes_tick()).
 */
int server_node_start(int n, unsigned int join_ms, unsigned int collect_ms)
{
	int i, ret = 0;

	if (!node_exists(n))
		return -ENOENT;
	if (node_state(n) != MS_NODE_DOWN)
		return -EALREADY;
	for (i = 0; i < nr_listeners; i++)
		if (listeners[i].ev.kind == EV_LISTEN &&
		    listeners[i].node == n && listener_open(&listeners[i]))
			ret = -EADDRINUSE;
	if (ret) {
		node_close_listeners(n);
		return ret;
	}
	if (!join_ms && node_nr_alive()) {
		node_join(n, collect_ms);
		return 0;
	}
	node_set_state(n, MS_NODE_WAIT);
	node_collect_ms[n] = collect_ms;
	node_join_at[n] = join_ms ? ms_now_ms() + join_ms : 0;
	ms_log("node %d listening, waiting to join%s", n + 1,
	       node_nr_alive() ? "" : " (the cluster is down)");
	return 0;
}

/*
 * A clean stop of node @n (SIGTERM: sheep/sheep.c signal_handler(); or
 * dog node kill: sheep/ops.c local_kill_node()): status KILLED, so every
 * request it reads from now on, and every one it held, is answered KILLED
 * (queue_request()); requests already running finish and are answered.
 * Sheep exits once nothing is outstanding; a slow request (one waiting for
 * recovery) keeps it up for a while: minisheep stays at least
 * @linger_ms.  Then its connections close and it leaves the cluster.  Its
 * listeners close at once (local_kill_node() unregisters them).
 */
int server_node_shutdown(int n, unsigned int linger_ms)
{
	if (!node_exists(n))
		return -ENOENT;
	if (node_state(n) != MS_NODE_UP)
		return -EALREADY;
	node_close_listeners(n);
	node_set_state(n, MS_NODE_STOPPING);
	node_stop_at[n] = ms_now_ms() + (linger_ms ? linger_ms : 1);
	node_regate(n);
	ms_log("node %d stopping (KILLED for %u ms)", n + 1, linger_ms);
	return 0;
}

/*
 * dog cluster shutdown (sheep/ops.c cluster_shutdown(), run by every
 * node): status SHUTDOWN everywhere, so requests are answered SHUTDOWN
 * for @linger_ms; then every node stops without a new epoch
 * (sd_leave_handler() ignores leaves during a shutdown).  Nodes started
 * again wait until all of them are back (nodes_tick()).
 */
int server_cluster_shutdown(unsigned int linger_ms)
{
	int n, nr = 0;

	for (n = 0; n < MS_MAX_NODES; n++) {
		if (!node_exists(n) || node_state(n) != MS_NODE_UP)
			continue;
		node_close_listeners(n);
		node_set_state(n, MS_NODE_SHUTDOWN);
		node_stop_at[n] = ms_now_ms() + (linger_ms ? linger_ms : 1);
		node_regate(n);
		nr++;
	}
	if (!nr)
		return -EALREADY;
	ms_log("cluster shutdown (SHUTDOWN for %u ms)", linger_ms);
	return 0;
}

/*
 * Node state changes that are due: a stopping node goes once its time is
 * up and its requests are answered (at most STOP_GRACE_MS later), a node
 * whose join delay passed joins, and a cluster that was down forms again
 * from the waiting nodes.  Returns when to look again.
 */
static uint64_t nodes_tick(uint64_t now)
{
	uint64_t next = UINT64_MAX;
	uint32_t ready;
	int n;

	for (n = 0; n < MS_MAX_NODES; n++) {
		if (node_stop_at[n] && now >= node_stop_at[n] &&
		    ((!node_executing[n] && !node_replies_pending(n)) ||
		     now >= node_stop_at[n] + STOP_GRACE_MS)) {
			enum ms_node_state st = node_state(n);

			node_stop_at[n] = 0;
			node_drop_clients(n);
			if (st == MS_NODE_STOPPING)
				node_leave(n);
			else
				node_down(n);
			ms_log("node %d stopped", n + 1);
		} else if (node_stop_at[n]) {
			t_min(&next, now >= node_stop_at[n] ? now + 5 :
			      node_stop_at[n]);
		}
		if (node_join_at[n] && now >= node_join_at[n]) {
			node_join_at[n] = 0;
			/* sd_accept_handler(); a cluster that is down waits */
			if (node_nr_alive())
				node_join(n, node_collect_ms[n]);
		} else if (node_join_at[n]) {
			t_min(&next, node_join_at[n]);
		}
	}
	if (!node_nr_alive()) {
		ready = node_waiting_mask();
		for (n = 0; n < MS_MAX_NODES; n++)
			if (node_join_at[n])
				ready &= ~(1u << n);
		if (ready)
			node_form_cluster(ready);
	}
	return next;
}

static size_t print_ops(char *buf, size_t len, size_t off,
			const uint64_t *ops, const char *prefix)
{
	int op;

	for (op = 0; op < 256 && off < len; op++) {
		if (!ops[op])
			continue;
		if (strcmp(sd_opcode_str((uint8_t)op), "UNKNOWN_OP"))
			off += (size_t)snprintf(buf + off, len - off,
				" %s%s=%llu", prefix,
				sd_opcode_str((uint8_t)op),
				(unsigned long long)ops[op]);
		else
			off += (size_t)snprintf(buf + off, len - off,
				" %s0x%02x=%llu", prefix, op,
				(unsigned long long)ops[op]);
	}
	return off;
}

/* "requests=N connections=N OP=N ... store.create_replaced=N
 * store.create_tmp_exists=N nodeN.state=S nodeN.requests=N
 * nodeN.connections=N ..." */
void server_stats(char *buf, size_t len)
{
	size_t off;
	int n;

	off = (size_t)snprintf(buf, len, "requests=%llu connections=%llu",
			       (unsigned long long)stat_requests,
			       (unsigned long long)stat_connections);
	off = print_ops(buf, len, off, stat_ops, "");
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off,
			" store.create_replaced=%llu"
			" store.create_tmp_exists=%llu",
			(unsigned long long)__atomic_load_n(&store_nr_replaced,
							    __ATOMIC_RELAXED),
			(unsigned long long)__atomic_load_n(
				&store_nr_tmp_exists, __ATOMIC_RELAXED));
	for (n = 0; n < 256 && off < len; n++) {
		const char *name = fault_result_name((uint32_t)n);

		if (gate_answers[n])
			off += (size_t)snprintf(buf + off, len - off,
				" gate.%s=%llu", name ? name : "?",
				(unsigned long long)gate_answers[n]);
	}
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, " gate.held=%llu",
					(unsigned long long)gate_holds);
	for (n = 0; n < MS_MAX_NODES && off < len; n++) {
		if (!node_exists(n))
			continue;
		off += (size_t)snprintf(buf + off, len - off,
			" node%d.state=%s node%d.requests=%llu "
			"node%d.connections=%llu", n + 1,
			node_state(n) == MS_NODE_UP && node_stall[n] ?
			"stalled" : node_state_name(node_state(n)), n + 1,
			(unsigned long long)node_requests[n],
			n + 1, (unsigned long long)node_conns[n]);
	}
}

/* the per-opcode counts of node @n */
void server_node_ops(int n, char *buf, size_t len)
{
	if (len)
		buf[0] = '\0';
	print_ops(buf, len, 0, node_ops[n], "");
}

/* ---- timers and shutdown -------------------------------------------- */

static int run_timers(void)
{
	uint64_t now = ms_now_ms(), next = UINT64_MAX, t;
	struct sd_list due = SD_LIST_INIT(due), *pos, *n;

	sd_list_for_each_safe(pos, n, &delayed) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		if (r->due_ms <= now || stopping)
			deliver(r);
		else if (r->due_ms < next)
			next = r->due_ms;
	}
	/* the due ones leave the list before admit() may hold them again */
	sd_list_for_each_safe(pos, n, &exec_delayed) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		if (stopping) {
			req_free(r);	/* never executed: no answer */
		} else if (r->due_ms <= now) {
			sd_list_del(&r->link);
			sd_list_add_tail(&r->link, &due);
		}
	}
	sd_list_for_each_safe(pos, n, &due) {
		sd_list_del(pos);
		admit(sd_list_entry(pos, struct ms_request, link));
	}
	sd_list_for_each_safe(pos, n, &exec_delayed) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		if (r->due_ms < next)
			next = r->due_ms;
	}
	t = nodes_tick(now);
	if (t < next)
		next = t;
	sd_list_for_each_safe(pos, n, &live_conns) {
		struct ms_conn *c = sd_list_entry(pos, struct ms_conn, link);

		if (!c->nheld)
			continue;
		if (stopping || c->held_since + REORDER_FLUSH_MS <= now)
			flush_held(c);
		else if (c->held_since + REORDER_FLUSH_MS < next)
			next = c->held_since + REORDER_FLUSH_MS;
	}
	if (stopping)
		return 20;
	if (next == UINT64_MAX)
		return -1;
	return next > now ? (int)(next - now) : 0;
}

static void begin_shutdown(void)
{
	struct sd_list *pos, *n;
	int i;

	ms_log("shutting down");
	stopping = true;
	for (i = 0; i < nr_listeners; i++) {
		if (listeners[i].open) {
			ev_del(&listeners[i].ev);
			close(listeners[i].ev.fd);
		}
		if (listeners[i].path[0])
			unlink(listeners[i].path);
	}
	nr_listeners = 0;
	free_list(&stalled);		/* never executed: nothing to answer */
	sd_list_for_each_safe(pos, n, &live_conns)
		conn_update_events(sd_list_entry(pos, struct ms_conn, link));
}

static bool shutdown_done(void)
{
	struct sd_list *pos;

	if (nr_executing)
		return false;
	for (pos = live_conns.next; pos != &live_conns; pos = pos->next) {
		struct ms_conn *c = sd_list_entry(pos, struct ms_conn, link);

		if (!sd_list_empty(&c->outq) || c->nheld)
			return false;
	}
	return sd_list_empty(&delayed);
}

/* ---- setup and main loop -------------------------------------------- */

/* (re)open @l on its address */
static int listener_open(struct listener *l)
{
	char buf[SD_ADDR_STR_MAX + 1];
	int fd;

	fd = sd_addr_listen(&l->addr, 128);
	if (fd < 0) {
		ms_log("%s", sd_get_error());
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	l->ev.kind = EV_LISTEN;
	l->ev.fd = fd;
	l->open = true;
	ev_add(&l->ev, EPOLLIN);
	sd_addr_format(&l->addr, buf, sizeof(buf));
	ms_log("node %d listening on %s", l->node + 1, buf);
	return 0;
}

static int open_listener(const char *s, int node, uint16_t *tcp_port)
{
	struct listener *l = &listeners[nr_listeners];

	if (sd_addr_parse(s, &l->addr)) {
		ms_log("%s", sd_get_error());
		return -1;
	}
	l->node = node;
	if (listener_open(l))
		return -1;
	if (l->addr.kind == SD_ADDR_TCP) {
		/* the port bound: the node's id, and where it restarts */
		l->addr.port = (uint16_t)sd_addr_bound_port(l->ev.fd);
		if (!*tcp_port)
			*tcp_port = l->addr.port;
	} else {
		memcpy(l->path, l->addr.path, sizeof(l->path));
		l->path[sizeof(l->path) - 1] = '\0';
	}
	nr_listeners++;
	return 0;
}

static void handle_event(struct ev *ev, uint32_t events)
{
	struct signalfd_siginfo si;

	switch (ev->kind) {
	case EV_LISTEN:
		if (((struct listener *)ev)->open)
			accept_client(ev);
		break;
	case EV_CTL_LISTEN:
		ctl_accept(ev);
		break;
	case EV_CTL:
		ctl_read((struct ctl_conn *)ev);
		break;
	case EV_WAKE:
		drain_done();
		break;
	case EV_SIGNAL:
		if (read(ev->fd, &si, sizeof(si)) == sizeof(si) && !stopping)
			begin_shutdown();
		break;
	case EV_CONN: {
		struct ms_conn *c = (struct ms_conn *)ev;

		if (c->closed)
			break;
		if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
			conn_close(c);
			break;
		}
		if (events & EPOLLOUT)
			conn_write(c);
		if (events & EPOLLIN)
			conn_read(c);
		break;
	}
	}
}

int server_run(const char **listen, const int *listen_node, int nr_listen,
	       const char *ctl_path)
{
	bool exists[MS_MAX_NODES] = { false };
	uint16_t tcp_port[MS_MAX_NODES] = { 0 };
	struct listener *ctl = NULL;
	struct epoll_event evs[64];
	uint64_t deadline = 0;
	sigset_t mask;
	int i, n;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	wake_ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sig_ev.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (epfd < 0 || wake_ev.fd < 0 || sig_ev.fd < 0) {
		ms_log("cannot set up the event loop: %s", strerror(errno));
		return 1;
	}
	ev_add(&wake_ev, EPOLLIN);
	ev_add(&sig_ev, EPOLLIN);
	for (i = 0; i < nr_listen; i++) {
		if (open_listener(listen[i], listen_node[i],
				  &tcp_port[listen_node[i]]))
			goto fail;
		exists[listen_node[i]] = true;
	}
	if (node_setup(exists, tcp_port) || vdi_init())
		goto fail;
	if (ms_workers && (pool_start(ms_workers, pool_done_cb) ||
			   group_start(pool_done_cb)))
		goto fail;
	if (ctl_path) {
		ctl = &listeners[nr_listeners];
		ctl->ev.kind = EV_CTL_LISTEN;
		ctl->ev.fd = ctl_listen(ctl_path);
		if (ctl->ev.fd < 0)
			goto fail;
		snprintf(ctl->path, sizeof(ctl->path), "%s", ctl_path);
		ctl->open = true;
		nr_listeners++;
		ev_add(&ctl->ev, EPOLLIN);
	}
	for (i = 0; i < MS_MAX_NODES; i++)
		if (exists[i])
			ms_log("node %d: id 127.0.0.1:%u", i + 1, node_port(i));
	ms_log("ready (dir %s, copies %u, shift %u%s%s, %d workers, "
	       "cluster lag %u ms, jitter %u ms)", ms_dir,
	       ms_cluster.copies, ms_cluster.block_shift,
	       ms_use_lock() ? ", locking" : "",
	       ms_nosync ? ", nosync" : "", ms_workers, ms_lag_ms,
	       ms_jitter_ms);

	for (;;) {
		int timeout;

		/* --workers 0: reference drops after this round's replies */
		if (group_run_deferred())
			continue;
		timeout = run_timers();
		reap_conns();
		if (stopping) {
			if (!deadline)
				deadline = ms_now_ms() + SHUTDOWN_GRACE_MS;
			if (shutdown_done() || ms_now_ms() >= deadline)
				break;
		}
		n = epoll_wait(epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			ms_log("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (i = 0; i < n; i++)
			handle_event(evs[i].data.ptr, evs[i].events);
	}
	ms_log("stopped");
	return 0;
fail:
	for (i = 0; i < nr_listeners; i++)
		if (listeners[i].path[0])
			unlink(listeners[i].path);
	return 1;
}
