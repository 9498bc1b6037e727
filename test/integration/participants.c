// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * participants - one client process of minisheep's node-model and
 * GET_VDI_ATTR tests (minisheep_participants.sh and minisheep_attr.sh run
 * several at once, each talking to one sheep node).  Usage:
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
 *   raw-lock I [normal]  LOCK_VDI (type shared, or normal) on connection I
 *                     -> "res 0xNN"
 *   raw-release I shared|normal  RELEASE_VDI of the VDI -> "res 0xNN"
 *   raw-read I IDX    TGT-flagged READ_OBJ of data object IDX -> "res 0xNN"
 *   raw-refresh I     TGT-flagged refresh read of the inode -> "res 0xNN"
 *   raw-close I       close connection I -> "ok"
 *   state             GET_VDI_COPIES: the VDI's shared-lock participants
 *                     -> "ok n=N modified=N shared=N invalidated=N
 *                         ports=PORT:STATE,..." (STATE 1 modified, 2 shared,
 *                         3 invalidated)
 *   lockstate         GET_VDI_COPIES -> "ok lock=N owner=PORT snapshot=N"
 *                     (lock 1 unlocked, 2 normal, 3 shared)
 *   close             close every handle and client (releases) -> "ok"
 *   exit              exit at once: the kernel closes every connection,
 *                     nothing is released (a crashed gateway)
 *
 * GET_VDI_ATTR (name = the VDI, tag TAG or none) on connection I:
 *   attr I FLAGS KEY [VALUE [PSNAP [HSNAP [TAG]]]]
 *                     FLAGS: letters c (CREAT), x (EXCL), d (DEL) or "-";
 *                     VALUE "-" for none; PSNAP the payload's snap_id,
 *                     HSNAP the header's snapid (both default 0)
 *                     -> "res 0xNN vid=0xV attr=0xA copies=N"
 *   attr-expect KEY [PSNAP]  the hash vid and first attribute id this
 *                     program computes itself -> "ok vid=0xV attr=0xA"
 *   attr-read I ATTR  READ_OBJ of the whole attribute object ATTR (hex)
 *                     -> "res 0xNN name=N tag=T snap=S ctime=C len=L
 *                         key=K value=V" (name etc. only with 0x00)
 *   obj-read I ATTR OFF LEN  READ_OBJ of LEN bytes at OFF -> "res 0xNN"
 *   obj-remove I ATTR REMOVE_OBJ of it -> "res 0xNN"
 *   inode-ctime I     create_time of the VDI's inode -> "ok ctime=C"
 *   attr-race KEY N   N new connections each send GET_VDI_ATTR
 *                     CREAT|EXCL of KEY at once -> "ok success=S exist=E
 *                     other=O"
 */
/* itest: driven by minisheep_participants.sh and minisheep_attr.sh */

#include "itest.h"
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

/* a request header for @opcode, every other field 0 */
static void raw_req(struct sd_req *q, uint8_t opcode)
{
	memset(q, 0, sizeof(*q));
	q->proto_ver = SD_PROTO_VER;
	q->opcode = opcode;
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
	ret = it_raw_connect(g_addr, RAW_TIMEOUT_S, &g_raw[i]);
	if (ret)
		printf("err %d\n", ret);
	else
		printf("ok\n");
}

static void cmd_raw_lock(int fd, const char *type)
{
	uint8_t name[SD_MAX_VDI_LEN];
	struct sd_req q;
	struct sd_rsp rsp;
	int ret;

	memset(name, 0, sizeof(name));
	snprintf((char *)name, sizeof(name), "%s", g_name);
	raw_req(&q, SD_OP_LOCK_VDI);
	q.flags = SD_FLAG_CMD_WRITE;
	q.data_length = sizeof(name);
	q.vdi.type = type && !strcmp(type, "normal") ? SD_LOCK_TYPE_NORMAL :
		SD_LOCK_TYPE_SHARED;
	ret = raw_call(fd, &q, name, NULL, 0, &rsp);
	/* VDI_LOCKED still names the vid */
	if (!ret && rsp.vdi.vdi_id)
		g_vid = rsp.vdi.vdi_id;
	print_res(ret, &rsp);
}

static void cmd_raw_read(int fd, uint64_t oid, uint32_t len)
{
	uint8_t *buf = it_alloc(len);
	struct sd_req q;
	struct sd_rsp rsp;
	int ret;

	raw_req(&q, SD_OP_READ_OBJ);
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

static void cmd_raw_release(int fd, const char *type)
{
	struct sd_req q;
	struct sd_rsp rsp;
	int ret;

	raw_req(&q, SD_OP_RELEASE_VDI);
	q.vdi.base_vdi_id = g_vid;
	q.vdi.type = type && !strcmp(type, "normal") ? SD_LOCK_TYPE_NORMAL :
		SD_LOCK_TYPE_SHARED;
	ret = raw_call(fd, &q, NULL, NULL, 0, &rsp);
	print_res(ret, &rsp);
}

/* the participants of g_vid's shared lock, from GET_VDI_COPIES */
static void cmd_state(bool lock_only)
{
	uint32_t len = STATE_SIZE * STATE_MAX, off, n, i, count[4] = { 0 };
	uint8_t *buf = it_alloc(len);
	struct sd_req q;
	struct sd_rsp rsp;
	int fd, ret;

	ret = it_raw_connect(g_addr, RAW_TIMEOUT_S, &fd);
	if (ret) {
		printf("err %d\n", ret);
		goto out;
	}
	raw_req(&q, SD_OP_GET_VDI_COPIES);
	q.proto_ver = SD_SHEEP_PROTO_VER;
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
		if (lock_only) {
			printf("ok lock=%" PRIu32 " owner=%u snapshot=%u\n",
			       sd_get_le32(buf + off + 16),
			       sd_get_le16(buf + off + 20 + 16),
			       buf[off + 5]);
			goto out;
		}
		n = sd_get_le32(buf + off + 60);
		for (i = 0; i < n && i < 31; i++) {
			uint32_t s = sd_get_le32(buf + off + 64 + 4 * i);

			count[s < 4 ? s : 0]++;
		}
		printf("ok n=%" PRIu32 " modified=%" PRIu32 " shared=%" PRIu32
		       " invalidated=%" PRIu32 " ports=", n, count[1], count[2],
		       count[3]);
		for (i = 0; i < n && i < 31; i++)
			printf("%s%u:%" PRIu32, i ? "," : "",
			       sd_get_le16(buf + off + 188 + 40 * i + 16),
			       sd_get_le32(buf + off + 64 + 4 * i));
		printf("\n");
		goto out;
	}
	printf("err vid %#" PRIx32 " not listed\n", g_vid);
out:
	free(buf);
}

/* ---- GET_VDI_ATTR ------------------------------------------------------ */

#define ATTR_SIZE	66320
#define ATTR_HDR	784
#define CREAT		0x0100
#define EXCL		0x0200
#define DEL		0x0400

static uint64_t fnv(const void *p, size_t len, uint64_t h)
{
	const uint8_t *b = p;

	while (len--) {
		h ^= *b++;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* the name's hash vid, as sd_hash_vdi() */
static uint32_t hash_vid(void)
{
	return (uint32_t)(fnv(g_name, strlen(g_name),
			      UINT64_C(0xcbf29ce484222325)) & 0xffffff);
}

/* a sheepdog_vdi_attr header (+ value) for the VDI, tag, snap_id, key */
static uint32_t attr_fill(uint8_t *a, const char *tag, uint32_t snap,
			  const char *key, const char *value)
{
	uint32_t vlen = value ? (uint32_t)strlen(value) : 0;

	memset(a, 0, ATTR_SIZE);
	snprintf((char *)a, 256, "%s", g_name);
	snprintf((char *)a + 256, 256, "%s", tag);
	sd_put_le32(a + 520, snap);
	sd_put_le32(a + 524, vlen);
	snprintf((char *)a + 528, 256, "%s", key);
	memcpy(a + ATTR_HDR, value ? value : "", vlen);
	return ATTR_HDR + vlen;
}

/* hash_vdi_attr(): name[256] tag[256] snap_id key[256] */
static uint32_t attr_hash(const uint8_t *a)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	h = fnv(a, 512, h);
	h = fnv(a + 520, 4, h);
	h = fnv(a + 528, 256, h);
	return (uint32_t)h;
}

static uint16_t attr_flags(const char *f)
{
	uint16_t flags = SD_FLAG_CMD_WRITE;

	for (; *f; f++) {
		if (*f == 'c')
			flags |= CREAT;
		else if (*f == 'x')
			flags |= EXCL;
		else if (*f == 'd')
			flags |= DEL;
	}
	return flags;
}

static void attr_req(struct sd_req *q, uint16_t flags, uint32_t len,
		     uint32_t hsnap)
{
	raw_req(q, SD_OP_GET_VDI_ATTR);
	q->proto_ver = SD_SHEEP_PROTO_VER;
	q->flags = flags;
	q->data_length = len;
	q->vdi.snapid = hsnap;
}

static void cmd_attr(int fd, char **arg, int n)
{
	uint8_t *a = it_alloc(ATTR_SIZE);
	const char *value = n > 3 && strcmp(arg[3], "-") ? arg[3] : NULL;
	uint32_t psnap = n > 4 ? (uint32_t)strtoul(arg[4], NULL, 0) : 0;
	uint32_t hsnap = n > 5 ? (uint32_t)strtoul(arg[5], NULL, 0) : 0;
	struct sd_req q;
	struct sd_rsp rsp;
	uint32_t len;
	int ret;

	len = attr_fill(a, n > 6 ? arg[6] : "", psnap, arg[2], value);
	attr_req(&q, attr_flags(arg[1]), len, hsnap);
	ret = raw_call(fd, &q, a, NULL, 0, &rsp);
	if (ret)
		printf("err %d\n", ret);
	else
		printf("res 0x%02x vid=0x%" PRIx32 " attr=0x%" PRIx32
		       " copies=%u\n", rsp.result, rsp.vdi.vdi_id,
		       rsp.vdi.attr_id, rsp.vdi.copies);
	free(a);
}

static void cmd_attr_expect(const char *key, const char *psnap)
{
	uint8_t *a = it_alloc(ATTR_SIZE);

	attr_fill(a, "", psnap ? (uint32_t)strtoul(psnap, NULL, 0) : 0, key,
		  NULL);
	printf("ok vid=0x%" PRIx32 " attr=0x%" PRIx32 "\n", hash_vid(),
	       attr_hash(a));
	free(a);
}

static uint64_t attr_oid(const char *attr)
{
	return (UINT64_C(1) << 61) | ((uint64_t)hash_vid() << 32) |
		(uint32_t)strtoul(attr, NULL, 16);
}

static int obj_read(int fd, uint64_t oid, uint32_t off, uint32_t len,
		    uint8_t *buf, struct sd_rsp *rsp)
{
	struct sd_req q;

	raw_req(&q, SD_OP_READ_OBJ);
	q.data_length = len;
	q.obj.oid = oid;
	q.obj.offset = off;
	return raw_call(fd, &q, NULL, buf, len, rsp);
}

static void cmd_attr_read(int fd, const char *attr)
{
	uint8_t *a = it_alloc(ATTR_SIZE);
	struct sd_rsp rsp;
	uint32_t vlen;
	int ret;

	ret = obj_read(fd, attr_oid(attr), 0, ATTR_SIZE, a, &rsp);
	if (ret || rsp.result != SD_RES_SUCCESS) {
		print_res(ret, &rsp);
		free(a);
		return;
	}
	vlen = sd_get_le32(a + 524);
	if (vlen > ATTR_SIZE - ATTR_HDR)
		vlen = 0;
	a[255] = a[511] = a[783] = 0;
	printf("res 0x00 name=%s tag=%s snap=%" PRIu32 " ctime=%" PRIu64
	       " len=%" PRIu32 " key=%s value=%.*s\n", (char *)a,
	       (char *)a + 256, sd_get_le32(a + 520), sd_get_le64(a + 512),
	       vlen, (char *)a + 528, (int)vlen, (char *)a + ATTR_HDR);
	free(a);
}

static void cmd_obj_read(int fd, const char *attr, const char *off,
			 const char *len)
{
	uint32_t l = (uint32_t)strtoul(len, NULL, 0);
	uint8_t *buf = it_alloc(l);
	struct sd_rsp rsp;
	int ret;

	ret = obj_read(fd, attr_oid(attr), (uint32_t)strtoul(off, NULL, 0), l,
		       buf, &rsp);
	print_res(ret, &rsp);
	free(buf);
}

static void cmd_obj_remove(int fd, const char *attr)
{
	struct sd_req q;
	struct sd_rsp rsp;
	int ret;

	raw_req(&q, SD_OP_REMOVE_OBJ);
	q.obj.oid = attr_oid(attr);
	ret = raw_call(fd, &q, NULL, NULL, 0, &rsp);
	print_res(ret, &rsp);
}

static void cmd_inode_ctime(int fd)
{
	uint8_t buf[8];
	struct sd_rsp rsp;
	int ret;

	ret = obj_read(fd, sd_vid_to_vdi_oid(g_vid), 512, 8, buf, &rsp);
	if (ret || rsp.result != SD_RES_SUCCESS)
		print_res(ret, &rsp);
	else
		printf("ok ctime=%" PRIu64 "\n", sd_get_le64(buf));
}

/* N connections send CREAT|EXCL of @key at the same time */
static void cmd_attr_race(const char *key, int n)
{
	int fd[64], i, ok = 0, exist = 0, other = 0, ret;
	uint8_t hdr[SD_HDR_SIZE], *a = it_alloc(ATTR_SIZE);
	uint32_t len = attr_fill(a, "", 0, key, "claim");
	struct sd_req q;
	struct sd_rsp rsp;

	if (n < 1 || n > 64) {
		printf("err bad count\n");
		free(a);
		return;
	}
	for (i = 0; i < n; i++)
		if (it_raw_connect(g_addr, RAW_TIMEOUT_S, &fd[i]))
			fd[i] = -1;
	attr_req(&q, SD_FLAG_CMD_WRITE | CREAT | EXCL, len, 0);
	for (i = 0; i < n; i++) {
		if (fd[i] < 0)
			continue;
		q.id = ++g_req_id;
		sd_req_encode(&q, hdr);
		if (io_all(fd[i], hdr, sizeof(hdr), true) ||
		    io_all(fd[i], a, len, true)) {
			close(fd[i]);
			fd[i] = -1;
		}
	}
	for (i = 0; i < n; i++) {
		ret = fd[i] < 0 ? -1 : io_all(fd[i], hdr, sizeof(hdr), false);
		if (ret) {
			other++;
		} else {
			sd_rsp_decode(hdr, &rsp);
			if (rsp.result == SD_RES_SUCCESS)
				ok++;
			else if (rsp.result == SD_RES_VDI_EXIST)
				exist++;
			else
				other++;
		}
		if (fd[i] >= 0)
			close(fd[i]);
	}
	printf("ok success=%d exist=%d other=%d\n", ok, exist, other);
	free(a);
}

/* ---- command loop --------------------------------------------------- */

static void run(char *line)
{
	char *arg[8], *save = NULL, *tok;
	int fd = -1, n = 0;

	for (tok = strtok_r(line, " \t\n", &save); tok && n < 8;
	     tok = strtok_r(NULL, " \t\n", &save))
		arg[n++] = tok;
	if (!n) {
		printf("err empty command\n");
		return;
	}
	if ((!strncmp(arg[0], "raw-", 4) || !strncmp(arg[0], "attr", 4) ||
	     !strncmp(arg[0], "obj-", 4) || !strcmp(arg[0], "inode-ctime")) &&
	    strcmp(arg[0], "raw-connect") && strcmp(arg[0], "raw-close") &&
	    strcmp(arg[0], "attr-expect") && strcmp(arg[0], "attr-race") &&
	    (n < 2 || (fd = raw_fd(arg[1])) < 0)) {
		printf("err connection %s is not open\n", n > 1 ? arg[1] : "?");
		return;
	}
	if (!strcmp(arg[0], "open")) {
		cmd_open();
	} else if ((!strcmp(arg[0], "write") || !strcmp(arg[0], "read")) &&
		   n == 3) {
		cmd_io(arg[0][0] == 'w', (uint32_t)strtoul(arg[1], NULL, 0),
		       strtoull(arg[2], NULL, 0));
	} else if (!strcmp(arg[0], "raw-connect") && n == 2) {
		cmd_raw_connect(arg[1]);
	} else if (!strcmp(arg[0], "raw-close") && n == 2) {
		cmd_raw_close(arg[1]);
	} else if (!strcmp(arg[0], "raw-lock")) {
		cmd_raw_lock(fd, n > 2 ? arg[2] : NULL);
	} else if (!strcmp(arg[0], "raw-release") && n == 3) {
		cmd_raw_release(fd, arg[2]);
	} else if (!strcmp(arg[0], "raw-read") && n == 3) {
		cmd_raw_read(fd, sd_vid_to_data_oid(g_vid,
			     (uint32_t)strtoul(arg[2], NULL, 0)), 4096);
	} else if (!strcmp(arg[0], "raw-refresh")) {
		cmd_raw_read(fd, sd_vid_to_vdi_oid(g_vid),
			     SD_INODE_REFRESH_SIZE);
	} else if (!strcmp(arg[0], "attr") && n >= 3) {
		cmd_attr(fd, arg + 1, n - 1);
	} else if (!strcmp(arg[0], "attr-expect") && n >= 2) {
		cmd_attr_expect(arg[1], n > 2 ? arg[2] : NULL);
	} else if (!strcmp(arg[0], "attr-read") && n == 3) {
		cmd_attr_read(fd, arg[2]);
	} else if (!strcmp(arg[0], "obj-read") && n == 5) {
		cmd_obj_read(fd, arg[2], arg[3], arg[4]);
	} else if (!strcmp(arg[0], "obj-remove") && n == 3) {
		cmd_obj_remove(fd, arg[2]);
	} else if (!strcmp(arg[0], "inode-ctime")) {
		cmd_inode_ctime(fd);
	} else if (!strcmp(arg[0], "attr-race") && n == 3) {
		cmd_attr_race(arg[1], atoi(arg[2]));
	} else if (!strcmp(arg[0], "state")) {
		cmd_state(false);
	} else if (!strcmp(arg[0], "lockstate")) {
		cmd_state(true);
	} else if (!strcmp(arg[0], "close")) {
		cmd_close();
	} else if (!strcmp(arg[0], "exit")) {
		fflush(stdout);
		_exit(0);
	} else {
		printf("err unknown command '%s'\n", arg[0]);
	}
}

int main(int argc, char **argv)
{
	char line[256];

	it_usage(argc == 3, argv[0], "ADDR VDI (commands on stdin)");
	g_addr = argv[1];
	g_name = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin))
		run(line);
	cmd_close();
	return 0;
}
