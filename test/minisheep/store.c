// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store.c - minisheep's object store: every object is one file
 * DIR/obj/<16 hex digits of the oid>, always at its full size (sparse
 * files, so zero ranges cost nothing).  Reads and writes are pread/pwrite on
 * a file opened for the request; writes use O_DSYNC unless --nosync.
 * Creates write a temporary file, sync it and rename it over the old object
 * (create replaces), then sync the directory, so a crash never leaves a
 * half-written object behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "minisheep.h"

#define STORE_ZERO_BLOCK 4096

static char obj_dir[PATH_MAX];
static int obj_dir_fd = -1;

unsigned int store_create_delay_ms;
uint64_t store_nr_replaced, store_nr_tmp_exists;

static int errno_to_res(int err)
{
	switch (err) {
	case ENOENT:
		return SD_RES_NO_OBJ;
	case ENOSPC:
	case EDQUOT:
		return SD_RES_NO_SPACE;
	case ENOMEM:
		return SD_RES_NO_MEM;
	default:
		return SD_RES_EIO;
	}
}

static void obj_name(uint64_t oid, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64, oid);
}

uint64_t store_object_size(uint64_t oid, uint8_t data_shift)
{
	switch (oid & SD_OID_TYPE_MASK) {
	case 0:
	case SD_VMSTATE_BIT:
		return UINT64_C(1) << data_shift;
	case SD_VDI_BIT:
		return SD_INODE_SIZE;
	case SD_VDI_ATTR_BIT:
		return MS_ATTR_OBJ_SIZE;
	case SD_VDI_BTREE_BIT:
		return MS_BTREE_OBJ_SIZE;
	case SD_LEDGER_BIT:
		return MS_LEDGER_OBJ_SIZE;
	default:
		return 0;
	}
}

static void remove_temp_files(void)
{
	DIR *d = fdopendir(dup(obj_dir_fd));
	struct dirent *de;

	if (!d)
		return;
	rewinddir(d);		/* the dup shares obj_dir_fd's offset */
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		/* OID.tmp of an interrupted create (.tmp-* of old versions) */
		if (!strncmp(de->d_name, ".tmp-", 5) ||
		    (n > 4 && !strcmp(de->d_name + n - 4, ".tmp")))
			unlinkat(obj_dir_fd, de->d_name, 0);
	}
	closedir(d);
}

int store_init(const char *dir)
{
	snprintf(obj_dir, sizeof(obj_dir), "%s/obj", dir);
	if (mkdir(obj_dir, 0755) && errno != EEXIST) {
		ms_log("cannot create %s: %s", obj_dir, strerror(errno));
		return -1;
	}
	obj_dir_fd = open(obj_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (obj_dir_fd < 0) {
		ms_log("cannot open %s: %s", obj_dir, strerror(errno));
		return -1;
	}
	remove_temp_files();
	return 0;
}

static int open_obj(uint64_t oid, int flags)
{
	char name[32];

	obj_name(oid, name, sizeof(name));
	return openat(obj_dir_fd, name, flags | O_CLOEXEC);
}

/* all of @len bytes at @off, as pwrite() (@write) or pread(); 0 or -errno */
static int full_pio(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = write ? pwrite(fd, p, len, (off_t)off) :
			pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0 && !write) {	/* cannot happen: checked size */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static bool block_is_zero(const uint8_t *p, size_t len)
{
	static const uint8_t zero[STORE_ZERO_BLOCK];

	return !memcmp(p, zero, len);
}

/*
 * Write into a freshly truncated (all-hole) file, skipping whole zero
 * blocks so that zero-filled objects stay sparse.
 */
static int sparse_pwrite(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		size_t chunk = STORE_ZERO_BLOCK - ((off + done) % STORE_ZERO_BLOCK);
		size_t run;
		int ret;

		if (chunk > len - done)
			chunk = len - done;
		if (block_is_zero(buf + done, chunk)) {
			done += chunk;
			continue;
		}
		/* coalesce the following non-zero blocks into one write */
		run = chunk;
		while (done + run < len) {
			size_t next = len - done - run;

			if (next > STORE_ZERO_BLOCK)
				next = STORE_ZERO_BLOCK;
			if (block_is_zero(buf + done + run, next))
				break;
			run += next;
		}
		ret = full_pio(fd, (uint8_t *)buf + done, run, off + done, true);
		if (ret)
			return ret;
		done += run;
	}
	return 0;
}

int store_size(uint64_t oid, uint64_t *size)
{
	char name[32];
	struct stat st;

	obj_name(oid, name, sizeof(name));
	if (fstatat(obj_dir_fd, name, &st, 0))
		return errno_to_res(errno);
	*size = (uint64_t)st.st_size;
	return SD_RES_SUCCESS;
}

/*
 * Open object @oid with @flags into *@fd (its stat in *@st) when
 * [@off, @off + @len) lies inside it; SD_RES_SUCCESS or the error (then
 * nothing is left open).
 */
static int open_obj_range(uint64_t oid, int flags, uint64_t off,
			  uint32_t len, int *fd, struct stat *st)
{
	int ret;

	*fd = open_obj(oid, flags);
	if (*fd < 0)
		return errno_to_res(errno);
	if (fstat(*fd, st))
		ret = errno_to_res(errno);
	else if (off + len > (uint64_t)st->st_size)
		ret = SD_RES_INVALID_PARMS;
	else
		return SD_RES_SUCCESS;
	close(*fd);
	return ret;
}

int store_read(uint64_t oid, void *buf, uint32_t len, uint64_t off)
{
	struct stat st;
	int fd, ret;

	ret = open_obj_range(oid, O_RDONLY, off, len, &fd, &st);
	if (ret != SD_RES_SUCCESS)
		return ret;
	ret = full_pio(fd, buf, len, off, false);
	close(fd);
	return ret ? errno_to_res(-ret) : SD_RES_SUCCESS;
}

/* as sheep/sheep_priv.h is_sparse_object() */
static bool is_sparse_object(uint64_t oid)
{
	uint64_t t = oid & SD_OID_TYPE_MASK;

	return t == SD_VDI_BIT || t == SD_LEDGER_BIT;
}

/*
 * As lib/util.c find_zero_blocks(): move *poff / shrink *plen past the
 * all-zero STORE_ZERO_BLOCK-aligned blocks at both ends of @buf.
 */
static void find_zero_blocks(const uint8_t *buf, uint64_t *poff, uint32_t *plen)
{
	static const uint8_t zero[STORE_ZERO_BLOCK];
	uint64_t start = *poff, skip = 0;
	uint32_t len = *plen;

	while (len >= STORE_ZERO_BLOCK) {
		size_t size = STORE_ZERO_BLOCK -
			(start + skip) % STORE_ZERO_BLOCK;

		if (memcmp(buf + skip, zero, size))
			break;
		skip += size;
		len -= (uint32_t)size;
	}
	while (len >= STORE_ZERO_BLOCK) {
		size_t size = (start + skip + len) % STORE_ZERO_BLOCK;

		if (!size)
			size = STORE_ZERO_BLOCK;
		if (memcmp(buf + skip + len - size, zero, size))
			break;
		len -= (uint32_t)size;
	}
	*plen = len;
	*poff = start + skip;
}

static int punch(int fd, uint64_t from, uint64_t to)
{
	if (to <= from)
		return 0;
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)from, (off_t)(to - from));
}

int store_write(uint64_t oid, const void *buf, uint32_t len, uint64_t off)
{
	uint64_t woff = off;
	uint32_t wlen = len;
	struct stat st;
	int fd, ret;

	ret = open_obj_range(oid, O_WRONLY | (ms_nosync ? 0 : O_DSYNC), off,
			     len, &fd, &st);
	if (ret != SD_RES_SUCCESS)
		return ret;
	if (is_sparse_object(oid)) {
		/* as default_write() -> default_trim(): zero ends are holes */
		uint64_t end = off + len;

		find_zero_blocks(buf, &woff, &wlen);
		if (end == (uint64_t)st.st_size)
			end = (end + STORE_ZERO_BLOCK - 1) /
				STORE_ZERO_BLOCK * STORE_ZERO_BLOCK;
		if ((woff > off || woff + wlen < off + len) &&
		    (punch(fd, off, woff) || punch(fd, woff + wlen, end))) {
			woff = off;		/* no hole punching: write */
			wlen = len;
		}
	}
	ret = full_pio(fd, (uint8_t *)buf + (woff - off), wlen, woff, true);
	if (!ret && wlen != len && !ms_nosync && fdatasync(fd))
		ret = -errno;
	close(fd);
	return ret ? errno_to_res(-ret) : SD_RES_SUCCESS;
}

/* as sheep/store/plain_store.c default_create_and_write() */
int store_create(uint64_t oid, uint64_t size, const void *buf, uint32_t len,
		 uint64_t off)
{
	char tmp[64], name[32];
	unsigned int delay;
	int fd, ret;

	if (off + len > size)
		return SD_RES_INVALID_PARMS;
	obj_name(oid, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(obj_dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
	if (fd < 0) {
		/*
		 * Another create of this object is writing its temporary
		 * file: sheep assumes it writes the same data ("gateway
		 * retry or recovery") and answers SUCCESS without writing.
		 */
		if (errno == EEXIST) {
			__atomic_add_fetch(&store_nr_tmp_exists, 1,
					   __ATOMIC_RELAXED);
			return SD_RES_SUCCESS;
		}
		return errno_to_res(errno);
	}
	if (ftruncate(fd, (off_t)size)) {
		ret = errno_to_res(errno);
		goto fail;
	}
	if (len) {
		ret = sparse_pwrite(fd, buf, len, off);
		if (ret) {
			ret = errno_to_res(-ret);
			goto fail;
		}
	}
	if (!ms_nosync && fdatasync(fd)) {
		ret = errno_to_res(errno);
		goto fail;
	}
	delay = __atomic_load_n(&store_create_delay_ms, __ATOMIC_RELAXED);
	if (delay)
		ms_sleep_ms(delay);	/* control "create-delay" */
	if (!faccessat(obj_dir_fd, name, F_OK, 0))
		__atomic_add_fetch(&store_nr_replaced, 1, __ATOMIC_RELAXED);
	if (renameat(obj_dir_fd, tmp, obj_dir_fd, name)) {
		ret = errno_to_res(errno);
		goto fail;
	}
	close(fd);
	if (!ms_nosync)
		fsync(obj_dir_fd);
	return SD_RES_SUCCESS;
fail:
	close(fd);
	unlinkat(obj_dir_fd, tmp, 0);
	return ret;
}

int store_remove(uint64_t oid)
{
	char name[32];

	obj_name(oid, name, sizeof(name));
	if (unlinkat(obj_dir_fd, name, 0))
		return errno_to_res(errno);
	if (!ms_nosync)
		fsync(obj_dir_fd);
	return SD_RES_SUCCESS;
}

static bool parse_obj_name(const char *s, uint64_t *oid)
{
	char *end;

	if (strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16)
		return false;
	*oid = strtoull(s, &end, 16);
	return *end == '\0';
}

int store_for_each(int (*fn)(uint64_t oid, void *arg), void *arg)
{
	DIR *d = fdopendir(dup(obj_dir_fd));
	struct dirent *de;
	uint64_t oid;
	int ret = 0;

	if (!d)
		return -errno;
	rewinddir(d);		/* the dup shares obj_dir_fd's offset */
	while (!ret && (de = readdir(d)))
		if (parse_obj_name(de->d_name, &oid))
			ret = fn(oid, arg);
	closedir(d);
	return ret;
}

static int remove_one(uint64_t oid, void *arg)
{
	char name[32];

	(void)arg;
	obj_name(oid, name, sizeof(name));
	unlinkat(obj_dir_fd, name, 0);
	return 0;
}

int store_wipe(void)
{
	int ret = store_for_each(remove_one, NULL);

	if (!ms_nosync)
		fsync(obj_dir_fd);
	return ret ? SD_RES_EIO : SD_RES_SUCCESS;
}
