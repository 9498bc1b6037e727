// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_stats.c - unit test of the I/O counters and the status line
 * format (usr/lib/sd_stats.c): histogram slots and their error bound,
 * percentiles of known samples, counts by kind, bytes, errors by errno,
 * the in-flight high-water mark, counters from many threads at once, the
 * result-code slots, and printing / unescaping KEY=VALUE tokens.  Nothing
 * is stubbed: the library archive supplies sd_now_ns().
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../usr/lib/sd_stats.c"

static struct sd_io_stats st;

static void reset(void)
{
	memset(&st, 0, sizeof(st));
}

static void case_slots(void)
{
	uint64_t v, top;
	unsigned int s, prev = 0;
	bool mono = true, bounded = true, inside = true;

	for (v = 0; v < (1ULL << 40); v = v < 64 ? v + 1 : v + v / 7) {
		s = lat_slot(v);
		top = lat_slot_top(s);
		if (s < prev)
			mono = false;
		if (top < v || (s && v <= lat_slot_top(s - 1)))
			inside = false;
		if (v >= SD_LAT_SUB && (top - v) * 8 > v)
			bounded = false;
		prev = s;
	}
	CHECK(mono, "slots: monotonic", "slot went down");
	CHECK(inside, "slots: value inside its slot", "outside");
	CHECK(bounded, "slots: at most 12.5% wide", "too wide");
	CHECK(lat_slot(0) == 0 && lat_slot(7) == 7 && lat_slot(8) == 8,
	      "slots: exact below 8", "%u %u %u", lat_slot(0), lat_slot(7),
	      lat_slot(8));
	CHECK(lat_slot(UINT64_MAX) == SD_LAT_BUCKETS - 1, "slots: capped",
	      "%u", lat_slot(UINT64_MAX));
}

static void case_percentiles(void)
{
	unsigned int i;

	CHECK(sd_io_stats_percentile_us(&st, 500) == 0,
	      "percentile: empty is 0", "not 0");
	/* 990 samples of 5 us, 9 of 1000 us, 1 of 100000 us */
	st.lat_us[lat_slot(5)] = 990;
	st.lat_us[lat_slot(1000)] = 9;
	st.lat_us[lat_slot(100000)] = 1;
	CHECK(sd_io_stats_percentile_us(&st, 500) == 5, "percentile: p50",
	      "%llu", (unsigned long long)sd_io_stats_percentile_us(&st, 500));
	CHECK(sd_io_stats_percentile_us(&st, 990) == 5, "percentile: p99",
	      "%llu", (unsigned long long)sd_io_stats_percentile_us(&st, 990));
	i = (unsigned int)sd_io_stats_percentile_us(&st, 999);
	CHECK(i >= 1000 && i < 1125, "percentile: p99.9 in 1000's slot",
	      "%u", i);
	i = (unsigned int)sd_io_stats_percentile_us(&st, 1000);
	CHECK(i >= 100000 && i < 112500, "percentile: p100 the largest",
	      "%u", i);
}

static void case_counts(void)
{
	uint64_t t1, t2;

	t1 = sd_io_stats_begin(&st);
	t2 = sd_io_stats_begin(&st);
	CHECK(st.in_flight == 2 && st.in_flight_max == 2,
	      "counts: two in flight", "%llu/%llu",
	      (unsigned long long)st.in_flight,
	      (unsigned long long)st.in_flight_max);
	sd_io_stats_end(&st, SD_IO_KIND_READ, 4096, t1, 0);
	sd_io_stats_end(&st, SD_IO_KIND_WRITE, 512, t2, -EIO);
	sd_io_stats_end(&st, SD_IO_KIND_FLUSH, 0, sd_io_stats_begin(&st),
			-ETIMEDOUT);
	sd_io_stats_end(&st, SD_IO_KIND_OTHER, 0, sd_io_stats_begin(&st),
			-SD_IO_STATS_NR_ERRNO);
	CHECK(st.ops[SD_IO_KIND_READ] == 1 && st.ops[SD_IO_KIND_WRITE] == 1 &&
	      st.ops[SD_IO_KIND_FLUSH] == 1 && st.ops[SD_IO_KIND_OTHER] == 1,
	      "counts: by kind", "wrong");
	CHECK(st.bytes[SD_IO_KIND_READ] == 4096 &&
	      st.bytes[SD_IO_KIND_WRITE] == 0,
	      "counts: bytes of successes only", "%llu/%llu",
	      (unsigned long long)st.bytes[SD_IO_KIND_READ],
	      (unsigned long long)st.bytes[SD_IO_KIND_WRITE]);
	CHECK(st.errors == 3 && st.errnos[EIO] == 1 &&
	      st.errnos[ETIMEDOUT] == 1 &&
	      st.errnos[SD_IO_STATS_NR_ERRNO - 1] == 1,
	      "counts: errors by errno, other in the last slot", "wrong");
	CHECK(st.in_flight == 0 && st.in_flight_max == 2,
	      "counts: high-water mark stays", "%llu/%llu",
	      (unsigned long long)st.in_flight,
	      (unsigned long long)st.in_flight_max);
}

#define NR_THREADS	4
#define PER_THREAD	20000

static void *hammer(void *arg)
{
	unsigned int i;

	(void)arg;
	for (i = 0; i < PER_THREAD; i++)
		sd_io_stats_end(&st, SD_IO_KIND_WRITE, 1,
				sd_io_stats_begin(&st), 0);
	return NULL;
}

static void case_threads(void)
{
	pthread_t th[NR_THREADS];
	struct sd_io_stats copy;
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < NR_THREADS; i++)
		pthread_create(&th[i], NULL, hammer, NULL);
	for (i = 0; i < NR_THREADS; i++)
		pthread_join(th[i], NULL);
	sd_io_stats_read(&st, &copy);
	for (i = 0; i < SD_LAT_BUCKETS; i++)
		sum += copy.lat_us[i];
	CHECK(copy.ops[SD_IO_KIND_WRITE] == NR_THREADS * PER_THREAD &&
	      copy.bytes[SD_IO_KIND_WRITE] == NR_THREADS * PER_THREAD &&
	      sum == NR_THREADS * PER_THREAD && copy.in_flight == 0,
	      "threads: no count lost", "%llu writes, %llu samples",
	      (unsigned long long)copy.ops[SD_IO_KIND_WRITE],
	      (unsigned long long)sum);
	CHECK(copy.in_flight_max >= 1 && copy.in_flight_max <= NR_THREADS,
	      "threads: high-water mark bounded", "%llu",
	      (unsigned long long)copy.in_flight_max);
}

static void case_results(void)
{
	unsigned int i;
	bool round = true, distinct = true;

	for (i = 0; i < SD_CLIENT_NR_RESULTS - 1; i++)
		if (sd_stats_result_index(sd_stats_result_code(i)) != i)
			round = false;
	CHECK(round, "results: slot and code round trip", "broken");
	CHECK(sd_stats_result_index(0x00) == 0 &&
	      sd_stats_result_index(0x86) == 0x26 &&
	      sd_stats_result_index(0x40) == SD_CLIENT_NR_RESULTS - 1 &&
	      sd_stats_result_index(0xffff) == SD_CLIENT_NR_RESULTS - 1,
	      "results: slots", "wrong");
	for (i = 1; i < 0x40; i++)
		if (sd_stats_result_code(i) == sd_stats_result_code(i - 1))
			distinct = false;
	CHECK(distinct, "results: one code per slot", "shared");
}

/* @f's output as a string (free it) */
static char *printed(void (*fn)(FILE *f))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fn(f);
	fclose(f);
	return buf;
}

static void print_name(FILE *f)
{
	sd_stats_print_str(f, "vdi", "a b%c=d\n\xc3\xa9");
}

static void print_counts(FILE *f)
{
	st.ops[SD_IO_KIND_READ] = 3;
	st.bytes[SD_IO_KIND_READ] = 12288;
	st.errors = 1;
	st.errnos[EIO] = 1;
	st.lat_us[lat_slot(5)] = 4;
	sd_stats_print(f, &st, NULL);
}

static void case_format(void)
{
	char *s = printed(print_name);
	char bad[] = "x%4", bad2[] = "%zz", nul[] = "a%00";

	CHECK(!strcmp(s, " vdi=a%20b%25c=d%0A%C3%A9"),
	      "format: string escaped", "'%s'", s);
	CHECK(!sd_stats_unescape(s) &&
	      !strcmp(s, " vdi=a b%c=d\n\xc3\xa9"),
	      "format: unescape undoes it", "'%s'", s);
	CHECK(sd_stats_unescape(bad) == -EINVAL &&
	      sd_stats_unescape(bad2) == -EINVAL &&
	      sd_stats_unescape(nul) == -EINVAL,
	      "format: bad escapes refused", "accepted");
	free(s);
	s = printed(print_counts);
	CHECK(strstr(s, " reads=3 writes=0 discards=0 flushes=0 others=0 read_bytes=12288 write_bytes=0 in_flight=0 in_flight_max=0 errors=1 err_EIO=1 lat_p50_us=5 lat_p99_us=5 lat_p999_us=5") == s &&
	      !strstr(s, "addr="),
	      "format: counters, no client", "'%s'", s);
	free(s);
}

static const struct t_case cases[] = {
	T_CASE(case_slots),
	T_CASE(case_percentiles),
	T_CASE(case_counts),
	T_CASE(case_threads),
	T_CASE(case_results),
	T_CASE(case_format),
};

int main(void)
{
	T_RUN(cases, reset, NULL);
	return t_exit();
}
