// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * refcount.c - in-memory reference counts of data objects: how many inode
 * index entries (over all VDIs, snapshots included) name each object.  It
 * replaces sheep's generational gref/ledger scheme; vdi.c rebuilds it at
 * start by scanning every inode; index updates take references at once
 * and drop them later, on another thread (gateway.c's asynchronous
 * update_obj_refcnt()), so every call takes the table's mutex.  A chained
 * hash table that doubles when it gets full; entries disappear when they
 * reach 0.
 */
#include <pthread.h>
#include <stdlib.h>

#include "minisheep.h"

struct ref_entry {
	struct ref_entry *next;
	uint64_t oid;
	uint32_t count;
};

static struct ref_entry **buckets;
static size_t nr_buckets;
static size_t nr_entries;
static bool ref_broken;	/* a reference was lost: never free anything */
static pthread_mutex_t ref_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t ref_hash(uint64_t oid, size_t n)
{
	oid ^= oid >> 33;
	oid *= UINT64_C(0xff51afd7ed558ccd);
	oid ^= oid >> 33;
	return (size_t)(oid & (n - 1));
}

static void ref_grow(void)
{
	size_t n = nr_buckets ? nr_buckets * 2 : 1024, i;
	struct ref_entry **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return;		/* keep the old table; chains just get longer */
	for (i = 0; i < nr_buckets; i++) {
		struct ref_entry *e = buckets[i], *next;

		for (; e; e = next) {
			size_t h = ref_hash(e->oid, n);

			next = e->next;
			e->next = nb[h];
			nb[h] = e;
		}
	}
	free(buckets);
	buckets = nb;
	nr_buckets = n;
}

static struct ref_entry **ref_find(uint64_t oid)
{
	struct ref_entry **pp;

	if (!nr_buckets)
		return NULL;
	for (pp = &buckets[ref_hash(oid, nr_buckets)]; *pp; pp = &(*pp)->next)
		if ((*pp)->oid == oid)
			return pp;
	return NULL;
}

static void ref_get_locked(uint64_t oid)
{
	struct ref_entry **pp = ref_find(oid), *e;
	size_t h;

	if (pp) {
		(*pp)->count++;
		return;
	}
	if (nr_entries >= nr_buckets)
		ref_grow();
	if (!nr_buckets)
		goto oom;
	e = malloc(sizeof(*e));
	if (!e)
		goto oom;
	h = ref_hash(oid, nr_buckets);
	e->oid = oid;
	e->count = 1;
	e->next = buckets[h];
	buckets[h] = e;
	nr_entries++;
	return;
oom:
	/* a lost reference could free live data: stop reclaiming instead */
	if (!ref_broken)
		ms_log("out of memory for reference counts; reclaim disabled");
	ref_broken = true;
}

void ref_get(uint64_t oid)
{
	pthread_mutex_lock(&ref_mu);
	ref_get_locked(oid);
	pthread_mutex_unlock(&ref_mu);
}

static uint32_t ref_put_locked(uint64_t oid)
{
	struct ref_entry **pp = ref_find(oid), *e;

	if (ref_broken)
		return 1;
	if (!pp)
		return 1;	/* never counted: do not touch it */
	e = *pp;
	if (--e->count)
		return e->count;
	*pp = e->next;
	free(e);
	nr_entries--;
	return 0;
}

uint32_t ref_put(uint64_t oid)
{
	uint32_t n;

	pthread_mutex_lock(&ref_mu);
	n = ref_put_locked(oid);
	pthread_mutex_unlock(&ref_mu);
	return n;
}

uint32_t ref_count(uint64_t oid)
{
	struct ref_entry **pp;
	uint32_t n;

	pthread_mutex_lock(&ref_mu);
	pp = ref_find(oid);
	n = pp ? (*pp)->count : 0;
	pthread_mutex_unlock(&ref_mu);
	return n;
}

void ref_clear(void)
{
	size_t i;

	pthread_mutex_lock(&ref_mu);
	for (i = 0; i < nr_buckets; i++) {
		struct ref_entry *e = buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
		buckets[i] = NULL;
	}
	nr_entries = 0;
	ref_broken = false;
	pthread_mutex_unlock(&ref_mu);
}
