// SPDX-License-Identifier: MIT
/*
 * Makes many empty files fast, and looks names up, for bench/scale.sh (which
 * builds it with cc into its temporary folder); not part of zcfs.
 *
 *   mkfiles [-p P] [-n N] [-d PER_DIR] [-s START] [-w WINDOW] DIR
 *	P processes (default 4) make N files (default 10000) between them,
 *	each open(O_WRONLY | O_CREAT | O_EXCL) and close, as touch(1) does.
 *	PER_DIR > 0 (default 1000): process k makes its files in folders of
 *	its own, DIR/pK/dJ/fI, PER_DIR files per folder.  PER_DIR 0: all in
 *	DIR itself, named fG for G from START on (process k makes G = START +
 *	k, START + k + P, ...).  Prints a line "FILES NS CPU" each time
 *	WINDOW (default 10000) more files are made, NS the nanoseconds since
 *	the start (taken by the process that made the window's last file),
 *	CPU the user + system microseconds the P processes have used so far
 *	(read when the line is printed), and "done FILES NS CPU" at the end.
 *
 *   mkfiles -L COUNT [-n N] DIR
 *	stat(2) (fstatat in DIR) of COUNT distinct names picked at random
 *	among f0 ... f(N-1); prints "COUNT MEAN_US P50_US P99_US MAX_US".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
	_Atomic uint64_t made;
	_Atomic int failed;
	_Atomic uint64_t at[];	/* at[w]: when window w's last file was made; 0: not yet */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr, "usage: mkfiles [-p P] [-n N] [-d PER_DIR] [-s START] [-w WINDOW] DIR\n"
			"       mkfiles -L COUNT [-n N] DIR\n");
	return 2;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) && errno != EEXIST) {
		fprintf(stderr, "mkfiles: mkdir %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Process k's share: files k, k + p, ... below n. */
static int child(struct shared *sh, const char *dir, unsigned k, unsigned p, uint64_t n,
		 uint64_t start, unsigned per_dir, uint64_t window, uint64_t t0)
{
	char path[4096];
	uint64_t i = 0;

	if (per_dir) {
		snprintf(path, sizeof(path), "%s/p%u", dir, k);
		if (make_dir(path))
			return 1;
	}
	for (uint64_t g = k; g < n; g += p, i++) {
		uint64_t v;
		int fd;

		if (per_dir) {
			if (i % per_dir == 0) {
				snprintf(path, sizeof(path), "%s/p%u/d%llu", dir, k,
					 (unsigned long long)(i / per_dir));
				if (make_dir(path))
					return 1;
			}
			snprintf(path, sizeof(path), "%s/p%u/d%llu/f%llu", dir, k,
				 (unsigned long long)(i / per_dir), (unsigned long long)i);
		} else {
			snprintf(path, sizeof(path), "%s/f%llu", dir, (unsigned long long)(start + g));
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || close(fd)) {
			fprintf(stderr, "mkfiles: create %s: %s\n", path, strerror(errno));
			return 1;
		}
		v = atomic_fetch_add(&sh->made, 1) + 1;
		if (v % window == 0)	/* never 0: 0 is "not yet" */
			atomic_store(&sh->at[v / window], now_ns() - t0 + 1);
		if (atomic_load(&sh->failed))
			return 1;
	}
	return 0;
}

/* CPU time (user + system, microseconds) of the children: those still
 * running (or not yet reaped) from /proc, those reaped from getrusage. */
static uint64_t children_cpu_us(const pid_t *pids, unsigned n)
{
	static long hz;
	struct rusage ru;
	uint64_t us;

	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	getrusage(RUSAGE_CHILDREN, &ru);
	us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
	     (uint64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
	for (unsigned k = 0; k < n; k++) {
		char path[64], buf[1024], *e;
		unsigned long long ut, st;
		ssize_t len;
		int fd;

		if (!pids[k])
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[k]);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		/* After "(comm) ": state is field 3, utime and stime 14 and 15. */
		if ((e = strrchr(buf, ')')) &&
		    sscanf(e + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			   &st) == 2)
			us += (ut + st) * 1000000 / hz;
	}
	return us;
}

static void print_windows(struct shared *sh, uint64_t *next, size_t windows, uint64_t window,
			  const pid_t *pids, unsigned p)
{
	for (; *next < windows && atomic_load(&sh->at[*next]); ++*next)
		printf("%llu %llu %llu\n", (unsigned long long)(*next * window),
		       (unsigned long long)atomic_load(&sh->at[*next]),
		       (unsigned long long)children_cpu_us(pids, p));
	fflush(stdout);
}

static int create(const char *dir, unsigned p, uint64_t n, uint64_t start, unsigned per_dir,
		  uint64_t window)
{
	size_t windows = n / window + 2, len = sizeof(struct shared) + windows * sizeof(uint64_t);
	struct shared *sh = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				 -1, 0);
	uint64_t t0 = now_ns(), next = 1;
	pid_t *pids = calloc(p, sizeof(*pids));
	unsigned alive = 0;
	int rc = 0;

	if (sh == MAP_FAILED || !pids) {
		perror("mkfiles: mmap");
		return 1;
	}
	for (unsigned k = 0; k < p; k++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("mkfiles: fork");
			atomic_store(&sh->failed, 1);
			rc = 1;
			break;
		}
		if (!pid)
			_exit(child(sh, dir, k, p, n, start, per_dir, window, t0));
		pids[k] = pid;
		alive++;
	}
	while (alive) {
		struct timespec pause = { 0, 20 * 1000 * 1000 };
		int status;
		pid_t pid;

		/* Windows first: the CPU time printed with them still counts
		 * children that have just exited (not reaped yet). */
		print_windows(sh, &next, windows, window, pids, p);
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (unsigned k = 0; k < p; k++)
				if (pids[k] == pid)
					pids[k] = 0;
			alive--;
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				atomic_store(&sh->failed, 1);
				rc = 1;
			}
		}
		if (alive)
			nanosleep(&pause, NULL);
	}
	print_windows(sh, &next, windows, window, pids, p);
	printf("done %llu %llu %llu\n", (unsigned long long)atomic_load(&sh->made),
	       (unsigned long long)(now_ns() - t0), (unsigned long long)children_cpu_us(pids, p));
	free(pids);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int lookups(const char *dir, uint64_t count, uint64_t n)
{
	uint64_t *pick, *us, sum = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	if (dfd < 0) {
		fprintf(stderr, "mkfiles: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (count > n)
		count = n;
	pick = malloc(n * sizeof(*pick));
	us = malloc((count ? count : 1) * sizeof(*us));
	if (!pick || !us) {
		perror("mkfiles");
		return 1;
	}
	for (uint64_t i = 0; i < n; i++)
		pick[i] = i;
	srandom(11);
	/* The first count of a partial shuffle: distinct names. */
	for (uint64_t i = 0; i < count; i++) {
		uint64_t j = i + (((uint64_t)random() << 31 | random()) % (n - i)), t = pick[i];

		pick[i] = pick[j];
		pick[j] = t;
	}
	for (uint64_t i = 0; i < count; i++) {
		char name[64];
		struct stat st;
		uint64_t t;

		snprintf(name, sizeof(name), "f%llu", (unsigned long long)pick[i]);
		t = now_ns();
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
			fprintf(stderr, "mkfiles: stat %s/%s: %s\n", dir, name, strerror(errno));
			return 1;
		}
		us[i] = (now_ns() - t) / 1000;
		sum += us[i];
	}
	qsort(us, count, sizeof(*us), cmp_u64);
	if (count)
		printf("%llu %llu %llu %llu %llu\n", (unsigned long long)count,
		       (unsigned long long)(sum / count), (unsigned long long)us[count / 2],
		       (unsigned long long)us[count * 99 / 100], (unsigned long long)us[count - 1]);
	free(pick);
	free(us);
	close(dfd);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long n = 10000, start = 0, window = 10000, count = 0;
	unsigned p = 4, per_dir = 1000;
	int c;

	while ((c = getopt(argc, argv, "p:n:d:s:w:L:")) != -1) {
		switch (c) {
		case 'p': p = strtoul(optarg, NULL, 0); break;
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 'd': per_dir = strtoul(optarg, NULL, 0); break;
		case 's': start = strtoull(optarg, NULL, 0); break;
		case 'w': window = strtoull(optarg, NULL, 0); break;
		case 'L': count = strtoull(optarg, NULL, 0); break;
		default: return usage();
		}
	}
	if (optind != argc - 1 || !p || !window)
		return usage();
	if (count)
		return lookups(argv[optind], count, n);
	return create(argv[optind], p, n, start, per_dir, window);
}
