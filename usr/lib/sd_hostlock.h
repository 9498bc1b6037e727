/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_hostlock.h - host-local VDI lock records (layer 3): who on this host
 * holds a VDI's sheep lock, so that a gateway restarted after a crash takes
 * its own dead predecessor's lock over, and never a live holder's.
 *
 * Why: sheep 1.0 records a VDI lock against the sheep node that received
 * LOCK_VDI, not against the client (sheep/ops.c cluster_lock_vdi_main()
 * passes the sender node to sheep/vdi.c vdi_lock()), and nothing releases
 * it when the client's connections close.  A normal lock lives until a
 * RELEASE_VDI of type normal from anyone (vdi_unlock() checks no owner);
 * a shared participation until its node sends RELEASE_VDI or leaves the
 * cluster (remove_node_from_participants()).  A gateway killed with
 * SIGKILL therefore leaves its locks behind, and its restart is refused.
 *
 * The record: a file per VDI in SD_HOSTLOCK_DIR (or $SHEEP_LOCK_DIR),
 *   normal lock   CLUSTER-VDI.lock
 *   shared lock   CLUSTER-VDI@ADDR.lock   (one participation per sheep node,
 *                                          ADDR = the address in use)
 * CLUSTER is the cluster's format time (CLUSTER_INFO ctime) in hex, VDI and
 * ADDR are escaped (sd_hl_escape()).  The process that has the VDI open
 * holds flock(LOCK_EX) on it for the life of the handle and keeps in it a
 * few key=value lines (sd_hl_format()): state, pid, VDI, vid, lock type,
 * the sheep node GET_VDI_COPIES names as the lock's owner (or our
 * participation; remembered per sheep address for the process's later
 * opens), the address, the cluster, boot id and time.  The file is
 * never unlinked (an unlink would race with another process's flock);
 * close rewrites it to "released" before it sends RELEASE_VDI.
 *
 * Opening (sd_hostlock_open()), the flock is taken before anything is
 * decided:
 *   flock busy, normal      -> refused: "VDI 'x' is already locked by pid N
 *                              on this host" (that process is alive)
 *   flock busy, shared      -> LOCK_VDI; VDI_LOCKED -> the same refusal
 *                              (one participation per node); success -> open
 *                              without a record (a server that counts
 *                              participants per client, like minisheep)
 *   flock ours, LOCK_VDI ok -> record "held", open
 *   flock ours, VDI_LOCKED  -> take over (RELEASE_VDI, LOCK_VDI) only if the
 *                              record says a process of this host held this
 *                              vid with this lock type, and GET_VDI_COPIES
 *                              still names the recorded node as the owner
 *                              (normal) or we talk to the same sheep address
 *                              and the recorded node still participates
 *                              (shared); else refused with a hint to
 *                              `sdctl vdi unlock`
 * The flock being free proves the recorded process has gone: flock locks
 * die with the last descriptor of their open file, and the descriptor is
 * O_CLOEXEC.
 */
#ifndef SD_HOSTLOCK_H
#define SD_HOSTLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sheepdog.h"
#include "sd_proto.h"

#define SD_HOSTLOCK_ENV		"SHEEP_LOCK_DIR"
#define SD_HOSTLOCK_DIR		"/run/bs_sheepdog/locks"

/* ---- wire: CLUSTER_INFO and GET_VDI_COPIES (sheep's struct cluster_info,
 * struct vdi_state) ---------------------------------------------------- */

/* sizeof(struct cluster_info) of a default sheep 1.0 build (6144 nodes);
 * sheep copies all of it whatever data_length says, so ask for all */
#define SD_CLUSTER_INFO_SIZE		491568
#define SD_CLUSTER_INFO_OFF_CTIME	8
#define SD_CLUSTER_INFO_OFF_FLAGS	16
#define SD_CLUSTER_FLAG_USE_LOCK	0x0008	/* cluster format -l */

#define SD_VDI_STATE_SIZE	1428	/* struct vdi_state */
#define SD_VDI_STATE_OFF_LOCK	16	/* u32 lock_state */
#define SD_VDI_STATE_OFF_OWNER	20	/* node_id lock_owner */
#define SD_VDI_STATE_OFF_NR	60	/* u32 nr_participants */
#define SD_VDI_STATE_OFF_PSTATE	64	/* u32 participants_state[] */
#define SD_VDI_STATE_OFF_PART	188	/* node_id participants[31] */
#define SD_NODE_ID_SIZE		40	/* addr[16], u16 port, ... */
#define SD_MAX_PARTICIPANTS	31

#define SD_LOCK_STATE_UNLOCKED	1
#define SD_LOCK_STATE_LOCKED	2
#define SD_LOCK_STATE_SHARED	3

#define SD_NODE_STR_MAX		56	/* "[v6 address]:65535" */

/* One VDI's entry of GET_VDI_COPIES, node ids formatted. */
struct sd_vdi_lock_info {
	uint32_t vid;
	uint32_t state;			/* SD_LOCK_STATE_*, 0 unknown */
	char owner[SD_NODE_STR_MAX];	/* normal lock */
	uint32_t nr;			/* shared: participants, <= 31 */
	char part[SD_MAX_PARTICIPANTS][SD_NODE_STR_MAX];
	uint32_t pstate[SD_MAX_PARTICIPANTS];
};

/* "a.b.c.d:port" for an IPv4-mapped node_id, "[v6]:port" otherwise */
void sd_node_id_format(const uint8_t *nid, char *buf, size_t len);

/*
 * Find @vid in a GET_VDI_COPIES reply (@len bytes, whole entries) and
 * decode it.  0, or -ENOENT when the reply has no entry for it.
 */
int sd_vdi_lock_info_find(const uint8_t *buf, size_t len, uint32_t vid,
			  struct sd_vdi_lock_info *out);

/* ---- the record (pure; unit-tested in test/unit/test_sd_hostlock.c) ---- */

enum sd_hl_state {
	SD_HL_EMPTY = 0,	/* new file, or not a record */
	SD_HL_HELD,		/* pid holds it (did, if flock free) */
	SD_HL_RELEASED,		/* closed, or its lock was taken over */
	SD_HL_UNLOCKED,		/* released by sdctl vdi unlock */
};

struct sd_hl_record {
	enum sd_hl_state state;
	long pid;
	long prev_pid;			/* held: taken over from it */
	uint64_t cluster;		/* CLUSTER_INFO ctime */
	char vdi[SD_MAX_VDI_LEN + 1];
	uint32_t vid;
	enum sd_lock_mode lock;		/* NORMAL or SHARED */
	char node[SD_NODE_STR_MAX];	/* owner / our participation; "" unknown */
	char addr[SD_ADDR_STR_MAX];	/* sheep address in use */
	char boot[40];			/* kernel.random.boot_id */
	int64_t time;			/* when written (epoch seconds) */
};

#define SD_HL_RECORD_MAX	2048	/* formatted size bound */

/*
 * Escape @in into @out (NUL-terminated): bytes outside [A-Za-z0-9._+-]
 * become %XX (@strict, for file names) or, with !@strict, only control
 * bytes, space, '%' and bytes >= 0x7f do (values).  Returns the length
 * the escaped string needs (like snprintf); truncated when >= @len.
 */
size_t sd_hl_escape(const char *in, bool strict, char *out, size_t len);
/* Undo sd_hl_escape() into @out; -EINVAL for a bad %XX, NUL or overflow */
int sd_hl_unescape(const char *in, char *out, size_t len);

/*
 * The record file's name (not the directory) for @vdi in cluster @cluster:
 * "CLUSTER-VDI.lock", or with @addr (shared locks) "CLUSTER-VDI@ADDR.lock".
 * Names longer than NAME_MAX allows are cut and end in "~HASH" of the
 * whole key.  0, or -ENAMETOOLONG when @len is too small.
 */
int sd_hl_file_name(uint64_t cluster, const char *vdi, const char *addr,
		    char *buf, size_t len);

/* Text of @r; returns its length, or -ENOSPC when @len is too small. */
int sd_hl_format(const struct sd_hl_record *r, char *buf, size_t len);

/*
 * Parse a record (@len bytes, need not be NUL-terminated).  Unknown keys
 * are ignored.  0, or -EINVAL when the text is not a record (wrong first
 * line, no state, malformed value); *r is then EMPTY.
 */
int sd_hl_parse(const char *buf, size_t len, struct sd_hl_record *r);

/*
 * May an open of @vid with lock @mode through sheep address @addr take over
 * the lock recorded in @r, whose holder is known to be gone (its flock was
 * free)?  @s is @vid's lock state from GET_VDI_COPIES (NULL: unknown).
 * true, or false with a short reason in *why.
 */
bool sd_hl_may_take_over(const struct sd_hl_record *r, uint32_t vid,
			 enum sd_lock_mode mode, const char *addr,
			 const struct sd_vdi_lock_info *s, const char **why);

/*
 * The pid holding a FLOCK lock on inode @ino of device (@maj, @min) in the
 * text of /proc/locks, or 0 if none is listed.
 */
long sd_hl_proc_locks_pid(const char *text, unsigned int maj,
			  unsigned int min, unsigned long ino);

/* ---- sheep requests ---------------------------------------------------- */

/* CLUSTER_INFO: the format time and flags.  0 or -errno with a message. */
int sd_cluster_info(struct sd_client *c, uint64_t *ctime, uint16_t *flags);

/* GET_VDI_COPIES, @vid's entry.  0, -ENOENT (no entry), or -errno. */
int sd_vdi_lock_query(struct sd_client *c, uint32_t vid,
		      struct sd_vdi_lock_info *out);

/* ---- the open handle's record ------------------------------------------ */

struct sd_hostlock;

/*
 * The lock step of sd_vdi_open() for the working VDI @name (mode NORMAL or
 * SHARED), with the host record and the takeover above.  0 with *vid
 * locked and *out (NULL when no record is kept: the cluster does not lock,
 * or the directory is not usable), or -errno with the whole one-line
 * message ("cannot open VDI 'x': ...", or "VDI 'x' is already locked by
 * pid N on this host").
 */
int sd_hostlock_open(struct sd_client *c, const char *name,
		     enum sd_lock_mode mode, uint32_t *vid,
		     struct sd_hostlock **out);

/* The handle's lock moved to @vid (a reload after a snapshot). */
void sd_hostlock_moved(struct sd_hostlock *hl, uint32_t vid);

/*
 * Mark the record released; called before the RELEASE_VDI of a close, so
 * that a crash in between can leave a lock nobody takes over, never a
 * record that names a lock somebody else holds by then.
 */
void sd_hostlock_releasing(struct sd_hostlock *hl);

/* Close the file (drops the flock) and free @hl (NULL is fine). */
void sd_hostlock_free(struct sd_hostlock *hl);

/* The record's directory: $SHEEP_LOCK_DIR or SD_HOSTLOCK_DIR. */
const char *sd_hostlock_dir(void);

#endif
