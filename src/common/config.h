/* SPDX-License-Identifier: MIT */
/*
 * Configuration files: an INI file whose keys are a command's long options.
 *
 *   # comment (also ';'), on a line of its own
 *   [mds]                 one section per role: [mds], [cs], [mount]
 *   listen = 10.0.0.1:9420
 *   replicas = 3
 *
 * A daemon turns the keys of its own section into "--key=value" options
 * placed before its command line's, so that getopt's later assignment
 * makes the command line win.  Keys are checked against the command's
 * option table: nothing else needs to know an option to read it from a
 * file.  A flag (no_argument) takes true/false, yes/no, on/off or 1/0.
 * Keys outside a section are refused: no key is valid for every role.
 */
#ifndef ZC_CONFIG_H
#define ZC_CONFIG_H

#include <getopt.h>

#define ZC_CONFIG_DEFAULT "/etc/zcfs/zcfs.conf"

/* An argument vector built from a configuration file and a command line. */
struct zc_args {
	int argc;
	char **argv;		/* argv[argc] is NULL; every string is our copy */
	int cap;
	char err[1024];		/* why the last call failed: "FILE:LINE: what" */
};

/*
 * Appends to a the options that section [role] of the file at path gives:
 * "--key=value", "--key" for a flag that is true, nothing for one that is
 * false.  Every key of that section must name a long option of opts and
 * not be "help", "config" or one of deny (NULL-terminated, may be NULL):
 * options that make no sense in a file.  The other sections are checked
 * for their syntax only.  Returns 0, -ENOENT if the file does not exist,
 * -EINVAL for a bad line, section, key or value, or another -errno; a->err
 * then says why with the file and the line.
 */
int zc_config_read(const char *path, const char *role, const struct option *opts,
		   const char *const *deny, struct zc_args *a);

/*
 * The arguments command role parses: argv[0], the options of its
 * configuration file (zc_config_read), then its command line without
 * "--config FILE".  The file is the one --config names, else $ZCFS_CONFIG
 * (empty: none), else ZC_CONFIG_DEFAULT, which may be missing.  shorts is
 * the command's getopt short options ("o:"): an option's argument is never
 * taken for --config.  Returns 0 or -errno, having printed why as
 * "zcfs ROLE: FILE:LINE: what"; a is then empty.  zc_config_free frees it.
 */
int zc_config_args(const char *role, const struct option *opts, const char *shorts,
		   const char *const *deny, int argc, char **argv, struct zc_args *a);
void zc_config_free(struct zc_args *a);

#endif
