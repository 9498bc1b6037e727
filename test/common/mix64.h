/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mix64.h - a 64-bit integer mixer (every input bit moves every output bit
 * about half the time), for the test programs that derive data or a
 * placement from a number: the verified load's stamps (test/tools) and
 * minisheep's object placement.  Changing it moves minisheep's objects
 * between nodes and changes every stamp: keep it as it is.
 */
#ifndef TEST_MIX64_H
#define TEST_MIX64_H

#include <stdint.h>

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

#endif
