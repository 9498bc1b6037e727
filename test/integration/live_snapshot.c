// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * live_snapshot - snapshots of a VDI that is being written, and two
 * shared-lock (multipath) handles writing one VDI.
 * Usage: live_snapshot ADDR VDI, with IT_SHEEP_NODE2 naming a second node
 * of a locking minisheep for the shared part (skipped without it).
 *
 * snap: four writer threads keep writing stamped 512-byte blocks (each
 * thread owns every fourth 4 KiB stripe, so objects are shared between
 * threads and first writes allocate while others park) through one handle,
 * while the main thread takes three snapshots through a second client.
 * Every write records, on one global event counter, when it started and
 * when it was acknowledged; every snapshot when it started and returned.
 * Afterwards the working VDI, reopened fresh, holds every acknowledged
 * write, and each snapshot holds, per block, the last write acknowledged
 * before the snapshot started or a write that started before it returned.
 *
 * shared: two clients (through two sheep nodes, so each is one coherence
 * participant) open the VDI with SD_LOCK_SHARED; they first write disjoint
 * objects concurrently, then take turns writing overlapping ranges
 * (including first writes of objects the other handle never saw).  Reads
 * through each handle of what the other wrote must return that data, and
 * a fresh handle must see the whole model with every written object
 * allocated (no index entry lost).
 */
/* itest: --lock node2 */

#include <inttypes.h>
#include <pthread.h>

#include "itest.h"

#define NTHREADS	4
#define STRIPE		4096
#define MAX_WRITES	200000

static uint64_t events;

static uint64_t ev_next(void)
{
	return __atomic_add_fetch(&events, 1, __ATOMIC_SEQ_CST);
}

struct wrec {
	uint64_t off, len, stamp, ev_start, ev_ack;
};

struct writer {
	struct sd_vdi *v;
	int id;
	uint64_t size;
	uint64_t rng;
	struct wrec *recs;
	size_t n;
	int err;
	char why[256];
};

static volatile int stop_writers;

static uint64_t rnd(uint64_t *s)
{
	*s = it_mix64(*s);
	return *s;
}

/* a write of 1..8 blocks inside one of the thread's stripes */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t nstripes = w->size / STRIPE;
	uint8_t buf[STRIPE];
	int ret;

	while (!__atomic_load_n(&stop_writers, __ATOMIC_SEQ_CST) &&
	       w->n < MAX_WRITES) {
		uint64_t st = rnd(&w->rng) % (nstripes / NTHREADS) * NTHREADS +
			      (uint64_t)w->id;
		uint64_t nb = 1 + rnd(&w->rng) % 8;
		uint64_t first = rnd(&w->rng) % (STRIPE / IT_BLOCK - nb + 1);
		struct wrec *r = &w->recs[w->n];

		r->off = st * STRIPE + first * IT_BLOCK;
		r->len = nb * IT_BLOCK;
		r->stamp = ((uint64_t)(w->id + 1) << 32) | (w->n + 1);
		it_stamp_fill(buf, r->len, r->off, r->stamp);
		r->ev_start = ev_next();
		ret = sd_vdi_pwrite(w->v, buf, r->len, r->off, 0);
		r->ev_ack = ev_next();
		if (ret) {
			w->err = ret;
			snprintf(w->why, sizeof(w->why),
				 "pwrite(%" PRIu64 ", %" PRIu64 ") = %d: %s",
				 r->off, r->len, ret, sd_get_error());
			break;
		}
		w->n++;
	}
	return NULL;
}

/* per block: the writes to it, in order (one thread owns a block) */
struct blk {
	struct wrec **w;
	uint32_t n, cap;
};

static struct blk *index_blocks(struct writer *ws, int nw, uint64_t size)
{
	struct blk *b = it_alloc(size / IT_BLOCK * sizeof(*b));
	int t;
	size_t k;

	for (t = 0; t < nw; t++)
		for (k = 0; k < ws[t].n; k++) {
			struct wrec *r = &ws[t].recs[k];
			uint64_t i;

			for (i = r->off / IT_BLOCK;
			     i < (r->off + r->len) / IT_BLOCK; i++)
				IT_PUSH(b[i].w, b[i].n, b[i].cap, r);
		}
	return b;
}

static void free_blocks(struct blk *b, uint64_t size)
{
	uint64_t i;

	for (i = 0; i < size / IT_BLOCK; i++)
		free(b[i].w);
	free(b);
}

/*
 * Does block @i holding @stamp fit a snapshot taken between events
 * @s_start and @s_end?  (s_start 0 = the final state: last write.)
 */
static bool block_ok(const struct blk *x, uint64_t stamp, uint64_t s_start,
		     uint64_t s_end)
{
	int64_t m = -1;
	uint32_t j;

	if (!s_start)
		return stamp == (x->n ? x->w[x->n - 1]->stamp : 0);
	for (j = 0; j < x->n; j++)
		if (x->w[j]->ev_ack < s_start)
			m = j;
	if (stamp == (m >= 0 ? x->w[m]->stamp : 0))
		return true;
	for (j = (uint32_t)(m + 1); j < x->n; j++)
		if (x->w[j]->ev_start < s_end && x->w[j]->stamp == stamp)
			return true;
	return false;
}

static void check_image(const char *name, struct sd_vdi *v,
			const struct blk *b, uint64_t size, uint64_t s_start,
			uint64_t s_end)
{
	const uint64_t chunk = 4 * IT_MIB;
	uint8_t *buf = it_alloc(chunk);
	uint64_t off, i, bad = 0, first_bad = 0, got = 0;
	int ret = 0;

	for (off = 0; off < size && !ret; off += chunk) {
		ret = sd_vdi_pread(v, buf, chunk, off);
		for (i = 0; !ret && i < chunk / IT_BLOCK; i++) {
			uint64_t o = off + i * IT_BLOCK;
			uint64_t s = it_stamp_of(buf + i * IT_BLOCK, o);

			if (s == UINT64_MAX ||
			    !block_ok(&b[o / IT_BLOCK], s, s_start, s_end)) {
				if (!bad++) {
					first_bad = o;
					got = s;
				}
			}
		}
	}
	CHECK(!ret && !bad, name, "read %d (%s); %" PRIu64 " bad blocks, first "
	      "at %" PRIu64 " holds stamp %#" PRIx64, ret,
	      ret ? sd_get_error() : "ok", bad, first_bad, got);
	free(buf);
}

static int run_snap(const char *addr, const char *name)
{
	struct sd_client *c = it_client(addr, 2, 20000);
	struct sd_client *adm = it_client(addr, 1, 20000);
	uint64_t size = 64 * IT_MIB, s_start[3], s_end[3];
	struct writer ws[NTHREADS];
	pthread_t th[NTHREADS];
	struct sd_vdi *v = NULL, *r;
	uint32_t vid = 0, svid[3], last_vid;
	struct blk *b;
	int ret, t, k;
	char tag[32];

	ret = sd_vdi_create(adm, name, size, 20, &vid);
	if (ret)
		it_die("live snapshot: create", "%d %s", ret, sd_get_error());
	ret = it_open(c, name, NULL, 0, SD_LOCK_NORMAL, &v);
	if (ret)
		it_die("live snapshot: open", "%d %s", ret, sd_get_error());
	for (t = 0; t < NTHREADS; t++) {
		memset(&ws[t], 0, sizeof(ws[t]));
		ws[t].v = v;
		ws[t].id = t;
		ws[t].size = size;
		ws[t].rng = 1000 + (uint64_t)t;
		ws[t].recs = it_alloc(MAX_WRITES * sizeof(struct wrec));
		pthread_create(&th[t], NULL, writer_main, &ws[t]);
	}
	for (k = 0; k < 3; k++) {
		usleep(150000);
		snprintf(tag, sizeof(tag), "live%d", k + 1);
		s_start[k] = ev_next();
		ret = sd_vdi_snapshot(adm, name, tag, &svid[k]);
		s_end[k] = ev_next();
		CHECK(ret == 0, "live snapshot: snapshot while writing",
		      "%s: %d %s", tag, ret, sd_get_error());
		if (ret)
			break;
	}
	usleep(150000);
	__atomic_store_n(&stop_writers, 1, __ATOMIC_SEQ_CST);
	for (t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		CHECK(!ws[t].err, "live snapshot: writer saw no error",
		      "thread %d: %s", t, ws[t].why);
		printf("# writer %d: %zu writes\n", t, ws[t].n);
	}
	last_vid = sd_vdi_vid(v);
	sd_vdi_close(v);

	b = index_blocks(ws, NTHREADS, size);
	ret = it_open(adm, name, NULL, 0, SD_LOCK_NONE, &r);
	CHECK(ret == 0, "live snapshot: reopen working VDI", "%d %s", ret,
	      sd_get_error());
	if (!ret) {
		CHECK(last_vid == sd_vdi_vid(r) && last_vid != vid,
		      "live snapshot: handle followed the working VDI",
		      "handle ended on vid %#x, working VDI is %#x (created "
		      "%#x)", last_vid, sd_vdi_vid(r), vid);
		check_image("live snapshot: working VDI holds every "
			    "acknowledged write", r, b, size, 0, 0);
		sd_vdi_close(r);
	}
	for (k = 0; k < 3; k++) {
		char check[96];

		snprintf(tag, sizeof(tag), "live%d", k + 1);
		ret = it_open(adm, name, tag, 0, SD_LOCK_NONE, &r);
		CHECK(ret == 0 && sd_vdi_vid(r) == svid[k],
		      "live snapshot: open snapshot", "%s: %d %s", tag, ret,
		      sd_get_error());
		if (ret)
			continue;
		snprintf(check, sizeof(check), "live snapshot: %s holds what "
			 "was acknowledged before it", tag);
		check_image(check, r, b, size, s_start[k], s_end[k]);
		sd_vdi_close(r);
	}
	for (k = 3; k > 0; k--) {
		snprintf(tag, sizeof(tag), "live%d", k);
		sd_vdi_delete(adm, name, tag, 0);
	}
	/* deleting the snapshots must not take objects the VDI still uses */
	ret = it_open(adm, name, NULL, 0, SD_LOCK_NONE, &r);
	CHECK(ret == 0, "live snapshot: reopen after deleting the snapshots",
	      "%d %s", ret, sd_get_error());
	if (!ret) {
		check_image("live snapshot: working VDI intact after its "
			    "snapshots are deleted", r, b, size, 0, 0);
		sd_vdi_close(r);
	}
	sd_vdi_delete(adm, name, NULL, 0);
	free_blocks(b, size);
	for (t = 0; t < NTHREADS; t++)
		free(ws[t].recs);
	sd_client_free(c);
	sd_client_free(adm);
	return t_exit();
}

/* ---- shared: two multipath handles ----------------------------------- */

#define SH_OBJ		IT_MIB		/* block_size_shift 20 */
#define SH_SIZE		(32 * SH_OBJ)

struct shw {
	struct sd_vdi *v;
	uint64_t first_obj, nobj, rng, stamp_base;
	uint64_t *model;		/* stamp per block (shared array) */
	int n, err;
	char why[256];
};

static int sh_write(struct sd_vdi *v, uint64_t *model, uint64_t off,
		    uint64_t len, uint64_t stamp, char *why, size_t wl)
{
	uint8_t *buf = it_alloc(len);
	uint64_t i;
	int ret;

	it_stamp_fill(buf, len, off, stamp);
	ret = sd_vdi_pwrite(v, buf, len, off, 0);
	free(buf);
	if (ret) {
		snprintf(why, wl, "pwrite(%" PRIu64 ", %" PRIu64 ") = %d: %s",
			 off, len, ret, sd_get_error());
		return ret;
	}
	for (i = off / IT_BLOCK; i < (off + len) / IT_BLOCK; i++)
		model[i] = stamp;
	return 0;
}

static void *shw_main(void *arg)
{
	struct shw *w = arg;
	int k;

	for (k = 0; k < w->n && !w->err; k++) {
		uint64_t obj = w->first_obj + rnd(&w->rng) % w->nobj;
		uint64_t nb = 1 + rnd(&w->rng) % 16;
		uint64_t blk = rnd(&w->rng) % (SH_OBJ / IT_BLOCK - nb + 1);

		w->err = sh_write(w->v, w->model, obj * SH_OBJ + blk * IT_BLOCK,
				  nb * IT_BLOCK, w->stamp_base + (uint64_t)k + 1,
				  w->why, sizeof(w->why));
	}
	return NULL;
}

/* compare [off, off+len) read through @v with the model; 0 when equal */
static int sh_compare(struct sd_vdi *v, const uint64_t *model, uint64_t off,
		      uint64_t len, char *why, size_t wl)
{
	uint8_t *buf = it_alloc(len);
	uint64_t i;
	int ret;

	ret = sd_vdi_pread(v, buf, len, off);
	if (ret) {
		snprintf(why, wl, "pread = %d: %s", ret, sd_get_error());
		free(buf);
		return ret;
	}
	for (i = 0; i < len / IT_BLOCK; i++) {
		uint64_t o = off + i * IT_BLOCK;
		uint64_t s = it_stamp_of(buf + i * IT_BLOCK, o);

		if (s != model[o / IT_BLOCK]) {
			snprintf(why, wl, "block at %" PRIu64 " holds %#" PRIx64
				 ", expected %#" PRIx64 "%s", o, s,
				 model[o / IT_BLOCK],
				 s == 0 ? " (zeros: stale index?)" : "");
			free(buf);
			return -1;
		}
	}
	free(buf);
	return 0;
}

static int run_shared(const char *addr, const char *addr2, const char *name)
{
	struct sd_client *ca = it_client(addr, 1, 20000);
	struct sd_client *cb = it_client(addr2, 1, 20000);
	uint64_t *model = it_alloc(SH_SIZE / IT_BLOCK * sizeof(*model));
	struct sd_vdi *va = NULL, *vb = NULL, *vf = NULL;
	struct shw wa, wb;
	pthread_t ta, tb;
	char why[256] = "";
	uint64_t rng = 77, o, lost = 0;
	uint32_t vid = 0;
	int ret, k;

	ret = sd_vdi_create(ca, name, SH_SIZE, 20, &vid);
	if (ret)
		it_die("shared: create", "%d %s", ret, sd_get_error());
	ret = it_open(ca, name, NULL, 0, SD_LOCK_SHARED, &va);
	if (!ret)
		ret = it_open(cb, name, NULL, 0, SD_LOCK_SHARED, &vb);
	if (ret)
		it_die("shared: open both handles", "%d %s", ret,
		       sd_get_error());
	CHECK(sd_vdi_vid(va) == sd_vdi_vid(vb), "shared: two SD_LOCK_SHARED "
	      "handles on one VDI", "vids %#x %#x", sd_vdi_vid(va),
	      sd_vdi_vid(vb));

	/* 1: concurrent writes to disjoint objects (A: 0-7, B: 8-15) */
	memset(&wa, 0, sizeof(wa));
	memset(&wb, 0, sizeof(wb));
	wa = (struct shw){ .v = va, .first_obj = 0, .nobj = 8, .rng = 1,
			   .stamp_base = UINT64_C(1) << 32, .model = model,
			   .n = 150 };
	wb = (struct shw){ .v = vb, .first_obj = 8, .nobj = 8, .rng = 2,
			   .stamp_base = UINT64_C(2) << 32, .model = model,
			   .n = 150 };
	pthread_create(&ta, NULL, shw_main, &wa);
	pthread_create(&tb, NULL, shw_main, &wb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(!wa.err && !wb.err, "shared: concurrent disjoint writes "
	      "(first writes on both handles)", "A: %s B: %s", wa.why, wb.why);

	/* 1b: A allocates objects 24-27; B reads them at once (B's index
	 * still has holes there: the hole re-check must find them) */
	ret = 0;
	for (k = 0; k < 4 && !ret; k++)
		ret = sh_write(va, model, (24 + (uint64_t)k) * SH_OBJ + 4096,
			       8192, (UINT64_C(4) << 32) + (uint64_t)k + 1, why,
			       sizeof(why));
	if (!ret)
		ret = sh_compare(vb, model, 24 * SH_OBJ, 4 * SH_OBJ, why,
				 sizeof(why));
	CHECK(!ret, "shared: B reads objects A just allocated (not zeros)",
	      "%s", why);

	/* 2: the handles take turns on overlapping ranges of objects 16-31 */
	ret = 0;
	for (k = 0; k < 120 && !ret; k++) {
		uint64_t off = 16 * SH_OBJ +
			       rnd(&rng) % (16 * SH_OBJ / IT_BLOCK - 64) *
			       IT_BLOCK;
		uint64_t len = (1 + rnd(&rng) % 48) * IT_BLOCK;

		ret = sh_write(k & 1 ? vb : va, model, off, len,
			       (UINT64_C(3) << 32) + (uint64_t)k + 1, why,
			       sizeof(why));
	}
	CHECK(!ret, "shared: alternating overlapping writes", "%s", why);

	/* 3: each handle reads what the other wrote */
	ret = sh_compare(vb, model, 0, 8 * SH_OBJ, why, sizeof(why));
	CHECK(!ret, "shared: B reads A's objects (not zeros)", "%s", why);
	ret = sh_compare(va, model, 8 * SH_OBJ, 8 * SH_OBJ, why, sizeof(why));
	CHECK(!ret, "shared: A reads B's objects (not zeros)", "%s", why);
	ret = sh_compare(va, model, 16 * SH_OBJ, 16 * SH_OBJ, why, sizeof(why));
	if (!ret)
		ret = sh_compare(vb, model, 16 * SH_OBJ, 16 * SH_OBJ, why,
				 sizeof(why));
	CHECK(!ret, "shared: both handles read the overlapping model", "%s",
	      why);
	sd_vdi_close(va);
	sd_vdi_close(vb);

	/* 4: a fresh handle: the image and every index entry */
	ret = it_open(ca, name, NULL, 0, SD_LOCK_NONE, &vf);
	CHECK(ret == 0, "shared: reopen", "%d %s", ret, sd_get_error());
	if (!ret) {
		ret = sh_compare(vf, model, 0, SH_SIZE, why, sizeof(why));
		CHECK(!ret, "shared: reopened image matches the model", "%s",
		      why);
		for (o = 0; o < SH_SIZE; o += SH_OBJ) {
			uint64_t run = 0, i;
			bool alloc = false, written = false;

			for (i = o / IT_BLOCK; i < (o + SH_OBJ) / IT_BLOCK; i++)
				written |= model[i] != 0;
			sd_vdi_block_status(vf, o, SH_OBJ, &run, &alloc);
			if (written && !alloc)
				lost++;
		}
		CHECK(!lost, "shared: no index entry lost", "%" PRIu64
		      " written objects unallocated", lost);
		sd_vdi_close(vf);
	}
	sd_vdi_delete(ca, name, NULL, 0);
	sd_client_free(ca);
	sd_client_free(cb);
	free(model);
	return t_exit();
}

int main(int argc, char **argv)
{
	const char *node2 = getenv("IT_SHEEP_NODE2");
	char name[300];
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	it_usage(argc >= 3, argv[0], "ADDR VDI (IT_SHEEP_NODE2: ADDR2)");
	ret = run_snap(argv[1], argv[2]);
	/* two shared handles need two sheep nodes with locking on */
	if (node2 && node2[0]) {
		snprintf(name, sizeof(name), "%s-shared", argv[2]);
		ret = run_shared(argv[1], node2, name) || ret;
	} else {
		t_skip("shared handles",
		       "needs minisheep's second node (SHEEP_ADDR set)");
	}
	return ret;
}
