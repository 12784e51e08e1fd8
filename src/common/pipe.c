// SPDX-License-Identifier: MIT
/* The pool of pipes for zero-copy payloads (pipe.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pipe.h"
#include "common/util.h"

#define PIPE_SIZE (4 * ZC_MAX_IO)
#define PIPE_POOL 128

static pthread_mutex_t pipes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zpipe *pipes;
static int npipes;
static atomic_int pipes_open;

struct zpipe *zc_pipe_get(void)
{
	struct zpipe *p;

	pthread_mutex_lock(&pipes_lock);
	p = pipes;
	if (p) {
		pipes = p->next;
		npipes--;
	}
	pthread_mutex_unlock(&pipes_lock);
	if (p)
		return p;
	p = malloc(sizeof(*p));
	if (!p)
		return NULL;
	if (pipe2(p->fd, O_CLOEXEC)) {
		free(p);
		return NULL;
	}
	if (fcntl(p->fd[1], F_SETPIPE_SZ, PIPE_SIZE) < (int)PIPE_SIZE) {
		static atomic_int warned;

		if (!atomic_exchange(&warned, 1))
			zc_warn("cannot size a pipe to %d bytes (%s): payloads are copied instead",
				PIPE_SIZE, strerror(errno));
		close(p->fd[0]);
		close(p->fd[1]);
		free(p);
		return NULL;
	}
	atomic_fetch_add(&pipes_open, 1);
	return p;
}

void zc_pipe_put(struct zpipe *p)
{
	int held = 0;

	if (!p)
		return;
	if (ioctl(p->fd[0], FIONREAD, &held) || held) {
		zc_debug("closing a pipe left with %d bytes", held);
		goto out_close;
	}
	pthread_mutex_lock(&pipes_lock);
	if (npipes < PIPE_POOL) {
		p->next = pipes;
		pipes = p;
		npipes++;
		p = NULL;
	}
	pthread_mutex_unlock(&pipes_lock);
	if (!p)
		return;
out_close:
	close(p->fd[0]);
	close(p->fd[1]);
	free(p);
	atomic_fetch_sub(&pipes_open, 1);
}

int zc_pipes_open(void)
{
	return atomic_load(&pipes_open);
}

struct zpipe *zc_pipe_tee(int from, uint32_t len)
{
	struct zpipe *q = zc_pipe_get();
	ssize_t n;

	if (!q)
		return NULL;
	do
		n = tee(from, q->fd[1], len, SPLICE_F_NONBLOCK);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len) {
		zc_debug("tee of %u bytes gave %zd", len, n);
		zc_pipe_put(q);	/* closed: it holds bytes */
		return NULL;
	}
	return q;
}
