/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sheepdog.h - the client library's public API: everything a front end (the
 * tgt module, the NBD plugin, sdctl) uses.  Front ends include this header
 * and no other of the library's (sd_error.h and sd_list.h, an intrusive
 * list the tgt module also uses, come with it): they are compiled with
 * usr/lib/include only on their include path, so the library's internal
 * headers in usr/lib/ (the wire format, requests and connections) are out of
 * their reach.  They never build wire requests themselves.
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
#include <stdio.h>
#include <sys/uio.h>

#include "sd_error.h"
#include "sd_list.h"

/* ---- names and numbers ----------------------------------------------- */

/*
 * VDI names are 1..SD_VDI_NAME_MAX bytes and snapshot tags
 * 1..SD_VDI_TAG_MAX bytes: each fills a 256-byte NUL-terminated wire field.
 */
#define SD_VDI_NAME_MAX		255
#define SD_VDI_TAG_MAX		255
/* object size 1 << block_size_shift */
#define SD_MIN_BLOCK_SHIFT	20
#define SD_MAX_BLOCK_SHIFT	31
#define SD_DEFAULT_BLOCK_SHIFT	22	/* sheep's default: 4 MiB objects */

/*
 * The number, name and snapshot-selector rules that the library and the
 * front ends share, so that each is written once.  They return 0 or
 * -EINVAL with a one-line message (sd_get_error()) that names what is wrong
 * but not where it came from: the caller adds that with sd_error_context()
 * ("bad backing store '...': ..."), or prints a message of its own.
 */

/*
 * A decimal number of @len bytes at @s: digits only (no sign, blank, base
 * prefix or suffix; leading zeros are fine) with a value in [min, max].
 * 0 with *out set, or -EINVAL with "bad WHAT 'S' (must be MIN..MAX)".
 */
int sd_parse_uint_n(const char *what, const char *s, size_t len,
		    uint64_t min, uint64_t max, uint64_t *out);
/* the same for the whole string @s */
int sd_parse_uint(const char *what, const char *s, uint64_t min,
		  uint64_t max, uint64_t *out);

/*
 * The VDI name @name (NULL: empty) and the tag @tag (NULL or "": none):
 * -EINVAL with "empty VDI name", "VDI name is N bytes (max 255)" or
 * "tag is N bytes (max 255)".
 */
int sd_check_names(const char *name, const char *tag);

/*
 * The snapshot selector TAG|SNAPID of @len bytes at @s: all digits is a
 * snapshot id (1..4294967295), anything else a tag (1..SD_VDI_TAG_MAX
 * bytes).  0 with either *snapid or @tag set (the other 0 / ""), or
 * -EINVAL with "empty tag or snapshot id", "bad snapshot id 'S' (must be
 * 1..4294967295)" or the tag's length message.
 */
int sd_parse_snapshot(const char *s, size_t len,
		      char tag[SD_VDI_TAG_MAX + 1], uint32_t *snapid);

/* ---- addresses -------------------------------------------------------- */

/*
 * The one address grammar, shared by the backing-store string, sdctl, the
 * NBD plugin and minisheep:
 *
 *   ADDR   := "unix:" PATH | "tcp:" HOST ":" PORT | "tcp:[" IPV6 "]:" PORT
 *   TARGET := ADDR ":" VDI [ ":" TAG | ":" SNAPID ]
 *
 * PATH runs to the next ':' and is at most 107 bytes (sun_path).  HOST is a
 * name (resolved with getaddrinfo at connect time) or an IPv4 literal;
 * IPv6 literals must be bracketed.  PORT is 1..65535.  VDI and TAG are
 * 1..255 bytes.  A suffix of all digits is a snapshot id (1..4294967295),
 * anything else a tag.
 */
#define SD_ADDR_PATH_MAX	107
#define SD_ADDR_HOST_MAX	255
#define SD_ADDR_STR_MAX		(8 + SD_ADDR_HOST_MAX + 8)	/* formatted */
#define SD_DEFAULT_ADDR		"tcp:127.0.0.1:7000"

enum sd_addr_kind {
	SD_ADDR_UNIX = 1,
	SD_ADDR_TCP = 2,
};

struct sd_addr {
	enum sd_addr_kind kind;
	char path[SD_ADDR_PATH_MAX + 1];	/* SD_ADDR_UNIX */
	char host[SD_ADDR_HOST_MAX + 1];	/* SD_ADDR_TCP, no brackets */
	uint16_t port;				/* SD_ADDR_TCP */
};

struct sd_target {
	struct sd_addr addr;
	char vdi[SD_VDI_NAME_MAX + 1];
	char tag[SD_VDI_TAG_MAX + 1];	/* "" unless a tag was given */
	uint32_t snapid;	/* 0 unless a snapshot id was given */
};

/*
 * Parse a whole address.  Returns 0, or -EINVAL with a one-line message
 * (sd_get_error()) naming the offending part, e.g.
 *   "bad address 'tcp:h:99999': bad port '99999' (1..65535)".
 */
int sd_addr_parse(const char *s, struct sd_addr *a);

/* Parse a backing-store string ADDR:VDI[:TAG|:SNAPID]. 0 or -EINVAL. */
int sd_target_parse(const char *s, struct sd_target *t);

/* canonical text ("unix:/p", "tcp:h:7000", "tcp:[::1]:7000") into buf */
void sd_addr_format(const struct sd_addr *a, char *buf, size_t len);

/* ---- clients ---------------------------------------------------------- */

#define SD_DEFAULT_TIMEOUT_MS	15000	/* below Linux's 30 s SCSI timeout */
#define SD_DEFAULT_CONNS	8
#define SD_MAX_CONNS		64
#define SD_MAX_ADDRS		8

/*
 * A client owns nr_conns connections to one sheep (after a failure, to the
 * next address of its list) and, unless external_loop, an I/O thread that
 * drives them.  Any number of VDIs may be open on one client: their
 * requests share its connections (a pool sized by concurrency, not by the
 * number of VDIs), and a lost connection resends or fails only the
 * requests it carried.  Requests are retried, resent and failed over inside the
 * library (see sd_conn.h); a front end sees only the VDI calls below.
 */
struct sd_client;

struct sd_client_opts {
	const struct sd_addr *addrs;	/* [0] primary, the rest failover */
	unsigned int nr_addrs;		/* 1..SD_MAX_ADDRS */
	unsigned int nr_conns;		/* 0 = SD_DEFAULT_CONNS */
	unsigned int timeout_ms;	/* 0 = SD_DEFAULT_TIMEOUT_MS */
	bool external_loop;		/* no I/O thread: the creating thread's
					 * event loop drives the client */
};

/*
 * Start a client: copies @o, starts the I/O thread (with all signals
 * blocked) and begins connecting.  Does not wait for the connections.
 * 0 or -errno with a message.
 *
 * With @o->external_loop there is no I/O thread.  The thread that creates
 * the client owns it: its event loop watches sd_client_event_fd() for
 * EPOLLIN (level-triggered) and calls sd_client_process() when it is
 * readable.  Completion callbacks then run on that thread, inside
 * sd_client_process().  The owner's own submissions outside it are sent
 * at once (without completing anything); submissions from other threads
 * wake the loop through that fd; deadlines and reconnect timers make it
 * readable too.
 * Synchronous calls on the owner thread (sd_vdi_open(), sd_vdi_pread(),
 * sd_vdi_close()) run the loop themselves until they are done.
 */
int sd_client_new(const struct sd_client_opts *o, struct sd_client **out);

/*
 * Stop the I/O thread, close the connections, complete every outstanding
 * request with -ECANCELED, free the client.  Must not be called from the
 * client's own I/O thread (external loop: from the owner thread, outside
 * sd_client_process()).
 */
void sd_client_free(struct sd_client *c);

/* External loop: the fd to watch for EPOLLIN (an epoll fd); else -1. */
int sd_client_event_fd(const struct sd_client *c);

/*
 * External loop, owner thread: do everything that is due (send what was
 * submitted, read replies and run their callbacks, expire deadlines,
 * reconnect) without blocking, and arm the next timer.  Not re-entrant:
 * a call from inside a callback returns at once.
 */
void sd_client_process(struct sd_client *c);

/* Monotonic clock in nanoseconds (the clock of the library's deadlines). */
uint64_t sd_now_ns(void);

/*
 * Sheep result codes are counted in SD_CLIENT_NR_RESULTS slots: 0x00..0x1f
 * and 0x80..0x9f each in its own, anything else in the last one
 * (sd_stats_result_code() names the code of a slot).
 */
#define SD_CLIENT_NR_RESULTS	65

/* Counters, for tests and stats (relaxed atomics: never a lock). */
struct sd_client_stats {
	uint64_t submitted;
	uint64_t completed;
	uint64_t resent;
	uint64_t transient;		/* transient results retried */
	uint64_t timeouts;
	uint64_t reconnects;		/* a connection up again after a loss */
	uint64_t bad_replies;
	uint64_t failovers;		/* the address in use changed */
	uint64_t last_failover_ns;	/* sd_now_ns() of the last one, 0 = never */
	uint64_t results[SD_CLIENT_NR_RESULTS];	/* replies by sheep result */
};
void sd_client_get_stats(struct sd_client *c, struct sd_client_stats *st);

struct sd_vdi;

/*
 * What happened to one VDI handle's data requests below it (reads,
 * writes, allocations, index updates, fences, flushes; not the lookups of
 * a reload or a claim): counted by the connection layer as they happen,
 * as in struct sd_client_stats, which sums every VDI of the client.
 */
struct sd_vdi_stats {
	uint64_t resent;		/* sent again after a lost connection */
	uint64_t transient;		/* transient results retried */
	uint64_t timeouts;
	uint64_t results[SD_CLIENT_NR_RESULTS];	/* replies by sheep result */
};

/* ---- I/O statistics (usr/lib/sd_stats.c) ------------------------------ */

/*
 * What a front end counts for each of its LUs or exports, cheap enough to
 * stay on always: every field is updated with relaxed atomics by whichever
 * thread completes a request, and read the same way (no lock on the I/O
 * path).  Front ends embed one per LU/export and call sd_io_stats_begin()
 * when a request starts and sd_io_stats_end() when its result goes back;
 * what went on below (sheep results, retries, reconnects, failovers) is
 * counted per client in struct sd_client_stats, shared by every VDI open
 * on that client.
 */
enum sd_io_kind {
	SD_IO_KIND_READ,
	SD_IO_KIND_WRITE,
	SD_IO_KIND_DISCARD,		/* discard, zero */
	SD_IO_KIND_FLUSH,
	SD_IO_KIND_OTHER,
	SD_IO_NR_KINDS,
};

/* errors by errno: 1..SD_IO_STATS_NR_ERRNO-2, anything else in the last */
#define SD_IO_STATS_NR_ERRNO	135
/*
 * Latency in microseconds, log-linear: values 0..7 exactly, then 8 slots
 * per power of two (at most 12.5% wide) up to 2^40 us.
 */
#define SD_LAT_SUB		8
#define SD_LAT_BUCKETS		(SD_LAT_SUB * 39)

struct sd_io_stats {
	uint64_t ops[SD_IO_NR_KINDS];
	uint64_t bytes[SD_IO_NR_KINDS];	/* of successful reads and writes */
	uint64_t in_flight;
	uint64_t in_flight_max;		/* high-water mark */
	uint64_t errors;		/* requests that failed */
	uint64_t errnos[SD_IO_STATS_NR_ERRNO];
	uint64_t lat_us[SD_LAT_BUCKETS];
};

/* Count a request as started; returns its start time for _end(). */
uint64_t sd_io_stats_begin(struct sd_io_stats *s);
/*
 * Count a request as done: @kind, @bytes moved (counted only when @err is
 * 0), the sd_io_stats_begin() time and its result (0 or -errno).
 */
void sd_io_stats_end(struct sd_io_stats *s, enum sd_io_kind kind,
		     uint64_t bytes, uint64_t start_ns, int err);
/* A consistent-enough copy of @s (each field read atomically). */
void sd_io_stats_read(const struct sd_io_stats *s, struct sd_io_stats *out);
/*
 * The latency under which @permille of the requests of @s (a copy) fell,
 * in microseconds: the upper edge of its histogram slot, 0 when empty.
 */
uint64_t sd_io_stats_percentile_us(const struct sd_io_stats *s,
				   unsigned int permille);
/* the result code counted in slot @idx of sd_client_stats.results */
uint32_t sd_stats_result_code(unsigned int idx);

/*
 * The status line format of the gateways' status sockets (doc/sdctl.8,
 * doc/bs_sheepdog.8): space-separated KEY=VALUE tokens (KEY has no '='),
 * VALUE with every byte that is a space, '%' or not printable ASCII written
 * as %XX (as the host lock records are).
 * sd_stats_print_str() prints " KEY=VALUE" with VALUE escaped.
 * sd_stats_print() prints the counters of @s (a copy) and, when @v is not
 * NULL, those of the VDI handle (its sheep results, retries, resends and
 * timeouts) and of the client it uses (the address in use, reconnects,
 * failovers: a client's connections serve all its VDIs), each as
 * " KEY=VALUE".  sd_stats_unescape() undoes the escaping in place; -EINVAL
 * on a malformed %XX or %00.
 */
void sd_stats_print_str(FILE *f, const char *key, const char *val);
void sd_stats_print(FILE *f, const struct sd_io_stats *s,
		    const struct sd_vdi *v);
int sd_stats_unescape(char *s);

/*
 * Status sockets (doc/bs_sheepdog.8, STATUS): a gateway process listens on
 * DIR/PROCESS-PID.sock, DIR = $BS_SHEEPDOG_RUN_DIR or /run/bs_sheepdog,
 * and writes to whoever connects one snapshot, then closes:
 *   SD_STATUS_MAGIC process=PROCESS pid=PID
 *   KIND KEY=VALUE...		(one line per LU or export)
 *   end
 * sd_status_listen() makes DIR if needed and returns the listening socket
 * (non-blocking, close-on-exec, mode 0600; a stale file of the same name
 * is replaced) with its path in @path, or -errno with a message.
 */
#define SD_STATUS_DIR		"/run/bs_sheepdog"
#define SD_STATUS_DIR_ENV	"BS_SHEEPDOG_RUN_DIR"
#define SD_STATUS_MAGIC		"bs_sheepdog-status 1"
const char *sd_status_dir(void);
int sd_status_listen(const char *process, char *path, size_t len);
void sd_status_print_header(FILE *f, const char *process);

/* ---- VDIs ------------------------------------------------------------- */

struct sd_vdi;

enum sd_lock_mode {
	SD_LOCK_NONE = 0,	/* GET_VDI_INFO only */
	SD_LOCK_NORMAL = 1,	/* exclusive LOCK_VDI type 0 */
	SD_LOCK_SHARED = 2,	/* LOCK_VDI type 1, for multipath gateways */
};

/* "none", "normal" or "shared" ("?" for anything else) */
const char *sd_lock_mode_name(enum sd_lock_mode m);
/* the reverse: 0, or -EINVAL with "bad lock mode 'S' (none, normal or shared)" */
int sd_lock_mode_parse(const char *s, enum sd_lock_mode *m);

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

/*
 * The VDI's size in bytes.  A VDI can grow while open (dog vdi resize,
 * sdctl vdi resize, or another gateway's resize): sd_vdi_size() then
 * returns the new size once the handle has noticed it, through
 * sd_vdi_watch_size() or sd_vdi_refresh_size() below, or a reload after a
 * snapshot or a multipath invalidation.  It never gets smaller: sheep
 * refuses shrinks, and a smaller value read from the inode is ignored.
 * Callable from any thread.
 */
uint64_t sd_vdi_size(const struct sd_vdi *v);

/*
 * Poll the size of the VDI's inode every SD_SIZE_POLL_MS on the client's
 * loop (one READ_OBJ of the 8-byte vdi_size field; 1000 open VDIs cost
 * some 330 tiny reads a second), and grow the handle when it grew.  I/O
 * never waits for a poll.  A front end that wants to act on a change
 * compares sd_vdi_size() with what it last saw (the tgt module does that
 * on tgtd's main thread).  Idempotent; a no-op for snapshots.  Stops with
 * sd_vdi_close().  0 or -errno.
 */
#define SD_SIZE_POLL_MS		3000
int sd_vdi_watch_size(struct sd_vdi *v);

/*
 * Read the inode's size now and grow the handle if it grew (synchronous,
 * not on a library thread).  0 or -errno with a message; the cached size
 * stays on error.
 */
int sd_vdi_refresh_size(struct sd_vdi *v);

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
	/* a whole 256-byte wire field and a NUL, as the inode holds them */
	char name[SD_VDI_NAME_MAX + 2];
	char tag[SD_VDI_TAG_MAX + 2];
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
/*
 * Grow the working VDI @name to @new_size bytes, as dog's vdi_resize()
 * does: the inode's vdi_size is rewritten (an 8-byte WRITE_OBJ; gateways
 * that have it open notice it, see sd_vdi_watch_size()).  Rules (dog's):
 * grow only (a smaller size is -EINVAL "shrinking is not supported"; the
 * same size is a no-op), at most 2^20 objects of the VDI's object size
 * (-EINVAL naming that maximum), and ours: a multiple of 512 bytes, and
 * hyper volumes refused with -EOPNOTSUPP.  *old_size (if not NULL) = the
 * size before.  -ENOENT when there is no such VDI.
 */
int sd_vdi_resize(struct sd_client *c, const char *name, uint64_t new_size,
		  uint64_t *old_size);
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
