// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_hostlock.c - host-local VDI lock records and the takeover of a dead
 * local holder's sheep lock (the design is in sd_hostlock.h), plus
 * sd_vdi_unlock(), the operator's `sdctl vdi unlock`.
 *
 * Sheep 1.0 behaviour relied on (sheep/vdi.c, sheep/ops.c):
 *   - LOCK_VDI records the sender node (cluster_lock_vdi_main() ->
 *     vdi_lock(vid, &sender->nid, type)); a normal lock needs the VDI
 *     unlocked; a shared lock adds one participant per node
 *     (add_new_participant() refuses a node that already participates).
 *   - RELEASE_VDI (cluster_release_vdi_main() -> vdi_unlock()): type normal
 *     unlocks a LOCKED vid whoever sends it; type shared removes only the
 *     sender node's participation (del_participant()); a type that does not
 *     match the vid's state changes nothing.  The reply is always SUCCESS.
 *   - GET_VDI_COPIES (local_get_vdi_copies() -> fill_vdi_state_list())
 *     returns every vid's struct vdi_state, BUFFER_SMALL when data_length
 *     is short; dog's lock_unlock() (dog/vdi.c) reads it for the lock type,
 *     then sends RELEASE_VDI.
 *   - CLUSTER_INFO (local_cluster_info()) copies sizeof(struct
 *     cluster_info) whatever data_length asks for, so we ask for all of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "sd_hostlock.h"
#include "sd_parse.h"
#include "sd_vdi_internal.h"

#define HL_MAGIC		"bs_sheepdog-hostlock 1"
#define HL_NAME_MAX		200	/* below NAME_MAX */
#define HL_NAME_CUT		180
#define HL_COPIES_START		512	/* as dog asks first */
#define HL_COPIES_MAX		(1U << 17)
#define HL_PROC_LOCKS_MAX	(4U << 20)
#define HL_NODE_CACHE		16	/* sheep addresses remembered */

/* ---- escaping, names --------------------------------------------------- */

static bool hl_plain(unsigned char ch, bool strict)
{
	if (strict)
		return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		       ch == '+' || ch == '-';
	return ch > 0x20 && ch < 0x7f && ch != '%';
}

size_t sd_hl_escape(const char *in, bool strict, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)in;
	size_t n = 0;

	for (; *p; p++) {
		if (hl_plain(*p, strict)) {
			if (n + 1 < len)
				out[n] = (char)*p;
			n++;
			continue;
		}
		if (n + 3 < len) {
			out[n] = '%';
			out[n + 1] = hex[*p >> 4];
			out[n + 2] = hex[*p & 15];
		}
		n += 3;
	}
	if (len)
		out[n < len ? n : len - 1] = '\0';
	return n;
}

static int hl_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int sd_hl_unescape(const char *in, char *out, size_t len)
{
	size_t n = 0;
	int hi, lo;

	for (; *in; in++) {
		char ch = *in;

		if (ch == '%') {
			hi = hl_hexval(in[1]);
			lo = in[1] ? hl_hexval(in[2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			ch = (char)(hi << 4 | lo);
			in += 2;
		}
		if (n + 1 >= len)
			return -EINVAL;
		out[n++] = ch;
	}
	if (!len)
		return -EINVAL;
	out[n] = '\0';
	return 0;
}

static uint64_t hl_fnv(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

int sd_hl_file_name(uint64_t cluster, const char *vdi, const char *addr,
		    char *buf, size_t len)
{
	char body[3 * (SD_MAX_VDI_LEN + SD_ADDR_STR_MAX) + 8];
	size_t n;
	uint64_t h;

	n = sd_hl_escape(vdi, true, body, sizeof(body));
	if (addr) {
		body[n++] = '@';
		n += sd_hl_escape(addr, true, body + n, sizeof(body) - n);
	}
	if (n > HL_NAME_MAX) {
		/* keep a readable prefix; the hash tells long keys apart */
		h = hl_fnv(vdi, UINT64_C(0xcbf29ce484222325));
		if (addr)
			h = hl_fnv(addr, hl_fnv("@", h));
		snprintf(body + HL_NAME_CUT, sizeof(body) - HL_NAME_CUT,
			 "~%016llx", (unsigned long long)h);
	}
	if ((size_t)snprintf(buf, len, "%016llx-%s.lock",
			     (unsigned long long)cluster, body) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- the record text --------------------------------------------------- */

/* by enum sd_hl_state; a record never says "empty" */
static const char *const hl_state_names[] = {
	[SD_HL_EMPTY] = "empty",
	[SD_HL_HELD] = "held",
	[SD_HL_RELEASED] = "released",
	[SD_HL_UNLOCKED] = "unlocked",
};
#define HL_NR_STATES	(sizeof(hl_state_names) / sizeof(hl_state_names[0]))

static const char *hl_state_name(enum sd_hl_state s)
{
	return (unsigned int)s < HL_NR_STATES ? hl_state_names[s] : "empty";
}

int sd_hl_format(const struct sd_hl_record *r, char *buf, size_t len)
{
	char vdi[3 * SD_MAX_VDI_LEN + 1], addr[3 * SD_ADDR_STR_MAX + 1];
	char when[32] = "-";
	time_t t = (time_t)r->time;
	struct tm tm;
	int n;

	sd_hl_escape(r->vdi, false, vdi, sizeof(vdi));
	sd_hl_escape(r->addr, false, addr, sizeof(addr));
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(buf, len,
		     HL_MAGIC "\n"
		     "state=%s\n"
		     "pid=%ld\n"
		     "vdi=%s\n"
		     "vid=0x%06x\n"
		     "lock=%s\n"
		     "node=%s\n"
		     "addr=%s\n"
		     "cluster=%016llx\n"
		     "boot=%s\n"
		     "time=%lld %s\n",
		     hl_state_name(r->state), r->pid, vdi, r->vid,
		     sd_lock_mode_name(r->lock), r->node[0] ? r->node : "-",
		     addr[0] ? addr : "-", (unsigned long long)r->cluster,
		     r->boot[0] ? r->boot : "-", (long long)r->time, when);
	if (n >= 0 && (size_t)n < len && r->prev_pid)
		n += snprintf(buf + n, len - (size_t)n, "prev_pid=%ld\n",
			      r->prev_pid);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

/* "-" means empty in the record */
static int hl_copy_field(const char *v, char *out, size_t len)
{
	if (!strcmp(v, "-")) {
		out[0] = '\0';
		return 0;
	}
	if (strlen(v) >= len)
		return -EINVAL;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int hl_parse_num(const char *v, int base, long long min,
			long long max, long long *out)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, base);
	if (errno || end == v || (*end && *end != ' ') || x < min || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

static int hl_parse_line(char *key, char *v, struct sd_hl_record *r)
{
	unsigned long long u;
	long long x;
	char *end;
	int i;

	if (!strcmp(key, "state")) {
		i = sd_keyword_index(v, hl_state_names, HL_NR_STATES);
		if (i <= SD_HL_EMPTY)
			return -EINVAL;
		r->state = (enum sd_hl_state)i;
	} else if (!strcmp(key, "pid")) {
		if (hl_parse_num(v, 10, 0, INT_MAX, &x))
			return -EINVAL;
		r->pid = (long)x;
	} else if (!strcmp(key, "prev_pid")) {
		if (hl_parse_num(v, 10, 0, INT_MAX, &x))
			return -EINVAL;
		r->prev_pid = (long)x;
	} else if (!strcmp(key, "vdi")) {
		return sd_hl_unescape(v, r->vdi, sizeof(r->vdi));
	} else if (!strcmp(key, "vid")) {
		if (hl_parse_num(v, 16, 0, SD_NR_VDIS - 1, &x))
			return -EINVAL;
		r->vid = (uint32_t)x;
	} else if (!strcmp(key, "lock")) {
		/* a record is of a lock taken: "none" is not one */
		i = sd_keyword_index(v, sd_lock_names, SD_NR_LOCK_MODES);
		if (i <= SD_LOCK_NONE)
			return -EINVAL;
		r->lock = (enum sd_lock_mode)i;
	} else if (!strcmp(key, "node")) {
		return hl_copy_field(v, r->node, sizeof(r->node));
	} else if (!strcmp(key, "addr")) {
		if (!strcmp(v, "-")) {
			r->addr[0] = '\0';
			return 0;
		}
		return sd_hl_unescape(v, r->addr, sizeof(r->addr));
	} else if (!strcmp(key, "cluster")) {
		errno = 0;
		u = strtoull(v, &end, 16);
		if (errno || end == v || *end)
			return -EINVAL;
		r->cluster = u;
	} else if (!strcmp(key, "boot")) {
		return hl_copy_field(v, r->boot, sizeof(r->boot));
	} else if (!strcmp(key, "time")) {
		if (hl_parse_num(v, 10, 0, INT64_MAX, &x))
			return -EINVAL;
		r->time = x;
	}
	return 0;
}

int sd_hl_parse(const char *buf, size_t len, struct sd_hl_record *r)
{
	char text[SD_HL_RECORD_MAX + 1], *line, *next, *eq;
	size_t ml = strlen(HL_MAGIC);

	memset(r, 0, sizeof(*r));
	if (len > SD_HL_RECORD_MAX || len < ml + 1 ||
	    memcmp(buf, HL_MAGIC "\n", ml + 1))
		return -EINVAL;
	memcpy(text, buf, len);
	text[len] = '\0';
	if (strlen(text) != len)
		goto bad;		/* NUL inside */
	for (line = text + ml + 1; *line; line = next) {
		next = strchr(line, '\n');
		if (!next)
			goto bad;	/* torn: the last line has no end */
		*next++ = '\0';
		eq = strchr(line, '=');
		if (!eq)
			goto bad;
		*eq = '\0';
		if (hl_parse_line(line, eq + 1, r))
			goto bad;
	}
	if (r->state == SD_HL_EMPTY)
		goto bad;
	return 0;
bad:
	memset(r, 0, sizeof(*r));
	return -EINVAL;
}

/* ---- GET_VDI_COPIES entries -------------------------------------------- */

void sd_node_id_format(const uint8_t *nid, char *buf, size_t len)
{
	static const uint8_t zero[12];
	uint16_t port = sd_get_le16(nid + 16);
	char a[INET6_ADDRSTRLEN];

	if (!memcmp(nid, zero, sizeof(zero))) {
		snprintf(buf, len, "%u.%u.%u.%u:%u", nid[12], nid[13], nid[14],
			 nid[15], port);
		return;
	}
	if (!inet_ntop(AF_INET6, nid, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "[%s]:%u", a, port);
}

int sd_vdi_lock_info_find(const uint8_t *buf, size_t len, uint32_t vid,
			  struct sd_vdi_lock_info *out)
{
	const uint8_t *p;
	size_t off;
	uint32_t i;

	memset(out, 0, sizeof(*out));
	for (off = 0; off + SD_VDI_STATE_SIZE <= len;
	     off += SD_VDI_STATE_SIZE) {
		p = buf + off;
		if (sd_get_le32(p) != vid)
			continue;
		out->vid = vid;
		out->state = sd_get_le32(p + SD_VDI_STATE_OFF_LOCK);
		sd_node_id_format(p + SD_VDI_STATE_OFF_OWNER, out->owner,
				  sizeof(out->owner));
		out->nr = sd_get_le32(p + SD_VDI_STATE_OFF_NR);
		if (out->state != SD_LOCK_STATE_SHARED)
			out->nr = 0;
		if (out->nr > SD_MAX_PARTICIPANTS)
			out->nr = SD_MAX_PARTICIPANTS;
		for (i = 0; i < out->nr; i++) {
			out->pstate[i] = sd_get_le32(p + 4 * i +
						     SD_VDI_STATE_OFF_PSTATE);
			sd_node_id_format(p + SD_VDI_STATE_OFF_PART +
					  SD_NODE_ID_SIZE * i, out->part[i],
					  sizeof(out->part[i]));
		}
		return 0;
	}
	return -ENOENT;
}

static bool hl_participates(const struct sd_vdi_lock_info *s,
			    const char *node)
{
	uint32_t i;

	for (i = 0; i < s->nr; i++)
		if (!strcmp(s->part[i], node))
			return true;
	return false;
}

/* ---- the decision ------------------------------------------------------ */

bool sd_hl_may_take_over(const struct sd_hl_record *r, uint32_t vid,
			 enum sd_lock_mode mode, const char *addr,
			 const struct sd_vdi_lock_info *s, const char **why)
{
	if (r->state != SD_HL_HELD) {
		*why = "no lock of an earlier process of this host is recorded";
		return false;
	}
	if (r->vid != vid) {
		*why = "the earlier process of this host held another vid";
		return false;
	}
	if (r->lock != mode) {
		*why = "the earlier process of this host held another lock type";
		return false;
	}
	if (!s) {
		*why = "the lock's owner is unknown";
		return false;
	}
	if (mode == SD_LOCK_NORMAL) {
		if (s->state != SD_LOCK_STATE_LOCKED) {
			*why = "the VDI is not normally locked";
			return false;
		}
		if (!r->node[0] || strcmp(s->owner, r->node)) {
			*why = "the lock is owned through another sheep node";
			return false;
		}
		return true;
	}
	if (s->state != SD_LOCK_STATE_SHARED) {
		*why = "the VDI is not shared-locked";
		return false;
	}
	if (!addr || strcmp(r->addr, addr)) {
		*why = "the earlier process used another sheep address";
		return false;
	}
	if (r->node[0] && !hl_participates(s, r->node)) {
		*why = "the recorded sheep node no longer participates";
		return false;
	}
	return true;
}

long sd_hl_proc_locks_pid(const char *text, unsigned int maj,
			  unsigned int min, unsigned long ino)
{
	const char *line = text, *next;
	unsigned int ma, mi;
	unsigned long in;
	char kind[16], arrow[4];
	long pid;

	for (; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			next++;
		/* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF";
		 * waiters are "1: -> FLOCK ..." */
		if (sscanf(line, "%*d: %3s", arrow) == 1 &&
		    !strcmp(arrow, "->"))
			continue;
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%lu", kind, &pid,
			   &ma, &mi, &in) != 5)
			continue;
		if (!strcmp(kind, "FLOCK") && ma == maj && mi == min &&
		    in == ino && pid > 0)
			return pid;
	}
	return 0;
}

/* ---- sheep requests ---------------------------------------------------- */

int sd_cluster_info(struct sd_client *c, uint64_t *ctime, uint16_t *flags)
{
	uint8_t buf[SD_HDR_SIZE];
	struct sd_request req;
	struct iovec iov;
	int ret;

	memset(&req, 0, sizeof(req));
	memset(buf, 0, sizeof(buf));
	req.hdr.proto_ver = SD_SHEEP_PROTO_VER;
	req.hdr.opcode = SD_OP_CLUSTER_INFO;
	req.hdr.data_length = SD_CLUSTER_INFO_SIZE;
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);	/* the node list is dropped */
	req.in_iov = &iov;
	req.in_iovcnt = 1;
	req.req_flags = SD_REQ_RESEND;
	ret = sd_client_call(c, &req);
	if (ret)
		return ret;
	if (req.rsp.result != SD_RES_SUCCESS)
		return sd_set_error(sd_result_to_errno(req.rsp.result),
				    "cluster info: %s",
				    sd_result_str(req.rsp.result));
	if (req.in_len < SD_CLUSTER_INFO_OFF_FLAGS + 2)
		return sd_set_error(EPROTO, "cluster info: short reply (%u bytes)",
				    req.in_len);
	*ctime = sd_get_le64(buf + SD_CLUSTER_INFO_OFF_CTIME);
	*flags = sd_get_le16(buf + SD_CLUSTER_INFO_OFF_FLAGS);
	return 0;
}

int sd_vdi_lock_query(struct sd_client *c, uint32_t vid,
		      struct sd_vdi_lock_info *out)
{
	uint32_t n = HL_COPIES_START;
	struct sd_request req;
	struct iovec iov;
	uint8_t *buf;
	int ret;

	for (;;) {
		buf = calloc(n, SD_VDI_STATE_SIZE);
		if (!buf)
			return sd_set_error(ENOMEM, "lock state: out of memory");
		memset(&req, 0, sizeof(req));
		req.hdr.proto_ver = SD_SHEEP_PROTO_VER;
		req.hdr.opcode = SD_OP_GET_VDI_COPIES;
		req.hdr.data_length = n * SD_VDI_STATE_SIZE;
		iov.iov_base = buf;
		iov.iov_len = (size_t)n * SD_VDI_STATE_SIZE;
		req.in_iov = &iov;
		req.in_iovcnt = 1;
		req.req_flags = SD_REQ_RESEND;
		ret = sd_client_call(c, &req);
		if (ret)
			break;
		if (req.rsp.result == SD_RES_BUFFER_SMALL &&
		    n < HL_COPIES_MAX) {
			free(buf);
			n *= 2;		/* as dog's get_vdi_state() */
			continue;
		}
		if (req.rsp.result != SD_RES_SUCCESS) {
			ret = sd_set_error(sd_result_to_errno(req.rsp.result),
					   "lock state: %s",
					   sd_result_str(req.rsp.result));
			break;
		}
		ret = sd_vdi_lock_info_find(buf, req.in_len, vid, out);
		if (ret)
			sd_set_error(ENOENT, "lock state: no entry for vid 0x%06x",
				     vid);
		break;
	}
	free(buf);
	return ret;
}

/* ---- files ------------------------------------------------------------- */

struct sd_hostlock {
	int fd;
	char path[PATH_MAX];
	struct sd_hl_record rec;	/* what the file says */
};

const char *sd_hostlock_dir(void)
{
	const char *d = getenv(SD_HOSTLOCK_ENV);

	return d && *d ? d : SD_HOSTLOCK_DIR;
}

/* mkdir -p @dir (mode 0755); 0 or -errno */
static int hl_mkdirs(const char *dir)
{
	char p[PATH_MAX], *s, end;

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s)
			continue;
		end = *s;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		if (!end)
			break;
		*s = '/';
	}
	return 0;
}

static char hl_boot[40];
static pthread_once_t hl_boot_once = PTHREAD_ONCE_INIT;

static void hl_boot_read(void)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (!f)
		return;
	if (fgets(hl_boot, sizeof(hl_boot), f))
		hl_boot[strcspn(hl_boot, "\n")] = '\0';
	fclose(f);
}

static void hl_boot_id(char *out, size_t len)
{
	pthread_once(&hl_boot_once, hl_boot_read);
	snprintf(out, len, "%s", hl_boot);
}

/*
 * Open (creating it with @create) the record file @name of the lock
 * directory.  A descriptor, or -errno (no message: callers go on without).
 */
static int hl_open_file(const char *name, bool create, char *path,
			size_t plen)
{
	const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);
	const char *dir = sd_hostlock_dir();
	int fd, ret;

	if ((size_t)snprintf(path, plen, "%s/%s", dir, name) >= plen)
		return -ENAMETOOLONG;
	fd = open(path, flags, 0644);
	if (fd < 0 && errno == ENOENT && create) {
		/* the first record of this boot: make the directory */
		ret = hl_mkdirs(dir);
		if (ret)
			return ret;
		fd = open(path, flags, 0644);
	}
	return fd < 0 ? -errno : fd;
}

static void hl_read(int fd, struct sd_hl_record *r)
{
	char buf[SD_HL_RECORD_MAX + 1];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);

	if (n <= 0 || sd_hl_parse(buf, (size_t)n, r))
		memset(r, 0, sizeof(*r));
}

/* Write @r to the file; errors are ignored (the record is an aid). */
static void hl_write(int fd, struct sd_hl_record *r)
{
	char buf[SD_HL_RECORD_MAX];
	int n;

	r->time = (int64_t)time(NULL);
	n = sd_hl_format(r, buf, sizeof(buf));
	if (n < 0)
		return;
	if (pwrite(fd, buf, (size_t)n, 0) == n)
		(void)!ftruncate(fd, n);
}

static bool hl_pid_alive(long pid)
{
	return pid > 0 && (!kill((pid_t)pid, 0) || errno == EPERM);
}

/* Who holds the flock on @fd: /proc/locks, else the record's live pid. */
static long hl_holder_pid(int fd, const struct sd_hl_record *r)
{
	struct stat st;
	char *text;
	size_t n = 0;
	ssize_t got;
	long pid = 0;
	int pfd;

	if (!fstat(fd, &st)) {
		pfd = open("/proc/locks", O_RDONLY | O_CLOEXEC);
		text = malloc(HL_PROC_LOCKS_MAX + 1);
		if (pfd >= 0 && text) {
			while (n < HL_PROC_LOCKS_MAX &&
			       (got = read(pfd, text + n,
					   HL_PROC_LOCKS_MAX - n)) > 0)
				n += (size_t)got;
			text[n] = '\0';
			pid = sd_hl_proc_locks_pid(text, major(st.st_dev),
						   minor(st.st_dev), st.st_ino);
		}
		free(text);
		if (pfd >= 0)
			close(pfd);
	}
	if (!pid && r->state == SD_HL_HELD && hl_pid_alive(r->pid))
		pid = r->pid;
	return pid;
}

static int hl_busy_error(const char *name, long pid)
{
	if (pid)
		return sd_set_error(EBUSY,
				    "VDI '%s' is already locked by pid %ld on this host",
				    name, pid);
	return sd_set_error(EBUSY,
			    "VDI '%s' is already locked by another process on this host",
			    name);
}

/* ---- opening ----------------------------------------------------------- */

static uint32_t hl_type(enum sd_lock_mode m)
{
	return m == SD_LOCK_SHARED ? SD_LOCK_TYPE_SHARED : SD_LOCK_TYPE_NORMAL;
}

struct hl_open {
	struct sd_client *c;
	const char *name;
	enum sd_lock_mode mode;
	struct sd_hostlock *hl;		/* file open, or NULL */
	bool have;			/* we hold its flock */
	long holder;			/* !have: the live holder's pid */
	char addr[SD_ADDR_STR_MAX];	/* sheep address in use */
	struct sd_hl_record self;	/* what we will write */
	bool p0_known;			/* shared: participants before */
	struct sd_vdi_lock_info p0;
};

/*
 * Set up the record file if the cluster locks and the directory is usable;
 * take its flock.  Failures only mean "no record" (no message kept).
 */
static void hl_prepare(struct hl_open *x)
{
	char fname[NAME_MAX + 1];
	uint64_t ctime = 0;
	uint16_t flags = 0;
	int fd;

	if (sd_cluster_info(x->c, &ctime, &flags) ||
	    !(flags & SD_CLUSTER_FLAG_USE_LOCK))
		goto none;
	sd_client_addr_str(x->c, x->addr, sizeof(x->addr));
	if (sd_hl_file_name(ctime, x->name,
			    x->mode == SD_LOCK_SHARED ? x->addr : NULL,
			    fname, sizeof(fname)))
		goto none;
	x->hl = calloc(1, sizeof(*x->hl));
	if (!x->hl)
		goto none;
	fd = hl_open_file(fname, true, x->hl->path, sizeof(x->hl->path));
	if (fd < 0)
		goto none;
	x->hl->fd = fd;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno != EWOULDBLOCK) {
			close(fd);
			goto none;
		}
		hl_read(fd, &x->hl->rec);
		x->holder = hl_holder_pid(fd, &x->hl->rec);
	} else {
		x->have = true;
		hl_read(fd, &x->hl->rec);
	}
	x->self.state = SD_HL_HELD;
	x->self.pid = (long)getpid();
	x->self.cluster = ctime;
	snprintf(x->self.vdi, sizeof(x->self.vdi), "%s", x->name);
	x->self.lock = x->mode;
	snprintf(x->self.addr, sizeof(x->self.addr), "%s", x->addr);
	hl_boot_id(x->self.boot, sizeof(x->self.boot));
	sd_clear_error();
	return;
none:
	free(x->hl);
	x->hl = NULL;
	sd_clear_error();
}

static void hl_drop(struct hl_open *x)
{
	if (x->hl)
		close(x->hl->fd);
	free(x->hl);
	x->hl = NULL;
}

/*
 * The sheep node behind each address this process locked through, as
 * GET_VDI_COPIES named it: GET_VDI_COPIES returns the state of every vid
 * of the cluster (1428 bytes each), too much to ask at every open.  An
 * address now served by another node leaves a record naming the old one,
 * which only makes a later takeover refuse.
 */
static struct {
	pthread_mutex_t mu;
	unsigned int next;
	char addr[HL_NODE_CACHE][SD_ADDR_STR_MAX];
	char node[HL_NODE_CACHE][SD_NODE_STR_MAX];
} hl_nodes = { .mu = PTHREAD_MUTEX_INITIALIZER };

static bool hl_node_cached(const char *addr, char *node, size_t len)
{
	bool found = false;
	unsigned int i;

	pthread_mutex_lock(&hl_nodes.mu);
	for (i = 0; i < HL_NODE_CACHE && !found; i++) {
		if (hl_nodes.addr[i][0] && !strcmp(hl_nodes.addr[i], addr)) {
			snprintf(node, len, "%s", hl_nodes.node[i]);
			found = true;
		}
	}
	pthread_mutex_unlock(&hl_nodes.mu);
	return found;
}

static void hl_node_learn(const char *addr, const char *node)
{
	unsigned int i;

	if (!addr[0] || !node[0])
		return;
	pthread_mutex_lock(&hl_nodes.mu);
	for (i = 0; i < HL_NODE_CACHE; i++)
		if (!strcmp(hl_nodes.addr[i], addr))
			break;
	if (i == HL_NODE_CACHE)
		i = hl_nodes.next++ % HL_NODE_CACHE;
	snprintf(hl_nodes.addr[i], sizeof(hl_nodes.addr[i]), "%s", addr);
	snprintf(hl_nodes.node[i], sizeof(hl_nodes.node[i]), "%s", node);
	pthread_mutex_unlock(&hl_nodes.mu);
}

/*
 * Our participation (shared) or the owner (normal) of @vid after our lock
 * succeeded, as GET_VDI_COPIES names it (or named it for this address
 * before); "" when it cannot be told.
 */
static void hl_own_node(struct hl_open *x, uint32_t vid, char *node,
			size_t len)
{
	struct sd_vdi_lock_info s;
	uint32_t i, j, mine = 0, found = 0;
	bool used[SD_MAX_PARTICIPANTS] = { false };

	node[0] = '\0';
	if (hl_node_cached(x->addr, node, len))
		return;
	if (sd_vdi_lock_query(x->c, vid, &s)) {
		sd_clear_error();
		return;
	}
	if (x->mode == SD_LOCK_NORMAL) {
		if (s.state == SD_LOCK_STATE_LOCKED)
			snprintf(node, len, "%s", s.owner);
		goto learn;
	}
	if (s.state != SD_LOCK_STATE_SHARED)
		return;
	if (!x->p0_known || x->p0.vid != vid) {
		if (s.nr == 1)
			snprintf(node, len, "%s", s.part[0]);
		goto learn;
	}
	/* the one participant more than before (a multiset difference) */
	for (i = 0; i < s.nr; i++) {
		for (j = 0; j < x->p0.nr; j++)
			if (!used[j] && !strcmp(x->p0.part[j], s.part[i]))
				break;
		if (j < x->p0.nr) {
			used[j] = true;
			continue;
		}
		mine = i;
		found++;
	}
	if (found == 1)
		snprintf(node, len, "%s", s.part[mine]);
learn:
	hl_node_learn(x->addr, node);
}

/* The lock is ours on @vid: write the record, hand the file over. */
static void hl_locked(struct hl_open *x, uint32_t vid, long prev_pid,
		      struct sd_hostlock **out)
{
	if (!x->hl)
		return;
	if (!x->have) {
		hl_drop(x);
		return;
	}
	x->self.vid = vid;
	x->self.prev_pid = prev_pid;
	hl_own_node(x, vid, x->self.node, sizeof(x->self.node));
	x->hl->rec = x->self;
	hl_write(x->hl->fd, &x->hl->rec);
	*out = x->hl;
	x->hl = NULL;
}

/* "cannot open VDI 'x': VDI is already locked (...)" with what we know */
static int hl_locked_error(struct hl_open *x, const struct sd_vdi_lock_info *s)
{
	const char *locked = sd_result_str(SD_RES_VDI_LOCKED);

	if (s && s->state == SD_LOCK_STATE_LOCKED)
		return sd_set_error(EBUSY,
				    "cannot open VDI '%s': %s (normal lock through sheep node %s; if the gateway that holds it is dead: sdctl vdi unlock '%s')",
				    x->name, locked, s->owner, x->name);
	if (x->mode == SD_LOCK_SHARED && s && s->state == SD_LOCK_STATE_SHARED)
		return sd_set_error(EBUSY,
				    "cannot open VDI '%s': %s (shared through this sheep node already: give each gateway its own sheep node; if the gateway on this node is dead: sdctl -a %s vdi unlock '%s')",
				    x->name, locked,
				    x->addr[0] ? x->addr : "ADDR", x->name);
	if (x->mode == SD_LOCK_SHARED)
		/* sheep/vdi.c add_new_participant(): one per sheep node */
		return sd_set_error(EBUSY,
				    "cannot open VDI '%s': %s (normally, or shared through this sheep node already: give each gateway its own sheep node)",
				    x->name, locked);
	return sd_set_error(EBUSY,
			    "cannot open VDI '%s': %s (if the gateway that holds it is dead: sdctl vdi unlock '%s')",
			    x->name, locked, x->name);
}

static int hl_lock(struct hl_open *x, uint32_t *vid, uint32_t *result)
{
	char why[SD_ERROR_MAX];
	int ret;

	*vid = 0;
	ret = sd_vdi_lookup_raw(x->c, x->name, NULL, 0, SD_OP_LOCK_VDI,
				hl_type(x->mode), vid, result);
	if (ret) {
		snprintf(why, sizeof(why), "%s", sd_get_error());
		return sd_set_error(-ret, "cannot open VDI '%s': %s", x->name,
				    why);
	}
	if (*result == SD_RES_VDI_LOCKED && !*vid) {
		/* the vid the lock is about (sheep fills it in anyway) */
		ret = sd_vdi_lookup(x->c, x->name, NULL, 0, SD_OP_GET_VDI_INFO,
				    0, vid);
		if (ret)
			sd_clear_error();
	}
	return 0;
}

/* shared: our participants-before, to tell our participation apart */
static void hl_note_participants(struct hl_open *x)
{
	uint32_t vid;

	if (sd_vdi_lookup(x->c, x->name, NULL, 0, SD_OP_GET_VDI_INFO, 0,
			  &vid) ||
	    sd_vdi_lock_query(x->c, vid, &x->p0)) {
		sd_clear_error();
		return;
	}
	x->p0_known = true;
}

int sd_hostlock_open(struct sd_client *c, const char *name,
		     enum sd_lock_mode mode, uint32_t *vidp,
		     struct sd_hostlock **out)
{
	struct hl_open x = { .c = c, .name = name, .mode = mode };
	struct sd_vdi_lock_info s;
	const char *why = NULL;
	bool have_s = false;
	uint32_t vid, result;
	long prev;
	int ret;

	*out = NULL;
	hl_prepare(&x);
	if (x.hl && !x.have && mode == SD_LOCK_NORMAL) {
		ret = hl_busy_error(name, x.holder);
		goto fail;
	}
	if (x.have && mode == SD_LOCK_SHARED &&
	    !hl_node_cached(x.addr, x.self.node, sizeof(x.self.node)))
		hl_note_participants(&x);

	ret = hl_lock(&x, &vid, &result);
	if (ret)
		goto fail;
	if (result == SD_RES_SUCCESS)
		goto locked;
	if (result != SD_RES_VDI_LOCKED) {
		ret = sd_set_error(sd_result_to_errno(result),
				   "cannot open VDI '%s': %s", name,
				   sd_result_str(result));
		goto fail;
	}
	if (x.hl && !x.have) {
		/* a live process of this host participates through this node */
		ret = hl_busy_error(name, x.holder);
		goto fail;
	}
	if (vid && !sd_vdi_lock_query(c, vid, &s))
		have_s = true;
	sd_clear_error();
	if (!x.have ||
	    !sd_hl_may_take_over(&x.hl->rec, vid, mode, x.addr,
				 have_s ? &s : NULL, &why)) {
		ret = hl_locked_error(&x, have_s ? &s : NULL);
		goto fail;
	}

	/*
	 * The recorded process of this host held this lock and is gone (we
	 * have its flock).  Mark its record released before releasing: should
	 * we die in between, a lock nobody takes over is left, never a record
	 * naming a lock somebody else may hold by then.
	 */
	prev = x.hl->rec.pid;
	x.hl->rec.state = SD_HL_RELEASED;
	hl_write(x.hl->fd, &x.hl->rec);
	sd_vdi_release(c, vid, hl_type(mode));
	if (mode == SD_LOCK_SHARED &&
	    !hl_node_cached(x.addr, x.self.node, sizeof(x.self.node))) {
		/* the participants without the dead one, to find ours again */
		x.p0_known = !sd_vdi_lock_query(c, vid, &x.p0);
		sd_clear_error();
	}
	ret = hl_lock(&x, &vid, &result);
	if (ret)
		goto fail;
	if (result != SD_RES_SUCCESS) {
		ret = sd_set_error(sd_result_to_errno(result),
				   "cannot open VDI '%s': %s (after releasing the lock of pid %ld, a dead process of this host, another holder took it)",
				   name, sd_result_str(result), prev);
		goto fail;
	}
	hl_locked(&x, vid, prev, out);
	*vidp = vid;
	return 0;

locked:
	hl_locked(&x, vid, 0, out);
	*vidp = vid;
	return 0;
fail:
	hl_drop(&x);
	return ret;
}

void sd_hostlock_moved(struct sd_hostlock *hl, uint32_t vid)
{
	if (!hl)
		return;
	hl->rec.vid = vid;
	hl_write(hl->fd, &hl->rec);
}

void sd_hostlock_releasing(struct sd_hostlock *hl)
{
	if (!hl)
		return;
	hl->rec.state = SD_HL_RELEASED;
	hl_write(hl->fd, &hl->rec);
}

void sd_hostlock_free(struct sd_hostlock *hl)
{
	if (!hl)
		return;
	close(hl->fd);
	free(hl);
}

/* ---- sdctl vdi unlock -------------------------------------------------- */

/*
 * The record of @name's lock of type @mode on this host, if any: *fd with
 * our flock on it (-1 when there is no file).  -EBUSY with a message when
 * a live process of this host holds it.
 */
static int hl_unlock_check(struct sd_client *c, const char *name,
			   enum sd_lock_mode mode, char *addr, int *fdp,
			   struct sd_hl_record *r)
{
	char fname[NAME_MAX + 1], path[PATH_MAX];
	uint64_t ctime = 0;
	uint16_t flags = 0;
	long pid;
	int fd;

	*fdp = -1;
	memset(r, 0, sizeof(*r));
	if (sd_cluster_info(c, &ctime, &flags)) {
		sd_clear_error();
		return 0;
	}
	if (sd_hl_file_name(ctime, name, mode == SD_LOCK_SHARED ? addr : NULL,
			    fname, sizeof(fname)))
		return 0;
	fd = hl_open_file(fname, false, path, sizeof(path));
	if (fd < 0)
		return 0;
	hl_read(fd, r);
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno != EWOULDBLOCK) {
			close(fd);
			return 0;
		}
		pid = hl_holder_pid(fd, r);
		close(fd);
		if (!pid)
			return sd_set_error(EBUSY,
					    "VDI '%s' is in use by another process on this host (stop it first; -f releases the lock anyway)",
					    name);
		return sd_set_error(EBUSY,
				    "VDI '%s' is in use by pid %ld on this host (stop it first; -f releases the lock anyway)",
				    name, pid);
	}
	*fdp = fd;
	return 0;
}

int sd_vdi_unlock(struct sd_client *c, const char *name, const char *tag,
		  uint32_t snapid, bool force, char *what, size_t len)
{
	char addr[SD_ADDR_STR_MAX], msg[SD_ERROR_MAX], list[512];
	struct sd_vdi_lock_info s, after;
	enum sd_lock_mode mode;
	struct sd_hl_record r;
	uint32_t vid, i;
	int fd = -1, ret;
	size_t n;

	if (what && len)
		what[0] = '\0';
	ret = sd_vdi_lookup(c, name, tag, snapid, SD_OP_GET_VDI_INFO, 0, &vid);
	if (ret)
		return ret;
	ret = sd_vdi_lock_query(c, vid, &s);
	if (ret) {
		snprintf(msg, sizeof(msg), "%s", sd_get_error());
		return sd_set_error(-ret, "VDI '%s': %s", name, msg);
	}
	if (s.state == SD_LOCK_STATE_LOCKED)
		mode = SD_LOCK_NORMAL;
	else if (s.state == SD_LOCK_STATE_SHARED)
		mode = SD_LOCK_SHARED;
	else if (s.state == SD_LOCK_STATE_UNLOCKED)
		return sd_set_error(ENOLCK, "VDI '%s' is not locked", name);
	else
		return sd_set_error(EPROTO, "VDI '%s': unknown lock state %u",
				    name, s.state);

	sd_client_addr_str(c, addr, sizeof(addr));
	if (!tag && !snapid) {
		ret = hl_unlock_check(c, name, mode, addr, &fd, &r);
		if (ret && !force)
			return ret;
		sd_clear_error();
	}
	if (fd >= 0 && r.state == SD_HL_HELD && r.vid == vid) {
		/* this host's record must not be taken over any more */
		r.state = SD_HL_UNLOCKED;
		hl_write(fd, &r);
	}
	sd_vdi_release(c, vid, hl_type(mode));
	if (fd >= 0)
		close(fd);

	ret = sd_vdi_lock_query(c, vid, &after);
	if (ret) {
		snprintf(msg, sizeof(msg), "%s", sd_get_error());
		return sd_set_error(-ret, "VDI '%s': %s", name, msg);
	}
	if (mode == SD_LOCK_NORMAL) {
		if (what)
			snprintf(what, len,
				 "released the normal lock of VDI '%s' (vid 0x%06x, through sheep node %s)",
				 name, vid, s.owner);
		return 0;
	}
	if (after.state == SD_LOCK_STATE_SHARED && after.nr >= s.nr) {
		/* RELEASE only drops the sending node's participation */
		for (i = 0, n = 0; i < after.nr && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
					      i ? ", " : "", after.part[i]);
		return sd_set_error(ENOENT,
				    "VDI '%s': the sheep node at %s does not participate in its shared lock (participants: %s); run sdctl -a ADDR vdi unlock with the address of the node to release",
				    name, addr, list);
	}
	if (what)
		snprintf(what, len,
			 "released the shared lock participation of VDI '%s' (vid 0x%06x) through the sheep node at %s",
			 name, vid, addr);
	return 0;
}
