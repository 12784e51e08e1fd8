/* SPDX-License-Identifier: MIT */
#ifndef ZC_LOG_H
#define ZC_LOG_H

enum zc_log_level { ZC_LOG_ERR, ZC_LOG_WARN, ZC_LOG_INFO, ZC_LOG_DEBUG };

/* Sets the program tag, the lowest level written, and the output file
 * (NULL: stderr).  Returns 0 or -errno if the file cannot be opened. */
int zc_log_init(const char *tag, enum zc_log_level level, const char *path);

/* Parses "err", "warn", "info" or "debug"; returns the level or -EINVAL. */
int zc_log_parse_level(const char *s);

/* One line per event: time, tag, level, message.  Thread-safe. */
void zc_log(enum zc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define zc_err(...)   zc_log(ZC_LOG_ERR, __VA_ARGS__)
#define zc_warn(...)  zc_log(ZC_LOG_WARN, __VA_ARGS__)
#define zc_info(...)  zc_log(ZC_LOG_INFO, __VA_ARGS__)
#define zc_debug(...) zc_log(ZC_LOG_DEBUG, __VA_ARGS__)

#endif
