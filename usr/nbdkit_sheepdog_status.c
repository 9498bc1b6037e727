// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nbdkit_sheepdog_status.c - what the sheepdog plugin's export is doing,
 * for `sdctl gateway status` (doc/nbdkit-sheepdog-plugin.1): the
 * export's counters (struct sd_io_stats, relaxed atomics, bumped by
 * nbdkit's worker threads around each request) and the process's status
 * socket, DIR/nbdkit-PID.sock (sd_status_listen()), served by one thread
 * of its own from .after_fork to .cleanup: it accepts a connection,
 * writes the snapshot (at most one second per reader) and closes it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "sheepdog.h"
#include "nbdkit_sheepdog.h"

static struct sd_io_stats sdk_stats;
static const struct sd_vdi *status_vdi_handle;
static char status_export[SD_VDI_NAME_MAX + SD_VDI_TAG_MAX + 2];
static char status_vdi[SD_VDI_NAME_MAX + 1];
static char status_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int status_fd = -1;
static int status_stop_fd = -1;
static pthread_t status_thread;

uint64_t sdk_status_begin(void)
{
	return sd_io_stats_begin(&sdk_stats);
}

void sdk_status_end(enum sd_io_kind kind, uint64_t bytes, uint64_t start_ns,
		    int r)
{
	sd_io_stats_end(&sdk_stats, kind, bytes, start_ns, r < 0 ? r : 0);
}

static void status_serve(int fd)
{
	struct timeval tv = { .tv_sec = 1 };
	struct sd_io_stats st;
	char *buf = NULL;
	size_t len = 0, off = 0;
	ssize_t n;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (!f)
		return;
	sd_status_print_header(f, "nbdkit");
	fprintf(f, "export");
	sd_stats_print_str(f, "export", status_export);
	sd_stats_print_str(f, "vdi", status_vdi);
	sd_io_stats_read(&sdk_stats, &st);
	sd_stats_print(f, &st, status_vdi_handle);
	fprintf(f, "\nend\n");
	if (fclose(f))
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (off < len) {
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
out:
	free(buf);
}

static void *status_main(void *arg)
{
	struct pollfd p[2] = {
		{ .fd = status_fd, .events = POLLIN },
		{ .fd = status_stop_fd, .events = POLLIN },
	};
	int fd;

	(void)arg;
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(status_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		status_serve(fd);
		close(fd);
	}
	return NULL;
}

/* .after_fork: the export is open; a failure only loses the status */
void sdk_status_start(struct sd_vdi *v, const char *tag, uint32_t snapid)
{
	sigset_t all, old;
	int ret;

	status_vdi_handle = v;
	snprintf(status_vdi, sizeof(status_vdi), "%s", sd_vdi_name(v));
	if (tag && *tag)
		snprintf(status_export, sizeof(status_export), "%s:%s",
			 status_vdi, tag);
	else if (snapid)
		snprintf(status_export, sizeof(status_export), "%s:%u",
			 status_vdi, snapid);
	else
		snprintf(status_export, sizeof(status_export), "%s",
			 status_vdi);
	status_fd = sd_status_listen("nbdkit", status_path,
				     sizeof(status_path));
	if (status_fd < 0) {
		nbdkit_error("sheepdog: %s", sd_get_error());
		return;
	}
	status_stop_fd = eventfd(0, EFD_CLOEXEC);
	if (status_stop_fd < 0)
		goto fail;
	/* the thread takes no signal of nbdkit's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&status_thread, NULL, status_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret == 0)
		return;
	close(status_stop_fd);
	status_stop_fd = -1;
fail:
	nbdkit_error("sheepdog: status socket %s: cannot serve it",
		     status_path);
	unlink(status_path);
	close(status_fd);
	status_fd = -1;
}

/* .cleanup, before the client is freed */
void sdk_status_stop(void)
{
	uint64_t one = 1;

	if (status_fd < 0)
		return;
	if (write(status_stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(status_thread, NULL);
	close(status_stop_fd);
	status_stop_fd = -1;
	unlink(status_path);
	close(status_fd);
	status_fd = -1;
	status_vdi_handle = NULL;
}
