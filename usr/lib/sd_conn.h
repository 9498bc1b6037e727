/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_conn.h - layer 2: connections to sheep (the library's side of the
 * client that sheepdog.h declares).
 *
 * A client (struct sd_client) owns one event loop, one I/O thread and
 * nr_conns connections to the same sheep (or, after a failure, to the next
 * address of its list).  Any thread may submit requests; the loop batches
 * sends with writev, matches replies by id in any order, enforces
 * per-request deadlines, reconnects with backoff, and resends the requests
 * marked SD_REQ_RESEND.  Payloads go straight from and to the caller's
 * iovecs.
 *
 * One thread at a time runs the loop.  A thread in sd_client_done_wait()
 * or sd_client_cond_wait() runs it itself when nobody does (it sends,
 * sleeps in epoll_wait until a reply or the next deadline, and completes
 * what arrived), so a lone synchronous caller needs no hand-off to
 * another thread; the I/O thread runs it whenever something is in flight
 * and no such thread does.  When nothing is in flight and every
 * connection is up, nobody watches the sockets; the next thread to run the
 * loop first takes what they reported meanwhile (an EOF) before sending.
 *
 * Connection states (one explicit state machine per connection):
 *
 *   IDLE --connect()--> CONNECTING --writable--> READY
 *   READY --error/EOF/bad reply/deadline--> DEAD
 *   CONNECTING --refused/timeout--> DEAD
 *   DEAD --backoff timer--> IDLE (next address on failure)
 *
 * On DEAD every request sent on that connection is either requeued at the
 * head of the client queue (SD_REQ_RESEND) or completed with -ECONNRESET.
 *
 * Cluster-transient results (see sd_result_is_transient()) never reach
 * done(): the request is sent again after a backoff (10 ms doubling to
 * 500 ms) until its deadline, and then fails with -ETIMEDOUT.  A result
 * that says the node is going away (SHUTDOWN, KILLED, NETWORK_ERROR) also
 * moves every connection on that address to the next one, as a lost
 * connection would.
 */
#ifndef SD_CONN_H
#define SD_CONN_H

#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/uio.h>

#include "sheepdog.h"
#include "sd_addr.h"
#include "sd_list.h"
#include "sd_proto.h"

#define SD_RECONNECT_MIN_MS	50
#define SD_RECONNECT_MAX_MS	500

struct sd_request;

/*
 * Called exactly once per accepted request, on the thread running the
 * client's loop (the I/O thread, or a thread in sd_client_done_wait() or
 * sd_client_cond_wait()).
 * @err is 0 when a reply arrived (then look at req->rsp.result), or a
 * negative errno: -ETIMEDOUT (deadline passed), -ECONNRESET (connection lost
 * and the request was not resendable), -ECONNREFUSED/-EHOSTUNREACH/...
 * (never connected; see below), -ECANCELED (client freed).
 * The callback may submit new requests; it must not block.
 */
typedef void (*sd_request_done_fn)(struct sd_request *req, int err);

/* req_flags */
#define SD_REQ_RESEND	0x1	/* safe to send again after a lost connection */
#define SD_REQ_TIMER	0x2	/* not a request: sd_client_sleep() */
#define SD_REQ_PROBE	0x4	/* not sent: sd_client_wait_up() */

struct sd_request {
	/* --- filled by the caller --- */
	struct sd_req hdr;		/* hdr.id is assigned by the client */
	const struct iovec *out_iov;	/* payload if hdr.flags has CMD_WRITE; */
	int out_iovcnt;			/* its total must equal hdr.data_length */
	struct iovec *in_iov;		/* reply payload buffers; bytes beyond */
	int in_iovcnt;			/* their total are read and dropped */
	unsigned int req_flags;		/* SD_REQ_* */
	uint64_t deadline_ns;		/* CLOCK_MONOTONIC; 0 = now + timeout */
	sd_request_done_fn done;
	void *priv;			/* for the caller */
	struct sd_vdi_stats *vstats;	/* NULL, or a VDI's counters: its
					 * results, retries, resends and
					 * timeouts are counted there too */

	/* --- filled by the client before done() --- */
	struct sd_rsp rsp;		/* valid when err == 0 */
	uint32_t in_len;		/* payload bytes stored in in_iov */

	/* --- private to sd_conn.c --- */
	struct sd_list link;		/* client queue or connection list */
	struct sd_list tlink;		/* deadline order */
	void *conn;			/* connection it was sent on, or NULL */
	uint8_t wire[SD_HDR_SIZE];	/* encoded header */
	uint32_t slot;			/* index in the connection's id table */
	uint32_t attempts;		/* times sent */
	uint32_t retries;		/* transient results retried */
	uint64_t retry_ns;		/* delayed: when to queue it again */
	size_t sent;			/* bytes of header + payload sent */
};

/*
 * The calling thread will wait in sd_client_done_wait() (or
 * sd_client_cond_wait()) on @c for what it submits next (NULL: no more):
 * its submissions then leave the loop to it instead of waking the I/O
 * thread.  Set it around the submission only.
 * Should the thread not come to wait, the I/O thread takes over within
 * about 100 ms.
 */
void sd_client_expect_wait(struct sd_client *c);
extern __thread struct sd_client *sd_expect_wait_client;

/* True on the owner thread of an external-loop client. */
bool sd_client_loop_owner(const struct sd_client *c);

/*
 * pthread_cond_wait(@cond, @mu) for a completion of @c's requests.  On the
 * owner thread of an external-loop client nobody else would run the loop
 * that completes them, so instead @mu is released, the loop runs until
 * something happened (at the latest the next deadline of what is in
 * flight) and @mu is taken again.  Likewise on any thread of an I/O thread
 * client when nobody runs its loop: one pass of the loop runs here.  Use
 * it in a loop on the predicate, as pthread_cond_wait.
 */
void sd_client_cond_wait(struct sd_client *c, pthread_cond_t *cond,
			 pthread_mutex_t *mu);

/*
 * A one-shot completion that one thread waits for and a done() callback
 * sets: a futex word instead of a mutex and a condition variable, so the
 * waiter wakes straight into its return (a condition variable wakes it
 * into a mutex the setter may still hold, and its unlock is then always a
 * system call).  Whatever the setter wrote before sd_done_signal() is
 * visible to the waiter once it sees the completion set.
 */
struct sd_done {
	int state;			/* SD_DONE_* */
};

enum { SD_DONE_PENDING, SD_DONE_SLEEPING, SD_DONE_SET };

static inline void sd_done_init(struct sd_done *d)
{
	d->state = SD_DONE_PENDING;
}

static inline bool sd_done_is_set(struct sd_done *d)
{
	return __atomic_load_n(&d->state, __ATOMIC_ACQUIRE) == SD_DONE_SET;
}

/* Set @d and wake its waiter (sd_done.c). */
void sd_done_signal(struct sd_done *d);

/* Sleep until @d is set (or a spurious wakeup); at once if it is set. */
void sd_done_sleep(struct sd_done *d);

/*
 * Return once @d is set, running @c's loop meanwhile where nobody else
 * would or does, as sd_client_cond_wait() does.
 */
void sd_client_done_wait(struct sd_client *c, struct sd_done *d);

/*
 * Queue @req.  Never blocks on the network; callable from any thread,
 * including from a done() callback.  Returns 0 (done() will be called
 * exactly once) or -errno (done() will not be called).
 *
 * Fail-fast rule: while no connection of the client has ever been
 * established, a request fails as soon as every address has been tried
 * once, with that connect error (so an unreachable sheep fails an open in
 * well under a second for unix and loopback addresses).  Afterwards queued
 * requests wait for a reconnect until their deadline.
 */
int sd_client_submit(struct sd_client *c, struct sd_request *req);

/*
 * A timer on the client's loop: @req is never sent; its done() is called
 * with 0 on the I/O thread (or inside sd_client_process()) once
 * CLOCK_MONOTONIC reaches @wake_ns, or with -ECANCELED when the client is
 * freed first.  Only req->done and req->priv need to be set.  Returns 0 or
 * -errno (done() then not called).
 */
int sd_client_sleep(struct sd_client *c, struct sd_request *req,
		    uint64_t wake_ns);

/*
 * Synchronous helper: submit and wait.  Returns the done() error (0 or
 * -errno, with a message naming the address and opcode).  The caller then
 * checks req->rsp.result.  Must not be called on the I/O thread.
 */
int sd_client_call(struct sd_client *c, struct sd_request *req);

/*
 * Wait until a connection of @c is up; nothing is sent.  0 at once when one
 * is READY; the connect error (-ECONNREFUSED, -ENOENT, ..., with a message
 * naming the address) as soon as every address has failed to connect since
 * the last connection was up; -ETIMEDOUT at the timeout.  This is the
 * fail-fast rule of sd_client_submit() for a client that has been up
 * before: a client shared by many VDIs can be long established when its
 * sheep goes away, and opening one more VDI on it must fail at once, not
 * after the timeout.  Must not be called on the I/O thread.
 */
int sd_client_wait_up(struct sd_client *c);

/* The per-request timeout in force, in milliseconds. */
unsigned int sd_client_timeout_ms(const struct sd_client *c);

/* The address currently in use (for messages). */
void sd_client_addr_str(const struct sd_client *c, char *buf, size_t len);

#endif
