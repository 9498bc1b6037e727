/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sheepdog.h - the client library's public API (layers 3 and 4).
 *
 * Front ends (the tgt module, the NBD plugin, sdctl) use only this header,
 * sd_addr.h, sd_conn.h's client functions, sd_error.h and sd_parse.h (the
 * number, snapshot-selector and VDI-name rules they share with the
 * library).  They never build wire requests themselves.
 *
 * Conventions: functions return 0 or a negative errno and leave a one-line
 * message in sd_get_error() on the calling thread.  Async calls return 0
 * when accepted, and then call done() exactly once on a library thread with
 * 0 or a negative errno; they return -errno (and never call done()) when the
 * request is refused up front (bad range, read-only VDI, no memory).
 */
#ifndef SHEEPDOG_H
#define SHEEPDOG_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "sd_addr.h"
#include "sd_conn.h"
#include "sd_error.h"
#include "sd_parse.h"

struct sd_vdi;

enum sd_lock_mode {
	SD_LOCK_NONE = 0,	/* GET_VDI_INFO only */
	SD_LOCK_NORMAL = 1,	/* exclusive LOCK_VDI type 0 */
	SD_LOCK_SHARED = 2,	/* LOCK_VDI type 1, for multipath gateways */
};

struct sd_vdi_open_args {
	const char *name;
	const char *tag;		/* NULL or "" = no tag */
	uint32_t snapid;		/* 0 = no snapshot id */
	enum sd_lock_mode lock;		/* ignored for snapshots (never locked) */
};

/*
 * Open a VDI: look it up (name, tag or snapid), lock it unless it is a
 * snapshot or lock is NONE, and load the inode header and index
 * (SD_INODE_REFRESH_SIZE bytes).  A tag or snapid opens the snapshot
 * read-only with GET_VDI_INFO and no lock.  Hyper volumes (store_policy 1)
 * are refused with -EOPNOTSUPP.
 * Errors: -ENOENT (no VDI / no tag), -EBUSY (locked elsewhere), connection
 * errors, -EPROTO (malformed inode).
 */
int sd_vdi_open(struct sd_client *c, const struct sd_vdi_open_args *a,
		struct sd_vdi **out);

/* Release the lock (if any) and free the handle.  No I/O may be in flight. */
void sd_vdi_close(struct sd_vdi *v);

uint64_t sd_vdi_size(const struct sd_vdi *v);
uint32_t sd_vdi_object_size(const struct sd_vdi *v);
uint32_t sd_vdi_vid(const struct sd_vdi *v);
const char *sd_vdi_name(const struct sd_vdi *v);
bool sd_vdi_readonly(const struct sd_vdi *v);	/* true for snapshots */

typedef void (*sd_io_done_fn)(void *opaque, int err);

/* flags for writes and zeroing */
#define SD_IO_FUA	0x1	/* durable before done(); sheep acks stable
				 * writes, so this adds a FLUSH_VDI only when
				 * the server supports it */
#define SD_IO_UNMAP	0x2	/* zero: may deallocate whole objects */

/*
 * Byte-granular I/O of any range inside [0, size).  The iovecs and the
 * buffers they point to must stay valid until done().
 */
int sd_vdi_aio_read(struct sd_vdi *v, const struct iovec *iov, int iovcnt,
		    uint64_t off, sd_io_done_fn done, void *opaque);
int sd_vdi_aio_write(struct sd_vdi *v, const struct iovec *iov, int iovcnt,
		     uint64_t off, unsigned int flags, sd_io_done_fn done,
		     void *opaque);
/*
 * Make [off, off+len) read as zeros.  With SD_IO_UNMAP, whole objects are
 * deallocated (index entry set to 0) and partial pieces of allocated objects
 * are written with zeros; unallocated pieces cost nothing.  Without it,
 * zeros are written everywhere (allocating).
 */
int sd_vdi_aio_zero(struct sd_vdi *v, uint64_t off, uint64_t len,
		    unsigned int flags, sd_io_done_fn done, void *opaque);
/* Discard = zero with SD_IO_UNMAP. */
int sd_vdi_aio_discard(struct sd_vdi *v, uint64_t off, uint64_t len,
		       sd_io_done_fn done, void *opaque);
/* Complete when every write accepted before it is durable. */
int sd_vdi_aio_flush(struct sd_vdi *v, sd_io_done_fn done, void *opaque);

/* Synchronous wrappers (must not be called on a library thread). */
int sd_vdi_pread(struct sd_vdi *v, void *buf, size_t len, uint64_t off);
int sd_vdi_pwrite(struct sd_vdi *v, const void *buf, size_t len,
		  uint64_t off, unsigned int flags);
int sd_vdi_zero(struct sd_vdi *v, uint64_t off, uint64_t len,
		unsigned int flags);
int sd_vdi_discard(struct sd_vdi *v, uint64_t off, uint64_t len);
int sd_vdi_flush(struct sd_vdi *v);

/*
 * Allocation map from the in-memory index: the run starting at @off (at most
 * @len bytes, ending at an object boundary or where allocation changes) and
 * whether it is allocated (owned or inherited).
 */
int sd_vdi_block_status(struct sd_vdi *v, uint64_t off, uint64_t len,
			uint64_t *run_len, bool *allocated);

/* ---- administration (sdctl) ------------------------------------------ */

struct sd_vdi_info {
	char name[SD_MAX_VDI_LEN + 1];
	char tag[SD_MAX_VDI_TAG_LEN + 1];
	uint32_t vid;
	uint32_t snap_id;
	uint32_t parent_vid;
	uint64_t size;
	uint64_t create_time;		/* (sec << 32) | nsec */
	uint64_t snap_ctime;
	uint8_t block_size_shift;
	uint8_t nr_copies;
	uint8_t copy_policy;
	uint8_t store_policy;
	bool is_snapshot;
	uint64_t used_objs;		/* entries owned by this vid */
	uint64_t shared_objs;		/* entries inherited from ancestors */
};

/* block_size_shift 0 = cluster default (GET_CLUSTER_DEFAULT) */
int sd_vdi_create(struct sd_client *c, const char *name, uint64_t size,
		  uint8_t block_size_shift, uint32_t *vid);
/* Snapshot the working VDI @name under @tag (may be "" ); the working VDI
 * moves to a new vid.  *snap_vid = the snapshot's (old) vid. */
int sd_vdi_snapshot(struct sd_client *c, const char *name, const char *tag,
		    uint32_t *snap_vid);
/* Clone snapshot (tag or snapid) of @src into new working VDI @dst. */
int sd_vdi_clone(struct sd_client *c, const char *src, const char *tag,
		 uint32_t snapid, const char *dst, uint32_t *vid);
/* Delete the working VDI (no tag, snapid 0) or a snapshot; zeroes the
 * index first so the server reclaims the objects. */
int sd_vdi_delete(struct sd_client *c, const char *name, const char *tag,
		  uint32_t snapid);
/* Every live VDI and snapshot, sorted by name then snap_id; free() it. */
int sd_vdi_list(struct sd_client *c, struct sd_vdi_info **out, size_t *n);

/*
 * Release the lock of VDI @name (the working VDI, or the snapshot @tag /
 * @snapid) whoever holds it, as dog's "vdi lock unlock": GET_VDI_COPIES
 * for the lock's type, then RELEASE_VDI of that type.  A normal lock is
 * released whichever sheep node owns it; from a shared lock sheep removes
 * only the participation of the node @c talks to (-ENOENT, naming the
 * participants, when that node has none).  -ENOLCK when not locked.
 * Refused with -EBUSY when a live process of this host holds the lock
 * (its host record, see sd_hostlock.h), unless @force.  On success @what
 * (if not NULL) describes what was released.
 */
int sd_vdi_unlock(struct sd_client *c, const char *name, const char *tag,
		  uint32_t snapid, bool force, char *what, size_t len);

#endif
