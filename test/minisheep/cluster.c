// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cluster.c - minisheep's cluster configuration (creation time, default
 * copies and copy policy, object size shift, the lock flag), persisted in
 * DIR/config as "key=value" lines, and the cluster-level operations the
 * real dog CLI sends: GET_NODE_LIST (one node), STAT_CLUSTER (one epoch),
 * CLUSTER_INFO, MAKE_FS (reformat: wipes every object) and
 * GET_CLUSTER_DEFAULT.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "minisheep.h"

struct ms_cluster ms_cluster;
char ms_dir[PATH_MAX];
bool ms_nosync;
uint16_t ms_node_port = SD_DEFAULT_PORT;

uint64_t ms_now_ctime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec << 32) | (uint64_t)ts.tv_nsec;
}

int cluster_save(void)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 16];
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/config", ms_dir);
	snprintf(tmp, sizeof(tmp), "%s/.config.tmp", ms_dir);
	f = fopen(tmp, "w");
	if (!f) {
		ms_log("cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(f, "ctime=%" PRIu64 "\ncopies=%u\ncopy_policy=%u\n"
		"block_size_shift=%u\nflags=%u\nstore=%s\n",
		ms_cluster.ctime, ms_cluster.copies, ms_cluster.copy_policy,
		ms_cluster.block_shift, ms_cluster.flags, ms_cluster.store);
	if (fflush(f) || (!ms_nosync && fsync(fileno(f))))
		ret = -1;
	if (fclose(f))
		ret = -1;
	if (!ret && rename(tmp, path))
		ret = -1;
	if (ret)
		ms_log("cannot write %s: %s", path, strerror(errno));
	return ret;
}

static int cluster_read(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');
		unsigned long long v;

		if (!eq)
			continue;
		*eq++ = '\0';
		eq[strcspn(eq, "\n")] = '\0';
		if (!strcmp(line, "store")) {
			snprintf(ms_cluster.store, sizeof(ms_cluster.store),
				 "%s", eq);
			continue;
		}
		v = strtoull(eq, NULL, 10);
		if (!strcmp(line, "ctime"))
			ms_cluster.ctime = v;
		else if (!strcmp(line, "copies"))
			ms_cluster.copies = (uint8_t)v;
		else if (!strcmp(line, "copy_policy"))
			ms_cluster.copy_policy = (uint8_t)v;
		else if (!strcmp(line, "block_size_shift"))
			ms_cluster.block_shift = (uint8_t)v;
		else if (!strcmp(line, "flags"))
			ms_cluster.flags = (uint16_t)v;
	}
	fclose(f);
	return 0;
}

/*
 * Load DIR/config, or format a new cluster.  Options given on the command
 * line (copies/shift >= 0, lock) override the stored values and are saved.
 */
int cluster_load(const char *dir, int copies, int shift, bool lock)
{
	char path[PATH_MAX + 16];
	int ret;

	snprintf(ms_dir, PATH_MAX, "%s", dir);
	snprintf(path, sizeof(path), "%s/config", dir);
	ret = cluster_read(path);
	if (ret == -ENOENT) {
		ms_cluster.ctime = ms_now_ctime();
		ms_cluster.copies = 1;
		ms_cluster.copy_policy = 0;
		ms_cluster.block_shift = SD_DEFAULT_BLOCK_SHIFT;
		ms_cluster.flags = 0;
		snprintf(ms_cluster.store, sizeof(ms_cluster.store), "plain");
		ms_log("formatting %s", dir);
	} else if (ret) {
		ms_log("cannot read %s: %s", path, strerror(-ret));
		return -1;
	}
	if (copies >= 0)
		ms_cluster.copies = (uint8_t)copies;
	if (shift >= 0)
		ms_cluster.block_shift = (uint8_t)shift;
	if (lock)
		ms_cluster.flags |= MS_CLUSTER_FLAG_LOCK;
	if (!ms_cluster.ctime)
		ms_cluster.ctime = ms_now_ctime();
	if (!ms_cluster.copies)
		ms_cluster.copies = 1;
	if (ms_cluster.block_shift < SD_MIN_BLOCK_SHIFT ||
	    ms_cluster.block_shift > SD_MAX_BLOCK_SHIFT) {
		ms_log("bad block size shift %u (20..31)",
		       ms_cluster.block_shift);
		return -1;
	}
	return cluster_save();
}

void cluster_fill_node_id(uint8_t *p)
{
	memset(p, 0, 40);
	/* 127.0.0.1 as an IPv4-mapped address: 12 zero bytes + 4 bytes */
	p[12] = 127;
	p[15] = 1;
	sd_put_le16(p + 16, ms_node_port);
}

void cluster_fill_node(uint8_t *p)
{
	struct statvfs sv;
	uint64_t space = 0;

	memset(p, 0, MS_NODE_SIZE);
	cluster_fill_node_id(p + 24);
	sd_put_le16(p + 64, 128);		/* nr_vnodes */
	sd_put_le32(p + 68, 0x0100007f);	/* zone */
	if (!statvfs(ms_dir, &sv))
		space = (uint64_t)sv.f_blocks * sv.f_frsize;
	sd_put_le64(p + 72, space);
}

void cluster_get_node_list(struct ms_request *r)
{
	if (r->req.data_length < MS_NODE_SIZE) {
		r->rsp.result = SD_RES_BUFFER_SMALL;
		return;
	}
	if (!ops_alloc_rdata(r, MS_NODE_SIZE))
		return;
	cluster_fill_node(r->rdata);
	r->rsp.node.nr_nodes = 1;
}

static void fill_cluster_fields(uint8_t *p)
{
	p[25] = ms_cluster.copies;
	p[26] = ms_cluster.copy_policy;
}

void cluster_stat(struct ms_request *r)
{
	uint32_t nodes_nr = sd_get_le32(r->req.raw + 24);
	uint64_t entry, len;
	uint8_t *p;

	if (!nodes_nr)
		nodes_nr = 1;
	entry = 48 + (uint64_t)nodes_nr * MS_NODE_SIZE;
	len = entry < r->req.data_length ? entry : r->req.data_length;
	if (len < 48) {
		r->rsp.result = SD_RES_BUFFER_SMALL;
		return;
	}
	if (!ops_alloc_rdata(r, (uint32_t)len))
		return;
	p = r->rdata;
	sd_put_le64(p, ms_cluster.ctime);
	sd_put_le64(p + 8, (uint64_t)time(NULL));
	sd_put_le32(p + 16, 1);			/* epoch */
	sd_put_le32(p + 20, 1);			/* nr_nodes */
	fill_cluster_fields(p);
	sd_put_le16(p + 30, ms_cluster.flags);
	memcpy(p + 32, ms_cluster.store, strnlen(ms_cluster.store, 15));
	if (len >= 48 + MS_NODE_SIZE)
		cluster_fill_node(p + 48);
}

void cluster_info(struct ms_request *r)
{
	uint32_t len = 48 + MS_NODE_SIZE;
	uint8_t *p;

	if (r->req.data_length < len)
		len = r->req.data_length;
	if (len < 48) {
		r->rsp.result = SD_RES_BUFFER_SMALL;
		return;
	}
	if (!ops_alloc_rdata(r, len))
		return;
	p = r->rdata;
	p[0] = SD_SHEEP_PROTO_VER;
	sd_put_le16(p + 2, 1);			/* nr_nodes */
	sd_put_le32(p + 4, 1);			/* epoch */
	sd_put_le64(p + 8, ms_cluster.ctime);
	sd_put_le16(p + 16, ms_cluster.flags);
	p[18] = ms_cluster.copies;
	p[19] = ms_cluster.copy_policy;
	p[20] = 1;				/* SD_STATUS_OK */
	p[21] = ms_cluster.block_shift;
	memcpy(p + 25, ms_cluster.store, strnlen(ms_cluster.store, 15));
	if (len >= 48 + MS_NODE_SIZE)
		cluster_fill_node(p + 48);
}

/*
 * MAKE_FS: like `dog cluster format`, this starts a new cluster: every
 * object and every VDI is gone afterwards.
 */
void cluster_make_fs(struct ms_request *r)
{
	const uint8_t *raw = r->req.raw;
	uint8_t copies = raw[16], shift = raw[28];
	uint64_t ctime = sd_get_le64(raw + 8);

	if (shift == 0)
		shift = SD_DEFAULT_BLOCK_SHIFT;
	if (shift < SD_MIN_BLOCK_SHIFT || shift > SD_MAX_BLOCK_SHIFT ||
	    (raw[17] && !(raw[17] & 0x0f))) {
		r->rsp.result = SD_RES_INVALID_PARMS;
		return;
	}
	vdi_wipe();
	ms_cluster.ctime = ctime ? ctime : ms_now_ctime();
	ms_cluster.copies = copies ? copies : 1;
	ms_cluster.copy_policy = raw[17];
	ms_cluster.flags = sd_get_le16(raw + 18);
	ms_cluster.block_shift = shift;
	if (r->data_len) {
		memset(ms_cluster.store, 0, sizeof(ms_cluster.store));
		memcpy(ms_cluster.store, r->data,
		       strnlen((const char *)r->data,
			       r->data_len < 15 ? r->data_len : 15));
	}
	if (cluster_save())
		r->rsp.result = SD_RES_EIO;
	ms_log("cluster formatted: copies %u shift %u flags 0x%x",
	       ms_cluster.copies, ms_cluster.block_shift, ms_cluster.flags);
}

void cluster_get_default(struct ms_request *r)
{
	r->rsp.cluster.nr_copies = ms_cluster.copies;
	r->rsp.cluster.copy_policy = ms_cluster.copy_policy;
	r->rsp.cluster.block_size_shift = ms_cluster.block_shift;
}
