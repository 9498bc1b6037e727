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
#include <stdlib.h>

#include "minisheep.h"

struct work_item {
	struct sd_list link;
	void (*fn)(void *arg);
	void *arg;
};

static struct ms_req_queue cluster_q = MS_REQ_QUEUE_INIT(cluster_q);
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static struct sd_list work_q = SD_LIST_INIT(work_q);

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
	cluster_q.done = done;
	if (!ms_workers)
		return 0;
	if (ms_start_threads(1, req_queue_serve, &cluster_q,
			     "the cluster block thread") ||
	    ms_start_threads(1, io_thread, NULL, "the cluster io thread"))
		return -1;
	return 0;
}

void group_queue_cluster(struct ms_request *r)
{
	req_queue_push(&cluster_q, r);
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
