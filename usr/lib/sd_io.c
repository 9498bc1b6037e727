// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_io.c - layer 4: asynchronous reads, writes, zeroing, discards and
 * flushes of an open VDI, and block status (the synchronous wrappers are
 * in sd_io_sync.c).
 *
 * Every aio call gets one context (struct io_call) with an embedded array of
 * piece slots; each slot carries one object piece at a time (its
 * sd_request, sub-iovec and create gate storage).  Calls covering more
 * pieces than slots reuse a slot for the next piece when it finishes.
 * Reads of unallocated objects are zero-filled locally, other reads go
 * straight into the caller's buffers.  Writes to owned objects are plain
 * WRITE_OBJs; writes to unowned objects close the object's create gate,
 * CREATE_AND_WRITE_OBJ (copy-on-write from the inherited object), publish
 * the 4-byte index entry on the inode, update the in-memory index, and open
 * the gate again; writes meeting a closed gate park on it and are
 * re-evaluated when it opens.  Reads never wait.  One mutex per VDI guards
 * the index, the gates and the call bookkeeping; user callbacks always run
 * without it.
 *
 * Recovery (sections 7 and 8 of the protocol notes):
 * - READONLY (the VDI was snapshotted while open) and INODE_INVALIDATED
 *   (multipath: another gateway changed the index) re-dispatch the piece
 *   after a reload of the VDI (one at a time per VDI; pieces needing it
 *   park on it).  A reload first drains in-flight creates and index
 *   updates, then sd_reload.c resolves the working vid / refreshes the
 *   index and merges it (reload_apply() there has the rule that
 *   re-publishes allocations a snapshot raced with: the re-publishes are
 *   the background entry work below), and sd_io_reload_resume() lets the
 *   parked work go on.  This file never calls layer 3 (sd_vdi.c): only
 *   the reload (sd_reload.c) does.
 * - Shared-lock handles (SD_LOCK_SHARED) send every object request with
 *   SD_FLAG_CMD_TGT, and re-check a hole's index entry on the server
 *   before answering zeros (another gateway may have allocated it).  A
 *   read completes only after a read fence (SD_FENCE_READ) sent after it
 *   was dispatched came back clean (fence_arm()): neither
 *   INODE_INVALIDATED (another gateway changed the index, so an inherited
 *   entry may be stale) nor a snapshot of our vid (another gateway's
 *   writes go to a new vid).  Only
 *   the refresh of a stale index makes the TGT flag alone enough for
 *   owned objects; inherited entries and snapshots need the fence.
 * - An index update (allocation or deallocation), in every lock mode,
 *   stands only once a cluster fence (SD_FENCE_CLUSTER, GET_VDI_INFO)
 *   sent after it names the same working vid: a snapshot taken by another
 *   client rewrites the inode from a copy it read earlier (sheep/vdi.c
 *   snapshot_vdi()) and may swallow the update; the fence sees the new vid
 *   then and the piece is written again there before it is acknowledged.
 * - A create or index update that fails with a transport error may still
 *   execute on the server: its object stays gated for parked writers until
 *   a re-read of the index entry settles it (bg_recheck_start()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_vdi_internal.h"

#define IO_SLOTS_MAX	64	/* piece slots of one call */
#define IO_INLINE_IOV	4	/* sub-iovec entries without malloc */
#define IO_ZERO_BUF	(UINT32_C(4) << 20)
#define IO_REDO_MAX	32	/* READONLY/INVALIDATED retries of a piece */
#define IO_RECHECK_TRIES 3	/* re-reads of an uncertain index entry */
#define IO_BACKOFF_MIN_NS (UINT64_C(10) * 1000000)	/* NO_OBJ retries */
#define IO_BACKOFF_MAX_NS (UINT64_C(500) * 1000000)

/* never written: lives in .bss, shared by every zero write */
static uint8_t sd_zero_buf[IO_ZERO_BUF];

enum io_kind {
	IO_READ,
	IO_WRITE,
	IO_ZERO,	/* write zeros everywhere */
	IO_UNMAP,	/* deallocate whole objects, zero partial allocated */
	IO_FLUSH,
};

enum piece_state {
	PIECE_IDLE,
	PIECE_DATA,	/* READ_OBJ or WRITE_OBJ in flight */
	PIECE_CREATE,	/* CREATE_AND_WRITE_OBJ in flight, gate held */
	PIECE_INDEX,	/* index entry WRITE_OBJ in flight, gate held */
	PIECE_PARKED,	/* waiting on another piece's gate */
	PIECE_HOLECHECK, /* shared mode: index entry read of a hole */
	PIECE_FENCE,	/* read done (shared mode) or entry published,
			 * waiting for a fence (sd_vdi_internal.h) */
	PIECE_RELOAD,	/* waiting for the VDI's reload */
	PIECE_CLAIM,	/* shared mode: taking the object's claim, gate held */
	PIECE_ENTRYCHECK, /* shared mode: NO_OBJ, index entry re-read */
	PIECE_BACKOFF,	/* NO_OBJ of an object the index names: waits to
			 * start again (recovery) */
};

/* piece_start() results besides <= 0 (finished with that error) */
#define PIECE_PENDING	1
#define PIECE_HOLE	2	/* read of an unallocated object: zero-fill */

struct io_call;

struct io_piece {
	struct io_call *call;
	struct sd_span span;
	enum piece_state state;
	bool gate_held;
	bool redo;			/* re-dispatched after READONLY or
					 * INVALIDATED: waits for reloads */
	bool resume_index;		/* object created, only its index
					 * update is to be (re)sent */
	bool zero_fill;			/* hole check found a hole */
	unsigned int redos;
	uint32_t gen;			/* v->gen when its request was sent */
	uint64_t fence_need[SD_FENCE_KINDS]; /* the fence of each kind that
					 * must come back clean (READ, shared
					 * mode: reads, writes; CLUSTER:
					 * publishes), 0 = none */
	bool noobj_checked;		/* shared mode: NO_OBJ re-checked once */
	unsigned int backoffs;		/* NO_OBJ retries so far */
	struct sd_claim *claim;		/* shared mode: held on the object */
	uint32_t claim_vid;		/* v->vid when it was asked for */
	uint32_t new_entry;		/* index value being published */
	struct sd_list link;		/* todo list or gate waiters */
	struct sd_request req;
	struct sd_gate gate;		/* storage when this piece closes it */
	uint8_t entry_le[4];
	struct iovec entry_iov;
	struct iovec *iov;		/* sub-iovec of the piece */
	int iovcnt;
	int iov_cap;			/* capacity of a malloc'ed iov, 0 = inline */
	struct iovec iov_inline[IO_INLINE_IOV];
};

struct io_call {
	struct sd_vdi *v;
	enum io_kind kind;
	unsigned int flags;
	sd_io_done_fn done;
	void *opaque;
	uint64_t deadline_ns;
	int err;			/* first error */

	/* the byte range and the caller's buffers */
	uint64_t off;
	uint64_t len;
	const struct iovec *iov;
	int iovcnt;
	int cur_iov;			/* cursor for the next piece's slice */
	uint64_t cur_off;		/* offset inside iov[cur_iov] */

	uint32_t nr_spans;
	uint32_t next_span;		/* next piece to start */
	uint32_t active;		/* slots holding a piece */

	/* flush ordering */
	uint64_t seq;			/* write calls: order of acceptance */
	bool in_write_list;
	struct sd_list wlink;		/* v->write_calls or v->flush_waiters */
	struct sd_list clink;		/* local list of finished calls */
	struct sd_request flush_req;	/* FLUSH_VDI (flush call or FUA) */

	uint32_t nr_slots;
	struct io_piece slots[];
};

/*
 * Background index-entry work that no call owns, holding the object's gate:
 * the re-check of an uncertain create / index update (READ_OBJ of the
 * 4-byte entry), and the re-publish of an entry after a reload, which for
 * an allocated entry first copies the object into the new vid (BG_COPY)
 * and then publishes the new vid (BG_REPUBLISH).
 */
enum bg_kind {
	BG_RECHECK,
	BG_COPY,
	BG_REPUBLISH,
};

struct io_bg {
	struct sd_vdi *v;
	enum bg_kind kind;
	struct sd_claim *claim;		/* shared mode: held on the object */
	uint32_t claim_vid;		/* v->vid when it was asked for */
	uint32_t idx;
	uint32_t entry;			/* copy: source vid; re-publish: value */
	uint32_t gen;
	unsigned int attempts;		/* re-check transport failures */
	unsigned int redos;
	struct sd_list link;		/* v->rl.bg_waiters or a local list */
	struct sd_gate gate;
	struct sd_request req;
	uint8_t le[4];
	struct iovec iov;
};

static void call_complete(struct io_call *call);
static void io_run(struct sd_vdi *v, struct sd_list *todo,
		   struct sd_list *done_calls);
static int fence_arm(struct sd_vdi *v, enum sd_fence_kind k,
		     struct io_piece *p);

static bool kind_writes(enum io_kind k)
{
	return k == IO_WRITE || k == IO_ZERO || k == IO_UNMAP;
}

static int res_to_err(const struct sd_request *req, int err)
{
	if (err)
		return err;
	if (req->rsp.result != SD_RES_SUCCESS)
		return -sd_result_to_errno(req->rsp.result);
	return 0;
}

/* a connection-layer failure after which the request may have executed */
static bool is_transport_err(int cerr)
{
	return cerr < 0 && cerr != -ECANCELED;
}

static void dirty_set(struct sd_vdi *v, uint32_t i)
{
	v->dirty[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* ---- sub-iovecs -------------------------------------------------------- */

static int piece_iov_reserve(struct io_piece *p, int n)
{
	struct iovec *a;

	if (n <= IO_INLINE_IOV) {
		p->iov = p->iov_cap ? p->iov : p->iov_inline;
		return 0;
	}
	if (p->iov_cap >= n)
		return 0;
	a = malloc(n * sizeof(*a));
	if (!a)
		return -ENOMEM;
	if (p->iov_cap)
		free(p->iov);
	p->iov = a;
	p->iov_cap = n;
	return 0;
}

/*
 * Point the piece's iovec at its bytes: a slice of the caller's iovecs
 * (advancing the call's cursor, pieces are set up in order) or zeros.
 */
static int piece_build_iov(struct io_call *call, struct io_piece *p)
{
	uint32_t left = p->span.len;
	int i, n, ret;

	if (call->kind == IO_ZERO || call->kind == IO_UNMAP) {
		n = (int)((left + IO_ZERO_BUF - 1) / IO_ZERO_BUF);
		ret = piece_iov_reserve(p, n);
		if (ret)
			return ret;
		for (i = 0; i < n; i++) {
			uint32_t l = left < IO_ZERO_BUF ? left : IO_ZERO_BUF;

			p->iov[i].iov_base = sd_zero_buf;
			p->iov[i].iov_len = l;
			left -= l;
		}
		p->iovcnt = n;
		return 0;
	}

	/* skip empty entries and count the slice */
	{
		int ci = call->cur_iov;
		uint64_t co = call->cur_off;
		uint64_t need = left;

		n = 0;
		while (need) {
			uint64_t avail = call->iov[ci].iov_len - co;

			if (avail) {
				n++;
				need -= avail < need ? avail : need;
			}
			ci++;
			co = 0;
		}
	}
	ret = piece_iov_reserve(p, n);
	if (ret)
		return ret;
	n = 0;
	while (left) {
		const struct iovec *s = &call->iov[call->cur_iov];
		uint64_t avail = s->iov_len - call->cur_off;
		uint32_t l = avail < left ? (uint32_t)avail : left;

		if (l) {
			p->iov[n].iov_base = (uint8_t *)s->iov_base +
					     call->cur_off;
			p->iov[n].iov_len = l;
			n++;
			left -= l;
		}
		call->cur_off += l;
		if (call->cur_off == s->iov_len) {
			call->cur_iov++;
			call->cur_off = 0;
		}
	}
	p->iovcnt = n;
	return 0;
}

/* ---- requests ----------------------------------------------------------- */

static void piece_req_done(struct sd_request *req, int err);

/*
 * An object request of @v (pieces, background entry work, fences): the
 * header basics, the TGT flag in shared mode and resending allowed.
 */
static void obj_req_init(struct sd_vdi *v, struct sd_request *r,
			 uint8_t opcode, uint64_t oid, uint32_t offset,
			 uint32_t len, sd_request_done_fn done, void *priv)
{
	memset(r, 0, sizeof(*r));
	r->vstats = &v->stats;
	r->hdr.proto_ver = SD_PROTO_VER;
	r->hdr.opcode = opcode;
	r->hdr.data_length = len;
	r->hdr.obj.oid = oid;
	r->hdr.obj.offset = offset;
	r->hdr.obj.copies = v->nr_copies;
	r->hdr.obj.copy_policy = v->copy_policy;
	/* multipath: lets the server refuse us while our index is stale */
	if (v->lock == SD_LOCK_SHARED)
		r->hdr.flags = SD_FLAG_CMD_TGT;
	/* every object op of ours is idempotent or protected by the gate */
	r->req_flags = SD_REQ_RESEND;
	r->done = done;
	r->priv = priv;
}

static void piece_req_init(struct io_piece *p, uint8_t opcode, uint64_t oid,
			   uint32_t offset, uint32_t len)
{
	struct sd_vdi *v = p->call->v;

	obj_req_init(v, &p->req, opcode, oid, offset, len, piece_req_done, p);
	p->req.deadline_ns = p->call->deadline_ns;
	p->gen = v->gen;
}

static int piece_submit_read(struct io_piece *p, uint32_t e)
{
	piece_req_init(p, SD_OP_READ_OBJ, sd_vid_to_data_oid(e, p->span.idx),
		       p->span.obj_off, p->span.len);
	p->req.in_iov = p->iov;
	p->req.in_iovcnt = p->iovcnt;
	p->state = PIECE_DATA;
	return sd_client_submit(p->call->v->c, &p->req);
}

static int piece_submit_write(struct io_piece *p, uint32_t vid)
{
	piece_req_init(p, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(vid, p->span.idx),
		       p->span.obj_off, p->span.len);
	p->req.hdr.flags |= SD_FLAG_CMD_WRITE;
	p->req.out_iov = p->iov;
	p->req.out_iovcnt = p->iovcnt;
	p->state = PIECE_DATA;
	return sd_client_submit(p->call->v->c, &p->req);
}

static int piece_submit_create(struct io_piece *p, uint32_t vid, uint32_t e)
{
	struct sd_vdi *v = p->call->v;
	int ret;

	piece_req_init(p, SD_OP_CREATE_AND_WRITE_OBJ,
		       sd_vid_to_data_oid(vid, p->span.idx), p->span.obj_off,
		       p->span.len);
	p->req.hdr.flags |= SD_FLAG_CMD_WRITE;
	if (e) {
		p->req.hdr.flags |= SD_FLAG_CMD_COW;
		p->req.hdr.obj.cow_oid = sd_vid_to_data_oid(e, p->span.idx);
	}
	p->req.out_iov = p->iov;
	p->req.out_iovcnt = p->iovcnt;
	p->state = PIECE_CREATE;
	p->new_entry = vid;
	ret = sd_client_submit(v->c, &p->req);
	if (!ret)
		v->meta_inflight++;
	return ret;
}

/* WRITE_OBJ of exactly one 4-byte index entry on our inode */
static int piece_submit_index(struct io_piece *p, uint32_t vid,
			      uint32_t entry)
{
	struct sd_vdi *v = p->call->v;
	int ret;

	sd_put_le32(p->entry_le, entry);
	p->entry_iov.iov_base = p->entry_le;
	p->entry_iov.iov_len = sizeof(p->entry_le);
	piece_req_init(p, SD_OP_WRITE_OBJ, sd_vid_to_vdi_oid(vid),
		       sd_inode_index_offset(p->span.idx), 4);
	p->req.hdr.flags |= SD_FLAG_CMD_WRITE;
	p->req.out_iov = &p->entry_iov;
	p->req.out_iovcnt = 1;
	p->state = PIECE_INDEX;
	p->new_entry = entry;
	ret = sd_client_submit(v->c, &p->req);
	if (!ret) {
		v->meta_inflight++;
		/* the inode of vid now differs from what a snapshot copied */
		dirty_set(v, p->span.idx);
	}
	return ret;
}

/*
 * Shared mode: READ_OBJ of the 4-byte index entry on our inode
 * (TGT-flagged), because another gateway may have allocated the object
 * (a read of a hole or of an inherited entry: PIECE_HOLECHECK), or
 * deallocated it (NO_OBJ on a write: PIECE_ENTRYCHECK).
 */
static int piece_submit_entry_read(struct io_piece *p,
				   enum piece_state state)
{
	struct sd_vdi *v = p->call->v;

	p->entry_iov.iov_base = p->entry_le;
	p->entry_iov.iov_len = sizeof(p->entry_le);
	piece_req_init(p, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(v->vid),
		       sd_inode_index_offset(p->span.idx), 4);
	p->req.in_iov = &p->entry_iov;
	p->req.in_iovcnt = 1;
	p->state = state;
	return sd_client_submit(v->c, &p->req);
}

/* ---- claims (shared mode, mu held) ----------------------------------- */

static void piece_claim_done(struct sd_claim *cl, int err);

/*
 * Ask for the claim on object @idx of our vid (see sd_claim.h); @done(priv)
 * runs when it is settled.  On success *claim_vid records the vid asked
 * for.  0 or -errno.
 */
static int obj_claim(struct sd_vdi *v, uint32_t idx, uint64_t deadline_ns,
		     sd_claim_done_fn done, void *priv, struct sd_claim **cl,
		     uint32_t *claim_vid)
{
	struct sd_claim_args a = {
		.c = v->c,
		.book = v->claims,
		.name = v->name,
		.vid = v->vid,
		.idx = idx,
		.copies = v->nr_copies,
		.copy_policy = v->copy_policy,
		.deadline_ns = deadline_ns,
		.done = done,
		.priv = priv,
	};
	int ret;

	ret = sd_claim_acquire(&a, cl);
	if (!ret)
		*claim_vid = v->vid;
	return ret;
}

/*
 * Take the claim on the piece's object before creating or deallocating it
 * (its gate is held).  The claim's entry read tells what the object is on
 * the server now.
 */
static int piece_claim(struct io_piece *p)
{
	int ret;

	ret = obj_claim(p->call->v, p->span.idx, p->call->deadline_ns,
			piece_claim_done, p, &p->claim, &p->claim_vid);
	if (!ret)
		p->state = PIECE_CLAIM;
	return ret;
}

/* The piece is done with its claim (published, failed or redone). */
static void piece_claim_end(struct io_piece *p)
{
	if (p->claim) {
		sd_claim_release(p->claim);
		p->claim = NULL;
	}
}

/* ---- piece engine (v->mu held unless said otherwise) ------------------ */

static void piece_gate_open(struct io_piece *p, struct sd_list *todo)
{
	if (!p->gate_held)
		return;
	sd_gate_open(&p->call->v->gates, &p->gate, todo);
	p->gate_held = false;
}

/*
 * Decide what the piece needs and send it.  Returns PIECE_PENDING (sent or
 * parked), PIECE_HOLE (read of a hole, caller zero-fills) or <= 0: finished
 * now with that result.  Pieces woken by a failed send go to @todo.
 */
static int piece_start(struct io_piece *p, struct sd_list *todo)
{
	struct io_call *call = p->call;
	struct sd_vdi *v = call->v;
	uint32_t i = p->span.idx;
	uint32_t e = v->index[i];
	struct sd_gate *g;
	int ret;

	if (p->zero_fill) {
		p->zero_fill = false;
		return PIECE_HOLE;
	}

	/*
	 * While a reload drains or runs, nothing that writes (and nothing
	 * that already met a stale state) is sent against the old state.
	 * Plain reads go on: the old vid's objects are what they were.
	 */
	if (v->rl.state != SD_RELOAD_IDLE &&
	    (kind_writes(call->kind) || p->redo || p->resume_index)) {
		p->state = PIECE_RELOAD;
		sd_list_add_tail(&p->link, &v->rl.waiters);
		return PIECE_PENDING;
	}

	if (p->resume_index) {
		/* the object exists (gate still held): publish it on the
		 * current inode, which may be a new vid after a snapshot */
		p->resume_index = false;
		ret = piece_submit_index(p, v->vid, p->new_entry);
		goto sent;
	}

	if (call->kind == IO_READ) {
		/* reads never wait for gates: they see the published index */
		if (v->lock == SD_LOCK_SHARED) {
			ret = fence_arm(v, SD_FENCE_READ, p);
			if (ret)
				return ret;
		}
		/*
		 * Shared mode: a hole or an inherited entry may have been
		 * allocated by another gateway; ask the server's index.
		 */
		if (v->lock == SD_LOCK_SHARED && e != v->vid) {
			ret = piece_submit_entry_read(p, PIECE_HOLECHECK);
			return ret ? ret : PIECE_PENDING;
		}
		if (!e)
			return PIECE_HOLE;
		ret = piece_submit_read(p, e);
		return ret ? ret : PIECE_PENDING;
	}

	g = sd_gate_find(&v->gates, i);
	if (g) {
		p->state = PIECE_PARKED;
		sd_gate_park(g, &p->link);
		return PIECE_PENDING;
	}

	if (call->kind == IO_UNMAP && v->lock != SD_LOCK_SHARED) {
		if (!e)
			return 0;	/* already reads as zeros */
		if (sd_span_whole(&p->span, v->shift)) {
			sd_gate_close(&v->gates, &p->gate, i);
			p->gate_held = true;
			ret = piece_submit_index(p, v->vid, 0);
			goto sent;
		}
		/* partial piece of an allocated object: write zeros */
	}

	if (e == v->vid && !(call->kind == IO_UNMAP &&
			     sd_span_whole(&p->span, v->shift))) {
		ret = piece_submit_write(p, e);
		return ret ? ret : PIECE_PENDING;
	}

	sd_gate_close(&v->gates, &p->gate, i);
	p->gate_held = true;
	if (v->lock == SD_LOCK_SHARED)
		ret = piece_claim(p);	/* creates and deallocations */
	else
		ret = piece_submit_create(p, v->vid, e);
sent:
	if (ret) {
		piece_gate_open(p, todo);
		return ret;
	}
	return PIECE_PENDING;
}

/* Start the piece over: on @todo, io_run() decides again what it needs. */
static void piece_requeue(struct io_piece *p, struct sd_list *todo)
{
	p->state = PIECE_IDLE;
	sd_list_add_tail(&p->link, todo);
}

/* The slot holds no piece: nothing of the last one's progress is left. */
static void piece_reset(struct io_piece *p)
{
	p->state = PIECE_IDLE;
	p->redo = false;
	p->resume_index = false;
	p->zero_fill = false;
	p->redos = 0;
	memset(p->fence_need, 0, sizeof(p->fence_need));
	p->noobj_checked = false;
	p->backoffs = 0;
}

/*
 * A piece finished with @err.  Records the error, starts the call's next
 * piece in this slot (pushed on @todo) or retires the slot; a call with no
 * active slot left goes on @done_calls.
 */
static void piece_finish(struct io_piece *p, int err, struct sd_list *todo,
			 struct sd_list *done_calls)
{
	struct io_call *call = p->call;
	int ret;

	piece_claim_end(p);
	piece_reset(p);
	if (err && !call->err)
		call->err = err;
	if (!call->err && call->next_span < call->nr_spans) {
		sd_span_get(call->off, call->len, call->v->shift,
			    call->next_span++, &p->span);
		ret = piece_build_iov(call, p);
		if (!ret) {
			sd_list_add_tail(&p->link, todo);
			return;
		}
		call->err = ret;
	}
	if (--call->active == 0)
		sd_list_add_tail(&call->clink, done_calls);
}

static void iov_zero(struct iovec *iov, int iovcnt)
{
	int i;

	for (i = 0; i < iovcnt; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
}

/*
 * Run the pieces on @todo (v->mu NOT held) until nothing is left to start,
 * start a reload whose drain is over, then complete the calls that
 * finished.
 */
static void io_run(struct sd_vdi *v, struct sd_list *todo,
		   struct sd_list *done_calls)
{
	struct io_piece *p;
	struct sd_list *pos, *n;
	bool kick;
	int ret;

	pthread_mutex_lock(&v->mu);
	while (!sd_list_empty(todo)) {
		p = sd_list_first_entry(todo, struct io_piece, link);
		sd_list_del(&p->link);
		ret = piece_start(p, todo);
		if (ret == PIECE_PENDING)
			continue;
		if (ret == PIECE_HOLE) {
			/* no lock needed to fill the caller's buffer */
			pthread_mutex_unlock(&v->mu);
			iov_zero(p->iov, p->iovcnt);
			pthread_mutex_lock(&v->mu);
			ret = 0;
		}
		piece_finish(p, ret, todo, done_calls);
	}
	kick = sd_reload_ready(v);
	pthread_mutex_unlock(&v->mu);

	/* pieces are parked on the reload: no call can end before it does */
	if (kick)
		sd_reload_begin(v);

	sd_list_for_each_safe(pos, n, done_calls) {
		struct io_call *call = sd_list_entry(pos, struct io_call, clink);

		sd_list_del(&call->clink);
		call_complete(call);
	}
}

/* ---- background entry work: re-checks and re-publishes ---------------- */

static void bg_done(struct sd_request *req, int cerr);
static void bg_claim_done(struct sd_claim *cl, int err);

/*
 * Shared mode: a copy or re-publish writes the object's entry, so it runs
 * under the object's claim like a first write (mu held).  Counts as index
 * work in flight, as the request it stands for.
 */
static int bg_claim(struct io_bg *bg)
{
	struct sd_vdi *v = bg->v;
	int ret;

	ret = obj_claim(v, bg->idx, sd_now_ns() +
			(uint64_t)sd_client_timeout_ms(v->c) * 1000000,
			bg_claim_done, bg, &bg->claim, &bg->claim_vid);
	if (!ret)
		v->meta_inflight++;
	return ret;
}

/* Send @bg's request against the current inode (mu held). */
static int bg_submit(struct io_bg *bg)
{
	struct sd_vdi *v = bg->v;
	struct sd_request *r = &bg->req;
	int ret;

	if (v->lock == SD_LOCK_SHARED && bg->kind != BG_RECHECK) {
		/* a claim on an older vid does not cover this one */
		if (bg->claim && bg->claim_vid != v->vid) {
			sd_claim_release(bg->claim);
			bg->claim = NULL;
		}
		if (!bg->claim)
			return bg_claim(bg);
	}

	uint64_t inode = sd_vid_to_vdi_oid(v->vid);
	uint32_t entry_off = sd_inode_index_offset(bg->idx);

	bg->iov.iov_base = bg->le;
	bg->iov.iov_len = sizeof(bg->le);
	if (bg->kind == BG_COPY) {
		/* the whole object of vid @entry into our vid, as a first
		 * write would: CREATE_AND_WRITE with COW and no payload */
		obj_req_init(v, r, SD_OP_CREATE_AND_WRITE_OBJ,
			     sd_vid_to_data_oid(v->vid, bg->idx), 0, 0,
			     bg_done, bg);
		r->hdr.flags |= SD_FLAG_CMD_WRITE | SD_FLAG_CMD_COW;
		r->hdr.obj.cow_oid = sd_vid_to_data_oid(bg->entry, bg->idx);
	} else if (bg->kind == BG_REPUBLISH) {
		obj_req_init(v, r, SD_OP_WRITE_OBJ, inode, entry_off, 4,
			     bg_done, bg);
		r->hdr.flags |= SD_FLAG_CMD_WRITE;
		sd_put_le32(bg->le, bg->entry);
		r->out_iov = &bg->iov;
		r->out_iovcnt = 1;
	} else {
		obj_req_init(v, r, SD_OP_READ_OBJ, inode, entry_off, 4,
			     bg_done, bg);
		/* a plain fact query: no TGT, never refused as stale */
		r->hdr.flags = 0;
		r->in_iov = &bg->iov;
		r->in_iovcnt = 1;
	}
	bg->gen = v->gen;
	ret = sd_client_submit(v->c, r);
	if (!ret) {
		v->meta_inflight++;
		if (bg->kind == BG_REPUBLISH)
			dirty_set(v, bg->idx);
	}
	return ret;
}

/* @bg is over: open its gate (waiters to @todo) and free it (mu held).
 * The caller drops v->bg_inflight with bg_put() when it no longer uses v. */
static void bg_end(struct io_bg *bg, struct sd_list *todo)
{
	sd_gate_open(&bg->v->gates, &bg->gate, todo);
	sd_claim_release(bg->claim);
	free(bg);
}

static void bg_put(struct sd_vdi *v, unsigned int n)
{
	if (!n)
		return;
	pthread_mutex_lock(&v->mu);
	v->bg_inflight -= n;
	if (!v->bg_inflight)
		pthread_cond_broadcast(&v->bg_cond);
	pthread_mutex_unlock(&v->mu);
}

/*
 * I/O thread: the claim of a background copy or re-publish is settled.
 * Held: send the copy or re-publish (the claim is released when @bg ends).
 * The object allocated in the working vid by someone else meanwhile: theirs
 * is newer than what we would publish, so @bg ends.
 */
static void bg_claim_done(struct sd_claim *cl, int err)
{
	struct io_bg *bg = sd_claim_priv(cl);
	struct sd_vdi *v = bg->v;
	struct sd_list todo, done_calls;
	uint32_t e = sd_claim_entry(cl);

	sd_list_init(&todo);
	sd_list_init(&done_calls);
	pthread_mutex_lock(&v->mu);
	v->meta_inflight--;
	bg->claim = cl;
	if (!err && e == bg->claim_vid && bg->claim_vid == v->vid)
		v->index[bg->idx] = e;
	if (err || e == bg->claim_vid ||
	    (bg->kind == BG_REPUBLISH && !bg->entry && !e) ||
	    bg_submit(bg)) {
		bg_end(bg, &todo);
		pthread_mutex_unlock(&v->mu);
		io_run(v, &todo, &done_calls);
		bg_put(v, 1);
		return;
	}
	pthread_mutex_unlock(&v->mu);
	io_run(v, &todo, &done_calls);
}

/*
 * Uncertain create (mu held; @p failed with a transport error while holding
 * its gate).  The CREATE_AND_WRITE_OBJ or the index update may still run on
 * the server, so the gate must not simply open: a parked writer would send
 * a second create of the same object.  The gate moves to a background
 * re-check, which reads the 4-byte index entry from the server and takes
 * its value as the truth (our entry published, or not); only then do the
 * parked writers run, against that state.  The re-read is retried on
 * transport errors up to IO_RECHECK_TRIES times; after that the gate opens
 * with the entry unchanged (several timeouts later the stale request has
 * run or is gone).  Residual window: a request still queued inside the
 * server after the re-check answered; no client can close it.  The piece
 * itself fails with its error (the write's outcome is unknown).  Without
 * memory the gate opens as before.
 */
static void bg_recheck_start(struct sd_vdi *v, struct io_piece *p,
			     struct sd_list *todo)
{
	struct io_bg *bg = calloc(1, sizeof(*bg));

	if (!bg)
		return;
	bg->v = v;
	bg->kind = BG_RECHECK;
	bg->idx = p->span.idx;
	/* released once the re-check settled the entry */
	bg->claim = p->claim;
	bg->claim_vid = p->claim_vid;
	p->claim = NULL;
	sd_gate_move(&v->gates, &p->gate, &bg->gate);
	p->gate_held = false;
	if (bg_submit(bg)) {
		bg_end(bg, todo);
		return;
	}
	/* the piece's call is still active: close() cannot be waiting yet */
	v->bg_inflight++;
}

static void bg_done(struct sd_request *req, int cerr)
{
	struct io_bg *bg = req->priv;
	struct sd_vdi *v = bg->v;
	struct sd_list todo, done_calls;
	uint32_t res = cerr ? SD_RES_SUCCESS : req->rsp.result;
	unsigned int ended = 0;
	uint32_t e;

	sd_list_init(&todo);
	sd_list_init(&done_calls);
	pthread_mutex_lock(&v->mu);
	v->meta_inflight--;

	if (bg->kind != BG_RECHECK &&
	    (res == SD_RES_READONLY || res == SD_RES_INODE_INVALIDATED) &&
	    ++bg->redos <= IO_REDO_MAX) {
		/* stale or snapshotted again: redo after a reload */
		if (bg->gen == v->gen)
			sd_reload_request(v, res);
		if (v->rl.state != SD_RELOAD_IDLE) {
			sd_list_add_tail(&bg->link, &v->rl.bg_waiters);
			goto run;
		}
		if (!bg_submit(bg))
			goto run;
		bg_end(bg, &todo);
		ended++;
		goto run;
	}

	if (bg->kind == BG_COPY && !cerr && res == SD_RES_SUCCESS) {
		/* the object exists in our vid now: publish it */
		bg->kind = BG_REPUBLISH;
		bg->entry = v->vid;
		if (!bg_submit(bg))
			goto run;
		bg_end(bg, &todo);
		ended++;
		goto run;
	}
	if (bg->kind != BG_RECHECK) {
		if (bg->kind == BG_REPUBLISH && !cerr &&
		    res == SD_RES_SUCCESS) {
			v->index[bg->idx] = bg->entry;
			bg_end(bg, &todo);
			ended++;
			goto run;
		}
		/* the server's entry is unknown now: read it back */
		bg->kind = BG_RECHECK;
		bg->attempts = 0;
		if (!bg_submit(bg))
			goto run;
		bg_end(bg, &todo);
		ended++;
		goto run;
	}

	if (!cerr && res == SD_RES_SUCCESS && req->in_len == 4) {
		e = sd_get_le32(bg->le);
		if (e < SD_NR_VDIS)
			v->index[bg->idx] = e;	/* the server's truth */
	} else if (is_transport_err(cerr) &&
		   ++bg->attempts < IO_RECHECK_TRIES && !bg_submit(bg)) {
		goto run;		/* asked again */
	}
	bg_end(bg, &todo);
	ended++;
run:
	pthread_mutex_unlock(&v->mu);
	io_run(v, &todo, &done_calls);
	bg_put(v, ended);
}

/* ---- reloads ------------------------------------------------------------ */

/*
 * A piece met READONLY or INODE_INVALIDATED (mu held): re-dispatch it
 * against the reloaded state.  Returns false when it should fail instead
 * (its call already failed, or too many retries).  If a reload was applied
 * since the piece's request was sent, it is simply redone; otherwise a
 * reload is requested and piece_start() parks the piece on it.
 */
static bool piece_redo(struct io_piece *p, uint32_t res, struct sd_list *todo)
{
	struct sd_vdi *v = p->call->v;

	if (p->call->err || ++p->redos > IO_REDO_MAX)
		return false;
	/*
	 * The object of an index update exists: only publish it again.  In
	 * shared mode the piece starts over under a new claim instead (its
	 * entry read tells whether the publish had landed).
	 */
	if (p->state == PIECE_INDEX && v->lock != SD_LOCK_SHARED)
		p->resume_index = true;
	piece_claim_end(p);
	p->redo = true;
	piece_requeue(p, todo);
	/* waiters of a refused create queue up behind the piece */
	if (!p->resume_index)
		piece_gate_open(p, todo);
	if (p->gen == v->gen)
		sd_reload_request(v, res);
	return true;
}

/*
 * The merge of a reload wants entry @idx of the new inode published again
 * as @entry (mu held).  A deallocation is published as it is.  An
 * allocated entry names an object of an older vid: publishing that vid in
 * the new inode would share the object without a reference (sheep counts
 * references per generation and takes none for a foreign entry), so
 * deleting the snapshot would delete our data.  Copy it into the new vid
 * first, as a first write would, then publish the new vid.  Until then
 * reads use the old object.
 */
int sd_io_republish_queue(struct sd_vdi *v, uint32_t idx, uint32_t entry)
{
	struct io_bg *bg = calloc(1, sizeof(*bg));

	if (!bg)
		return -ENOMEM;
	bg->v = v;
	bg->idx = idx;
	bg->kind = entry ? BG_COPY : BG_REPUBLISH;
	bg->entry = entry;
	sd_list_add_tail(&bg->link, &v->rl.pub);
	return 0;
}

void sd_io_reload_resume(struct sd_vdi *v, int err)
{
	struct sd_list todo, done_calls, *pos, *n;
	unsigned int ended = 0;
	struct io_bg *bg;
	struct io_piece *p;

	sd_list_init(&todo);
	sd_list_init(&done_calls);
	sd_list_for_each_safe(pos, n, &v->rl.pub) {
		bg = sd_list_entry(pos, struct io_bg, link);
		sd_list_del(&bg->link);
		sd_gate_close(&v->gates, &bg->gate, bg->idx);
		v->bg_inflight++;
		if (bg_submit(bg)) {
			bg_end(bg, &todo);
			ended++;
		}
	}
	sd_list_for_each_safe(pos, n, &v->rl.bg_waiters) {
		bg = sd_list_entry(pos, struct io_bg, link);
		sd_list_del(&bg->link);
		if (err || bg_submit(bg)) {
			bg_end(bg, &todo);
			ended++;
		}
	}
	sd_list_for_each_safe(pos, n, &v->rl.waiters) {
		p = sd_list_entry(pos, struct io_piece, link);
		sd_list_del(&p->link);
		if (err) {
			piece_gate_open(p, &todo);
			piece_finish(p, err, &todo, &done_calls);
		} else {
			piece_requeue(p, &todo);
		}
	}
	pthread_mutex_unlock(&v->mu);
	io_run(v, &todo, &done_calls);
	bg_put(v, ended);
}

/* ---- fences (mu held) -------------------------------------------------- */

static void fence_done(struct sd_request *req, int cerr);

/*
 * Send a fence of kind @k (see sd_vdi_internal.h); background work, so
 * that close waits for it.  READ: READ_OBJ (TGT) of our inode's
 * snap_ctime.  CLUSTER: GET_VDI_INFO of our name.
 */
static int fence_send(struct sd_vdi *v, enum sd_fence_kind k,
		      uint64_t deadline_ns)
{
	struct sd_vdi_fence *f = &v->fence[k];
	struct sd_request *r = &f->req;
	int ret;

	if (k == SD_FENCE_READ) {
		/* shared mode only: TGT-flagged by obj_req_init() */
		obj_req_init(v, r, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(v->vid),
			     SD_INODE_OFF_SNAP_CTIME, 8, fence_done, v);
		f->iov.iov_base = f->buf;
		f->iov.iov_len = 8;
		r->in_iov = &f->iov;
		r->in_iovcnt = 1;
	} else {
		sd_reload_lookup_init(v, r, &f->iov, f->buf, false);
		r->done = fence_done;
	}
	r->deadline_ns = deadline_ns;
	ret = sd_client_submit(v->c, r);
	if (ret)
		return ret;
	f->busy = true;
	f->sent++;
	f->gen = v->gen;
	f->vid = v->vid;
	v->bg_inflight++;
	return 0;
}

/*
 * @p needs a fence of kind @k sent from now on: a shared-mode read or
 * write is about to be sent or is back (READ), or @p published its entry
 * (CLUSTER).  Sends one unless one is in flight already, which was sent
 * before and cannot vouch for @p: then @p needs the next one, sent when
 * the current one is back.  0 or -errno.
 */
static int fence_arm(struct sd_vdi *v, enum sd_fence_kind k,
		     struct io_piece *p)
{
	struct sd_vdi_fence *f = &v->fence[k];
	uint64_t dl = p->call->deadline_ns;
	int ret;

	if (f->busy) {
		if (!f->more || dl < f->more_deadline_ns)
			f->more_deadline_ns = dl;
		f->more = true;
		p->fence_need[k] = f->sent + 1;
		return 0;
	}
	ret = fence_send(v, k, dl);
	if (ret)
		return ret;
	p->fence_need[k] = f->sent;
	return 0;
}

/*
 * What the last fence of kind @k that ended says about @p, whose fence it
 * vouches for: 0 = the piece stands, PIECE_PENDING = re-dispatched (on
 * @todo; a reload is asked for if the piece's state is the stale one), or
 * -errno: the piece fails.  A read fence sent before a reload applied
 * cannot vouch for a piece read against it either way: such pieces are
 * redone.  A cluster fence that saw another working vid: the VDI was
 * snapshotted meanwhile and the piece is written again against the new
 * vid (its publish may have been overwritten by the snapshot's rewrite of
 * the inode, or missed its copy).  Without claims (not shared mode) a
 * cluster fence sent after a reload cannot vouch for a publish made
 * before it either: the reload's merge left the entry, gated by the
 * piece, to the new inode, so the piece is redone.
 */
static int fence_outcome(struct io_piece *p, enum sd_fence_kind k,
			 struct sd_list *todo)
{
	struct sd_vdi_fence *f = &p->call->v->fence[k];
	uint32_t res = f->stale ? f->stale : SD_RES_INODE_INVALIDATED;

	if (f->err)
		return f->err;
	if (!f->stale && (f->done_gen == p->gen ||
			  (k == SD_FENCE_CLUSTER &&
			   p->call->v->lock == SD_LOCK_SHARED)))
		return 0;
	p->zero_fill = false;
	if (piece_redo(p, res, todo))
		return PIECE_PENDING;
	return p->call->err ? p->call->err : -sd_result_to_errno(res);
}

/*
 * @p is done but for its fence of kind @k (a read has its data, or found a
 * hole, zero_fill set): 0 = it may finish, PIECE_PENDING = it waits for
 * its fence or was re-dispatched, -errno = it fails.
 */
static int fence_check(struct io_piece *p, enum sd_fence_kind k,
		       struct sd_list *todo)
{
	struct sd_vdi_fence *f = &p->call->v->fence[k];

	if (p->fence_need[k] > f->done) {
		p->state = PIECE_FENCE;
		sd_list_add_tail(&p->link, &f->waiters);
		return PIECE_PENDING;
	}
	return fence_outcome(p, k, todo);
}

/* A fence of kind @k ended: settle the pieces it vouches for. */
static void fence_wake(struct sd_vdi *v, enum sd_fence_kind k,
		       struct sd_list *todo, struct sd_list *done_calls)
{
	struct sd_vdi_fence *f = &v->fence[k];
	struct sd_list *pos, *n;
	struct io_piece *p;
	int ret;

	sd_list_for_each_safe(pos, n, &f->waiters) {
		p = sd_list_entry(pos, struct io_piece, link);
		if (p->fence_need[k] > f->done)
			continue;
		sd_list_del(&p->link);
		ret = fence_outcome(p, k, todo);
		if (ret == PIECE_PENDING)
			continue;
		piece_gate_open(p, todo);
		if (!ret && p->zero_fill) {
			/* piece_start() zero-fills it */
			piece_requeue(p, todo);
			continue;
		}
		piece_finish(p, ret, todo, done_calls);
	}
}

/* What a fence that came back says (READ: snap_ctime; CLUSTER: vid). */
static void fence_result(struct sd_vdi_fence *f, enum sd_fence_kind k,
			 const struct sd_request *req, int cerr)
{
	f->stale = 0;
	f->err = 0;
	if (k == SD_FENCE_READ && !cerr &&
	    req->rsp.result == SD_RES_INODE_INVALIDATED)
		f->stale = SD_RES_INODE_INVALIDATED;
	else
		f->err = res_to_err(req, cerr);
	if (f->stale || f->err)
		return;
	if (k == SD_FENCE_CLUSTER)
		f->stale = req->rsp.vdi.vdi_id != f->vid ? SD_RES_READONLY : 0;
	else if (req->in_len != 8)
		f->err = -EPROTO;
	else if (sd_get_le64(f->buf))
		f->stale = SD_RES_READONLY;	/* snapshot: look it up */
}

/* I/O thread: a fence is back. */
static void fence_done(struct sd_request *req, int cerr)
{
	struct sd_vdi *v = req->priv;
	struct sd_vdi_fence *f = sd_container_of(req, struct sd_vdi_fence,
						 req);
	enum sd_fence_kind k = (enum sd_fence_kind)(f - v->fence);
	struct sd_list todo, done_calls;
	int ret;

	sd_list_init(&todo);
	sd_list_init(&done_calls);
	pthread_mutex_lock(&v->mu);
	f->busy = false;
	f->done = f->sent;
	f->done_gen = f->gen;
	fence_result(f, k, req, cerr);
	fence_wake(v, k, &todo, &done_calls);

	if (f->more) {
		f->more = false;
		ret = fence_send(v, k, f->more_deadline_ns);
		if (ret) {
			/* the next fence failed at once: so do its pieces */
			f->done = ++f->sent;
			f->stale = 0;
			f->err = ret;
			fence_wake(v, k, &todo, &done_calls);
		}
	}
	pthread_mutex_unlock(&v->mu);
	io_run(v, &todo, &done_calls);
	bg_put(v, 1);
}

/* ---- completions --------------------------------------------------------- */

/* Shared mode: the hole re-check answered (mu held). */
static int piece_holecheck_done(struct io_piece *p, struct sd_list *todo)
{
	struct sd_vdi *v = p->call->v;
	uint32_t i = p->span.idx, e;
	int ret;

	if (p->req.in_len != 4)
		return -EPROTO;
	e = sd_get_le32(p->entry_le);
	if (e >= SD_NR_VDIS)
		return -EPROTO;
	if (!e) {
		p->zero_fill = true;
		ret = fence_check(p, SD_FENCE_READ, todo);
		if (ret)
			return ret;
		piece_requeue(p, todo);
		return PIECE_PENDING;
	}
	/* allocated elsewhere: learn it unless a create of ours is on it */
	if (v->index[i] != e && !sd_gate_find(&v->gates, i))
		v->index[i] = e;
	ret = piece_submit_read(p, e);
	return ret ? ret : PIECE_PENDING;
}

static void piece_backoff_done(struct sd_request *req, int cerr);

/*
 * NO_OBJ for an object the index names (mu held): while nodes recover,
 * sheep answers that for objects not yet back on the nodes now responsible
 * for them (doc/reliability.md, Cluster changes).  The piece gives up its
 * gate and claim and starts again after a backoff (10 ms doubling to
 * 500 ms) until its call's deadline; then it fails with -ETIMEDOUT, the
 * retryable timeout.  PIECE_PENDING or -errno.
 */
static int piece_backoff(struct io_piece *p, struct sd_list *todo)
{
	struct sd_vdi *v = p->call->v;
	uint64_t now = sd_now_ns(), delay;
	int ret;

	delay = IO_BACKOFF_MIN_NS << (p->backoffs < 6 ? p->backoffs : 6);
	if (delay > IO_BACKOFF_MAX_NS)
		delay = IO_BACKOFF_MAX_NS;
	if (p->call->err || now + delay >= p->call->deadline_ns)
		return p->call->err ? p->call->err :
		       sd_set_error(ETIMEDOUT, "VDI '%s': object %u: %s",
				    v->name, p->span.idx,
				    sd_result_str(SD_RES_NO_OBJ));
	p->backoffs++;
	piece_claim_end(p);
	piece_gate_open(p, todo);
	p->resume_index = false;
	memset(&p->req, 0, sizeof(p->req));
	p->req.done = piece_backoff_done;
	p->req.priv = p;
	ret = sd_client_sleep(v->c, &p->req, now + delay);
	if (ret)
		return ret;
	p->state = PIECE_BACKOFF;
	return PIECE_PENDING;
}

/* I/O thread: a piece's backoff is over: start it again. */
static void piece_backoff_done(struct sd_request *req, int cerr)
{
	struct io_piece *p = req->priv;
	struct sd_vdi *v = p->call->v;
	struct sd_list todo, done_calls;

	sd_list_init(&todo);
	sd_list_init(&done_calls);
	pthread_mutex_lock(&v->mu);
	if (cerr) {
		piece_finish(p, cerr, &todo, &done_calls);
	} else {
		piece_requeue(p, &todo);
	}
	pthread_mutex_unlock(&v->mu);
	io_run(v, &todo, &done_calls);
}

/*
 * Shared mode: a write met NO_OBJ and re-read the index entry (mu held).
 * Another gateway deallocated the object (or the entry changed): learn the
 * entry and start the piece again (it claims and allocates); with the entry
 * unchanged the object is not recovered yet: wait (piece_backoff()).
 */
static int piece_entrycheck_done(struct io_piece *p, struct sd_list *todo)
{
	struct sd_vdi *v = p->call->v;
	uint32_t i = p->span.idx, e;

	if (p->req.in_len != 4)
		return -EPROTO;
	e = sd_get_le32(p->entry_le);
	if (e >= SD_NR_VDIS)
		return -EPROTO;
	if (e == v->index[i])
		return piece_backoff(p, todo);
	if (!sd_gate_find(&v->gates, i))
		v->index[i] = e;
	piece_requeue(p, todo);
	return PIECE_PENDING;
}

/*
 * I/O thread: the claim on a piece's object is settled (see sd_claim.h).
 * Held: create the object (copy-on-write from the server's entry) or, for
 * a deallocation, clear the entry; the claim is released after the
 * publish.  Allocated under another party's claim: write to it as owner.
 */
static void piece_claim_done(struct sd_claim *cl, int err)
{
	struct io_piece *p = sd_claim_priv(cl);
	struct io_call *call = p->call;
	struct sd_vdi *v = call->v;
	struct sd_list todo, done_calls;
	uint32_t i = p->span.idx, e = sd_claim_entry(cl);
	bool dealloc = call->kind == IO_UNMAP &&
		       sd_span_whole(&p->span, v->shift);
	int ret;

	sd_list_init(&todo);
	sd_list_init(&done_calls);
	pthread_mutex_lock(&v->mu);
	p->claim = cl;
	if (err) {
		piece_gate_open(p, &todo);
		piece_finish(p, err, &todo, &done_calls);
		goto run;
	}
	if (p->claim_vid != v->vid || v->rl.state != SD_RELOAD_IDLE ||
	    (e == v->vid && !(dealloc && sd_claim_held(cl)))) {
		/*
		 * Allocated by someone else: learn it and write as owner (a
		 * deallocation claims it again).  A reload pending or
		 * applied: start over against it.
		 */
		if (e == v->vid && p->claim_vid == v->vid)
			v->index[i] = e;
		piece_claim_end(p);
		piece_gate_open(p, &todo);
		piece_requeue(p, &todo);
		goto run;
	}
	if (call->kind == IO_UNMAP && (!e || dealloc)) {
		if (!e) {
			/* reads as zeros already */
			v->index[i] = 0;
			piece_gate_open(p, &todo);
			piece_finish(p, 0, &todo, &done_calls);
			goto run;
		}
		ret = piece_submit_index(p, v->vid, 0);
	} else {
		/* the server's entry is the copy-on-write source */
		ret = piece_submit_create(p, v->vid, e);
	}
	if (ret) {
		piece_gate_open(p, &todo);
		piece_finish(p, ret, &todo, &done_calls);
	}
run:
	pthread_mutex_unlock(&v->mu);
	io_run(v, &todo, &done_calls);
}

/*
 * A READ_OBJ / WRITE_OBJ of data came back with @res (@err its errno form),
 * mu held: NO_OBJ re-checks and backoffs, and shared mode's read fence.
 * PIECE_PENDING or the piece's result.
 */
static int piece_data_done(struct io_piece *p, uint32_t res, int err,
			   struct sd_list *todo)
{
	struct io_call *call = p->call;
	struct sd_vdi *v = call->v;
	int ret;

	if (v->lock == SD_LOCK_SHARED && res == SD_RES_NO_OBJ &&
	    !p->noobj_checked) {
		/* deallocated by another gateway? */
		p->noobj_checked = true;
		ret = piece_submit_entry_read(p, kind_writes(call->kind) ?
					      PIECE_ENTRYCHECK :
					      PIECE_HOLECHECK);
		return ret ? ret : PIECE_PENDING;
	}
	if (res == SD_RES_NO_OBJ)
		return piece_backoff(p, todo);
	if (err)
		return err;
	if (v->lock == SD_LOCK_SHARED && kind_writes(call->kind)) {
		/*
		 * A write stands once a fence sent after it came back clean:
		 * our vid may have become a snapshot whose object another
		 * gateway already copied (a node applies the snapshot's
		 * read-only state late).
		 */
		ret = fence_arm(v, SD_FENCE_READ, p);
		if (ret)
			return ret;
	}
	if (!p->fence_need[SD_FENCE_READ])
		return 0;
	return fence_check(p, SD_FENCE_READ, todo);
}

/*
 * What a piece does next after its request came back with @res (@err its
 * errno form; @meta: it was a create or an index update), mu held:
 * PIECE_PENDING (sent, parked or re-dispatched, maybe on @todo) or the
 * piece's result, 0 or -errno.
 */
static int piece_next(struct io_piece *p, uint32_t res, int err, bool meta,
		      struct sd_list *todo)
{
	struct sd_vdi *v = p->call->v;
	int ret;

	if ((res == SD_RES_READONLY || res == SD_RES_INODE_INVALIDATED) &&
	    piece_redo(p, res, todo))
		return PIECE_PENDING;
	/* a copy-on-write source or our inode not recovered yet */
	if (meta && res == SD_RES_NO_OBJ)
		return piece_backoff(p, todo);
	if (p->state == PIECE_DATA)
		return piece_data_done(p, res, err, todo);
	if (err)
		return err;

	switch (p->state) {
	case PIECE_CREATE:
		/* object exists: publish it (gate still closed) */
		ret = piece_submit_index(p, v->vid, p->new_entry);
		return ret ? ret : PIECE_PENDING;
	case PIECE_INDEX:
		v->index[p->span.idx] = p->new_entry;
		if (v->lock == SD_LOCK_SHARED) {
			/* published under our claim: give it back, let the
			 * local waiters in */
			piece_claim_end(p);
			piece_gate_open(p, todo);
		}
		/*
		 * Make sure no snapshot swallowed the publish (another client
		 * may snapshot the VDI in any lock mode).  Without claims the
		 * gate stays closed until the fence is back: a write parked
		 * on it would land in an object no inode may name.
		 */
		ret = fence_arm(v, SD_FENCE_CLUSTER, p);
		return ret ? ret : fence_check(p, SD_FENCE_CLUSTER, todo);
	case PIECE_ENTRYCHECK:
		return piece_entrycheck_done(p, todo);
	case PIECE_HOLECHECK:
		return piece_holecheck_done(p, todo);
	default:
		return 0;
	}
}

/* I/O thread: a piece's request is back. */
static void piece_req_done(struct sd_request *req, int cerr)
{
	struct io_piece *p = req->priv;
	struct sd_vdi *v = p->call->v;
	struct sd_list todo, done_calls;
	uint32_t res = cerr ? SD_RES_SUCCESS : req->rsp.result;
	bool meta = p->state == PIECE_CREATE || p->state == PIECE_INDEX;
	int ret;

	sd_list_init(&todo);
	sd_list_init(&done_calls);
	pthread_mutex_lock(&v->mu);
	if (meta)
		v->meta_inflight--;
	ret = piece_next(p, res, res_to_err(req, cerr), meta, &todo);
	if (ret != PIECE_PENDING) {
		if (ret && meta && p->gate_held && is_transport_err(cerr))
			bg_recheck_start(v, p, &todo);
		piece_gate_open(p, &todo);
		piece_finish(p, ret, &todo, &done_calls);
	}
	pthread_mutex_unlock(&v->mu);
	io_run(v, &todo, &done_calls);
}

/* ---- calls and flushes ------------------------------------------------- */

static void piece_release(struct io_piece *p)
{
	if (p->iov_cap)
		free(p->iov);
	p->iov_cap = 0;
}

static void call_free(struct io_call *call)
{
	uint32_t i;

	for (i = 0; i < call->nr_slots; i++)
		piece_release(&call->slots[i]);
	free(call);
}

static struct io_call *call_new(struct sd_vdi *v, enum io_kind kind,
				uint32_t nr_spans, sd_io_done_fn done,
				void *opaque)
{
	uint32_t slots = nr_spans < IO_SLOTS_MAX ? nr_spans : IO_SLOTS_MAX;
	struct io_call *call;
	uint32_t i;

	call = malloc(sizeof(*call) + slots * sizeof(call->slots[0]));
	if (!call)
		return NULL;
	memset(call, 0, sizeof(*call));
	call->v = v;
	call->kind = kind;
	call->done = done;
	call->opaque = opaque;
	call->deadline_ns = sd_now_ns() +
		(uint64_t)sd_client_timeout_ms(v->c) * 1000000;
	call->nr_spans = nr_spans;
	call->nr_slots = slots;
	sd_list_init(&call->wlink);
	sd_list_init(&call->clink);
	for (i = 0; i < slots; i++) {
		struct io_piece *p = &call->slots[i];

		p->call = call;
		piece_reset(p);
		p->gate_held = false;
		p->claim = NULL;
		p->iov = p->iov_inline;
		p->iovcnt = 0;
		p->iov_cap = 0;
		sd_list_init(&p->link);
	}
	return call;
}

/* Flushes whose barrier the oldest unfinished write has passed (mu held). */
static void flush_collect_ready(struct sd_vdi *v, struct sd_list *ready)
{
	uint64_t oldest = UINT64_MAX;
	struct sd_list *pos, *n;

	if (!sd_list_empty(&v->write_calls))
		oldest = sd_list_first_entry(&v->write_calls, struct io_call,
					     wlink)->seq;
	sd_list_for_each_safe(pos, n, &v->flush_waiters) {
		struct io_call *f = sd_list_entry(pos, struct io_call, wlink);

		if (f->seq >= oldest)
			break;
		sd_list_del(&f->wlink);
		sd_list_add_tail(&f->wlink, ready);
	}
}

static void flush_send(struct io_call *call);

/* The call is over: leave the write list, tell the user, wake flushes. */
static void call_finalize(struct io_call *call)
{
	struct sd_vdi *v = call->v;
	struct sd_list ready, *pos, *n;

	sd_list_init(&ready);
	if (call->in_write_list) {
		pthread_mutex_lock(&v->mu);
		sd_list_del(&call->wlink);
		flush_collect_ready(v, &ready);
		pthread_mutex_unlock(&v->mu);
	}
	call->done(call->opaque, call->err);
	call_free(call);

	sd_list_for_each_safe(pos, n, &ready) {
		struct io_call *f = sd_list_entry(pos, struct io_call, wlink);

		sd_list_del(&f->wlink);
		flush_send(f);
	}
}

static void flush_req_done(struct sd_request *req, int err)
{
	struct io_call *call = req->priv;
	struct sd_vdi *v = call->v;

	if (!err && (req->rsp.result == SD_RES_INVALID_PARMS ||
		     req->rsp.result == SD_RES_NO_SUPPORT)) {
		/* sheep has no cache: its write replies mean stable */
		pthread_mutex_lock(&v->mu);
		v->flush_noop = true;
		pthread_mutex_unlock(&v->mu);
	} else {
		err = res_to_err(req, err);
	}
	if (err && !call->err)
		call->err = err;
	call_finalize(call);
}

/* Send FLUSH_VDI for @call (a flush, or a FUA write), or finish it now. */
static void flush_send(struct io_call *call)
{
	struct sd_vdi *v = call->v;
	struct sd_request *r = &call->flush_req;
	bool noop;
	int ret;

	pthread_mutex_lock(&v->mu);
	noop = v->flush_noop;
	pthread_mutex_unlock(&v->mu);
	if (noop || v->readonly)
		goto finish;

	memset(r, 0, sizeof(*r));
	r->vstats = &v->stats;
	r->hdr.proto_ver = SD_PROTO_VER;
	r->hdr.opcode = SD_OP_FLUSH_VDI;
	r->hdr.vdi.base_vdi_id = __atomic_load_n(&v->vid, __ATOMIC_RELAXED);
	r->req_flags = SD_REQ_RESEND;
	r->deadline_ns = call->deadline_ns;
	r->done = flush_req_done;
	r->priv = call;
	ret = sd_client_submit(v->c, r);
	if (!ret)
		return;
	if (!call->err)
		call->err = ret;
finish:
	call_finalize(call);
}

/* Every piece of @call is done (no lock held). */
static void call_complete(struct io_call *call)
{
	if (kind_writes(call->kind) && (call->flags & SD_IO_FUA) &&
	    !call->err) {
		flush_send(call);
		return;
	}
	call_finalize(call);
}

/* ---- entry points ------------------------------------------------------ */

static int io_check(struct sd_vdi *v, uint64_t off, uint64_t len, bool write,
		    const char *what)
{
	/* the size only grows, after the index that covers it (sd_vdi_grow) */
	uint64_t size = sd_vdi_size(v);

	if (write && v->readonly)
		return sd_set_error(EROFS, "%s: VDI '%s' is a read-only snapshot",
				    what, v->name);
	if (len > size || off > size - len)
		return sd_set_error(EINVAL,
				    "%s of %llu bytes at %llu is outside VDI '%s' (%llu bytes)",
				    what, (unsigned long long)len,
				    (unsigned long long)off, v->name,
				    (unsigned long long)size);
	return 0;
}

/*
 * The byte range of a read or write of the caller's iovecs at @off: its
 * length in *len, checked like io_check().
 */
static int io_check_iov(struct sd_vdi *v, const struct iovec *iov,
			int iovcnt, uint64_t off, bool write, uint64_t *len)
{
	const char *what = write ? "write" : "read";
	int i;

	if (iovcnt < 0 || (iovcnt && !iov))
		return sd_set_error(EINVAL, "%s: bad iovec", what);
	*len = 0;
	for (i = 0; i < iovcnt; i++)
		*len += iov[i].iov_len;
	return io_check(v, off, *len, write, what);
}

/* Build the call for [off, off+len) and start its first pieces. */
static int io_submit(struct sd_vdi *v, enum io_kind kind,
		     const struct iovec *iov, int iovcnt, uint64_t off,
		     uint64_t len, unsigned int flags, sd_io_done_fn done,
		     void *opaque)
{
	struct sd_list todo, done_calls;
	struct io_call *call;
	uint32_t nr, i;
	int ret;

	nr = sd_span_count(off, len, v->shift);
	call = call_new(v, kind, nr, done, opaque);
	if (!call)
		return sd_set_error(ENOMEM, "out of memory");
	call->off = off;
	call->len = len;
	call->iov = iov;
	call->iovcnt = iovcnt;
	call->flags = flags;

	sd_list_init(&todo);
	sd_list_init(&done_calls);
	for (i = 0; i < call->nr_slots; i++) {
		struct io_piece *p = &call->slots[i];

		sd_span_get(off, len, v->shift, call->next_span++, &p->span);
		ret = piece_build_iov(call, p);
		if (ret) {
			call_free(call);
			return sd_set_error(ENOMEM, "out of memory");
		}
		sd_list_add_tail(&p->link, &todo);
	}
	call->active = call->nr_slots;

	if (kind_writes(kind)) {
		pthread_mutex_lock(&v->mu);
		call->seq = ++v->write_seq;
		call->in_write_list = true;
		sd_list_add_tail(&call->wlink, &v->write_calls);
		pthread_mutex_unlock(&v->mu);
	}
	io_run(v, &todo, &done_calls);
	return 0;
}

int sd_vdi_aio_read(struct sd_vdi *v, const struct iovec *iov, int iovcnt,
		    uint64_t off, sd_io_done_fn done, void *opaque)
{
	uint64_t len;
	int ret;

	ret = io_check_iov(v, iov, iovcnt, off, false, &len);
	if (ret)
		return ret;
	if (!len) {
		done(opaque, 0);
		return 0;
	}
	return io_submit(v, IO_READ, iov, iovcnt, off, len, 0, done, opaque);
}

int sd_vdi_aio_write(struct sd_vdi *v, const struct iovec *iov, int iovcnt,
		     uint64_t off, unsigned int flags, sd_io_done_fn done,
		     void *opaque)
{
	uint64_t len;
	int ret;

	ret = io_check_iov(v, iov, iovcnt, off, true, &len);
	if (ret)
		return ret;
	if (!len) {
		if (flags & SD_IO_FUA)
			return sd_vdi_aio_flush(v, done, opaque);
		done(opaque, 0);
		return 0;
	}
	return io_submit(v, IO_WRITE, iov, iovcnt, off, len, flags, done,
			 opaque);
}

int sd_vdi_aio_zero(struct sd_vdi *v, uint64_t off, uint64_t len,
		    unsigned int flags, sd_io_done_fn done, void *opaque)
{
	int ret;

	ret = io_check(v, off, len, true, "zero");
	if (ret)
		return ret;
	if (!len) {
		done(opaque, 0);
		return 0;
	}
	return io_submit(v, (flags & SD_IO_UNMAP) ? IO_UNMAP : IO_ZERO, NULL,
			 0, off, len, flags, done, opaque);
}

int sd_vdi_aio_discard(struct sd_vdi *v, uint64_t off, uint64_t len,
		       sd_io_done_fn done, void *opaque)
{
	return sd_vdi_aio_zero(v, off, len, SD_IO_UNMAP, done, opaque);
}

int sd_vdi_aio_flush(struct sd_vdi *v, sd_io_done_fn done, void *opaque)
{
	struct io_call *call;
	bool wait;

	call = call_new(v, IO_FLUSH, 0, done, opaque);
	if (!call)
		return sd_set_error(ENOMEM, "out of memory");
	pthread_mutex_lock(&v->mu);
	/* barrier: every write call accepted so far */
	call->seq = v->write_seq;
	wait = !sd_list_empty(&v->write_calls) &&
	       sd_list_first_entry(&v->write_calls, struct io_call,
				   wlink)->seq <= call->seq;
	if (wait)
		sd_list_add_tail(&call->wlink, &v->flush_waiters);
	pthread_mutex_unlock(&v->mu);
	if (!wait)
		flush_send(call);
	return 0;
}

/* ---- block status (the runs: sd_index.c) ------------------------------- */

int sd_vdi_block_status(struct sd_vdi *v, uint64_t off, uint64_t len,
			uint64_t *run_len, bool *allocated)
{
	uint64_t size = sd_vdi_size(v);

	if (!len || off >= size)
		return sd_set_error(EINVAL,
				    "block status at %llu (+%llu) is outside VDI '%s' (%llu bytes)",
				    (unsigned long long)off,
				    (unsigned long long)len, v->name,
				    (unsigned long long)size);
	pthread_mutex_lock(&v->mu);
	*run_len = sd_index_run(v->index, v->nr_objs, v->shift, v->size, off,
				len, allocated);
	pthread_mutex_unlock(&v->mu);
	return 0;
}
