// SPDX-License-Identifier: MIT
/*
 * A folder read a page at a time while it changes, for tests/cases
 * (posix_ops): entries kept from one READDIR answer must not bring back
 * what this client changed since.
 *
 *   zc_dirstep DIR	DIR holds f000 ... f199 (and nothing cached of them:
 *			drop the caches first).  Reads one 4 KiB batch of
 *			entries, removes the name that follows the last,
 *			chmods the one after it to 0600, reads the next
 *			batch; exits 0 if the removed name is gone and the
 *			other has mode 0600, else prints what it found and
 *			exits 1.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct dent64 {
	unsigned long long ino;
	long long off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

/* One getdents64 of 4 KiB; the number in the last f### name read. */
static int batch(int fd)
{
	char buf[4096];
	long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
	int last = -1;

	for (long p = 0; p < n; p += ((struct dent64 *)(buf + p))->reclen) {
		const char *name = ((struct dent64 *)(buf + p))->name;

		if (name[0] == 'f')
			last = atoi(name + 1);
	}
	return last;
}

int main(int argc, char **argv)
{
	char gone[4200], changed[4200];
	struct stat st;
	int fd, last, bad = 0;

	if (argc != 2 || (fd = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0) {
		fprintf(stderr, "usage: zc_dirstep DIR\n");
		return 2;
	}
	last = batch(fd);
	if (last < 0 || last > 190) {
		fprintf(stderr, "zc_dirstep: first batch ended at %d\n", last);
		return 2;
	}
	snprintf(gone, sizeof(gone), "%s/f%03d", argv[1], last + 1);
	snprintf(changed, sizeof(changed), "%s/f%03d", argv[1], last + 2);
	if (unlink(gone) || chmod(changed, 0600)) {
		perror("zc_dirstep");
		return 2;
	}
	batch(fd);
	if (!stat(gone, &st)) {
		printf("%s: still there after its unlink (nlink %lu)\n", gone,
		       (unsigned long)st.st_nlink);
		bad = 1;
	}
	if (stat(changed, &st) || (st.st_mode & 07777) != 0600) {
		printf("%s: mode %o after chmod 600\n", changed, st.st_mode & 07777);
		bad = 1;
	}
	return bad;
}
