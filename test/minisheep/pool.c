// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pool.c - minisheep's worker threads.  The event loop submits parsed
 * requests; a fixed set of threads executes them concurrently (object I/O
 * blocks in pread/pwrite/fdatasync, so a few threads keep the disk busy)
 * and hands each finished request to the completion callback.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "minisheep.h"

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct sd_list pool_queue = SD_LIST_INIT(pool_queue);
static void (*pool_done)(struct ms_request *r);

int ms_workers = MS_DEFAULT_WORKERS;

static void *pool_worker(void *arg)
{
	struct ms_request *r;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&pool_mutex);
		while (sd_list_empty(&pool_queue))
			pthread_cond_wait(&pool_cond, &pool_mutex);
		r = sd_list_first_entry(&pool_queue, struct ms_request, link);
		sd_list_del(&r->link);
		pthread_mutex_unlock(&pool_mutex);

		ops_execute(r);
		pool_done(r);
	}
	return NULL;
}

int pool_start(int nr_threads, void (*done)(struct ms_request *r))
{
	sigset_t all, old;
	pthread_t t;
	int i, ret = 0;

	pool_done = done;
	/* workers never take signals: the event loop reads them */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < nr_threads; i++) {
		ret = pthread_create(&t, NULL, pool_worker, NULL);
		if (ret) {
			ms_log("cannot start worker thread: %s", strerror(ret));
			break;
		}
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret ? -1 : 0;
}

void pool_submit(struct ms_request *r)
{
	pthread_mutex_lock(&pool_mutex);
	sd_list_add_tail(&r->link, &pool_queue);
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_mutex);
}
