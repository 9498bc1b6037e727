// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_claim.c - allocation claims (layer 4; the protocol is described in
 * sd_claim.h).  One claim is a small state machine on the client's loop:
 *
 *   CLAIM    GET_VDI_ATTR(claim key, CREAT|EXCL): SUCCESS in the home slot
 *            -> ENTRY; SUCCESS in a probe slot -> UNPROBE; VDI_EXIST -> PEEK
 *   ENTRY    READ_OBJ of the object's 4-byte index entry -> done (held)
 *   UNPROBE  REMOVE_OBJ of our claim in the probe slot -> WAIT
 *   PEEK     READ_OBJ of the busy claim's value: our own nonce (a resent
 *            CLAIM had run) -> ENTRY; stale -> BREAK; else WAIT
 *   WAIT     timer with backoff -> POLL
 *   POLL     READ_OBJ of the index entry: the claim's vid -> done (not
 *            held), else CLAIM
 *   BREAK    GET_VDI_ATTR(break key, CREAT|EXCL): won in the home slot ->
 *            RECHECK; else WAIT (another party is breaking it)
 *   RECHECK  READ_OBJ of the stale claim's value: same nonce -> SMASH,
 *            else UNBREAK
 *   SMASH    REMOVE_OBJ of the stale claim -> UNBREAK
 *   UNBREAK  REMOVE_OBJ of the break key -> CLAIM
 *   RELEASE  REMOVE_OBJ of our claim (sd_claim_release()) -> freed
 *
 * Every step but RELEASE and the clean-ups of UNPROBE/UNBREAK is bounded by
 * the caller's deadline; those get a fresh timeout of their own.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "sd_claim.h"
#include "sd_error.h"
#include "sd_proto.h"

#define CLAIM_VALUE_MAX		256	/* our value strings fit easily */
#define CLAIM_BACKOFF_MIN_NS	(UINT64_C(1) * 1000000)
#define CLAIM_BACKOFF_MAX_NS	(UINT64_C(50) * 1000000)
#define CLAIM_LEASE_TIMEOUTS	3	/* a live claim is broken after this */
#define CLAIM_RELEASE_TIMEOUTS	2	/* the holder releases only before */
#define CLAIM_BOOK_SIZE		32

enum claim_step {
	ST_CLAIM,
	ST_ENTRY,
	ST_UNPROBE,
	ST_PEEK,
	ST_WAIT,
	ST_POLL,
	ST_BREAK,
	ST_RECHECK,
	ST_SMASH,
	ST_UNBREAK,
	ST_RELEASE,
};

/* who holds a claim, parsed from its value */
struct holder {
	uint64_t nonce;			/* 0 = unknown (not ours to judge) */
	char boot[40];
	long pid;
	unsigned long long start;
};

struct sd_claim {
	struct sd_claim_args a;
	enum claim_step step;
	bool held;
	uint32_t entry;
	uint64_t nonce;			/* our claim's */
	uint64_t sent_ns;		/* when our claim was first asked for */
	uint64_t backoff_ns;
	uint32_t hashvid;		/* the name's attribute space */
	uint32_t home;			/* home slot of our claim key */
	uint32_t slot;			/* slot of our claim, or of the busy one */
	uint8_t obj_copies;		/* copies of attribute objects */
	struct holder busy;		/* the busy claim we look at */
	uint64_t stale_nonce;		/* the claim we break */
	uint32_t stale_slot;
	uint32_t break_slot;
	struct sd_request req;
	struct iovec iov;
	uint8_t le[4];
	uint8_t buf[SD_ATTR_OFF_VALUE + CLAIM_VALUE_MAX];
};

struct book_entry {
	uint32_t vid;
	uint32_t idx;
	uint64_t nonce;
	uint64_t first_ns;
};

struct sd_claim_book {
	pthread_mutex_t mu;
	unsigned int next;
	struct book_entry e[CLAIM_BOOK_SIZE];
};

/* ---- who we are ---------------------------------------------------------- */

static struct {
	pthread_mutex_t mu;
	pid_t pid;			/* getpid() when filled */
	unsigned long long start;	/* its start time (/proc, field 22) */
	char host[64];
	char boot[40];
	uint64_t nonce_next;
} self = { .mu = PTHREAD_MUTEX_INITIALIZER };

static unsigned long long proc_start_time(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	/* the command may hold spaces and parentheses: skip past the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* fields 3.. follow; starttime is field 22 */
	for (i = 3; i <= 22 && p; i++)
		p = strchr(p + 1, ' ');
	if (p)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

static void read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* Our identity and a fresh nonce for a claim value. */
static uint64_t self_nonce(void)
{
	uint64_t n;

	pthread_mutex_lock(&self.mu);
	if (self.pid != getpid()) {
		self.pid = getpid();
		self.start = proc_start_time(self.pid);
		if (gethostname(self.host, sizeof(self.host)))
			snprintf(self.host, sizeof(self.host), "unknown");
		self.host[sizeof(self.host) - 1] = '\0';
		read_line("/proc/sys/kernel/random/boot_id", self.boot,
			  sizeof(self.boot));
		if (getrandom(&self.nonce_next, sizeof(self.nonce_next), 0) !=
		    sizeof(self.nonce_next))
			self.nonce_next = ((uint64_t)self.pid << 32) ^ sd_now_ns();
	}
	n = self.nonce_next++;
	if (!n)
		n = self.nonce_next++;
	pthread_mutex_unlock(&self.mu);
	return n;
}

/* Is the holder a process of this boot of this host that has ended? */
static bool holder_dead_here(const struct holder *h)
{
	bool here;

	pthread_mutex_lock(&self.mu);
	here = h->boot[0] && !strcmp(h->boot, self.boot);
	pthread_mutex_unlock(&self.mu);
	if (!here || h->pid <= 0)
		return false;
	if (kill((pid_t)h->pid, 0) && errno == ESRCH)
		return true;
	/* the pid was reused by another process */
	return proc_start_time(h->pid) != h->start;
}

static void value_parse(const uint8_t *v, size_t len, struct holder *h)
{
	char s[CLAIM_VALUE_MAX + 1], *p;

	memset(h, 0, sizeof(*h));
	if (len > CLAIM_VALUE_MAX)
		len = CLAIM_VALUE_MAX;
	memcpy(s, v, len);
	s[len] = '\0';
	if (strncmp(s, "bs_sheepdog claim ", 18))
		return;
	p = strstr(s, " nonce=");
	if (p)
		h->nonce = strtoull(p + 7, NULL, 16);
	p = strstr(s, " boot=");
	if (p)
		sscanf(p + 6, "%39s", h->boot);
	p = strstr(s, " pid=");
	if (p)
		h->pid = strtol(p + 5, NULL, 10);
	p = strstr(s, " start=");
	if (p)
		h->start = strtoull(p + 7, NULL, 10);
}

/* ---- the book of busy claims seen ------------------------------------------ */

struct sd_claim_book *sd_claim_book_new(void)
{
	struct sd_claim_book *b = calloc(1, sizeof(*b));

	if (b)
		pthread_mutex_init(&b->mu, NULL);
	return b;
}

void sd_claim_book_free(struct sd_claim_book *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* How long (ns) the claim @nonce on (vid, idx) has been seen busy. */
static uint64_t book_seen(struct sd_claim_book *b, uint32_t vid, uint32_t idx,
			  uint64_t nonce, uint64_t now)
{
	struct book_entry *e;
	uint64_t age = 0;
	unsigned int i;

	pthread_mutex_lock(&b->mu);
	for (i = 0; i < CLAIM_BOOK_SIZE; i++) {
		e = &b->e[i];
		if (e->nonce == nonce && e->vid == vid && e->idx == idx) {
			age = now - e->first_ns;
			goto out;
		}
	}
	e = &b->e[b->next++ % CLAIM_BOOK_SIZE];
	e->vid = vid;
	e->idx = idx;
	e->nonce = nonce;
	e->first_ns = now;
out:
	pthread_mutex_unlock(&b->mu);
	return age;
}

/* ---- requests --------------------------------------------------------------- */

static void claim_req_done(struct sd_request *req, int cerr);

static uint64_t timeout_ns(const struct sd_claim *cl, unsigned int n)
{
	return (uint64_t)n * sd_client_timeout_ms(cl->a.c) * 1000000;
}

static struct sd_request *req_init(struct sd_claim *cl, enum claim_step step,
				   uint8_t opcode)
{
	struct sd_request *r = &cl->req;

	memset(r, 0, sizeof(*r));
	r->hdr.proto_ver = SD_PROTO_VER;
	r->hdr.opcode = opcode;
	r->req_flags = SD_REQ_RESEND;
	r->deadline_ns = cl->a.deadline_ns;
	r->done = claim_req_done;
	r->priv = cl;
	cl->step = step;
	return r;
}

/* GET_VDI_ATTR(CREAT|EXCL) of @key with our value; @step CLAIM or BREAK */
static int send_attr(struct sd_claim *cl, enum claim_step step,
		     const char *key)
{
	struct sd_request *r = req_init(cl, step, SD_OP_GET_VDI_ATTR);
	uint8_t *b = cl->buf;
	int n;

	memset(b, 0, SD_ATTR_OFF_VALUE);
	sd_put_name(b + SD_ATTR_OFF_NAME, SD_MAX_VDI_LEN, cl->a.name);
	sd_put_name(b + SD_ATTR_OFF_KEY, SD_MAX_ATTR_KEY_LEN, key);
	pthread_mutex_lock(&self.mu);
	n = snprintf((char *)b + SD_ATTR_OFF_VALUE, CLAIM_VALUE_MAX,
		     "bs_sheepdog claim nonce=%016llx host=%s boot=%s pid=%ld start=%llu",
		     (unsigned long long)cl->nonce, self.host, self.boot,
		     (long)self.pid, self.start);
	pthread_mutex_unlock(&self.mu);
	if (n < 0 || n >= CLAIM_VALUE_MAX)
		n = CLAIM_VALUE_MAX - 1;
	sd_put_le32(b + SD_ATTR_OFF_VALUE_LEN, (uint32_t)n + 1);
	if (step == ST_CLAIM)
		cl->home = sd_attr_home(b);
	cl->iov.iov_base = b;
	cl->iov.iov_len = SD_ATTR_OFF_VALUE + (size_t)n + 1;
	/* an internal opcode: sheep wants its own protocol version */
	r->hdr.proto_ver = SD_SHEEP_PROTO_VER;
	r->hdr.flags = SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CREAT |
		       SD_FLAG_CMD_EXCL;
	r->hdr.data_length = (uint32_t)cl->iov.iov_len;
	r->out_iov = &cl->iov;
	r->out_iovcnt = 1;
	return sd_client_submit(cl->a.c, r);
}

static int send_claim(struct sd_claim *cl)
{
	char key[64];

	snprintf(key, sizeof(key), "bs_sheepdog.claim.%06x.%u", cl->a.vid,
		 cl->a.idx);
	if (!cl->sent_ns)
		cl->sent_ns = sd_now_ns();
	return send_attr(cl, ST_CLAIM, key);
}

static int send_break(struct sd_claim *cl)
{
	char key[64];

	snprintf(key, sizeof(key), "bs_sheepdog.break.%016llx",
		 (unsigned long long)cl->stale_nonce);
	return send_attr(cl, ST_BREAK, key);
}

/* a READ_OBJ of @len bytes at @off of @oid into @buf, to be sent */
static struct sd_request *read_init(struct sd_claim *cl, enum claim_step step,
				    uint64_t oid, uint32_t off, void *buf,
				    uint32_t len)
{
	struct sd_request *r = req_init(cl, step, SD_OP_READ_OBJ);

	r->hdr.data_length = len;
	r->hdr.obj.oid = oid;
	r->hdr.obj.offset = off;
	cl->iov.iov_base = buf;
	cl->iov.iov_len = len;
	r->in_iov = &cl->iov;
	r->in_iovcnt = 1;
	return r;
}

/* READ_OBJ of the 4-byte index entry; @step ENTRY or POLL */
static int send_entry_read(struct sd_claim *cl, enum claim_step step)
{
	struct sd_request *r = read_init(cl, step, sd_vid_to_vdi_oid(cl->a.vid),
					 sd_inode_index_offset(cl->a.idx),
					 cl->le, sizeof(cl->le));

	r->hdr.obj.copies = cl->a.copies;
	r->hdr.obj.copy_policy = cl->a.copy_policy;
	return sd_client_submit(cl->a.c, r);
}

/* READ_OBJ of the value of the claim in @slot; @step PEEK or RECHECK */
static int send_value_read(struct sd_claim *cl, enum claim_step step,
			   uint32_t slot)
{
	struct sd_request *r = read_init(cl, step,
					 sd_vid_to_attr_oid(cl->hashvid, slot),
					 SD_ATTR_OFF_VALUE,
					 cl->buf + SD_ATTR_OFF_VALUE,
					 CLAIM_VALUE_MAX);

	r->hdr.obj.copies = cl->obj_copies;
	return sd_client_submit(cl->a.c, r);
}

/* REMOVE_OBJ of the attribute in @slot; clean-ups get their own deadline */
static int send_remove(struct sd_claim *cl, enum claim_step step,
		       uint32_t slot)
{
	struct sd_request *r = req_init(cl, step, SD_OP_REMOVE_OBJ);

	r->hdr.obj.oid = sd_vid_to_attr_oid(cl->hashvid, slot);
	r->hdr.obj.copies = cl->obj_copies;
	if (step != ST_SMASH)
		r->deadline_ns = sd_now_ns() + timeout_ns(cl, 1);
	return sd_client_submit(cl->a.c, r);
}

static int send_wait(struct sd_claim *cl)
{
	struct sd_request *r = req_init(cl, ST_WAIT, 0);
	uint64_t wake = sd_now_ns() + cl->backoff_ns;

	if (wake > cl->a.deadline_ns)
		wake = cl->a.deadline_ns;
	cl->backoff_ns *= 2;
	if (cl->backoff_ns > CLAIM_BACKOFF_MAX_NS)
		cl->backoff_ns = CLAIM_BACKOFF_MAX_NS;
	return sd_client_sleep(cl->a.c, r, wake);
}

/* ---- the state machine ---------------------------------------------------- */

static int result_err(const struct sd_request *r, int cerr)
{
	if (cerr)
		return cerr;
	return -sd_result_to_errno(r->rsp.result);
}

/* The busy claim's value is known: wait, or break it when stale. */
static int busy_judge(struct sd_claim *cl)
{
	uint64_t now = sd_now_ns(), age, limit;

	if (!cl->busy.nonce)
		return send_wait(cl);
	age = book_seen(cl->a.book, cl->a.vid, cl->a.idx, cl->busy.nonce, now);
	limit = timeout_ns(cl, CLAIM_LEASE_TIMEOUTS);
	if (age < limit && age >= timeout_ns(cl, 1) &&
	    holder_dead_here(&cl->busy))
		limit = age;
	if (age < limit)
		return send_wait(cl);
	cl->stale_nonce = cl->busy.nonce;
	cl->stale_slot = cl->slot;
	return send_break(cl);
}

/* One step of the machine after its request ended: the next request's
 * submit result, or 1 when the claim is over (done() to be called). */
static int claim_step(struct sd_claim *cl, struct sd_request *r, int cerr,
		      int *err)
{
	uint32_t res = cerr ? SD_RES_SUCCESS : r->rsp.result;
	struct holder h;

	switch (cl->step) {
	case ST_CLAIM:
		if (cerr)
			break;
		cl->hashvid = r->rsp.vdi.vdi_id;
		cl->slot = r->rsp.vdi.attr_id;
		if (r->rsp.vdi.copies)
			cl->obj_copies = r->rsp.vdi.copies;
		if (res == SD_RES_SUCCESS && cl->slot == cl->home) {
			cl->held = true;
			return send_entry_read(cl, ST_ENTRY);
		}
		if (res == SD_RES_SUCCESS)	/* landed on a probe slot */
			return send_remove(cl, ST_UNPROBE, cl->slot);
		if (res == SD_RES_VDI_EXIST)
			return send_value_read(cl, ST_PEEK, cl->slot);
		break;
	case ST_ENTRY:
	case ST_POLL:
		if (cerr || res != SD_RES_SUCCESS)
			break;
		if (r->in_len != sizeof(cl->le)) {
			*err = -EPROTO;
			return 1;
		}
		cl->entry = sd_get_le32(cl->le);
		if (cl->entry >= SD_NR_VDIS) {
			*err = -EPROTO;
			return 1;
		}
		if (cl->step == ST_ENTRY || cl->entry == cl->a.vid) {
			*err = 0;
			return 1;
		}
		return send_claim(cl);
	case ST_UNPROBE:
		return send_wait(cl);
	case ST_PEEK:
		if (!cerr && res == SD_RES_NO_OBJ)	/* released meanwhile */
			return send_claim(cl);
		if (cerr || res != SD_RES_SUCCESS)
			break;
		value_parse(cl->buf + SD_ATTR_OFF_VALUE, r->in_len, &cl->busy);
		if (cl->busy.nonce == cl->nonce && cl->slot == cl->home) {
			/* a resent CLAIM of ours had been executed */
			cl->held = true;
			return send_entry_read(cl, ST_ENTRY);
		}
		return busy_judge(cl);
	case ST_WAIT:
		if (cerr)
			break;
		if (sd_now_ns() >= cl->a.deadline_ns) {
			*err = sd_set_error(ETIMEDOUT,
					    "VDI '%s': object %u is being allocated by another gateway",
					    cl->a.name, cl->a.idx);
			return 1;
		}
		return send_entry_read(cl, ST_POLL);
	case ST_BREAK:
		if (cerr)
			break;
		cl->break_slot = r->rsp.vdi.attr_id;
		if (res == SD_RES_SUCCESS &&
		    cl->break_slot == sd_attr_home(cl->buf))
			return send_value_read(cl, ST_RECHECK, cl->stale_slot);
		if (res == SD_RES_SUCCESS)
			return send_remove(cl, ST_UNPROBE, cl->break_slot);
		if (res == SD_RES_VDI_EXIST)
			return send_wait(cl);
		break;
	case ST_RECHECK:
		if (cerr || (res != SD_RES_SUCCESS && res != SD_RES_NO_OBJ))
			break;
		if (res == SD_RES_SUCCESS) {
			value_parse(cl->buf + SD_ATTR_OFF_VALUE, r->in_len, &h);
			if (h.nonce == cl->stale_nonce)
				return send_remove(cl, ST_SMASH,
						   cl->stale_slot);
		}
		return send_remove(cl, ST_UNBREAK, cl->break_slot);
	case ST_SMASH:
		if (cerr || (res != SD_RES_SUCCESS && res != SD_RES_NO_OBJ))
			break;
		return send_remove(cl, ST_UNBREAK, cl->break_slot);
	case ST_UNBREAK:
		return send_claim(cl);
	default:
		break;
	}
	*err = result_err(r, cerr);
	if (!cerr)
		sd_set_error(-*err, "VDI '%s': claim on object %u: %s: %s",
			     cl->a.name, cl->a.idx,
			     sd_opcode_str(r->hdr.opcode),
			     sd_result_str(res));
	return 1;
}

static void claim_finish(struct sd_claim *cl, int err)
{
	if (err && cl->held) {
		/* nothing was done under it: give it back */
		cl->held = false;
		cl->entry = 0;
		cl->a.done(cl, err);
		return;
	}
	cl->a.done(cl, err);
}

static void claim_req_done(struct sd_request *req, int cerr)
{
	struct sd_claim *cl = req->priv;
	int err = 0, ret;

	if (cl->step == ST_RELEASE) {
		free(cl);
		return;
	}
	ret = claim_step(cl, req, cerr, &err);
	if (ret == 1) {
		claim_finish(cl, err);
		return;
	}
	if (ret)
		claim_finish(cl, ret);
}

/* ---- entry points ----------------------------------------------------------- */

int sd_claim_acquire(const struct sd_claim_args *a, struct sd_claim **out)
{
	struct sd_claim *cl = calloc(1, sizeof(*cl));
	int ret;

	if (!cl)
		return sd_set_error(ENOMEM, "out of memory");
	cl->a = *a;
	cl->nonce = self_nonce();
	cl->obj_copies = a->copies;
	cl->backoff_ns = CLAIM_BACKOFF_MIN_NS;
	ret = send_claim(cl);
	if (ret) {
		free(cl);
		return ret;
	}
	*out = cl;
	return 0;
}

bool sd_claim_held(const struct sd_claim *cl)
{
	return cl->held;
}

uint32_t sd_claim_entry(const struct sd_claim *cl)
{
	return cl->entry;
}

void *sd_claim_priv(const struct sd_claim *cl)
{
	return cl->a.priv;
}

void sd_claim_release(struct sd_claim *cl)
{
	if (!cl)
		return;
	/* an old claim may already count as stale: leave it to the breakers */
	if (!cl->held ||
	    sd_now_ns() - cl->sent_ns >= timeout_ns(cl, CLAIM_RELEASE_TIMEOUTS) ||
	    send_remove(cl, ST_RELEASE, cl->slot))
		free(cl);
}
