// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_parse.c - the shared small parsers and checks of sheepdog.h and
 * sd_parse.h: decimal numbers, VDI name and tag lengths, the snapshot
 * selector TAG|SNAPID, lock mode names, and the quoting of input in
 * messages.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sd_error.h"
#include "sd_parse.h"

const char *sd_quote(struct sd_quote *q, const char *p, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && i < SD_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f)
			q->s[o++] = (char)c;
		else
			o += (size_t)snprintf(q->s + o, sizeof(q->s) - o,
					      "\\x%02x", c);
	}
	if (i < len) {
		memcpy(q->s + o, "...", 3);
		o += 3;
	}
	q->s[o] = '\0';
	return q->s;
}

bool sd_all_digits(const char *s, size_t len)
{
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int sd_parse_uint_n(const char *what, const char *s, size_t len,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	struct sd_quote q;
	uint64_t v = 0;
	size_t i;

	if (!sd_all_digits(s, len))
		goto bad;
	for (i = 0; i < len; i++) {
		unsigned int d = (unsigned int)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			goto bad;	/* does not fit 64 bits */
		v = v * 10 + d;
	}
	if (v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return sd_set_error(EINVAL, "bad %s '%s' (must be %llu..%llu)", what,
			    sd_quote(&q, s, len), (unsigned long long)min,
			    (unsigned long long)max);
}

int sd_parse_uint(const char *what, const char *s, uint64_t min,
		  uint64_t max, uint64_t *out)
{
	return sd_parse_uint_n(what, s, strlen(s), min, max, out);
}

int sd_check_vdi_name_len(size_t len)
{
	if (!len)
		return sd_set_error(EINVAL, "empty VDI name");
	if (len > SD_VDI_NAME_MAX)
		return sd_set_error(EINVAL, "VDI name is %zu bytes (max %d)",
				    len, SD_VDI_NAME_MAX);
	return 0;
}

int sd_check_tag_len(size_t len)
{
	if (!len)
		return sd_set_error(EINVAL, "empty snapshot tag");
	if (len > SD_VDI_TAG_MAX)
		return sd_set_error(EINVAL, "tag is %zu bytes (max %d)", len,
				    SD_VDI_TAG_MAX);
	return 0;
}

int sd_check_names(const char *name, const char *tag)
{
	int ret;

	ret = sd_check_vdi_name_len(name ? strlen(name) : 0);
	if (!ret && tag && *tag)
		ret = sd_check_tag_len(strlen(tag));
	return ret;
}

int sd_parse_snapshot(const char *s, size_t len,
		      char tag[SD_VDI_TAG_MAX + 1], uint32_t *snapid)
{
	uint64_t id;
	int ret;

	if (!len)
		return sd_set_error(EINVAL, "empty tag or snapshot id");
	if (sd_all_digits(s, len)) {
		ret = sd_parse_uint_n("snapshot id", s, len, 1, UINT32_MAX,
				      &id);
		if (ret)
			return ret;
		tag[0] = '\0';
		*snapid = (uint32_t)id;
		return 0;
	}
	ret = sd_check_tag_len(len);
	if (ret)
		return ret;
	memcpy(tag, s, len);
	tag[len] = '\0';
	*snapid = 0;
	return 0;
}

int sd_keyword_index(const char *s, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return (int)i;
	return -1;
}

const char *const sd_lock_names[SD_NR_LOCK_MODES] = {
	[SD_LOCK_NONE] = "none",
	[SD_LOCK_NORMAL] = "normal",
	[SD_LOCK_SHARED] = "shared",
};

const char *sd_lock_mode_name(enum sd_lock_mode m)
{
	return (unsigned int)m < SD_NR_LOCK_MODES ? sd_lock_names[m] : "?";
}

int sd_lock_mode_parse(const char *s, enum sd_lock_mode *m)
{
	struct sd_quote q;
	int i = sd_keyword_index(s, sd_lock_names, SD_NR_LOCK_MODES);

	if (i < 0)
		return sd_set_error(EINVAL, "bad lock mode '%s' (none, normal or shared)",
				    sd_quote(&q, s, strlen(s)));
	*m = (enum sd_lock_mode)i;
	return 0;
}
