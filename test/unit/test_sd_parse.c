// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_parse.c - unit test of the shared parsers and checks
 * (usr/lib/sd_parse.c): decimal numbers with a range, the snapshot selector
 * TAG|SNAPID, the VDI name and tag length limits, and quoting; each
 * failure must be -EINVAL with the documented message.
 */
#include <errno.h>
#include <string.h>

#include "../../usr/lib/sd_parse.c"
#include "tap.h"

/* ---- numbers ----------------------------------------------------------- */

struct uint_case {
	const char *name;
	const char *in;
	uint64_t min, max;
	uint64_t want;		/* when msg is NULL */
	const char *msg;	/* the failure's whole message */
};

static const struct uint_case uint_cases[] = {
	{ "uint-one", "1", 1, 10, 1, NULL },
	{ "uint-max", "10", 1, 10, 10, NULL },
	{ "uint-leading-zeros", "007", 0, 10, 7, NULL },
	{ "uint-zero", "0", 0, 0, 0, NULL },
	{ "uint-u64-max", "18446744073709551615", 0, UINT64_MAX, UINT64_MAX,
	  NULL },
	{ "uint-below", "0", 1, 10, 0, "bad n '0' (must be 1..10)" },
	{ "uint-above", "11", 1, 10, 0, "bad n '11' (must be 1..10)" },
	{ "uint-empty", "", 0, 10, 0, "bad n '' (must be 0..10)" },
	{ "uint-sign", "+1", 0, 10, 0, "bad n '+1' (must be 0..10)" },
	{ "uint-minus", "-1", 0, 10, 0, "bad n '-1' (must be 0..10)" },
	{ "uint-blank", " 1", 0, 10, 0, "bad n ' 1' (must be 0..10)" },
	{ "uint-suffix", "1k", 0, 10, 0, "bad n '1k' (must be 0..10)" },
	{ "uint-hex", "0x1", 0, 10, 0, "bad n '0x1' (must be 0..10)" },
	{ "uint-overflow", "18446744073709551616", 0, UINT64_MAX, 0,
	  "bad n '18446744073709551616' (must be 0..18446744073709551615)" },
	{ "uint-control-byte", "1\n", 0, 10, 0, "bad n '1\\x0a' (must be 0..10)" },
};

static void check_uint_case(const struct uint_case *c)
{
	uint64_t v = 12345;
	int ret;

	sd_clear_error();
	ret = sd_parse_uint("n", c->in, c->min, c->max, &v);
	if (!c->msg)
		CHECK(ret == 0 && v == c->want, c->name,
		      "ret %d (%s) value %llu", ret, sd_get_error(),
		      (unsigned long long)v);
	else
		CHECK(ret == -EINVAL && v == 12345 &&
		      !strcmp(sd_get_error(), c->msg), c->name,
		      "ret %d value %llu message '%s'", ret,
		      (unsigned long long)v, sd_get_error());
}

static void test_uint_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(uint_cases) / sizeof(uint_cases[0]); i++)
		check_uint_case(&uint_cases[i]);
}

/* only @len bytes count: the grammar parses tokens inside a string */
static void test_uint_token(void)
{
	uint64_t v = 0;
	int ret;

	ret = sd_parse_uint_n("port", "7000:vol", 4, 1, 65535, &v);
	CHECK(ret == 0 && v == 7000, "uint-token", "ret %d value %llu", ret,
	      (unsigned long long)v);
}

/* ---- snapshot selector ------------------------------------------------- */

struct snap_case {
	const char *name;
	const char *in;
	const char *tag;	/* when msg is NULL */
	uint32_t snapid;
	const char *msg;
};

static const struct snap_case snap_cases[] = {
	{ "snap-id", "5", "", 5, NULL },
	{ "snap-id-leading-zero", "01", "", 1, NULL },
	{ "snap-id-max", "4294967295", "", UINT32_MAX, NULL },
	{ "snap-tag", "monday", "monday", 0, NULL },
	{ "snap-tag-digits-and-letters", "1a", "1a", 0, NULL },
	{ "snap-empty", "", NULL, 0, "empty tag or snapshot id" },
	{ "snap-id-zero", "0", NULL, 0,
	  "bad snapshot id '0' (must be 1..4294967295)" },
	{ "snap-id-too-big", "4294967296", NULL, 0,
	  "bad snapshot id '4294967296' (must be 1..4294967295)" },
};

static void check_snap_case(const struct snap_case *c)
{
	char tag[SD_VDI_TAG_MAX + 1] = "old";
	uint32_t snapid = 77;
	int ret;

	ret = sd_parse_snapshot(c->in, strlen(c->in), tag, &snapid);
	if (!c->msg)
		CHECK(ret == 0 && !strcmp(tag, c->tag) && snapid == c->snapid,
		      c->name, "ret %d (%s) tag '%s' snapid %u", ret,
		      sd_get_error(), tag, snapid);
	else
		CHECK(ret == -EINVAL && !strcmp(sd_get_error(), c->msg) &&
		      !strcmp(tag, "old") && snapid == 77, c->name,
		      "ret %d message '%s' tag '%s' snapid %u", ret,
		      sd_get_error(), tag, snapid);
}

static void test_snap_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(snap_cases) / sizeof(snap_cases[0]); i++)
		check_snap_case(&snap_cases[i]);
}

/* a tag of exactly SD_VDI_TAG_MAX bytes fits; one more does not */
static void test_snap_tag_limit(void)
{
	char in[SD_VDI_TAG_MAX + 2], tag[SD_VDI_TAG_MAX + 1];
	uint32_t snapid = 1;
	int fits, over;

	memset(in, 't', sizeof(in));
	fits = sd_parse_snapshot(in, SD_VDI_TAG_MAX, tag, &snapid);
	CHECK(fits == 0 && strlen(tag) == SD_VDI_TAG_MAX && !snapid,
	      "snap-tag-255", "ret %d (%s) tag length %zu", fits,
	      sd_get_error(), strlen(tag));
	over = sd_parse_snapshot(in, SD_VDI_TAG_MAX + 1, tag, &snapid);
	CHECK(over == -EINVAL &&
	      !strcmp(sd_get_error(), "tag is 256 bytes (max 255)"),
	      "snap-tag-256", "ret %d message '%s'", over, sd_get_error());
}

/* ---- names ------------------------------------------------------------- */

static void test_names(void)
{
	char name[SD_VDI_NAME_MAX + 2];
	int ok, none, empty, longest, over, tag_over;

	memset(name, 'v', sizeof(name));
	name[SD_VDI_NAME_MAX] = '\0';
	ok = sd_check_names("vol0", "monday");
	none = sd_check_names("vol0", "") || sd_check_names("vol0", NULL);
	longest = sd_check_names(name, NULL);
	CHECK(!ok && !none && !longest, "names-good",
	      "vol0/monday %d no tag %d 255 bytes %d (%s)", ok, none,
	      longest, sd_get_error());

	empty = sd_check_names(NULL, NULL);
	CHECK(empty == -EINVAL && !strcmp(sd_get_error(), "empty VDI name") &&
	      sd_check_names("", NULL) == -EINVAL, "names-empty",
	      "ret %d message '%s'", empty, sd_get_error());

	name[SD_VDI_NAME_MAX] = 'v';
	name[SD_VDI_NAME_MAX + 1] = '\0';
	over = sd_check_names(name, NULL);
	CHECK(over == -EINVAL &&
	      !strcmp(sd_get_error(), "VDI name is 256 bytes (max 255)"),
	      "names-name-256", "ret %d message '%s'", over, sd_get_error());

	tag_over = sd_check_names("vol0", name);
	CHECK(tag_over == -EINVAL &&
	      !strcmp(sd_get_error(), "tag is 256 bytes (max 255)"),
	      "names-tag-256", "ret %d message '%s'", tag_over,
	      sd_get_error());
}

/* ---- quoting ----------------------------------------------------------- */

static void test_quote(void)
{
	char in[SD_QUOTE_MAX + 10];
	struct sd_quote q;
	const char *s;
	size_t len;

	s = sd_quote(&q, "a\tb\xff", 4);
	CHECK(!strcmp(s, "a\\x09b\\xff"), "quote-escapes", "got '%s'", s);

	memset(in, 'x', sizeof(in));
	s = sd_quote(&q, in, sizeof(in));
	len = strlen(s);
	CHECK(len == SD_QUOTE_MAX + 3 && !strcmp(s + SD_QUOTE_MAX, "..."),
	      "quote-cut", "length %zu, ends '%s'", len, s + len - 5);
}

static void test_lock_modes(void)
{
	enum sd_lock_mode m = SD_LOCK_NONE;
	enum sd_lock_mode all[] = { SD_LOCK_NONE, SD_LOCK_NORMAL, SD_LOCK_SHARED };
	size_t i;
	int ret;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		ret = sd_lock_mode_parse(sd_lock_mode_name(all[i]), &m);
		CHECK(ret == 0 && m == all[i], sd_lock_mode_name(all[i]),
		      "ret %d mode %d", ret, (int)m);
	}
	CHECK(!strcmp(sd_lock_mode_name(SD_LOCK_SHARED), "shared") &&
	      !strcmp(sd_lock_mode_name((enum sd_lock_mode)7), "?"),
	      "lock-names", "shared is '%s'", sd_lock_mode_name(SD_LOCK_SHARED));
	m = SD_LOCK_SHARED;
	ret = sd_lock_mode_parse("Normal", &m);
	CHECK(ret == -EINVAL && m == SD_LOCK_SHARED &&
	      !strcmp(sd_get_error(), "bad lock mode 'Normal' (none, normal or shared)"),
	      "lock-bad", "ret %d: %s", ret, sd_get_error());
	CHECK(sd_keyword_index("b", (const char *const[]){ "a", NULL, "b" }, 3) == 2 &&
	      sd_keyword_index("c", (const char *const[]){ "a", NULL, "b" }, 3) == -1,
	      "keyword-index", "%s", "wrong index");
}

int main(void)
{
	test_uint_table();
	test_uint_token();
	test_snap_table();
	test_snap_tag_limit();
	test_names();
	test_quote();
	test_lock_modes();
	return t_exit();
}
