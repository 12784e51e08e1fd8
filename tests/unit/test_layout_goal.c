// SPDX-License-Identifier: MIT
/*
 * The goal in the mds's layout text (getxattr user.zcfs.replicas): the
 * answer's bytes carry no terminator, and the parse never reads past them
 * (issue 10: strspn ran on past the end; run under ASan, make test-asan).
 */
#include <errno.h>

#include "check.h"
#include "client/client_i.h"

/* The goal in the first len bytes of s, copied to a buffer of exactly len
 * bytes; "" when there is none. */
static const char *goal_of(const char *s, size_t len)
{
	static char out[64];
	char *text = malloc(len ? len : 1);
	const char *g = NULL;
	ssize_t n;

	memcpy(text, s, len);
	n = zc_layout_goal(text, len, &g);
	out[0] = 0;
	if (n > 0) {
		CHECK_GE(g, text);
		CHECK_LE(g + n, text + len);
		if (n < (ssize_t)sizeof(out)) {
			memcpy(out, g, n);
			out[n] = 0;
		}
	} else {
		CHECK_EQ(n, -EIO);
	}
	free(text);
	return out;
}

int main(void)
{
	const char *t = "inode 5 size 0 replicas 3";
	const char *g;

	/* The digits end the answer. */
	CHECK(!strcmp(goal_of(t, strlen(t)), "3"));
	/* The bytes past the answer are digits too (a larger buffer): not
	 * part of the goal. */
	CHECK(!strcmp(goal_of("inode 5 size 0 replicas 3999", strlen(t)), "3"));
	CHECK_EQ(zc_layout_goal("inode 5 size 0 replicas 3999", strlen(t), &g), 1);
	CHECK(!strcmp(goal_of("inode 1 size 9 replicas 12\nchunk 0 ...\n", 39), "12"));
	/* No goal: "replicas " at the very end, cut inside, or not there. */
	CHECK(!strcmp(goal_of("inode 5 size 0 replicas ", 24), ""));
	CHECK(!strcmp(goal_of("inode 5 size 0 replicas 3", 23), ""));
	CHECK(!strcmp(goal_of("inode 5 size 0 replicas x", 25), ""));
	CHECK(!strcmp(goal_of("inode 5 size 0", 14), ""));
	CHECK(!strcmp(goal_of("", 0), ""));
	CHECK_EQ(zc_layout_goal(NULL, 0, &g), -EIO);
	return check_done();
}
