// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_gate.c - the per-object create gates of an open VDI: a small hash of
 * closed gates keyed by object index.  A gate is closed while a create (or
 * an index-entry update, or the re-check of an uncertain create) of its
 * object is in flight; writes that meet a closed gate park on it until it
 * opens.  The caller holds the VDI mutex.
 */
#include "sd_gate.h"

static struct sd_list *sd_gate_bucket(struct sd_gate_table *t, uint32_t idx)
{
	/* multiplicative hash: neighbouring indexes land in different lists */
	uint32_t h = idx * 2654435761u;

	return &t->buckets[(h >> 16) & (SD_GATE_BUCKETS - 1)];
}

void sd_gate_table_init(struct sd_gate_table *t)
{
	unsigned int i;

	for (i = 0; i < SD_GATE_BUCKETS; i++)
		sd_list_init(&t->buckets[i]);
	t->nr_closed = 0;
}

struct sd_gate *sd_gate_find(struct sd_gate_table *t, uint32_t idx)
{
	struct sd_list *head, *pos;
	struct sd_gate *g;

	if (!t->nr_closed)
		return NULL;
	head = sd_gate_bucket(t, idx);
	for (pos = head->next; pos != head; pos = pos->next) {
		g = sd_list_entry(pos, struct sd_gate, hlink);
		if (g->idx == idx)
			return g;
	}
	return NULL;
}

bool sd_gate_close(struct sd_gate_table *t, struct sd_gate *g, uint32_t idx)
{
	if (sd_gate_find(t, idx))
		return false;
	g->idx = idx;
	g->closed = true;
	sd_list_init(&g->waiters);
	sd_list_add_tail(&g->hlink, sd_gate_bucket(t, idx));
	t->nr_closed++;
	return true;
}

void sd_gate_park(struct sd_gate *g, struct sd_list *waiter)
{
	sd_list_add_tail(waiter, &g->waiters);
}

void sd_gate_open(struct sd_gate_table *t, struct sd_gate *g,
		  struct sd_list *woken)
{
	if (!g->closed)
		return;
	sd_list_del(&g->hlink);
	g->closed = false;
	t->nr_closed--;
	sd_list_splice_tail(&g->waiters, woken);
}

void sd_gate_move(struct sd_gate_table *t, struct sd_gate *from,
		  struct sd_gate *to)
{
	(void)t;
	to->idx = from->idx;
	to->closed = true;
	sd_list_init(&to->waiters);
	sd_list_splice_tail(&from->waiters, &to->waiters);
	/* take @from's place in its bucket chain */
	sd_list_add(&to->hlink, &from->hlink);
	sd_list_del(&from->hlink);
	from->closed = false;
}
