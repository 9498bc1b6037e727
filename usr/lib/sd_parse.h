/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_parse.h - the library's side of the shared parsers that sheepdog.h
 * declares (numbers, VDI names, the snapshot selector): the pieces only the
 * library uses, namely the length checks of names and tags, the digit test,
 * keyword tables, and the quoting of user input in messages.
 */
#ifndef SD_PARSE_H
#define SD_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "sheepdog.h"

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
 * -EINVAL with "empty VDI name", "VDI name is N bytes (max 255)",
 * "empty snapshot tag" or "tag is N bytes (max 255)".
 */
int sd_check_vdi_name_len(size_t len);
int sd_check_tag_len(size_t len);

/* the index of @s in @names[0..n) (NULL entries never match), or -1 */
int sd_keyword_index(const char *s, const char *const *names, size_t n);

/* the lock modes' names, by enum sd_lock_mode */
#define SD_NR_LOCK_MODES	(SD_LOCK_SHARED + 1)
extern const char *const sd_lock_names[SD_NR_LOCK_MODES];

#endif
