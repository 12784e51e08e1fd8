// SPDX-License-Identifier: MIT
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *tag = "zcfs";
static enum zc_log_level min_level = ZC_LOG_INFO;
static int log_fd = STDERR_FILENO;
static const char *names[] = { "ERR", "WARN", "INFO", "DEBUG" };

int zc_log_init(const char *t, enum zc_log_level level, const char *path)
{
	if (t)
		tag = t;
	min_level = level;
	if (path) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0)
			return -errno;
		log_fd = fd;
	}
	return 0;
}

int zc_log_parse_level(const char *s)
{
	for (int i = 0; i <= ZC_LOG_DEBUG; i++)
		if (!strcasecmp(s, names[i]) || (i == ZC_LOG_ERR && !strcasecmp(s, "error")) ||
		    (i == ZC_LOG_WARN && !strcasecmp(s, "warning")))
			return i;
	return -EINVAL;
}

void zc_log(enum zc_log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, saved = errno;

	if (level > min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, tag, (int)getpid(), names[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line keeps lines whole when several threads log. */
	if (write(log_fd, line, n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}
