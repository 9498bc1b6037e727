// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_fuzz_regress.c - replay the fuzz seed corpora and every saved fuzz
 * finding through the fuzz harnesses, built with the ordinary compiler, so
 * they run in `make check` without clang or libFuzzer.
 *
 * test/fuzz/corpus/<harness>/<file> goes to that harness; a file in
 * test/fuzz/regress/ goes to the harness its name starts with
 * ("reply-...", "addr-...", "inode-...").  Each input runs in a child
 * process, so one that aborts (a broken invariant, or a sanitizer report
 * in the ASan build) fails its own check and the replay goes on.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"

#define FUZZ_NO_ENTRY
#include "../fuzz/fuzz_reply.c"
#include "../fuzz/fuzz_addr.c"
#include "../fuzz/fuzz_inode.c"

#define FR_MAX_FILE	(1024 * 1024)
#define FR_CHILD_SECS	60

static const struct {
	const char *name;
	int (*one)(const uint8_t *data, size_t size);
} harnesses[] = {
	{ "reply", fuzz_one_reply },
	{ "addr", fuzz_one_addr },
	{ "inode", fuzz_one_inode },
};

#define NR_HARNESSES (int)(sizeof(harnesses) / sizeof(harnesses[0]))

static int find_harness(const char *name, size_t len)
{
	int i;

	for (i = 0; i < NR_HARNESSES; i++)
		if (strlen(harnesses[i].name) == len &&
		    !strncmp(harnesses[i].name, name, len))
			return i;
	return -1;
}

static int read_file(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f)
		return -errno;
	buf = malloc(FR_MAX_FILE + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, FR_MAX_FILE + 1, f);
	fclose(f);
	if (n > FR_MAX_FILE) {
		free(buf);
		return -EFBIG;
	}
	*data = buf;
	*size = n;
	return 0;
}

/* run one input in a child; 0 if it passed, else a description in @why */
static int replay(int h, const char *path, char *why, size_t whylen)
{
	uint8_t *data = NULL;
	size_t size = 0;
	pid_t pid;
	int ret, status;

	ret = read_file(path, &data, &size);
	if (ret) {
		snprintf(why, whylen, "cannot read: %s", strerror(-ret));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		free(data);
		return -1;
	}
	if (pid == 0) {
		alarm(FR_CHILD_SECS);
		harnesses[h].one(data, size);
		free(data);
		exit(0);
	}
	free(data);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		snprintf(why, whylen, "harness '%s' died of signal %d (%s)",
			 harnesses[h].name, WTERMSIG(status),
			 WTERMSIG(status) == SIGALRM ? "hang" :
			 strsignal(WTERMSIG(status)));
	else
		snprintf(why, whylen, "harness '%s' exited with status %d",
			 harnesses[h].name, WEXITSTATUS(status));
	return -1;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sorted regular files of @dir; returns the count (0 if none or missing) */
static int list_files(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	int n = 0;

	*out = NULL;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[2 * PATH_MAX + 320];
		struct stat st;
		char **nn;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		nn = realloc(names, (size_t)(n + 1) * sizeof(*names));
		if (!nn)
			break;
		names = nn;
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), cmp_names);
	*out = names;
	return n;
}

static void free_list(char **names, int n)
{
	while (n > 0)
		free(names[--n]);
	free(names);
}

static void replay_one(int h, const char *dir, const char *rel, const char *file)
{
	char path[2 * PATH_MAX + 320], name[2 * PATH_MAX + 400], why[256];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	snprintf(name, sizeof(name), "fuzz_regress %s/%s", rel, file);
	why[0] = '\0';
	CHECK(replay(h, path, why, sizeof(why)) == 0, name, "%s", why);
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX], fuzz[PATH_MAX + 32], dir[PATH_MAX + 80];
	char **names;
	ssize_t n;
	int h, i, cnt;
	char *slash;

	(void)argc;
	/* <top>/build/test/unit/test_fuzz_regress -> <top>/test/fuzz */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(exe, sizeof(exe), "%s", argv[0]);
		n = (ssize_t)strlen(exe);
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(fuzz, sizeof(fuzz), "%s/../../../test/fuzz", slash ? exe : ".");

	for (h = 0; h < NR_HARNESSES; h++) {
		char what[64];

		snprintf(dir, sizeof(dir), "%s/corpus/%s", fuzz, harnesses[h].name);
		snprintf(what, sizeof(what), "fuzz_regress corpus/%s has seeds",
			 harnesses[h].name);
		cnt = list_files(dir, &names);
		CHECK(cnt > 0, what, "no seed files in %s", dir);
		for (i = 0; i < cnt; i++) {
			char rel[64];

			snprintf(rel, sizeof(rel), "corpus/%s", harnesses[h].name);
			replay_one(h, dir, rel, names[i]);
		}
		free_list(names, cnt);
	}

	snprintf(dir, sizeof(dir), "%s/regress", fuzz);
	cnt = list_files(dir, &names);
	for (i = 0; i < cnt; i++) {
		const char *dash = strchr(names[i], '-');

		h = dash ? find_harness(names[i], (size_t)(dash - names[i])) : -1;
		if (h < 0) {
			CHECK(0, "fuzz_regress regress file named after a harness",
			      "'%s' does not start with reply-, addr- or inode-",
			      names[i]);
			continue;
		}
		replay_one(h, dir, "regress", names[i]);
	}
	free_list(names, cnt);
	return t_exit();
}
