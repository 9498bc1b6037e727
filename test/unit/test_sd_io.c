// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_io.c - unit test of the data path (usr/lib/sd_io.c, layer 4)
 * against the fake connection layer of stub.h: requests are only recorded,
 * and each case completes them one by one, in any order, with any result,
 * and checks what the library sends next: one create per object, parked
 * writes, 4-byte index updates, copy-on-write, zero/discard handling,
 * flush ordering, errors and deadlines, block status, and the shared
 * (multipath) mode's claims, hole re-checks and fences.
 */
#include "vdi_fixture.h"

/* what the cases work with: one handle, completion records, requests */
static struct sd_vdi *v;
static struct done_rec d, d1, d2;
static struct sd_request *r, *f;

static void io_setup(void)
{
	vdi_reset();
	v = NULL;
	d = d1 = d2 = (struct done_rec){ 0, 0 };
	r = f = NULL;
}

/* answer what is left as a healthy sheep would, then close the handle */
static void io_teardown(void)
{
	drive(500);
	if (v)
		sd_vdi_close(v);
	v = NULL;
}

/* answer the cluster fences an index update sends, naming the same vid */
static void answer_fences(void)
{
	struct sd_request *q;

	while ((q = find_req(SD_OP_GET_VDI_INFO, 0)))
		reply_lookup(q, SD_RES_SUCCESS, fake_vid);
}

static void case_reads(void)
{
	struct sd_vdi *v = open_std();
	struct done_rec d = { 0, 0 };
	uint8_t *buf = malloc(3 * OBJ);
	struct iovec iov[2];
	struct sd_request *r0, *r1;
	uint64_t off = OBJ / 2;
	int ret, i, bad = 0;

	/* read of a hole: no request, zero-filled, done at once */
	memset(buf, 0xaa, 4096);
	iov[0] = (struct iovec){ buf, 4096 };
	ret = sd_vdi_aio_read(v, iov, 1, 2 * (uint64_t)OBJ + 100, rec_done, &d);
	CHECK(ret == 0 && d.calls == 1 && d.err == 0 && nr_pending == 0 &&
	      buf[0] == 0 && buf[4095] == 0, "read hole: zeros without I/O",
	      "ret %d calls %d pending %d", ret, d.calls, nr_pending);

	/* [0.5, 2.5) objects in two iovecs: owned 0, inherited 1, hole 2 */
	memset(buf, 0xaa, 2 * OBJ);
	iov[0] = (struct iovec){ buf, OBJ / 4 };
	iov[1] = (struct iovec){ buf + OBJ / 4, 2 * OBJ - OBJ / 4 };
	d.calls = 0;
	ret = sd_vdi_aio_read(v, iov, 2, off, rec_done, &d);
	r0 = find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(V, 0));
	r1 = find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(P, 1));
	CHECK(ret == 0 && nr_pending == 2 && r0 && r1,
	      "read: one READ_OBJ per allocated object, from the owner",
	      "ret %d pending %d", ret, nr_pending);
	if (!r0 || !r1)
		goto out;
	CHECK(r0->hdr.obj.offset == OBJ / 2 && r0->hdr.data_length == OBJ / 2 &&
	      r0->in_iovcnt == 2 && r0->in_iov[0].iov_base == buf &&
	      r0->in_iov[0].iov_len == OBJ / 4 &&
	      r0->in_iov[1].iov_base == buf + OBJ / 4 &&
	      r0->in_iov[1].iov_len == OBJ / 4,
	      "read: first piece straight into both caller iovecs",
	      "off %u len %u iovcnt %d", r0->hdr.obj.offset,
	      r0->hdr.data_length, r0->in_iovcnt);
	CHECK(r1->hdr.obj.offset == 0 && r1->hdr.data_length == OBJ &&
	      r1->in_iovcnt == 1 && r1->in_iov[0].iov_base == buf + OBJ / 2,
	      "read: second piece at buffer offset", "off %u len %u",
	      r1->hdr.obj.offset, r1->hdr.data_length);
	CHECK(r0->req_flags & SD_REQ_RESEND && r0->hdr.obj.copies == 3 &&
	      r0->hdr.flags == 0 &&
	      r0->deadline_ns == NOW_NS + (uint64_t)TIMEOUT_MS * 1000000 &&
	      r1->deadline_ns == r0->deadline_ns,
	      "read: resend flag, copies, deadline", "flags %#x copies %u",
	      r0->req_flags, r0->hdr.obj.copies);
	CHECK(buf[3 * OBJ / 2] == 0 && buf[2 * OBJ - 1] == 0,
	      "read: hole piece zero-filled", "not zero");
	reply(r1, SD_RES_SUCCESS, 0x11);
	CHECK(d.calls == 0, "read: not done after one of two pieces", "done");
	reply(r0, SD_RES_SUCCESS, 0x22);
	CHECK(d.calls == 1 && d.err == 0, "read: done once after all pieces",
	      "calls %d err %d", d.calls, d.err);
	for (i = 0; i < 2 * (int)OBJ; i++) {
		uint8_t want = i < (int)OBJ / 2 ? 0x22 : i < (int)OBJ * 3 / 2 ?
			       0x11 : 0;

		if (buf[i] != want)
			bad++;
	}
	CHECK(!bad, "read: data in place", "%d bytes wrong", bad);

	/* errors: result codes and connection errors pass through */
	iov[0] = (struct iovec){ buf, 2 * OBJ };
	d.calls = 0;
	sd_vdi_aio_read(v, iov, 1, 0, rec_done, &d);
	reply(find_req(SD_OP_READ_OBJ, 0), SD_RES_EIO, 0);
	fail_req(find_req(SD_OP_READ_OBJ, 0), -ETIMEDOUT);
	CHECK(d.calls == 1 && d.err == -EIO, "read: first error wins (EIO)",
	      "calls %d err %d", d.calls, d.err);
	d.calls = 0;
	sd_vdi_aio_read(v, iov, 1, 0, rec_done, &d);
	fail_req(find_req(SD_OP_READ_OBJ, 0), -ETIMEDOUT);
	reply(find_req(SD_OP_READ_OBJ, 0), SD_RES_SUCCESS, 0);
	CHECK(d.calls == 1 && d.err == -ETIMEDOUT, "read: -ETIMEDOUT passes",
	      "calls %d err %d", d.calls, d.err);

	/* range checks and empty reads */
	d.calls = 0;
	iov[0] = (struct iovec){ buf, 4096 };
	ret = sd_vdi_aio_read(v, iov, 1, 16 * (uint64_t)OBJ - 4095, rec_done, &d);
	CHECK(ret == -EINVAL && d.calls == 0 && nr_pending == 0,
	      "read past the end: -EINVAL", "%d", ret);
	iov[0] = (struct iovec){ buf, 0 };
	ret = sd_vdi_aio_read(v, iov, 1, 16 * (uint64_t)OBJ, rec_done, &d);
	CHECK(ret == 0 && d.calls == 1 && nr_pending == 0,
	      "read of 0 bytes completes at once", "%d calls %d", ret,
	      d.calls);
out:
	while (nr_pending)
		reply(pending[0], SD_RES_SUCCESS, 0);
	sd_vdi_close(v);
	free(buf);
}

/* owned object: plain WRITE_OBJ */
static void case_write_owned(void)
{
	static uint8_t a[8192];
	struct iovec ia = { a, sizeof(a) };

	v = open_std();
	memset(a, 0x5a, sizeof(a));
	sd_vdi_aio_write(v, &ia, 1, 4096, 0, rec_done, &d1);
	r = find_req(SD_OP_WRITE_OBJ, 0);
	CHECK(nr_pending == 1 && r && r->hdr.obj.oid == sd_vid_to_data_oid(V, 0) &&
	      r->hdr.obj.offset == 4096 && r->hdr.data_length == 8192 &&
	      r->hdr.flags == SD_FLAG_CMD_WRITE && r->out_iov[0].iov_base == a &&
	      (r->req_flags & SD_REQ_RESEND),
	      "write owned: one WRITE_OBJ from the caller buffer",
	      "pending %d", nr_pending);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);
	CHECK(d1.calls == 1 && d1.err == 0, "write owned: done", "calls %d",
	      d1.calls);
	while (nr_pending)
		reply(pending[0], SD_RES_SUCCESS, 0);
}

/* hole: create, and a second write to it parks */
static void case_write_hole_create(void)
{
	struct done_rec d3 = { 0, 0 };
	struct done_rec dr = { 0, 0 };
	static uint8_t a[8192];
	static uint8_t b[4096];
	static uint8_t rb[4096];
	struct iovec ia = { a, sizeof(a) };
	struct iovec ib = { b, sizeof(b) };
	struct iovec ir = { rb, sizeof(rb) };
	struct sd_request *idx;
	uint64_t o2 = 2 * (uint64_t)OBJ;

	v = open_std();
	memset(a, 0x5a, sizeof(a));
	sd_vdi_aio_write(v, &ia, 1, o2 + 100, 0, rec_done, &d1);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(nr_pending == 1 && r && r->hdr.obj.oid == sd_vid_to_data_oid(V, 2) &&
	      r->hdr.obj.offset == 100 && r->hdr.data_length == 8192 &&
	      !(r->hdr.flags & SD_FLAG_CMD_COW) &&
	      (r->hdr.flags & SD_FLAG_CMD_WRITE) && (r->req_flags & SD_REQ_RESEND),
	      "write hole: CREATE_AND_WRITE_OBJ without COW", "pending %d",
	      nr_pending);
	if (!r)
		return;
	sd_vdi_aio_write(v, &ib, 1, o2 + 50000, 0, rec_done, &d2);
	sd_vdi_aio_write(v, &ib, 1, o2 + 90000, 0, rec_done, &d3);
	CHECK(nr_pending == 1, "write during create: parked (no request)",
	      "pending %d", nr_pending);
	sd_vdi_aio_read(v, &ir, 1, o2 + 100, rec_done, &dr);
	CHECK(dr.calls == 1 && nr_pending == 1,
	      "read during create: does not wait (old index: hole)",
	      "calls %d pending %d", dr.calls, nr_pending);

	reply(r, SD_RES_SUCCESS, 0);
	idx = find_req(SD_OP_WRITE_OBJ, 0);
	CHECK(nr_pending == 1 && idx && idx->hdr.obj.oid == sd_vid_to_vdi_oid(V) &&
	      idx->hdr.obj.offset == 4664 + 4 * 2 && idx->hdr.data_length == 4 &&
	      out_len(idx) == 4 && index_entry_of(idx) == V &&
	      (idx->req_flags & SD_REQ_RESEND),
	      "create done: 4-byte index update of entry 2 only",
	      "pending %d off %u len %u", nr_pending,
	      idx ? idx->hdr.obj.offset : 0, idx ? idx->hdr.data_length : 0);
	CHECK(d1.calls == 0 && v->index[2] == 0,
	      "create done: not complete before the index update",
	      "calls %d index %#x", d1.calls, v->index[2]);
	if (!idx)
		return;
	reply(idx, SD_RES_SUCCESS, 0);
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	CHECK(d1.calls == 0 && nr_pending == 1 && r && v->index[2] == V,
	      "index update done: the write waits for a cluster fence, its "
	      "parked writes too", "calls %d pending %d", d1.calls, nr_pending);
	if (!r)
		return;
	reply_lookup(r, SD_RES_SUCCESS, V);
	CHECK(d1.calls == 1 && d1.err == 0 && v->index[2] == V,
	      "index update done: write complete, index updated",
	      "calls %d index %#x", d1.calls, v->index[2]);
	CHECK(nr_pending == 2 && find_req(SD_OP_WRITE_OBJ, 0) &&
	      find_req(SD_OP_WRITE_OBJ, 1) &&
	      find_req(SD_OP_WRITE_OBJ, 0)->hdr.obj.oid == sd_vid_to_data_oid(V, 2) &&
	      find_req(SD_OP_WRITE_OBJ, 0)->hdr.obj.offset == 50000 &&
	      find_req(SD_OP_WRITE_OBJ, 1)->hdr.obj.offset == 90000,
	      "parked writes re-sent as WRITE_OBJ in order", "pending %d",
	      nr_pending);
	reply(pending[1], SD_RES_SUCCESS, 0);
	reply(pending[0], SD_RES_SUCCESS, 0);
	CHECK(d2.calls == 1 && d3.calls == 1 && !d2.err && !d3.err,
	      "parked writes complete", "%d %d", d2.calls, d3.calls);
	CHECK(v->gates.nr_closed == 0, "no gate left closed", "%u",
	      v->gates.nr_closed);
}

/* inherited object: COW create */
static void case_write_inherited_cow(void)
{
	static uint8_t b[4096];
	struct iovec ib = { b, sizeof(b) };
	struct sd_request *idx;

	v = open_std();
	sd_vdi_aio_write(v, &ib, 1, OBJ + 8192, 0, rec_done, &d1);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(r && r->hdr.obj.oid == sd_vid_to_data_oid(V, 1) &&
	      (r->hdr.flags & SD_FLAG_CMD_COW) &&
	      r->hdr.obj.cow_oid == sd_vid_to_data_oid(P, 1) &&
	      r->hdr.obj.offset == 8192,
	      "write inherited: COW create from the parent object",
	      "flags %#x", r ? r->hdr.flags : 0);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);
	if ((idx = find_req(SD_OP_WRITE_OBJ, 0)))
		reply(idx, SD_RES_SUCCESS, 0);
	answer_fences();
	CHECK(d1.calls == 1 && v->index[1] == V, "COW write: index now owned",
	      "calls %d index %#x", d1.calls, v->index[1]);
	while (nr_pending)
		reply(pending[0], SD_RES_SUCCESS, 0);
}

static void case_create_errors(void)
{
	static uint8_t a[4096];
	struct iovec ia = { a, sizeof(a) };
	uint64_t o3 = 3 * (uint64_t)OBJ;

	v = open_std();
	sd_vdi_aio_write(v, &ia, 1, o3, 0, rec_done, &d1);
	sd_vdi_aio_write(v, &ia, 1, o3 + 4096, 0, rec_done, &d2);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	if (r)
		reply(r, SD_RES_NO_SPACE, 0);
	CHECK(d1.calls == 1 && d1.err == -ENOSPC && v->index[3] == 0,
	      "create NO_SPACE: -ENOSPC, index unchanged", "calls %d err %d",
	      d1.calls, d1.err);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(nr_pending == 1 && r && r->hdr.obj.offset == 4096,
	      "parked write retries the create itself", "pending %d",
	      nr_pending);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);
	r = find_req(SD_OP_WRITE_OBJ, 0);
	if (r)
		reply(r, SD_RES_EIO, 0);
	CHECK(d2.calls == 1 && d2.err == -EIO && v->index[3] == 0 &&
	      v->gates.nr_closed == 0,
	      "index update EIO: -EIO, index unchanged, gate open",
	      "calls %d err %d", d2.calls, d2.err);

	/* connection error on create: uncertain, gated until re-checked */
	d1.calls = 0;
	sd_vdi_aio_write(v, &ia, 1, o3, 0, rec_done, &d1);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	if (r)
		fail_req(r, -ETIMEDOUT);
	r = find_req(SD_OP_READ_OBJ, 0);
	CHECK(d1.calls == 1 && d1.err == -ETIMEDOUT && v->gates.nr_closed == 1 &&
	      r && r->hdr.obj.oid == sd_vid_to_vdi_oid(V) &&
	      r->hdr.obj.offset == 4664 + 12 && r->hdr.data_length == 4,
	      "create timeout: error passes, gate stays closed for a re-check",
	      "err %d closed %u r %p", d1.err, v->gates.nr_closed, (void *)r);
	if (r)
		reply_inode(r, SD_RES_SUCCESS);
	CHECK(v->gates.nr_closed == 0 && v->index[3] == 0 && nr_pending == 0,
	      "re-check of a lost create: entry 0, gate open", "closed %u",
	      v->gates.nr_closed);

	/* submit refused up front */
	d1.calls = 0;
	submit_fail = -ECANCELED;
	sd_vdi_aio_write(v, &ia, 1, o3, 0, rec_done, &d1);
	submit_fail = 0;
	CHECK(d1.calls == 1 && d1.err == -ECANCELED && v->gates.nr_closed == 0,
	      "submit failure completes with its error", "calls %d err %d",
	      d1.calls, d1.err);
	while (nr_pending)
		reply(pending[0], SD_RES_SUCCESS, 0);
}

static void case_multi_piece(void)
{
	struct sd_vdi *v = open_std();
	struct done_rec d = { 0, 0 };
	uint8_t *buf = malloc(3 * OBJ);
	struct iovec iov = { buf, OBJ + 8192 };
	struct sd_request *c4, *c5, *w0, *i4, *i5;

	/* [4 - 4K, 5 + 4K) objects: holes 3 (tail), 4 (whole), 5 (head) */
	sd_vdi_aio_write(v, &iov, 1, 4 * (uint64_t)OBJ - 4096, 0, rec_done, &d);
	CHECK(nr_pending == 3 && find_req(SD_OP_CREATE_AND_WRITE_OBJ, 2),
	      "3-object write: three creates in flight", "pending %d",
	      nr_pending);
	c4 = find_oid(SD_OP_CREATE_AND_WRITE_OBJ, sd_vid_to_data_oid(V, 4));
	c5 = find_oid(SD_OP_CREATE_AND_WRITE_OBJ, sd_vid_to_data_oid(V, 5));
	CHECK(c4 && c5 && c4->hdr.data_length == OBJ &&
	      c4->out_iov[0].iov_base == buf + 4096 && c5->hdr.obj.offset == 0 &&
	      c5->hdr.data_length == 4096,
	      "3-object write: pieces from the right buffer offsets", "bad");
	if (!c4 || !c5)
		goto out;
	/* complete in reverse order, neighbours' index updates separate */
	reply(c5, SD_RES_SUCCESS, 0);
	reply(c4, SD_RES_SUCCESS, 0);
	i4 = find_oid(SD_OP_WRITE_OBJ, sd_vid_to_vdi_oid(V));
	i5 = find_req(SD_OP_WRITE_OBJ, 1);
	CHECK(i4 && i5 && i4->hdr.data_length == 4 && i5->hdr.data_length == 4 &&
	      ((i4->hdr.obj.offset == 4664 + 20 && i5->hdr.obj.offset == 4664 + 16) ||
	       (i4->hdr.obj.offset == 4664 + 16 && i5->hdr.obj.offset == 4664 + 20)),
	      "neighbour creates: one 4-byte index write each",
	      "%u %u", i4 ? i4->hdr.obj.offset : 0, i5 ? i5->hdr.obj.offset : 0);
	if (i4 && i5) {
		reply(i5, SD_RES_SUCCESS, 0);
		reply(i4, SD_RES_SUCCESS, 0);
	}
	CHECK(d.calls == 0, "3-object write: waits for its last piece",
	      "calls %d", d.calls);
	w0 = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	if (w0)
		reply(w0, SD_RES_SUCCESS, 0);
	if ((w0 = find_req(SD_OP_WRITE_OBJ, 0)))
		reply(w0, SD_RES_SUCCESS, 0);
	answer_fences();
	CHECK(d.calls == 1 && !d.err && v->index[3] == V && v->index[4] == V &&
	      v->index[5] == V, "3-object write: done once, all owned",
	      "calls %d", d.calls);
out:
	while (nr_pending)
		reply(pending[0], SD_RES_SUCCESS, 0);
	sd_vdi_close(v);
	free(buf);
}

static void case_zero_discard(void)
{
	v = open_std();
	/* discard: whole owned 0 -> entry 0, partial inherited 1 -> zeros,
	 * partial hole 2 -> nothing */
	v->index[2] = 0;
	sd_vdi_aio_discard(v, 0, OBJ + 8192, rec_done, &d);
	r = find_oid(SD_OP_WRITE_OBJ, sd_vid_to_vdi_oid(V));
	CHECK(r && r->hdr.obj.offset == 4664 && r->hdr.data_length == 4 &&
	      index_entry_of(r) == 0, "discard whole object: index entry 0",
	      "r %p", (void *)r);
	{
		struct sd_request *c = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);

		CHECK(nr_pending == 2 && c && c->hdr.obj.offset == 0 &&
		      c->hdr.data_length == 8192 && out_all(c, 0) &&
		      (c->hdr.flags & SD_FLAG_CMD_COW),
		      "discard partial inherited: COW zero write",
		      "pending %d", nr_pending);
		if (r)
			reply(r, SD_RES_SUCCESS, 0);
		CHECK(v->index[0] == 0, "discard: index cleared after reply",
		      "%#x", v->index[0]);
		if (c)
			reply(c, SD_RES_SUCCESS, 0);
		if ((c = find_req(SD_OP_WRITE_OBJ, 0)))
			reply(c, SD_RES_SUCCESS, 0);
		answer_fences();
	}
	CHECK(d.calls == 1 && !d.err && nr_pending == 0, "discard: done",
	      "calls %d pending %d", d.calls, nr_pending);

	/* discard of holes: nothing sent */
	d.calls = 0;
	sd_vdi_aio_discard(v, 6 * (uint64_t)OBJ + 5, 3 * (uint64_t)OBJ, rec_done, &d);
	CHECK(d.calls == 1 && nr_pending == 0, "discard of holes: no I/O",
	      "pending %d", nr_pending);

	/* zero without unmap of a whole hole: create with shared zeros */
	d.calls = 0;
	sd_vdi_aio_zero(v, 7 * (uint64_t)OBJ, OBJ, 0, rec_done, &d);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(r && r->hdr.data_length == OBJ && out_len(r) == OBJ &&
	      r->out_iov[0].iov_base == (void *)sd_zero_buf,
	      "zero without unmap: writes zeros from the shared buffer",
	      "r %p", (void *)r);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);
	if ((r = find_req(SD_OP_WRITE_OBJ, 0)))
		reply(r, SD_RES_SUCCESS, 0);
	answer_fences();
	CHECK(d.calls == 1 && v->index[7] == V, "zero: allocates", "%#x",
	      v->index[7]);

	/* zero with unmap on an owned partial piece: WRITE_OBJ zeros */
	d.calls = 0;
	sd_vdi_aio_zero(v, 7 * (uint64_t)OBJ + 512, 1024, SD_IO_UNMAP, rec_done,
			&d);
	r = find_req(SD_OP_WRITE_OBJ, 0);
	CHECK(r && r->hdr.obj.oid == sd_vid_to_data_oid(V, 7) &&
	      r->hdr.data_length == 1024 && out_all(r, 0),
	      "unmap partial owned: WRITE_OBJ of zeros", "r %p", (void *)r);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);

	/* a write to an object being unmapped parks until the entry is 0 */
	d.calls = 0;
	{
		struct done_rec dw = { 0, 0 };
		static uint8_t a[512];
		struct iovec ia = { a, sizeof(a) };

		sd_vdi_aio_discard(v, 7 * (uint64_t)OBJ, OBJ, rec_done, &d);
		sd_vdi_aio_write(v, &ia, 1, 7 * (uint64_t)OBJ, 0, rec_done, &dw);
		CHECK(nr_pending == 1, "write during unmap: parked", "%d",
		      nr_pending);
		reply(find_req(SD_OP_WRITE_OBJ, 0), SD_RES_SUCCESS, 0);
		answer_fences();
		r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
		CHECK(d.calls == 1 && v->index[7] == 0 && r &&
		      !(r->hdr.flags & SD_FLAG_CMD_COW),
		      "after unmap the parked write creates a fresh object",
		      "calls %d index %#x", d.calls, v->index[7]);
		drive(20);
		CHECK(dw.calls == 1 && v->index[7] == V, "parked write done",
		      "%d", dw.calls);
	}
}

/* more pieces than slots: the window refills until the whole range ran */
static void case_big_discard(void)
{
	struct sd_vdi_open_args a = { .name = "vol0", .lock = SD_LOCK_NONE };
	uint32_t *idx = malloc(300 * sizeof(*idx));
	struct done_rec d = { 0, 0 };
	struct sd_vdi *v;
	int i, max_pending = 0, bad = 0;

	for (i = 0; i < 300; i++)
		idx[i] = (i % 3) ? V : 0;
	fake_inode_make(V, 300 * (UINT64_C(1) << 20), 20, 0, idx, 300, false);
	if (sd_vdi_open(fake_client, &a, &v)) {
		CHECK(0, "big discard: open", "%s", sd_get_error());
		free(idx);
		return;
	}
	sd_vdi_aio_discard(v, 0, 300 * (UINT64_C(1) << 20), rec_done, &d);
	while (nr_pending) {
		r = pending[nr_pending - 1];
		if (nr_pending > max_pending)
			max_pending = nr_pending;
		if (r->hdr.opcode == SD_OP_GET_VDI_INFO) {
			/* the cluster fence of index updates */
			reply_lookup(r, SD_RES_SUCCESS, V);
			continue;
		}
		if (r->hdr.data_length != 4)
			bad++;
		reply(r, SD_RES_SUCCESS, 0);
	}
	for (i = 0; i < 300; i++)
		if (v->index[i])
			bad++;
	CHECK(d.calls == 1 && !d.err && !bad && max_pending <= IO_SLOTS_MAX,
	      "big discard: 300 objects through a bounded window",
	      "calls %d bad %d max pending %d", d.calls, bad, max_pending);
	sd_vdi_close(v);
	free(idx);
}

static void case_flush(void)
{
	struct done_rec dw = { 0, 0 }, df = { 0, 0 }, df2 = { 0, 0 };
	static uint8_t a[4096];
	struct iovec ia = { a, sizeof(a) };
	struct sd_request *w, *f;

	v = open_std();
	sd_vdi_aio_write(v, &ia, 1, 0, 0, rec_done, &dw);
	sd_vdi_aio_flush(v, rec_done, &df);
	CHECK(nr_pending == 1 && df.calls == 0,
	      "flush waits for the write accepted before it", "pending %d",
	      nr_pending);
	w = find_req(SD_OP_WRITE_OBJ, 0);
	if (w)
		reply(w, SD_RES_SUCCESS, 0);
	f = find_req(SD_OP_FLUSH_VDI, 0);
	CHECK(dw.calls == 1 && f && f->hdr.vdi.base_vdi_id == V &&
	      f->hdr.data_length == 0,
	      "FLUSH_VDI sent once the write completed", "f %p", (void *)f);
	if (f)
		reply(f, SD_RES_INVALID_PARMS, 0);
	CHECK(df.calls == 1 && df.err == 0, "INVALID_PARMS flush: success",
	      "calls %d err %d", df.calls, df.err);
	sd_vdi_aio_flush(v, rec_done, &df2);
	CHECK(df2.calls == 1 && nr_pending == 0,
	      "after INVALID_PARMS flushes complete at once",
	      "calls %d pending %d", df2.calls, nr_pending);
	sd_vdi_close(v);

	/* FUA: write, then flush, then done; a later write does not block */
	v = open_std();
	dw.calls = df.calls = 0;
	sd_vdi_aio_write(v, &ia, 1, 0, SD_IO_FUA, rec_done, &dw);
	w = find_req(SD_OP_WRITE_OBJ, 0);
	if (w)
		reply(w, SD_RES_SUCCESS, 0);
	f = find_req(SD_OP_FLUSH_VDI, 0);
	CHECK(f && dw.calls == 0, "FUA write: flush before done", "f %p",
	      (void *)f);
	if (f)
		reply(f, SD_RES_SUCCESS, 0);
	CHECK(dw.calls == 1 && dw.err == 0, "FUA write: done after flush",
	      "calls %d", dw.calls);

	/* a flush does not wait for writes accepted after it */
	dw.calls = df.calls = 0;
	sd_vdi_aio_flush(v, rec_done, &df);
	sd_vdi_aio_write(v, &ia, 1, 0, 0, rec_done, &dw);
	f = find_req(SD_OP_FLUSH_VDI, 0);
	if (f)
		reply(f, SD_RES_NO_SUPPORT, 0);
	CHECK(df.calls == 1 && df.err == 0 && dw.calls == 0,
	      "flush ignores later writes; NO_SUPPORT = success",
	      "calls %d err %d", df.calls, df.err);
	while (nr_pending)
		reply(pending[0], SD_RES_SUCCESS, 0);
}

static void case_block_status(void)
{
	uint64_t run = 0;
	bool alloc = false;
	int ret;

	v = open_std();
	ret = sd_vdi_block_status(v, 0, 16 * (uint64_t)OBJ, &run, &alloc);
	CHECK(!ret && alloc && run == 2 * (uint64_t)OBJ,
	      "block status: owned + inherited run", "ret %d run %llu", ret,
	      (unsigned long long)run);
	ret = sd_vdi_block_status(v, 2 * (uint64_t)OBJ, 16 * (uint64_t)OBJ, &run,
				  &alloc);
	CHECK(!ret && !alloc && run == 14 * (uint64_t)OBJ,
	      "block status: hole run to the end (clamped)", "ret %d run %llu",
	      ret, (unsigned long long)run);
	ret = sd_vdi_block_status(v, 16 * (uint64_t)OBJ, 1, &run, &alloc);
	CHECK(ret == -EINVAL, "block status past the end: -EINVAL", "%d", ret);
}

/* TGT flag on object I/O; a write waits for a fence after it */
static void case_shared_write_fence(void)
{
	static uint8_t a[4096];
	struct iovec ia = { a, sizeof(a) };

	v = open_shared();
	sd_vdi_aio_write(v, &ia, 1, 0, 0, rec_done, &d);
	r = find_req(SD_OP_WRITE_OBJ, 0);
	CHECK(r && (r->hdr.flags & SD_FLAG_CMD_TGT) &&
	      (r->hdr.flags & SD_FLAG_CMD_WRITE),
	      "shared: WRITE_OBJ carries the TGT flag", "flags %#x",
	      r ? r->hdr.flags : 0);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);
	f = find_fence(V);
	CHECK(f && d.calls == 0 && nr_pending == 1,
	      "shared: a written piece waits for a fence sent after it",
	      "f %p calls %d pending %d", (void *)f, d.calls, nr_pending);
	if (f)
		reply_inode(f, SD_RES_SUCCESS);
	CHECK(d.calls == 1 && !d.err, "shared: clean fence, the write completes",
	      "calls %d err %d", d.calls, d.err);
}

/*
 * hole, still a hole on the server: zeros after a 4-byte check and a clean
 * fence
 */
static void case_shared_hole_read(void)
{
	static uint8_t rb[4096];
	struct iovec ir = { rb, sizeof(rb) };

	v = open_shared();
	memset(rb, 0xaa, sizeof(rb));
	d.calls = 0;
	sd_vdi_aio_read(v, &ir, 1, 2 * (uint64_t)OBJ, rec_done, &d);
	r = find_entry_read(V, 2);
	f = find_fence(V);
	CHECK(d.calls == 0 && nr_pending == 2 && r && r->hdr.data_length == 4 &&
	      (r->hdr.flags & SD_FLAG_CMD_TGT) && f &&
	      (f->hdr.flags & SD_FLAG_CMD_TGT),
	      "shared: hole read re-checks the index entry and sends a fence "
	      "(TGT)", "calls %d pending %d", d.calls, nr_pending);
	if (r)
		reply_inode(r, SD_RES_SUCCESS);
	CHECK(d.calls == 0, "shared: confirmed hole waits for its fence",
	      "calls %d", d.calls);
	if (f)
		reply_inode(f, SD_RES_SUCCESS);
	CHECK(d.calls == 1 && !d.err && rb[0] == 0 && rb[4095] == 0 &&
	      nr_pending == 0, "shared: clean fence, the hole reads zeros",
	      "calls %d", d.calls);
}

/* shared mode: another gateway allocated the hole */
static void case_shared_hole_allocated(void)
{
	static uint8_t rb[4096];
	struct iovec ir = { rb, sizeof(rb) };

	v = open_shared();
	sd_put_le32(fake_inode + sd_inode_index_offset(2), V);
	d.calls = 0;
	sd_vdi_aio_read(v, &ir, 1, 2 * (uint64_t)OBJ, rec_done, &d);
	if ((f = find_fence(V)))
		reply_inode(f, SD_RES_SUCCESS);
	if ((r = find_entry_read(V, 2)))
		reply_inode(r, SD_RES_SUCCESS);
	r = find_req(SD_OP_READ_OBJ, 0);
	CHECK(f && r && r->hdr.obj.oid == sd_vid_to_data_oid(V, 2) &&
	      v->index[2] == V, "shared: stale hole -> object read, index learnt",
	      "r %p idx %#x", (void *)r, v->index[2]);
	if (r)
		reply(r, SD_RES_SUCCESS, 0x33);
	CHECK(d.calls == 1 && rb[0] == 0x33, "shared: read returns the data",
	      "calls %d byte %#x", d.calls, rb[0]);
}

/* an inherited entry is re-checked too: another gateway copied it */
static void case_shared_inherited_recheck(void)
{
	static uint8_t rb[4096];
	struct iovec ir = { rb, sizeof(rb) };

	v = open_shared();
	sd_put_le32(fake_inode + sd_inode_index_offset(1), V);
	d.calls = 0;
	sd_vdi_aio_read(v, &ir, 1, 1 * (uint64_t)OBJ, rec_done, &d);
	r = find_entry_read(V, 1);
	CHECK(r && !find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(P, 1)),
	      "shared: an inherited read asks the server's entry first",
	      "r %p", (void *)r);
	if (r)
		reply_inode(r, SD_RES_SUCCESS);
	r = find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(V, 1));
	CHECK(r && v->index[1] == V,
	      "shared: copied elsewhere -> our object read, index learnt",
	      "r %p idx %#x", (void *)r, v->index[1]);
	drive(10);
	CHECK(d.calls == 1 && !d.err, "shared: inherited re-check read done",
	      "calls %d err %d", d.calls, d.err);
}

/* INODE_INVALIDATED on a write: refresh read, then redo */
static void case_shared_invalidated_write(void)
{
	static uint8_t a[4096];
	struct iovec ia = { a, sizeof(a) };

	v = open_shared();
	sd_put_le32(fake_inode + sd_inode_index_offset(4), V);
	d.calls = 0;
	sd_vdi_aio_write(v, &ia, 1, 4 * (uint64_t)OBJ + 100, 0, rec_done, &d);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(!r && find_claim(V, 4),
	      "shared: a first write asks for the object's claim, no create yet",
	      "create %p", (void *)r);
	if ((r = find_claim(V, 4)))
		reply_claim(r);
	r = find_entry_read(V, 4);
	CHECK(r && !(r->hdr.flags & SD_FLAG_CMD_TGT),
	      "shared: the claim reads the server's entry (no TGT)", "r %p",
	      (void *)r);
	if (r)
		reply_inode(r, SD_RES_SUCCESS);
	reply_releases();
	r = find_req(SD_OP_WRITE_OBJ, 0);
	CHECK(v->index[4] == V && r && r->hdr.obj.offset == 100 &&
	      !find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0),
	      "shared: allocated by another gateway: learnt, written as owner",
	      "idx4 %#x r %p", v->index[4], (void *)r);
	if (r)
		reply(r, SD_RES_INODE_INVALIDATED, 0);
	r = find_req(SD_OP_READ_OBJ, 0);
	CHECK(r && nr_pending == 1 && r->hdr.obj.oid == sd_vid_to_vdi_oid(V) &&
	      r->hdr.obj.offset == 0 &&
	      r->hdr.data_length == SD_INODE_REFRESH_SIZE,
	      "INVALIDATED: exact-size refresh read of the inode", "r %p",
	      (void *)r);
	if (r)
		reply_inode(r, SD_RES_SUCCESS);
	r = find_req(SD_OP_WRITE_OBJ, 0);
	CHECK(r && r->hdr.obj.offset == 100 && d.calls == 0,
	      "INVALIDATED: write redone", "r %p", (void *)r);
	drive(10);
	CHECK(d.calls == 1 && !d.err, "INVALIDATED: write completes",
	      "calls %d err %d", d.calls, d.err);
}

/*
 * first write of object 5 under its claim; INVALIDATED on the index update:
 * refresh, start over under a new claim
 */
static void case_shared_claim_create(void)
{
	static uint8_t a[4096];
	struct iovec ia = { a, sizeof(a) };

	v = open_shared();
	sd_vdi_aio_write(v, &ia, 1, 5 * (uint64_t)OBJ, 0, rec_done, &d);
	if ((r = find_claim(V, 5)))
		reply_claim(r);
	if ((r = find_entry_read(V, 5)))
		reply_inode(r, SD_RES_SUCCESS);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(r && r->hdr.obj.oid == sd_vid_to_data_oid(V, 5) &&
	      !(r->hdr.flags & SD_FLAG_CMD_COW),
	      "claim held, entry 0: create", "r %p", (void *)r);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);
	reply(find_index_write(V, 5), SD_RES_INODE_INVALIDATED, 0);
	sd_vdi_aio_write(v, &ia, 1, 5 * (uint64_t)OBJ + 8192, 0, rec_done, &d2);
	CHECK(!find_req(SD_OP_WRITE_OBJ, 0) && !find_claim(V, 5),
	      "claim: a second writer of the object is parked on its gate",
	      "pending %d", nr_pending);
	r = find_req(SD_OP_REMOVE_OBJ, 0);
	CHECK(r && (r->hdr.obj.oid & SD_VDI_ATTR_BIT),
	      "INVALIDATED index update: the claim is given back", "r %p",
	      (void *)r);
	reply_releases();
	if ((r = find_req(SD_OP_READ_OBJ, 0)))
		reply_inode(r, SD_RES_SUCCESS);
	r = find_claim(V, 5);
	CHECK(r && !find_index_write(V, 5),
	      "INVALIDATED index update: refreshed, the piece claims again",
	      "r %p pending %d", (void *)r, nr_pending);
	if (r)
		reply_claim(r);
	if ((r = find_entry_read(V, 5)))
		reply_inode(r, SD_RES_SUCCESS);
	if ((r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0)))
		reply(r, SD_RES_SUCCESS, 0);
	r = find_index_write(V, 5);
	CHECK(r && index_entry_of(r) == V, "claim: the entry is published",
	      "r %p", (void *)r);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	CHECK(r && d.calls == 0 && v->index[5] == V &&
	      find_req(SD_OP_REMOVE_OBJ, 0),
	      "published: the claim is released, a cluster fence is sent, "
	      "the write waits for it", "r %p calls %d", (void *)r, d.calls);
	if (r)
		reply_lookup(r, SD_RES_SUCCESS, V);
	CHECK(d.calls == 1 && !d.err,
	      "cluster fence with the same vid: the first write completes",
	      "calls %d err %d", d.calls, d.err);
	reply_releases();
	r = find_req(SD_OP_WRITE_OBJ, 0);
	CHECK(r && r->hdr.obj.oid == sd_vid_to_data_oid(V, 5),
	      "published: the parked write is a WRITE_OBJ", "r %p", (void *)r);
	drive(10);
	CHECK(d2.calls == 1 && !d2.err, "published: the parked write completes",
	      "calls %d err %d", d2.calls, d2.err);
}

/*
 * a whole-object discard of an owned object: under the claim, the entry is
 * cleared, then a cluster fence
 */
static void case_shared_discard(void)
{
	v = open_shared();
	v->index[5] = V;	/* owned */
	sd_vdi_aio_discard(v, 5 * (uint64_t)OBJ, OBJ, rec_done, &d);
	r = find_claim(V, 5);
	CHECK(r && !find_index_write(V, 5),
	      "shared discard: the object's claim first", "r %p", (void *)r);
	if (r)
		reply_claim(r);
	sd_put_le32(fake_inode + sd_inode_index_offset(5), V);
	if ((r = find_entry_read(V, 5)))
		reply_inode(r, SD_RES_SUCCESS);
	r = find_index_write(V, 5);
	CHECK(r && index_entry_of(r) == 0,
	      "shared discard: the entry is cleared under the claim", "r %p",
	      (void *)r);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);
	reply_releases();
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	CHECK(r && d.calls == 0 && v->index[5] == 0,
	      "shared discard: then a cluster fence", "r %p", (void *)r);
	if (r)
		reply_lookup(r, SD_RES_SUCCESS, V);
	CHECK(d.calls == 1 && !d.err && nr_pending == 0,
	      "shared discard: done", "calls %d err %d pending %d", d.calls,
	      d.err, nr_pending);
	sd_put_le32(fake_inode + sd_inode_index_offset(5), 0);
}

/*
 * INVALIDATED and the refreshed inode is a snapshot: move to W, re-taking
 * the shared lock; the write becomes a COW create on W under a claim on W
 */
static void case_shared_snapshot_move(void)
{
	static uint8_t a[4096];
	struct iovec ia = { a, sizeof(a) };

	v = open_shared();
	sd_vdi_aio_write(v, &ia, 1, 0, 0, rec_done, &d);
	reply(find_req(SD_OP_WRITE_OBJ, 0), SD_RES_INODE_INVALIDATED, 0);
	{
		uint32_t idx[16];
		int k;

		for (k = 0; k < 16; k++)
			idx[k] = v->index[k];
		fake_inode_make(V, 16 * (uint64_t)OBJ, SH, 0, idx, 16, true);
		if ((r = find_req(SD_OP_READ_OBJ, 0)))
			reply_inode(r, SD_RES_SUCCESS);
		if ((r = find_req(SD_OP_GET_VDI_INFO, 0)))
			reply_lookup(r, SD_RES_SUCCESS, W);
		r = find_req(SD_OP_LOCK_VDI, 0);
		CHECK(r && r->hdr.vdi.type == SD_LOCK_TYPE_SHARED,
		      "INVALIDATED + snapshot: shared LOCK_VDI on the name",
		      "r %p", (void *)r);
		if (r)
			reply_lookup(r, SD_RES_SUCCESS, W);
		fake_inode_make(W, 16 * (uint64_t)OBJ, SH, 0, idx, 16, false);
		if ((r = find_req(SD_OP_READ_OBJ, 0)))
			reply_inode(r, SD_RES_SUCCESS);
	}
	r = find_claim(W, 0);
	CHECK(sd_vdi_vid(v) == W && r,
	      "INVALIDATED + snapshot: the write claims object 0 of W",
	      "vid %#x r %p", sd_vdi_vid(v), (void *)r);
	if (r)
		reply_claim(r);
	if ((r = find_entry_read(W, 0)))
		reply_inode(r, SD_RES_SUCCESS);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(r && r->hdr.obj.oid == sd_vid_to_data_oid(W, 0) &&
	      (r->hdr.flags & SD_FLAG_CMD_TGT) &&
	      r->hdr.obj.cow_oid == sd_vid_to_data_oid(V, 0),
	      "INVALIDATED + snapshot: write becomes a COW create on W",
	      "r %p", (void *)r);
	drive(20);
	CHECK(d.calls == 1 && !d.err && nr_pending == 0,
	      "INVALIDATED + snapshot: write done", "calls %d err %d",
	      d.calls, d.err);
}

/*
 * a cluster fence that sees another working vid: the first write is written
 * again on the new vid
 */
static void case_shared_cfence_moved(void)
{
	static uint8_t a[4096];
	struct iovec ia = { a, sizeof(a) };

	v = open_vol0(W, SD_LOCK_SHARED);
	sd_vdi_aio_write(v, &ia, 1, 6 * (uint64_t)OBJ, 0, rec_done, &d);
	if ((r = find_claim(W, 6)))
		reply_claim(r);
	if ((r = find_entry_read(W, 6)))
		reply_inode(r, SD_RES_SUCCESS);
	if ((r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0)))
		reply(r, SD_RES_SUCCESS, 0);
	if ((r = find_index_write(W, 6)))
		reply(r, SD_RES_SUCCESS, 0);
	reply_releases();
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	if (r) {
		uint32_t idx[16] = { 0 };

		fake_inode_make(W, 16 * (uint64_t)OBJ, SH, 0, idx, 16, true);
		reply_lookup(r, SD_RES_SUCCESS, W + 1);
	}
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	CHECK(r && d.calls == 0,
	      "cluster fence saw a snapshot: the working vid is looked up",
	      "r %p calls %d", (void *)r, d.calls);
	if (r) {
		uint32_t idx[16] = { 0 };

		reply_lookup(r, SD_RES_SUCCESS, W + 1);
		if ((r = find_req(SD_OP_LOCK_VDI, 0)))
			reply_lookup(r, SD_RES_SUCCESS, W + 1);
		fake_inode_make(W + 1, 16 * (uint64_t)OBJ, SH, 0, idx, 16,
				false);
		if ((r = find_req(SD_OP_READ_OBJ, 0)))
			reply_inode(r, SD_RES_SUCCESS);
	}
	CHECK(sd_vdi_vid(v) == W + 1 && (find_claim(W + 1, 6) ||
					 find_req(SD_OP_GET_VDI_ATTR, 0)),
	      "snapshot under a first write: the object is claimed again on "
	      "the new vid", "vid %#x", sd_vdi_vid(v));
	drive(40);
	CHECK(d.calls == 1 && !d.err && v->index[6] == W + 1,
	      "snapshot under a first write: written again on the new vid",
	      "calls %d err %d idx %#x", d.calls, d.err, v->index[6]);
}

/*
 * shared mode read fences: an owned object's data read and its fence go out
 * together; a second read while the fence is in flight waits for the next
 * fence
 */
static void case_fence_one_in_flight(void)
{
	static uint8_t b1[4096];
	static uint8_t b2[4096];
	struct iovec i1 = { b1, sizeof(b1) };
	struct iovec i2 = { b2, sizeof(b2) };
	struct sd_request *r2;

	v = open_shared();
	sd_vdi_aio_read(v, &i1, 1, 0, rec_done, &d1);
	r = find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(V, 0));
	f = find_fence(V);
	CHECK(r && f && nr_pending == 2 && (f->hdr.flags & SD_FLAG_CMD_TGT) &&
	      !(f->hdr.flags & SD_FLAG_CMD_WRITE),
	      "fence: owned read sends the data read and one fence",
	      "pending %d", nr_pending);
	if (!r || !f)
		return;
	/* a second read while the fence is in flight: no second fence yet */
	sd_vdi_aio_read(v, &i2, 1, 8192, rec_done, &d2);
	r2 = find_req(SD_OP_READ_OBJ, 2);
	CHECK(nr_pending == 3 && r2 && r2->hdr.obj.offset == 8192,
	      "fence: a read during a fence does not send another",
	      "pending %d", nr_pending);
	if (!r2)
		return;
	reply(r, SD_RES_SUCCESS, 0x11);
	reply(r2, SD_RES_SUCCESS, 0x12);
	CHECK(d1.calls == 0 && d2.calls == 0,
	      "fence: reads with data wait for their fence", "d1 %d d2 %d",
	      d1.calls, d2.calls);
	reply_inode(f, SD_RES_SUCCESS);
	f = find_fence(V);
	CHECK(d1.calls == 1 && !d1.err && b1[0] == 0x11 && d2.calls == 0 && f &&
	      nr_pending == 1,
	      "fence: clean, the first read completes, the next fence goes out",
	      "d1 %d/%d d2 %d pending %d", d1.calls, d1.err, d2.calls,
	      nr_pending);
	if (!f)
		return;
	reply_inode(f, SD_RES_SUCCESS);
	CHECK(d2.calls == 1 && !d2.err && b2[0] == 0x12 && nr_pending == 0,
	      "fence: the second fence completes the second read",
	      "d2 %d/%d pending %d", d2.calls, d2.err, nr_pending);
}

/* a fence that times out fails the read waiting for it */
/*
 * On a fresh shared handle, a read of owned object 0 whose data came back:
 * its fence, or NULL.
 */
static struct sd_request *read_owned_to_fence(void)
{
	static uint8_t b[4096];
	struct iovec iov = { b, sizeof(b) };

	v = open_shared();
	sd_vdi_aio_read(v, &iov, 1, 0, rec_done, &d1);
	reply(find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(V, 0)),
	      SD_RES_SUCCESS, 0x11);
	return find_fence(V);
}

static void case_fence_timeout(void)
{
	f = read_owned_to_fence();
	if (f)
		fail_req(f, -ETIMEDOUT);
	CHECK(f && d1.calls == 1 && d1.err == -ETIMEDOUT && nr_pending == 0,
	      "fence: timed out, the read fails with it", "calls %d err %d",
	      d1.calls, d1.err);
}

/* a malformed fence reply (short payload) fails the read: -EPROTO */
static void case_fence_short_reply(void)
{
	f = read_owned_to_fence();
	if (f) {
		pending_take(f);
		memset(&f->rsp, 0, sizeof(f->rsp));
		f->rsp.result = SD_RES_SUCCESS;
		f->in_len = 4;
		f->done(f, 0);
	}
	CHECK(f && d1.calls == 1 && d1.err == -EPROTO && nr_pending == 0,
	      "fence: a short reply fails the read with -EPROTO",
	      "calls %d err %d", d1.calls, d1.err);
}

/*
 * The redone read r and its fence f (none of them NULL: else nothing):
 * answer the read with @byte and the fence clean; the read must return
 * @byte in @buf (check @name).
 */
static void answer_redone_read(const uint8_t *buf, uint8_t byte,
			       const char *name)
{
	if (!r || !f)
		return;
	reply(r, SD_RES_SUCCESS, byte);
	reply_inode(f, SD_RES_SUCCESS);
	CHECK(d1.calls == 1 && !d1.err && buf[0] == byte, name,
	      "calls %d err %d byte %#x", d1.calls, d1.err, buf[0]);
}

/*
 * inherited entry, another gateway copied it on write: the fence gets
 * INODE_INVALIDATED, refresh, the read is redone on our object
 */
static void case_fence_invalidated(void)
{
	static uint8_t b1[4096];
	struct iovec i1 = { b1, sizeof(b1) };

	v = open_shared();
	sd_vdi_aio_read(v, &i1, 1, 1 * (uint64_t)OBJ, rec_done, &d1);
	r = find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(P, 1));
	f = find_fence(V);
	if (!r || !f)
		return;
	reply(r, SD_RES_SUCCESS, 0x21);
	sd_put_le32(fake_inode + sd_inode_index_offset(1), V);
	reply_inode(f, SD_RES_INODE_INVALIDATED);
	r = find_req(SD_OP_READ_OBJ, 0);
	CHECK(d1.calls == 0 && r && nr_pending == 1 && r->hdr.obj.offset == 0 &&
	      r->hdr.data_length == SD_INODE_REFRESH_SIZE,
	      "fence: INVALIDATED, the inherited read waits for a refresh",
	      "calls %d pending %d", d1.calls, nr_pending);
	if (!r)
		return;
	reply_inode(r, SD_RES_SUCCESS);
	r = find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(V, 1));
	f = find_fence(V);
	CHECK(v->index[1] == V && r && f && d1.calls == 0,
	      "fence: refreshed, the read is redone on the new object",
	      "idx %#x r %p f %p", v->index[1], (void *)r, (void *)f);
	answer_redone_read(b1, 0x22, "fence: the redone read returns "
			   "the other gateway's data");
}

/*
 * our vid became a snapshot and another gateway copied object 0 into the
 * new working vid W: the fence sees snap_ctime, the read is redone on W
 * after a lookup and the shared lock on W
 */
static void case_fence_snapshot(void)
{
	static uint8_t b1[4096];
	struct iovec i1 = { b1, sizeof(b1) };
	uint32_t idx[16] = { V, P, 0 };

	v = open_shared();
	idx[1] = V;
	sd_vdi_aio_read(v, &i1, 1, 0, rec_done, &d1);
	r = find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(V, 0));
	f = find_fence(V);
	if (!r || !f)
		return;
	reply(r, SD_RES_SUCCESS, 0x31);
	fake_inode_make(V, 16 * (uint64_t)OBJ, SH, 0, idx, 16, true);
	reply_inode(f, SD_RES_SUCCESS);
	r = find_req(SD_OP_GET_VDI_INFO, 0);
	CHECK(d1.calls == 0 && r, "fence: snapshot seen, working vid looked up",
	      "calls %d pending %d", d1.calls, nr_pending);
	if (!r)
		return;
	reply_lookup(r, SD_RES_SUCCESS, W);
	if ((r = find_req(SD_OP_LOCK_VDI, 0)))
		reply_lookup(r, SD_RES_SUCCESS, W);
	idx[0] = W;
	fake_inode_make(W, 16 * (uint64_t)OBJ, SH, 0, idx, 16, false);
	if ((r = find_req(SD_OP_READ_OBJ, 0)))
		reply_inode(r, SD_RES_SUCCESS);
	r = find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(W, 0));
	f = find_fence(W);
	CHECK(sd_vdi_vid(v) == W && r && f && d1.calls == 0,
	      "fence: moved to W, the read is redone on W's object",
	      "vid %#x r %p f %p", sd_vdi_vid(v), (void *)r, (void *)f);
	answer_redone_read(b1, 0x32,
			   "fence: the read returns the write made in W");
}

/*
 * NO_OBJ for an object the index names (nodes recovering): the piece waits
 * and starts again until its deadline, then fails with -ETIMEDOUT.
 */
static void case_noobj_backoff(void)
{
	static uint8_t b[4096];
	struct iovec io = { b, sizeof(b) };
	struct sd_request *r, *t;
	int guard = 0;

	v = open_std();
	sd_vdi_aio_read(v, &io, 1, 0, rec_done, &d);
	reply(find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(V, 0)),
	      SD_RES_NO_OBJ, 0);
	t = find_timer();
	CHECK(t && nr_pending == 1 && d.calls == 0 &&
	      t->deadline_ns == NOW_NS + IO_BACKOFF_MIN_NS,
	      "NO_OBJ: the read waits 10 ms", "t %p pending %d calls %d",
	      (void *)t, nr_pending, d.calls);
	if (t)
		reply(t, SD_RES_SUCCESS, 0);
	r = find_oid(SD_OP_READ_OBJ, sd_vid_to_data_oid(V, 0));
	CHECK(r && d.calls == 0, "NO_OBJ: then the read is sent again",
	      "r %p", (void *)r);
	if (r)
		reply(r, SD_RES_SUCCESS, 0x5a);
	CHECK(d.calls == 1 && !d.err && b[0] == 0x5a,
	      "NO_OBJ: the object recovered, the read completes",
	      "calls %d err %d", d.calls, d.err);

	/* a copy-on-write create whose source is not back yet: the gate
	 * opens while it waits */
	d.calls = 0;
	sd_vdi_aio_write(v, &io, 1, 1 * (uint64_t)OBJ, 0, rec_done, &d);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(r && r->hdr.obj.cow_oid == sd_vid_to_data_oid(P, 1),
	      "NO_OBJ: COW create of an inherited object", "r %p", (void *)r);
	if (r)
		reply(r, SD_RES_NO_OBJ, 0);
	CHECK(find_timer() && !sd_gate_find(&v->gates, 1),
	      "NO_OBJ: the create waits with its gate open", "pending %d",
	      nr_pending);
	drive(20);
	CHECK(d.calls == 1 && !d.err && v->index[1] == V,
	      "NO_OBJ: the create is made again and published",
	      "calls %d err %d idx %#x", d.calls, d.err, v->index[1]);

	/* it lasts past the deadline: -ETIMEDOUT */
	d.calls = 0;
	sd_vdi_aio_read(v, &io, 1, 0, rec_done, &d);
	guard = 0;
	while (!d.calls && nr_pending && guard++ < 100) {
		r = pending[0];
		if (r->req_flags & SD_REQ_TIMER) {
			t_now = r->deadline_ns;
			reply(r, SD_RES_SUCCESS, 0);
		} else {
			reply(r, SD_RES_NO_OBJ, 0);
		}
	}
	CHECK(d.calls == 1 && d.err == -ETIMEDOUT && nr_pending == 0,
	      "NO_OBJ until the deadline: the read fails with -ETIMEDOUT",
	      "calls %d err %d rounds %d", d.calls, d.err, guard);
	t_now = NOW_NS;
}

/*
 * create + index update landed, reply lost: the parked writer must not
 * create again
 */
static void case_uncertain_landed(void)
{
	static uint8_t a[512];
	struct iovec ia = { a, sizeof(a) };

	v = open_std();
	sd_vdi_aio_write(v, &ia, 1, 3 * (uint64_t)OBJ, 0, rec_done, &d1);
	fail_req(find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0), -ETIMEDOUT);
	sd_vdi_aio_write(v, &ia, 1, 3 * (uint64_t)OBJ + 512, 0, rec_done, &d2);
	r = find_req(SD_OP_READ_OBJ, 0);
	CHECK(d1.calls == 1 && d1.err == -ETIMEDOUT && d2.calls == 0 &&
	      nr_pending == 1 && r && !(r->hdr.flags & SD_FLAG_CMD_TGT),
	      "uncertain create: writer parked behind the re-check",
	      "d1 %d/%d pending %d", d1.calls, d1.err, nr_pending);
	if (!r)
		return;
	fail_req(r, -ETIMEDOUT);
	r = find_req(SD_OP_READ_OBJ, 0);
	CHECK(r && nr_pending == 1, "re-check retried after a timeout",
	      "pending %d", nr_pending);
	if (!r)
		return;
	sd_put_le32(fake_inode + sd_inode_index_offset(3), V);
	reply_inode(r, SD_RES_SUCCESS);
	r = find_req(SD_OP_WRITE_OBJ, 0);
	CHECK(v->index[3] == V && r && nr_pending == 1 &&
	      r->hdr.obj.oid == sd_vid_to_data_oid(V, 3) &&
	      !find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0),
	      "re-check found it published: parked write is a plain WRITE_OBJ",
	      "idx %#x pending %d", v->index[3], nr_pending);
	if (r)
		reply(r, SD_RES_SUCCESS, 0);
}

/* index update lost: re-check says not published -> create again */
static void case_uncertain_not_published(void)
{
	static uint8_t a[512];
	struct iovec ia = { a, sizeof(a) };

	v = open_std();
	d1.calls = d2.calls = 0;
	sd_vdi_aio_write(v, &ia, 1, 4 * (uint64_t)OBJ, 0, rec_done, &d1);
	reply(find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0), SD_RES_SUCCESS, 0);
	fail_req(find_index_write(V, 4), -ECONNRESET);
	sd_vdi_aio_write(v, &ia, 1, 4 * (uint64_t)OBJ, 0, rec_done, &d2);
	CHECK(d1.err == -ECONNRESET && nr_pending == 1 &&
	      find_req(SD_OP_READ_OBJ, 0), "uncertain index update: re-check",
	      "err %d pending %d", d1.err, nr_pending);
	if ((r = find_req(SD_OP_READ_OBJ, 0)))
		reply_inode(r, SD_RES_SUCCESS);
	r = find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0);
	CHECK(r && v->index[4] == 0, "re-check: not published, writer creates",
	      "r %p", (void *)r);
}

/* re-check keeps failing: the gate opens after the retries */
static void case_uncertain_recheck_fails(void)
{
	static uint8_t a[512];
	struct iovec ia = { a, sizeof(a) };
	int guard = 0;

	v = open_std();
	while (nr_pending && guard++ < 100)
		reply(pending[0], SD_RES_SUCCESS, 0);
	d1.calls = d2.calls = 0;
	sd_vdi_aio_write(v, &ia, 1, 6 * (uint64_t)OBJ, 0, rec_done, &d1);
	fail_req(find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0), -ETIMEDOUT);
	sd_vdi_aio_write(v, &ia, 1, 6 * (uint64_t)OBJ, 0, rec_done, &d2);
	while ((r = find_req(SD_OP_READ_OBJ, 0)) && guard++ < 150)
		fail_req(r, -ETIMEDOUT);
	CHECK(find_req(SD_OP_CREATE_AND_WRITE_OBJ, 0) && d2.calls == 0 &&
	      v->gates.nr_closed == 1,
	      "re-check failing 3 times: gate handed to the parked writer",
	      "pending %d closed %u", nr_pending, v->gates.nr_closed);
}

int main(void)
{
	static const struct t_case cases[] = {
		T_CASE(case_reads),
		T_CASE(case_write_owned),
		T_CASE(case_write_hole_create),
		T_CASE(case_write_inherited_cow),
		T_CASE(case_create_errors),
		T_CASE(case_multi_piece),
		T_CASE(case_zero_discard),
		T_CASE(case_big_discard),
		T_CASE(case_flush),
		T_CASE(case_block_status),
		T_CASE(case_shared_write_fence),
		T_CASE(case_shared_hole_read),
		T_CASE(case_shared_hole_allocated),
		T_CASE(case_shared_inherited_recheck),
		T_CASE(case_shared_invalidated_write),
		T_CASE(case_shared_claim_create),
		T_CASE(case_shared_discard),
		T_CASE(case_shared_snapshot_move),
		T_CASE(case_shared_cfence_moved),
		T_CASE(case_fence_one_in_flight),
		T_CASE(case_fence_timeout),
		T_CASE(case_fence_short_reply),
		T_CASE(case_fence_invalidated),
		T_CASE(case_fence_snapshot),
		T_CASE(case_noobj_backoff),
		T_CASE(case_uncertain_landed),
		T_CASE(case_uncertain_not_published),
		T_CASE(case_uncertain_recheck_fails),
	};

	return VDI_RUN(cases, io_setup, io_teardown);
}
