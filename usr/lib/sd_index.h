/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_index.h - the pure index math of a VDI: a byte range split into
 * object pieces, and the allocation runs of an index (block status).
 * No I/O, no handle: unit-tested in test/unit/test_sd_index.c without any
 * stub.
 */
#ifndef SD_INDEX_H
#define SD_INDEX_H

#include <stdint.h>
#include <stdbool.h>

/* Number of objects covering @size bytes with objects of 1 << @shift. */
static inline uint64_t sd_objs_for_size(uint64_t size, unsigned int shift)
{
	return (size + (UINT64_C(1) << shift) - 1) >> shift;
}

/* One object-sized piece of a byte range. */
struct sd_span {
	uint32_t idx;		/* object index */
	uint32_t obj_off;	/* offset inside the object */
	uint32_t len;		/* bytes (<= object size) */
	uint64_t buf_off;	/* offset inside the caller's buffer */
};

/* Number of pieces [off, off+len) splits into (0 when len == 0). */
static inline uint32_t sd_span_count(uint64_t off, uint64_t len,
				     unsigned int shift)
{
	if (!len)
		return 0;
	return (uint32_t)(((off + len - 1) >> shift) - (off >> shift) + 1);
}

/* Piece @k (0-based, < sd_span_count()) of [off, off+len). */
static inline void sd_span_get(uint64_t off, uint64_t len, unsigned int shift,
			       uint32_t k, struct sd_span *s)
{
	uint64_t obj = UINT64_C(1) << shift;
	uint64_t first = off >> shift;
	uint64_t start, end;

	s->idx = (uint32_t)(first + k);
	start = k ? ((first + k) << shift) : off;
	end = ((first + k + 1) << shift);
	if (end > off + len)
		end = off + len;
	s->obj_off = (uint32_t)(start & (obj - 1));
	s->len = (uint32_t)(end - start);
	s->buf_off = start - off;
}

/* Is the piece a whole object? */
static inline bool sd_span_whole(const struct sd_span *s, unsigned int shift)
{
	return s->obj_off == 0 && (uint64_t)s->len == (UINT64_C(1) << shift);
}

/*
 * Allocation run starting at @off (< @size), at most @len bytes: extends
 * across object boundaries while neighbours have the same allocated state.
 * Never goes past @size.  Returns the run length, *allocated its state.
 */
uint64_t sd_index_run(const uint32_t *index, uint32_t nr_objs,
		      unsigned int shift, uint64_t size, uint64_t off,
		      uint64_t len, bool *allocated);

#endif
