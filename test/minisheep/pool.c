// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pool.c - minisheep's worker threads.  The event loop submits parsed
 * requests; a fixed set of threads executes them concurrently (object I/O
 * blocks in pread/pwrite/fdatasync, so a few threads keep the disk busy)
 * and hands each finished request to the completion callback.  The request
 * queue and the thread start-up serve group.c's block thread too.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "minisheep.h"

static struct ms_req_queue pool_q = MS_REQ_QUEUE_INIT(pool_q);

int ms_workers = MS_DEFAULT_WORKERS;

void req_queue_push(struct ms_req_queue *q, struct ms_request *r)
{
	pthread_mutex_lock(&q->mu);
	sd_list_add_tail(&r->link, &q->reqs);
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->mu);
}

void *req_queue_serve(void *arg)
{
	struct ms_req_queue *q = arg;
	struct ms_request *r;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (sd_list_empty(&q->reqs))
			pthread_cond_wait(&q->cond, &q->mu);
		r = sd_list_first_entry(&q->reqs, struct ms_request, link);
		sd_list_del(&r->link);
		pthread_mutex_unlock(&q->mu);

		ops_execute(r);
		q->done(r);
	}
	return NULL;
}

int ms_start_threads(int nr, void *(*fn)(void *arg), void *arg,
		     const char *what)
{
	sigset_t all, old;
	pthread_t t;
	int i, ret = 0;

	/* no signals: the event loop reads them */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < nr; i++) {
		ret = pthread_create(&t, NULL, fn, arg);
		if (ret) {
			ms_log("cannot start %s: %s", what, strerror(ret));
			break;
		}
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret ? -1 : 0;
}

int pool_start(int nr_threads, void (*done)(struct ms_request *r))
{
	pool_q.done = done;
	return ms_start_threads(nr_threads, req_queue_serve, &pool_q,
				"worker thread");
}

void pool_submit(struct ms_request *r)
{
	req_queue_push(&pool_q, r);
}
