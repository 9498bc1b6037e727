/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_claim.h - allocation claims: the cluster-wide mutual exclusion that
 * lets several gateways allocate objects of one VDI (shared-lock mode,
 * multipath) without losing data.
 *
 * Why: sheep 1.0 has no create-exclusive for data objects.  A second
 * CREATE_AND_WRITE_OBJ of an object replaces it, and one that overlaps the
 * first answers SUCCESS without writing (sheep/store/plain_store.c
 * default_create_and_write(): tmp file opened O_CREAT|O_EXCL, EEXIST taken
 * as success, then rename()).  And an index update writes what it is given
 * (sheep/gateway.c gateway_write_obj()).  Two gateways that both first-write
 * object i therefore lose one's data, and the shared-lock coherence
 * protocol (INODE_INVALIDATED) cannot close the window between a create and
 * its index update; without `dog cluster format -l` it does not exist.
 *
 * The one test-and-set sheep 1.0 runs cluster-wide is GET_VDI_ATTR with
 * SD_FLAG_CMD_CREAT|SD_FLAG_CMD_EXCL: a cluster operation with a
 * process_work step (sheep/ops.c cluster_get_vdi_attr()), which sheep runs
 * while the whole cluster's event queue is blocked (sheep/group.c
 * queue_cluster_request() and sd_block_handler(); sheep/cluster/local.c
 * local_process_event() holds every node on the EVENT_BLOCK), and whose
 * get_vdi_attr() (sheep/vdi.c) answers VDI_EXIST when the key exists.
 *
 * A claim on object @idx of vid @vid is the attribute
 * "bs_sheepdog.claim.<vid>.<idx>" of the VDI's name, created with
 * CREAT|EXCL.  Its value names the holder (host, boot id, pid, a nonce).
 * Only a claim stored in its home slot (sd_attr_home()) counts: one that
 * landed on a later probe slot (a 32-bit hash collision with a live
 * attribute) is removed again and retried, so that removing a claim never
 * breaks another claim's probe chain.  The holder reads the object's index
 * entry from the server after winning (another gateway may have allocated
 * it meanwhile) and releases the claim with REMOVE_OBJ once its index
 * update is published.
 *
 * A loser waits: it polls the index entry (allocated: done) and retries the
 * claim with backoff until the call's deadline.  A claim whose holder died
 * is broken: after the same claim (same nonce) was seen for the lease
 * (3 x timeout), or for one timeout when its holder was a process of this
 * boot of this host that no longer runs.  Breaking takes the attribute
 * "bs_sheepdog.break.<nonce>" exclusively, checks that the stale claim is
 * still there, removes it and the break key.  A holder releases its claim
 * only while it is younger than 2 x timeout; an older one is left for the
 * breakers.  Residual risk: a REMOVE_OBJ or create that sheep executes more
 * than a timeout after its deadline.
 *
 * Everything is asynchronous on the client's loop; done() runs there.
 */
#ifndef SD_CLAIM_H
#define SD_CLAIM_H

#include <stdbool.h>
#include <stdint.h>

#include "sd_conn.h"

struct sd_claim;
struct sd_claim_book;

/*
 * done(cl, err): err 0: either the claim is held (sd_claim_held()) and
 * sd_claim_entry() is the object's index entry as the server had it after
 * the claim was taken, or it is not held and the entry is the claim's vid:
 * another party allocated the object under its own claim meanwhile.
 * err < 0: nothing is held (deadline, errors; message set).  Either way
 * the caller ends @cl with sd_claim_release().
 */
typedef void (*sd_claim_done_fn)(struct sd_claim *cl, int err);

struct sd_claim_args {
	struct sd_client *c;
	struct sd_claim_book *book;	/* the VDI's observations */
	const char *name;		/* VDI name; valid until done() */
	uint32_t vid;			/* working vid being allocated in */
	uint32_t idx;			/* object index */
	uint8_t copies;			/* the VDI's, for object requests */
	uint8_t copy_policy;
	uint64_t deadline_ns;
	sd_claim_done_fn done;
	void *priv;
};

bool sd_claim_held(const struct sd_claim *cl);
uint32_t sd_claim_entry(const struct sd_claim *cl);
void *sd_claim_priv(const struct sd_claim *cl);

/*
 * Start taking the claim.  0: done() will be called exactly once (never
 * from inside this call); -errno: nothing started, *out untouched.
 */
int sd_claim_acquire(const struct sd_claim_args *a, struct sd_claim **out);

/*
 * End a claim after done(): a held claim is removed in the background (or
 * left to expire when it is older than the release limit); then @cl is
 * freed.  Needs only the client to stay alive (sd_client_free() cancels).
 */
void sd_claim_release(struct sd_claim *cl);

/* The observations of busy claims of one VDI handle (for stale ones). */
struct sd_claim_book *sd_claim_book_new(void);
void sd_claim_book_free(struct sd_claim_book *b);

#endif
