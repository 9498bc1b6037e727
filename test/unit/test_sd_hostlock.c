// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_sd_hostlock.c - unit test of the host lock records (usr/
 * sd_hostlock.c): escaping, file names, the record text, GET_VDI_COPIES
 * entries, node ids, /proc/locks lines and the takeover decision as pure
 * functions; then the open flow against a fake sheep that keeps VDI locks
 * as sheep 1.0 does (sheep/vdi.c vdi_lock()/vdi_unlock(): a normal lock
 * has one owner node and any normal RELEASE_VDI unlocks it; a shared lock
 * has one participant per node and RELEASE_VDI removes the sender's node;
 * nothing is dropped when a client goes away).  A "crash" is the record's
 * descriptor closed without a release; a "live holder" is a record still
 * open (flock conflicts between two descriptors of one process too).  One
 * small function per case.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "../../usr/lib/sd_hostlock.c"

/* ---- a fake sheep: one VDI, lock state as sheep 1.0 keeps it ----------- */

#define FAKE_VID	0x7c2b25u
#define FAKE_CTIME	UINT64_C(0x1234567890abcdef)
#define NODE_A		"10.0.0.1:7000"
#define NODE_B		"10.0.0.2:7000"
#define ADDR_A		"tcp:10.0.0.1:7000"
#define ADDR_B		"tcp:10.0.0.2:7000"

static struct {
	uint16_t flags;			/* CLUSTER_INFO flags */
	uint32_t state;			/* SD_LOCK_STATE_* */
	char owner[SD_NODE_STR_MAX];
	uint32_t nr;
	char part[SD_MAX_PARTICIPANTS][SD_NODE_STR_MAX];
	const char *node;		/* the node our client talks to */
	const char *addr;		/* ... and its address */
	int locks, releases, copies;	/* requests seen */
} fake;

static struct sd_client *fake_client = (struct sd_client *)&fake;

static void fake_reset(void)
{
	/* forget the nodes earlier cases learnt (sd_hostlock.c's cache) */
	memset(hl_nodes.addr, 0, sizeof(hl_nodes.addr));
	hl_nodes.next = 0;
	memset(&fake, 0, sizeof(fake));
	fake.flags = SD_CLUSTER_FLAG_USE_LOCK;
	fake.state = SD_LOCK_STATE_UNLOCKED;
	fake.node = NODE_A;
	fake.addr = ADDR_A;
}

/* "a.b.c.d:port" -> node_id bytes */
static void node_encode(const char *s, uint8_t *nid)
{
	unsigned int a, b, c, d, port;

	memset(nid, 0, SD_NODE_ID_SIZE);
	if (sscanf(s, "%u.%u.%u.%u:%u", &a, &b, &c, &d, &port) != 5)
		abort();
	nid[12] = (uint8_t)a;
	nid[13] = (uint8_t)b;
	nid[14] = (uint8_t)c;
	nid[15] = (uint8_t)d;
	sd_put_le16(nid + 16, (uint16_t)port);
}

/* one vdi_state entry of the fake's VDI at @p */
static void fake_state_encode(uint8_t *p, uint32_t vid)
{
	uint32_t i;

	memset(p, 0, SD_VDI_STATE_SIZE);
	sd_put_le32(p, vid);
	if (vid != FAKE_VID) {
		sd_put_le32(p + SD_VDI_STATE_OFF_LOCK, SD_LOCK_STATE_UNLOCKED);
		return;
	}
	sd_put_le32(p + SD_VDI_STATE_OFF_LOCK, fake.state);
	if (fake.state == SD_LOCK_STATE_LOCKED)
		node_encode(fake.owner, p + SD_VDI_STATE_OFF_OWNER);
	sd_put_le32(p + SD_VDI_STATE_OFF_NR, fake.nr);
	for (i = 0; i < fake.nr; i++) {
		sd_put_le32(p + SD_VDI_STATE_OFF_PSTATE + 4 * i, 2);
		node_encode(fake.part[i], p + SD_VDI_STATE_OFF_PART +
			    SD_NODE_ID_SIZE * i);
	}
}

int sd_client_call(struct sd_client *c, struct sd_request *req)
{
	uint8_t *out = req->in_iovcnt ? req->in_iov[0].iov_base : NULL;

	(void)c;
	memset(&req->rsp, 0, sizeof(req->rsp));
	req->in_len = 0;
	switch (req->hdr.opcode) {
	case SD_OP_CLUSTER_INFO:
		memset(out, 0, req->in_iov[0].iov_len);
		sd_put_le64(out + SD_CLUSTER_INFO_OFF_CTIME, FAKE_CTIME);
		sd_put_le16(out + SD_CLUSTER_INFO_OFF_FLAGS, fake.flags);
		req->in_len = (uint32_t)req->in_iov[0].iov_len;
		return 0;
	case SD_OP_GET_VDI_COPIES:
		/* two entries: another vid, then ours */
		fake.copies++;
		fake_state_encode(out, 0x42);
		fake_state_encode(out + SD_VDI_STATE_SIZE, FAKE_VID);
		req->in_len = 2 * SD_VDI_STATE_SIZE;
		return 0;
	default:
		return sd_set_error(ENOSYS, "stub: unexpected opcode");
	}
}

void sd_client_addr_str(const struct sd_client *c, char *buf, size_t len)
{
	(void)c;
	snprintf(buf, len, "%s", fake.addr);
}

static int fake_part_index(const char *node)
{
	uint32_t i;

	for (i = 0; i < fake.nr; i++)
		if (!strcmp(fake.part[i], node))
			return (int)i;
	return -1;
}

/* sheep/vdi.c vdi_lock() */
static uint32_t fake_lock(uint32_t type)
{
	if (type == SD_LOCK_TYPE_NORMAL) {
		if (fake.state != SD_LOCK_STATE_UNLOCKED)
			return SD_RES_VDI_LOCKED;
		fake.state = SD_LOCK_STATE_LOCKED;
		snprintf(fake.owner, sizeof(fake.owner), "%s", fake.node);
		return SD_RES_SUCCESS;
	}
	if (fake.state == SD_LOCK_STATE_LOCKED ||
	    fake_part_index(fake.node) >= 0 || fake.nr == SD_MAX_PARTICIPANTS)
		return SD_RES_VDI_LOCKED;
	snprintf(fake.part[fake.nr++], SD_NODE_STR_MAX, "%s", fake.node);
	fake.state = SD_LOCK_STATE_SHARED;
	return SD_RES_SUCCESS;
}

int sd_vdi_lookup_raw(struct sd_client *c, const char *name, const char *tag,
		      uint32_t snapid, uint8_t opcode, uint32_t lock_type,
		      uint32_t *vid, uint32_t *result)
{
	(void)c;
	(void)name;
	(void)tag;
	(void)snapid;
	*vid = FAKE_VID;
	*result = SD_RES_SUCCESS;
	if (opcode == SD_OP_LOCK_VDI) {
		fake.locks++;
		if (fake.flags & SD_CLUSTER_FLAG_USE_LOCK)
			*result = fake_lock(lock_type);
	}
	return 0;
}

int sd_vdi_lookup(struct sd_client *c, const char *name, const char *tag,
		  uint32_t snapid, uint8_t opcode, uint32_t lock_type,
		  uint32_t *vid)
{
	uint32_t result;

	return sd_vdi_lookup_raw(c, name, tag, snapid, opcode, lock_type, vid,
				 &result);
}

/* sheep/vdi.c vdi_unlock(): a normal release needs no owner */
void sd_vdi_release(struct sd_client *c, uint32_t vid, uint32_t type)
{
	int i;

	(void)c;
	fake.releases++;
	if (vid != FAKE_VID)
		return;
	if (type == SD_LOCK_TYPE_NORMAL) {
		if (fake.state == SD_LOCK_STATE_LOCKED)
			fake.state = SD_LOCK_STATE_UNLOCKED;
		return;
	}
	if (fake.state != SD_LOCK_STATE_SHARED)
		return;
	i = fake_part_index(fake.node);
	if (i < 0)
		return;
	memmove(fake.part[i], fake.part[i + 1],
		(fake.nr - (uint32_t)i - 1) * SD_NODE_STR_MAX);
	if (!--fake.nr)
		fake.state = SD_LOCK_STATE_UNLOCKED;
}

/* ---- helpers ----------------------------------------------------------- */

static char lockdir[256];

static void use_dir(const char *sub)
{
	char d[300];

	snprintf(d, sizeof(d), "%s/%s", lockdir, sub);
	setenv(SD_HOSTLOCK_ENV, d, 1);
}

/* the record file of the fake's VDI "vol0" as it is now */
static int read_record(const char *sub, const char *addr,
		       struct sd_hl_record *r)
{
	char name[NAME_MAX + 1], path[PATH_MAX], buf[SD_HL_RECORD_MAX];
	FILE *f;
	size_t n;

	sd_hl_file_name(FAKE_CTIME, "vol0", addr, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s/%s", lockdir, sub, name);
	f = fopen(path, "r");
	if (!f) {
		memset(r, 0, sizeof(*r));
		return -errno;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return sd_hl_parse(buf, n, r);
}

static int open_vol0(enum sd_lock_mode mode, struct sd_hostlock **hl)
{
	uint32_t vid = 0;

	return sd_hostlock_open(fake_client, "vol0", mode, &vid, hl);
}

/* what sd_vdi_close() does */
static void close_vol0(struct sd_hostlock *hl, enum sd_lock_mode mode)
{
	sd_hostlock_releasing(hl);
	sd_vdi_release(fake_client, FAKE_VID,
		       mode == SD_LOCK_SHARED ? SD_LOCK_TYPE_SHARED :
						SD_LOCK_TYPE_NORMAL);
	sd_hostlock_free(hl);
}

/* ---- pure parts -------------------------------------------------------- */

static void case_escape_round_trip(void)
{
	const char *in = "a/b:c@d%e f~\xc3\xa9\n.x_y+z-0";
	char strict[256], loose[256], back[256];

	sd_hl_escape(in, true, strict, sizeof(strict));
	sd_hl_escape(in, false, loose, sizeof(loose));
	CHECK(!strcmp(strict, "a%2Fb%3Ac%40d%25e%20f%7E%C3%A9%0A.x_y+z-0"),
	      "escape: strict set for file names", "got '%s'", strict);
	CHECK(!strcmp(loose, "a/b:c@d%25e%20f~%C3%A9%0A.x_y+z-0"),
	      "escape: loose set for values", "got '%s'", loose);
	CHECK(!sd_hl_unescape(strict, back, sizeof(back)) && !strcmp(back, in),
	      "unescape: strict round trip", "got '%s'", back);
	CHECK(!sd_hl_unescape(loose, back, sizeof(back)) && !strcmp(back, in),
	      "unescape: loose round trip", "got '%s'", back);
}

static void case_unescape_rejects(void)
{
	char out[8];

	CHECK(sd_hl_unescape("a%zz", out, sizeof(out)) == -EINVAL,
	      "unescape: bad hex digits rejected", "accepted");
	CHECK(sd_hl_unescape("a%00b", out, sizeof(out)) == -EINVAL,
	      "unescape: %00 (NUL) rejected", "accepted");
	CHECK(sd_hl_unescape("ab%4", out, sizeof(out)) == -EINVAL,
	      "unescape: cut %XX rejected", "accepted");
	CHECK(sd_hl_unescape("12345678", out, sizeof(out)) == -EINVAL,
	      "unescape: overflow rejected", "accepted");
}

static void case_escape_needed_length(void)
{
	char small[4];
	size_t n = sd_hl_escape("a/b", true, small, sizeof(small));

	CHECK(n == 5 && strlen(small) < sizeof(small),
	      "escape: returns the length needed, output stays terminated",
	      "n %zu '%s'", n, small);
}

static void case_file_names(void)
{
	char a[NAME_MAX + 1], b[NAME_MAX + 1];

	sd_hl_file_name(UINT64_C(0x5f00aa), "vol/0", NULL, a, sizeof(a));
	CHECK(!strcmp(a, "00000000005f00aa-vol%2F0.lock"),
	      "file name: normal lock", "got '%s'", a);
	sd_hl_file_name(UINT64_C(0x5f00aa), "vol0", "unix:/run/s.sock", b,
			sizeof(b));
	CHECK(!strcmp(b, "00000000005f00aa-vol0@unix%3A%2Frun%2Fs.sock.lock"),
	      "file name: shared lock names the address", "got '%s'", b);
	CHECK(sd_hl_file_name(1, "vol0", NULL, a, 10) == -ENAMETOOLONG,
	      "file name: small buffer -> -ENAMETOOLONG", "accepted");
}

static void case_file_names_long(void)
{
	char v1[256], v2[256], a[NAME_MAX + 1], b[NAME_MAX + 1];

	memset(v1, '/', 255);
	v1[255] = '\0';
	memcpy(v2, v1, sizeof(v2));
	v2[254] = 'x';
	sd_hl_file_name(1, v1, "unix:/a/very/long/path", a, sizeof(a));
	sd_hl_file_name(1, v2, "unix:/a/very/long/path", b, sizeof(b));
	CHECK(strlen(a) <= NAME_MAX && strlen(b) <= NAME_MAX && strcmp(a, b) &&
	      strchr(a, '~') && !strchr(a, '/'),
	      "file name: long keys are cut, hashed, and stay apart",
	      "'%s' / '%s'", a, b);
}

static void fill_record(struct sd_hl_record *r)
{
	memset(r, 0, sizeof(*r));
	r->state = SD_HL_HELD;
	r->pid = 4242;
	r->prev_pid = 17;
	r->cluster = FAKE_CTIME;
	snprintf(r->vdi, sizeof(r->vdi), "my vol%%\n1");
	r->vid = FAKE_VID;
	r->lock = SD_LOCK_SHARED;
	snprintf(r->node, sizeof(r->node), "%s", NODE_A);
	snprintf(r->addr, sizeof(r->addr), "unix:/run/sheep dir/sock");
	snprintf(r->boot, sizeof(r->boot), "0b1d-2c3e");
	r->time = 1767225600;
}

static void case_record_round_trip(void)
{
	struct sd_hl_record r, back;
	char buf[SD_HL_RECORD_MAX];
	int n;

	fill_record(&r);
	n = sd_hl_format(&r, buf, sizeof(buf));
	CHECK(n > 0 && strstr(buf, "time=1767225600 2026-01-01T00:00:00Z\n") &&
	      strstr(buf, "vdi=my%20vol%25%0A1\n"),
	      "record: format", "got %d '%s'", n, buf);
	CHECK(!sd_hl_parse(buf, (size_t)n, &back) &&
	      !memcmp(&r, &back, sizeof(r)),
	      "record: parse gives back every field", "'%s'", buf);
}

static void case_record_rejects(void)
{
	static const char *const bad[] = {
		"something else\nstate=held\n",
		HL_MAGIC "\npid=1\n",			/* no state */
		HL_MAGIC "\nstate=held\npid=1",		/* torn last line */
		HL_MAGIC "\nstate=maybe\n",
		HL_MAGIC "\nstate=held\nvid=0x1000000\n",
		HL_MAGIC "\nstate=held\nno equals sign\n",
		HL_MAGIC "\nstate=held\nlock=exclusive\n",
		"",
	};
	static const char unknown[] = HL_MAGIC "\nstate=released\nfuture=1\n";
	struct sd_hl_record r = { .state = SD_HL_EMPTY };
	size_t i;
	int bad_ok = 1;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sd_hl_parse(bad[i], strlen(bad[i]), &r) != -EINVAL ||
		    r.state != SD_HL_EMPTY) {
			bad_ok = 0;
			printf("# accepted: %s\n", bad[i]);
		}
	CHECK(bad_ok, "record: malformed texts are not records", "see above");
	CHECK(!sd_hl_parse(unknown, strlen(unknown), &r) &&
	      r.state == SD_HL_RELEASED,
	      "record: unknown keys are ignored", "state %d", r.state);
}

static void case_node_ids(void)
{
	uint8_t nid[SD_NODE_ID_SIZE] = { 0 };
	char s[SD_NODE_STR_MAX];

	node_encode("127.0.0.1:7000", nid);
	sd_node_id_format(nid, s, sizeof(s));
	CHECK(!strcmp(s, "127.0.0.1:7000"), "node id: IPv4-mapped",
	      "got '%s'", s);
	memset(nid, 0, sizeof(nid));
	nid[15] = 1;		/* ::1 is not v4-mapped: byte 12..14 zero */
	nid[0] = 0xfe;
	nid[1] = 0x80;
	sd_put_le16(nid + 16, 7001);
	sd_node_id_format(nid, s, sizeof(s));
	CHECK(!strcmp(s, "[fe80::1]:7001"), "node id: IPv6", "got '%s'", s);
}

static void case_lock_info_find(void)
{
	uint8_t buf[3 * SD_VDI_STATE_SIZE];
	struct sd_vdi_lock_info s;

	fake_reset();
	fake.state = SD_LOCK_STATE_SHARED;
	fake.nr = 2;
	snprintf(fake.part[0], SD_NODE_STR_MAX, NODE_A);
	snprintf(fake.part[1], SD_NODE_STR_MAX, NODE_B);
	fake_state_encode(buf, 1);
	fake_state_encode(buf + SD_VDI_STATE_SIZE, FAKE_VID);
	fake_state_encode(buf + 2 * SD_VDI_STATE_SIZE, 3);
	CHECK(!sd_vdi_lock_info_find(buf, sizeof(buf), FAKE_VID, &s) &&
	      s.state == SD_LOCK_STATE_SHARED && s.nr == 2 &&
	      !strcmp(s.part[1], NODE_B) && s.pstate[0] == 2,
	      "lock info: entry found and decoded", "state %u nr %u",
	      s.state, s.nr);
	CHECK(sd_vdi_lock_info_find(buf, sizeof(buf) - 1, 3, &s) == -ENOENT,
	      "lock info: a cut entry is not read", "found");
	sd_put_le32(buf + SD_VDI_STATE_SIZE + SD_VDI_STATE_OFF_NR, 99);
	CHECK(!sd_vdi_lock_info_find(buf, sizeof(buf), FAKE_VID, &s) &&
	      s.nr == SD_MAX_PARTICIPANTS,
	      "lock info: participant count clamped to 31", "nr %u", s.nr);
}

static void case_proc_locks(void)
{
	const char *text =
		"1: POSIX  ADVISORY  WRITE 100 00:19:77 0 EOF\n"
		"2: FLOCK  ADVISORY  WRITE 200 00:1a:77 0 EOF\n"
		"2: -> FLOCK  ADVISORY  WRITE 300 00:19:77 0 EOF\n"
		"3: FLOCK  ADVISORY  WRITE 400 00:19:77 0 EOF\n"
		"4: OFDLCK ADVISORY  READ  -1 00:19:77 0 EOF\n";

	CHECK(sd_hl_proc_locks_pid(text, 0, 0x19, 77) == 400,
	      "/proc/locks: the FLOCK holder, not a waiter or a POSIX lock",
	      "got %ld", sd_hl_proc_locks_pid(text, 0, 0x19, 77));
	CHECK(sd_hl_proc_locks_pid(text, 0, 0x19, 78) == 0,
	      "/proc/locks: no holder listed -> 0", "found one");
}

/* the decision table of sd_hl_may_take_over() */
static void case_decision_normal(void)
{
	struct sd_vdi_lock_info s = { .vid = FAKE_VID,
				      .state = SD_LOCK_STATE_LOCKED,
				      .owner = NODE_A };
	struct sd_hl_record r = { .state = SD_HL_EMPTY };
	const char *why = "";

	fill_record(&r);
	r.lock = SD_LOCK_NORMAL;
	CHECK(sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_NORMAL, ADDR_B, &s,
				  &why),
	      "decide: normal, same owner node -> take over (any address)",
	      "%s", why);
	snprintf(s.owner, sizeof(s.owner), NODE_B);
	CHECK(!sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_NORMAL, ADDR_A, &s,
				   &why),
	      "decide: normal, owner is another node -> refuse", "took");
	snprintf(s.owner, sizeof(s.owner), NODE_A);
	CHECK(!sd_hl_may_take_over(&r, FAKE_VID + 1, SD_LOCK_NORMAL, ADDR_A,
				   &s, &why),
	      "decide: another vid -> refuse", "took");
	r.state = SD_HL_RELEASED;
	CHECK(!sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_NORMAL, ADDR_A, &s,
				   &why),
	      "decide: record released -> refuse", "took");
	r.state = SD_HL_UNLOCKED;
	CHECK(!sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_NORMAL, ADDR_A, &s,
				   &why),
	      "decide: record unlocked by sdctl -> refuse", "took");
	r.state = SD_HL_HELD;
	CHECK(!sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_NORMAL, ADDR_A, NULL,
				   &why),
	      "decide: lock state unknown -> refuse", "took");
	s.state = SD_LOCK_STATE_SHARED;
	CHECK(!sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_NORMAL, ADDR_A, &s,
				   &why),
	      "decide: normal record, VDI shared-locked -> refuse", "took");
}

static void case_decision_shared(void)
{
	struct sd_vdi_lock_info s = { .vid = FAKE_VID,
				      .state = SD_LOCK_STATE_SHARED, .nr = 2,
				      .part = { NODE_B, NODE_A } };
	struct sd_hl_record r = { .state = SD_HL_EMPTY };
	const char *why = "";

	fill_record(&r);
	snprintf(r.addr, sizeof(r.addr), ADDR_A);
	CHECK(sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_SHARED, ADDR_A, &s,
				  &why),
	      "decide: shared, same address, node participates -> take over",
	      "%s", why);
	CHECK(!sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_SHARED, ADDR_B, &s,
				   &why),
	      "decide: shared through another address -> refuse", "took");
	s.nr = 1;
	CHECK(!sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_SHARED, ADDR_A, &s,
				   &why),
	      "decide: shared, recorded node gone -> refuse", "took");
	r.node[0] = '\0';
	CHECK(sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_SHARED, ADDR_A, &s,
				  &why),
	      "decide: shared, node unknown, same address -> take over",
	      "%s", why);
	r.lock = SD_LOCK_NORMAL;
	CHECK(!sd_hl_may_take_over(&r, FAKE_VID, SD_LOCK_SHARED, ADDR_A, &s,
				   &why),
	      "decide: lock type differs -> refuse", "took");
}

/* ---- the open flow against the fake sheep ------------------------------ */

static void case_open_records_owner(void)
{
	struct sd_hostlock *hl = NULL;
	struct sd_hl_record r = { .state = SD_HL_EMPTY };
	int ret;

	fake_reset();
	use_dir("first");
	ret = open_vol0(SD_LOCK_NORMAL, &hl);
	CHECK(!ret && hl && !read_record("first", NULL, &r) &&
	      r.state == SD_HL_HELD && r.pid == getpid() &&
	      r.vid == FAKE_VID && !strcmp(r.node, NODE_A) &&
	      !strcmp(r.addr, ADDR_A) && r.cluster == FAKE_CTIME,
	      "open: record held, owner node from GET_VDI_COPIES",
	      "ret %d %s state %d node '%s'", ret, sd_get_error(), r.state,
	      r.node);
	close_vol0(hl, SD_LOCK_NORMAL);
	CHECK(!read_record("first", NULL, &r) && r.state == SD_HL_RELEASED &&
	      fake.state == SD_LOCK_STATE_UNLOCKED,
	      "close: record says released, lock released", "state %d",
	      r.state);
}

static void case_node_cache(void)
{
	struct sd_hostlock *hl = NULL;
	struct sd_hl_record r = { .state = SD_HL_EMPTY };
	int copies;

	fake_reset();
	use_dir("cache");
	open_vol0(SD_LOCK_NORMAL, &hl);
	close_vol0(hl, SD_LOCK_NORMAL);
	copies = fake.copies;
	open_vol0(SD_LOCK_NORMAL, &hl);
	CHECK(copies == 1 && fake.copies == copies &&
	      !read_record("cache", NULL, &r) && !strcmp(r.node, NODE_A),
	      "node cache: the next open through the address asks no GET_VDI_COPIES",
	      "copies %d then %d, node '%s'", copies, fake.copies, r.node);
	close_vol0(hl, SD_LOCK_NORMAL);
}

static void case_takeover_normal(void)
{
	struct sd_hostlock *hl = NULL, *hl2 = NULL;
	struct sd_hl_record r = { .state = SD_HL_EMPTY };
	int ret;

	fake_reset();
	use_dir("takeover");
	open_vol0(SD_LOCK_NORMAL, &hl);
	sd_hostlock_free(hl);		/* crash: no release */
	fake.node = NODE_B;		/* the restart uses another node */
	fake.addr = ADDR_B;
	fake.releases = 0;
	ret = open_vol0(SD_LOCK_NORMAL, &hl2);
	CHECK(!ret && hl2 && fake.releases == 1 && fake.locks == 3 &&
	      !strcmp(fake.owner, NODE_B) &&
	      !read_record("takeover", NULL, &r) && r.state == SD_HL_HELD &&
	      r.prev_pid == getpid() && !strcmp(r.node, NODE_B),
	      "takeover: dead holder's normal lock released and taken",
	      "ret %d %s releases %d locks %d", ret, sd_get_error(),
	      fake.releases, fake.locks);
	close_vol0(hl2, SD_LOCK_NORMAL);
}

static void case_live_holder_refused(void)
{
	struct sd_hostlock *hl = NULL, *hl2 = NULL;
	char want[128];
	int ret, locks;

	fake_reset();
	use_dir("live");
	open_vol0(SD_LOCK_NORMAL, &hl);
	locks = fake.locks;
	ret = open_vol0(SD_LOCK_NORMAL, &hl2);
	snprintf(want, sizeof(want),
		 "VDI 'vol0' is already locked by pid %ld on this host",
		 (long)getpid());
	CHECK(ret == -EBUSY && !hl2 && !strcmp(sd_get_error(), want) &&
	      fake.locks == locks && fake.releases == 0,
	      "live holder: refused with its pid, nothing sent to sheep",
	      "ret %d '%s'", ret, sd_get_error());
	close_vol0(hl, SD_LOCK_NORMAL);
}

static void case_owner_moved_refused(void)
{
	struct sd_hostlock *hl = NULL, *hl2 = NULL;
	int ret;

	fake_reset();
	use_dir("moved");
	open_vol0(SD_LOCK_NORMAL, &hl);
	sd_hostlock_free(hl);		/* crash */
	/* an operator unlocked it and a gateway elsewhere locked it */
	snprintf(fake.owner, sizeof(fake.owner), NODE_B);
	fake.releases = 0;
	ret = open_vol0(SD_LOCK_NORMAL, &hl2);
	CHECK(ret == -EBUSY && fake.releases == 0 &&
	      strstr(sd_get_error(), "through sheep node " NODE_B) &&
	      strstr(sd_get_error(), "sdctl vdi unlock 'vol0'"),
	      "owner moved: refused with the owner and the unlock hint",
	      "ret %d '%s'", ret, sd_get_error());
	sd_hostlock_free(hl2);
}

static void case_other_host_refused(void)
{
	struct sd_hostlock *hl = NULL, *hl2 = NULL;
	int ret;

	fake_reset();
	use_dir("hostA");
	open_vol0(SD_LOCK_NORMAL, &hl);
	sd_hostlock_free(hl);		/* crash on host A */
	use_dir("hostB");
	fake.releases = 0;
	ret = open_vol0(SD_LOCK_NORMAL, &hl2);
	CHECK(ret == -EBUSY && fake.releases == 0 &&
	      strstr(sd_get_error(), "sdctl vdi unlock"),
	      "other host: no record here, refused with the unlock hint",
	      "ret %d '%s'", ret, sd_get_error());
	sd_hostlock_free(hl2);
}

static void case_takeover_shared(void)
{
	struct sd_hostlock *hl = NULL, *hl2 = NULL;
	struct sd_hl_record r = { .state = SD_HL_EMPTY };
	int ret;

	fake_reset();
	use_dir("shared");
	/* another gateway on node B participates first */
	fake.node = NODE_B;
	fake_lock(SD_LOCK_TYPE_SHARED);
	fake.node = NODE_A;
	ret = open_vol0(SD_LOCK_SHARED, &hl);
	CHECK(!ret && !read_record("shared", ADDR_A, &r) &&
	      !strcmp(r.node, NODE_A),
	      "shared: our participation told apart from node B's",
	      "ret %d node '%s'", ret, r.node);
	sd_hostlock_free(hl);		/* crash: A still participates */
	fake.releases = 0;
	ret = open_vol0(SD_LOCK_SHARED, &hl2);
	CHECK(!ret && fake.releases == 1 && fake.nr == 2 &&
	      fake_part_index(NODE_A) >= 0 && fake_part_index(NODE_B) >= 0 &&
	      !read_record("shared", ADDR_A, &r) && r.prev_pid == getpid(),
	      "shared: dead local participation released and joined again",
	      "ret %d %s releases %d nr %u", ret, sd_get_error(),
	      fake.releases, fake.nr);
	close_vol0(hl2, SD_LOCK_SHARED);
	CHECK(fake.nr == 1 && !strcmp(fake.part[0], NODE_B),
	      "shared: close leaves node B's participation alone", "nr %u",
	      fake.nr);
}

static void case_shared_live_holder(void)
{
	struct sd_hostlock *hl = NULL, *hl2 = NULL;
	int ret;

	fake_reset();
	use_dir("shared-live");
	open_vol0(SD_LOCK_SHARED, &hl);
	fake.releases = 0;
	ret = open_vol0(SD_LOCK_SHARED, &hl2);
	CHECK(ret == -EBUSY && fake.releases == 0 &&
	      strstr(sd_get_error(), "already locked by pid"),
	      "shared: live holder through the same node -> its pid",
	      "ret %d '%s'", ret, sd_get_error());
	close_vol0(hl, SD_LOCK_SHARED);
}

static void case_shared_other_node(void)
{
	struct sd_hostlock *hl = NULL, *hl2 = NULL;
	int ret;

	fake_reset();
	use_dir("shared-other");
	open_vol0(SD_LOCK_SHARED, &hl);
	sd_hostlock_free(hl);		/* crash: A still participates */
	fake.node = NODE_B;
	fake.addr = ADDR_B;
	fake.releases = 0;
	ret = open_vol0(SD_LOCK_SHARED, &hl2);
	CHECK(!ret && fake.releases == 0 && fake.nr == 2,
	      "shared: restart through another node joins; A's dead participation stays (as in sheep)",
	      "ret %d releases %d nr %u", ret, fake.releases, fake.nr);
	sd_hostlock_free(hl2);
}

static void case_no_lock_cluster(void)
{
	struct sd_hostlock *hl = NULL;
	struct sd_hl_record r = { .state = SD_HL_EMPTY };
	int ret;

	fake_reset();
	fake.flags = 0;
	use_dir("nolock");
	ret = open_vol0(SD_LOCK_NORMAL, &hl);
	CHECK(!ret && !hl && read_record("nolock", NULL, &r) == -ENOENT,
	      "cluster without locking: no record file", "ret %d hl %p",
	      ret, (void *)hl);
}

static void case_unusable_dir(void)
{
	struct sd_hostlock *hl = NULL;
	int ret;

	fake_reset();
	setenv(SD_HOSTLOCK_ENV, "/proc/version/locks", 1);
	ret = open_vol0(SD_LOCK_NORMAL, &hl);
	CHECK(!ret && !hl && fake.state == SD_LOCK_STATE_LOCKED,
	      "unusable directory: the lock is taken without a record",
	      "ret %d %s", ret, sd_get_error());
}

static void case_unlock(void)
{
	struct sd_hostlock *hl = NULL;
	struct sd_hl_record r = { .state = SD_HL_EMPTY };
	char what[256];
	int ret;

	fake_reset();
	use_dir("unlock");
	open_vol0(SD_LOCK_NORMAL, &hl);
	ret = sd_vdi_unlock(fake_client, "vol0", NULL, 0, false, what,
			    sizeof(what));
	CHECK(ret == -EBUSY && fake.state == SD_LOCK_STATE_LOCKED &&
	      strstr(sd_get_error(), "in use by pid"),
	      "unlock: refused while a live local process holds it",
	      "ret %d '%s'", ret, sd_get_error());
	sd_hostlock_free(hl);		/* crash */
	ret = sd_vdi_unlock(fake_client, "vol0", NULL, 0, false, what,
			    sizeof(what));
	CHECK(!ret && fake.state == SD_LOCK_STATE_UNLOCKED &&
	      strstr(what, "normal lock") &&
	      !read_record("unlock", NULL, &r) && r.state == SD_HL_UNLOCKED,
	      "unlock: dead holder's lock released, record marked unlocked",
	      "ret %d '%s' state %d", ret, sd_get_error(), r.state);
	ret = sd_vdi_unlock(fake_client, "vol0", NULL, 0, false, NULL, 0);
	CHECK(ret == -ENOLCK && strstr(sd_get_error(), "is not locked"),
	      "unlock: not locked -> -ENOLCK", "ret %d '%s'", ret,
	      sd_get_error());
}

static void case_unlock_force(void)
{
	struct sd_hostlock *hl = NULL;
	int ret;

	fake_reset();
	use_dir("force");
	open_vol0(SD_LOCK_NORMAL, &hl);
	ret = sd_vdi_unlock(fake_client, "vol0", NULL, 0, true, NULL, 0);
	CHECK(!ret && fake.state == SD_LOCK_STATE_UNLOCKED,
	      "unlock -f: released even with a live local holder",
	      "ret %d '%s'", ret, sd_get_error());
	sd_hostlock_free(hl);
}

static void case_unlock_shared_other_node(void)
{
	int ret;

	fake_reset();
	use_dir("unlock-shared");
	fake.node = NODE_B;
	fake_lock(SD_LOCK_TYPE_SHARED);
	fake.node = NODE_A;
	ret = sd_vdi_unlock(fake_client, "vol0", NULL, 0, false, NULL, 0);
	CHECK(ret == -ENOENT && fake.nr == 1 &&
	      strstr(sd_get_error(), "participants: " NODE_B),
	      "unlock: shared lock of another node -> names the participants",
	      "ret %d '%s'", ret, sd_get_error());
	fake.node = NODE_B;
	ret = sd_vdi_unlock(fake_client, "vol0", NULL, 0, false, NULL, 0);
	CHECK(!ret && fake.state == SD_LOCK_STATE_UNLOCKED,
	      "unlock: shared lock through its own node released",
	      "ret %d '%s'", ret, sd_get_error());
}

int main(void)
{
	static void (*const cases[])(void) = {
		case_escape_round_trip, case_unescape_rejects,
		case_escape_needed_length, case_file_names,
		case_file_names_long, case_record_round_trip,
		case_record_rejects, case_node_ids, case_lock_info_find,
		case_proc_locks, case_decision_normal, case_decision_shared,
		case_open_records_owner, case_node_cache, case_takeover_normal,
		case_live_holder_refused, case_owner_moved_refused,
		case_other_host_refused, case_takeover_shared,
		case_shared_live_holder, case_shared_other_node,
		case_no_lock_cluster, case_unusable_dir, case_unlock,
		case_unlock_force, case_unlock_shared_other_node,
	};
	const char *tmp = getenv("TMPDIR");
	char cmd[300];
	size_t i;

	snprintf(lockdir, sizeof(lockdir), "%s/sdhl.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(lockdir)) {
		CHECK(0, "mkdtemp", "%s: %s", lockdir, strerror(errno));
		return t_exit();
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cases[i]();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lockdir);
	if (system(cmd))
		printf("# could not remove %s\n", lockdir);
	return t_exit();
}
