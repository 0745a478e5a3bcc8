// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the wlb tag option (the wire contract in wlb(7)). */
#include <check.h>
#include <string.h>

#include "tag.h"
#include "testpkt.h"

static uint8_t buf[256];

static struct wlb_pkt syn_with(const uint8_t *opts, unsigned optlen)
{
	struct tp_opts o = {
		.sport = 40000, .dport = 80, .flags = WLB_TCP_SYN, .opts = opts, .optlen = optlen};
	size_t len = tp_build(buf, sizeof(buf), &o);

	return tp_parse(buf, len, sizeof(buf));
}

START_TEST(wire_format)
{
	struct wlb_pkt p = syn_with(tp_linux_syn_opts, 20);
	static const uint8_t want[12] = {1,    1, 253,	10,   0x57, 0x4c,
					 0x03, 1, 0xca, 0xfe, 0xf0, 0x0d};
	uint32_t nonce;

	memcpy(&nonce, want + 8, 4);
	ck_assert_int_eq(wlb_tag_add(&p, wlb_tag_flags(true, WLB_MODE_B, false), nonce),
			 WLB_PKT_OK);
	ck_assert_mem_eq(buf + 20 + 40, want, 12);
	ck_assert_uint_eq(p.thl, 52);
	ck_assert(wlb_pkt_csum_ok(&p));
}
END_TEST

START_TEST(find_round_trip)
{
	for (unsigned mode = 0; mode < 3; mode++) {
		for (unsigned bits = 0; bits < 4; bits++) {
			struct wlb_pkt p = syn_with(tp_linux_syn_opts, 20);
			struct wlb_tag t;
			bool redirect = bits & 1, echo = bits & 2;

			ck_assert_int_eq(wlb_tag_find(&p, &t), 0);
			ck_assert_int_eq(
				wlb_tag_add(&p, wlb_tag_flags(redirect, mode, echo), 0x12345678),
				WLB_PKT_OK);
			p = tp_parse(buf, p.len, sizeof(buf));
			ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
			ck_assert_uint_eq(t.nonce, 0x12345678);
			ck_assert_uint_eq(wlb_tag_mode(&t), mode);
			ck_assert_uint_eq(!!(t.flags & WLB_TAG_REDIRECT), redirect);
			ck_assert_uint_eq(!!(t.flags & WLB_TAG_ECHO), echo);
			ck_assert_uint_eq(t.off, 42);
		}
	}
}
END_TEST

START_TEST(strip)
{
	struct wlb_pkt p = syn_with(tp_linux_syn_opts, 20);
	struct wlb_tag t;

	wlb_tag_add(&p, WLB_TAG_ECHO, 7);
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	wlb_tag_strip(&p, &t);
	ck_assert(wlb_pkt_csum_ok(&p));
	ck_assert_int_eq(wlb_tag_find(&p, &t), 0);
	ck_assert_uint_eq(p.thl, 52); /* length unchanged: NOPs */
}
END_TEST

START_TEST(other_experiments_ignored)
{
	/* an RFC 6994 option of another experiment (ExID 0x1234), then ours */
	static const uint8_t opts[16] = {253,  6,    0x12, 0x34, 9, 9, 253, 10,
					 0x57, 0x4c, 1,	   1,	 0, 0, 0,   5};
	struct wlb_pkt p = syn_with(opts, 16);
	struct wlb_tag t;

	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.off, 26);
	static const uint8_t foreign[8] = {253, 6, 0x12, 0x34, 9, 9, 1, 1};

	p = syn_with(foreign, 8);
	ck_assert_int_eq(wlb_tag_find(&p, &t), 0);
}
END_TEST

START_TEST(malformed_ours)
{
	/* our ExID with a wrong length, or a version we do not speak */
	static const uint8_t badlen[12] = {253, 8, 0x57, 0x4c, 1, 1, 0, 0, 1, 1, 1, 1};
	static const uint8_t badver[12] = {253, 10, 0x57, 0x4c, 1, 2, 0, 0, 0, 0, 1, 1};
	struct wlb_tag t;
	struct wlb_pkt p = syn_with(badlen, 12);

	ck_assert_int_eq(wlb_tag_find(&p, &t), -1);
	p = syn_with(badver, 12);
	ck_assert_int_eq(wlb_tag_find(&p, &t), -1);
}
END_TEST

START_TEST(no_room)
{
	uint8_t opts[32];

	memset(opts, 1, sizeof(opts));
	struct wlb_pkt p = syn_with(opts, 32); /* 8 bytes left: not enough for 12 */

	ck_assert_int_eq(wlb_tag_add(&p, 1, 1), WLB_PKT_NOSPACE);
	p = syn_with(opts, 28); /* exactly 12 left */
	ck_assert_int_eq(wlb_tag_add(&p, 1, 1), WLB_PKT_OK);
	ck_assert_uint_eq(p.thl, 60);
	ck_assert(wlb_pkt_csum_ok(&p));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tag");
	TCase *tc = tcase_create("tag");

	tcase_add_test(tc, wire_format);
	tcase_add_test(tc, find_round_trip);
	tcase_add_test(tc, strip);
	tcase_add_test(tc, other_experiments_ignored);
	tcase_add_test(tc, malformed_ours);
	tcase_add_test(tc, no_room);
	suite_add_tcase(s, tc);
	return tp_run_suite(s);
}
