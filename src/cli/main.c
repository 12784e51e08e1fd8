// SPDX-License-Identifier: MIT
/* zcfs: one binary, one subcommand per role. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "cs/cs.h"
#include "mds/mds.h"

static int cmd_help(int argc, char **argv);

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "up", zc_cmd_up, "start a local cluster (mds + chunk servers) and mount it" },
	{ "down", zc_cmd_down, "unmount and stop what 'up' started" },
	{ "status", zc_cmd_status, "show chunk servers, space and client counters (--json)" },
	{ "top", zc_cmd_top, "live view: throughput, IOPS, latency per chunk server and client" },
	{ "setattr", zc_cmd_setattr, "set a file's or directory's replica count (--replicas R)" },
	{ "getattr", zc_cmd_getattr, "show a file's replica count, chunks and their replicas" },
	{ "mds", zc_cmd_mds, "run the metadata server" },
	{ "cs", zc_cmd_cs, "run a chunk server" },
	{ "mount", zc_cmd_mount, "mount the file system (FUSE client)" },
	{ "keygen", zc_cmd_keygen, "make a cluster key or a client credential" },
	{ "backup", zc_cmd_backup, "copy the mds's store while it serves (restore: mds --restore)" },
	{ "help", cmd_help, "list the subcommands" },
};

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: zcfs COMMAND [options]   (zcfs COMMAND --help for its options)\n\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-8s %s\n", cmds[i].name, cmds[i].help);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return 2;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(0, NULL);
	fprintf(stderr, "zcfs: unknown command '%s'\n", argv[1]);
	cmd_help(0, NULL);
	return 2;
}
