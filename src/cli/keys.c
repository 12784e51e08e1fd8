// SPDX-License-Identifier: MIT
/*
 * zcfs keygen: the secrets of a cluster (common/auth.h), made by hand for
 * clusters on several machines (`zcfs up` makes its own).
 *
 *   zcfs keygen cluster FILE                 the cluster key
 *   zcfs keygen client NAME FILE [--add-to CREDENTIALS]
 *                                            a client credential, and its
 *                                            line in the mds's file
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/auth.h"
#include "common/util.h"

int zc_creds_add(const char *creds, const char *cred_file)
{
	char name[ZC_CRED_NAME + 1], hex[2 * ZC_KEY_LEN + 1], line[ZC_CRED_NAME + 2 * ZC_KEY_LEN + 3];
	uint8_t secret[ZC_KEY_LEN], old[ZC_KEY_LEN];
	int err, fd;

	if ((err = zc_cred_load(cred_file, name, secret))) {
		fprintf(stderr, "zcfs: %s: %s\n", cred_file, zc_key_strerror(err));
		return err;
	}
	err = zc_creds_find(creds, name, old);
	if (!err) {
		fprintf(stderr, "zcfs: %s already has a credential named %s\n", creds, name);
		return -EEXIST;
	}
	if (err != -ENOENT) {
		fprintf(stderr, "zcfs: %s: %s\n", creds, zc_key_strerror(err));
		return err;
	}
	zc_key_hex(secret, hex);
	snprintf(line, sizeof(line), "%s %s\n", name, hex);
	fd = open(creds, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || zc_write_full(fd, line, strlen(line)) || fsync(fd)) {
		err = -errno;
		fprintf(stderr, "zcfs: cannot add to %s: %s\n", creds, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	close(fd);
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: zcfs keygen cluster FILE\n"
		"       zcfs keygen client NAME FILE [--add-to CREDENTIALS]\n"
		"  cluster: a new cluster key, for the mds and every chunk server\n"
		"           (--key-file; default /etc/zcfs/cluster.key)\n"
		"  client:  a new client credential NAME (1-63 of A-Z a-z 0-9 . _ -) for\n"
		"           `zcfs mount --credential FILE`; --add-to appends it to the\n"
		"           mds's credentials file (default /etc/zcfs/credentials),\n"
		"           which the mds reads at every connection: no restart needed\n"
		"  files are made with mode 0600 and never overwritten\n");
	return 2;
}

int zc_cmd_keygen(int argc, char **argv)
{
	int err;

	if (argc == 3 && !strcmp(argv[1], "cluster")) {
		if ((err = zc_key_create(argv[2]))) {
			fprintf(stderr, "zcfs: %s: %s\n", argv[2], strerror(-err));
			return 1;
		}
		return 0;
	}
	if ((argc == 4 || (argc == 6 && !strcmp(argv[4], "--add-to"))) &&
	    !strcmp(argv[1], "client")) {
		if (!zc_cred_name_ok(argv[2])) {
			fprintf(stderr, "zcfs: %s: a name is 1-63 of A-Z a-z 0-9 . _ -\n", argv[2]);
			return 2;
		}
		if ((err = zc_cred_create(argv[3], argv[2]))) {
			fprintf(stderr, "zcfs: %s: %s\n", argv[3], strerror(-err));
			return 1;
		}
		return argc == 6 && zc_creds_add(argv[5], argv[3]) ? 1 : 0;
	}
	return usage();
}
