/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * load_common.h - what the load generators share: their options (mode,
 * request size, queue depth, range, time, --once, seed), the block
 * sequence (random or sequential), the request buffers, the counters, the
 * latency histogram (iscsi_load's percentiles) and the one-line result
 * all print.
 * iscsi_load.c drives libiscsi, nbd_load.c libnbd, sd_load.c the library;
 * their workloads must stay identical for the benchmark's side-by-side
 * ratios to mean anything.
 */
#ifndef LOAD_COMMON_H
#define LOAD_COMMON_H

#include <errno.h>
#include <getopt.h>
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
	const char *target[2];		/* iscsi_load: URL; nbd_load: URI;
					 * sd_load: ADDR VDI */
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

/*
 * A latency histogram with log-linear buckets over nanoseconds: below
 * LOAD_HIST_SUB ns one bucket per value, above it every power of two split
 * into LOAD_HIST_SUB equal buckets, so a bucket is at most 1/32 (3%) as
 * wide as its values and LOAD_HIST_BUCKETS cover all of uint64_t.  Fixed
 * size: recording is an increment, nothing is allocated while running.
 */
#define LOAD_HIST_SUB_BITS	5
#define LOAD_HIST_SUB		(1u << LOAD_HIST_SUB_BITS)
#define LOAD_HIST_BUCKETS	(LOAD_HIST_SUB * (64 - LOAD_HIST_SUB_BITS + 1))

struct load_hist {
	uint64_t count;
	uint64_t n[LOAD_HIST_BUCKETS];
};

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
	struct load_hist *hist;	/* NULL: no percentiles recorded or printed */
};

static inline unsigned int load_hist_bucket(uint64_t v)
{
	unsigned int msb;

	if (v < LOAD_HIST_SUB)
		return v;
	msb = 63 - __builtin_clzll(v);
	return LOAD_HIST_SUB * (msb - LOAD_HIST_SUB_BITS + 1) +
	       ((v >> (msb - LOAD_HIST_SUB_BITS)) & (LOAD_HIST_SUB - 1));
}

static inline void load_hist_add(struct load_hist *h, uint64_t ns)
{
	h->n[load_hist_bucket(ns)]++;
	h->count++;
}

/* add the counts of @src to @dst */
static inline void load_hist_merge(struct load_hist *dst,
				   const struct load_hist *src)
{
	unsigned int i;

	for (i = 0; i < LOAD_HIST_BUCKETS; i++)
		dst->n[i] += src->n[i];
	dst->count += src->count;
}

/*
 * The @p quantile (0 < p <= 1) in nanoseconds: the middle of the bucket
 * holding the value of rank ceil(p * count); 0 for an empty histogram.
 */
static inline double load_hist_quantile(const struct load_hist *h, double p)
{
	uint64_t rank = (uint64_t)(p * h->count), seen = 0;
	unsigned int i, g;
	uint64_t low, width;

	if (rank < p * h->count)
		rank++;
	if (!rank)
		rank = 1;
	for (i = 0; i < LOAD_HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen >= rank)
			break;
	}
	if (i == LOAD_HIST_BUCKETS)
		return 0;
	if (i < LOAD_HIST_SUB)
		return i;
	g = i / LOAD_HIST_SUB - 1;
	low = (uint64_t)(LOAD_HIST_SUB + i % LOAD_HIST_SUB) << g;
	width = 1ull << g;
	return low + (width - 1) / 2.0;
}

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

/*
 * A program's own options for load_parse(): apply option @c with @arg.
 * Returns 1 when it was one, 0 when not, -1 for a bad value (after a
 * message, e.g. load_bad_value()).
 */
typedef int (*load_opt_fn)(int c, const char *arg, struct load_opts *o);

/*
 * getopt_long over @argv: the common options (load_opt()), the program's
 * own (@own, may be NULL; @optstring and @lopts list both), -h (@usage to
 * stdout, exit 0), then exactly @ntargets arguments into o->target.
 * o is initialised by the caller.  Returns 0, or -1 after a message.
 */
static inline int load_parse(int argc, char **argv, const char *prog,
			     const char *optstring, const struct option *lopts,
			     load_opt_fn own, void (*usage)(FILE *f),
			     int ntargets, struct load_opts *o)
{
	int c, r, i;

	while ((c = getopt_long(argc, argv, optstring, lopts, NULL)) != -1) {
		r = load_opt(c, optarg, o);
		if (r < 0)
			return load_bad_value(prog, c, optarg);
		if (!r && own)
			r = own(c, optarg, o);
		if (r < 0)
			return -1;
		if (r)
			continue;
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		usage(stderr);
		return -1;
	}
	if (optind != argc - ntargets) {
		usage(stderr);
		return -1;
	}
	for (i = 0; i < ntargets; i++)
		o->target[i] = argv[optind + i];
	return 0;
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
		if (r->hist)
			load_hist_add(r->hist, t - start_ns);
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

/*
 * The fields of the result line of the run that took @secs, without the
 * newline; with a histogram, p50_us, p99_us and p999_us (the 99.9th
 * percentile) follow lat_us.
 */
static inline void load_print_fields(const struct load_run *r, double secs)
{
	const struct load_opts *o = &r->o;

	printf("mode=%s%s bs=%u qd=%u range=%" PRIu64 " secs=%.3f ios=%" PRIu64
	       " iops=%.1f mibps=%.2f lat_us=%.1f",
	       o->random ? "rand" : "", o->write ? "write" : "read",
	       o->bs, o->qd, o->range, secs, r->ios, r->ios / secs,
	       r->ios * (double)o->bs / secs / 1048576.0,
	       r->ios ? r->lat_sum_ns / 1e3 / r->ios : 0.0);
	if (r->hist)
		printf(" p50_us=%.1f p99_us=%.1f p999_us=%.1f",
		       load_hist_quantile(r->hist, 0.5) / 1e3,
		       load_hist_quantile(r->hist, 0.99) / 1e3,
		       load_hist_quantile(r->hist, 0.999) / 1e3);
}

/* the one parseable result line of the run from @t0 to @t1 */
static inline void load_print(const struct load_run *r, uint64_t t0,
			      uint64_t t1)
{
	load_print_fields(r, (t1 - t0) / 1e9);
	putchar('\n');
}

#endif
