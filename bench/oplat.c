// SPDX-License-Identifier: MIT
/*
 * Mean latency of single metadata operations in a folder, for
 * bench/oplat.sh (which builds it with cc into its temporary folder); not
 * part of zcfs.
 *
 *   oplat DIR N
 *	on one descriptor of DIR/oplat: N fchmod (alternating two modes),
 *	N fchown (to its owner: the kernel asks for the attributes first);
 *	then N create + close of DIR/cI, N unlink of them, N stat of names
 *	that do not exist.  Prints one line "OP MEAN_US" per operation.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	char p[4096];
	struct stat st;
	double t0;
	int n, fd;

	if (argc != 3 || (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: oplat DIR N\n");
		return 2;
	}
	snprintf(p, sizeof(p), "%s/oplat", argv[1]);
	fd = open(p, O_CREAT | O_RDWR, 0644);
	if (fd < 0 || fstat(fd, &st)) {
		perror(p);
		return 1;
	}
	t0 = now_us();
	for (int i = 0; i < n; i++)
		if (fchmod(fd, (i & 1) ? 0600 : 0644))
			perror("fchmod");
	printf("fchmod %.0f\n", (now_us() - t0) / n);
	t0 = now_us();
	for (int i = 0; i < n; i++)
		if (fchown(fd, st.st_uid, st.st_gid))
			perror("fchown");
	printf("fchown %.0f\n", (now_us() - t0) / n);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		int f;

		snprintf(p, sizeof(p), "%s/c%d", argv[1], i);
		if ((f = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644)) < 0)
			perror(p);
		else
			close(f);
	}
	printf("create %.0f\n", (now_us() - t0) / n);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/c%d", argv[1], i);
		if (unlink(p))
			perror(p);
	}
	printf("unlink %.0f\n", (now_us() - t0) / n);
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/none%d", argv[1], i);
		stat(p, &st);
	}
	printf("lookup-missing %.0f\n", (now_us() - t0) / n);
	close(fd);
	return 0;
}
