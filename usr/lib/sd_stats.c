// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_stats.c - per-LU/export I/O counters and the status line format
 * (sheepdog.h, "I/O statistics"): relaxed atomic counters, a fixed-size
 * log-linear latency histogram and its percentiles, the KEY=VALUE
 * printing and unescaping that the status sockets and sdctl share, and
 * the gateways' status sockets themselves.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sheepdog.h"
#include "sd_conn.h"
#include "sd_hostlock.h"
#include "sd_stats.h"
#include "sd_vdi_internal.h"

/* histogram slot of @us: exact below SD_LAT_SUB, then 8 per power of 2 */
static unsigned int lat_slot(uint64_t us)
{
	unsigned int msb, slot;

	if (us < SD_LAT_SUB)
		return (unsigned int)us;
	msb = 63 - (unsigned int)__builtin_clzll(us);	/* >= 3 */
	slot = (msb - 2) * SD_LAT_SUB + (unsigned int)((us >> (msb - 3)) & 7);
	return slot < SD_LAT_BUCKETS ? slot : SD_LAT_BUCKETS - 1;
}

/* the largest value counted in @slot */
static uint64_t lat_slot_top(unsigned int slot)
{
	unsigned int msb;

	if (slot < SD_LAT_SUB)
		return slot;
	msb = slot / SD_LAT_SUB + 2;
	return ((uint64_t)(SD_LAT_SUB + slot % SD_LAT_SUB) << (msb - 3)) +
	       ((uint64_t)1 << (msb - 3)) - 1;
}

uint64_t sd_io_stats_begin(struct sd_io_stats *s)
{
	uint64_t n = __atomic_add_fetch(&s->in_flight, 1, __ATOMIC_RELAXED);
	uint64_t max = sd_stat_get(&s->in_flight_max);

	while (n > max &&
	       !__atomic_compare_exchange_n(&s->in_flight_max, &max, n, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return sd_now_ns();
}

void sd_io_stats_end(struct sd_io_stats *s, enum sd_io_kind kind,
		     uint64_t bytes, uint64_t start_ns, int err)
{
	uint64_t now = sd_now_ns();
	unsigned int e;

	__atomic_sub_fetch(&s->in_flight, 1, __ATOMIC_RELAXED);
	sd_stat_add(&s->ops[kind], 1);
	if (err) {
		e = err < 0 && -err < SD_IO_STATS_NR_ERRNO - 1 ?
		    (unsigned int)-err : SD_IO_STATS_NR_ERRNO - 1;
		sd_stat_add(&s->errors, 1);
		sd_stat_add(&s->errnos[e], 1);
	} else if (bytes) {
		sd_stat_add(&s->bytes[kind], bytes);
	}
	sd_stat_add(&s->lat_us[lat_slot(now > start_ns ?
				    (now - start_ns) / 1000 : 0)], 1);
}

void sd_io_stats_read(const struct sd_io_stats *s, struct sd_io_stats *out)
{
	const uint64_t *src = (const uint64_t *)s;
	uint64_t *dst = (uint64_t *)out;
	size_t i;

	_Static_assert(sizeof(*s) % sizeof(uint64_t) == 0,
		       "sd_io_stats holds only uint64_t counters");
	for (i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		dst[i] = sd_stat_get(&src[i]);
}

uint64_t sd_io_stats_percentile_us(const struct sd_io_stats *s,
				   unsigned int permille)
{
	uint64_t total = 0, want, seen = 0;
	unsigned int i;

	for (i = 0; i < SD_LAT_BUCKETS; i++)
		total += s->lat_us[i];
	if (!total)
		return 0;
	/* the rank of the sample: ceil(total * permille / 1000), at least 1 */
	want = (total * permille + 999) / 1000;
	if (!want)
		want = 1;
	for (i = 0; i < SD_LAT_BUCKETS; i++) {
		seen += s->lat_us[i];
		if (seen >= want)
			return lat_slot_top(i);
	}
	return lat_slot_top(SD_LAT_BUCKETS - 1);
}

uint32_t sd_stats_result_code(unsigned int idx)
{
	if (idx < 0x20)
		return idx;
	if (idx < 0x40)
		return 0x80 + (idx - 0x20);
	return 0xffffffff;
}

/* ---- the status line format ----------------------------------------- */

/* the escaping of the host lock records (sd_hostlock.c), not strict */
void sd_stats_print_str(FILE *f, const char *key, const char *val)
{
	size_t n = sd_hl_escape(val, false, NULL, 0);
	char *buf = malloc(n + 1);

	if (!buf) {
		fprintf(f, " %s=?", key);
		return;
	}
	sd_hl_escape(val, false, buf, n + 1);
	fprintf(f, " %s=%s", key, buf);
	free(buf);
}

int sd_stats_unescape(char *s)
{
	/* in place: sd_hl_unescape() writes behind what it reads */
	return sd_hl_unescape(s, s, strlen(s) + 1);
}

static const char *const kind_names[SD_IO_NR_KINDS] = {
	[SD_IO_KIND_READ] = "reads",
	[SD_IO_KIND_WRITE] = "writes",
	[SD_IO_KIND_DISCARD] = "discards",
	[SD_IO_KIND_FLUSH] = "flushes",
	[SD_IO_KIND_OTHER] = "others",
};

static void print_u64(FILE *f, const char *key, uint64_t v)
{
	fprintf(f, " %s=%llu", key, (unsigned long long)v);
}

/* the live counters of sheep results (one slot per code) that are not 0 */
static void print_results(FILE *f, const uint64_t *results)
{
	unsigned int i;
	uint64_t n;

	for (i = 0; i < SD_CLIENT_NR_RESULTS; i++) {
		n = sd_stat_get(&results[i]);
		if (!n)
			continue;
		if (i == SD_CLIENT_NR_RESULTS - 1)
			fprintf(f, " result_other");
		else
			fprintf(f, " result_0x%02x", sd_stats_result_code(i));
		fprintf(f, "=%llu", (unsigned long long)n);
	}
}

/*
 * The VDI's own counters, and the connections' (its client's, shared by
 * every VDI on it): the address in use, reconnects, failovers
 */
static void print_vdi(FILE *f, const struct sd_vdi *v)
{
	const struct sd_vdi_stats *vs = &v->stats;
	struct sd_client_stats st;
	char addr[SD_ADDR_STR_MAX];

	sd_client_get_stats(v->c, &st);
	sd_client_addr_str(v->c, addr, sizeof(addr));
	sd_stats_print_str(f, "addr", addr);
	print_u64(f, "reconnects", st.reconnects);
	print_u64(f, "failovers", st.failovers);
	if (st.last_failover_ns)
		print_u64(f, "since_failover_s",
			  (sd_now_ns() - st.last_failover_ns) / 1000000000ULL);
	print_u64(f, "resent", sd_stat_get(&vs->resent));
	print_u64(f, "transient_retries", sd_stat_get(&vs->transient));
	print_u64(f, "timeouts", sd_stat_get(&vs->timeouts));
	print_u64(f, "bad_replies", st.bad_replies);
	print_results(f, vs->results);
}

void sd_stats_print(FILE *f, const struct sd_io_stats *s,
		    const struct sd_vdi *v)
{
	unsigned int i;
	const char *name;
	char key[40];

	for (i = 0; i < SD_IO_NR_KINDS; i++)
		print_u64(f, kind_names[i], s->ops[i]);
	print_u64(f, "read_bytes", s->bytes[SD_IO_KIND_READ]);
	print_u64(f, "write_bytes", s->bytes[SD_IO_KIND_WRITE]);
	print_u64(f, "in_flight", s->in_flight);
	print_u64(f, "in_flight_max", s->in_flight_max);
	print_u64(f, "errors", s->errors);
	for (i = 1; i < SD_IO_STATS_NR_ERRNO; i++) {
		if (!s->errnos[i])
			continue;
		name = i < SD_IO_STATS_NR_ERRNO - 1 ? strerrorname_np((int)i) :
		       NULL;
		snprintf(key, sizeof(key), "err_%s", name ? name : "other");
		print_u64(f, key, s->errnos[i]);
	}
	print_u64(f, "lat_p50_us", sd_io_stats_percentile_us(s, 500));
	print_u64(f, "lat_p99_us", sd_io_stats_percentile_us(s, 990));
	print_u64(f, "lat_p999_us", sd_io_stats_percentile_us(s, 999));
	if (v)
		print_vdi(f, v);
}

/* ---- status sockets ------------------------------------------------- */

const char *sd_status_dir(void)
{
	const char *d = getenv(SD_STATUS_DIR_ENV);

	return d && *d ? d : SD_STATUS_DIR;
}

int sd_status_listen(const char *process, char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *dir = sd_status_dir();
	int fd, ret;

	ret = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s-%d.sock",
		       dir, process, (int)getpid());
	if (ret < 0 || (size_t)ret >= sizeof(sa.sun_path)) {
		sd_set_error(ENAMETOOLONG, "status socket: directory '%s' is too long",
			     dir);
		return -ENAMETOOLONG;
	}
	snprintf(path, len, "%s", sa.sun_path);
	if (mkdir(dir, 0755) && errno != EEXIST)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	unlink(sa.sun_path);	/* left by a process of the same pid */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(sa.sun_path, 0600) || listen(fd, 16)) {
		ret = errno;
		unlink(sa.sun_path);
		close(fd);
		errno = ret;
		goto fail;
	}
	return fd;

fail:
	ret = errno;
	sd_set_error(ret, "status socket %s: %s", sa.sun_path, strerror(ret));
	return -ret;
}

void sd_status_print_header(FILE *f, const char *process)
{
	fprintf(f, SD_STATUS_MAGIC " process=%s pid=%d\n", process,
		(int)getpid());
}
