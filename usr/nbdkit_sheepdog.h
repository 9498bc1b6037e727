/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbdkit_sheepdog.h - what the files of the nbdkit plugin share: the
 * export's counters and status socket (nbdkit_sheepdog_status.c).
 */
#ifndef NBDKIT_SHEEPDOG_H
#define NBDKIT_SHEEPDOG_H

#include <stdint.h>

#include "sheepdog.h"

/* around each request: begin, then end with its kind, bytes and result */
uint64_t sdk_status_begin(void);
void sdk_status_end(enum sd_io_kind kind, uint64_t bytes, uint64_t start_ns,
		    int r);
/* .after_fork once the export is open, and .cleanup before it is closed */
void sdk_status_start(struct sd_vdi *v, const char *tag, uint32_t snapid);
void sdk_status_stop(void);

#endif
