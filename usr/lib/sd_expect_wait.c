// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_expect_wait.c - the thread-local note of sd_client_expect_wait() (see
 * sd_conn.h).  A file of its own so that code which only submits and waits
 * (sd_io_sync.c) links it without the whole of sd_conn.c.
 */
#include "sd_conn.h"

__thread struct sd_client *sd_expect_wait_client;

void sd_client_expect_wait(struct sd_client *c)
{
	sd_expect_wait_client = c;
}
