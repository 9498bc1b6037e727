// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fault_load - a pipelined, self-verifying async read/write load that keeps
 * running while the shell driver injects faults into minisheep (delays,
 * reordered replies, dropped connections, a killed and restarted server).
 *
 * Usage: fault_load ADDR VDI LABEL [--ops N | --stop FILE] [--ready FILE]
 *                   [--post N] [--max-errors N] [--expect-reconnect]
 *                   [--timeout MS] [--conns N] [--depth N] [--seed N]
 *
 * The VDI is cut into slots, one centred on each MiB boundary (every fourth
 * one straddles an object boundary) with random unaligned extents.  At most
 * one request is in flight per slot, so the expected content is exact: the
 * last acknowledged write, or (only after writes that failed) one of the
 * failed writes issued since then, block by block.  The set of usable slots
 * grows during the run, so first writes that allocate objects keep
 * happening.  Reads are verified when they complete.
 *
 * Phases: load (until N ops or FILE exists; the driver clears the faults
 * before creating FILE), drain, post (N more ops that must all succeed:
 * I/O resumed), then every slot is read back synchronously, and again
 * through a new client and handle.  An acknowledged write that is missing
 * is reported with the slot, offset and seeds involved.
 */
/* itest: driven by fault_load.sh */

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "itest.h"

#define MAX_FAILED	8
#define MAX_SLOTS	256
#define SLOT_HALF	(128 * 1024)

struct slot {
	uint64_t off, len;
	bool busy;
	uint64_t acked;			/* seed of the last acked write */
	uint64_t failed[MAX_FAILED];	/* failed writes since that ack */
	int nr_failed;
	bool unknown;			/* too many failed writes */
	uint64_t stale[4];		/* failed writes before that ack */
	int nr_stale;
};

struct op {
	struct slot *slot;
	bool write;
	uint64_t seed;
	uint8_t *buf;
	struct iovec iov[3];
	int iovcnt;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int inflight;
	uint64_t completed;
	uint64_t writes_ok, writes_failed, reads_ok, reads_failed;
	uint64_t verify_bad;
	char first_error[256];
	char first_bad[300];
	int unexpected_err;		/* an errno outside the fault set */
} st = { .lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER };

static struct slot slots[MAX_SLOTS];
static int nr_slots = 120;
static uint64_t next_seed = 1000;
static uint64_t rng = 88172645463325252ULL;
static const char *label;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *cname(const char *what)
{
	return it_name(label, what);
}

/*
 * Does @buf (the slot's bytes from the VDI) match the model?  Block by
 * block (512-byte aligned pieces of the slot) it must equal the acked seed
 * or one of the failed seeds since.  Returns 0, or -1 with @why filled.
 */
static int slot_check(const struct slot *s, const uint8_t *buf, char *why,
		      size_t wl)
{
	uint64_t pos = 0;
	int i;

	if (s->unknown)
		return 0;
	while (pos < s->len) {
		uint64_t o = s->off + pos;
		uint64_t n = IT_BLOCK - o % IT_BLOCK;
		bool ok;

		if (n > s->len - pos)
			n = s->len - pos;
		ok = it_pat_ok(buf + pos, n, o, s->acked);
		for (i = 0; !ok && i < s->nr_failed; i++)
			ok = it_pat_ok(buf + pos, n, o, s->failed[i]);
		if (!ok) {
			const char *what = "matches no write to this slot";

			for (i = 0; i < s->nr_stale; i++)
				if (it_pat_ok(buf + pos, n, o, s->stale[i]))
					what = "holds an older FAILED write: "
					       "the later acknowledged write "
					       "was lost or overwritten";
			if (s->acked && it_pat_ok(buf + pos, n, o, 0))
				what = "reads zeros: acknowledged write lost";
			snprintf(why, wl, "slot at %" PRIu64 "+%" PRIu64
				 ": bytes %" PRIu64 "+%" PRIu64 " should hold "
				 "acked seed %" PRIu64 " (%d failed writes "
				 "since): %s", s->off, s->len, o, n, s->acked,
				 s->nr_failed, what);
			return -1;
		}
		pos += n;
	}
	return 0;
}

static bool fault_errno(int err)
{
	return err == -ETIMEDOUT || err == -ECONNRESET || err == -EPIPE ||
	       err == -ECONNREFUSED || err == -ENOENT || err == -ESHUTDOWN ||
	       err == -ENOTCONN || err == -ECONNABORTED;
}

static void op_done(void *opaque, int err)
{
	struct op *op = opaque;
	struct slot *s = op->slot;
	char why[300];

	pthread_mutex_lock(&st.lock);
	if (err) {
		if (!st.first_error[0])
			snprintf(st.first_error, sizeof(st.first_error),
				 "%s of slot %" PRIu64 "+%" PRIu64 " = %d",
				 op->write ? "write" : "read", s->off, s->len,
				 err);
		if (!fault_errno(err))
			st.unexpected_err = err;
	}
	if (op->write) {
		if (!err) {
			st.writes_ok++;
			s->acked = op->seed;
			s->nr_failed = 0;
			s->unknown = false;
		} else {
			st.writes_failed++;
			if (s->nr_failed < MAX_FAILED)
				s->failed[s->nr_failed++] = op->seed;
			else
				s->unknown = true;
			s->stale[s->nr_stale++ % 4] = op->seed;
			if (s->nr_stale > 4)
				s->nr_stale = 4;
		}
	} else if (err) {
		st.reads_failed++;
	} else {
		st.reads_ok++;
		if (slot_check(s, op->buf, why, sizeof(why))) {
			if (!st.verify_bad++)
				snprintf(st.first_bad, sizeof(st.first_bad),
					 "%s", why);
		}
	}
	s->busy = false;
	st.inflight--;
	st.completed++;
	pthread_cond_signal(&st.cond);
	pthread_mutex_unlock(&st.lock);
	free(op->buf);
	free(op);
}

/* submit one op on an idle slot; called without st.lock held */
static int submit_one(struct sd_vdi *v, int active)
{
	struct slot *s = NULL;
	struct op *op;
	uint64_t a, b;
	int i, tries, ret;

	pthread_mutex_lock(&st.lock);
	for (tries = 0; tries < 8 && !s; tries++) {
		i = rnd() % active;
		if (!slots[i].busy)
			s = &slots[i];
	}
	if (s) {
		s->busy = true;
		st.inflight++;
	}
	pthread_mutex_unlock(&st.lock);
	if (!s)
		return 1;

	op = it_alloc(sizeof(*op));
	op->slot = s;
	op->write = rnd() % 100 < 55;
	op->buf = it_alloc(s->len);
	a = 1 + rnd() % (s->len - 2);
	b = a + rnd() % (s->len - a);
	if (op->write) {
		op->seed = __atomic_add_fetch(&next_seed, 1, __ATOMIC_RELAXED);
		it_pat_fill(op->buf, s->len, s->off, op->seed);
		op->iov[0] = (struct iovec){ op->buf, a };
		op->iov[1] = (struct iovec){ op->buf + a, b - a };
		op->iov[2] = (struct iovec){ op->buf + b, s->len - b };
		op->iovcnt = rnd() % 2 ? 3 : 1;
		if (op->iovcnt == 1)
			op->iov[0].iov_len = s->len;
		ret = sd_vdi_aio_write(v, op->iov, op->iovcnt, s->off, 0,
				       op_done, op);
	} else {
		memset(op->buf, 0xcc, s->len);
		op->iov[0] = (struct iovec){ op->buf, a };
		op->iov[1] = (struct iovec){ op->buf + a, s->len - a };
		op->iovcnt = 2;
		ret = sd_vdi_aio_read(v, op->iov, 2, s->off, op_done, op);
	}
	if (ret) {
		pthread_mutex_lock(&st.lock);
		s->busy = false;
		st.inflight--;
		if (!st.first_error[0])
			snprintf(st.first_error, sizeof(st.first_error),
				 "submit refused: %d %s", ret, sd_get_error());
		st.unexpected_err = ret;
		pthread_cond_signal(&st.cond);
		pthread_mutex_unlock(&st.lock);
		free(op->buf);
		free(op);
		return -1;
	}
	return 0;
}

static void wait_tick(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	while (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&st.lock);
	pthread_cond_timedwait(&st.cond, &st.lock, &ts);
	pthread_mutex_unlock(&st.lock);
}

/*
 * Keep @depth ops in flight until @ops more have completed (ops > 0) or the
 * stop file exists, or max_s seconds passed.  Returns ops completed.
 */
static uint64_t run_load(struct sd_vdi *v, int depth, uint64_t ops,
			 const char *stop, int max_s)
{
	uint64_t start, end = sd_now_ns() + (uint64_t)max_s * 1000000000ULL;
	uint64_t last_stat = 0;
	struct stat sb;

	pthread_mutex_lock(&st.lock);
	start = st.completed;
	pthread_mutex_unlock(&st.lock);
	for (;;) {
		uint64_t now = sd_now_ns(), done;
		int inflight, active;

		pthread_mutex_lock(&st.lock);
		done = st.completed - start;
		inflight = st.inflight;
		active = 8 + (int)(st.completed / 2);
		pthread_mutex_unlock(&st.lock);
		if (active > nr_slots)
			active = nr_slots;
		if (ops && done + inflight >= ops) {
			if (done >= ops)
				break;
		} else if (!ops && stop && now - last_stat > 50000000ULL) {
			last_stat = now;
			if (!stat(stop, &sb))
				break;
		}
		if (now > end)
			break;
		if (inflight < depth && !(ops && done + inflight >= ops)) {
			if (submit_one(v, active) < 0)
				wait_tick(20);
			continue;
		}
		wait_tick(20);
	}
	pthread_mutex_lock(&st.lock);
	start = st.completed - start;
	pthread_mutex_unlock(&st.lock);
	return start;
}

static void drain(void)
{
	uint64_t end = sd_now_ns() + 60000000000ULL;

	pthread_mutex_lock(&st.lock);
	while (st.inflight && sd_now_ns() < end) {
		pthread_mutex_unlock(&st.lock);
		wait_tick(50);
		pthread_mutex_lock(&st.lock);
	}
	pthread_mutex_unlock(&st.lock);
}

/* one verification read of the final check */
struct vread {
	uint8_t *buf;
	struct iovec iov;
	int err;
	int *left;
};

static void vread_done(void *opaque, int err)
{
	struct vread *r = opaque;

	pthread_mutex_lock(&st.lock);
	r->err = err;
	(*r->left)--;
	pthread_cond_signal(&st.cond);
	pthread_mutex_unlock(&st.lock);
}

/*
 * Read every slot (all reads in flight at once, so a reply-holding fault
 * does not serialise them) and check it; returns the number of bad slots.
 */
static int verify_slots(struct sd_vdi *v, char *why, size_t wl)
{
	struct vread *r = it_alloc(nr_slots * sizeof(*r));
	int i, bad = 0, ret, left = 0;
	char w[300];

	for (i = 0; i < nr_slots; i++) {
		r[i].buf = it_alloc(slots[i].len);
		r[i].iov.iov_base = r[i].buf;
		r[i].iov.iov_len = slots[i].len;
		r[i].left = &left;
		pthread_mutex_lock(&st.lock);
		left++;
		pthread_mutex_unlock(&st.lock);
		ret = sd_vdi_aio_read(v, &r[i].iov, 1, slots[i].off,
				      vread_done, &r[i]);
		if (ret) {
			pthread_mutex_lock(&st.lock);
			left--;
			r[i].err = ret;
			pthread_mutex_unlock(&st.lock);
		}
	}
	pthread_mutex_lock(&st.lock);
	while (left)
		pthread_cond_wait(&st.cond, &st.lock);
	pthread_mutex_unlock(&st.lock);
	for (i = 0; i < nr_slots; i++) {
		struct slot *s = &slots[i];

		if (r[i].err) {
			snprintf(w, sizeof(w), "read of slot %" PRIu64 "+%"
				 PRIu64 " = %d", s->off, s->len, r[i].err);
			ret = -1;
		} else {
			ret = slot_check(s, r[i].buf, w, sizeof(w));
		}
		if (ret && !bad++)
			snprintf(why, wl, "%s", w);
		free(r[i].buf);
	}
	free(r);
	return bad;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "ops", required_argument, NULL, 'n' },
		{ "stop", required_argument, NULL, 's' },
		{ "ready", required_argument, NULL, 'r' },
		{ "post", required_argument, NULL, 'p' },
		{ "max-errors", required_argument, NULL, 'e' },
		{ "expect-reconnect", no_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ "conns", required_argument, NULL, 'c' },
		{ "depth", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *stop = NULL, *ready = NULL;
	uint64_t ops = 0, post = 300, done, size, S, post_ok_before;
	long max_errors = -1;
	bool expect_reconnect = false;
	unsigned int timeout_ms = 5000, conns = 2;
	int depth = 32, opt, i, bad, ret;
	struct sd_client *c, *c2;
	struct sd_client_stats cs;
	struct sd_vdi *v, *v2;
	char why[300] = "";

	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 'n': ops = strtoull(optarg, NULL, 0); break;
		case 's': stop = optarg; break;
		case 'r': ready = optarg; break;
		case 'p': post = strtoull(optarg, NULL, 0); break;
		case 'e': max_errors = strtol(optarg, NULL, 0); break;
		case 'R': expect_reconnect = true; break;
		case 't': timeout_ms = atoi(optarg); break;
		case 'c': conns = atoi(optarg); break;
		case 'd': depth = atoi(optarg); break;
		case 'S': rng = strtoull(optarg, NULL, 0) | 1; break;
		default: return 2;
		}
	}
	if (argc - optind < 3 || (!ops && !stop)) {
		fprintf(stderr, "usage: %s ADDR VDI LABEL --ops N|--stop FILE "
			"[options]\n", argv[0]);
		return 2;
	}
	label = argv[optind + 2];

	c = it_client(argv[optind], conns, timeout_ms);
	/* slot i is centred on the MiB boundary i+1 */
	size = ((uint64_t)nr_slots + 2) * IT_MIB;
	size = (size + 8 * IT_MIB - 1) / (8 * IT_MIB) * (8 * IT_MIB);
	v = it_create_open(c, argv[optind + 1], size, 0, SD_LOCK_NORMAL, label,
			   NULL);
	S = sd_vdi_object_size(v);
	for (i = 0; i < nr_slots; i++) {
		uint64_t h1 = 512 + rnd() % SLOT_HALF;
		uint64_t h2 = 512 + rnd() % SLOT_HALF;

		slots[i].off = (uint64_t)(i + 1) * IT_MIB - h1;
		slots[i].len = h1 + h2;
	}
	printf("# %s: %d slots, object size %" PRIu64 ", VDI %" PRIu64
	       " MiB\n", label, nr_slots, S, size >> 20);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}

	done = run_load(v, depth, ops, stop, 90);
	drain();
	pthread_mutex_lock(&st.lock);
	printf("# %s load: %" PRIu64 " ops, writes ok %" PRIu64 " failed %"
	       PRIu64 ", reads ok %" PRIu64 " failed %" PRIu64 "; first "
	       "error: %s\n", label, done, st.writes_ok, st.writes_failed,
	       st.reads_ok, st.reads_failed,
	       st.first_error[0] ? st.first_error : "none");
	CHECK(st.writes_ok > 0 && st.reads_ok > 0, cname("load ran"),
	      "writes ok %" PRIu64 ", reads ok %" PRIu64, st.writes_ok,
	      st.reads_ok);
	if (max_errors >= 0)
		CHECK((long)(st.writes_failed + st.reads_failed) <= max_errors,
		      cname("no I/O error under the fault"), "%" PRIu64
		      " failed writes, %" PRIu64 " failed reads; first: %s",
		      st.writes_failed, st.reads_failed, st.first_error);
	CHECK(!st.unexpected_err, cname("errors are only connection errors"),
	      "got %d; first error: %s", st.unexpected_err, st.first_error);
	CHECK(st.verify_bad == 0, cname("reads during the load verified"),
	      "%" PRIu64 " bad reads; first: %s", st.verify_bad, st.first_bad);
	post_ok_before = st.writes_ok + st.reads_ok;
	st.first_error[0] = '\0';
	st.writes_failed = st.reads_failed = 0;
	pthread_mutex_unlock(&st.lock);

	sd_client_get_stats(c, &cs);
	printf("# %s client: submitted %" PRIu64 " resent %" PRIu64
	       " timeouts %" PRIu64 " reconnects %" PRIu64 " bad replies %"
	       PRIu64 "\n", label, cs.submitted, cs.resent, cs.timeouts,
	       cs.reconnects, cs.bad_replies);
	if (expect_reconnect)
		CHECK(cs.reconnects > 0, cname("client reconnected"),
		      "no reconnect counted: the fault did not hit?");

	done = run_load(v, depth, post, NULL, 60);
	drain();
	pthread_mutex_lock(&st.lock);
	CHECK(done >= post && st.writes_failed + st.reads_failed == 0 &&
	      st.writes_ok + st.reads_ok - post_ok_before >= post,
	      cname("I/O resumes after the fault"), "%" PRIu64 " ops, %" PRIu64
	      " failed writes, %" PRIu64 " failed reads; first: %s", done,
	      st.writes_failed, st.reads_failed, st.first_error);
	CHECK(st.verify_bad == 0, cname("reads after the fault verified"),
	      "%" PRIu64 " bad reads; first: %s", st.verify_bad, st.first_bad);
	pthread_mutex_unlock(&st.lock);

	bad = verify_slots(v, why, sizeof(why));
	CHECK(bad == 0, cname("every acknowledged write present"),
	      "%d bad slots; first: %s", bad, why);
	sd_vdi_close(v);

	c2 = it_client(argv[optind], 1, 10000);
	ret = it_open(c2, argv[optind + 1], NULL, 0, SD_LOCK_NORMAL, &v2);
	CHECK(ret == 0, cname("reopen with a new client"), "= %d: %s", ret,
	      sd_get_error());
	if (!ret) {
		bad = verify_slots(v2, why, sizeof(why));
		CHECK(bad == 0, cname("every acknowledged write present after "
				      "reopen"), "%d bad slots; first: %s",
		      bad, why);
		sd_vdi_close(v2);
	}
	sd_client_free(c2);
	sd_client_free(c);
	return t_exit();
}
