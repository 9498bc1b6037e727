/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sdctl.h - what the parts of the sdctl tool share: the parsed command
 * (address, timeout, verb options and operands), the verb table entries,
 * number/selector parsing and the connect/error helpers of sdctl.c.
 */
#ifndef SDCTL_H
#define SDCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "sheepdog.h"

/* exit status */
#define SDCTL_EXIT_OK		0
#define SDCTL_EXIT_FAIL		1	/* runtime error */
#define SDCTL_EXIT_USAGE	2	/* bad command line */

#define SDCTL_NR_CONNS		2

struct sdctl_cmd {
	const struct sdctl_verb *verb;
	const char *addr;		/* -a, else $SHEEP_ADDR, else default */
	unsigned int timeout_ms;	/* -t (0 = library default) */
	unsigned int block_shift;	/* -b (0 = cluster default) */
	bool raw;			/* -r */
	bool force;			/* -f */
	bool have_snap;			/* -s given */
	char tag[SD_VDI_TAG_MAX + 1];	/* -s TAG */
	uint32_t snapid;		/* -s SNAPID */
	int argc;			/* operands after the options */
	char **argv;
	struct sd_client *client;	/* sdctl_connect()'s, freed after
					 * the verb ran */
};

struct sdctl_verb {
	const char *name;
	const char *opts;		/* verb option letters, getopt style */
	int min_args, max_args;
	const char *synopsis;		/* after "sdctl vdi NAME " */
	const char *summary;		/* one line */
	const char *details;		/* option and operand help */
	int (*run)(struct sdctl_cmd *cmd);
};

/* verbs (sdctl_admin.c, sdctl_io.c) */
int sdctl_vdi_create(struct sdctl_cmd *cmd);
int sdctl_vdi_resize(struct sdctl_cmd *cmd);
int sdctl_vdi_snapshot(struct sdctl_cmd *cmd);
int sdctl_vdi_clone(struct sdctl_cmd *cmd);
int sdctl_vdi_list(struct sdctl_cmd *cmd);
int sdctl_vdi_delete(struct sdctl_cmd *cmd);
int sdctl_vdi_unlock(struct sdctl_cmd *cmd);
int sdctl_vdi_read(struct sdctl_cmd *cmd);
int sdctl_vdi_write(struct sdctl_cmd *cmd);

/* helpers (sdctl.c) */

/* "sdctl: <message>" on stderr; returns SDCTL_EXIT_USAGE */
int sdctl_usage_error(const struct sdctl_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "sdctl: <message>" on stderr; returns SDCTL_EXIT_FAIL */
int sdctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* report the library's last error; returns SDCTL_EXIT_FAIL */
int sdctl_lib_fail(void);

/* byte count with an optional K/M/G/T suffix (powers of 1024) */
int sdctl_parse_size(const char *s, uint64_t *out);

/* connect cmd->client (nr_conns 2, cmd->timeout_ms); SDCTL_EXIT_* */
int sdctl_connect(struct sdctl_cmd *cmd);

/* `sdctl gateway ...` (sdctl_gateway.c): the whole command; SDCTL_EXIT_* */
int sdctl_gateway_main(int argc, char **argv);

#endif
