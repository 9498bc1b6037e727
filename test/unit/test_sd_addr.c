// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_addr.c - unit tests of the address grammar and socket helpers
 * (sd_addr.c, and test/common/sd_listen.c for the listening side).
 *
 * Table-driven checks of sd_addr_parse, sd_addr_parse_prefix and
 * sd_target_parse (every field of the valid strings, -EINVAL plus the key
 * phrase of the message for the malformed ones), sd_addr_format round
 * trips, and real listen/connect/accept over a unix socket in a private
 * temporary directory and over TCP on 127.0.0.1 with a kernel-chosen port.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "sd_addr.h"
/* the server side lives outside the library; it is tested here */
#include "../common/sd_listen.c"

static char *repeat(char c, size_t n, const char *prefix, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + n + sl + 1);

	if (!s) {
		perror("malloc");
		exit(2);
	}
	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	memcpy(s + pl + n, suffix, sl + 1);
	return s;
}

/* ---- address table --------------------------------------------------- */

struct addr_case {
	const char *in;
	int kind;		/* 0: must fail */
	const char *path_or_host;
	uint16_t port;
	const char *phrase;	/* failures: expected part of the message */
};

static const struct addr_case addr_cases[] = {
	{ "unix:/tmp/sock", SD_ADDR_UNIX, "/tmp/sock", 0, NULL },
	{ "unix:relative/s.sock", SD_ADDR_UNIX, "relative/s.sock", 0, NULL },
	{ "tcp:127.0.0.1:7000", SD_ADDR_TCP, "127.0.0.1", 7000, NULL },
	{ "tcp:localhost:1", SD_ADDR_TCP, "localhost", 1, NULL },
	{ "tcp:sheep-1.example.com:65535", SD_ADDR_TCP, "sheep-1.example.com", 65535, NULL },
	{ "tcp:[::1]:7000", SD_ADDR_TCP, "::1", 7000, NULL },
	{ "tcp:[2001:db8::ffff:1.2.3.4]:80", SD_ADDR_TCP, "2001:db8::ffff:1.2.3.4", 80, NULL },
	{ "tcp:[fe80::1%eth0]:7000", SD_ADDR_TCP, "fe80::1%eth0", 7000, NULL },
	{ "tcp:h:007000", SD_ADDR_TCP, "h", 7000, NULL },

	{ "", 0, NULL, 0, "empty address" },
	{ "foo:", 0, NULL, 0, "unknown scheme 'foo'" },
	{ "foo:bar:1", 0, NULL, 0, "unknown scheme 'foo'" },
	{ "TCP:h:1", 0, NULL, 0, "unknown scheme 'TCP'" },
	{ "/tmp/sock", 0, NULL, 0, "missing scheme" },
	{ "unix:", 0, NULL, 0, "empty unix socket path" },
	{ "tcp:", 0, NULL, 0, "empty host" },
	{ "tcp::7000", 0, NULL, 0, "empty host" },
	{ "tcp:host", 0, NULL, 0, "missing port" },
	{ "tcp:host:", 0, NULL, 0, "missing port" },
	{ "tcp:host:abc", 0, NULL, 0, "bad port 'abc' (must be 1..65535)" },
	{ "tcp:host:0", 0, NULL, 0, "bad port '0' (must be 1..65535)" },
	{ "tcp:h:65536", 0, NULL, 0, "bad port '65536' (must be 1..65535)" },
	{ "tcp:h:99999", 0, NULL, 0, "bad port '99999' (must be 1..65535)" },
	{ "tcp:h:18446744073709551617", 0, NULL, 0, "bad port '18446744073709551617'" },
	{ "tcp:h:7000x", 0, NULL, 0, "bad port '7000x'" },
	{ "tcp:h:-1", 0, NULL, 0, "bad port '-1'" },
	{ "tcp:h:+80", 0, NULL, 0, "bad port '+80'" },
	{ "tcp:[::1:7000", 0, NULL, 0, "unterminated '['" },
	{ "tcp:[::1]7000", 0, NULL, 0, "junk '7000' after ']'" },
	{ "tcp:[::1]", 0, NULL, 0, "missing port after ']'" },
	{ "tcp:[::1]:", 0, NULL, 0, "missing port" },
	{ "tcp:[::1]:0", 0, NULL, 0, "bad port '0'" },
	{ "tcp:[]:7000", 0, NULL, 0, "empty IPv6 address" },
	{ "tcp:[1.2.3.4]:7000", 0, NULL, 0, "bad IPv6 address '1.2.3.4'" },
	{ "tcp:[zz::1]:7000", 0, NULL, 0, "bad IPv6 address 'zz::1'" },
	{ "tcp:[fe80::1%]:7000", 0, NULL, 0, "bad IPv6 address 'fe80::1%'" },
	{ "tcp:::1:7000", 0, NULL, 0, "IPv6 literals must be bracketed" },
	{ "tcp:fe80::1:7000", 0, NULL, 0, "IPv6 literals must be bracketed" },
	{ "tcp:2001:db8::1", 0, NULL, 0, "IPv6 literals must be bracketed" },
	{ "tcp:host name:7000", 0, NULL, 0, "bad character ' ' in host 'host name'" },
	{ "tcp:h/x:7000", 0, NULL, 0, "bad character '/' in host" },
	{ "tcp:h:7000:extra", 0, NULL, 0, "unexpected trailing ':extra'" },
	{ "unix:/s:x", 0, NULL, 0, "unexpected trailing ':x'" },
};

static void check_addr_case(const struct addr_case *c)
{
	struct sd_addr a;
	char name[300], want[300];
	const char *msg;
	int ret;

	memset(&a, 0x5a, sizeof(a));
	sd_clear_error();
	ret = sd_addr_parse(c->in, &a);
	snprintf(name, sizeof(name), "sd_addr_parse '%s'", c->in);

	if (c->kind == SD_ADDR_UNIX) {
		CHECK(ret == 0 && a.kind == SD_ADDR_UNIX &&
		      !strcmp(a.path, c->path_or_host),
		      name, "ret %d (%s) kind %d path '%.*s'", ret,
		      sd_get_error(), (int)a.kind, (int)sizeof(a.path),
		      a.path);
	} else if (c->kind == SD_ADDR_TCP) {
		CHECK(ret == 0 && a.kind == SD_ADDR_TCP &&
		      !strcmp(a.host, c->path_or_host) && a.port == c->port,
		      name, "ret %d (%s) kind %d host '%.*s' port %u", ret,
		      sd_get_error(), (int)a.kind, (int)sizeof(a.host),
		      a.host, a.port);
	} else {
		msg = sd_get_error();
		snprintf(want, sizeof(want), "bad address '%s': ", c->in);
		CHECK(ret == -EINVAL && sd_get_errno() == EINVAL &&
		      !strncmp(msg, want, strlen(want)) &&
		      strstr(msg, c->phrase) && !strchr(msg, '\n') &&
		      ((const unsigned char *)&a)[0] == 0x5a,
		      name, "ret %d, message '%s' (want prefix \"%s\" and \"%s\")",
		      ret, msg, want, c->phrase);
	}
}

/* inputs too long to write in the table */
static void check_long_addrs(void)
{
	struct sd_addr a;
	char *s;
	int ret;

	s = repeat('p', SD_ADDR_PATH_MAX, "unix:/", "");
	ret = sd_addr_parse(s, &a);
	CHECK(ret == -EINVAL && strstr(sd_get_error(), "unix socket path is 108 bytes (max 107)"),
	      "sd_addr_parse unix path of 108 bytes",
	      "ret %d, message '%s'", ret, sd_get_error());
	free(s);

	s = repeat('p', SD_ADDR_PATH_MAX - 1, "unix:/", "");
	ret = sd_addr_parse(s, &a);
	CHECK(ret == 0 && a.kind == SD_ADDR_UNIX && strlen(a.path) == SD_ADDR_PATH_MAX &&
	      !strcmp(a.path, s + 5),
	      "sd_addr_parse unix path of 107 bytes",
	      "ret %d (%s) path len %zu", ret, sd_get_error(), strlen(a.path));
	free(s);

	s = repeat('h', SD_ADDR_HOST_MAX, "tcp:", ":7000");
	ret = sd_addr_parse(s, &a);
	CHECK(ret == 0 && a.kind == SD_ADDR_TCP &&
	      strlen(a.host) == SD_ADDR_HOST_MAX && a.port == 7000,
	      "sd_addr_parse host of 255 bytes",
	      "ret %d (%s) host len %zu", ret, sd_get_error(), strlen(a.host));
	free(s);

	s = repeat('h', SD_ADDR_HOST_MAX + 1, "tcp:", ":7000");
	ret = sd_addr_parse(s, &a);
	CHECK(ret == -EINVAL && strstr(sd_get_error(), "host name is 256 bytes (max 255)") &&
	      strlen(sd_get_error()) < SD_ERROR_MAX - 1,
	      "sd_addr_parse host of 256 bytes",
	      "ret %d, message '%s'", ret, sd_get_error());
	free(s);

	/* non-printable input is escaped so the message stays one line */
	ret = sd_addr_parse("tcp:h\n:7000", &a);
	CHECK(ret == -EINVAL && strstr(sd_get_error(), "bad character '\\x0a'") &&
	      !strchr(sd_get_error(), '\n'),
	      "sd_addr_parse escapes control characters",
	      "ret %d, message '%s'", ret, sd_get_error());
}

static void check_prefix(void)
{
	static const struct {
		const char *in;
		const char *rest;
	} cases[] = {
		{ "unix:/s:vol", ":vol" },
		{ "unix:/s", "" },
		{ "tcp:h:7000:vol:tag", ":vol:tag" },
		{ "tcp:[::1]:7000:x", ":x" },
	};
	struct sd_addr a;
	const char *rest;
	char name[128];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rest = NULL;
		ret = sd_addr_parse_prefix(cases[i].in, &a, &rest);
		snprintf(name, sizeof(name), "sd_addr_parse_prefix '%s'", cases[i].in);
		CHECK(ret == 0 && rest && !strcmp(rest, cases[i].rest) &&
		      rest == cases[i].in + strlen(cases[i].in) - strlen(cases[i].rest),
		      name, "ret %d (%s) rest '%s'", ret, sd_get_error(),
		      rest ? rest : "(null)");
	}
	ret = sd_addr_parse_prefix("tcp:h:0:vol", &a, &rest);
	CHECK(ret == -EINVAL && !strcmp(sd_get_error(),
		"bad address 'tcp:h:0:vol': bad port '0' (must be 1..65535)"),
	      "sd_addr_parse_prefix bad port message",
	      "ret %d, message '%s'", ret, sd_get_error());
}

/* ---- target table ---------------------------------------------------- */

struct target_case {
	const char *in;
	int ok;
	const char *addr;	/* ok: formatted address */
	const char *vdi;
	const char *tag;
	uint32_t snapid;
	const char *phrase;
};

static const struct target_case target_cases[] = {
	{ "unix:/tmp/s:vol", 1, "unix:/tmp/s", "vol", "", 0, NULL },
	{ "unix:/tmp/s:vol:snap1", 1, "unix:/tmp/s", "vol", "snap1", 0, NULL },
	{ "unix:/tmp/s:vol:3", 1, "unix:/tmp/s", "vol", "", 3, NULL },
	{ "unix:/tmp/s:vol:01", 1, "unix:/tmp/s", "vol", "", 1, NULL },
	{ "unix:/tmp/s:vol:1a", 1, "unix:/tmp/s", "vol", "1a", 0, NULL },
	{ "tcp:127.0.0.1:7000:vol:4294967295", 1, "tcp:127.0.0.1:7000", "vol", "", 4294967295U, NULL },
	{ "tcp:[::1]:7000:my.vol:v1.0", 1, "tcp:[::1]:7000", "my.vol", "v1.0", 0, NULL },
	{ "tcp:sheep:7001:a b", 1, "tcp:sheep:7001", "a b", "", 0, NULL },

	{ "", 0, NULL, NULL, NULL, 0, "empty string" },
	{ "vol", 0, NULL, NULL, NULL, 0, "missing scheme" },
	{ "foo:x:vol", 0, NULL, NULL, NULL, 0, "unknown scheme 'foo'" },
	{ "unix::vol", 0, NULL, NULL, NULL, 0, "empty unix socket path" },
	{ "unix:/s", 0, NULL, NULL, NULL, 0, "missing VDI name" },
	{ "tcp:h:7000", 0, NULL, NULL, NULL, 0, "missing VDI name" },
	{ "unix:/s:", 0, NULL, NULL, NULL, 0, "empty VDI name" },
	{ "unix:/s::tag", 0, NULL, NULL, NULL, 0, "empty VDI name" },
	{ "unix:/s:vol:", 0, NULL, NULL, NULL, 0, "empty tag or snapshot id" },
	{ "unix:/s:vol:0", 0, NULL, NULL, NULL, 0, "bad snapshot id '0' (must be 1..4294967295)" },
	{ "unix:/s:vol:4294967296", 0, NULL, NULL, NULL, 0, "bad snapshot id '4294967296'" },
	{ "unix:/s:vol:99999999999999999999999", 0, NULL, NULL, NULL, 0, "bad snapshot id '99999999999999999999999'" },
	{ "unix:/s:vol:tag:extra", 0, NULL, NULL, NULL, 0, "unexpected trailing ':extra'" },
	{ "unix:/s:vol:3:", 0, NULL, NULL, NULL, 0, "unexpected trailing ':'" },
	{ "tcp:h:99999:vol", 0, NULL, NULL, NULL, 0, "bad port '99999' (must be 1..65535)" },
	{ "tcp:h::vol", 0, NULL, NULL, NULL, 0, "missing port" },
	{ "tcp:fe80::1:7000:vol", 0, NULL, NULL, NULL, 0, "IPv6 literals must be bracketed" },
	{ "tcp:[::1]x:vol", 0, NULL, NULL, NULL, 0, "junk 'x' after ']'" },
	{ "tcp:[::1:7000:vol", 0, NULL, NULL, NULL, 0, "unterminated '['" },
};

static void check_target_case(const struct target_case *c)
{
	struct sd_target t;
	char name[300], want[300], addr[SD_ADDR_STR_MAX];
	const char *msg;
	int ret;

	memset(&t, 0x5a, sizeof(t));
	sd_clear_error();
	ret = sd_target_parse(c->in, &t);
	snprintf(name, sizeof(name), "sd_target_parse '%s'", c->in);

	if (c->ok) {
		if (ret == 0)
			sd_addr_format(&t.addr, addr, sizeof(addr));
		else
			strcpy(addr, "?");
		CHECK(ret == 0 && !strcmp(addr, c->addr) && !strcmp(t.vdi, c->vdi) &&
		      !strcmp(t.tag, c->tag) && t.snapid == c->snapid,
		      name, "ret %d (%s) addr '%s' vdi '%.*s' tag '%.*s' snapid %u",
		      ret, sd_get_error(), addr, (int)sizeof(t.vdi), t.vdi,
		      (int)sizeof(t.tag), t.tag, t.snapid);
	} else {
		msg = sd_get_error();
		snprintf(want, sizeof(want), "bad backing store '%s': ", c->in);
		CHECK(ret == -EINVAL && !strncmp(msg, want, strlen(want)) &&
		      strstr(msg, c->phrase) && ((const unsigned char *)&t)[0] == 0x5a,
		      name, "ret %d, message '%s' (want prefix \"%s\" and \"%s\")",
		      ret, msg, want, c->phrase);
	}
}

/* names and tags at and past their length limit */
static const struct {
	const char *name;
	char c;			/* repeated n times between pre and suf */
	size_t n;
	const char *pre, *suf;
	const char *msg;	/* NULL: parses, into these lengths */
	size_t vdi_len, tag_len;
} long_targets[] = {
	{ "sd_target_parse VDI name of 255 bytes", 'v', 255, "unix:/s:", ":t",
	  NULL, 255, 1 },
	{ "sd_target_parse VDI name of 256 bytes", 'v', 256, "unix:/s:", "",
	  "VDI name is 256 bytes (max 255)", 0, 0 },
	{ "sd_target_parse tag of 255 bytes", 't', 255, "unix:/s:vol:", "",
	  NULL, 3, 255 },
	{ "sd_target_parse tag of 256 bytes", 't', 256, "unix:/s:vol:", "",
	  "tag is 256 bytes (max 255)", 0, 0 },
};

static void check_long_targets(void)
{
	struct sd_target t;
	size_t i;
	char *s;
	int ret;

	for (i = 0; i < sizeof(long_targets) / sizeof(long_targets[0]); i++) {
		s = repeat(long_targets[i].c, long_targets[i].n,
			   long_targets[i].pre, long_targets[i].suf);
		ret = sd_target_parse(s, &t);
		free(s);
		if (long_targets[i].msg)
			CHECK(ret == -EINVAL &&
			      strstr(sd_get_error(), long_targets[i].msg),
			      long_targets[i].name, "ret %d, message '%s'",
			      ret, sd_get_error());
		else
			CHECK(ret == 0 && t.snapid == 0 &&
			      strlen(t.vdi) == long_targets[i].vdi_len &&
			      strlen(t.tag) == long_targets[i].tag_len,
			      long_targets[i].name,
			      "ret %d (%s) vdi len %zu tag len %zu", ret,
			      sd_get_error(), strlen(t.vdi), strlen(t.tag));
	}

	ret = sd_target_parse("tcp:h:99999:vol", &t);
	CHECK(ret == -EINVAL && !strcmp(sd_get_error(),
		"bad backing store 'tcp:h:99999:vol': bad port '99999' (must be 1..65535)"),
	      "sd_target_parse exact message for a bad port",
	      "ret %d, message '%s'", ret, sd_get_error());
}

/* ---- formatting ------------------------------------------------------ */

static void check_format(void)
{
	static const char *const round[] = {
		"unix:/tmp/sock", "tcp:127.0.0.1:7000", "tcp:[::1]:7000",
		"tcp:sheep.example.com:65535", "tcp:[fe80::1%eth0]:1",
	};
	struct sd_addr a, b;
	char buf[SD_ADDR_STR_MAX], name[128];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		buf[0] = '\0';
		ret = sd_addr_parse(round[i], &a);
		if (!ret) {
			sd_addr_format(&a, buf, sizeof(buf));
			ret = sd_addr_parse(buf, &b);
		}
		snprintf(name, sizeof(name), "sd_addr_format round trip '%s'", round[i]);
		CHECK(ret == 0 && !strcmp(buf, round[i]) && a.kind == b.kind &&
		      !strcmp(a.path, b.path) && !strcmp(a.host, b.host) &&
		      a.port == b.port,
		      name, "ret %d (%s) formatted '%s'", ret, sd_get_error(), buf);
	}

	memset(&a, 0, sizeof(a));
	a.kind = SD_ADDR_TCP;
	strcpy(a.host, "2001:db8::7");
	a.port = 7000;
	sd_addr_format(&a, buf, sizeof(buf));
	CHECK(!strcmp(buf, "tcp:[2001:db8::7]:7000"), "sd_addr_format brackets IPv6 hosts",
	      "got '%s'", buf);

	memset(&a, 0, sizeof(a));
	a.kind = SD_ADDR_UNIX;
	strcpy(a.path, "/var/lib/sheepdog/sock");
	memset(buf, 'X', sizeof(buf));
	sd_addr_format(&a, buf, 8);
	CHECK(!strcmp(buf, "unix:/v") && buf[8] == 'X', "sd_addr_format truncates safely",
	      "got '%.8s' next byte 0x%02x", buf, (unsigned char)buf[8]);
}

/* ---- sockets --------------------------------------------------------- */

/* finish a connect that returned -EINPROGRESS; 0 or a positive errno */
static int wait_connected(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err = 0;

	if (poll(&pfd, 1, 10000) != 1)
		return ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* connect to @a, accept on @lfd, exchange a few bytes both ways */
static void check_pair(const char *what, const struct sd_addr *a, int lfd, int tcp)
{
	char name[128], buf[8];
	int cfd = -1, sfd = -1, ret, fl, fdfl, nodelay = 0;
	socklen_t len = sizeof(nodelay);
	struct pollfd pfd;
	ssize_t n;

	ret = sd_addr_connect(a, &cfd);
	if (ret == -EINPROGRESS)
		ret = -wait_connected(cfd);
	snprintf(name, sizeof(name), "%s: sd_addr_connect", what);
	CHECK(ret == 0 && cfd >= 0, name, "ret %d (%s)", ret, sd_get_error());
	if (ret)
		goto out;

	fl = fcntl(cfd, F_GETFL);
	fdfl = fcntl(cfd, F_GETFD);
	snprintf(name, sizeof(name), "%s: socket is non-blocking and close-on-exec", what);
	CHECK(fl >= 0 && (fl & O_NONBLOCK) && fdfl >= 0 && (fdfl & FD_CLOEXEC),
	      name, "F_GETFL 0x%x F_GETFD 0x%x", fl, fdfl);

	if (tcp) {
		ret = getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
		snprintf(name, sizeof(name), "%s: TCP_NODELAY is set", what);
		CHECK(ret == 0 && nodelay, name, "ret %d nodelay %d", ret, nodelay);
	}

	pfd.fd = lfd;
	pfd.events = POLLIN;
	sfd = poll(&pfd, 1, 10000) == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
	snprintf(name, sizeof(name), "%s: accept", what);
	CHECK(sfd >= 0, name, "accept failed: %s", strerror(errno));
	if (sfd < 0)
		goto out;

	n = write(cfd, "ping", 4);
	if (n == 4)
		n = read(sfd, buf, sizeof(buf));
	snprintf(name, sizeof(name), "%s: client to server bytes", what);
	CHECK(n == 4 && !memcmp(buf, "ping", 4), name, "n %zd", n);

	n = write(sfd, "pong", 4);
	pfd.fd = cfd;
	if (n == 4 && poll(&pfd, 1, 10000) == 1)
		n = read(cfd, buf, sizeof(buf));
	else
		n = -1;
	snprintf(name, sizeof(name), "%s: server to client bytes", what);
	CHECK(n == 4 && !memcmp(buf, "pong", 4), name, "n %zd", n);
out:
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
}

static void check_unix_sockets(const char *dir)
{
	struct sd_addr a;
	char path[SD_ADDR_PATH_MAX + 32], addr[SD_ADDR_PATH_MAX + 48];
	int lfd, lfd2, ret, fd = -1;
	struct stat st;

	snprintf(path, sizeof(path), "%s/sheep.sock", dir);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	ret = sd_addr_parse(addr, &a);
	CHECK(ret == 0, "unix: parse socket address", "ret %d (%s)", ret, sd_get_error());
	if (ret)
		return;

	/* nothing listening yet: ENOENT, and the message names the address */
	ret = sd_addr_connect(&a, &fd);
	CHECK((ret == -ENOENT || ret == -ECONNREFUSED) && strstr(sd_get_error(), addr),
	      "unix: connect to a missing socket fails with a message naming it",
	      "ret %d, message '%s'", ret, sd_get_error());

	lfd = sd_addr_listen(&a, 16);
	CHECK(lfd >= 0 && stat(path, &st) == 0 && S_ISSOCK(st.st_mode),
	      "unix: sd_addr_listen creates the socket", "ret %d (%s)", lfd, sd_get_error());
	if (lfd < 0)
		return;

	CHECK(sd_addr_bound_port(lfd) == -EINVAL, "unix: sd_addr_bound_port rejects a unix socket",
	      "ret %d", sd_addr_bound_port(lfd));

	check_pair("unix", &a, lfd, 0);

	/* a live server's socket must not be stolen */
	lfd2 = sd_addr_listen(&a, 16);
	CHECK(lfd2 == -EADDRINUSE && strstr(sd_get_error(), addr),
	      "unix: listening on a live socket fails with EADDRINUSE",
	      "ret %d, message '%s'", lfd2, sd_get_error());
	if (lfd2 >= 0)
		close(lfd2);
	close(lfd);

	/* the socket file is left behind: connect is refused, listen replaces it */
	ret = sd_addr_connect(&a, &fd);
	CHECK(ret == -ECONNREFUSED && strstr(sd_get_error(), addr),
	      "unix: connect to a stale socket is refused",
	      "ret %d, message '%s'", ret, sd_get_error());
	lfd = sd_addr_listen(&a, 16);
	CHECK(lfd >= 0, "unix: sd_addr_listen replaces a stale socket",
	      "ret %d (%s)", lfd, sd_get_error());
	if (lfd >= 0) {
		check_pair("unix after stale socket", &a, lfd, 0);
		close(lfd);
	}
	unlink(path);

	/* a regular file is never removed */
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	lfd = sd_addr_listen(&a, 16);
	CHECK(lfd == -EADDRINUSE && strstr(sd_get_error(), "not a socket") &&
	      stat(path, &st) == 0 && S_ISREG(st.st_mode),
	      "unix: a regular file at the path is left alone",
	      "ret %d, message '%s'", lfd, sd_get_error());
	if (lfd >= 0)
		close(lfd);
	unlink(path);
}

static void check_tcp_sockets(void)
{
	struct sd_addr a;
	char addr[SD_ADDR_STR_MAX];
	int lfd, port, ret, fd = -1;
	struct addrinfo *res;

	memset(&a, 0, sizeof(a));
	a.kind = SD_ADDR_TCP;
	strcpy(a.host, "127.0.0.1");
	a.port = 0;
	lfd = sd_addr_listen(&a, 16);
	CHECK(lfd >= 0, "tcp: sd_addr_listen on 127.0.0.1 port 0", "ret %d (%s)",
	      lfd, sd_get_error());
	if (lfd < 0)
		return;
	port = sd_addr_bound_port(lfd);
	CHECK(port > 0 && port <= 65535, "tcp: sd_addr_bound_port reports the chosen port",
	      "port %d (%s)", port, sd_get_error());
	if (port <= 0) {
		close(lfd);
		return;
	}
	a.port = (uint16_t)port;
	check_pair("tcp 127.0.0.1", &a, lfd, 1);

	/* a name: every address it resolves to is tried in turn */
	strcpy(a.host, "localhost");
	if (getaddrinfo("localhost", NULL, NULL, &res)) {
		t_skip("tcp localhost: sd_addr_connect", "localhost does not resolve here");
	} else {
		freeaddrinfo(res);
		check_pair("tcp localhost", &a, lfd, 1);
	}
	close(lfd);

	/* the port is closed now: refused, immediately or via SO_ERROR */
	strcpy(a.host, "127.0.0.1");
	sd_addr_format(&a, addr, sizeof(addr));
	fd = -1;
	ret = sd_addr_connect(&a, &fd);
	if (ret == -EINPROGRESS) {
		ret = -wait_connected(fd);
		close(fd);
		CHECK(ret == -ECONNREFUSED, "tcp: connect to a closed port is refused",
		      "ret %d", ret);
	} else {
		CHECK(ret == -ECONNREFUSED && strstr(sd_get_error(), addr),
		      "tcp: connect to a closed port is refused",
		      "ret %d, message '%s'", ret, sd_get_error());
		if (ret == 0)
			close(fd);
	}

	/* IPv6 loopback, when the machine has it */
	memset(&a, 0, sizeof(a));
	a.kind = SD_ADDR_TCP;
	strcpy(a.host, "::1");
	lfd = sd_addr_listen(&a, 16);
	if (lfd < 0) {
		t_skip("tcp [::1]: listen/connect", sd_get_error());
		return;
	}
	port = sd_addr_bound_port(lfd);
	a.port = port > 0 ? (uint16_t)port : 1;
	check_pair("tcp [::1]", &a, lfd, 1);
	close(lfd);

	/* unresolvable names fail with a message naming the address */
	memset(&a, 0, sizeof(a));
	a.kind = SD_ADDR_TCP;
	strcpy(a.host, "no-such-host.invalid");
	a.port = 7000;
	ret = sd_addr_connect(&a, &fd);
	CHECK(ret < 0 && ret != -EINPROGRESS &&
	      strstr(sd_get_error(), "tcp:no-such-host.invalid:7000"),
	      "tcp: unresolvable host fails with a message naming it",
	      "ret %d, message '%s'", ret, sd_get_error());
	if (ret == 0 || ret == -EINPROGRESS)
		close(fd);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[SD_ADDR_PATH_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++)
		check_addr_case(&addr_cases[i]);
	check_long_addrs();
	check_prefix();
	for (i = 0; i < sizeof(target_cases) / sizeof(target_cases[0]); i++)
		check_target_case(&target_cases[i]);
	check_long_targets();
	check_format();

	/* the socket path must fit in 107 bytes; fall back to /tmp if TMPDIR is long */
	if (!tmp || !*tmp || strlen(tmp) + sizeof("/sdaddr.XXXXXX/sheep.sock") > SD_ADDR_PATH_MAX + 1)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/sdaddr.XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp", "%s: %s", dir, strerror(errno));
	} else {
		check_unix_sockets(dir);
		rmdir(dir);
	}
	check_tcp_sockets();
	return t_exit();
}
