/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * load_common.h - what the two load generators share: their options (mode,
 * request size, queue depth, range, time, --once, seed), the block
 * sequence (random or sequential), the request buffers, the counters and
 * the one-line result both print.
 * iscsi_load.c drives libiscsi, sd_load.c the library; their workloads must
 * stay identical for the benchmark's side-by-side ratios to mean anything.
 */
#ifndef LOAD_COMMON_H
#define LOAD_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOAD_MAX_QD	256

struct load_opts {
	bool write;
	bool random;
	bool once;
	uint32_t bs;
	unsigned int qd;
	uint64_t range;
	double secs;
	uint64_t seed;
	unsigned int conns;		/* sd_load only */
	const char *target[2];		/* iscsi_load: URL; sd_load: ADDR VDI */
};

/* the common short options, for getopt's optstring */
#define LOAD_OPTSTRING "m:b:q:r:t:os:h"
/* the common long options, for getopt_long's table */
#define LOAD_LONG_OPTIONS						\
	{ "mode", required_argument, NULL, 'm' },			\
	{ "bs", required_argument, NULL, 'b' },				\
	{ "qd", required_argument, NULL, 'q' },				\
	{ "range", required_argument, NULL, 'r' },			\
	{ "time", required_argument, NULL, 't' },			\
	{ "once", no_argument, NULL, 'o' },				\
	{ "seed", required_argument, NULL, 's' },			\
	{ "help", no_argument, NULL, 'h' }

/* a run: its options, where the block sequence is and what it counted */
struct load_run {
	struct load_opts o;
	uint64_t nr_blocks;	/* blocks inside the range */
	uint64_t cursor;	/* next sequential block */
	uint64_t rng;
	uint64_t end_ns;
	bool stopping;
	uint64_t ios;
	uint64_t lat_sum_ns;
};

static inline uint64_t load_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* "Usage:" and the common options; the caller adds its own */
static inline void load_usage(FILE *f, const char *prog, const char *args,
			      const char *disk)
{
	fprintf(f,
		"Usage: %s [OPTIONS] %s\n"
		"  -m, --mode MODE     randread|randwrite|read|write (randread)\n"
		"  -b, --bs BYTES      request size, K/M suffixes (4096)\n"
		"  -q, --qd N          requests in flight, 1..%d (1)\n"
		"  -r, --range BYTES   only the first BYTES of the %s (whole)\n"
		"  -t, --time SECONDS  run time (5)\n"
		"  -o, --once          one sequential pass over the range, then stop\n"
		"  -s, --seed N        random seed (1)\n",
		prog, args, LOAD_MAX_QD, disk);
}

/* a bad value for option @c; returns -1 */
static inline int load_bad_value(const char *prog, int c, const char *arg)
{
	fprintf(stderr, "%s: bad value '%s' for -%c\n", prog, arg, c);
	return -1;
}

static inline void load_opts_init(struct load_opts *o)
{
	*o = (struct load_opts){ .random = true, .bs = 4096, .qd = 1,
				 .secs = 5, .seed = 1 };
}

/* xorshift64*: cheap, good enough to spread offsets */
static inline uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* a number with an optional K/M/G (binary) suffix; 0 or -1 */
static inline int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/*
 * Apply common option @c with argument @arg.  Returns 1 when it was one,
 * 0 when @c is not a common option, -1 for a bad value.
 */
static inline int load_opt(int c, const char *arg, struct load_opts *o)
{
	uint64_t v;
	char *end;

	switch (c) {
	case 'm':
		if (!strcmp(arg, "randread") || !strcmp(arg, "read"))
			o->write = false;
		else if (!strcmp(arg, "randwrite") || !strcmp(arg, "write"))
			o->write = true;
		else
			return -1;
		o->random = !strncmp(arg, "rand", 4);
		return 1;
	case 'b':
		if (parse_size(arg, &v) || !v || v > (64u << 20))
			return -1;
		o->bs = v;
		return 1;
	case 'q':
		if (parse_size(arg, &v) || !v || v > LOAD_MAX_QD)
			return -1;
		o->qd = v;
		return 1;
	case 'r':
		return parse_size(arg, &o->range) ? -1 : 1;
	case 't':
		o->secs = strtod(arg, &end);
		return *end || !(o->secs > 0) ? -1 : 1;
	case 'o':
		o->once = true;
		o->random = false;
		return 1;
	case 's':
		return parse_size(arg, &o->seed) || !o->seed ? -1 : 1;
	default:
		return 0;
	}
}

/* the block of the next request; false when the run is over */
static inline bool load_next_block(struct load_run *r, uint64_t *blk)
{
	if (r->stopping)
		return false;
	if (r->o.random) {
		*blk = next_rand(&r->rng) % r->nr_blocks;
		return true;
	}
	if (r->cursor == r->nr_blocks) {
		if (r->o.once) {
			r->stopping = true;
			return false;
		}
		r->cursor = 0;
	}
	*blk = r->cursor++;
	return true;
}

/* a request started at @start_ns ended at @t (@ok: it succeeded) */
static inline void load_count(struct load_run *r, bool ok, uint64_t start_ns,
			      uint64_t t)
{
	if (ok) {
		r->ios++;
		r->lat_sum_ns += t - start_ns;
	}
	if (!r->o.once && t >= r->end_ns)
		r->stopping = true;
}

/*
 * A request buffer of o.bs bytes, 4 KiB aligned, filled with @fill (non-zero
 * data); NULL after a message.
 */
static inline void *load_buf_alloc(const struct load_opts *o, int fill,
				   const char *prog)
{
	void *buf = aligned_alloc(4096, (o->bs + 4095) & ~4095u);

	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return NULL;
	}
	memset(buf, fill, o->bs);
	return buf;
}

/* the run starts now: its sequence seeded, its end set; the start time */
static inline uint64_t load_start(struct load_run *r)
{
	uint64_t t0 = load_now_ns();

	r->rng = r->o.seed * 0x9e3779b97f4a7c15ull;
	r->end_ns = t0 + (uint64_t)(r->o.secs * 1e9);
	return t0;
}

/* the one parseable result line of the run from @t0 to @t1 */
static inline void load_print(const struct load_run *r, uint64_t t0,
			      uint64_t t1)
{
	const struct load_opts *o = &r->o;
	double secs = (t1 - t0) / 1e9;

	printf("mode=%s%s bs=%u qd=%u range=%" PRIu64 " secs=%.3f ios=%" PRIu64
	       " iops=%.1f mibps=%.2f lat_us=%.1f\n",
	       o->random ? "rand" : "", o->write ? "write" : "read",
	       o->bs, o->qd, o->range, secs, r->ios, r->ios / secs,
	       r->ios * (double)o->bs / secs / 1048576.0,
	       r->ios ? r->lat_sum_ns / 1e3 / r->ios : 0.0);
}

#endif
