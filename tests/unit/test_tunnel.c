// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Configuration C's tc program (src/bpf/tunnel.bpf.c), run by the kernel on
 * packets of the test's own (BPF_PROG_TEST_RUN): loaded, never attached to
 * an interface.  It needs root (CAP_BPF and CAP_NET_ADMIN); without them
 * every test here says SKIPPED and fails, unless WLB_TEST_NO_BPF=1 says
 * that was meant.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "testpkt.h"
#include "tunfp.h"

/* valgrind does not know what BPF_PROG_TEST_RUN writes back */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define ETH_HLEN 14
#define CLIENT "192.0.2.10"
#define ORIGIN "198.51.100.10"
#define REPLICA "203.0.113.10"

static struct wlb_tun *t;

static void setup(void)
{
	char err[256];

	t = wlb_tun_load(64, err, sizeof(err));
	if (!t) {
		fprintf(stderr, "SKIPPED: the tc program cannot be loaded here: %s\n", err);
		if (!getenv("WLB_TEST_NO_BPF"))
			ck_abort_msg("the tc program did not load (%s); WLB_TEST_NO_BPF=1 skips",
				     err);
	}
}

static void teardown(void)
{
	wlb_tun_close(t);
	t = NULL;
}

/* A data segment (ACK with payload) or one with other flags. */
static void segment(struct tp_pk *k, const char *src, uint16_t sport, const char *dst,
		    uint16_t dport, uint8_t flags)
{
	static const uint8_t pay[200] = {1, 2, 3};
	struct tp_opts o = {.src = src,
			    .dst = dst,
			    .sport = sport,
			    .dport = dport,
			    .flags = flags,
			    .seq = 1000,
			    .ack = 2000,
			    .payload = pay,
			    .paylen = sizeof(pay),
			    .df = true};

	k->len = tp_build(k->b, sizeof(k->b), &o);
}

/* k's IP header with this TOS and ID, its checksums made good again */
static void set_tos_id(struct tp_pk *k, uint8_t tos, uint16_t id)
{
	struct wlb_pkt p = tp_parse(k->b, k->len, sizeof(k->b));

	k->b[1] = tos;
	k->b[4] = (uint8_t)(id >> 8);
	k->b[5] = (uint8_t)id;
	wlb_pkt_csum_fill(&p);
}

/* Run the program on an Ethernet frame holding k; returns the verdict,
 * the IP packet that came out in out. */
static uint32_t last_mark; /* the mark the last run left on the packet */

static int run(bool ingress, const struct tp_pk *k, struct tp_pk *out)
{
	static uint8_t in[TP_PKT_CAP + ETH_HLEN], res[TP_PKT_CAP + ETH_HLEN + 64];
	struct __sk_buff ctx = {0}, ctx_out = {0};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)(k->len + ETH_HLEN),
		    .data_out = res, .data_size_out = sizeof(res), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx_out,
		    .ctx_size_out = sizeof(ctx_out), .repeat = 1);

	memset(in, 0, ETH_HLEN);
	in[12] = 0x08; /* ETH_P_IP */
	memcpy(in + ETH_HLEN, k->b, k->len);
	ck_assert_int_eq(bpf_prog_test_run_opts(wlb_tun_prog_fd(t, ingress), &o), 0);
	VALGRIND_MAKE_MEM_DEFINED(&o, sizeof(o));
	VALGRIND_MAKE_MEM_DEFINED(res, o.data_size_out);
	VALGRIND_MAKE_MEM_DEFINED(&ctx_out, sizeof(ctx_out));
	ck_assert_uint_ge(o.data_size_out, ETH_HLEN);
	out->len = o.data_size_out - ETH_HLEN;
	memcpy(out->b, res + ETH_HLEN, out->len);
	last_mark = ctx_out.mark;
	return (int)o.retval;
}

static uint64_t counter(enum wlb_tun_counter c)
{
	uint64_t v[WLB_TUN_NCOUNTERS];

	wlb_tun_counters(t, v);
	return v[c];
}

static void assert_same(const struct tp_pk *a, const struct tp_pk *b)
{
	ck_assert_uint_eq(a->len, b->len);
	ck_assert(!memcmp(a->b, b->b, a->len));
}

static void encap_entry(const char *src, uint16_t sport, const char *dst, uint16_t dport,
			const char *osrc, const char *odst)
{
	struct wlb_fp_key k = tp_fp_key(src, sport, dst, dport);

	ck_assert_int_eq(wlb_tun_add(t, WLB_TUN_MAP_ENCAP, &k, tp_addr(osrc), tp_addr(odst), 0), 0);
}

#define MARK 0x574c

static void decap_entry(const char *src, uint16_t sport, const char *dst, uint16_t dport,
			const char *osrc, const char *odst)
{
	struct wlb_fp_key k = tp_fp_key(src, sport, dst, dport);

	ck_assert_int_eq(wlb_tun_add(t, WLB_TUN_MAP_DECAP, &k, tp_addr(osrc), tp_addr(odst), MARK),
			 0);
}

/* A packet of a flow in the encap map leaves inside the header
 * wlb_ipip_encap() would write; at ingress nothing is put in. */
START_TEST(encap_at_egress)
{
	struct tp_pk in, out, want, chk;
	struct wlb_pkt inner;

	if (!t)
		return;
	segment(&in, CLIENT, 40000, ORIGIN, 80, WLB_TCP_ACK | WLB_TCP_PSH);
	/* the outer header copies TOS and ID, as userspace's does */
	set_tos_id(&in, 0x2a, 0x1234);
	encap_entry(CLIENT, 40000, ORIGIN, 80, CLIENT, REPLICA);
	ck_assert_int_eq(run(true, &in, &out), TC_ACT_OK);
	assert_same(&out, &in);
	ck_assert_int_eq(run(false, &in, &out), TC_ACT_OK);
	tp_encap(&want, &in, CLIENT, REPLICA);
	assert_same(&out, &want);
	tp_assert_ipip(&chk, out.b, out.len, &inner);
	ck_assert_uint_eq(counter(WLB_TUN_ENCAP), 1);
}
END_TEST

/* An entry for CLIENT:40000 -> ORIGIN:80 the daemon did not count, as
 * one added just before a daemon was killed. */
static void uncounted_entry(void)
{
	struct wlb_tun_key k = {tp_addr(CLIENT), tp_addr(ORIGIN), tp_port(40000), tp_port(80)};
	struct wlb_tun_val v = {.saddr = tp_addr(CLIENT), .daddr = tp_addr(REPLICA)};

	ck_assert_int_eq(bpf_map_update_elem(t->map_fd[WLB_TUN_MAP_ENCAP], &k, &v, BPF_ANY), 0);
}

/* The program looks up the encapsulation map only while the daemon counts
 * entries in it: one it did not count is not found until it does. */
START_TEST(encap_gated_by_count)
{
	struct tp_pk in, out;
	struct wlb_fp_key other = tp_fp_key(CLIENT, 40001, ORIGIN, 80);

	if (!t)
		return;
	uncounted_entry();
	segment(&in, CLIENT, 40000, ORIGIN, 80, WLB_TCP_ACK);
	run(false, &in, &out);
	assert_same(&out, &in);
	encap_entry(CLIENT, 40001, ORIGIN, 80, CLIENT, REPLICA);
	run(false, &in, &out);
	ck_assert_uint_eq(out.len, in.len + 20);
	wlb_tun_del(t, WLB_TUN_MAP_ENCAP, &other);
	run(false, &in, &out);
	assert_same(&out, &in);
	ck_assert_uint_eq(counter(WLB_TUN_ENCAP), 1);
}
END_TEST

/* Adopted maps: the gate is counted again from the entries, so one the
 * count missed (a daemon killed between the two) is carried again. */
START_TEST(encap_gate_recounted)
{
	struct tp_pk in, out;
	struct wlb_fp_key other = tp_fp_key(CLIENT, 40001, ORIGIN, 80);

	if (!t)
		return;
	uncounted_entry();
	encap_entry(CLIENT, 40001, ORIGIN, 80, CLIENT, REPLICA);
	ck_assert_uint_eq(t->n_encaps, 1);
	wlb_tun_recount(t);
	ck_assert_uint_eq(t->n_encaps, 2);
	/* the counted one goes: the gate stays open for the other */
	wlb_tun_del(t, WLB_TUN_MAP_ENCAP, &other);
	ck_assert_uint_eq(t->n_encaps, 1);
	segment(&in, CLIENT, 40000, ORIGIN, 80, WLB_TCP_ACK);
	run(false, &in, &out);
	ck_assert_uint_eq(out.len, in.len + 20);
}
END_TEST

/* The daemon's packets stay the daemon's: SYN, FIN, RST, other flows. */
START_TEST(encap_leaves_control_and_others)
{
	static const uint8_t flags[] = {WLB_TCP_SYN, WLB_TCP_FIN | WLB_TCP_ACK,
					WLB_TCP_RST | WLB_TCP_ACK};
	struct tp_pk in, out;

	if (!t)
		return;
	encap_entry(CLIENT, 40000, ORIGIN, 80, CLIENT, REPLICA);
	for (unsigned i = 0; i < sizeof(flags); i++) {
		segment(&in, CLIENT, 40000, ORIGIN, 80, flags[i]);
		ck_assert_int_eq(run(false, &in, &out), TC_ACT_OK);
		assert_same(&out, &in);
	}
	segment(&in, CLIENT, 40001, ORIGIN, 80, WLB_TCP_ACK);
	ck_assert_int_eq(run(false, &in, &out), TC_ACT_OK);
	assert_same(&out, &in);
	/* a fragment: its ports are not where a header says */
	segment(&in, CLIENT, 40000, ORIGIN, 80, WLB_TCP_ACK);
	in.b[6] |= 0x20; /* MF */
	ck_assert_int_eq(run(false, &in, &out), TC_ACT_OK);
	assert_same(&out, &in);
	ck_assert_uint_eq(counter(WLB_TUN_ENCAP), 0);
}
END_TEST

/* The replica's packet comes out of its tunnel only from the winner, to
 * the client's address; a removed entry stops it. */
START_TEST(decap_checks_the_ends)
{
	struct tp_pk seg, in, out;
	struct wlb_fp_key k = tp_fp_key(ORIGIN, 80, CLIENT, 40000);

	if (!t)
		return;
	segment(&seg, ORIGIN, 80, CLIENT, 40000, WLB_TCP_ACK);
	tp_encap(&in, &seg, REPLICA, CLIENT);
	decap_entry(ORIGIN, 80, CLIENT, 40000, REPLICA, CLIENT);
	ck_assert_int_eq(run(true, &in, &out), TC_ACT_OK);
	assert_same(&out, &seg);
	ck_assert_uint_eq(last_mark, MARK);
	ck_assert_uint_eq(counter(WLB_TUN_DECAP), 1);

	tp_encap(&in, &seg, "203.0.113.20", CLIENT);
	ck_assert_int_eq(run(true, &in, &out), TC_ACT_OK);
	assert_same(&out, &in);
	ck_assert_uint_eq(last_mark, 0);
	ck_assert_uint_eq(counter(WLB_TUN_REFUSED), 1);

	/* at egress nothing is taken out */
	tp_encap(&in, &seg, REPLICA, CLIENT);
	ck_assert_int_eq(run(false, &in, &out), TC_ACT_OK);
	assert_same(&out, &in);

	wlb_tun_del(t, WLB_TUN_MAP_DECAP, &k);
	ck_assert_int_eq(run(true, &in, &out), TC_ACT_OK);
	assert_same(&out, &in);
	ck_assert_uint_eq(counter(WLB_TUN_DECAP), 1);
	ck_assert_uint_eq(t->st.added, 1);
	ck_assert_uint_eq(t->st.deleted, 1);
}
END_TEST

/* A CE mark the tunnel packet met reaches the ECN-capable inner packet
 * (RFC 6040), as wlb_ipip_decap() puts it there. */
START_TEST(decap_marks_congestion)
{
	struct tp_pk seg, in, out, want;
	struct wlb_pkt outer, inner;
	uint16_t csum;

	if (!t)
		return;
	segment(&seg, ORIGIN, 80, CLIENT, 40000, WLB_TCP_ACK);
	set_tos_id(&seg, 0x02, 7); /* ECT(0) */
	tp_encap(&in, &seg, REPLICA, CLIENT);
	in.b[1] |= WLB_ECN_CE;
	in.b[10] = in.b[11] = 0;
	csum = wlb_csum_fold(wlb_csum_add(0, in.b, 20));
	memcpy(in.b + 10, &csum, 2);
	decap_entry(ORIGIN, 80, CLIENT, 40000, REPLICA, CLIENT);
	ck_assert_int_eq(run(true, &in, &out), TC_ACT_OK);
	want = in;
	ck_assert_int_eq(wlb_pkt_parse(&outer, want.b, want.len, sizeof(want.b)), WLB_PKT_NOT_TCP);
	ck_assert_int_eq(wlb_ipip_decap(&outer, &inner), WLB_PKT_OK);
	ck_assert_uint_eq(inner.data[1], 0x03);
	ck_assert_uint_eq(out.len, inner.len);
	ck_assert(!memcmp(out.b, inner.data, out.len));
	ck_assert_uint_eq(counter(WLB_TUN_FAILED), 0);
}
END_TEST

START_TEST(decap_leaves_control)
{
	struct tp_pk seg, in, out;

	if (!t)
		return;
	decap_entry(ORIGIN, 80, CLIENT, 40000, REPLICA, CLIENT);
	segment(&seg, ORIGIN, 80, CLIENT, 40000, WLB_TCP_FIN | WLB_TCP_ACK);
	tp_encap(&in, &seg, REPLICA, CLIENT);
	ck_assert_int_eq(run(true, &in, &out), TC_ACT_OK);
	assert_same(&out, &in);
	ck_assert_uint_eq(counter(WLB_TUN_DECAP), 0);
}
END_TEST

struct seen {
	unsigned n;
	uint64_t idle[4];
	bool stale; /* what the callback answers */
};

static bool on_seen(void *arg, enum wlb_tun_map m, const struct wlb_fp_key *k, uint32_t osaddr,
		    uint32_t odaddr, uint64_t idle_ms)
{
	struct seen *s = arg;

	(void)m;
	(void)k;
	(void)osaddr;
	(void)odaddr;
	if (s->n < 4)
		s->idle[s->n] = idle_ms;
	s->n++;
	return s->stale;
}

/* The read-back finds every entry, freshly used, and removes those the
 * daemon calls stale. */
START_TEST(dump_reads_back_and_removes)
{
	struct seen s = {0};
	struct tp_pk seg, out;

	if (!t)
		return;
	encap_entry(CLIENT, 40000, ORIGIN, 80, CLIENT, REPLICA);
	encap_entry(CLIENT, 40001, ORIGIN, 80, CLIENT, REPLICA);
	decap_entry(ORIGIN, 80, CLIENT, 40000, REPLICA, CLIENT);
	segment(&seg, CLIENT, 40000, ORIGIN, 80, WLB_TCP_ACK);
	run(false, &seg, &out);
	wlb_tun_dump(t, on_seen, &s);
	ck_assert_uint_eq(s.n, 3);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_uint_lt(s.idle[i], 1000);
	s = (struct seen){.stale = true};
	wlb_tun_dump(t, on_seen, &s);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_uint_eq(t->st.deleted, 3);
	s = (struct seen){0};
	wlb_tun_dump(t, on_seen, &s);
	ck_assert_uint_eq(s.n, 0);
}
END_TEST

/* The maps hold what the daemon sized them for, and refuse more. */
START_TEST(maps_are_bounded)
{
	struct wlb_fp_key k;
	unsigned ok = 0;

	if (!t)
		return;
	for (uint16_t p = 1; p <= 100; p++) {
		k = tp_fp_key(CLIENT, p, ORIGIN, 80);
		ok += wlb_tun_add(t, WLB_TUN_MAP_ENCAP, &k, 1, 2, 0) == 0;
	}
	ck_assert_uint_eq(ok, 64);
	ck_assert_uint_eq(t->st.add_failures, 36);
}
END_TEST

/* Without a kernel program the changes are recorded, and NULL is no-op. */
START_TEST(offline_records)
{
	struct wlb_tun *o = wlb_tun_new_offline();
	struct wlb_fp_key k = tp_fp_key(CLIENT, 1, ORIGIN, 80);

	ck_assert_int_eq(wlb_tun_add(NULL, WLB_TUN_MAP_ENCAP, &k, 1, 2, 0), -1);
	wlb_tun_del(NULL, WLB_TUN_MAP_ENCAP, &k);
	ck_assert_int_eq(wlb_tun_add(o, WLB_TUN_MAP_DECAP, &k, 1, 2, 3), 0);
	wlb_tun_del(o, WLB_TUN_MAP_DECAP, &k);
	ck_assert_uint_eq(o->n_log, 2);
	ck_assert(o->log[0].add && o->log[0].map == WLB_TUN_MAP_DECAP);
	ck_assert_uint_eq(o->log[0].outer_saddr, 1);
	ck_assert_uint_eq(o->log[0].mark, 3);
	ck_assert(!o->log[1].add);
	wlb_tun_close(o);
}
END_TEST

static Suite *tunnel_suite(void)
{
	Suite *s = suite_create("tunnel");
	TCase *tc = tcase_create("program");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, encap_at_egress);
	tcase_add_test(tc, encap_gated_by_count);
	tcase_add_test(tc, encap_gate_recounted);
	tcase_add_test(tc, encap_leaves_control_and_others);
	tcase_add_test(tc, decap_checks_the_ends);
	tcase_add_test(tc, decap_marks_congestion);
	tcase_add_test(tc, decap_leaves_control);
	tcase_add_test(tc, maps_are_bounded);
	tcase_add_test(tc, dump_reads_back_and_removes);
	suite_add_tcase(s, tc);
	tc = tcase_create("offline");
	tcase_add_test(tc, offline_records);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tp_run_suite(tunnel_suite());
}
