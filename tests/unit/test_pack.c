// SPDX-License-Identifier: MIT
/* Byte packing: round trips, little-endian layout, overrun detection. */
#include "check.h"
#include "common/pack.h"
#include "common/wire.h"

int main(void)
{
	uint8_t buf[64];
	char s[8];
	struct zc_cur c = zc_cur_init(buf, sizeof(buf));

	zc_put_u8(&c, 0xab);
	zc_put_u16(&c, 0x1234);
	zc_put_u32(&c, 0xdeadbeef);
	zc_put_u64(&c, 0x0102030405060708ULL);
	zc_put_str(&c, "abc", 3);
	CHECK(!c.err);
	CHECK_EQ(c.pos, 1 + 2 + 4 + 8 + 2 + 3);
	CHECK_EQ(buf[1], 0x34);	/* little-endian */
	CHECK_EQ(buf[2], 0x12);
	CHECK_EQ(buf[3], 0xef);
	CHECK_EQ(buf[7], 0x08);

	c = zc_cur_init(buf, c.pos);
	CHECK_EQ(zc_get_u8(&c), 0xab);
	CHECK_EQ(zc_get_u16(&c), 0x1234);
	CHECK_EQ(zc_get_u32(&c), 0xdeadbeef);
	CHECK_EQ(zc_get_u64(&c), 0x0102030405060708ULL);
	CHECK_EQ(zc_get_str(&c, s, sizeof(s), true), 3);
	CHECK(!strcmp(s, "abc"));
	CHECK(!c.err);
	CHECK_EQ(zc_cur_left(&c), 0);
	/* Reading past the end reports, returns 0 and stays put. */
	CHECK_EQ(zc_get_u32(&c), 0);
	CHECK(c.err);
	CHECK_EQ(zc_cur_left(&c), 0);

	/* Writing past the end does not write. */
	uint8_t small[5] = { 0 };

	c = zc_cur_init(small, 4);
	zc_put_u64(&c, ~0ULL);
	CHECK(c.err);
	CHECK_EQ(small[0], 0);
	CHECK_EQ(small[4], 0);

	/* A string that claims more bytes than there are. */
	uint8_t bad[] = { 10, 0, 'a', 'b' };

	c = zc_cur_init(bad, sizeof(bad));
	zc_get_str(&c, s, sizeof(s), false);
	CHECK(c.err);
	/* Too long for the output, a '/' in a name, an empty name, a NUL. */
	uint8_t longs[] = { 9, 0, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a' };

	c = zc_cur_init(longs, sizeof(longs));
	zc_get_str(&c, s, sizeof(s), false);
	CHECK(c.err);
	uint8_t slash[] = { 3, 0, 'a', '/', 'b' };

	c = zc_cur_init(slash, sizeof(slash));
	zc_get_str(&c, s, sizeof(s), true);
	CHECK(c.err);
	c = zc_cur_init(slash, sizeof(slash));
	zc_get_str(&c, s, sizeof(s), false);	/* fine for a symlink target */
	CHECK(!c.err);
	uint8_t empty[] = { 0, 0 };

	c = zc_cur_init(empty, sizeof(empty));
	zc_get_str(&c, s, sizeof(s), true);
	CHECK(c.err);
	uint8_t nul[] = { 2, 0, 'a', 0 };

	c = zc_cur_init(nul, sizeof(nul));
	zc_get_str(&c, s, sizeof(s), false);
	CHECK(c.err);

	/* attr and loc blocks */
	struct zc_attr a, b;
	uint8_t ab[ZC_ATTR_LEN];

	/* Padding too: the structs are compared whole. */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.ino = 7;
	a.mode = 0100644;
	a.nlink = 1;
	a.size = 1ULL << 40;
	a.mtime_s = -5;
	a.mtime_ns = 999999999;

	c = zc_cur_init(ab, sizeof(ab));
	zc_put_attr(&c, &a);
	CHECK(!c.err);
	CHECK_EQ(c.pos, ZC_ATTR_LEN);
	c = zc_cur_init(ab, sizeof(ab));
	zc_get_attr(&c, &b);
	CHECK(!c.err);
	CHECK_MEM(&a, &b, sizeof(a));
	memset(ab + 56, 0xff, 4);	/* mtime_ns out of range */
	c = zc_cur_init(ab, sizeof(ab));
	zc_get_attr(&c, &b);
	CHECK(c.err);

	struct zc_loc l, m;
	uint8_t lb[128];

	memset(&l, 0, sizeof(l));
	l.id = 99;
	l.version = 3;
	l.nrep = 2;
	l.rep[0] = (struct zc_replica){ 1, 0x0100007f, 9000 };
	l.rep[1] = (struct zc_replica){ 2, 0x0200007f, 9001 };
	l.cap.rights = ZC_CAP_READ;
	l.cap.expiry = 1234;
	l.cap.session = 77;
	memset(l.cap.mac, 0xab, sizeof(l.cap.mac));
	c = zc_cur_init(lb, sizeof(lb));
	zc_put_loc(&c, &l);
	c = zc_cur_init(lb, c.pos);
	zc_get_loc(&c, &m);
	CHECK(!c.err);
	CHECK_EQ(m.nrep, 2);
	CHECK_EQ(m.rep[1].port, 9001);
	CHECK_EQ(m.rep[1].ip, 0x0200007f);
	CHECK_EQ(m.cap.rights, ZC_CAP_READ);
	CHECK_EQ(m.cap.expiry, 1234);
	CHECK_EQ(m.cap.session, 77);
	CHECK_MEM(m.cap.mac, l.cap.mac, ZC_CAP_MAC);
	c = zc_cur_init(lb, c.pos - 1);	/* the capability cut short */
	zc_get_loc(&c, &m);
	CHECK(c.err);
	lb[12] = ZC_MAX_REPLICAS + 1;	/* too many replicas */
	c = zc_cur_init(lb, sizeof(lb));
	zc_get_loc(&c, &m);
	CHECK(c.err);
	CHECK_EQ(m.nrep, 0);
	return check_done();
}
