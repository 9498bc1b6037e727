// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cluster_probe - one plain-protocol request to a sheep node, for
 * minisheep_cluster.sh: what a client meets while nodes leave, join,
 * recover, halt or stop.  Usage:
 *
 *   cluster_probe [--send-after MS] ADDR read|write|create|remove OID_HEX
 *   cluster_probe [--send-after MS] ADDR read-vdis
 *
 * read/write/create move 4 KiB at offset 0 of the object.  With
 * --send-after it connects at once and sends MS later (a client already
 * connected when the node changes).  Prints one
 * line: "res 0xNN NAME epoch E ms T" (T: how long the answer took), or
 * "err -ERRNO ms T" when the connection fails; exits 0 either way, 2 on
 * bad arguments.
 */
/* itest: driven by minisheep_cluster.sh */

#include <time.h>

#include "itest.h"
#include "sd_proto.h"

#define LEN		4096
#define TIMEOUT_S	20

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	static uint8_t buf[SD_NR_VDIS / 8];
	uint8_t hdr[SD_HDR_SIZE];
	struct sd_req q;
	struct sd_rsp rsp;
	uint32_t inlen = LEN;
	uint64_t t0;
	unsigned long after = 0;
	int fd = -1, ret;
	char *end;

	if (argc > 2 && !strcmp(argv[1], "--send-after")) {
		after = strtoul(argv[2], &end, 10);
		argv += 2;
		argc -= 2;
	}
	if (argc < 3 || (strcmp(argv[2], "read-vdis") && argc != 4)) {
		fprintf(stderr, "usage: cluster_probe ADDR read|write|create|"
			"remove OID_HEX | ADDR read-vdis\n");
		return 2;
	}
	memset(&q, 0, sizeof(q));
	q.proto_ver = 1;
	q.id = 1;
	if (!strcmp(argv[2], "read-vdis")) {
		q.opcode = SD_OP_READ_VDIS;
		q.data_length = inlen = sizeof(buf);
	} else {
		q.obj.oid = strtoull(argv[3], &end, 16);
		if (*end) {
			fprintf(stderr, "cluster_probe: bad oid '%s'\n",
				argv[3]);
			return 2;
		}
		q.data_length = LEN;
		if (!strcmp(argv[2], "read")) {
			q.opcode = SD_OP_READ_OBJ;
		} else if (!strcmp(argv[2], "write")) {
			q.opcode = SD_OP_WRITE_OBJ;
			q.flags = SD_FLAG_CMD_WRITE;
		} else if (!strcmp(argv[2], "create")) {
			q.opcode = SD_OP_CREATE_AND_WRITE_OBJ;
			q.flags = SD_FLAG_CMD_WRITE;
		} else if (!strcmp(argv[2], "remove")) {
			q.opcode = SD_OP_REMOVE_OBJ;
			q.data_length = 0;
		} else {
			fprintf(stderr, "cluster_probe: bad op '%s'\n",
				argv[2]);
			return 2;
		}
		memset(buf, 0x5a, LEN);
	}
	ret = it_raw_connect(argv[1], TIMEOUT_S, &fd);
	if (!ret && after)
		usleep((useconds_t)after * 1000);
	t0 = now_ms();
	if (!ret) {
		sd_req_encode(&q, hdr);
		ret = io_all(fd, hdr, sizeof(hdr), true);
	}
	if (!ret && (q.flags & SD_FLAG_CMD_WRITE))
		ret = io_all(fd, buf, q.data_length, true);
	if (!ret)
		ret = io_all(fd, hdr, sizeof(hdr), false);
	if (!ret) {
		sd_rsp_decode(hdr, &rsp);
		ret = rsp.data_length > inlen ? -EPROTO :
			io_all(fd, buf, rsp.data_length, false);
	}
	if (ret)
		printf("err %d ms %" PRIu64 "\n", ret, now_ms() - t0);
	else
		printf("res 0x%02x %s epoch %" PRIu32 " ms %" PRIu64 "\n",
		       rsp.result, sd_result_str(rsp.result), rsp.epoch,
		       now_ms() - t0);
	if (fd >= 0)
		close(fd);
	return 0;
}
