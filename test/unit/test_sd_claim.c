// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_claim.c - unit test of the allocation claims (usr/lib/sd_claim.c)
 * against a stubbed connection layer: sd_client_submit() and
 * sd_client_sleep() only record requests and timers, and each case answers
 * them one by one and checks what the claim sends next: the claim key and
 * its home slot, the entry read, waiting and polling, probe slots, our own
 * resent claim, breaking a stale claim (by age, or because its holder on
 * this host is dead), the deadline, and releasing.  One small function per
 * case.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../usr/lib/sd_claim.c"

#define MS		UINT64_C(1000000)
#define T_NOW_START	(UINT64_C(1000) * MS)
#define T_TIMEOUT_MS	1000
#define TIMEOUT_MS	T_TIMEOUT_MS
#include "stub.h"

/* ---- helpers -------------------------------------------------------------- */

#define VID	0x1234u
#define IDX	7u
#define HASHVID	0xabcdu

static struct sd_claim *cl;
static int done_calls, done_err;

static void on_done(struct sd_claim *c, int err)
{
	(void)c;
	done_calls++;
	done_err = err;
}

static struct sd_claim_book *book;

static void start(uint64_t deadline_ms)
{
	struct sd_claim_args a = {
		.c = fake_client,
		.book = book,
		.name = "vol0",
		.vid = VID,
		.idx = IDX,
		.copies = 3,
		.deadline_ns = t_now + deadline_ms * MS,
		.done = on_done,
	};

	nr_pending = 0;
	done_calls = 0;
	done_err = 1;
	cl = NULL;
	if (sd_claim_acquire(&a, &cl) || nr_pending != 1)
		abort();
}

static struct sd_request *take(void)
{
	struct sd_request *r;

	if (!nr_pending)
		return NULL;
	r = pending[0];
	memmove(&pending[0], &pending[1], --nr_pending * sizeof(pending[0]));
	return r;
}

static const char *key_of(const struct sd_request *r)
{
	return (const char *)r->out_iov[0].iov_base + SD_ATTR_OFF_KEY;
}

static bool is_attr(const struct sd_request *r, const char *key_prefix)
{
	return r && r->hdr.opcode == SD_OP_GET_VDI_ATTR &&
	       r->hdr.proto_ver == SD_SHEEP_PROTO_VER &&
	       (r->hdr.flags & (SD_FLAG_CMD_CREAT | SD_FLAG_CMD_EXCL)) ==
	       (SD_FLAG_CMD_CREAT | SD_FLAG_CMD_EXCL) &&
	       !strncmp(key_of(r), key_prefix, strlen(key_prefix));
}

static uint32_t home_of(const struct sd_request *r)
{
	return sd_attr_home(r->out_iov[0].iov_base);
}

/* answer a GET_VDI_ATTR with @result at @slot */
static void answer_attr(struct sd_request *r, uint32_t result, uint32_t slot)
{
	if (!r)
		return;
	memset(&r->rsp, 0, sizeof(r->rsp));
	r->rsp.result = result;
	r->rsp.vdi.vdi_id = HASHVID;
	r->rsp.vdi.attr_id = slot;
	r->rsp.vdi.copies = 3;
	r->done(r, 0);
}

/* answer a READ_OBJ with @len bytes of @data */
static void answer_read(struct sd_request *r, uint32_t result,
			const void *data, uint32_t len)
{
	if (!r)
		return;
	memset(&r->rsp, 0, sizeof(r->rsp));
	r->rsp.result = result;
	r->in_len = 0;
	if (result == SD_RES_SUCCESS) {
		memset(r->in_iov[0].iov_base, 0, r->in_iov[0].iov_len);
		memcpy(r->in_iov[0].iov_base, data, len);
		r->in_len = len;
	}
	r->done(r, 0);
}

static bool is_entry_read(const struct sd_request *r)
{
	return r && r->hdr.opcode == SD_OP_READ_OBJ &&
	       r->hdr.obj.oid == sd_vid_to_vdi_oid(VID) &&
	       r->hdr.obj.offset == sd_inode_index_offset(IDX) &&
	       r->hdr.data_length == 4 && !(r->hdr.flags & SD_FLAG_CMD_TGT);
}

static void answer_entry(struct sd_request *r, uint32_t entry)
{
	uint8_t le[4];

	sd_put_le32(le, entry);
	answer_read(r, SD_RES_SUCCESS, le, 4);
}

static bool is_value_read(const struct sd_request *r, uint32_t slot)
{
	return r && r->hdr.opcode == SD_OP_READ_OBJ &&
	       r->hdr.obj.oid == sd_vid_to_attr_oid(HASHVID, slot) &&
	       r->hdr.obj.offset == SD_ATTR_OFF_VALUE;
}

static void answer_value(struct sd_request *r, const char *value)
{
	answer_read(r, SD_RES_SUCCESS, value, (uint32_t)strlen(value) + 1);
}

static bool is_remove(const struct sd_request *r, uint32_t slot)
{
	return r && r->hdr.opcode == SD_OP_REMOVE_OBJ &&
	       r->hdr.obj.oid == sd_vid_to_attr_oid(HASHVID, slot);
}

static void fire(struct sd_request *r)
{
	if (!r)
		return;
	t_now = r->deadline_ns;
	r->done(r, 0);
}

static void answer_ok(struct sd_request *r)
{
	if (!r)
		return;
	memset(&r->rsp, 0, sizeof(r->rsp));
	r->done(r, 0);
}

#define OTHER "bs_sheepdog claim nonce=00000000000000aa host=h boot=other pid=1 start=1"

/* win the claim in its home slot and read entry @entry */
static struct sd_request *win(uint32_t entry)
{
	struct sd_request *r = take();
	uint32_t home = home_of(r);

	answer_attr(r, SD_RES_SUCCESS, home);
	r = take();
	if (!is_entry_read(r))
		return NULL;
	answer_entry(r, entry);
	return r;
}

/* ---- cases ------------------------------------------------------------------ */

static void case_uncontended(void)
{
	struct sd_request *r;
	uint32_t home;
	char want[64];

	start(500);
	r = take();
	snprintf(want, sizeof(want), "bs_sheepdog.claim.%06x.%u", VID, IDX);
	CHECK(is_attr(r, want) && !strcmp(key_of(r), want) &&
	      !strcmp((const char *)r->out_iov[0].iov_base, "vol0") &&
	      r->hdr.vdi.snapid == 0 &&
	      !strncmp((const char *)r->out_iov[0].iov_base + SD_ATTR_OFF_VALUE,
		       "bs_sheepdog claim nonce=", 24),
	      "claim: GET_VDI_ATTR CREAT|EXCL of bs_sheepdog.claim.<vid>.<idx>",
	      "key '%s'", r ? key_of(r) : "-");
	home = home_of(r);
	answer_attr(r, SD_RES_SUCCESS, home);
	r = take();
	CHECK(is_entry_read(r) && done_calls == 0,
	      "claim: won in the home slot, the index entry is read (no TGT)",
	      "r %p calls %d", (void *)r, done_calls);
	answer_entry(r, 0x42);
	CHECK(done_calls == 1 && !done_err && sd_claim_held(cl) &&
	      sd_claim_entry(cl) == 0x42 && !nr_pending,
	      "claim: held, with the server's entry", "calls %d err %d",
	      done_calls, done_err);
	sd_claim_release(cl);
	r = take();
	CHECK(is_remove(r, home) && r->hdr.obj.copies == 3,
	      "claim: release removes the home slot's object", "r %p",
	      (void *)r);
	if (r)
		answer_ok(r);	/* frees the claim */
}

static void case_busy_then_free(void)
{
	struct sd_request *r;
	uint32_t home;

	start(500);
	r = take();
	home = home_of(r);
	answer_attr(r, SD_RES_VDI_EXIST, home);
	r = take();
	CHECK(is_value_read(r, home), "busy: the holder's value is read",
	      "r %p", (void *)r);
	answer_value(r, OTHER);
	r = take();
	CHECK(is_timer(r) && r->deadline_ns == t_now + CLAIM_BACKOFF_MIN_NS &&
	      done_calls == 0, "busy: waits (first backoff)", "r %p", (void *)r);
	fire(r);
	r = take();
	CHECK(is_entry_read(r), "busy: after the wait the entry is polled",
	      "r %p", (void *)r);
	answer_entry(r, 0);
	r = take();
	CHECK(is_attr(r, "bs_sheepdog.claim."),
	      "busy: still unallocated, the claim is asked again", "r %p",
	      (void *)r);
	answer_attr(r, SD_RES_SUCCESS, home);
	answer_entry(take(), 0);
	CHECK(done_calls == 1 && !done_err && sd_claim_held(cl),
	      "busy: the claim is won once free", "calls %d err %d",
	      done_calls, done_err);
	free(cl);
}

static void case_busy_then_allocated(void)
{
	struct sd_request *r;

	start(500);
	r = take();
	answer_attr(r, SD_RES_VDI_EXIST, home_of(r));
	answer_value(take(), OTHER);
	fire(take());
	r = take();
	answer_entry(r, VID);
	CHECK(done_calls == 1 && !done_err && !sd_claim_held(cl) &&
	      sd_claim_entry(cl) == VID && !nr_pending,
	      "busy: allocated by the holder, done without holding",
	      "calls %d err %d held %d", done_calls, done_err,
	      sd_claim_held(cl));
	sd_claim_release(cl);	/* not held: nothing sent */
	CHECK(!nr_pending, "busy: releasing an unheld claim sends nothing",
	      "pending %d", nr_pending);
}

static void case_probe_slot(void)
{
	struct sd_request *r;
	uint32_t home;

	start(500);
	r = take();
	home = home_of(r);
	answer_attr(r, SD_RES_SUCCESS, home + 1);
	r = take();
	CHECK(is_remove(r, home + 1) && done_calls == 0,
	      "probe slot: a claim created past the home slot is removed",
	      "r %p", (void *)r);
	answer_ok(r);
	r = take();
	CHECK(is_timer(r), "probe slot: then it waits and retries", "r %p",
	      (void *)r);
	fire(r);
	answer_entry(take(), 0);
	r = take();
	answer_attr(r, SD_RES_SUCCESS, home);
	answer_entry(take(), 0);
	CHECK(done_calls == 1 && sd_claim_held(cl),
	      "probe slot: held once it lands in its home slot", "calls %d",
	      done_calls);
	free(cl);
}

static void case_own_resent(void)
{
	struct sd_request *r;
	uint32_t home;
	char value[CLAIM_VALUE_MAX];

	start(500);
	r = take();
	home = home_of(r);
	/* the first attempt ran before a reconnect: our own value is there */
	snprintf(value, sizeof(value), "%s",
		 (const char *)r->out_iov[0].iov_base + SD_ATTR_OFF_VALUE);
	answer_attr(r, SD_RES_VDI_EXIST, home);
	answer_value(take(), value);
	r = take();
	CHECK(is_entry_read(r),
	      "resent: VDI_EXIST with our own nonce is our claim", "r %p",
	      (void *)r);
	answer_entry(r, 0);
	CHECK(done_calls == 1 && sd_claim_held(cl), "resent: held",
	      "calls %d", done_calls);
	free(cl);
}

/* one busy round: EXIST, the holder's value, the wait, the poll (0) */
static void busy_round(uint32_t home, const char *value, uint64_t wait_ms)
{
	struct sd_request *r;

	answer_attr(take(), SD_RES_VDI_EXIST, home);
	answer_value(take(), value);
	if (!nr_pending || !is_timer(pending[0]))
		return;		/* it went on to break the claim */
	r = take();
	t_now += wait_ms * MS;
	r->done(r, 0);
	answer_entry(take(), 0);
}

/*
 * Start a claim whose home slot holds @value's claim and answer it busy,
 * 200 ms apart, until it asks for something else (at most 40 rounds):
 * that request, taken; the home slot in *home.
 */
static struct sd_request *busy_until_moved(const char *value, uint32_t *home)
{
	int rounds = 0;

	start(10 * TIMEOUT_MS);
	*home = home_of(pending[0]);
	while (rounds++ < 40 && is_attr(pending[0], "bs_sheepdog.claim."))
		busy_round(*home, value, 200);
	return take();
}

static void case_stale_broken(void)
{
	struct sd_request *r;
	uint32_t home, stale;

	/* the same claim seen busy for three timeouts */
	r = busy_until_moved(OTHER, &home);
	CHECK(is_attr(r, "bs_sheepdog.break.00000000000000aa"),
	      "stale: after the lease the break key of its nonce is taken",
	      "r %p key '%s'", (void *)r, r ? key_of(r) : "-");
	if (!r)
		return;
	answer_attr(r, SD_RES_SUCCESS, home_of(r));
	stale = home;
	r = take();
	CHECK(is_value_read(r, stale), "stale: its value is checked again",
	      "r %p", (void *)r);
	answer_value(r, OTHER);
	r = take();
	CHECK(is_remove(r, stale), "stale: still the same claim: removed",
	      "r %p", (void *)r);
	answer_ok(r);
	r = take();
	CHECK(r && r->hdr.opcode == SD_OP_REMOVE_OBJ,
	      "stale: then the break key is removed", "r %p", (void *)r);
	answer_ok(r);
	r = take();
	CHECK(is_attr(r, "bs_sheepdog.claim."), "stale: and the claim retried",
	      "r %p", (void *)r);
	answer_attr(r, SD_RES_SUCCESS, home);
	answer_entry(take(), 0);
	CHECK(done_calls == 1 && sd_claim_held(cl), "stale: held",
	      "calls %d", done_calls);
	free(cl);
}

static void case_stale_recheck_changed(void)
{
	struct sd_request *r;
	uint32_t home;

	r = busy_until_moved(OTHER, &home);
	if (!is_attr(r, "bs_sheepdog.break."))
		return;
	answer_attr(r, SD_RES_SUCCESS, home_of(r));
	/* meanwhile the holder released and somebody else claimed */
	answer_value(take(), "bs_sheepdog claim nonce=00000000000000bb host=h boot=x pid=2 start=2");
	r = take();
	CHECK(r && r->hdr.opcode == SD_OP_REMOVE_OBJ &&
	      !is_remove(r, home), "stale: a new claim in the slot is left alone",
	      "r %p", (void *)r);
	if (r)
		answer_ok(r);
	r = take();
	CHECK(is_attr(r, "bs_sheepdog.claim."), "stale: back to claiming",
	      "r %p", (void *)r);
	answer_attr(r, SD_RES_NO_VDI, 0);
	CHECK(done_calls == 1 && done_err == -ENOENT && !sd_claim_held(cl),
	      "claim: NO_VDI fails it with -ENOENT", "calls %d err %d",
	      done_calls, done_err);
	free(cl);
}

static void case_break_lost(void)
{
	struct sd_request *r;
	uint32_t home;

	r = busy_until_moved(OTHER, &home);
	if (!is_attr(r, "bs_sheepdog.break."))
		goto out;
	answer_attr(r, SD_RES_VDI_EXIST, home_of(r));
	r = take();
	CHECK(is_timer(r) && done_calls == 0,
	      "stale: another party breaks it, we wait", "r %p", (void *)r);
	free(cl);	/* abandoned with a timer pending: test only */
out:
	nr_pending = 0;
}

static void case_dead_holder_here(void)
{
	struct sd_request *r;
	char value[CLAIM_VALUE_MAX];
	uint32_t home;
	int rounds = 0;

	start(10 * TIMEOUT_MS);
	home = home_of(pending[0]);
	/* a holder of this boot whose pid does not run (pid_max < 2^22) */
	pthread_mutex_lock(&self.mu);
	snprintf(value, sizeof(value),
		 "bs_sheepdog claim nonce=00000000000000cc host=h boot=%s pid=99999999 start=5",
		 self.boot);
	pthread_mutex_unlock(&self.mu);
	while (rounds++ < 40 && is_attr(pending[0], "bs_sheepdog.claim."))
		busy_round(home, value, 200);
	r = take();
	CHECK(is_attr(r, "bs_sheepdog.break.00000000000000cc") && rounds <= 8,
	      "dead holder on this host: broken after one timeout",
	      "rounds %d r %p", rounds, (void *)r);
	free(cl);
	nr_pending = 0;
}

static void case_deadline(void)
{
	struct sd_request *r;
	int rounds = 0;

	start(100);
	while (rounds++ < 200 && nr_pending && !done_calls) {
		r = take();
		if (r->hdr.opcode == SD_OP_GET_VDI_ATTR)
			answer_attr(r, SD_RES_VDI_EXIST, home_of(r));
		else if (is_timer(r))
			fire(r);
		else if (is_entry_read(r))
			answer_entry(r, 0);
		else
			answer_value(r, OTHER);
	}
	CHECK(done_calls == 1 && done_err == -ETIMEDOUT && !sd_claim_held(cl),
	      "deadline: a claim busy until the deadline fails -ETIMEDOUT",
	      "calls %d err %d rounds %d", done_calls, done_err, rounds);
	free(cl);
}

static void case_entry_error(void)
{
	struct sd_request *r;
	uint32_t home;

	start(500);
	r = take();
	home = home_of(r);
	answer_attr(r, SD_RES_SUCCESS, home);
	r = take();
	answer_read(r, SD_RES_EIO, NULL, 0);
	CHECK(done_calls == 1 && done_err == -EIO && !sd_claim_held(cl),
	      "entry read fails: the claim fails, not held", "calls %d err %d",
	      done_calls, done_err);
	free(cl);
}

static void case_release_late(void)
{
	start(500);
	win(0);
	t_now += (uint64_t)CLAIM_RELEASE_TIMEOUTS * TIMEOUT_MS * MS;
	sd_claim_release(cl);
	CHECK(!nr_pending,
	      "release: a claim older than the release limit is left to expire",
	      "pending %d", nr_pending);
}

static void case_value_parse(void)
{
	struct holder h;
	const char *v = "bs_sheepdog claim nonce=0123456789abcdef host=a b boot=x-y pid=42 start=7";

	value_parse((const uint8_t *)v, strlen(v), &h);
	CHECK(h.nonce == UINT64_C(0x0123456789abcdef) && !strcmp(h.boot, "x-y") &&
	      h.pid == 42 && h.start == 7, "value: holder parsed",
	      "nonce %llx boot %s pid %ld", (unsigned long long)h.nonce, h.boot,
	      h.pid);
	value_parse((const uint8_t *)"something else", 14, &h);
	CHECK(!h.nonce, "value: a foreign value has no nonce (never broken)",
	      "nonce %llx", (unsigned long long)h.nonce);
}

static void reset(void)
{
	sd_claim_book_free(book);
	book = sd_claim_book_new();
}

int main(void)
{
	static const struct t_case cases[] = {
		T_CASE(case_uncontended),
		T_CASE(case_busy_then_free),
		T_CASE(case_busy_then_allocated),
		T_CASE(case_probe_slot),
		T_CASE(case_own_resent),
		T_CASE(case_stale_broken),
		T_CASE(case_stale_recheck_changed),
		T_CASE(case_break_lost),
		T_CASE(case_dead_holder_here),
		T_CASE(case_deadline),
		T_CASE(case_entry_error),
		T_CASE(case_release_late),
		T_CASE(case_value_parse),
	};
	int ret = T_RUN(cases, reset, NULL);

	sd_claim_book_free(book);
	return ret;
}
