// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_error.c - unit test of the thread-local last error
 * (usr/lib/sd_error.c): sd_set_error's return and errno, and that
 * sd_error_context() adds a context once per message.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "../../usr/lib/sd_error.c"
#include "tap.h"

static void test_set(void)
{
	int ret = sd_set_error(ENOENT, "VDI '%s': %s", "vol0", "No VDI found");

	CHECK(ret == -ENOENT && sd_get_errno() == ENOENT &&
	      !strcmp(sd_get_error(), "VDI 'vol0': No VDI found"), "set",
	      "ret %d errno %d message '%s'", ret, sd_get_errno(),
	      sd_get_error());
}

static void test_context(void)
{
	int ret;

	sd_set_error(ECONNREFUSED, "READ_OBJ to tcp:h:7000: refused");
	ret = sd_error_context("VDI '%s'", "vol0");
	CHECK(ret == -ECONNREFUSED && sd_get_errno() == ECONNREFUSED &&
	      !strcmp(sd_get_error(),
		      "VDI 'vol0': READ_OBJ to tcp:h:7000: refused"),
	      "context-added", "ret %d message '%s'", ret, sd_get_error());
}

/* a message has one context: the first one given */
static void test_context_once(void)
{
	int ret;

	sd_set_error(EINVAL, "bad port '0'");
	sd_error_context("bad address 'tcp:h:0'");
	ret = sd_error_context("bad backing store '%s'", "tcp:h:0:vol");
	CHECK(ret == -EINVAL &&
	      !strcmp(sd_get_error(), "bad address 'tcp:h:0': bad port '0'"),
	      "context-once", "ret %d message '%s'", ret, sd_get_error());
}

/* a new message starts without context */
static void test_context_new_message(void)
{
	sd_set_error(EIO, "first");
	sd_error_context("A");
	sd_set_error(EIO, "second");
	sd_error_context("B");
	CHECK(!strcmp(sd_get_error(), "B: second"), "context-new-message",
	      "message '%s'", sd_get_error());
}

static void test_context_after_clear(void)
{
	int ret;

	sd_set_error(EIO, "x");
	sd_error_context("A");
	sd_clear_error();
	ret = sd_error_context("B");
	CHECK(ret == -EIO && !strcmp(sd_get_error(), "B: ") &&
	      !sd_get_errno(), "context-after-clear",
	      "ret %d errno %d message '%s'", ret, sd_get_errno(),
	      sd_get_error());
}

/* the message fits SD_ERROR_MAX, context first */
static void test_context_truncated(void)
{
	char big[SD_ERROR_MAX + 16];
	size_t len;

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sd_set_error(EIO, "%s", big);
	sd_error_context("ctx");
	len = strlen(sd_get_error());
	CHECK(len == SD_ERROR_MAX - 1 && !strncmp(sd_get_error(), "ctx: mm", 7),
	      "context-truncated", "length %zu", len);
}

static void *other_thread(void *arg)
{
	(void)arg;
	sd_set_error(EPIPE, "other");
	sd_error_context("T");
	return NULL;
}

/* each thread has its own message and context */
static void test_thread_local(void)
{
	pthread_t t;

	sd_set_error(EIO, "mine");
	if (pthread_create(&t, NULL, other_thread, NULL)) {
		t_skip("thread-local", "pthread_create failed");
		return;
	}
	pthread_join(t, NULL);
	sd_error_context("M");
	CHECK(!strcmp(sd_get_error(), "M: mine") && sd_get_errno() == EIO,
	      "thread-local", "message '%s' errno %d", sd_get_error(),
	      sd_get_errno());
}

int main(void)
{
	test_set();
	test_context();
	test_context_once();
	test_context_new_message();
	test_context_after_clear();
	test_context_truncated();
	test_thread_local();
	return t_exit();
}
