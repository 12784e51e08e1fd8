// SPDX-License-Identifier: MIT
/*
 * zcfs backup: a consistent copy of the mds's store while it serves.
 *
 *   zcfs backup [--dir DIR | --mds-dir MDSDIR] FILE
 *
 * It runs on the mds's machine and reads the store file itself, read-only
 * (mds/backup.c: one read transaction, WAL), never asking the mds: the
 * copy is the state of the last commit before it started.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"
#include "mds/mds.h"

struct progress {
	uint64_t start, last;
};

static void show(int done, int total, void *arg)
{
	struct progress *p = arg;
	uint64_t now = zc_now_ns();

	if (now - p->last < 1000000000ULL || done == total)
		return;
	p->last = now;
	fprintf(stderr, "zcfs backup: %d of %d pages (%d%%)\n", done, total,
		total ? (int)(100LL * done / total) : 100);
}

static void usage(void)
{
	fprintf(stderr, "usage: zcfs backup [--dir DIR | --mds-dir MDSDIR] FILE\n"
			"  --dir DIR: the cluster `zcfs up --dir DIR` runs (default ./zcfs-data)\n"
			"  --mds-dir MDSDIR: the --dir of a `zcfs mds` (its store MDSDIR/meta.db)\n"
			"  FILE: written as FILE.tmp, fsynced, renamed; run it on the mds's"
			" machine,\n  while the mds serves or not; zcfs mds --restore FILE starts"
			" from it\n");
}

int zc_cmd_backup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "mds-dir", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *mds_dir = NULL;
	char src[4200];
	struct progress p;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'm': mds_dir = optarg; break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc || (dir && mds_dir)) {
		usage();
		return 2;
	}
	if (mds_dir)
		snprintf(src, sizeof(src), "%s/meta.db", mds_dir);
	else
		snprintf(src, sizeof(src), "%s/mds/meta.db", dir ? dir : "./zcfs-data");
	zc_log_init("backup", ZC_LOG_INFO, NULL);
	p.start = p.last = zc_now_ns();
	err = mds_store_copy(src, argv[optind], show, &p);
	if (err)
		return 1;
	fprintf(stderr, "zcfs backup: %s copied to %s in %.1f s\n", src, argv[optind],
		(zc_now_ns() - p.start) / 1e9);
	return 0;
}
