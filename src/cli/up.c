// SPDX-License-Identifier: MIT
/*
 * zcfs up / down / status: a whole cluster on one machine.
 *
 * `up` starts an mds and N chunk servers on 127.0.0.1 and mounts, each a
 * child in its own session logging to DIR/NAME.log, and records them in
 * DIR/cluster.conf.  Run again, it starts only what is not running, on the
 * recorded ports and with the recorded options.  `down` stops exactly the
 * processes recorded there (checked against /proc/PID/cmdline, so a reused
 * pid is never hit), and the extra clients recorded in DIR/mounts/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/pack.h"
#include "common/util.h"
#include "rpc/rpc.h"

#define FUSE_SUPER_MAGIC 0x65735546
#define MAX_CS 64

struct cluster {
	char dir[PATH_MAX];
	char mnt[PATH_MAX];
	char mds[64];
	char opts[512];
	/* What a restart must pass again; an empty lease is not passed. */
	char replicas[16], grace[16], lease[16], scrub[16], cap_life[16];
	int ncs;
	pid_t mds_pid, mount_pid, cs_pid[MAX_CS];
	int cs_port[MAX_CS];
	/* Ports of each daemon's /metrics on 127.0.0.1 (0: none yet). */
	int mds_mport, mount_mport, cs_mport[MAX_CS];
};

static void conf_path(const char *dir, char *out, size_t len)
{
	snprintf(out, len, "%s/cluster.conf", dir);
}

/* Loads dir/cluster.conf into cl; what it lacks keeps the defaults of up. */
static int conf_load(const char *dir, struct cluster *cl)
{
	char path[PATH_MAX + 32], line[PATH_MAX + 64];
	FILE *f;

	memset(cl, 0, sizeof(*cl));
	snprintf(cl->dir, sizeof(cl->dir), "%s", dir);
	strcpy(cl->replicas, "3");
	strcpy(cl->grace, "10");
	strcpy(cl->scrub, "3600");
	conf_path(dir, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *v;
		int i;

		if (!eq)
			continue;
		*eq = 0;
		v = eq + 1;
		v[strcspn(v, "\n")] = 0;
		if (!strcmp(line, "mds"))
			snprintf(cl->mds, sizeof(cl->mds), "%s", v);
		else if (!strcmp(line, "mount"))
			snprintf(cl->mnt, sizeof(cl->mnt), "%s", v);
		else if (!strcmp(line, "opts"))
			snprintf(cl->opts, sizeof(cl->opts), "%s", v);
		else if (!strcmp(line, "replicas"))
			snprintf(cl->replicas, sizeof(cl->replicas), "%s", v);
		else if (!strcmp(line, "grace"))
			snprintf(cl->grace, sizeof(cl->grace), "%s", v);
		else if (!strcmp(line, "lease"))
			snprintf(cl->lease, sizeof(cl->lease), "%s", v);
		else if (!strcmp(line, "cap-life"))
			snprintf(cl->cap_life, sizeof(cl->cap_life), "%s", v);
		else if (!strcmp(line, "scrub-interval"))
			snprintf(cl->scrub, sizeof(cl->scrub), "%s", v);
		else if (!strcmp(line, "cs"))
			cl->ncs = ZC_MIN(atoi(v), MAX_CS);
		else if (!strcmp(line, "pid.mds"))
			cl->mds_pid = atoi(v);
		else if (!strcmp(line, "pid.mount"))
			cl->mount_pid = atoi(v);
		else if (sscanf(line, "pid.cs%d", &i) == 1 && i >= 1 && i <= MAX_CS)
			cl->cs_pid[i - 1] = atoi(v);
		else if (sscanf(line, "port.cs%d", &i) == 1 && i >= 1 && i <= MAX_CS)
			cl->cs_port[i - 1] = atoi(v);
		else if (!strcmp(line, "metrics.mds"))
			cl->mds_mport = atoi(v);
		else if (!strcmp(line, "metrics.mount"))
			cl->mount_mport = atoi(v);
		else if (sscanf(line, "metrics.cs%d", &i) == 1 && i >= 1 && i <= MAX_CS)
			cl->cs_mport[i - 1] = atoi(v);
	}
	fclose(f);
	return 0;
}

static int conf_save(const struct cluster *cl)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
	FILE *f;

	conf_path(cl->dir, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "mds=%s\nmount=%s\nopts=%s\ncs=%d\npid.mds=%d\npid.mount=%d\n", cl->mds,
		cl->mnt, cl->opts, cl->ncs, cl->mds_pid, cl->mount_pid);
	fprintf(f, "replicas=%s\ngrace=%s\nlease=%s\nscrub-interval=%s\ncap-life=%s\n",
		cl->replicas, cl->grace, cl->lease, cl->scrub, cl->cap_life);
	for (int i = 0; i < cl->ncs; i++)
		fprintf(f, "pid.cs%d=%d\nport.cs%d=%d\n", i + 1, cl->cs_pid[i], i + 1,
			cl->cs_port[i]);
	fprintf(f, "metrics.mds=%d\nmetrics.mount=%d\n", cl->mds_mport, cl->mount_mport);
	for (int i = 0; i < cl->ncs; i++)
		fprintf(f, "metrics.cs%d=%d\n", i + 1, cl->cs_mport[i]);
	if (fclose(f) || rename(tmp, path))
		return -errno;
	return 0;
}

/* Is pid alive and one of ours: its command line holds every word given? */
static bool ours(pid_t pid, const char *w1, const char *w2)
{
	char path[64], cmd[8192];
	bool h1 = false, h2 = !w2, zc = false;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return false;
	cmd[n] = 0;
	for (char *p = cmd; p < cmd + n; p += strlen(p) + 1) {
		zc |= strstr(p, "zcfs") != NULL;
		h1 |= !strcmp(p, w1);
		h2 |= w2 && strstr(p, w2);
	}
	/* A zombie has an empty command line: not running. */
	return zc && h1 && h2;
}

static void stop_pid(pid_t pid, const char *role, const char *key, const char *what)
{
	if (!ours(pid, role, key))
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100 && ours(pid, role, key); i++)
		usleep(100000);
	if (ours(pid, role, key)) {
		fprintf(stderr, "zcfs: %s (pid %d) did not stop; killing it\n", what, (int)pid);
		kill(pid, SIGKILL);
		for (int i = 0; i < 50 && ours(pid, role, key); i++)
			usleep(100000);
	}
	waitpid(pid, NULL, WNOHANG);
}

static bool is_fuse_mount(const char *mnt)
{
	struct statfs sf;

	return !statfs(mnt, &sf) && sf.f_type == FUSE_SUPER_MAGIC;
}

/* Is mnt a mount point in /proc/self/mounts? */
static bool mounted(const char *mnt)
{
	char line[PATH_MAX + 256], dev[256], at[PATH_MAX];
	bool found = false;
	FILE *f = fopen("/proc/self/mounts", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%255s %4095s", dev, at) == 2 && !strcmp(zc_unescape_mnt(at), mnt);
	fclose(f);
	return found;
}

/*
 * Closes every descriptor above 2, in a child about to exec: what it starts
 * holds nothing of ours (the lock of DIR) nor of whoever ran us (a pipe
 * whose reader would never see its end, a file never closed).
 */
static void close_from_3(void)
{
	struct dirent *de;
	DIR *d;

#ifdef __GLIBC__
#if __GLIBC_PREREQ(2, 34)
	if (!close_range(3, ~0U, 0))
		return;
#endif
#endif
	/* No close_range (an older libc, or a kernel before 5.9). */
	d = opendir("/proc/self/fd");
	if (!d) {
		for (long fd = 3; fd < sysconf(_SC_OPEN_MAX); fd++)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (fd > 2 && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
}

/* Runs argv[0] (from PATH, no shell: a path is never a command) and waits.
 * Returns its exit status, or -1. */
static int run(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (!pid) {
		int fd = quiet ? open("/dev/null", O_WRONLY) : -1;

		if (fd >= 0)
			dup2(fd, 2);
		close_from_3();
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Takes away a mount left by a client that is gone.  With force (the
 * client was ours and is stopped) any mount there goes; otherwise only a
 * dead one, which answers ENOTCONN.  Asked with statfs, which always goes
 * to the client: a stat may be answered from cached attributes.
 */
static void clear_stale_mount(const char *mnt, bool force)
{
	struct statfs sf;

	if (!mounted(mnt) || (!force && !(statfs(mnt, &sf) && errno == ENOTCONN)))
		return;
	fprintf(stderr, "zcfs: removing stale mount at %s\n", mnt);
	if (run((char *[]){ "fusermount3", "-u", "-z", (char *)mnt, NULL }, true) &&
	    run((char *[]){ "umount", "-l", (char *)mnt, NULL }, false))
		fprintf(stderr, "zcfs: could not unmount %s\n", mnt);
	for (int i = 0; i < 50 && mounted(mnt); i++)
		usleep(100000);
}

static pid_t spawn(const char *log, char *const argv[])
{
	char self[PATH_MAX];
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid)
		return pid;
	/* Exec the binary by its real path, so that ps and top say "zcfs"
	 * rather than "exe". */
	if (!realpath("/proc/self/exe", self))
		snprintf(self, sizeof(self), "/proc/self/exe");
	setsid();
	/* Not close-on-exec: either descriptor may already be 0, 1 or 2 (when
	 * those were closed); close_from_3() takes the others. */
	int fd = open("/dev/null", O_RDONLY);

	dup2(fd, 0);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	close_from_3();
	/* A local cluster: /etc/zcfs/zcfs.conf is for the real one. */
	setenv("ZCFS_CONFIG", "", 1);
	execv(self, argv);
	_exit(127);
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd, port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = zc_tcp_listen(&sa);
	if (fd < 0)
		return fd;
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static bool port_free(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = zc_tcp_listen(&sa);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int zc_cli_mds_status(const char *mds, bool json, char **out)
{
	struct sockaddr_in sa;
	struct zc_conn *conn;
	struct zc_call call = { .type = ZC_CLTOMA_STATUS, .timeout_ms = 3000 };
	uint8_t arg[40];
	struct zc_cur c = zc_cur_init(arg, sizeof(arg));
	int err;

	if (zc_parse_addr(mds, &sa))
		return -EINVAL;
	/* No session: session, seq and ack are 0; uid 0, gid 0, no groups. */
	zc_put_u64(&c, 0);
	zc_put_u64(&c, 0);
	zc_put_u64(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_u32(&c, 0);
	zc_put_u8(&c, 0);
	zc_put_u32(&c, json);
	call.req[0] = (struct iovec){ arg, c.pos };
	conn = zc_conn_get(&sa, &err);
	if (!conn)
		return err;
	err = zc_call_sync(conn, &call);
	zc_conn_put(conn);
	if (err)
		return err;
	*out = malloc(call.resp_len + 1);
	if (!*out) {
		zc_call_free_resp(&call);
		return -ENOMEM;
	}
	memcpy(*out, call.resp, call.resp_len);
	(*out)[call.resp_len] = 0;
	zc_call_free_resp(&call);
	return 0;
}

static int cs_up_count(const char *mds)
{
	char *s = NULL, *p;
	int n = -1;

	if (zc_cli_mds_status(mds, true, &s))
		return -1;
	p = strstr(s, "\"cs_up\":");
	if (p)
		n = atoi(p + 8);
	free(s);
	return n;
}

static int wait_for(const char *what, int seconds, bool (*ok)(const void *), const void *arg,
		    pid_t pid)
{
	if (pid < 0) {
		fprintf(stderr, "zcfs: cannot start the %s: %s\n", what, strerror((int)-pid));
		return pid;
	}
	for (int i = 0; i < seconds * 10; i++) {
		if (ok(arg))
			return 0;
		if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "zcfs: %s exited during start-up\n", what);
			return -ECHILD;
		}
		usleep(100000);
	}
	fprintf(stderr, "zcfs: %s not ready after %d s\n", what, seconds);
	return -ETIMEDOUT;
}

static bool mds_ready(const void *arg)
{
	return cs_up_count(arg) >= 0;
}

static bool mount_ready(const void *arg)
{
	return is_fuse_mount(arg);
}

static void up_usage(void)
{
	fprintf(stderr,
		"usage: zcfs up [--dir DIR] [--mount MNT] [--cs N] [--replicas R] [--grace S]\n"
		"               [--lease S] [--cap-life S] [--scrub-interval S] [-o opts]\n"
		"  starts an mds and N chunk servers (default 3) on 127.0.0.1 with data\n"
		"  under DIR (default ./zcfs-data) and mounts at MNT (default ./zcfs-mnt);\n"
		"  every chunk is kept R times (default 3, at most N); a chunk server\n"
		"  silent for S seconds (default 10) has its chunks copied elsewhere;\n"
		"  --lease S: the mds's client session lease (default: the mds's own);\n"
		"  --cap-life S: how long a chunk capability lasts (default 300);\n"
		"  secrets: DIR/cluster.key (mds and chunk servers), DIR/credentials\n"
		"  (the clients the mds lets in), DIR/admin.cred (this client's), all\n"
		"  made at the first start with mode 0600; DIR/exports, if you write\n"
		"  one, says what each credential may mount (README, Exports);\n"
		"  chunk servers scrub every S seconds (default 3600); -o opts go to the\n"
		"  client (-o zerocopy=0: the copying read path); every daemon serves\n"
		"  Prometheus metrics on a free port of 127.0.0.1 (zcfs status --json,\n"
		"  key metrics; zcfs top --dir DIR shows them live)\n"
		"  run again, it starts only what is not running, on the same ports and\n"
		"  with the options recorded in DIR/cluster.conf (options given again\n"
		"  replace them); a running client is never stopped or unmounted, nor\n"
		"  are clients added with `zcfs mount --dir DIR MNT`\n");
}

/* Makes the folder p (and its parents, as mkdir -p) and resolves it. */
static int abs_path(const char *p, char *out)
{
	char part[PATH_MAX];
	size_t n = strlen(p);

	if (n >= sizeof(part))
		return -ENAMETOOLONG;
	memcpy(part, p, n + 1);
	for (char *s = strchr(part + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdir(part, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0755) && errno != EEXIST)
		return -errno;
	if (!realpath(p, out))
		return -errno;
	return 0;
}

/* Option values are recorded in cluster.conf and passed on: digits only. */
static bool num_ok(const char *v, bool empty_ok)
{
	if (!v)
		return true;
	if (!v[0])
		return empty_ok;
	return strlen(v) < 16 && strspn(v, "0123456789") == strlen(v);
}

static int addr_port(const char *addr)
{
	const char *p = strrchr(addr, ':');

	return p ? atoi(p + 1) : 0;
}

/*
 * A process killed a moment ago may still hold its port: its command line
 * is gone (so it no longer counts as ours) before its sockets are closed.
 */
static bool port_free_soon(int port)
{
	for (int i = 0; i < 30; i++) {
		if (port_free(port))
			return true;
		usleep(100000);
	}
	return false;
}

/* The recorded port while it is free (logs and scripts stay valid), else a new one. */
static int pick_port(int recorded)
{
	if (recorded > 0 && port_free_soon(recorded))
		return recorded;
	return free_port();
}

static bool port_taken(const struct cluster *cl, int port)
{
	if (port == addr_port(cl->mds) || port == cl->mds_mport || port == cl->mount_mport)
		return true;
	for (int i = 0; i < MAX_CS; i++)
		if (port == cl->cs_port[i] || port == cl->cs_mport[i])
			return true;
	return false;
}

/* The same for a daemon's /metrics (*mport, in cl), never a port cl gives
 * another; none (0) is no reason to fail. */
static void pick_metrics_port(struct cluster *cl, int *mport)
{
	int recorded = *mport;

	*mport = 0;
	for (int t = 0; t < 8; t++) {
		int port = t ? free_port() : pick_port(recorded);

		if (port <= 0)
			return;
		if (!port_taken(cl, port)) {
			*mport = port;
			return;
		}
	}
}

/* "--metrics 127.0.0.1:PORT" at av[n], if port; returns the new n. */
static int metrics_arg(char **av, int n, int port, char *buf, size_t len)
{
	if (port <= 0)
		return n;
	snprintf(buf, len, "127.0.0.1:%d", port);
	av[n++] = "--metrics";
	av[n++] = buf;
	return n;
}

static pid_t spawn_mds(struct cluster *cl)
{
	char path[PATH_MAX + 64], log[PATH_MAX + 64], key[PATH_MAX + 64], creds[PATH_MAX + 64];
	char exports[PATH_MAX + 64], maddr[32];
	char *av[24] = { "zcfs", "mds", "-f", "--dir", path, "--listen", cl->mds,
			 "--replicas", cl->replicas, "--grace", cl->grace, "--key-file", key,
			 "--credentials", creds, "--exports", exports };
	int n = 17;

	if (cl->cap_life[0]) {
		av[n++] = "--cap-life";
		av[n++] = cl->cap_life;
	}
	if (cl->lease[0]) {
		av[n++] = "--lease";
		av[n++] = cl->lease;
	}
	n = metrics_arg(av, n, cl->mds_mport, maddr, sizeof(maddr));
	av[n] = NULL;
	snprintf(path, sizeof(path), "%s/mds", cl->dir);
	snprintf(log, sizeof(log), "%s/mds.log", cl->dir);
	snprintf(key, sizeof(key), "%s/cluster.key", cl->dir);
	snprintf(creds, sizeof(creds), "%s/credentials", cl->dir);
	snprintf(exports, sizeof(exports), "%s/exports", cl->dir);
	return spawn(log, av);
}

static pid_t spawn_cs(struct cluster *cl, int i)
{
	char path[PATH_MAX + 64], log[PATH_MAX + 64], key[PATH_MAX + 64], listen_at[64];
	char maddr[32];
	char *av[20] = { "zcfs", "cs", "-f", "--dir", path, "--listen", listen_at,
			 "--mds", cl->mds, "--scrub-interval", cl->scrub, "--key-file", key };
	int n = metrics_arg(av, 13, cl->cs_mport[i], maddr, sizeof(maddr));

	av[n] = NULL;
	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", cl->cs_port[i]);
	snprintf(path, sizeof(path), "%s/cs%d", cl->dir, i + 1);
	snprintf(log, sizeof(log), "%s/cs%d.log", cl->dir, i + 1);
	snprintf(key, sizeof(key), "%s/cluster.key", cl->dir);
	return spawn(log, av);
}

/* The last line of chunk server i's log, what it said before it exited. */
static void cs_last_words(const struct cluster *cl, int i, char *buf, size_t n)
{
	char path[PATH_MAX + 64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cs%d.log", cl->dir, i + 1);
	snprintf(buf, n, "(its log: DIR/cs%d.log)", i + 1);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (line[0] && line[0] != '\n')
			snprintf(buf, n, "%s", line);
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
}

/*
 * Waits until all ncs chunk servers are registered.  One of those started
 * (bit i of spawned) that exits meanwhile is started again on a new port,
 * twice at most: a port picked free may be taken before the server binds
 * it (by another server's outgoing connection, say).
 */
static int wait_cs(struct cluster *cl, uint64_t spawned)
{
	int tries[MAX_CS] = { 0 };
	char why[512];

	for (int t = 0; t < 200; t++) {
		if (cs_up_count(cl->mds) >= cl->ncs)
			return 0;
		for (int i = 0; i < cl->ncs; i++) {
			if (!(spawned >> i & 1) || cl->cs_pid[i] <= 0 ||
			    waitpid(cl->cs_pid[i], NULL, WNOHANG) != cl->cs_pid[i])
				continue;
			cs_last_words(cl, i, why, sizeof(why));
			fprintf(stderr, "zcfs: chunk server %d exited during start-up%s\n  %s\n", i + 1,
				tries[i] < 2 ? "; starting it again on a new port" : "", why);
			cl->cs_pid[i] = 0;
			if (tries[i]++ == 2)
				return -ECHILD;
			cl->cs_port[i] = free_port();
			cl->cs_mport[i] = 0;
			pick_metrics_port(cl, &cl->cs_mport[i]);
			cl->cs_pid[i] = cl->cs_port[i] < 0 ? cl->cs_port[i] : spawn_cs(cl, i);
			conf_save(cl);
			if (cl->cs_pid[i] < 0)
				return cl->cs_pid[i];
		}
		usleep(100000);
	}
	fprintf(stderr, "zcfs: %d chunk servers not registered after 20 s\n",
		cl->ncs - ZC_MAX(cs_up_count(cl->mds), 0));
	return -ETIMEDOUT;
}

static pid_t spawn_mount(struct cluster *cl)
{
	char log[PATH_MAX + 64], cred[PATH_MAX + 64], maddr[32];
	char *av[16] = { "zcfs", "mount", "-f", "--mds", cl->mds, "--credential", cred, cl->mnt };
	int n = 8;

	if (cl->opts[0]) {
		av[n++] = "-o";
		av[n++] = cl->opts;
	}
	n = metrics_arg(av, n, cl->mount_mport, maddr, sizeof(maddr));
	av[n] = NULL;
	snprintf(log, sizeof(log), "%s/mount.log", cl->dir);
	snprintf(cred, sizeof(cred), "%s/admin.cred", cl->dir);
	return spawn(log, av);
}

static bool mount_running(const struct cluster *cl)
{
	return ours(cl->mount_pid, "mount", cl->mnt);
}

static bool any_running(const struct cluster *cl)
{
	if (ours(cl->mds_pid, "mds", cl->dir) || mount_running(cl))
		return true;
	for (int i = 0; i < cl->ncs; i++)
		if (ours(cl->cs_pid[i], "cs", cl->dir))
			return true;
	return false;
}

/* The argument after opt on pid's command line; "" if opt is not there. */
static void cmdline_arg(pid_t pid, const char *opt, char *out, size_t len)
{
	char path[64], cmd[8192];
	ssize_t n;
	int fd;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return;
	cmd[n] = 0;
	for (char *p = cmd; p < cmd + n; p += strlen(p) + 1)
		if (!strcmp(p, opt) && p + strlen(p) + 1 < cmd + n) {
			snprintf(out, len, "%s", p + strlen(p) + 1);
			return;
		}
}

/*
 * An option given again is recorded now, but a running process (pid, 0 if
 * none runs) keeps the one it started with: compared with its command line,
 * as the record may already hold an earlier change.
 */
static void note_kept(pid_t pid, const char *who, const char *opt, const char *now)
{
	char was[512];

	if (pid <= 0)
		return;
	cmdline_arg(pid, opt, was, sizeof(was));
	if (strcmp(was, now))
		printf("zcfs: %s %s recorded for the next start of the %s (running with %s)\n",
		       opt, now[0] ? now : "(none)", who, was[0] ? was : "(none)");
}

/* Nothing of the cluster runs: start it all. */
/* ---- keys ---- */

int zc_cli_credential(const char *path, const char *dir)
{
	char p[PATH_MAX + 32];

	if (!path && dir) {
		snprintf(p, sizeof(p), "%s/admin.cred", dir);
		path = p;
	}
	return zc_auth_client(path ? path : "/etc/zcfs/client.cred");
}

/*
 * A cluster's secrets, made once in its folder (mode 0600 each): the
 * cluster key of the mds and the chunk servers, the credentials file the
 * mds knows clients by, and the admin credential in it that `up`, its
 * mount and `status` use.
 */
static int make_keys(const char *dir)
{
	char key[PATH_MAX + 32], cred[PATH_MAX + 32], creds[PATH_MAX + 32];
	int err;

	snprintf(key, sizeof(key), "%s/cluster.key", dir);
	snprintf(cred, sizeof(cred), "%s/admin.cred", dir);
	snprintf(creds, sizeof(creds), "%s/credentials", dir);
	if ((err = zc_key_create(key)) && err != -EEXIST) {
		fprintf(stderr, "zcfs: cannot create %s: %s\n", key, strerror(-err));
		return err;
	}
	if ((err = zc_cred_create(cred, "admin")) && err != -EEXIST) {
		fprintf(stderr, "zcfs: cannot create %s: %s\n", cred, strerror(-err));
		return err;
	}
	return access(creds, F_OK) ? zc_creds_add(creds, cred) : 0;
}

static int up_fresh(struct cluster *cl, const struct cluster *old, int ncs)
{
	char self[PATH_MAX];
	int err, port;

	if (old && old->mnt[0])
		clear_stale_mount(old->mnt, false);
	clear_stale_mount(cl->mnt, false);
	if (is_fuse_mount(cl->mnt)) {
		fprintf(stderr, "zcfs: %s is already a FUSE mount\n", cl->mnt);
		return 1;
	}
	if (!realpath("/proc/self/exe", self))
		snprintf(self, sizeof(self), "zcfs");
	cl->mds_pid = cl->mount_pid = 0;
	for (int i = 0; i < MAX_CS; i++)
		cl->cs_pid[i] = 0;
	cl->ncs = ncs;
	port = pick_port(addr_port(cl->mds));
	if (port < 0) {
		fprintf(stderr, "zcfs: no free port for the mds: %s\n", strerror(-port));
		return 1;
	}
	snprintf(cl->mds, sizeof(cl->mds), "127.0.0.1:%d", port);
	pick_metrics_port(cl, &cl->mds_mport);
	cl->mds_pid = spawn_mds(cl);
	conf_save(cl);
	if ((err = wait_for("mds", 15, mds_ready, cl->mds, cl->mds_pid)))
		goto out_fail;
	for (int i = 0; i < ncs; i++) {
		cl->cs_port[i] = pick_port(cl->cs_port[i]);
		pick_metrics_port(cl, &cl->cs_mport[i]);
		cl->cs_pid[i] = cl->cs_port[i] < 0 ? cl->cs_port[i] : spawn_cs(cl, i);
		if (cl->cs_pid[i] < 0) {
			fprintf(stderr, "zcfs: cannot start chunk server %d: %s\n", i + 1,
				strerror(-cl->cs_pid[i]));
			goto out_fail;
		}
	}
	conf_save(cl);
	if ((err = wait_cs(cl, ncs >= 64 ? ~0ULL : (1ULL << ncs) - 1)))
		goto out_fail;
	pick_metrics_port(cl, &cl->mount_mport);
	cl->mount_pid = spawn_mount(cl);
	conf_save(cl);
	if ((err = wait_for("mount", 15, mount_ready, cl->mnt, cl->mount_pid)))
		goto out_fail;
	printf("zcfs is up:\n"
	       "  mounted at     %s\n"
	       "  mds            %s (pid %d, log %s/mds.log)\n"
	       "  chunk servers  %d (data %s/csN, logs %s/csN.log)\n"
	       "  client log     %s/mount.log\n"
	       "  status:        %s status --dir %s\n"
	       "  live view:     %s top --dir %s\n"
	       "  stop:          %s down --dir %s\n",
	       cl->mnt, cl->mds, (int)cl->mds_pid, cl->dir, ncs, cl->dir, cl->dir, cl->dir, self,
	       cl->dir, self, cl->dir, self, cl->dir);
	return 0;
out_fail:
	fprintf(stderr, "zcfs: start-up failed; logs are in %s; stopping what started\n", cl->dir);
	stop_pid(cl->mount_pid, "mount", NULL, "mount");
	for (int i = 0; i < ncs; i++)
		stop_pid(cl->cs_pid[i], "cs", cl->dir, "chunk server");
	stop_pid(cl->mds_pid, "mds", cl->dir, "mds");
	return 1;
}

/*
 * Part of the cluster still runs: start only what does not, each with the
 * recorded options and on its recorded port.  The mds must come back on
 * its address, as the chunk servers and clients know it by that alone.  A
 * running client is never stopped or unmounted: programs may have files
 * open in it, and it picks the mds up again by itself.  want_mnt is a
 * mount point given again, NULL if none was.
 */
static int up_again(struct cluster *cl, const struct cluster *old, int ncs, const char *want_mnt)
{
	bool mds_up = ours(old->mds_pid, "mds", old->dir), mount_up = mount_running(old);
	uint64_t spawned = 0;	/* bit i: chunk server i started here */
	pid_t a_cs = 0;
	int err, n = ZC_MAX(ncs, old->ncs);

	for (int i = 0; i < old->ncs && !a_cs; i++)
		if (ours(old->cs_pid[i], "cs", old->dir))
			a_cs = old->cs_pid[i];
	note_kept(mds_up ? old->mds_pid : 0, "mds", "--replicas", cl->replicas);
	note_kept(mds_up ? old->mds_pid : 0, "mds", "--grace", cl->grace);
	note_kept(mds_up ? old->mds_pid : 0, "mds", "--lease", cl->lease);
	note_kept(mds_up ? old->mds_pid : 0, "mds", "--cap-life", cl->cap_life);
	note_kept(a_cs, "chunk servers", "--scrub-interval", cl->scrub);
	note_kept(mount_up ? old->mount_pid : 0, "client", "-o", cl->opts);
	if (ncs < old->ncs)
		printf("zcfs: %d chunk servers are recorded; --cs %d stops none of them\n",
		       old->ncs, ncs);

	if (!mds_up) {
		int port = addr_port(cl->mds);

		if (port <= 0) {
			fprintf(stderr, "zcfs: no mds address in %s/cluster.conf\n", cl->dir);
			return 1;
		}
		if (!port_free_soon(port)) {
			fprintf(stderr,
				"zcfs: cannot restart the mds: %s is taken by another process.\n"
				"  The chunk servers and clients know the mds at that address, so it\n"
				"  must come back there: free the port, or stop the whole cluster\n"
				"  (zcfs down --dir %s) and start it again.\n",
				cl->mds, cl->dir);
			return 1;
		}
		pick_metrics_port(cl, &cl->mds_mport);
		cl->mds_pid = spawn_mds(cl);
		conf_save(cl);
		if ((err = wait_for("mds", 15, mds_ready, cl->mds, cl->mds_pid))) {
			/* Stopped, so that the next up tries again rather than trusting it. */
			stop_pid(cl->mds_pid, "mds", cl->dir, "mds");
			goto out_fail;
		}
		printf("zcfs: mds was not running: restarted on %s (pid %d)\n", cl->mds,
		       (int)cl->mds_pid);
	}

	for (int i = 0; i < n; i++) {
		bool added = i >= old->ncs;
		int port;

		if (!added && ours(cl->cs_pid[i], "cs", cl->dir))
			continue;
		/* The mds takes a chunk server's new address when it registers. */
		port = pick_port(added ? 0 : cl->cs_port[i]);
		if (!added && port != cl->cs_port[i])
			fprintf(stderr, "zcfs: chunk server %d: port %d is taken; it moves to %d\n",
				i + 1, cl->cs_port[i], port);
		cl->cs_port[i] = port;
		if (added)
			cl->cs_mport[i] = 0;
		pick_metrics_port(cl, &cl->cs_mport[i]);
		cl->cs_pid[i] = port < 0 ? port : spawn_cs(cl, i);
		cl->ncs = ZC_MAX(cl->ncs, i + 1);
		conf_save(cl);
		if (cl->cs_pid[i] < 0) {
			fprintf(stderr, "zcfs: cannot start chunk server %d: %s\n", i + 1,
				strerror(-cl->cs_pid[i]));
			goto out_fail;
		}
		printf("zcfs: chunk server %d %s on port %d (pid %d)\n", i + 1,
		       added ? "added" : "was not running: restarted", port, (int)cl->cs_pid[i]);
		spawned |= 1ULL << i;
	}
	/* A restarted mds knows a chunk server only once it registered again. */
	if ((!mds_up || spawned) && (err = wait_cs(cl, spawned)))
		goto out_fail;

	if (mount_up) {
		if (want_mnt && strcmp(want_mnt, cl->mnt))
			printf("zcfs: the client at %s runs on; --mount %s is not used\n", cl->mnt,
			       want_mnt);
		if (!mounted(cl->mnt))
			fprintf(stderr, "zcfs: the client (pid %d) runs but %s is not mounted\n",
				(int)cl->mount_pid, cl->mnt);
	} else {
		clear_stale_mount(cl->mnt, false);
		if (want_mnt) {
			snprintf(cl->mnt, sizeof(cl->mnt), "%s", want_mnt);
			clear_stale_mount(cl->mnt, false);
		}
		if (is_fuse_mount(cl->mnt)) {
			fprintf(stderr, "zcfs: %s is already a FUSE mount (not our client)\n",
				cl->mnt);
			goto out_fail;
		}
		pick_metrics_port(cl, &cl->mount_mport);
		cl->mount_pid = spawn_mount(cl);
		conf_save(cl);
		if ((err = wait_for("mount", 15, mount_ready, cl->mnt, cl->mount_pid))) {
			stop_pid(cl->mount_pid, "mount", cl->mnt, "mount");
			goto out_fail;
		}
		printf("zcfs: the client was not running: mounted again at %s (pid %d)\n", cl->mnt,
		       (int)cl->mount_pid);
	}
	conf_save(cl);
	printf("zcfs: up: mds %s, mounted at %s (zcfs down --dir %s stops it)\n", cl->mds,
	       cl->mnt, cl->dir);
	return 0;
out_fail:
	conf_save(cl);
	fprintf(stderr, "zcfs: restart failed; logs are in %s\n", cl->dir);
	return 1;
}

int zc_cmd_up(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "mount", required_argument, NULL, 'm' },
		{ "cs", required_argument, NULL, 'n' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "grace", required_argument, NULL, 'g' },
		{ "lease", required_argument, NULL, 'l' },
		{ "cap-life", required_argument, NULL, 'c' },
		{ "scrub-interval", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = "./zcfs-data", *mnt = NULL, *o = NULL, *want_mnt = NULL;
	const char *replicas = NULL, *grace = NULL, *lease = NULL, *scrub = NULL, *cap_life = NULL;
	char dabs[PATH_MAX], want[PATH_MAX];
	struct cluster cl, old;
	int c, ncs = -1, err, lockfd, ret = 1;
	bool have_old;

	zc_log_init("up", ZC_LOG_ERR, NULL);
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'm': mnt = optarg; break;
		case 'n': ncs = atoi(optarg); break;
		case 'o': o = optarg; break;
		case 'r': replicas = optarg; break;
		case 'g': grace = optarg; break;
		case 'l': lease = optarg; break;
		case 'c': cap_life = optarg; break;
		case 'S': scrub = optarg; break;
		default: up_usage(); return c == 'h' ? 0 : 2;
		}
	}
	/* An empty --lease forgets a recorded one: the mds's default again. */
	if ((ncs != -1 && (ncs < 1 || ncs > MAX_CS)) || optind != argc ||
	    !num_ok(replicas, false) || !num_ok(grace, false) || !num_ok(scrub, false) ||
	    !num_ok(lease, true) || !num_ok(cap_life, true) || (o && (strchr(o, '\n') || strlen(o) >= sizeof(cl.opts)))) {
		up_usage();
		return 2;
	}
	if ((err = abs_path(dir, dabs))) {
		fprintf(stderr, "zcfs: %s: %s\n", dir, strerror(-err));
		return 1;
	}
	/* cluster.conf holds one value a line. */
	if (mnt && strchr(mnt, '\n')) {
		fprintf(stderr, "zcfs: a mount point with a newline cannot be recorded\n");
		return 2;
	}
	/* Two ups (or an up and a down) at once would start things twice. */
	lockfd = zc_lock_dir(dabs);
	if (lockfd < 0) {
		fprintf(stderr, "zcfs: %s: %s\n", dabs,
			lockfd == -EBUSY ? "another zcfs up or down is at work there" :
					   strerror(-lockfd));
		return 1;
	}
	if (make_keys(dabs) || zc_cli_credential(NULL, dabs))
		goto out_unlock;
	err = conf_load(dabs, &old);
	have_old = !err;
	if (err && err != -ENOENT) {
		fprintf(stderr, "zcfs: %s/cluster.conf: %s\n", dabs, strerror(-err));
		goto out_unlock;
	}
	/* The record, or the defaults; options given again replace it. */
	cl = old;
	if (replicas)
		snprintf(cl.replicas, sizeof(cl.replicas), "%s", replicas);
	if (grace)
		snprintf(cl.grace, sizeof(cl.grace), "%s", grace);
	if (lease)
		snprintf(cl.lease, sizeof(cl.lease), "%s", lease);
	if (cap_life)
		snprintf(cl.cap_life, sizeof(cl.cap_life), "%s", cap_life);
	if (scrub)
		snprintf(cl.scrub, sizeof(cl.scrub), "%s", scrub);
	if (o)
		snprintf(cl.opts, sizeof(cl.opts), "%s", o);
	if (ncs == -1)
		ncs = have_old && old.ncs >= 1 ? old.ncs : 3;
	if (mnt || !old.mnt[0]) {
		if ((err = abs_path(mnt ? mnt : "./zcfs-mnt", want))) {
			fprintf(stderr, "zcfs: %s: %s\n", mnt ? mnt : "./zcfs-mnt", strerror(-err));
			goto out_unlock;
		}
		want_mnt = want;
	} else if (mkdir(old.mnt, 0755) && errno != EEXIST) {
		fprintf(stderr, "zcfs: %s: %s\n", old.mnt, strerror(errno));
		goto out_unlock;
	}
	if (have_old && any_running(&old)) {
		ret = up_again(&cl, &old, ncs, want_mnt);
	} else {
		if (want_mnt)
			snprintf(cl.mnt, sizeof(cl.mnt), "%s", want_mnt);
		ret = up_fresh(&cl, have_old ? &old : NULL, ncs);
	}
out_unlock:
	close(lockfd);
	return ret;
}

/* ---- extra clients: `zcfs mount --dir DIR MNT` ---- */

/* When pid started, in clock ticks since boot (0: unknown); a reused pid has another. */
static unsigned long long proc_start(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* The name (field 2) may hold spaces: count from its closing parenthesis. */
	p = strrchr(buf, ')');
	for (int i = 3; p && i <= 22; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &t) != 1)
		return 0;
	return t;
}

int zc_cluster_mds(const char *dir, char *out, size_t len)
{
	char abs[PATH_MAX];
	struct cluster cl;
	int err;

	if (!realpath(dir, abs))
		return -errno;
	err = conf_load(abs, &cl);
	if (err)
		return err;
	if (!cl.mds[0])
		return -ENOENT;
	if (strlen(cl.mds) >= len)
		return -ENAMETOOLONG;
	strcpy(out, cl.mds);
	return 0;
}

/*
 * One file per client, DIR/mounts/PID: its mount point, then its start
 * time.  Clients come and go at once, so none rewrites a shared file; the
 * start time tells a reused pid apart.
 */
int zc_cluster_add_mount(const char *dir, int pid, const char *mnt)
{
	char abs[PATH_MAX], at[PATH_MAX], path[PATH_MAX + 64], tmp[PATH_MAX + 64];
	FILE *f;
	int err;

	if (pid <= 0)
		return -EINVAL;
	if (!realpath(dir, abs))
		return -errno;
	/* An absolute mount point is taken as it is: resolving it would ask the
	 * client, which may be the caller, not serving yet. */
	if (mnt[0] == '/')
		snprintf(at, sizeof(at), "%s", mnt);
	else if (!realpath(mnt, at))
		return -errno;
	if (strchr(at, '\n'))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/mounts", abs);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/mounts/%d", abs, pid);
	snprintf(tmp, sizeof(tmp), "%s/mounts/.%d.tmp", abs, pid);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\n%llu\n", at, proc_start(pid));
	if (fclose(f) || rename(tmp, path)) {
		err = -errno;
		unlink(tmp);
		return err;
	}
	return 0;
}

void zc_cluster_del_mount(const char *dir, int pid)
{
	char abs[PATH_MAX], path[PATH_MAX + 64];

	if (!realpath(dir, abs))
		snprintf(abs, sizeof(abs), "%s", dir);
	snprintf(path, sizeof(path), "%s/mounts/%d", abs, pid);
	unlink(path);
}

/*
 * Stops every extra client recorded in dir (the client unmounts itself on
 * SIGTERM) and forgets it.  A record whose client is gone only has its
 * mount cleared, and only if that mount is dead.
 */
static void stop_extra_mounts(const char *dir)
{
	char path[PATH_MAX + 64], rec[PATH_MAX + 384], mnt[PATH_MAX + 2];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/mounts", dir);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		unsigned long long start = 0;
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		FILE *f;

		/* Skips ".", ".." and a record being written. */
		if (*end || pid <= 0 || pid > INT_MAX)
			continue;
		snprintf(rec, sizeof(rec), "%s/%s", path, de->d_name);
		mnt[0] = 0;
		f = fopen(rec, "re");
		if (f) {
			if (fgets(mnt, sizeof(mnt), f) && fscanf(f, "%llu", &start) != 1)
				start = 0;
			fclose(f);
		}
		mnt[strcspn(mnt, "\n")] = 0;
		if (ours(pid, "mount", NULL) && (!start || proc_start(pid) == start)) {
			stop_pid(pid, "mount", NULL, "mount");
			if (mnt[0])
				clear_stale_mount(mnt, true);
			printf("zcfs: stopped the client at %s (pid %ld)\n", mnt, pid);
		} else if (mnt[0]) {
			clear_stale_mount(mnt, false);
		}
		unlink(rec);
	}
	closedir(d);
}

static const char *dir_arg(int argc, char **argv, bool *json, const char **mds,
			   const char **cred)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "mds", required_argument, NULL, 'm' },
		{ "credential", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = "./zcfs-data";
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'j': if (json) *json = true; break;
		case 'm': if (mds) *mds = optarg; break;
		case 'c': if (cred) *cred = optarg; break;
		default: return NULL;
		}
	}
	return dir;
}

int zc_cmd_down(int argc, char **argv)
{
	const char *dir = dir_arg(argc, argv, NULL, NULL, NULL);
	char abs[PATH_MAX];
	struct cluster cl;
	int lockfd;

	if (!dir) {
		fprintf(stderr, "usage: zcfs down [--dir DIR]\n");
		return 2;
	}
	if (!realpath(dir, abs) || conf_load(abs, &cl)) {
		fprintf(stderr, "zcfs: no cluster recorded in %s\n", dir);
		return 1;
	}
	lockfd = zc_lock_dir(abs);
	if (lockfd < 0) {
		fprintf(stderr, "zcfs: %s: %s\n", abs,
			lockfd == -EBUSY ? "another zcfs up or down is at work there" :
					   strerror(-lockfd));
		return 1;
	}
	/* Clients first, while the mds is there to take their file sizes; each
	 * unmounts itself on SIGTERM. */
	stop_extra_mounts(cl.dir);
	stop_pid(cl.mount_pid, "mount", NULL, "mount");
	clear_stale_mount(cl.mnt, true);
	for (int i = 0; i < cl.ncs; i++)
		stop_pid(cl.cs_pid[i], "cs", cl.dir, "chunk server");
	stop_pid(cl.mds_pid, "mds", cl.dir, "mds");
	cl.mds_pid = cl.mount_pid = 0;
	for (int i = 0; i < cl.ncs; i++)
		cl.cs_pid[i] = 0;
	conf_save(&cl);
	close(lockfd);
	printf("zcfs: stopped the cluster in %s\n", cl.dir);
	return 0;
}

int zc_cmd_status(int argc, char **argv)
{
	bool json = false;
	const char *mds = NULL, *cred = NULL;
	const char *dir = dir_arg(argc, argv, &json, &mds, &cred);
	char abs[PATH_MAX];
	struct cluster cl;
	char *text;
	int err;

	if (!dir) {
		fprintf(stderr, "usage: zcfs status [--dir DIR | --mds ADDR:PORT] [--credential FILE]"
				" [--json]\n"
				"  --credential: default DIR/admin.cred, or /etc/zcfs/client.cred with"
				" --mds\n");
		return 2;
	}
	if (zc_cli_credential(cred, mds && !cred ? NULL : dir))
		return 1;
	if (!mds) {
		if (!realpath(dir, abs) || conf_load(abs, &cl)) {
			fprintf(stderr, "zcfs: no cluster recorded in %s (use --mds)\n", dir);
			return 1;
		}
		mds = cl.mds;
	}
	zc_log_init("status", ZC_LOG_ERR, NULL);
	err = zc_cli_mds_status(mds, json, &text);
	if (err) {
		fprintf(stderr, "zcfs: mds %s: %s\n", mds, strerror(-err));
		return 1;
	}
	fputs(text, stdout);
	free(text);
	return 0;
}

int zc_cmd_setattr(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replicas", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *r = NULL;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c != 'r') {
			fprintf(stderr, "usage: zcfs setattr --replicas R PATH...\n");
			return c == 'h' ? 0 : 2;
		}
		r = optarg;
	}
	if (!r || optind == argc) {
		fprintf(stderr, "usage: zcfs setattr --replicas R PATH...\n");
		return 2;
	}
	for (int i = optind; i < argc; i++)
		if (setxattr(argv[i], "user.zcfs.replicas", r, strlen(r), 0)) {
			fprintf(stderr, "zcfs: %s: %s\n", argv[i], strerror(errno));
			ret = 1;
		}
	return ret;
}

int zc_cmd_getattr(int argc, char **argv)
{
	char buf[1 << 16];
	int ret = 0;

	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: zcfs getattr PATH...\n");
		return argc < 2 ? 2 : 0;
	}
	for (int i = 1; i < argc; i++) {
		ssize_t n = getxattr(argv[i], "user.zcfs.layout", buf, sizeof(buf) - 1);

		if (n < 0) {
			fprintf(stderr, "zcfs: %s: %s\n", argv[i], strerror(errno));
			ret = 1;
			continue;
		}
		buf[n] = 0;
		printf("%s: %s", argv[i], buf);
	}
	return ret;
}
