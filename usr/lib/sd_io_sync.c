// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_io_sync.c - layer 4: the synchronous reads, writes, zeroing, discards
 * and flushes of an open VDI, each one aio call of sd_io.c and a wait for
 * its completion in sd_client_done_wait(), which runs the client's loop on
 * this thread when nobody else does (on the owner thread of an
 * external-loop client it always runs that loop): a lone request then
 * needs no hand-off between threads.
 */
#include <string.h>

#include "sd_vdi_internal.h"

struct io_waiter {
	struct sd_done done;
	int err;
};

static void io_waiter_done(void *opaque, int err)
{
	struct io_waiter *w = opaque;

	w->err = err;
	sd_done_signal(&w->done);	/* the last touch of *w */
}

/* before the aio call: this thread waits for what it submits */
static void io_waiter_init(struct io_waiter *w, struct sd_vdi *v)
{
	sd_done_init(&w->done);
	w->err = 0;
	sd_client_expect_wait(v->c);
}

/* Wait for the aio started with result @ret; message names @what. */
static int io_waiter_wait(struct io_waiter *w, int ret, struct sd_vdi *v,
			  const char *what, uint64_t off, uint64_t len)
{
	sd_client_expect_wait(NULL);
	if (!ret) {
		sd_client_done_wait(v->c, &w->done);
		ret = w->err;
		if (ret)
			sd_set_error(-ret, "%s of %llu bytes at %llu on VDI '%s' failed: %s",
				     what, (unsigned long long)len,
				     (unsigned long long)off, v->name,
				     strerror(-ret));
	}
	return ret;
}

int sd_vdi_pread(struct sd_vdi *v, void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct io_waiter w;

	io_waiter_init(&w, v);
	return io_waiter_wait(&w, sd_vdi_aio_read(v, &iov, 1, off,
						   io_waiter_done, &w),
			      v, "read", off, len);
}

int sd_vdi_pwrite(struct sd_vdi *v, const void *buf, size_t len,
		  uint64_t off, unsigned int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct io_waiter w;

	io_waiter_init(&w, v);
	return io_waiter_wait(&w, sd_vdi_aio_write(v, &iov, 1, off, flags,
						    io_waiter_done, &w),
			      v, "write", off, len);
}

int sd_vdi_zero(struct sd_vdi *v, uint64_t off, uint64_t len,
		unsigned int flags)
{
	struct io_waiter w;

	io_waiter_init(&w, v);
	return io_waiter_wait(&w, sd_vdi_aio_zero(v, off, len, flags,
						   io_waiter_done, &w),
			      v, "zero", off, len);
}

int sd_vdi_discard(struct sd_vdi *v, uint64_t off, uint64_t len)
{
	struct io_waiter w;

	io_waiter_init(&w, v);
	return io_waiter_wait(&w, sd_vdi_aio_discard(v, off, len,
						      io_waiter_done, &w),
			      v, "discard", off, len);
}

int sd_vdi_flush(struct sd_vdi *v)
{
	struct io_waiter w;

	io_waiter_init(&w, v);
	return io_waiter_wait(&w, sd_vdi_aio_flush(v, io_waiter_done, &w),
			      v, "flush", 0, 0);
}
