// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * main.c - minisheep's entry point: command-line options, logging, start-up
 * (format or load the data directory) and the hand over to the event loop,
 * which opens the listeners, sets the nodes up and rebuilds the VDI state;
 * `--ctl PATH CMD...` runs the control client instead.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "minisheep.h"
#include "sd_addr.h"
#include "sd_error.h"

void ms_log(const char *fmt, ...)
{
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s[%d]: %s\n", tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, MS_NAME,
		(int)getpid(), buf);
}

void ms_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s --dir DIR --listen [N=]ADDR [--listen [N=]ADDR]... [--nosync]\n"
"                 [--control PATH] [--lock] [--copies N] [--block-shift N]\n"
"                 [--cluster-lag MS[:JITTER]] [--strict]\n"
"                 [--recovery MS[:NOOBJ_PERCENT]] [--workers N]\n"
"       %s --ctl PATH COMMAND [ARGS...]\n"
"ADDR is unix:PATH, tcp:HOST:PORT or tcp:[V6]:PORT; N=ADDR is a listener\n"
"of node N (1..8), plain ADDR one of node 1.  See minisheep(8).\n",
		MS_NAME, MS_NAME);
}

static int parse_int(const char *opt, const char *s, int min, int max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < min || v > max) {
		fprintf(stderr, "%s: bad %s '%s' (%d..%d)\n", MS_NAME, opt, s,
			min, max);
		exit(2);
	}
	return (int)v;
}

/*
 * Option @opt's "A[:B]": A (0..@max_a) in *@a and, when given, B
 * (0..@max_b, named "@opt @name_b" in errors) in *@b.
 */
static void parse_pair(const char *opt, const char *name_b, char *s,
		       int max_a, int max_b, unsigned int *a, unsigned int *b)
{
	char what[64], *colon = strchr(s, ':');

	if (colon) {
		*colon = '\0';
		snprintf(what, sizeof(what), "%s %s", opt, name_b);
		*b = (unsigned int)parse_int(what, colon + 1, 0, max_b);
	}
	*a = (unsigned int)parse_int(opt, s, 0, max_a);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "nosync", no_argument, NULL, 'n' },
		{ "control", required_argument, NULL, 'C' },
		{ "lock", no_argument, NULL, 'L' },
		{ "copies", required_argument, NULL, 'c' },
		{ "block-shift", required_argument, NULL, 'z' },
		{ "cluster-lag", required_argument, NULL, 'g' },
		{ "workers", required_argument, NULL, 'w' },
		{ "strict", no_argument, NULL, 'S' },
		{ "recovery", required_argument, NULL, 'R' },
		{ "ctl", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen[MS_MAX_LISTEN], *dir = NULL, *ctl = NULL;
	int listen_node[MS_MAX_LISTEN];
	int nr_listen = 0, copies = -1, shift = -1, c;
	bool lock = false, strict = false;

	while ((c = getopt_long(argc, argv, "+d:l:nC:Lc:z:g:w:SR:X:h", opts,
				NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'l':
			if (nr_listen == MS_MAX_LISTEN) {
				fprintf(stderr, "%s: at most %d --listen\n",
					MS_NAME, MS_MAX_LISTEN);
				return 2;
			}
			/* N=ADDR: a listener of node N; ADDR: of node 1 */
			listen_node[nr_listen] = 0;
			if (optarg[0] >= '1' && optarg[0] <= '9' &&
			    optarg[1] == '=') {
				listen_node[nr_listen] = optarg[0] - '1';
				if (listen_node[nr_listen] >= MS_MAX_NODES) {
					fprintf(stderr, "%s: bad node in "
						"--listen '%s' (1..%d)\n",
						MS_NAME, optarg, MS_MAX_NODES);
					return 2;
				}
				optarg += 2;
			}
			listen[nr_listen++] = optarg;
			break;
		case 'n':
			ms_nosync = true;
			break;
		case 'C':
			ctl = optarg;
			break;
		case 'L':
			lock = true;
			break;
		case 'c':
			copies = parse_int("--copies", optarg, 1, 31);
			break;
		case 'z':
			shift = parse_int("--block-shift", optarg,
					  SD_MIN_BLOCK_SHIFT,
					  SD_MAX_BLOCK_SHIFT);
			break;
		case 'g':
			parse_pair("--cluster-lag", "jitter", optarg, 60000,
				   60000, &ms_lag_ms, &ms_jitter_ms);
			break;
		case 'w':
			ms_workers = parse_int("--workers", optarg, 0,
					       MS_MAX_WORKERS);
			break;
		case 'S':
			strict = true;
			break;
		case 'R':
			parse_pair("--recovery", "percent", optarg, 600000, 100,
				   &ms_recovery_ms, &ms_recovery_pct);
			break;
		case 'X':
			return ctl_client_main(optarg, argc - optind,
					       argv + optind);
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !dir || !nr_listen) {
		if (optind != argc)
			fprintf(stderr, "%s: unexpected argument '%s'\n",
				MS_NAME, argv[optind]);
		else
			fprintf(stderr, "%s: --dir and --listen are required\n",
				MS_NAME);
		usage(stderr);
		return 2;
	}
	for (c = 0; c < nr_listen; c++) {
		struct sd_addr a;

		if (sd_addr_parse(listen[c], &a)) {
			fprintf(stderr, "%s: %s\n", MS_NAME, sd_get_error());
			return 2;
		}
	}
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "%s: cannot create %s: %s\n", MS_NAME, dir,
			strerror(errno));
		return 1;
	}
	if (strlen(dir) >= PATH_MAX - 64) {
		fprintf(stderr, "%s: directory name too long\n", MS_NAME);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cluster_load(dir, copies, shift, lock, strict) || store_init(dir))
		return 1;
	return server_run(listen, listen_node, nr_listen, ctl);
}
