// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_done.c - the one-shot completion of sd_conn.h (struct sd_done): a
 * futex word that a done() callback sets and one thread sleeps on.  A file
 * of its own so that code which only waits (sd_io_sync.c) links it without
 * the whole of sd_conn.c.
 */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sd_conn.h"

static void futex_call(int *word, int op, int val)
{
	syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

/*
 * The wake is a system call only when the waiter sleeps.  The waiter may
 * see the completion set and return (its struct sd_done going with its
 * stack frame) between the exchange and the wake; the wake then hits a
 * word nobody sleeps on, or a later futex on that thread's stack, whose
 * owner rechecks its condition after any wakeup, as every futex user
 * (glibc's mutexes, condition variables and semaphores among them) does.
 */
void sd_done_signal(struct sd_done *d)
{
	if (__atomic_exchange_n(&d->state, SD_DONE_SET, __ATOMIC_ACQ_REL) ==
	    SD_DONE_SLEEPING)
		futex_call(&d->state, FUTEX_WAKE, 1);
}

void sd_done_sleep(struct sd_done *d)
{
	int seen = SD_DONE_PENDING;

	if (__atomic_compare_exchange_n(&d->state, &seen, SD_DONE_SLEEPING,
					false, __ATOMIC_ACQUIRE,
					__ATOMIC_ACQUIRE) ||
	    seen == SD_DONE_SLEEPING)
		futex_call(&d->state, FUTEX_WAIT, SD_DONE_SLEEPING);
}
