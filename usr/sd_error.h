/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_error.h - thread-local last error (message + errno), as in libnbd.
 *
 * Library functions return a negative errno and, before returning it, record
 * a one-line message with sd_set_error().  Callers read it on the same thread
 * with sd_get_error().
 */
#ifndef SD_ERROR_H
#define SD_ERROR_H

#define SD_ERROR_MAX 512

/* record @errnum (positive errno) and a printf-style message; returns -errnum */
int sd_set_error(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* the last message on this thread, "" if none */
const char *sd_get_error(void);
/* the last errno on this thread (positive), 0 if none */
int sd_get_errno(void);
void sd_clear_error(void);

#endif
