/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_listen.h - the server side of the address grammar, for minisheep and
 * the tests: a listening socket on a Sheepdog address.  The client library
 * only connects; this lives outside it (linked into minisheep, included by
 * test_sd_addr.c).
 */
#ifndef SD_LISTEN_H
#define SD_LISTEN_H

#include "sheepdog.h"

/*
 * Create a listening socket (SO_REUSEADDR; unlinks a stale unix socket
 * first).  Port 0 picks a free port; sd_addr_bound_port() tells which.
 * Returns the fd or -errno with a message.
 */
int sd_addr_listen(const struct sd_addr *a, int backlog);
/* the port a TCP socket is bound to, or -errno (-EINVAL: not TCP) */
int sd_addr_bound_port(int fd);

#endif
