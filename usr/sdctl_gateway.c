// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sdctl_gateway.c - `sdctl gateway status`: what every running gateway of
 * this host (tgtd with bs_sheepdog.so, nbdkit with the sheepdog plugin)
 * is doing.  Each such process listens on a unix socket in
 * $BS_SHEEPDOG_RUN_DIR (default /run/bs_sheepdog) and writes a snapshot of
 * its LUs or exports to whoever connects (the line format of sheepdog.h,
 * "I/O statistics"); this file reads every socket there and prints the
 * snapshots for people, as JSON, or in the Prometheus text exposition
 * format, once or every second (doc/sdctl.8, GATEWAY STATUS).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sdctl.h"

#define GW_TIMEOUT_MS		2000	/* per gateway, connect to end */
#define GW_REPLY_MAX		(16 << 20)
#define GW_SOCK_SUFFIX		".sock"

/* labels of an entry, not values (the rest of its fields are numbers) */
static const char *const gw_label_keys[] = {
	"target", "tid", "lun", "export", "vdi", "addr", NULL
};

struct gw_field {
	char *key;
	char *val;			/* unescaped */
};

/* one LU ("lu") or export ("export") */
struct gw_entry {
	char *kind;
	struct gw_field *f;
	size_t nf;
};

/* one gateway process */
struct gw_proc {
	char *sock;
	char *text;			/* the reply; fields point into it */
	struct gw_field *hdr;		/* process=, pid= */
	size_t nhdr;
	struct gw_entry *e;
	size_t ne;
};

enum gw_format { GW_HUMAN, GW_JSON, GW_PROMETHEUS };

static const char *field_get(const struct gw_field *f, size_t n,
			     const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(f[i].key, key))
			return f[i].val;
	return NULL;
}

static bool is_label(const char *key)
{
	size_t i;

	for (i = 0; gw_label_keys[i]; i++)
		if (!strcmp(gw_label_keys[i], key))
			return true;
	return false;
}

/* keys whose values are names, even when they look like numbers */
static bool is_text(const char *key)
{
	return !strcmp(key, "vdi") || !strcmp(key, "export") ||
	       !strcmp(key, "target") ||
	       !strcmp(key, "backing") || !strcmp(key, "addr") ||
	       !strcmp(key, "process");
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* ---- reading a gateway ---------------------------------------------- */

/* the whole reply of the gateway at @path, NUL-terminated; 0 or -errno */
static int gw_fetch(const char *path, char **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = GW_TIMEOUT_MS / 1000 };
	size_t len = 0, cap = 0;
	char *buf = NULL, *nb;
	ssize_t n;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			if (cap > GW_REPLY_MAX) {
				ret = -EFBIG;
				goto out;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

/* split the KEY=VALUE tokens of @line (modified in place) */
static int parse_fields(char *line, struct gw_field **out, size_t *n)
{
	struct gw_field *f = NULL, *nf;
	char *save = NULL, *tok, *eq;
	size_t cnt = 0;

	for (tok = strtok_r(line, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		eq = strchr(tok, '=');
		if (!eq || eq == tok)
			goto bad;
		*eq = '\0';
		if (sd_stats_unescape(eq + 1))
			goto bad;
		nf = realloc(f, (cnt + 1) * sizeof(*f));
		if (!nf)
			goto bad;
		f = nf;
		f[cnt].key = tok;
		f[cnt].val = eq + 1;
		cnt++;
	}
	*out = f;
	*n = cnt;
	return 0;
bad:
	free(f);
	return -EPROTO;
}

/* parse the reply in p->text: header, entries, "end" */
static int gw_parse(struct gw_proc *p)
{
	char *save = NULL, *line, *rest;
	struct gw_entry *ne;
	size_t l = strlen(SD_STATUS_MAGIC);
	bool ended = false;
	int ret;

	line = strtok_r(p->text, "\n", &save);
	if (!line || strncmp(line, SD_STATUS_MAGIC, l) ||
	    (line[l] && line[l] != ' '))
		return -EPROTO;
	ret = parse_fields(line + l, &p->hdr, &p->nhdr);
	if (ret)
		return ret;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (ended)
			return -EPROTO;
		if (!strcmp(line, "end")) {
			ended = true;
			continue;
		}
		rest = strchr(line, ' ');
		if (!rest)
			return -EPROTO;
		*rest++ = '\0';
		ne = realloc(p->e, (p->ne + 1) * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		p->e = ne;
		memset(&p->e[p->ne], 0, sizeof(*ne));
		p->e[p->ne].kind = line;
		ret = parse_fields(rest, &p->e[p->ne].f, &p->e[p->ne].nf);
		if (ret)
			return ret;
		p->ne++;
	}
	return ended ? 0 : -EPROTO;
}

static void gw_proc_free(struct gw_proc *p)
{
	size_t i;

	for (i = 0; i < p->ne; i++)
		free(p->e[i].f);
	free(p->e);
	free(p->hdr);
	free(p->text);
	free(p->sock);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Every gateway of the directory, sorted by socket name.  A socket nobody
 * listens on any more (its process died) is skipped; any other failure is
 * reported and makes the result SDCTL_EXIT_FAIL.
 */
static int gw_collect(struct gw_proc **out, size_t *nout)
{
	const char *dir = sd_status_dir();
	struct gw_proc *procs = NULL, *np;
	char **names = NULL, **nn;
	size_t nnames = 0, n = 0, i, l;
	struct dirent *de;
	int ret = SDCTL_EXIT_OK, err;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		*out = NULL;
		*nout = 0;
		if (errno == ENOENT)
			return SDCTL_EXIT_OK;	/* no gateway ever ran */
		return sdctl_fail("%s: %s", dir, strerror(errno));
	}
	while ((de = readdir(d))) {
		l = strlen(de->d_name);
		if (l <= strlen(GW_SOCK_SUFFIX) ||
		    strcmp(de->d_name + l - strlen(GW_SOCK_SUFFIX),
			   GW_SOCK_SUFFIX))
			continue;
		nn = realloc(names, (nnames + 1) * sizeof(*names));
		if (!nn || asprintf(&nn[nnames], "%s/%s", dir, de->d_name) < 0) {
			names = nn ? nn : names;
			closedir(d);
			ret = sdctl_fail("out of memory");
			goto out;
		}
		names = nn;
		nnames++;
	}
	closedir(d);
	if (nnames)
		qsort(names, nnames, sizeof(*names), name_cmp);
	procs = calloc(nnames ? nnames : 1, sizeof(*procs));
	if (!procs) {
		ret = sdctl_fail("out of memory");
		goto out;
	}
	for (i = 0; i < nnames; i++) {
		np = &procs[n];
		memset(np, 0, sizeof(*np));
		err = gw_fetch(names[i], &np->text);
		if (err == -ECONNREFUSED || err == -ENOENT)
			continue;	/* its process is gone */
		if (!err)
			err = gw_parse(np);
		if (err) {
			sdctl_fail("%s: %s", names[i], strerror(-err));
			ret = SDCTL_EXIT_FAIL;
			gw_proc_free(np);
			continue;
		}
		np->sock = names[i];
		names[i] = NULL;
		n++;
	}
out:
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	*out = procs;
	*nout = n;
	return ret;
}

/* ---- printing: people ----------------------------------------------- */

static void print_human(const struct gw_proc *p, size_t n)
{
	const char *v, *proc, *pid;
	const struct gw_entry *e;
	size_t i, j, k, col;

	if (!n)
		printf("no gateway is running (no status socket in %s)\n",
		       sd_status_dir());
	for (i = 0; i < n; i++) {
		proc = field_get(p[i].hdr, p[i].nhdr, "process");
		pid = field_get(p[i].hdr, p[i].nhdr, "pid");
		printf("%s pid %s (%s): %zu %s\n", proc ? proc : "?",
		       pid ? pid : "?", p[i].sock, p[i].ne,
		       p[i].ne == 1 ? "entry" : "entries");
		for (j = 0; j < p[i].ne; j++) {
			e = &p[i].e[j];
			printf("  %s", e->kind);
			for (k = 0; gw_label_keys[k]; k++) {
				v = field_get(e->f, e->nf, gw_label_keys[k]);
				if (v)
					printf(" %s=%s", gw_label_keys[k], v);
			}
			v = field_get(e->f, e->nf, "since_failover_s");
			printf("  last failover: %s%s\n", v ? v : "never",
			       v ? " s ago" : "");
			col = 0;
			for (k = 0; k < e->nf; k++) {
				if (is_label(e->f[k].key) ||
				    !is_number(e->f[k].val) ||
				    !strcmp(e->f[k].key, "since_failover_s"))
					continue;
				if (col == 0)
					printf("   ");
				printf(" %s=%s", e->f[k].key, e->f[k].val);
				if (++col == 5) {
					printf("\n");
					col = 0;
				}
			}
			if (col)
				printf("\n");
		}
	}
}

/* ---- printing: JSON -------------------------------------------------- */

static void json_str(const char *s)
{
	const unsigned char *c;

	putchar('"');
	for (c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

static void json_fields(const struct gw_field *f, size_t n, bool first)
{
	size_t i;

	for (i = 0; i < n; i++) {
		printf("%s", first && !i ? "" : ", ");
		json_str(f[i].key);
		printf(": ");
		if (is_number(f[i].val) && !is_text(f[i].key))
			printf("%s", f[i].val);
		else
			json_str(f[i].val);
	}
}

static void print_json(const struct gw_proc *p, size_t n)
{
	size_t i, j;

	printf("{\"gateways\": [");
	for (i = 0; i < n; i++) {
		printf("%s\n  {\"socket\": ", i ? "," : "");
		json_str(p[i].sock);
		json_fields(p[i].hdr, p[i].nhdr, false);
		printf(", \"entries\": [");
		for (j = 0; j < p[i].ne; j++) {
			printf("%s\n    {\"kind\": ", j ? "," : "");
			json_str(p[i].e[j].kind);
			json_fields(p[i].e[j].f, p[i].e[j].nf, false);
			printf("}");
		}
		printf("]}");
	}
	printf("\n]}\n");
}

/* ---- printing: Prometheus ------------------------------------------- */

/*
 * The metric families: a status key, or a prefix whose rest becomes the
 * label @label; gauges are the fields that are not counts.
 */
static const struct gw_family {
	const char *key;		/* exact key, or prefix ending in '_' */
	const char *name;		/* after "sheepdog_gateway_" */
	const char *label;		/* for a prefix: the label of the rest */
	bool gauge;
	bool us_to_s;			/* microseconds, shown in seconds */
	const char *help;
} gw_families[] = {
	{ "reads", "reads", NULL, false, false, "Read commands completed." },
	{ "writes", "writes", NULL, false, false, "Write commands completed." },
	{ "discards", "discards", NULL, false, false,
	  "Discard and zeroing commands completed." },
	{ "flushes", "flushes", NULL, false, false, "Cache flushes completed." },
	{ "others", "others", NULL, false, false, "Other commands completed." },
	{ "read_bytes", "read_bytes", NULL, false, false, "Bytes read." },
	{ "write_bytes", "write_bytes", NULL, false, false, "Bytes written." },
	{ "in_flight", "in_flight", NULL, true, false, "Commands in flight now." },
	{ "in_flight_max", "in_flight_max", NULL, true, false,
	  "Most commands in flight at once." },
	{ "errors", "errors", NULL, false, false,
	  "Commands that failed to the initiator or client." },
	{ "err_", "errors_by_errno", "errno", false, false,
	  "Failed commands by errno." },
	{ "sense_", "sense_keys", "key", false, false,
	  "CHECK CONDITION statuses by sense key." },
	{ "lat_p50_us", "latency_p50_seconds", NULL, true, true,
	  "Median command latency." },
	{ "lat_p99_us", "latency_p99_seconds", NULL, true, true,
	  "99th percentile of command latency." },
	{ "lat_p999_us", "latency_p999_seconds", NULL, true, true,
	  "99.9th percentile of command latency." },
	{ "reconnects", "reconnects", NULL, false, false,
	  "Sheep connections up again after a loss (client)." },
	{ "failovers", "failovers", NULL, false, false,
	  "Changes of the sheep address in use (client)." },
	{ "since_failover_s", "since_failover_seconds", NULL, true, false,
	  "Seconds since the last failover (client)." },
	{ "resent", "resent", NULL, false, false,
	  "Requests sent again after a lost connection (client)." },
	{ "transient_retries", "transient_retries", NULL, false, false,
	  "Requests retried after a transient sheep result (client)." },
	{ "timeouts", "timeouts", NULL, false, false,
	  "Requests that timed out (client)." },
	{ "bad_replies", "bad_replies", NULL, false, false,
	  "Malformed sheep replies (client)." },
	{ "result_", "sheep_results", "result", false, false,
	  "Sheep replies by result code (client)." },
};

#define GW_NR_FAMILIES (sizeof(gw_families) / sizeof(gw_families[0]))

/* the family of @key and, for a prefix family, the label value in *rest */
static const struct gw_family *family_of(const char *key, const char **rest)
{
	size_t i, l;

	for (i = 0; i < GW_NR_FAMILIES; i++) {
		l = strlen(gw_families[i].key);
		if (gw_families[i].label ?
		    !strncmp(key, gw_families[i].key, l) && key[l] :
		    !strcmp(key, gw_families[i].key)) {
			*rest = key + l;
			return &gw_families[i];
		}
	}
	return NULL;
}

static void prom_label(const char *name, const char *val, bool *first)
{
	const char *c;

	printf("%s%s=\"", *first ? "{" : ",", name);
	*first = false;
	for (c = val; *c; c++) {
		if (*c == '\\' || *c == '"')
			printf("\\%c", *c);
		else if (*c == '\n')
			printf("\\n");
		else
			putchar(*c);
	}
	putchar('"');
}

/* one sample of @fam: field @f of entry @e of gateway @p, @rest its label */
static void prom_sample(const struct gw_family *fam, const char *rest,
			const struct gw_proc *p, const struct gw_entry *e,
			const struct gw_field *f)
{
	unsigned long long us;
	const char *v;
	bool first = true;
	size_t l;

	printf("sheepdog_gateway_%s%s", fam->name, fam->gauge ? "" : "_total");
	v = field_get(p->hdr, p->nhdr, "process");
	prom_label("process", v ? v : "", &first);
	v = field_get(p->hdr, p->nhdr, "pid");
	prom_label("pid", v ? v : "", &first);
	for (l = 0; gw_label_keys[l]; l++) {
		v = field_get(e->f, e->nf, gw_label_keys[l]);
		if (v)
			prom_label(gw_label_keys[l], v, &first);
	}
	if (fam->label)
		prom_label(fam->label, rest, &first);
	if (fam->us_to_s) {
		us = strtoull(f->val, NULL, 10);
		printf("} %llu.%06llu\n", us / 1000000, us % 1000000);
	} else {
		printf("} %s\n", f->val);
	}
}

static void print_prometheus(const struct gw_proc *p, size_t n)
{
	const struct gw_family *fam;
	const struct gw_entry *e;
	const char *rest = "";
	size_t fi, i, j, k;
	bool header;

	/* family by family: a family's samples must be together */
	for (fi = 0; fi < GW_NR_FAMILIES; fi++) {
		header = false;
		for (i = 0; i < n; i++) {
			for (j = 0; j < p[i].ne; j++) {
				e = &p[i].e[j];
				for (k = 0; k < e->nf; k++) {
					fam = family_of(e->f[k].key, &rest);
					if (fam != &gw_families[fi] ||
					    !is_number(e->f[k].val))
						continue;
					if (!header)
						printf("# HELP sheepdog_gateway_%s%s %s\n"
						       "# TYPE sheepdog_gateway_%s%s %s\n",
						       fam->name,
						       fam->gauge ? "" : "_total",
						       fam->help, fam->name,
						       fam->gauge ? "" : "_total",
						       fam->gauge ? "gauge" :
						       "counter");
					header = true;
					prom_sample(fam, rest, &p[i], e,
						    &e->f[k]);
				}
			}
		}
	}
}

/* ---- the verb -------------------------------------------------------- */

static void gw_usage(FILE *f)
{
	fprintf(f,
		"Usage: sdctl gateway status [--json | --prometheus] [--watch]\n"
		"  What every gateway of this host (tgtd with bs_sheepdog.so,\n"
		"  nbdkit with the sheepdog plugin) is doing, from their status\n"
		"  sockets in $" SD_STATUS_DIR_ENV " (default " SD_STATUS_DIR ").\n"
		"  -j, --json               one JSON document\n"
		"  -p, --prometheus         Prometheus text exposition format\n"
		"  -w, --watch              print again every second until\n"
		"                           interrupted\n");
}

static int gw_status_once(enum gw_format fmt, bool watch)
{
	struct gw_proc *procs;
	size_t n, i;
	int ret;

	ret = gw_collect(&procs, &n);
	if (watch && fmt == GW_HUMAN)
		printf("\033[H\033[2J");
	if (fmt == GW_JSON)
		print_json(procs, n);
	else if (fmt == GW_PROMETHEUS)
		print_prometheus(procs, n);
	else
		print_human(procs, n);
	fflush(stdout);
	for (i = 0; i < n; i++)
		gw_proc_free(&procs[i]);
	free(procs);
	return ret;
}

/* argv[0] is "gateway" */
int sdctl_gateway_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "watch", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum gw_format fmt = GW_HUMAN;
	bool watch = false;
	int c, ret;

	if (argc < 2) {
		fprintf(stderr, "sdctl: gateway: missing verb (try 'sdctl gateway status --help')\n");
		return SDCTL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		gw_usage(stdout);
		return SDCTL_EXIT_OK;
	}
	if (strcmp(argv[1], "status")) {
		fprintf(stderr, "sdctl: gateway: unknown verb '%s' (try 'sdctl gateway status --help')\n",
			argv[1]);
		return SDCTL_EXIT_USAGE;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, ":jpwh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
		case 'p':
			if (fmt != GW_HUMAN) {
				fprintf(stderr, "sdctl: gateway status: --json and --prometheus exclude each other\n");
				return SDCTL_EXIT_USAGE;
			}
			fmt = c == 'j' ? GW_JSON : GW_PROMETHEUS;
			break;
		case 'w':
			watch = true;
			break;
		case 'h':
			gw_usage(stdout);
			return SDCTL_EXIT_OK;
		default:
			fprintf(stderr, "sdctl: gateway status: bad option '%s' (try 'sdctl gateway status --help')\n",
				argv[optind]);	/* argv[1 + optind - 1] */
			return SDCTL_EXIT_USAGE;
		}
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "sdctl: gateway status: unexpected argument '%s'\n",
			argv[optind + 1]);
		return SDCTL_EXIT_USAGE;
	}
	for (;;) {
		ret = gw_status_once(fmt, watch);
		if (!watch)
			return ret;
		sleep(1);
	}
}
