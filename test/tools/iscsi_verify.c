// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * iscsi_verify.c - a small libiscsi initiator for the fault tests: a
 * verified random write load, a checker that proves every acknowledged
 * write is on the LUN (or in a raw image file), and a single-command mode
 * that prints the SCSI status and sense of each command it sends.
 *
 * Data is written in 4 KiB blocks.  Each block written carries a stamp:
 * a header (magic, block number, seed, generation) and a body derived from
 * those three, so a stale, misplaced, torn or foreign block is told apart
 * from the expected one.  The load logs one line per completed write
 * (acknowledged or failed, with microsecond submit and completion times);
 * --check reads one or more logs (several writers, several runs) and
 * accepts for every block only what a linearizable disk could hold: the
 * zeros it started with when no write was acknowledged, otherwise a write
 * no acknowledged write submitted after its completion supersedes (writes
 * that failed or never completed may or may not have landed).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#ifdef ISCSI_VERIFY_STUB
/* built without libiscsi-dev: tell the tests to skip themselves */
int main(void)
{
	fprintf(stderr, "iscsi_verify: built without libiscsi (apt-get install libiscsi-dev and rebuild)\n");
	return 77;
}
#else
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define UA_RETRIES	8

static const char *prog = "iscsi_verify";

#include "verify_common.h"

/* ---- options ---------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: %s URL --write-load SECONDS --log FILE [--qd N] [--seed S]\n"
		"                  [--first-block B] [--blocks N] [--expect-errors none|any]\n"
		"       %s URL|IMAGE --check LOG [LOG...]\n"
		"       %s URL --one read|write BLOCK [--qd N] [--seed S]\n"
		"common: [--timeout SECONDS] [--no-reconnect]; blocks are 4 KiB\n",
		prog, prog, prog);
}

/* ---- iSCSI session -------------------------------------------------------- */

struct session {
	struct iscsi_context *iscsi;
	int lun;
	uint32_t lbsize;	/* logical block size */
	uint64_t nr_blocks;	/* 4 KiB blocks on the LUN */
	bool broken;		/* do not try to log out */
};

static const char *status_name(int status)
{
	switch (status) {
	case SCSI_STATUS_GOOD: return "GOOD";
	case SCSI_STATUS_CHECK_CONDITION: return "CHECK";
	case SCSI_STATUS_CANCELLED: return "CANCELLED";
	case SCSI_STATUS_TIMEOUT: return "TIMEOUT";
	case SCSI_STATUS_ERROR: return "ERROR";
	default: return "OTHER";
	}
}

static int session_open(struct session *s, const char *url_str,
			const struct verify_opts *o)
{
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc;
	int tries;

	memset(s, 0, sizeof(*s));
	s->iscsi = iscsi_create_context("iqn.2026-11.org.sheepdog:iscsi-verify");
	if (!s->iscsi) {
		fprintf(stderr, "%s: cannot create an iSCSI context\n", prog);
		return -1;
	}
	url = iscsi_parse_full_url(s->iscsi, url_str);
	if (!url) {
		fprintf(stderr, "%s: bad URL '%s': %s\n", prog, url_str,
			iscsi_get_error(s->iscsi));
		goto fail;
	}
	iscsi_set_targetname(s->iscsi, url->target);
	iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->iscsi, ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_timeout(s->iscsi, o->timeout_s);
	if (o->no_reconnect)
		iscsi_set_noautoreconnect(s->iscsi, 1);
	s->lun = url->lun;
	if (iscsi_full_connect_sync(s->iscsi, url->portal, url->lun)) {
		fprintf(stderr, "%s: cannot log in to %s: %s\n", prog, url_str,
			iscsi_get_error(s->iscsi));
		iscsi_destroy_url(url);
		goto fail;
	}
	iscsi_destroy_url(url);

	for (tries = 0; tries < UA_RETRIES; tries++) {
		task = iscsi_readcapacity16_sync(s->iscsi, s->lun);
		if (task && task->status == SCSI_STATUS_GOOD)
			break;
		if (task)
			scsi_free_scsi_task(task);
		task = NULL;
	}
	if (!task) {
		fprintf(stderr, "%s: READ CAPACITY 16 failed: %s\n", prog,
			iscsi_get_error(s->iscsi));
		goto fail;
	}
	rc = scsi_datain_unmarshall(task);
	if (!rc || !rc->block_length || BLK % rc->block_length) {
		fprintf(stderr, "%s: unusable READ CAPACITY reply\n", prog);
		scsi_free_scsi_task(task);
		goto fail;
	}
	s->lbsize = rc->block_length;
	s->nr_blocks = (rc->returned_lba + 1) * rc->block_length / BLK;
	scsi_free_scsi_task(task);
	return 0;

fail:
	iscsi_destroy_context(s->iscsi);
	s->iscsi = NULL;
	return -1;
}

static void session_close(struct session *s)
{
	if (!s->iscsi)
		return;
	if (s->broken)
		return;		/* late callbacks must not run: leave it */
	iscsi_logout_sync(s->iscsi);
	iscsi_destroy_context(s->iscsi);
	s->iscsi = NULL;
}

/* ---- async engine --------------------------------------------------------- */

struct slot {
	bool busy;
	bool write;
	uint64_t block;
	uint64_t gen;
	int64_t t0;
	int ua_left;
	uint8_t buf[BLK];
	struct engine *e;
};

struct engine {
	struct session *s;
	struct slot slots[MAX_QD];
	unsigned int inflight;
	bool fatal;
	/* called on every final completion of a slot */
	void (*done)(struct engine *e, struct slot *sl, int status,
		     struct scsi_task *task);
	void *priv;
};

static void slot_cb(struct iscsi_context *iscsi, int status, void *data,
		    void *priv);

static int slot_submit(struct engine *e, struct slot *sl)
{
	struct session *s = e->s;
	uint64_t lba = sl->block * (BLK / s->lbsize);
	struct scsi_task *t;

	if (sl->write)
		t = iscsi_write16_task(s->iscsi, s->lun, lba, sl->buf, BLK,
				       (int)s->lbsize, 0, 0, 0, 0, 0, slot_cb,
				       sl);
	else
		t = iscsi_read16_task(s->iscsi, s->lun, lba, BLK,
				      (int)s->lbsize, 0, 0, 0, 0, 0, slot_cb,
				      sl);
	if (!t) {
		fprintf(stderr, "%s: cannot queue a command: %s\n", prog,
			iscsi_get_error(s->iscsi));
		e->fatal = true;
		return -1;
	}
	if (!sl->busy) {
		sl->busy = true;
		e->inflight++;
	}
	return 0;
}

static void slot_cb(struct iscsi_context *iscsi, int status, void *data,
		    void *priv)
{
	struct scsi_task *task = data;
	struct slot *sl = priv;
	struct engine *e = sl->e;

	(void)iscsi;
	if (status == SCSI_STATUS_CHECK_CONDITION && task &&
	    task->sense.key == SCSI_SENSE_UNIT_ATTENTION && sl->ua_left-- > 0) {
		/* a new nexus or a reset: not the command's fault, resend */
		scsi_free_scsi_task(task);
		if (slot_submit(e, sl) == 0)
			return;
		task = NULL;
	}
	if (!sl->write && status == SCSI_STATUS_GOOD && task) {
		if (task->datain.size >= (int)BLK)
			memcpy(sl->buf, task->datain.data, BLK);
		else
			status = SCSI_STATUS_ERROR;
	}
	sl->busy = false;
	e->inflight--;
	e->done(e, sl, status, task);
	if (task)
		scsi_free_scsi_task(task);
}

/* service the connection once (waits at most @ms) */
static int engine_poll(struct engine *e, int ms)
{
	struct pollfd pfd;
	int ret;

	pfd.fd = iscsi_get_fd(e->s->iscsi);
	pfd.events = (short)iscsi_which_events(e->s->iscsi);
	pfd.revents = 0;
	ret = poll(&pfd, 1, ms);
	if (ret < 0 && errno != EINTR) {
		perror("poll");
		return -1;
	}
	if (iscsi_service(e->s->iscsi, ret > 0 ? pfd.revents : 0) < 0) {
		fprintf(stderr, "%s: iSCSI connection failed: %s\n", prog,
			iscsi_get_error(e->s->iscsi));
		return -1;
	}
	return 0;
}

static void done_ignore(struct engine *e, struct slot *sl, int status,
			struct scsi_task *task)
{
	(void)e;
	(void)sl;
	(void)status;
	(void)task;
}

/*
 * Give up on the session: cancel what libiscsi still holds (completions
 * are recorded as CANCELLED), then ignore any completion libiscsi delivers
 * later; the caller's state may be gone by then.  The context is not
 * logged out or destroyed (session_close), the process just exits.
 */
static void engine_abandon(struct engine *e)
{
	e->s->broken = true;
	iscsi_scsi_cancel_all_tasks(e->s->iscsi);
	e->done = done_ignore;
}

static struct slot *engine_free_slot(struct engine *e, unsigned int qd)
{
	for (unsigned int i = 0; i < qd; i++)
		if (!e->slots[i].busy)
			return &e->slots[i];
	return NULL;
}

static void engine_init(struct engine *e, struct session *s)
{
	memset(e, 0, sizeof(*e));
	e->s = s;
	for (unsigned int i = 0; i < MAX_QD; i++)
		e->slots[i].e = e;
}

static void sense_fields(struct scsi_task *task, int status, int *key,
			 int *asc, int *ascq)
{
	*key = *asc = *ascq = -1;
	if (status == SCSI_STATUS_CHECK_CONDITION && task) {
		*key = task->sense.key;
		*asc = (task->sense.ascq >> 8) & 0xff;
		*ascq = task->sense.ascq & 0xff;
	}
}

/* ---- write load ------------------------------------------------------------ */

static void load_done(struct engine *e, struct slot *sl, int status,
		      struct scsi_task *task)
{
	struct vload *L = e->priv;
	char why[64];
	int key, asc, ascq;

	if (status == SCSI_STATUS_GOOD) {
		vload_done(L, sl->gen, sl->block, sl->t0, now_us(), NULL);
		return;
	}
	sense_fields(task, status, &key, &asc, &ascq);
	snprintf(why, sizeof(why), "%s %d %d %d", status_name(status), key,
		 asc, ascq);
	vload_done(L, sl->gen, sl->block, sl->t0, now_us(), why);
	if (!L->o->expect_errors && L->failed == 1)
		fprintf(stderr, "%s: write of block %" PRIu64 " failed: %s key 0x%02x asc 0x%02x ascq 0x%02x\n",
			prog, sl->block, status_name(status), key & 0xff,
			asc & 0xff, ascq & 0xff);
}

/* start one write to a random block with no write in flight */
static int load_start_one(struct engine *e, struct slot *sl)
{
	struct vload *L = e->priv;

	if (!vload_next(L, &sl->block, &sl->gen))
		return 0;	/* tiny range, everything busy: wait */
	sl->write = true;
	sl->ua_left = UA_RETRIES;
	sl->t0 = now_us();
	stamp_fill(sl->buf, sl->block, L->o->seed, sl->gen);
	return slot_submit(e, sl);
}

static int run_load(struct session *s, const struct verify_opts *o)
{
	static struct engine e;	/* its slots may outlive this call */
	struct vload L;
	struct slot *sl;
	int64_t end;
	int ret;

	ret = vload_open(&L, o, s->nr_blocks, "LUN");
	if (ret)
		return ret;
	engine_init(&e, s);
	e.done = load_done;
	e.priv = &L;
	end = now_us() + (int64_t)(o->seconds * 1e6);
	for (;;) {
		if (now_us() < end && !e.fatal)
			while ((sl = engine_free_slot(&e, o->qd)) &&
			       load_start_one(&e, sl) == 0 && sl->busy)
				;
		if (!e.inflight && (now_us() >= end || e.fatal))
			break;
		if (now_us() > end + (int64_t)o->timeout_s * 1000000) {
			/* e.g. the target is gone and libiscsi keeps reconnecting */
			fprintf(stderr, "%s: %u writes still outstanding %d s after the load ended; giving up\n",
				prog, e.inflight, o->timeout_s);
			ret = 1;
			engine_abandon(&e);	/* logged as CANCELLED */
			break;
		}
		if (engine_poll(&e, 100)) {
			ret = 1;
			engine_abandon(&e);
			break;
		}
	}
	/* anything still in flight after a dead session may have landed */
	for (unsigned int i = 0; i < o->qd; i++)
		if (e.slots[i].busy)
			vload_failed(&L, e.slots[i].gen, e.slots[i].block,
				     e.slots[i].t0, now_us(), "LOST -1 -1 -1");
	return vload_close(&L, e.fatal ? 1 : ret);
}

/* ---- one command ------------------------------------------------------------ */

static void one_done(struct engine *e, struct slot *sl, int status,
		     struct scsi_task *task)
{
	int key, asc, ascq;
	int *worst = e->priv;

	sense_fields(task, status, &key, &asc, &ascq);
	printf("block=%" PRIu64 " op=%s result=%s", sl->block,
	       sl->write ? "write" : "read", status_name(status));
	if (key >= 0)
		printf(" key=0x%02x asc=0x%02x ascq=0x%02x", key, asc, ascq);
	printf(" ms=%" PRId64 "\n", (now_us() - sl->t0) / 1000);
	fflush(stdout);
	if (status == SCSI_STATUS_CHECK_CONDITION && *worst < 3)
		*worst = 3;
	else if (status != SCSI_STATUS_GOOD && status != SCSI_STATUS_CHECK_CONDITION)
		*worst = 1;
}

static int run_one(struct session *s, const struct verify_opts *o)
{
	static struct engine e;
	int worst = 0;
	unsigned int i;

	if (o->one_block + o->qd > s->nr_blocks) {
		fprintf(stderr, "%s: block %" PRIu64 " (+%u) is beyond the LUN (%" PRIu64 " blocks)\n",
			prog, o->one_block, o->qd, s->nr_blocks);
		return 2;
	}
	engine_init(&e, s);
	e.done = one_done;
	e.priv = &worst;
	for (i = 0; i < o->qd; i++) {
		struct slot *sl = &e.slots[i];

		sl->write = o->one_write;
		sl->block = o->one_block + i;
		sl->gen = 1;
		sl->ua_left = UA_RETRIES;
		if (sl->write)
			stamp_fill(sl->buf, sl->block, o->seed, 1);
		sl->t0 = now_us();
		if (slot_submit(&e, sl))
			return 1;
	}
	while (e.inflight) {
		if (engine_poll(&e, 100) ||
		    now_us() > e.slots[0].t0 + (int64_t)(o->timeout_s + 5) * 1000000) {
			fprintf(stderr, "%s: no answer; giving up\n", prog);
			engine_abandon(&e);
			return 1;
		}
	}
	return worst;	/* 0 all GOOD, 3 some CHECK CONDITION, 1 other */
}

/* ---- checker ---------------------------------------------------------------- */

struct reader {
	struct session s;
	struct engine e;
};

static void check_done(struct engine *e, struct slot *sl, int status,
		       struct scsi_task *task)
{
	struct check *C = e->priv;
	int key, asc, ascq;

	if (status != SCSI_STATUS_GOOD) {
		sense_fields(task, status, &key, &asc, &ascq);
		printf("BAD block %" PRIu64 " cannot be read: %s key 0x%02x asc 0x%02x ascq 0x%02x\n",
		       sl->block, status_name(status), key & 0xff, asc & 0xff,
		       ascq & 0xff);
		C->bad++;
		return;
	}
	check_one(C, sl->gen, sl->buf);	/* gen holds the group index */
}

static int run_check(const char *src, const struct verify_opts *o)
{
	struct model m = { 0 };
	struct check C;
	static struct reader rd;	/* its slots may outlive this call */
	bool finished = false;
	bool iscsi = !strncmp(src, "iscsi://", 8);

	if (check_prepare(&C, &m, o->logs, o->nr_logs))
		goto out;
	if (!iscsi) {
		if (check_image(&C, src))
			goto out;
	} else {
		if (session_open(&rd.s, src, o))
			goto out;
		engine_init(&rd.e, &rd.s);
		rd.e.done = check_done;
		rd.e.priv = &C;
		for (;;) {
			struct slot *sl;

			while (C.next < C.nr_grp &&
			       (sl = engine_free_slot(&rd.e, o->qd))) {
				sl->write = false;
				sl->block = m.r[C.grp[C.next]].block;
				sl->gen = C.next++;
				sl->ua_left = UA_RETRIES;
				sl->t0 = now_us();
				if (sl->block >= rd.s.nr_blocks) {
					printf("BAD block %" PRIu64 " is beyond the LUN\n",
					       sl->block);
					C.bad++;
					continue;
				}
				if (slot_submit(&rd.e, sl))
					break;
			}
			if (rd.e.fatal || (!rd.e.inflight && C.next >= C.nr_grp))
				break;
			if (engine_poll(&rd.e, 100)) {
				rd.e.fatal = true;
				break;
			}
		}
		if (rd.e.inflight)
			engine_abandon(&rd.e);
		session_close(&rd.s);
		if (rd.e.fatal) {
			fprintf(stderr, "%s: the check did not finish\n", prog);
			goto out;
		}
	}
	finished = true;
out:
	return check_finish(&C, &m, finished);
}

int main(int argc, char **argv)
{
	struct verify_opts o;
	struct session s;
	int ret;

	ret = verify_parse_args(argc, argv, VERIFY_OPTS_ONE, usage, &o);
	if (ret)
		return ret;
	if (o.mode == MODE_CHECK)
		return run_check(o.target, &o);
	if (strncmp(o.target, "iscsi://", 8)) {
		fprintf(stderr, "%s: '%s' is not an iscsi:// URL\n", prog, o.target);
		return 2;
	}
	if (session_open(&s, o.target, &o))
		return 1;
	if (o.mode == MODE_LOAD)
		ret = run_load(&s, &o);
	else
		ret = run_one(&s, &o);
	session_close(&s);
	return ret;
}
#endif /* ISCSI_VERIFY_STUB */
