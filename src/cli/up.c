// SPDX-License-Identifier: MIT
/*
 * zcfs up / down / status: a whole cluster on one machine.
 *
 * `up` starts an mds and N chunk servers on 127.0.0.1 and mounts, each a
 * child in its own session logging to DIR/NAME.log, and records them in
 * DIR/cluster.conf.  `down` stops exactly the processes recorded there
 * (checked against /proc/PID/cmdline, so a reused pid is never hit).
 */
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
	int ncs;
	pid_t mds_pid, mount_pid, cs_pid[MAX_CS];
	int cs_port[MAX_CS];
};

static void conf_path(const char *dir, char *out, size_t len)
{
	snprintf(out, len, "%s/cluster.conf", dir);
}

static int conf_load(const char *dir, struct cluster *cl)
{
	char path[PATH_MAX + 32], line[PATH_MAX + 64];
	FILE *f;

	memset(cl, 0, sizeof(*cl));
	snprintf(cl->dir, sizeof(cl->dir), "%s", dir);
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
	for (int i = 0; i < cl->ncs; i++)
		fprintf(f, "pid.cs%d=%d\nport.cs%d=%d\n", i + 1, cl->cs_pid[i], i + 1,
			cl->cs_port[i]);
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
	FILE *f = fopen("/proc/self/mounts", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%255s %4095s", dev, at) == 2 && !strcmp(at, mnt);
	fclose(f);
	return found;
}

/*
 * Takes away a mount left by a client that is gone.  With force (the
 * client was ours and is stopped) any mount there goes; otherwise only a
 * dead one, which answers ENOTCONN.
 */
static void clear_stale_mount(const char *mnt, bool force)
{
	struct stat st;
	char cmd[2 * PATH_MAX + 128];

	if (!mounted(mnt) || (!force && !(stat(mnt, &st) && errno == ENOTCONN)))
		return;
	fprintf(stderr, "zcfs: removing stale mount at %s\n", mnt);
	snprintf(cmd, sizeof(cmd), "fusermount3 -u -z '%s' 2>/dev/null || umount -l '%s'", mnt,
		 mnt);
	if (system(cmd))
		fprintf(stderr, "zcfs: could not unmount %s\n", mnt);
	for (int i = 0; i < 50 && mounted(mnt); i++)
		usleep(100000);
}

static pid_t spawn(const char *log, char *const argv[])
{
	char self[PATH_MAX];
	pid_t pid = fork();

	if (pid)
		return pid;
	/* Exec the binary by its real path, so that ps and top say "zcfs"
	 * rather than "exe". */
	if (!realpath("/proc/self/exe", self))
		snprintf(self, sizeof(self), "/proc/self/exe");
	setsid();
	int fd = open("/dev/null", O_RDONLY);

	dup2(fd, 0);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
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

/* Asks the mds for its status.  Returns 0 with the text in *out (free it). */
static int mds_status(const char *mds, bool json, char **out)
{
	struct sockaddr_in sa;
	struct zc_conn *conn;
	struct zc_call call = { .type = ZC_CLTOMA_STATUS, .timeout_ms = 3000 };
	uint8_t arg[28];
	struct zc_cur c = zc_cur_init(arg, sizeof(arg));
	int err;

	if (zc_parse_addr(mds, &sa))
		return -EINVAL;
	/* No session: session, seq and ack are 0. */
	zc_put_u64(&c, 0);
	zc_put_u64(&c, 0);
	zc_put_u64(&c, 0);
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

	if (mds_status(mds, true, &s))
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

struct cs_wait {
	const char *mds;
	int n;
};

static bool cs_ready(const void *arg)
{
	const struct cs_wait *w = arg;

	return cs_up_count(w->mds) >= w->n;
}

static bool mount_ready(const void *arg)
{
	return is_fuse_mount(arg);
}

static void up_usage(void)
{
	fprintf(stderr, "usage: zcfs up [--dir DIR] [--mount MNT] [--cs N] [--replicas R]"
			" [--grace S] [--scrub-interval S] [-o opts]\n"
			"  starts an mds and N chunk servers (default 3) on 127.0.0.1 with data\n"
			"  under DIR (default ./zcfs-data) and mounts at MNT (default ./zcfs-mnt);\n"
			"  every chunk is kept R times (default 3, at most N); a chunk server\n"
			"  silent for S seconds (default 10) has its chunks copied elsewhere\n");
}

static int abs_path(const char *p, char *out)
{
	if (mkdir(p, 0755) && errno != EEXIST)
		return -errno;
	if (!realpath(p, out))
		return -errno;
	return 0;
}

int zc_cmd_up(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "mount", required_argument, NULL, 'm' },
		{ "cs", required_argument, NULL, 'n' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "grace", required_argument, NULL, 'g' },
		{ "scrub-interval", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = "./zcfs-data", *mnt = "./zcfs-mnt", *o = NULL;
	char replicas[16] = "3", grace[16] = "10", scrub[16] = "30";
	char self[PATH_MAX], path[PATH_MAX + 64], sub[PATH_MAX + 64], listen_at[64];
	struct cluster cl, old;
	int c, ncs = 3, err, mds_port;
	bool have_old;

	zc_log_init("up", ZC_LOG_ERR, NULL);
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'm': mnt = optarg; break;
		case 'n': ncs = atoi(optarg); break;
		case 'o': o = optarg; break;
		case 'r': snprintf(replicas, sizeof(replicas), "%s", optarg); break;
		case 'g': snprintf(grace, sizeof(grace), "%s", optarg); break;
		case 'S': snprintf(scrub, sizeof(scrub), "%s", optarg); break;
		default: up_usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (ncs < 1 || ncs > MAX_CS || optind != argc) {
		up_usage();
		return 2;
	}
	memset(&cl, 0, sizeof(cl));
	if ((err = abs_path(dir, cl.dir)) || (err = abs_path(mnt, cl.mnt))) {
		fprintf(stderr, "zcfs: %s: %s\n", err ? dir : mnt, strerror(-err));
		return 1;
	}
	if (!realpath("/proc/self/exe", self))
		return 1;
	have_old = !conf_load(cl.dir, &old);
	if (have_old && ours(old.mds_pid, "mds", cl.dir) && ours(old.mount_pid, "mount", NULL) &&
	    is_fuse_mount(old.mnt)) {
		/* Up already: bring back any chunk server that died. */
		for (int i = 0; i < old.ncs; i++) {
			if (ours(old.cs_pid[i], "cs", cl.dir))
				continue;
			snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", old.cs_port[i]);
			snprintf(path, sizeof(path), "%s/cs%d", cl.dir, i + 1);
			snprintf(sub, sizeof(sub), "%s/cs%d.log", cl.dir, i + 1);
			old.cs_pid[i] = spawn(sub, (char *[]){ "zcfs", "cs", "-f", "--dir", path,
							       "--listen", listen_at, "--mds",
							       old.mds, "--scrub-interval", scrub,
							       NULL });
			printf("zcfs: chunk server %d was not running: restarted (pid %d)\n", i + 1,
			       (int)old.cs_pid[i]);
		}
		conf_save(&old);
		printf("zcfs: up: mds %s, mounted at %s (zcfs down --dir %s stops it)\n",
		       old.mds, old.mnt, cl.dir);
		return 0;
	}
	if (have_old) {
		/* Left over from a crash: stop whatever still runs, clear the mount. */
		stop_pid(old.mount_pid, "mount", NULL, "mount");
		for (int i = 0; i < old.ncs; i++)
			stop_pid(old.cs_pid[i], "cs", cl.dir, "chunk server");
		stop_pid(old.mds_pid, "mds", cl.dir, "mds");
		clear_stale_mount(old.mnt, true);
	}
	clear_stale_mount(cl.mnt, false);
	if (is_fuse_mount(cl.mnt)) {
		fprintf(stderr, "zcfs: %s is already a FUSE mount\n", cl.mnt);
		return 1;
	}
	cl.ncs = ncs;
	snprintf(cl.opts, sizeof(cl.opts), "%s", o ? o : "");
	/* Keep the old ports when they are free: logs and scripts stay valid. */
	mds_port = have_old && strrchr(old.mds, ':') ? atoi(strrchr(old.mds, ':') + 1) : 0;
	if (!mds_port || !port_free(mds_port))
		mds_port = free_port();
	snprintf(cl.mds, sizeof(cl.mds), "127.0.0.1:%d", mds_port);

	snprintf(path, sizeof(path), "%s/mds", cl.dir);
	snprintf(sub, sizeof(sub), "%s/mds.log", cl.dir);
	cl.mds_pid = spawn(sub, (char *[]){ "zcfs", "mds", "-f", "--dir", path, "--listen",
					    cl.mds, "--replicas", replicas, "--grace", grace,
					    NULL });
	conf_save(&cl);
	if ((err = wait_for("mds", 15, mds_ready, cl.mds, cl.mds_pid)))
		goto out_fail;
	for (int i = 0; i < ncs; i++) {
		int port = have_old && i < old.ncs ? old.cs_port[i] : 0;

		if (!port || !port_free(port))
			port = free_port();
		cl.cs_port[i] = port;
		snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", port);
		snprintf(path, sizeof(path), "%s/cs%d", cl.dir, i + 1);
		snprintf(sub, sizeof(sub), "%s/cs%d.log", cl.dir, i + 1);
		cl.cs_pid[i] = spawn(sub, (char *[]){ "zcfs", "cs", "-f", "--dir", path,
						      "--listen", listen_at, "--mds", cl.mds,
						      "--scrub-interval", scrub, NULL });
	}
	conf_save(&cl);
	if ((err = wait_for("chunk servers", 20, cs_ready, &(struct cs_wait){ cl.mds, ncs },
			    0)))
		goto out_fail;
	snprintf(sub, sizeof(sub), "%s/mount.log", cl.dir);
	{
		char *av[12] = { "zcfs", "mount", "-f", "--mds", cl.mds, cl.mnt };
		int n = 6;

		if (cl.opts[0]) {
			av[n++] = "-o";
			av[n++] = cl.opts;
		}
		av[n] = NULL;
		cl.mount_pid = spawn(sub, av);
	}
	conf_save(&cl);
	if ((err = wait_for("mount", 15, mount_ready, cl.mnt, cl.mount_pid)))
		goto out_fail;
	printf("zcfs is up:\n"
	       "  mounted at     %s\n"
	       "  mds            %s (pid %d, log %s/mds.log)\n"
	       "  chunk servers  %d (data %s/csN, logs %s/csN.log)\n"
	       "  client log     %s/mount.log\n"
	       "  status:        %s status --dir %s\n"
	       "  stop:          %s down --dir %s\n",
	       cl.mnt, cl.mds, (int)cl.mds_pid, cl.dir, ncs, cl.dir, cl.dir, cl.dir, self, cl.dir,
	       self, cl.dir);
	return 0;
out_fail:
	fprintf(stderr, "zcfs: start-up failed; logs are in %s; stopping what started\n", cl.dir);
	stop_pid(cl.mount_pid, "mount", NULL, "mount");
	for (int i = 0; i < ncs; i++)
		stop_pid(cl.cs_pid[i], "cs", cl.dir, "chunk server");
	stop_pid(cl.mds_pid, "mds", cl.dir, "mds");
	return 1;
}

static const char *dir_arg(int argc, char **argv, bool *json, const char **mds)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "mds", required_argument, NULL, 'm' },
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
		default: return NULL;
		}
	}
	return dir;
}

int zc_cmd_down(int argc, char **argv)
{
	const char *dir = dir_arg(argc, argv, NULL, NULL);
	char abs[PATH_MAX];
	struct cluster cl;

	if (!dir) {
		fprintf(stderr, "usage: zcfs down [--dir DIR]\n");
		return 2;
	}
	if (!realpath(dir, abs) || conf_load(abs, &cl)) {
		fprintf(stderr, "zcfs: no cluster recorded in %s\n", dir);
		return 1;
	}
	/* The client unmounts itself on SIGTERM, after saving file sizes. */
	stop_pid(cl.mount_pid, "mount", NULL, "mount");
	clear_stale_mount(cl.mnt, true);
	for (int i = 0; i < cl.ncs; i++)
		stop_pid(cl.cs_pid[i], "cs", cl.dir, "chunk server");
	stop_pid(cl.mds_pid, "mds", cl.dir, "mds");
	cl.mds_pid = cl.mount_pid = 0;
	for (int i = 0; i < cl.ncs; i++)
		cl.cs_pid[i] = 0;
	conf_save(&cl);
	printf("zcfs: stopped the cluster in %s\n", cl.dir);
	return 0;
}

int zc_cmd_status(int argc, char **argv)
{
	bool json = false;
	const char *mds = NULL;
	const char *dir = dir_arg(argc, argv, &json, &mds);
	char abs[PATH_MAX];
	struct cluster cl;
	char *text;
	int err;

	if (!dir) {
		fprintf(stderr, "usage: zcfs status [--dir DIR | --mds ADDR:PORT] [--json]\n");
		return 2;
	}
	if (!mds) {
		if (!realpath(dir, abs) || conf_load(abs, &cl)) {
			fprintf(stderr, "zcfs: no cluster recorded in %s (use --mds)\n", dir);
			return 1;
		}
		mds = cl.mds;
	}
	zc_log_init("status", ZC_LOG_ERR, NULL);
	err = mds_status(mds, json, &text);
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
