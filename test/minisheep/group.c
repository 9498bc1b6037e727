// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * group.c - how minisheep orders what sheep/group.c orders.
 *
 * Cluster operations with a process_work step (NEW_VDI, DEL_VDI,
 * GET_VDI_INFO, LOCK_VDI, RELEASE_VDI, GET_VDI_ATTR; MAKE_FS too, see
 * ops_is_cluster()) run one at a time cluster-wide, in the order they
 * arrived, on one "block" thread: sheep's queue_cluster_request() blocks
 * the cluster and sd_block_handler() runs process_work on sys->block_wqueue
 * of the requesting node while every other node waits.  Object (gateway)
 * operations are not ordered with them at all: they run on the worker pool.
 *
 * Work a gateway queues after its reply (update_obj_refcnt() on
 * sys->io_wqueue in sheep/gateway.c gateway_write_obj()) runs on one more
 * thread, so it may run after the client already got SUCCESS.  With
 * --workers 0 both run in the event loop: cluster operations inline,
 * deferred work after the replies of the current loop iteration.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "minisheep.h"

struct work_item {
	struct sd_list link;
	void (*fn)(void *arg);
	void *arg;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static struct sd_list cluster_q = SD_LIST_INIT(cluster_q);
static struct sd_list work_q = SD_LIST_INIT(work_q);
static void (*g_done)(struct ms_request *r);

static void *block_thread(void *arg)
{
	struct ms_request *r;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&g_mu);
		while (sd_list_empty(&cluster_q))
			pthread_cond_wait(&g_cond, &g_mu);
		r = sd_list_first_entry(&cluster_q, struct ms_request, link);
		sd_list_del(&r->link);
		pthread_mutex_unlock(&g_mu);

		ops_execute(r);
		g_done(r);
	}
	return NULL;
}

static struct work_item *work_pop(void)
{
	struct work_item *w = NULL;

	if (!sd_list_empty(&work_q)) {
		w = sd_list_first_entry(&work_q, struct work_item, link);
		sd_list_del(&w->link);
	}
	return w;
}

static void *io_thread(void *arg)
{
	struct work_item *w;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&g_mu);
		while (!(w = work_pop()))
			pthread_cond_wait(&g_cond, &g_mu);
		pthread_mutex_unlock(&g_mu);
		w->fn(w->arg);
		free(w);
	}
	return NULL;
}

int group_start(void (*done)(struct ms_request *r))
{
	sigset_t all, old;
	pthread_t t;
	int ret;

	g_done = done;
	if (!ms_workers)
		return 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&t, NULL, block_thread, NULL);
	if (!ret) {
		pthread_detach(t);
		ret = pthread_create(&t, NULL, io_thread, NULL);
		if (!ret)
			pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		ms_log("cannot start the cluster threads: %s", strerror(ret));
	return ret ? -1 : 0;
}

void group_queue_cluster(struct ms_request *r)
{
	pthread_mutex_lock(&g_mu);
	sd_list_add_tail(&r->link, &cluster_q);
	pthread_cond_broadcast(&g_cond);
	pthread_mutex_unlock(&g_mu);
}

void group_queue_work(void (*fn)(void *arg), void *arg)
{
	struct work_item *w = malloc(sizeof(*w));

	if (!w) {
		/* no memory to defer it: do it now */
		fn(arg);
		return;
	}
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_lock(&g_mu);
	sd_list_add_tail(&w->link, &work_q);
	pthread_cond_broadcast(&g_cond);
	pthread_mutex_unlock(&g_mu);
}

bool group_run_deferred(void)
{
	struct work_item *w;
	bool any = false;

	if (ms_workers)
		return false;
	for (;;) {
		pthread_mutex_lock(&g_mu);
		w = work_pop();
		pthread_mutex_unlock(&g_mu);
		if (!w)
			return any;
		w->fn(w->arg);
		free(w);
		any = true;
	}
}
