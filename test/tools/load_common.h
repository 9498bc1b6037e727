/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * load_common.h - what the two load generators share: their options (mode,
 * request size, queue depth, range, time, --once, seed), the random
 * sequence that spreads offsets, and the one-line result both print.
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

/* the one parseable result line */
static inline void load_print(const struct load_opts *o, double secs,
			      uint64_t ios, uint64_t lat_sum_ns)
{
	printf("mode=%s%s bs=%u qd=%u range=%" PRIu64 " secs=%.3f ios=%" PRIu64
	       " iops=%.1f mibps=%.2f lat_us=%.1f\n",
	       o->random ? "rand" : "", o->write ? "write" : "read",
	       o->bs, o->qd, o->range, secs, ios, ios / secs,
	       ios * (double)o->bs / secs / 1048576.0,
	       ios ? lat_sum_ns / 1e3 / ios : 0.0);
}

#endif
