// SPDX-License-Identifier: MIT
/*
 * zc_lockf: opens one file and runs a script of lock, I/O and timing steps
 * on it, one output line per step (flushed at once), so that a mount case
 * can run it in the background, follow its output and assert on it.
 *
 * usage: zc_lockf [-r|-w] [-a] [-t] [-n] FILE STEP...
 *   opens FILE O_RDWR|O_CREAT (mode 0644); -r O_RDONLY, -w O_WRONLY,
 *   -a O_APPEND, -t O_TRUNC, -n without O_CREAT.  An open that fails
 *   prints "open ERRNO" and exits 1.
 *
 * Steps (S start, L length, 0 = to end of file; results are "ok" or the
 * errno name, e.g. EAGAIN, EINTR):
 *   rd S L | wr S L | un S L	fcntl F_SETLK read / write / unlock [S, S+L)
 *   rdw S L | wrw S L		the same with F_SETLKW (waits)
 *   get rd|wr S L		F_GETLK: "unlocked" or "rd|wr START LEN PID"
 *   fsh | fex | fun		flock LOCK_SH / LOCK_EX (waiting) / LOCK_UN
 *   fshnb | fexnb		flock with LOCK_NB: "ok" or "EWOULDBLOCK"
 *   alarm N			SIGALRM in N seconds, no SA_RESTART: a waiting
 *				step then fails with EINTR
 *   sleep N			N seconds (fractions allowed); prints "ok"
 *   hold			prints "holding", then sleeps until killed
 *   echo TEXT | pid		prints TEXT / the process id
 *   wait-file PATH		until PATH exists (checked every 50 ms): "ok",
 *				or "ETIMEDOUT" after 120 s
 *   read OFF LEN		pread up to LEN bytes (at most 1 MiB): printable
 *				bytes as they are, others as \n, \t, \\ or \xNN
 *   write OFF TEXT		pwrite TEXT at OFF
 *   fstat			"size N nlink N"
 *   fsync | close		fsync(2) / close(2) the file
 * The program exits 0 after the last step (closing the file), 2 on a bad
 * step list (checked before anything runs, numbers as each step runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define WAIT_FILE_SECONDS 120
#define MAX_READ	  (1 << 20)

static int fd = -1;

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void usage(const char *why)
{
	fprintf(stderr, "zc_lockf: %s\nusage: zc_lockf [-r|-w] [-a] [-t] [-n] FILE STEP...\n", why);
	exit(2);
}

static const char *err_name(int err)
{
	static char buf[16];
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

/* "ok" or the errno name of a call that returned -1 with errno set. */
static void result(int ret)
{
	say("%s", ret ? err_name(errno) : "ok");
}

static long long num(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		usage("not a number");
	return v;
}

static double seconds(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= 0 && v < 1e6))
		usage("not a number of seconds");
	return v;
}

static void nap(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9) };

	/* A SIGALRM armed for a later step must not cut the sleep short. */
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void set_lock(int cmd, short type, char **arg)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = num(arg[0]),
		.l_len = num(arg[1]),
	};

	result(fcntl(fd, cmd, &fl));
}

static void get_lock(char **arg)
{
	struct flock fl = { .l_whence = SEEK_SET, .l_start = num(arg[1]), .l_len = num(arg[2]) };

	if (!strcmp(arg[0], "rd"))
		fl.l_type = F_RDLCK;
	else if (!strcmp(arg[0], "wr"))
		fl.l_type = F_WRLCK;
	else
		usage("get takes rd or wr");
	if (fcntl(fd, F_GETLK, &fl))
		result(-1);
	else if (fl.l_type == F_UNLCK)
		say("unlocked");
	else
		say("%s %lld %lld %d", fl.l_type == F_RDLCK ? "rd" : "wr", (long long)fl.l_start,
		    (long long)fl.l_len, (int)fl.l_pid);
}

static void do_flock(int op)
{
	if (!flock(fd, op))
		say("ok");
	else if (errno == EWOULDBLOCK)
		say("EWOULDBLOCK");	/* the name flock(2) documents, not EAGAIN */
	else
		result(-1);
}

static void do_alarm(char **arg)
{
	double s = seconds(arg[0]);
	struct itimerval it = {
		.it_value = { .tv_sec = (time_t)s, .tv_usec = (long)((s - (time_t)s) * 1e6) },
	};

	result(setitimer(ITIMER_REAL, &it, NULL));
}

static void do_sleep(char **arg)
{
	nap(seconds(arg[0]));
	say("ok");
}

static void do_hold(void)
{
	say("holding");
	for (;;)
		pause();
}

static void wait_file(const char *path)
{
	struct stat st;

	for (int i = 0; i < WAIT_FILE_SECONDS * 20; i++) {
		if (!stat(path, &st)) {
			say("ok");
			return;
		}
		nap(0.05);
	}
	say("ETIMEDOUT");
}

static void do_read(char **arg)
{
	long long off = num(arg[0]), len = num(arg[1]), got = 0;
	unsigned char *buf;
	ssize_t n = 0;

	if (len < 0 || len > MAX_READ)
		usage("read: length out of range");
	buf = malloc(len + 1);
	if (!buf)
		usage("out of memory");
	while (got < len && (n = pread(fd, buf + got, len - got, off + got)) > 0)
		got += n;
	if (n < 0) {
		result(-1);
		free(buf);
		return;
	}
	for (long long i = 0; i < got; i++) {
		unsigned char c = buf[i];

		if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c == '\\')
			fputs("\\\\", stdout);
		else if (c >= 0x20 && c < 0x7f)
			putchar(c);
		else
			printf("\\x%02x", c);
	}
	say("");
	free(buf);
}

static void do_write(char **arg)
{
	long long off = num(arg[0]);
	const char *p = arg[1];
	size_t left = strlen(p);

	while (left) {
		ssize_t n = pwrite(fd, p, left, off);

		if (n < 0) {
			result(-1);
			return;
		}
		p += n;
		off += n;
		left -= n;
	}
	say("ok");
}

static void do_fstat(void)
{
	struct stat st;

	if (fstat(fd, &st))
		result(-1);
	else
		say("size %lld nlink %lu", (long long)st.st_size, (unsigned long)st.st_nlink);
}

static void do_close(void)
{
	result(close(fd));
	fd = -1;
}

/* Every step and the number of its arguments, checked before any runs. */
static const struct step {
	const char *name;
	int nargs;
} steps[] = {
	{ "rd", 2 }, { "wr", 2 }, { "un", 2 }, { "rdw", 2 }, { "wrw", 2 }, { "get", 3 },
	{ "fsh", 0 }, { "fex", 0 }, { "fun", 0 }, { "fshnb", 0 }, { "fexnb", 0 },
	{ "alarm", 1 }, { "sleep", 1 }, { "hold", 0 }, { "echo", 1 }, { "pid", 0 },
	{ "wait-file", 1 }, { "read", 2 }, { "write", 2 }, { "fstat", 0 }, { "fsync", 0 },
	{ "close", 0 },
};

static const struct step *find_step(const char *name)
{
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (!strcmp(steps[i].name, name))
			return &steps[i];
	return NULL;
}

static void run(const char *s, char **arg)
{
	if (!strcmp(s, "rd"))
		set_lock(F_SETLK, F_RDLCK, arg);
	else if (!strcmp(s, "wr"))
		set_lock(F_SETLK, F_WRLCK, arg);
	else if (!strcmp(s, "un"))
		set_lock(F_SETLK, F_UNLCK, arg);
	else if (!strcmp(s, "rdw"))
		set_lock(F_SETLKW, F_RDLCK, arg);
	else if (!strcmp(s, "wrw"))
		set_lock(F_SETLKW, F_WRLCK, arg);
	else if (!strcmp(s, "get"))
		get_lock(arg);
	else if (!strcmp(s, "fsh"))
		do_flock(LOCK_SH);
	else if (!strcmp(s, "fex"))
		do_flock(LOCK_EX);
	else if (!strcmp(s, "fun"))
		do_flock(LOCK_UN);
	else if (!strcmp(s, "fshnb"))
		do_flock(LOCK_SH | LOCK_NB);
	else if (!strcmp(s, "fexnb"))
		do_flock(LOCK_EX | LOCK_NB);
	else if (!strcmp(s, "alarm"))
		do_alarm(arg);
	else if (!strcmp(s, "sleep"))
		do_sleep(arg);
	else if (!strcmp(s, "hold"))
		do_hold();
	else if (!strcmp(s, "echo"))
		say("%s", arg[0]);
	else if (!strcmp(s, "pid"))
		say("%d", (int)getpid());
	else if (!strcmp(s, "wait-file"))
		wait_file(arg[0]);
	else if (!strcmp(s, "read"))
		do_read(arg);
	else if (!strcmp(s, "write"))
		do_write(arg);
	else if (!strcmp(s, "fstat"))
		do_fstat();
	else if (!strcmp(s, "fsync"))
		result(fsync(fd));
	else if (!strcmp(s, "close"))
		do_close();
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	int flags = O_RDWR | O_CREAT, opt;

	while ((opt = getopt(argc, argv, "+rwatn")) != -1) {
		switch (opt) {
		case 'r': flags = (flags & ~O_ACCMODE) | O_RDONLY; break;
		case 'w': flags = (flags & ~O_ACCMODE) | O_WRONLY; break;
		case 'a': flags |= O_APPEND; break;
		case 't': flags |= O_TRUNC; break;
		case 'n': flags &= ~O_CREAT; break;
		default: usage("unknown option");
		}
	}
	if (optind >= argc)
		usage("no file");
	for (int i = optind + 1; i < argc;) {
		const struct step *st = find_step(argv[i]);

		if (!st)
			usage("unknown step");
		if (i + st->nargs >= argc)
			usage("missing arguments");
		i += 1 + st->nargs;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	fd = open(argv[optind], flags | O_CLOEXEC, 0644);
	if (fd < 0) {
		say("open %s", err_name(errno));
		return 1;
	}
	for (int i = optind + 1; i < argc; i += 1 + find_step(argv[i])->nargs)
		run(argv[i], &argv[i + 1]);
	if (fd >= 0)
		close(fd);
	return 0;
}
