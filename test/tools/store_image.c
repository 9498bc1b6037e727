// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store_image.c - rebuild a VDI's image straight from minisheep's store
 * directory, without the client library's I/O path or the server: the
 * independent read the multipath tests check acknowledged writes against.
 *
 *   store_image DIR NAME OUT [LEN]
 *
 * DIR is minisheep's --dir (objects are DIR/obj/<16 hex digit oid>).  The
 * working VDI NAME is the inode object with that name that is neither a
 * snapshot (snap_ctime 0) nor deleted; if several match (never with a
 * healthy store), the command fails.  OUT receives LEN bytes (default: the
 * VDI size): for each object the index entry names, the bytes of that data
 * object (possibly of an ancestor vid), zeros for entry 0.  Exit 0, or 1
 * with one line on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sd_proto.h"

static int die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "store_image: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n");
	return 1;
}

/* read @len bytes at @off of object @oid; a short file reads as zeros */
static int obj_read(const char *dir, uint64_t oid, void *buf, size_t len,
		    uint64_t off)
{
	char path[4096];
	ssize_t n;
	size_t got = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/obj/%016" PRIx64, dir, oid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(buf, 0, len);
	while (got < len) {
		n = pread(fd, (uint8_t *)buf + got, len - got,
			  (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return 0;
}

/* the vid of the working VDI @name in @dir, 0 if none, -1 if ambiguous */
static int64_t find_working(const char *dir, const char *name)
{
	uint8_t hdr[SD_INODE_HEADER_SIZE];
	char objdir[4096];
	struct sd_inode_hdr h;
	struct dirent *de;
	int64_t found = 0;
	uint64_t oid;
	DIR *d;

	snprintf(objdir, sizeof(objdir), "%s/obj", dir);
	d = opendir(objdir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != 16 ||
		    sscanf(de->d_name, "%16" SCNx64, &oid) != 1 ||
		    !sd_oid_is_inode(oid))
			continue;
		if (obj_read(dir, oid, hdr, sizeof(hdr), 0))
			continue;
		sd_inode_hdr_decode(hdr, &h);
		if (strcmp(h.name, name) || h.snap_ctime)
			continue;
		if (found) {
			found = -1;
			break;
		}
		found = sd_oid_to_vid(oid);
	}
	closedir(d);
	return found;
}

int main(int argc, char **argv)
{
	uint8_t hdr[SD_INODE_HEADER_SIZE], le[4];
	uint64_t size, len, pos, obj;
	struct sd_inode_hdr h;
	uint8_t *buf;
	int64_t vid;
	FILE *out;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: store_image DIR NAME OUT [LEN]\n");
		return 2;
	}
	vid = find_working(argv[1], argv[2]);
	if (vid <= 0)
		return die(vid ? "'%s': no single working VDI '%s'" :
			   "'%s': no working VDI '%s'", argv[1], argv[2]);
	if (obj_read(argv[1], sd_vid_to_vdi_oid((uint32_t)vid), hdr,
		     sizeof(hdr), 0))
		return die("cannot read the inode of '%s'%s", argv[2], "");
	sd_inode_hdr_decode(hdr, &h);
	size = h.vdi_size;
	len = argc == 5 ? strtoull(argv[4], NULL, 0) : size;
	if (len > size || h.block_size_shift < SD_MIN_BLOCK_SHIFT ||
	    h.block_size_shift > SD_MAX_BLOCK_SHIFT)
		return die("bad length or inode of '%s'%s", argv[2], "");
	obj = UINT64_C(1) << h.block_size_shift;
	buf = malloc(obj);
	out = fopen(argv[3], "we");
	if (!buf || !out)
		return die("cannot write '%s'%s", argv[3], "");
	for (pos = 0; pos < len; pos += obj) {
		uint32_t idx = (uint32_t)(pos / obj), e;
		uint64_t n = len - pos < obj ? len - pos : obj;

		if (obj_read(argv[1], sd_vid_to_vdi_oid((uint32_t)vid), le, 4,
			     sd_inode_index_offset(idx)))
			return die("cannot read the index of '%s'%s", argv[2],
				   "");
		e = sd_get_le32(le);
		memset(buf, 0, n);
		if (e && obj_read(argv[1], sd_vid_to_data_oid(e, idx), buf, n,
				  0)) {
			char what[64];

			snprintf(what, sizeof(what), " (object %u of vid %#x)",
				 idx, e);
			return die("'%s': the index names a missing object%s",
				   argv[2], what);
		}
		if (fwrite(buf, 1, n, out) != n)
			return die("cannot write '%s'%s", argv[3], "");
	}
	if (fclose(out))
		return die("cannot write '%s'%s", argv[3], "");
	free(buf);
	return 0;
}
