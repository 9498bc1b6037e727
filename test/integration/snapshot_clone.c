// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * snapshot_clone - snapshots and clones through the library.
 * Usage: snapshot_clone ADDR VDI
 *
 * Writes data A, snapshots the VDI (tag "snap1"), writes data B into the
 * working VDI, then checks: the snapshot opened by tag and by snapid is
 * read-only, has the snapshot's vid and holds A; writes, zeroing and
 * discards on it fail with -EROFS; the working VDI holds B where B was
 * written and A elsewhere.  Then clones the snapshot (by tag and by snapid),
 * checks the clones hold A, writes C to a clone and checks that neither the
 * snapshot nor the source changed.  Finally a handle opened before a
 * second snapshot keeps writing into the working VDI, not the snapshot.
 */
#include <inttypes.h>

#include "itest.h"

static struct sd_client *c;
static uint64_t S;

#define SEED_A	101
#define SEED_B	202
#define SEED_C	303
#define SEED_D	404

/* region A: objects 0-2 with unaligned ends; B overlaps its middle and
 * adds object 5; C overlaps both in the clone */
#define A_OFF	(S - 5000)
#define A_LEN	(S + 10000)
#define B_OFF	(S + 3)
#define B_LEN	(S - 1)
#define B2_OFF	(5 * S + 100)
#define B2_LEN	(1000)
#define C_OFF	(S - 77)
#define C_LEN	(3000)

static uint8_t *rbuf;

/* expected seed of byte @o in a VDI holding the listed writes in order */
struct w {
	uint64_t off, len, seed;
};

static uint64_t seed_at(const struct w *ws, int n, uint64_t o)
{
	uint64_t seed = 0;
	int i;

	for (i = 0; i < n; i++)
		if (o >= ws[i].off && o < ws[i].off + ws[i].len)
			seed = ws[i].seed;
	return seed;
}

/* read [off, off+len) and compare with the model; 0 when equal */
static int check_model(struct sd_vdi *v, const struct w *ws, int n,
		       uint64_t off, uint64_t len, char *why, size_t wl)
{
	uint64_t i;
	int ret;

	ret = sd_vdi_pread(v, rbuf, len, off);
	if (ret) {
		snprintf(why, wl, "pread(%" PRIu64 ", %" PRIu64 ") = %d: %s",
			 off, len, ret, sd_get_error());
		return ret;
	}
	for (i = 0; i < len; i++) {
		uint64_t s = seed_at(ws, n, off + i);

		if (rbuf[i] != it_pat_byte(off + i, s)) {
			snprintf(why, wl, "byte %" PRIu64 " is 0x%02x, expected "
				 "0x%02x (data %s)", off + i, rbuf[i],
				 it_pat_byte(off + i, s),
				 s == SEED_A ? "A" : s == SEED_B ? "B" :
				 s == SEED_C ? "C" : s ? "D" : "zeros");
			return -1;
		}
	}
	return 0;
}

static void check_vdi(const char *name, struct sd_vdi *v, const struct w *ws,
		      int n)
{
	char why[256] = "";
	int ret;

	/* objects 0..2 (A, B, C) and object 5 (B2) with margins */
	ret = check_model(v, ws, n, S - 8192, 2 * S + 16384, why, sizeof(why));
	if (!ret)
		ret = check_model(v, ws, n, 5 * S, 8192, why, sizeof(why));
	CHECK(ret == 0, name, "%s", why);
}

static struct sd_vdi *open_or_die(const char *name, const char *tag,
				  uint32_t snapid, enum sd_lock_mode lock,
				  const char *check)
{
	struct sd_vdi *v = NULL;
	int ret = it_open(c, name, tag, snapid, lock, &v);

	CHECK(ret == 0, check, "sd_vdi_open(%s, tag '%s', snapid %u) = %d: %s",
	      name, tag ? tag : "", snapid, ret, sd_get_error());
	if (ret)
		exit(t_exit() ? t_exit() : 1);
	return v;
}

static uint32_t find_snapid(const char *name, uint32_t vid)
{
	struct sd_vdi_info *list = NULL;
	uint32_t snapid = 0;
	size_t n = 0, i;
	int ret;

	ret = sd_vdi_list(c, &list, &n);
	CHECK(ret == 0, "snapshot: vdi list", "sd_vdi_list = %d: %s", ret,
	      sd_get_error());
	for (i = 0; !ret && i < n; i++)
		if (!strcmp(list[i].name, name) && list[i].vid == vid) {
			CHECK(list[i].is_snapshot && list[i].snap_id > 0 &&
			      !strcmp(list[i].tag, "snap1"),
			      "snapshot: list shows the snapshot with its tag",
			      "is_snapshot %d snap_id %u tag '%s'",
			      list[i].is_snapshot, list[i].snap_id,
			      list[i].tag);
			snapid = list[i].snap_id;
		}
	CHECK(snapid != 0, "snapshot: found in the list",
	      "vid %u of %s not listed", vid, name);
	free(list);
	return snapid;
}

int main(int argc, char **argv)
{
	struct w ws_snap[1], ws_work[3], ws_clone[2], ws_work2[4];
	char clone1[300], clone2[300];
	struct sd_vdi *v, *snap, *snap2, *cl, *cl2;
	uint32_t vid = 0, snap_vid = 0, cvid = 0, cvid2 = 0, snapid, v2 = 0;
	const char *name;
	uint8_t one = 1;
	int ret;

	it_usage(argc >= 3, argv[0], "ADDR VDI");
	name = argv[2];
	snprintf(clone1, sizeof(clone1), "%s-clone1", name);
	snprintf(clone2, sizeof(clone2), "%s-clone2", name);
	c = it_client(argv[1], 0, 10000);

	ret = sd_vdi_create(c, name, 64 * IT_MIB, 0, &vid);
	if (ret)
		it_die("snapshot: create", "sd_vdi_create(%s) = %d: %s", name,
		       ret, sd_get_error());
	v = open_or_die(name, NULL, 0, SD_LOCK_NORMAL, "snapshot: open source");
	S = sd_vdi_object_size(v);
	rbuf = it_alloc(2 * S + 16384);

	ws_snap[0] = (struct w){ A_OFF, A_LEN, SEED_A };
	it_write_pat(v, A_OFF, A_LEN, SEED_A, NULL, "snapshot: write A");
	sd_vdi_close(v);

	ret = sd_vdi_snapshot(c, name, "snap1", &snap_vid);
	CHECK(ret == 0, "snapshot: sd_vdi_snapshot", "= %d: %s", ret,
	      sd_get_error());
	if (ret)
		return t_exit();
	CHECK(snap_vid == vid, "snapshot: snapshot keeps the old vid",
	      "snap vid %u, created vid %u", snap_vid, vid);

	v = open_or_die(name, NULL, 0, SD_LOCK_NORMAL,
			"snapshot: open working VDI after snapshot");
	CHECK(sd_vdi_vid(v) != snap_vid && !sd_vdi_readonly(v),
	      "snapshot: working VDI has a new vid and is writable",
	      "vid %u readonly %d", sd_vdi_vid(v), sd_vdi_readonly(v));
	it_write_pat(v, B_OFF, B_LEN, SEED_B, NULL,
		     "snapshot: write B to working VDI");
	it_write_pat(v, B2_OFF, B2_LEN, SEED_B, NULL,
		     "snapshot: write B to a new object");
	ws_work[0] = ws_snap[0];
	ws_work[1] = (struct w){ B_OFF, B_LEN, SEED_B };
	ws_work[2] = (struct w){ B2_OFF, B2_LEN, SEED_B };
	check_vdi("snapshot: working VDI holds B over A", v, ws_work, 3);

	snap = open_or_die(name, "snap1", 0, SD_LOCK_NONE,
			   "snapshot: open by tag");
	CHECK(sd_vdi_readonly(snap) && sd_vdi_vid(snap) == snap_vid,
	      "snapshot: by tag is read-only with the snapshot vid",
	      "readonly %d vid %u", sd_vdi_readonly(snap), sd_vdi_vid(snap));
	check_vdi("snapshot: by tag holds A only", snap, ws_snap, 1);
	ret = sd_vdi_pwrite(snap, &one, 1, 0, 0);
	CHECK(ret == -EROFS, "snapshot: pwrite on snapshot -> -EROFS",
	      "returned %d", ret);
	ret = sd_vdi_pwrite(snap, &one, 1, A_OFF, 0);
	CHECK(ret == -EROFS, "snapshot: pwrite on allocated snapshot data -> "
	      "-EROFS", "returned %d", ret);
	ret = sd_vdi_discard(snap, 0, S);
	CHECK(ret == -EROFS, "snapshot: discard on snapshot -> -EROFS",
	      "returned %d", ret);
	ret = sd_vdi_zero(snap, S, 4096, 0);
	CHECK(ret == -EROFS, "snapshot: zero on snapshot -> -EROFS",
	      "returned %d", ret);
	check_vdi("snapshot: unchanged after refused writes", snap, ws_snap, 1);

	snapid = find_snapid(name, snap_vid);
	if (snapid) {
		snap2 = open_or_die(name, NULL, snapid, SD_LOCK_NONE,
				    "snapshot: open by snapid");
		CHECK(sd_vdi_readonly(snap2) && sd_vdi_vid(snap2) == snap_vid,
		      "snapshot: by snapid is read-only with the snapshot vid",
		      "readonly %d vid %u", sd_vdi_readonly(snap2),
		      sd_vdi_vid(snap2));
		check_vdi("snapshot: by snapid holds A only", snap2, ws_snap,
			  1);
		sd_vdi_close(snap2);
	}

	/* clones */
	ret = sd_vdi_clone(c, name, "snap1", 0, clone1, &cvid);
	CHECK(ret == 0 && cvid != 0, "clone: by tag", "= %d vid %u: %s", ret,
	      cvid, sd_get_error());
	if (ret)
		return t_exit();
	cl = open_or_die(clone1, NULL, 0, SD_LOCK_NORMAL, "clone: open");
	CHECK(!sd_vdi_readonly(cl) && sd_vdi_vid(cl) == cvid &&
	      sd_vdi_size(cl) == 64 * IT_MIB,
	      "clone: writable, own vid, source size",
	      "readonly %d vid %u (clone said %u) size %" PRIu64,
	      sd_vdi_readonly(cl), sd_vdi_vid(cl), cvid, sd_vdi_size(cl));
	check_vdi("clone: holds the snapshot's data", cl, ws_snap, 1);
	{
		uint64_t run = 0;
		bool alloc = false;

		ret = sd_vdi_block_status(cl, S, S, &run, &alloc);
		CHECK(ret == 0 && alloc, "clone: inherited object counts as "
		      "allocated", "ret %d allocated %d", ret, alloc);
	}
	it_write_pat(cl, C_OFF, C_LEN, SEED_C, NULL, "clone: write C");
	ws_clone[0] = ws_snap[0];
	ws_clone[1] = (struct w){ C_OFF, C_LEN, SEED_C };
	check_vdi("clone: holds C over A", cl, ws_clone, 2);
	check_vdi("clone: snapshot unchanged by clone writes", snap, ws_snap,
		  1);
	check_vdi("clone: source unchanged by clone writes", v, ws_work, 3);
	sd_vdi_close(cl);
	cl = open_or_die(clone1, NULL, 0, SD_LOCK_NORMAL, "clone: reopen");
	check_vdi("clone: holds C over A after reopen", cl, ws_clone, 2);
	sd_vdi_close(cl);

	if (snapid) {
		ret = sd_vdi_clone(c, name, NULL, snapid, clone2, &cvid2);
		CHECK(ret == 0 && cvid2 != 0 && cvid2 != cvid,
		      "clone: by snapid", "= %d vid %u: %s", ret, cvid2,
		      sd_get_error());
		if (!ret) {
			cl2 = open_or_die(clone2, NULL, 0, SD_LOCK_NORMAL,
					  "clone: open clone by snapid");
			check_vdi("clone: by snapid holds the snapshot's data",
				  cl2, ws_snap, 1);
			sd_vdi_close(cl2);
		}
	}
	{
		char clone3[300];
		uint32_t dummy = 0;

		snprintf(clone3, sizeof(clone3), "%s-clone3", name);
		ret = sd_vdi_clone(c, name, "no-such-tag", 0, clone3, &dummy);
		CHECK(ret == -ENOENT, "clone: of a missing tag -> -ENOENT",
		      "returned %d: %s", ret, sd_get_error());
	}

	/* a handle open across a snapshot keeps writing to the working VDI */
	ret = sd_vdi_snapshot(c, name, "snap2", &v2);
	CHECK(ret == 0 && v2 == sd_vdi_vid(v),
	      "snapshot: second snapshot of an open VDI", "= %d vid %u "
	      "(handle vid %u): %s", ret, v2, sd_vdi_vid(v), sd_get_error());
	if (!ret) {
		struct sd_vdi *s2, *w2;

		uint8_t *buf = it_alloc(5000);
		const char *wname = "snapshot: write through a handle opened "
				    "before the snapshot";

		it_pat_fill(buf, 5000, 2 * S + 999, SEED_D);
		ret = sd_vdi_pwrite(v, buf, 5000, 2 * S + 999, 0);
		free(buf);
		/* the library reloads the working vid after READONLY */
		CHECK(ret == 0, wname, "pwrite = %d: %s", ret, sd_get_error());
		CHECK(sd_vdi_vid(v) != v2, "snapshot: handle moved to the new "
		      "working vid", "still on snapshot vid %u", v2);
		ws_work2[0] = ws_work[0];
		ws_work2[1] = ws_work[1];
		ws_work2[2] = ws_work[2];
		ws_work2[3] = (struct w){ 2 * S + 999, 5000, SEED_D };
		s2 = open_or_die(name, "snap2", 0, SD_LOCK_NONE,
				 "snapshot: open snap2");
		check_vdi("snapshot: snap2 does not see the later write", s2,
			  ws_work, 3);
		sd_vdi_close(s2);
		w2 = open_or_die(name, NULL, 0, SD_LOCK_NONE,
				 "snapshot: open working VDI after snap2");
		check_vdi("snapshot: working VDI has the later write", w2,
			  ws_work2, 4);
		sd_vdi_close(w2);
	}
	sd_vdi_close(snap);
	sd_vdi_close(v);

	/* best-effort cleanup (matters on a shared external sheep) */
	sd_vdi_delete(c, clone1, NULL, 0);
	sd_vdi_delete(c, clone2, NULL, 0);
	sd_client_free(c);
	free(rbuf);
	return t_exit();
}
