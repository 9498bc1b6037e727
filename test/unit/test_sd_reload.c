// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_reload.c - unit test of the reload of an open VDI
 * (usr/lib/sd_reload.c) through the data path that asks for it: READONLY
 * after a snapshot (drain, lookup of the working vid, lock re-take, read of
 * the new inode, re-publish of the entries a snapshot raced with), the
 * ways a reload fails, and growth: a reload of a larger inode, the size
 * poll (sd_vdi_watch_size()) and sd_vdi_refresh_size().  Requests are
 * answered one by one (stub.h).
 */
#include "vdi_fixture.h"

static void case_readonly_reload(void)
{
	struct sd_vdi *v = open_std();
	struct done_rec d0 = { 0, 0 }, d0b = { 0, 0 }, d2 = { 0, 0 },
			d3 = { 0, 0 };
	static uint8_t a[4096];
	struct iovec ia = { a, sizeof(a) };
	struct sd_request *r, *c2, *i3, *w0;
	uint32_t snapidx[16] = { V, P, 0 };
	int guard = 0;

	/* object 3: created, its index update to V still in flight */
	sd_vdi_aio_write(v, &ia, 1, 3 * (uint64_t)OBJ, 0, rec_done, &d3);
	reply(find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0), SD_RES_SUCCESS, 0);
	i3 = find_index_write(V, 3);
	sd_vdi_aio_write(v, &ia, 1, 0, 0, rec_done, &d0);
	w0 = find_req(SD_OP_WRITE_OBJ, 1);
	sd_vdi_aio_write(v, &ia, 1, 2 * (uint64_t)OBJ, 0, rec_done, &d2);
	c2 = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(i3 && w0 && w0->hdr.obj.oid == sd_vid_to_data_oid(V, 0) && c2,
	      "reload setup: index update, write, create in flight",
	      "pending %d", nr_pending);
	if (!i3 || !w0 || !c2)
		goto out;

	/* the snapshot happens now: W's index is V's copy (no entry 3) */
	reply(w0, SD_RES_READONLY, 0);
	CHECK(d0.calls == 0 && !find_req(SD_OP_GET_VDI_INFO, 0) &&
	      v->rl.state == SD_RELOAD_DRAIN,
	      "READONLY: reload waits for creates/index updates in flight",
	      "calls %d state %d", d0.calls, v->rl.state);
	sd_vdi_aio_write(v, &ia, 1, 8192, 0, rec_done, &d0b);
	CHECK(nr_pending == 2, "write during a reload parks", "pending %d",
	      nr_pending);
	/*
	 * The index update lands on the old inode after the snapshot copied
	 * it: success, but the write stands only once a cluster fence sent
	 * after it names the same working vid.
	 */
	reply(i3, SD_RES_SUCCESS, 0);
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	CHECK(d3.calls == 0 && r && v->index[3] == V,
	      "index update racing the snapshot: waits for a cluster fence",
	      "calls %d r %p", d3.calls, (void *)r);
	if (!r)
		goto out;
	reply_lookup(r, SD_RES_SUCCESS, W);
	CHECK(d3.calls == 0,
	      "cluster fence names another vid: the write is not acknowledged",
	      "calls %d", d3.calls);
	reply(c2, SD_RES_READONLY, 0);
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	CHECK(r && nr_pending == 1 && r->hdr.vdi.snapid == 0 &&
	      r->hdr.data_length == 512 && r->out_iov &&
	      !strcmp((const char *)r->out_iov[0].iov_base, "vol0") &&
	      ((const char *)r->out_iov[0].iov_base)[256] == 0,
	      "drained: one GET_VDI_INFO(name, no tag, snapid 0)",
	      "r %p pending %d", (void *)r, nr_pending);
	if (!r)
		goto out;
	reply_lookup(r, SD_RES_SUCCESS, W);
	r = find_req(SD_OP_LOCK_VDI, 0);
	CHECK(r && r->hdr.vdi.type == SD_LOCK_TYPE_NORMAL && nr_pending == 1,
	      "new vid: LOCK_VDI with the handle's lock type", "r %p",
	      (void *)r);
	if (!r)
		goto out;
	reply_lookup(r, SD_RES_SUCCESS, W);
	r = find_req(SD_OP_READ_OBJ, 0);
	CHECK(r && r->hdr.obj.oid == sd_vid_to_vdi_oid(W) &&
	      r->hdr.obj.offset == 0 &&
	      r->hdr.data_length == SD_INODE_REFRESH_SIZE + 4,
	      "locked: header + index read of the new inode", "r %p", (void *)r);
	if (!r)
		goto out;
	fake_inode_make(W, 16 * (uint64_t)OBJ, SH, 0, snapidx, 16, false);
	reply_inode(r, SD_RES_SUCCESS);
	CHECK(sd_vdi_vid(v) == W && v->index[0] == V && v->index[3] == V,
	      "reloaded: new vid, inherited entries, entry 3 kept",
	      "vid %#x idx0 %#x idx3 %#x", sd_vdi_vid(v), v->index[0],
	      v->index[3]);
	r = find_req(SD_OP_RELEASE_VDI, 0);
	CHECK(r && r->hdr.vdi.base_vdi_id == V &&
	      r->hdr.vdi.type == SD_LOCK_TYPE_NORMAL,
	      "old vid's lock released", "r %p", (void *)r);
	/*
	 * Rule 5: entry 3 was lost by the snapshot copy.  Publishing V in W's
	 * index would share V's object without a reference (real sheep then
	 * deletes it with the snapshot), so it is copied into W first.
	 */
	CHECK(!find_index_write(W, 3),
	      "rule 5: no foreign vid published in the new inode",
	      "index write of entry 3 before the copy");
	r = find_create_of(sd_vid_to_data_oid(W, 3));
	CHECK(r && (r->hdr.flags & SD_FLAG_CMD_COW) &&
	      r->hdr.obj.cow_oid == sd_vid_to_data_oid(V, 3) &&
	      r->hdr.data_length == 0 && v->index[3] == V,
	      "rule 5: entry 3 (lost by the snapshot copy) copied into W",
	      "r %p", (void *)r);
	if (r) {
		reply(r, SD_RES_SUCCESS, 0);
		r = find_index_write(W, 3);
		CHECK(r && index_entry_of(r) == W && r->hdr.data_length == 4,
		      "rule 5: then entry 3 published as W's own object",
		      "r %p", (void *)r);
	}
	r = find_create_of(sd_vid_to_data_oid(W, 0));
	c2 = find_create_of(sd_vid_to_data_oid(W, 2));
	CHECK(r && c2 && r->hdr.obj.oid == sd_vid_to_data_oid(W, 0) &&
	      (r->hdr.flags & SD_FLAG_CMD_COW) &&
	      r->hdr.obj.cow_oid == sd_vid_to_data_oid(V, 0) &&
	      c2->hdr.obj.oid == sd_vid_to_data_oid(W, 2) &&
	      !(c2->hdr.flags & SD_FLAG_CMD_COW),
	      "re-dispatched: COW create from the old vid, create of the hole",
	      "r %p c2 %p", (void *)r, (void *)c2);
	drive(100);
	CHECK(d0.calls == 1 && !d0.err && d0b.calls == 1 && !d0b.err &&
	      d2.calls == 1 && !d2.err && v->index[0] == W &&
	      v->index[2] == W && v->index[3] == W && v->gates.nr_closed == 0,
	      "after the reload every write completes on the new vid",
	      "d0 %d/%d d0b %d/%d d2 %d/%d idx %#x %#x %#x", d0.calls, d0.err,
	      d0b.calls, d0b.err, d2.calls, d2.err, v->index[0], v->index[2],
	      v->index[3]);
out:
	while (nr_pending && guard++ < 200)
		reply(pending[0], SD_RES_SUCCESS, 0);
	sd_vdi_close(v);
}

/* a 512-byte write at @off through @v, reported to @d */
static void write_512(struct sd_vdi *v, uint64_t off, struct done_rec *d)
{
	static uint8_t a[512];
	struct iovec ia = { a, sizeof(a) };

	sd_vdi_aio_write(v, &ia, 1, off, 0, rec_done, d);
}

static void case_readonly_failures(void)
{
	struct sd_vdi *v = open_std();
	struct done_rec d = { 0, 0 };
	struct sd_request *r;

	/* the new vid is locked by someone else: the write fails -EBUSY */
	write_512(v, 0, &d);
	reply(find_req(SD_OP_WRITE_OBJ, 0), SD_RES_READONLY, 0);
	if ((r = find_req(SD_OP_GET_VDI_INFO, 0)))
		reply_lookup(r, SD_RES_SUCCESS, W);
	r = find_req(SD_OP_LOCK_VDI, 0);
	if (r)
		reply_lookup(r, SD_RES_VDI_LOCKED, 0);
	CHECK(r && d.calls == 1 && d.err == -EBUSY && sd_vdi_vid(v) == V &&
	      nr_pending == 0 && v->rl.state == SD_RELOAD_IDLE,
	      "READONLY, lock re-take fails: write fails with -EBUSY",
	      "calls %d err %d vid %#x", d.calls, d.err, sd_vdi_vid(v));

	/* the server names the same vid as working: -EROFS */
	d.calls = 0;
	write_512(v, 0, &d);
	reply(find_req(SD_OP_WRITE_OBJ, 0), SD_RES_READONLY, 0);
	if ((r = find_req(SD_OP_GET_VDI_INFO, 0)))
		reply_lookup(r, SD_RES_SUCCESS, V);
	CHECK(d.calls == 1 && d.err == -EROFS && nr_pending == 0,
	      "READONLY but the working vid is unchanged: -EROFS",
	      "calls %d err %d", d.calls, d.err);
	sd_vdi_close(v);
}

/*
 * A first write whose index update a snapshot's rewrite of the inode
 * swallowed (sheep/vdi.c snapshot_vdi() writes back the copy it read):
 * the update answers SUCCESS, but the cluster fence after it names the new
 * working vid, so the write is not acknowledged until it is made again
 * there (the new inode's index has no entry 5).
 */
static void case_publish_swallowed(void)
{
	struct sd_vdi *v = open_std();
	struct done_rec d = { 0, 0 };
	uint32_t snapidx[16] = { V, P, 0 };
	struct sd_request *r;

	write_512(v, 5 * (uint64_t)OBJ, &d);
	if ((r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0)))
		reply(r, SD_RES_SUCCESS, 0);
	if ((r = find_index_write(V, 5)))
		reply(r, SD_RES_SUCCESS, 0);
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	CHECK(r && d.calls == 0 && nr_pending == 1,
	      "swallowed publish: a published first write waits for a "
	      "cluster fence", "r %p calls %d", (void *)r, d.calls);
	if (!r)
		goto out;
	/* the snapshot ran between the create and the fence */
	fake_inode_make(W, 16 * (uint64_t)OBJ, SH, 0, snapidx, 16, false);
	reply_lookup(r, SD_RES_SUCCESS, W);
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	CHECK(r && d.calls == 0,
	      "swallowed publish: the fence names another vid, the working "
	      "vid is looked up", "r %p calls %d", (void *)r, d.calls);
	drive(100);
	CHECK(sd_vdi_vid(v) == W && d.calls == 1 && !d.err &&
	      v->index[5] == W && v->gates.nr_closed == 0,
	      "swallowed publish: written again and published on the new vid",
	      "vid %#x calls %d err %d idx %#x", sd_vdi_vid(v), d.calls, d.err,
	      v->index[5]);
out:
	drive(100);
	sd_vdi_close(v);
}


/* ---- growth ------------------------------------------------------------- */

/* the pending 8-byte read of the vdi_size of inode @vid */
static struct sd_request *find_size_read(uint32_t vid)
{
	return find_pending(match_inode_read, vid,
			    ((uint64_t)SD_INODE_OFF_VDI_SIZE << 32) | 8);
}

/* fire the pending timer; then the size read of @vid must be pending */
static struct sd_request *tick(uint32_t vid)
{
	struct sd_request *t = find_timer();

	if (!t)
		return NULL;
	reply(t, SD_RES_SUCCESS, 0);
	return find_size_read(vid);
}

static int nr_timers(void)
{
	int i, n = 0;

	for (i = 0; i < nr_pending; i++)
		n += is_timer(pending[i]);
	return n;
}

/* the poll: every SD_SIZE_POLL_MS an 8-byte read; grow only */
static void case_size_watch(void)
{
	struct sd_vdi *v = open_std();
	struct done_rec d = { 0, 0 };
	static uint8_t buf[4096];
	struct iovec io = { buf, sizeof(buf) };
	struct sd_request *r, *t;
	uint64_t run = 0;
	bool alloc = true;

	CHECK(sd_vdi_watch_size(v) == 0 && sd_vdi_watch_size(v) == 0,
	      "watch: started (twice is fine)", "%s", sd_get_error());
	t = find_timer();
	CHECK(t && nr_timers() == 1 && nr_pending == 1 &&
	      t->deadline_ns == T_NOW_START + SD_SIZE_POLL_MS * UINT64_C(1000000),
	      "watch: one timer, SD_SIZE_POLL_MS away, nothing sent yet",
	      "pending %d timers %d", nr_pending, nr_timers());
	r = tick(V);
	CHECK(r && !(r->hdr.flags & SD_FLAG_CMD_TGT) && nr_pending == 1,
	      "watch: the tick reads the 8-byte vdi_size (no TGT flag: never "
	      "INODE_INVALIDATED)", "r %p pending %d", (void *)r, nr_pending);
	if (!r)
		goto out;
	sd_put_le64(fake_inode + SD_INODE_OFF_VDI_SIZE, 20 * (uint64_t)OBJ);
	reply_inode(r, SD_RES_SUCCESS);
	CHECK(sd_vdi_size(v) == 20 * (uint64_t)OBJ && v->nr_objs == 20 &&
	      v->index[0] == V && v->index[1] == P && v->index[16] == 0 &&
	      v->index[19] == 0 && find_timer(),
	      "watch: a larger size grows the handle; the next tick is armed",
	      "size %llu objs %u", (unsigned long long)sd_vdi_size(v),
	      v->nr_objs);
	CHECK(sd_vdi_aio_read(v, &io, 1, 19 * (uint64_t)OBJ, rec_done, &d) == 0 &&
	      d.calls == 1 && !d.err,
	      "watch: a read in the new space (a hole) completes",
	      "calls %d err %d", d.calls, d.err);
	CHECK(sd_vdi_aio_read(v, &io, 1, 20 * (uint64_t)OBJ, rec_done, &d) ==
	      -EINVAL, "watch: past the new end still refused", "%s",
	      sd_get_error());
	CHECK(sd_vdi_block_status(v, 19 * (uint64_t)OBJ, OBJ, &run, &alloc) ==
	      0 && run == OBJ && !alloc, "watch: block status of the new space",
	      "run %llu", (unsigned long long)run);

	r = tick(V);
	sd_put_le64(fake_inode + SD_INODE_OFF_VDI_SIZE, 8 * (uint64_t)OBJ);
	if (r)
		reply_inode(r, SD_RES_SUCCESS);
	CHECK(r && sd_vdi_size(v) == 20 * (uint64_t)OBJ && v->nr_objs == 20,
	      "watch: a smaller size is ignored", "size %llu",
	      (unsigned long long)sd_vdi_size(v));
	r = tick(V);
	if (r)
		reply_inode(r, SD_RES_EIO);
	CHECK(r && sd_vdi_size(v) == 20 * (uint64_t)OBJ && find_timer() &&
	      nr_pending == 1, "watch: a failed read keeps the size and ticks on",
	      "pending %d", nr_pending);
	r = tick(V);
	if (r)
		fail_req(r, -ETIMEDOUT);
	CHECK(r && find_timer() && nr_pending == 1,
	      "watch: a lost read ticks on", "pending %d", nr_pending);
	sd_put_le64(fake_inode + SD_INODE_OFF_VDI_SIZE,
		    (UINT64_C(4) << 40) + OBJ);
	r = tick(V);
	if (r)
		reply_inode(r, SD_RES_SUCCESS);
	CHECK(r && sd_vdi_size(v) == 20 * (uint64_t)OBJ,
	      "watch: a size over 2^20 objects is ignored", "size %llu",
	      (unsigned long long)sd_vdi_size(v));
out:
	/* closed with the timer pending: detached; the tick frees it */
	sd_vdi_close(v);
	t = find_timer();
	if (t)
		reply(t, SD_RES_SUCCESS, 0);
	CHECK(t && nr_pending == 0,
	      "watch: a tick after close sends nothing (and frees the poll)",
	      "pending %d", nr_pending);
}

/* close with the read in flight; the client going away */
static void case_size_watch_close(void)
{
	struct sd_vdi *v = open_std();
	struct sd_request *r;

	sd_vdi_watch_size(v);
	r = tick(V);
	sd_vdi_close(v);
	CHECK(r && nr_pending == 1, "watch close: the read stays in flight",
	      "pending %d", nr_pending);
	if (r)
		reply_inode(r, SD_RES_SUCCESS);
	CHECK(nr_pending == 0, "watch close: its reply ends the poll",
	      "pending %d", nr_pending);

	v = open_std();
	sd_vdi_watch_size(v);
	if (find_timer())
		fail_req(find_timer(), -ECANCELED);
	CHECK(nr_pending == 0, "watch: the client cancels the timer: the poll "
	      "stops", "pending %d", nr_pending);
	sd_vdi_close(v);

	v = open_std();
	submit_fail = -ESHUTDOWN;
	CHECK(sd_vdi_watch_size(v) == -ESHUTDOWN && !v->watch,
	      "watch: a refused timer is an error", "%p", (void *)v->watch);
	submit_fail = 0;
	sd_vdi_close(v);
}

/* snapshots never grow; the handle must be the vid polled; no reload */
static void case_size_grow_rules(void)
{
	struct sd_vdi_open_args a = { .name = "vol0", .tag = "t1" };
	struct sd_vdi *v;
	uint32_t idx[16] = { V };

	fake_inode_make(V, 16 * (uint64_t)OBJ, SH, 0, idx, 16, true);
	v = NULL;
	CHECK(sd_vdi_open(fake_client, &a, &v) == 0 &&
	      sd_vdi_watch_size(v) == 0 && nr_pending == 0 && !v->watch,
	      "watch: a snapshot is not polled", "pending %d", nr_pending);
	sd_vdi_close(v);

	v = open_std();
	pthread_mutex_lock(&v->mu);
	sd_vdi_grow(v, W, 20 * (uint64_t)OBJ);
	CHECK(v->size == 16 * (uint64_t)OBJ, "grow: another vid's size is "
	      "ignored", "size %llu", (unsigned long long)v->size);
	v->rl.state = SD_RELOAD_DRAIN;
	sd_vdi_grow(v, V, 20 * (uint64_t)OBJ);
	CHECK(v->size == 16 * (uint64_t)OBJ, "grow: not while a reload runs "
	      "(its read may be older)", "size %llu",
	      (unsigned long long)v->size);
	v->rl.state = SD_RELOAD_IDLE;
	sd_vdi_grow(v, V, 16 * (uint64_t)OBJ + 512);
	CHECK(v->size == 16 * (uint64_t)OBJ + 512 && v->nr_objs == 17 &&
	      v->index[16] == 0, "grow: a partial object more", "objs %u",
	      v->nr_objs);
	pthread_mutex_unlock(&v->mu);
	sd_vdi_close(v);
}

/* sd_vdi_refresh_size(): one synchronous read */
static void case_size_refresh(void)
{
	struct sd_vdi *v = open_std();

	sd_put_le64(fake_inode + SD_INODE_OFF_VDI_SIZE, 32 * (uint64_t)OBJ);
	CHECK(sd_vdi_refresh_size(v) == 0 &&
	      sd_vdi_size(v) == 32 * (uint64_t)OBJ && v->nr_objs == 32 &&
	      last_inode_read.obj.offset == SD_INODE_OFF_VDI_SIZE &&
	      last_inode_read.data_length == 8,
	      "refresh: reads the size and grows", "size %llu",
	      (unsigned long long)sd_vdi_size(v));
	inode_result = SD_RES_EIO;
	sd_put_le64(fake_inode + SD_INODE_OFF_VDI_SIZE, 40 * (uint64_t)OBJ);
	CHECK(sd_vdi_refresh_size(v) == -EIO &&
	      sd_vdi_size(v) == 32 * (uint64_t)OBJ,
	      "refresh: an error keeps the size", "%s", sd_get_error());
	inode_result = SD_RES_SUCCESS;
	sd_vdi_close(v);
}

/* a reload (after a snapshot) of a larger inode adopts its size */
static void case_reload_grows(void)
{
	struct sd_vdi *v = open_std();
	struct done_rec d = { 0, 0 };
	uint32_t snapidx[24] = { V, P, 0 };
	struct sd_request *r;

	write_512(v, 0, &d);
	r = find_req(SD_OP_WRITE_OBJ, 0);
	fake_inode_make(W, 24 * (uint64_t)OBJ, SH, 0, snapidx, 24, false);
	if (r)
		reply(r, SD_RES_READONLY, 0);
	drive(100);
	CHECK(r && sd_vdi_vid(v) == W && d.calls == 1 && !d.err &&
	      sd_vdi_size(v) == 24 * (uint64_t)OBJ && v->nr_objs == 24,
	      "reload: the new inode's larger size is adopted",
	      "vid %#x calls %d size %llu", sd_vdi_vid(v), d.calls,
	      (unsigned long long)sd_vdi_size(v));
	drive(100);
	sd_vdi_close(v);
}

int main(void)
{
	static const struct t_case cases[] = {
		T_CASE(case_readonly_reload),
		T_CASE(case_readonly_failures),
		T_CASE(case_publish_swallowed),
		T_CASE(case_size_watch),
		T_CASE(case_size_watch_close),
		T_CASE(case_size_grow_rules),
		T_CASE(case_size_refresh),
		T_CASE(case_reload_grows),
	};

	return VDI_RUN(cases, vdi_reset, NULL);
}
