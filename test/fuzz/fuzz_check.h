/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_check.h - the invariant check shared by the fuzz harnesses.
 *
 * FUZZ_CHECK(cond, fmt, ...) prints which invariant broke, where, and
 * aborts, so libFuzzer records the input as a crash and the regression
 * replay (test/unit/test_fuzz_regress.c, one child process per input)
 * reports it as a failed check.
 *
 * FUZZ_ENTRY(fn) makes fn(data, size) the harness's libFuzzer entry point,
 * unless FUZZ_NO_ENTRY is defined (the regression replay includes every
 * harness in one program and calls the fn of each).
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void fuzz_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn, unused));

static void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz invariant broken at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

#define FUZZ_CHECK(cond, ...)						\
	do {								\
		if (!(cond))						\
			fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);	\
	} while (0)

#ifdef FUZZ_NO_ENTRY
#define FUZZ_ENTRY(fn)
#else
#define FUZZ_ENTRY(fn)							\
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);	\
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)	\
	{								\
		return fn(data, size);					\
	}
#endif

#endif
