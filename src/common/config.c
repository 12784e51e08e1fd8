// SPDX-License-Identifier: MIT
/* Configuration files (config.h): INI sections of long options. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* The roles that read a section of their own. */
static const char *const roles[] = { "mds", "cs", "mount" };

static int add(struct zc_args *a, const char *s1, const char *s2)
{
	size_t n1 = strlen(s1), n2 = s2 ? strlen(s2) : 0;
	char *s;

	if (a->argc + 2 > a->cap) {
		int cap = a->cap ? 2 * a->cap : 16;
		char **v = realloc(a->argv, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->argv = v;
		a->cap = cap;
	}
	s = malloc(n1 + n2 + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, s1, n1);
	if (s2)
		memcpy(s + n1, s2, n2);
	s[n1 + n2] = 0;
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
	return 0;
}

static int fail(struct zc_args *a, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct zc_args *a, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	return err;
}

static char *trim(char *s)
{
	char *e = s + strlen(s);

	while (isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* 1 true, 0 false, -1 neither. */
static int boolean(const char *v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < ZC_ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -1;
}

static bool denied(const char *key, const char *const *deny)
{
	if (!strcmp(key, "help") || !strcmp(key, "config"))
		return true;
	for (; deny && *deny; deny++)
		if (!strcmp(key, *deny))
			return true;
	return false;
}

/* One "key = value" of our section. */
static int entry(struct zc_args *a, const char *where, const char *key, const char *val,
		 const struct option *opts, const char *const *deny)
{
	const struct option *o;
	int b;

	if (denied(key, deny))
		return fail(a, -EINVAL, "%s: '%s' cannot be set in a configuration file", where,
			    key);
	for (o = opts; o->name; o++)
		if (!strcmp(o->name, key))
			break;
	if (!o->name)
		return fail(a, -EINVAL, "%s: unknown key '%s'", where, key);
	if (o->has_arg == no_argument) {
		b = boolean(val);
		if (b < 0)
			return fail(a, -EINVAL, "%s: key '%s' is a flag: true or false (yes/no,"
				    " on/off, 1/0), not '%s'", where, key, val);
		return b ? add(a, "--", key) : 0;
	}
	if (!*val && o->has_arg == required_argument)
		return fail(a, -EINVAL, "%s: key '%s' needs a value", where, key);
	if (!*val)
		return add(a, "--", key);
	{
		char opt[256];

		snprintf(opt, sizeof(opt), "--%s=", key);
		return add(a, opt, val);
	}
}

int zc_config_read(const char *path, const char *role, const struct option *opts,
		   const char *const *deny, struct zc_args *a)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *sect = NULL, where[600];
	size_t cap = 0;
	unsigned lineno = 0;
	int err = 0;

	if (!f)
		return fail(a, -errno, "%s: %s", path, strerror(errno));
	while (!err && getline(&line, &cap, f) >= 0) {
		char *s = trim(line), *eq;

		snprintf(where, sizeof(where), "%s:%u", path, ++lineno);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');
			size_t i;

			if (!end || end[1]) {
				err = fail(a, -EINVAL, "%s: bad section line '%s'", where, s);
				break;
			}
			*end = 0;
			s = trim(s + 1);
			for (i = 0; i < ZC_ARRAY_SIZE(roles) && strcmp(s, roles[i]); i++)
				;
			if (i == ZC_ARRAY_SIZE(roles)) {
				err = fail(a, -EINVAL, "%s: unknown section '[%s]' (the sections are"
					   " [mds], [cs] and [mount])", where, s);
				break;
			}
			free(sect);
			sect = strdup(s);
			if (!sect)
				err = fail(a, -ENOMEM, "%s: out of memory", where);
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			err = fail(a, -EINVAL, "%s: bad line '%s' (KEY = VALUE or [SECTION])", where,
				   s);
			break;
		}
		*eq = 0;
		s = trim(s);
		if (!*s) {
			err = fail(a, -EINVAL, "%s: no key before '='", where);
			break;
		}
		if (!sect) {
			err = fail(a, -EINVAL, "%s: key '%s' outside a section ([mds], [cs] or"
				   " [mount])", where, s);
			break;
		}
		if (strcmp(sect, role))
			continue;
		err = entry(a, where, s, trim(eq + 1), opts, deny);
	}
	if (!err && ferror(f))
		err = fail(a, -EIO, "%s: read error", path);
	free(sect);
	free(line);
	fclose(f);
	return err;
}

/* Does command-line argument argv[i] take the next one as its value? */
static bool takes_next(const char *arg, const struct option *opts, const char *shorts)
{
	if (arg[0] != '-' || !arg[1])
		return false;
	if (arg[1] == '-') {
		const char *name = arg + 2;

		if (strchr(name, '='))
			return false;
		for (const struct option *o = opts; o->name; o++)
			if (!strcmp(o->name, name))
				return o->has_arg == required_argument;
		return false;
	}
	/* A cluster of short options: the first that takes an argument
	 * takes the rest, or the next argument if there is no rest. */
	for (const char *c = arg + 1; *c; c++) {
		const char *p = strchr(shorts, *c);

		if (p && *c != ':' && p[1] == ':')
			return !c[1];
	}
	return false;
}

int zc_config_args(const char *role, const struct option *opts, const char *shorts,
		   const char *const *deny, int argc, char **argv, struct zc_args *a)
{
	const char *file = NULL, *env = getenv("ZCFS_CONFIG");
	bool explicit = true;
	int i, err;

	memset(a, 0, sizeof(*a));
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strncmp(argv[i], "--config=", 9)) {
			file = argv[i] + 9;
		} else if (!strcmp(argv[i], "--config")) {
			if (i + 1 == argc) {
				fprintf(stderr, "zcfs %s: --config needs a file\n", role);
				return -EINVAL;
			}
			file = argv[++i];
		} else if (takes_next(argv[i], opts, shorts)) {
			i++;
		}
	}
	if (!file && env) {
		file = *env ? env : NULL;
	} else if (!file) {
		file = ZC_CONFIG_DEFAULT;
		explicit = false;
	}
	err = add(a, argv[0], NULL);
	if (!err && file) {
		err = zc_config_read(file, role, opts, deny, a);
		if (err == -ENOENT && !explicit)
			err = 0;
	}
	/* The command line, after the file: the later assignment wins. */
	for (i = 1; !err && i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (!err && i < argc)
				err = add(a, argv[i++], NULL);
			break;
		}
		if (!strncmp(argv[i], "--config=", 9))
			continue;
		if (!strcmp(argv[i], "--config")) {
			i++;
			continue;
		}
		err = add(a, argv[i], NULL);
		if (!err && takes_next(argv[i], opts, shorts) && i + 1 < argc)
			err = add(a, argv[++i], NULL);
	}
	if (err) {
		if (!a->err[0])
			snprintf(a->err, sizeof(a->err), "%s", strerror(-err));
		fprintf(stderr, "zcfs %s: %s\n", role, a->err);
		zc_config_free(a);
	}
	return err;
}

void zc_config_free(struct zc_args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	free(a->argv);
	a->argv = NULL;
	a->argc = a->cap = 0;
}
