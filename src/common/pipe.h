// SPDX-License-Identifier: MIT
/*
 * A pool of pipes for zero-copy payloads (socket -> pipe -> /dev/fuse, a
 * file or another socket), each sized for four times the largest request:
 * a socket's bytes may come in fragments smaller than a page, one pipe
 * slot each.
 */
#ifndef ZC_PIPE_H
#define ZC_PIPE_H

#include <stdint.h>

struct zpipe {
	int fd[2];
	struct zpipe *next;
};

/* A pipe from the pool, or a new one; NULL if none can be had (no
 * descriptors, or the pipe cannot be sized): the caller copies instead. */
struct zpipe *zc_pipe_get(void);
/* Back to the pool; a pipe that still holds bytes is closed, never reused. */
void zc_pipe_put(struct zpipe *p);
/* Pipes open now (tests count leaks). */
int zc_pipes_open(void);
/* A pipe holding a duplicate of the first len bytes of the pipe whose read
 * end is from (tee(2): pages shared, nothing copied), which keeps them;
 * NULL if no pipe can be had or the bytes are not all there. */
struct zpipe *zc_pipe_tee(int from, uint32_t len);

#endif
