// SPDX-License-Identifier: MIT
/*
 * Exports: which client credential may mount which directory, and how.
 *
 * The exports file (zcfs mds --exports FILE, default DIR/exports) has one
 * line per credential name:
 *
 *   NAME PATH rw|ro [root_squash[=UID:GID]] [all_squash=UID:GID]
 *
 * with '#' starting a comment.  PATH is a directory of zcfs, from its root;
 * a session of NAME sees only what is below it.  root_squash maps uid 0
 * and gid 0 (also among the groups) to 65534:65534 or UID:GID; all_squash
 * maps every identity to UID:GID with no groups.
 *
 * The file is read at start and again at every SIGHUP.  A bad line stops
 * the start, or at SIGHUP keeps the exports in force; either way it is
 * logged with file:line and why.  With no file at all every authenticated
 * client may mount / read-write without squash, so that a cluster made by
 * `zcfs up` needs none.
 *
 * Everything here runs under mds_lock (the SIGHUP thread takes it).
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"
#include "mds.h"

#define MAX_EXPORTS 4096
#define SQUASH_ID 65534

struct table {
	struct mds_export *e;
	int n;
	bool open;		/* no exports file: everyone gets everything */
};

static struct table exports = { .open = true };
/* What a client gets when there is no exports file. */
static struct mds_export open_export = { .name = "*", .path = "/", .root = ZC_ROOT_INO };

static void table_free(struct table *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->e[i].path);
	free(t->e);
	t->e = NULL;
	t->n = 0;
}

/* ---- parsing ---- */

/* "UID:GID", each a decimal below 2^32.  Returns 0 or -EINVAL. */
static int parse_ids(const char *s, uint32_t *uid, uint32_t *gid)
{
	unsigned long long u, g;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	u = strtoull(s, &end, 10);
	if (*end != ':' || !isdigit((unsigned char)end[1]))
		return -EINVAL;
	g = strtoull(end + 1, &end, 10);
	if (*end || u > UINT32_MAX || g > UINT32_MAX)
		return -EINVAL;
	*uid = u;
	*gid = g;
	return 0;
}

/*
 * An absolute path, written back without empty components ("//a/" is
 * "/a").  Returns the copy, or NULL with *why set.
 */
static char *parse_path(const char *s, const char **why)
{
	char *out, *p;
	const char *c = s;

	if (*s != '/') {
		*why = "PATH must start with /";
		return NULL;
	}
	if (strlen(s) > ZC_MAX_PATH) {
		*why = "PATH too long";
		return NULL;
	}
	out = p = malloc(strlen(s) + 2);
	if (!out) {
		*why = "no memory";
		return NULL;
	}
	while (*c) {
		size_t n;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if (!n)
			break;
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.') ||
		    n > ZC_MAX_NAME) {
			*why = n > ZC_MAX_NAME ? "a PATH component is too long"
					       : "PATH may not hold . or ..";
			free(out);
			return NULL;
		}
		*p++ = '/';
		memcpy(p, c, n);
		p += n;
		c += n;
	}
	if (p == out)
		*p++ = '/';
	*p = 0;
	return out;
}

/* One option after rw|ro.  Returns NULL or why it is refused. */
static const char *parse_option(struct mds_export *e, const char *opt)
{
	if (!strcmp(opt, "root_squash") || !strncmp(opt, "root_squash=", 12)) {
		if (e->root_squash)
			return "root_squash given twice";
		e->root_squash = true;
		e->squash_uid = e->squash_gid = SQUASH_ID;
		if (opt[11] == '=' && parse_ids(opt + 12, &e->squash_uid, &e->squash_gid))
			return "root_squash=UID:GID wants two numbers";
		return NULL;
	}
	if (!strncmp(opt, "all_squash=", 11)) {
		if (e->all_squash)
			return "all_squash given twice";
		e->all_squash = true;
		if (parse_ids(opt + 11, &e->all_uid, &e->all_gid))
			return "all_squash=UID:GID wants two numbers";
		return NULL;
	}
	if (!strcmp(opt, "all_squash"))
		return "all_squash needs =UID:GID";
	return "unknown option (root_squash[=UID:GID], all_squash=UID:GID)";
}

/*
 * One line, comment already cut.  Returns 0 (e filled, or e->name empty
 * for a blank line), or -EINVAL with *why set.
 */
static int parse_line(char *line, struct mds_export *e, const char **why)
{
	char *tok[8], *save = NULL;
	int n = 0;

	memset(e, 0, sizeof(*e));
	for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == (int)ZC_ARRAY_SIZE(tok)) {
			*why = "too many words";
			return -EINVAL;
		}
		tok[n++] = t;
	}
	if (!n)
		return 0;
	if (n < 3) {
		*why = "expected NAME PATH rw|ro [root_squash[=UID:GID]] [all_squash=UID:GID]";
		return -EINVAL;
	}
	if (!zc_cred_name_ok(tok[0])) {
		*why = "NAME must be 1-63 of A-Z a-z 0-9 . _ -";
		return -EINVAL;
	}
	if (strcmp(tok[2], "rw") && strcmp(tok[2], "ro")) {
		*why = "the third word must be rw or ro";
		return -EINVAL;
	}
	e->ro = !strcmp(tok[2], "ro");
	for (int i = 3; i < n; i++)
		if ((*why = parse_option(e, tok[i])))
			return -EINVAL;
	e->path = parse_path(tok[1], why);
	if (!e->path)
		return -EINVAL;
	snprintf(e->name, sizeof(e->name), "%s", tok[0]);
	return 0;
}

/* Reads a whole file into t.  Returns 0 or -EINVAL (logged). */
static int parse_file(const char *path, FILE *f, struct table *t)
{
	char line[ZC_MAX_PATH + 512];
	int lineno = 0;

	while (fgets(line, sizeof(line), f)) {
		struct mds_export e;
		const char *why = NULL;
		char *hash = strchr(line, '#');

		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			why = "line too long";
		if (hash)
			*hash = 0;
		if (!why && parse_line(line, &e, &why))
			free(e.path);
		for (int i = 0; !why && e.name[0] && i < t->n; i++)
			if (!strcmp(t->e[i].name, e.name)) {
				why = "a second line for that NAME";
				free(e.path);
			}
		if (!why && e.name[0] && t->n == MAX_EXPORTS) {
			why = "too many lines";
			free(e.path);
		}
		if (why) {
			zc_err("mds: exports %s:%d: %s", path, lineno, why);
			return -EINVAL;
		}
		if (!e.name[0])
			continue;
		if (t->n % 64 == 0) {
			struct mds_export *ne = realloc(t->e, (t->n + 64) * sizeof(*ne));

			if (!ne) {
				free(e.path);
				zc_err("mds: exports %s: no memory", path);
				return -EINVAL;
			}
			t->e = ne;
		}
		t->e[t->n++] = e;
	}
	if (ferror(f)) {
		zc_err("mds: exports %s: read error", path);
		return -EIO;
	}
	return 0;
}

/* ---- the table in force ---- */

int mds_export_resolve(struct mds_export *e)
{
	uint64_t ino = ZC_ROOT_INO;
	const char *c = e->path;
	char name[ZC_MAX_NAME + 1];

	while (*c) {
		size_t n;
		int64_t next;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if (!n)
			break;
		memcpy(name, c, n);
		name[n] = 0;
		c += n;
		next = mds_int(-1, "SELECT ino FROM dentry WHERE parent=? AND name=?", "it",
			       (int64_t)ino, name);
		if (next < 0) {
			e->root = 0;
			return ZC_ST_NOENT;
		}
		ino = next;
	}
	if (!S_ISDIR(mds_int(0, "SELECT mode FROM inode WHERE ino=?", "i", (int64_t)ino))) {
		e->root = 0;
		return ZC_ST_NOTDIR;
	}
	e->root = ino;
	return ZC_OK;
}

struct mds_export *mds_export_find(const char *name)
{
	if (exports.open)
		return &open_export;
	for (int i = 0; i < exports.n; i++)
		if (!strcmp(exports.e[i].name, name))
			return &exports.e[i];
	return NULL;
}

int mds_exports_load(const char *path)
{
	struct table t = { 0 };
	FILE *f = fopen(path, "re");
	int err;

	if (!f && errno != ENOENT) {
		err = -errno;
		zc_err("mds: exports %s: %s", path, strerror(-err));
		return err;
	}
	if (f) {
		err = parse_file(path, f, &t);
		fclose(f);
		if (err) {
			table_free(&t);
			return err;
		}
	} else {
		t.open = true;
	}
	table_free(&exports);
	exports = t;
	mds_tree_gen++;
	if (exports.open) {
		zc_info("mds: no exports file %s: every authenticated client may mount /"
			" read-write, without squash", path);
		return 0;
	}
	zc_info("mds: exports %s: %d entries", path, exports.n);
	for (int i = 0; i < exports.n; i++)
		if (mds_export_resolve(&exports.e[i]))
			zc_warn("mds: export %s of %s is not a directory of zcfs (yet): its mounts"
				" are refused until it is", exports.e[i].path, exports.e[i].name);
	return 0;
}

/* ---- SIGHUP ---- */

static void *hup_thread(void *arg)
{
	const char *path = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		mds_lock_store();
		if (mds_exports_load(path))
			zc_warn("mds: SIGHUP: the exports in force stay");
		pthread_mutex_unlock(&mds_lock);
	}
	return NULL;
}

int mds_exports_watch(const char *path)
{
	sigset_t set;
	int err;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	err = pthread_sigmask(SIG_BLOCK, &set, NULL);
	return err ? -err : zc_thread_start(hup_thread, (void *)path);
}
