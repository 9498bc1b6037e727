/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_vdi_internal.h - the library's internal view of an open VDI, shared
 * by sd_vdi.c (open, close, lookup, inode load), sd_io.c (data path) and
 * sd_admin.c (which uses the synchronous lookup and inode-header helpers),
 * plus the pure index math (byte range -> object pieces, allocation runs)
 * the unit tests check.  Front ends see struct sd_vdi only as an opaque
 * handle (sheepdog.h).
 */
#ifndef SD_VDI_INTERNAL_H
#define SD_VDI_INTERNAL_H

#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>

#include "sheepdog.h"
#include "sd_claim.h"
#include "sd_gate.h"
#include "sd_list.h"
#include "sd_proto.h"

/*
 * Reload of an open VDI's identity and index after SD_RES_READONLY (the VDI
 * was snapshotted: find the new working vid) or SD_RES_INODE_INVALIDATED
 * (multipath: another gateway changed the index; refresh it).  sd_io.c
 * parks the pieces that need it and drains in-flight creates/index updates
 * (state DRAIN), then sd_vdi.c runs the requests asynchronously (BUSY) and
 * hands the result to sd_io_reload_finish().
 */
enum sd_reload_state {
	SD_RELOAD_IDLE,
	SD_RELOAD_DRAIN,	/* waiting for meta_inflight to reach 0 */
	SD_RELOAD_BUSY,		/* requests of sd_vdi.c in flight */
};

#define SD_RELOAD_LOOKUP	0x1	/* READONLY: look the working vid up */
#define SD_RELOAD_REFRESH	0x2	/* INVALIDATED: refresh read first */

struct sd_vdi_reload {
	enum sd_reload_state state;	/* under v->mu */
	unsigned int why;		/* SD_RELOAD_*, under v->mu */
	struct sd_list waiters;		/* parked pieces (sd_io.c) */
	struct sd_list bg_waiters;	/* parked background ops (sd_io.c) */

	/* private to the request chain of sd_vdi.c while BUSY */
	int step;
	uint32_t cur_vid;		/* vid when the reload began */
	uint32_t new_vid;
	bool locked_new;		/* we took a lock on new_vid */
	struct sd_request req;
	struct iovec iov;
	uint8_t names[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN];
	uint8_t *buf;			/* sd_inode_index_read_len() bytes */
	uint32_t len;			/* that length */
};

/*
 * Shared mode (multipath) read fences, see sd_io.c: a read may complete only
 * after a fence sent after the read was dispatched came back clean.  A
 * fence is READ_OBJ (TGT) of the 8-byte snap_ctime of our inode: the server
 * answers INODE_INVALIDATED when another gateway changed the index, and a
 * non-zero snap_ctime says our vid became a snapshot.  One fence is in
 * flight at a time; pieces dispatched meanwhile wait for the next one.
 */
struct sd_vdi_fence {
	struct sd_request req;
	struct iovec iov;
	uint8_t buf[8];
	bool busy;			/* req in flight */
	bool more;			/* a piece needs the next fence */
	uint64_t more_deadline_ns;	/* earliest deadline of those */
	uint64_t sent;			/* sequence number of the last sent */
	uint32_t gen;			/* v->gen when the last one was sent */
	/* outcome of the last fence that ended */
	uint64_t done;			/* its sequence number */
	uint32_t done_gen;		/* v->gen when it was sent */
	uint32_t stale;			/* 0 clean, else SD_RES_READONLY
					 * (snapshot) or _INODE_INVALIDATED */
	int err;			/* it failed: -errno */
	struct sd_list waiters;		/* pieces waiting for a fence */
};

/*
 * Shared mode cluster fences, see sd_io.c: an allocation (or deallocation)
 * published on the index completes only after a cluster operation sent
 * after the index update came back with the same working vid.  Sheep runs
 * cluster operations one at a time (sheep/group.c
 * queue_cluster_request()), and a snapshot rewrites the whole base inode
 * inside one (sheep/vdi.c snapshot_vdi()), so the fence's GET_VDI_INFO
 * either ran before a snapshot started, and the update is in the snapshot's
 * copy, or after it ended, and shows the new vid.
 */
struct sd_vdi_cfence {
	struct sd_request req;
	struct iovec iov;
	uint8_t names[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN];
	bool busy;			/* req in flight */
	bool more;			/* a piece needs the next one */
	uint64_t more_deadline_ns;
	uint64_t sent;			/* sequence number of the last sent */
	uint32_t vid;			/* v->vid when it was sent */
	uint64_t done;			/* sequence number of the last ended */
	bool moved;			/* it saw another working vid */
	int err;			/* it failed: -errno */
	struct sd_list waiters;
};

struct sd_hostlock;

struct sd_vdi {
	struct sd_client *c;
	char name[SD_MAX_VDI_LEN + 1];
	char tag[SD_MAX_VDI_TAG_LEN + 1];
	uint32_t snapid;		/* as asked at open (0 = current) */
	enum sd_lock_mode lock;		/* lock actually held */
	bool readonly;			/* opened as a snapshot */
	struct sd_hostlock *hl;		/* host record of the lock, or NULL
					 * (sd_hostlock.h) */

	/* from the inode; vid changes on a reload after a snapshot (READONLY);
	 * written under mu, read with __atomic_load_n outside it */
	uint32_t vid;
	struct sd_inode_hdr inode;
	uint64_t size;
	uint8_t shift;			/* block_size_shift, 20..31 */
	uint8_t nr_copies;
	uint8_t copy_policy;
	uint32_t nr_objs;		/* ceil(size / object size) <= 2^20 */

	pthread_mutex_t mu;		/* protects everything below */
	uint32_t *index;		/* host order, nr_objs entries */
	struct sd_gate_table gates;
	uint64_t write_seq;		/* write/zero/discard calls accepted */
	struct sd_list write_calls;	/* those not done yet, by seq */
	struct sd_list flush_waiters;	/* flushes waiting for them */
	bool flush_noop;		/* server said writes are stable */

	/* reloads (READONLY / INODE_INVALIDATED), see sd_io.c */
	struct sd_vdi_reload rl;
	uint32_t gen;			/* bumped by every applied reload */
	uint32_t meta_inflight;		/* creates, index updates, re-checks
					 * and re-publishes in flight */
	uint32_t bg_inflight;		/* background ops alive (close waits) */
	pthread_cond_t bg_cond;
	uint8_t *dirty;			/* bitmap: entries we changed on the
					 * inode of vid since the last reload */
	struct sd_vdi_fence fence;	/* shared mode reads, see sd_io.c */
	struct sd_vdi_cfence cfence;	/* shared mode allocations */
	struct sd_claim_book *claims;	/* shared mode: busy claims seen */
};

/*
 * Start the reload request chain (v->rl.state is BUSY, v->mu NOT held).
 * Ends with exactly one sd_io_reload_finish() call, possibly before this
 * returns.
 */
void sd_vdi_reload_begin(struct sd_vdi *v);

/*
 * End of a reload (sd_io.c, v->mu NOT held): @err < 0 fails the parked
 * pieces; else @vid with header @h and @index (@nr entries, malloc'ed,
 * ownership passes) is the new state.
 */
void sd_io_reload_finish(struct sd_vdi *v, int err, uint32_t vid,
			 const struct sd_inode_hdr *h, uint32_t *index,
			 uint32_t nr);


/*
 * Synchronous lookup: GET_VDI_INFO (@opcode SD_OP_GET_VDI_INFO) or LOCK_VDI
 * (@opcode SD_OP_LOCK_VDI with @lock_type SD_LOCK_TYPE_NORMAL/SHARED) of
 * @name with @tag (NULL or "" = none) and @snapid, 512-byte payload.
 * Returns 0 and *vid, or -errno (NO_VDI -> -ENOENT, NO_TAG -> -ENOENT,
 * VDI_LOCKED -> -EBUSY, connection errors as they are) with a message
 * "VDI 'name': <result text>" (the tag or snapid added when given).
 * Callable from any thread except the client's I/O thread.
 */
int sd_vdi_lookup(struct sd_client *c, const char *name, const char *tag,
		  uint32_t snapid, uint8_t opcode, uint32_t lock_type,
		  uint32_t *vid);

/*
 * The lookup round trip of sd_vdi_lookup() without the result check:
 * returns a connection error (message set), or 0 with the sheep's *result
 * and *vid (set on SUCCESS, and on VDI_LOCKED when sheep names the vid).
 */
int sd_vdi_lookup_raw(struct sd_client *c, const char *name, const char *tag,
		      uint32_t snapid, uint8_t opcode, uint32_t lock_type,
		      uint32_t *vid, uint32_t *result);

/*
 * Synchronous READ_OBJ of the first SD_INODE_HEADER_SIZE bytes of inode
 * @vid, decoded into @h.  0 or -errno with a message.  No sanity checks.
 */
int sd_read_inode_hdr(struct sd_client *c, uint32_t vid,
		      struct sd_inode_hdr *h);

/*
 * Synchronous read of the inode's header and whole index of @vid.  With
 * @refresh exactly SD_INODE_REFRESH_SIZE bytes: sheep takes that for a
 * multipath gateway's refresh read and clears its node's INVALIDATED state
 * (sheep/gateway.c is_inode_refresh_req(), validate_myself()); a shared
 * handle wants that, anyone else reads 4 bytes more, as dog does not
 * touch it either.  Checks the header (store_policy 0, block_size_shift
 * 20..31, object count <= 2^20) and returns the header and a malloc'ed
 * host-order index of *nr_objs entries (free() it).
 */
int sd_read_inode_full(struct sd_client *c, uint32_t vid, bool refresh,
		       struct sd_inode_hdr *h, uint32_t **index,
		       uint32_t *nr_objs);

/* bytes of the header + index read (see sd_read_inode_full()) */
static inline uint32_t sd_inode_index_read_len(bool refresh)
{
	return SD_INODE_REFRESH_SIZE + (refresh ? 0 : 4);
}

/*
 * Fill @req (and @payload, @iov) for a GET_VDI_INFO / LOCK_VDI of @name
 * with @tag (NULL = none) and @snapid: the 512-byte name + tag payload.
 */
void sd_lookup_req_init(struct sd_request *req, struct iovec *iov,
			uint8_t payload[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN],
			const char *name, const char *tag, uint32_t snapid,
			uint8_t opcode, uint32_t lock_type);

/* RELEASE_VDI of @vid with lock @type; errors are ignored. */
void sd_vdi_release(struct sd_client *c, uint32_t vid, uint32_t type);

/* ---- index math (pure; unit-tested in test/unit/test_sd_index.c) ----- */

/* Number of objects covering @size bytes with objects of 1 << @shift. */
static inline uint64_t sd_objs_for_size(uint64_t size, unsigned int shift)
{
	return (size + (UINT64_C(1) << shift) - 1) >> shift;
}

/* One object-sized piece of a byte range. */
struct sd_span {
	uint32_t idx;		/* object index */
	uint32_t obj_off;	/* offset inside the object */
	uint32_t len;		/* bytes (<= object size) */
	uint64_t buf_off;	/* offset inside the caller's buffer */
};

/* Number of pieces [off, off+len) splits into (0 when len == 0). */
static inline uint32_t sd_span_count(uint64_t off, uint64_t len,
				     unsigned int shift)
{
	if (!len)
		return 0;
	return (uint32_t)(((off + len - 1) >> shift) - (off >> shift) + 1);
}

/* Piece @k (0-based, < sd_span_count()) of [off, off+len). */
static inline void sd_span_get(uint64_t off, uint64_t len, unsigned int shift,
			       uint32_t k, struct sd_span *s)
{
	uint64_t obj = UINT64_C(1) << shift;
	uint64_t first = off >> shift;
	uint64_t start, end;

	s->idx = (uint32_t)(first + k);
	start = k ? ((first + k) << shift) : off;
	end = ((first + k + 1) << shift);
	if (end > off + len)
		end = off + len;
	s->obj_off = (uint32_t)(start & (obj - 1));
	s->len = (uint32_t)(end - start);
	s->buf_off = start - off;
}

/* Is the piece a whole object? */
static inline bool sd_span_whole(const struct sd_span *s, unsigned int shift)
{
	return s->obj_off == 0 && (uint64_t)s->len == (UINT64_C(1) << shift);
}

/*
 * Allocation run starting at @off (< @size), at most @len bytes: extends
 * across object boundaries while neighbours have the same allocated state.
 * Never goes past @size.  Returns the run length, *allocated its state.
 */
uint64_t sd_index_run(const uint32_t *index, uint32_t nr_objs,
		      unsigned int shift, uint64_t size, uint64_t off,
		      uint64_t len, bool *allocated);

#endif
