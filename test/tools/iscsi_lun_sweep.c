// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * iscsi_lun_sweep.c - one libiscsi session that writes and reads back a
 * block on each of many LUNs of a target, for the scale test: it proves
 * that every LU of a gateway with hundreds of LUs works, and that commands
 * of different LUs in flight together (up to --window at once, so they
 * interleave on the gateway's shared sheep connections) each reach their
 * own VDI.
 *
 *   iscsi_lun_sweep iscsi://HOST:PORT/IQN/FIRST --count N [--seed S]
 *                   [--window W]
 *
 * LUN FIRST + i gets one 4 KiB block at byte (i % 1024) * 4 KiB (so every
 * LUN needs 4 MiB of capacity) whose bytes derive from the seed and the
 * LUN number: a block that landed on the wrong LUN, or a stale one, reads
 * back wrong.  All writes are sent first, then all reads.  Prints
 *   luns=N written=N verified=N
 * and exits 0, or names the first LUN that failed and exits 1.  Without
 * libiscsi's headers it builds a stub that exits 77 (the tests then SKIP).
 */
#if !__has_include(<iscsi/iscsi.h>)
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "iscsi_lun_sweep: built without libiscsi-dev\n");
	return 77;
}
#else
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "sheepdog.h"
#include "../common/mix64.h"

#define SWEEP_INITIATOR	"iqn.2026-11.org.sheepdog:lun-sweep"
#define SWEEP_BLOCK	4096u
#define SWEEP_SPREAD	1024u		/* distinct block offsets */
#define SWEEP_MAX_WINDOW 256u

struct sweep_cmd {
	struct sweep *sw;
	int lun;
	unsigned int attentions;	/* unit attentions answered */
	uint8_t buf[SWEEP_BLOCK];
	struct scsi_iovec iov;
};

struct sweep {
	struct iscsi_context *iscsi;
	uint64_t seed;
	int first;
	unsigned int count, window;
	bool reading;
	unsigned int next, inflight, done_ok;
	char err[256];
	struct sweep_cmd *cmds;		/* one per LUN */
};

static void fill(uint64_t seed, int lun, uint8_t *buf)
{
	uint64_t x;
	unsigned int i;

	for (i = 0; i < SWEEP_BLOCK; i += 8) {
		x = mix64(seed ^ ((uint64_t)lun << 32) ^ i);
		memcpy(buf + i, &x, 8);
	}
}

static uint64_t lba_of(const struct sweep *sw, int lun)
{
	return (uint64_t)((unsigned int)(lun - sw->first) % SWEEP_SPREAD) *
	       (SWEEP_BLOCK / 512);
}

static bool cmd_send(struct sweep *sw, struct sweep_cmd *c);

static void cmd_done(struct iscsi_context *iscsi, int status, void *data,
		     void *priv)
{
	struct sweep_cmd *c = priv;
	struct sweep *sw = c->sw;
	struct scsi_task *task = data;
	uint8_t want[SWEEP_BLOCK];

	(void)iscsi;
	sw->inflight--;
	/* a new LU reports its power-on unit attention once per nexus */
	if (status == SCSI_STATUS_CHECK_CONDITION &&
	    task->sense.key == SCSI_SENSE_UNIT_ATTENTION &&
	    c->attentions++ < 3) {
		scsi_free_scsi_task(task);
		cmd_send(sw, c);
		return;
	}
	if (status != SCSI_STATUS_GOOD) {
		if (!sw->err[0])
			snprintf(sw->err, sizeof(sw->err),
				 "LUN %d: %s failed: %s", c->lun,
				 sw->reading ? "read" : "write",
				 iscsi_get_error(sw->iscsi));
	} else if (sw->reading) {
		fill(sw->seed, c->lun, want);
		if (memcmp(c->buf, want, SWEEP_BLOCK)) {
			if (!sw->err[0])
				snprintf(sw->err, sizeof(sw->err),
					 "LUN %d: the block read back differs from the one written",
					 c->lun);
		} else {
			sw->done_ok++;
		}
	} else {
		sw->done_ok++;
	}
	scsi_free_scsi_task(task);
}

static bool cmd_send(struct sweep *sw, struct sweep_cmd *c)
{
	struct scsi_task *task;
	uint64_t lba = lba_of(sw, c->lun);

	if (sw->reading) {
		memset(c->buf, 0, SWEEP_BLOCK);
		c->iov.iov_base = c->buf;
		c->iov.iov_len = SWEEP_BLOCK;
		task = iscsi_read16_iov_task(sw->iscsi, c->lun, lba,
					     SWEEP_BLOCK, 512, 0, 0, 0, 0, 0,
					     cmd_done, c, &c->iov, 1);
	} else {
		fill(sw->seed, c->lun, c->buf);
		task = iscsi_write16_task(sw->iscsi, c->lun, lba, c->buf,
					  SWEEP_BLOCK, 512, 0, 0, 0, 0, 0,
					  cmd_done, c);
	}
	if (!task) {
		snprintf(sw->err, sizeof(sw->err), "LUN %d: cannot queue: %s",
			 c->lun, iscsi_get_error(sw->iscsi));
		return false;
	}
	sw->inflight++;
	return true;
}

/* one pass (all writes or all reads) with up to window commands in flight */
static int pass(struct sweep *sw)
{
	struct pollfd pfd;

	sw->next = 0;
	sw->done_ok = 0;
	while (!sw->err[0] && (sw->next < sw->count || sw->inflight)) {
		while (!sw->err[0] && sw->next < sw->count &&
		       sw->inflight < sw->window)
			if (!cmd_send(sw, &sw->cmds[sw->next++]))
				break;
		if (sw->err[0])
			break;
		pfd.fd = iscsi_get_fd(sw->iscsi);
		pfd.events = iscsi_which_events(sw->iscsi);
		if (poll(&pfd, 1, 30000) <= 0) {
			snprintf(sw->err, sizeof(sw->err),
				 "no answer for 30 s (%u in flight)",
				 sw->inflight);
			break;
		}
		if (iscsi_service(sw->iscsi, pfd.revents) < 0) {
			snprintf(sw->err, sizeof(sw->err), "session: %s",
				 iscsi_get_error(sw->iscsi));
			break;
		}
	}
	return sw->err[0] ? -1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: iscsi_lun_sweep iscsi://HOST:PORT/IQN/FIRST --count N [--seed S] [--window W]\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sweep sw = { .seed = 1, .window = 64 };
	struct iscsi_url *url = NULL;
	unsigned int i, written;
	int c, ret = 1, bad = 0;
	uint64_t v;

	while ((c = getopt_long(argc, argv, "n:s:w:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			bad = sd_parse_uint("count", optarg, 1, UINT32_MAX, &v);
			sw.count = (unsigned int)v;
			break;
		case 's':
			bad = sd_parse_uint("seed", optarg, 0, UINT64_MAX,
					    &sw.seed);
			break;
		case 'w':
			bad = sd_parse_uint("window", optarg, 1,
					    SWEEP_MAX_WINDOW, &v);
			sw.window = (unsigned int)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "iscsi_lun_sweep: %s\n", sd_get_error());
			return 2;
		}
	}
	if (optind != argc - 1 || !sw.count) {
		usage(stderr);
		return 2;
	}
	sw.iscsi = iscsi_create_context(SWEEP_INITIATOR);
	if (!sw.iscsi) {
		fprintf(stderr, "iscsi_lun_sweep: out of memory\n");
		return 1;
	}
	url = iscsi_parse_full_url(sw.iscsi, argv[optind]);
	if (!url) {
		fprintf(stderr, "iscsi_lun_sweep: bad URL '%s': %s\n",
			argv[optind], iscsi_get_error(sw.iscsi));
		goto out;
	}
	sw.first = url->lun;
	sw.cmds = calloc(sw.count, sizeof(*sw.cmds));
	if (!sw.cmds) {
		fprintf(stderr, "iscsi_lun_sweep: out of memory\n");
		goto out;
	}
	for (i = 0; i < sw.count; i++) {
		sw.cmds[i].sw = &sw;
		sw.cmds[i].lun = sw.first + (int)i;
	}
	iscsi_set_targetname(sw.iscsi, url->target);
	iscsi_set_session_type(sw.iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(sw.iscsi, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_full_connect_sync(sw.iscsi, url->portal, url->lun)) {
		fprintf(stderr, "iscsi_lun_sweep: login to %s failed: %s\n",
			argv[optind], iscsi_get_error(sw.iscsi));
		goto out;
	}
	if (pass(&sw))
		goto fail;
	written = sw.done_ok;
	sw.reading = true;
	if (pass(&sw))
		goto fail;
	printf("luns=%u written=%u verified=%u\n", sw.count, written,
	       sw.done_ok);
	ret = sw.done_ok == sw.count && written == sw.count ? 0 : 1;
	iscsi_logout_sync(sw.iscsi);
	goto out;
fail:
	fprintf(stderr, "iscsi_lun_sweep: %s\n", sw.err);
out:
	if (url)
		iscsi_destroy_url(url);
	iscsi_destroy_context(sw.iscsi);
	free(sw.cmds);
	return ret;
}
#endif
