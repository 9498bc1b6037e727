// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vdi.c - minisheep's VDI state and VDI operations: the "in use",
 * "deleted" and "snapshot" vid bitmaps (rebuilt from the inode objects at
 * start), name lookup and vid allocation (FNV-1a start vid + linear
 * probing), NEW_VDI (create, clone, snapshot, rebase), DEL_VDI, LOCK_VDI /
 * RELEASE_VDI with normal and shared locks, the shared-lock coherence state
 * machine (participants are ids server.c gives out: a client process or a
 * connection stands for one sheep node), inode index
 * updates with reference counting and reclaim of unreferenced data objects,
 * DISCARD_OBJ, GET_VDI_COPIES and GET_VDI_ATTR.  Everything that changes
 * VDI state runs under one mutex; object I/O only reads the bitmaps.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minisheep.h"

#define PSTATE_MODIFIED		1
#define PSTATE_SHARED		2
#define PSTATE_INVALIDATED	3

#define LSTATE_UNLOCKED		1
#define LSTATE_LOCKED		2
#define LSTATE_SHARED		3

#define ATTR_FLAG_CREAT		0x0100
#define ATTR_FLAG_EXCL		0x0200
#define ATTR_FLAG_DEL		0x0400
#define ATTR_HDR_SIZE		784
#define ATTR_MAX_PROBES		4096

#define INDEX_BYTES		(SD_INODE_GREF_OFFSET - SD_INODE_INDEX_OFFSET)
#define BTREE_MAGIC		0x6274

struct vdi_lock {
	struct vdi_lock *next;
	uint32_t vid;
	uint32_t state;
	uint32_t nr;
	uint64_t part[MS_MAX_PARTICIPANTS];
	uint32_t pstate[MS_MAX_PARTICIPANTS];
};

static pthread_mutex_t vdi_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint8_t inuse_bm[SD_VDI_BITMAP_SIZE];
static uint8_t deleted_bm[SD_VDI_BITMAP_SIZE];
static uint8_t snap_bm[SD_VDI_BITMAP_SIZE];
static uint8_t hyper_bm[SD_VDI_BITMAP_SIZE];
static uint8_t *vid_shift;		/* SD_NR_VDIS bytes, 0 = unknown */
static uint8_t max_shift;
static struct vdi_lock *locks;

/* ---- bitmaps ------------------------------------------------------- */

static bool bit_test(const uint8_t *bm, uint32_t v)
{
	return __atomic_load_n(&bm[v >> 3], __ATOMIC_ACQUIRE) & (1u << (v & 7));
}

static void bit_set(uint8_t *bm, uint32_t v)
{
	__atomic_fetch_or(&bm[v >> 3], (uint8_t)(1u << (v & 7)),
			  __ATOMIC_RELEASE);
}

static void note_shift(uint32_t vid, uint8_t shift)
{
	__atomic_store_n(&vid_shift[vid], shift, __ATOMIC_RELEASE);
	if (shift > __atomic_load_n(&max_shift, __ATOMIC_ACQUIRE))
		__atomic_store_n(&max_shift, shift, __ATOMIC_RELEASE);
}

uint8_t vdi_shift_of(uint32_t vid)
{
	uint8_t s = vid_shift ?
		__atomic_load_n(&vid_shift[vid & 0xffffff], __ATOMIC_ACQUIRE) : 0;

	return s ? s : ms_cluster.block_shift;
}

bool vdi_is_snapshot(uint32_t vid)
{
	return bit_test(snap_bm, vid & 0xffffff);
}

uint64_t vdi_max_object_size(void)
{
	uint8_t s = __atomic_load_n(&max_shift, __ATOMIC_ACQUIRE);
	uint64_t obj;

	if (s < ms_cluster.block_shift)
		s = ms_cluster.block_shift;
	obj = UINT64_C(1) << s;
	return obj > SD_INODE_SIZE ? obj : SD_INODE_SIZE;
}

static uint32_t vid_next(uint32_t v)
{
	return v + 1 >= SD_NR_VDIS ? 1 : v + 1;
}

static uint32_t vid_prev(uint32_t v)
{
	return v <= 1 ? SD_NR_VDIS - 1 : v - 1;
}

/* ---- inode helpers -------------------------------------------------- */

static int read_hdr(uint32_t vid, uint8_t *buf, struct sd_inode_hdr *hdr)
{
	int ret = store_read(sd_vid_to_vdi_oid(vid), buf,
			     SD_INODE_HEADER_SIZE, 0);

	if (ret == SD_RES_SUCCESS && hdr)
		sd_inode_hdr_decode(buf, hdr);
	return ret;
}

/* note one inode's state in memory (start-up scan, creates) */
static void note_inode(uint32_t vid, const struct sd_inode_hdr *h)
{
	bit_set(inuse_bm, vid);
	if (!h->name[0])
		bit_set(deleted_bm, vid);
	if (h->snap_ctime)
		bit_set(snap_bm, vid);
	if (h->store_policy == 1)
		bit_set(hyper_bm, vid);
	if (h->block_size_shift >= SD_MIN_BLOCK_SHIFT &&
	    h->block_size_shift <= SD_MAX_BLOCK_SHIFT)
		note_shift(vid, h->block_size_shift);
}

/* reference every non-zero entry of a flat index */
static void index_get_refs(const uint8_t *index)
{
	uint32_t i;

	for (i = 0; i < SD_MAX_DATA_OBJS; i++) {
		uint32_t e = sd_get_le32(index + 4 * i);

		if (e)
			ref_get(sd_vid_to_data_oid(e, i));
	}
}

static void drop_ref(uint32_t e, uint32_t idx)
{
	uint64_t oid = sd_vid_to_data_oid(e, idx);

	if (ref_put(oid) == 0) {
		int ret = store_remove(oid);

		if (ret != SD_RES_SUCCESS && ret != SD_RES_NO_OBJ)
			ms_log("cannot remove object %016llx: %s",
			       (unsigned long long)oid, sd_result_str(ret));
	}
}

static int scan_one(uint64_t oid, void *arg)
{
	uint8_t *buf = arg;
	struct sd_inode_hdr h;
	uint32_t vid = sd_oid_to_vid(oid);

	if (!sd_oid_is_inode(oid) || !vid)
		return 0;
	if (store_read(oid, buf, SD_INODE_REFRESH_SIZE, 0) != SD_RES_SUCCESS) {
		ms_log("skipping unreadable inode %016llx",
		       (unsigned long long)oid);
		return 0;
	}
	sd_inode_hdr_decode(buf, &h);
	note_inode(vid, &h);
	if (h.store_policy != 1)
		index_get_refs(buf + SD_INODE_INDEX_OFFSET);
	return 0;
}

int vdi_init(void)
{
	uint8_t *buf;
	int ret;

	vid_shift = calloc(SD_NR_VDIS, 1);
	buf = malloc(SD_INODE_REFRESH_SIZE);
	if (!vid_shift || !buf) {
		free(buf);
		ms_log("out of memory");
		return -1;
	}
	ret = store_for_each(scan_one, buf);
	free(buf);
	if (ret) {
		ms_log("cannot scan the object directory");
		return -1;
	}
	return 0;
}

void vdi_wipe(void)
{
	struct vdi_lock *l, *next;

	pthread_mutex_lock(&vdi_mutex);
	store_wipe();
	memset(inuse_bm, 0, sizeof(inuse_bm));
	memset(deleted_bm, 0, sizeof(deleted_bm));
	memset(snap_bm, 0, sizeof(snap_bm));
	memset(hyper_bm, 0, sizeof(hyper_bm));
	memset(vid_shift, 0, SD_NR_VDIS);
	ref_clear();
	for (l = locks; l; l = next) {
		next = l->next;
		free(l);
	}
	locks = NULL;
	pthread_mutex_unlock(&vdi_mutex);
}

/* ---- lookup and allocation (section 4) ------------------------------ */

struct lookup {
	uint32_t vid;			/* the match */
	struct sd_inode_hdr hdr;	/* its header */
	bool first_seen;		/* some inode had the name */
	uint32_t first_snap_id;		/* snap_id of the highest one */
	bool first_is_snapshot;
};

static int lookup(const char *name, const char *tag, uint32_t snapid,
		  struct lookup *lk)
{
	uint32_t start = sd_name_to_start_vid(name, strlen(name));
	bool current = !tag[0] && !snapid, working_seen = false;
	uint8_t buf[SD_INODE_HEADER_SIZE];
	struct sd_inode_hdr h;
	uint32_t end = start, v, n = 0;

	memset(lk, 0, sizeof(*lk));
	if (!bit_test(inuse_bm, start))
		return SD_RES_NO_VDI;
	while (bit_test(inuse_bm, end) && n++ < SD_NR_VDIS)
		end = vid_next(end);
	for (v = vid_prev(end);; v = vid_prev(v)) {
		int ret = read_hdr(v, buf, &h);

		if (ret == SD_RES_NO_OBJ)
			goto next;
		if (ret != SD_RES_SUCCESS)
			return ret;
		if (!h.name[0] || strcmp(h.name, name))
			goto next;
		if (!lk->first_seen) {
			lk->first_seen = true;
			lk->first_snap_id = h.snap_id;
			lk->first_is_snapshot = h.snap_ctime != 0;
		}
		if (current) {
			if (h.snap_ctime)
				return SD_RES_NO_VDI;
			lk->vid = v;
			lk->hdr = h;
			return SD_RES_SUCCESS;
		}
		if (!h.snap_ctime) {
			working_seen = true;
			goto next;
		}
		if ((h.tag[0] && !strcmp(h.tag, tag)) ||
		    (snapid && h.snap_id == snapid)) {
			lk->vid = v;
			lk->hdr = h;
			return SD_RES_SUCCESS;
		}
next:
		if (v == start)
			break;
	}
	return working_seen ? SD_RES_NO_TAG : SD_RES_NO_VDI;
}

static int alloc_vid(const char *name, uint32_t *vid)
{
	uint32_t v = sd_name_to_start_vid(name, strlen(name)), n;

	for (n = 0; n < SD_NR_VDIS - 1; n++, v = vid_next(v)) {
		if (!bit_test(inuse_bm, v)) {
			*vid = v;
			return SD_RES_SUCCESS;
		}
	}
	return SD_RES_FULL_VDI;
}

/* name (+ tag) payload of 256 or 512 bytes, NUL-terminated fields */
static int parse_name_tag(const struct ms_request *r, char *name, char *tag,
			  bool tag_allowed)
{
	const uint8_t *p = r->data;

	if (!(r->req.flags & SD_FLAG_CMD_WRITE) ||
	    (r->data_len != SD_MAX_VDI_LEN &&
	     !(tag_allowed && r->data_len == SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN)))
		return SD_RES_INVALID_PARMS;
	if (strnlen((const char *)p, SD_MAX_VDI_LEN) >= SD_MAX_VDI_LEN)
		return SD_RES_INVALID_PARMS;
	sd_get_name(p, SD_MAX_VDI_LEN, name);
	tag[0] = '\0';
	if (r->data_len > SD_MAX_VDI_LEN) {
		p += SD_MAX_VDI_LEN;
		if (strnlen((const char *)p, SD_MAX_VDI_TAG_LEN) >=
		    SD_MAX_VDI_TAG_LEN)
			return SD_RES_INVALID_PARMS;
		sd_get_name(p, SD_MAX_VDI_TAG_LEN, tag);
	}
	return name[0] ? SD_RES_SUCCESS : SD_RES_INVALID_PARMS;
}

/* ---- NEW_VDI (sections 2.3, 6) -------------------------------------- */

static int copies_for(uint8_t copies, uint8_t *policy)
{
	if (!copies) {
		*policy = ms_cluster.copy_policy;
		copies = ms_cluster.copies;
	}
	if (*policy) {
		uint8_t parity = *policy & 0x0f, data = (*policy >> 4) * 2;

		if (!parity || !data)
			return -1;
		copies = data + parity;
	}
	return copies;
}

/*
 * Build and store a new inode.  @index (may be NULL) is the flat index to
 * copy; its entries gain a reference once the inode is on disk.
 */
static int write_new_inode(const struct sd_inode_hdr *h, const uint8_t *index)
{
	uint8_t *buf = calloc(1, SD_INODE_REFRESH_SIZE);
	int ret;

	if (!buf)
		return SD_RES_NO_MEM;
	sd_inode_hdr_encode(h, buf);
	if (index)
		memcpy(buf + SD_INODE_INDEX_OFFSET, index, INDEX_BYTES);
	else if (h->store_policy == 1) {
		/* empty B-tree root: magic, depth 1, no entries */
		sd_put_le16(buf + SD_INODE_INDEX_OFFSET, BTREE_MAGIC);
		sd_put_le16(buf + SD_INODE_INDEX_OFFSET + 2, 1);
	}
	ret = store_create(sd_vid_to_vdi_oid(h->vdi_id), SD_INODE_SIZE, buf,
			   SD_INODE_REFRESH_SIZE, 0);
	if (ret == SD_RES_SUCCESS) {
		note_inode(h->vdi_id, h);
		if (index && h->store_policy != 1)
			index_get_refs(buf + SD_INODE_INDEX_OFFSET);
	}
	free(buf);
	return ret;
}

/* header + flat index of @vid into a fresh buffer */
static int read_inode_index(uint32_t vid, uint8_t **bufp)
{
	uint8_t *buf = malloc(SD_INODE_REFRESH_SIZE);
	int ret;

	if (!buf)
		return SD_RES_NO_MEM;
	ret = store_read(sd_vid_to_vdi_oid(vid), buf, SD_INODE_REFRESH_SIZE, 0);
	if (ret != SD_RES_SUCCESS) {
		free(buf);
		return ret;
	}
	*bufp = buf;
	return SD_RES_SUCCESS;
}

static int new_vdi_locked(struct ms_request *r, const char *name)
{
	const struct sd_req *q = &r->req;
	uint8_t policy = q->vdi.copy_policy, *base = NULL;
	struct sd_inode_hdr h, bh;
	struct lookup lk;
	uint32_t vid, base_vid = q->vdi.base_vdi_id;
	int copies, ret;
	uint8_t snap[8];

	ret = lookup(name, "", 0, &lk);
	if (q->vdi.snapid == 0 && ret == SD_RES_SUCCESS) {
		r->rsp.vdi.vdi_id = lk.vid;
		return SD_RES_VDI_EXIST;
	}
	if (q->vdi.snapid == 0 && ret != SD_RES_NO_VDI)
		return ret;
	if (q->vdi.snapid != 0 && ret != SD_RES_SUCCESS)
		return ret;
	if (q->vdi.snapid != 0 && !base_vid)
		base_vid = lk.vid;

	if (base_vid) {
		ret = read_inode_index(base_vid, &base);
		if (ret != SD_RES_SUCCESS)
			return ret == SD_RES_NO_MEM ? ret : SD_RES_BASE_VDI_READ;
		sd_inode_hdr_decode(base, &bh);
	}

	memset(&h, 0, sizeof(h));
	snprintf(h.name, sizeof(h.name), "%s", name);
	h.create_time = ms_now_ctime();
	h.vdi_size = q->vdi.vdi_size;
	h.store_policy = q->vdi.store_policy;
	h.block_size_shift = q->vdi.block_size_shift;
	if (!h.block_size_shift)
		h.block_size_shift = base ? bh.block_size_shift :
			ms_cluster.block_shift;
	if (!h.block_size_shift)
		h.block_size_shift = ms_cluster.block_shift;
	copies = copies_for(q->vdi.copies, &policy);
	if (copies <= 0 || h.store_policy > 1 ||
	    h.block_size_shift < SD_MIN_BLOCK_SHIFT ||
	    h.block_size_shift > SD_MAX_BLOCK_SHIFT) {
		ret = SD_RES_INVALID_PARMS;
		goto out;
	}
	h.nr_copies = (uint8_t)copies;
	h.copy_policy = policy;
	h.parent_vdi_id = base_vid;
	if (q->vdi.snapid) {
		h.snap_id = lk.hdr.snap_id + 1;
		if (!h.vdi_size)
			h.vdi_size = lk.hdr.vdi_size;
	} else {
		h.snap_id = lk.first_is_snapshot ? lk.first_snap_id + 1 : 1;
	}

	ret = alloc_vid(name, &vid);
	if (ret != SD_RES_SUCCESS)
		goto out;
	h.vdi_id = vid;
	/* a hyper volume's index area is a B-tree root: copied, not counted */
	ret = write_new_inode(&h, base ? base + SD_INODE_INDEX_OFFSET : NULL);
	if (ret != SD_RES_SUCCESS) {
		ret = ret == SD_RES_NO_MEM ? ret : SD_RES_VDI_WRITE;
		goto out;
	}
	if (base && bh.store_policy == 1 && h.store_policy != 1)
		ms_log("vdi %s: flat clone of a hyper volume", name);

	if (q->vdi.snapid) {
		/* the old working VDI becomes a snapshot (keeps its vid) */
		sd_put_le64(snap, ms_now_ctime());
		ret = store_write(sd_vid_to_vdi_oid(lk.vid), snap, 8,
				  SD_INODE_OFF_SNAP_CTIME);
		if (ret != SD_RES_SUCCESS) {
			ms_log("cannot mark vid %x a snapshot: %s", lk.vid,
			       sd_result_str(ret));
			ret = SD_RES_BASE_VDI_WRITE;
			goto out;
		}
		bit_set(snap_bm, lk.vid);
	}
	r->rsp.vdi.vdi_id = vid;
	r->rsp.vdi.copies = h.nr_copies;
	r->rsp.vdi.block_size_shift = h.block_size_shift;
	ms_log("new vdi %s vid %x (%s, base %x)", name, vid,
	       q->vdi.snapid ? "snapshot" : base_vid ? "clone" : "create",
	       base_vid);
	ret = SD_RES_SUCCESS;
out:
	free(base);
	return ret;
}

void vdi_op_new(struct ms_request *r)
{
	char name[SD_MAX_VDI_LEN + 1], tag[SD_MAX_VDI_TAG_LEN + 1];
	int ret = parse_name_tag(r, name, tag, false);

	if (ret == SD_RES_SUCCESS) {
		pthread_mutex_lock(&vdi_mutex);
		ret = new_vdi_locked(r, name);
		pthread_mutex_unlock(&vdi_mutex);
	}
	r->rsp.result = (uint32_t)ret;
}

/* ---- locks and coherence (section 7) -------------------------------- */

static struct vdi_lock *find_lock(uint32_t vid)
{
	struct vdi_lock *l;

	for (l = locks; l; l = l->next)
		if (l->vid == vid)
			return l;
	return NULL;
}

static void free_lock(struct vdi_lock *victim)
{
	struct vdi_lock **pp;

	for (pp = &locks; *pp; pp = &(*pp)->next) {
		if (*pp == victim) {
			*pp = victim->next;
			free(victim);
			return;
		}
	}
}

static int part_index(const struct vdi_lock *l, uint64_t part_id)
{
	uint32_t i;

	for (i = 0; i < l->nr; i++)
		if (l->part[i] == part_id)
			return (int)i;
	return -1;
}

static void part_remove(struct vdi_lock *l, int i)
{
	l->nr--;
	l->part[i] = l->part[l->nr];
	l->pstate[i] = l->pstate[l->nr];
	if (!l->nr)
		free_lock(l);
}

static int lock_vdi(uint32_t vid, uint32_t type, uint64_t part_id)
{
	struct vdi_lock *l = find_lock(vid);
	uint32_t i, st = PSTATE_SHARED;

	if (type != SD_LOCK_TYPE_NORMAL && type != SD_LOCK_TYPE_SHARED)
		return SD_RES_INVALID_PARMS;
	if (l && (type == SD_LOCK_TYPE_NORMAL || l->state != LSTATE_SHARED ||
		  part_index(l, part_id) >= 0 || l->nr >= MS_MAX_PARTICIPANTS))
		return SD_RES_VDI_LOCKED;
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l)
			return SD_RES_NO_MEM;
		l->vid = vid;
		l->state = type == SD_LOCK_TYPE_NORMAL ? LSTATE_LOCKED :
			LSTATE_SHARED;
		l->next = locks;
		locks = l;
		if (type == SD_LOCK_TYPE_NORMAL)
			return SD_RES_SUCCESS;
		st = PSTATE_MODIFIED;
	}
	for (i = 0; i < l->nr; i++)
		if (l->pstate[i] == PSTATE_MODIFIED)
			st = PSTATE_INVALIDATED;
	l->part[l->nr] = part_id;
	l->pstate[l->nr] = st;
	l->nr++;
	return SD_RES_SUCCESS;
}

/* GET_VDI_INFO and LOCK_VDI */
void vdi_op_lookup(struct ms_request *r)
{
	char name[SD_MAX_VDI_LEN + 1], tag[SD_MAX_VDI_TAG_LEN + 1];
	struct lookup lk;
	int ret = parse_name_tag(r, name, tag, true);

	if (ret != SD_RES_SUCCESS)
		goto out;
	pthread_mutex_lock(&vdi_mutex);
	ret = lookup(name, tag, r->req.vdi.snapid, &lk);
	if (ret == SD_RES_SUCCESS) {
		r->rsp.vdi.vdi_id = lk.vid;
		r->rsp.vdi.copies = lk.hdr.nr_copies;
		r->rsp.vdi.block_size_shift = lk.hdr.block_size_shift;
		if (r->req.opcode == SD_OP_LOCK_VDI &&
		    (ms_cluster.flags & MS_CLUSTER_FLAG_LOCK))
			ret = lock_vdi(lk.vid, r->req.vdi.type, r->part_id);
	}
	pthread_mutex_unlock(&vdi_mutex);
out:
	r->rsp.result = (uint32_t)ret;
}

void vdi_op_release(struct ms_request *r)
{
	struct vdi_lock *l;
	int i;

	r->rsp.result = SD_RES_SUCCESS;
	if (!(ms_cluster.flags & MS_CLUSTER_FLAG_LOCK))
		return;
	pthread_mutex_lock(&vdi_mutex);
	l = find_lock(r->req.vdi.base_vdi_id);
	if (l && l->state == LSTATE_LOCKED) {
		free_lock(l);
	} else if (l) {
		i = part_index(l, r->part_id);
		if (i >= 0)
			part_remove(l, i);
	}
	pthread_mutex_unlock(&vdi_mutex);
}

int vdi_participant_left(uint64_t part_id)
{
	struct vdi_lock *l, *next;
	int i, n = 0;

	pthread_mutex_lock(&vdi_mutex);
	for (l = locks; l; l = next) {
		next = l->next;
		if (l->state != LSTATE_SHARED)
			continue;
		i = part_index(l, part_id);
		if (i < 0)
			continue;
		part_remove(l, i);
		n++;
	}
	pthread_mutex_unlock(&vdi_mutex);
	return n;
}

/* an index update of @vid by @part_id: it is MODIFIED, the others stale */
static void coherence_modified(uint32_t vid, uint64_t part_id)
{
	struct vdi_lock *l = find_lock(vid);
	uint32_t i;
	int me;

	if (!l || l->state != LSTATE_SHARED)
		return;
	me = part_index(l, part_id);
	if (me >= 0 && l->pstate[me] == PSTATE_MODIFIED)
		return;
	for (i = 0; i < l->nr; i++)
		l->pstate[i] = (int)i == me ? PSTATE_MODIFIED :
			PSTATE_INVALIDATED;
}

int vdi_coherence_check(uint64_t oid, uint64_t part_id)
{
	struct vdi_lock *l;
	int ret = SD_RES_SUCCESS, i;

	if (!(ms_cluster.flags & MS_CLUSTER_FLAG_LOCK))
		return SD_RES_SUCCESS;
	pthread_mutex_lock(&vdi_mutex);
	l = find_lock(sd_oid_to_vid(oid));
	if (l && l->state == LSTATE_SHARED) {
		i = part_index(l, part_id);
		if (i >= 0 && l->pstate[i] == PSTATE_INVALIDATED)
			ret = SD_RES_INODE_INVALIDATED;
	}
	pthread_mutex_unlock(&vdi_mutex);
	return ret;
}

/*
 * The refresh read (section 7): read the inode header and index and mark
 * the reader SHARED again, atomically with respect to index updates (they
 * write the inode under vdi_mutex too), so an update between the read and
 * the state change cannot leave a reader SHARED with a stale index.
 */
int vdi_refresh_read(uint64_t oid, uint8_t *buf, uint32_t len, uint64_t part_id)
{
	struct vdi_lock *l;
	uint32_t j;
	int i, ret;

	pthread_mutex_lock(&vdi_mutex);
	ret = store_read(oid, buf, len, 0);
	if (ret != SD_RES_SUCCESS || !(ms_cluster.flags & MS_CLUSTER_FLAG_LOCK))
		goto out;
	l = find_lock(sd_oid_to_vid(oid));
	if (l && l->state == LSTATE_SHARED) {
		i = part_index(l, part_id);
		if (i >= 0) {
			for (j = 0; j < l->nr; j++)
				if (l->pstate[j] == PSTATE_MODIFIED)
					l->pstate[j] = PSTATE_SHARED;
			l->pstate[i] = PSTATE_SHARED;
		}
	}
out:
	pthread_mutex_unlock(&vdi_mutex);
	return ret;
}

/* ---- index updates (sections 2.2, 5.4) ------------------------------ */

/*
 * Write [off, off+len) of inode @oid.  The part that overlaps the flat
 * index is an index update: entries that changed drop a reference to their
 * old object (deleted when unreferenced), and an entry set to the inode's
 * own vid takes one on its object.
 * Called with vdi_mutex held.
 */
static int inode_write_locked(uint64_t oid, const uint8_t *buf, uint32_t len,
			      uint64_t off, uint64_t part_id)
{
	uint32_t vid = sd_oid_to_vid(oid), first, n, i;
	uint64_t s = off, e = off + len, base;
	uint8_t *old;
	int ret;

	if (s < SD_INODE_INDEX_OFFSET)
		s = SD_INODE_INDEX_OFFSET;
	if (e > SD_INODE_GREF_OFFSET)
		e = SD_INODE_GREF_OFFSET;
	if (s >= e || bit_test(hyper_bm, vid))
		return store_write(oid, buf, len, off);

	first = (uint32_t)((s - SD_INODE_INDEX_OFFSET) / 4);
	n = (uint32_t)((e - 1 - SD_INODE_INDEX_OFFSET) / 4) - first + 1;
	base = SD_INODE_INDEX_OFFSET + 4 * (uint64_t)first;
	old = malloc(2 * (size_t)n * 4);
	if (!old)
		return SD_RES_NO_MEM;
	ret = store_read(oid, old, n * 4, base);
	if (ret != SD_RES_SUCCESS)
		goto out;
	memcpy(old + n * 4, old, n * 4);
	memcpy(old + n * 4 + (s - base), buf + (s - off), e - s);
	ret = store_write(oid, buf, len, off);
	if (ret != SD_RES_SUCCESS)
		goto out;
	for (i = 0; i < n; i++) {
		uint32_t o = sd_get_le32(old + 4 * i);
		uint32_t nw = sd_get_le32(old + n * 4 + 4 * i);

		if (o == nw)
			continue;
		/*
		 * Like sheep's generational counts: a created object's one
		 * reference belongs to its own vid's entry; an entry naming
		 * another vid's object takes none (sheep zeroes its gref), so
		 * a client that publishes a foreign vid loses that object when
		 * the owner is deleted -- as it would on a real cluster.
		 */
		if (nw == vid)
			ref_get(sd_vid_to_data_oid(nw, first + i));
		if (o)
			drop_ref(o, first + i);
	}
	coherence_modified(vid, part_id);
out:
	free(old);
	return ret;
}

int vdi_inode_write(uint64_t oid, const uint8_t *buf, uint32_t len,
		    uint64_t off, uint64_t part_id)
{
	int ret;

	pthread_mutex_lock(&vdi_mutex);
	ret = inode_write_locked(oid, buf, len, off, part_id);
	pthread_mutex_unlock(&vdi_mutex);
	return ret;
}

/*
 * CREATE_AND_WRITE_OBJ of an inode (no known client does it): replace the
 * object and move the references from the old index to the new one.
 */
int vdi_inode_create(uint64_t oid, const uint8_t *buf, uint32_t len,
		     uint64_t off)
{
	uint32_t vid = sd_oid_to_vid(oid), i;
	uint8_t *old = NULL, *nw = NULL;
	struct sd_inode_hdr h;
	bool old_flat;
	int ret;

	if (off + len > SD_INODE_SIZE)
		return SD_RES_INVALID_PARMS;
	nw = calloc(1, SD_INODE_REFRESH_SIZE);
	if (!nw)
		return SD_RES_NO_MEM;
	if (len && off < SD_INODE_REFRESH_SIZE)
		memcpy(nw + off, buf, off + len > SD_INODE_REFRESH_SIZE ?
		       SD_INODE_REFRESH_SIZE - off : len);
	pthread_mutex_lock(&vdi_mutex);
	old_flat = bit_test(inuse_bm, vid) && !bit_test(hyper_bm, vid);
	if (old_flat && read_inode_index(vid, &old) != SD_RES_SUCCESS)
		old = NULL;
	ret = store_create(oid, SD_INODE_SIZE, buf, len, off);
	if (ret != SD_RES_SUCCESS)
		goto out;
	sd_inode_hdr_decode(nw, &h);
	note_inode(vid, &h);
	if (h.store_policy != 1)
		index_get_refs(nw + SD_INODE_INDEX_OFFSET);
	for (i = 0; old && i < SD_MAX_DATA_OBJS; i++) {
		uint32_t e = sd_get_le32(old + SD_INODE_INDEX_OFFSET + 4 * i);

		if (e)
			drop_ref(e, i);
	}
out:
	pthread_mutex_unlock(&vdi_mutex);
	free(old);
	free(nw);
	return ret;
}

void vdi_op_discard(struct ms_request *r)
{
	uint64_t oid = r->req.obj.oid, inode = sd_vid_to_vdi_oid(sd_oid_to_vid(oid));
	uint32_t idx = sd_oid_to_idx(oid), cur;
	uint8_t e[4], zero[4] = { 0 };
	int ret;

	if (!sd_oid_is_data(oid) || idx >= SD_MAX_DATA_OBJS ||
	    bit_test(hyper_bm, sd_oid_to_vid(oid))) {
		r->rsp.result = SD_RES_INVALID_PARMS;
		return;
	}
	pthread_mutex_lock(&vdi_mutex);
	ret = store_read(inode, e, 4, sd_inode_index_offset(idx));
	cur = sd_get_le32(e);
	if (ret == SD_RES_SUCCESS && cur)
		ret = inode_write_locked(inode, zero, 4,
					 sd_inode_index_offset(idx),
					 r->part_id);
	pthread_mutex_unlock(&vdi_mutex);
	r->rsp.result = (uint32_t)ret;
}

/* ---- DEL_VDI -------------------------------------------------------- */

static int del_vdi_locked(struct ms_request *r, const char *name,
			  const char *tag)
{
	struct lookup lk;
	uint8_t *buf = NULL;
	uint32_t i;
	int ret;

	ret = lookup(name, tag, r->req.vdi.snapid, &lk);
	if (ret != SD_RES_SUCCESS)
		return ret;
	r->rsp.vdi.vdi_id = lk.vid;
	ret = read_inode_index(lk.vid, &buf);
	if (ret != SD_RES_SUCCESS)
		return ret;
	/* keep the header (the hash chain needs the inode), clear the rest */
	memset(buf + SD_INODE_OFF_NAME, 0, SD_MAX_VDI_LEN);
	sd_put_le64(buf + SD_INODE_OFF_VDI_SIZE, 0);
	ret = store_create(sd_vid_to_vdi_oid(lk.vid), SD_INODE_SIZE, buf,
			   SD_INODE_HEADER_SIZE, 0);
	if (ret != SD_RES_SUCCESS)
		goto out;
	bit_set(deleted_bm, lk.vid);
	/* entries the client did not zero: free them here */
	for (i = 0; lk.hdr.store_policy != 1 && i < SD_MAX_DATA_OBJS; i++) {
		uint32_t e = sd_get_le32(buf + SD_INODE_INDEX_OFFSET + 4 * i);

		if (e)
			drop_ref(e, i);
	}
	ms_log("deleted vdi %s vid %x", name, lk.vid);
out:
	free(buf);
	return ret;
}

void vdi_op_del(struct ms_request *r)
{
	char name[SD_MAX_VDI_LEN + 1], tag[SD_MAX_VDI_TAG_LEN + 1];
	int ret = parse_name_tag(r, name, tag, true);

	if (ret == SD_RES_SUCCESS) {
		pthread_mutex_lock(&vdi_mutex);
		ret = del_vdi_locked(r, name, tag);
		pthread_mutex_unlock(&vdi_mutex);
	}
	r->rsp.result = (uint32_t)ret;
}

/* ---- READ_VDIS / READ_DEL_VDIS / GET_VDI_COPIES ---------------------- */

void vdi_op_read_bitmap(struct ms_request *r, bool deleted)
{
	if (r->req.data_length != SD_VDI_BITMAP_SIZE) {
		r->rsp.result = SD_RES_INVALID_PARMS;
		return;
	}
	if (!ops_alloc_rdata(r, SD_VDI_BITMAP_SIZE))
		return;
	pthread_mutex_lock(&vdi_mutex);
	memcpy(r->rdata, deleted ? deleted_bm : inuse_bm, SD_VDI_BITMAP_SIZE);
	pthread_mutex_unlock(&vdi_mutex);
}

static void fill_vdi_state(uint8_t *p, uint32_t vid)
{
	uint8_t buf[SD_INODE_HEADER_SIZE];
	struct sd_inode_hdr h;
	struct vdi_lock *l = find_lock(vid);
	uint32_t i;

	memset(&h, 0, sizeof(h));
	read_hdr(vid, buf, &h);
	sd_put_le32(p, vid);
	p[4] = h.nr_copies;
	p[5] = bit_test(snap_bm, vid);
	p[6] = bit_test(deleted_bm, vid);
	p[7] = h.copy_policy;
	p[8] = h.block_size_shift;
	sd_put_le32(p + 12, h.parent_vdi_id);
	sd_put_le32(p + 16, l ? l->state : LSTATE_UNLOCKED);
	if (l && l->state == LSTATE_LOCKED)
		cluster_fill_node_id(p + 20);
	if (!l || l->state != LSTATE_SHARED)
		return;
	sd_put_le32(p + 60, l->nr);
	for (i = 0; i < l->nr; i++) {
		sd_put_le32(p + 64 + 4 * i, l->pstate[i]);
		cluster_fill_node_id(p + 188 + 40 * i);
	}
}

void vdi_op_get_copies(struct ms_request *r)
{
	uint32_t v, n = 0, i = 0;

	pthread_mutex_lock(&vdi_mutex);
	for (v = 0; v < SD_NR_VDIS; v += 8)
		n += (uint32_t)__builtin_popcount(inuse_bm[v >> 3]);
	if ((uint64_t)n * MS_VDI_STATE_SIZE > r->req.data_length) {
		r->rsp.result = SD_RES_BUFFER_SMALL;
		goto out;
	}
	if (!ops_alloc_rdata(r, n * MS_VDI_STATE_SIZE))
		goto out;
	for (v = 1; v < SD_NR_VDIS && i < n; v++)
		if (inuse_bm[v >> 3] && bit_test(inuse_bm, v))
			fill_vdi_state(r->rdata + MS_VDI_STATE_SIZE * i++, v);
out:
	pthread_mutex_unlock(&vdi_mutex);
}

/* ---- GET_VDI_ATTR (section 10) --------------------------------------- */

static uint64_t fnv64a(const uint8_t *p, size_t len, uint64_t h)
{
	while (len--) {
		h ^= *p++;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static int get_attr_locked(struct ms_request *r)
{
	const uint8_t *a = r->data;
	char name[SD_MAX_VDI_LEN + 1], tag[SD_MAX_VDI_TAG_LEN + 1];
	uint8_t cur[ATTR_HDR_SIZE];
	uint16_t flags = r->req.flags;
	uint32_t hashvid, attr_id, n;
	struct lookup lk;
	uint64_t h;
	int ret;

	sd_get_name(a, SD_MAX_VDI_LEN, name);
	sd_get_name(a + 256, SD_MAX_VDI_TAG_LEN, tag);
	ret = lookup(name, tag, sd_get_le32(a + 520), &lk);
	if (ret != SD_RES_SUCCESS)
		return ret;
	hashvid = sd_name_to_start_vid(name, strlen(name));
	h = fnv64a(a, 512, UINT64_C(0xcbf29ce484222325));
	h = fnv64a(a + 520, 4, h);
	h = fnv64a(a + 528, 256, h);
	attr_id = (uint32_t)h;
	r->rsp.vdi.vdi_id = hashvid;
	r->rsp.vdi.copies = lk.hdr.nr_copies;
	for (n = 0; n < ATTR_MAX_PROBES; n++, attr_id++) {
		uint64_t oid = SD_VDI_ATTR_BIT | ((uint64_t)hashvid << 32) |
			attr_id;

		r->rsp.vdi.attr_id = attr_id;
		ret = store_read(oid, cur, ATTR_HDR_SIZE, 0);
		if (ret == SD_RES_NO_OBJ) {
			if (!(flags & ATTR_FLAG_CREAT))
				return SD_RES_NO_OBJ;
			return store_create(oid, MS_ATTR_OBJ_SIZE, a,
					    r->data_len, 0);
		}
		if (ret != SD_RES_SUCCESS)
			return ret;
		if (memcmp(cur, a, 512) || memcmp(cur + 520, a + 520, 4) ||
		    memcmp(cur + 528, a + 528, 256))
			continue;
		if (flags & ATTR_FLAG_EXCL)
			return SD_RES_VDI_EXIST;
		if (flags & ATTR_FLAG_DEL)
			return store_remove(oid);
		if ((flags & ATTR_FLAG_CREAT) && r->data_len > ATTR_HDR_SIZE)
			return store_write(oid, a, r->data_len, 0);
		return SD_RES_SUCCESS;
	}
	return SD_RES_FULL_VDI;
}

void vdi_op_get_attr(struct ms_request *r)
{
	int ret = SD_RES_INVALID_PARMS;

	if (r->data_len >= ATTR_HDR_SIZE && r->data_len <= MS_ATTR_OBJ_SIZE &&
	    r->data[SD_MAX_VDI_LEN - 1] == 0 &&
	    r->data[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN - 1] == 0) {
		pthread_mutex_lock(&vdi_mutex);
		ret = get_attr_locked(r);
		pthread_mutex_unlock(&vdi_mutex);
	}
	r->rsp.result = (uint32_t)ret;
}
