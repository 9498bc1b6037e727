// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ctl_client.c - `minisheep --ctl PATH CMD [ARGS...]`: send one command to
 * a running minisheep's control socket, print the one-line answer, exit 0
 * for "ok ..." and 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "minisheep.h"
#include "../common/io_all.h"

int ctl_client_main(const char *path, int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char cmd[1024], answer[8192];
	size_t len = 0, got = 0;
	int fd, i;

	if (argc < 1) {
		fprintf(stderr, "%s: --ctl needs a command\n", MS_NAME);
		return 2;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: control socket path too long\n", MS_NAME);
		return 1;
	}
	for (i = 0; i < argc; i++) {
		int n = snprintf(cmd + len, sizeof(cmd) - len, "%s%s",
				 i ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(cmd) - len - 1) {
			fprintf(stderr, "%s: command too long\n", MS_NAME);
			return 1;
		}
		len += (size_t)n;
	}
	cmd[len++] = '\n';
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n", MS_NAME,
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (io_all(fd, (void *)cmd, len, true)) {
		fprintf(stderr, "%s: cannot send to %s: %s\n", MS_NAME, path,
			strerror(errno));
		close(fd);
		return 1;
	}
	while (got < sizeof(answer) - 1) {
		ssize_t n = read(fd, answer + got, sizeof(answer) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(answer, '\n', got))
			break;
	}
	close(fd);
	answer[got] = '\0';
	answer[strcspn(answer, "\n")] = '\0';
	if (!got) {
		fprintf(stderr, "%s: no answer from %s\n", MS_NAME, path);
		return 1;
	}
	printf("%s\n", answer);
	return strncmp(answer, "ok", 2) ? 1 : 0;
}
