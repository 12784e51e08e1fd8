/* SPDX-License-Identifier: MIT */
/*
 * Little-endian byte packing with bounds checks.  A cursor that would run
 * past its buffer sets ->err and stops moving; getters then return 0, so a
 * decoder checks ->err once at the end instead of after every field.
 */
#ifndef ZC_PACK_H
#define ZC_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct zc_cur {
	uint8_t *p;
	size_t len;
	size_t pos;
	bool err;
};

static inline struct zc_cur zc_cur_init(void *p, size_t len)
{
	return (struct zc_cur){ .p = p, .len = len };
}

static inline size_t zc_cur_left(const struct zc_cur *c)
{
	return c->err ? 0 : c->len - c->pos;
}

/* Reserves n bytes and returns where they start, or NULL (and ->err). */
static inline uint8_t *zc_cur_take(struct zc_cur *c, size_t n)
{
	uint8_t *r;

	if (c->err || n > c->len - c->pos) {
		c->err = true;
		return NULL;
	}
	r = c->p + c->pos;
	c->pos += n;
	return r;
}

static inline void zc_put_u8(struct zc_cur *c, uint8_t v)
{
	uint8_t *d = zc_cur_take(c, 1);

	if (d)
		d[0] = v;
}

static inline void zc_put_u16(struct zc_cur *c, uint16_t v)
{
	uint8_t *d = zc_cur_take(c, 2);

	if (d) {
		d[0] = v;
		d[1] = v >> 8;
	}
}

static inline void zc_put_u32(struct zc_cur *c, uint32_t v)
{
	uint8_t *d = zc_cur_take(c, 4);

	if (d)
		for (int i = 0; i < 4; i++)
			d[i] = v >> (8 * i);
}

static inline void zc_put_u64(struct zc_cur *c, uint64_t v)
{
	uint8_t *d = zc_cur_take(c, 8);

	if (d)
		for (int i = 0; i < 8; i++)
			d[i] = v >> (8 * i);
}

static inline void zc_put_bytes(struct zc_cur *c, const void *s, size_t n)
{
	uint8_t *d = zc_cur_take(c, n);

	if (d && n)
		memcpy(d, s, n);
}

/* name_len:16 then the bytes; a string longer than 65535 sets ->err. */
static inline void zc_put_str(struct zc_cur *c, const char *s, size_t n)
{
	if (n > UINT16_MAX) {
		c->err = true;
		return;
	}
	zc_put_u16(c, n);
	zc_put_bytes(c, s, n);
}

static inline uint8_t zc_get_u8(struct zc_cur *c)
{
	uint8_t *s = zc_cur_take(c, 1);

	return s ? s[0] : 0;
}

static inline uint16_t zc_get_u16(struct zc_cur *c)
{
	uint8_t *s = zc_cur_take(c, 2);

	return s ? (uint16_t)(s[0] | s[1] << 8) : 0;
}

static inline uint32_t zc_get_u32(struct zc_cur *c)
{
	uint8_t *s = zc_cur_take(c, 4);
	uint32_t v = 0;

	if (s)
		for (int i = 3; i >= 0; i--)
			v = v << 8 | s[i];
	return v;
}

static inline uint64_t zc_get_u64(struct zc_cur *c)
{
	uint8_t *s = zc_cur_take(c, 8);
	uint64_t v = 0;

	if (s)
		for (int i = 7; i >= 0; i--)
			v = v << 8 | s[i];
	return v;
}

/*
 * Reads a string into out (cap bytes including the terminator).  A string
 * that does not fit, is empty while !allow_empty, or holds a NUL or '/'
 * when name is set, sets ->err.  Returns the length.
 */
static inline size_t zc_get_str(struct zc_cur *c, char *out, size_t cap, bool name)
{
	size_t n = zc_get_u16(c);
	uint8_t *s = zc_cur_take(c, n);

	if (!s || n >= cap || memchr(s, 0, n) || (name && (!n || memchr(s, '/', n)))) {
		c->err = true;
		out[0] = 0;
		return 0;
	}
	memcpy(out, s, n);
	out[n] = 0;
	return n;
}

#endif
