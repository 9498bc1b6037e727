// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_addr.c - parse, print and connect to Sheepdog addresses.
 *
 * This file implements the one address grammar described in sheepdog.h
 * ("unix:PATH", "tcp:HOST:PORT", "tcp:[IPV6]:PORT", optionally followed by
 * ":VDI[:TAG|:SNAPID]" for a backing-store string) and the socket helpers
 * built on it.  Every malformed string is rejected with -EINVAL and a single
 * line that quotes the input and names the part that is wrong; socket
 * failures return -errno with a message naming the address.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sd_addr.h"
#include "sd_error.h"
#include "sd_parse.h"

/* when a name resolves to several addresses, wait this long on all but the last */
#define SD_CONNECT_TRY_MS	3000

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) > SD_ADDR_PATH_MAX,
	       "PATH fits sun_path with its NUL");
_Static_assert(sizeof(((struct sd_target *)0)->vdi) > SD_VDI_NAME_MAX,
	       "vdi field size");
_Static_assert(sizeof(((struct sd_target *)0)->tag) > SD_VDI_TAG_MAX,
	       "tag field size");

/* ---- error helpers --------------------------------------------------- */

/* what the message says before the quoted input, and the input itself */
struct sd_parse_ctx {
	const char *what;	/* "bad address" or "bad backing store" */
	const char *input;
};

static int sd_parse_error(const struct sd_parse_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "bad address 'INPUT'" in front of the current message; -EINVAL */
static int sd_parse_context(const struct sd_parse_ctx *ctx)
{
	struct sd_quote q;

	return sd_error_context("%s '%s'", ctx->what,
				sd_quote(&q, ctx->input, strlen(ctx->input)));
}

static int sd_parse_error(const struct sd_parse_ctx *ctx, const char *fmt, ...)
{
	char why[SD_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	sd_set_error(EINVAL, "%s", why);
	return sd_parse_context(ctx);
}

/* ---- parsing --------------------------------------------------------- */

/* length of the token at @p: up to the next ':' or the end */
static size_t sd_token_len(const char *p)
{
	return strcspn(p, ":");
}

/*
 * Does @p (the text after "tcp:") start with an unbracketed IPv6 literal,
 * i.e. is some prefix of it that ends before a ':' or at the end, and holds
 * at least two ':', a valid IPv6 address?
 */
static bool sd_unbracketed_ipv6(const char *p)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;
	size_t len, colons = 0;

	for (len = 0; len < sizeof(buf); len++) {
		if (p[len] == ':' || p[len] == '\0') {
			if (colons >= 2) {
				memcpy(buf, p, len);
				buf[len] = '\0';
				if (inet_pton(AF_INET6, buf, &a6) == 1)
					return true;
			}
			if (p[len] == '\0')
				break;
			colons++;
		}
	}
	return false;
}

static bool sd_host_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

static int sd_parse_port(const struct sd_parse_ctx *ctx, const char *p,
			 uint16_t *port, const char **end)
{
	size_t len = sd_token_len(p);
	uint64_t v;

	if (!len)
		return sd_parse_error(ctx, "missing port (expected tcp:HOST:PORT)");
	if (sd_parse_uint_n("port", p, len, 1, UINT16_MAX, &v))
		return sd_parse_context(ctx);
	*port = (uint16_t)v;
	*end = p + len;
	return 0;
}

/* "[IPV6]:PORT" at @p (p[0] == '[') */
static int sd_parse_bracketed(const struct sd_parse_ctx *ctx, const char *p,
			      struct sd_addr *a, const char **end)
{
	const char *close = strchr(p, ']');
	char buf[SD_ADDR_HOST_MAX + 1];
	struct in6_addr a6;
	struct sd_quote q;
	size_t len;
	char *pct;

	if (!close)
		return sd_parse_error(ctx, "unterminated '[' in IPv6 address (expected tcp:[IPV6]:PORT)");
	len = (size_t)(close - p - 1);
	if (!len)
		return sd_parse_error(ctx, "empty IPv6 address '[]'");
	if (len > SD_ADDR_HOST_MAX)
		return sd_parse_error(ctx, "IPv6 address is %zu bytes (max %d)",
				      len, SD_ADDR_HOST_MAX);
	memcpy(buf, p + 1, len);
	buf[len] = '\0';

	/* an optional zone "%IFACE" is left to getaddrinfo */
	pct = strchr(buf, '%');
	if (pct)
		*pct = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1 || (pct && !pct[1]))
		return sd_parse_error(ctx, "bad IPv6 address '%s'",
				      sd_quote(&q, p + 1, len));
	if (pct)
		*pct = '%';

	if (close[1] == '\0')
		return sd_parse_error(ctx, "missing port after ']' (expected tcp:[IPV6]:PORT)");
	if (close[1] != ':')
		return sd_parse_error(ctx, "junk '%s' after ']' (expected ':PORT')",
				      sd_quote(&q, close + 1, sd_token_len(close + 1)));

	memcpy(a->host, buf, len + 1);
	return sd_parse_port(ctx, close + 2, &a->port, end);
}

/* "HOST:PORT" at @p */
static int sd_parse_host_port(const struct sd_parse_ctx *ctx, const char *p,
			      struct sd_addr *a, const char **end)
{
	size_t len = sd_token_len(p), i;
	struct sd_quote q, qh;
	int ret;

	if (*p == '[')
		return sd_parse_bracketed(ctx, p, a, end);

	if (sd_unbracketed_ipv6(p))
		return sd_parse_error(ctx, "IPv6 literals must be bracketed (tcp:[IPV6]:PORT)");
	if (!len)
		return sd_parse_error(ctx, "empty host (expected tcp:HOST:PORT)");
	if (len > SD_ADDR_HOST_MAX)
		return sd_parse_error(ctx, "host name is %zu bytes (max %d)",
				      len, SD_ADDR_HOST_MAX);
	for (i = 0; i < len; i++)
		if (!sd_host_char_ok(p[i]))
			return sd_parse_error(ctx, "bad character '%s' in host '%s'",
					      sd_quote(&q, p + i, 1),
					      sd_quote(&qh, p, len));
	if (p[len] != ':')
		return sd_parse_error(ctx, "missing port (expected tcp:HOST:PORT)");

	ret = sd_parse_port(ctx, p + len + 1, &a->port, end);
	if (ret)
		return ret;
	memcpy(a->host, p, len);
	a->host[len] = '\0';
	return 0;
}

static int sd_parse_addr(const struct sd_parse_ctx *ctx, const char *s,
			 struct sd_addr *out, const char **rest)
{
	struct sd_addr a;
	struct sd_quote q;
	const char *end = NULL;
	size_t len;
	int ret;

	memset(&a, 0, sizeof(a));
	if (!*s)
		return sd_parse_error(ctx, "empty address (expected unix:PATH or tcp:HOST:PORT)");

	if (!strncmp(s, "unix:", 5)) {
		const char *p = s + 5;

		len = sd_token_len(p);
		if (!len)
			return sd_parse_error(ctx, "empty unix socket path (expected unix:PATH)");
		if (len > SD_ADDR_PATH_MAX)
			return sd_parse_error(ctx, "unix socket path is %zu bytes (max %d)",
					      len, SD_ADDR_PATH_MAX);
		a.kind = SD_ADDR_UNIX;
		memcpy(a.path, p, len);
		a.path[len] = '\0';
		end = p + len;
	} else if (!strncmp(s, "tcp:", 4)) {
		a.kind = SD_ADDR_TCP;
		ret = sd_parse_host_port(ctx, s + 4, &a, &end);
		if (ret)
			return ret;
	} else {
		len = sd_token_len(s);
		if (!s[len])
			return sd_parse_error(ctx, "missing scheme (expected unix:PATH or tcp:HOST:PORT)");
		return sd_parse_error(ctx, "unknown scheme '%s' (expected 'unix:' or 'tcp:')",
				      sd_quote(&q, s, len));
	}

	*out = a;
	*rest = end;
	return 0;
}

int sd_addr_parse_prefix(const char *s, struct sd_addr *a, const char **rest)
{
	struct sd_parse_ctx ctx = { "bad address", s };

	return sd_parse_addr(&ctx, s, a, rest);
}

int sd_addr_parse(const char *s, struct sd_addr *a)
{
	struct sd_parse_ctx ctx = { "bad address", s };
	struct sd_addr tmp;
	struct sd_quote q;
	const char *rest = "";
	int ret;

	ret = sd_parse_addr(&ctx, s, &tmp, &rest);
	if (ret)
		return ret;
	if (*rest)
		return sd_parse_error(&ctx, "unexpected trailing '%s'",
				      sd_quote(&q, rest, strlen(rest)));
	*a = tmp;
	return 0;
}

int sd_target_parse(const char *s, struct sd_target *out)
{
	struct sd_parse_ctx ctx = { "bad backing store", s };
	struct sd_target t;
	struct sd_quote q;
	const char *p = "";
	size_t len;
	int ret;

	memset(&t, 0, sizeof(t));
	if (!*s)
		return sd_parse_error(&ctx, "empty string (expected ADDR:VDI[:TAG|:SNAPID])");
	ret = sd_parse_addr(&ctx, s, &t.addr, &p);
	if (ret)
		return ret;

	if (!*p)
		return sd_parse_error(&ctx, "missing VDI name (expected ADDR:VDI[:TAG|:SNAPID])");
	p++;	/* ':' */
	len = sd_token_len(p);
	if (sd_check_vdi_name_len(len))
		return sd_parse_context(&ctx);
	memcpy(t.vdi, p, len);
	t.vdi[len] = '\0';
	p += len;

	if (*p) {
		p++;	/* ':' */
		len = sd_token_len(p);
		if (!len)
			return sd_parse_error(&ctx, "empty tag or snapshot id after ':'");
		if (sd_parse_snapshot(p, len, t.tag, &t.snapid))
			return sd_parse_context(&ctx);
		p += len;
	}

	if (*p)
		return sd_parse_error(&ctx, "unexpected trailing '%s' (expected ADDR:VDI[:TAG|:SNAPID])",
				      sd_quote(&q, p, strlen(p)));
	*out = t;
	return 0;
}

void sd_addr_format(const struct sd_addr *a, char *buf, size_t len)
{
	if (!len)
		return;
	switch (a->kind) {
	case SD_ADDR_UNIX:
		snprintf(buf, len, "unix:%s", a->path);
		break;
	case SD_ADDR_TCP:
		if (strchr(a->host, ':'))
			snprintf(buf, len, "tcp:[%s]:%u", a->host, a->port);
		else
			snprintf(buf, len, "tcp:%s:%u", a->host, a->port);
		break;
	default:
		snprintf(buf, len, "(bad address kind %d)", (int)a->kind);
		break;
	}
}

/* ---- sockets --------------------------------------------------------- */

int sd_addr_unix_sockaddr(const struct sd_addr *a, struct sockaddr_un *sun)
{
	size_t len = strlen(a->path);

	if (!len || len >= sizeof(sun->sun_path))
		return sd_set_error(EINVAL, "bad unix socket path length %zu", len);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, a->path, len + 1);
	return 0;
}

int sd_addr_resolve(const struct sd_addr *a, const char *name, bool passive,
		    struct addrinfo **res)
{
	struct addrinfo hints;
	char port[8];
	int ret;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(port, sizeof(port), "%u", a->port);

	ret = getaddrinfo(a->host, port, &hints, res);
	switch (ret) {
	case 0:
		return 0;
	case EAI_SYSTEM:
		ret = errno ? errno : EIO;
		return sd_set_error(ret, "cannot resolve '%s': %s", name,
				    strerror(ret));
	case EAI_AGAIN:
		return sd_set_error(EAGAIN, "cannot resolve '%s': %s", name,
				    gai_strerror(ret));
	case EAI_MEMORY:
		return sd_set_error(ENOMEM, "cannot resolve '%s': %s", name,
				    gai_strerror(ret));
	default:
		return sd_set_error(ENOENT, "cannot resolve '%s': %s", name,
				    gai_strerror(ret));
	}
}

/* wait up to @ms for a non-blocking connect on @fd; 0 or a positive errno */
static int sd_connect_wait(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int err = 0, n;

	do {
		n = poll(&pfd, 1, ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	if (n == 0)
		return ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return errno;
	return err;
}

static int sd_connect_unix(const struct sd_addr *a, const char *name, int *fdp)
{
	struct sockaddr_un sun;
	int fd, ret;

	ret = sd_addr_unix_sockaddr(a, &sun);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = errno;
		return sd_set_error(ret, "cannot connect to '%s': socket: %s",
				    name, strerror(ret));
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		*fdp = fd;
		return 0;
	}
	ret = errno;
	if (ret == EINPROGRESS) {
		*fdp = fd;
		return -EINPROGRESS;
	}
	close(fd);
	if (ret == EAGAIN)
		return sd_set_error(ret, "cannot connect to '%s': server's listen queue is full",
				    name);
	return sd_set_error(ret, "cannot connect to '%s': %s", name, strerror(ret));
}

static int sd_connect_tcp(const struct sd_addr *a, const char *name, int *fdp)
{
	struct addrinfo *res, *ai;
	int fd, ret, err = ECONNREFUSED, one = 1;

	ret = sd_addr_resolve(a, name, false, &res);
	if (ret)
		return ret;

	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
			err = errno;
			close(fd);
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			ret = 0;
			goto found;
		}
		err = errno;
		if (err == EINPROGRESS) {
			/* the last candidate is left to the caller */
			if (!ai->ai_next) {
				ret = -EINPROGRESS;
				goto found;
			}
			err = sd_connect_wait(fd, SD_CONNECT_TRY_MS);
			if (!err) {
				ret = 0;
				goto found;
			}
		}
		close(fd);
	}
	freeaddrinfo(res);
	return sd_set_error(err, "cannot connect to '%s': %s", name, strerror(err));
found:
	freeaddrinfo(res);
	*fdp = fd;
	return ret;
}

int sd_addr_connect(const struct sd_addr *a, int *fdp)
{
	char name[SD_ADDR_STR_MAX];

	sd_addr_format(a, name, sizeof(name));
	switch (a->kind) {
	case SD_ADDR_UNIX:
		return sd_connect_unix(a, name, fdp);
	case SD_ADDR_TCP:
		return sd_connect_tcp(a, name, fdp);
	default:
		return sd_set_error(EINVAL, "cannot connect: bad address kind %d",
				    (int)a->kind);
	}
}
