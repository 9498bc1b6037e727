// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bs_sheepdog_resize.c - online growth of an LU whose VDI grew (dog vdi
 * resize, sdctl vdi resize, or a resize through another gateway).
 *
 * tgtd answers READ CAPACITY (10/16) itself from lu->size, and its range
 * check refuses I/O past lu->size before a command reaches the store, so
 * the module has to move lu->size.  The library keeps the VDI handle's
 * size current (sd_vdi_watch_size(): a poll every SD_SIZE_POLL_MS on the
 * client's loop, whichever thread runs it).  Here a tgt_work timer on
 * tgtd's main thread, the only thread that may touch tgtd's state, looks
 * at sd_vdi_size() every BS_SD_RESIZE_CHECK_S second; when it grew, it
 * sets lu->size and queues CAPACITY DATA HAS CHANGED (2A/09) once on
 * every I_T nexus of the LU, which makes Linux initiators rescan the
 * capacity.  Nothing crosses threads but an atomic read of the size.
 *
 * The new size shows in READ CAPACITY at most SD_SIZE_POLL_MS +
 * BS_SD_RESIZE_CHECK_S + tgtd's 500 ms timer tick (+ a round trip) after
 * the resize: within 5 seconds.  The size never shrinks (the library
 * ignores a smaller one).  Each LU of a VDI shared by several LUs moves
 * its own size and raises its own unit attention.
 */
#include "bs_sheepdog.h"

/* seconds between two looks at the VDI's size (tgt_work granularity) */
#define BS_SD_RESIZE_CHECK_S	1

static void resize_tick(void *data)
{
	struct bs_sd_lu *sl = data;
	struct tgt_scsi_lu *lu = sl->lu;
	uint64_t size = sd_vdi_size(sl->vdi);

	if (size > sl->size) {
		if (is_debug)
			log_debug("bs_sheepdog: LU %llu: VDI '%s' grew from %llu to %llu bytes\n",
				  (unsigned long long)lu->lun,
				  sd_vdi_name(sl->vdi),
				  (unsigned long long)sl->size,
				  (unsigned long long)size);
		/* the workers check UNMAP / WRITE SAME ranges against it */
		__atomic_store_n(&sl->size, size, __ATOMIC_RELAXED);
		lu->size = size;
		/*
		 * Once on every nexus: all but the one with id 0, then that
		 * one (if any).
		 */
		ua_sense_add_other_it_nexus(0, lu,
					    TGT_ASC_CAPACITY_DATA_CHANGED);
		ua_sense_add_it_nexus(0, lu, TGT_ASC_CAPACITY_DATA_CHANGED);
	}
	add_work(&sl->resize_work, BS_SD_RESIZE_CHECK_S);
}

void bs_sd_resize_start(struct bs_sd_lu *sl)
{
	struct tgt_work *w = &sl->resize_work;

	if (sl->readonly || w->func)
		return;		/* snapshots never grow; already running */
	if (sd_vdi_watch_size(sl->vdi)) {
		log_error("bs_sheepdog: LU %llu: cannot watch the size of VDI '%s' (%s); a resize will need the LU re-created\n",
			  (unsigned long long)sl->lu->lun, sd_vdi_name(sl->vdi),
			  sd_get_error());
		return;
	}
	/* not queued = self-linked, so that del_work() is always safe */
	w->entry.next = &w->entry;
	w->entry.prev = &w->entry;
	w->func = resize_tick;
	w->data = sl;
	add_work(w, BS_SD_RESIZE_CHECK_S);
}

void bs_sd_resize_stop(struct bs_sd_lu *sl)
{
	struct tgt_work *w = &sl->resize_work;

	if (!w->func)
		return;
	del_work(w);
	w->func = NULL;
}
