/* SPDX-License-Identifier: MIT */
#ifndef ZC_CLI_H
#define ZC_CLI_H

#include <stdbool.h>
#include <stddef.h>

int zc_cmd_up(int argc, char **argv);
int zc_cmd_down(int argc, char **argv);
int zc_cmd_status(int argc, char **argv);
int zc_cmd_setattr(int argc, char **argv);
int zc_cmd_getattr(int argc, char **argv);
int zc_cmd_keygen(int argc, char **argv);
int zc_cmd_top(int argc, char **argv);

/* Asks the mds at mds (ADDR:PORT) for its status, as text or JSON (needs
 * a credential: zc_cli_credential).  Returns 0 with the text in *out
 * (free it), or -errno. */
int zc_cli_mds_status(const char *mds, bool json, char **out);
int zc_cmd_backup(int argc, char **argv);

/* Appends the credential in cred_file to the mds's credentials file
 * creds (made 0600 if missing).  Returns 0 or -errno, having said why. */
int zc_creds_add(const char *creds, const char *cred_file);

/* Loads this client's credential: path, else dir/admin.cred, else
 * /etc/zcfs/client.cred.  Returns 0 or -errno, having said why. */
int zc_cli_credential(const char *path, const char *dir);
/* The mds address of the cluster recorded in dir.  Returns 0 or -errno. */
int zc_cluster_mds(const char *dir, char *out, size_t len);
/*
 * Records / forgets a client mounted at mnt by process pid (extra mounts,
 * `zcfs mount --dir`), so that `zcfs down` stops it too.  pid is the
 * process that serves the mount (the one left after daemonizing); an
 * absolute mnt is recorded as given, never looked at.  Returns 0 or -errno.
 */
int zc_cluster_add_mount(const char *dir, int pid, const char *mnt);
void zc_cluster_del_mount(const char *dir, int pid);

#endif
