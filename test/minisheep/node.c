// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * node.c - the "sheep nodes" of minisheep and what each of them believes.
 *
 * A node exists when it has a listener (--listen N=ADDR); its id is
 * 127.0.0.1 and its first TCP port (else 7000+N-1).  Every node keeps its
 * own view of the VDI state that sheep keeps per node in memory
 * (sheep/vdi.c struct vdi_state_entry: the snapshot flag, copies, the lock
 * state, the owner of a normal lock, the participants of a shared lock and
 * their coherence states).  Those views change only through one ordered
 * queue of cluster events, the process_main() steps of cluster operations
 * and notifications (LOCK_VDI, RELEASE_VDI, NOTIFY_VDI_ADD, NEW_VDI,
 * DEL_VDI, INODE_COHERENCE, nodes leaving and joining): every node applies
 * every event in the same total order, as sheep/cluster/local.c's shared
 * queue makes every sheep process them, but each at its own time.  The
 * node that posted an event applies it at once; the others apply it
 * --cluster-lag ms later (plus up to the jitter), so two nodes can
 * briefly disagree, as real nodes do.  A node applies its due events
 * lazily, whenever it looks at its view.  A request is judged with the
 * view of the node that received it.
 *
 * A global view applies every event when it is posted: it is what a node
 * that joins copies (sheep's joining node gets the vdi state of the
 * cluster), and it answers for nodes that are gone.
 *
 * Membership: a node is DOWN (killed), WAIT (listening but not accepted:
 * WAIT_FOR_JOIN, its old epoch), UP, STOPPING (a clean stop: KILLED
 * answers until it leaves) or SHUTDOWN (cluster shutdown).  UP, STOPPING
 * and SHUTDOWN nodes are members: they apply events and count in the node
 * sets.  Every leave and join is an event (each view keeps its member
 * set) and a new epoch, with its node set, the set before it and the
 * recovery window in force (see node_recovery_gate()).
 *
 * One mutex guards the nodes, the queue and the views.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "minisheep.h"
#include "../common/mix64.h"

/* sheep's enum lock_state and enum shared_lock_state */
#define LSTATE_UNLOCKED		1
#define LSTATE_LOCKED		2
#define LSTATE_SHARED		3
#define PSTATE_MODIFIED		1
#define PSTATE_SHARED		2
#define PSTATE_INVALIDATED	3

#define VIEW_BUCKETS		1024
#define EPOCH_HISTORY		256

/* one vid in one node's view (sheep/vdi.c struct vdi_state_entry) */
struct vstate {
	struct vstate *next;		/* hash chain */
	uint32_t vid;
	uint8_t nr_copies;
	uint8_t copy_policy;
	uint8_t block_shift;
	bool snapshot;
	bool deleted;
	uint32_t parent_vid;
	uint32_t lock_state;
	uint64_t owner;			/* normal lock */
	uint32_t nr;			/* shared lock participants */
	uint64_t part[MS_MAX_PARTICIPANTS];
	uint32_t pstate[MS_MAX_PARTICIPANTS];
};

struct view {
	struct vstate *b[VIEW_BUCKETS];
	uint32_t nr;
	uint32_t epoch;
	uint32_t members;	/* bit n: node n (sheep's vnode_info) */
};

enum cev_type {
	CEV_NOP,		/* unblock of an op without process_main */
	CEV_VDI_ADD,		/* cluster_notify_vdi_add() */
	CEV_NEW_VDI,		/* post_cluster_new_vdi() */
	CEV_DEL_VDI,		/* post_cluster_del_vdi() */
	CEV_LOCK,		/* cluster_lock_vdi_main() */
	CEV_RELEASE,		/* cluster_release_vdi_main() */
	CEV_COHERENCE,		/* cluster_inode_coherence() */
	CEV_LEAVE,		/* sd_leave_handler() */
	CEV_JOIN,		/* sd_accept_handler() */
};

struct cev {
	struct cev *next;
	uint64_t seq;
	enum cev_type type;
	int sender;		/* node index; applies it at once */
	uint64_t who;		/* key of the sender / of who left */
	uint32_t vid;
	uint32_t old_vid;
	uint32_t arg;		/* lock type, validate */
	uint8_t copies, policy, shift;
	uint64_t due_us[MS_MAX_NODES];
	int *result_out;	/* the sender's result goes here */
};

struct node {
	bool exists;
	bool alive;		/* a member: UP, STOPPING or SHUTDOWN */
	enum ms_node_state state;
	uint64_t collect_until_us;	/* COLLECTING_CINFO until then */
	uint16_t port;
	struct view view;
	uint64_t applied;	/* seq of the last event applied */
	struct cev *pending;	/* first event not applied, NULL = none */
};

struct epoch_rec {
	uint32_t epoch;
	uint32_t alive;		/* bit n: node n */
	uint32_t prev;		/* the node set before */
	uint64_t time_s;
	uint64_t rec_start_us;	/* its recovery starts (monotonic) */
	uint32_t rec_ms;	/* and lasts at most */
	uint32_t rec_pct;	/* objects not in the recovery list */
};

unsigned int ms_lag_ms, ms_jitter_ms;
unsigned int ms_recovery_ms, ms_recovery_pct;

static pthread_mutex_t ns_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ns_cond;
static struct node nodes[MS_MAX_NODES];
static struct view gview;		/* every event applied when posted */
static struct cev *ev_head, *ev_tail;
static uint64_t ev_last_seq;
static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;
static unsigned int lag_ms, jitter_ms;
static unsigned int rec_ms, rec_pct;
static struct epoch_rec epochs[EPOCH_HISTORY];
static uint32_t nr_epochs;
static uint64_t member_seq;	/* the last leave or join event */

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

bool node_exists(int n)
{
	return n >= 0 && n < MS_MAX_NODES && nodes[n].exists;
}

bool node_alive(int n)
{
	bool a;

	pthread_mutex_lock(&ns_mu);
	a = node_exists(n) && nodes[n].alive;
	pthread_mutex_unlock(&ns_mu);
	return a;
}

uint64_t node_key(int n)
{
	return nodes[n].port;
}

uint16_t node_port(int n)
{
	return nodes[n].port;
}

static uint32_t alive_mask_locked(void)
{
	uint32_t m = 0;
	int n;

	for (n = 0; n < MS_MAX_NODES; n++)
		if (nodes[n].exists && nodes[n].alive)
			m |= 1u << n;
	return m;
}

int node_nr_alive(void)
{
	int nr;

	pthread_mutex_lock(&ns_mu);
	nr = __builtin_popcount(alive_mask_locked());
	pthread_mutex_unlock(&ns_mu);
	return nr;
}

void node_fill_id(uint8_t *p, uint64_t key)
{
	memset(p, 0, 40);
	/* 127.0.0.1 as an IPv4-mapped address: 12 zero bytes + 4 bytes */
	p[12] = 127;
	p[15] = 1;
	sd_put_le16(p + 16, (uint16_t)(key & 0xffff));
}

void node_fill_sd_node(uint8_t *p, int n)
{
	struct statvfs sv;
	uint64_t space = 0;

	memset(p, 0, MS_NODE_SIZE);
	node_fill_id(p + 24, node_key(n));
	sd_put_le16(p + 64, 128);		/* nr_vnodes */
	sd_put_le32(p + 68, (uint32_t)n + 1);	/* zone: the node number */
	if (!statvfs(ms_dir, &sv))
		space = (uint64_t)sv.f_blocks * sv.f_frsize;
	sd_put_le64(p + 72, space);
}

static void epoch_record_locked(uint32_t epoch)
{
	uint32_t prev = nr_epochs ? epochs[nr_epochs - 1].alive :
		alive_mask_locked();
	struct epoch_rec *e;

	if (nr_epochs == EPOCH_HISTORY) {
		memmove(epochs, epochs + 1, sizeof(epochs) - sizeof(epochs[0]));
		nr_epochs--;
	}
	e = &epochs[nr_epochs++];
	e->epoch = epoch;
	e->alive = alive_mask_locked();
	e->prev = prev;
	e->time_s = (uint64_t)time(NULL);
	/* every node starts its recovery once it applied the change */
	e->rec_start_us = ms_now_us() + ((uint64_t)lag_ms + jitter_ms) * 1000;
	e->rec_ms = rec_ms;
	e->rec_pct = rec_pct;
}

/* the node set of @epoch; returns its epoch number or 0 if unknown */
uint32_t node_epoch_nodes(uint32_t epoch, uint32_t *alive_mask,
			  uint64_t *time_s)
{
	uint32_t i, ret = 0;

	pthread_mutex_lock(&ns_mu);
	for (i = 0; i < nr_epochs; i++) {
		if (epochs[i].epoch != epoch)
			continue;
		*alive_mask = epochs[i].alive;
		*time_s = epochs[i].time_s;
		ret = epoch;
	}
	pthread_mutex_unlock(&ns_mu);
	return ret;
}

/* ---- a view: sheep/vdi.c's vdi_state functions ------------------------ */

static struct vstate *vs_find(struct view *v, uint32_t vid)
{
	struct vstate *e;

	for (e = v->b[vid % VIEW_BUCKETS]; e; e = e->next)
		if (e->vid == vid)
			return e;
	return NULL;
}

static void view_clear(struct view *v)
{
	struct vstate *e, *next;
	int i;

	for (i = 0; i < VIEW_BUCKETS; i++) {
		for (e = v->b[i]; e; e = next) {
			next = e->next;
			free(e);
		}
		v->b[i] = NULL;
	}
	v->nr = 0;
}

static int view_copy(struct view *dst, const struct view *src)
{
	struct vstate *e, *c;
	int i;

	view_clear(dst);
	dst->epoch = src->epoch;
	dst->members = src->members;
	for (i = 0; i < VIEW_BUCKETS; i++) {
		for (e = src->b[i]; e; e = e->next) {
			c = malloc(sizeof(*c));
			if (!c)
				return -ENOMEM;
			*c = *e;
			c->next = dst->b[i];
			dst->b[i] = c;
			dst->nr++;
		}
	}
	return 0;
}

/* as sheep/vdi.c do_add_vdi_state(): a new entry is unlocked; an existing
 * one keeps its lock state and gets the new attributes */
static void add_vdi_state(struct view *v, uint32_t vid, uint8_t copies,
			  bool snapshot, uint8_t policy, uint8_t shift,
			  uint32_t parent)
{
	struct vstate *e = vs_find(v, vid);

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			ms_log("out of memory for the state of vid %x", vid);
			return;
		}
		e->vid = vid;
		e->lock_state = LSTATE_UNLOCKED;
		e->parent_vid = parent;
		e->next = v->b[vid % VIEW_BUCKETS];
		v->b[vid % VIEW_BUCKETS] = e;
		v->nr++;
	} else if (parent) {
		e->parent_vid = parent;
	}
	e->nr_copies = copies;
	e->snapshot = snapshot;
	e->copy_policy = policy;
	e->block_shift = shift;
}

/* as sheep/vdi.c get_vdi_copy_number(): the cluster default if unknown */
static int copies_of(struct view *v, uint32_t vid)
{
	struct vstate *e = vs_find(v, vid);

	return e ? e->nr_copies : ms_cluster.copies;
}

static int shift_of(struct view *v, uint32_t vid)
{
	struct vstate *e = vs_find(v, vid);

	return e ? e->block_shift : ms_cluster.block_shift;
}

static int part_index(const struct vstate *e, uint64_t who)
{
	uint32_t i;

	for (i = 0; i < e->nr; i++)
		if (e->part[i] == who)
			return (int)i;
	return -1;
}

/* as sheep/vdi.c is_modified() (which panics on two MODIFIED owners) */
static bool is_modified(const struct vstate *e)
{
	uint32_t i, n = 0;

	for (i = 0; i < e->nr; i++)
		if (e->pstate[i] == PSTATE_MODIFIED)
			n++;
	if (n > 1)
		ms_log("invalid shared state of vid %x: %u owners", e->vid, n);
	return n > 0;
}

/* as sheep/vdi.c add_new_participant() */
static bool add_new_participant(struct vstate *e, uint64_t who)
{
	if (e->lock_state == LSTATE_UNLOCKED) {
		e->nr = 1;
		e->part[0] = who;
		e->pstate[0] = PSTATE_MODIFIED;
		e->lock_state = LSTATE_SHARED;
		return true;
	}
	if (e->nr == MS_MAX_PARTICIPANTS || part_index(e, who) >= 0)
		return false;
	e->part[e->nr] = who;
	e->pstate[e->nr] = is_modified(e) ? PSTATE_INVALIDATED : PSTATE_SHARED;
	e->nr++;
	return true;
}

/* as sheep/vdi.c del_participant(): order kept, last one unlocks */
static void del_participant(struct vstate *e, uint64_t who)
{
	int i = part_index(e, who);

	if (!e->nr || i < 0)
		return;
	memmove(&e->part[i], &e->part[i + 1],
		(e->nr - 1 - (uint32_t)i) * sizeof(e->part[0]));
	memmove(&e->pstate[i], &e->pstate[i + 1],
		(e->nr - 1 - (uint32_t)i) * sizeof(e->pstate[0]));
	e->nr--;
	if (!e->nr)
		e->lock_state = LSTATE_UNLOCKED;
}

/* as sheep/vdi.c vdi_lock() */
static bool vdi_lock(struct view *v, uint32_t vid, uint64_t who, uint32_t type)
{
	struct vstate *e = vs_find(v, vid);

	if (!e || (type != SD_LOCK_TYPE_NORMAL && type != SD_LOCK_TYPE_SHARED))
		return false;
	if (type == SD_LOCK_TYPE_NORMAL) {
		if (e->lock_state != LSTATE_UNLOCKED)
			return false;
		e->lock_state = LSTATE_LOCKED;
		e->owner = who;
		return true;
	}
	if (e->lock_state == LSTATE_LOCKED)
		return false;
	return add_new_participant(e, who);
}

/* as sheep/vdi.c vdi_unlock(): by the request's type; a normal lock is
 * released whoever asks */
static void vdi_unlock(struct view *v, uint32_t vid, uint64_t who,
		       uint32_t type)
{
	struct vstate *e = vs_find(v, vid);

	if (!e)
		return;
	if (type == SD_LOCK_TYPE_NORMAL) {
		if (e->lock_state == LSTATE_LOCKED) {
			e->lock_state = LSTATE_UNLOCKED;
			e->owner = 0;
		}
	} else if (e->lock_state == LSTATE_SHARED) {
		del_participant(e, who);
	}
}

/* as sheep/vdi.c inode_coherence_update() */
static int inode_coherence_update(struct view *v, uint32_t vid, bool validate,
				  uint64_t sender)
{
	struct vstate *e = vs_find(v, vid);
	bool invalidated = false;
	uint32_t i;

	if (!e)
		return SD_RES_NO_VDI;
	if (e->lock_state != LSTATE_SHARED) {
		/* sheep asserts here; the lock went away meanwhile */
		ms_log("inode coherence update of vid %x, which is not "
		       "shared-locked", vid);
		return SD_RES_SUCCESS;
	}
	for (i = 0; i < e->nr; i++) {
		if (validate) {
			/* other INVALIDATED ones validate by themselves */
			if (e->part[i] != sender &&
			    e->pstate[i] == PSTATE_INVALIDATED)
				continue;
			e->pstate[i] = PSTATE_SHARED;
		} else if (e->part[i] != sender) {
			e->pstate[i] = PSTATE_INVALIDATED;
		} else {
			e->pstate[i] = PSTATE_MODIFIED;
			invalidated = true;
		}
	}
	return validate || invalidated ? SD_RES_SUCCESS : SD_RES_NO_VDI;
}

/* as sheep/vdi.c remove_node_from_participants(): normal locks stay */
static void remove_from_participants(struct view *v, uint64_t who)
{
	struct vstate *e;
	int i;

	for (i = 0; i < VIEW_BUCKETS; i++)
		for (e = v->b[i]; e; e = e->next)
			del_participant(e, who);
}

static int apply(struct view *v, const struct cev *ev)
{
	switch (ev->type) {
	case CEV_VDI_ADD:
		/* cluster_notify_vdi_add(): the previous working vdi becomes
		 * a snapshot (with the request's copy policy), the new one
		 * an unlocked working vdi whose parent is the old one */
		if (ev->old_vid)
			add_vdi_state(v, ev->old_vid,
				      (uint8_t)copies_of(v, ev->old_vid), true,
				      ev->policy,
				      (uint8_t)shift_of(v, ev->old_vid), 0);
		add_vdi_state(v, ev->vid, ev->copies, false, ev->policy,
			      ev->shift, ev->old_vid);
		return SD_RES_SUCCESS;
	case CEV_DEL_VDI: {
		/* post_cluster_del_vdi() -> vdi_mark_deleted() */
		struct vstate *e = vs_find(v, ev->vid);

		if (e)
			e->deleted = true;
		return SD_RES_SUCCESS;
	}
	case CEV_LOCK:
		/* cluster_lock_vdi_main() */
		if (!ms_use_lock())
			return SD_RES_SUCCESS;
		return vdi_lock(v, ev->vid, ev->who, ev->arg) ?
			SD_RES_SUCCESS : SD_RES_VDI_LOCKED;
	case CEV_RELEASE:
		/* cluster_release_vdi_main(): always SUCCESS */
		if (ms_use_lock())
			vdi_unlock(v, ev->vid, ev->who, ev->arg);
		return SD_RES_SUCCESS;
	case CEV_COHERENCE:
		return inode_coherence_update(v, ev->vid, ev->arg, ev->who);
	case CEV_LEAVE:
		/* sd_leave_handler(): new vnode_info, inc_and_log_epoch() */
		remove_from_participants(v, ev->who);
		v->members &= ~(1u << ev->sender);
		v->epoch++;
		return SD_RES_SUCCESS;
	case CEV_JOIN:
		/* sd_accept_handler() -> update_cluster_info() */
		v->members |= 1u << ev->sender;
		v->epoch++;
		return SD_RES_SUCCESS;
	case CEV_NOP:
	case CEV_NEW_VDI:
	default:
		return SD_RES_SUCCESS;
	}
}

/* ---- the event queue ---------------------------------------------------- */

/* apply node @n's due events, in order (ns_mu held) */
static void view_sync(int n, uint64_t now_us)
{
	struct node *nd = &nodes[n];
	struct cev *ev;

	if (!nd->exists || !nd->alive)
		return;
	while ((ev = nd->pending) && ev->due_us[n] <= now_us) {
		int res = apply(&nd->view, ev);

		if (ev->sender == n && ev->result_out)
			*ev->result_out = res;
		nd->applied = ev->seq;
		nd->pending = ev->next;
	}
}

/* free the events every live node has applied (ns_mu held) */
static void ev_trim(void)
{
	uint64_t min = ev_last_seq;
	struct cev *ev;
	int n;

	for (n = 0; n < MS_MAX_NODES; n++)
		if (nodes[n].exists && nodes[n].alive &&
		    nodes[n].applied < min)
			min = nodes[n].applied;
	while ((ev = ev_head) && ev->seq <= min) {
		ev_head = ev->next;
		if (!ev_head)
			ev_tail = NULL;
		free(ev);
	}
}

/*
 * Post @tmpl: the global view applies it now (its result goes to
 * *tmpl->result_out until the sender's own view overwrites it), node
 * @tmpl->sender at once, the others after the lag; returns its seq, 0 if
 * out of memory (ns_mu held).
 */
static uint64_t ev_post(const struct cev *tmpl)
{
	uint64_t now = ms_now_us();
	struct cev *ev = malloc(sizeof(*ev));
	int n, res;

	if (!ev) {
		ms_log("out of memory for a cluster event");
		return 0;
	}
	*ev = *tmpl;
	ev->next = NULL;
	ev->seq = ++ev_last_seq;
	for (n = 0; n < MS_MAX_NODES; n++) {
		uint64_t d = 0;

		if (n != ev->sender) {
			d = (uint64_t)lag_ms * 1000;
			if (jitter_ms)
				d += rnd() % ((uint64_t)jitter_ms * 1000 + 1);
		}
		ev->due_us[n] = now + d;
	}
	res = apply(&gview, ev);
	if (ev->result_out)
		*ev->result_out = res;
	if (ev_tail)
		ev_tail->next = ev;
	else
		ev_head = ev;
	ev_tail = ev;
	for (n = 0; n < MS_MAX_NODES; n++)
		if (nodes[n].exists && nodes[n].alive && !nodes[n].pending)
			nodes[n].pending = ev;
	ev_trim();
	pthread_cond_broadcast(&ns_cond);
	return ev_last_seq;
}

/*
 * Node @n left or joined (@type; @what in the log): post the membership
 * event, record the new epoch (ns_mu held).
 */
static void post_membership_locked(enum cev_type type, int n,
				   const char *what)
{
	struct cev ev = { .type = type, .sender = n, .who = node_key(n) };

	member_seq = ev_post(&ev);
	epoch_record_locked(gview.epoch);
	ms_log("node %d (port %u) %s, epoch %u", n + 1, nodes[n].port, what,
	       gview.epoch);
}

/* wait until node @n applied event @seq (ns_mu held) */
static void wait_applied(int n, uint64_t seq)
{
	for (;;) {
		struct node *nd = &nodes[n];
		uint64_t now = ms_now_us(), due;
		struct timespec ts;

		view_sync(n, now);
		if (!nd->exists || !nd->alive || nd->applied >= seq ||
		    !nd->pending)
			return;
		due = nd->pending->due_us[n];
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((due - now) / 1000000);
		ts.tv_nsec += (long)((due - now) % 1000000) * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ns_cond, &ns_mu, &ts);
	}
}

/* post, wait for node @n, return the result on it (ns_mu held) */
static int post_and_wait(int n, struct cev *tmpl)
{
	int result = SD_RES_SUCCESS;
	uint64_t seq;

	tmpl->sender = n;
	tmpl->result_out = &result;
	seq = ev_post(tmpl);
	if (!seq)
		return SD_RES_NO_MEM;
	/* a node that is gone never applies it: the global view answered */
	wait_applied(n, seq);
	return result;
}

/* ---- set-up, joins and leaves ----------------------------------------- */

int node_setup(const bool exists[MS_MAX_NODES],
	       const uint16_t tcp_port[MS_MAX_NODES])
{
	pthread_condattr_t ca;
	int n, m;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ns_cond, &ca);
	pthread_condattr_destroy(&ca);
	lag_ms = ms_lag_ms;
	jitter_ms = ms_jitter_ms;
	for (n = 0; n < MS_MAX_NODES; n++) {
		nodes[n].exists = exists[n];
		nodes[n].alive = exists[n];
		nodes[n].state = exists[n] ? MS_NODE_UP : MS_NODE_DOWN;
		nodes[n].port = tcp_port[n];
	}
	/* no TCP listener: 7000+N-1, or the next port no other node has */
	for (n = 0; n < MS_MAX_NODES; n++) {
		uint16_t p = (uint16_t)(SD_DEFAULT_PORT + n);
		bool clash;

		if (!exists[n] || nodes[n].port)
			continue;
		do {
			clash = false;
			for (m = 0; m < MS_MAX_NODES; m++)
				if (m != n && exists[m] && nodes[m].port == p)
					clash = true;
			if (clash)
				p++;
		} while (clash);
		nodes[n].port = p;
	}
	rec_ms = ms_recovery_ms;
	rec_pct = ms_recovery_pct;
	gview.epoch = 1;
	gview.members = alive_mask_locked();
	for (n = 0; n < MS_MAX_NODES; n++) {
		nodes[n].view.epoch = 1;
		nodes[n].view.members = gview.members;
	}
	epoch_record_locked(1);
	return 0;
}

/*
 * Node @n's sheep is gone (kill -9, or the end of a clean stop): it
 * applies nothing any more; the others learn that it left
 * (sd_leave_handler(): remove_node_from_participants() drops its
 * shared-lock participations, normal locks it owns stay, the epoch goes
 * up and recovery starts), each after the lag.  The last member leaves no
 * epoch behind: nobody is left to log it.
 */
void node_leave(int n)
{
	pthread_mutex_lock(&ns_mu);
	if (!nodes[n].alive) {
		nodes[n].state = MS_NODE_DOWN;
		pthread_mutex_unlock(&ns_mu);
		return;
	}
	nodes[n].alive = false;
	nodes[n].state = MS_NODE_DOWN;
	nodes[n].pending = NULL;
	if (!alive_mask_locked()) {
		ms_log("node %d (port %u) left, the last one: the cluster is "
		       "down at epoch %u", n + 1, nodes[n].port, gview.epoch);
		pthread_mutex_unlock(&ns_mu);
		return;
	}
	post_membership_locked(CEV_LEAVE, n, "left");
	pthread_mutex_unlock(&ns_mu);
}

/* a node that is not a member stops (a WAIT node killed, or a node of a
 * cluster that shut down: sd_leave_handler() ignores leaves then) */
void node_down(int n)
{
	pthread_mutex_lock(&ns_mu);
	nodes[n].alive = false;
	nodes[n].state = MS_NODE_DOWN;
	nodes[n].pending = NULL;
	pthread_mutex_unlock(&ns_mu);
}

/*
 * Node @n's sheep is back and accepted (sd_accept_handler() ->
 * update_cluster_info()): it gets the cluster's VDI state, the epoch goes
 * up and recovery starts; its store was purged (setup_backend_store()
 * calls purge_obj() for a node that is not in the latest epoch), so
 * every object placed on it is missing there until recovered.  On a
 * cluster with locking it collects the lock state for @collect_ms
 * (SD_NODE_STATUS_COLLECTING_CINFO, collect_cinfo()).
 */
void node_join(int n, unsigned int collect_ms)
{
	pthread_mutex_lock(&ns_mu);
	if (nodes[n].alive) {
		pthread_mutex_unlock(&ns_mu);
		return;
	}
	if (view_copy(&nodes[n].view, &gview))
		ms_log("node %d: out of memory copying the VDI state", n + 1);
	nodes[n].applied = ev_last_seq;
	nodes[n].pending = NULL;
	nodes[n].alive = true;
	nodes[n].state = MS_NODE_UP;
	nodes[n].collect_until_us = collect_ms ?
		ms_now_us() + (uint64_t)collect_ms * 1000 : 0;
	post_membership_locked(CEV_JOIN, n, "joined");
	pthread_mutex_unlock(&ns_mu);
}

enum ms_node_state node_state(int n)
{
	enum ms_node_state st;

	pthread_mutex_lock(&ns_mu);
	st = node_exists(n) ? nodes[n].state : MS_NODE_DOWN;
	pthread_mutex_unlock(&ns_mu);
	return st;
}

/* WAIT (listening, not accepted), STOPPING or SHUTDOWN; a WAIT node keeps
 * the view and epoch it had when it went down (create_cluster() reads its
 * own latest epoch) */
void node_set_state(int n, enum ms_node_state st)
{
	pthread_mutex_lock(&ns_mu);
	nodes[n].state = st;
	pthread_mutex_unlock(&ns_mu);
}

static uint32_t waiting_mask_locked(void)
{
	uint32_t m = 0;
	int n;

	for (n = 0; n < MS_MAX_NODES; n++)
		if (nodes[n].exists && nodes[n].state == MS_NODE_WAIT)
			m |= 1u << n;
	return m;
}

/*
 * The cluster was down (every node killed, or a cluster shutdown) and
 * nodes start again: as sheep/group.c cluster_wait_check() and
 * enough_nodes_gathered(), it stays WAIT until every node of the latest
 * epoch is back; then the waiting nodes (mask @ready) form the cluster.
 * The epoch stays when they are exactly the latest epoch's nodes (no
 * recovery); otherwise it goes up and the newcomers recover
 * (update_cluster_info(): membership_changed()).  Returns true when it
 * formed.
 */
bool node_form_cluster(uint32_t ready)
{
	uint32_t last, n;

	pthread_mutex_lock(&ns_mu);
	last = nr_epochs ? epochs[nr_epochs - 1].alive : 0;
	if (alive_mask_locked() || !ready || (ready & last) != last) {
		pthread_mutex_unlock(&ns_mu);
		return false;
	}
	if (ready != last)
		gview.epoch++;
	gview.members = ready;
	for (n = 0; n < MS_MAX_NODES; n++) {
		if (!(ready & (1u << n)))
			continue;
		if (view_copy(&nodes[n].view, &gview))
			ms_log("node %u: out of memory copying the VDI state",
			       n + 1);
		nodes[n].applied = ev_last_seq;
		nodes[n].pending = NULL;
		nodes[n].alive = true;
		nodes[n].state = MS_NODE_UP;
	}
	if (ready != last)
		epoch_record_locked(gview.epoch);
	ms_log("the cluster is up again, epoch %u", gview.epoch);
	pthread_mutex_unlock(&ns_mu);
	return true;
}

/* the nodes that listen but wait to be accepted */
uint32_t node_waiting_mask(void)
{
	uint32_t m;

	pthread_mutex_lock(&ns_mu);
	m = waiting_mask_locked();
	pthread_mutex_unlock(&ns_mu);
	return m;
}

void node_set_recovery(unsigned int ms, unsigned int pct)
{
	pthread_mutex_lock(&ns_mu);
	rec_ms = ms;
	rec_pct = pct;
	pthread_mutex_unlock(&ns_mu);
}

void node_set_lag(unsigned int l, unsigned int j)
{
	pthread_mutex_lock(&ns_mu);
	lag_ms = l;
	jitter_ms = j;
	pthread_mutex_unlock(&ns_mu);
}

uint32_t node_epoch(int n)
{
	uint32_t e;

	pthread_mutex_lock(&ns_mu);
	if (node_exists(n) && nodes[n].alive) {
		view_sync(n, ms_now_us());
		e = nodes[n].view.epoch;
	} else if (node_exists(n) && nodes[n].state == MS_NODE_WAIT) {
		e = nodes[n].view.epoch;	/* the one it went down with */
	} else {
		e = gview.epoch;
	}
	pthread_mutex_unlock(&ns_mu);
	return e;
}

const char *node_state_name(enum ms_node_state st)
{
	switch (st) {
	case MS_NODE_UP: return "alive";
	case MS_NODE_WAIT: return "waiting";
	case MS_NODE_STOPPING: return "stopping";
	case MS_NODE_SHUTDOWN: return "shutdown";
	case MS_NODE_DOWN:
	default: return "killed";
	}
}

void node_stats(int n, char *buf, size_t len)
{
	uint64_t behind = 0;
	struct cev *ev;

	pthread_mutex_lock(&ns_mu);
	view_sync(n, ms_now_us());
	for (ev = nodes[n].pending; ev; ev = ev->next)
		behind++;
	snprintf(buf, len, "state=%s port=%u epoch=%u applied=%llu behind=%llu "
		 "vdis=%u", node_state_name(nodes[n].state), nodes[n].port,
		 nodes[n].alive || nodes[n].state == MS_NODE_WAIT ?
		 nodes[n].view.epoch : gview.epoch,
		 (unsigned long long)nodes[n].applied,
		 (unsigned long long)behind, nodes[n].view.nr);
	pthread_mutex_unlock(&ns_mu);
}

/* ---- whole-cluster changes (start-up scan, format) -------------------- */

/* as sheep/store/plain_store.c init_vdi_state() -> add_vdi_state_unordered() */
void node_add_vdi_state_all(uint32_t vid, uint8_t copies, bool snapshot,
			    uint8_t policy, uint8_t shift, uint32_t parent)
{
	int n;

	pthread_mutex_lock(&ns_mu);
	add_vdi_state(&gview, vid, copies, snapshot, policy, shift, parent);
	for (n = 0; n < MS_MAX_NODES; n++)
		if (nodes[n].exists)
			add_vdi_state(&nodes[n].view, vid, copies, snapshot,
				      policy, shift, parent);
	pthread_mutex_unlock(&ns_mu);
}

/* as sheep/vdi.c clean_vdi_state() in cluster_make_fs(), on every node at
 * once; pending events are dropped */
void node_clean_vdi_state_all(void)
{
	struct cev *ev, *next;
	int n;

	pthread_mutex_lock(&ns_mu);
	view_clear(&gview);
	for (n = 0; n < MS_MAX_NODES; n++) {
		view_clear(&nodes[n].view);
		nodes[n].applied = ev_last_seq;
		nodes[n].pending = NULL;
	}
	for (ev = ev_head; ev; ev = next) {
		next = ev->next;
		free(ev);
	}
	ev_head = ev_tail = NULL;
	pthread_cond_broadcast(&ns_cond);
	pthread_mutex_unlock(&ns_mu);
}

/* ---- queries on one node's view --------------------------------------- */

/* the view node @n judges with now (ns_mu held) */
static struct view *view_of(int n)
{
	if (!node_exists(n) || !nodes[n].alive)
		return &gview;
	view_sync(n, ms_now_us());
	return &nodes[n].view;
}

/* as sheep/vdi.c is_refresh_required() */
bool node_is_refresh_required(int n, uint64_t self, uint32_t vid)
{
	struct vstate *e;
	bool ret = false;
	int i;

	pthread_mutex_lock(&ns_mu);
	e = vs_find(view_of(n), vid);
	if (e && !e->snapshot && e->lock_state == LSTATE_SHARED) {
		i = part_index(e, self);
		ret = i >= 0 && e->pstate[i] == PSTATE_INVALIDATED;
	}
	pthread_mutex_unlock(&ns_mu);
	return ret;
}

/* as sheep/vdi.c oid_is_readonly(): data objects of snapshot vids */
bool node_oid_is_readonly(int n, uint64_t oid)
{
	struct vstate *e;
	bool ret;

	if (!sd_oid_is_data(oid))
		return false;
	pthread_mutex_lock(&ns_mu);
	e = vs_find(view_of(n), sd_oid_to_vid(oid));
	ret = e && e->snapshot;
	pthread_mutex_unlock(&ns_mu);
	return ret;
}

void node_get_vdi_layout(int n, uint32_t vid, uint8_t *copies,
			 uint8_t *shift)
{
	struct view *v;

	pthread_mutex_lock(&ns_mu);
	v = view_of(n);
	*copies = (uint8_t)copies_of(v, vid);
	if (shift)
		*shift = (uint8_t)shift_of(v, vid);
	pthread_mutex_unlock(&ns_mu);
}

static int vs_cmp(const void *a, const void *b)
{
	uint32_t x = (*(const struct vstate * const *)a)->vid;
	uint32_t y = (*(const struct vstate * const *)b)->vid;

	return x < y ? -1 : x > y;
}

static void fill_vdi_state(uint8_t *p, const struct vstate *e)
{
	uint32_t i;

	memset(p, 0, MS_VDI_STATE_SIZE);
	sd_put_le32(p, e->vid);
	p[4] = e->nr_copies;
	p[5] = e->snapshot;
	p[6] = e->deleted;
	p[7] = e->copy_policy;
	p[8] = e->block_shift;
	sd_put_le32(p + 12, e->parent_vid);
	sd_put_le32(p + 16, e->lock_state);
	if (e->lock_state == LSTATE_LOCKED)
		node_fill_id(p + 20, e->owner);
	sd_put_le32(p + 60, e->nr);
	for (i = 0; i < e->nr; i++) {
		sd_put_le32(p + 64 + 4 * i, e->pstate[i]);
		node_fill_id(p + 188 + 40 * i, e->part[i]);
	}
}

/* as sheep/vdi.c fill_vdi_state_list(): every entry, by vid */
int node_fill_vdi_states(int n, uint8_t **bufp, uint32_t max, uint32_t *len)
{
	struct vstate **all = NULL, *e;
	struct view *v;
	uint32_t i, k = 0;
	int ret = SD_RES_SUCCESS;

	*bufp = NULL;
	*len = 0;
	pthread_mutex_lock(&ns_mu);
	v = view_of(n);
	if ((uint64_t)v->nr * MS_VDI_STATE_SIZE > max) {
		ret = SD_RES_BUFFER_SMALL;
		goto out;
	}
	if (!v->nr)
		goto out;
	all = malloc(v->nr * sizeof(*all));
	*bufp = malloc((size_t)v->nr * MS_VDI_STATE_SIZE);
	if (!all || !*bufp) {
		free(*bufp);
		*bufp = NULL;
		ret = SD_RES_NO_MEM;
		goto out;
	}
	for (i = 0; i < VIEW_BUCKETS; i++)
		for (e = v->b[i]; e; e = e->next)
			all[k++] = e;
	qsort(all, k, sizeof(*all), vs_cmp);
	for (i = 0; i < k; i++)
		fill_vdi_state(*bufp + (size_t)i * MS_VDI_STATE_SIZE, all[i]);
	*len = k * MS_VDI_STATE_SIZE;
out:
	pthread_mutex_unlock(&ns_mu);
	free(all);
	return ret;
}

/*
 * READ_VDIS / READ_DEL_VDIS on node @n: sheep sets those bits in
 * post_cluster_new_vdi() / post_cluster_del_vdi() on each node; clear the
 * bits of the events @n has not applied yet from the global @bitmap.
 */
void node_unapplied_bits(int n, bool deleted, uint8_t *bitmap)
{
	enum cev_type t = deleted ? CEV_DEL_VDI : CEV_NEW_VDI;
	struct cev *ev;

	pthread_mutex_lock(&ns_mu);
	if (node_exists(n) && nodes[n].alive) {
		view_sync(n, ms_now_us());
		for (ev = nodes[n].pending; ev; ev = ev->next)
			if (ev->type == t)
				bitmap[ev->vid >> 3] &=
					(uint8_t)~(1u << (ev->vid & 7));
	}
	pthread_mutex_unlock(&ns_mu);
}

/* ---- placement, recovery windows, HALT ---------------------------------- */

/*
 * The nodes of set @mask that hold an object's copies.  Sheep places them
 * on its consistent hash ring (oid_to_vnodes(): 128 vnodes per node, one
 * copy per zone, get_obj_copy_number(): min(copies, nr_zones)); minisheep
 * ranks the nodes by a hash of the oid and the node's port (rendezvous
 * hashing), every node its own zone, so an object moves only when a node
 * holding it leaves or a node ranking higher joins.  Returns a mask.
 */
static uint32_t place(uint64_t oid, uint32_t mask, int copies)
{
	uint32_t out = 0;
	int k, n;

	for (k = 0; k < copies; k++) {
		uint64_t best_score = 0;
		int best = -1;

		for (n = 0; n < MS_MAX_NODES; n++) {
			uint64_t sc;

			if (!(mask & ~out & (1u << n)))
				continue;
			sc = mix64(oid ^ mix64((uint64_t)nodes[n].port + 1));
			if (best < 0 || sc > best_score) {
				best = n;
				best_score = sc;
			}
		}
		if (best < 0)
			break;
		out |= 1u << best;
	}
	return out;
}

enum copy_state { COPY_OK, COPY_WAIT, COPY_NOOBJ };

/*
 * The copy of @oid on node @m, while the recovery windows of the recent
 * epochs are open (ns_mu held).  A copy is missing when a change placed
 * it on @m anew (a node that joins was purged, so every copy placed on it
 * is new) and its recovery has not reached it: each copy is recovered at
 * a time of its own within the window (sheep recovers the listed objects
 * one by one, recover_object_main()).  Meanwhile requests that need it
 * wait on the node's wait queue (request_in_recovery(): oid_in_recovery()
 * true), except the share rec_pct of data objects that are not in the
 * recovery list (oid_in_recovery() false: "not in the recovery list", or
 * a list that was cut short by the next epoch), which answer NO_OBJ
 * (default_write()/default_read() of a missing file) until recovered.
 * *@until is when it will be there.
 */
static enum copy_state copy_state(uint64_t oid, int m, int copies,
				  uint64_t now, uint64_t *until)
{
	enum copy_state st = COPY_OK;
	uint32_t i;

	*until = 0;
	for (i = 0; i < nr_epochs; i++) {
		const struct epoch_rec *e = &epochs[i];
		uint64_t h, r;

		if (!e->rec_ms ||
		    e->rec_start_us + (uint64_t)e->rec_ms * 1000 <= now)
			continue;
		if (!(place(oid, e->alive, copies) & (1u << m)) ||
		    (place(oid, e->prev, copies) & (1u << m)))
			continue;
		h = mix64(oid ^ ((uint64_t)e->epoch << 32) ^ (uint64_t)m);
		r = e->rec_start_us + (uint64_t)e->rec_ms * 1000 *
			(h & 1023) / 1024;
		if (r <= now)
			continue;
		if (r > *until)
			*until = r;
		if (sd_oid_is_data(oid) && (h >> 32) % 100 < e->rec_pct)
			st = COPY_NOOBJ;
		else if (st == COPY_OK)
			st = COPY_WAIT;
	}
	return st;
}

/*
 * What a gateway request on @oid (READ_OBJ, WRITE_OBJ, REMOVE_OBJ; the
 * COW source of a create as a read) meets on node @n while copies are
 * being recovered; creates are never held (request_in_recovery()).
 * Sheep's gateway first waits for its own copy (queue_gateway_request():
 * request_in_recovery() on the local oid); then a read takes any copy
 * that answers (gateway_replication_read(): local first, then the others;
 * a peer whose copy is being recovered holds the read until it is), a
 * write needs every copy (gateway_forward_request(),
 * wait_forward_request(): any failing peer fails it).  Returns
 * SD_RES_SUCCESS (go on), SD_RES_NO_OBJ, or MS_GATE_WAIT with the time to
 * look again in *@until_us.
 */
int node_recovery_gate(int n, uint64_t oid, bool read, uint64_t *until_us)
{
	uint64_t now = ms_now_us(), until, wait_min = UINT64_MAX;
	bool any_ok = false, any_noobj = false;
	enum copy_state st;
	struct view *v;
	uint32_t tg;
	int copies, m, ret = SD_RES_SUCCESS;

	pthread_mutex_lock(&ns_mu);
	v = view_of(n);
	copies = copies_of(v, sd_oid_to_vid(oid));
	tg = place(oid, v->members, copies);
	if ((tg & (1u << n)) &&
	    copy_state(oid, n, copies, now, &until) == COPY_WAIT) {
		*until_us = until;
		ret = MS_GATE_WAIT;
		goto out;
	}
	for (m = 0; m < MS_MAX_NODES; m++) {
		if (!(tg & (1u << m)))
			continue;
		st = copy_state(oid, m, copies, now, &until);
		if (st == COPY_OK)
			any_ok = true;
		else if (st == COPY_NOOBJ)
			any_noobj = true;
		else if (until < wait_min)
			wait_min = until;
	}
	if (read && (any_ok || !tg))
		goto out;
	if (wait_min != UINT64_MAX) {
		*until_us = wait_min;
		ret = MS_GATE_WAIT;
	} else if (any_noobj) {
		ret = SD_RES_NO_OBJ;
	}
out:
	pthread_mutex_unlock(&ns_mu);
	return ret;
}

/*
 * The epoch checks between a gateway and its peers: a peer whose epoch is
 * older waits for its own (check_request_epoch(): NEW_NODE_VER, wait
 * queue), a gateway whose epoch is older is told OLD_NODE_VER and waits
 * for its epoch to be lifted (gateway_op_done(),
 * wakeup_requests_on_epoch()); a peer that left fails the forward and the
 * gateway retries (NETWORK_ERROR) until its epoch changes.  None of it
 * reaches the client: a gateway request goes on once every member has
 * applied the latest leave or join.  Returns 0, or the time to look again.
 */
uint64_t node_membership_wait_us(void)
{
	uint64_t now = ms_now_us(), due = 0;
	struct cev *ev;
	int m;

	pthread_mutex_lock(&ns_mu);
	for (m = 0; m < MS_MAX_NODES; m++) {
		if (!nodes[m].exists || !nodes[m].alive)
			continue;
		view_sync(m, now);
		if (nodes[m].applied >= member_seq)
			continue;
		for (ev = nodes[m].pending; ev; ev = ev->next)
			if (ev->seq == member_seq && ev->due_us[m] > due)
				due = ev->due_us[m];
	}
	pthread_mutex_unlock(&ns_mu);
	return due;
}

/*
 * As sheep/request.c queue_gateway_request(): HALT when the node knows no
 * node with storage ("there is no living nodes"), and, on a cluster
 * formatted strict (dog cluster format -t, SD_CLUSTER_FLAG_STRICT), for a
 * write or create while the node's set has fewer zones than the vdi's
 * copies (has_enough_zones(), get_vdi_copy_number()).
 */
bool node_halted(int n, uint32_t vid, bool write)
{
	struct view *v;
	bool ret;

	pthread_mutex_lock(&ns_mu);
	v = view_of(n);
	ret = !v->members ||
		(write && (__atomic_load_n(&ms_cluster.flags, __ATOMIC_ACQUIRE) &
			   MS_CLUSTER_FLAG_STRICT) &&
		 __builtin_popcount(v->members) < copies_of(v, vid));
	pthread_mutex_unlock(&ns_mu);
	return ret;
}

/* sys->node_status == SD_NODE_STATUS_COLLECTING_CINFO */
bool node_collecting(int n)
{
	bool ret;

	pthread_mutex_lock(&ns_mu);
	ret = node_exists(n) && nodes[n].collect_until_us > ms_now_us();
	pthread_mutex_unlock(&ns_mu);
	return ret;
}

/* the members node @n knows of */
uint32_t node_members(int n)
{
	uint32_t m;

	pthread_mutex_lock(&ns_mu);
	m = view_of(n)->members;
	pthread_mutex_unlock(&ns_mu);
	return m;
}

/* ---- notifications and cluster operations ------------------------------ */

/* find @self's coherence state in @vid on node @n (ns_mu held) */
static int self_state(int n, uint64_t self, uint32_t vid)
{
	struct vstate *e = vs_find(view_of(n), vid);
	int i;

	if (!e || e->lock_state != LSTATE_SHARED)
		return 0;
	i = part_index(e, self);
	return i < 0 ? 0 : (int)e->pstate[i];
}

/*
 * As sheep/vdi.c invalidate_other_nodes(): unless this node is already
 * MODIFIED, send INODE_COHERENCE (invalidate) to itself, which returns
 * once this node applied it; the other nodes apply it later.
 */
void node_invalidate_other_nodes(int n, uint64_t self, uint32_t vid)
{
	struct cev ev = { .type = CEV_COHERENCE };
	int st;

	pthread_mutex_lock(&ns_mu);
	st = self_state(n, self, vid);
	if (st && st != PSTATE_MODIFIED) {
		ev.who = self;
		ev.vid = vid;
		ev.arg = 0;
		post_and_wait(n, &ev);
	}
	pthread_mutex_unlock(&ns_mu);
}

/* as sheep/vdi.c validate_myself(): only an INVALIDATED node validates */
void node_validate_myself(int n, uint64_t self, uint32_t vid)
{
	struct cev ev = { .type = CEV_COHERENCE };
	struct vstate *e;

	pthread_mutex_lock(&ns_mu);
	e = vs_find(view_of(n), vid);
	if (e && !e->snapshot &&
	    self_state(n, self, vid) == PSTATE_INVALIDATED) {
		ev.who = self;
		ev.vid = vid;
		ev.arg = 1;
		post_and_wait(n, &ev);
	}
	pthread_mutex_unlock(&ns_mu);
}

/* as sheep/vdi.c notify_vdi_add() (SD_OP_NOTIFY_VDI_ADD to itself) */
int node_notify_vdi_add(int n, uint32_t new_vid, uint8_t copies,
			uint32_t old_vid, uint8_t policy, uint8_t shift)
{
	struct cev ev = { .type = CEV_VDI_ADD };
	int ret;

	ev.vid = new_vid;
	ev.old_vid = old_vid;
	ev.copies = copies;
	ev.policy = policy;
	ev.shift = shift;
	pthread_mutex_lock(&ns_mu);
	ret = post_and_wait(n, &ev);
	pthread_mutex_unlock(&ns_mu);
	return ret;
}

/*
 * The end of a cluster operation run by node @n (sheep/group.c
 * cluster_op_done() -> unblock -> sd_notify_handler()): its process_main
 * step is posted for every node and the requester gets the result of its
 * own node, once that node applied it.  Operations without process_main
 * post a no-op so that their reply is ordered the same way.
 */
int node_cluster_main(int n, uint64_t self, uint8_t opcode, uint32_t vid,
		      uint32_t type)
{
	struct cev ev = { .type = CEV_NOP };
	int ret;

	pthread_mutex_lock(&ns_mu);
	switch (opcode) {
	case SD_OP_NEW_VDI:
		ev.type = CEV_NEW_VDI;
		vdi_note_inuse(vid);
		break;
	case SD_OP_DEL_VDI:
		ev.type = CEV_DEL_VDI;
		vdi_note_deleted(vid);
		break;
	case SD_OP_LOCK_VDI:
		ev.type = CEV_LOCK;
		break;
	case SD_OP_RELEASE_VDI:
		ev.type = CEV_RELEASE;
		break;
	default:
		break;
	}
	ev.who = self;
	ev.vid = vid;
	ev.arg = type;
	ret = post_and_wait(n, &ev);
	pthread_mutex_unlock(&ns_mu);
	return ret;
}

/*
 * sheep/group.c sd_block_handler(): a node starts its blocked cluster
 * operation only after it processed the events before it (the local
 * driver processes the non-block queue first).
 */
void node_catch_up(int n)
{
	pthread_mutex_lock(&ns_mu);
	if (node_exists(n))
		wait_applied(n, ev_last_seq);
	pthread_mutex_unlock(&ns_mu);
}

/* control "node N locks": node @n's locks and participants, one word each
 * vid: "VID:normal:OWNERPORT" or "VID:shared:PORT=STATE,..." */
void node_locks(int n, char *buf, size_t len)
{
	static const char *ps[] = { "?", "modified", "shared", "invalidated" };
	struct vstate *e;
	struct view *v;
	size_t off = 0;
	uint32_t j;
	int i;

	if (len)
		buf[0] = '\0';
	pthread_mutex_lock(&ns_mu);
	v = view_of(n);
	for (i = 0; i < VIEW_BUCKETS && off < len; i++) {
		for (e = v->b[i]; e && off < len; e = e->next) {
			if (e->lock_state == LSTATE_LOCKED)
				off += (size_t)snprintf(buf + off, len - off,
					" %x:normal:%u", e->vid,
					(unsigned int)(e->owner & 0xffff));
			if (e->lock_state != LSTATE_SHARED)
				continue;
			off += (size_t)snprintf(buf + off, len - off,
						" %x:shared:", e->vid);
			for (j = 0; j < e->nr && off < len; j++)
				off += (size_t)snprintf(buf + off, len - off,
					"%s%u=%s", j ? "," : "",
					(unsigned int)(e->part[j] & 0xffff),
					ps[e->pstate[j] & 3]);
		}
	}
	pthread_mutex_unlock(&ns_mu);
}
