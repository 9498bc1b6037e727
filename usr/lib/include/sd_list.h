/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_list.h - a minimal intrusive doubly linked list.
 */
#ifndef SD_LIST_H
#define SD_LIST_H

#include <stddef.h>
#include <stdbool.h>

struct sd_list {
	struct sd_list *next;
	struct sd_list *prev;
};

#define SD_LIST_INIT(name) { &(name), &(name) }

#define sd_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define sd_list_entry(ptr, type, member) sd_container_of(ptr, type, member)

#define sd_list_first_entry(head, type, member) \
	sd_list_entry((head)->next, type, member)

#define sd_list_for_each_safe(pos, n, head) \
	for (pos = (head)->next, n = pos->next; pos != (head); \
	     pos = n, n = pos->next)

static inline void sd_list_init(struct sd_list *l)
{
	l->next = l;
	l->prev = l;
}

static inline bool sd_list_empty(const struct sd_list *l)
{
	return l->next == l;
}

static inline void sd_list_insert(struct sd_list *n, struct sd_list *prev,
				  struct sd_list *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}

/* add at the tail (FIFO order) */
static inline void sd_list_add_tail(struct sd_list *n, struct sd_list *head)
{
	sd_list_insert(n, head->prev, head);
}

static inline void sd_list_add(struct sd_list *n, struct sd_list *head)
{
	sd_list_insert(n, head, head->next);
}

static inline void sd_list_del(struct sd_list *n)
{
	n->next->prev = n->prev;
	n->prev->next = n->next;
	sd_list_init(n);
}

/* move every entry of @from to the tail of @to; @from becomes empty */
static inline void sd_list_splice_tail(struct sd_list *from, struct sd_list *to)
{
	if (sd_list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	sd_list_init(from);
}

#endif
