// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fault.c - minisheep's fault injection: the state set through the control
 * socket and the parser of its one-line commands (delay, reorder,
 * drop-after, stall, error, op-delay, snapshot-delay, create-delay, lag,
 * recovery, node N kill|start|shutdown|stall|stats|locks, cluster
 * shutdown, kill-connections, stats, reset).  Every
 * answer is one line, "ok ..." or "error: ...".  Runs on the event-loop
 * thread only, so the state needs no locking (the delays read on worker
 * threads are single words).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "minisheep.h"

struct ms_faults ms_faults;

static const struct {
	const char *name;
	uint32_t code;
} result_names[] = {
	{ "SUCCESS", SD_RES_SUCCESS },
	{ "UNKNOWN", SD_RES_UNKNOWN },
	{ "NO_OBJ", SD_RES_NO_OBJ },
	{ "EIO", SD_RES_EIO },
	{ "VDI_EXIST", SD_RES_VDI_EXIST },
	{ "INVALID_PARMS", SD_RES_INVALID_PARMS },
	{ "SYSTEM_ERROR", SD_RES_SYSTEM_ERROR },
	{ "VDI_LOCKED", SD_RES_VDI_LOCKED },
	{ "NO_VDI", SD_RES_NO_VDI },
	{ "NO_BASE_VDI", SD_RES_NO_BASE_VDI },
	{ "VDI_READ", SD_RES_VDI_READ },
	{ "VDI_WRITE", SD_RES_VDI_WRITE },
	{ "BASE_VDI_READ", SD_RES_BASE_VDI_READ },
	{ "BASE_VDI_WRITE", SD_RES_BASE_VDI_WRITE },
	{ "NO_TAG", SD_RES_NO_TAG },
	{ "STARTUP", SD_RES_STARTUP },
	{ "VDI_NOT_LOCKED", SD_RES_VDI_NOT_LOCKED },
	{ "SHUTDOWN", SD_RES_SHUTDOWN },
	{ "NO_MEM", SD_RES_NO_MEM },
	{ "FULL_VDI", SD_RES_FULL_VDI },
	{ "VER_MISMATCH", SD_RES_VER_MISMATCH },
	{ "NO_SPACE", SD_RES_NO_SPACE },
	{ "WAIT_FOR_FORMAT", SD_RES_WAIT_FOR_FORMAT },
	{ "WAIT_FOR_JOIN", SD_RES_WAIT_FOR_JOIN },
	{ "JOIN_FAILED", SD_RES_JOIN_FAILED },
	{ "HALT", SD_RES_HALT },
	{ "READONLY", SD_RES_READONLY },
	{ "INODE_INVALIDATED", SD_RES_INODE_INVALIDATED },
	{ "BUFFER_SMALL", SD_RES_BUFFER_SMALL },
	{ "NO_SUPPORT", SD_RES_NO_SUPPORT },
	{ "KILLED", SD_RES_KILLED },
	{ "CLUSTER_ERROR", SD_RES_CLUSTER_ERROR },
	{ "COLLECTING_CINFO", SD_RES_COLLECTING_CINFO },
	{ "OLD_NODE_VER", MS_RES_OLD_NODE_VER },
	{ "NEW_NODE_VER", MS_RES_NEW_NODE_VER },
	{ "NETWORK_ERROR", MS_RES_NETWORK_ERROR },
};

const char *fault_result_name(uint32_t code)
{
	size_t i;

	for (i = 0; i < sizeof(result_names) / sizeof(result_names[0]); i++)
		if (result_names[i].code == code)
			return result_names[i].name;
	return NULL;
}

bool fault_error_for(uint8_t opcode, uint32_t *result)
{
	if (!ms_faults.err_on[opcode])
		return false;
	*result = ms_faults.err_result[opcode];
	if (ms_faults.err_left[opcode] && !--ms_faults.err_left[opcode])
		ms_faults.err_on[opcode] = false;
	return true;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 0);
	return !errno && !*end && *v <= max;
}

static bool parse_opcode(const char *s, uint8_t *op)
{
	unsigned long v;
	int i;

	if (!strncasecmp(s, "SD_OP_", 6))
		s += 6;
	for (i = 0; i < 256; i++) {
		const char *name = sd_opcode_str((uint8_t)i);

		if (strcmp(name, "UNKNOWN_OP") && !strcasecmp(name, s)) {
			*op = (uint8_t)i;
			return true;
		}
	}
	if (!parse_uint(s, 255, &v))
		return false;
	*op = (uint8_t)v;
	return true;
}

static bool parse_result(const char *s, uint32_t *res)
{
	unsigned long v;
	size_t i;

	if (!strncasecmp(s, "SD_RES_", 7))
		s += 7;
	for (i = 0; i < sizeof(result_names) / sizeof(result_names[0]); i++) {
		if (!strcasecmp(result_names[i].name, s)) {
			*res = result_names[i].code;
			return true;
		}
	}
	if (!parse_uint(s, UINT32_MAX, &v))
		return false;
	*res = (uint32_t)v;
	return true;
}

static void cmd_error(char **arg, int n, char *out, size_t outlen)
{
	unsigned long count = 0;
	uint32_t res;
	uint8_t op;

	if (n == 2 && !strcasecmp(arg[1], "clear")) {
		memset(ms_faults.err_on, 0, sizeof(ms_faults.err_on));
		snprintf(out, outlen, "ok errors cleared");
		return;
	}
	if (n < 3 || n > 4) {
		snprintf(out, outlen, "error: usage: error OP RESULT [N] | error clear");
		return;
	}
	if (!parse_opcode(arg[1], &op)) {
		snprintf(out, outlen, "error: unknown opcode '%s'", arg[1]);
		return;
	}
	if (!parse_result(arg[2], &res)) {
		snprintf(out, outlen, "error: unknown result '%s'", arg[2]);
		return;
	}
	if (n == 4 && !parse_uint(arg[3], UINT32_MAX, &count)) {
		snprintf(out, outlen, "error: bad count '%s'", arg[3]);
		return;
	}
	ms_faults.err_on[op] = true;
	ms_faults.err_result[op] = res;
	ms_faults.err_left[op] = (unsigned int)count;
	if (count)
		snprintf(out, outlen, "ok %s -> 0x%02x for %lu requests",
			 sd_opcode_str(op), res, count);
	else
		snprintf(out, outlen, "ok %s -> 0x%02x until cleared",
			 sd_opcode_str(op), res);
}

/* commands taking one number: delay, reorder, drop-after */
static bool cmd_number(char **arg, int n, char *out, size_t outlen)
{
	unsigned int *field;
	unsigned long v;

	if (!strcasecmp(arg[0], "delay"))
		field = &ms_faults.delay_ms;
	else if (!strcasecmp(arg[0], "reorder"))
		field = &ms_faults.reorder;
	else if (!strcasecmp(arg[0], "drop-after"))
		field = &ms_faults.drop_after;
	else
		return false;
	if (n != 2 || !parse_uint(arg[1], 1000000000UL, &v)) {
		snprintf(out, outlen, "error: usage: %s N (a number >= 0)",
			 arg[0]);
		return true;
	}
	*field = (unsigned int)v;
	snprintf(out, outlen, "ok %s %lu", arg[0], v);
	return true;
}

/* op-delay OP MS: hold requests with opcode OP MS before executing them */
static void cmd_op_delay(char **arg, int n, char *out, size_t outlen)
{
	unsigned long ms;
	uint8_t op;

	if (n != 3 || !parse_opcode(arg[1], &op) ||
	    !parse_uint(arg[2], 600000, &ms)) {
		snprintf(out, outlen, "error: usage: op-delay OP MS");
		return;
	}
	ms_faults.op_delay_ms[op] = (unsigned int)ms;
	snprintf(out, outlen, "ok op-delay %s %lu", sd_opcode_str(op), ms);
}

/* the delays inside operations: snapshot-delay, create-delay */
static bool cmd_inner_delay(char **arg, int n, char *out, size_t outlen)
{
	unsigned int *field;
	unsigned long ms;

	if (!strcasecmp(arg[0], "snapshot-delay"))
		field = &vdi_snapshot_delay_ms;
	else if (!strcasecmp(arg[0], "create-delay"))
		field = &store_create_delay_ms;
	else
		return false;
	if (n != 2 || !parse_uint(arg[1], 600000, &ms)) {
		snprintf(out, outlen, "error: usage: %s MS", arg[0]);
		return true;
	}
	__atomic_store_n(field, (unsigned int)ms, __ATOMIC_RELAXED);
	snprintf(out, outlen, "ok %s %lu", arg[0], ms);
	return true;
}

/*
 * The commands "NAME MS [SECOND]" that set two node.c knobs: lag MS
 * [JITTER] (how late the other nodes apply a cluster event) and recovery
 * MS [PCT] (the recovery window after each epoch change).
 */
static const struct {
	const char *name, *second, *usage;
	unsigned long max_ms, max_second;
	void (*set)(unsigned int ms, unsigned int second);
} knob_cmds[] = {
	{ "lag", "jitter", "lag MS [JITTER_MS]", 60000, 60000, node_set_lag },
	{ "recovery", "noobj", "recovery MS [NOOBJ_PERCENT]", 600000, 100,
	  node_set_recovery },
};

/* true when arg[0] is one of knob_cmds */
static bool cmd_knob(char **arg, int n, char *out, size_t outlen)
{
	unsigned long ms, second = 0;
	size_t i;

	for (i = 0; i < sizeof(knob_cmds) / sizeof(knob_cmds[0]); i++)
		if (!strcasecmp(arg[0], knob_cmds[i].name))
			break;
	if (i == sizeof(knob_cmds) / sizeof(knob_cmds[0]))
		return false;
	if (n < 2 || n > 3 || !parse_uint(arg[1], knob_cmds[i].max_ms, &ms) ||
	    (n == 3 && !parse_uint(arg[2], knob_cmds[i].max_second, &second))) {
		snprintf(out, outlen, "error: usage: %s", knob_cmds[i].usage);
		return true;
	}
	knob_cmds[i].set((unsigned int)ms, (unsigned int)second);
	snprintf(out, outlen, "ok %s %lu %s %lu", knob_cmds[i].name, ms,
		 knob_cmds[i].second, second);
	return true;
}

/* cluster shutdown [LINGER_MS] */
static void cmd_cluster(char **arg, int n, char *out, size_t outlen)
{
	unsigned long ms = 300;

	if (n < 2 || n > 3 || strcasecmp(arg[1], "shutdown") ||
	    (n == 3 && !parse_uint(arg[2], 600000, &ms))) {
		snprintf(out, outlen, "error: usage: cluster shutdown [LINGER_MS]");
		return;
	}
	if (server_cluster_shutdown((unsigned int)ms))
		snprintf(out, outlen, "error: no node is up");
	else
		snprintf(out, outlen, "ok cluster shutting down, epoch %u",
			 node_epoch(-1));
}

#define NODE_USAGE "node N kill|start [JOIN_MS [COLLECT_MS]]|" \
	"shutdown [LINGER_MS]|stall on|off|stats|locks"

/* node N kill|start [JOIN_MS [COLLECT_MS]]|shutdown [MS]|stall on|off|
 * stats|locks */
static void cmd_node(char **arg, int n, char *out, size_t outlen)
{
	unsigned long num, a1 = 0, a2 = 0;
	int nd, ret;

	if (n < 3 || !parse_uint(arg[1], MS_MAX_NODES, &num) || !num) {
		snprintf(out, outlen, "error: usage: " NODE_USAGE
			 " (N = 1..%d)", MS_MAX_NODES);
		return;
	}
	nd = (int)num - 1;
	if (!node_exists(nd)) {
		snprintf(out, outlen, "error: node %lu has no listener", num);
		return;
	}
	if (n == 3 && !strcasecmp(arg[2], "kill")) {
		ret = server_node_kill(nd);
		if (ret == -EALREADY)
			snprintf(out, outlen, "error: node %lu is not running",
				 num);
		else
			snprintf(out, outlen, "ok node %lu killed, epoch %u",
				 num, node_epoch(-1));
	} else if (n >= 3 && n <= 5 && !strcasecmp(arg[2], "start")) {
		if ((n >= 4 && !parse_uint(arg[3], 600000, &a1)) ||
		    (n == 5 && !parse_uint(arg[4], 600000, &a2))) {
			snprintf(out, outlen, "error: usage: " NODE_USAGE);
			return;
		}
		ret = server_node_start(nd, (unsigned int)a1,
					(unsigned int)a2);
		if (ret == -EALREADY)
			snprintf(out, outlen, "error: node %lu is running",
				 num);
		else if (ret)
			snprintf(out, outlen, "error: node %lu cannot listen "
				 "again (see the log)", num);
		else if (node_state(nd) == MS_NODE_WAIT)
			snprintf(out, outlen, "ok node %lu started, waiting "
				 "to join, epoch %u", num, node_epoch(nd));
		else
			snprintf(out, outlen, "ok node %lu started, epoch %u",
				 num, node_epoch(nd));
	} else if ((n == 3 || n == 4) && !strcasecmp(arg[2], "shutdown")) {
		a1 = 300;
		if (n == 4 && !parse_uint(arg[3], 600000, &a1)) {
			snprintf(out, outlen, "error: usage: " NODE_USAGE);
			return;
		}
		ret = server_node_shutdown(nd, (unsigned int)a1);
		if (ret == -EALREADY)
			snprintf(out, outlen, "error: node %lu is not up",
				 num);
		else
			snprintf(out, outlen, "ok node %lu shutting down, "
				 "epoch %u", num, node_epoch(nd));
	} else if (n == 4 && !strcasecmp(arg[2], "stall") &&
		   (!strcasecmp(arg[3], "on") || !strcasecmp(arg[3], "off"))) {
		server_node_stall(nd, !strcasecmp(arg[3], "on"));
		snprintf(out, outlen, "ok node %lu stall %s", num, arg[3]);
	} else if (n == 3 && !strcasecmp(arg[2], "locks")) {
		size_t off = (size_t)snprintf(out, outlen, "ok node=%lu", num);

		node_locks(nd, out + off, outlen - off);
	} else if (n == 3 && !strcasecmp(arg[2], "stats")) {
		uint64_t reqs, conns;
		size_t off;

		server_node_counters(nd, &reqs, &conns);
		off = (size_t)snprintf(out, outlen, "ok node=%lu ", num);
		node_stats(nd, out + off, outlen - off);
		off += strlen(out + off);
		off += (size_t)snprintf(out + off, outlen - off,
			" stalled=%d requests=%llu connections=%llu",
			server_node_stalled(nd),
			(unsigned long long)reqs, (unsigned long long)conns);
		server_node_ops(nd, out + off, outlen - off);
	} else {
		snprintf(out, outlen, "error: usage: " NODE_USAGE);
	}
}

void fault_command(char *line, char *out, size_t outlen)
{
	char *arg[8], *save = NULL, *tok;
	int n = 0, i;

	for (tok = strtok_r(line, " \t\r", &save); tok && n < 8;
	     tok = strtok_r(NULL, " \t\r", &save))
		arg[n++] = tok;
	if (!n) {
		snprintf(out, outlen, "error: empty command");
		return;
	}
	if (cmd_number(arg, n, out, outlen))
		return;
	if (cmd_inner_delay(arg, n, out, outlen))
		return;
	if (cmd_knob(arg, n, out, outlen))
		return;
	if (!strcasecmp(arg[0], "stall")) {
		if (n != 2 || (strcasecmp(arg[1], "on") &&
			       strcasecmp(arg[1], "off"))) {
			snprintf(out, outlen, "error: usage: stall on|off");
			return;
		}
		ms_faults.stall = !strcasecmp(arg[1], "on");
		if (!ms_faults.stall)
			server_release_stalled();
		snprintf(out, outlen, "ok stall %s", arg[1]);
	} else if (!strcasecmp(arg[0], "error")) {
		cmd_error(arg, n, out, outlen);
	} else if (!strcasecmp(arg[0], "op-delay")) {
		cmd_op_delay(arg, n, out, outlen);
	} else if (!strcasecmp(arg[0], "node")) {
		cmd_node(arg, n, out, outlen);
	} else if (!strcasecmp(arg[0], "cluster")) {
		cmd_cluster(arg, n, out, outlen);
	} else if (!strcasecmp(arg[0], "kill-connections") && n == 1) {
		server_kill_connections();
		snprintf(out, outlen, "ok connections closed");
	} else if (!strcasecmp(arg[0], "stats") && n == 1) {
		snprintf(out, outlen, "ok ");
		server_stats(out + 3, outlen - 3);
	} else if (!strcasecmp(arg[0], "reset") && n == 1) {
		memset(&ms_faults, 0, sizeof(ms_faults));
		for (i = 0; i < MS_MAX_NODES; i++)
			if (node_exists(i))
				server_node_stall(i, false);
		server_release_stalled();
		__atomic_store_n(&vdi_snapshot_delay_ms, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&store_create_delay_ms, 0, __ATOMIC_RELAXED);
		node_set_lag(ms_lag_ms, ms_jitter_ms);
		node_set_recovery(ms_recovery_ms, ms_recovery_pct);
		snprintf(out, outlen, "ok all faults off");
	} else {
		snprintf(out, outlen, "error: unknown command '%s' (delay, "
			 "reorder, drop-after, stall, error, op-delay, "
			 "snapshot-delay, create-delay, lag, recovery, node, "
			 "cluster, kill-connections, stats, reset)", arg[0]);
	}
}
