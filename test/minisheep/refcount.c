// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * refcount.c - in-memory reference counts of data objects: how many inode
 * index entries (over all VDIs, snapshots included) name each object.  It
 * replaces sheep's generational gref/ledger scheme; vdi.c rebuilds it at
 * start by scanning every inode and keeps it current under its VDI mutex
 * (callers serialise, this file does no locking).  A chained hash table
 * that doubles when it gets full; entries disappear when they reach 0.
 */
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

void ref_get(uint64_t oid)
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

uint32_t ref_put(uint64_t oid)
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

uint32_t ref_count(uint64_t oid)
{
	struct ref_entry **pp = ref_find(oid);

	return pp ? (*pp)->count : 0;
}

void ref_clear(void)
{
	size_t i;

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
}
