// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_error.c - thread-local last error.
 */
#include <stdarg.h>
#include <stdio.h>

#include "sd_error.h"

static __thread char sd_err_msg[SD_ERROR_MAX];
static __thread int sd_err_no;

int sd_set_error(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sd_err_msg, sizeof(sd_err_msg), fmt, ap);
	va_end(ap);
	sd_err_no = errnum;
	return -errnum;
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
}
