// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_vdi.c - unit test of opening and closing VDIs (usr/lib/sd_vdi.c,
 * layer 3) against the fake sheep of vdi_fixture.h: lookups with and
 * without a lock, snapshots by tag and id, the inode checks, releases,
 * and the exact refresh read of a shared handle.
 */
#include "vdi_fixture.h"

/* what the cases work with: the open arguments, the handle, a result */
static const uint32_t idx[3] = { V, P, 0 };
static struct sd_vdi_open_args a;
static struct sd_vdi *v;
static int ret;

/* vol0 of 10 objects + 4 KiB: 0 owned, 1 inherited, 2 a hole */
static void vdi_setup(void)
{
	vdi_reset();
	a = (struct sd_vdi_open_args){ .name = "vol0",
				       .lock = SD_LOCK_NORMAL };
	v = NULL;
	fake_inode_make(V, 10 * (uint64_t)OBJ + 4096, SH, 0, idx, 3, false);
}

/* normal lock: LOCK_VDI, the inode read, queries, release */
static void case_open_normal(void)
{
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == 0, "open: normal lock", "%d %s", ret, sd_get_error());
	if (ret)
		return;
	CHECK(last_lookup.opcode == SD_OP_LOCK_VDI &&
	      last_lookup.vdi.type == SD_LOCK_TYPE_NORMAL &&
	      last_lookup_len == 512 && !strcmp(last_lookup_name, "vol0") &&
	      last_lookup.flags == SD_FLAG_CMD_WRITE &&
	      last_lookup.data_length == 512, "open: LOCK_VDI with 512-byte payload",
	      "op %#x type %u len %u name '%s'", last_lookup.opcode,
	      last_lookup.vdi.type, last_lookup_len, last_lookup_name);
	CHECK(last_inode_read.opcode == SD_OP_READ_OBJ &&
	      last_inode_read.obj.oid == sd_vid_to_vdi_oid(V) &&
	      last_inode_read.obj.offset == 0 &&
	      last_inode_read.data_length == SD_INODE_INDEX_OFFSET + 4096 * 4,
	      "open: one read of the header and the first 4096 index entries "
	      "(a small VDI)", "oid %#llx len %u",
	      (unsigned long long)last_inode_read.obj.oid,
	      last_inode_read.data_length);
	CHECK(sd_vdi_vid(v) == V && sd_vdi_size(v) == 10 * (uint64_t)OBJ + 4096 &&
	      sd_vdi_object_size(v) == OBJ && !sd_vdi_readonly(v) &&
	      !strcmp(sd_vdi_name(v), "vol0") && v->nr_objs == 11 &&
	      v->index[0] == V && v->index[1] == P && v->index[2] == 0,
	      "open: queries and index", "vid %#x size %llu objs %u",
	      sd_vdi_vid(v), (unsigned long long)sd_vdi_size(v), v->nr_objs);
	sd_vdi_close(v);
	CHECK(nr_releases == 1 && last_release.opcode == SD_OP_RELEASE_VDI &&
	      last_release.vdi.base_vdi_id == V &&
	      last_release.vdi.type == SD_LOCK_TYPE_NORMAL,
	      "close: RELEASE_VDI", "%d releases", nr_releases);}

/* shared lock: lock and release type 1 */
static void case_open_shared(void)
{
	a.lock = SD_LOCK_SHARED;
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(!ret && last_lookup.opcode == SD_OP_LOCK_VDI &&
	      last_lookup.vdi.type == SD_LOCK_TYPE_SHARED,
	      "open: shared lock type 1", "ret %d type %u", ret,
	      last_lookup.vdi.type);
	if (!ret) {
		sd_vdi_close(v);
		CHECK(last_release.vdi.type == SD_LOCK_TYPE_SHARED,
		      "close: shared release", "type %u",
		      last_release.vdi.type);
	}}

/* no lock: GET_VDI_INFO, no release */
static void case_open_unlocked(void)
{
	a.lock = SD_LOCK_NONE;
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(!ret && last_lookup.opcode == SD_OP_GET_VDI_INFO,
	      "open: lock none uses GET_VDI_INFO", "ret %d op %#x", ret,
	      last_lookup.opcode);
	if (!ret) {
		sd_vdi_close(v);
		CHECK(nr_releases == 0, "close: no release without lock",
		      "%d", nr_releases);
	}}

/* snapshot by tag: never locked, read-only */
static void case_open_tag(void)
{
	a.tag = "snap1";
	fake_inode_make(V - 1, 4 * (uint64_t)OBJ, SH, 0, idx, 3, true);
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(!ret && last_lookup.opcode == SD_OP_GET_VDI_INFO &&
	      !strcmp(last_lookup_tag, "snap1") && last_lookup_len == 512,
	      "open: tag snapshot via GET_VDI_INFO", "ret %d op %#x tag '%s'",
	      ret, last_lookup.opcode, last_lookup_tag);
	if (!ret) {
		struct done_rec d = { 0, 0 };
		char buf[16];

		CHECK(sd_vdi_readonly(v), "open: snapshot is read-only",
		      "writable");
		ret = sd_vdi_pwrite(v, buf, sizeof(buf), 0, 0);
		CHECK(ret == -EROFS, "write to snapshot: -EROFS", "%d", ret);
		ret = sd_vdi_aio_zero(v, 0, 4096, 0, rec_done, &d);
		CHECK(ret == -EROFS && d.calls == 0, "zero of snapshot: -EROFS",
		      "%d", ret);
		ret = sd_vdi_aio_discard(v, 0, OBJ, rec_done, &d);
		CHECK(ret == -EROFS && d.calls == 0,
		      "discard of snapshot: -EROFS", "%d", ret);
		sd_vdi_close(v);
		CHECK(nr_releases == 0, "close: snapshot not released", "%d",
		      nr_releases);
	}}

/* snapshot by id */
static void case_open_snapid(void)
{
	a.snapid = 3;
	fake_inode_make(V - 1, 4 * (uint64_t)OBJ, SH, 0, idx, 3, true);
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(!ret && last_lookup.opcode == SD_OP_GET_VDI_INFO &&
	      last_lookup.vdi.snapid == 3 && last_lookup_len == 512,
	      "open: snapid snapshot via GET_VDI_INFO", "ret %d snapid %u",
	      ret, last_lookup.vdi.snapid);
	if (!ret)
		sd_vdi_close(v);
}

/* lookup errors with their messages */
static void case_open_lookup_errors(void)
{
	lookup_result = SD_RES_NO_VDI;
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == -ENOENT && !v &&
	      !strncmp(sd_get_error(), "cannot open VDI 'vol0': ", 24),
	      "open: NO_VDI -> -ENOENT with message", "%d '%s'", ret,
	      sd_get_error());
	lookup_result = SD_RES_VDI_LOCKED;
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == -EBUSY, "open: VDI_LOCKED -> -EBUSY", "%d '%s'", ret,
	      sd_get_error());}

/* the inode checks: store policy, block size, object count */
static void case_open_inode_checks(void)
{
	fake_inode_make(V, 4 * (uint64_t)OBJ, SH, 1, idx, 0, false);
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == -EOPNOTSUPP && strstr(sd_get_error(), "hyper volume"),
	      "open: hyper volume refused", "%d '%s'", ret, sd_get_error());
	CHECK(nr_releases == 1, "open: lock released after failure", "%d",
	      nr_releases);
	fake_inode_make(V, 4 * (uint64_t)OBJ, 19, 0, idx, 0, false);
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == -EPROTO, "open: block_size_shift 19 refused", "%d '%s'",
	      ret, sd_get_error());
	fake_inode_make(V, 4 * (uint64_t)OBJ, 32, 0, idx, 0, false);
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == -EPROTO, "open: block_size_shift 32 refused", "%d", ret);
	fake_inode_make(V, (UINT64_C(4) << 40) + 1, 22, 0, idx, 0, false);
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == -EPROTO, "open: more than 2^20 objects refused", "%d '%s'",
	      ret, sd_get_error());
	fake_inode_make(V, UINT64_C(4) << 40, 22, 0, idx, 0, false);
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == 0 && v->nr_objs == SD_MAX_DATA_OBJS,
	      "open: exactly 2^20 objects accepted", "%d '%s'", ret,
	      sd_get_error());
	CHECK(last_inode_read.data_length == SD_INODE_REFRESH_SIZE + 4,
	      "open: a large VDI reads its whole index, 4 bytes longer than a "
	      "multipath refresh read", "len %u", last_inode_read.data_length);
	if (!ret)
		sd_vdi_close(v);
}

/* an inode read error, an empty name */
static void case_open_read_errors(void)
{
	inode_result = SD_RES_EIO;
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == -EIO, "open: inode read error", "%d", ret);
	a.name = "";
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == -EINVAL, "open: empty name refused", "%d", ret);}

/* the sheep of a shared client is gone: fail at once, before any lookup */
static void case_open_sheep_gone(void)
{
	wait_up_err = -ECONNREFUSED;
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == -ECONNREFUSED && !v && nr_lookups == 0 &&
	      !strcmp(sd_get_error(),
		      "cannot open VDI 'vol0': connect to unix:/fake: refused"),
	      "open: client down -> connect error, nothing sent", "%d %d '%s'",
	      ret, nr_lookups, sd_get_error());
	wait_up_err = 0;
	ret = sd_vdi_open(fake_client, &a, &v);
	CHECK(ret == 0 && nr_wait_ups == 2, "open: probes the client first",
	      "%d %d", ret, nr_wait_ups);
	if (!ret)
		sd_vdi_close(v);
}

static void case_shared_open(void)
{
	struct sd_vdi *v = open_shared();

	CHECK(last_inode_read.data_length == SD_INODE_REFRESH_SIZE,
	      "shared open: an exact refresh read (validates our node)",
	      "len %u", last_inode_read.data_length);
	sd_vdi_close(v);
}

int main(void)
{
	static const struct t_case cases[] = {
		T_CASE(case_open_normal),
		T_CASE(case_open_shared),
		T_CASE(case_open_unlocked),
		T_CASE(case_open_tag),
		T_CASE(case_open_snapid),
		T_CASE(case_open_lookup_errors),
		T_CASE(case_open_inode_checks),
		T_CASE(case_open_read_errors),
		T_CASE(case_open_sheep_gone),
		T_CASE(case_shared_open),
	};

	return VDI_RUN(cases, vdi_setup, NULL);
}
