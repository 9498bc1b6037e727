// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bs_sheepdog_status.c - what each LU of this tgtd is doing, for `sdctl
 * gateway status` (doc/bs_sheepdog.8, STATUS).  Every command the module
 * executes is counted in its LU's struct sd_io_stats (relaxed atomics,
 * sheepdog.h) and its sense key, if any, in the LU's sense[] (main thread
 * only).  The process serves a snapshot of every LU on its status socket
 * (sd_status_listen(): $BS_SHEEPDOG_RUN_DIR or /run/bs_sheepdog, then
 * /tgtd-PID.sock), created with the first LU and removed with the last.
 * Everything runs on tgtd's main loop without blocking it: the listening
 * socket and each accepted one are non-blocking and registered with
 * tgt_event_add(); a connection gets the whole snapshot (built in memory
 * at accept time) and is closed; what the socket does not take at once is
 * sent when it becomes writable.
 * When an LU is deleted (its VDI closed) its counters go to the log in one
 * line, "bs_sheepdog: closed lu lun=N ...".
 *
 * The snapshot, one line each, KEY=VALUE tokens as sd_stats_print():
 *   bs_sheepdog-status 1 process=tgtd pid=PID
 *   lu lun=N tid=T target=IQN backing=STRING vdi=NAME COUNTERS...
 *      sense_0xK=N...
 *   end
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bs_sheepdog.h"

#define BS_SD_STATUS_MAX_CONNS	16	/* snapshots being sent at once */

/* an accepted connection whose snapshot is not all sent yet */
struct status_conn {
	struct sd_list link;
	int fd;
	char *buf;
	size_t len, off;
};

static struct sd_list status_lus = SD_LIST_INIT(status_lus);
static struct sd_list status_conns = SD_LIST_INIT(status_conns);
static unsigned int nr_status_conns;
static int listen_fd = -1;
static char listen_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static enum sd_io_kind opcode_kind(uint8_t op)
{
	switch (op) {
	case TGT_OP_READ_6: case TGT_OP_READ_10:
	case TGT_OP_READ_12: case TGT_OP_READ_16:
		return SD_IO_KIND_READ;
	case TGT_OP_WRITE_6: case TGT_OP_WRITE_10:
	case TGT_OP_WRITE_12: case TGT_OP_WRITE_16:
	case TGT_OP_WRITE_VERIFY_10: case TGT_OP_WRITE_VERIFY_12:
	case TGT_OP_WRITE_VERIFY_16: case TGT_OP_ORWRITE_16:
		return SD_IO_KIND_WRITE;
	case TGT_OP_UNMAP: case TGT_OP_WRITE_SAME_10:
	case TGT_OP_WRITE_SAME_16:
		return SD_IO_KIND_DISCARD;
	case TGT_OP_SYNCHRONIZE_CACHE_10: case TGT_OP_SYNCHRONIZE_CACHE_16:
		return SD_IO_KIND_FLUSH;
	default:
		return SD_IO_KIND_OTHER;
	}
}

void bs_sd_status_cmd_begin(struct bs_sd_req *req)
{
	req->start_ns = sd_io_stats_begin(&req->sl->stats);
}

/* main thread, when the command's status goes back to tgtd */
void bs_sd_status_cmd_end(struct bs_sd_req *req, int err, uint8_t key)
{
	enum sd_io_kind kind = opcode_kind(req->opcode);
	uint64_t bytes = 0;

	if (kind == SD_IO_KIND_READ || kind == SD_IO_KIND_WRITE)
		bytes = req->len;
	if (key) {
		req->sl->sense[key & 15]++;
		/* explicit sense without an errno: counted as err_other */
		if (!err)
			err = -SD_IO_STATS_NR_ERRNO;
	}
	sd_io_stats_end(&req->sl->stats, kind, bytes, req->start_ns,
			key ? err : 0);
}

/* one LU's line, without the newline */
static void print_lu(FILE *f, struct bs_sd_lu *sl)
{
	struct tgt_target *t = sl->lu->tgt;
	struct sd_io_stats st;
	unsigned int i;

	fprintf(f, "lu lun=%llu", (unsigned long long)sl->lu->lun);
	if (t) {
		fprintf(f, " tid=%d", t->tid);
		sd_stats_print_str(f, "target", t->name ? t->name : "");
	}
	sd_stats_print_str(f, "backing", sl->backing ? sl->backing : "");
	sd_stats_print_str(f, "vdi", sl->vdi ? sd_vdi_name(sl->vdi) : "");
	sd_io_stats_read(&sl->stats, &st);
	sd_stats_print(f, &st, sl->vdi);
	for (i = 0; i < 16; i++)
		if (sl->sense[i])
			fprintf(f, " sense_0x%x=%llu", i,
				(unsigned long long)sl->sense[i]);
}

void bs_sd_status_lu_add(struct bs_sd_lu *sl)
{
	sd_list_add_tail(&sl->status_link, &status_lus);
}

void bs_sd_status_lu_del(struct bs_sd_lu *sl)
{
	sd_list_del(&sl->status_link);
	free(sl->backing);
	sl->backing = NULL;
}

/* bs_open succeeded on @path (a backing-store string or descriptor file) */
void bs_sd_status_lu_opened(struct bs_sd_lu *sl, const char *path)
{
	free(sl->backing);
	sl->backing = strdup(path);
}

/*
 * The LU's VDI is closed (tgtd closes it when the LU is deleted): its
 * counters, and those of the client it used, go to the log in one line.
 */
void bs_sd_status_lu_closed(struct bs_sd_lu *sl)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&line, &len);
	if (!f)
		return;
	print_lu(f, sl);
	if (fclose(f) == 0)
		log_error("bs_sheepdog: closed %s\n", line);
	free(line);
}

static void conn_free(struct status_conn *sc)
{
	tgt_event_del(sc->fd);
	close(sc->fd);
	sd_list_del(&sc->link);
	nr_status_conns--;
	free(sc->buf);
	free(sc);
}

/* send what the socket takes; true when the connection is finished */
static bool conn_send(struct status_conn *sc)
{
	ssize_t n;

	while (sc->off < sc->len) {
		n = send(sc->fd, sc->buf + sc->off, sc->len - sc->off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno != EAGAIN;
		sc->off += (size_t)n;
	}
	return true;
}

static void conn_writable(int fd, int events, void *data)
{
	struct status_conn *sc = data;

	(void)fd;
	if ((events & (EPOLLERR | EPOLLHUP)) || conn_send(sc))
		conn_free(sc);
}

/* the whole snapshot, in memory */
static int snapshot(char **buf, size_t *len)
{
	struct sd_list *pos;
	FILE *f;

	*buf = NULL;
	f = open_memstream(buf, len);
	if (!f)
		return -ENOMEM;
	sd_status_print_header(f, "tgtd");
	for (pos = status_lus.next; pos != &status_lus; pos = pos->next) {
		print_lu(f, sd_list_entry(pos, struct bs_sd_lu, status_link));
		fputc('\n', f);
	}
	fprintf(f, "end\n");
	if (fclose(f)) {
		free(*buf);
		return -ENOMEM;
	}
	return 0;
}

static void status_accept(int fd, int events, void *data)
{
	struct status_conn *sc;
	int cfd;

	(void)events;
	(void)data;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	if (nr_status_conns >= BS_SD_STATUS_MAX_CONNS)
		goto drop;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		goto drop;
	sc->fd = cfd;
	if (snapshot(&sc->buf, &sc->len)) {
		free(sc);
		goto drop;
	}
	if (conn_send(sc) ||
	    tgt_event_add(cfd, EPOLLOUT, conn_writable, sc)) {
		free(sc->buf);
		free(sc);
		goto drop;
	}
	sd_list_add_tail(&sc->link, &status_conns);
	nr_status_conns++;
	return;

drop:
	close(cfd);
}

/*
 * Listen on the process's status socket.  A failure is logged and the
 * LUs work without it; returns 0 or -errno.
 */
int bs_sd_status_start(void)
{
	int fd;

	fd = sd_status_listen("tgtd", listen_path, sizeof(listen_path));
	if (fd < 0) {
		log_error("bs_sheepdog: %s\n", sd_get_error());
		return fd;
	}
	if (tgt_event_add(fd, EPOLLIN, status_accept, NULL)) {
		log_error("bs_sheepdog: cannot watch the status socket\n");
		unlink(listen_path);
		close(fd);
		return -ENOMEM;
	}
	listen_fd = fd;
	return 0;
}

void bs_sd_status_stop(void)
{
	while (!sd_list_empty(&status_conns))
		conn_free(sd_list_first_entry(&status_conns,
					      struct status_conn, link));
	if (listen_fd < 0)
		return;
	tgt_event_del(listen_fd);
	close(listen_fd);
	listen_fd = -1;
	unlink(listen_path);
}
