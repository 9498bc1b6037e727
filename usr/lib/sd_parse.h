/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_parse.h - the small parsers and checks that the address grammar
 * (sd_addr.c), the VDI functions and the front ends share, so that each
 * rule is written once: decimal numbers, the snapshot selector TAG|SNAPID,
 * the length limits of VDI names and tags, and the quoting of user input in
 * messages.
 *
 * The checks return 0 or -EINVAL with a one-line message (sd_get_error())
 * that names what is wrong but not where it came from: the caller adds that
 * with sd_error_context() ("bad backing store '...': ..."), or prints a
 * message of its own.
 */
#ifndef SD_PARSE_H
#define SD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sd_proto.h"

#define SD_QUOTE_MAX	120	/* bytes of input quoted in a message */

struct sd_quote {
	char s[SD_QUOTE_MAX * 4 + 8];
};

/*
 * Printable copy of @len bytes at @p for a message: control and non-ASCII
 * bytes become \xNN (so a message stays one line) and input longer than
 * SD_QUOTE_MAX bytes is cut with "...".  Returns q->s.
 */
const char *sd_quote(struct sd_quote *q, const char *p, size_t len);

/* @len bytes at @s are decimal digits, and @len > 0 */
bool sd_all_digits(const char *s, size_t len);

/*
 * A decimal number of @len bytes at @s: digits only (no sign, blank, base
 * prefix or suffix; leading zeros are fine) with a value in [min, max].
 * 0 with *out set, or -EINVAL with "bad WHAT 'S' (must be MIN..MAX)".
 */
int sd_parse_uint_n(const char *what, const char *s, size_t len,
		    uint64_t min, uint64_t max, uint64_t *out);
/* the same for the whole string @s */
int sd_parse_uint(const char *what, const char *s, uint64_t min,
		  uint64_t max, uint64_t *out);

/*
 * VDI names are 1..SD_VDI_NAME_MAX bytes and snapshot tags
 * 1..SD_VDI_TAG_MAX bytes: each fills a NUL-terminated wire field.
 * -EINVAL with "empty VDI name", "VDI name is N bytes (max 255)",
 * "empty snapshot tag" or "tag is N bytes (max 255)".
 */
int sd_check_vdi_name_len(size_t len);
int sd_check_tag_len(size_t len);
/* the VDI name @name (NULL: empty) and the tag @tag (NULL or "": none) */
int sd_check_names(const char *name, const char *tag);

/*
 * The snapshot selector TAG|SNAPID of @len bytes at @s: all digits is a
 * snapshot id (1..4294967295), anything else a tag (1..SD_VDI_TAG_MAX
 * bytes).  0 with either *snapid or @tag set (the other 0 / ""), or
 * -EINVAL with "empty tag or snapshot id", "bad snapshot id 'S' (must be
 * 1..4294967295)" or the tag's length message.
 */
int sd_parse_snapshot(const char *s, size_t len,
		      char tag[SD_VDI_TAG_MAX + 1], uint32_t *snapid);

#endif
