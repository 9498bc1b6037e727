// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nbdkit_sheepdog.c - nbdkit plugin that exports one Sheepdog VDI (or a
 * read-only snapshot of it) over NBD.
 *
 * Every NBD connection of the nbdkit process shares one client and one VDI
 * handle, opened (and locked) once in .after_fork and closed in .cleanup.
 * nbdkit's worker threads call the library's synchronous wrappers, so a
 * request is answered only after sheep answered it.  Because all
 * connections go through the same handle, a flush on one connection covers
 * writes made on every other one, which makes multi-conn safe.
 * .get_ready performs a trial open so that a missing VDI, an unreachable
 * sheep or a lock held elsewhere is reported before nbdkit forks.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "sheepdog.h"
#include "nbdkit_sheepdog.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define SDK_MAX_TIMEOUT_S	86400.0
#define SDK_MAX_REQUEST		(32u * 1024 * 1024)
#define SDK_MIN_BLOCK		512u

#define SDK_STR_(x) #x
#define SDK_STR(x) SDK_STR_(x)

/* Parameters, filled by .config and checked by .config_complete. */
static char *cfg_vdi;
static char cfg_tag[SD_VDI_TAG_MAX + 1];	/* "" = no tag */
static uint32_t cfg_snapid;
static struct sd_addr cfg_addrs[SD_MAX_ADDRS];	/* addr= ..., then fallback= ... */
static struct sd_addr cfg_fallbacks[SD_MAX_ADDRS];
static unsigned int cfg_nr_given;		/* addr= seen */
static unsigned int cfg_nr_given_fb;		/* fallback= seen */
static unsigned int cfg_nr_fallbacks;
static unsigned int cfg_timeout_ms;
static unsigned int cfg_conns;
static enum sd_lock_mode cfg_lock = SD_LOCK_NORMAL;

/* The one client and VDI handle shared by every connection. */
static struct sd_client *sdk_client;
static struct sd_vdi *sdk_vdi;

/*
 * Map a library error to an errno nbdkit can turn into an NBD error.
 * Connection loss and timeouts become EIO, as a disk would report them.
 */
static int sdk_map_errno(int err)
{
	switch (err) {
	case ENOSPC:
	case EROFS:
	case EPERM:
	case EINVAL:
	case ENOMEM:
	case EOVERFLOW:
	case ENOTSUP:
	case ENOENT:
		return err;
	default:
		return EIO;
	}
}

/* Report library failure @r (negative errno) of @what; returns -1. */
static int sdk_fail(const char *what, int r)
{
	int err = r < 0 ? -r : EIO;
	const char *msg = sd_get_error();

	if (!msg || !*msg)
		msg = strerror(err);
	nbdkit_error("%s: %s", what, msg);
	nbdkit_set_error(sdk_map_errno(err));
	return -1;
}

static void sdk_unload(void)
{
	free(cfg_vdi);
	cfg_vdi = NULL;
}

static int sdk_config_vdi(const char *value)
{
	if (sd_check_names(value, NULL)) {
		nbdkit_error("vdi='%s': %s", value, sd_get_error());
		return -1;
	}
	cfg_vdi = strdup(value);
	if (!cfg_vdi) {
		nbdkit_error("strdup: %m");
		return -1;
	}
	return 0;
}

/* An all-digit snapshot value is a snapshot id, anything else a tag. */
static int sdk_config_snapshot(const char *value)
{
	if (sd_parse_snapshot(value, strlen(value), cfg_tag, &cfg_snapid)) {
		nbdkit_error("snapshot='%s': %s", value, sd_get_error());
		return -1;
	}
	return 0;
}

/* Seconds, fractions allowed: "15", "0.5". */
static int sdk_config_timeout(const char *value)
{
	double s;
	char *end;

	errno = 0;
	s = strtod(value, &end);
	if (!*value || *end || errno || !isfinite(s) || s < 0.001 ||
	    s > SDK_MAX_TIMEOUT_S) {
		nbdkit_error("timeout='%s': bad timeout (seconds, 0.001..%.0f)",
			     value, SDK_MAX_TIMEOUT_S);
		return -1;
	}
	cfg_timeout_ms = (unsigned int)(s * 1000.0 + 0.999);
	return 0;
}

/* nbdkit's number syntax: decimal, 0x... hex or 0... octal */
static int sdk_config_conns(const char *value)
{
	unsigned int n;

	if (nbdkit_parse_unsigned("connections: bad number of connections (1.."
				  SDK_STR(SD_MAX_CONNS) ")", value, &n) < 0)
		return -1;
	if (n < 1 || n > SD_MAX_CONNS) {
		nbdkit_error("connections='%s': bad number of connections "
			     "(1..%d)", value, SD_MAX_CONNS);
		return -1;
	}
	cfg_conns = n;
	return 0;
}

static int sdk_config_addr(const char *key, const char *value,
			   struct sd_addr *a)
{
	if (sd_addr_parse(value, a) < 0) {
		nbdkit_error("%s: %s", key, sd_get_error());
		return -1;
	}
	return 0;
}

static int sdk_config_lock(const char *value)
{
	if (sd_lock_mode_parse(value, &cfg_lock)) {
		nbdkit_error("lock='%s': bad lock mode (none, normal or shared)",
			     value);
		return -1;
	}
	return 0;
}

/* the parameters that may be given once */
static struct {
	const char *key;
	int (*parse)(const char *value);
	bool given;
} sdk_once[] = {
	{ "vdi", sdk_config_vdi, false },
	{ "snapshot", sdk_config_snapshot, false },
	{ "timeout", sdk_config_timeout, false },
	{ "connections", sdk_config_conns, false },
	{ "lock", sdk_config_lock, false },
};

static int sdk_config(const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < sizeof(sdk_once) / sizeof(sdk_once[0]); i++) {
		if (strcmp(key, sdk_once[i].key))
			continue;
		if (sdk_once[i].given) {
			nbdkit_error("%s= given twice", key);
			return -1;
		}
		sdk_once[i].given = true;
		return sdk_once[i].parse(value);
	}
	/* several addr= and any fallback= all feed the failover list */
	if (!strcmp(key, "addr") || !strcmp(key, "fallback")) {
		if (cfg_nr_given + cfg_nr_given_fb >= SD_MAX_ADDRS) {
			nbdkit_error("%s='%s': at most %d addresses in all",
				     key, value, SD_MAX_ADDRS);
			return -1;
		}
		if (!strcmp(key, "addr"))
			return sdk_config_addr(key, value,
					       &cfg_addrs[cfg_nr_given++]);
		return sdk_config_addr(key, value,
				       &cfg_fallbacks[cfg_nr_given_fb++]);
	}

	nbdkit_error("unknown parameter '%s' (see nbdkit sheepdog --help)",
		     key);
	return -1;
}

static int sdk_config_complete(void)
{
	const char *env;

	if (!cfg_vdi) {
		nbdkit_error("missing vdi=NAME parameter");
		return -1;
	}
	if (!cfg_nr_given) {
		env = getenv("SHEEP_ADDR");
		if (env && *env) {
			if (sd_addr_parse(env, &cfg_addrs[0]) < 0) {
				nbdkit_error("$SHEEP_ADDR: %s", sd_get_error());
				return -1;
			}
		} else if (sd_addr_parse(SD_DEFAULT_ADDR, &cfg_addrs[0]) < 0) {
			nbdkit_error("default address: %s", sd_get_error());
			return -1;
		}
		cfg_nr_given = 1;
	}
	/* addr= entries first, in order, then fallback= entries */
	memcpy(&cfg_addrs[cfg_nr_given], cfg_fallbacks,
	       cfg_nr_given_fb * sizeof(cfg_fallbacks[0]));
	cfg_nr_fallbacks = cfg_nr_given + cfg_nr_given_fb - 1;
	return 0;
}

/* Start a client and open the VDI; on failure nothing is left behind. */
static int sdk_open_vdi(struct sd_client **cp, struct sd_vdi **vp)
{
	struct sd_client_opts o = {
		.addrs = cfg_addrs,
		.nr_addrs = 1 + cfg_nr_fallbacks,
		.nr_conns = cfg_conns,
		.timeout_ms = cfg_timeout_ms,
	};
	struct sd_vdi_open_args a = {
		.name = cfg_vdi,
		.tag = cfg_tag,
		.snapid = cfg_snapid,
		.lock = cfg_lock,
	};
	char addr[SD_ADDR_STR_MAX], where[SD_ADDR_STR_MAX + 48];
	int r;

	/* library messages name the VDI; add the sheep we asked */
	sd_addr_format(&cfg_addrs[0], addr, sizeof(addr));
	if (cfg_nr_fallbacks)
		snprintf(where, sizeof(where), "sheep %s (+%u fallback%s)",
			 addr, cfg_nr_fallbacks,
			 cfg_nr_fallbacks > 1 ? "s" : "");
	else
		snprintf(where, sizeof(where), "sheep %s", addr);
	r = sd_client_new(&o, cp);
	if (r < 0)
		return sdk_fail(where, r);
	r = sd_vdi_open(*cp, &a, vp);
	if (r < 0) {
		sdk_fail(where, r);
		sd_client_free(*cp);
		*cp = NULL;
		return -1;
	}
	return 0;
}

static void sdk_close_vdi(struct sd_client **cp, struct sd_vdi **vp)
{
	if (*vp)
		sd_vdi_close(*vp);
	if (*cp)
		sd_client_free(*cp);
	*vp = NULL;
	*cp = NULL;
}

/*
 * Trial open before nbdkit forks, so that errors reach the user's terminal.
 * The client (and its thread) is gone again before the fork.
 */
static int sdk_get_ready(void)
{
	struct sd_client *c = NULL;
	struct sd_vdi *v = NULL;

	if (sdk_open_vdi(&c, &v) < 0)
		return -1;
	nbdkit_debug("sheepdog: VDI '%s' vid %#x size %llu object size %u%s",
		     sd_vdi_name(v), sd_vdi_vid(v),
		     (unsigned long long)sd_vdi_size(v), sd_vdi_object_size(v),
		     sd_vdi_readonly(v) ? " (snapshot, read-only)" : "");
	sdk_close_vdi(&c, &v);
	return 0;
}

static int sdk_after_fork(void)
{
	if (sdk_open_vdi(&sdk_client, &sdk_vdi) < 0)
		return -1;
	sdk_status_start(sdk_vdi, cfg_tag, cfg_snapid);
	return 0;
}

static void sdk_cleanup(void)
{
	sdk_status_stop();
	sdk_close_vdi(&sdk_client, &sdk_vdi);
}

/* The per-connection handle: every connection uses the shared VDI. */
static void *sdk_open(int readonly)
{
	(void)readonly;
	if (!sdk_vdi) {
		nbdkit_error("sheepdog: VDI is not open");
		nbdkit_set_error(EIO);
		return NULL;
	}
	return sdk_vdi;
}

static void sdk_close(void *handle)
{
	(void)handle;
}

/*
 * Asked once per connection: a new connection gets the VDI's size as the
 * sheep has it now (it may have grown: dog or sdctl vdi resize); a
 * connected client keeps the size of its handshake.
 */
static int64_t sdk_get_size(void *handle)
{
	if (sd_vdi_refresh_size(handle) < 0)
		nbdkit_debug("sheepdog: %s; using the size known", sd_get_error());
	return (int64_t)sd_vdi_size(handle);
}

static int sdk_block_size(void *handle, uint32_t *minimum,
			  uint32_t *preferred, uint32_t *maximum)
{
	uint32_t obj = sd_vdi_object_size(handle);

	*minimum = sd_vdi_size(handle) % SDK_MIN_BLOCK ? 1 : SDK_MIN_BLOCK;
	if (obj < SDK_MIN_BLOCK || (obj & (obj - 1)))
		obj = SDK_MAX_REQUEST;
	*preferred = obj < SDK_MAX_REQUEST ? obj : SDK_MAX_REQUEST;
	*maximum = SDK_MAX_REQUEST;
	return 0;
}

static int sdk_can_write(void *handle)
{
	return !sd_vdi_readonly(handle);
}

static int sdk_can_true(void *handle)
{
	(void)handle;
	return 1;
}

static int sdk_can_fua(void *handle)
{
	(void)handle;
	return NBDKIT_FUA_NATIVE;
}

static int sdk_pread(void *handle, void *buf, uint32_t count,
		     uint64_t offset, uint32_t flags)
{
	uint64_t t = sdk_status_begin();
	int r;

	(void)flags;
	r = sd_vdi_pread(handle, buf, count, offset);
	sdk_status_end(SD_IO_KIND_READ, count, t, r);
	return r < 0 ? sdk_fail("pread", r) : 0;
}

static unsigned int sdk_io_flags(uint32_t flags)
{
	unsigned int f = 0;

	if (flags & NBDKIT_FLAG_FUA)
		f |= SD_IO_FUA;
	if (flags & NBDKIT_FLAG_MAY_TRIM)
		f |= SD_IO_UNMAP;
	return f;
}

static int sdk_pwrite(void *handle, const void *buf, uint32_t count,
		      uint64_t offset, uint32_t flags)
{
	uint64_t t = sdk_status_begin();
	int r;

	r = sd_vdi_pwrite(handle, buf, count, offset,
			  sdk_io_flags(flags & NBDKIT_FLAG_FUA));
	sdk_status_end(SD_IO_KIND_WRITE, count, t, r);
	return r < 0 ? sdk_fail("pwrite", r) : 0;
}

static int sdk_flush(void *handle, uint32_t flags)
{
	uint64_t t = sdk_status_begin();
	int r;

	(void)flags;
	r = sd_vdi_flush(handle);
	sdk_status_end(SD_IO_KIND_FLUSH, 0, t, r);
	return r < 0 ? sdk_fail("flush", r) : 0;
}

static int sdk_trim(void *handle, uint32_t count, uint64_t offset,
		    uint32_t flags)
{
	uint64_t t = sdk_status_begin();
	int r;

	if (flags & NBDKIT_FLAG_FUA)
		r = sd_vdi_zero(handle, offset, count, SD_IO_UNMAP | SD_IO_FUA);
	else
		r = sd_vdi_discard(handle, offset, count);
	sdk_status_end(SD_IO_KIND_DISCARD, 0, t, r);
	return r < 0 ? sdk_fail("trim", r) : 0;
}

static int sdk_zero(void *handle, uint32_t count, uint64_t offset,
		    uint32_t flags)
{
	uint64_t t = sdk_status_begin();
	int r;

	r = sd_vdi_zero(handle, offset, count, sdk_io_flags(flags));
	sdk_status_end(SD_IO_KIND_DISCARD, 0, t, r);
	return r < 0 ? sdk_fail("zero", r) : 0;
}

/* Allocated runs are data; unallocated objects read as zeros (holes). */
static int sdk_extents(void *handle, uint32_t count, uint64_t offset,
		       uint32_t flags, struct nbdkit_extents *extents)
{
	uint64_t pos = offset, end = offset + count, run;
	bool allocated;
	int r;

	while (pos < end) {
		r = sd_vdi_block_status(handle, pos, end - pos, &run,
					&allocated);
		if (r < 0)
			return sdk_fail("extents", r);
		if (run == 0 || run > end - pos) {
			nbdkit_error("extents: bad run of %llu bytes at %llu",
				     (unsigned long long)run,
				     (unsigned long long)pos);
			nbdkit_set_error(EIO);
			return -1;
		}
		if (nbdkit_add_extent(extents, pos, run, allocated ? 0 :
				      NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO))
			return -1;
		pos += run;
		if (flags & NBDKIT_FLAG_REQ_ONE)
			break;
	}
	return 0;
}

static void sdk_dump_plugin(void)
{
	printf("sheepdog_default_addr=%s\n", SD_DEFAULT_ADDR);
	printf("sheepdog_default_timeout=%d\n", SD_DEFAULT_TIMEOUT_MS / 1000);
	printf("sheepdog_default_connections=%d\n", SD_DEFAULT_CONNS);
	printf("sheepdog_max_connections=%d\n", SD_MAX_CONNS);
	printf("sheepdog_max_fallbacks=%d\n", SD_MAX_ADDRS - 1);
}

#define sdk_config_help \
"vdi=NAME                   (required) The Sheepdog VDI to export.\n" \
"addr=unix:PATH|tcp:HOST:PORT  Sheep to connect to (default $SHEEP_ADDR,\n" \
"                           else " SD_DEFAULT_ADDR "). Repeat it to list\n" \
"                           failover sheep, tried in order.\n" \
"fallback=ADDR              Failover sheep, tried after addr= (repeatable,\n" \
"                           at most " SDK_STR(SD_MAX_ADDRS) " addresses in all).\n" \
"snapshot=TAG|SNAPID        Export a snapshot read-only (all digits = id).\n" \
"timeout=SECONDS            Per-request timeout (default 15, fractions ok).\n" \
"connections=N              Connections to sheep, 1.." SDK_STR(SD_MAX_CONNS) \
" (default " SDK_STR(SD_DEFAULT_CONNS) ").\n" \
"lock=none|normal|shared    VDI lock (default normal; snapshots: none)."

static struct nbdkit_plugin plugin = {
	.name = "sheepdog",
	.longname = "nbdkit Sheepdog plugin",
	.description = "Export a Sheepdog VDI or snapshot over NBD",
	.unload = sdk_unload,
	.config = sdk_config,
	.config_complete = sdk_config_complete,
	.config_help = sdk_config_help,
	.magic_config_key = "vdi",
	.dump_plugin = sdk_dump_plugin,
	.get_ready = sdk_get_ready,
	.after_fork = sdk_after_fork,
	.cleanup = sdk_cleanup,
	.open = sdk_open,
	.close = sdk_close,
	.get_size = sdk_get_size,
	.block_size = sdk_block_size,
	.can_write = sdk_can_write,
	.can_flush = sdk_can_true,
	.can_trim = sdk_can_true,
	.can_zero = sdk_can_true,
	.can_fua = sdk_can_fua,
	.can_multi_conn = sdk_can_true,
	.can_extents = sdk_can_true,
	.pread = sdk_pread,
	.pwrite = sdk_pwrite,
	.flush = sdk_flush,
	.trim = sdk_trim,
	.zero = sdk_zero,
	.extents = sdk_extents,
	.errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
