// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sdctl.c - command line front of the sdctl VDI tool: the verb table, usage
 * and help texts, option and number parsing, and connecting to the sheep.
 * The verbs themselves live in sdctl_admin.c (create, snapshot, clone,
 * list, delete, unlock) and sdctl_io.c (read, write).  Usage errors print
 * one line and exit 2, runtime errors print one line and exit 1.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdctl.h"

#define SDCTL_MAX_TIMEOUT_S	86400

static const struct sdctl_verb sdctl_verbs[] = {
	{
		.name = "create", .opts = "b:", .min_args = 2, .max_args = 2,
		.synopsis = "[-b SHIFT] NAME SIZE",
		.summary = "create a VDI",
		.details =
		"  -b, --block-shift SHIFT  object size 2^SHIFT bytes, 20..31\n"
		"                           (default: the cluster's, usually 22)\n"
		"  SIZE                     bytes, a multiple of 512; suffixes\n"
		"                           K, M, G, T are powers of 1024\n",
		.run = sdctl_vdi_create,
	},
	{
		.name = "resize", .opts = "", .min_args = 2, .max_args = 2,
		.synopsis = "NAME SIZE",
		.summary = "grow a VDI",
		.details =
		"  SIZE                     the new size in bytes, a multiple of\n"
		"                           512, not below the current one, at\n"
		"                           most 2^20 objects; K, M, G, T\n"
		"                           suffixes.  Open gateways notice it\n",
		.run = sdctl_vdi_resize,
	},
	{
		.name = "snapshot", .opts = "s:", .min_args = 1, .max_args = 1,
		.synopsis = "[-s TAG] NAME",
		.summary = "snapshot the working VDI under TAG",
		.details =
		"  -s, --snapshot TAG       tag of the new snapshot (not all\n"
		"                           digits); without it the snapshot is\n"
		"                           only addressed by its id\n",
		.run = sdctl_vdi_snapshot,
	},
	{
		.name = "clone", .opts = "s:", .min_args = 2, .max_args = 2,
		.synopsis = "-s TAG|SNAPID SRC DST",
		.summary = "create VDI DST from a snapshot of SRC",
		.details =
		"  -s, --snapshot TAG|ID    the source snapshot (required)\n",
		.run = sdctl_vdi_clone,
	},
	{
		.name = "list", .opts = "r", .min_args = 0, .max_args = 0,
		.synopsis = "[-r]",
		.summary = "list VDIs and snapshots",
		.details =
		"  -r, --raw                one line per VDI, space separated,\n"
		"                           strings double-quoted, sizes in bytes\n",
		.run = sdctl_vdi_list,
	},
	{
		.name = "delete", .opts = "s:", .min_args = 1, .max_args = 1,
		.synopsis = "[-s TAG|SNAPID] NAME",
		.summary = "delete the working VDI or a snapshot",
		.details =
		"  -s, --snapshot TAG|ID    delete that snapshot instead of the\n"
		"                           working VDI\n",
		.run = sdctl_vdi_delete,
	},
	{
		.name = "unlock", .opts = "fs:", .min_args = 1, .max_args = 1,
		.synopsis = "[-f] [-s TAG|SNAPID] NAME",
		.summary = "release a VDI lock left by a dead gateway",
		.details =
		"  -f, --force              release it even while a process of\n"
		"                           this host has the VDI open\n"
		"  -s, --snapshot TAG|ID    unlock that snapshot's vid instead\n"
		"                           of the working VDI\n"
		"  Releases the lock as 'dog vdi lock unlock' does: a normal\n"
		"  lock whichever sheep node holds it; a shared lock only for\n"
		"  the sheep node at ADDR.  Make sure the gateway that held it\n"
		"  is dead first.\n",
		.run = sdctl_vdi_unlock,
	},
	{
		.name = "read", .opts = "s:", .min_args = 1, .max_args = 3,
		.synopsis = "[-s TAG|SNAPID] NAME [OFFSET [LEN]]",
		.summary = "copy VDI data to standard output",
		.details =
		"  -s, --snapshot TAG|ID    read that snapshot\n"
		"  OFFSET, LEN              bytes (K/M/G/T suffixes); default:\n"
		"                           from 0, up to the end of the VDI\n",
		.run = sdctl_vdi_read,
	},
	{
		.name = "write", .opts = "", .min_args = 1, .max_args = 3,
		.synopsis = "NAME [OFFSET [LEN]]",
		.summary = "copy standard input into the VDI",
		.details =
		"  OFFSET, LEN              bytes (K/M/G/T suffixes); writes\n"
		"                           until end of input or LEN bytes;\n"
		"                           never past the end of the VDI\n",
		.run = sdctl_vdi_write,
	},
};

#define SDCTL_NR_VERBS (sizeof(sdctl_verbs) / sizeof(sdctl_verbs[0]))

static const char sdctl_common_help[] =
	"  -a, --address ADDR       sheep address: unix:PATH, tcp:HOST:PORT or\n"
	"                           tcp:[V6]:PORT (default: $SHEEP_ADDR, else\n"
	"                           " SD_DEFAULT_ADDR ")\n"
	"  -t, --timeout SECONDS    per-request timeout (default 15)\n"
	"  -h, --help               show this help\n";

static void sdctl_print_main_usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: sdctl [-a ADDR] [-t SECONDS] vdi VERB [OPTIONS] ARGS\n"
		   "\nVerbs:\n");
	for (i = 0; i < SDCTL_NR_VERBS; i++)
		fprintf(f, "  vdi %-9s %-36s %s\n", sdctl_verbs[i].name,
			sdctl_verbs[i].synopsis, sdctl_verbs[i].summary);
	fprintf(f, "\nCommon options (before 'vdi' or after the verb):\n%s"
		   "\n'sdctl vdi VERB --help' describes one verb.\n",
		sdctl_common_help);
	fprintf(f, "\n'sdctl gateway status --help': what the gateways (tgtd, nbdkit)\n"
		   "of this host are doing.\n");
}

static void sdctl_print_verb_usage(const struct sdctl_verb *v)
{
	printf("Usage: sdctl vdi %s [-a ADDR] [-t SECONDS] %s\n"
	       "\n%c%s.\n\nOptions:\n%s%s", v->name, v->synopsis,
	       toupper((unsigned char)v->summary[0]), v->summary + 1,
	       v->details, sdctl_common_help);
}

/* ---- messages --------------------------------------------------------- */

int sdctl_usage_error(const struct sdctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("sdctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd && cmd->verb)
		fprintf(stderr, " (try 'sdctl vdi %s --help')\n",
			cmd->verb->name);
	else
		fputs(" (try 'sdctl --help')\n", stderr);
	return SDCTL_EXIT_USAGE;
}

int sdctl_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("sdctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return SDCTL_EXIT_FAIL;
}

/*
 * The library's message as it is: it names the VDI, and a failure to reach
 * the sheep names the sheep's address ("READ_VDIS to tcp:...: ...").
 */
int sdctl_lib_fail(void)
{
	const char *msg = sd_get_error();
	int e = sd_get_errno();

	if (!*msg)
		msg = e ? strerror(e) : "unknown error";
	return sdctl_fail("%s", msg);
}

/* ---- numbers ---------------------------------------------------------- */

int sdctl_parse_size(const char *s, uint64_t *out)
{
	const char *end = s + strspn(s, "0123456789");
	unsigned int shift = 0;
	uint64_t v;

	if (sd_parse_uint_n("size", s, end - s, 0, UINT64_MAX, &v))
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* -s TAG|SNAPID: all digits is a snapshot id, anything else a tag */
static int sdctl_parse_snap(struct sdctl_cmd *cmd, const char *s)
{
	if (sd_parse_snapshot(s, strlen(s), cmd->tag, &cmd->snapid))
		return sdctl_usage_error(cmd, "%s", sd_get_error());
	cmd->have_snap = true;
	return SDCTL_EXIT_OK;
}

/* ---- connecting ------------------------------------------------------- */

int sdctl_connect(struct sdctl_cmd *cmd)
{
	struct sd_client_opts o;
	struct sd_addr a;

	if (sd_addr_parse(cmd->addr, &a) < 0)
		return sdctl_usage_error(cmd, "%s", sd_get_error());
	memset(&o, 0, sizeof(o));
	o.addrs = &a;
	o.nr_addrs = 1;
	o.nr_conns = SDCTL_NR_CONNS;
	o.timeout_ms = cmd->timeout_ms;
	if (sd_client_new(&o, &cmd->client) < 0)
		return sdctl_lib_fail();
	return SDCTL_EXIT_OK;
}

/* ---- options ---------------------------------------------------------- */

static const struct option sdctl_all_longopts[] = {
	{ "address", required_argument, NULL, 'a' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "block-shift", required_argument, NULL, 'b' },
	{ "snapshot", required_argument, NULL, 's' },
	{ "raw", no_argument, NULL, 'r' },
	{ "force", no_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 },
};

#define SDCTL_NR_LONGOPTS \
	(sizeof(sdctl_all_longopts) / sizeof(sdctl_all_longopts[0]))

/* Options common to every position: -a, -t.  SDCTL_EXIT_* */
static int sdctl_common_opt(struct sdctl_cmd *cmd, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 'a':
		cmd->addr = arg;
		return SDCTL_EXIT_OK;
	case 't':
		if (sd_parse_uint("timeout", arg, 1, SDCTL_MAX_TIMEOUT_S, &v))
			return sdctl_usage_error(cmd,
				"bad timeout '%s' (1..%d seconds)", arg,
				SDCTL_MAX_TIMEOUT_S);
		cmd->timeout_ms = (unsigned int)v * 1000;
		return SDCTL_EXIT_OK;
	}
	return -1;
}

static int sdctl_bad_opt(struct sdctl_cmd *cmd, char **argv, int c)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return sdctl_usage_error(cmd, "option '%s' needs a value",
					 arg);
	if (optopt)
		return sdctl_usage_error(cmd, "unknown option '-%c'", optopt);
	return sdctl_usage_error(cmd, "unknown option '%s'", arg);
}

/* Parse the verb's options and operands from argv[0] = verb name. */
static int sdctl_parse_verb(struct sdctl_cmd *cmd, int argc, char **argv)
{
	const struct sdctl_verb *v = cmd->verb;
	struct option longopts[SDCTL_NR_LONGOPTS];
	char shortopts[32];
	size_t i, n = 0;
	uint64_t shift;
	int c, ret;

	snprintf(shortopts, sizeof(shortopts), ":a:t:h%s", v->opts);
	for (i = 0; sdctl_all_longopts[i].name; i++)
		if (strchr(shortopts + 1, sdctl_all_longopts[i].val))
			longopts[n++] = sdctl_all_longopts[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));

	optind = 0;	/* full re-initialisation (glibc) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			sdctl_print_verb_usage(v);
			exit(SDCTL_EXIT_OK);
		case 'b':
			if (sd_parse_uint("block shift", optarg,
					  SD_MIN_BLOCK_SHIFT, SD_MAX_BLOCK_SHIFT,
					  &shift))
				return sdctl_usage_error(cmd,
					"bad block shift '%s' (%d..%d)", optarg,
					SD_MIN_BLOCK_SHIFT, SD_MAX_BLOCK_SHIFT);
			cmd->block_shift = (unsigned int)shift;
			break;
		case 's':
			ret = sdctl_parse_snap(cmd, optarg);
			if (ret)
				return ret;
			break;
		case 'r':
			cmd->raw = true;
			break;
		case 'f':
			cmd->force = true;
			break;
		case ':':
		case '?':
			return sdctl_bad_opt(cmd, argv, c);
		default:
			ret = sdctl_common_opt(cmd, c, optarg);
			if (ret)
				return ret;
			break;
		}
	}
	cmd->argc = argc - optind;
	cmd->argv = argv + optind;
	if (cmd->argc < v->min_args)
		return sdctl_usage_error(cmd, "vdi %s: missing %s", v->name,
					 cmd->argc ? "arguments" : "argument");
	if (cmd->argc > v->max_args)
		return sdctl_usage_error(cmd, "vdi %s: unexpected argument '%s'",
					 v->name, cmd->argv[v->max_args]);
	return SDCTL_EXIT_OK;
}

static const struct sdctl_verb *sdctl_find_verb(const char *name)
{
	size_t i;

	for (i = 0; i < SDCTL_NR_VERBS; i++)
		if (!strcmp(sdctl_verbs[i].name, name))
			return &sdctl_verbs[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option mainopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sdctl_cmd cmd;
	const char *env;
	int c, ret;

	memset(&cmd, 0, sizeof(cmd));
	env = getenv("SHEEP_ADDR");
	cmd.addr = env && *env ? env : SD_DEFAULT_ADDR;

	/* global options up to the first operand ("vdi") */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:a:t:h", mainopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			sdctl_print_main_usage(stdout);
			return SDCTL_EXIT_OK;
		case ':':
		case '?':
			return sdctl_bad_opt(&cmd, argv, c);
		default:
			ret = sdctl_common_opt(&cmd, c, optarg);
			if (ret)
				return ret;
			break;
		}
	}
	if (optind >= argc)
		return sdctl_usage_error(&cmd, "missing command");
	/* sdctl_gateway.c: the gateways of this host, no sheep address */
	if (!strcmp(argv[optind], "gateway"))
		return sdctl_gateway_main(argc - optind, argv + optind);
	if (strcmp(argv[optind], "vdi"))
		return sdctl_usage_error(&cmd, "unknown command '%s'",
					 argv[optind]);
	optind++;
	if (optind >= argc)
		return sdctl_usage_error(&cmd, "vdi: missing verb");
	if (!strcmp(argv[optind], "--help") || !strcmp(argv[optind], "-h") ||
	    !strcmp(argv[optind], "help")) {
		sdctl_print_main_usage(stdout);
		return SDCTL_EXIT_OK;
	}
	cmd.verb = sdctl_find_verb(argv[optind]);
	if (!cmd.verb)
		return sdctl_usage_error(&cmd, "vdi: unknown verb '%s'",
					 argv[optind]);
	ret = sdctl_parse_verb(&cmd, argc - optind, argv + optind);
	if (ret)
		return ret;
	ret = cmd.verb->run(&cmd);
	if (cmd.client)
		sd_client_free(cmd.client);
	return ret;
}
