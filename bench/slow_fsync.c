// SPDX-License-Identifier: MIT
/*
 * LD_PRELOAD shim: every fsync(2) and fdatasync(2) takes SLOW_FSYNC_US
 * (default 2000) microseconds longer, as on a disk slower to flush than
 * the one at hand.  bench/pcreate.sh builds and uses it when SLOW_FSYNC_US
 * is set; not part of zcfs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void slow(void)
{
	const char *e = getenv("SLOW_FSYNC_US");
	long us = e ? atol(e) : 2000;
	struct timespec ts = { us / 1000000, us % 1000000 * 1000 };

	nanosleep(&ts, NULL);
}

int fsync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	slow();
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	slow();
	return real(fd);
}
