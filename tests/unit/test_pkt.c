// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the packet codec: parsing, checksums, rewrites, options,
 * IP-in-IP and RST crafting. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "pkt.h"
#include "testpkt.h"

static uint8_t buf[2048];

static size_t syn(uint8_t *b, size_t cap)
{
	struct tp_opts o = {.sport = 40000,
			    .dport = 80,
			    .flags = WLB_TCP_SYN,
			    .seq = 1000,
			    .opts = tp_linux_syn_opts,
			    .optlen = 20,
			    .df = true};

	return tp_build(b, cap, &o);
}

START_TEST(parse_syn)
{
	size_t len = syn(buf, sizeof(buf));
	struct wlb_pkt p;

	ck_assert_int_eq(wlb_pkt_parse(&p, buf, len, sizeof(buf)), WLB_PKT_OK);
	ck_assert_uint_eq(p.ihl, 20);
	ck_assert_uint_eq(p.thl, 40);
	ck_assert(wlb_tcp_is_syn(&p));
	ck_assert(!wlb_tcp_is_synack(&p));
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr("192.0.2.2"));
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr("203.0.113.10"));
	ck_assert_uint_eq(ntohs(wlb_tcp_sport(&p)), 40000);
	ck_assert_uint_eq(ntohs(wlb_tcp_dport(&p)), 80);
	ck_assert_uint_eq(wlb_tcp_seq(&p), 1000);
	ck_assert_uint_eq(wlb_tcp_payload_len(&p), 0);
	ck_assert(wlb_pkt_csum_ok(&p));
}
END_TEST

START_TEST(parse_trims_padding)
{
	size_t len = syn(buf, sizeof(buf));
	struct wlb_pkt p;

	/* Ethernet minimum-frame padding after the datagram is dropped */
	ck_assert_int_eq(wlb_pkt_parse(&p, buf, len + 6, sizeof(buf)), WLB_PKT_OK);
	ck_assert_uint_eq(p.len, len);
}
END_TEST

/* A table of malformed packets: each mutation and the error it must give. */
struct bad_case {
	const char *what;
	void (*mutate)(uint8_t *b, size_t *len);
	int err;
};

static void m_short(uint8_t *b, size_t *len)
{
	*len = 19;
}

static void m_version6(uint8_t *b, size_t *len)
{
	b[0] = 0x65;
}

static void m_ihl4(uint8_t *b, size_t *len)
{
	b[0] = 0x44;
}

static void m_ihl_beyond(uint8_t *b, size_t *len)
{
	*len = 40;
	b[0] = 0x4f; /* 60 bytes of header in a 40-byte packet */
}

static void m_totlen_small(uint8_t *b, size_t *len)
{
	b[2] = 0;
	b[3] = 10;
}

static void m_totlen_big(uint8_t *b, size_t *len)
{
	b[2] = 0x05;
	b[3] = 0xdc;
}

static void m_frag_mf(uint8_t *b, size_t *len)
{
	b[6] = 0x20; /* MF */
}

static void m_frag_off(uint8_t *b, size_t *len)
{
	b[7] = 0x10; /* offset 128 */
}

static void m_udp(uint8_t *b, size_t *len)
{
	b[9] = 17;
}

static void m_tcp_short(uint8_t *b, size_t *len)
{
	*len = 30;
	b[2] = 0;
	b[3] = 30;
}

static void m_doff4(uint8_t *b, size_t *len)
{
	b[20 + 12] = 0x40;
}

static void m_doff_beyond(uint8_t *b, size_t *len)
{
	b[20 + 12] = 0xf0; /* 60 bytes in a 40-byte segment */
}

static void m_optlen0(uint8_t *b, size_t *len)
{
	b[40 + 1] = 0; /* MSS option length 0 */
}

static void m_optlen1(uint8_t *b, size_t *len)
{
	b[40 + 1] = 1;
}

static void m_optlen_overrun(uint8_t *b, size_t *len)
{
	b[40 + 16] = 8; /* last option (was NOP) becomes a kind with no room */
	b[40 + 17] = 9;
}

static void m_opt_kind_at_end(uint8_t *b, size_t *len)
{
	/* NOP NOP NOP then, in the last byte, a kind without a length byte */
	b[40 + 16] = 1;
	b[40 + 17] = 1;
	b[40 + 18] = 1;
	b[40 + 19] = 30;
}

static void m_ipopt_bad(uint8_t *b, size_t *len)
{
	/* rebuilt below with a 4-byte IP option of length 9 */
}

static const struct bad_case bad_cases[] = {
	{"shorter than an IP header", m_short, WLB_PKT_TRUNCATED},
	{"IPv6 version", m_version6, WLB_PKT_BAD_VERSION},
	{"IHL 4", m_ihl4, WLB_PKT_BAD_IHL},
	{"IHL beyond packet", m_ihl_beyond, WLB_PKT_BAD_IHL},
	{"total length < IHL", m_totlen_small, WLB_PKT_BAD_TOTLEN},
	{"total length > packet", m_totlen_big, WLB_PKT_TRUNCATED},
	{"first fragment (MF)", m_frag_mf, WLB_PKT_FRAGMENT},
	{"later fragment", m_frag_off, WLB_PKT_FRAGMENT},
	{"not TCP", m_udp, WLB_PKT_NOT_TCP},
	{"TCP header truncated", m_tcp_short, WLB_PKT_TRUNCATED},
	{"data offset 4", m_doff4, WLB_PKT_BAD_DOFF},
	{"data offset beyond", m_doff_beyond, WLB_PKT_BAD_DOFF},
	{"option length 0", m_optlen0, WLB_PKT_BAD_TCPOPT},
	{"option length 1", m_optlen1, WLB_PKT_BAD_TCPOPT},
	{"option overruns the header", m_optlen_overrun, WLB_PKT_BAD_TCPOPT},
	{"option kind in the last byte", m_opt_kind_at_end, WLB_PKT_BAD_TCPOPT},
};

START_TEST(parse_malformed)
{
	const struct bad_case *c = &bad_cases[_i];
	size_t len = syn(buf, sizeof(buf));
	struct wlb_pkt p;

	c->mutate(buf, &len);
	ck_assert_msg(wlb_pkt_parse(&p, buf, len, sizeof(buf)) == c->err, "%s: got %s", c->what,
		      wlb_pkt_strerror(wlb_pkt_parse(&p, buf, len, sizeof(buf))));
}
END_TEST

START_TEST(parse_bad_ip_options)
{
	static const uint8_t good[4] = {1, 1, 1, 0};
	static const uint8_t bad[4] = {1, 0x44, 9, 0}; /* timestamp option, length 9 */
	struct tp_opts o = {
		.sport = 1, .dport = 80, .flags = WLB_TCP_SYN, .ipopts = good, .ipoptlen = 4};
	size_t len = tp_build(buf, sizeof(buf), &o);
	struct wlb_pkt p;

	ck_assert_int_eq(wlb_pkt_parse(&p, buf, len, sizeof(buf)), WLB_PKT_OK);
	ck_assert_uint_eq(p.ihl, 24);
	memcpy(buf + 20, bad, 4);
	ck_assert_int_eq(wlb_pkt_parse(&p, buf, len, sizeof(buf)), WLB_PKT_BAD_IPOPT);
	m_ipopt_bad(buf, &len);
}
END_TEST

/* The parser takes NOP, NOP, timestamps at a glance; every other 12-byte
 * list must still be walked and judged the same way as before. */
START_TEST(parse_data_options_glance_and_walk)
{
	static const struct {
		uint8_t opt[12];
		int err;
	} cases[] = {
		{{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8}, WLB_PKT_OK},
		{{1, 1, 8, 11, 1, 2, 3, 4, 5, 6, 7, 8}, WLB_PKT_BAD_TCPOPT},
		{{1, 1, 5, 10, 1, 2, 3, 4, 5, 6, 7, 8}, WLB_PKT_OK},
		{{1, 1, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0}, WLB_PKT_BAD_TCPOPT},
		{{8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1}, WLB_PKT_OK},
		{{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 30}, WLB_PKT_BAD_TCPOPT},
	};
	static const uint8_t nops[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	struct tp_opts o = {
		.sport = 40000, .dport = 80, .flags = WLB_TCP_ACK, .opts = nops, .optlen = 12};
	struct wlb_pkt p;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = tp_build(buf, sizeof(buf), &o);

		memcpy(buf + 40, cases[i].opt, 12);

		ck_assert_msg(wlb_pkt_parse(&p, buf, len, sizeof(buf)) == cases[i].err, "case %u",
			      i);
		ck_assert_uint_eq(p.thl, cases[i].err ? 0 : 32);
	}
}
END_TEST

START_TEST(parse_random_bytes_never_crash)
{
	/* Random garbage must give an error or a consistent parse, never a
	 * read outside the buffer (ASan watches the heap copy). */
	tp_srand(7);
	for (int i = 0; i < 20000; i++) {
		size_t len = tp_rand() % 120;
		uint8_t *b = malloc(len ? len : 1);
		struct wlb_pkt p;

		for (size_t j = 0; j < len; j++)
			b[j] = (uint8_t)tp_rand();
		if (len)
			b[0] = (uint8_t)(0x45 + (tp_rand() % 3 == 0 ? tp_rand() % 11 : 0));
		if (wlb_pkt_parse(&p, b, len, len) == WLB_PKT_OK) {
			ck_assert_uint_le(p.ihl + p.thl, p.len);
			unsigned off, olen;

			(void)wlb_tcp_opt_find(&p, 253, &off, &olen);
		}
		free(b);
	}
}
END_TEST

/*
 * wlb_pkt_parse() takes the common segment inline and leaves the rest to
 * wlb_pkt_parse_any(): both must give the same answer for any input.  A
 * data segment with timestamps is mutated in its headers and cut short at
 * random; each result and each field must agree.
 */
START_TEST(parse_inline_agrees_with_general)
{
	static const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	static uint8_t payload[64];
	struct tp_opts o = {.src = "192.0.2.2",
			    .dst = "203.0.113.10",
			    .sport = 40000,
			    .dport = 80,
			    .flags = WLB_TCP_ACK,
			    .opts = ts,
			    .optlen = 12,
			    .payload = payload,
			    .paylen = sizeof(payload),
			    .df = true};
	uint8_t good[256], m[256];
	size_t good_len = tp_build(good, sizeof(good), &o);
	unsigned common = 0;

	tp_srand(11);
	for (int i = 0; i < 50000; i++) {
		size_t len = tp_rand() % 4 ? good_len : tp_rand() % (good_len + 1);
		/* exactly len bytes on the heap: ASan sees any read past them */
		uint8_t *b = malloc(len ? len : 1);
		struct wlb_pkt a, g;
		int ea, eg;

		memcpy(m, good, good_len);
		for (unsigned k = tp_rand() % 3; k; k--)
			m[tp_rand() % 56] = (uint8_t)(tp_rand() % 4 ? tp_rand() : tp_rand() % 16);
		memcpy(b, m, len);
		memset(&a, 0xaa, sizeof(a));
		memset(&g, 0x55, sizeof(g));
		ea = wlb_pkt_parse(&a, b, len, len);
		eg = wlb_pkt_parse_any(&g, b, len, len);
		ck_assert_int_eq(ea, eg);
		if (ea == WLB_PKT_OK || ea == WLB_PKT_NOT_TCP || ea == WLB_PKT_FRAGMENT) {
			ck_assert_ptr_eq(a.data, g.data);
			ck_assert_uint_eq(a.len, g.len);
			ck_assert_uint_eq(a.cap, g.cap);
			ck_assert_uint_eq(a.ihl, g.ihl);
			ck_assert_uint_eq(a.thl, g.thl);
			ck_assert_uint_eq(a.proto, g.proto);
			ck_assert_uint_eq(a.flags, g.flags);
			ck_assert_uint_eq(a.frag, g.frag);
		}
		common += ea == WLB_PKT_OK && a.ihl == 20 && (a.thl == 20 || a.thl == 32);
		free(b);
	}
	/* inputs of the form the inline path takes were among them */
	ck_assert_uint_gt(common, 10000);
}
END_TEST

/* -------------------------------------------------------------- checksums */

static size_t random_segment(uint8_t *b, size_t cap)
{
	static char src[16], dst[16];
	uint8_t payload[300];
	size_t paylen = tp_rand() % sizeof(payload);
	struct tp_opts o = {.sport = (uint16_t)tp_rand(),
			    .dport = (uint16_t)tp_rand(),
			    .flags = (uint8_t)(tp_rand() & 0x1f),
			    .seq = tp_rand(),
			    .ack = tp_rand(),
			    .payload = payload,
			    .paylen = paylen};

	for (size_t i = 0; i < paylen; i++)
		payload[i] = (uint8_t)tp_rand();
	snprintf(src, sizeof(src), "%u.%u.%u.%u", tp_rand() % 256, tp_rand() % 256, tp_rand() % 256,
		 tp_rand() % 256);
	snprintf(dst, sizeof(dst), "%u.%u.%u.%u", tp_rand() % 256, tp_rand() % 256, tp_rand() % 256,
		 tp_rand() % 256);
	o.src = src;
	o.dst = dst;
	if (tp_rand() & 1) {
		o.opts = tp_linux_syn_opts;
		o.optlen = 20;
	}
	return tp_build(b, cap, &o);
}

/* The one-rotate fold against two end-around carries, the textbook way. */
START_TEST(csum_fold_matches_reference)
{
	static const uint32_t edges[] = {0,	     1,		 0xffff,     0x10000,
					 0x1fffe,    0xfffe0001, 0xffff0000, 0xffff0001,
					 0xfffffffe, 0xffffffff};

	tp_srand(5);
	for (unsigned i = 0; i < 100000 + sizeof(edges) / sizeof(edges[0]); i++) {
		uint32_t s = i < sizeof(edges) / sizeof(edges[0]) ? edges[i]
								  : tp_rand() << 1 ^ tp_rand();
		uint32_t r = (s & 0xffff) + (s >> 16);

		r = (r & 0xffff) + (r >> 16);
		ck_assert_uint_eq(wlb_csum_fold(s), (uint16_t)~r);
	}
	for (unsigned i = 0; i < 100000; i++) {
		uint32_t a = tp_rand(), b = tp_rand();
		uint64_t r = (uint64_t)a + b;

		ck_assert_uint_eq(wlb_csum32_add(a, b), (uint32_t)((r & 0xffffffff) + (r >> 32)));
	}
}
END_TEST

START_TEST(incremental_equals_full)
{
	tp_srand(99);
	for (int i = 0; i < 5000; i++) {
		size_t len = random_segment(buf, sizeof(buf));
		struct wlb_pkt p = tp_parse(buf, len, sizeof(buf));

		switch (i % 4) {
		case 0:
			wlb_pkt_set_saddr(&p, tp_rand());
			break;
		case 1:
			wlb_pkt_set_daddr(&p, tp_rand());
			break;
		case 2:
			wlb_pkt_set_sport(&p, (uint16_t)tp_rand());
			break;
		default:
			wlb_pkt_set_dport(&p, (uint16_t)tp_rand());
		}
		ck_assert_msg(wlb_pkt_csum_ok(&p), "iteration %d", i);
	}
}
END_TEST

START_TEST(csum_replace_extremes)
{
	/* RFC 1624's case: the sum that would become -0 must stay correct */
	for (uint32_t v = 0; v < 0x10000; v += 0x101) {
		size_t len = syn(buf, sizeof(buf));
		struct wlb_pkt p = tp_parse(buf, len, sizeof(buf));

		wlb_pkt_set_sport(&p, (uint16_t)v);
		ck_assert(wlb_pkt_csum_ok(&p));
		wlb_pkt_set_saddr(&p, v * 0x10001u);
		ck_assert(wlb_pkt_csum_ok(&p));
	}
}
END_TEST

/* ------------------------------------------------------------------ options */

static const uint8_t opt12[12] = {1, 1, 253, 10, 0x57, 0x4c, 1, 1, 0xde, 0xad, 0xbe, 0xef};

START_TEST(opt_append_grows_and_fixes)
{
	uint8_t payload[33];
	struct tp_opts o = {.sport = 5,
			    .dport = 80,
			    .flags = WLB_TCP_SYN,
			    .opts = tp_linux_syn_opts,
			    .optlen = 20,
			    .payload = payload,
			    .paylen = sizeof(payload)};
	unsigned off, olen;

	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	size_t len = tp_build(buf, sizeof(buf), &o);
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf));

	ck_assert_int_eq(wlb_tcp_opt_append(&p, opt12, 12), WLB_PKT_OK);
	ck_assert_uint_eq(p.len, len + 12);
	ck_assert_uint_eq(p.thl, 52);
	ck_assert(wlb_pkt_csum_ok(&p));
	/* the payload moved intact */
	ck_assert_mem_eq(buf + 20 + 52, payload, sizeof(payload));
	/* and parses again, with the new option found */
	struct wlb_pkt q = tp_parse(buf, p.len, sizeof(buf));

	ck_assert_int_eq(wlb_tcp_opt_find(&q, 253, &off, &olen), 1);
	ck_assert_uint_eq(off, 42);
	ck_assert_uint_eq(olen, 10);
	ck_assert_int_eq(wlb_tcp_opt_find(&q, 2, &off, &olen), 1);
}
END_TEST

START_TEST(opt_append_replaces_eol_padding)
{
	/* MSS + WS + EOL padding (odd used length) */
	static const uint8_t opts[8] = {2, 4, 5, 0xb4, 3, 3, 7, 0};
	struct tp_opts o = {
		.sport = 5, .dport = 80, .flags = WLB_TCP_SYN, .opts = opts, .optlen = 8};
	size_t len = tp_build(buf, sizeof(buf), &o);
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf));
	unsigned off, olen;

	ck_assert_int_eq(wlb_tcp_opt_append(&p, opt12, 12), WLB_PKT_OK);
	ck_assert(wlb_pkt_csum_ok(&p));
	ck_assert_uint_eq(p.thl, 40); /* 7 used + 12 = 19 -> 20 bytes of options */
	struct wlb_pkt q = tp_parse(buf, p.len, sizeof(buf));

	ck_assert_int_eq(wlb_tcp_opt_find(&q, 253, &off, &olen), 1);
	ck_assert_uint_eq(off, 29);
	ck_assert_int_eq(wlb_tcp_opt_find(&q, 3, &off, &olen), 1);
}
END_TEST

START_TEST(opt_append_random_layouts)
{
	tp_srand(4242);
	for (int i = 0; i < 3000; i++) {
		uint8_t opts[28];
		unsigned n = (tp_rand() % 8) * 4, j = 0;

		/* NOPs and 3-byte options with odd starts, EOL-padded */
		while (j + 3 <= n) {
			if (tp_rand() & 1) {
				opts[j++] = 1;
			} else {
				opts[j++] = 30;
				opts[j++] = 3;
				opts[j++] = (uint8_t)tp_rand();
			}
		}
		while (j < n)
			opts[j++] = 0;
		uint8_t payload[17];

		for (unsigned k = 0; k < sizeof(payload); k++)
			payload[k] = (uint8_t)tp_rand();
		struct tp_opts o = {.sport = (uint16_t)tp_rand(),
				    .dport = 80,
				    .flags = WLB_TCP_SYN,
				    .seq = tp_rand(),
				    .opts = opts,
				    .optlen = n,
				    .payload = payload,
				    .paylen = tp_rand() % sizeof(payload)};
		size_t len = tp_build(buf, sizeof(buf), &o);
		struct wlb_pkt p = tp_parse(buf, len, sizeof(buf));

		int err = wlb_tcp_opt_append(&p, opt12, 12);

		if (err == WLB_PKT_NOSPACE) {
			ck_assert_uint_gt(n + 12, 40 - 3);
			continue;
		}
		ck_assert_int_eq(err, WLB_PKT_OK);
		ck_assert_msg(wlb_pkt_csum_ok(&p), "iteration %d", i);
		ck_assert_mem_eq(buf + p.ihl + p.thl, payload, o.paylen);
	}
}
END_TEST

/* Was: with EOL padding longer than the new option, the header length
 * computed to less than before and an unsigned wrap refused the edit. */
START_TEST(opt_append_into_long_padding)
{
	uint8_t opts[20] = {2, 4, 5, 0xb4}; /* MSS, then 16 bytes of EOL */
	struct tp_opts o = {
		.sport = 5, .dport = 80, .flags = WLB_TCP_SYN, .opts = opts, .optlen = 20};
	size_t len = tp_build(buf, sizeof(buf), &o);
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf));
	unsigned off, olen;

	ck_assert_int_eq(wlb_tcp_opt_append(&p, opt12, 12), WLB_PKT_OK);
	ck_assert_uint_eq(p.thl, 40); /* kept, not shrunk */
	ck_assert_uint_eq(p.len, len);
	ck_assert(wlb_pkt_csum_ok(&p));
	struct wlb_pkt q = tp_parse(buf, p.len, sizeof(buf));

	ck_assert_int_eq(wlb_tcp_opt_find(&q, 253, &off, &olen), 1);
	ck_assert_uint_eq(off, 26);
	ck_assert_int_eq(wlb_tcp_opt_find(&q, WLB_TCPOPT_MSS, &off, &olen), 1);
}
END_TEST

START_TEST(opt_append_no_room)
{
	uint8_t full[40];
	struct tp_opts o = {
		.sport = 5, .dport = 80, .flags = WLB_TCP_SYN, .opts = full, .optlen = 32};

	memset(full, 1, sizeof(full));
	size_t len = tp_build(buf, sizeof(buf), &o);
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf));
	uint8_t copy[100];

	memcpy(copy, buf, len);
	ck_assert_int_eq(wlb_tcp_opt_append(&p, opt12, 12), WLB_PKT_NOSPACE);
	ck_assert_mem_eq(copy, buf, len); /* untouched */

	/* room in options but not in the buffer */
	len = syn(buf, sizeof(buf));
	p = tp_parse(buf, len, len + 8);
	ck_assert_int_eq(wlb_tcp_opt_append(&p, opt12, 12), WLB_PKT_NOSPACE);
}
END_TEST

START_TEST(opt_nop_and_clamp)
{
	size_t len = syn(buf, sizeof(buf));
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf));
	unsigned off, olen;

	ck_assert_int_eq(wlb_tcp_opt_append(&p, opt12, 12), WLB_PKT_OK);
	ck_assert_int_eq(wlb_tcp_opt_find(&p, 253, &off, &olen), 1);
	wlb_tcp_opt_nop(&p, off, olen);
	ck_assert(wlb_pkt_csum_ok(&p));
	ck_assert_int_eq(wlb_tcp_opt_find(&p, 253, &off, &olen), 0);

	ck_assert(wlb_tcp_clamp_mss(&p, 1400));
	ck_assert(wlb_pkt_csum_ok(&p));
	ck_assert_int_eq(wlb_tcp_opt_find(&p, WLB_TCPOPT_MSS, &off, &olen), 1);
	ck_assert_uint_eq(buf[20 + off + 2] << 8 | buf[20 + off + 3], 1400);
	ck_assert(!wlb_tcp_clamp_mss(&p, 1460)); /* never raised */
}
END_TEST

START_TEST(opt_nop_odd_offset)
{
	static const uint8_t opts[8] = {1, 30, 4, 0xaa, 0xbb, 1, 1, 1};
	struct tp_opts o = {
		.sport = 5, .dport = 80, .flags = WLB_TCP_SYN, .opts = opts, .optlen = 8};
	size_t len = tp_build(buf, sizeof(buf), &o);
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf));
	unsigned off, olen;

	ck_assert_int_eq(wlb_tcp_opt_find(&p, 30, &off, &olen), 1);
	ck_assert_uint_eq(off, 21);
	wlb_tcp_opt_nop(&p, off, olen);
	ck_assert(wlb_pkt_csum_ok(&p));
}
END_TEST

/* ------------------------------------------------------------------- IPIP */

START_TEST(ipip_round_trip)
{
	uint8_t out[2048];
	size_t len = syn(buf, sizeof(buf));
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf)), outer, inner;

	buf[1] = 0x28; /* a TOS to copy */
	buf[4] = 0x12; /* and an ID */
	buf[5] = 0x34;
	wlb_pkt_csum_fill(&p);
	size_t n = wlb_ipip_encap(&p, out, sizeof(out), tp_addr("198.51.100.6"),
				  tp_addr("198.51.100.18"), 61);

	ck_assert_uint_eq(n, len + 20);
	ck_assert_int_eq(wlb_pkt_parse(&outer, out, n, sizeof(out)), WLB_PKT_NOT_TCP);
	ck_assert_uint_eq(outer.proto, 4);
	ck_assert_uint_eq(out[8], 61);
	ck_assert_uint_eq(out[1], 0x28);
	ck_assert_uint_eq(out[6] & 0x40, 0x40); /* DF copied */
	ck_assert_mem_eq(out + 4, "\x12\x34", 2);
	ck_assert_uint_eq(wlb_ip_saddr(&outer), tp_addr("198.51.100.6"));
	ck_assert_uint_eq(wlb_ip_daddr(&outer), tp_addr("198.51.100.18"));
	ck_assert(wlb_pkt_csum_ok(&outer));
	ck_assert_int_eq(wlb_ipip_decap(&outer, &inner), WLB_PKT_OK);
	ck_assert_uint_eq(inner.len, len);
	ck_assert_mem_eq(inner.data, buf, len);
	ck_assert(wlb_pkt_csum_ok(&inner));
}
END_TEST

START_TEST(ipip_in_place_and_limits)
{
	size_t len = syn(buf, sizeof(buf));
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf)), outer, inner;
	uint8_t copy[100];

	buf[1] = 0x28;
	buf[4] = 0x56;
	wlb_pkt_csum_fill(&p);
	memcpy(copy, buf, len);
	/* encapsulating into the same buffer moves the inner packet, and the
	 * outer header still copies its TOS, ID and DF */
	size_t n = wlb_ipip_encap(&p, buf, sizeof(buf), 1, 2, 64);

	ck_assert_uint_eq(n, len + 20);
	ck_assert_mem_eq(buf + 20, copy, len);
	ck_assert_uint_eq(buf[1], 0x28);
	ck_assert_uint_eq(buf[4], 0x56);
	ck_assert_uint_eq(buf[6] & 0x40, 0x40);
	ck_assert_uint_eq(wlb_ipip_encap(&p, buf, len + 19, 1, 2, 64), 0);
	/* not IPIP, or a truncated inner packet, is refused */
	ck_assert_int_eq(wlb_pkt_parse(&outer, buf, n, sizeof(buf)), WLB_PKT_NOT_TCP);
	outer.len = 30;
	ck_assert_int_ne(wlb_ipip_decap(&outer, &inner), WLB_PKT_OK);
	len = syn(buf, sizeof(buf));
	p = tp_parse(buf, len, sizeof(buf));
	ck_assert_int_ne(wlb_ipip_decap(&p, &inner), WLB_PKT_OK);
}
END_TEST

/* RFC 6040: a CE mark on the tunnel packet reaches an ECN-capable inner
 * packet, with its checksum made good; nothing else changes the inner ECN. */
static uint8_t decap_ecn(uint8_t inner_ecn, uint8_t outer_ecn)
{
	uint8_t out[2048];
	size_t len = syn(buf, sizeof(buf));
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf)), outer, inner;

	buf[1] = 0x20 | inner_ecn;
	wlb_pkt_csum_fill(&p);
	size_t n = wlb_ipip_encap(&p, out, sizeof(out), 1, 2, 64);

	out[1] = (uint8_t)((out[1] & ~WLB_ECN_CE) | outer_ecn);
	ck_assert_int_eq(wlb_pkt_parse(&outer, out, n, sizeof(out)), WLB_PKT_NOT_TCP);
	ck_assert_int_eq(wlb_ipip_decap(&outer, &inner), WLB_PKT_OK);
	ck_assert(wlb_pkt_csum_ok(&inner));
	ck_assert_uint_eq(inner.data[1] & ~WLB_ECN_CE, 0x20);
	return inner.data[1] & WLB_ECN_CE;
}

START_TEST(ipip_decap_ecn)
{
	ck_assert_uint_eq(decap_ecn(0x02, 0x03), 0x03); /* ECT(0), CE met: CE */
	ck_assert_uint_eq(decap_ecn(0x01, 0x03), 0x03); /* ECT(1) too */
	ck_assert_uint_eq(decap_ecn(0x02, 0x02), 0x02); /* no congestion */
	ck_assert_uint_eq(decap_ecn(0x03, 0x03), 0x03); /* already CE */
	ck_assert_uint_eq(decap_ecn(0x00, 0x03), 0x00); /* Not-ECT stays so */
	ck_assert_uint_eq(decap_ecn(0x00, 0x00), 0x00);
}
END_TEST

/* -------------------------------------------------------------------- RST */

START_TEST(rst_for_synack)
{
	struct tp_opts o = {.src = "198.51.100.22",
			    .dst = "192.0.2.2",
			    .sport = 80,
			    .dport = 40000,
			    .flags = WLB_TCP_SYN | WLB_TCP_ACK,
			    .seq = 5555,
			    .ack = 1001};
	size_t len = tp_build(buf, sizeof(buf), &o);
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf)), r;
	uint8_t out[64];

	ck_assert_uint_eq(wlb_rst_craft(&p, out, sizeof(out)), 40);
	r = tp_parse(out, 40, sizeof(out));
	ck_assert_uint_eq(r.flags, WLB_TCP_RST);
	ck_assert_uint_eq(wlb_tcp_seq(&r), 1001); /* SEQ = SEG.ACK */
	ck_assert_uint_eq(wlb_ip_saddr(&r), tp_addr("192.0.2.2"));
	ck_assert_uint_eq(wlb_ip_daddr(&r), tp_addr("198.51.100.22"));
	ck_assert_uint_eq(ntohs(wlb_tcp_sport(&r)), 40000);
	ck_assert_uint_eq(ntohs(wlb_tcp_dport(&r)), 80);
	ck_assert(wlb_pkt_csum_ok(&r));
}
END_TEST

START_TEST(rst_for_syn_and_data)
{
	uint8_t payload[10] = {0};
	struct tp_opts o = {.sport = 1234,
			    .dport = 80,
			    .flags = WLB_TCP_SYN | WLB_TCP_FIN,
			    .seq = 0xfffffffe,
			    .payload = payload,
			    .paylen = 10};
	size_t len = tp_build(buf, sizeof(buf), &o);
	struct wlb_pkt p = tp_parse(buf, len, sizeof(buf)), r;
	uint8_t out[64];

	ck_assert_uint_eq(wlb_rst_craft(&p, out, sizeof(out)), 40);
	r = tp_parse(out, 40, sizeof(out));
	ck_assert_uint_eq(r.flags, WLB_TCP_RST | WLB_TCP_ACK);
	ck_assert_uint_eq(wlb_tcp_seq(&r), 0);
	ck_assert_uint_eq(wlb_tcp_ack(&r), 0xfffffffeu + 12); /* wraps */
	ck_assert(wlb_pkt_csum_ok(&r));
	/* never answer a RST, and refuse a small buffer */
	buf[20 + 13] = WLB_TCP_RST;
	p = tp_parse(buf, len, sizeof(buf));
	ck_assert_uint_eq(wlb_rst_craft(&p, out, sizeof(out)), 0);
	o.flags = WLB_TCP_ACK;
	len = tp_build(buf, sizeof(buf), &o);
	p = tp_parse(buf, len, sizeof(buf));
	ck_assert_uint_eq(wlb_rst_craft(&p, out, 39), 0);
}
END_TEST

static Suite *pkt_suite(void)
{
	Suite *s = suite_create("pkt");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, parse_syn);
	tcase_add_test(tc, parse_trims_padding);
	tcase_add_loop_test(tc, parse_malformed, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, parse_bad_ip_options);
	tcase_add_test(tc, parse_data_options_glance_and_walk);
	tcase_add_test(tc, parse_random_bytes_never_crash);
	tcase_add_test(tc, parse_inline_agrees_with_general);
	suite_add_tcase(s, tc);
	tc = tcase_create("checksum");
	tcase_add_test(tc, csum_fold_matches_reference);
	tcase_add_test(tc, incremental_equals_full);
	tcase_add_test(tc, csum_replace_extremes);
	suite_add_tcase(s, tc);
	tc = tcase_create("options");
	tcase_add_test(tc, opt_append_grows_and_fixes);
	tcase_add_test(tc, opt_append_replaces_eol_padding);
	tcase_add_test(tc, opt_append_random_layouts);
	tcase_add_test(tc, opt_append_no_room);
	tcase_add_test(tc, opt_append_into_long_padding);
	tcase_add_test(tc, opt_nop_and_clamp);
	tcase_add_test(tc, opt_nop_odd_offset);
	suite_add_tcase(s, tc);
	tc = tcase_create("ipip");
	tcase_add_test(tc, ipip_round_trip);
	tcase_add_test(tc, ipip_decap_ecn);
	tcase_add_test(tc, ipip_in_place_and_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("rst");
	tcase_add_test(tc, rst_for_synack);
	tcase_add_test(tc, rst_for_syn_and_data);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tp_run_suite(pkt_suite());
}
