// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bs_sheepdog_desc.c - backing-store descriptor files of the tgt module.
 *
 * Stock tgt-admin only passes a backing store to tgtadm when it exists as a
 * file, so a targets.conf entry may name a small descriptor file (an
 * absolute path, e.g. /etc/tgt/sheepdog/vol0.conf) instead of a backing-store
 * string.  The file holds "KEY = VALUE" lines: backing-store (required, the
 * ADDR:VDI[:TAG|:SNAPID] string) and bsopts (optional, the --bsopts syntax);
 * blank lines and lines starting with '#' are ignored.  The descriptor's
 * bsopts apply only when the LU was created without --bsopts; an explicit
 * --bsopts wins as a whole (the file's bsopts are still checked).  Reading
 * happens on tgtd's main thread inside bs_open: the file is local and at
 * most BS_SD_DESC_MAX bytes.  Every failure logs exactly one line naming
 * the file (and line).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bs_sheepdog.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* trim blanks at both ends of [*s, *e) */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

static int copy_value(const char *s, const char *e, char *out, size_t outlen,
		      const char *key, char *why, size_t whylen)
{
	const char *p;

	if (s == e) {
		snprintf(why, whylen, "empty value of '%s'", key);
		return -1;
	}
	if ((size_t)(e - s) >= outlen) {
		snprintf(why, whylen, "value of '%s' longer than %zu bytes",
			 key, outlen - 1);
		return -1;
	}
	for (p = s; p < e; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			snprintf(why, whylen, "control character in '%s'",
				 key);
			return -1;
		}
	}
	memcpy(out, s, e - s);
	out[e - s] = '\0';
	return 0;
}

/* one non-comment line [s, e) */
static int parse_line(const char *s, const char *e, struct bs_sd_desc *d,
		      char *why, size_t whylen)
{
	const char *eq = memchr(s, '=', e - s);
	const char *ks = s, *ke, *vs, *ve = e;
	size_t klen;

	if (!eq) {
		snprintf(why, whylen, "not KEY = VALUE");
		return -1;
	}
	ke = eq;
	vs = eq + 1;
	trim(&ks, &ke);
	trim(&vs, &ve);
	klen = ke - ks;

	if (klen == strlen("backing-store") &&
	    !memcmp(ks, "backing-store", klen)) {
		if (d->target[0]) {
			snprintf(why, whylen, "'backing-store' given twice");
			return -1;
		}
		return copy_value(vs, ve, d->target, sizeof(d->target),
				  "backing-store", why, whylen);
	}
	if (klen == strlen("bsopts") && !memcmp(ks, "bsopts", klen)) {
		if (d->has_bsopts) {
			snprintf(why, whylen, "'bsopts' given twice");
			return -1;
		}
		d->has_bsopts = true;
		return copy_value(vs, ve, d->bsopts, sizeof(d->bsopts),
				  "bsopts", why, whylen);
	}
	if (klen > 64)
		klen = 64;
	snprintf(why, whylen, "unknown key '%.*s' (backing-store or bsopts)",
		 (int)klen, ks);
	return -1;
}

int bs_sd_desc_parse(const char *buf, size_t len, struct bs_sd_desc *d,
		     char *why, size_t whylen)
{
	const char *p = buf, *end = buf + len, *nl, *s, *e;
	unsigned int line = 0;
	char lwhy[256];

	memset(d, 0, sizeof(*d));
	if (memchr(buf, '\0', len)) {
		snprintf(why, whylen, "binary data (NUL byte)");
		return -1;
	}
	while (p < end) {
		line++;
		nl = memchr(p, '\n', end - p);
		s = p;
		e = nl ? nl : end;
		p = nl ? nl + 1 : end;
		if (e > s && e[-1] == '\r')
			e--;
		trim(&s, &e);
		if (s == e || *s == '#')
			continue;
		if (parse_line(s, e, d, lwhy, sizeof(lwhy))) {
			snprintf(why, whylen, "line %u: %s", line, lwhy);
			return -1;
		}
	}
	if (!d->target[0]) {
		snprintf(why, whylen, "no 'backing-store = ADDR:VDI' line");
		return -1;
	}
	return 0;
}

/* read the whole file (at most BS_SD_DESC_MAX bytes) into buf */
static int read_file(const char *path, char *buf, size_t *len, char *why,
		     size_t whylen)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, ret = -1;

	/* O_NONBLOCK: a FIFO must not block tgtd's main thread */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st)) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "not a regular file");
		goto out;
	}
	for (;;) {
		n = read(fd, buf + got, BS_SD_DESC_MAX + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			goto out;
		}
		if (!n)
			break;
		got += n;
		if (got > BS_SD_DESC_MAX) {
			snprintf(why, whylen, "larger than %d bytes",
				 BS_SD_DESC_MAX);
			goto out;
		}
	}
	*len = got;
	ret = 0;
out:
	close(fd);
	return ret;
}

/* a descriptor path: read, parse and check it, then apply its bsopts */
static int resolve_descriptor(struct bs_sd_lu *sl, const char *path,
			      struct sd_target *t)
{
	char buf[BS_SD_DESC_MAX + 1];
	char why[SD_ERROR_MAX];
	struct bs_sd_desc *d;
	struct bs_sd_opts o;
	size_t len;
	int ret = -1;

	d = malloc(sizeof(*d));
	if (!d) {
		log_error("bs_sheepdog: descriptor %s: out of memory\n", path);
		return -1;
	}
	if (read_file(path, buf, &len, why, sizeof(why))) {
		log_error("bs_sheepdog: cannot read descriptor %s: %s\n", path,
			  why);
		goto out;
	}
	if (bs_sd_desc_parse(buf, len, d, why, sizeof(why))) {
		log_error("bs_sheepdog: bad descriptor %s: %s\n", path, why);
		goto out;
	}
	if (sd_target_parse(d->target, t)) {
		log_error("bs_sheepdog: bad descriptor %s: backing-store: %s\n",
			  path, sd_get_error());
		goto out;
	}
	if (d->has_bsopts &&
	    bs_sd_opts_parse(d->bsopts, &o, why, sizeof(why))) {
		log_error("bs_sheepdog: bad descriptor %s: bsopts '%s': %s\n",
			  path, d->bsopts, why);
		goto out;
	}
	if (!sl->bsopts_given) {
		/* no --bsopts: the file's bsopts, or the defaults */
		if (!d->has_bsopts)
			bs_sd_opts_parse(NULL, &o, why, sizeof(why));
		sl->opts = o;
	} else if (d->has_bsopts && is_debug) {
		log_debug("bs_sheepdog: %s: --bsopts given, the descriptor's bsopts are ignored\n",
			  path);
	}
	if (is_debug)
		log_debug("bs_sheepdog: descriptor %s: backing-store %s%s%s\n",
			  path, d->target, d->has_bsopts ? ", bsopts " : "",
			  d->has_bsopts ? d->bsopts : "");
	ret = 0;
out:
	free(d);
	return ret;
}

int bs_sd_target_resolve(struct bs_sd_lu *sl, const char *path,
			 struct sd_target *t)
{
	char why[SD_ERROR_MAX];

	if (path[0] == '/')
		return resolve_descriptor(sl, path, t);

	/* a plain string: undo the bsopts an earlier descriptor applied */
	if (!sl->bsopts_given)
		bs_sd_opts_parse(NULL, &sl->opts, why, sizeof(why));
	if (sd_target_parse(path, t)) {
		/* the grammar's messages quote the string already */
		sd_error_context("bad backing store '%s'", path);
		log_error("bs_sheepdog: %s\n", sd_get_error());
		return -1;
	}
	return 0;
}
