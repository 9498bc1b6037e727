/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tap.h - the tiny check framework of the C tests.
 *
 * Each check prints one line that test/run-tests.sh counts:
 *   "PASS: name"  or  "FAIL: name: why"  or  "SKIP: name: why"
 * and t_exit() returns non-zero if any check failed.
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>

static int t_failed;

static inline void t_result(int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void t_result(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS: %s\n", name);
	} else {
		t_failed++;
		printf("FAIL: %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

static inline void t_skip(const char *name, const char *why)
{
	printf("SKIP: %s: %s\n", name, why);
	fflush(stdout);
}

/* CHECK(cond, name, fmt, ...): one counted check */
#define CHECK(cond, name, ...) t_result(!!(cond), name, __VA_ARGS__)

static inline int t_exit(void)
{
	return t_failed ? 1 : 0;
}

#endif
