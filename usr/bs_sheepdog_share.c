// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bs_sheepdog_share.c - registries of the clients (connection pools) and
 * VDI handles the module's LUs share.
 *
 * Pools.  A client's connections carry requests of any VDI, so one client
 * serves every LU whose client settings are the same: the primary
 * address, the fallback addresses, the timeout, the connection count and
 * the loop.  A thousand LUs on one sheep therefore hold `connections`
 * sockets (8 by default), not eight thousand, and requests of different
 * VDIs interleave on them.  Failover and reconnect stay per client, so per
 * address list: a lost connection resends or fails only the requests it
 * carried, whichever LUs they came from.  Pools are reference counted by
 * the VDI handles that use them.
 *
 * VDI handles.  Several LUs of one tgtd may name the same VDI (two LUNs of
 * a target, or LUNs of different targets).  Each VDI handle keeps an
 * in-memory copy of the inode's data-object index, and with an exclusive
 * lock only one handle may exist at all, so every LU that opens the same
 * VDI uses ONE VDI handle: an object allocated through one LU is then
 * visible through the others at once, and the lock is taken once.  The key
 * is the canonical primary address (sd_addr_format), the VDI name, the tag
 * and the snapshot id; snapshot LUs therefore share among themselves but
 * never with the working VDI.  All sharers must have the same settings
 * (the client's and the lock mode): an LU that names an open VDI with
 * different settings is refused with one log line rather than silently
 * running with the first LU's settings.  Entries are reference counted:
 * the first bs_open opens the VDI (and the pool, if it is the pool's
 * first VDI), the last bs_close closes the VDI (releasing its lock) and
 * drops its pool reference.
 *
 * Threading: the registry is used only from tgtd's main thread (bs_open and
 * bs_close run there, one at a time), so the lists need no lock.  The
 * clients and VDI handles themselves are thread-safe and are used from the
 * main thread and the workers.  By default (loop=tgtd) the
 * client has no I/O thread of its own: it runs on tgtd's main loop
 * (external loop, see sd_conn.h), which watches its event fd and calls
 * sd_client_process(); replies are read and their commands completed right
 * there, without a thread hand-off.  loop=thread keeps the library's I/O
 * thread, one per pool (completions then go through the module's eventfd).
 */
#include <errno.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs_sheepdog.h"

/* one client, shared by the VDI handles with the same client settings */
struct bs_sd_pool {
	struct sd_list link;
	char addr[SD_ADDR_STR_MAX];	/* canonical primary address */
	struct bs_sd_opts opts;		/* lock is not a client setting */
	struct sd_client *client;
	bool event_added;		/* client's fd is on tgtd's loop */
	unsigned int refs;		/* VDI handles using it */
};

struct bs_sd_share {
	struct sd_list link;
	char addr[SD_ADDR_STR_MAX];	/* canonical primary address */
	char vdi[sizeof(((struct sd_target *)0)->vdi)];
	char tag[sizeof(((struct sd_target *)0)->tag)];
	uint32_t snapid;
	struct bs_sd_opts opts;		/* the settings every sharer has */
	struct bs_sd_pool *pool;
	struct sd_vdi *vdi_handle;
	unsigned int refs;
};

/* Set while the main loop runs a client: completions may finish at once. */
__thread bool bs_sd_in_event;

/* tgtd's main loop: the client's event fd is readable */
static void pool_event(int fd, int events, void *data)
{
	struct bs_sd_pool *p = data;

	(void)fd;
	(void)events;
	bs_sd_in_event = true;
	sd_client_process(p->client);
	bs_sd_in_event = false;
}

/* main thread only: see the comment at the top */
static struct sd_list pools = SD_LIST_INIT(pools);
static struct sd_list shares = SD_LIST_INIT(shares);

/* "ADDR:VDI[:TAG|:SNAPID]" of a target, for log lines */
static void target_format(const struct bs_sd_share *s, char *buf, size_t len)
{
	if (s->tag[0])
		snprintf(buf, len, "%s:%s:%s", s->addr, s->vdi, s->tag);
	else if (s->snapid)
		snprintf(buf, len, "%s:%s:%u", s->addr, s->vdi, s->snapid);
	else
		snprintf(buf, len, "%s:%s", s->addr, s->vdi);
}


/*
 * Compare the settings that shape a client (all but the lock mode).
 * Returns true when equal; otherwise writes which one differs into why.
 */
static bool client_opts_equal(const struct bs_sd_opts *a,
			      const struct bs_sd_opts *b, char *why,
			      size_t whylen)
{
	char fa[SD_ADDR_STR_MAX], fb[SD_ADDR_STR_MAX];
	unsigned int i;

	if (a->timeout_s != b->timeout_s) {
		snprintf(why, whylen, "timeout=%u, open with timeout=%u",
			 a->timeout_s, b->timeout_s);
		return false;
	}
	if (a->nr_conns != b->nr_conns) {
		snprintf(why, whylen, "connections=%u, open with connections=%u",
			 a->nr_conns, b->nr_conns);
		return false;
	}
	if (a->loop_thread != b->loop_thread) {
		snprintf(why, whylen, "loop=%s, open with loop=%s",
			 a->loop_thread ? "thread" : "tgtd",
			 b->loop_thread ? "thread" : "tgtd");
		return false;
	}
	if (a->nr_fallback != b->nr_fallback) {
		snprintf(why, whylen, "%u fallback addresses, open with %u",
			 a->nr_fallback, b->nr_fallback);
		return false;
	}
	for (i = 0; i < a->nr_fallback; i++) {
		sd_addr_format(&a->fallback[i], fa, sizeof(fa));
		sd_addr_format(&b->fallback[i], fb, sizeof(fb));
		if (strcmp(fa, fb)) {
			snprintf(why, whylen, "fallback=%s, open with fallback=%s",
				 fa, fb);
			return false;
		}
	}
	return true;
}

/* the same for a VDI handle: the client settings and the lock mode */
static bool opts_equal(const struct bs_sd_opts *a, const struct bs_sd_opts *b,
		       char *why, size_t whylen)
{
	if (a->lock != b->lock) {
		snprintf(why, whylen, "lock=%s, open with lock=%s",
			 sd_lock_mode_name(a->lock), sd_lock_mode_name(b->lock));
		return false;
	}
	return client_opts_equal(a, b, why, whylen);
}

/* the pool for @t's address and @o's client settings, or NULL */
static struct bs_sd_pool *pool_find(const char *addr,
				    const struct bs_sd_opts *o)
{
	char why[2 * SD_ADDR_STR_MAX + 64];
	struct sd_list *pos;

	for (pos = pools.next; pos != &pools; pos = pos->next) {
		struct bs_sd_pool *p =
			sd_list_entry(pos, struct bs_sd_pool, link);

		if (!strcmp(p->addr, addr) &&
		    client_opts_equal(&p->opts, o, why, sizeof(why)))
			return p;
	}
	return NULL;
}

/* a new client for @t's address and @o; NULL with sd_get_error() set */
static struct bs_sd_pool *pool_new(const char *addr,
				   const struct sd_target *t,
				   const struct bs_sd_opts *o)
{
	struct sd_addr addrs[SD_MAX_ADDRS];
	struct sd_client_opts co;
	struct bs_sd_pool *p;
	unsigned int i;

	p = calloc(1, sizeof(*p));
	if (!p) {
		sd_set_error(ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	p->opts = *o;
	sd_list_init(&p->link);

	addrs[0] = t->addr;
	for (i = 0; i < o->nr_fallback; i++)
		addrs[i + 1] = o->fallback[i];
	memset(&co, 0, sizeof(co));
	co.addrs = addrs;
	co.nr_addrs = 1 + o->nr_fallback;
	co.nr_conns = o->nr_conns;
	co.timeout_ms = o->timeout_s * 1000;
	co.external_loop = !o->loop_thread;
	if (sd_client_new(&co, &p->client))
		goto fail;
	if (co.external_loop) {
		if (tgt_event_add(sd_client_event_fd(p->client), EPOLLIN,
				  pool_event, p)) {
			sd_set_error(ENOMEM,
				     "cannot add the client to tgtd's loop");
			goto fail;
		}
		p->event_added = true;
	}
	sd_list_add_tail(&p->link, &pools);
	return p;

fail:
	sd_client_free(p->client);
	free(p);
	return NULL;
}

/* a reference to the pool for @t (at @addr) and @o, made when there is none */
static struct bs_sd_pool *pool_get(const char *addr,
				   const struct sd_target *t,
				   const struct bs_sd_opts *o)
{
	struct bs_sd_pool *p;

	p = pool_find(addr, o);
	if (!p)
		p = pool_new(addr, t, o);
	if (!p)
		return NULL;
	p->refs++;
	if (is_debug)
		log_debug("bs_sheepdog: client %s (%u connections) serves %u VDI handle%s\n",
			  p->addr, o->nr_conns, p->refs,
			  p->refs > 1 ? "s" : "");
	return p;
}

static void pool_put(struct bs_sd_pool *p)
{
	if (!p || --p->refs)
		return;
	sd_list_del(&p->link);
	if (p->event_added)
		tgt_event_del(sd_client_event_fd(p->client));
	sd_client_free(p->client);
	free(p);
}

static struct bs_sd_share *share_find(const char *addr,
				      const struct sd_target *t)
{
	struct sd_list *pos;

	for (pos = shares.next; pos != &shares; pos = pos->next) {
		struct bs_sd_share *s =
			sd_list_entry(pos, struct bs_sd_share, link);

		if (!strcmp(s->addr, addr) && !strcmp(s->vdi, t->vdi) &&
		    !strcmp(s->tag, t->tag) && s->snapid == t->snapid)
			return s;
	}
	return NULL;
}

/* first user: open the VDI on its pool; logs one line on failure */
static struct bs_sd_share *share_open(const char *addr,
				      const struct sd_target *t,
				      const struct bs_sd_opts *o,
				      const char *path)
{
	struct sd_vdi_open_args oa;
	struct bs_sd_share *s;

	s = calloc(1, sizeof(*s));
	if (!s) {
		sd_set_error(ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	snprintf(s->vdi, sizeof(s->vdi), "%s", t->vdi);
	snprintf(s->tag, sizeof(s->tag), "%s", t->tag);
	s->snapid = t->snapid;
	s->opts = *o;
	sd_list_init(&s->link);

	s->pool = pool_get(addr, t, o);
	if (!s->pool)
		goto fail;
	memset(&oa, 0, sizeof(oa));
	oa.name = t->vdi;
	oa.tag = t->tag;
	oa.snapid = t->snapid;
	oa.lock = o->lock;
	if (sd_vdi_open(s->pool->client, &oa, &s->vdi_handle))
		goto fail;
	s->refs = 1;
	sd_list_add_tail(&s->link, &shares);
	return s;

fail:
	log_error("bs_sheepdog: cannot open '%s': %s\n", path, sd_get_error());
	if (s)
		pool_put(s->pool);
	free(s);
	return NULL;
}

struct bs_sd_share *bs_sd_share_get(const struct sd_target *t,
				    const struct bs_sd_opts *o,
				    const char *path)
{
	char addr[SD_ADDR_STR_MAX];
	char name[SD_ADDR_STR_MAX + 2 * sizeof(t->vdi) + 16];
	char why[2 * SD_ADDR_STR_MAX + 64];
	struct bs_sd_share *s;

	sd_addr_format(&t->addr, addr, sizeof(addr));
	s = share_find(addr, t);
	if (!s)
		return share_open(addr, t, o, path);
	if (!opts_equal(o, &s->opts, why, sizeof(why))) {
		target_format(s, name, sizeof(name));
		log_error("bs_sheepdog: '%s' is already open by another LU with different bsopts (%s)\n",
			  name, why);
		return NULL;
	}
	s->refs++;
	if (is_debug) {
		target_format(s, name, sizeof(name));
		log_debug("bs_sheepdog: '%s' shared by %u LUs\n", name,
			  s->refs);
	}
	return s;
}

void bs_sd_share_put(struct bs_sd_share *s)
{
	if (!s || --s->refs)
		return;
	sd_list_del(&s->link);
	sd_vdi_close(s->vdi_handle);	/* releases the lock, if any */
	pool_put(s->pool);
	free(s);
}

struct sd_vdi *bs_sd_share_vdi(const struct bs_sd_share *s)
{
	return s->vdi_handle;
}
