// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sdctl_io.c - the sdctl verbs that move data: `vdi read` copies a byte
 * range of a VDI (or snapshot) to standard output, `vdi write` copies
 * standard input into a VDI.  Both stream through one fixed-size buffer
 * with the library's synchronous sd_vdi_pread/sd_vdi_pwrite, and open the
 * VDI without a lock (sdctl runs beside gateways that may hold it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdctl.h"

#define SDCTL_CHUNK	(4U << 20)	/* bytes per request */

/* OFFSET and LEN operands, starting at cmd->argv[1]. */
static int sdctl_parse_range(struct sdctl_cmd *cmd, uint64_t *off,
			     uint64_t *len, bool *have_len)
{
	*off = 0;
	*len = 0;
	*have_len = false;
	if (cmd->argc > 1 && sdctl_parse_size(cmd->argv[1], off) < 0)
		return sdctl_usage_error(cmd, "bad offset '%s'", cmd->argv[1]);
	if (cmd->argc > 2) {
		if (sdctl_parse_size(cmd->argv[2], len) < 0)
			return sdctl_usage_error(cmd, "bad length '%s'",
						 cmd->argv[2]);
		*have_len = true;
	}
	return SDCTL_EXIT_OK;
}

static int sdctl_open_vdi(struct sdctl_cmd *cmd, struct sd_vdi **v)
{
	struct sd_vdi_open_args a;
	int ret;

	ret = sdctl_connect(cmd);
	if (ret)
		return ret;
	memset(&a, 0, sizeof(a));
	a.name = cmd->argv[0];
	a.tag = cmd->tag;
	a.snapid = cmd->snapid;
	a.lock = SD_LOCK_NONE;
	if (sd_vdi_open(cmd->client, &a, v) < 0)
		return sdctl_lib_fail();
	return SDCTL_EXIT_OK;
}

/* Check [off, off+len) against the VDI size. */
static int sdctl_check_range(struct sd_vdi *v, uint64_t off, uint64_t len)
{
	uint64_t size = sd_vdi_size(v);

	if (off > size)
		return sdctl_fail("offset %llu is past the end of VDI '%s' (size %llu)",
				  (unsigned long long)off, sd_vdi_name(v),
				  (unsigned long long)size);
	if (len > size - off)
		return sdctl_fail("range %llu+%llu goes past the end of VDI '%s' (size %llu)",
				  (unsigned long long)off,
				  (unsigned long long)len, sd_vdi_name(v),
				  (unsigned long long)size);
	return SDCTL_EXIT_OK;
}

/* Bytes to move next: up to the next chunk-aligned offset. */
static size_t sdctl_next_chunk(uint64_t pos, uint64_t left)
{
	uint64_t n = SDCTL_CHUNK - pos % SDCTL_CHUNK;

	return (size_t)(n < left ? n : left);
}

static int sdctl_write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to @len bytes; fewer only at end of input.  -errno on error. */
static ssize_t sdctl_read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* one read or write: the open VDI, the byte range and the buffer */
struct sdctl_xfer {
	struct sd_vdi *v;
	uint8_t *buf;
	uint64_t off, end;
	bool have_len;			/* LEN given (else: to the VDI's end) */
};

/*
 * Parse the range, open the VDI (for a write: refuse a snapshot), check the
 * range and get the buffer.  SDCTL_EXIT_OK with everything set up, else the
 * exit status with the VDI closed (the client is main()'s to free).
 */
static int sdctl_xfer_start(struct sdctl_cmd *cmd, bool write,
			    struct sdctl_xfer *x)
{
	uint64_t len;
	int ret;

	memset(x, 0, sizeof(*x));
	ret = sdctl_parse_range(cmd, &x->off, &len, &x->have_len);
	if (ret)
		return ret;
	ret = sdctl_open_vdi(cmd, &x->v);
	if (ret)
		return ret;
	if (write && sd_vdi_readonly(x->v)) {
		ret = sdctl_fail("VDI '%s' is a snapshot (read-only)",
				 sd_vdi_name(x->v));
		goto fail;
	}
	if (!x->have_len)
		len = x->off < sd_vdi_size(x->v) ? sd_vdi_size(x->v) - x->off : 0;
	ret = sdctl_check_range(x->v, x->off, len);
	if (ret)
		goto fail;
	x->end = x->off + len;
	x->buf = malloc(SDCTL_CHUNK);
	if (!x->buf) {
		ret = sdctl_fail("out of memory");
		goto fail;
	}
	return SDCTL_EXIT_OK;
fail:
	sd_vdi_close(x->v);
	return ret;
}

/* Close the VDI and free the buffer of sdctl_xfer_start(); returns @ret. */
static int sdctl_xfer_end(struct sdctl_xfer *x, int ret)
{
	free(x->buf);
	sd_vdi_close(x->v);
	return ret;
}

/* VDI bytes [pos, pos+n) to standard output; *done = n.  SDCTL_EXIT_* */
static int sdctl_read_chunk(struct sdctl_xfer *x, uint64_t pos, size_t n,
			    size_t *done)
{
	int ret;

	if (sd_vdi_pread(x->v, x->buf, n, pos) < 0)
		return sdctl_lib_fail();
	ret = sdctl_write_all(STDOUT_FILENO, x->buf, n);
	if (ret < 0)
		return sdctl_fail("writing to standard output: %s",
				  strerror(-ret));
	*done = n;
	return SDCTL_EXIT_OK;
}

/* Up to @n bytes of standard input to VDI offset @pos; fewer (*done) only
 * at end of input.  SDCTL_EXIT_* */
static int sdctl_write_chunk(struct sdctl_xfer *x, uint64_t pos, size_t n,
			     size_t *done)
{
	ssize_t got = sdctl_read_full(STDIN_FILENO, x->buf, n);

	if (got < 0)
		return sdctl_fail("reading standard input: %s",
				  strerror((int)-got));
	if (got && sd_vdi_pwrite(x->v, x->buf, (size_t)got, pos, 0) < 0)
		return sdctl_lib_fail();
	*done = (size_t)got;
	return SDCTL_EXIT_OK;
}

/* `vdi read` or `vdi write`: the range chunk by chunk */
static int sdctl_copy(struct sdctl_cmd *cmd, bool write)
{
	struct sdctl_xfer x;
	uint64_t pos;
	uint8_t extra;
	size_t n, done = 0;
	int ret;

	ret = sdctl_xfer_start(cmd, write, &x);
	if (ret)
		return ret;
	for (pos = x.off; pos < x.end; pos += done) {
		n = sdctl_next_chunk(pos, x.end - pos);
		ret = write ? sdctl_write_chunk(&x, pos, n, &done) :
			      sdctl_read_chunk(&x, pos, n, &done);
		if (ret || done < n)	/* failed, or end of input */
			return sdctl_xfer_end(&x, ret);
	}
	/* writing, the VDI end reached: more input would not fit */
	if (write && !x.have_len && sdctl_read_full(STDIN_FILENO, &extra, 1) > 0)
		return sdctl_xfer_end(&x, sdctl_fail("input is longer than VDI '%s': it ends at %llu bytes",
						     sd_vdi_name(x.v),
						     (unsigned long long)sd_vdi_size(x.v)));
	return sdctl_xfer_end(&x, SDCTL_EXIT_OK);
}

int sdctl_vdi_read(struct sdctl_cmd *cmd)
{
	return sdctl_copy(cmd, false);
}

int sdctl_vdi_write(struct sdctl_cmd *cmd)
{
	return sdctl_copy(cmd, true);
}
