/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_vdi_internal.h - the library's internal view of an open VDI, shared
 * by sd_vdi.c (layer 3: open, close, lookup, inode load), sd_io.c (layer
 * 4: data path), sd_reload.c (the reload, which alone calls both) and
 * sd_admin.c (which uses the synchronous lookup and inode-header helpers).
 * The pure index math is in sd_index.h.  Front ends see struct sd_vdi only
 * as an opaque handle (sheepdog.h).
 */
#ifndef SD_VDI_INTERNAL_H
#define SD_VDI_INTERNAL_H

#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>

#include "sheepdog.h"
#include "sd_claim.h"
#include "sd_conn.h"
#include "sd_error.h"
#include "sd_gate.h"
#include "sd_index.h"
#include "sd_list.h"
#include "sd_parse.h"
#include "sd_proto.h"

/*
 * Reload of an open VDI's identity and index after SD_RES_READONLY (the VDI
 * was snapshotted: find the new working vid) or SD_RES_INODE_INVALIDATED
 * (multipath: another gateway changed the index; refresh it).  The data
 * path (sd_io.c) asks for one with sd_reload_request(), parks the pieces
 * that need it and drains in-flight creates/index updates (state DRAIN);
 * sd_reload.c then runs the requests asynchronously (BUSY), merges the
 * result into the handle and gives the parked work back to
 * sd_io_reload_resume().
 */
enum sd_reload_state {
	SD_RELOAD_IDLE,
	SD_RELOAD_DRAIN,	/* waiting for meta_inflight to reach 0 */
	SD_RELOAD_BUSY,		/* requests of sd_reload.c in flight */
};

#define SD_RELOAD_LOOKUP	0x1	/* READONLY: look the working vid up */
#define SD_RELOAD_REFRESH	0x2	/* INVALIDATED: refresh read first */

struct sd_vdi_reload {
	enum sd_reload_state state;	/* under v->mu */
	unsigned int why;		/* SD_RELOAD_*, under v->mu */
	struct sd_list waiters;		/* parked pieces (sd_io.c) */
	struct sd_list bg_waiters;	/* parked background ops (sd_io.c) */
	struct sd_list pub;		/* re-publishes the merge queued
					 * (sd_io_republish_queue()) */

	/* private to the request chain of sd_reload.c while BUSY */
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
 * Fences, see sd_io.c: READ in shared mode (multipath) only, CLUSTER in
 * every lock mode.  Both kinds work alike: a
 * piece that needs one waits for a fence sent after its own request; one
 * fence of a kind is in flight at a time, and pieces armed meanwhile wait
 * for the next one, sent when it is back.
 *
 * READ: a read (or a shared write) may complete only after a fence sent
 * after it was dispatched came back clean.  The fence is READ_OBJ (TGT) of
 * the 8-byte snap_ctime of our inode: the server answers INODE_INVALIDATED
 * when another gateway changed the index, and a non-zero snap_ctime says
 * our vid became a snapshot.
 *
 * CLUSTER: an allocation (or deallocation) published on the index, by any
 * handle (another client's snapshot can swallow it), completes only after a cluster operation sent after the index update
 * came back with the same working vid.  Sheep runs cluster operations one
 * at a time (sheep/group.c queue_cluster_request()), and a snapshot
 * rewrites the whole base inode inside one (sheep/vdi.c snapshot_vdi()),
 * so the fence's GET_VDI_INFO either ran before a snapshot started, and
 * the update is in the snapshot's copy, or after it ended, and shows the
 * new vid.
 */
enum sd_fence_kind {
	SD_FENCE_READ,
	SD_FENCE_CLUSTER,
	SD_FENCE_KINDS,
};

struct sd_vdi_fence {
	struct sd_request req;
	struct iovec iov;
	/* READ: the snap_ctime; CLUSTER: the name + tag payload */
	uint8_t buf[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN];
	bool busy;			/* req in flight */
	bool more;			/* a piece needs the next fence */
	uint64_t more_deadline_ns;	/* earliest deadline of those */
	uint64_t sent;			/* sequence number of the last sent */
	uint32_t gen;			/* v->gen when the last one was sent */
	uint32_t vid;			/* v->vid when the last one was sent */
	/* outcome of the last fence that ended */
	uint64_t done;			/* its sequence number */
	uint32_t done_gen;		/* v->gen when it was sent */
	uint32_t stale;			/* 0 clean, else SD_RES_READONLY
					 * (snapshot, another working vid) or
					 * _INODE_INVALIDATED (READ only) */
	int err;			/* it failed: -errno */
	struct sd_list waiters;		/* pieces waiting for a fence */
};

struct sd_hostlock;
struct sd_size_watch;

struct sd_vdi {
	struct sd_client *c;
	struct sd_vdi_stats stats;	/* its data requests' (atomic) */
	char name[SD_MAX_VDI_LEN + 1];
	enum sd_lock_mode lock;		/* lock actually held */
	bool readonly;			/* opened as a snapshot */
	struct sd_hostlock *hl;		/* host record of the lock, or NULL
					 * (sd_hostlock.h) */

	/* from the inode; vid changes on a reload after a snapshot (READONLY),
	 * size (and with it nr_objs, index and dirty) when the VDI grew
	 * (sd_reload.c sd_vdi_grow()); vid and size are written under mu,
	 * read with __atomic_load_n outside it */
	uint32_t vid;
	uint64_t size;
	uint8_t shift;			/* block_size_shift, 20..31 */
	uint8_t nr_copies;
	uint8_t copy_policy;
	uint32_t nr_objs;		/* ceil(size / object size) <= 2^20 */
	struct sd_size_watch *watch;	/* sd_vdi_watch_size(), or NULL */

	pthread_mutex_t mu;		/* protects everything below */
	uint32_t *index;		/* host order, nr_objs entries */
	struct sd_gate_table gates;
	uint64_t write_seq;		/* write/zero/discard calls accepted */
	struct sd_list write_calls;	/* those not done yet, by seq */
	struct sd_list flush_waiters;	/* flushes waiting for them */
	bool flush_noop;		/* server said writes are stable */

	/* reloads (READONLY / INODE_INVALIDATED), see sd_reload.c */
	struct sd_vdi_reload rl;
	uint32_t gen;			/* bumped by every applied reload */
	uint32_t meta_inflight;		/* creates, index updates, re-checks
					 * and re-publishes in flight */
	uint32_t bg_inflight;		/* background ops alive (close waits) */
	pthread_cond_t bg_cond;
	uint8_t *dirty;			/* bitmap: entries we changed on the
					 * inode of vid since the last reload */
	struct sd_vdi_fence fence[SD_FENCE_KINDS]; /* sd_io.c */
	struct sd_claim_book *claims;	/* shared mode: busy claims seen */
};

/* ---- sd_reload.c: the only bridge between layer 3 and layer 4 ------- */

/*
 * Ask for a reload of @v after the result @res (SD_RES_READONLY or
 * _INODE_INVALIDATED) of a request sent against the current state (mu
 * held).  One reload at a time: a running one is not extended.
 */
void sd_reload_request(struct sd_vdi *v, uint32_t res);

/*
 * Is a requested reload drained (nothing of ours in flight on the index)?
 * Then it turns BUSY and the caller must sd_reload_begin() it once it has
 * released mu.  mu held.
 */
bool sd_reload_ready(struct sd_vdi *v);

/*
 * Run the reload request chain (v->mu NOT held).  Ends with exactly one
 * sd_io_reload_resume() call, possibly before this returns.
 */
void sd_reload_begin(struct sd_vdi *v);

/*
 * Fill @req (@iov, @names) for the lookup of @v's working vid: GET_VDI_INFO
 * of its name (resent on reconnect), or with @lock LOCK_VDI with the lock
 * type of the handle.  @req->priv is @v; the caller sets done and deadline.
 */
void sd_reload_lookup_init(struct sd_vdi *v, struct sd_request *req,
			   struct iovec *iov,
			   uint8_t names[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN],
			   bool lock);

/*
 * Growth (sd_reload.c): the handle's size, object count, index and dirty
 * bitmap follow a larger vdi_size of inode @vid.  @size is ignored unless
 * @vid is still the handle's vid, no reload runs, and it is larger than
 * the size in force (never shrink) and within 2^20 objects.  The new
 * entries are 0: sheep 1.0 never sets an entry past vdi_size (inodes are
 * created with a zeroed index, a snapshot or clone copies its base's, and
 * shrinking is refused), and in shared mode another gateway's allocations
 * there are found as any other (hole checks and claims).  mu held.
 * 0 (grown or nothing to do) or -ENOMEM.
 */
int sd_vdi_grow(struct sd_vdi *v, uint32_t vid, uint64_t size);

/* sd_vdi_close(): stop the size poll (the handle is about to go). */
void sd_size_watch_stop(struct sd_vdi *v);

/* ---- sd_io.c, called by the reload ------------------------------------- */

/*
 * The merge of a reload wants entry @idx published again as @entry on the
 * new inode (mu held): queue the background copy / re-publish on
 * v->rl.pub.  0, or -ENOMEM (then the entry keeps the server's value).
 */
int sd_io_republish_queue(struct sd_vdi *v, uint32_t idx, uint32_t entry);

/*
 * End of a reload (mu held, released on return): @err < 0 fails the parked
 * pieces; else the new state is in place, and the queued re-publishes, the
 * parked background ops and the parked pieces go on against it.
 */
void sd_io_reload_resume(struct sd_vdi *v, int err);

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
 * Bytes of the read of an inode's header and whole index.  With @refresh
 * exactly SD_INODE_REFRESH_SIZE: sheep takes that for a multipath
 * gateway's refresh read and clears its node's INVALIDATED state
 * (sheep/gateway.c is_inode_refresh_req(), validate_myself()); a shared
 * handle wants that, anyone else reads 4 bytes more, as dog does not
 * touch it either.
 */
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

/* Fill @req for a RELEASE_VDI of @vid with lock @type (resent). */
void sd_release_req_init(struct sd_request *req, uint32_t vid, uint32_t type);

/* The LOCK_VDI / RELEASE_VDI lock type of a lock mode. */
static inline uint32_t sd_lock_type_of(enum sd_lock_mode m)
{
	return m == SD_LOCK_SHARED ? SD_LOCK_TYPE_SHARED : SD_LOCK_TYPE_NORMAL;
}

/* Fill @req (and @iov) for a READ_OBJ of [0, len) of inode @vid (resent). */
void sd_inode_read_req_init(struct sd_request *req, struct iovec *iov,
			    uint32_t vid, uint8_t *buf, uint32_t len);

/* Result of an inode read of @len bytes: 0 or -errno with a message. */
int sd_inode_read_result(const struct sd_request *req, uint32_t vid,
			 uint32_t len);

/*
 * Decode and check the header + index read @buf of inode @vid (see
 * sd_inode_index_read_len()): store_policy 0, block_size_shift 20..31,
 * object count <= 2^20; header into @h, a malloc'ed host-order index into
 * *index (*nr_objs entries).  0 or -errno with a message.
 */
int sd_inode_decode_full(const uint8_t *buf, uint32_t vid,
			 struct sd_inode_hdr *h, uint32_t **index,
			 uint32_t *nr_objs);

#endif
