// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * server.c - minisheep's event loop.  One thread owns every socket: it
 * accepts clients on each --listen address, parses each connection's
 * requests in order (48-byte header, then the payload only when the WRITE
 * flag is set), hands them to the worker pool (or, with --workers 0,
 * executes them itself), and writes the replies back in completion order,
 * each header + payload as one unit.  It also applies
 * the faults configured through the control socket (reply delay, reply
 * reordering, dropping connections, stalling, injected errors), serves the
 * control socket itself and shuts down cleanly on SIGTERM/SIGINT.  It also
 * gives each connection its shared-lock participant id (the client process
 * from SO_PEERCRED, or the connection itself) and tells vdi.c when the last
 * connection of a participant has closed.
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
#include "sd_addr.h"
#include "sd_error.h"

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
	uint64_t part_id;		/* see conn_participant() */
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

static pthread_mutex_t done_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct sd_list done_list = SD_LIST_INIT(done_list);

/* participant ids: connection ids count up from 1, processes have this bit */
#define PART_PROCESS_BIT	(UINT64_C(1) << 63)

enum ms_participant_mode ms_participant_mode = MS_PARTICIPANT_PROCESS;

static uint64_t next_conn_id = 1;
static uint64_t nr_executing;
static uint64_t stat_requests, stat_connections, stat_ops[256];
static bool stopping;

uint64_t ms_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
	r->conn_id = c->id;
	r->part_id = c->part_id;
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

/*
 * @part_id may have lost its last connection: if no live connection has it
 * any more, it leaves every shared lock (a sheep node leaving the cluster).
 */
static void participant_check_gone(uint64_t part_id)
{
	struct sd_list *pos;
	int n;

	for (pos = live_conns.next; pos != &live_conns; pos = pos->next)
		if (sd_list_entry(pos, struct ms_conn, link)->part_id ==
		    part_id)
			return;
	n = vdi_participant_left(part_id);
	if (!n)
		return;
	if (part_id & PART_PROCESS_BIT)
		ms_log("pid %llu: last connection closed, left %d shared "
		       "lock(s)",
		       (unsigned long long)(part_id & ~PART_PROCESS_BIT), n);
	else
		ms_log("conn %llu: closed, left %d shared lock(s)",
		       (unsigned long long)part_id, n);
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
	participant_check_gone(c->part_id);
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
		/* a lock taken after its participant's last connection closed */
		if (r->req.opcode == SD_OP_LOCK_VDI)
			participant_check_gone(r->part_id);
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
		nr_executing--;
		complete(sd_list_entry(pos, struct ms_request, link));
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
	pool_submit(r);
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
	} else if (ms_faults.stall) {
		sd_list_add_tail(&r->link, &stalled);
	} else {
		execute(r);
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

/*
 * The participant id of a new connection: in process mode the peer's pid
 * for a UNIX socket (all connections of one process are one "node"); a TCP
 * peer only tells its address, and a peer in a pid namespace we cannot see
 * has pid 0, so those are one participant per connection, as in connection
 * mode.
 */
static uint64_t conn_participant(const struct ms_conn *c, sa_family_t family)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (ms_participant_mode != MS_PARTICIPANT_PROCESS ||
	    family != AF_UNIX)
		return c->id;
	if (getsockopt(c->ev.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    len != sizeof(cred) || cred.pid <= 0) {
		ms_log("conn %llu: no peer pid, participant per connection",
		       (unsigned long long)c->id);
		return c->id;
	}
	return PART_PROCESS_BIT | (uint64_t)cred.pid;
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
	c->part_id = conn_participant(c, ss.ss_family);
	sd_list_init(&c->outq);
	sd_list_init(&c->held);
	sd_list_add_tail(&c->link, &live_conns);
	c->events = EPOLLIN;
	ev_add(&c->ev, EPOLLIN);
	stat_connections++;
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

void server_release_stalled(void)
{
	struct sd_list *pos, *n;

	sd_list_for_each_safe(pos, n, &stalled) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		sd_list_del(&r->link);
		execute(r);
	}
}

void server_stats(char *buf, size_t len)
{
	size_t off;
	int op;

	off = (size_t)snprintf(buf, len, "requests=%llu connections=%llu",
			       (unsigned long long)stat_requests,
			       (unsigned long long)stat_connections);
	for (op = 0; op < 256 && off < len; op++) {
		if (!stat_ops[op])
			continue;
		if (strcmp(sd_opcode_str((uint8_t)op), "UNKNOWN_OP"))
			off += (size_t)snprintf(buf + off, len - off, " %s=%llu",
				sd_opcode_str((uint8_t)op),
				(unsigned long long)stat_ops[op]);
		else
			off += (size_t)snprintf(buf + off, len - off,
				" 0x%02x=%llu", op,
				(unsigned long long)stat_ops[op]);
	}
}

/* ---- timers and shutdown -------------------------------------------- */

static int run_timers(void)
{
	uint64_t now = ms_now_ms(), next = UINT64_MAX;
	struct sd_list *pos, *n;

	sd_list_for_each_safe(pos, n, &delayed) {
		struct ms_request *r = sd_list_entry(pos, struct ms_request,
						     link);

		if (r->due_ms <= now || stopping)
			deliver(r);
		else if (r->due_ms < next)
			next = r->due_ms;
	}
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
		ev_del(&listeners[i].ev);
		close(listeners[i].ev.fd);
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

static int open_listener(const char *s)
{
	struct listener *l = &listeners[nr_listeners];
	struct sd_addr a;
	char buf[SD_ADDR_STR_MAX + 1];
	int fd;

	if (sd_addr_parse(s, &a)) {
		ms_log("%s", sd_get_error());
		return -1;
	}
	fd = sd_addr_listen(&a, 128);
	if (fd < 0) {
		ms_log("%s", sd_get_error());
		return -1;
	}
	if (a.kind == SD_ADDR_TCP) {
		a.port = (uint16_t)sd_addr_bound_port(fd);
		if (ms_node_port == SD_DEFAULT_PORT || !ms_node_port)
			ms_node_port = a.port;
	} else {
		snprintf(l->path, sizeof(l->path), "%s", a.path);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	l->ev.kind = EV_LISTEN;
	l->ev.fd = fd;
	nr_listeners++;
	ev_add(&l->ev, EPOLLIN);
	sd_addr_format(&a, buf, sizeof(buf));
	ms_log("listening on %s", buf);
	return 0;
}

static void handle_event(struct ev *ev, uint32_t events)
{
	struct signalfd_siginfo si;

	switch (ev->kind) {
	case EV_LISTEN:
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

int server_run(const char **listen, int nr_listen, const char *ctl_path)
{
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
	if (ms_workers && pool_start(ms_workers, pool_done_cb))
		return 1;
	for (i = 0; i < nr_listen; i++)
		if (open_listener(listen[i]))
			goto fail;
	if (ctl_path) {
		ctl = &listeners[nr_listeners];
		ctl->ev.kind = EV_CTL_LISTEN;
		ctl->ev.fd = ctl_listen(ctl_path);
		if (ctl->ev.fd < 0)
			goto fail;
		snprintf(ctl->path, sizeof(ctl->path), "%s", ctl_path);
		nr_listeners++;
		ev_add(&ctl->ev, EPOLLIN);
	}
	ms_log("ready (dir %s, copies %u, shift %u%s%s%s, %d workers)", ms_dir,
	       ms_cluster.copies, ms_cluster.block_shift,
	       ms_cluster.flags & MS_CLUSTER_FLAG_LOCK ? ", locking" : "",
	       ms_cluster.flags & MS_CLUSTER_FLAG_LOCK ?
	       (ms_participant_mode == MS_PARTICIPANT_PROCESS ?
		" (participant = process)" : " (participant = connection)") :
	       "",
	       ms_nosync ? ", nosync" : "", ms_workers);

	for (;;) {
		int timeout = run_timers();

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
