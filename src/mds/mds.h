/* SPDX-License-Identifier: MIT */
/* Metadata server internals. */
#ifndef ZC_MDS_H
#define ZC_MDS_H

#include <sqlite3.h>
#include <stdint.h>

/* store.c: SQLite access; callers hold the mds lock. */
int mds_store_open(const char *dir);
void mds_store_close(void);
/* Binds args by fmt ('i' int64_t, 't' text, 'b' blob + int length). */
sqlite3_stmt *mds_q(const char *sql, const char *fmt, ...);
int mds_run(const char *sql, const char *fmt, ...);
int64_t mds_int(int64_t dflt, const char *sql, const char *fmt, ...);
int mds_begin(void);
/* Commits if err is 0, else rolls back; returns err or -EIO. */
int mds_end(int err);
/* Returns the next value of a persistent counter (first is 1). */
int64_t mds_meta_next(const char *key);

int zc_cmd_mds(int argc, char **argv);

#endif
