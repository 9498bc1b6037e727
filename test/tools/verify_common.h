/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * verify_common.h - what the verified-load tools share (iscsi_verify.c
 * over iSCSI, nbd_verify.c over NBD): the 4 KiB block stamps, the random
 * block sequence, the write log and the checker that accepts, for every
 * block, only what a linearizable disk could hold given all the logs;
 * their options and the bookkeeping of the write load.
 * Include it after defining "static const char *prog".
 */
#ifndef VERIFY_COMMON_H
#define VERIFY_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/mix64.h"

#define BLK		4096u
#define MAX_QD		256	/* writes or reads in flight at most */
#define STAMP_MAGIC	0x5946565349435349ULL	/* "ISCSIVFY" little-endian */
#define NO_TIME		INT64_MAX

/* ---- options ------------------------------------------------------------- */

enum verify_mode { MODE_NONE, MODE_LOAD, MODE_CHECK, MODE_ONE };

struct verify_opts {
	enum verify_mode mode;
	const char *target;	/* URL, SOCKET or IMAGE */
	const char *log;	/* --log FILE */
	double seconds;		/* --write-load SECONDS */
	unsigned int qd;
	uint64_t seed;
	uint64_t first;		/* first 4 KiB block of the range */
	uint64_t blocks;	/* 0 = up to the end of the disk */
	bool expect_errors;	/* --expect-errors any */
	int timeout_s;		/* --timeout SECONDS */
	bool no_reconnect;	/* --no-reconnect (VERIFY_OPTS_ONE) */
	bool one_write;		/* --one write (else read) (VERIFY_OPTS_ONE) */
	uint64_t one_block;
	char **logs;		/* --check LOG... */
	int nr_logs;
};

/* verify_parse_args() @extra: --one and --no-reconnect are options too */
#define VERIFY_OPTS_ONE	1u

/* a usage error: "PROG: " @fmt with @arg; returns the exit status 2 */
static inline int verify_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 2;
}

static inline bool parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && !*end && *v <= max;
}

/*
 * "TARGET OPTION..." into @o (the options of @extra too); 0, or the exit
 * status 2 after a message or @usage().
 */
static inline int verify_parse_args(int argc, char **argv, unsigned int extra,
				    void (*usage)(void),
				    struct verify_opts *o)
{
	bool one = extra & VERIFY_OPTS_ONE;
	uint64_t v;
	int i;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->timeout_s = 60;
	if (argc < 3)
		return usage(), 2;
	o->target = argv[1];
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *n = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--check")) {
			o->mode = MODE_CHECK;
			o->logs = argv + i + 1;
			o->nr_logs = argc - i - 1;
			if (!o->nr_logs)
				return verify_usage_error("%s needs at least one log", a);
			break;
		}
		if (one && !strcmp(a, "--no-reconnect")) {
			o->no_reconnect = true;
			continue;
		}
		if (!n)
			return verify_usage_error("%s needs a value", a);
		i++;
		if (!strcmp(a, "--write-load")) {
			char *end;

			o->mode = MODE_LOAD;
			errno = 0;
			o->seconds = strtod(n, &end);
			if (errno || *end || !(o->seconds > 0 && o->seconds < 86400))
				return verify_usage_error("bad --write-load '%s'", n);
		} else if (!strcmp(a, "--qd")) {
			if (!parse_u64(n, MAX_QD, &v) || !v)
				return verify_usage_error("bad --qd '%s' (1..256)", n);
			o->qd = (unsigned int)v;
		} else if (!strcmp(a, "--seed")) {
			if (!parse_u64(n, UINT32_MAX, &v) || !v)
				return verify_usage_error("bad --seed '%s' (1..2^32-1)", n);
			o->seed = v;
		} else if (!strcmp(a, "--log")) {
			o->log = n;
		} else if (!strcmp(a, "--first-block")) {
			if (!parse_u64(n, UINT32_MAX, &o->first))
				return verify_usage_error("bad --first-block '%s'", n);
		} else if (!strcmp(a, "--blocks")) {
			if (!parse_u64(n, UINT32_MAX, &o->blocks) || !o->blocks)
				return verify_usage_error("bad --blocks '%s'", n);
		} else if (!strcmp(a, "--expect-errors")) {
			if (!strcmp(n, "any"))
				o->expect_errors = true;
			else if (strcmp(n, "none"))
				return verify_usage_error("bad --expect-errors '%s' (none or any)", n);
		} else if (!strcmp(a, "--timeout")) {
			if (!parse_u64(n, 3600, &v) || !v)
				return verify_usage_error("bad --timeout '%s' (1..3600)", n);
			o->timeout_s = (int)v;
		} else if (one && !strcmp(a, "--one")) {
			o->mode = MODE_ONE;
			if (!strcmp(n, "write"))
				o->one_write = true;
			else if (strcmp(n, "read"))
				return verify_usage_error("bad --one '%s' (read or write)", n);
			if (i + 1 >= argc || !parse_u64(argv[i + 1], UINT32_MAX,
							&o->one_block))
				return verify_usage_error("%s", "--one needs a block number");
			i++;
		} else {
			return verify_usage_error("unknown option '%s'", a);
		}
	}
	if (!o->qd)
		o->qd = o->mode == MODE_ONE ? 1 : 8;
	if (o->mode == MODE_NONE)
		return verify_usage_error("%s", one ?
			"one of --write-load, --check, --one is required" :
			"one of --write-load, --check is required");
	if (o->mode == MODE_LOAD && !o->log)
		return verify_usage_error("%s", "--write-load needs --log FILE");
	return 0;
}

/* ---- time and stamps ---------------------------------------------------- */

static inline int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline void stamp_fill(uint8_t *buf, uint64_t block, uint64_t seed,
		       uint64_t gen)
{
	uint64_t s = mix64(block * 0x9e3779b97f4a7c15ULL ^ mix64(seed) ^
			   (gen << 20)) | 1;
	unsigned int i;

	put64(buf, STAMP_MAGIC);
	put64(buf + 8, block);
	put64(buf + 16, seed);
	put64(buf + 24, gen);
	for (i = 32; i < BLK; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		put64(buf + i, s);
	}
}

enum content { C_ZERO, C_STAMP, C_MISPLACED, C_TORN, C_GARBAGE };

static inline enum content stamp_classify(const uint8_t *buf, uint64_t block,
				   uint64_t *seed, uint64_t *gen)
{
	static uint8_t want[BLK];
	unsigned int i;

	if (get64(buf) != STAMP_MAGIC) {
		for (i = 0; i < BLK; i++)
			if (buf[i])
				return C_GARBAGE;
		return C_ZERO;
	}
	*seed = get64(buf + 16);
	*gen = get64(buf + 24);
	if (get64(buf + 8) != block) {
		*seed = get64(buf + 8);		/* report the block it belongs to */
		return C_MISPLACED;
	}
	stamp_fill(want, block, *seed, *gen);
	return memcmp(want, buf, BLK) ? C_TORN : C_STAMP;
}

static inline uint64_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return mix64(*s);
}

/* ---- write load ------------------------------------------------------------ */

/* random writes over a range of blocks, never two at once on one block */
struct vload {
	const struct verify_opts *o;
	FILE *log;
	uint64_t first, nr;	/* the range of blocks */
	uint64_t rng;
	uint64_t next_gen;	/* writes started */
	uint64_t acked, failed;
	int64_t max_lat_us;
	uint8_t *busy;		/* per block of the range: a write in flight */
};

/*
 * Set up the load of @o on a disk of @nr_blocks blocks (@disk names it in
 * messages): check the range, open the log, write its header line.  0, or
 * the exit status after a message.
 */
static inline int vload_open(struct vload *L, const struct verify_opts *o,
			     uint64_t nr_blocks, const char *disk)
{
	memset(L, 0, sizeof(*L));
	L->o = o;
	L->first = o->first;
	L->nr = o->blocks ? o->blocks : nr_blocks - o->first;
	if (o->first >= nr_blocks || L->nr > nr_blocks - o->first) {
		fprintf(stderr, "%s: block range %" PRIu64 "+%" PRIu64 " is beyond the %s (%" PRIu64 " blocks)\n",
			prog, o->first, L->nr, disk, nr_blocks);
		return 2;
	}
	L->rng = o->seed;
	L->busy = calloc(L->nr, 1);
	L->log = fopen(o->log, "a");
	if (!L->busy || !L->log) {
		fprintf(stderr, "%s: cannot open log %s: %s\n", prog, o->log,
			strerror(errno));
		free(L->busy);
		if (L->log)
			fclose(L->log);
		return 1;
	}
	setvbuf(L->log, NULL, _IOLBF, 0);
	fprintf(L->log, "# %s seed=%" PRIu64 " first=%" PRIu64 " blocks=%" PRIu64 " qd=%u\n",
		prog, o->seed, L->first, L->nr, o->qd);
	return 0;
}

/*
 * The next write: a random block with no write in flight in *@block, its
 * generation in *@gen; false when every block tried is busy (a tiny
 * range): wait for a completion.
 */
static inline bool vload_next(struct vload *L, uint64_t *block, uint64_t *gen)
{
	uint64_t b = 0;
	int tries;

	for (tries = 0; tries < 64; tries++) {
		b = rng_next(&L->rng) % L->nr;
		if (!L->busy[b])
			break;
	}
	if (L->busy[b])
		return false;
	L->busy[b] = 1;
	*block = L->first + b;
	*gen = ++L->next_gen;
	return true;
}

/* log a failed write; @why: the line's status fields */
static inline void vload_failed(struct vload *L, uint64_t gen, uint64_t block,
				int64_t t0, int64_t t1, const char *why)
{
	L->failed++;
	fprintf(L->log, "F %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64
		" %" PRId64 " %s\n", L->o->seed, gen, block, t0, t1, why);
}

/*
 * The write of @gen to @block submitted at @t0 completed at @t1:
 * acknowledged (@why NULL) or failed (@why: the log line's status fields).
 */
static inline void vload_done(struct vload *L, uint64_t gen, uint64_t block,
			      int64_t t0, int64_t t1, const char *why)
{
	L->busy[block - L->first] = 0;
	if (t1 - t0 > L->max_lat_us)
		L->max_lat_us = t1 - t0;
	if (why) {
		vload_failed(L, gen, block, t0, t1, why);
		return;
	}
	L->acked++;
	fprintf(L->log, "W %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64
		" %" PRId64 "\n", L->o->seed, gen, block, t0, t1);
}

/*
 * The load is over (a write still in flight was logged with
 * vload_failed(..., "LOST -1 -1 -1"): it may have landed).  Print the
 * summary, close the log; @ret, or 1 when the load failed.
 */
static inline int vload_close(struct vload *L, int ret)
{
	printf("writes=%" PRIu64 " acked=%" PRIu64 " failed=%" PRIu64 " max_latency_ms=%" PRId64 "\n",
	       L->next_gen, L->acked, L->failed, L->max_lat_us / 1000);
	if (fclose(L->log)) {
		fprintf(stderr, "%s: writing %s: %s\n", prog, L->o->log,
			strerror(errno));
		ret = 1;
	}
	free(L->busy);
	if (L->failed && !L->o->expect_errors)
		ret = 1;
	if (!L->acked && !L->o->expect_errors) {
		fprintf(stderr, "%s: no write was acknowledged\n", prog);
		ret = 1;
	}
	return ret;
}

/* ---- checker ---------------------------------------------------------------- */

struct rec {
	uint64_t block, seed, gen;
	int64_t t0, t1;		/* t1 = NO_TIME unless acknowledged */
	bool acked;
};

struct model {
	struct rec *r;
	size_t n, cap;
};

static inline int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

static inline int model_load(struct model *m, const char *path)
{
	char line[256], kind[4], status[16];
	unsigned long lineno = 0;
	struct rec r;
	FILE *f;
	int ret = 0;

	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: cannot open log %s: %s\n", prog, path,
			strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		memset(&r, 0, sizeof(r));
		if (sscanf(line, "%3s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64 " %15s",
			   kind, &r.seed, &r.gen, &r.block, &r.t0, &r.t1,
			   status) < 6 || (strcmp(kind, "W") && strcmp(kind, "F"))) {
			fprintf(stderr, "%s: %s:%lu: malformed log line\n",
				prog, path, lineno);
			ret = -1;
			break;
		}
		r.acked = kind[0] == 'W';
		if (!r.acked)
			r.t1 = NO_TIME;	/* may land at any time */
		if (m->n == m->cap) {
			size_t cap = m->cap ? 2 * m->cap : 4096;
			struct rec *nr = realloc(m->r, cap * sizeof(*nr));

			if (!nr) {
				fprintf(stderr, "%s: out of memory\n", prog);
				ret = -1;
				break;
			}
			m->r = nr;
			m->cap = cap;
		}
		m->r[m->n++] = r;
	}
	fclose(f);
	return ret;
}

/* verdict on one block; returns true when it is acceptable */
static inline bool judge(const struct rec *w, size_t n, const uint8_t *buf,
		  char *why, size_t whylen)
{
	uint64_t block = w[0].block, seed = 0, gen = 0;
	const struct rec *found = NULL, *last_acked = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i].acked && (!last_acked || w[i].t0 > last_acked->t0))
			last_acked = &w[i];
	switch (stamp_classify(buf, block, &seed, &gen)) {
	case C_ZERO:
		if (!last_acked)
			return true;
		snprintf(why, whylen, "block %" PRIu64 " reads zeros, but write seed %" PRIu64 " gen %" PRIu64 " was acknowledged",
			 block, last_acked->seed, last_acked->gen);
		return false;
	case C_GARBAGE:
		snprintf(why, whylen, "block %" PRIu64 " holds bytes no writer wrote", block);
		return false;
	case C_MISPLACED:
		snprintf(why, whylen, "block %" PRIu64 " holds the data written to block %" PRIu64,
			 block, seed);
		return false;
	case C_TORN:
		snprintf(why, whylen, "block %" PRIu64 " is torn (header seed %" PRIu64 " gen %" PRIu64 ", body differs)",
			 block, seed, gen);
		return false;
	case C_STAMP:
		break;
	}
	for (i = 0; i < n; i++)
		if (w[i].seed == seed && w[i].gen == gen)
			found = &w[i];
	if (!found) {
		snprintf(why, whylen, "block %" PRIu64 " holds write seed %" PRIu64 " gen %" PRIu64 ", which no log records",
			 block, seed, gen);
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!w[i].acked || &w[i] == found)
			continue;
		if (w[i].t0 > found->t1) {
			snprintf(why, whylen, "block %" PRIu64 " is stale: holds seed %" PRIu64 " gen %" PRIu64 ", but seed %" PRIu64 " gen %" PRIu64 " was submitted %.3f s after it completed and was acknowledged",
				 block, seed, gen, w[i].seed, w[i].gen,
				 (double)(w[i].t0 - found->t1) / 1e6);
			return false;
		}
	}
	return true;
}

struct check {
	struct model *m;
	size_t *grp;		/* start index of each block's records */
	size_t nr_grp, next, bad, checked;
};

static inline void check_one(struct check *C, size_t g, const uint8_t *buf)
{
	size_t a = C->grp[g], b = C->grp[g + 1];
	char why[512];

	C->checked++;
	if (judge(&C->m->r[a], b - a, buf, why, sizeof(why)))
		return;
	if (C->bad++ < 20)
		printf("BAD %s\n", why);
}

/*
 * Load every log, sort the records by block and submit time and index the
 * groups of each block; 0 or -1 (message printed).
 */
static inline int check_prepare(struct check *C, struct model *m,
				char **logs, int nr_logs)
{
	size_t i;

	memset(C, 0, sizeof(*C));
	for (i = 0; i < (size_t)nr_logs; i++)
		if (model_load(m, logs[i]))
			return -1;
	if (!m->n) {
		fprintf(stderr, "%s: the logs record no write\n", prog);
		return -1;
	}
	qsort(m->r, m->n, sizeof(*m->r), rec_cmp);
	C->m = m;
	C->grp = malloc((m->n + 1) * sizeof(*C->grp));
	if (!C->grp) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return -1;
	}
	for (i = 0; i < m->n; i++)
		if (!i || m->r[i].block != m->r[i - 1].block)
			C->grp[C->nr_grp++] = i;
	C->grp[C->nr_grp] = m->n;
	return 0;
}

/*
 * The check is over: print its verdict line if it @finished, free what
 * check_prepare() took; the exit status (0: every block is acceptable).
 */
static inline int check_finish(struct check *C, struct model *m,
			       bool finished)
{
	int ret = 1;

	if (finished) {
		printf("checked=%zu writes=%zu bad=%zu\n", C->checked, m->n,
		       C->bad);
		ret = C->bad ? 1 : 0;
	}
	free(C->grp);
	free(m->r);
	return ret;
}

/* check every logged block of a raw image file; 0 or -1 */
static inline int check_image(struct check *C, const char *path)
{
	static uint8_t buf[BLK];
	size_t g;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "%s: cannot open %s: %s\n", prog, path,
			strerror(errno));
		return -1;
	}
	for (g = 0; g < C->nr_grp; g++) {
		uint64_t block = C->m->r[C->grp[g]].block;
		ssize_t got = pread(fd, buf, BLK, (off_t)(block * BLK));

		if (got != (ssize_t)BLK) {
			printf("BAD block %" PRIu64 " is beyond the image %s\n",
			       block, path);
			C->bad++;
			continue;
		}
		check_one(C, g, buf);
	}
	close(fd);
	return 0;
}

#endif
