// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cluster.c - minisheep's cluster configuration (creation time, default
 * copies and copy policy, object size shift, the lock flag), persisted in
 * DIR/config as "key=value" lines, and the cluster-level operations the
 * real dog CLI sends: GET_NODE_LIST (the live nodes), STAT_CLUSTER (the
 * epochs), CLUSTER_INFO, MAKE_FS (reformat: wipes every object) and
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
int cluster_load(const char *dir, int copies, int shift, bool lock,
		 bool strict)
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
	if (strict)
		ms_cluster.flags |= MS_CLUSTER_FLAG_STRICT;
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

/* the live nodes' sd_node entries into @p (room for @max), by node id as
 * sheep's node tree sorts them */
static uint32_t fill_nodes(uint8_t *p, uint32_t max, uint32_t mask)
{
	int order[MS_MAX_NODES], nr = 0, i, j;

	for (i = 0; i < MS_MAX_NODES; i++)
		if (mask & (1u << i))
			order[nr++] = i;
	for (i = 1; i < nr; i++)
		for (j = i; j > 0 && node_port(order[j - 1]) >
			     node_port(order[j]); j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (i = 0; i < nr && (uint32_t)i < max; i++)
		node_fill_sd_node(p + MS_NODE_SIZE * i, order[i]);
	return (uint32_t)nr;
}

static uint32_t alive_mask(void)
{
	uint32_t m = 0;
	int n;

	for (n = 0; n < MS_MAX_NODES; n++)
		if (node_alive(n))
			m |= 1u << n;
	return m;
}

void cluster_get_node_list(struct ms_request *r)
{
	uint32_t mask = alive_mask(), nr = (uint32_t)__builtin_popcount(mask);

	if (r->req.data_length < nr * MS_NODE_SIZE) {
		r->rsp.result = SD_RES_BUFFER_SMALL;
		return;
	}
	if (!ops_alloc_rdata(r, nr * MS_NODE_SIZE))
		return;
	r->rsp.node.nr_nodes = fill_nodes(r->rdata, nr, mask);
}

static void fill_cluster_fields(uint8_t *p)
{
	p[25] = ms_cluster.copies;
	p[26] = ms_cluster.copy_policy;
}

/*
 * The epoch log, newest first, as far as it fits: each entry 48 bytes
 * plus nodes_nr (from the request) sd_nodes.
 */
void cluster_stat(struct ms_request *r)
{
	uint32_t nodes_nr = sd_get_le32(r->req.raw + 24), epoch, nr = 0;
	uint64_t entry, len, time_s;
	uint32_t mask;
	uint8_t *p;

	if (!nodes_nr)
		nodes_nr = 1;
	if (nodes_nr > 6144)
		nodes_nr = 6144;
	entry = 48 + (uint64_t)nodes_nr * MS_NODE_SIZE;
	epoch = node_epoch(r->node);
	len = r->req.data_length / entry * entry;
	if (!len)
		len = r->req.data_length < 48 ? 0 : 48;
	if (len < 48) {
		r->rsp.result = SD_RES_BUFFER_SMALL;
		return;
	}
	if (len > entry * epoch)
		len = entry * epoch;
	if (!ops_alloc_rdata(r, (uint32_t)len))
		return;
	for (p = r->rdata; epoch && (uint64_t)(p - r->rdata) + 48 <= len;
	     epoch--, p += entry) {
		if (!node_epoch_nodes(epoch, &mask, &time_s)) {
			mask = 0;
			time_s = (uint64_t)time(NULL);
		}
		sd_put_le64(p, ms_cluster.ctime);
		sd_put_le64(p + 8, time_s);
		sd_put_le32(p + 16, epoch);
		fill_cluster_fields(p);
		sd_put_le16(p + 30, ms_cluster.flags);
		memcpy(p + 32, ms_cluster.store,
		       strnlen(ms_cluster.store, 15));
		if ((uint64_t)(p - r->rdata) + entry <= len) {
			nr = fill_nodes(p + 48, nodes_nr, mask);
			sd_put_le32(p + 20, nr);
		} else {
			sd_put_le32(p + 20, (uint32_t)
				    __builtin_popcount(mask));
		}
	}
	r->rsp.data_length = (uint32_t)(p - r->rdata) < len ?
		(uint32_t)(p - r->rdata) : (uint32_t)len;
	/* local_stat_cluster(): the log, and the status as the result */
	if (node_state(r->node) == MS_NODE_WAIT)
		r->rsp.result = SD_RES_WAIT_FOR_JOIN;
}

void cluster_info(struct ms_request *r)
{
	uint32_t mask = alive_mask(), nr = (uint32_t)__builtin_popcount(mask);
	uint32_t len = 48 + nr * MS_NODE_SIZE;
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
	sd_put_le16(p + 2, (uint16_t)nr);
	sd_put_le32(p + 4, node_epoch(r->node));
	sd_put_le64(p + 8, ms_cluster.ctime);
	sd_put_le16(p + 16, ms_cluster.flags);
	p[18] = ms_cluster.copies;
	p[19] = ms_cluster.copy_policy;
	/* sys->cinfo.status of the node that answers */
	switch (node_state(r->node)) {
	case MS_NODE_WAIT: p[20] = 2; break;		/* SD_STATUS_WAIT */
	case MS_NODE_SHUTDOWN: p[20] = 3; break;
	case MS_NODE_STOPPING: p[20] = 4; break;	/* SD_STATUS_KILLED */
	default: p[20] = 1; break;			/* SD_STATUS_OK */
	}
	p[21] = ms_cluster.block_shift;
	memcpy(p + 25, ms_cluster.store, strnlen(ms_cluster.store, 15));
	fill_nodes(p + 48, (len - 48) / MS_NODE_SIZE, mask);
}

/*
 * MAKE_FS: like `dog cluster format`, this starts a new cluster: every
 * object and every VDI is gone afterwards.
 */
int cluster_make_fs(struct ms_request *r)
{
	const uint8_t *raw = r->req.raw;
	uint8_t copies = raw[16], shift = raw[28];
	uint64_t ctime = sd_get_le64(raw + 8);
	int ret = SD_RES_SUCCESS;

	if (shift == 0)
		shift = SD_DEFAULT_BLOCK_SHIFT;
	if (shift < SD_MIN_BLOCK_SHIFT || shift > SD_MAX_BLOCK_SHIFT ||
	    (raw[17] && !(raw[17] & 0x0f)))
		return SD_RES_INVALID_PARMS;
	vdi_wipe();
	ms_cluster.ctime = ctime ? ctime : ms_now_ctime();
	ms_cluster.copies = copies ? copies : 1;
	ms_cluster.copy_policy = raw[17];
	__atomic_store_n(&ms_cluster.flags, sd_get_le16(raw + 18),
			 __ATOMIC_RELEASE);
	ms_cluster.block_shift = shift;
	if (r->data_len) {
		memset(ms_cluster.store, 0, sizeof(ms_cluster.store));
		memcpy(ms_cluster.store, r->data,
		       strnlen((const char *)r->data,
			       r->data_len < 15 ? r->data_len : 15));
	}
	if (cluster_save())
		ret = SD_RES_EIO;
	ms_log("cluster formatted: copies %u shift %u flags 0x%x",
	       ms_cluster.copies, ms_cluster.block_shift, ms_cluster.flags);
	return ret;
}

void cluster_get_default(struct ms_request *r)
{
	r->rsp.cluster.nr_copies = ms_cluster.copies;
	r->rsp.cluster.copy_policy = ms_cluster.copy_policy;
	r->rsp.cluster.block_size_shift = ms_cluster.block_shift;
}
