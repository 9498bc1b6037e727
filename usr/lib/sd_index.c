// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_index.c - the allocation runs of a VDI's index (block status): pure
 * functions over a host-order index, see sd_index.h.
 */
#include "sd_index.h"

uint64_t sd_index_run(const uint32_t *index, uint32_t nr_objs,
		      unsigned int shift, uint64_t size, uint64_t off,
		      uint64_t len, bool *allocated)
{
	uint64_t end = off + len, pos;
	uint64_t i = off >> shift;
	bool state;

	if (end > size || end < off)
		end = size;
	if (off >= end || i >= nr_objs) {
		*allocated = false;
		return 0;
	}
	state = index[i] != 0;
	pos = (i + 1) << shift;
	while (pos < end) {
		i = pos >> shift;
		if (i >= nr_objs || (index[i] != 0) != state)
			break;
		pos += UINT64_C(1) << shift;
	}
	*allocated = state;
	return (pos < end ? pos : end) - off;
}
