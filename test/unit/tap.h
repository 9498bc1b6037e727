/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tap.h - the tiny check framework of the C tests.
 *
 * Each check prints one line that test/run-tests.sh counts:
 *   "PASS: name"  or  "FAIL: name: why"  or  "SKIP: name: why"
 * and t_exit() returns non-zero if any check failed.  Cases are small
 * functions listed with T_CASE() in a table that T_RUN() runs in order,
 * calling the test's setup and teardown functions (or NULL) around each.
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

/* ---- registered cases -------------------------------------------------- */

struct t_case {
	const char *name;
	void (*fn)(void);
};

#define T_CASE(fn)	{ #fn, fn }

/* Run @n cases, @setup before and @teardown after each (either may be
 * NULL); the exit status. */
static inline int t_run(const struct t_case *cases, size_t n,
			void (*setup)(void), void (*teardown)(void))
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (setup)
			setup();
		printf("# %s\n", cases[i].name);
		cases[i].fn();
		if (teardown)
			teardown();
	}
	return t_exit();
}

#define T_RUN(cases, setup, teardown) \
	t_run(cases, sizeof(cases) / sizeof(cases[0]), setup, teardown)

#endif
