// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * concurrent_writes - 16 threads writing one shared VDI handle at once.
 * Usage: concurrent_writes ADDR VDI [SEED]
 * (SEED, else $CONCURRENT_SEED, else the time and pid; a run prints it)
 *
 * The VDI starts empty, so many first writes allocate objects, and the
 * regions below cross object boundaries so several threads allocate and
 * write the same objects at the same time.  Three kinds of region, each
 * with a model that gives an exact or a sound expected content:
 *
 *  private  each thread owns one 3 MiB region (regions of neighbours share
 *           objects); byte-granular writes and read-back checks, an exact
 *           shadow copy per thread.
 *  locked   one region shared by all threads; a write holds the model's
 *           mutexes of every 512-byte block it touches from submit to ack,
 *           so writes to the same block are serialised and the shadow copy
 *           is exact; writes to different blocks of one object still race.
 *  racy     one region shared by all threads with no serialisation at all;
 *           512-aligned writes whose blocks are stamped (thread, sequence),
 *           with submit and ack times.  Afterwards every block must hold
 *           the stamp of a write to it that no other write to it began
 *           after the acknowledgement of (or zeros if never written).
 *
 * After the threads join the whole VDI is checked, then checked again
 * through a new client and handle (so the index was really published).
 */
#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#include "itest.h"

#define NR_THREADS	16
#define OPS_PER_THREAD	400
#define VDI_SIZE	(96 * IT_MIB)
#define PRIV_OFF	(333ULL)
#define PRIV_LEN	(3 * IT_MIB)
#define LOCK_OFF	(52 * IT_MIB - 4321)
#define LOCK_LEN	(16 * IT_MIB)
#define RACY_OFF	(72 * IT_MIB - 64 * IT_BLOCK)
#define RACY_LEN	(16 * IT_MIB)
#define RACY_BLOCKS	(RACY_LEN / IT_BLOCK)
#define LOCK_FIRST_BLK	(LOCK_OFF / IT_BLOCK)
#define LOCK_BLOCKS	((LOCK_OFF + LOCK_LEN) / IT_BLOCK + 1 - LOCK_FIRST_BLK)

struct racy_write {
	uint64_t stamp;
	uint32_t first, nr;		/* blocks, relative to RACY_OFF */
	uint64_t submit_ns, ack_ns;
	int err;
};

struct worker {
	pthread_t th;
	int id;
	uint64_t rng;
	struct racy_write *racy;
	int nr_racy;
	int errors;
	char first_error[256];
	int private_read_bad;
	char read_why[256];
};

static struct sd_vdi *vdi;
static uint64_t S;
static uint8_t *shadow;		/* private and locked regions */
static pthread_mutex_t *blk_locks;
static struct worker workers[NR_THREADS];
static pthread_barrier_t start_line;

static uint64_t rnd(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static uint64_t rnd_below(struct worker *w, uint64_t n)
{
	return n ? rnd(w) % n : 0;
}

/* a random range inside [base, base+size): small, large or straddling */
static void pick_range(struct worker *w, uint64_t base, uint64_t size,
		       uint64_t maxlen, uint64_t *off, uint64_t *len)
{
	uint64_t l, o, kind = rnd_below(w, 10);

	if (kind < 5)
		l = 1 + rnd_below(w, 16384);
	else
		l = 1 + rnd_below(w, maxlen);
	if (l > size)
		l = size;
	o = base + rnd_below(w, size - l + 1);
	if (kind >= 8) {
		/* straddle the first object boundary inside the region */
		uint64_t b = (base / S + 1) * S;

		if (b > base && b < base + size) {
			uint64_t before = 1 + rnd_below(w, l);

			if (before > b - base)
				before = b - base;
			o = b - before;
			if (o + l > base + size)
				l = base + size - o;
		}
	}
	*off = o;
	*len = l;
}

static void note_error(struct worker *w, const char *what, int ret,
		       uint64_t off, uint64_t len)
{
	if (!w->errors++)
		snprintf(w->first_error, sizeof(w->first_error),
			 "%s(off=%" PRIu64 ", len=%" PRIu64 ") = %d",
			 what, off, len, ret);
}

/* write pattern @seed to [off, off+len) and, once acknowledged, the shadow */
static void model_write(struct worker *w, uint8_t *buf, uint64_t off,
			uint64_t len, uint64_t seed, const char *what)
{
	int ret;

	it_pat_fill(buf, len, off, seed);
	ret = sd_vdi_pwrite(vdi, buf, len, off, 0);
	if (ret)
		note_error(w, what, ret, off, len);
	else
		memcpy(shadow + off, buf, len);
}

static void private_op(struct worker *w, uint8_t *buf, uint64_t seq)
{
	uint64_t base = PRIV_OFF + (uint64_t)w->id * PRIV_LEN, off, len;
	uint64_t seed = ((uint64_t)(w->id + 1) << 32) | seq;
	int ret;

	pick_range(w, base, PRIV_LEN, 256 * 1024, &off, &len);
	if (rnd_below(w, 4) == 0) {
		ret = sd_vdi_pread(vdi, buf, len, off);
		if (ret) {
			note_error(w, "private pread", ret, off, len);
		} else if (memcmp(buf, shadow + off, len) &&
			   !w->private_read_bad++) {
			snprintf(w->read_why, sizeof(w->read_why),
				 "thread %d read(off=%" PRIu64 ", len=%" PRIu64
				 ") differs from its own writes", w->id, off,
				 len);
		}
		return;
	}
	model_write(w, buf, off, len, seed, "private pwrite");
}

static void locked_op(struct worker *w, uint8_t *buf, uint64_t seq)
{
	uint64_t seed = ((uint64_t)(w->id + 1) << 32) | (1u << 30) | seq;
	uint64_t off, len, b, first, last;

	pick_range(w, LOCK_OFF, LOCK_LEN, 64 * 1024, &off, &len);
	first = off / IT_BLOCK - LOCK_FIRST_BLK;
	last = (off + len - 1) / IT_BLOCK - LOCK_FIRST_BLK;
	for (b = first; b <= last; b++)
		pthread_mutex_lock(&blk_locks[b]);
	model_write(w, buf, off, len, seed, "locked pwrite");
	for (b = last + 1; b-- > first;)
		pthread_mutex_unlock(&blk_locks[b]);
}

static void racy_op(struct worker *w, uint8_t *buf, uint64_t seq)
{
	struct racy_write *r = &w->racy[w->nr_racy];
	uint64_t off, len;

	pick_range(w, RACY_OFF, RACY_LEN, 32 * IT_BLOCK, &off, &len);
	/* align to blocks */
	off -= (off - RACY_OFF) % IT_BLOCK;
	len = (len + IT_BLOCK - 1) / IT_BLOCK * IT_BLOCK;
	if (off + len > RACY_OFF + RACY_LEN)
		len = RACY_OFF + RACY_LEN - off;
	r->stamp = ((uint64_t)(w->id + 1) << 32) | (2u << 30) | seq;
	r->first = (off - RACY_OFF) / IT_BLOCK;
	r->nr = len / IT_BLOCK;
	it_stamp_fill(buf, len, off, r->stamp);
	r->submit_ns = sd_now_ns();
	r->err = sd_vdi_pwrite(vdi, buf, len, off, 0);
	r->ack_ns = sd_now_ns();
	if (r->err)
		note_error(w, "racy pwrite", r->err, off, len);
	w->nr_racy++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *buf = it_alloc(256 * 1024);
	uint64_t seq;

	pthread_barrier_wait(&start_line);
	for (seq = 1; seq <= OPS_PER_THREAD; seq++) {
		uint64_t k = rnd_below(w, 4);

		if (k < 2)
			private_op(w, buf, seq);
		else if (k == 2)
			locked_op(w, buf, seq);
		else
			racy_op(w, buf, seq);
	}
	free(buf);
	return NULL;
}

/* exact regions: [off, off+len) against the shadow */
/* per racy block, the writes that covered it */
struct blk_writes {
	struct racy_write **w;
	int n, cap;
};

static struct blk_writes *racy_index(void)
{
	struct blk_writes *bw = it_alloc(RACY_BLOCKS * sizeof(*bw));
	int t, i;
	uint32_t b;

	for (t = 0; t < NR_THREADS; t++)
		for (i = 0; i < workers[t].nr_racy; i++) {
			struct racy_write *r = &workers[t].racy[i];

			for (b = r->first; b < r->first + r->nr; b++)
				IT_PUSH(bw[b].w, bw[b].n, bw[b].cap, r);
		}
	return bw;
}

static void racy_index_free(struct blk_writes *bw)
{
	uint32_t b;

	for (b = 0; b < RACY_BLOCKS; b++)
		free(bw[b].w);
	free(bw);
}

/* check the racy region; returns the number of bad blocks */
static int check_racy(struct sd_vdi *v, struct blk_writes *bw, char *why,
		      size_t wl, uint8_t **content)
{
	uint8_t *buf = it_alloc(RACY_LEN);
	uint64_t b;
	int bad = 0, ret, i;

	ret = sd_vdi_pread(v, buf, RACY_LEN, RACY_OFF);
	if (ret) {
		snprintf(why, wl, "pread racy region = %d: %s", ret,
			 sd_get_error());
		free(buf);
		return 1;
	}
	for (b = 0; b < RACY_BLOCKS; b++) {
		uint64_t off = RACY_OFF + b * IT_BLOCK;
		uint64_t s = it_stamp_of(buf + b * IT_BLOCK, off);
		struct racy_write *found = NULL;
		const char *err = NULL;

		if (!bw[b].n) {
			if (s != 0)
				err = "never written but not zeros";
		} else if (s == UINT64_MAX || s == 0) {
			bool all_failed = true;

			for (i = 0; i < bw[b].n; i++)
				if (!bw[b].w[i]->err)
					all_failed = false;
			if (s)
				err = "holds no well-formed stamp";
			else if (!all_failed)
				err = "holds zeros but was written";
		} else {
			for (i = 0; i < bw[b].n; i++)
				if (bw[b].w[i]->stamp == s)
					found = bw[b].w[i];
			if (!found)
				err = "holds a stamp of a write to another "
				      "block";
			for (i = 0; found && i < bw[b].n; i++) {
				struct racy_write *o = bw[b].w[i];

				if (o != found && !o->err &&
				    o->submit_ns > found->ack_ns)
					err = "holds a write that a later "
					      "acknowledged write superseded";
			}
		}
		if (err && !bad++)
			snprintf(why, wl, "block at %" PRIu64 " (stamp %#" PRIx64
				 ", %d writes to it): %s", off, s, bw[b].n,
				 err);
	}
	if (content)
		*content = buf;
	else
		free(buf);
	return bad;
}

static void verify_all(struct sd_vdi *v, struct blk_writes *bw,
		       const char *when, uint8_t **racy_content)
{
	char why[300] = "", name[160];
	int t, bad = 0, nbad;

	for (t = 0; t < NR_THREADS && !bad; t++)
		if (it_read_compare(v, shadow, PRIV_OFF + t * PRIV_LEN,
				    PRIV_LEN, why, sizeof(why)))
			bad = t + 1;
	snprintf(name, sizeof(name), "concurrent: %s private regions exact",
		 when);
	CHECK(!bad, name, "thread %d: %s", bad - 1, why);

	snprintf(name, sizeof(name), "concurrent: %s locked region exact",
		 when);
	CHECK(it_read_compare(v, shadow, LOCK_OFF, LOCK_LEN, why,
			      sizeof(why)) == 0, name, "%s", why);

	nbad = check_racy(v, bw, why, sizeof(why), racy_content);
	snprintf(name, sizeof(name), "concurrent: %s racy region consistent",
		 when);
	CHECK(nbad == 0, name, "%d bad blocks; first: %s", nbad, why);

	snprintf(name, sizeof(name), "concurrent: %s gaps between regions "
		 "read zeros", when);
	CHECK(it_read_compare(v, shadow, 0, PRIV_OFF, why, sizeof(why)) == 0 &&
	      it_read_compare(v, shadow, PRIV_OFF + NR_THREADS * PRIV_LEN,
			      LOCK_OFF - PRIV_OFF - NR_THREADS * PRIV_LEN, why,
			      sizeof(why)) == 0 &&
	      it_read_compare(v, shadow, LOCK_OFF + LOCK_LEN,
			      RACY_OFF - LOCK_OFF - LOCK_LEN, why,
			      sizeof(why)) == 0 &&
	      it_read_compare(v, shadow, RACY_OFF + RACY_LEN,
			      VDI_SIZE - RACY_OFF - RACY_LEN, why,
			      sizeof(why)) == 0, name, "%s", why);
}

int main(int argc, char **argv)
{
	struct blk_writes *bw;
	struct sd_client *c, *c2;
	struct sd_vdi *v2 = NULL;
	uint8_t *racy1 = NULL, *racy2 = NULL;
	const char *seed_str = getenv("CONCURRENT_SEED");
	uint64_t seed, b;
	int t, ret, errors = 0, readbad = 0, nracy = 0;
	char why[300] = "";

	it_usage(argc >= 3, argv[0], "ADDR VDI [SEED]");
	if (argc > 3)
		seed_str = argv[3];
	seed = seed_str && seed_str[0] ? strtoull(seed_str, NULL, 0) :
		(uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	printf("# concurrent_writes seed %" PRIu64 "\n", seed);

	c = it_client(argv[1], 4, 15000);
	vdi = it_create_open(c, argv[2], VDI_SIZE, 0, SD_LOCK_NORMAL,
			     "concurrent", NULL);
	S = sd_vdi_object_size(vdi);
	shadow = it_alloc(VDI_SIZE);
	blk_locks = it_alloc(LOCK_BLOCKS * sizeof(*blk_locks));
	for (b = 0; b < LOCK_BLOCKS; b++)
		pthread_mutex_init(&blk_locks[b], NULL);
	pthread_barrier_init(&start_line, NULL, NR_THREADS);

	for (t = 0; t < NR_THREADS; t++) {
		workers[t].id = t;
		workers[t].rng = it_mix64(seed + t) | 1;
		workers[t].racy = it_alloc(OPS_PER_THREAD *
					   sizeof(struct racy_write));
		if (pthread_create(&workers[t].th, NULL, worker_main,
				   &workers[t]))
			it_die("concurrent: threads", "pthread_create failed");
	}
	for (t = 0; t < NR_THREADS; t++) {
		pthread_join(workers[t].th, NULL);
		if (workers[t].errors && !errors)
			snprintf(why, sizeof(why), "thread %d: %s", t,
				 workers[t].first_error);
		errors += workers[t].errors;
		if (workers[t].private_read_bad && !readbad)
			printf("# %s\n", workers[t].read_why);
		readbad += workers[t].private_read_bad;
		nracy += workers[t].nr_racy;
	}
	printf("# %d racy writes\n", nracy);
	CHECK(errors == 0, "concurrent: every I/O of 16 threads succeeded",
	      "%d errors; first: %s", errors, why);
	CHECK(readbad == 0, "concurrent: reads during the load see the "
	      "thread's own writes", "%d bad reads", readbad);

	bw = racy_index();
	{
		/* how many blocks saw writes overlapping in time (info) */
		uint64_t contended = 0;
		int i, j;

		for (b = 0; b < RACY_BLOCKS; b++)
			for (i = 0; i < bw[b].n; i++)
				for (j = i + 1; j < bw[b].n; j++)
					if (bw[b].w[i]->submit_ns <
					    bw[b].w[j]->ack_ns &&
					    bw[b].w[j]->submit_ns <
					    bw[b].w[i]->ack_ns) {
						contended++;
						i = j = bw[b].n;
					}
		printf("# %" PRIu64 " racy blocks had writes overlapping in "
		       "time\n", contended);
	}
	verify_all(vdi, bw, "after join:", &racy1);
	sd_vdi_close(vdi);

	/* a new client and handle must read the same data */
	c2 = it_client(argv[1], 1, 15000);
	ret = it_open(c2, argv[2], NULL, 0, SD_LOCK_NORMAL, &v2);
	CHECK(ret == 0, "concurrent: reopen with a new client", "= %d: %s",
	      ret, sd_get_error());
	if (!ret) {
		verify_all(v2, bw, "after reopen:", &racy2);
		CHECK(racy1 && racy2 && !memcmp(racy1, racy2, RACY_LEN),
		      "concurrent: racy region identical after reopen",
		      "content changed between handles");
		sd_vdi_close(v2);
	}
	free(racy1);
	free(racy2);
	racy_index_free(bw);
	sd_client_free(c2);
	sd_client_free(c);
	return t_exit();
}
