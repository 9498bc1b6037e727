// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * participants - one client process of the shared-lock participant test
 * (minisheep_participants.sh runs several at once).  Usage:
 * participants ADDR VDI.  It reads one command per line on standard input
 * and answers each with exactly one line on standard output, so that a
 * shell script can interleave what several processes do:
 *
 *   open              new client (2 connections) + sd_vdi_open SD_LOCK_SHARED
 *                     -> "ok" | "err ERRNO"
 *   write IDX SEED    64 KiB pattern into object IDX through handle 0
 *                     -> "ok" | "err ERRNO"
 *   read IDX SEED     read the same range through handle 0
 *                     -> "ok" (pattern SEED, 0 = zeros) | "bad" | "err ERRNO"
 *   raw-connect I     plain protocol connection I (0..3) of this process
 *   raw-lock I        LOCK_VDI type shared on connection I -> "res 0xNN"
 *   raw-read I IDX    TGT-flagged READ_OBJ of data object IDX -> "res 0xNN"
 *   raw-refresh I     TGT-flagged refresh read of the inode -> "res 0xNN"
 *   raw-close I       close connection I -> "ok"
 *   state             GET_VDI_COPIES: the VDI's shared-lock participants
 *                     -> "ok n=N modified=N shared=N invalidated=N"
 *   close             close every handle and client (releases) -> "ok"
 *   exit              exit at once: the kernel closes every connection,
 *                     nothing is released (a crashed gateway)
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/time.h>

#include "itest.h"
#include "sd_addr.h"
#include "sd_proto.h"

#define IO_LEN		(64 * 1024)
#define IO_OFF		4096
#define MAX_HANDLES	2
#define MAX_RAW		4
#define STATE_SIZE	1428
#define STATE_MAX	256
#define RAW_TIMEOUT_S	30

static const char *g_addr, *g_name;
static struct sd_client *g_client[MAX_HANDLES];
static struct sd_vdi *g_vdi[MAX_HANDLES];
static int g_nr_vdi;
static int g_raw[MAX_RAW] = { -1, -1, -1, -1 };
static uint32_t g_vid;
static uint32_t g_req_id;

/* ---- library handles ------------------------------------------------ */

static void cmd_open(void)
{
	struct sd_client *c;
	struct sd_vdi *v;
	int ret;

	if (g_nr_vdi == MAX_HANDLES) {
		printf("err too many handles\n");
		return;
	}
	c = it_client(g_addr, 2, 20000);
	ret = it_open(c, g_name, NULL, 0, SD_LOCK_SHARED, &v);
	if (ret) {
		printf("err %d %s\n", ret, sd_get_error());
		sd_client_free(c);
		return;
	}
	g_client[g_nr_vdi] = c;
	g_vdi[g_nr_vdi++] = v;
	g_vid = sd_vdi_vid(v);
	printf("ok\n");
}

static uint64_t io_offset(struct sd_vdi *v, uint32_t idx)
{
	return (uint64_t)idx * sd_vdi_object_size(v) + IO_OFF;
}

static void cmd_io(bool write, uint32_t idx, uint64_t seed)
{
	uint8_t *buf;
	uint64_t off;
	int ret;

	if (!g_nr_vdi) {
		printf("err no handle\n");
		return;
	}
	off = io_offset(g_vdi[0], idx);
	if (off + IO_LEN > sd_vdi_size(g_vdi[0])) {
		printf("err object %" PRIu32 " beyond the VDI\n", idx);
		return;
	}
	buf = it_alloc(IO_LEN);
	if (write) {
		it_pat_fill(buf, IO_LEN, off, seed);
		ret = sd_vdi_pwrite(g_vdi[0], buf, IO_LEN, off, 0);
	} else {
		ret = sd_vdi_pread(g_vdi[0], buf, IO_LEN, off);
	}
	if (ret < 0)
		printf("err %d %s\n", ret, sd_get_error());
	else if (!write && !it_pat_ok(buf, IO_LEN, off, seed))
		printf("bad\n");
	else
		printf("ok\n");
	free(buf);
}

static void cmd_close(void)
{
	while (g_nr_vdi > 0) {
		g_nr_vdi--;
		sd_vdi_close(g_vdi[g_nr_vdi]);
		sd_client_free(g_client[g_nr_vdi]);
	}
	printf("ok\n");
}

/* ---- plain protocol connections ------------------------------------- */

static int raw_open(int *fdp)
{
	struct timeval tv = { .tv_sec = RAW_TIMEOUT_S };
	struct sd_addr a;
	struct pollfd pfd;
	int fd, ret, err = 0;
	socklen_t len = sizeof(err);

	if (sd_addr_parse(g_addr, &a))
		return -EINVAL;
	ret = sd_addr_connect(&a, &fd);
	if (ret && ret != -EINPROGRESS)
		return ret;
	if (ret == -EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, RAW_TIMEOUT_S * 1000) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			close(fd);
			return err ? -err : -ETIMEDOUT;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*fdp = fd;
	return 0;
}

static int io_all(int fd, void *buf, size_t len, bool out)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = out ? send(fd, p, len, MSG_NOSIGNAL) :
			read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One synchronous request on @fd: header, @out (q->data_length bytes when
 * the WRITE flag is set), then the reply header and up to @inlen bytes of
 * payload into @in.  Returns 0 (see rsp->result) or -errno.
 */
static int raw_call(int fd, struct sd_req *q, const void *out, void *in,
		    uint32_t inlen, struct sd_rsp *rsp)
{
	uint8_t hdr[SD_HDR_SIZE];
	int ret;

	q->id = ++g_req_id;
	sd_req_encode(q, hdr);
	ret = io_all(fd, hdr, sizeof(hdr), true);
	if (!ret && (q->flags & SD_FLAG_CMD_WRITE))
		ret = io_all(fd, (void *)out, q->data_length, true);
	if (!ret)
		ret = io_all(fd, hdr, sizeof(hdr), false);
	if (ret)
		return ret;
	sd_rsp_decode(hdr, rsp);
	if (rsp->id != q->id || rsp->data_length > inlen)
		return -EPROTO;
	return io_all(fd, in, rsp->data_length, false);
}

static int raw_fd(const char *arg)
{
	int i = atoi(arg);

	if (i < 0 || i >= MAX_RAW || g_raw[i] < 0)
		return -1;
	return g_raw[i];
}

static void print_res(int ret, const struct sd_rsp *rsp)
{
	if (ret)
		printf("err %d\n", ret);
	else
		printf("res 0x%02x %s\n", rsp->result,
		       sd_result_str(rsp->result));
}

static void cmd_raw_connect(const char *arg)
{
	int i = atoi(arg), ret;

	if (i < 0 || i >= MAX_RAW || g_raw[i] >= 0) {
		printf("err bad connection number\n");
		return;
	}
	ret = raw_open(&g_raw[i]);
	if (ret)
		printf("err %d\n", ret);
	else
		printf("ok\n");
}

static void cmd_raw_lock(int fd)
{
	uint8_t name[SD_MAX_VDI_LEN];
	struct sd_req q;
	struct sd_rsp rsp;
	int ret;

	memset(name, 0, sizeof(name));
	snprintf((char *)name, sizeof(name), "%s", g_name);
	memset(&q, 0, sizeof(q));
	q.proto_ver = SD_PROTO_VER;
	q.opcode = SD_OP_LOCK_VDI;
	q.flags = SD_FLAG_CMD_WRITE;
	q.data_length = sizeof(name);
	q.vdi.type = SD_LOCK_TYPE_SHARED;
	ret = raw_call(fd, &q, name, NULL, 0, &rsp);
	if (!ret && rsp.result == SD_RES_SUCCESS)
		g_vid = rsp.vdi.vdi_id;
	print_res(ret, &rsp);
}

static void cmd_raw_read(int fd, uint64_t oid, uint32_t len)
{
	uint8_t *buf = it_alloc(len);
	struct sd_req q;
	struct sd_rsp rsp;
	int ret;

	memset(&q, 0, sizeof(q));
	q.proto_ver = SD_PROTO_VER;
	q.opcode = SD_OP_READ_OBJ;
	q.flags = SD_FLAG_CMD_TGT;
	q.data_length = len;
	q.obj.oid = oid;
	ret = raw_call(fd, &q, NULL, buf, len, &rsp);
	print_res(ret, &rsp);
	free(buf);
}

static void cmd_raw_close(const char *arg)
{
	int i = atoi(arg);

	if (i >= 0 && i < MAX_RAW && g_raw[i] >= 0) {
		close(g_raw[i]);
		g_raw[i] = -1;
	}
	printf("ok\n");
}

/* the participants of g_vid's shared lock, from GET_VDI_COPIES */
static void cmd_state(void)
{
	uint32_t len = STATE_SIZE * STATE_MAX, off, n, i, count[4] = { 0 };
	uint8_t *buf = it_alloc(len);
	struct sd_req q;
	struct sd_rsp rsp;
	int fd, ret;

	ret = raw_open(&fd);
	if (ret) {
		printf("err %d\n", ret);
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.proto_ver = SD_SHEEP_PROTO_VER;
	q.opcode = SD_OP_GET_VDI_COPIES;
	q.data_length = len;
	ret = raw_call(fd, &q, NULL, buf, len, &rsp);
	close(fd);
	if (ret || rsp.result != SD_RES_SUCCESS) {
		print_res(ret, &rsp);
		goto out;
	}
	for (off = 0; off + STATE_SIZE <= rsp.data_length; off += STATE_SIZE) {
		if (sd_get_le32(buf + off) != g_vid)
			continue;
		n = sd_get_le32(buf + off + 60);
		for (i = 0; i < n && i < 31; i++) {
			uint32_t s = sd_get_le32(buf + off + 64 + 4 * i);

			count[s < 4 ? s : 0]++;
		}
		printf("ok n=%" PRIu32 " modified=%" PRIu32 " shared=%" PRIu32
		       " invalidated=%" PRIu32 "\n", n, count[1], count[2],
		       count[3]);
		goto out;
	}
	printf("err vid %#" PRIx32 " not listed\n", g_vid);
out:
	free(buf);
}

/* ---- command loop --------------------------------------------------- */

static void run(char *line)
{
	char *cmd, *a1, *a2, *save = NULL;
	int fd = -1;

	cmd = strtok_r(line, " \t\n", &save);
	a1 = strtok_r(NULL, " \t\n", &save);
	a2 = strtok_r(NULL, " \t\n", &save);
	if (!cmd) {
		printf("err empty command\n");
	} else if (!strcmp(cmd, "open")) {
		cmd_open();
	} else if ((!strcmp(cmd, "write") || !strcmp(cmd, "read")) && a2) {
		cmd_io(cmd[0] == 'w', (uint32_t)strtoul(a1, NULL, 0),
		       strtoull(a2, NULL, 0));
	} else if (!strcmp(cmd, "raw-connect") && a1) {
		cmd_raw_connect(a1);
	} else if (!strcmp(cmd, "raw-close") && a1) {
		cmd_raw_close(a1);
	} else if (!strncmp(cmd, "raw-", 4) && a1 && (fd = raw_fd(a1)) < 0) {
		printf("err connection %s is not open\n", a1);
	} else if (!strcmp(cmd, "raw-lock") && a1) {
		cmd_raw_lock(fd);
	} else if (!strcmp(cmd, "raw-read") && a2) {
		cmd_raw_read(fd, sd_vid_to_data_oid(g_vid,
			     (uint32_t)strtoul(a2, NULL, 0)), 4096);
	} else if (!strcmp(cmd, "raw-refresh") && a1) {
		cmd_raw_read(fd, sd_vid_to_vdi_oid(g_vid),
			     SD_INODE_REFRESH_SIZE);
	} else if (!strcmp(cmd, "state")) {
		cmd_state();
	} else if (!strcmp(cmd, "close")) {
		cmd_close();
	} else if (!strcmp(cmd, "exit")) {
		fflush(stdout);
		_exit(0);
	} else {
		printf("err unknown command '%s'\n", cmd);
	}
}

int main(int argc, char **argv)
{
	char line[256];

	if (argc != 3) {
		fprintf(stderr, "usage: %s ADDR VDI (commands on stdin)\n",
			argv[0]);
		return 2;
	}
	g_addr = argv[1];
	g_name = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin))
		run(line);
	cmd_close();
	return 0;
}
