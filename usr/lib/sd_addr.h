/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_addr.h - the library's side of the address grammar that sheepdog.h
 * declares: parsing an address at the start of a longer string, and the
 * socket helpers that connect to an address (sd_conn.c) or that a server
 * bound to one builds on (test/common/sd_listen.c).
 */
#ifndef SD_ADDR_H
#define SD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

#include "sheepdog.h"

struct addrinfo;

/*
 * Parse an address at the start of @s.  On success *rest points at what
 * follows it: "" or ":...".
 */
int sd_addr_parse_prefix(const char *s, struct sd_addr *a, const char **rest);

/*
 * Create a non-blocking, close-on-exec socket for @a and start connecting
 * (TCP_NODELAY for TCP).  Names resolve through getaddrinfo (this may block
 * on DNS; call it from an I/O thread, never from tgtd's main loop).
 * Returns 0 when connected, -EINPROGRESS when the connect is under way
 * (wait for POLLOUT, then check SO_ERROR), or -errno with a message.
 * *fdp is set whenever the return is 0 or -EINPROGRESS.
 */
int sd_addr_connect(const struct sd_addr *a, int *fdp);

/* The sockaddr of a unix address.  0 or -EINVAL (bad path length). */
int sd_addr_unix_sockaddr(const struct sd_addr *a, struct sockaddr_un *sun);

/*
 * getaddrinfo for a TCP address (@passive: for bind), with its failure as
 * -errno and "cannot resolve '@name': ..."; freeaddrinfo(*res) after use.
 */
int sd_addr_resolve(const struct sd_addr *a, const char *name, bool passive,
		    struct addrinfo **res);

#endif
