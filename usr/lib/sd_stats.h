/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_stats.h - what the connection layer shares with usr/lib/sd_stats.c:
 * the relaxed atomic counters (sd_stat_add(), sd_stat_get()) and the slot
 * of sd_client_stats.results a sheep result code is counted in.
 */
#ifndef SD_STATS_H
#define SD_STATS_H

#include <stdint.h>

#include "sheepdog.h"

static inline void sd_stat_add(uint64_t *ctr, uint64_t n)
{
	__atomic_add_fetch(ctr, n, __ATOMIC_RELAXED);
}

static inline uint64_t sd_stat_get(const uint64_t *ctr)
{
	return __atomic_load_n(ctr, __ATOMIC_RELAXED);
}

static inline unsigned int sd_stats_result_index(uint32_t result)
{
	if (result < 0x20)
		return result;
	if (result >= 0x80 && result < 0xa0)
		return 0x20 + (result - 0x80);
	return SD_CLIENT_NR_RESULTS - 1;
}

#endif
