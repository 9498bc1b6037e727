// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bs_sheepdog_opts.c - parser for the module's --bsopts string.
 *
 * The string is a list of KEY=VALUE items separated by ';' (tgtadm splits
 * its own arguments on ',', so ',' cannot appear): timeout=SECONDS,
 * connections=N, fallback=ADDR (repeatable), lock=none|normal|shared and
 * loop=tgtd|thread.
 * Unknown keys give TGTADM_UNKNOWN_PARAM, bad values TGTADM_INVALID_REQUEST;
 * either way a one-line reason is left in the caller's buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs_sheepdog.h"

static int parse_item(char *item, struct bs_sd_opts *o, char *why,
		      size_t whylen)
{
	char *eq = strchr(item, '=');
	const char *key = item, *val;
	uint64_t n;

	if (!eq) {
		snprintf(why, whylen, "'%s' is not KEY=VALUE", item);
		return TGTADM_INVALID_REQUEST;
	}
	*eq = '\0';
	val = eq + 1;

	if (!strcmp(key, "timeout")) {
		if (sd_parse_uint(key, val, 1, BS_SD_MAX_TIMEOUT_S, &n))
			goto bad_value;
		o->timeout_s = (unsigned int)n;
	} else if (!strcmp(key, "connections")) {
		if (sd_parse_uint(key, val, 1, SD_MAX_CONNS, &n))
			goto bad_value;
		o->nr_conns = (unsigned int)n;
	} else if (!strcmp(key, "lock")) {
		if (sd_lock_mode_parse(val, &o->lock))
			goto bad_value;
	} else if (!strcmp(key, "loop")) {
		if (!strcmp(val, "tgtd"))
			o->loop_thread = false;
		else if (!strcmp(val, "thread"))
			o->loop_thread = true;
		else
			goto bad_value;
	} else if (!strcmp(key, "fallback")) {
		if (o->nr_fallback >= SD_MAX_ADDRS - 1) {
			snprintf(why, whylen, "too many fallback addresses (max %d)",
				 SD_MAX_ADDRS - 1);
			return TGTADM_INVALID_REQUEST;
		}
		if (sd_addr_parse(val, &o->fallback[o->nr_fallback])) {
			snprintf(why, whylen, "%s", sd_get_error());
			return TGTADM_INVALID_REQUEST;
		}
		o->nr_fallback++;
	} else {
		snprintf(why, whylen, "unknown key '%s'", key);
		return TGTADM_UNKNOWN_PARAM;
	}
	return 0;

bad_value:
	if (!strcmp(key, "timeout"))
		snprintf(why, whylen, "bad timeout '%s' (1..%d seconds)", val,
			 BS_SD_MAX_TIMEOUT_S);
	else if (!strcmp(key, "connections"))
		snprintf(why, whylen, "bad connections '%s' (1..%d)", val,
			 SD_MAX_CONNS);
	else if (!strcmp(key, "loop"))
		snprintf(why, whylen, "bad loop '%s' (tgtd or thread)", val);
	else
		snprintf(why, whylen, "bad lock '%s' (none, normal or shared)",
			 val);
	return TGTADM_INVALID_REQUEST;
}

int bs_sd_opts_parse(const char *s, struct bs_sd_opts *o, char *why,
		     size_t whylen)
{
	char *copy, *item, *save = NULL;
	int ret = 0;

	memset(o, 0, sizeof(*o));
	o->timeout_s = BS_SD_DEFAULT_TIMEOUT_S;
	o->nr_conns = SD_DEFAULT_CONNS;
	o->lock = SD_LOCK_NORMAL;
	if (!s || !*s)
		return 0;

	copy = strdup(s);
	if (!copy) {
		snprintf(why, whylen, "out of memory");
		return TGTADM_NOMEM;
	}
	for (item = strtok_r(copy, ";", &save); item;
	     item = strtok_r(NULL, ";", &save)) {
		ret = parse_item(item, o, why, whylen);
		if (ret)
			break;
	}
	free(copy);
	return ret;
}
