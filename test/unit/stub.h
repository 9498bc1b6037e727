/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stub.h - what the unit tests of the library share: stub macros, a fake
 * connection layer that only records requests, and registered cases.
 *
 * A test includes the source(s) under test, then this file, and answers
 * the recorded requests (pending[]) one by one in any order, checking what
 * the code under test sends next.  sd_client_sleep() records a timer like a
 * request (opcode 0, SD_REQ_TIMER, deadline_ns = the wake time); t_now is
 * the clock sd_now_ns() reads.  Before including, a test may define
 * T_NOW_START (initial clock) and T_TIMEOUT_MS (the client timeout).
 *
 * Cases are registered as in tap.h (T_CASE(), T_RUN()).
 */
#ifndef STUB_H
#define STUB_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "sd_conn.h"

/* a static helper some tests of a shared header do not use */
#define T_HELPER	static __attribute__((unused))

/*
 * DEFINE_STUB(fn, ret, (params), value): @fn returns @value.
 * DEFINE_STUB_V(fn, (params)): @fn does nothing.
 * Parameters may go unused.
 */
#define T_STUB_BEGIN	_Pragma("GCC diagnostic push") \
			_Pragma("GCC diagnostic ignored \"-Wunused-parameter\"")
#define T_STUB_END	_Pragma("GCC diagnostic pop")
#define DEFINE_STUB(fn, ret, params, value) \
	T_STUB_BEGIN ret fn params { return value; } T_STUB_END
#define DEFINE_STUB_V(fn, params) \
	T_STUB_BEGIN void fn params { } T_STUB_END

/* ---- the fake connection layer ----------------------------------------- */

#ifndef T_NOW_START
#define T_NOW_START	UINT64_C(5000000000)
#endif
#ifndef T_TIMEOUT_MS
#define T_TIMEOUT_MS	15000
#endif
#define T_MAX_PENDING	1024

T_HELPER struct sd_request *pending[T_MAX_PENDING];
T_HELPER int nr_pending;
T_HELPER int submit_fail;		/* != 0: sd_client_submit returns it */
T_HELPER uint64_t t_now = T_NOW_START;
T_HELPER struct sd_client *fake_client = (struct sd_client *)&nr_pending;

int sd_client_submit(struct sd_client *c, struct sd_request *req)
{
	(void)c;
	if (submit_fail)
		return submit_fail;
	if (nr_pending == T_MAX_PENDING)
		abort();
	pending[nr_pending++] = req;
	return 0;
}

int sd_client_sleep(struct sd_client *c, struct sd_request *req,
		    uint64_t wake_ns)
{
	req->req_flags = SD_REQ_TIMER;
	req->deadline_ns = wake_ns;
	return sd_client_submit(c, req);
}

DEFINE_STUB(sd_client_timeout_ms, unsigned int, (const struct sd_client *c),
	    T_TIMEOUT_MS)
DEFINE_STUB(sd_now_ns, uint64_t, (void), t_now)

/* the stubbed client never has an external loop */
void sd_client_cond_wait(struct sd_client *c, pthread_cond_t *cond,
			 pthread_mutex_t *mu)
{
	(void)c;
	pthread_cond_wait(cond, mu);
}

void sd_client_done_wait(struct sd_client *c, struct sd_done *d)
{
	(void)c;
	while (!sd_done_is_set(d))
		sd_done_sleep(d);
}

void sd_client_addr_str(const struct sd_client *c, char *buf, size_t len)
{
	(void)c;
	snprintf(buf, len, "stub");
}

/* a predicate on a pending request with two arguments */
typedef bool (*t_match_fn)(const struct sd_request *r, uint64_t a,
			   uint64_t b);

/* the @n-th (0 = oldest) pending request @match(r, a, b) accepts, or NULL */
T_HELPER struct sd_request *find_nth(t_match_fn match, uint64_t a, uint64_t b,
				     int n)
{
	int i;

	for (i = 0; i < nr_pending; i++)
		if (match(pending[i], a, b) && n-- == 0)
			return pending[i];
	return NULL;
}

T_HELPER struct sd_request *find_pending(t_match_fn match, uint64_t a,
					 uint64_t b)
{
	return find_nth(match, a, b, 0);
}

/* is @r (NULL: no) a timer? */
T_HELPER bool is_timer(const struct sd_request *r)
{
	return r && (r->req_flags & SD_REQ_TIMER);
}

static bool match_timer(const struct sd_request *r, uint64_t a, uint64_t b)
{
	(void)a;
	(void)b;
	return is_timer(r);
}

/* the pending timer (sd_client_sleep), or NULL */
T_HELPER struct sd_request *find_timer(void)
{
	return find_pending(match_timer, 0, 0);
}

/* remove @req from the pending list (it must be there) */
T_HELPER void pending_take(struct sd_request *req)
{
	int i;

	if (!req)
		abort();
	for (i = 0; i < nr_pending; i++)
		if (pending[i] == req)
			break;
	if (i == nr_pending)
		abort();
	memmove(&pending[i], &pending[i + 1],
		(nr_pending - i - 1) * sizeof(pending[0]));
	nr_pending--;
}

/* take @req off the list and start its reply with @result */
/* (not inlined: GCC cannot see that @req came off the list non-NULL) */
T_HELPER __attribute__((noinline)) void reply_begin(struct sd_request *req,
						   uint32_t result)
{
	pending_take(req);
	memset(&req->rsp, 0, sizeof(req->rsp));
	req->rsp.opcode = req->hdr.opcode;
	req->rsp.result = result;
	req->in_len = 0;
}

/* complete @req with a connection error */
T_HELPER void fail_req(struct sd_request *req, int err)
{
	pending_take(req);
	req->done(req, err);
}

#endif
