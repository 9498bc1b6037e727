/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tgt_abi.h - our own declaration of the part of tgtd's backing-store module
 * ABI that bs_sheepdog.so relies on (stock Debian 12 tgtd 1.0.85, x86_64;
 * the layouts are unchanged from tgt 1.0.47 to 1.0.97).  Only the fields the
 * module touches are named; everything else is opaque padding.  Every size
 * and offset used is pinned with _Static_assert against the values of
 * tgtd 1.0.85's own structs, so a layout mistake fails the build instead of
 * corrupting tgtd's memory.  Helpers that tgt keeps in its headers (ASYNC
 * bit, big-endian getters) are written here as our own inline functions.
 */
#ifndef TGT_ABI_H
#define TGT_ABI_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "tgt_abi.h describes the LP64 (x86_64) layout of tgt 1.0.85 only"
#endif

struct tgt_list_head {
	struct tgt_list_head *next;
	struct tgt_list_head *prev;
};

/* scsi data buffer: one direction of a command's payload */
struct tgt_sdb {
	uint64_t buffer;		/* a pointer stored as u64 */
	uint32_t length;
	uint32_t transfer_len;
	int32_t resid;
};

struct tgt_scsi_lu;

/* struct scsi_cmd (480 bytes); allocated by the transport */
struct tgt_scsi_cmd {
	char core0[48];
	struct tgt_scsi_lu *dev;	/* @48 */
	unsigned long state;		/* @56: bit 2 = ASYNC */
	int data_dir;			/* @64 */
	struct tgt_sdb in_sdb;		/* @72 */
	struct tgt_sdb out_sdb;		/* @96 */
	uint64_t cmd_itn_id;		/* @120 */
	uint64_t offset;		/* @128: byte offset (rw/verify) */
	uint32_t tl;			/* @136: byte count, u32 */
	uint8_t *scb;			/* @144: the CDB */
	int scb_len;			/* @152 */
	char core1[176 - 156];
	int result;			/* @176: SAM status */
	char core2[192 - 180];
	uint8_t sense_buffer[252];	/* @192 */
	int sense_len;			/* @444 */
	struct tgt_list_head bs_list;	/* @448: free for the store */
	char core3[480 - 464];
};

_Static_assert(sizeof(struct tgt_list_head) == 16, "list_head size");
_Static_assert(sizeof(struct tgt_scsi_cmd) == 480, "scsi_cmd size");
_Static_assert(offsetof(struct tgt_scsi_cmd, dev) == 48, "scsi_cmd.dev");
_Static_assert(offsetof(struct tgt_scsi_cmd, state) == 56, "scsi_cmd.state");
_Static_assert(offsetof(struct tgt_scsi_cmd, data_dir) == 64,
	       "scsi_cmd.data_dir");
_Static_assert(offsetof(struct tgt_scsi_cmd, in_sdb) == 72, "scsi_cmd.in_sdb");
_Static_assert(offsetof(struct tgt_scsi_cmd, in_sdb.length) == 80,
	       "scsi_cmd.in_sdb.length");
_Static_assert(offsetof(struct tgt_scsi_cmd, out_sdb) == 96,
	       "scsi_cmd.out_sdb");
_Static_assert(offsetof(struct tgt_scsi_cmd, out_sdb.length) == 104,
	       "scsi_cmd.out_sdb.length");
_Static_assert(offsetof(struct tgt_scsi_cmd, offset) == 128,
	       "scsi_cmd.offset");
_Static_assert(offsetof(struct tgt_scsi_cmd, tl) == 136, "scsi_cmd.tl");
_Static_assert(offsetof(struct tgt_scsi_cmd, scb) == 144, "scsi_cmd.scb");
_Static_assert(offsetof(struct tgt_scsi_cmd, scb_len) == 152,
	       "scsi_cmd.scb_len");
_Static_assert(offsetof(struct tgt_scsi_cmd, result) == 176,
	       "scsi_cmd.result");
_Static_assert(offsetof(struct tgt_scsi_cmd, sense_buffer) == 192,
	       "scsi_cmd.sense_buffer");
_Static_assert(offsetof(struct tgt_scsi_cmd, sense_len) == 444,
	       "scsi_cmd.sense_len");
_Static_assert(offsetof(struct tgt_scsi_cmd, bs_list) == 448,
	       "scsi_cmd.bs_list");

/* struct vpd: one VPD page of an LU */
struct tgt_vpd {
	uint16_t size;
	void (*vpd_update)(struct tgt_scsi_lu *lu, void *arg);	/* @8 */
	uint8_t data[];						/* @16 */
};

_Static_assert(offsetof(struct tgt_vpd, vpd_update) == 8, "vpd.vpd_update");
_Static_assert(offsetof(struct tgt_vpd, data) == 16, "vpd.data");

/* struct mode_pg: one mode page of an LU */
struct tgt_mode_pg {
	struct tgt_list_head list;
	uint8_t pcode;			/* @16 */
	uint8_t subpcode;		/* @17 */
	int16_t pcode_size;		/* @18 */
	uint8_t data[];			/* @20 */
};

_Static_assert(offsetof(struct tgt_mode_pg, pcode) == 16, "mode_pg.pcode");
_Static_assert(offsetof(struct tgt_mode_pg, data) == 20, "mode_pg.data");

#define TGT_MODE_PG_CACHING	0x08
#define TGT_CACHING_WCE		0x04	/* byte 0 of the caching page data */

/* struct lu_phy_attr (1176 bytes), the LU's SCSI attributes */
struct tgt_lu_phy_attr {
	char core0[139];
	char readonly;			/* @139 (lu @6515) */
	char swp;			/* @140 */
	char thinprovisioning;		/* @141 (lu @6517) */
	char online;			/* @142 */
	char sense_format;		/* @143 */
	uint8_t lbppbe;			/* @144 */
	char no_auto_lbppbe;		/* @145 (lu @6521) */
	char core1[152 - 146];
	struct tgt_vpd *lu_vpd[128];	/* @152 (lu @6528) */
};

/*
 * struct target: its first fields only, read for status (tgt 1.0.85 and
 * 1.0.97 usr/tgtd.h: name, then tid); set before bs_init, main thread.
 */
struct tgt_target {
	char *name;			/* @0: the target name (IQN) */
	int tid;			/* @8 */
};
_Static_assert(offsetof(struct tgt_target, tid) == 8, "target.tid");

/* struct scsi_lu (7608 bytes); the store's private area follows it */
struct tgt_scsi_lu {
	int fd;				/* @0 */
	uint64_t addr;			/* @8 */
	uint64_t size;			/* @16: bytes */
	uint64_t lun;			/* @24 */
	char *path;			/* @32 */
	int bsoflags;			/* @40 */
	unsigned int blk_shift;		/* @44 */
	char core0[6344 - 48];
	struct tgt_target *tgt;		/* @6344: its target */
	char core0b[6376 - 6352];
	struct tgt_lu_phy_attr attrs;	/* @6376 */
	char core1[7608 - 7552];
};

_Static_assert(sizeof(struct tgt_lu_phy_attr) == 1176, "lu_phy_attr size");
_Static_assert(sizeof(struct tgt_scsi_lu) == 7608, "scsi_lu size");
_Static_assert(offsetof(struct tgt_scsi_lu, fd) == 0, "scsi_lu.fd");
_Static_assert(offsetof(struct tgt_scsi_lu, size) == 16, "scsi_lu.size");
_Static_assert(offsetof(struct tgt_scsi_lu, path) == 32, "scsi_lu.path");
_Static_assert(offsetof(struct tgt_scsi_lu, bsoflags) == 40,
	       "scsi_lu.bsoflags");
_Static_assert(offsetof(struct tgt_scsi_lu, blk_shift) == 44,
	       "scsi_lu.blk_shift");
_Static_assert(offsetof(struct tgt_scsi_lu, tgt) == 6344, "scsi_lu.tgt");
_Static_assert(offsetof(struct tgt_scsi_lu, attrs) == 6376, "scsi_lu.attrs");
_Static_assert(offsetof(struct tgt_scsi_lu, attrs.readonly) == 6515,
	       "scsi_lu.attrs.readonly");
_Static_assert(offsetof(struct tgt_scsi_lu, attrs.thinprovisioning) == 6517,
	       "scsi_lu.attrs.thinprovisioning");
_Static_assert(offsetof(struct tgt_scsi_lu, attrs.lbppbe) == 6520,
	       "scsi_lu.attrs.lbppbe");
_Static_assert(offsetof(struct tgt_scsi_lu, attrs.no_auto_lbppbe) == 6521,
	       "scsi_lu.attrs.no_auto_lbppbe");
_Static_assert(offsetof(struct tgt_scsi_lu, attrs.lu_vpd) == 6528,
	       "scsi_lu.attrs.lu_vpd");

/* VPD pages 0x80.. live at lu_vpd[page & 0x7f] */
#define TGT_VPD_INDEX(page)	((page) & 0x7f)

/* VPD pages the module refreshes */
#define TGT_VPD_BLOCK_LIMITS	0xb0
#define TGT_VPD_LB_PROVISIONING	0xb2

_Static_assert(offsetof(struct tgt_scsi_lu,
			attrs.lu_vpd[TGT_VPD_INDEX(TGT_VPD_BLOCK_LIMITS)]) ==
	       6912, "scsi_lu.attrs.lu_vpd[0xb0]");
_Static_assert(offsetof(struct tgt_scsi_lu,
			attrs.lu_vpd[TGT_VPD_INDEX(TGT_VPD_LB_PROVISIONING)]) ==
	       6928, "scsi_lu.attrs.lu_vpd[0xb2]");

/* tgtadm_err values a store returns from bs_init */
#define TGTADM_SUCCESS		0
#define TGTADM_NOMEM		2
#define TGTADM_INVALID_REQUEST	17
#define TGTADM_UNKNOWN_PARAM	23

/* struct backingstore_template (112 bytes) */
struct tgt_backingstore_template {
	const char *bs_name;				/* @0 */
	int bs_datasize;				/* @8 */
	int (*bs_open)(struct tgt_scsi_lu *lu, char *path, int *fd,
		       uint64_t *size);			/* @16 */
	void (*bs_close)(struct tgt_scsi_lu *lu);	/* @24 */
	int (*bs_init)(struct tgt_scsi_lu *lu, char *bsopts);	/* @32 */
	void (*bs_exit)(struct tgt_scsi_lu *lu);	/* @40 */
	int (*bs_cmd_submit)(struct tgt_scsi_cmd *cmd);	/* @48 */
	int bs_oflags_supported;			/* @56 */
	unsigned long bs_supported_ops[4];		/* @64 */
	struct tgt_list_head backingstore_siblings;	/* @96 */
};

_Static_assert(sizeof(struct tgt_backingstore_template) == 112,
	       "backingstore_template size");
_Static_assert(offsetof(struct tgt_backingstore_template, bs_datasize) == 8,
	       "bst.bs_datasize");
_Static_assert(offsetof(struct tgt_backingstore_template, bs_open) == 16,
	       "bst.bs_open");
_Static_assert(offsetof(struct tgt_backingstore_template, bs_close) == 24,
	       "bst.bs_close");
_Static_assert(offsetof(struct tgt_backingstore_template, bs_init) == 32,
	       "bst.bs_init");
_Static_assert(offsetof(struct tgt_backingstore_template, bs_exit) == 40,
	       "bst.bs_exit");
_Static_assert(offsetof(struct tgt_backingstore_template, bs_cmd_submit) == 48,
	       "bst.bs_cmd_submit");
_Static_assert(offsetof(struct tgt_backingstore_template,
			bs_oflags_supported) == 56, "bst.bs_oflags_supported");
_Static_assert(offsetof(struct tgt_backingstore_template,
			bs_supported_ops) == 64, "bst.bs_supported_ops");
_Static_assert(offsetof(struct tgt_backingstore_template,
			backingstore_siblings) == 96,
	       "bst.backingstore_siblings");

/* the store's private area (bs_datasize bytes, only 8-byte aligned) */
static inline void *tgt_lu_private(struct tgt_scsi_lu *lu)
{
	return (char *)lu + sizeof(*lu);
}

/* scsi_cmd.state bits */
#define TGT_CMD_ASYNC_BIT	2

static inline void tgt_cmd_set_async(struct tgt_scsi_cmd *cmd)
{
	cmd->state |= 1UL << TGT_CMD_ASYNC_BIT;
}

static inline void tgt_cmd_clear_async(struct tgt_scsi_cmd *cmd)
{
	cmd->state &= ~(1UL << TGT_CMD_ASYNC_BIT);
}

static inline void *tgt_cmd_in_buf(struct tgt_scsi_cmd *cmd)
{
	return (void *)(uintptr_t)cmd->in_sdb.buffer;
}

static inline void *tgt_cmd_out_buf(struct tgt_scsi_cmd *cmd)
{
	return (void *)(uintptr_t)cmd->out_sdb.buffer;
}

/* SCSI operation codes (SPC/SBC) the module advertises */
#define TGT_OP_TEST_UNIT_READY		0x00
#define TGT_OP_REQUEST_SENSE		0x03
#define TGT_OP_FORMAT_UNIT		0x04
#define TGT_OP_READ_6			0x08
#define TGT_OP_WRITE_6			0x0a
#define TGT_OP_INQUIRY			0x12
#define TGT_OP_MODE_SELECT_6		0x15
#define TGT_OP_RESERVE_6		0x16
#define TGT_OP_RELEASE_6		0x17
#define TGT_OP_MODE_SENSE_6		0x1a
#define TGT_OP_START_STOP_UNIT		0x1b
#define TGT_OP_SEND_DIAGNOSTIC		0x1d
#define TGT_OP_PREVENT_ALLOW_REMOVAL	0x1e
#define TGT_OP_READ_CAPACITY_10		0x25
#define TGT_OP_READ_10			0x28
#define TGT_OP_WRITE_10			0x2a
#define TGT_OP_WRITE_VERIFY_10		0x2e
#define TGT_OP_VERIFY_10		0x2f
#define TGT_OP_PRE_FETCH_10		0x34
#define TGT_OP_SYNCHRONIZE_CACHE_10	0x35
#define TGT_OP_WRITE_SAME_10		0x41
#define TGT_OP_UNMAP			0x42
#define TGT_OP_MODE_SELECT_10		0x55
#define TGT_OP_MODE_SENSE_10		0x5a
#define TGT_OP_PERSISTENT_RESERVE_IN	0x5e
#define TGT_OP_PERSISTENT_RESERVE_OUT	0x5f
#define TGT_OP_READ_16			0x88
#define TGT_OP_WRITE_16			0x8a
#define TGT_OP_ORWRITE_16		0x8b
#define TGT_OP_WRITE_VERIFY_16		0x8e
#define TGT_OP_VERIFY_16		0x8f
#define TGT_OP_PRE_FETCH_16		0x90
#define TGT_OP_SYNCHRONIZE_CACHE_16	0x91
#define TGT_OP_WRITE_SAME_16		0x93
#define TGT_OP_SERVICE_ACTION_IN_16	0x9e	/* READ CAPACITY 16, GET LBA STATUS */
#define TGT_OP_REPORT_LUNS		0xa0
#define TGT_OP_MAINTENANCE_IN		0xa3	/* REPORT SUPPORTED OPCODES ... */
#define TGT_OP_READ_12			0xa8
#define TGT_OP_WRITE_12			0xaa
#define TGT_OP_WRITE_VERIFY_12		0xae
#define TGT_OP_VERIFY_12		0xaf

/* CDB byte 1 bits */
#define TGT_CDB1_FUA		0x08	/* READ/WRITE 10/12/16, ORWRITE */
#define TGT_CDB1_SYNC_IMMED	0x02	/* SYNCHRONIZE CACHE */
#define TGT_CDB1_WS_UNMAP	0x08	/* WRITE SAME */
#define TGT_CDB1_WS_PBDATA	0x04
#define TGT_CDB1_WS_LBDATA	0x02
#define TGT_CDB1_WS_NDOB	0x01	/* WRITE SAME 16 only */
#define TGT_CDB1_BYTCHK_SHIFT	1	/* VERIFY: BYTCHK, 2 bits */
#define TGT_CDB1_BYTCHK_MASK	0x03
#define TGT_BYTCHK_NONE		0	/* BYTCHK values: no data-out */
#define TGT_BYTCHK_ALL		1	/* compare every block */
#define TGT_BYTCHK_RESERVED	2
#define TGT_BYTCHK_ONE_BLOCK	3	/* compare one block with each */
#define TGT_CDB6_LBA_MASK	0x1f	/* 6-byte CDB: LBA bits 20..16 */

/* SAM status */
#define TGT_SAM_GOOD		0x00
#define TGT_SAM_CHECK_CONDITION	0x02

/* sense keys */
#define TGT_SK_NO_SENSE		0x00
#define TGT_SK_NOT_READY	0x02
#define TGT_SK_MEDIUM_ERROR	0x03
#define TGT_SK_HARDWARE_ERROR	0x04
#define TGT_SK_ILLEGAL_REQUEST	0x05
#define TGT_SK_DATA_PROTECT	0x07
#define TGT_SK_ABORTED_COMMAND	0x0b
#define TGT_SK_MISCOMPARE	0x0e

/* ASC/ASCQ */
#define TGT_ASC_LU_COMM_FAILURE		0x0800
#define TGT_ASC_WRITE_ERROR		0x0c00
#define TGT_ASC_READ_ERROR		0x1100
#define TGT_ASC_PARAM_LIST_LENGTH	0x1a00
#define TGT_ASC_MISCOMPARE_VERIFY	0x1d00
#define TGT_ASC_INVALID_OPCODE		0x2000
#define TGT_ASC_LBA_OUT_OF_RANGE	0x2100
#define TGT_ASC_INVALID_FIELD_IN_CDB	0x2400
#define TGT_ASC_INVALID_FIELD_IN_PARAM	0x2600
#define TGT_ASC_WRITE_PROTECT		0x2700
#define TGT_ASC_SPACE_ALLOC_FAILED_WP	0x2707
#define TGT_ASC_MEDIUM_NOT_PRESENT	0x3a00
#define TGT_ASC_INTERNAL_TARGET_FAILURE	0x4400
#define TGT_ASC_CAPACITY_DATA_CHANGED	0x2a09	/* a unit attention */

/*
 * struct tgt_work (40 bytes, caller-owned): a coarse timer of tgtd's main
 * thread (usr/work.c).  add_work(w, s) queues it to run func(data) once,
 * about s seconds later (tgtd's work timer ticks every 500 ms; s = 0: on
 * the next tick); it must not be queued twice.  Before func runs, entry
 * is unlinked and made self-linked (list_del_init), so func may queue it
 * again.  del_work() is list_del_init(&entry): harmless on a self-linked
 * entry, which is how an entry that is not queued must be left.
 */
struct tgt_work {
	struct tgt_list_head entry;	/* @0 */
	void (*func)(void *data);	/* @16 */
	void *data;			/* @24 */
	unsigned int when;		/* @32: private to tgtd */
};
_Static_assert(sizeof(struct tgt_work) == 40, "tgt_work size");
_Static_assert(offsetof(struct tgt_work, func) == 16, "tgt_work.func");
_Static_assert(offsetof(struct tgt_work, data) == 24, "tgt_work.data");

/* big-endian getters (our own) */
static inline uint16_t tgt_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t tgt_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t tgt_get_be64(const uint8_t *p)
{
	return (uint64_t)tgt_get_be32(p) << 32 | tgt_get_be32(p + 4);
}

/*
 * Functions and variables exported by tgtd (resolved when tgtd dlopens the
 * module).  Declared with default visibility: the module is built with
 * -fvisibility=hidden, which must not hide these references.
 */
#define TGT_IMPORT __attribute__((visibility("default")))

TGT_IMPORT extern int register_backingstore_template(
	struct tgt_backingstore_template *bst);
TGT_IMPORT extern void target_cmd_io_done(struct tgt_scsi_cmd *cmd,
					  int result);
TGT_IMPORT extern int tgt_event_add(int fd, int events,
				    void (*handler)(int fd, int events,
						    void *data),
				    void *data);
TGT_IMPORT extern void tgt_event_del(int fd);
TGT_IMPORT extern void sense_data_build(struct tgt_scsi_cmd *cmd, uint8_t key,
					uint16_t asc_ascq);
TGT_IMPORT extern void update_lbppbe(struct tgt_scsi_lu *lu,
				     int physical_block_bytes);
TGT_IMPORT extern struct tgt_mode_pg *find_mode_page(struct tgt_scsi_lu *lu,
						     uint8_t page,
						     uint8_t subpage);
/* the coarse timers of struct tgt_work (main thread only) */
TGT_IMPORT extern void add_work(struct tgt_work *work, unsigned int second);
TGT_IMPORT extern void del_work(struct tgt_work *work);
/*
 * Queue a unit attention with ASC/ASCQ @asc for LU @lu on every I_T nexus
 * of the LU's target except the one whose id is @itn_id
 * (ua_sense_add_other_it_nexus), or on that one only
 * (ua_sense_add_it_nexus; nothing when no nexus has that id).  Each
 * nexus's LU keeps a FIFO of pending unit attentions: the next command
 * on it other than INQUIRY, REPORT LUNS and REQUEST SENSE ends in CHECK
 * CONDITION with sense key UNIT ATTENTION and the oldest one, which is
 * removed then (REQUEST SENSE gets CHECK CONDITION with it but leaves it
 * queued).  This check comes before the store sees a command (tgt
 * usr/scsi.c scsi_cmd_perform()).  Sense format per attrs.sense_format.
 * Adding the same one twice queues it twice.  Main thread only (tgt
 * usr/target.c).
 */
TGT_IMPORT extern void ua_sense_add_other_it_nexus(uint64_t itn_id,
						   struct tgt_scsi_lu *lu,
						   uint16_t asc);
TGT_IMPORT extern void ua_sense_add_it_nexus(uint64_t itn_id,
					     struct tgt_scsi_lu *lu,
					     uint16_t asc);
TGT_IMPORT extern void log_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
TGT_IMPORT extern void log_debug(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
TGT_IMPORT extern int is_debug;

#endif
