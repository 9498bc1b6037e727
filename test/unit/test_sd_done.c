// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_done.c - unit test of the one-shot completion (usr/lib/sd_done.c):
 * a completion set before the wait needs no sleep, a sleeping waiter is
 * woken, and many rounds of one waiter and one setter, each round with a
 * new completion on the waiter's stack (as the library's synchronous
 * calls use it), lose no wakeup and carry what the setter wrote.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "../../usr/lib/sd_done.c"
#include "tap.h"

#define ROUNDS 20000
#define JOIN_SECS 60

/* join @t within JOIN_SECS; false if it is still running (a lost wakeup) */
static bool join_within(pthread_t t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += JOIN_SECS;
	return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

static int state_of(struct sd_done *d)
{
	return __atomic_load_n(&d->state, __ATOMIC_ACQUIRE);
}

static void test_set_first(void)
{
	struct sd_done d;

	sd_done_init(&d);
	CHECK(!sd_done_is_set(&d), "set-first: a new completion is not set",
	      "state %d", state_of(&d));
	sd_done_signal(&d);
	sd_done_sleep(&d);	/* returns at once */
	CHECK(sd_done_is_set(&d), "set-first: set, and the sleep returned",
	      "state %d", state_of(&d));
}

static void *sleeper(void *arg)
{
	struct sd_done *d = arg;

	while (!sd_done_is_set(d))
		sd_done_sleep(d);
	return NULL;
}

static void test_wakes_sleeper(void)
{
	struct sd_done d;
	pthread_t t;
	int i, seen = SD_DONE_PENDING;

	sd_done_init(&d);
	if (pthread_create(&t, NULL, sleeper, &d)) {
		CHECK(0, "wakes-sleeper: thread", "pthread_create failed");
		return;
	}
	/* until the waiter has announced its sleep (at most 10 s) */
	for (i = 0; i < 10000 && seen != SD_DONE_SLEEPING; i++) {
		struct timespec ms = { 0, 1000000 };

		nanosleep(&ms, NULL);
		seen = state_of(&d);
	}
	CHECK(seen == SD_DONE_SLEEPING, "wakes-sleeper: the waiter went to sleep",
	      "state %d", seen);
	sd_done_signal(&d);
	CHECK(join_within(t), "wakes-sleeper: the sleeping waiter was woken",
	      "still asleep after %d s", JOIN_SECS);
}

/* one round: the waiter's completion and where the setter writes */
struct round {
	struct sd_done *done;
	int *value;
	int n;
};

static struct round *mailbox;	/* atomic: the round handed to the setter */
static int wrong, slept;

static void *waiter(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		struct sd_done d;
		int value = -1;
		struct round r = { &d, &value, i };

		sd_done_init(&d);
		__atomic_store_n(&mailbox, &r, __ATOMIC_RELEASE);
		while (!sd_done_is_set(&d))
			sd_done_sleep(&d);
		if (value != i)
			wrong++;
	}
	return NULL;
}

static void *setter(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		struct round *r;

		while (!(r = __atomic_exchange_n(&mailbox, NULL,
						 __ATOMIC_ACQUIRE)))
			sched_yield();
		if (i % 2)	/* every other round, let the waiter sleep */
			sched_yield();
		if (state_of(r->done) == SD_DONE_SLEEPING)
			slept++;
		*r->value = r->n;
		sd_done_signal(r->done);	/* the last touch of *r */
	}
	return NULL;
}

static void test_rounds(void)
{
	pthread_t w, s;
	bool joined;

	if (pthread_create(&s, NULL, setter, NULL)) {
		CHECK(0, "rounds: threads", "pthread_create failed");
		return;
	}
	if (pthread_create(&w, NULL, waiter, NULL)) {
		CHECK(0, "rounds: threads", "pthread_create failed");
		pthread_cancel(s);
		pthread_join(s, NULL);
		return;
	}
	joined = join_within(w);
	CHECK(joined, "rounds: 20000 rounds, no wakeup lost",
	      "the waiter is stuck after %d s", JOIN_SECS);
	if (!joined)
		return;		/* the threads are left behind: exit fails */
	join_within(s);
	CHECK(wrong == 0, "rounds: the waiter saw what the setter wrote first",
	      "%d rounds wrong", wrong);
	printf("# %d of %d rounds woke a sleeping waiter\n", slept, ROUNDS);
}

static const struct t_case cases[] = {
	T_CASE(test_set_first),
	T_CASE(test_wakes_sleeper),
	T_CASE(test_rounds),
};

int main(void)
{
	return T_RUN(cases, NULL, NULL);
}
