// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_error.c - thread-local last error, and the context added to it once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sd_error.h"

static __thread char sd_err_msg[SD_ERROR_MAX];
static __thread int sd_err_no;
static __thread bool sd_err_has_context;

int sd_set_error(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sd_err_msg, sizeof(sd_err_msg), fmt, ap);
	va_end(ap);
	sd_err_no = errnum;
	sd_err_has_context = false;
	return -errnum;
}

int sd_error_context(const char *fmt, ...)
{
	char ctx[SD_ERROR_MAX], msg[SD_ERROR_MAX];
	va_list ap;

	if (!sd_err_has_context) {
		va_start(ap, fmt);
		vsnprintf(ctx, sizeof(ctx), fmt, ap);
		va_end(ap);
		memcpy(msg, sd_err_msg, sizeof(msg));
		sd_set_error(sd_err_no, "%s: %s", ctx, msg);
		sd_err_has_context = true;
	}
	return sd_err_no ? -sd_err_no : -EIO;
}

const char *sd_get_error(void)
{
	return sd_err_msg;
}

int sd_get_errno(void)
{
	return sd_err_no;
}

void sd_clear_error(void)
{
	sd_err_msg[0] = '\0';
	sd_err_no = 0;
	sd_err_has_context = false;
}
