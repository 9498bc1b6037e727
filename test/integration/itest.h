/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * itest.h - shared helpers of the library integration tests: connecting a
 * client to the address given on the command line, deterministic data
 * patterns (a byte is a function of its absolute VDI offset and a seed, so
 * any range can be checked without keeping a copy), 512-byte block stamps,
 * and sending one command to minisheep's fault-control socket.
 */
#ifndef ITEST_H
#define ITEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sheepdog.h"
#include "tap.h"

#define IT_MIB		(1024ULL * 1024)
#define IT_BLOCK	512

/* stop the program: one counted FAIL line, then exit non-zero */
static inline void it_die(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static inline void it_die(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static inline void *it_alloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		it_die("alloc", "out of memory (%zu bytes)", len);
	return p;
}

/* A client for @addr_str; dies with a FAIL line when that is impossible. */
static inline struct sd_client *it_client(const char *addr_str,
					  unsigned int nr_conns,
					  unsigned int timeout_ms)
{
	static struct sd_addr addr;	/* sd_client_new copies the options */
	struct sd_client_opts o;
	struct sd_client *c;
	int ret;

	ret = sd_addr_parse(addr_str, &addr);
	if (ret)
		it_die("client", "bad address '%s': %s", addr_str,
		       sd_get_error());
	memset(&o, 0, sizeof(o));
	o.addrs = &addr;
	o.nr_addrs = 1;
	o.nr_conns = nr_conns;
	o.timeout_ms = timeout_ms;
	ret = sd_client_new(&o, &c);
	if (ret)
		it_die("client", "sd_client_new(%s): %d %s", addr_str, ret,
		       sd_get_error());
	return c;
}

static inline int it_open(struct sd_client *c, const char *name,
			  const char *tag, uint32_t snapid,
			  enum sd_lock_mode lock, struct sd_vdi **v)
{
	struct sd_vdi_open_args a;

	memset(&a, 0, sizeof(a));
	a.name = name;
	a.tag = tag;
	a.snapid = snapid;
	a.lock = lock;
	return sd_vdi_open(c, &a, v);
}

/* ---- patterns ------------------------------------------------------- */

static inline uint64_t it_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* the pattern byte at absolute offset @off for @seed; seed 0 = zeros */
static inline uint8_t it_pat_byte(uint64_t off, uint64_t seed)
{
	if (!seed)
		return 0;
	return (uint8_t)(it_mix64((seed << 40) ^ (seed >> 24) ^ (off >> 3)) >>
			 (8 * (off & 7)));
}

static inline void it_pat_fill(void *buf, size_t len, uint64_t off,
			       uint64_t seed)
{
	uint8_t *p = buf;
	size_t i = 0;

	if (!seed) {
		memset(buf, 0, len);
		return;
	}
	while (i < len) {
		uint64_t o = off + i;
		uint64_t w = it_mix64((seed << 40) ^ (seed >> 24) ^ (o >> 3));
		unsigned int b;

		for (b = o & 7; b < 8 && i < len; b++, i++)
			p[i] = (uint8_t)(w >> (8 * b));
	}
}

/*
 * Index of the first byte of @buf (holding VDI bytes from @off) that differs
 * from the pattern, or -1 when all match.
 */
static inline long long it_pat_find_bad(const void *buf, size_t len,
					uint64_t off, uint64_t seed)
{
	const uint8_t *p = buf;
	uint8_t tmp[4096];
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);
		size_t i;

		it_pat_fill(tmp, n, off + done, seed);
		if (memcmp(tmp, p + done, n))
			for (i = 0; i < n; i++)
				if (tmp[i] != p[done + i])
					return (long long)(done + i);
		done += n;
	}
	return -1;
}

static inline bool it_pat_ok(const void *buf, size_t len, uint64_t off,
			     uint64_t seed)
{
	return it_pat_find_bad(buf, len, off, seed) < 0;
}

/*
 * Block stamps: every 512-byte block written with stamp S starts with S and
 * the block's offset (both little-endian u64), and the rest is the pattern
 * for seed S.  it_stamp_of() tells which stamp a block holds (0 = zeros,
 * UINT64_MAX = neither zeros nor a well-formed stamp).
 */
static inline void it_stamp_fill(void *buf, size_t len, uint64_t off,
				 uint64_t stamp)
{
	uint8_t *p = buf;
	size_t i;
	int b;

	it_pat_fill(buf, len, off, stamp);
	for (i = 0; i + IT_BLOCK <= len; i += IT_BLOCK)
		for (b = 0; b < 8; b++) {
			p[i + b] = (uint8_t)(stamp >> (8 * b));
			p[i + 8 + b] = (uint8_t)((off + i) >> (8 * b));
		}
}

static inline uint64_t it_stamp_of(const void *blk, uint64_t off)
{
	const uint8_t *p = blk;
	uint64_t s = 0, o = 0;
	int b;

	for (b = 7; b >= 0; b--) {
		s = (s << 8) | p[b];
		o = (o << 8) | p[8 + b];
	}
	if (!s && !o)
		return it_pat_ok(p, IT_BLOCK, off, 0) ? 0 : UINT64_MAX;
	if (o != off || !s || !it_pat_ok(p + 16, IT_BLOCK - 16, off + 16, s))
		return UINT64_MAX;
	return s;
}

/* ---- minisheep control socket ---------------------------------------- */

/*
 * Send one line to minisheep's control socket @path and read the one-line
 * answer into @ans.  Returns 0 when the answer starts with "ok", else -1.
 */
static inline int it_ctl(const char *path, char *ans, size_t anslen,
			 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int it_ctl(const char *path, char *ans, size_t anslen,
			 const char *fmt, ...)
{
	struct sockaddr_un sun;
	char line[256];
	size_t got = 0;
	va_list ap;
	int fd, n, ret = -1;

	if (anslen)
		ans[0] = '\0';
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		return -1;
	line[n++] = '\n';
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto out;
	if (write(fd, line, n) != n)
		goto out;
	while (anslen && got < anslen - 1) {
		ssize_t r = read(fd, ans + got, 1);

		if (r <= 0 || ans[got] == '\n')
			break;
		got++;
	}
	if (anslen)
		ans[got] = '\0';
	if (got >= 2 && !strncmp(ans, "ok", 2))
		ret = 0;
out:
	close(fd);
	return ret;
}

#endif
