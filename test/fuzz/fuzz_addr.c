// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_addr.c - fuzz harness for the address grammar (usr/lib/sd_addr.c).
 *
 * The input, as a NUL-terminated string, goes through sd_addr_parse,
 * sd_addr_parse_prefix and sd_target_parse.  On success every field must
 * be NUL-terminated and within its documented limit, the three parsers must
 * agree with each other, and the canonical text (sd_addr_format, plus
 * ":VDI[:TAG|:SNAPID]" for a target) must parse back to an equal result.
 * On failure the return must be -EINVAL with a non-empty, one-line,
 * printable message.  fuzz_one_addr() is also called by
 * test/unit/test_fuzz_regress.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_addr.h"
#include "sd_error.h"
#include "fuzz_check.h"

#define FA_MAX_INPUT	4096
#define FA_VDI_MAX	255

/* a failed parse: -EINVAL and one printable line */
static void fa_check_error(const char *fn, int ret)
{
	const char *msg = sd_get_error();
	size_t i, len = strlen(msg);

	FUZZ_CHECK(ret == -EINVAL, "%s failed with %d, not -EINVAL", fn, ret);
	FUZZ_CHECK(sd_get_errno() == EINVAL, "%s: sd_get_errno() is %d",
		   fn, sd_get_errno());
	FUZZ_CHECK(len > 0, "%s failed with an empty message", fn);
	for (i = 0; i < len; i++)
		FUZZ_CHECK(msg[i] >= 0x20 && msg[i] < 0x7f,
			   "%s: message byte %zu is 0x%02x (not one printable line): %s",
			   fn, i, (unsigned char)msg[i], msg);
}

static bool fa_terminated(const char *field, size_t size)
{
	return memchr(field, '\0', size) != NULL;
}

static void fa_check_addr(const char *fn, const struct sd_addr *a)
{
	FUZZ_CHECK(a->kind == SD_ADDR_UNIX || a->kind == SD_ADDR_TCP,
		   "%s: kind %d", fn, (int)a->kind);
	if (a->kind == SD_ADDR_UNIX) {
		FUZZ_CHECK(fa_terminated(a->path, sizeof(a->path)),
			   "%s: path not NUL-terminated", fn);
		FUZZ_CHECK(a->path[0] && !strchr(a->path, ':'),
			   "%s: path '%s' empty or holds ':'", fn, a->path);
	} else {
		FUZZ_CHECK(fa_terminated(a->host, sizeof(a->host)),
			   "%s: host not NUL-terminated", fn);
		FUZZ_CHECK(a->host[0], "%s: empty host", fn);
		FUZZ_CHECK(a->port >= 1, "%s: port 0", fn);
	}
}

static bool fa_addr_equal(const struct sd_addr *a, const struct sd_addr *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == SD_ADDR_UNIX)
		return !strcmp(a->path, b->path);
	return !strcmp(a->host, b->host) && a->port == b->port;
}

/* canonical text of @a; it must fit SD_ADDR_STR_MAX */
static void fa_format(const struct sd_addr *a, char *buf)
{
	sd_addr_format(a, buf, SD_ADDR_STR_MAX);
	FUZZ_CHECK(strlen(buf) < SD_ADDR_STR_MAX - 1,
		   "sd_addr_format output may be truncated: '%s'", buf);
}

static void fa_addr_roundtrip(const struct sd_addr *a)
{
	char buf[SD_ADDR_STR_MAX];
	struct sd_addr b;
	int ret;

	fa_format(a, buf);
	ret = sd_addr_parse(buf, &b);
	FUZZ_CHECK(ret == 0, "formatted address '%s' does not parse: %s",
		   buf, sd_get_error());
	FUZZ_CHECK(fa_addr_equal(a, &b), "'%s' parses to a different address",
		   buf);
}

static void fa_check_target(const struct sd_target *t)
{
	size_t vlen, tlen;

	fa_check_addr("sd_target_parse", &t->addr);
	FUZZ_CHECK(fa_terminated(t->vdi, sizeof(t->vdi)) &&
		   fa_terminated(t->tag, sizeof(t->tag)),
		   "target vdi or tag not NUL-terminated");
	vlen = strlen(t->vdi);
	tlen = strlen(t->tag);
	FUZZ_CHECK(vlen >= 1 && vlen <= FA_VDI_MAX && !strchr(t->vdi, ':'),
		   "target vdi is %zu bytes or holds ':'", vlen);
	FUZZ_CHECK(tlen <= FA_VDI_MAX && !strchr(t->tag, ':'),
		   "target tag is %zu bytes or holds ':'", tlen);
	FUZZ_CHECK(!(tlen && t->snapid), "target has both tag and snapid");
	if (tlen)
		FUZZ_CHECK(strspn(t->tag, "0123456789") != tlen,
			   "target tag '%s' is all digits (a snapid)", t->tag);
}

static void fa_target_roundtrip(const struct sd_target *t)
{
	char abuf[SD_ADDR_STR_MAX], buf[SD_ADDR_STR_MAX + 2 * 260];
	struct sd_target u;
	int ret;

	fa_format(&t->addr, abuf);
	if (t->tag[0])
		snprintf(buf, sizeof(buf), "%s:%s:%s", abuf, t->vdi, t->tag);
	else if (t->snapid)
		snprintf(buf, sizeof(buf), "%s:%s:%u", abuf, t->vdi, t->snapid);
	else
		snprintf(buf, sizeof(buf), "%s:%s", abuf, t->vdi);
	ret = sd_target_parse(buf, &u);
	FUZZ_CHECK(ret == 0, "formatted target does not parse: %s",
		   sd_get_error());
	FUZZ_CHECK(fa_addr_equal(&t->addr, &u.addr) && !strcmp(t->vdi, u.vdi) &&
		   !strcmp(t->tag, u.tag) && t->snapid == u.snapid,
		   "formatted target parses to a different target");
}

int fuzz_one_addr(const uint8_t *data, size_t size)
{
	struct sd_addr a, p;
	struct sd_target *t;
	const char *rest = NULL;
	char *s;
	int ret, pret, tret;

	if (size > FA_MAX_INPUT)
		return 0;
	s = malloc(size + 1);
	t = malloc(sizeof(*t));
	FUZZ_CHECK(s && t, "out of memory");
	memcpy(s, data, size);
	s[size] = '\0';

	sd_clear_error();
	ret = sd_addr_parse(s, &a);
	if (ret) {
		fa_check_error("sd_addr_parse", ret);
	} else {
		fa_check_addr("sd_addr_parse", &a);
		fa_addr_roundtrip(&a);
	}

	sd_clear_error();
	pret = sd_addr_parse_prefix(s, &p, &rest);
	if (pret) {
		fa_check_error("sd_addr_parse_prefix", pret);
		FUZZ_CHECK(ret != 0, "sd_addr_parse accepts what the prefix parser rejects");
	} else {
		size_t n;
		char *head;
		struct sd_addr h;

		fa_check_addr("sd_addr_parse_prefix", &p);
		FUZZ_CHECK(rest && rest > s && rest <= s + strlen(s) &&
			   (*rest == '\0' || *rest == ':'),
			   "prefix parse: rest does not point at \"\" or \":...\"");
		FUZZ_CHECK((ret == 0) == (*rest == '\0'),
			   "sd_addr_parse (%d) and the prefix parser (rest '%.20s') disagree",
			   ret, rest);
		if (ret == 0)
			FUZZ_CHECK(fa_addr_equal(&a, &p),
				   "sd_addr_parse and the prefix parser give different addresses");
		/* the prefix alone is a whole address */
		n = (size_t)(rest - s);
		head = strndup(s, n);
		FUZZ_CHECK(head, "out of memory");
		FUZZ_CHECK(sd_addr_parse(head, &h) == 0 && fa_addr_equal(&h, &p),
			   "the prefix the prefix parser consumed is not the same address alone");
		free(head);
		fa_addr_roundtrip(&p);
	}

	sd_clear_error();
	tret = sd_target_parse(s, t);
	if (tret) {
		fa_check_error("sd_target_parse", tret);
	} else {
		fa_check_target(t);
		FUZZ_CHECK(pret == 0 && fa_addr_equal(&t->addr, &p) && *rest == ':',
			   "sd_target_parse and the prefix parser disagree on the address");
		fa_target_roundtrip(t);
	}

	free(t);
	free(s);
	return 0;
}

FUZZ_ENTRY(fuzz_one_addr)
