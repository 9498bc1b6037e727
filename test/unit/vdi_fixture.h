/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vdi_fixture.h - what the unit tests of the VDI layers (test_sd_vdi.c,
 * test_sd_io.c, test_sd_reload.c, test_sd_admin.c) share: the library's
 * VDI sources with their neighbours, the fake connection layer of stub.h,
 * a tiny synchronous fake sheep behind sd_client_call() for lookups, inode
 * reads and writes and releases, and helpers that find pending requests
 * and answer them.
 */
#ifndef VDI_FIXTURE_H
#define VDI_FIXTURE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../usr/lib/sd_gate.c"
#include "../../usr/lib/sd_vdi.c"
#include "../../usr/lib/sd_hostlock.c"
#include "../../usr/lib/sd_io.c"
#include "../../usr/lib/sd_io_sync.c"
#include "../../usr/lib/sd_reload.c"
#include "../../usr/lib/sd_claim.c"
#include "stub.h"

#define NOW_NS		T_NOW_START
#define TIMEOUT_MS	T_TIMEOUT_MS

/* fake sheep for the synchronous calls */
T_HELPER uint8_t *fake_inode;		/* SD_INODE_REFRESH_SIZE + 4 bytes */
T_HELPER uint32_t fake_vid = 0x100;
T_HELPER uint32_t lookup_result;
T_HELPER uint32_t inode_result;
T_HELPER struct sd_req last_lookup;
T_HELPER char last_lookup_name[SD_MAX_VDI_LEN + 1];
T_HELPER char last_lookup_tag[SD_MAX_VDI_TAG_LEN + 1];
T_HELPER uint32_t last_lookup_len;
T_HELPER struct sd_req last_inode_read;
T_HELPER int nr_lookups, nr_releases;
T_HELPER struct sd_req last_release;
T_HELPER uint32_t write_result;		/* WRITE_OBJ of the inode */
T_HELPER int nr_inode_writes;
T_HELPER struct sd_req last_inode_write;

/* the connection probe of sd_vdi_open(): its result (0 or -errno), and
 * how often it ran */
T_HELPER int wait_up_err, nr_wait_ups;

int sd_client_wait_up(struct sd_client *c)
{
	(void)c;
	nr_wait_ups++;
	return wait_up_err ? sd_set_error(-wait_up_err,
					  "connect to unix:/fake: refused") : 0;
}

int sd_client_call(struct sd_client *c, struct sd_request *req)
{
	(void)c;
	memset(&req->rsp, 0, sizeof(req->rsp));
	req->rsp.opcode = req->hdr.opcode;
	switch (req->hdr.opcode) {
	case SD_OP_LOCK_VDI:
	case SD_OP_GET_VDI_INFO: {
		const uint8_t *p = req->out_iov[0].iov_base;

		nr_lookups++;
		last_lookup = req->hdr;
		last_lookup_len = (uint32_t)req->out_iov[0].iov_len;
		sd_get_name(p, SD_MAX_VDI_LEN, last_lookup_name);
		if (last_lookup_len >= 512)
			sd_get_name(p + 256, SD_MAX_VDI_TAG_LEN,
				    last_lookup_tag);
		req->rsp.result = lookup_result;
		req->rsp.vdi.vdi_id = fake_vid;
		return 0;
	}
	case SD_OP_READ_OBJ: {
		uint32_t len = req->hdr.data_length;

		last_inode_read = req->hdr;
		req->rsp.result = inode_result;
		if (inode_result == SD_RES_SUCCESS) {
			memcpy(req->in_iov[0].iov_base,
			       fake_inode + req->hdr.obj.offset, len);
			req->in_len = len;
		}
		return 0;
	}
	case SD_OP_WRITE_OBJ:
		/* into the fake inode, as sheep writes any inode range */
		nr_inode_writes++;
		last_inode_write = req->hdr;
		req->rsp.result = write_result;
		if (write_result == SD_RES_SUCCESS &&
		    req->hdr.obj.offset + req->hdr.data_length <=
		    SD_INODE_REFRESH_SIZE + 4)
			memcpy(fake_inode + req->hdr.obj.offset,
			       req->out_iov[0].iov_base, req->hdr.data_length);
		return 0;
	case SD_OP_RELEASE_VDI:
		nr_releases++;
		last_release = req->hdr;
		return 0;
	default:
		return sd_set_error(ENOSYS, "stub: unexpected opcode");
	}
}

/* ---- helpers ------------------------------------------------------------ */

T_HELPER void fake_inode_make(uint32_t vid, uint64_t size, uint8_t shift,
			    uint8_t store_policy, const uint32_t *idx,
			    uint32_t n, bool snapshot)
{
	struct sd_inode_hdr h;
	uint32_t i;

	memset(&h, 0, sizeof(h));
	snprintf(h.name, sizeof(h.name), "vol0");
	h.vdi_size = size;
	h.block_size_shift = shift;
	h.store_policy = store_policy;
	h.nr_copies = 3;
	h.vdi_id = vid;
	h.snap_id = 1;
	h.snap_ctime = snapshot ? 12345 : 0;
	memset(fake_inode, 0, SD_INODE_REFRESH_SIZE + 4);
	sd_inode_hdr_encode(&h, fake_inode);
	for (i = 0; i < n; i++)
		sd_put_le32(fake_inode + sd_inode_index_offset(i), idx[i]);
	fake_vid = vid;
}

struct done_rec {
	int calls;
	int err;
};

T_HELPER void rec_done(void *opaque, int err)
{
	struct done_rec *d = opaque;

	d->calls++;
	d->err = err;
}

static bool match_opcode(const struct sd_request *r, uint64_t opcode,
			 uint64_t b)
{
	(void)b;
	return r->hdr.opcode == opcode;
}

static bool match_oid(const struct sd_request *r, uint64_t opcode,
		      uint64_t oid)
{
	return r->hdr.opcode == opcode && r->hdr.obj.oid == oid;
}

/* the @n-th pending request (oldest first) with @opcode, or NULL */
T_HELPER struct sd_request *find_req(uint8_t opcode, int n)
{
	return find_nth(match_opcode, opcode, 0, n);
}

T_HELPER struct sd_request *find_oid(uint8_t opcode, uint64_t oid)
{
	return find_pending(match_oid, opcode, oid);
}

/* complete @req with a reply carrying @result (reads get @fill bytes) */
T_HELPER void reply(struct sd_request *req, uint32_t result, int fill)
{
	int i;

	reply_begin(req, result);
	if (result == SD_RES_SUCCESS && req->hdr.opcode == SD_OP_READ_OBJ) {
		for (i = 0; i < req->in_iovcnt; i++) {
			memset(req->in_iov[i].iov_base, fill,
			       req->in_iov[i].iov_len);
			req->in_len += req->in_iov[i].iov_len;
		}
	}
	req->done(req, 0);
}

/* complete a READ_OBJ of the inode with the fake inode's bytes at its
 * offset (refresh reads and 4-byte entry reads); other requests as reply() */
T_HELPER void reply_inode(struct sd_request *req, uint32_t result)
{
	uint32_t off = req->hdr.obj.offset, got = 0;
	int i;

	reply_begin(req, result);
	if (result == SD_RES_SUCCESS)
		for (i = 0; i < req->in_iovcnt; i++) {
			memcpy(req->in_iov[i].iov_base, fake_inode + off + got,
			       req->in_iov[i].iov_len);
			got += req->in_iov[i].iov_len;
		}
	req->in_len = got;
	req->done(req, 0);
}

/* complete a lookup with @result and vid @vid */
T_HELPER void reply_lookup(struct sd_request *req, uint32_t result,
			   uint32_t vid)
{
	reply_begin(req, result);
	req->rsp.vdi.vdi_id = vid;
	req->done(req, 0);
}

T_HELPER uint64_t out_len(const struct sd_request *r)
{
	uint64_t t = 0;
	int i;

	for (i = 0; i < r->out_iovcnt; i++)
		t += r->out_iov[i].iov_len;
	return t;
}

T_HELPER bool out_all(const struct sd_request *r, uint8_t byte)
{
	int i;
	size_t j;

	for (i = 0; i < r->out_iovcnt; i++)
		for (j = 0; j < r->out_iov[i].iov_len; j++)
			if (((uint8_t *)r->out_iov[i].iov_base)[j] != byte)
				return false;
	return true;
}

T_HELPER uint32_t index_entry_of(const struct sd_request *r)
{
	return sd_get_le32(r->out_iov[0].iov_base);
}

#define V	0x100u
#define P	0x0c0u		/* parent */
#define SH	22
#define OBJ	(UINT32_C(1) << SH)

/* open vol0 (16 objects) at @vid with @lock: 0 owned, 1 inherited,
 * 2.. holes */
T_HELPER struct sd_vdi *open_vol0(uint32_t vid, enum sd_lock_mode lock)
{
	uint32_t idx[16] = { vid, P, 0 };
	struct sd_vdi_open_args a = { .name = "vol0", .lock = lock };
	struct sd_vdi *v = NULL;

	fake_inode_make(vid, 16 * (uint64_t)OBJ, SH, 0, idx, 16, false);
	lookup_result = SD_RES_SUCCESS;
	inode_result = SD_RES_SUCCESS;
	if (sd_vdi_open(fake_client, &a, &v)) {
		printf("# open failed: %s\n", sd_get_error());
		exit(1);
	}
	return v;
}

T_HELPER struct sd_vdi *open_std(void)
{
	return open_vol0(V, SD_LOCK_NORMAL);
}

T_HELPER struct sd_vdi *open_shared(void)
{
	return open_vol0(V, SD_LOCK_SHARED);
}

#define W	0x101u		/* new working vid after a snapshot */

static bool match_index_write(const struct sd_request *r, uint64_t vid,
			      uint64_t i)
{
	return r->hdr.opcode == SD_OP_WRITE_OBJ &&
	       r->hdr.obj.oid == sd_vid_to_vdi_oid((uint32_t)vid) &&
	       r->hdr.obj.offset == 4664 + 4 * i;
}

/* the pending WRITE_OBJ of index entry @i on inode @vid */
T_HELPER struct sd_request *find_index_write(uint32_t vid, uint32_t i)
{
	return find_pending(match_index_write, vid, i);
}

T_HELPER struct sd_request *find_create_of(uint64_t oid)
{
	return find_oid(SD_OP_CREATE_AND_WRITE_OBJ, oid);
}

/* a pending READ_OBJ of inode @vid, @off_len = offset << 32 | length */
static bool match_inode_read(const struct sd_request *r, uint64_t vid,
			     uint64_t off_len)
{
	return r->hdr.opcode == SD_OP_READ_OBJ &&
	       r->hdr.obj.oid == sd_vid_to_vdi_oid((uint32_t)vid) &&
	       r->hdr.obj.offset == (off_len >> 32) &&
	       r->hdr.data_length == (uint32_t)off_len;
}

/* the pending read fence on inode @vid (8 bytes of snap_ctime) */
T_HELPER struct sd_request *find_fence(uint32_t vid)
{
	return find_pending(match_inode_read, vid, (UINT64_C(520) << 32) | 8);
}

/* the pending 4-byte read of index entry @i on inode @vid */
T_HELPER struct sd_request *find_entry_read(uint32_t vid, uint32_t i)
{
	return find_pending(match_inode_read, vid,
			    ((uint64_t)(4664 + 4 * i) << 32) | 4);
}

static bool match_claim(const struct sd_request *r, uint64_t vid, uint64_t i)
{
	char key[64];

	snprintf(key, sizeof(key), "bs_sheepdog.claim.%06x.%u",
		 (uint32_t)vid, (uint32_t)i);
	return r->hdr.opcode == SD_OP_GET_VDI_ATTR &&
	       !strcmp((const char *)r->out_iov[0].iov_base + SD_ATTR_OFF_KEY,
		       key);
}

/* the pending GET_VDI_ATTR claim of object @i of @vid, or NULL */
T_HELPER struct sd_request *find_claim(uint32_t vid, uint32_t i)
{
	return find_pending(match_claim, vid, i);
}

/* grant a claim: created in its home slot */
static void reply_claim(struct sd_request *r)
{
	reply_begin(r, SD_RES_SUCCESS);
	r->rsp.vdi.vdi_id = 0x77;
	r->rsp.vdi.attr_id = sd_attr_home(r->out_iov[0].iov_base);
	r->done(r, 0);
}

/* answer the claim releases (REMOVE_OBJ of attribute objects) */
T_HELPER int reply_releases(void)
{
	int n = 0, k;

	for (k = 0; k < nr_pending; k++)
		if (pending[k]->hdr.opcode == SD_OP_REMOVE_OBJ &&
		    (pending[k]->hdr.obj.oid & SD_VDI_ATTR_BIT)) {
			reply(pending[k], SD_RES_SUCCESS, 0);
			n++;
			k = -1;
		}
	return n;
}

/* answer everything as a healthy sheep would, up to @max replies */
T_HELPER void drive(int max)
{
	struct sd_request *r;

	while (nr_pending && max-- > 0) {
		r = pending[0];
		if (r->req_flags & SD_REQ_TIMER)
			reply(r, SD_RES_SUCCESS, 0);
		else if (r->hdr.opcode == SD_OP_GET_VDI_ATTR)
			reply_claim(r);
		else if (r->hdr.opcode == SD_OP_GET_VDI_INFO ||
			 r->hdr.opcode == SD_OP_LOCK_VDI)
			reply_lookup(r, SD_RES_SUCCESS, fake_vid);
		else if (r->hdr.opcode == SD_OP_READ_OBJ &&
			 r->hdr.obj.oid == sd_vid_to_vdi_oid(fake_vid))
			reply_inode(r, SD_RES_SUCCESS);
		else
			reply(r, SD_RES_SUCCESS, 0);
	}
}

/*
 * Before each case: nothing pending, the clock at its start, a healthy
 * fake sheep serving inode V.
 */
static void vdi_reset(void)
{
	nr_pending = 0;
	submit_fail = 0;
	t_now = T_NOW_START;
	lookup_result = SD_RES_SUCCESS;
	inode_result = SD_RES_SUCCESS;
	fake_vid = V;
	nr_lookups = nr_releases = 0;
	wait_up_err = nr_wait_ups = 0;
	write_result = SD_RES_SUCCESS;
	nr_inode_writes = 0;
}

/* run the registered cases of a test of the VDI layers */
#define VDI_RUN(cases, setup, teardown) ({						\
	int ret_;							\
									\
	/* a non-refresh read of the index reads 4 bytes more */	\
	fake_inode = calloc(1, SD_INODE_REFRESH_SIZE + 4);		\
	ret_ = T_RUN(cases, setup, teardown);					\
	free(fake_inode);						\
	ret_;								\
})

#endif
