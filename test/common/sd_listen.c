// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_listen.c - listening sockets on Sheepdog addresses (see sd_listen.h),
 * built on the library's address helpers (sd_addr.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sd_addr.h"
#include "sd_listen.h"

/*
 * Remove a socket file left behind by a server that is gone.  A socket that
 * still accepts connections, or a path that is not a socket, is left alone
 * and reported as in use.
 */
static int sd_unlink_stale(const struct sockaddr_un *sun, const char *name)
{
	struct stat st;
	int fd, ret;

	if (lstat(sun->sun_path, &st) < 0)
		return 0;	/* nothing there (bind reports other problems) */
	if (!S_ISSOCK(st.st_mode))
		return sd_set_error(EADDRINUSE, "cannot listen on '%s': path exists and is not a socket",
				    name);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = errno;
		return sd_set_error(ret, "cannot listen on '%s': socket: %s",
				    name, strerror(ret));
	}
	ret = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) ? errno : 0;
	close(fd);
	if (ret != ECONNREFUSED)
		return sd_set_error(EADDRINUSE, "cannot listen on '%s': a server is already listening there",
				    name);
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		ret = errno;
		return sd_set_error(ret, "cannot listen on '%s': removing stale socket: %s",
				    name, strerror(ret));
	}
	return 0;
}

static int sd_listen_unix(const struct sd_addr *a, const char *name, int backlog)
{
	struct sockaddr_un sun;
	int fd, ret;

	ret = sd_addr_unix_sockaddr(a, &sun);
	if (ret)
		return ret;
	ret = sd_unlink_stale(&sun, name);
	if (ret)
		return ret;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = errno;
		return sd_set_error(ret, "cannot listen on '%s': socket: %s",
				    name, strerror(ret));
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = errno;
		goto fail;
	}
	if (listen(fd, backlog) < 0) {
		ret = errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return sd_set_error(ret, "cannot listen on '%s': %s", name, strerror(ret));
}

static int sd_listen_tcp(const struct sd_addr *a, const char *name, int backlog)
{
	struct addrinfo *res, *ai;
	int fd, ret, err = EADDRNOTAVAIL, one = 1;

	ret = sd_addr_resolve(a, name, true, &res);
	if (ret)
		return ret;

	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, backlog) < 0) {
			err = errno;
			close(fd);
			continue;
		}
		freeaddrinfo(res);
		return fd;
	}
	freeaddrinfo(res);
	return sd_set_error(err, "cannot listen on '%s': %s", name, strerror(err));
}

int sd_addr_listen(const struct sd_addr *a, int backlog)
{
	char name[SD_ADDR_STR_MAX];

	sd_addr_format(a, name, sizeof(name));
	switch (a->kind) {
	case SD_ADDR_UNIX:
		return sd_listen_unix(a, name, backlog);
	case SD_ADDR_TCP:
		return sd_listen_tcp(a, name, backlog);
	default:
		return sd_set_error(EINVAL, "cannot listen: bad address kind %d",
				    (int)a->kind);
	}
}

int sd_addr_bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int ret;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		ret = errno;
		return sd_set_error(ret, "getsockname: %s", strerror(ret));
	}
	switch (ss.ss_family) {
	case AF_INET:
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	case AF_INET6:
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	default:
		return sd_set_error(EINVAL, "socket %d is not a TCP socket", fd);
	}
}
