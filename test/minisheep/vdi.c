// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vdi.c - minisheep's VDI operations, as sheep 1.0 runs them.
 *
 * The "in use" and "deleted" vid bitmaps are rebuilt from the inode
 * objects at start and then set by the process_main steps of NEW_VDI and
 * DEL_VDI (node.c posts them).  Lookup and vid allocation follow
 * sheep/vdi.c vdi_lookup() (FNV-1a start vid, linear probing); NEW_VDI is
 * vdi_create() / vdi_snapshot() with create_vdi(), clone_vdi(),
 * snapshot_vdi() and rebase_vdi(), including their non-atomic
 * read-modify-write of the base inode; DEL_VDI is vdi_delete();
 * GET_VDI_ATTR is cluster_get_vdi_attr() -> get_vdi_attr().  These run on
 * the cluster thread (group.c), one at a time.
 *
 * Index updates (a WRITE_OBJ inside an inode's data_vdi_id array) are
 * sheep/gateway.c gateway_write_obj(): invalidate the other nodes, read the
 * old entries and their gref, write, zero the gref range, and drop the old
 * objects' references on another thread after the reply
 * (update_obj_refcnt()).  They are not serialised with anything, as in
 * sheep.  Reference counts are minisheep's own (refcount.c): an entry
 * naming its own vid holds one reference to its object, a snapshot or
 * clone adds one for each entry it copies; an object without references is
 * deleted.  The gref area is written as sheep writes it but not used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "minisheep.h"

#define ATTR_HDR_SIZE		784	/* up to value[] */
#define ATTR_MAX_PROBES		4096
#define ATTR_OFF_CTIME		512
#define ATTR_OFF_SNAP_ID	520
#define ATTR_OFF_KEY		528

#define INDEX_BYTES		(SD_INODE_GREF_OFFSET - SD_INODE_INDEX_OFFSET)
#define GREF_BYTES		(SD_INODE_SIZE - SD_INODE_GREF_OFFSET)
#define BTREE_MAGIC		0x6274

static uint8_t inuse_bm[SD_VDI_BITMAP_SIZE];
static uint8_t deleted_bm[SD_VDI_BITMAP_SIZE];
static uint8_t hyper_bm[SD_VDI_BITMAP_SIZE];
static uint8_t *vid_shift;		/* SD_NR_VDIS bytes, 0 = unknown */
static uint8_t max_shift;

unsigned int vdi_snapshot_delay_ms;

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

void vdi_note_inuse(uint32_t vid)
{
	bit_set(inuse_bm, vid & 0xffffff);
}

void vdi_note_deleted(uint32_t vid)
{
	bit_set(deleted_bm, vid & 0xffffff);
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

bool vdi_is_hyper(uint32_t vid)
{
	return bit_test(hyper_bm, vid & 0xffffff);
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

/* as find_next_zero_bit(sys->vdi_inuse, SD_NR_VDIS, from) */
static uint32_t next_zero_bit(uint32_t from)
{
	uint32_t v;

	for (v = from; v < SD_NR_VDIS; v++) {
		if ((v & 7) == 0 && v + 8 <= SD_NR_VDIS &&
		    __atomic_load_n(&inuse_bm[v >> 3],
				    __ATOMIC_ACQUIRE) == 0xff) {
			v += 7;
			continue;
		}
		if (!bit_test(inuse_bm, v))
			return v;
	}
	return SD_NR_VDIS;
}

/* ---- inode helpers -------------------------------------------------- */

/* an inode's properties outside the VDI state: object size, hyper volume */
static void note_inode_object(uint32_t vid, const struct sd_inode_hdr *h)
{
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

/*
 * Inode @vid (its first SD_INODE_REFRESH_SIZE bytes in @inode) exists: the
 * vid is in use (and deleted if it has no name), every node gets its VDI
 * state, its index entries their references.
 */
static void inode_register(uint32_t vid, const uint8_t *inode)
{
	struct sd_inode_hdr h;

	sd_inode_hdr_decode(inode, &h);
	bit_set(inuse_bm, vid);
	if (!h.name[0])
		bit_set(deleted_bm, vid);
	note_inode_object(vid, &h);
	node_add_vdi_state_all(vid, h.nr_copies, h.snap_ctime != 0,
			       h.copy_policy, h.block_size_shift,
			       h.parent_vdi_id);
	if (h.store_policy != 1)
		index_get_refs(inode + SD_INODE_INDEX_OFFSET);
}

static int scan_one(uint64_t oid, void *arg)
{
	uint8_t *buf = arg;
	uint32_t vid = sd_oid_to_vid(oid);

	if (!sd_oid_is_inode(oid) || !vid)
		return 0;
	if (store_read(oid, buf, SD_INODE_REFRESH_SIZE, 0) != SD_RES_SUCCESS) {
		ms_log("skipping unreadable inode %016llx",
		       (unsigned long long)oid);
		return 0;
	}
	/* as sheep/store/plain_store.c init_vdi_state() */
	inode_register(vid, buf);
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
	store_wipe();
	memset(inuse_bm, 0, sizeof(inuse_bm));
	memset(deleted_bm, 0, sizeof(deleted_bm));
	memset(hyper_bm, 0, sizeof(hyper_bm));
	memset(vid_shift, 0, SD_NR_VDIS);
	ref_clear();
	node_clean_vdi_state_all();
}

/* ---- lookup (sheep/vdi.c vdi_lookup()) ----------------------------- */

struct vdi_info {
	uint32_t vid;
	uint32_t snapid;	/* of a new working VDI of that name */
	uint64_t create_time;
	uint32_t free_bit;
};

struct vdi_iocb {
	const char *name;
	const char *tag;	/* "" = none */
	uint32_t snapid;
	uint64_t size;
	uint32_t base_vid;
	uint8_t copy_policy;
	uint8_t store_policy;
	uint8_t nr_copies;
	uint8_t block_size_shift;
	uint64_t time;
};

/* as sheep/vdi.c fill_vdi_info_range(): from right - 1 down to left */
static int fill_vdi_info_range(uint32_t left, uint32_t right,
			       const struct vdi_iocb *iocb,
			       struct vdi_info *info)
{
	bool has_tag = iocb->tag[0] || iocb->snapid, vdi_found = false;
	uint8_t buf[SD_INODE_HEADER_SIZE];
	struct sd_inode_hdr h;
	uint32_t i;
	int ret;

	for (i = right - 1; i >= left && i; i--) {
		if (!bit_test(inuse_bm, i) && !bit_test(deleted_bm, i))
			continue;
		ret = store_read(sd_vid_to_vdi_oid(i), buf,
				 SD_INODE_OFF_BTREE_COUNTER, 0);
		if (ret != SD_RES_SUCCESS)
			return ret;
		sd_inode_hdr_decode(buf, &h);
		if (strncmp(h.name, iocb->name, SD_MAX_VDI_LEN))
			continue;
		if (has_tag) {
			/* read, delete, clone of snapshots */
			if (!h.snap_ctime) {
				vdi_found = true;
				info->vid = h.vdi_id;
				continue;
			}
			/* as vdi_tag_match() */
			if (!(h.tag[0] && !strncmp(h.tag, iocb->tag,
						   SD_MAX_VDI_TAG_LEN)) &&
			    iocb->snapid != h.snap_id)
				continue;
		} else {
			/* the current working VDI */
			info->snapid = h.snap_id + 1;
			if (h.snap_ctime) {
				/* its working VDI was deleted */
				info->vid = h.vdi_id;
				break;
			}
		}
		info->create_time = h.create_time;
		info->vid = h.vdi_id;
		return SD_RES_SUCCESS;
	}
	return vdi_found ? SD_RES_NO_TAG : SD_RES_NO_VDI;
}

/* as sheep/vdi.c vdi_lookup() (no vid recycling) */
static int vdi_lookup(const struct vdi_iocb *iocb, struct vdi_info *info)
{
	uint32_t left, right;
	int ret;

	memset(info, 0, sizeof(*info));
	/* get_vdi_bitmap_range() */
	left = sd_name_to_start_vid(iocb->name, strlen(iocb->name));
	right = next_zero_bit(left);
	info->free_bit = right;
	if (left == right)
		return SD_RES_NO_VDI;
	if (right == SD_NR_VDIS) {
		right = next_zero_bit(1);
		if (right == SD_NR_VDIS)
			return SD_RES_FULL_VDI;
		info->free_bit = right;
	}
	/* fill_vdi_info() */
	if (left < right)
		return fill_vdi_info_range(left, right, iocb, info);
	ret = 1 < right ? fill_vdi_info_range(1, right, iocb, info) :
		SD_RES_NO_VDI;
	if (ret == SD_RES_NO_VDI || ret == SD_RES_NO_TAG)
		ret = fill_vdi_info_range(left, SD_NR_VDIS, iocb, info);
	return ret;
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

/* the VDI the request names (name, tag, snapid) in *@info */
static int lookup_named_vdi(const struct ms_request *r, struct vdi_info *info)
{
	char name[SD_MAX_VDI_LEN + 1], tag[SD_MAX_VDI_TAG_LEN + 1];
	struct vdi_iocb iocb = { .name = name, .tag = tag };
	int ret = parse_name_tag(r, name, tag, true);

	if (ret != SD_RES_SUCCESS)
		return ret;
	iocb.snapid = r->req.vdi.snapid;
	return vdi_lookup(&iocb, info);
}

/* ---- GET_VDI_INFO / LOCK_VDI (process_work) -------------------------- */

/*
 * As sheep/ops.c cluster_get_vdi_info(), which is also the process_work
 * of LOCK_VDI (cluster_lock_vdi_work()); the lock itself is the
 * process_main step (node.c).
 */
int vdi_cluster_get_info(struct ms_request *r)
{
	struct vdi_info info;
	int ret = lookup_named_vdi(r, &info);

	if (ret != SD_RES_SUCCESS)
		return ret;
	r->rsp.vdi.vdi_id = info.vid;
	node_get_vdi_layout(r->node, info.vid, &r->rsp.vdi.copies,
			    &r->rsp.vdi.block_size_shift);
	return SD_RES_SUCCESS;
}

/* ---- NEW_VDI (sheep/ops.c cluster_new_vdi(), sheep/vdi.c) ----------- */

static uint8_t *inode_alloc(void)
{
	return calloc(1, SD_INODE_SIZE);
}

/* the whole inode of @vid (header, index and gref) */
static int inode_read_all(uint32_t vid, uint8_t **bufp)
{
	uint8_t *buf = malloc(SD_INODE_SIZE);
	int ret;

	if (!buf)
		return SD_RES_NO_MEM;
	ret = store_read(sd_vid_to_vdi_oid(vid), buf, SD_INODE_SIZE, 0);
	if (ret != SD_RES_SUCCESS) {
		free(buf);
		return ret;
	}
	*bufp = buf;
	return SD_RES_SUCCESS;
}

static uint32_t idx_entry(const uint8_t *inode, uint32_t i)
{
	return sd_get_le32(inode + SD_INODE_INDEX_OFFSET + 4 * i);
}

static uint8_t *gref_of(uint8_t *inode, uint32_t i)
{
	return inode + SD_INODE_GREF_OFFSET + 8 * (size_t)i;
}

/* gref[i].count++ for every allocated entry of a flat index */
static void gref_count_up(uint8_t *inode)
{
	uint32_t i;

	for (i = 0; i < SD_MAX_DATA_OBJS; i++) {
		uint8_t *g = gref_of(inode, i);

		if (idx_entry(inode, i))
			sd_put_le32(g + 4, sd_get_le32(g + 4) + 1);
	}
}

/* as sheep/vdi.c alloc_inode(): a full inode buffer */
static uint8_t *alloc_inode(const struct vdi_iocb *iocb, uint32_t new_snapid,
			    uint32_t new_vid, const uint8_t *base)
{
	uint8_t *new = inode_alloc();
	struct sd_inode_hdr h;
	uint32_t i;

	if (!new)
		return NULL;
	memset(&h, 0, sizeof(h));
	snprintf(h.name, sizeof(h.name), "%s", iocb->name);
	h.vdi_id = new_vid;
	h.create_time = iocb->time;
	h.vdi_size = iocb->size;
	h.copy_policy = iocb->copy_policy;
	h.store_policy = iocb->store_policy;
	h.nr_copies = iocb->nr_copies;
	h.block_size_shift = iocb->block_size_shift;
	h.snap_id = new_snapid;
	h.parent_vdi_id = iocb->base_vid;
	sd_inode_hdr_encode(&h, new);
	if (base) {
		/* a hyper volume's area is a B-tree root: copied as is */
		memcpy(new + SD_INODE_INDEX_OFFSET,
		       base + SD_INODE_INDEX_OFFSET, INDEX_BYTES);
		for (i = 0; i < SD_MAX_DATA_OBJS; i++)
			if (idx_entry(base, i))
				sd_put_le32(gref_of(new, i),
					    sd_get_le32(gref_of((uint8_t *)base,
								i)) + 1);
	} else if (iocb->store_policy == 1) {
		/* sd_inode_init(): empty B-tree root, depth 1 */
		sd_put_le16(new + SD_INODE_INDEX_OFFSET, BTREE_MAGIC);
		sd_put_le16(new + SD_INODE_INDEX_OFFSET + 2, 1);
	}
	return new;
}

/* write a new inode (sd_write_object(..., create = true)) */
static int write_new_inode(uint32_t vid, const uint8_t *inode)
{
	struct sd_inode_hdr h;
	int ret;

	ret = store_create(sd_vid_to_vdi_oid(vid), SD_INODE_SIZE, inode,
			   SD_INODE_SIZE, 0);
	if (ret != SD_RES_SUCCESS)
		return ret;
	sd_inode_hdr_decode(inode, &h);
	note_inode_object(vid, &h);
	if (h.store_policy != 1)
		index_get_refs(inode + SD_INODE_INDEX_OFFSET);
	return SD_RES_SUCCESS;
}

/* as sheep/vdi.c create_vdi() */
static int create_vdi(const struct vdi_iocb *iocb, uint32_t new_snapid,
		      uint32_t new_vid)
{
	uint8_t *new = alloc_inode(iocb, new_snapid, new_vid, NULL);
	int ret;

	if (!new)
		return SD_RES_NO_MEM;
	ret = write_new_inode(new_vid, new);
	free(new);
	return ret == SD_RES_SUCCESS ? ret : SD_RES_VDI_WRITE;
}

/* the whole inode of @base_vid in *@base; SD_RES_BASE_VDI_READ on failure */
static int read_base_inode(uint32_t base_vid, uint8_t **base)
{
	int ret = inode_read_all(base_vid, base);

	if (ret != SD_RES_SUCCESS && ret != SD_RES_NO_MEM)
		ret = SD_RES_BASE_VDI_READ;
	return ret;
}

/* count one more reference on every data object of @base and store the counts */
static int write_base_grefs_up(uint32_t base_vid, uint8_t *base)
{
	gref_count_up(base);
	return store_write(sd_vid_to_vdi_oid(base_vid),
			   base + SD_INODE_GREF_OFFSET, GREF_BYTES,
			   SD_INODE_GREF_OFFSET);
}

/* the base step of sheep/vdi.c clone_vdi(): the base's gref counts up */
static int clone_base(const struct vdi_iocb *iocb, uint32_t base_vid,
		      uint8_t *base, uint32_t cur_vid)
{
	(void)iocb;
	(void)cur_vid;
	if (write_base_grefs_up(base_vid, base) != SD_RES_SUCCESS)
		return SD_RES_BASE_VDI_WRITE;
	return SD_RES_SUCCESS;
}

/*
 * The base step of sheep/vdi.c snapshot_vdi(): write the whole base inode
 * back with snap_ctime set and its gref counts up.  Nothing stops index
 * updates of the base meanwhile ("TODO: multiple sd_write_object should be
 * performed atomically"): one that lands between the read and the write is
 * overwritten in the base and missing from the new inode.  The control
 * "snapshot-delay" widens that window.
 */
static int snapshot_base(const struct vdi_iocb *iocb, uint32_t base_vid,
			 uint8_t *base, uint32_t cur_vid)
{
	unsigned int delay;
	int ret;

	(void)cur_vid;
	delay = __atomic_load_n(&vdi_snapshot_delay_ms, __ATOMIC_RELAXED);
	if (delay)
		ms_sleep_ms(delay);
	sd_put_le64(base + SD_INODE_OFF_SNAP_CTIME, iocb->time);
	gref_count_up(base);
	ret = store_write(sd_vid_to_vdi_oid(base_vid), base, SD_INODE_SIZE, 0);
	if (ret != SD_RES_SUCCESS) {
		ms_log("updating gref of VDI %x failed: %s", base_vid,
		       sd_result_str(ret));
		return SD_RES_BASE_VDI_WRITE;
	}
	return SD_RES_SUCCESS;
}

/*
 * The base step of sheep/vdi.c rebase_vdi(): the current working VDI
 * @cur_vid becomes a snapshot, the base's gref counts go up.
 */
static int rebase_base(const struct vdi_iocb *iocb, uint32_t base_vid,
		       uint8_t *base, uint32_t cur_vid)
{
	uint8_t t[8];

	sd_put_le64(t, iocb->time);
	if (store_write(sd_vid_to_vdi_oid(cur_vid), t, sizeof(t),
			SD_INODE_OFF_SNAP_CTIME) != SD_RES_SUCCESS ||
	    write_base_grefs_up(base_vid, base) != SD_RES_SUCCESS)
		return SD_RES_VDI_WRITE;
	return SD_RES_SUCCESS;
}

/*
 * As sheep/vdi.c clone_vdi(), snapshot_vdi() and rebase_vdi(): read the
 * whole base inode @base_vid, update the base (@base_step), then create
 * the new working inode @new_vid with the index read at first.
 */
static int create_from_base(const struct vdi_iocb *iocb, uint32_t new_snapid,
			    uint32_t new_vid, uint32_t base_vid,
			    uint32_t cur_vid,
			    int (*base_step)(const struct vdi_iocb *iocb,
					     uint32_t base_vid, uint8_t *base,
					     uint32_t cur_vid))
{
	uint8_t *base = NULL, *new = NULL;
	int ret;

	ret = read_base_inode(base_vid, &base);
	if (ret != SD_RES_SUCCESS)
		return ret;
	ret = base_step(iocb, base_vid, base, cur_vid);
	if (ret != SD_RES_SUCCESS)
		goto out;
	new = alloc_inode(iocb, new_snapid, new_vid, base);
	ret = new ? write_new_inode(new_vid, new) : SD_RES_NO_MEM;
	if (ret != SD_RES_SUCCESS && ret != SD_RES_NO_MEM)
		ret = SD_RES_VDI_WRITE;
out:
	free(new);
	free(base);
	return ret;
}

/* as sheep/vdi.c vdi_create(): fresh create or clone */
static int vdi_create(struct ms_request *r, const struct vdi_iocb *iocb,
		      uint32_t *new_vid)
{
	struct vdi_info info;
	int ret;

	ret = vdi_lookup(iocb, &info);
	if (ret == SD_RES_SUCCESS) {
		r->rsp.vdi.vdi_id = info.vid;
		return SD_RES_VDI_EXIST;
	}
	if (ret != SD_RES_NO_VDI)
		return ret;
	if (!info.snapid)
		info.snapid = 1;
	*new_vid = info.free_bit;
	ret = node_notify_vdi_add(r->node, *new_vid, iocb->nr_copies,
				  iocb->base_vid ? iocb->base_vid : info.vid,
				  iocb->copy_policy, iocb->block_size_shift);
	if (ret != SD_RES_SUCCESS)
		return ret;
	if (!iocb->base_vid)
		return create_vdi(iocb, info.snapid, *new_vid);
	return create_from_base(iocb, info.snapid, *new_vid, iocb->base_vid, 0,
				clone_base);
}

/*
 * As sheep/vdi.c vdi_snapshot(): NOTIFY_VDI_ADD first (from then on each
 * node, when it applies it, treats the old vid as a snapshot: READONLY),
 * then snapshot_vdi() or, when base_vdi_id is not the working vid,
 * rebase_vdi() (create_from_base() with snapshot_base() or rebase_base()).
 */
static int vdi_snapshot(struct ms_request *r, const struct vdi_iocb *iocb,
			uint32_t *new_vid)
{
	struct vdi_info info;
	int ret;

	ret = vdi_lookup(iocb, &info);
	if (ret != SD_RES_SUCCESS)
		return ret;
	*new_vid = info.free_bit;
	ret = node_notify_vdi_add(r->node, *new_vid, iocb->nr_copies, info.vid,
				  iocb->copy_policy, iocb->block_size_shift);
	if (ret != SD_RES_SUCCESS)
		return ret;
	return create_from_base(iocb, info.snapid, *new_vid, iocb->base_vid,
				info.vid, iocb->base_vid == info.vid ?
				snapshot_base : rebase_base);
}

/* as sheep/ops.c cluster_new_vdi() */
int vdi_cluster_new(struct ms_request *r)
{
	const struct sd_req *q = &r->req;
	char name[SD_MAX_VDI_LEN + 1], tag[SD_MAX_VDI_TAG_LEN + 1];
	struct vdi_iocb iocb = { .name = name, .tag = "" };
	struct timeval tv;
	uint32_t vid = 0;
	int ret = parse_name_tag(r, name, tag, false);

	if (ret != SD_RES_SUCCESS)
		return ret;
	gettimeofday(&tv, NULL);
	iocb.time = (uint64_t)tv.tv_sec << 32 | (uint64_t)tv.tv_usec * 1000;
	iocb.size = q->vdi.vdi_size;
	iocb.base_vid = q->vdi.base_vdi_id;
	iocb.copy_policy = q->vdi.copy_policy;
	iocb.store_policy = q->vdi.store_policy;
	iocb.nr_copies = q->vdi.copies;
	iocb.block_size_shift = q->vdi.block_size_shift;
	/* the client did not choose the redundancy: the cluster's */
	if (!q->vdi.copies) {
		iocb.nr_copies = ms_cluster.copies;
		iocb.copy_policy = ms_cluster.copy_policy;
	}
	if (iocb.copy_policy) {
		/* ec_policy_to_dp(); sheep panics on a zero nibble */
		uint8_t parity = iocb.copy_policy & 0x0f;
		uint8_t data = (uint8_t)((iocb.copy_policy >> 4) * 2);

		if (!parity || !data)
			return SD_RES_INVALID_PARMS;
		iocb.nr_copies = data + parity;
	}
	if (!iocb.block_size_shift)
		iocb.block_size_shift = ms_cluster.block_shift;
	/* not checked by sheep: a shift or policy it could not serve */
	if (iocb.store_policy > 1 ||
	    iocb.block_size_shift < SD_MIN_BLOCK_SHIFT ||
	    iocb.block_size_shift > SD_MAX_BLOCK_SHIFT || !iocb.nr_copies)
		return SD_RES_INVALID_PARMS;
	if (q->vdi.snapid)
		ret = vdi_snapshot(r, &iocb, &vid);
	else
		ret = vdi_create(r, &iocb, &vid);
	if (ret == SD_RES_VDI_EXIST)
		return ret;
	r->rsp.vdi.vdi_id = vid;
	r->rsp.vdi.copies = iocb.nr_copies;
	r->rsp.vdi.block_size_shift = iocb.block_size_shift;
	if (ret == SD_RES_SUCCESS)
		ms_log("new vdi %s vid %x (%s, base %x)", name, vid,
		       q->vdi.snapid ? "snapshot" : iocb.base_vid ? "clone" :
		       "create", iocb.base_vid);
	return ret;
}

/* ---- index updates (sheep/gateway.c gateway_write_obj()) ------------- */

/* as sheep/sheep_priv.h is_data_vid_update(): the range lies entirely in
 * data_vdi_id[] */
static bool is_data_vid_update(uint64_t off, uint32_t len)
{
	return off >= SD_INODE_INDEX_OFFSET &&
		off + len <= SD_INODE_GREF_OFFSET;
}

struct refcnt_work {
	uint32_t start;
	uint32_t nr;
	uint32_t *vids;		/* old entries */
	uint32_t *new_vids;
};

/* as sheep/gateway.c update_obj_refcnt(): every old object whose entry
 * changed loses the reference (and goes when it had the last one) */
static void update_obj_refcnt(void *arg)
{
	struct refcnt_work *w = arg;
	uint32_t i;

	for (i = 0; i < w->nr; i++) {
		if (!w->vids[i] || w->vids[i] == w->new_vids[i])
			continue;
		drop_ref(w->vids[i], w->start + i);
	}
	free(w->vids);
	free(w->new_vids);
	free(w);
}

/*
 * A write to inode @oid received by node @node: an index update when the
 * range lies in data_vdi_id[], else a plain write.  The caller did the
 * TGT check; inodes are never read-only.
 */
int vdi_inode_write(int node, uint64_t self, uint64_t oid, const uint8_t *buf,
		    uint32_t len, uint64_t off)
{
	uint32_t vid = sd_oid_to_vid(oid), nr = len / 4, start, i;
	uint8_t *old = NULL, *refs = NULL, *zero = NULL;
	struct refcnt_work *w = NULL;
	int ret;

	if (!is_data_vid_update(off, len))
		return store_write(oid, buf, len, off);
	node_invalidate_other_nodes(node, self, vid);
	start = (uint32_t)((off - SD_INODE_INDEX_OFFSET) / 4);
	old = malloc((size_t)nr * 4 + 1);
	refs = malloc((size_t)nr * 8 + 1);
	zero = calloc(1, (size_t)nr * 8 + 1);
	if (!old || !refs || !zero) {
		ret = SD_RES_NO_MEM;
		goto out;
	}
	/* prepare_obj_refcnt(): the previous entries and their gref */
	ret = store_read(oid, old, nr * 4, sd_inode_index_offset(start));
	if (ret == SD_RES_SUCCESS)
		ret = store_read(oid, refs, nr * 8,
				 SD_INODE_GREF_OFFSET + 8 * (uint64_t)start);
	if (ret != SD_RES_SUCCESS)
		goto out;
	ret = store_write(oid, buf, len, off);
	if (ret != SD_RES_SUCCESS)
		goto out;
	/* the gref of the updated range is zeroed */
	ret = store_write(oid, zero, nr * 8,
			  SD_INODE_GREF_OFFSET + 8 * (uint64_t)start);
	if (ret != SD_RES_SUCCESS) {
		ms_log("updating reference count of inode object %016llx "
		       "failed: %s", (unsigned long long)oid,
		       sd_result_str(ret));
		goto out;
	}
	if (vdi_is_hyper(vid))
		goto out;	/* a B-tree root, not entries: not counted */
	w = calloc(1, sizeof(*w));
	if (!w || !(w->vids = malloc((size_t)nr * 4 + 1)) ||
	    !(w->new_vids = malloc((size_t)nr * 4 + 1))) {
		ret = SD_RES_NO_MEM;
		goto out;
	}
	w->start = start;
	w->nr = nr;
	for (i = 0; i < nr; i++) {
		w->vids[i] = sd_get_le32(old + 4 * i);
		w->new_vids[i] = sd_get_le32(buf + 4 * i);
		/* minisheep's count: an entry naming its own vid holds the
		 * object's reference (sheep's implicit ledger[0] = 1) */
		if (w->new_vids[i] != w->vids[i] && w->new_vids[i] == vid)
			ref_get(sd_vid_to_data_oid(vid, start + i));
	}
	/* the reference drops run after the reply */
	group_queue_work(update_obj_refcnt, w);
	w = NULL;
out:
	if (w) {
		free(w->vids);
		free(w->new_vids);
		free(w);
	}
	free(old);
	free(refs);
	free(zero);
	return ret;
}

/*
 * CREATE_AND_WRITE_OBJ of an inode (no known client does it): sheep just
 * creates the object; minisheep also moves the references from the old
 * index to the new one and notes the vid.
 */
int vdi_inode_create(uint64_t oid, const uint8_t *buf, uint32_t len,
		     uint64_t off)
{
	uint32_t vid = sd_oid_to_vid(oid), i;
	uint8_t *old = NULL, *nw = NULL;
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
	old_flat = bit_test(inuse_bm, vid) && !vdi_is_hyper(vid);
	if (old_flat) {
		old = malloc(SD_INODE_REFRESH_SIZE);
		if (old && store_read(oid, old, SD_INODE_REFRESH_SIZE, 0) !=
		    SD_RES_SUCCESS) {
			free(old);
			old = NULL;
		}
	}
	ret = store_create(oid, SD_INODE_SIZE, buf, len, off);
	if (ret != SD_RES_SUCCESS)
		goto out;
	inode_register(vid, nw);
	for (i = 0; old && i < SD_MAX_DATA_OBJS; i++) {
		uint32_t e = sd_get_le32(old + SD_INODE_INDEX_OFFSET + 4 * i);

		if (e)
			drop_ref(e, i);
	}
out:
	free(old);
	free(nw);
	return ret;
}

/*
 * As sheep/ops.c local_discard_obj(): if the inode of the oid's vid has a
 * non-zero entry for it, zero the entry through an index update
 * (sd_inode_write_vid() -> gateway_write_obj()) and remove the object
 * itself; SUCCESS also when the entry was already 0.
 */
int vdi_local_discard(struct ms_request *r)
{
	uint64_t oid = r->req.obj.oid;
	uint32_t vid = sd_oid_to_vid(oid), idx = sd_oid_to_idx(oid);
	uint64_t inode = sd_vid_to_vdi_oid(vid);
	uint8_t e[4], zero[4] = { 0 };
	int ret;

	if (!sd_oid_is_data(oid) || idx >= SD_MAX_DATA_OBJS || vdi_is_hyper(vid))
		return SD_RES_INVALID_PARMS;
	ret = store_read(inode, e, 4, sd_inode_index_offset(idx));
	if (ret != SD_RES_SUCCESS || !sd_get_le32(e))
		return ret;
	ret = vdi_inode_write(r->node, r->self, inode, zero, 4,
			      sd_inode_index_offset(idx));
	if (ret != SD_RES_SUCCESS)
		return ret;
	if (store_remove(oid) != SD_RES_SUCCESS)
		ms_log("failed to remove %016llx", (unsigned long long)oid);
	return SD_RES_SUCCESS;
}

/* ---- DEL_VDI (sheep/ops.c cluster_del_vdi(), sheep/vdi.c) ------------ */

/*
 * As sheep/vdi.c delete_vdi_work(): clear the name, the size and
 * everything after the header, keep the inode (the hash chain needs it).
 * Where sheep refuses (logs "still has objects" and leaves the inode as it
 * is, yet replies SUCCESS and marks the vid deleted), minisheep frees the
 * entries the client did not zero itself.
 */
static int delete_vdi(uint32_t vid)
{
	uint8_t *buf = NULL, *index = NULL;
	struct sd_inode_hdr h;
	uint32_t i;
	int ret;

	ret = inode_read_all(vid, &buf);
	if (ret != SD_RES_SUCCESS)
		return ret;
	sd_inode_hdr_decode(buf, &h);
	if (!h.name[0])
		goto out;		/* already deleted */
	if (h.store_policy != 1) {
		index = malloc(INDEX_BYTES);
		if (!index) {
			ret = SD_RES_NO_MEM;
			goto out;
		}
		memcpy(index, buf + SD_INODE_INDEX_OFFSET, INDEX_BYTES);
	}
	memset(buf + SD_INODE_OFF_NAME, 0, SD_MAX_VDI_LEN);
	sd_put_le64(buf + SD_INODE_OFF_VDI_SIZE, 0);
	memset(buf + SD_INODE_HEADER_SIZE, 0,
	       SD_INODE_SIZE - SD_INODE_HEADER_SIZE);
	ret = store_write(sd_vid_to_vdi_oid(vid), buf, SD_INODE_SIZE, 0);
	if (ret != SD_RES_SUCCESS)
		goto out;
	/* entries the client did not zero: free them here */
	for (i = 0; index && i < SD_MAX_DATA_OBJS; i++) {
		uint32_t e = sd_get_le32(index + 4 * i);

		if (e)
			drop_ref(e, i);
	}
	ms_log("deleted vdi %s vid %x", h.name, vid);
out:
	free(index);
	free(buf);
	return ret;
}

/* as sheep/ops.c cluster_del_vdi() -> vdi_delete() */
int vdi_cluster_del(struct ms_request *r)
{
	struct vdi_info info;
	int ret = lookup_named_vdi(r, &info);

	if (ret != SD_RES_SUCCESS)
		return ret;
	ret = delete_vdi(info.vid);
	r->rsp.vdi.vdi_id = info.vid;
	return ret;
}

/* ---- READ_VDIS / READ_DEL_VDIS / GET_VDI_COPIES ---------------------- */

void vdi_op_read_bitmap(struct ms_request *r, bool deleted)
{
	uint32_t i;

	if (r->req.data_length != SD_VDI_BITMAP_SIZE) {
		r->rsp.result = SD_RES_INVALID_PARMS;
		return;
	}
	if (!ops_alloc_rdata(r, SD_VDI_BITMAP_SIZE))
		return;
	for (i = 0; i < SD_VDI_BITMAP_SIZE; i++)
		r->rdata[i] = __atomic_load_n(deleted ? &deleted_bm[i] :
					      &inuse_bm[i], __ATOMIC_ACQUIRE);
	node_unapplied_bits(r->node, deleted, r->rdata);
}

void vdi_op_get_copies(struct ms_request *r)
{
	uint8_t *buf;
	uint32_t len;
	int ret;

	ret = node_fill_vdi_states(r->node, &buf, r->req.data_length, &len);
	if (ret != SD_RES_SUCCESS) {
		r->rsp.result = (uint32_t)ret;
		return;
	}
	free(r->rdata);
	r->rdata = buf;
	r->rsp.data_length = len;
}

/* ---- GET_VDI_ATTR (sheep/ops.c cluster_get_vdi_attr()) --------------- */

static uint64_t fnv64a(const uint8_t *p, size_t len, uint64_t h)
{
	while (len--) {
		h ^= *p++;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* as sheep/sheepdog_proto.h sd_hash_vdi(): 0 is not skipped here */
static uint32_t hash_vdi(const char *name)
{
	return (uint32_t)(fnv64a((const uint8_t *)name, strlen(name),
				 UINT64_C(0xcbf29ce484222325)) &
			  (SD_NR_VDIS - 1));
}

/* as sheep/vdi.c hash_vdi_attr(): name, tag, snap_id, key */
static uint32_t hash_vdi_attr(const uint8_t *a)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	h = fnv64a(a, SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN, h);
	h = fnv64a(a + ATTR_OFF_SNAP_ID, 4, h);
	h = fnv64a(a + ATTR_OFF_KEY, 256, h);
	return (uint32_t)h;
}

/*
 * As sheep/vdi.c get_vdi_attr(): probe attr_id, attr_id + 1, ... of the
 * hash vid.  The slot is read unless this is a plain CREAT (wr && !excl),
 * which creates (replaces) the first slot without looking; a missing
 * object is created with CREAT; a match (strcmp of name, tag and key,
 * equal snap_id) gives VDI_EXIST with EXCL, a one-byte "" tombstone at
 * the name with DEL (the object stays), else SUCCESS.
 */
static int get_vdi_attr(uint8_t *vattr, uint32_t data_len, uint32_t vid,
			uint32_t *attrid, uint64_t create_time, bool wr,
			bool excl, bool del)
{
	uint8_t *tmp = malloc(MS_ATTR_OBJ_SIZE);
	int ret = SD_RES_NO_OBJ;
	uint32_t n;

	if (!tmp)
		return SD_RES_NO_MEM;
	sd_put_le64(vattr + ATTR_OFF_CTIME, create_time);
	*attrid = hash_vdi_attr(vattr);
	/* sheep probes all 2^32 - 1 ids; minisheep gives up earlier */
	for (n = 0; n < ATTR_MAX_PROBES; n++, (*attrid)++) {
		uint64_t oid = SD_VDI_ATTR_BIT | ((uint64_t)vid << 32) |
			*attrid;

		if (excl || !wr)
			ret = store_read(oid, tmp, MS_ATTR_OBJ_SIZE, 0);
		if (ret == SD_RES_NO_OBJ && wr) {
			/* sd_write_object(oid, vattr, data_len, 0, create) */
			ret = store_create(oid, MS_ATTR_OBJ_SIZE, vattr,
					   data_len, 0);
			ret = ret ? SD_RES_EIO : SD_RES_SUCCESS;
			goto out;
		}
		if (ret != SD_RES_SUCCESS)
			goto out;
		if (strcmp((char *)tmp, (char *)vattr) == 0 &&
		    strcmp((char *)tmp + SD_MAX_VDI_LEN,
			   (char *)vattr + SD_MAX_VDI_LEN) == 0 &&
		    sd_get_le32(tmp + ATTR_OFF_SNAP_ID) ==
		    sd_get_le32(vattr + ATTR_OFF_SNAP_ID) &&
		    strcmp((char *)tmp + ATTR_OFF_KEY,
			   (char *)vattr + ATTR_OFF_KEY) == 0) {
			if (excl) {
				ret = SD_RES_VDI_EXIST;
			} else if (del) {
				ret = store_write(oid, "", 1, 0);
				ret = ret ? SD_RES_EIO : SD_RES_SUCCESS;
			} else if (wr) {
				/* unreachable in sheep too: wr && !excl never
				 * reads */
				ret = store_write(oid, vattr, MS_ATTR_OBJ_SIZE,
						  0);
				ret = ret ? SD_RES_EIO : SD_RES_SUCCESS;
			} else {
				ret = SD_RES_SUCCESS;
			}
			goto out;
		}
	}
	ret = SD_RES_FULL_VDI;
out:
	free(tmp);
	return ret;
}

/*
 * As sheep/ops.c cluster_get_vdi_attr(): look the VDI up by the
 * attribute's name and tag and the header's snapid, then get_vdi_attr()
 * on the name's hash vid (the VDI's vid changes with snapshots) with the
 * VDI's create_time as ctime.  The response carries that hash vid, the
 * attribute id and the copies of the hash vid.
 */
int vdi_cluster_get_attr(struct ms_request *r)
{
	struct vdi_iocb iocb = { 0 };
	uint8_t *a = r->data, *vattr;
	uint32_t vid, attrid = 0;
	struct vdi_info info;
	uint16_t flags = r->req.flags;
	int ret;

	/* not checked by sheep: a payload holding the whole header, and
	 * NUL-terminated strings */
	if (!(flags & SD_FLAG_CMD_WRITE) || r->data_len < ATTR_HDR_SIZE ||
	    r->data_len > MS_ATTR_OBJ_SIZE || a[SD_MAX_VDI_LEN - 1] ||
	    a[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN - 1] ||
	    a[ATTR_OFF_KEY + 255] || !a[0])
		return SD_RES_INVALID_PARMS;
	iocb.name = (const char *)a;
	iocb.tag = (const char *)a + SD_MAX_VDI_LEN;
	iocb.snapid = r->req.vdi.snapid;
	ret = vdi_lookup(&iocb, &info);
	if (ret != SD_RES_SUCCESS)
		return ret;
	/* sheep works on the request buffer, whose size is data_length; the
	 * hash and the comparisons need the whole header */
	vattr = calloc(1, MS_ATTR_OBJ_SIZE);
	if (!vattr)
		return SD_RES_NO_MEM;
	memcpy(vattr, a, r->data_len);
	vid = hash_vdi((const char *)a);
	ret = get_vdi_attr(vattr, r->data_len, vid, &attrid, info.create_time,
			   flags & MS_FLAG_CMD_CREAT, flags & MS_FLAG_CMD_EXCL,
			   flags & MS_FLAG_CMD_DEL);
	free(vattr);
	r->rsp.vdi.vdi_id = vid;
	r->rsp.vdi.attr_id = attrid;
	node_get_vdi_layout(r->node, vid, &r->rsp.vdi.copies, NULL);
	return ret;
}
