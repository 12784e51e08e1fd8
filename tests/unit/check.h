/* SPDX-License-Identifier: MIT */
/*
 * A tiny assertion helper for the unit test programs.  Every failed check
 * prints where, what it expected and what it got: CHECK_EQ and friends
 * print both values, CHECK_MEM the first byte that differs, CHECK_STR both
 * strings; a bare CHECK is for conditions with nothing more to show (it
 * prints the condition, expected true, got false).
 */
#ifndef ZC_TEST_CHECK_H
#define ZC_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s: expected true, got false\n", \
			__FILE__, __LINE__, #cond); \
		check_failures++; \
	} \
} while (0)

/* Compares two integers with op; prints both on failure. */
#define CHECK_OP(a, op, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (!(_a op _b)) { \
		fprintf(stderr, "%s:%d: check failed: %s %s %s: expected %s %lld, got %lld\n", \
			__FILE__, __LINE__, #a, #op, #b, #op, _b, _a); \
		check_failures++; \
	} \
} while (0)

#define CHECK_EQ(a, b) CHECK_OP(a, ==, b)
#define CHECK_NE(a, b) CHECK_OP(a, !=, b)
#define CHECK_LT(a, b) CHECK_OP(a, <, b)
#define CHECK_LE(a, b) CHECK_OP(a, <=, b)
#define CHECK_GT(a, b) CHECK_OP(a, >, b)
#define CHECK_GE(a, b) CHECK_OP(a, >=, b)

/* got[0..len) must equal want[0..len): prints the first difference. */
#define CHECK_MEM(got, want, len) \
	check_mem(__FILE__, __LINE__, #got, (const void *)(got), (const void *)(want), (len))

static inline void check_mem(const char *file, int line, const char *what, const void *got,
			     const void *want, size_t len)
{
	const unsigned char *g = got, *w = want;

	for (size_t i = 0; i < len; i++) {
		if (g[i] == w[i])
			continue;
		fprintf(stderr, "%s:%d: check failed: %s: %zu bytes differ from byte %zu on:"
			" expected 0x%02x, got 0x%02x\n", file, line, what, len, i, w[i], g[i]);
		check_failures++;
		return;
	}
}

#define CHECK_STR(got, want) do { \
	const char *_g = (got), *_w = (want); \
	if (!_g || !_w || strcmp(_g, _w)) { \
		fprintf(stderr, "%s:%d: check failed: %s: expected \"%s\", got \"%s\"\n", \
			__FILE__, __LINE__, #got, _w ? _w : "(null)", _g ? _g : "(null)"); \
		check_failures++; \
	} \
} while (0)

static inline int check_done(void)
{
	if (check_failures)
		fprintf(stderr, "%d checks failed\n", check_failures);
	return check_failures ? 1 : 0;
}

#endif
