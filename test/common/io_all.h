/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io_all.h - move a whole buffer over a socket, for the test programs that
 * speak a protocol by hand (integration tests, test/tools, minisheep's
 * control client).  Header only: each of them is built from its own
 * sources without a shared object.
 */
#ifndef TEST_IO_ALL_H
#define TEST_IO_ALL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Send (@out) or read all @len bytes of @buf on @fd, going on after EINTR
 * and short transfers.  0, or -errno; -ECONNRESET when the peer closed
 * the connection first.  Sends never raise SIGPIPE.
 */
static inline int io_all(int fd, void *buf, size_t len, bool out)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = out ? send(fd, p, len, MSG_NOSIGNAL) :
			read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#endif
