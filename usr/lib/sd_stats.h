/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_stats.h - what the connection layer needs of usr/lib/sd_stats.c: the
 * slot of sd_client_stats.results a sheep result code is counted in.
 */
#ifndef SD_STATS_H
#define SD_STATS_H

#include <stdint.h>

#include "sheepdog.h"

static inline unsigned int sd_stats_result_index(uint32_t result)
{
	if (result < 0x20)
		return result;
	if (result >= 0x80 && result < 0xa0)
		return 0x20 + (result - 0x80);
	return SD_CLIENT_NR_RESULTS - 1;
}

#endif
