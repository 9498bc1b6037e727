/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_addr.h - the one address grammar, shared by the backing-store string,
 * sdctl, the NBD plugin and minisheep.
 *
 *   ADDR   := "unix:" PATH | "tcp:" HOST ":" PORT | "tcp:[" IPV6 "]:" PORT
 *   TARGET := ADDR ":" VDI [ ":" TAG | ":" SNAPID ]
 *
 * PATH runs to the next ':' and is at most 107 bytes (sun_path).  HOST is a
 * name (resolved with getaddrinfo at connect time) or an IPv4 literal;
 * IPv6 literals must be bracketed.  PORT is 1..65535.  VDI and TAG are 1..255
 * bytes (each fills a 256-byte NUL-terminated wire field, see sd_parse.h).
 * A suffix of all digits is a snapshot id (1..4294967295), anything else a
 * tag.
 */
#ifndef SD_ADDR_H
#define SD_ADDR_H

#include <stdint.h>
#include <stddef.h>

#include "sd_proto.h"

#define SD_ADDR_PATH_MAX	107
#define SD_ADDR_HOST_MAX	255
#define SD_ADDR_STR_MAX		(8 + SD_ADDR_HOST_MAX + 8)	/* formatted */
#define SD_DEFAULT_ADDR		"tcp:127.0.0.1:7000"

enum sd_addr_kind {
	SD_ADDR_UNIX = 1,
	SD_ADDR_TCP = 2,
};

struct sd_addr {
	enum sd_addr_kind kind;
	char path[SD_ADDR_PATH_MAX + 1];	/* SD_ADDR_UNIX */
	char host[SD_ADDR_HOST_MAX + 1];	/* SD_ADDR_TCP, no brackets */
	uint16_t port;				/* SD_ADDR_TCP */
};

struct sd_target {
	struct sd_addr addr;
	char vdi[SD_VDI_NAME_MAX + 1];
	char tag[SD_VDI_TAG_MAX + 1];	/* "" unless a tag was given */
	uint32_t snapid;	/* 0 unless a snapshot id was given */
};

/*
 * Parse a whole address.  Returns 0, or -EINVAL with a one-line message
 * (sd_get_error()) naming the offending part, e.g.
 *   "bad address 'tcp:h:99999': bad port '99999' (1..65535)".
 */
int sd_addr_parse(const char *s, struct sd_addr *a);

/*
 * Parse an address at the start of @s.  On success *rest points at what
 * follows it: "" or ":...".
 */
int sd_addr_parse_prefix(const char *s, struct sd_addr *a, const char **rest);

/* Parse a backing-store string ADDR:VDI[:TAG|:SNAPID]. 0 or -EINVAL. */
int sd_target_parse(const char *s, struct sd_target *t);

/* canonical text ("unix:/p", "tcp:h:7000", "tcp:[::1]:7000") into buf */
void sd_addr_format(const struct sd_addr *a, char *buf, size_t len);

/*
 * Create a non-blocking, close-on-exec socket for @a and start connecting
 * (TCP_NODELAY for TCP).  Names resolve through getaddrinfo (this may block
 * on DNS; call it from an I/O thread, never from tgtd's main loop).
 * Returns 0 when connected, -EINPROGRESS when the connect is under way
 * (wait for POLLOUT, then check SO_ERROR), or -errno with a message.
 * *fdp is set whenever the return is 0 or -EINPROGRESS.
 */
int sd_addr_connect(const struct sd_addr *a, int *fdp);

/*
 * Create a listening socket (SO_REUSEADDR; unlinks a stale unix socket
 * first).  Port 0 picks a free port; sd_addr_bound_port() tells which.
 * Returns the fd or -errno with a message.
 */
int sd_addr_listen(const struct sd_addr *a, int backlog);
int sd_addr_bound_port(int fd);

#endif
