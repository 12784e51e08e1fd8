// SPDX-License-Identifier: MIT
/* Configuration files: parsing, precedence over the command line, errors
 * with their file and line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/config.h"

static const struct option opts[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "listen", required_argument, NULL, 'l' },
	{ "replicas", required_argument, NULL, 'r' },
	{ "log", required_argument, NULL, 'L' },
	{ "verbose", no_argument, NULL, 'V' },
	{ "color", optional_argument, NULL, 'c' },
	{ "restore", required_argument, NULL, 'B' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};
static const char *const deny[] = { "restore", NULL };

static char dir[] = "/tmp/zcfs-config-test-XXXXXX";
static char path[128];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* The arguments joined by blanks, from index 1. */
static const char *joined(const struct zc_args *a)
{
	static char buf[2048];
	size_t n = 0;

	buf[0] = 0;
	for (int i = 1; i < a->argc; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i > 1 ? " " : "", a->argv[i]);
	return buf;
}

/* Reads path as role and expects the error want (a->err), or with want
 * NULL success and the options got. */
static void expect_read(const char *role, const char *want_err, const char *want_args)
{
	struct zc_args a = { 0 };
	int err = zc_config_read(path, role, opts, deny, &a);

	if (want_err) {
		CHECK_EQ(err, -EINVAL);
		CHECK_STR(a.err, want_err);
	} else {
		CHECK_EQ(err, 0);
		if (!err) {
			/* zc_config_read appends: index 0 is the first option */
			static char buf[2048];
			size_t n = 0;

			buf[0] = 0;
			for (int i = 0; i < a.argc; i++)
				n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
					      a.argv[i]);
			CHECK_STR(buf, want_args);
		}
	}
	zc_config_free(&a);
}

/* getopt over a built vector: the values that win. */
struct vals {
	const char *dir, *listen, *replicas, *log;
	int verbose;
	int positional;
};

static struct vals parse(struct zc_args *a)
{
	struct vals v = { 0 };
	int c;

	optind = 0;	/* glibc: start afresh */
	opterr = 0;
	while ((c = getopt_long(a->argc, a->argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': v.dir = optarg; break;
		case 'l': v.listen = optarg; break;
		case 'r': v.replicas = optarg; break;
		case 'L': v.log = optarg; break;
		case 'V': v.verbose = 1; break;
		}
	}
	v.positional = a->argc - optind;
	return v;
}

int main(void)
{
	struct zc_args a;
	struct vals v;
	char arg[512];

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/zcfs.conf", dir);

	/* Parsing: comments, blanks, whitespace, sections; flags. */
	write_file("# the cluster\n"
		   "\n"
		   "; another comment\n"
		   "[mds]\n"
		   "  dir   =   /var/lib/zcfs/mds  \n"
		   "listen=10.0.0.1:9420\r\n"
		   "\tverbose = yes\n"
		   "color =\n"
		   "[ cs ]\n"
		   "dir = /srv/zcfs\n"
		   "unknown-to-mds = 1\n"
		   "[mds]\n"
		   "replicas = 2\n"
		   "color = never\n");
	expect_read("mds", NULL, "--dir=/var/lib/zcfs/mds --listen=10.0.0.1:9420 --verbose"
		    " --color --replicas=2 --color=never");
	/* Another role's section is not checked against our options, but
	 * its own is. */
	snprintf(arg, sizeof(arg), "%s:11: unknown key 'unknown-to-mds'", path);
	expect_read("cs", arg, NULL);
	write_file("[cs]\ndir = /srv/zcfs\n");
	expect_read("cs", NULL, "--dir=/srv/zcfs");
	expect_read("mds", NULL, "");
	write_file("[mds]\nverbose = no\nverbose=0\nverbose = OFF\nverbose=false\n");
	expect_read("mds", NULL, "");
	write_file("[mds]\nverbose = 1\nverbose=On\nverbose = TRUE\n");
	expect_read("mds", NULL, "--verbose --verbose --verbose");
	/* A value keeps its inner blanks and '=' signs. */
	write_file("[mds]\nlog = /var/log/zcfs/a b=c.log\n");
	expect_read("mds", NULL, "--log=/var/log/zcfs/a b=c.log");

	/* Errors name the file, the line and the key. */
	write_file("[mds]\n# ok so far\ndir = /x\n\n\n\nlistn = 1.2.3.4:1\n");
	snprintf(arg, sizeof(arg), "%s:7: unknown key 'listn'", path);
	expect_read("mds", arg, NULL);
	write_file("[mds]\ndir /x\n");
	snprintf(arg, sizeof(arg), "%s:2: bad line 'dir /x' (KEY = VALUE or [SECTION])", path);
	expect_read("mds", arg, NULL);
	write_file("# top\n[mdss]\ndir = /x\n");
	snprintf(arg, sizeof(arg), "%s:2: unknown section '[mdss]' (the sections are [mds],"
		 " [cs] and [mount])", path);
	expect_read("mds", arg, NULL);
	write_file("[mds\n");
	snprintf(arg, sizeof(arg), "%s:1: bad section line '[mds'", path);
	expect_read("mds", arg, NULL);
	write_file("[mds] x\n");
	snprintf(arg, sizeof(arg), "%s:1: bad section line '[mds] x'", path);
	expect_read("mds", arg, NULL);
	write_file("dir = /x\n[mds]\n");
	snprintf(arg, sizeof(arg), "%s:1: key 'dir' outside a section ([mds], [cs] or [mount])",
		 path);
	expect_read("mds", arg, NULL);
	write_file("[mds]\nverbose = maybe\n");
	snprintf(arg, sizeof(arg), "%s:2: key 'verbose' is a flag: true or false (yes/no, on/off,"
		 " 1/0), not 'maybe'", path);
	expect_read("mds", arg, NULL);
	write_file("[mds]\ndir =   \n");
	snprintf(arg, sizeof(arg), "%s:2: key 'dir' needs a value", path);
	expect_read("mds", arg, NULL);
	write_file("[mds]\n = 3\n");
	snprintf(arg, sizeof(arg), "%s:2: no key before '='", path);
	expect_read("mds", arg, NULL);
	write_file("[mds]\nrestore = /backup.db\n");
	snprintf(arg, sizeof(arg), "%s:2: 'restore' cannot be set in a configuration file", path);
	expect_read("mds", arg, NULL);
	write_file("[mds]\nhelp = yes\n");
	snprintf(arg, sizeof(arg), "%s:2: 'help' cannot be set in a configuration file", path);
	expect_read("mds", arg, NULL);
	write_file("[mds]\nconfig = /etc/other.conf\n");
	snprintf(arg, sizeof(arg), "%s:2: 'config' cannot be set in a configuration file", path);
	expect_read("mds", arg, NULL);
	/* A bad line in another role's section is refused too. */
	write_file("[mds]\ndir = /x\n[cs]\ngarbage\n");
	snprintf(arg, sizeof(arg), "%s:4: bad line 'garbage' (KEY = VALUE or [SECTION])", path);
	expect_read("mds", arg, NULL);
	/* Abbreviations are not keys (getopt would take them on a command line). */
	write_file("[mds]\nrepl = 3\n");
	snprintf(arg, sizeof(arg), "%s:2: unknown key 'repl'", path);
	expect_read("mds", arg, NULL);

	/* Precedence: the file's options come first, the command line wins. */
	write_file("[mds]\ndir = /from/file\nlisten = 10.0.0.1:9420\nreplicas = 3\n");
	unsetenv("ZCFS_CONFIG");
	snprintf(arg, sizeof(arg), "--config=%s", path);
	{
		char *av[] = { "mds", "--listen", "127.0.0.1:1", arg, "-f", "--replicas=1", NULL };

		CHECK_EQ(zc_config_args("mds", opts, "fh", deny, 6, av, &a), 0);
		CHECK_STR(a.argv[0], "mds");
		CHECK_STR(joined(&a), "--dir=/from/file --listen=10.0.0.1:9420 --replicas=3"
			  " --listen 127.0.0.1:1 -f --replicas=1");
		v = parse(&a);
		CHECK_STR(v.dir, "/from/file");
		CHECK_STR(v.listen, "127.0.0.1:1");
		CHECK_STR(v.replicas, "1");
		zc_config_free(&a);
	}
	{
		/* "--config FILE" as two arguments, and an option's value that
		 * looks like --config is a value, not ours. */
		char *av[] = { "mds", "--log", "--config", "--config", path, "pos", NULL };

		CHECK_EQ(zc_config_args("mds", opts, "fh", deny, 6, av, &a), 0);
		CHECK_STR(joined(&a), "--dir=/from/file --listen=10.0.0.1:9420 --replicas=3"
			  " --log --config pos");
		v = parse(&a);
		CHECK_STR(v.log, "--config");
		CHECK_EQ(v.positional, 1);
		zc_config_free(&a);
	}
	{
		/* Short options with an argument: "-o --config" is -o's. */
		char *av[] = { "mount", "-o", "--config", "-fo", "x", NULL };

		setenv("ZCFS_CONFIG", "", 1);	/* no file at all */
		CHECK_EQ(zc_config_args("mds", opts, "fo:", deny, 5, av, &a), 0);
		CHECK_STR(joined(&a), "-o --config -fo x");
		zc_config_free(&a);
	}
	{
		/* After "--" nothing is an option. */
		char *av[] = { "mds", "--", "--config", "x", NULL };

		CHECK_EQ(zc_config_args("mds", opts, "fh", deny, 4, av, &a), 0);
		CHECK_STR(joined(&a), "-- --config x");
		zc_config_free(&a);
	}
	{
		/* $ZCFS_CONFIG names the file when --config does not. */
		char *av[] = { "mds", "--dir=/cmd", NULL };

		setenv("ZCFS_CONFIG", path, 1);
		CHECK_EQ(zc_config_args("mds", opts, "fh", deny, 2, av, &a), 0);
		v = parse(&a);
		CHECK_STR(v.dir, "/cmd");
		CHECK_STR(v.listen, "10.0.0.1:9420");
		zc_config_free(&a);
	}
	{
		/* A file named and missing is an error; the default one may be
		 * missing (checked only where this machine has none). */
		char missing[160], *av[] = { "mds", "--config", missing, NULL };

		snprintf(missing, sizeof(missing), "%s/nope.conf", dir);
		CHECK_EQ(zc_config_args("mds", opts, "fh", deny, 3, av, &a), -ENOENT);
		snprintf(arg, sizeof(arg), "%s: No such file or directory", missing);
		CHECK_STR(a.err, arg);
		CHECK(a.argv == NULL && a.argc == 0);
		setenv("ZCFS_CONFIG", missing, 1);
		CHECK_EQ(zc_config_args("mds", opts, "fh", deny, 1, av, &a), -ENOENT);
		unsetenv("ZCFS_CONFIG");
		if (access(ZC_CONFIG_DEFAULT, F_OK)) {
			CHECK_EQ(zc_config_args("mds", opts, "fh", deny, 1, av, &a), 0);
			CHECK_EQ(a.argc, 1);
			zc_config_free(&a);
		}
		char *av2[] = { "mds", "--config", NULL };

		CHECK_EQ(zc_config_args("mds", opts, "fh", deny, 2, av2, &a), -EINVAL);
	}
	{
		/* A bad file stops the command, with the line. */
		char *av[] = { "mds", "--config", path, NULL };

		write_file("[mds]\ndir = /x\nlistn = y\n");
		CHECK_EQ(zc_config_args("mds", opts, "fh", deny, 3, av, &a), -EINVAL);
		snprintf(arg, sizeof(arg), "%s:3: unknown key 'listn'", path);
		CHECK_STR(a.err, arg);
		CHECK(a.argv == NULL);
	}
	unlink(path);
	rmdir(dir);
	return check_done();
}
