// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sdctl_admin.c - the sdctl verbs that manage VDIs: create, resize,
 * snapshot, clone, delete, unlock and list (table or raw).  Each one
 * connects, calls the matching sd_vdi_* administration function of the library, and
 * prints either the result or the library's one-line error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdctl.h"

int sdctl_vdi_create(struct sdctl_cmd *cmd)
{
	const char *name = cmd->argv[0], *s = cmd->argv[1];
	uint64_t size;
	uint32_t vid;
	int ret;

	if (sdctl_parse_size(s, &size) < 0)
		return sdctl_usage_error(cmd,
			"bad size '%s' (a number with optional K/M/G/T)", s);
	if (!size || size % 512)
		return sdctl_usage_error(cmd,
			"bad size '%s' (must be a non-zero multiple of 512)",
			s);
	ret = sdctl_connect(cmd);
	if (!ret && sd_vdi_create(cmd->client, name, size,
				  (uint8_t)cmd->block_shift, &vid) < 0)
		ret = sdctl_lib_fail();
	return ret;
}

int sdctl_vdi_resize(struct sdctl_cmd *cmd)
{
	const char *name = cmd->argv[0], *s = cmd->argv[1];
	uint64_t size;
	int ret;

	if (sdctl_parse_size(s, &size) < 0)
		return sdctl_usage_error(cmd,
			"bad size '%s' (a number with optional K/M/G/T)", s);
	if (size % 512)
		return sdctl_usage_error(cmd,
			"bad size '%s' (must be a multiple of 512)", s);
	ret = sdctl_connect(cmd);
	if (!ret && sd_vdi_resize(cmd->client, name, size, NULL) < 0)
		ret = sdctl_lib_fail();
	return ret;
}

int sdctl_vdi_snapshot(struct sdctl_cmd *cmd)
{
	uint32_t vid;
	int ret;

	if (cmd->snapid)
		return sdctl_usage_error(cmd,
			"snapshot tag '%u' is all digits (it would read as a snapshot id)",
			cmd->snapid);
	ret = sdctl_connect(cmd);
	if (!ret && sd_vdi_snapshot(cmd->client, cmd->argv[0], cmd->tag,
				    &vid) < 0)
		ret = sdctl_lib_fail();
	return ret;
}

int sdctl_vdi_clone(struct sdctl_cmd *cmd)
{
	uint32_t vid;
	int ret;

	if (!cmd->have_snap)
		return sdctl_usage_error(cmd,
			"vdi clone: -s TAG|SNAPID is required");
	ret = sdctl_connect(cmd);
	if (!ret && sd_vdi_clone(cmd->client, cmd->argv[0], cmd->tag,
				 cmd->snapid, cmd->argv[1], &vid) < 0)
		ret = sdctl_lib_fail();
	return ret;
}

int sdctl_vdi_delete(struct sdctl_cmd *cmd)
{
	int ret;

	ret = sdctl_connect(cmd);
	if (!ret && sd_vdi_delete(cmd->client, cmd->argv[0], cmd->tag,
				  cmd->snapid) < 0)
		ret = sdctl_lib_fail();
	return ret;
}

/*
 * The operator's way out when a gateway on another host died holding a
 * lock (on the same host the gateway's restart takes its own dead lock
 * over, see sd_hostlock.h).  Prints what was released.
 */
int sdctl_vdi_unlock(struct sdctl_cmd *cmd)
{
	char what[SD_ERROR_MAX];
	int ret;

	ret = sdctl_connect(cmd);
	if (ret)
		return ret;
	if (sd_vdi_unlock(cmd->client, cmd->argv[0],
			  cmd->have_snap ? cmd->tag : NULL, cmd->snapid,
			  cmd->force, what, sizeof(what)) < 0)
		return sdctl_lib_fail();
	printf("%s\n", what);
	return SDCTL_EXIT_OK;
}

/* ---- list ------------------------------------------------------------- */

/* "1.5 GiB" style, binary units */
static void sdctl_human_size(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {
		"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"
	};
	double d = (double)v;
	int u = -1;

	if (v < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)v);
		return;
	}
	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", d, units[u]);
}

static void sdctl_time_str(uint64_t t, char *buf, size_t len)
{
	time_t sec = (time_t)(t >> 32);
	struct tm tm;

	if (!t || !localtime_r(&sec, &tm) ||
	    !strftime(buf, len, "%Y-%m-%d %H:%M", &tm))
		snprintf(buf, len, "-");
}

/* table cell: control bytes shown as '?' so a name cannot break the line */
static void sdctl_print_cell(const char *s, int width)
{
	int n = 0;

	for (; *s; s++, n++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	for (; n < width; n++)
		putchar(' ');
}

/* raw string: double-quoted, \" \\ \n \t and \xHH escapes */
static void sdctl_print_quoted(const char *s)
{
	unsigned char ch;

	putchar('"');
	for (; *s; s++) {
		ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static uint32_t sdctl_list_id(const struct sd_vdi_info *i)
{
	return i->is_snapshot ? i->snap_id : 0;
}

static void sdctl_list_raw(const struct sd_vdi_info *l, size_t n)
{
	const struct sd_vdi_info *i;
	size_t k;

	for (k = 0; k < n; k++) {
		i = &l[k];
		sdctl_print_quoted(i->name);
		printf(" %u %llu %llu %llu %llu %06x ", sdctl_list_id(i),
		       (unsigned long long)i->size,
		       (unsigned long long)(i->used_objs << i->block_size_shift),
		       (unsigned long long)(i->shared_objs <<
					    i->block_size_shift),
		       (unsigned long long)(i->create_time >> 32), i->vid);
		sdctl_print_quoted(i->tag);
		printf(" %u\n", i->block_size_shift);
	}
}

static void sdctl_list_table(const struct sd_vdi_info *l, size_t n)
{
	char size[32], used[32], shared[32], ctime[32];
	const struct sd_vdi_info *i;
	int w = 4, len;
	size_t k;

	for (k = 0; k < n; k++) {
		len = (int)strlen(l[k].name);
		if (len > w)
			w = len;
	}
	printf("%-*s %5s %10s %10s %10s %-16s %6s  %-10s %s\n", w, "Name",
	       "Id", "Size", "Used", "Shared", "Creation time", "VDI id",
	       "Tag", "Block shift");
	for (k = 0; k < n; k++) {
		i = &l[k];
		sdctl_human_size(i->size, size, sizeof(size));
		sdctl_human_size(i->used_objs << i->block_size_shift, used,
				 sizeof(used));
		sdctl_human_size(i->shared_objs << i->block_size_shift, shared,
				 sizeof(shared));
		sdctl_time_str(i->create_time, ctime, sizeof(ctime));
		sdctl_print_cell(i->name, w);
		printf(" %5u %10s %10s %10s %-16s %06x  ", sdctl_list_id(i),
		       size, used, shared, ctime, i->vid);
		sdctl_print_cell(i->tag, 10);
		printf(" %u\n", i->block_size_shift);
	}
}

int sdctl_vdi_list(struct sdctl_cmd *cmd)
{
	struct sd_vdi_info *l;
	size_t n;
	int ret;

	ret = sdctl_connect(cmd);
	if (ret)
		return ret;
	if (sd_vdi_list(cmd->client, &l, &n) < 0)
		return sdctl_lib_fail();
	if (cmd->raw)
		sdctl_list_raw(l, n);
	else
		sdctl_list_table(l, n);
	free(l);
	if (fflush(stdout) == EOF)
		ret = sdctl_fail("writing to standard output: %m");
	return ret;
}
