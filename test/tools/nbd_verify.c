// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nbd_verify.c - iscsi_verify's verified write load and checker over NBD,
 * for the fault tests of the nbdkit plugin: a plain NBD client (fixed
 * newstyle handshake, NBD_OPT_EXPORT_NAME, simple replies) on nbdkit's
 * unix socket, keeping N writes of stamped 4 KiB blocks in flight at
 * random blocks (never two at once on one block) and logging every
 * completed write in iscsi_verify's format:
 *
 *   W SEED GEN BLOCK T_SUBMIT_US T_DONE_US               acknowledged
 *   F SEED GEN BLOCK T_SUBMIT_US T_DONE_US NBD ERRNO -1 -1   failed
 *
 * so that the same checker (verify_common.h) judges the blocks, read back
 * over NBD or from a raw image file.
 *
 *   nbd_verify SOCKET --write-load SECONDS --log FILE [--qd N] [--seed S]
 *                     [--first-block B] [--blocks N] [--expect-errors any]
 *                     [--timeout SECONDS]
 *   nbd_verify SOCKET|IMAGE --check LOG [LOG...]
 */
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include "../common/io_all.h"
#include <sys/stat.h>
#include <sys/un.h>

static const char *prog = "nbd_verify";

#include "verify_common.h"

#define NBD_MAGIC		0x4e42444d41474943ULL	/* "NBDMAGIC" */
#define NBD_IHAVEOPT		0x49484156454f5054ULL	/* "IHAVEOPT" */
#define NBD_FLAG_FIXED_NEWSTYLE	1
#define NBD_FLAG_NO_ZEROES	2
#define NBD_OPT_EXPORT_NAME	1
#define NBD_REQUEST_MAGIC	0x25609513
#define NBD_REPLY_MAGIC		0x67446698
#define NBD_CMD_READ		0
#define NBD_CMD_WRITE		1
#define NBD_CMD_DISC		2
#define REQ_HDR			28
#define REP_HDR			16

static void usage(void)
{
	fprintf(stderr,
		"usage: %s SOCKET --write-load SECONDS --log FILE [--qd N] [--seed S]\n"
		"                  [--first-block B] [--blocks N] [--expect-errors none|any]\n"
		"                  [--timeout SECONDS]\n"
		"       %s SOCKET|IMAGE --check LOG [LOG...]\n", prog, prog);
}

/* ---- NBD connection ----------------------------------------------------- */

static void put32be(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static void put64be(uint8_t *p, uint64_t v)
{
	put32be(p, (uint32_t)(v >> 32));
	put32be(p + 4, (uint32_t)v);
}

static uint32_t get32be(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static uint64_t get64be(const uint8_t *p)
{
	return (uint64_t)get32be(p) << 32 | get32be(p + 4);
}

/* connect and negotiate; the export size in *size, the socket or -1 */
static int nbd_open(const char *path, uint64_t *size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint8_t b[152];
	uint16_t sflags;
	uint32_t cflags;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: socket path too long\n", prog);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, path,
			strerror(errno));
		goto fail;
	}
	if (io_all(fd, b, 18, false) || get64be(b) != NBD_MAGIC ||
	    get64be(b + 8) != NBD_IHAVEOPT) {
		fprintf(stderr, "%s: %s is not a newstyle NBD server\n", prog,
			path);
		goto fail;
	}
	sflags = (uint16_t)(b[16] << 8 | b[17]);
	cflags = NBD_FLAG_FIXED_NEWSTYLE |
		(sflags & NBD_FLAG_NO_ZEROES ? NBD_FLAG_NO_ZEROES : 0);
	put32be(b, cflags);
	put64be(b + 4, NBD_IHAVEOPT);
	put32be(b + 12, NBD_OPT_EXPORT_NAME);
	put32be(b + 16, 0);		/* the default export */
	if (io_all(fd, b, 20, true) ||
	    io_all(fd, b, cflags & NBD_FLAG_NO_ZEROES ? 10 : 134, false)) {
		fprintf(stderr, "%s: the NBD handshake failed\n", prog);
		goto fail;
	}
	*size = get64be(b);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

struct slot {
	bool busy, write;
	uint64_t block, gen;
	int64_t t0;
	uint8_t buf[BLK];
};

struct engine {
	int fd;
	struct slot slots[MAX_QD];
	unsigned int inflight;
	uint8_t *out;			/* requests not yet sent */
	size_t outlen, outcap;
	uint8_t in[REP_HDR + BLK];	/* the reply being read */
	size_t inlen;
	bool dead;
	void (*done)(struct engine *e, struct slot *sl, uint32_t err);
	void *priv;
};

static int engine_submit(struct engine *e, unsigned int i)
{
	struct slot *sl = &e->slots[i];
	size_t need = REQ_HDR + (sl->write ? BLK : 0);
	uint8_t *p;

	if (e->outlen + need > e->outcap) {
		size_t cap = (e->outlen + need) * 2;
		uint8_t *n = realloc(e->out, cap);

		if (!n)
			return -1;
		e->out = n;
		e->outcap = cap;
	}
	p = e->out + e->outlen;
	put32be(p, NBD_REQUEST_MAGIC);
	p[4] = p[5] = 0;
	p[6] = 0;
	p[7] = sl->write ? NBD_CMD_WRITE : NBD_CMD_READ;
	put64be(p + 8, i);		/* the handle: the slot */
	put64be(p + 16, sl->block * BLK);
	put32be(p + 24, BLK);
	if (sl->write)
		memcpy(p + REQ_HDR, sl->buf, BLK);
	e->outlen += need;
	sl->busy = true;
	e->inflight++;
	return 0;
}

/* send and receive what can be, waiting at most @ms; -1 if the
 * connection failed */
static int engine_poll(struct engine *e, int ms)
{
	struct pollfd pfd = { .fd = e->fd, .events = POLLIN };
	ssize_t n;

	if (e->outlen)
		pfd.events |= POLLOUT;
	if (poll(&pfd, 1, ms) < 0)
		return errno == EINTR ? 0 : -1;
	if (pfd.revents & POLLOUT) {
		n = send(e->fd, e->out, e->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n > 0) {
			memmove(e->out, e->out + n, e->outlen - (size_t)n);
			e->outlen -= (size_t)n;
		}
	}
	if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	for (;;) {
		size_t want = REP_HDR;
		struct slot *sl;
		uint64_t h;
		uint32_t err;

		if (e->inlen >= REP_HDR) {
			h = get64be(e->in + 8);
			err = get32be(e->in + 4);
			if (get32be(e->in) != NBD_REPLY_MAGIC || h >= MAX_QD ||
			    !e->slots[h].busy) {
				fprintf(stderr, "%s: bad NBD reply\n", prog);
				return -1;
			}
			if (!e->slots[h].write && !err)
				want += BLK;
		}
		if (e->inlen < want) {
			n = recv(e->fd, e->in + e->inlen, want - e->inlen,
				 MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n <= 0)
				return -1;
			e->inlen += (size_t)n;
			continue;
		}
		h = get64be(e->in + 8);
		err = get32be(e->in + 4);
		sl = &e->slots[h];
		if (!sl->write && !err)
			memcpy(sl->buf, e->in + REP_HDR, BLK);
		e->inlen = 0;
		sl->busy = false;
		e->inflight--;
		e->done(e, sl, err);
	}
}

static void engine_close(struct engine *e)
{
	uint8_t b[REQ_HDR] = { 0 };

	if (!e->dead) {
		put32be(b, NBD_REQUEST_MAGIC);
		b[7] = NBD_CMD_DISC;
		if (io_all(e->fd, b, sizeof(b), true))
			e->dead = true;
	}
	close(e->fd);
	free(e->out);
}

/* ---- write load ----------------------------------------------------------- */

static void load_done(struct engine *e, struct slot *sl, uint32_t err)
{
	struct vload *L = e->priv;
	char why[32];

	if (!err) {
		vload_done(L, sl->gen, sl->block, sl->t0, now_us(), NULL);
		return;
	}
	snprintf(why, sizeof(why), "NBD %u -1 -1", err);
	vload_done(L, sl->gen, sl->block, sl->t0, now_us(), why);
	if (!L->o->expect_errors && L->failed == 1)
		fprintf(stderr, "%s: write of block %" PRIu64 " failed: NBD error %u\n",
			prog, sl->block, err);
}

/* start one write to a random block with no write in flight */
static int load_start_one(struct engine *e, unsigned int i)
{
	struct vload *L = e->priv;
	struct slot *sl = &e->slots[i];

	if (!vload_next(L, &sl->block, &sl->gen))
		return 1;	/* tiny range, everything busy: wait */
	sl->write = true;
	sl->t0 = now_us();
	stamp_fill(sl->buf, sl->block, L->o->seed, sl->gen);
	return engine_submit(e, i);
}

static int run_load(struct engine *e, uint64_t nr_blocks,
		    const struct verify_opts *o)
{
	struct vload L;
	int64_t end;
	unsigned int i;
	int ret;

	ret = vload_open(&L, o, nr_blocks, "export");
	if (ret)
		return ret;
	e->done = load_done;
	e->priv = &L;
	end = now_us() + (int64_t)(o->seconds * 1e6);
	for (;;) {
		if (now_us() < end && !e->dead)
			for (i = 0; i < o->qd; i++)
				if (!e->slots[i].busy && load_start_one(e, i) < 0)
					e->dead = true;
		if (!e->inflight && (now_us() >= end || e->dead))
			break;
		if (e->dead || now_us() > end + (int64_t)o->timeout_s * 1000000) {
			fprintf(stderr, "%s: %u writes outstanding%s; giving up\n",
				prog, e->inflight, e->dead ?
				" on a failed connection" : " long after the end");
			ret = 1;
			break;
		}
		if (engine_poll(e, 100)) {
			fprintf(stderr, "%s: the NBD connection failed\n", prog);
			e->dead = true;
		}
	}
	/* anything still in flight may have landed */
	for (i = 0; i < o->qd; i++)
		if (e->slots[i].busy)
			vload_failed(&L, e->slots[i].gen, e->slots[i].block,
				     e->slots[i].t0, now_us(), "LOST -1 -1 -1");
	return vload_close(&L, ret);
}

/* ---- checker over NBD ------------------------------------------------------- */

static void check_done(struct engine *e, struct slot *sl, uint32_t err)
{
	struct check *C = e->priv;

	if (err) {
		printf("BAD block %" PRIu64 " cannot be read: NBD error %u\n",
		       sl->block, err);
		C->bad++;
		return;
	}
	check_one(C, sl->gen, sl->buf);		/* gen: the group index */
}

static int check_nbd(struct engine *e, struct check *C, uint64_t nr_blocks,
		     unsigned int qd)
{
	unsigned int i;

	e->done = check_done;
	e->priv = C;
	for (;;) {
		for (i = 0; i < qd && C->next < C->nr_grp; i++) {
			struct slot *sl = &e->slots[i];

			if (sl->busy)
				continue;
			sl->write = false;
			sl->block = C->m->r[C->grp[C->next]].block;
			sl->gen = C->next++;
			if (sl->block >= nr_blocks) {
				printf("BAD block %" PRIu64 " is beyond the export\n",
				       sl->block);
				C->bad++;
				continue;
			}
			if (engine_submit(e, i))
				return -1;
		}
		if (!e->inflight && C->next >= C->nr_grp)
			return 0;
		if (engine_poll(e, 100)) {
			e->dead = true;
			return -1;
		}
	}
}

/* check the logged blocks over NBD (SOCKET) or in an image file */
static int run_check(const struct verify_opts *o)
{
	static struct engine e;
	struct model m = { 0 };
	struct check C;
	struct stat st;
	uint64_t size = 0;
	bool finished = false;

	if (check_prepare(&C, &m, o->logs, o->nr_logs))
		goto out;
	if (stat(o->target, &st) || !S_ISSOCK(st.st_mode)) {
		if (check_image(&C, o->target))
			goto out;
	} else {
		e.fd = nbd_open(o->target, &size);
		if (e.fd < 0)
			goto out;
		if (check_nbd(&e, &C, size / BLK, o->qd)) {
			fprintf(stderr, "%s: the check did not finish\n", prog);
			engine_close(&e);
			goto out;
		}
		engine_close(&e);
	}
	finished = true;
out:
	return check_finish(&C, &m, finished);
}

int main(int argc, char **argv)
{
	static struct engine e;
	struct verify_opts o;
	uint64_t size = 0;
	int ret;

	ret = verify_parse_args(argc, argv, 0, usage, &o);
	if (ret)
		return ret;
	if (o.mode == MODE_CHECK)
		return run_check(&o);
	e.fd = nbd_open(o.target, &size);
	if (e.fd < 0)
		return 1;
	ret = run_load(&e, size / BLK, &o);
	engine_close(&e);
	return ret;
}
