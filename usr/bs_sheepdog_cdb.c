// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bs_sheepdog_cdb.c - SCSI helpers of the sheepdog backing store: LBA and
 * block-count decoding of the read/write-class CDBs, the FUA decision, the
 * UNMAP parameter-list parser and the table that turns a library errno into
 * sense key + ASC/ASCQ.  Pure functions: nothing here touches tgtd state
 * except find_mode_page (test/unit/test_bs_sheepdog_cdb.c tests them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "bs_sheepdog.h"

/* CDB size from the opcode's group code */
static unsigned int cdb_group_len(uint8_t op)
{
	switch (op >> 5) {
	case 0:
		return 6;
	case 1:
	case 2:
		return 10;
	case 4:
		return 16;
	case 5:
		return 12;
	default:
		return 0;
	}
}

uint64_t bs_sd_cdb_lba(const uint8_t *cdb)
{
	switch (cdb_group_len(cdb[0])) {
	case 6:
		return (uint64_t)(cdb[1] & TGT_CDB6_LBA_MASK) << 16 |
		       cdb[2] << 8 | cdb[3];
	case 10:
	case 12:
		return tgt_get_be32(cdb + 2);
	case 16:
		return tgt_get_be64(cdb + 2);
	}
	return 0;
}

uint32_t bs_sd_cdb_blocks(const uint8_t *cdb)
{
	switch (cdb_group_len(cdb[0])) {
	case 6:
		return cdb[4] ? cdb[4] : 256;
	case 10:
		return tgt_get_be16(cdb + 7);
	case 12:
		return tgt_get_be32(cdb + 6);
	case 16:
		return tgt_get_be32(cdb + 10);
	}
	return 0;
}

/*
 * A write must be durable before completion when the CDB has FUA (not in
 * WRITE 6), when the initiator turned the write cache off (caching mode
 * page, WCE clear) or when the LU was created with --bsoflags sync.
 */
bool bs_sd_write_needs_fua(struct tgt_scsi_lu *lu, const uint8_t *cdb)
{
	struct tgt_mode_pg *pg;

	if (lu->bsoflags & O_SYNC)
		return true;
	if (cdb_group_len(cdb[0]) != 6 && (cdb[1] & TGT_CDB1_FUA))
		return true;
	pg = find_mode_page(lu, TGT_MODE_PG_CACHING, 0);
	if (pg && !(pg->data[0] & TGT_CACHING_WCE))
		return true;
	return false;
}

/*
 * Library errno -> sense.  Lost or slow sheep is a path problem: ABORTED
 * COMMAND / LOGICAL UNIT COMMUNICATION FAILURE, which Linux retries and
 * dm-multipath fails over on.  Full cluster and read-only VDI are DATA
 * PROTECT; everything else is a medium error of the direction concerned.
 */
void bs_sd_errno_to_sense(int err, enum bs_sd_dir dir, uint8_t *key,
			  uint16_t *asc)
{
	switch (-err) {
	case ETIMEDOUT:
	case ECONNRESET:
	case ECONNREFUSED:
	case ECONNABORTED:
	case ECANCELED:
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ENETUNREACH:
	case ENETDOWN:
	case ENOTCONN:
	case EPIPE:
	case ENOMEM:
	case EAGAIN:
		*key = TGT_SK_ABORTED_COMMAND;
		*asc = TGT_ASC_LU_COMM_FAILURE;
		break;
	case ENOSPC:
	case EDQUOT:
		*key = TGT_SK_DATA_PROTECT;
		*asc = TGT_ASC_SPACE_ALLOC_FAILED_WP;
		break;
	case EROFS:
	case EPERM:
	case EACCES:
		*key = TGT_SK_DATA_PROTECT;
		*asc = TGT_ASC_WRITE_PROTECT;
		break;
	case EINVAL:
	case ERANGE:
		*key = TGT_SK_ILLEGAL_REQUEST;
		*asc = TGT_ASC_LBA_OUT_OF_RANGE;
		break;
	default:
		*key = TGT_SK_MEDIUM_ERROR;
		*asc = dir == BS_SD_DIR_READ ? TGT_ASC_READ_ERROR :
					       TGT_ASC_WRITE_ERROR;
		break;
	}
}

bool bs_sd_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!len)
		return true;
	return p[0] == 0 && !memcmp(p, p + 1, len - 1);
}

/*
 * UNMAP parameter list: 8-byte header (data length be16, block descriptor
 * data length be16, 4 reserved) then 16-byte descriptors (LBA be64, block
 * count be32, 4 reserved).  Returns 0 with the byte ranges to discard
 * (possibly none; free *ranges), or -1 with the sense to report.
 */
int bs_sd_unmap_parse(const uint8_t *buf, uint32_t buflen,
		      uint64_t capacity, unsigned int blk_shift,
		      struct bs_sd_range **ranges, unsigned int *nr,
		      uint8_t *key, uint16_t *asc)
{
	struct bs_sd_range *r;
	uint32_t bd_len, i, n;

	*ranges = NULL;
	*nr = 0;
	if (buflen == 0)
		return 0;
	if (buflen < 8)
		goto param_len;
	bd_len = tgt_get_be16(buf + 2);
	if (bd_len > buflen - 8)
		bd_len = buflen - 8;
	n = bd_len / 16;
	if (!n)
		return 0;
	r = calloc(n, sizeof(*r));
	if (!r) {
		*key = TGT_SK_ABORTED_COMMAND;
		*asc = TGT_ASC_INTERNAL_TARGET_FAILURE;
		return -1;
	}
	for (i = 0; i < n; i++) {
		const uint8_t *d = buf + 8 + 16 * i;
		uint64_t lba = tgt_get_be64(d);
		uint32_t count = tgt_get_be32(d + 8);

		if (!count)
			continue;	/* nothing to do, wherever it points */
		if (lba > capacity || count > capacity - lba) {
			if (is_debug)
				log_debug("bs_sheepdog: UNMAP descriptor %u: lba %llu count %u beyond %llu\n",
					  i, (unsigned long long)lba, count,
					  (unsigned long long)capacity);
			free(r);
			*key = TGT_SK_ILLEGAL_REQUEST;
			*asc = TGT_ASC_LBA_OUT_OF_RANGE;
			return -1;
		}
		r[*nr].off = lba << blk_shift;
		r[*nr].len = (uint64_t)count << blk_shift;
		(*nr)++;
	}
	*ranges = r;
	return 0;

param_len:
	*key = TGT_SK_ILLEGAL_REQUEST;
	*asc = TGT_ASC_PARAM_LIST_LENGTH;
	return -1;
}
