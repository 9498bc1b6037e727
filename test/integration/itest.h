/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * itest.h - shared helpers of the library integration tests: connecting a
 * client to the address given on the command line, creating and opening
 * the test's VDI, waiting for one async request, deterministic data
 * patterns (a byte is a function of its absolute VDI offset and a seed, so
 * any range can be checked without keeping a copy), comparing a VDI range
 * with an in-memory model, 512-byte block stamps, sending one command to
 * minisheep's fault-control socket, and plain protocol connections.
 *
 * The programs test/run-tests.sh runs directly are started by
 * test/integration/run_binary.sh as "PROGRAM ADDR VDI", VDI being a name
 * under the run's t<pid>- prefix that test/lib.sh deletes at exit: every
 * VDI a program creates is VDI or starts with "VDI-".
 */
#ifndef ITEST_H
#define ITEST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sheepdog.h"
#include "sd_addr.h"
#include "tap.h"
#include "../common/io_all.h"

#define IT_MIB		(1024ULL * 1024)
#define IT_BLOCK	512

/* stop the program: one counted FAIL line, then exit non-zero */
#define it_die(name, ...)					\
	do {							\
		t_result(0, name, __VA_ARGS__);			\
		exit(1);					\
	} while (0)

/* exit 2 with "usage: PROG USAGE" unless @ok (the arguments fit) */
static inline void it_usage(bool ok, const char *prog, const char *usage)
{
	if (ok)
		return;
	fprintf(stderr, "usage: %s %s\n", prog, usage);
	exit(2);
}

/* "PREFIX: WHAT", a check name, in one of 8 rotating buffers */
static inline const char *it_name(const char *prefix, const char *what)
{
	static char buf[8][256];
	static int n;

	n = (n + 1) % 8;
	snprintf(buf[n], sizeof(buf[n]), "%s: %s", prefix, what);
	return buf[n];
}

/* @len zeroed bytes; dies when there is no memory */
static inline void *it_alloc(size_t len)
{
	void *p = calloc(1, len ? len : 1);

	if (!p)
		it_die("alloc", "out of memory (%zu bytes)", len);
	return p;
}

/* append @item to the array @arr holding @n of @cap entries (grown x2) */
#define IT_PUSH(arr, n, cap, item)					\
	do {								\
		if ((n) == (cap)) {					\
			(cap) = (cap) ? 2 * (cap) : 4;			\
			(arr) = realloc((arr), (cap) * sizeof(*(arr)));	\
			if (!(arr))					\
				it_die("alloc", "out of memory");	\
		}							\
		(arr)[(n)++] = (item);					\
	} while (0)

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

/*
 * Open @vdi (@tag, lock @lock) through @c and close it again: one check
 * @name that the open returned @want.  Returns what it returned.
 */
static inline int it_open_expect(struct sd_client *c, const char *vdi,
				 const char *tag, enum sd_lock_mode lock,
				 int want, const char *name)
{
	struct sd_vdi *v = NULL;
	int ret = it_open(c, vdi, tag, 0, lock, &v);

	CHECK(ret == want, name, "returned %d: %s", ret, sd_get_error());
	if (!ret)
		sd_vdi_close(v);
	return ret;
}

/*
 * Create @name (@size bytes, block_size_shift @shift, 0 = the cluster's
 * default; its vid in *@vid if @vid) and open it with @lock; dies with the
 * FAIL line "@what: create" or "@what: open" when either fails.
 */
static inline struct sd_vdi *it_create_open(struct sd_client *c,
					    const char *name, uint64_t size,
					    unsigned int shift,
					    enum sd_lock_mode lock,
					    const char *what, uint32_t *vid)
{
	struct sd_vdi *v = NULL;
	int ret;

	ret = sd_vdi_create(c, name, size, shift, vid);
	if (ret)
		it_die(it_name(what, "create"), "sd_vdi_create(%s, %" PRIu64
		       ", shift %u) = %d: %s", name, size, shift, ret,
		       sd_get_error());
	ret = it_open(c, name, NULL, 0, lock, &v);
	if (ret)
		it_die(it_name(what, "open"), "sd_vdi_open(%s) = %d: %s", name,
		       ret, sd_get_error());
	return v;
}

/*
 * One async request waited for: submit it with it_aio_done and &w (a
 * struct it_aio set to IT_AIO_INIT), then it_aio_wait(&w) returns the
 * error its completion reported.
 */
struct it_aio {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int err;
};

#define IT_AIO_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, \
		      false, 0 }

static inline void it_aio_done(void *opaque, int err)
{
	struct it_aio *w = opaque;

	pthread_mutex_lock(&w->lock);
	w->err = err;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static inline int it_aio_wait(struct it_aio *w)
{
	pthread_mutex_lock(&w->lock);
	while (!w->done)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return w->err;
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
 * Write the pattern @seed to [off, off+len) of @v: one check @name.  On
 * success the bytes are also copied to @model + off when @model is given.
 * Returns the write's result.
 */
static inline int it_write_pat(struct sd_vdi *v, uint64_t off, uint64_t len,
			       uint64_t seed, uint8_t *model, const char *name)
{
	uint8_t *buf = it_alloc(len);
	int ret;

	it_pat_fill(buf, len, off, seed);
	ret = sd_vdi_pwrite(v, buf, len, off, 0);
	CHECK(ret == 0, name, "pwrite(off=%" PRIu64 ", len=%" PRIu64
	      ") = %d: %s", off, len, ret, sd_get_error());
	if (!ret && model)
		memcpy(model + off, buf, len);
	free(buf);
	return ret;
}

/*
 * Read [off, off+len) of @v and compare it with @model + off (the whole
 * VDI as it must read).  Returns 0 when equal, else the read's error or -1,
 * with @why naming the first differing byte and its object.
 */
static inline int it_read_compare(struct sd_vdi *v, const uint8_t *model,
				  uint64_t off, uint64_t len, char *why,
				  size_t wl)
{
	uint64_t S = sd_vdi_object_size(v), i;
	uint8_t *buf = it_alloc(len);
	int ret;

	memset(buf, 0xa5, len);
	ret = sd_vdi_pread(v, buf, len, off);
	if (ret) {
		snprintf(why, wl, "pread(off=%" PRIu64 ", len=%" PRIu64
			 ") = %d: %s", off, len, ret, sd_get_error());
	} else if (memcmp(buf, model + off, len)) {
		for (i = 0; buf[i] == model[off + i]; i++)
			;
		snprintf(why, wl, "byte %" PRIu64 " (object %" PRIu64 " + %"
			 PRIu64 ") is 0x%02x, expected 0x%02x (read off=%"
			 PRIu64 " len=%" PRIu64 ")", off + i, (off + i) / S,
			 (off + i) % S, buf[i], model[off + i], off, len);
		ret = -1;
	}
	free(buf);
	return ret;
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

/* ---- plain protocol connections ----------------------------------- */

/*
 * A blocking connection to @addr_str in *@fdp whose connect, sends and
 * reads each give up after @timeout_s seconds.  Returns 0 or -errno.
 */
static inline int it_raw_connect(const char *addr_str, int timeout_s,
				 int *fdp)
{
	struct timeval tv = { .tv_sec = timeout_s };
	struct sd_addr a;
	struct pollfd pfd;
	int fd, ret, err = 0;
	socklen_t len = sizeof(err);

	if (sd_addr_parse(addr_str, &a))
		return -EINVAL;
	ret = sd_addr_connect(&a, &fd);
	if (ret && ret != -EINPROGRESS)
		return ret;
	if (ret == -EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_s * 1000) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			close(fd);
			return err ? -err : -ETIMEDOUT;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*fdp = fd;
	return 0;
}

#endif
