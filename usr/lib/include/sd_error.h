/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_error.h - thread-local last error (message + errno), as in libnbd.
 *
 * Library functions return a negative errno and, before returning it, record
 * a one-line message with sd_set_error().  Callers read it on the same thread
 * with sd_get_error().
 *
 * A caller that knows what a failure was about adds that once, in front of
 * the message, with sd_error_context(): "VDI 'vol0': <message>".  Only the
 * first context given after sd_set_error() is added, so a layer that already
 * gave its message a context (the address grammar names the string it
 * parsed, the VDI functions name the VDI) keeps it, and no caller needs to
 * read the message to find out whether it names its subject.
 */
#ifndef SD_ERROR_H
#define SD_ERROR_H

#define SD_ERROR_MAX 512

/* record @errnum (positive errno) and a printf-style message; returns -errnum */
int sd_set_error(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Put "<context>: " in front of the current message unless it has a context
 * already.  The errno stays; returns it negated (-EIO if none was recorded).
 */
int sd_error_context(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* the last message on this thread, "" if none */
const char *sd_get_error(void);
/* the last errno on this thread (positive), 0 if none */
int sd_get_errno(void);
void sd_clear_error(void);

#endif
