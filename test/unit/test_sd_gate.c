// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_gate.c - unit test of the per-object create gates
 * (usr/lib/sd_gate.c): closing, finding, parking and waking in order, a
 * move to other storage, and many gates in the hash.  Pure data
 * structure: nothing is stubbed.  One small function per case.
 */
#include <stdlib.h>

#include "tap.h"
#include "../../usr/lib/sd_gate.c"

static struct sd_gate_table t;

static void reset(void)
{
	sd_gate_table_init(&t);
}

static void case_close_find(void)
{
	struct sd_gate g1, g2;

	CHECK(!sd_gate_find(&t, 5), "gate: open by default", "found");
	CHECK(sd_gate_close(&t, &g1, 5), "gate: close", "refused");
	CHECK(sd_gate_find(&t, 5) == &g1, "gate: find closed", "not found");
	CHECK(!sd_gate_find(&t, 6) && !sd_gate_find(&t, 5 + SD_GATE_BUCKETS),
	      "gate: other index open", "found");
	CHECK(!sd_gate_close(&t, &g2, 5), "gate: second close refused",
	      "closed twice");
}

/* the order of @woken as decimal digits: 1 for @w1, 2 for @w2 */
static int woken_order(struct sd_list *woken, struct sd_list *w1,
		       struct sd_list *w2)
{
	struct sd_list *pos;
	int order = 0;

	for (pos = woken->next; pos != woken; pos = pos->next)
		order = order * 10 + (pos == w1 ? 1 : pos == w2 ? 2 : 9);
	return order;
}

static void case_park_open(void)
{
	struct sd_gate g;
	struct sd_list w1, w2, woken;
	int order;

	sd_gate_close(&t, &g, 5);
	sd_gate_park(&g, &w1);
	sd_gate_park(&g, &w2);
	sd_list_init(&woken);
	sd_gate_open(&t, &g, &woken);
	order = woken_order(&woken, &w1, &w2);
	CHECK(order == 12, "gate: waiters woken in park order", "order %d",
	      order);
	CHECK(!sd_gate_find(&t, 5) && t.nr_closed == 0, "gate: open again",
	      "still closed");
}

static void case_move(void)
{
	struct sd_gate from, to;
	struct sd_list w1, w2, woken;
	int order;

	sd_gate_close(&t, &from, 9);
	sd_gate_park(&from, &w1);
	sd_gate_park(&from, &w2);
	sd_gate_move(&t, &from, &to);
	CHECK(sd_gate_find(&t, 9) == &to && !from.closed && t.nr_closed == 1,
	      "gate: move keeps it closed in new storage", "find %p",
	      (void *)sd_gate_find(&t, 9));
	sd_list_init(&woken);
	sd_gate_open(&t, &to, &woken);
	order = woken_order(&woken, &w1, &w2);
	CHECK(order == 12 && !sd_gate_find(&t, 9),
	      "gate: moved gate wakes its waiters in order", "order %d",
	      order);
}

static void case_many(void)
{
	struct sd_gate *many;
	struct sd_list woken;
	int i, bad = 0;

	many = calloc(5000, sizeof(*many));
	if (!many)
		abort();
	for (i = 0; i < 5000; i++)
		if (!sd_gate_close(&t, &many[i], (uint32_t)i * 7))
			bad++;
	for (i = 0; i < 5000; i += 2) {
		sd_list_init(&woken);
		sd_gate_open(&t, &many[i], &woken);
		if (!sd_list_empty(&woken))
			bad++;
	}
	for (i = 0; i < 5000; i++)
		if ((sd_gate_find(&t, (uint32_t)i * 7) == &many[i]) != (i & 1))
			bad++;
	CHECK(!bad && t.nr_closed == 2500, "gate: 5000 gates in the hash",
	      "%d wrong, %u closed", bad, t.nr_closed);
	free(many);
}

int main(void)
{
	static const struct t_case cases[] = {
		T_CASE(case_close_find),
		T_CASE(case_park_open),
		T_CASE(case_move),
		T_CASE(case_many),
	};

	return T_RUN(cases, reset, NULL);
}
