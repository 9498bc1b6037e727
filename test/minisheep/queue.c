// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * queue.c - what a request meets on its node before it runs, as sheep's
 * sheep/request.c queue_request() and queue_gateway_request() decide it:
 * the node's status (a node stopping answers KILLED, a cluster shutting
 * down SHUTDOWN, a node not yet accepted WAIT_FOR_JOIN), the waits a
 * sheep gateway hides from its clients (epoch mismatches with its peers,
 * copies being recovered), HALT, NO_OBJ from a copy recovery has not
 * reached, and COLLECTING_CINFO.  The server holds a request it is told
 * to wait and asks again later, as sheep requeues the requests of its
 * wait queue (requeue_request(), which runs queue_request() again: a node
 * that stops meanwhile answers them KILLED).
 */
#include "minisheep.h"

/* the operations sheep serves while the cluster waits (sheep/ops.c
 * .force = true) that minisheep implements */
static bool is_force_op(uint8_t op)
{
	switch (op) {
	case SD_OP_MAKE_FS:
	case SD_OP_READ_VDIS:
	case SD_OP_READ_DEL_VDIS:
	case SD_OP_GET_VDI_COPIES:
	case SD_OP_GET_NODE_LIST:
	case SD_OP_STAT_CLUSTER:
	case SD_OP_OIDS_EXIST:
	case SD_OP_CLUSTER_INFO:
	case SD_OP_GET_CLUSTER_DEFAULT:
		return true;
	default:
		return false;
	}
}

static uint64_t us_to_due_ms(uint64_t us)
{
	return (us + 999) / 1000;
}

/*
 * A gateway request (sheep/request.c queue_gateway_request(), then the
 * peers it forwards to): epochs first, then HALT, then the copies.
 */
static enum queue_verdict gateway(struct ms_request *r, uint32_t *result,
				  uint64_t *due_ms)
{
	const struct sd_req *q = &r->req;
	uint8_t op = q->opcode;
	bool write = op == SD_OP_WRITE_OBJ || op == SD_OP_CREATE_AND_WRITE_OBJ;
	uint64_t oid = q->obj.oid, until;
	int ret;

	until = node_membership_wait_us();
	if (until) {
		*due_ms = us_to_due_ms(until);
		return QUEUE_HOLD;
	}
	if (node_halted(r->node, sd_oid_to_vid(oid), write)) {
		*result = SD_RES_HALT;
		return QUEUE_REPLY;
	}
	if (op == SD_OP_CREATE_AND_WRITE_OBJ) {
		/*
		 * request_in_recovery(): creates are served at once; a COW
		 * create reads its source first (gateway_handle_cow() ->
		 * sd_read_object(), a gateway read of its own)
		 */
		if (!(q->flags & SD_FLAG_CMD_COW))
			return QUEUE_RUN;
		oid = q->obj.cow_oid;
	}
	ret = node_recovery_gate(r->node, oid,
				 op != SD_OP_WRITE_OBJ &&
				 op != SD_OP_REMOVE_OBJ, &until);
	if (ret == MS_GATE_WAIT) {
		*due_ms = us_to_due_ms(until);
		return QUEUE_HOLD;
	}
	if (ret != SD_RES_SUCCESS) {
		*result = (uint32_t)ret;
		return QUEUE_REPLY;
	}
	return QUEUE_RUN;
}

enum queue_verdict queue_admit(struct ms_request *r, uint32_t *result,
			       uint64_t *due_ms)
{
	uint8_t op = r->req.opcode;

	/* a bad version or opcode is answered first: ops_execute() does */
	if (ops_check(&r->req) != SD_RES_SUCCESS)
		return QUEUE_RUN;
	/* the status check of sheep/request.c queue_request() */
	switch (node_state(r->node)) {
	case MS_NODE_STOPPING:
		*result = SD_RES_KILLED;
		return QUEUE_REPLY;
	case MS_NODE_SHUTDOWN:
		*result = SD_RES_SHUTDOWN;
		return QUEUE_REPLY;
	case MS_NODE_WAIT:
		if (is_force_op(op))
			break;
		/* minisheep is always formatted: never WAIT_FOR_FORMAT */
		*result = SD_RES_WAIT_FOR_JOIN;
		return QUEUE_REPLY;
	default:
		break;
	}
	switch (op) {
	case SD_OP_READ_OBJ:
	case SD_OP_WRITE_OBJ:
	case SD_OP_CREATE_AND_WRITE_OBJ:
	case SD_OP_REMOVE_OBJ:
		return gateway(r, result, due_ms);
	case SD_OP_LOCK_VDI:
		/* sheep/ops.c cluster_lock_vdi_work() */
		if (ms_use_lock() && node_collecting(r->node)) {
			*result = SD_RES_COLLECTING_CINFO;
			return QUEUE_REPLY;
		}
		return QUEUE_RUN;
	default:
		return QUEUE_RUN;
	}
}
