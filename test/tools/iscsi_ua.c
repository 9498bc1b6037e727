// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * iscsi_ua.c - watch a LUN grow from several iSCSI sessions at once (the
 * online resize tests).  It logs in to each URL given (several sessions,
 * so several I_T nexuses, one initiator name each), clears the unit
 * attentions of a new session, and prints one line
 *   ready size=BYTES
 * Then, while the caller grows the VDI, it sends READ CAPACITY (16) on
 * every session every 100 ms until each one reports --grow-to bytes, and
 * counts the CAPACITY DATA HAS CHANGED unit attentions (2A/09) each
 * session gets; a few more commands per session afterwards catch a
 * second one.  Then it writes the first and the last block of the new
 * space through the first session and reads them back through the last.
 * It prints, per session,
 *   session I: capacity_changed_ua=N new_size_after_ms=T
 * (T counted from the "ready" line) and "data: ok" or what went wrong, and
 * exits 0 when every session got exactly one 2A/09, saw the new size and
 * the data came back; 1 otherwise; 2 on usage errors; 77 (skip) when
 * built without libiscsi's headers.
 */
#if !__has_include(<iscsi/iscsi.h>)
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "iscsi_ua: built without libiscsi-dev; install it and rebuild\n");
	return 77;
}
#else
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define MAX_SESSIONS	8
#define POLL_MS		100
#define AFTER_ROUNDS	5	/* commands per session after the new size */
#define UA_CLEAR_TRIES	8

static const char *prog = "iscsi_ua";

struct session {
	struct iscsi_context *iscsi;
	int lun;
	uint32_t lbsize;
	uint64_t size;		/* bytes, last READ CAPACITY */
	int ua_changed;		/* 2A/09 seen */
	int64_t grown_ms;	/* when the new size showed, -1 not yet */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_capacity_ua(const struct scsi_task *t)
{
	return t->status == SCSI_STATUS_CHECK_CONDITION &&
	       t->sense.key == SCSI_SENSE_UNIT_ATTENTION &&
	       t->sense.ascq == SCSI_SENSE_ASCQ_CAPACITY_DATA_HAS_CHANGED;
}

/*
 * One READ CAPACITY (16): 0 with s->size set, 1 for a unit attention
 * (2A/09 counted in s->ua_changed when @count), -1 on failure.
 */
static int read_capacity(struct session *s, int idx, bool count)
{
	struct scsi_readcapacity16 *rc;
	struct scsi_task *t;
	int ret = -1;

	t = iscsi_readcapacity16_sync(s->iscsi, s->lun);
	if (!t) {
		fprintf(stderr, "%s: session %d: READ CAPACITY 16: %s\n", prog,
			idx, iscsi_get_error(s->iscsi));
		return -1;
	}
	if (t->status == SCSI_STATUS_CHECK_CONDITION &&
	    t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
		if (count && is_capacity_ua(t))
			s->ua_changed++;
		else if (count)
			printf("session %d: other unit attention %04x\n", idx,
			       t->sense.ascq);
		ret = 1;
	} else if (t->status == SCSI_STATUS_GOOD &&
		   (rc = scsi_datain_unmarshall(t)) && rc->block_length) {
		s->lbsize = rc->block_length;
		s->size = (rc->returned_lba + 1) * rc->block_length;
		ret = 0;
	} else {
		fprintf(stderr, "%s: session %d: READ CAPACITY 16: status %d sense %d/%04x\n",
			prog, idx, t->status, t->sense.key, t->sense.ascq);
	}
	scsi_free_scsi_task(t);
	return ret;
}

static int session_open(struct session *s, int idx, const char *url_str)
{
	char name[96];
	struct iscsi_url *url;
	int tries;

	memset(s, 0, sizeof(*s));
	s->grown_ms = -1;
	/* one initiator name per session: separate I_T nexuses */
	snprintf(name, sizeof(name), "iqn.2026-11.org.sheepdog:iscsi-ua-%d",
		 idx);
	s->iscsi = iscsi_create_context(name);
	if (!s->iscsi)
		return -1;
	url = iscsi_parse_full_url(s->iscsi, url_str);
	if (!url) {
		fprintf(stderr, "%s: bad URL '%s': %s\n", prog, url_str,
			iscsi_get_error(s->iscsi));
		return -1;
	}
	iscsi_set_targetname(s->iscsi, url->target);
	iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->iscsi, ISCSI_HEADER_DIGEST_NONE);
	s->lun = url->lun;
	if (iscsi_full_connect_sync(s->iscsi, url->portal, url->lun)) {
		fprintf(stderr, "%s: cannot log in to %s: %s\n", prog, url_str,
			iscsi_get_error(s->iscsi));
		iscsi_destroy_url(url);
		return -1;
	}
	iscsi_destroy_url(url);
	/* a new nexus starts with POWER ON / RESET and the like */
	for (tries = 0; tries < UA_CLEAR_TRIES; tries++)
		if (read_capacity(s, idx, false) == 0)
			return 0;
	return -1;
}

/* WRITE (16) one block at @lba through @w, READ (16) it back through @r */
static bool block_roundtrip(struct session *w, struct session *r,
			    uint64_t lba)
{
	unsigned char *buf = malloc(w->lbsize);
	struct scsi_task *t;
	bool ok = false;
	uint32_t i;

	if (!buf)
		return false;
	for (i = 0; i < w->lbsize; i++)
		buf[i] = (unsigned char)(lba * 131 + i * 7 + 1);
	t = iscsi_write16_sync(w->iscsi, w->lun, lba, buf, w->lbsize,
			       (int)w->lbsize, 0, 0, 0, 0, 0);
	if (!t || t->status != SCSI_STATUS_GOOD) {
		printf("data: WRITE 16 at LBA %" PRIu64 " failed: %s\n", lba,
		       t ? "bad status" : iscsi_get_error(w->iscsi));
		goto out;
	}
	scsi_free_scsi_task(t);
	t = iscsi_read16_sync(r->iscsi, r->lun, lba, r->lbsize,
			      (int)r->lbsize, 0, 0, 0, 0, 0);
	if (!t || t->status != SCSI_STATUS_GOOD ||
	    t->datain.size < (int)r->lbsize ||
	    memcmp(t->datain.data, buf, r->lbsize)) {
		printf("data: READ 16 at LBA %" PRIu64 " did not return what was written\n",
		       lba);
		goto out;
	}
	ok = true;
out:
	if (t)
		scsi_free_scsi_task(t);
	free(buf);
	return ok;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s --grow-to BYTES [--timeout SECONDS] URL [URL...]\n",
		prog);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "grow-to", required_argument, NULL, 'g' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct session s[MAX_SESSIONS];
	uint64_t grow_to = 0, old_size;
	int64_t start, deadline;
	int i, n, c, timeout_s = 30, rounds, ret = 0;
	bool all;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		if (c == 'g')
			grow_to = strtoull(optarg, NULL, 0);
		else if (c == 't')
			timeout_s = atoi(optarg);
		else {
			usage();
			return 2;
		}
	}
	n = argc - optind;
	if (!grow_to || n < 1 || n > MAX_SESSIONS || timeout_s <= 0) {
		usage();
		return 2;
	}
	for (i = 0; i < n; i++)
		if (session_open(&s[i], i, argv[optind + i]))
			return 1;
	old_size = s[0].size;
	if (grow_to <= old_size) {
		fprintf(stderr, "%s: the LUN has %" PRIu64 " bytes already\n",
			prog, old_size);
		return 2;
	}
	printf("ready size=%" PRIu64 "\n", old_size);
	fflush(stdout);

	start = now_ms();
	deadline = start + timeout_s * 1000LL;
	do {
		all = true;
		for (i = 0; i < n; i++) {
			if (s[i].grown_ms >= 0)
				continue;
			if (read_capacity(&s[i], i, true) < 0)
				return 1;
			if (s[i].size == grow_to)
				s[i].grown_ms = now_ms() - start;
			else
				all = false;
		}
		if (!all)
			usleep(POLL_MS * 1000);
	} while (!all && now_ms() < deadline);
	/* a second unit attention would come now */
	for (rounds = 0; all && rounds < AFTER_ROUNDS; rounds++)
		for (i = 0; i < n; i++)
			if (read_capacity(&s[i], i, true) < 0)
				return 1;

	for (i = 0; i < n; i++) {
		printf("session %d: capacity_changed_ua=%d new_size_after_ms=%" PRId64 "\n",
		       i, s[i].ua_changed, s[i].grown_ms);
		if (s[i].ua_changed != 1 || s[i].grown_ms < 0 ||
		    s[i].size != grow_to)
			ret = 1;
	}
	if (all) {
		if (block_roundtrip(&s[0], &s[n - 1], old_size / s[0].lbsize) &&
		    block_roundtrip(&s[0], &s[n - 1],
				    grow_to / s[0].lbsize - 1))
			printf("data: ok\n");
		else
			ret = 1;
	}
	for (i = 0; i < n; i++) {
		iscsi_logout_sync(s[i].iscsi);
		iscsi_destroy_context(s[i].iscsi);
	}
	return ret;
}
#endif
