/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_gate.h - per-object create gates of an open VDI.
 *
 * A gate is closed on an object index while a CREATE_AND_WRITE_OBJ of that
 * object (and the index update publishing it) or an index-entry clearing is
 * in flight.  Writes that find the gate closed park on it and are
 * re-dispatched when it opens; reads never look at gates.  The gate storage
 * is provided by the caller (embedded in the piece that closed it), so
 * closing a gate never allocates.  The table is a fixed hash of lists keyed
 * by object index.  Nothing here locks: the caller holds the VDI mutex.
 */
#ifndef SD_GATE_H
#define SD_GATE_H

#include <stdint.h>
#include <stdbool.h>

#include "sd_list.h"

#define SD_GATE_BUCKETS	256	/* power of two */

struct sd_gate {
	struct sd_list hlink;		/* bucket chain */
	struct sd_list waiters;		/* parked pieces (their wait links) */
	uint32_t idx;			/* object index */
	bool closed;
};

struct sd_gate_table {
	struct sd_list buckets[SD_GATE_BUCKETS];
	unsigned int nr_closed;
};

void sd_gate_table_init(struct sd_gate_table *t);

/* The closed gate of @idx, or NULL when it is open. */
struct sd_gate *sd_gate_find(struct sd_gate_table *t, uint32_t idx);

/*
 * Close the gate of @idx using @g as its storage.  Returns true if the gate
 * was open (now closed, owned by the caller), false if another gate already
 * holds @idx closed (@g untouched; park on sd_gate_find()'s result).
 */
bool sd_gate_close(struct sd_gate_table *t, struct sd_gate *g, uint32_t idx);

/* Append @waiter to the closed gate @g (FIFO). */
void sd_gate_park(struct sd_gate *g, struct sd_list *waiter);

/*
 * Open the gate @g (closed by the caller): remove it from the table and
 * move its waiters to the tail of @woken, in park order.
 */
void sd_gate_open(struct sd_gate_table *t, struct sd_gate *g,
		  struct sd_list *woken);

/*
 * Hand the closed gate @from over to the storage @to (same object index,
 * same parked waiters, still closed), so the gate can outlive the piece
 * that closed it (an "uncertain" create waiting for its re-check).
 */
void sd_gate_move(struct sd_gate_table *t, struct sd_gate *from,
		  struct sd_gate *to);

#endif
