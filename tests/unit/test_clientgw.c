// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the wlb-clientgw policy: clientgw_decide() is driven with
 * crafted packets on a simulated clock, every branch of FIG. 2 (tag the
 * SYN), FIG. 5A-C (the first SYN-ACK wins, plain or out of its tunnel) and
 * FIG. 6A-C (carry the connection to the winner: translated both ways in A,
 * readdressed one way in B, tunnelled both ways in C), connections of
 * different configurations side by side, plus malformed input and a
 * randomized robustness run.  Every packet the policy emits or mangles is
 * parsed again (IP-in-IP ones outside and inside) and its checksums
 * verified.
 *
 * Tests in the "regressions" case pin down defects found in review and
 * fixed (see the comment above each); those in "regressions_pending" pin
 * down defects not fixed yet, and fail until they are.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>

#include "clientgw.h"
#include "conf.h"
#include "daemon.h"
#include "tag.h"
#include "testpkt.h"

#define CLIENT "192.0.2.2"
#define MASQ "198.51.100.1" /* a masqueraded client: the router's address */
#define ORIGIN "203.0.113.10"
#define ORIGIN_B "203.0.113.20" /* replicable = false, configuration B */
#define ORIGIN2 "203.0.113.30"
#define REPLICA1 "198.51.100.18"
#define REPLICA2 "198.51.100.22"
#define ELSEWHERE "100.64.1.1" /* not listed in services */
#define CPORT 40000
#define CLIENT_ISN 1000u
#define SERVER_ISN 700000u
#define T0 1000000u

#define HALF_OPEN_MS 10000u
#define IDLE_MS 300000u
#define LINGER_MS 2000u

static const char conf_a[] =
	"services = (\n"
	"  { origin = \"203.0.113.10\"; ports = [ 80, 443 ]; replicable = true;\n"
	"    configuration = \"A\"; replicas = [ \"198.51.100.18\", \"198.51.100.22\" ]; },\n"
	"  { origin = \"203.0.113.20\"; ports = [ 443 ]; replicable = false;\n"
	"    configuration = \"B\"; replicas = [ ]; },\n"
	"  { origin = \"203.0.113.30\"; ports = [ 80 ]; replicable = true;\n"
	"    configuration = \"A\"; replicas = [ \"198.51.100.18\" ]; }\n"
	");\n"
	"clientgw: {\n"
	"  queue = 0;\n"
	"  web_ports = [ 80, 443 ];\n"
	"  include = [ \"0.0.0.0/0\" ];\n"
	"  exclude = [ \"10.0.0.0/8\", \"192.168.0.0/16\", \"192.0.2.0/24\" ];\n"
	"  flows = 1024;\n"
	"  half_open_timeout = 10.0;\n"
	"  idle_timeout = 300;\n"
	"  linger = 2.0;\n"
	"  rst_mark = 0x574c;\n"
	"  configuration = \"C\";\n"
	"};\n";

/* A tiny table with short timers: eviction and expiry all the time. */
static const char conf_small[] =
	"services = (\n"
	"  { origin = \"203.0.113.10\"; ports = [ 80, 443 ]; replicable = true;\n"
	"    configuration = \"A\"; replicas = [ \"198.51.100.18\", \"198.51.100.22\" ]; }\n"
	");\n"
	"clientgw: {\n"
	"  queue = 0;\n"
	"  exclude = [ \"10.0.0.0/8\" ];\n"
	"  flows = 16;\n"
	"  half_open_timeout = 0.5;\n"
	"  idle_timeout = 1;\n"
	"  linger = 0.2;\n"
	"};\n";

/* Only port 8080 is a web port. */
static const char conf_8080[] = "clientgw: { queue = 0; web_ports = [ 8080 ]; };\n";

static struct wlb_conf *conf;
static struct clientgw *gw;
static struct wlb_action *act;
static uint64_t now;
static unsigned nonce_calls;
static struct tp_pk outbuf; /* a copy of the last mangled packet */
static uint8_t payload[2048];

/* ------------------------------------------------------------ fixtures */

static uint32_t nonce_n(unsigned n)
{
	return htonl(0x5eed0000u + n);
}

static uint32_t test_nonce(struct clientgw *g)
{
	(void)g;
	return nonce_n(++nonce_calls);
}

static void start(const char *text)
{
	char err[256] = "";

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	conf = tp_conf(text, WLB_NEED_CLIENTGW);
	gw = clientgw_new(conf, err, sizeof(err));
	ck_assert_msg(gw != NULL, "clientgw_new: %s", err);
	gw->nonce = test_nonce;
	nonce_calls = 0;
	act = wlb_action_new();
	ck_assert_ptr_nonnull(act);
	now = T0;
}

static void setup(void)
{
	start(conf_a);
}

static void setup_small(void)
{
	start(conf_small);
}

static void teardown(void)
{
	wlb_action_free(act);
	clientgw_free(gw);
	wlb_conf_free(conf);
	act = NULL;
	gw = NULL;
	conf = NULL;
}

/* ------------------------------------------------------------- packets */

static void build(struct tp_pk *k, const char *src, const char *dst, uint16_t sport, uint16_t dport,
		  uint8_t flags, uint32_t seq, uint32_t ack, const uint8_t *opts, unsigned optlen,
		  size_t paylen)
{
	struct tp_opts o = {.src = src,
			    .dst = dst,
			    .sport = sport,
			    .dport = dport,
			    .flags = flags,
			    .seq = seq,
			    .ack = ack,
			    .opts = opts,
			    .optlen = optlen,
			    .payload = payload,
			    .paylen = paylen,
			    .df = true};

	k->len = tp_build(k->b, sizeof(k->b), &o);
}

static void mk_syn(struct tp_pk *k, const char *client, const char *server, uint16_t cport,
		   uint16_t sport)
{
	build(k, client, server, cport, sport, WLB_TCP_SYN, CLIENT_ISN, 0, tp_linux_syn_opts, 20,
	      0);
}

enum echo_kind {
	TAG_NONE,
	TAG_ECHO,     /* echo | redirect | A, the given nonce */
	TAG_ECHO_ODD, /* the same at an odd option offset */
	TAG_NOECHO,   /* redirect | A without the echo bit */
	TAG_BADVER    /* claims to be ours, version 2 */
};

static void mk_synack_port(struct tp_pk *k, const char *server, const char *client, uint16_t sport,
			   uint16_t cport, enum echo_kind e, uint32_t nonce)
{
	uint8_t o[20];
	unsigned n = 0;
	const uint8_t echo_flags = wlb_tag_flags(true, WLB_MODE_A, true);

	switch (e) {
	case TAG_NONE:
		memcpy(o, (const uint8_t[]){2, 4, 0x05, 0xb4, 1, 1, 4, 2}, 8);
		n = 8;
		break;
	case TAG_ECHO_ODD:
		/* NOP, tag at offset 21, NOP, MSS */
		o[0] = WLB_TCPOPT_NOP;
		tp_tag_opt(o + 1, echo_flags, nonce, WLB_TAG_VERSION);
		o[11] = WLB_TCPOPT_NOP;
		memcpy(o + 12, (const uint8_t[]){2, 4, 0x05, 0xb4}, 4);
		n = 16;
		break;
	default:
		memcpy(o, (const uint8_t[]){2, 4, 0x05, 0xb4, 1, 1}, 6);
		tp_tag_opt(o + 6,
			   e == TAG_NOECHO ? wlb_tag_flags(true, WLB_MODE_A, false) : echo_flags,
			   nonce, e == TAG_BADVER ? 2 : WLB_TAG_VERSION);
		n = 16;
	}
	build(k, server, client, sport, cport, WLB_TCP_SYN | WLB_TCP_ACK, SERVER_ISN,
	      CLIENT_ISN + 1, o, n, 0);
}

static void mk_synack(struct tp_pk *k, const char *server, const char *client, uint16_t cport,
		      enum echo_kind e, uint32_t nonce)
{
	mk_synack_port(k, server, client, 80, cport, e, nonce);
}

/* A segment without options. */
static void mk_seg(struct tp_pk *k, const char *src, const char *dst, uint16_t sport,
		   uint16_t dport, uint8_t flags, size_t paylen)
{
	build(k, src, dst, sport, dport, flags, 1234567, 7654321, NULL, 0, paylen);
}

/* ------------------------------------------------------------- decisions */

static void decide(unsigned hook, struct tp_pk *k)
{
	wlb_action_reset(act);
	clientgw_decide(gw, hook, k->b, (uint32_t)k->len, now, act);
}

static void to_server(struct tp_pk *k)
{
	decide(NF_INET_POST_ROUTING, k);
}

static void from_server(struct tp_pk *k)
{
	decide(NF_INET_PRE_ROUTING, k);
}

/* Decide and require: accepted, nothing emitted, the bytes left alone. */
static void pass_unchanged(unsigned hook, struct tp_pk *k)
{
	struct tp_pk before = *k;

	decide(hook, k);
	tp_assert_accepted_unchanged(act, &before, k, 0);
}

static void dropped(unsigned hook, struct tp_pk *k, unsigned n_emit)
{
	decide(hook, k);
	ck_assert_int_eq(act->verdict, WLB_DROP);
	ck_assert_uint_eq(act->n_emit, n_emit);
}

/* The mangled packet, copied out, parsed, checksums verified. */
static struct wlb_pkt mangled(void)
{
	return tp_assert_mangled(act, &outbuf);
}

/* Emitted packet i, copied out, parsed, checksums verified. */
static struct wlb_pkt emitted(unsigned i, struct tp_pk *copy)
{
	ck_assert_uint_lt(i, act->n_emit);
	return tp_assert_valid(copy, act->emit[i].data, act->emit[i].len);
}

/* Header fields other than those named must match the original. */
static void same_tcp(const struct wlb_pkt *p, const struct tp_pk *orig)
{
	struct tp_pk o = *orig;
	struct wlb_pkt q = tp_parse(o.b, o.len, sizeof(o.b));

	ck_assert_uint_eq(wlb_tcp_sport(p), wlb_tcp_sport(&q));
	ck_assert_uint_eq(wlb_tcp_dport(p), wlb_tcp_dport(&q));
	ck_assert_uint_eq(wlb_tcp_seq(p), wlb_tcp_seq(&q));
	ck_assert_uint_eq(wlb_tcp_ack(p), wlb_tcp_ack(&q));
	ck_assert_uint_eq(p->flags, q.flags);
	ck_assert_uint_eq(wlb_tcp_payload_len(p), wlb_tcp_payload_len(&q));
	ck_assert_int_eq(
		memcmp(p->data + p->ihl + p->thl, q.data + q.ihl + q.thl, wlb_tcp_payload_len(&q)),
		0);
}

static uint32_t nflows(void)
{
	struct wlb_flow_stats st;

	wlb_flow_stats(gw->flows, &st);
	return st.count;
}

static uint64_t total(void)
{
	return tp_counters_sum(gw->c, clientgw_NCOUNTERS);
}

/* The number after "name" at the start of a line of a dump, or -1. */
static long long dump_value(const char *s, const char *name)
{
	size_t nl = strlen(name);

	for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		long long v;

		if (!strncmp(l, name, nl) && l[nl] == ' ' && sscanf(l + nl, "%lld", &v) == 1)
			return v;
	}
	return -1;
}

/* ------------------------------------------------------------- scenarios */

/* A client SYN to server:80 goes out tagged; returns the nonce. */
static uint32_t open_syn(const char *client, const char *server, uint16_t cport)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	mk_syn(&k, client, server, cport, 80);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	return t.nonce;
}

/* The replica's echoed SYN-ACK wins and is given the server's address. */
static void replica_wins(const char *client, const char *server, uint16_t cport,
			 const char *replica, uint32_t nonce)
{
	struct tp_pk k;
	struct wlb_pkt p;

	mk_synack(&k, replica, client, cport, TAG_ECHO, nonce);
	from_server(&k);
	p = mangled();
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(server));
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(client));
}

static void origin_wins(const char *client, const char *server, uint16_t cport)
{
	struct tp_pk k;

	mk_synack(&k, server, client, cport, TAG_NONE, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
}

/* A connection from CLIENT:CPORT to ORIGIN:80 that REPLICA1 won. */
static struct wlb_flow *flow_of(const char *client, const char *server, uint16_t cport)
{
	struct wlb_flow_key key;

	memset(&key, 0, sizeof(key));
	key.client.v4 = tp_addr(client);
	key.server.v4 = tp_addr(server);
	key.client_port = tp_port(cport);
	key.server_port = tp_port(80);
	return wlb_flow_lookup(gw->flows, &key, now);
}

static void replica_connection(void)
{
	uint32_t n = open_syn(CLIENT, ORIGIN, CPORT);

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
}

/* Client to origin: the packet must reach the replica. */
static void expect_to_replica(const char *client, const char *server, uint16_t cport,
			      const char *replica, uint8_t flags, size_t paylen)
{
	struct tp_pk k;
	struct wlb_pkt p;

	mk_seg(&k, client, server, cport, 80, flags, paylen);
	to_server(&k);
	p = mangled();
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(client));
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(replica));
	same_tcp(&p, &k);
}

/* Replica to client: the packet must appear to come from the origin. */
static void expect_from_replica(const char *replica, const char *client, const char *server,
				uint16_t cport, uint8_t flags, size_t paylen)
{
	struct tp_pk k;
	struct wlb_pkt p;

	mk_seg(&k, replica, client, 80, cport, flags, paylen);
	from_server(&k);
	p = mangled();
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(server));
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(client));
	same_tcp(&p, &k);
}

static void check_rst(const char *client, uint16_t cport, const char *loser, uint16_t lport,
		      uint32_t seq)
{
	struct tp_pk e;
	struct wlb_pkt r;

	ck_assert_uint_eq(act->n_emit, 1);
	r = emitted(0, &e);
	ck_assert_uint_eq(r.len, 40);
	ck_assert_uint_eq(wlb_ip_saddr(&r), tp_addr(client));
	ck_assert_uint_eq(wlb_ip_daddr(&r), tp_addr(loser));
	ck_assert_uint_eq(ntohs(wlb_tcp_sport(&r)), cport);
	ck_assert_uint_eq(ntohs(wlb_tcp_dport(&r)), lport);
	ck_assert_uint_eq(r.flags, WLB_TCP_RST);
	ck_assert_uint_eq(wlb_tcp_seq(&r), seq);
	ck_assert_uint_eq(wlb_tcp_payload_len(&r), 0);
}

/* ============================================================ FIG. 2: SYN */

START_TEST(syn_to_web_port_tagged)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;
	unsigned off, olen;

	mk_syn(&k, CLIENT, ORIGIN, CPORT, 80);
	to_server(&k);
	p = mangled();
	ck_assert_uint_eq(p.len, k.len + WLB_TAG_SPACE);
	ck_assert_uint_eq(p.thl, 20 + 20 + WLB_TAG_SPACE);
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(CLIENT));
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(ORIGIN));
	same_tcp(&p, &k);
	ck_assert(wlb_tcp_is_syn(&p));
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.flags, WLB_TAG_REDIRECT); /* redirect, mode A, no echo */
	ck_assert(t.flags & WLB_TAG_REDIRECT);
	ck_assert(!(t.flags & WLB_TAG_ECHO));
	ck_assert_int_eq(wlb_tag_mode(&t), WLB_MODE_A);
	ck_assert_uint_eq(t.nonce, nonce_n(1));
	/* the client's own options survive */
	ck_assert_int_eq(wlb_tcp_opt_find(&p, WLB_TCPOPT_MSS, &off, &olen), 1);
	ck_assert_mem_eq(outbuf.b + 40, tp_linux_syn_opts, 20);
	/* the receive buffer was not written: the tagged copy is in scratch */
	ck_assert_ptr_eq(act->out, act->scratch);
	ck_assert_uint_eq(nonce_calls, 1);
	ck_assert_uint_eq(gw->c[syn_tagged], 1);
	ck_assert_uint_eq(total(), 1);
	ck_assert_uint_eq(nflows(), 1);
	ck_assert_uint_eq(act->n_emit, 0);
}
END_TEST

START_TEST(syn_with_payload_and_padding_tagged)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;
	size_t iplen;

	/* TFO-like SYN with data, plus Ethernet padding after the datagram */
	build(&k, CLIENT, ORIGIN, CPORT, 443, WLB_TCP_SYN, CLIENT_ISN, 0, tp_linux_syn_opts, 20,
	      100);
	iplen = k.len;
	memset(k.b + k.len, 0, 6);
	k.len += 6;
	to_server(&k);
	p = mangled();
	ck_assert_uint_eq(p.len, iplen + WLB_TAG_SPACE);
	ck_assert_uint_eq(wlb_tcp_payload_len(&p), 100);
	ck_assert_mem_eq(p.data + p.ihl + p.thl, payload, 100);
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_int_eq(wlb_tag_mode(&t), WLB_MODE_A);
	ck_assert_uint_eq(gw->c[syn_tagged], 1);
}
END_TEST

START_TEST(syn_mode_from_service_or_default)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	/* listed, configuration B */
	mk_syn(&k, CLIENT, ORIGIN_B, CPORT, 443);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_int_eq(wlb_tag_mode(&t), WLB_MODE_B);
	/* not listed: the clientgw's own configuration letter (C) */
	mk_syn(&k, CLIENT, ELSEWHERE, CPORT, 80);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_int_eq(wlb_tag_mode(&t), WLB_MODE_C);
	ck_assert(t.flags & WLB_TAG_REDIRECT);
	/* listed origin, but a port not among its service's ports */
	mk_syn(&k, CLIENT, ORIGIN_B, CPORT, 80);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_int_eq(wlb_tag_mode(&t), WLB_MODE_C);
	ck_assert_uint_eq(gw->c[syn_tagged], 3);
	ck_assert_uint_eq(nflows(), 3);
}
END_TEST

START_TEST(syn_not_web_untouched)
{
	struct tp_pk k;

	mk_syn(&k, CLIENT, ORIGIN, CPORT, 22);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_syn(&k, CLIENT, "10.1.2.3", CPORT, 80); /* excluded 10/8 */
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_syn(&k, CLIENT, "192.168.7.1", CPORT, 443); /* excluded 192.168/16 */
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_syn(&k, CLIENT, "192.0.2.99", CPORT, 80); /* excluded 192.0.2/24 */
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[syn_not_web], 4);
	ck_assert_uint_eq(total(), 4);
	ck_assert_uint_eq(nflows(), 0);
	ck_assert_uint_eq(nonce_calls, 0);
}
END_TEST

START_TEST(syn_default_nonce_source)
{
	/* the built-in source (getrandom() in blocks of 256): nonces differ,
	 * also across a refill */
	static uint32_t seen[300];
	unsigned dup = 0;
	char err[64];
	struct clientgw *fresh = clientgw_new(conf, err, sizeof(err));

	ck_assert_ptr_nonnull(fresh);
	gw->nonce = fresh->nonce; /* the default */
	clientgw_free(fresh);
	for (unsigned i = 0; i < 300; i++)
		seen[i] = open_syn(CLIENT, ORIGIN, (uint16_t)(20000 + i));
	for (unsigned i = 0; i < 300; i++)
		for (unsigned j = 0; j < i; j++)
			dup += seen[i] == seen[j];
	ck_assert_uint_le(dup, 1);
	ck_assert_uint_eq(nonce_calls, 0);
	ck_assert_uint_eq(nflows(), 300);
	clientgw_free(NULL);
}
END_TEST

START_TEST(syn_retransmit_same_nonce)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	ck_assert_uint_eq(open_syn(CLIENT, ORIGIN, CPORT), nonce_n(1));
	now += 1000;
	mk_syn(&k, CLIENT, ORIGIN, CPORT, 80);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.nonce, nonce_n(1));
	ck_assert_uint_eq(t.flags, WLB_TAG_REDIRECT);
	now += 2000;
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.nonce, nonce_n(1));
	ck_assert_uint_eq(nonce_calls, 1);
	ck_assert_uint_eq(nflows(), 1);
	ck_assert_uint_eq(gw->c[syn_tagged], 1);
	ck_assert_uint_eq(gw->c[syn_retransmit], 2);
	/* the retransmission pushed the half-open deadline: a reply to it
	 * 9 s later (12 s after the first SYN) still counts */
	now += HALF_OPEN_MS - 1000;
	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA2, nonce_n(1));
	ck_assert_uint_eq(gw->c[synack_replica_won], 1);
}
END_TEST

START_TEST(syn_noroom_untouched)
{
	/* 32 bytes of options without EOL: 12 more do not fit in 40 */
	uint8_t o[32];
	struct tp_pk k;

	memcpy(o, tp_linux_syn_opts, 20);
	memcpy(o + 20, (const uint8_t[]){1, 1, 1, 1, 30, 8, 0, 0, 0, 0, 0, 0}, 12);
	build(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o, 32, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[syn_noroom], 1);
	/* not recorded, so not counted as tagged */
	ck_assert_uint_eq(gw->c[syn_tagged], 0);
	ck_assert_uint_eq(nflows(), 0);
	/* no flow: the origin's SYN-ACK finds nothing, passes as unknown */
	origin_wins(CLIENT, ORIGIN, CPORT);
	ck_assert_uint_eq(gw->c[unknown_passed], 1);
	ck_assert_uint_eq(gw->c[synack_origin_won], 0);
}
END_TEST

START_TEST(syn_exactly_fits)
{
	/* 28 bytes of options: 28 + 12 = 40, the most there is */
	uint8_t o[28];
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	memcpy(o, tp_linux_syn_opts, 20);
	memcpy(o + 20, (const uint8_t[]){1, 1, 30, 6, 0, 0, 0, 0}, 8);
	build(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o, 28, 0);
	to_server(&k);
	p = mangled();
	ck_assert_uint_eq(p.thl, 60);
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.nonce, nonce_n(1));
	ck_assert_uint_eq(gw->c[syn_tagged], 1);
	ck_assert_uint_eq(gw->c[syn_noroom], 0);
}
END_TEST

START_TEST(syn_eol_padding_reused)
{
	/* MSS + EOL padding: the tag replaces the padding */
	static const uint8_t o[8] = {2, 4, 0x05, 0xb4, 0, 0, 0, 0};
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	build(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o, 8, 0);
	to_server(&k);
	p = mangled();
	ck_assert_uint_eq(p.thl, 20 + 4 + WLB_TAG_SPACE);
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.nonce, nonce_n(1));
}
END_TEST

START_TEST(syn_pretagged_untouched)
{
	uint8_t o[TP_TAGGED_SYN_OPTLEN];
	struct tp_pk k;

	/* a gateway nearer the client tagged it already */
	tp_tagged_syn_opts(o, WLB_TAG_REDIRECT, 0x01020304, WLB_TAG_VERSION);
	build(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o, sizeof(o), 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	/* one that claims to be ours but is malformed (version 2) */
	tp_tagged_syn_opts(o, WLB_TAG_REDIRECT, 0x01020304, 2);
	build(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o, sizeof(o), 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[syn_pretagged], 2);
	ck_assert_uint_eq(total(), 2);
	ck_assert_uint_eq(nflows(), 0);
	ck_assert_uint_eq(nonce_calls, 0);
}
END_TEST

START_TEST(syn_other_kind253_experiment_still_tagged)
{
	/* RFC 6994: kind 253 with another ExID is somebody else's */
	static const uint8_t o[8] = {253, 6, 0x12, 0x34, 0xaa, 0xbb, 1, 1};
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	build(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o, 8, 0);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.nonce, nonce_n(1));
	ck_assert_uint_eq(gw->c[syn_tagged], 1);
}
END_TEST

START_TEST(syn_reuses_port_after_close)
{
	struct tp_pk k;

	replica_connection();
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(gw->c[closed], 1);
	/* a new connection on the same 4-tuple while the old one lingers */
	now += 100;
	ck_assert_uint_eq(open_syn(CLIENT, ORIGIN, CPORT), nonce_n(2));
	ck_assert_uint_eq(gw->c[syn_tagged], 2);
	ck_assert_uint_eq(nflows(), 1);
	/* it is pending: the old replica's data is no longer translated */
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* and the new race is open again */
	origin_wins(CLIENT, ORIGIN, CPORT);
	ck_assert_uint_eq(gw->c[synack_origin_won], 1);
}
END_TEST

/* ======================================================= FIG. 5A: SYN-ACK */

START_TEST(synack_origin_wins_direct)
{
	struct tp_pk k;

	open_syn(CLIENT, ORIGIN, CPORT);
	origin_wins(CLIENT, ORIGIN, CPORT);
	ck_assert_uint_eq(gw->c[synack_origin_won], 1);
	/* later packets both ways pass untouched */
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK | WLB_TCP_PSH, 300);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_seg(&k, ORIGIN, CLIENT, 80, CPORT, WLB_TCP_ACK | WLB_TCP_PSH, 1400);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[direct_passed], 3);
	ck_assert_uint_eq(gw->c[to_replica], 0);
	ck_assert_uint_eq(gw->c[from_replica], 0);
	/* a replica's data for that flow is nobody's */
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 1);
}
END_TEST

START_TEST(synack_origin_with_tag_stripped)
{
	/* an origin answering with a (pointless) tag: it still wins, and the
	 * option is not passed to the client */
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	open_syn(CLIENT, ORIGIN, CPORT);
	mk_synack(&k, ORIGIN, CLIENT, CPORT, TAG_ECHO, nonce_n(1));
	from_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 0);
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(ORIGIN));
	ck_assert_uint_eq(gw->c[synack_origin_won], 1);
}
END_TEST

START_TEST(synack_replica_wins)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;
	unsigned off, olen;
	uint32_t n = open_syn(CLIENT, ORIGIN, CPORT);

	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, n);
	from_server(&k);
	p = mangled();
	ck_assert_ptr_eq(act->out, k.b); /* edited in place, same length */
	ck_assert_uint_eq(p.len, k.len);
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(ORIGIN));
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(CLIENT));
	same_tcp(&p, &k);
	ck_assert(wlb_tcp_is_synack(&p));
	/* the echo is NOPed out, the rest of the options stay */
	ck_assert_int_eq(wlb_tag_find(&p, &t), 0);
	ck_assert_int_eq(wlb_tcp_opt_find(&p, WLB_TAG_KIND, &off, &olen), 0);
	ck_assert_int_eq(wlb_tcp_opt_find(&p, WLB_TCPOPT_MSS, &off, &olen), 1);
	ck_assert_uint_eq(off, 20);
	for (unsigned i = 24; i < 36; i++)
		ck_assert_uint_eq(outbuf.b[20 + i], WLB_TCPOPT_NOP);
	ck_assert_uint_eq(gw->c[synack_replica_won], 1);
	ck_assert_uint_eq(nflows(), 1);
}
END_TEST

START_TEST(synack_replica_wins_odd_offset)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;
	uint32_t n = open_syn(MASQ, ORIGIN, CPORT);

	mk_synack(&k, REPLICA2, MASQ, CPORT, TAG_ECHO_ODD, n);
	from_server(&k);
	p = mangled();
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(ORIGIN));
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(MASQ));
	ck_assert_int_eq(wlb_tag_find(&p, &t), 0);
	ck_assert_uint_eq(gw->c[synack_replica_won], 1);
	expect_to_replica(MASQ, ORIGIN, CPORT, REPLICA2, WLB_TCP_ACK, 0);
}
END_TEST

START_TEST(synack_spoofed_dropped)
{
	struct tp_pk k;
	uint32_t n = open_syn(CLIENT, ORIGIN, CPORT);

	/* wrong nonce */
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, n ^ htonl(1));
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* no echo at all */
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_NONE, 0);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* the right nonce without the echo flag (a copy of the SYN's tag) */
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_NOECHO, n);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* the right nonce in a malformed tag */
	mk_synack(&k, REPLICA2, CLIENT, CPORT, TAG_BADVER, n);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[synack_spoofed], 4);
	ck_assert_uint_eq(gw->c[synack_replica_won], 0);
	/* still pending: the genuine answer wins afterwards */
	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	ck_assert_uint_eq(gw->c[synack_replica_won], 1);
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 20);
}
END_TEST

START_TEST(synack_spoofed_then_origin)
{
	struct tp_pk k;
	uint32_t n = open_syn(CLIENT, ORIGIN, CPORT);

	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, n + 1);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	origin_wins(CLIENT, ORIGIN, CPORT);
	ck_assert_uint_eq(gw->c[synack_spoofed], 1);
	ck_assert_uint_eq(gw->c[synack_origin_won], 1);
	/* after the origin won, a spoofed one is still just dropped, no RST */
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, n + 1);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[synack_spoofed], 2);
	ck_assert_uint_eq(gw->c[synack_late_reset], 0);
}
END_TEST

START_TEST(synack_late_origin_reset)
{
	struct tp_pk k;

	replica_connection();
	mk_synack(&k, ORIGIN, CLIENT, CPORT, TAG_NONE, 0);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_rst(CLIENT, CPORT, ORIGIN, 80, CLIENT_ISN + 1);
	ck_assert_uint_eq(gw->c[synack_late_reset], 1);
	/* the connection stays with the replica */
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
}
END_TEST

START_TEST(synack_late_replica_after_origin_reset)
{
	struct tp_pk k;
	uint32_t n = open_syn(MASQ, ORIGIN, CPORT);

	origin_wins(MASQ, ORIGIN, CPORT);
	mk_synack(&k, REPLICA2, MASQ, CPORT, TAG_ECHO, n);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_rst(MASQ, CPORT, REPLICA2, 80, CLIENT_ISN + 1);
	ck_assert_uint_eq(gw->c[synack_late_reset], 1);
	/* still direct */
	mk_seg(&k, MASQ, ORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[direct_passed], 1);
}
END_TEST

START_TEST(synack_late_other_replica_reset)
{
	struct tp_pk k;
	uint32_t n = open_syn(CLIENT, ORIGIN, CPORT);

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	mk_synack(&k, REPLICA2, CLIENT, CPORT, TAG_ECHO, n);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_rst(CLIENT, CPORT, REPLICA2, 80, CLIENT_ISN + 1);
	/* and the origin, later still */
	mk_synack(&k, ORIGIN, CLIENT, CPORT, TAG_NONE, 0);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_rst(CLIENT, CPORT, ORIGIN, 80, CLIENT_ISN + 1);
	ck_assert_uint_eq(gw->c[synack_late_reset], 2);
	ck_assert_uint_eq(gw->c[rst_unsent], 0);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 0);
}
END_TEST

START_TEST(synack_late_no_emit_slot)
{
	struct tp_pk k;

	replica_connection();
	mk_synack(&k, REPLICA2, CLIENT, CPORT, TAG_ECHO, nonce_n(1));
	wlb_action_reset(act);
	act->n_emit = WLB_EMIT_MAX; /* every slot already taken */
	clientgw_decide(gw, NF_INET_PRE_ROUTING, k.b, (uint32_t)k.len, now, act);
	ck_assert_int_eq(act->verdict, WLB_DROP);
	ck_assert_uint_eq(act->n_emit, WLB_EMIT_MAX);
	ck_assert_uint_eq(gw->c[synack_late_reset], 1);
	ck_assert_uint_eq(gw->c[rst_unsent], 1);
}
END_TEST

START_TEST(synack_winner_retransmit)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;
	uint32_t n = open_syn(CLIENT, ORIGIN, CPORT);

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	now += 1000;
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, n);
	from_server(&k);
	p = mangled();
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(ORIGIN));
	ck_assert_int_eq(wlb_tag_find(&p, &t), 0);
	ck_assert_uint_eq(act->n_emit, 0);
	ck_assert_uint_eq(gw->c[synack_retransmit], 1);
	/* an origin-won flow: the origin's retransmission passes as is */
	open_syn(CLIENT, ORIGIN, CPORT + 1);
	origin_wins(CLIENT, ORIGIN, CPORT + 1);
	now += 1000;
	mk_synack(&k, ORIGIN, CLIENT, CPORT + 1, TAG_NONE, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[synack_retransmit], 2);
	ck_assert_uint_eq(gw->c[synack_late_reset], 0);
}
END_TEST

START_TEST(synack_unknown_passed)
{
	struct tp_pk k;

	/* no SYN was seen for this one */
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, nonce_n(1));
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	mk_synack(&k, ORIGIN, CLIENT, CPORT, TAG_NONE, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* the right client port, another service port */
	open_syn(CLIENT, ORIGIN, CPORT);
	mk_synack_port(&k, REPLICA1, CLIENT, 443, CPORT, TAG_ECHO, nonce_n(1));
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 3);
	ck_assert_uint_eq(gw->c[synack_spoofed], 0);
}
END_TEST

/* ===================================================== FIG. 6A: the flow */

START_TEST(translate_both_ways)
{
	replica_connection();
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK | WLB_TCP_PSH, 517);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK | WLB_TCP_PSH, 1460);
	ck_assert_uint_eq(gw->c[to_replica], 2);
	ck_assert_uint_eq(gw->c[from_replica], 2);
}
END_TEST

START_TEST(translate_masqueraded_client)
{
	uint32_t n = open_syn(MASQ, ORIGIN, 61000);

	replica_wins(MASQ, ORIGIN, 61000, REPLICA2, n);
	expect_to_replica(MASQ, ORIGIN, 61000, REPLICA2, WLB_TCP_ACK | WLB_TCP_PSH, 77);
	expect_from_replica(REPLICA2, MASQ, ORIGIN, 61000, WLB_TCP_ACK | WLB_TCP_PSH, 1000);
	ck_assert_uint_eq(gw->c[to_replica], 1);
	ck_assert_uint_eq(gw->c[from_replica], 1);
}
END_TEST

START_TEST(origin_packet_of_replica_flow_not_translated)
{
	struct tp_pk k;

	replica_connection();
	mk_seg(&k, ORIGIN, CLIENT, 80, CPORT, WLB_TCP_ACK | WLB_TCP_PSH, 100);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* and another replica's */
	mk_seg(&k, REPLICA2, CLIENT, 80, CPORT, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 2);
	ck_assert_uint_eq(gw->c[from_replica], 0);
}
END_TEST

START_TEST(unmatched_packets_pass)
{
	struct tp_pk k;

	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* a pending flow is not translated yet: an early ACK passes */
	open_syn(CLIENT, ORIGIN, CPORT);
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* a server RST before any SYN-ACK does not settle anything */
	mk_seg(&k, ORIGIN, CLIENT, 80, CPORT, WLB_TCP_RST | WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 5);
	ck_assert_uint_eq(gw->c[closed], 0);
	/* a client SYN-ACK (simultaneous open) is a client packet */
	mk_synack_port(&k, CLIENT, ORIGIN, CPORT, 80, TAG_NONE, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 6);
	/* still pending: the race is still open */
	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, nonce_n(1));
}
END_TEST

START_TEST(two_origins_same_client_port)
{
	struct tp_pk k;
	uint32_t n1 = open_syn(CLIENT, ORIGIN, CPORT);
	uint32_t n2 = open_syn(CLIENT, ORIGIN2, CPORT);

	ck_assert_uint_ne(n1, n2);
	ck_assert_uint_eq(nflows(), 2);
	/* REPLICA1 answers the second connection */
	replica_wins(CLIENT, ORIGIN2, CPORT, REPLICA1, n2);
	/* the first one's race is still open: the origin wins it */
	origin_wins(CLIENT, ORIGIN, CPORT);
	ck_assert_uint_eq(gw->c[synack_replica_won], 1);
	ck_assert_uint_eq(gw->c[synack_origin_won], 1);
	/* client packets go each their own way */
	expect_to_replica(CLIENT, ORIGIN2, CPORT, REPLICA1, WLB_TCP_ACK, 40);
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 40);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	/* REPLICA1's packets belong to the second, the origin's to the first */
	expect_from_replica(REPLICA1, CLIENT, ORIGIN2, CPORT, WLB_TCP_ACK, 40);
	mk_seg(&k, ORIGIN, CLIENT, 80, CPORT, WLB_TCP_ACK, 40);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[direct_passed], 2);
	/* a late replica for the first gets a RST, the second is unaffected */
	mk_synack(&k, REPLICA2, CLIENT, CPORT, TAG_ECHO, n1);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_rst(CLIENT, CPORT, REPLICA2, 80, CLIENT_ISN + 1);
	/* ORIGIN2's late answer is reset too */
	mk_synack(&k, ORIGIN2, CLIENT, CPORT, TAG_NONE, 0);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_rst(CLIENT, CPORT, ORIGIN2, 80, CLIENT_ISN + 1);
	ck_assert_uint_eq(gw->c[synack_late_reset], 2);
	expect_to_replica(CLIENT, ORIGIN2, CPORT, REPLICA1, WLB_TCP_ACK, 0);
}
END_TEST

START_TEST(two_origins_echo_picks_its_flow)
{
	uint32_t n1 = open_syn(CLIENT, ORIGIN, CPORT);
	uint32_t n2 = open_syn(CLIENT, ORIGIN2, CPORT);

	/* the same replica answers both: the nonce tells them apart */
	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA2, n1);
	replica_wins(CLIENT, ORIGIN2, CPORT, REPLICA1, n2);
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA2, WLB_TCP_ACK, 0);
	expect_to_replica(CLIENT, ORIGIN2, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA2, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 3);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN2, CPORT, WLB_TCP_ACK, 3);
}
END_TEST

/* ========================================================== lifetimes */

START_TEST(fin_both_ways_then_linger)
{
	struct tp_pk k;

	replica_connection();
	now += 5000;
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(gw->c[closed], 0);
	now += 10;
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(gw->c[closed], 1);
	/* the last ACK, within the linger: still translated */
	now += LINGER_MS - 1;
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	ck_assert_uint_eq(gw->c[closed], 1); /* counted once */
	/* past the linger: gone */
	now += LINGER_MS;
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 1);
	ck_assert_uint_eq(nflows(), 0);
}
END_TEST

START_TEST(fin_server_first_then_client)
{
	struct tp_pk k;

	open_syn(CLIENT, ORIGIN, CPORT);
	origin_wins(CLIENT, ORIGIN, CPORT);
	mk_seg(&k, ORIGIN, CLIENT, 80, CPORT, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[closed], 0);
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[closed], 1);
	/* a retransmitted FIN does not count again */
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[closed], 1);
	now += LINGER_MS;
	clientgw_tick(gw, now);
	ck_assert_uint_eq(nflows(), 0);
}
END_TEST

START_TEST(one_fin_keeps_flow)
{
	replica_connection();
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	/* half-closed: the server still sends for a long time */
	now += LINGER_MS * 10;
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 1000);
	now += IDLE_MS - 1;
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 1000);
	ck_assert_uint_eq(gw->c[closed], 0);
}
END_TEST

START_TEST(rst_closes)
{
	struct tp_pk k;

	replica_connection();
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_RST, 0);
	ck_assert_uint_eq(gw->c[closed], 1);
	now += LINGER_MS - 1;
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	now += 1;
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	/* a RST from the replica closes too, and is translated */
	open_syn(CLIENT, ORIGIN, CPORT + 1);
	replica_wins(CLIENT, ORIGIN, CPORT + 1, REPLICA2, nonce_n(2));
	expect_from_replica(REPLICA2, CLIENT, ORIGIN, CPORT + 1, WLB_TCP_RST | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(gw->c[closed], 2);
	now += LINGER_MS;
	mk_seg(&k, REPLICA2, CLIENT, 80, CPORT + 1, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
}
END_TEST

/* A RST with the server's address may be a blind attacker's: held as long
 * as a live connection, and refuted by the server's next packet. */
START_TEST(server_rst_refuted_by_server)
{
	replica_connection();
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 100);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_RST | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(gw->c[closed], 1);
	ck_assert(flow_of(CLIENT, ORIGIN, CPORT)->flags & CGW_RST_SERVER);
	/* the client's packets within the linger may have been in flight */
	now += LINGER_MS - 1;
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 100);
	ck_assert_uint_eq(gw->c[rst_refuted], 0);
	/* the server goes on: the RST was not its own */
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 100);
	ck_assert_uint_eq(gw->c[rst_refuted], 1);
	ck_assert_uint_eq(flow_of(CLIENT, ORIGIN, CPORT)->flags & (CGW_CLOSING | CGW_RST_SERVER),
			  0);
	/* a live connection again: idle, not linger, after its last packet */
	now += IDLE_MS - 1;
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
}
END_TEST

/* The client's TCP is the judge of a RST: a packet it sends after the
 * linger, when the RST has long reached it, refutes it, however long the
 * connection was idle.  In B the server's packets never come here. */
START_TEST(server_rst_refuted_by_client)
{
	replica_connection();
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 100);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_RST | WLB_TCP_ACK, 0);
	now += IDLE_MS - 1;
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 100);
	ck_assert_uint_eq(gw->c[rst_refuted], 1);
	now += IDLE_MS - 1;
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 100);
}
END_TEST

/* A real RST is the server's last word: the connection goes after the idle
 * timeout, and the server's further RSTs refute nothing. */
START_TEST(server_rst_unrefuted_ends)
{
	struct tp_pk k;

	replica_connection();
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 100);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_RST | WLB_TCP_ACK, 0);
	/* the client's data in flight, answered by another RST */
	now += 10;
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 100);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_RST, 0);
	ck_assert_uint_eq(gw->c[rst_refuted], 0);
	ck_assert_uint_eq(gw->c[closed], 1);
	now += IDLE_MS;
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(nflows(), 0);
}
END_TEST

/* After FINs both ways, a server RST ends the linger as any close does, and
 * the client's own RST is taken at its word. */
START_TEST(rst_after_fins_or_from_client_is_final)
{
	struct tp_pk k;

	replica_connection();
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_RST, 0);
	ck_assert_uint_eq(flow_of(CLIENT, ORIGIN, CPORT)->flags & CGW_RST_SERVER, 0);
	now += LINGER_MS;
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* a server RST, then the client's: final */
	open_syn(CLIENT, ORIGIN, CPORT + 1);
	replica_wins(CLIENT, ORIGIN, CPORT + 1, REPLICA2, nonce_n(2));
	expect_to_replica(CLIENT, ORIGIN, CPORT + 1, REPLICA2, WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA2, CLIENT, ORIGIN, CPORT + 1, WLB_TCP_RST, 0);
	expect_to_replica(CLIENT, ORIGIN, CPORT + 1, REPLICA2, WLB_TCP_RST, 0);
	ck_assert_uint_eq(flow_of(CLIENT, ORIGIN, CPORT + 1)->flags & CGW_RST_SERVER, 0);
	now += LINGER_MS;
	mk_seg(&k, REPLICA2, CLIENT, 80, CPORT + 1, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[rst_refuted], 0);
}
END_TEST

START_TEST(idle_timeout)
{
	struct tp_pk k;

	replica_connection();
	/* traffic keeps it alive */
	now += IDLE_MS - 1;
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	now += IDLE_MS - 1;
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 0);
	/* silence for the idle timeout forgets it */
	now += IDLE_MS;
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 2);
}
END_TEST

START_TEST(idle_timeout_tick_reclaims)
{
	struct wlb_flow_stats st;

	replica_connection();
	open_syn(CLIENT, ORIGIN, CPORT + 1); /* pending */
	ck_assert_uint_eq(nflows(), 2);
	now += HALF_OPEN_MS;
	clientgw_tick(gw, now);
	ck_assert_uint_eq(nflows(), 1); /* the half-open one */
	now += IDLE_MS;
	clientgw_tick(gw, now);
	wlb_flow_stats(gw->flows, &st);
	ck_assert_uint_eq(st.count, 0);
	ck_assert_uint_eq(st.expired, 2);
}
END_TEST

START_TEST(half_open_timeout)
{
	struct tp_pk k;
	uint32_t n1 = open_syn(CLIENT, ORIGIN, CPORT);
	uint32_t n2 = open_syn(CLIENT, ORIGIN, CPORT + 1);

	/* just in time */
	now += HALF_OPEN_MS - 1;
	replica_wins(CLIENT, ORIGIN, CPORT + 1, REPLICA1, n2);
	/* too late: forgotten, the echo is nobody's */
	now += 1;
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, n1);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 1);
	ck_assert_uint_eq(gw->c[synack_spoofed], 0);
	mk_synack(&k, ORIGIN, CLIENT, CPORT, TAG_NONE, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 2);
	ck_assert_uint_eq(gw->c[synack_origin_won], 0);
	/* the settled one lives on its idle timer */
	expect_to_replica(CLIENT, ORIGIN, CPORT + 1, REPLICA1, WLB_TCP_ACK, 0);
}
END_TEST

START_TEST(clock_wraps_32_bits)
{
	/* the table keeps 32-bit deadlines: crossing 2^32 ms changes nothing */
	now = (UINT64_C(1) << 32) - 1000;
	replica_connection();
	now += 5000;
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 0);
}
END_TEST

START_TEST(reconfigure_keeps_flows)
{
	struct wlb_conf *c2 = tp_conf(conf_8080, WLB_NEED_CLIENTGW);
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	replica_connection();
	clientgw_reconfigure(gw, c2);
	/* decided flows keep their decisions */
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	/* new SYNs follow the new web ports */
	mk_syn(&k, CLIENT, ORIGIN, CPORT + 1, 80);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[syn_not_web], 1);
	mk_syn(&k, CLIENT, ORIGIN, CPORT + 2, 8080);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	clientgw_reconfigure(gw, conf);
	wlb_conf_free(c2);
}
END_TEST

/* ========================================================== malformed */

struct bad_case {
	const char *what;
	void (*mutate)(struct tp_pk *k);
	bool malformed; /* else: well formed but not ours (unknown_passed) */
};

static void m_truncated(struct tp_pk *k)
{
	k->len -= 10; /* shorter than the IP total length */
}

static void m_tcp_cut(struct tp_pk *k)
{
	/* total length 30: half a TCP header */
	k->b[2] = 0;
	k->b[3] = 30;
	k->len = 30;
}

static void m_totlen_small(struct tp_pk *k)
{
	k->b[2] = 0;
	k->b[3] = 12;
}

static void m_optlen_overrun(struct tp_pk *k)
{
	k->b[41] = 30; /* MSS claims 30 bytes of 20 */
}

static void m_ipopt_bad(struct tp_pk *k)
{
	/* IHL 6 with an option of length 9 in 4 bytes */
	uint8_t b[TP_PKT_CAP];

	memcpy(b, k->b, k->len);
	memcpy(k->b + 24, b + 20, k->len - 20);
	memcpy(k->b + 20, (const uint8_t[]){0x44, 9, 0, 0}, 4);
	k->b[0] = 0x46;
	k->len += 4;
	k->b[2] = (uint8_t)(k->len >> 8);
	k->b[3] = (uint8_t)k->len;
}

static void m_udp(struct tp_pk *k)
{
	k->b[9] = 17;
}

static void m_icmp(struct tp_pk *k)
{
	k->b[9] = 1;
}

static void m_frag_mf(struct tp_pk *k)
{
	k->b[6] |= 0x20;
}

static void m_frag_off(struct tp_pk *k)
{
	k->b[7] = 0x10;
}

static const struct bad_case bad_cases[] = {
	{"empty", tp_mut_empty, true},
	{"shorter than an IP header", tp_mut_short, true},
	{"truncated", m_truncated, true},
	{"TCP header cut", m_tcp_cut, true},
	{"IPv6 version", tp_mut_version6, true},
	{"IHL 4", tp_mut_ihl4, true},
	{"IHL beyond the packet", tp_mut_ihl_beyond, true},
	{"total length < IHL", m_totlen_small, true},
	{"data offset 4", tp_mut_doff4, true},
	{"data offset beyond", tp_mut_doff_beyond, true},
	{"option length 0", tp_mut_optlen0, true},
	{"option overruns the header", m_optlen_overrun, true},
	{"bad IP option", m_ipopt_bad, true},
	{"UDP", m_udp, false},
	{"ICMP", m_icmp, false},
	{"first fragment", m_frag_mf, false},
	{"later fragment", m_frag_off, false},
};

#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

/* Each mutation applied to each kind of packet the policy cares about,
 * on both hooks, with the flows it would match present. */
START_TEST(malformed_untouched)
{
	const struct bad_case *c = &bad_cases[_i];
	struct tp_pk k;
	uint64_t before;
	uint32_t n = open_syn(CLIENT, ORIGIN, CPORT + 1);

	replica_wins(CLIENT, ORIGIN, CPORT + 1, REPLICA1, n);
	open_syn(CLIENT, ORIGIN, CPORT); /* pending */
	for (int v = 0; v < 4; v++) {
		unsigned hook = v < 2 ? NF_INET_POST_ROUTING : NF_INET_PRE_ROUTING;

		switch (v) {
		case 0:
			mk_syn(&k, CLIENT, ORIGIN, CPORT + 2, 80);
			break;
		case 1:
			/* an MSS option at byte 40 for the option cases */
			build(&k, CLIENT, ORIGIN, CPORT + 1, 80, WLB_TCP_ACK, 1, 2,
			      (const uint8_t[]){2, 4, 5, 0xb4}, 4, 30);
			break;
		case 2:
			mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, nonce_n(2));
			break;
		default:
			build(&k, REPLICA1, CLIENT, 80, CPORT + 1, WLB_TCP_ACK, 1, 2,
			      (const uint8_t[]){2, 4, 5, 0xb4}, 4, 30);
		}
		c->mutate(&k);
		before = c->malformed ? gw->c[malformed_passed] : gw->c[unknown_passed];
		pass_unchanged(hook, &k);
		ck_assert_msg((c->malformed ? gw->c[malformed_passed] : gw->c[unknown_passed]) ==
				      before + 1,
			      "%s, variant %d: not counted", c->what, v);
	}
	ck_assert_uint_eq(nflows(), 2);
	ck_assert_uint_eq(gw->c[syn_tagged], 2);
	ck_assert_uint_eq(gw->c[synack_replica_won], 1);
	ck_assert_uint_eq(gw->c[to_replica] + gw->c[from_replica] + gw->c[synack_spoofed], 0);
	/* the pending flow is intact: its genuine SYN-ACK still wins */
	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA2, nonce_n(2));
}
END_TEST

/* ------------------------------------------------------ randomized run */

static const char *const fuzz_hosts[] = {CLIENT, MASQ, ORIGIN, REPLICA1, REPLICA2, "10.0.0.1"};
static const uint16_t fuzz_ports[] = {80, 443, 22, 40000, 40001, 40002};
static const uint8_t fuzz_flags[] = {WLB_TCP_SYN,
				     WLB_TCP_SYN | WLB_TCP_ACK,
				     WLB_TCP_ACK,
				     WLB_TCP_ACK | WLB_TCP_PSH,
				     WLB_TCP_FIN | WLB_TCP_ACK,
				     WLB_TCP_RST,
				     WLB_TCP_RST | WLB_TCP_ACK,
				     WLB_TCP_SYN | WLB_TCP_FIN};

static const char *pick_host(void)
{
	return fuzz_hosts[tp_rand() % (sizeof(fuzz_hosts) / sizeof(fuzz_hosts[0]))];
}

static uint16_t pick_port(void)
{
	return fuzz_ports[tp_rand() % (sizeof(fuzz_ports) / sizeof(fuzz_ports[0]))];
}

/* The last SYN generated: later packets answer or continue it, so that
 * the flows are found and every branch is taken. */
static struct {
	const char *client, *server;
	uint16_t cport, sport;
} fuzz_last = {CLIENT, ORIGIN, 40000, 80};

static unsigned fuzz_options(uint8_t *o)
{
	switch (tp_rand() % 5) {
	case 0:
		return 0;
	case 1:
		memcpy(o, tp_linux_syn_opts, 20);
		return 20;
	case 2:
		memcpy(o, tp_linux_syn_opts, 20);
		memset(o + 20, WLB_TCPOPT_NOP, 12);
		return 32;
	default:
		memcpy(o, (const uint8_t[]){2, 4, 5, 0xb4, 1, 1}, 6);
		tp_tag_opt(o + 6, (uint8_t)(tp_rand() % 4 ? 0x81 : tp_rand()),
			   nonce_n(nonce_calls + 1 - tp_rand() % 3),
			   tp_rand() % 8 ? WLB_TAG_VERSION : 2);
		return 16;
	}
}

/* A plausible packet: hosts, ports and flags from small sets, options that
 * are empty, Linux-like, full, or an echo. */
static void fuzz_packet(struct tp_pk *k)
{
	static const char *const answerers[] = {ORIGIN, REPLICA1, REPLICA2};
	uint8_t o[40];
	unsigned optlen = fuzz_options(o);
	uint8_t flags =
		tp_rand() % 8 ? fuzz_flags[tp_rand() % sizeof(fuzz_flags)] : (uint8_t)tp_rand();
	size_t paylen = tp_rand() % 4 ? 0 : tp_rand() % 200;

	switch (tp_rand() % 6) {
	case 0:
	case 1:
		/* an answer to the last SYN, often a SYN-ACK */
		if (tp_rand() % 2)
			flags = WLB_TCP_SYN | WLB_TCP_ACK;
		build(k, tp_rand() % 4 ? answerers[tp_rand() % 3] : fuzz_last.server,
		      fuzz_last.client, fuzz_last.sport, fuzz_last.cport, flags, tp_rand(),
		      tp_rand(), o, optlen, paylen);
		return;
	case 2:
		/* the client goes on */
		build(k, fuzz_last.client, fuzz_last.server, fuzz_last.cport, fuzz_last.sport,
		      flags, tp_rand(), tp_rand(), o, optlen, paylen);
		return;
	default:
		build(k, pick_host(), pick_host(), pick_port(), pick_port(), flags, tp_rand(),
		      tp_rand(), o, optlen, paylen);
		if (flags == WLB_TCP_SYN) {
			struct wlb_pkt p = tp_parse(k->b, k->len, sizeof(k->b));
			static char c[INET_ADDRSTRLEN], sv[INET_ADDRSTRLEN];
			uint32_t a = wlb_ip_saddr(&p);

			inet_ntop(AF_INET, &a, c, sizeof(c));
			a = wlb_ip_daddr(&p);
			inet_ntop(AF_INET, &a, sv, sizeof(sv));
			fuzz_last.client = c;
			fuzz_last.server = sv;
			fuzz_last.cport = ntohs(wlb_tcp_sport(&p));
			fuzz_last.sport = ntohs(wlb_tcp_dport(&p));
		}
	}
}

static void fuzz_mutate(struct tp_pk *k)
{
	switch (tp_rand() % 10) {
	case 0:
	case 1:
	case 2:
	case 3:
		break; /* well formed */
	case 4:
	case 5:
		for (unsigned n = 1 + tp_rand() % 4; n; n--)
			k->b[tp_rand() % k->len] = (uint8_t)tp_rand();
		break;
	case 6:
		/* a header byte, then fresh checksums when it still parses */
		for (unsigned n = 1 + tp_rand() % 2; n; n--)
			k->b[tp_rand() % (k->len < 60 ? k->len : 60)] = (uint8_t)tp_rand();
		{
			struct wlb_pkt p;

			if (wlb_pkt_parse(&p, k->b, k->len, k->len) == WLB_PKT_OK)
				wlb_pkt_csum_fill(&p);
		}
		break;
	case 7:
		k->len = tp_rand() % (k->len + 1);
		break;
	case 8:
		/* trailing bytes after the datagram */
		for (unsigned n = 1 + tp_rand() % 8; n; n--)
			k->b[k->len++] = (uint8_t)tp_rand();
		break;
	default:
		k->len = tp_rand() % 120;
		for (size_t i = 0; i < k->len; i++)
			k->b[i] = (uint8_t)tp_rand();
		if (k->len && tp_rand() % 2)
			k->b[0] = 0x45;
	}
}

START_TEST(fuzz_both_hooks)
{
	static const unsigned hooks[] = {NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING};
	unsigned verdicts[4] = {0};
	char *dump = NULL;
	size_t dumplen = 0;
	FILE *f;

	tp_srand(0x574c);
	for (int i = 0; i < 20000; i++) {
		struct tp_pk k;
		struct wlb_pkt p;
		bool input_ok;
		uint8_t *h;
		unsigned hook = hooks[tp_rand() % 2];

		fuzz_packet(&k);
		fuzz_mutate(&k);
		{
			struct tp_pk c = k;

			input_ok = wlb_pkt_parse(&p, c.b, c.len, c.len) == WLB_PKT_OK &&
				   wlb_pkt_csum_ok(&p);
		}
		h = tp_heap_copy(&k);
		now += tp_rand() % 64;
		wlb_action_reset(act);
		clientgw_decide(gw, hook, h, (uint32_t)k.len, now, act);
		tp_assert_fuzz_outcome(act, h, &k, input_ok, i);
		verdicts[act->verdict]++;
		for (unsigned e = 0; e < act->n_emit; e++) {
			struct tp_pk c;

			(void)emitted(e, &c);
		}
		free(h);
		if (i % 997 == 0)
			clientgw_tick(gw, now);
	}
	/* every outcome happened */
	ck_assert_uint_gt(verdicts[WLB_ACCEPT], 0);
	ck_assert_uint_gt(verdicts[WLB_DROP], 0);
	ck_assert_uint_gt(verdicts[WLB_MANGLE], 0);
	ck_assert_uint_gt(gw->c[malformed_passed], 0);
	ck_assert_uint_gt(gw->c[syn_tagged], 0);
	f = open_memstream(&dump, &dumplen);
	ck_assert_ptr_nonnull(f);
	clientgw_dump(gw, f, now);
	fclose(f);
	ck_assert_int_eq(dump_value(dump, "flows_capacity"), 16);
	ck_assert_int_eq(dump_value(dump, "syn_tagged"), (long long)gw->c[syn_tagged]);
	free(dump);
}
END_TEST

/* ================================================================ dump */

static unsigned count_lines(const char *s, const char *prefix)
{
	unsigned n = 0;
	size_t pl = strlen(prefix);

	for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, prefix, pl))
			n++;
	return n;
}

START_TEST(dump_counters_and_flows)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;
	struct tp_pk k;

	replica_connection();			/* nonce 1 */
	open_syn(MASQ, ORIGIN, 50000);		/* nonce 2, pending */
	open_syn(CLIENT, ORIGIN, CPORT + 1);	/* nonce 3 */
	origin_wins(CLIENT, ORIGIN, CPORT + 1); /* direct */
	mk_seg(&k, CLIENT, ORIGIN, CPORT + 1, 80, WLB_TCP_RST, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k); /* closing */
	f = open_memstream(&s, &len);
	ck_assert_ptr_nonnull(f);
	clientgw_dump(gw, f, now);
	fclose(f);
	/* one line per counter, in order, with its value */
	tp_assert_counter_lines(s, clientgw_counter_names, gw->c, clientgw_NCOUNTERS);
	ck_assert_int_eq(dump_value(s, "syn_tagged"), 3);
	ck_assert_int_eq(dump_value(s, "synack_replica_won"), 1);
	ck_assert_int_eq(dump_value(s, "synack_origin_won"), 1);
	ck_assert_int_eq(dump_value(s, "closed"), 1);
	ck_assert_int_eq(dump_value(s, "flows"), 3);
	ck_assert_int_eq(dump_value(s, "flows_capacity"), 1024);
	ck_assert_uint_eq(count_lines(s, "flow "), 3);
	ck_assert_ptr_nonnull(strstr(s, "flow 192.0.2.2:40000 203.0.113.10:80 replica config=A "
					"served_by=198.51.100.18 nonce=5eed0001\n"));
	ck_assert_ptr_nonnull(strstr(s, "flow 198.51.100.1:50000 203.0.113.10:80 pending config=A "
					"served_by=- nonce=5eed0002\n"));
	ck_assert_ptr_nonnull(strstr(s, "flow 192.0.2.2:40001 203.0.113.10:80 direct config=A "
					"served_by=203.0.113.10 nonce=5eed0003 closing\n"));
	free(s);
	/* an empty table: counters only */
	now += IDLE_MS * 2;
	s = NULL;
	f = open_memstream(&s, &len);
	clientgw_dump(gw, f, now);
	fclose(f);
	ck_assert_uint_eq(count_lines(s, "flow "), 0);
	ck_assert_uint_eq(count_lines(s, "syn_tagged "), 1);
	free(s);
}
END_TEST

/* ================================================= configurations B and C */

#define BORIGIN "203.0.113.40" /* configuration B, replicable */
#define CORIGIN "203.0.113.50" /* configuration C */
#define TUNNEL_MSS 1440	       /* tunnel_mtu 1500 - outer IP - inner IP - TCP */

static const char conf_bc[] =
	"services = (\n"
	"  { origin = \"203.0.113.10\"; ports = [ 80 ]; configuration = \"A\";\n"
	"    replicas = [ \"198.51.100.18\", \"198.51.100.22\" ]; },\n"
	"  { origin = \"203.0.113.40\"; ports = [ 80 ]; configuration = \"B\";\n"
	"    replicas = [ \"198.51.100.18\", \"198.51.100.22\" ]; },\n"
	"  { origin = \"203.0.113.50\"; ports = [ 80 ]; configuration = \"C\";\n"
	"    replicas = [ \"198.51.100.18\", \"198.51.100.22\" ]; }\n"
	");\n"
	"clientgw: {\n"
	"  queue = 0;\n"
	"  flows = 1024;\n"
	"  half_open_timeout = 10.0;\n"
	"  idle_timeout = 300;\n"
	"  linger = 2.0;\n"
	"  configuration = \"A\";\n"
	"  tunnel_mtu = 1500;\n"
	"};\n";

/* The same with a smaller tunnel: the MSS follows the setting. */
static const char conf_bc_mtu1000[] =
	"services = ( { origin = \"203.0.113.50\"; ports = [ 80 ]; configuration = \"C\"; } );\n"
	"clientgw: { queue = 0; tunnel_mtu = 1000; };\n";

static void setup_bc(void)
{
	start(conf_bc);
}

/* A SYN-ACK from src (the origin's address, as a B or C replica sends it)
 * to CLIENT:cport with an MSS option and a wlb tag of the given flags. */
static void mk_bc_synack(struct tp_pk *k, const char *src, uint16_t cport, uint8_t tag_flags,
			 uint32_t nonce, uint16_t mss)
{
	uint8_t o[16] = {2, 4, (uint8_t)(mss >> 8), (uint8_t)mss, 1, 1};

	tp_tag_opt(o + 6, tag_flags, nonce, WLB_TAG_VERSION);
	build(k, src, CLIENT, 80, cport, WLB_TCP_SYN | WLB_TCP_ACK, SERVER_ISN, CLIENT_ISN + 1, o,
	      sizeof(o), 0);
}

/* The echo a replica answering in configuration mode puts in its SYN-ACK. */
static uint8_t echo_of(enum wlb_mode mode)
{
	return wlb_tag_flags(true, mode, true);
}

/* CLIENT's SYN to server:80 goes out tagged with the configuration of the
 * server's entry; returns the nonce. */
static uint32_t bc_open(const char *server, uint16_t cport, enum wlb_mode mode)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	mk_syn(&k, CLIENT, server, cport, 80);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.flags, wlb_tag_flags(true, mode, false));
	ck_assert_int_eq(wlb_tag_mode(&t), mode);
	ck_assert_int_eq(tp_mss(&p), mode == WLB_MODE_C ? TUNNEL_MSS : 1460);
	return t.nonce;
}

/* replica's tunnelled SYN-ACK (inner server -> CLIENT, the echo, MSS 1460)
 * wins: what the client gets is the inner SYN-ACK without the echo. */
static void bc_replica_wins(const char *server, uint16_t cport, const char *replica,
			    enum wlb_mode mode, uint32_t nonce)
{
	struct tp_pk in, k;
	struct wlb_pkt p;
	struct wlb_tag t;
	struct wlb_flow *f;
	uint64_t won = gw->c[synack_replica_won];

	mk_bc_synack(&in, server, cport, echo_of(mode), nonce, 1460);
	tp_encap(&k, &in, replica, CLIENT);
	from_server(&k);
	p = mangled();
	ck_assert_uint_eq(act->n_emit, 0);
	/* out of the tunnel, in place */
	ck_assert_ptr_eq(act->out, k.b + 20);
	ck_assert_uint_eq(p.proto, WLB_IPPROTO_TCP);
	ck_assert_uint_eq(p.len, in.len);
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(server));
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(CLIENT));
	ck_assert(wlb_tcp_is_synack(&p));
	same_tcp(&p, &in);
	ck_assert_int_eq(wlb_tag_find(&p, &t), 0);
	ck_assert_int_eq(tp_mss(&p), mode == WLB_MODE_C ? TUNNEL_MSS : 1460);
	ck_assert_uint_eq(gw->c[synack_replica_won], won + 1);
	f = flow_of(CLIENT, server, cport);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->state, CGW_REPLICA);
	ck_assert_uint_eq(f->peer.v4, tp_addr(replica));
}

/* The one packet emitted: a RST for loser, tunnelled as the loser answered
 * (outer CLIENT -> loser, inner CLIENT:cport -> server:80). */
static void check_tunnelled_rst(const char *loser, const char *server, uint16_t cport, uint32_t seq)
{
	struct tp_pk e;
	struct wlb_pkt o, r;

	ck_assert_uint_eq(act->n_emit, 1);
	o = tp_assert_ipip(&e, act->emit[0].data, act->emit[0].len, &r);
	ck_assert_uint_eq(o.len, 60);
	ck_assert_uint_eq(wlb_ip_saddr(&o), tp_addr(CLIENT));
	ck_assert_uint_eq(wlb_ip_daddr(&o), tp_addr(loser));
	ck_assert_uint_eq(r.len, 40);
	ck_assert_uint_eq(r.proto, WLB_IPPROTO_TCP);
	ck_assert_uint_eq(wlb_ip_saddr(&r), tp_addr(CLIENT));
	ck_assert_uint_eq(wlb_ip_daddr(&r), tp_addr(server));
	ck_assert_uint_eq(ntohs(wlb_tcp_sport(&r)), cport);
	ck_assert_uint_eq(ntohs(wlb_tcp_dport(&r)), 80);
	ck_assert_uint_eq(r.flags, WLB_TCP_RST);
	ck_assert_uint_eq(wlb_tcp_seq(&r), seq);
	ck_assert_uint_eq(wlb_tcp_payload_len(&r), 0);
}

/* A data segment from server:80 to CLIENT:cport, tunnelled from outer. */
static void mk_tunnelled_seg(struct tp_pk *k, struct tp_pk *in, const char *outer,
			     const char *server, uint16_t cport, uint8_t flags, size_t paylen)
{
	mk_seg(in, server, CLIENT, 80, cport, flags, paylen);
	tp_encap(k, in, outer, CLIENT);
}

/* A client packet of a C connection leaves tunnelled to replica, the
 * client's packet inside byte for byte. */
static void expect_tunnelled_to(const char *server, uint16_t cport, const char *replica,
				uint8_t flags, size_t paylen)
{
	struct tp_pk k;
	struct wlb_pkt o, in;
	uint64_t before = gw->c[tunnel_encap];

	mk_seg(&k, CLIENT, server, cport, 80, flags, paylen);
	to_server(&k);
	o = tp_assert_mangled_ipip(act, &outbuf, &in);
	ck_assert_uint_eq(act->n_emit, 0);
	ck_assert_uint_eq(wlb_ip_saddr(&o), tp_addr(CLIENT));
	ck_assert_uint_eq(wlb_ip_daddr(&o), tp_addr(replica));
	ck_assert_uint_eq(o.len, k.len + 20);
	ck_assert_uint_eq(outbuf.b[8], 64);		      /* outer TTL */
	ck_assert_uint_eq(outbuf.b[6] & 0x40, k.b[6] & 0x40); /* DF copied */
	ck_assert_uint_eq(outbuf.b[1], k.b[1]);		      /* TOS copied */
	ck_assert_uint_eq(in.len, k.len);
	ck_assert_mem_eq(outbuf.b + 20, k.b, k.len);
	ck_assert_uint_eq(gw->c[tunnel_encap], before + 1);
}

/* A tunnel packet of a C connection from replica comes out of the tunnel:
 * the inner packet, byte for byte. */
static void expect_decapsulated(const char *replica, const char *server, uint16_t cport,
				uint8_t flags, size_t paylen)
{
	struct tp_pk k, in;
	struct wlb_pkt p;
	uint64_t before = gw->c[tunnel_decap];

	mk_tunnelled_seg(&k, &in, replica, server, cport, flags, paylen);
	from_server(&k);
	p = mangled();
	ck_assert_uint_eq(act->n_emit, 0);
	ck_assert_ptr_eq(act->out, k.b + 20);
	ck_assert_uint_eq(p.proto, WLB_IPPROTO_TCP);
	ck_assert_uint_eq(p.len, in.len);
	ck_assert_mem_eq(outbuf.b, in.b, in.len);
	ck_assert_uint_eq(gw->c[tunnel_decap], before + 1);
}

/* --------------------------------------------------- configuration B */

START_TEST(b_syn_tagged_mode_b)
{
	struct tp_pk k;
	struct wlb_pkt p;

	ck_assert_uint_eq(bc_open(BORIGIN, CPORT, WLB_MODE_B), nonce_n(1));
	/* apart from the tag, the SYN is the client's: no MSS clamp in B */
	p = tp_parse(outbuf.b, outbuf.len, sizeof(outbuf.b));
	mk_syn(&k, CLIENT, BORIGIN, CPORT, 80);
	same_tcp(&p, &k);
	ck_assert_mem_eq(outbuf.b + 40, tp_linux_syn_opts, 20);
	ck_assert_uint_eq(gw->c[syn_tagged], 1);
	ck_assert_uint_eq(gw->c[mss_clamped], 0);
	ck_assert_uint_eq(flow_of(CLIENT, BORIGIN, CPORT)->state, CGW_PENDING);
}
END_TEST

START_TEST(b_tunnelled_synack_wins)
{
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	bc_replica_wins(BORIGIN, CPORT, REPLICA1, WLB_MODE_B, n);
	ck_assert_uint_eq(gw->c[mss_clamped], 0);
	ck_assert_uint_eq(gw->c[synack_spoofed] + gw->c[synack_late_reset], 0);
	ck_assert_uint_eq(nflows(), 1);
}
END_TEST

START_TEST(b_client_packets_to_replica)
{
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	bc_replica_wins(BORIGIN, CPORT, REPLICA2, WLB_MODE_B, n);
	expect_to_replica(CLIENT, BORIGIN, CPORT, REPLICA2, WLB_TCP_ACK, 0);
	expect_to_replica(CLIENT, BORIGIN, CPORT, REPLICA2, WLB_TCP_ACK | WLB_TCP_PSH, 700);
	ck_assert_uint_eq(gw->c[to_replica], 2);
	ck_assert_uint_eq(gw->c[tunnel_encap], 0);
}
END_TEST

START_TEST(b_replica_packets_untouched)
{
	struct tp_pk k, in;
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	bc_replica_wins(BORIGIN, CPORT, REPLICA1, WLB_MODE_B, n);
	/* the replica sends as the origin: nothing to do */
	mk_seg(&k, BORIGIN, CLIENT, 80, CPORT, WLB_TCP_ACK | WLB_TCP_PSH, 1460);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	mk_seg(&k, BORIGIN, CLIENT, 80, CPORT, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[from_replica_untouched], 2);
	ck_assert_uint_eq(gw->c[from_replica], 0);
	/* from the replica's own address it is no packet of this connection */
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 1);
	/* and in B data does not come through a tunnel */
	mk_tunnelled_seg(&k, &in, REPLICA1, BORIGIN, CPORT, WLB_TCP_ACK, 10);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[tunnel_rejected], 1);
	ck_assert_uint_eq(gw->c[from_replica_untouched], 2);
}
END_TEST

START_TEST(b_late_tunnelled_synack_reset)
{
	struct tp_pk k, in;
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	bc_replica_wins(BORIGIN, CPORT, REPLICA1, WLB_MODE_B, n);
	/* another replica, the right nonce, too late: reset in its tunnel */
	mk_bc_synack(&in, BORIGIN, CPORT, echo_of(WLB_MODE_B), n, 1460);
	tp_encap(&k, &in, REPLICA2, CLIENT);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_tunnelled_rst(REPLICA2, BORIGIN, CPORT, CLIENT_ISN + 1);
	ck_assert_uint_eq(gw->c[synack_late_reset], 1);
	/* the origin itself, later still: a plain RST */
	mk_synack(&k, BORIGIN, CLIENT, CPORT, TAG_NONE, 0);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_rst(CLIENT, CPORT, BORIGIN, 80, CLIENT_ISN + 1);
	ck_assert_uint_eq(gw->c[synack_late_reset], 2);
	ck_assert_uint_eq(gw->c[rst_unsent], 0);
	/* the connection stays with the winner */
	expect_to_replica(CLIENT, BORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	ck_assert_uint_eq(flow_of(CLIENT, BORIGIN, CPORT)->peer.v4, tp_addr(REPLICA1));
}
END_TEST

START_TEST(b_late_synack_no_emit_slot)
{
	struct tp_pk k, in;
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	bc_replica_wins(BORIGIN, CPORT, REPLICA1, WLB_MODE_B, n);
	mk_bc_synack(&in, BORIGIN, CPORT, echo_of(WLB_MODE_B), n, 1460);
	tp_encap(&k, &in, REPLICA2, CLIENT);
	wlb_action_reset(act);
	act->n_emit = WLB_EMIT_MAX;
	clientgw_decide(gw, NF_INET_PRE_ROUTING, k.b, (uint32_t)k.len, now, act);
	ck_assert_int_eq(act->verdict, WLB_DROP);
	ck_assert_uint_eq(act->n_emit, WLB_EMIT_MAX);
	ck_assert_uint_eq(gw->c[rst_unsent], 1);
}
END_TEST

START_TEST(b_winner_retransmits_synack)
{
	struct tp_pk k, in;
	struct wlb_pkt p;
	struct wlb_tag t;
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	bc_replica_wins(BORIGIN, CPORT, REPLICA1, WLB_MODE_B, n);
	now += 1000;
	mk_bc_synack(&in, BORIGIN, CPORT, echo_of(WLB_MODE_B), n, 1460);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	from_server(&k);
	p = mangled();
	ck_assert_uint_eq(act->n_emit, 0);
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(BORIGIN));
	ck_assert_int_eq(wlb_tag_find(&p, &t), 0);
	same_tcp(&p, &in);
	ck_assert_uint_eq(gw->c[synack_retransmit], 1);
	ck_assert_uint_eq(gw->c[synack_late_reset], 0);
}
END_TEST

START_TEST(b_plain_echo_refused)
{
	struct tp_pk k;
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	/* a valid echo, but sent plain from the replica's address: in B a
	 * replica answers as the origin from inside a tunnel */
	mk_bc_synack(&k, REPLICA1, CPORT, echo_of(WLB_MODE_B), n, 1460);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* the same with the configuration-A echo */
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, n);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[synack_spoofed], 2);
	ck_assert_uint_eq(gw->c[synack_replica_won], 0);
	ck_assert_uint_eq(flow_of(CLIENT, BORIGIN, CPORT)->state, CGW_PENDING);
	/* the genuine answer still wins */
	bc_replica_wins(BORIGIN, CPORT, REPLICA1, WLB_MODE_B, n);
}
END_TEST

START_TEST(b_tunnelled_synack_refused)
{
	struct tp_pk k, in;
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	/* inner source the replica, not the origin */
	mk_bc_synack(&in, REPLICA1, CPORT, echo_of(WLB_MODE_B), n, 1460);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* inner source another origin */
	mk_bc_synack(&in, ORIGIN, CPORT, echo_of(WLB_MODE_B), n, 1460);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* the wrong nonce */
	mk_bc_synack(&in, BORIGIN, CPORT, echo_of(WLB_MODE_B), n ^ htonl(1), 1460);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* the nonce without the echo flag */
	mk_bc_synack(&in, BORIGIN, CPORT, wlb_tag_flags(true, WLB_MODE_B, false), n, 1460);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* no tag at all, tunnelled from the origin's address itself */
	mk_synack(&in, BORIGIN, CLIENT, CPORT, TAG_NONE, 0);
	tp_encap(&k, &in, REPLICA2, CLIENT);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[synack_spoofed], 5);
	ck_assert_uint_eq(gw->c[synack_replica_won] + gw->c[synack_origin_won], 0);
	ck_assert_uint_eq(flow_of(CLIENT, BORIGIN, CPORT)->state, CGW_PENDING);
	bc_replica_wins(BORIGIN, CPORT, REPLICA2, WLB_MODE_B, n);
}
END_TEST

START_TEST(b_origin_wins)
{
	struct tp_pk k, in;
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	origin_wins(CLIENT, BORIGIN, CPORT);
	ck_assert_uint_eq(gw->c[synack_origin_won], 1);
	ck_assert_uint_eq(flow_of(CLIENT, BORIGIN, CPORT)->state, CGW_DIRECT);
	/* a replica's answer after that: reset through its tunnel */
	mk_bc_synack(&in, BORIGIN, CPORT, echo_of(WLB_MODE_B), n, 1460);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_tunnelled_rst(REPLICA1, BORIGIN, CPORT, CLIENT_ISN + 1);
	/* direct both ways */
	mk_seg(&k, CLIENT, BORIGIN, CPORT, 80, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_seg(&k, BORIGIN, CLIENT, 80, CPORT, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[direct_passed], 2);
	ck_assert_uint_eq(gw->c[to_replica] + gw->c[from_replica_untouched], 0);
}
END_TEST

START_TEST(b_tunnelled_synack_in_a_flow_refused)
{
	struct tp_pk k, in;
	uint32_t n = bc_open(ORIGIN, CPORT, WLB_MODE_A);

	/* an A connection is answered plain: a tunnel is not how it wins */
	mk_bc_synack(&in, ORIGIN, CPORT, echo_of(WLB_MODE_A), n, 1460);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[synack_spoofed], 1);
	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
}
END_TEST

START_TEST(b_fin_both_ways_then_linger)
{
	struct tp_pk k;
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	bc_replica_wins(BORIGIN, CPORT, REPLICA1, WLB_MODE_B, n);
	expect_to_replica(CLIENT, BORIGIN, CPORT, REPLICA1, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	mk_seg(&k, BORIGIN, CLIENT, 80, CPORT, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[closed], 1);
	now += LINGER_MS - 1;
	expect_to_replica(CLIENT, BORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	now += LINGER_MS;
	mk_seg(&k, CLIENT, BORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(nflows(), 0);
}
END_TEST

/* --------------------------------------------------- configuration C */

START_TEST(c_syn_mss_clamped)
{
	uint8_t o[20];
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	ck_assert_uint_eq(bc_open(CORIGIN, CPORT, WLB_MODE_C), nonce_n(1));
	ck_assert_uint_eq(gw->c[mss_clamped], 1);
	/* only the MSS value changed among the client's options */
	ck_assert_mem_eq(outbuf.b + 40, tp_linux_syn_opts, 2);
	ck_assert_mem_eq(outbuf.b + 44, tp_linux_syn_opts + 4, 16);
	p = tp_parse(outbuf.b, outbuf.len, sizeof(outbuf.b));
	mk_syn(&k, CLIENT, CORIGIN, CPORT, 80);
	same_tcp(&p, &k);
	/* MSS already below, or exactly at, the tunnel's: untouched */
	memcpy(o, tp_linux_syn_opts, 20);
	o[2] = 1400 >> 8;
	o[3] = 1400 & 0xff;
	build(&k, CLIENT, CORIGIN, CPORT + 1, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o, 20, 0);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_int_eq(wlb_tag_mode(&t), WLB_MODE_C);
	ck_assert_int_eq(tp_mss(&p), 1400);
	ck_assert_mem_eq(outbuf.b + 40, o, 20);
	o[2] = TUNNEL_MSS >> 8;
	o[3] = TUNNEL_MSS & 0xff;
	build(&k, CLIENT, CORIGIN, CPORT + 2, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o, 20, 0);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(tp_mss(&p), TUNNEL_MSS);
	ck_assert_mem_eq(outbuf.b + 40, o, 20);
	/* no MSS option: nothing to clamp */
	build(&k, CLIENT, CORIGIN, CPORT + 3, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o + 4, 16, 0);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(tp_mss(&p), -1);
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(gw->c[mss_clamped], 1);
	ck_assert_uint_eq(gw->c[syn_tagged], 4);
	/* A and B connections keep the client's MSS */
	bc_open(ORIGIN, CPORT, WLB_MODE_A);
	bc_open(BORIGIN, CPORT, WLB_MODE_B);
	ck_assert_uint_eq(gw->c[mss_clamped], 1);
}
END_TEST

START_TEST(c_syn_mss_follows_tunnel_mtu)
{
	struct wlb_conf *c2 = tp_conf(conf_bc_mtu1000, WLB_NEED_CLIENTGW);
	struct tp_pk k;
	struct wlb_pkt p;

	clientgw_reconfigure(gw, c2);
	mk_syn(&k, CLIENT, CORIGIN, CPORT, 80);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(tp_mss(&p), 1000 - 60);
	ck_assert_uint_eq(gw->c[mss_clamped], 1);
	clientgw_reconfigure(gw, conf);
	wlb_conf_free(c2);
}
END_TEST

START_TEST(c_tunnelled_synack_wins_mss_clamped)
{
	struct tp_pk k, in;
	struct wlb_pkt p;
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	ck_assert_uint_eq(gw->c[mss_clamped], 2); /* the SYN's and the SYN-ACK's */
	/* a SYN-ACK MSS already below the tunnel's is left alone */
	n = bc_open(CORIGIN, CPORT + 1, WLB_MODE_C);
	mk_bc_synack(&in, CORIGIN, CPORT + 1, echo_of(WLB_MODE_C), n, 1200);
	tp_encap(&k, &in, REPLICA2, CLIENT);
	from_server(&k);
	p = mangled();
	ck_assert_int_eq(tp_mss(&p), 1200);
	ck_assert_uint_eq(gw->c[mss_clamped], 3);
	ck_assert_uint_eq(gw->c[synack_replica_won], 2);
	/* the winner's retransmission is clamped too */
	mk_bc_synack(&in, CORIGIN, CPORT, echo_of(WLB_MODE_C), nonce_n(1), 1460);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	from_server(&k);
	p = mangled();
	ck_assert_int_eq(tp_mss(&p), TUNNEL_MSS);
	ck_assert_uint_eq(gw->c[synack_retransmit], 1);
}
END_TEST

START_TEST(c_origin_wins_not_clamped)
{
	struct tp_pk k, in;
	struct wlb_pkt p;
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	/* the origin answers plain (and with a pointless tag): direct */
	mk_bc_synack(&k, CORIGIN, CPORT, echo_of(WLB_MODE_C), n, 1460);
	from_server(&k);
	p = mangled();
	ck_assert_int_eq(tp_mss(&p), 1460);
	ck_assert_uint_eq(gw->c[synack_origin_won], 1);
	ck_assert_uint_eq(flow_of(CLIENT, CORIGIN, CPORT)->state, CGW_DIRECT);
	/* a late replica: reset in its tunnel */
	mk_bc_synack(&in, CORIGIN, CPORT, echo_of(WLB_MODE_C), n, 1460);
	tp_encap(&k, &in, REPLICA2, CLIENT);
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_tunnelled_rst(REPLICA2, CORIGIN, CPORT, CLIENT_ISN + 1);
	/* direct both ways, no tunnel */
	mk_seg(&k, CLIENT, CORIGIN, CPORT, 80, WLB_TCP_ACK, 100);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	mk_seg(&k, CORIGIN, CLIENT, 80, CPORT, WLB_TCP_ACK, 100);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* and the replica's tunnel packets for it are refused */
	mk_tunnelled_seg(&k, &in, REPLICA2, CORIGIN, CPORT, WLB_TCP_ACK, 100);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[direct_passed], 2);
	ck_assert_uint_eq(gw->c[tunnel_rejected], 1);
	ck_assert_uint_eq(gw->c[tunnel_encap] + gw->c[tunnel_decap], 0);
}
END_TEST

START_TEST(c_client_packets_tunnelled)
{
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_ACK | WLB_TCP_PSH, 1400);
	ck_assert_uint_eq(gw->c[tunnel_encap], 2);
	ck_assert_uint_eq(gw->c[to_replica], 0);
	/* the tunnel packet is built in the scratch buffer */
	ck_assert_ptr_eq(act->out, act->scratch);
}
END_TEST

START_TEST(c_syn_after_winner_tunnelled)
{
	struct tp_pk k;
	struct wlb_pkt o, in;
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	/* the client missed the SYN-ACK: its SYN goes to the winner */
	mk_syn(&k, CLIENT, CORIGIN, CPORT, 80);
	to_server(&k);
	o = tp_assert_mangled_ipip(act, &outbuf, &in);
	ck_assert_uint_eq(wlb_ip_daddr(&o), tp_addr(REPLICA1));
	ck_assert(wlb_tcp_is_syn(&in));
	ck_assert_mem_eq(outbuf.b + 20, k.b, k.len);
	ck_assert_uint_eq(nonce_calls, 1);
	ck_assert_uint_eq(gw->c[syn_retransmit], 1);
	ck_assert_uint_eq(gw->c[tunnel_encap], 1);
}
END_TEST

START_TEST(c_replica_packets_decapsulated)
{
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA2, WLB_MODE_C, n);
	expect_decapsulated(REPLICA2, CORIGIN, CPORT, WLB_TCP_ACK, 0);
	expect_decapsulated(REPLICA2, CORIGIN, CPORT, WLB_TCP_ACK | WLB_TCP_PSH, 1440);
	ck_assert_uint_eq(gw->c[tunnel_decap], 2);
	ck_assert_uint_eq(gw->c[from_replica] + gw->c[from_replica_untouched], 0);
}
END_TEST

START_TEST(c_tunnel_rejected)
{
	struct tp_pk k, in;
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	/* from a replica that did not win */
	mk_tunnelled_seg(&k, &in, REPLICA2, CORIGIN, CPORT, WLB_TCP_ACK | WLB_TCP_PSH, 100);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* from the winner, inner source not the origin */
	mk_tunnelled_seg(&k, &in, REPLICA1, REPLICA1, CPORT, WLB_TCP_ACK | WLB_TCP_PSH, 100);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	mk_tunnelled_seg(&k, &in, REPLICA1, ORIGIN, CPORT, WLB_TCP_RST, 0);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	/* tunnelled from the origin's address */
	mk_tunnelled_seg(&k, &in, CORIGIN, CORIGIN, CPORT, WLB_TCP_ACK, 0);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[tunnel_rejected], 4);
	ck_assert_uint_eq(gw->c[tunnel_decap], 0);
	/* a RST among them closed nothing */
	ck_assert_uint_eq(gw->c[closed], 0);
	/* a plain packet bearing the origin's source is forged in C: dropped */
	mk_seg(&k, CORIGIN, CLIENT, 80, CPORT, WLB_TCP_ACK, 10);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[tunnel_rejected], 5);
	/* one from the replica's own address is not this connection's: passed */
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 1);
	expect_decapsulated(REPLICA1, CORIGIN, CPORT, WLB_TCP_ACK, 10);
}
END_TEST

START_TEST(c_foreign_tunnels_pass)
{
	static const uint8_t ipopts[4] = {1, 1, 1, 0};
	struct tp_pk k, in;
	struct tp_opts o = {.src = CORIGIN,
			    .dst = CLIENT,
			    .sport = 80,
			    .dport = CPORT,
			    .flags = WLB_TCP_ACK,
			    .ipopts = ipopts,
			    .ipoptlen = 4,
			    .df = true};
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	/* somebody else's tunnel through the router: no recorded connection */
	mk_tunnelled_seg(&k, &in, REPLICA1, CORIGIN, CPORT + 1, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	mk_tunnelled_seg(&k, &in, "100.64.9.9", "100.64.9.10", 5555, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* a SYN-ACK for no recorded connection */
	mk_bc_synack(&in, CORIGIN, CPORT + 2, echo_of(WLB_MODE_C), n, 1460);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 3);
	/* the recorded connection, but an inner header with IP options: it
	 * cannot replace the outer one, so it is not ours to crack */
	in.len = tp_build(in.b, sizeof(in.b), &o);
	tp_encap(&k, &in, REPLICA1, CLIENT);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* the same with a SYN-ACK inside */
	o.flags = WLB_TCP_SYN | WLB_TCP_ACK;
	in.len = tp_build(in.b, sizeof(in.b), &o);
	tp_encap(&k, &in, REPLICA2, CLIENT);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* not TCP inside */
	mk_tunnelled_seg(&k, &in, REPLICA1, CORIGIN, CPORT, WLB_TCP_ACK, 10);
	k.b[20 + 9] = 17;
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 6);
	ck_assert_uint_eq(gw->c[tunnel_rejected] + gw->c[tunnel_decap], 0);
	/* a tunnel on the client side is not looked into */
	mk_seg(&in, CLIENT, CORIGIN, CPORT, 80, WLB_TCP_ACK, 10);
	tp_encap(&k, &in, CLIENT, REPLICA1);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[unknown_passed], 7);
}
END_TEST

/* An exact-size client packet of len bytes (TCP, no options). */
static uint8_t big_in[65536], big_out[65536 + 64];

static size_t mk_big(size_t len)
{
	static uint8_t pay[65536];
	struct tp_opts o = {.src = CLIENT,
			    .dst = CORIGIN,
			    .sport = CPORT,
			    .dport = 80,
			    .flags = WLB_TCP_ACK,
			    .payload = pay,
			    .paylen = len - 40,
			    .df = true};

	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)(i * 13 + 1);
	return tp_build(big_in, sizeof(big_in), &o);
}

START_TEST(c_too_big_to_tunnel)
{
	struct wlb_pkt o, in;
	size_t len;
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	/* the largest a verdict carries: 65511 + 20 = 65531 */
	len = mk_big(65511);
	ck_assert_uint_eq(len, 65511);
	wlb_action_reset(act);
	clientgw_decide(gw, NF_INET_POST_ROUTING, big_in, (uint32_t)len, now, act);
	ck_assert_int_eq(act->verdict, WLB_MANGLE);
	ck_assert_uint_eq(act->out_len, WLB_NFQ_MAX_PAYLOAD);
	memcpy(big_out, act->out, act->out_len);
	ck_assert_int_eq(wlb_pkt_parse(&o, big_out, act->out_len, sizeof(big_out)),
			 WLB_PKT_NOT_TCP);
	ck_assert(wlb_pkt_csum_ok(&o));
	ck_assert_uint_eq(wlb_ip_daddr(&o), tp_addr(REPLICA1));
	ck_assert_int_eq(wlb_ipip_decap(&o, &in), WLB_PKT_OK);
	ck_assert(wlb_pkt_csum_ok(&in));
	ck_assert_mem_eq(big_out + 20, big_in, len);
	ck_assert_uint_eq(gw->c[tunnel_encap], 1);
	/* one byte more: dropped, not sent in a verdict whose length wraps */
	len = mk_big(65512);
	wlb_action_reset(act);
	clientgw_decide(gw, NF_INET_POST_ROUTING, big_in, (uint32_t)len, now, act);
	ck_assert_int_eq(act->verdict, WLB_DROP);
	ck_assert_uint_eq(act->n_emit, 0);
	ck_assert_uint_eq(gw->c[tunnel_too_big], 1);
	ck_assert_uint_eq(gw->c[tunnel_encap], 1);
	/* the flow goes on */
	expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
}
END_TEST

START_TEST(c_fin_both_ways_then_linger)
{
	struct tp_pk k, in;
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	now += 5000;
	expect_decapsulated(REPLICA1, CORIGIN, CPORT, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(gw->c[closed], 0);
	expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(gw->c[closed], 1);
	now += LINGER_MS - 1;
	expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	now += LINGER_MS;
	mk_seg(&k, CLIENT, CORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	/* forgotten: the replica's tunnel is nobody's now */
	mk_tunnelled_seg(&k, &in, REPLICA1, CORIGIN, CPORT, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	ck_assert_uint_eq(nflows(), 0);
}
END_TEST

START_TEST(c_rst_from_replica_closes)
{
	struct tp_pk k;
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	expect_decapsulated(REPLICA1, CORIGIN, CPORT, WLB_TCP_RST | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(gw->c[closed], 1);
	now += LINGER_MS;
	mk_seg(&k, CLIENT, CORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(nflows(), 0);
}
END_TEST

START_TEST(c_idle_timeout)
{
	struct tp_pk k;
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	now += IDLE_MS - 1;
	expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	now += IDLE_MS - 1;
	expect_decapsulated(REPLICA1, CORIGIN, CPORT, WLB_TCP_ACK, 0);
	now += IDLE_MS;
	clientgw_tick(gw, now);
	ck_assert_uint_eq(nflows(), 0);
	mk_seg(&k, CLIENT, CORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
}
END_TEST

/* An A connection won by REPLICA1, a C one by REPLICA2, a pending B one;
 * returns the dump (the caller frees it). */
static char *dump_bc_flows(void)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;
	uint32_t n;

	n = bc_open(ORIGIN, CPORT, WLB_MODE_A);
	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	n = bc_open(CORIGIN, CPORT + 1, WLB_MODE_C);
	bc_replica_wins(CORIGIN, CPORT + 1, REPLICA2, WLB_MODE_C, n);
	bc_open(BORIGIN, CPORT + 2, WLB_MODE_B);
	f = open_memstream(&s, &len);
	ck_assert_ptr_nonnull(f);
	clientgw_dump(gw, f, now);
	fclose(f);
	return s;
}

START_TEST(bc_dump_counters_and_flows)
{
	char *s = dump_bc_flows();

	tp_assert_counter_lines(s, clientgw_counter_names, gw->c, clientgw_NCOUNTERS);
	ck_assert_int_eq(dump_value(s, "mss_clamped"), 2);
	ck_assert_int_eq(dump_value(s, "synack_replica_won"), 2);
	ck_assert_int_eq(dump_value(s, "flows"), 3);
	ck_assert_uint_eq(count_lines(s, "flow "), 3);
	/* each connection with its configuration */
	ck_assert_ptr_nonnull(strstr(s, "flow 192.0.2.2:40000 203.0.113.10:80 replica config=A "
					"served_by=198.51.100.18 nonce=5eed0001\n"));
	ck_assert_ptr_nonnull(strstr(s, "flow 192.0.2.2:40001 203.0.113.50:80 replica config=C "
					"served_by=198.51.100.22 nonce=5eed0002\n"));
	ck_assert_ptr_nonnull(strstr(s, "flow 192.0.2.2:40002 203.0.113.40:80 pending config=B "
					"served_by=- nonce=5eed0003\n"));
	free(s);
}
END_TEST

/* ------------------------------------------------- A and C together */

START_TEST(mixed_a_and_c_same_client_port)
{
	struct tp_pk k;
	struct wlb_pkt p;
	uint32_t na = bc_open(ORIGIN, CPORT, WLB_MODE_A);
	uint32_t nc = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	ck_assert_uint_ne(na, nc);
	ck_assert_uint_eq(nflows(), 2);
	/* the C connection's tunnelled answer is not the A one's */
	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, nc);
	ck_assert_uint_eq(flow_of(CLIENT, ORIGIN, CPORT)->state, CGW_PENDING);
	/* the A connection is won, plain, by the same replica */
	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, na);
	/* interleaved, each its own way */
	for (int i = 0; i < 3; i++) {
		expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK | WLB_TCP_PSH, 100);
		expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_ACK | WLB_TCP_PSH, 100);
		expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 1000);
		expect_decapsulated(REPLICA1, CORIGIN, CPORT, WLB_TCP_ACK, 1000);
	}
	ck_assert_uint_eq(gw->c[to_replica], 3);
	ck_assert_uint_eq(gw->c[from_replica], 3);
	ck_assert_uint_eq(gw->c[tunnel_encap], 3);
	ck_assert_uint_eq(gw->c[tunnel_decap], 3);
	ck_assert_uint_eq(gw->c[mss_clamped], 2);
	/* the A connection's MSS was left alone */
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, na);
	from_server(&k);
	p = mangled();
	ck_assert_int_eq(tp_mss(&p), 1460);
	ck_assert_uint_eq(gw->c[synack_retransmit], 1);
	/* closing one leaves the other */
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_RST, 0);
	now += LINGER_MS;
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	expect_decapsulated(REPLICA1, CORIGIN, CPORT, WLB_TCP_ACK, 0);
	ck_assert_uint_eq(nflows(), 1);
}
END_TEST

START_TEST(mixed_a_origin_c_replica)
{
	struct tp_pk k, in;
	uint32_t na = bc_open(ORIGIN, CPORT, WLB_MODE_A);
	uint32_t nc = bc_open(CORIGIN, CPORT + 1, WLB_MODE_C);

	(void)na;
	origin_wins(CLIENT, ORIGIN, CPORT);
	bc_replica_wins(CORIGIN, CPORT + 1, REPLICA2, WLB_MODE_C, nc);
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	expect_tunnelled_to(CORIGIN, CPORT + 1, REPLICA2, WLB_TCP_ACK, 10);
	mk_seg(&k, ORIGIN, CLIENT, 80, CPORT, WLB_TCP_ACK, 10);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	expect_decapsulated(REPLICA2, CORIGIN, CPORT + 1, WLB_TCP_ACK, 10);
	/* the C connection's tunnel does not reach the A one */
	mk_tunnelled_seg(&k, &in, REPLICA2, ORIGIN, CPORT, WLB_TCP_ACK, 10);
	dropped(NF_INET_PRE_ROUTING, &k, 0);
	ck_assert_uint_eq(gw->c[direct_passed], 2);
	ck_assert_uint_eq(gw->c[tunnel_rejected], 1);
}
END_TEST

/* ========================================================== known bugs */

/*
 * Was (src/clientgw.c, tag_syn(): "wlb_tag_add(p, wlb_tag_flags(true, mode,
 * false), f->nonce)"): the "redirection permitted" bit is always set.
 * wlb.conf(5) says wlb-clientgw "takes what it writes into the tag of a SYN
 * (redirection permitted, configuration) from the entry of the SYN's
 * destination", so a SYN to a service with replicable = false must carry
 * the bit clear.  (The wlb-clientgw(8) draft says the bit is always set:
 * one of the two documents must change; this test follows wlb.conf(5).)
 * Fix: in tag_syn(), look the service up once and pass
 * "s ? s->replicable : true" as the redirect argument (mode_for() already
 * does the lookup).
 */
START_TEST(regression_redirect_bit_follows_replicable)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct wlb_tag t;

	mk_syn(&k, CLIENT, ORIGIN_B, CPORT, 443); /* replicable = false */
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_int_eq(wlb_tag_mode(&t), WLB_MODE_B);
	ck_assert_msg(!(t.flags & WLB_TAG_REDIRECT),
		      "SYN to a non-replicable service tagged 'redirection permitted'");
}
END_TEST

/*
 * Was (src/clientgw.c, client_syn(): "if (f && f->state == CGW_PENDING) ...
 * else { if (f) wlb_flow_remove(gw->flows, f); ... f->nonce =
 * gw->nonce(gw); ..."): a SYN on a tuple whose flow already has a winner and
 * is not closing is taken for a new connection: the decided flow is thrown
 * away and a fresh pending one with a NEW nonce is created.  That happens
 * whenever the client's SYN retransmission crosses the winning SYN-ACK
 * (the client's RTO fires while the SYN-ACK is on its way).  wlb(7) says "A
 * retransmitted SYN is tagged again with the same nonce", and the code's own
 * comment says a new flow is only for "the port reused after a closed
 * connection".  Effect: the client completes the handshake with the winner,
 * but its ACK and data are no longer translated (flow pending ->
 * unknown_passed; a replica-served connection breaks), and the re-tagged SYN
 * starts a second race that a replica can win while the client is actually
 * connected to the origin (an origin-served connection gets hijacked).
 * Fix: replace the flow only when it is CGW_CLOSING; otherwise keep it and
 * treat the SYN as a retransmission: for CGW_DIRECT pass it (or re-tag it
 * with f->nonce), for CGW_REPLICA send it to the winner
 * (wlb_pkt_set_daddr(p, f->peer.v4), to_replica), in both cases with no new
 * nonce and no change of state.
 */
static void retransmitted_syn_keeps_nonce(void)
{
	struct tp_pk k;
	struct wlb_tag t;

	mk_syn(&k, CLIENT, ORIGIN, CPORT, 80);
	to_server(&k);
	ck_assert_uint_eq(nonce_calls, 1);
	if (act->verdict == WLB_MANGLE) {
		struct wlb_pkt p = mangled();

		if (wlb_tag_find(&p, &t) == 1)
			ck_assert_uint_eq(t.nonce, nonce_n(1));
	}
}

START_TEST(regression_syn_retransmit_after_replica_won_keeps_flow)
{
	replica_connection();
	/* the client's retransmitted SYN crosses the SYN-ACK */
	now += 5;
	retransmitted_syn_keeps_nonce();
	/* the client's ACK of the replica's SYN-ACK must still reach it */
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 100);
}
END_TEST

START_TEST(regression_syn_retransmit_after_origin_won_keeps_flow)
{
	struct tp_pk k;
	uint64_t before;

	open_syn(CLIENT, ORIGIN, CPORT);
	origin_wins(CLIENT, ORIGIN, CPORT);
	now += 5;
	retransmitted_syn_keeps_nonce();
	/* the client is connected to the origin: its packets stay direct */
	before = gw->c[direct_passed];
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_ACK, 0);
	pass_unchanged(NF_INET_POST_ROUTING, &k);
	ck_assert_uint_eq(gw->c[direct_passed], before + 1);
	/* and no replica can win the connection any more */
	mk_synack(&k, REPLICA1, CLIENT, CPORT, TAG_ECHO, nonce_n(1));
	dropped(NF_INET_PRE_ROUTING, &k, 1);
	check_rst(CLIENT, CPORT, REPLICA1, 80, CLIENT_ISN + 1);
	ck_assert_uint_eq(gw->c[synack_replica_won], 0);
}
END_TEST

/* ================================================================ main */

/* ------------------------------------------------------------ fast path */

static struct wlb_fp *fp;

static void setup_fp(void)
{
	start(conf_bc);
	fp = wlb_fp_new_offline(IDLE_MS);
	ck_assert_ptr_nonnull(fp);
	gw->fp = fp;
}

static void teardown_fp(void)
{
	teardown();
	wlb_fp_close(fp);
	fp = NULL;
}

static struct wlb_fp_key fpk(const char *s, uint16_t sport, const char *d, uint16_t dport)
{
	return tp_fp_key(s, sport, d, dport);
}

static void expect_op(unsigned i, enum wlb_fp_op_kind kind, enum wlb_fp_map m, struct wlb_fp_key k,
		      const char *v)
{
	tp_assert_fp_op(fp, i, kind, m, k, v);
}

/* The client's ACKs of a transfer, enough to earn the fast path: none
 * queued before the last one, the two elements after it. */
static void fp_warm(const char *server, uint16_t cport)
{
	struct tp_pk k;

	for (unsigned i = 0; i <= WLB_FP_AFTER_PACKETS; i++) {
		ck_assert_uint_eq(fp->n_ops, 0);
		mk_seg(&k, CLIENT, server, cport, 80, WLB_TCP_ACK, 0);
		to_server(&k);
	}
}

/* A short exchange stays here: two transactions would cost more. */
START_TEST(fp_short_connection_stays)
{
	struct tp_pk k;
	uint32_t n = bc_open(ORIGIN, CPORT, WLB_MODE_A);

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	for (unsigned i = 0; i < WLB_FP_AFTER_PACKETS / 2; i++) {
		expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 100);
		expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 100);
	}
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	to_server(&k);
	for (unsigned i = 0; i < WLB_FP_AFTER_PACKETS; i++)
		expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 100);
	ck_assert_uint_eq(fp->n_ops, 0);
	ck_assert_uint_eq(gw->c[fastpath_installed], 0);
}
END_TEST

/* A: the client's packets to the replica, the replica's from the origin. */
START_TEST(fp_a_replica_installed)
{
	uint32_t n = bc_open(ORIGIN, CPORT, WLB_MODE_A);

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	fp_warm(ORIGIN, CPORT);
	ck_assert_uint_eq(fp->n_ops, 2);
	expect_op(0, WLB_FP_ADD, WLB_FP_DST, fpk(CLIENT, CPORT, ORIGIN, 80), REPLICA1);
	expect_op(1, WLB_FP_ADD, WLB_FP_SRC, fpk(REPLICA1, 80, CLIENT, CPORT), ORIGIN);
	ck_assert(flow_of(CLIENT, ORIGIN, CPORT)->flags & CGW_FASTPATH);
	ck_assert_uint_eq(gw->c[fastpath_installed], 1);
}
END_TEST

/* The client answered the handshake, then opens another connection on the
 * same ports, the old one's end unseen: a new race, the old fast path goes.
 * (Before the client's answer a SYN is a retransmission: see
 * regression_syn_retransmit_after_replica_won_keeps_flow.) */
START_TEST(syn_after_answer_is_port_reuse)
{
	uint32_t n = bc_open(ORIGIN, CPORT, WLB_MODE_A);
	struct wlb_pkt p;
	struct wlb_tag t;
	struct tp_pk k;

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	fp_warm(ORIGIN, CPORT);
	ck_assert_uint_eq(fp->n_ops, 2);
	mk_syn(&k, CLIENT, ORIGIN, CPORT, 80);
	to_server(&k);
	p = mangled();
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.nonce, nonce_n(nonce_calls));
	ck_assert_uint_ne(t.nonce, n);
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(ORIGIN));
	ck_assert_uint_eq(gw->c[syn_port_reused], 1);
	ck_assert_uint_eq(flow_of(CLIENT, ORIGIN, CPORT)->state, CGW_PENDING);
	ck_assert_uint_eq(fp->n_ops, 4);
	expect_op(2, WLB_FP_DEL, WLB_FP_DST, fpk(CLIENT, CPORT, ORIGIN, 80), NULL);
	expect_op(3, WLB_FP_DEL, WLB_FP_SRC, fpk(REPLICA1, 80, CLIENT, CPORT), NULL);
}
END_TEST

/* A server RST takes the connection from the kernel, so that the daemon
 * sees what follows; the server's next packet refutes it, and the
 * connection, long past its short exchange, goes back at once. */
START_TEST(fp_server_rst_refuted_goes_back)
{
	uint32_t n = bc_open(ORIGIN, CPORT, WLB_MODE_A);

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	fp_warm(ORIGIN, CPORT);
	ck_assert_uint_eq(fp->n_ops, 2);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_RST | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(fp->n_ops, 4);
	expect_op(2, WLB_FP_DEL, WLB_FP_DST, fpk(CLIENT, CPORT, ORIGIN, 80), NULL);
	expect_op(3, WLB_FP_DEL, WLB_FP_SRC, fpk(REPLICA1, 80, CLIENT, CPORT), NULL);
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 100);
	ck_assert_uint_eq(fp->n_ops, 4);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 100);
	ck_assert_uint_eq(gw->c[rst_refuted], 1);
	ck_assert_uint_eq(fp->n_ops, 6);
	expect_op(4, WLB_FP_ADD, WLB_FP_DST, fpk(CLIENT, CPORT, ORIGIN, 80), REPLICA1);
	expect_op(5, WLB_FP_ADD, WLB_FP_SRC, fpk(REPLICA1, 80, CLIENT, CPORT), ORIGIN);
	ck_assert_uint_eq(gw->c[fastpath_installed], 2);
}
END_TEST

/* The origin won: addresses kept, the queue spared. */
START_TEST(fp_origin_installed_identity)
{
	bc_open(ORIGIN, CPORT, WLB_MODE_A);
	origin_wins(CLIENT, ORIGIN, CPORT);
	fp_warm(ORIGIN, CPORT);
	ck_assert_uint_eq(fp->n_ops, 2);
	expect_op(0, WLB_FP_ADD, WLB_FP_DST, fpk(CLIENT, CPORT, ORIGIN, 80), ORIGIN);
	expect_op(1, WLB_FP_ADD, WLB_FP_SRC, fpk(ORIGIN, 80, CLIENT, CPORT), ORIGIN);
}
END_TEST

START_TEST(fp_b_installed)
{
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	bc_replica_wins(BORIGIN, CPORT, REPLICA2, WLB_MODE_B, n);
	fp_warm(BORIGIN, CPORT);
	ck_assert_uint_eq(fp->n_ops, 2);
	expect_op(0, WLB_FP_ADD, WLB_FP_DST, fpk(CLIENT, CPORT, BORIGIN, 80), REPLICA2);
	expect_op(1, WLB_FP_ADD, WLB_FP_SRC, fpk(BORIGIN, 80, CLIENT, CPORT), BORIGIN);
}
END_TEST

/* C without the kernel's tunnel (tunfp.h) stays in userspace. */
START_TEST(fp_c_not_installed)
{
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	for (unsigned i = 0; i <= WLB_FP_AFTER_PACKETS; i++)
		expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 10);
	ck_assert_uint_eq(fp->n_ops, 0);
	ck_assert(!(flow_of(CLIENT, CORIGIN, CPORT)->flags & CGW_FASTPATH));
	ck_assert_uint_eq(gw->c[fastpath_installed], 0);
}
END_TEST

/* The kernel's tunnel, offline: its changes are logged. */
static struct wlb_tun *tun_on(void)
{
	struct wlb_tun *t = wlb_tun_new_offline();

	ck_assert_ptr_nonnull(t);
	gw->tun = t;
	return t;
}

/* A C connection replica1 won, its client's ACKs tunnelled until the
 * hand-over: nothing reaches the kernel's tunnel before. */
static void c_handed_over(const struct wlb_tun *t)
{
	uint32_t n = bc_open(CORIGIN, CPORT, WLB_MODE_C);

	bc_replica_wins(CORIGIN, CPORT, REPLICA1, WLB_MODE_C, n);
	for (unsigned i = 0; i <= WLB_FP_AFTER_PACKETS; i++) {
		ck_assert_uint_eq(t->n_log, 0);
		expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 10);
	}
}

/* C with the kernel's tunnel: the client's packets go into it (and past
 * the queue, their address kept), the winner's come out of it marked. */
START_TEST(fp_c_kernel_tunnel_installed)
{
	struct wlb_tun *t = tun_on();
	struct wlb_fp_key ck = fpk(CLIENT, CPORT, CORIGIN, 80),
			  sk = fpk(CORIGIN, 80, CLIENT, CPORT);
	struct tp_pk k;

	c_handed_over(t);
	ck_assert_uint_eq(t->n_log, 2);
	tp_assert_tun_change(t, 0, true, WLB_TUN_MAP_ENCAP, ck, CLIENT, REPLICA1, 0);
	tp_assert_tun_change(t, 1, true, WLB_TUN_MAP_DECAP, sk, REPLICA1, CLIENT, 0x574c);
	ck_assert_uint_eq(fp->n_ops, 1);
	expect_op(0, WLB_FP_ADD, WLB_FP_DST, ck, CORIGIN);
	ck_assert(flow_of(CLIENT, CORIGIN, CPORT)->flags & CGW_FASTPATH);
	ck_assert_uint_eq(gw->c[fastpath_installed], 1);
	/* its end takes all three away, the encapsulation entry only after
	 * the element that takes the client's packets to it */
	fp->n_ops = 0;
	mk_seg(&k, CLIENT, CORIGIN, CPORT, 80, WLB_TCP_RST, 0);
	to_server(&k);
	ck_assert_uint_eq(t->n_log, 3);
	tp_assert_tun_change(t, 2, false, WLB_TUN_MAP_DECAP, sk, NULL, NULL, 0);
	ck_assert_uint_eq(fp->n_ops, 1);
	expect_op(0, WLB_FP_DEL, WLB_FP_DST, ck, NULL);
	wlb_tun_flush(t);
	ck_assert_uint_eq(t->n_log, 4);
	tp_assert_tun_change(t, 3, false, WLB_TUN_MAP_ENCAP, ck, NULL, NULL, 0);
	wlb_tun_flush(t);
	ck_assert_uint_eq(t->n_log, 4);
	gw->tun = NULL;
	wlb_tun_close(t);
}
END_TEST

/* A RST in the server's name takes the connection from the kernel; the
 * server's next packet, refuting it, hands it back before the round's
 * flush: its encapsulation entry, whose deletion waited for the flush,
 * stays. */
START_TEST(fp_c_kernel_tunnel_back_before_flush)
{
	struct wlb_tun *t = tun_on();
	struct wlb_fp_key ck = fpk(CLIENT, CPORT, CORIGIN, 80),
			  sk = fpk(CORIGIN, 80, CLIENT, CPORT);

	c_handed_over(t);
	expect_decapsulated(REPLICA1, CORIGIN, CPORT, WLB_TCP_RST | WLB_TCP_ACK, 0);
	ck_assert_uint_eq(t->n_log, 3);
	tp_assert_tun_change(t, 2, false, WLB_TUN_MAP_DECAP, sk, NULL, NULL, 0);
	expect_decapsulated(REPLICA1, CORIGIN, CPORT, WLB_TCP_ACK, 100);
	ck_assert_uint_eq(gw->c[rst_refuted], 1);
	ck_assert_uint_eq(t->n_log, 5);
	tp_assert_tun_change(t, 3, true, WLB_TUN_MAP_ENCAP, ck, CLIENT, REPLICA1, 0);
	tp_assert_tun_change(t, 4, true, WLB_TUN_MAP_DECAP, sk, REPLICA1, CLIENT, 0x574c);
	wlb_tun_flush(t);
	ck_assert_uint_eq(t->n_log, 5);
	gw->tun = NULL;
	wlb_tun_close(t);
}
END_TEST

/* The read-back: an entry of a live connection keeps it; one idle for the
 * idle timeout ends the connection, and one the table does not know is
 * then stale.  The element that spares the queue is the tunnel's own. */
START_TEST(fp_c_kernel_tunnel_read_back)
{
	struct wlb_tun *t = tun_on();
	struct wlb_fp_key ck = fpk(CLIENT, CPORT, CORIGIN, 80),
			  sk = fpk(CORIGIN, 80, CLIENT, CPORT);
	struct wlb_fp_key other = fpk(CLIENT, CPORT + 1, CORIGIN, 80);

	c_handed_over(t);
	fp->n_ops = 0;
	clientgw_fp_seen(gw, WLB_FP_DST, &ck, tp_addr(CORIGIN), IDLE_MS, now);
	ck_assert_uint_eq(fp->n_ops, 0);
	now += IDLE_MS - 1000;
	ck_assert(!clientgw_tun_seen(gw, WLB_TUN_MAP_ENCAP, &ck, 0, 0, 100, now));
	ck_assert(!clientgw_tun_seen(gw, WLB_TUN_MAP_DECAP, &sk, 0, 0, 100, now));
	now += 6000; /* past the element's deadline, alive by the tunnel's read-back */
	ck_assert_ptr_nonnull(flow_of(CLIENT, CORIGIN, CPORT));
	ck_assert(!clientgw_tun_seen(gw, WLB_TUN_MAP_ENCAP, &ck, 0, 0, IDLE_MS, now));
	ck_assert_ptr_null(flow_of(CLIENT, CORIGIN, CPORT));
	wlb_tun_flush(t);
	ck_assert_uint_eq(t->n_log, 4);
	ck_assert(!t->log[2].add && !t->log[3].add);
	/* idle and unknown: stale */
	ck_assert(clientgw_tun_seen(gw, WLB_TUN_MAP_ENCAP, &other, tp_addr(CLIENT),
				    tp_addr(REPLICA2), IDLE_MS, now));
	ck_assert_ptr_null(flow_of(CLIENT, CORIGIN, CPORT + 1));
	gw->tun = NULL;
	wlb_tun_close(t);
}
END_TEST

/* After a restart the tunnel's maps, taken over, bring their connections
 * back: either entry names the winner (the outer destination of the
 * client's packets, the outer source of the winner's). */
START_TEST(fp_c_kernel_tunnel_restored)
{
	struct wlb_tun *t = tun_on();
	struct wlb_fp_key ck = fpk(CLIENT, CPORT, CORIGIN, 80),
			  sk = fpk(CORIGIN, 80, CLIENT, CPORT + 1);
	struct wlb_flow *f;
	struct tp_pk k;

	ck_assert(!clientgw_tun_seen(gw, WLB_TUN_MAP_ENCAP, &ck, tp_addr(CLIENT), tp_addr(REPLICA1),
				     0, now));
	ck_assert(!clientgw_tun_seen(gw, WLB_TUN_MAP_DECAP, &sk, tp_addr(REPLICA2), tp_addr(CLIENT),
				     0, now));
	ck_assert_uint_eq(gw->c[fastpath_restored], 2);
	f = flow_of(CLIENT, CORIGIN, CPORT);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->state, CGW_REPLICA);
	ck_assert_uint_eq(f->peer.v4, tp_addr(REPLICA1));
	ck_assert_uint_eq((f->flags & CGW_MODE_MASK) >> CGW_MODE_SHIFT, WLB_MODE_C);
	ck_assert(f->flags & CGW_FASTPATH);
	ck_assert_uint_eq(flow_of(CLIENT, CORIGIN, CPORT + 1)->peer.v4, tp_addr(REPLICA2));
	/* its identity element is the tunnel's own: kept */
	clientgw_fp_seen(gw, WLB_FP_DST, &ck, tp_addr(CORIGIN), IDLE_MS, now);
	ck_assert_uint_eq(fp->n_ops, 0);
	/* and its packets are the daemon's again: a FIN goes tunnelled */
	expect_tunnelled_to(CORIGIN, CPORT, REPLICA1, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	mk_seg(&k, CLIENT, CORIGIN, CPORT, 80, WLB_TCP_RST, 0);
	to_server(&k);
	wlb_tun_flush(t);
	ck_assert_uint_eq(t->n_log, 2);
	tp_assert_tun_change(t, 1, false, WLB_TUN_MAP_ENCAP, ck, NULL, NULL, 0);
	gw->tun = NULL;
	wlb_tun_close(t);
}
END_TEST

/* A RST ends it: both elements go, once, and the rest is ours again. */
START_TEST(fp_rst_removes)
{
	struct tp_pk k;
	uint32_t n = bc_open(ORIGIN, CPORT, WLB_MODE_A);

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	fp_warm(ORIGIN, CPORT);
	fp->n_ops = 0;
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_RST, 0);
	to_server(&k);
	ck_assert_uint_eq(fp->n_ops, 2);
	expect_op(0, WLB_FP_DEL, WLB_FP_DST, fpk(CLIENT, CPORT, ORIGIN, 80), NULL);
	expect_op(1, WLB_FP_DEL, WLB_FP_SRC, fpk(REPLICA1, 80, CLIENT, CPORT), NULL);
	mk_seg(&k, REPLICA1, CLIENT, 80, CPORT, WLB_TCP_RST, 0);
	from_server(&k);
	ck_assert_uint_eq(fp->n_ops, 2);
	ck_assert_uint_eq(gw->c[fastpath_removed], 1);
}
END_TEST

/* wlbctl flush: the flow and its elements go. */
START_TEST(fp_forget_removes)
{
	uint32_t n = bc_open(ORIGIN, CPORT, WLB_MODE_A);

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	fp_warm(ORIGIN, CPORT);
	fp->n_ops = 0;
	clientgw_forget(gw, flow_of(CLIENT, ORIGIN, CPORT));
	ck_assert_uint_eq(fp->n_ops, 2);
	expect_op(0, WLB_FP_DEL, WLB_FP_DST, fpk(CLIENT, CPORT, ORIGIN, 80), NULL);
	ck_assert_ptr_null(flow_of(CLIENT, ORIGIN, CPORT));
}
END_TEST

/* FIN both ways: removed at the second FIN, not the first. */
START_TEST(fp_fins_remove)
{
	struct tp_pk k;
	uint32_t n = bc_open(BORIGIN, CPORT, WLB_MODE_B);

	bc_replica_wins(BORIGIN, CPORT, REPLICA1, WLB_MODE_B, n);
	fp_warm(BORIGIN, CPORT);
	fp->n_ops = 0;
	mk_seg(&k, CLIENT, BORIGIN, CPORT, 80, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	to_server(&k);
	ck_assert_uint_eq(fp->n_ops, 0);
	mk_seg(&k, BORIGIN, CLIENT, 80, CPORT, WLB_TCP_FIN | WLB_TCP_ACK, 0);
	from_server(&k);
	ck_assert_uint_eq(fp->n_ops, 2);
	expect_op(0, WLB_FP_DEL, WLB_FP_DST, fpk(CLIENT, CPORT, BORIGIN, 80), NULL);
	expect_op(1, WLB_FP_DEL, WLB_FP_SRC, fpk(BORIGIN, 80, CLIENT, CPORT), NULL);
}
END_TEST

/* After a restart the maps tell which connections exist: an A one (both
 * elements), a B one, an origin-served one; they are carried on. */
START_TEST(fp_restore_from_maps)
{
	struct wlb_fp_key a = fpk(CLIENT, CPORT, ORIGIN, 80);
	struct wlb_fp_key as = fpk(REPLICA1, 80, CLIENT, CPORT);
	struct wlb_fp_key b = fpk(CLIENT, CPORT + 1, BORIGIN, 80);
	struct wlb_fp_key d = fpk(CLIENT, CPORT + 2, ORIGIN, 80);
	struct wlb_flow *f;
	struct tp_pk k;

	clientgw_fp_seen(gw, WLB_FP_DST, &a, tp_addr(REPLICA1), 5000, now);
	clientgw_fp_seen(gw, WLB_FP_DST, &b, tp_addr(REPLICA2), 5000, now);
	clientgw_fp_seen(gw, WLB_FP_DST, &d, tp_addr(ORIGIN), 5000, now);
	clientgw_fp_seen(gw, WLB_FP_SRC, &as, tp_addr(ORIGIN), 5000, now);
	ck_assert_uint_eq(gw->c[fastpath_restored], 3);
	f = flow_of(CLIENT, ORIGIN, CPORT);
	ck_assert_uint_eq(f->state, CGW_REPLICA);
	ck_assert_uint_eq(f->peer.v4, tp_addr(REPLICA1));
	ck_assert_uint_eq((f->flags & CGW_MODE_MASK) >> CGW_MODE_SHIFT, WLB_MODE_A);
	f = flow_of(CLIENT, BORIGIN, CPORT + 1);
	ck_assert_uint_eq(f->state, CGW_REPLICA);
	ck_assert_uint_eq((f->flags & CGW_MODE_MASK) >> CGW_MODE_SHIFT, WLB_MODE_B);
	ck_assert_uint_eq(flow_of(CLIENT, ORIGIN, CPORT + 2)->state, CGW_DIRECT);
	/* a packet the kernel missed (a race) is translated here as before */
	expect_to_replica(CLIENT, ORIGIN, CPORT, REPLICA1, WLB_TCP_ACK, 0);
	expect_from_replica(REPLICA1, CLIENT, ORIGIN, CPORT, WLB_TCP_ACK, 100);
	/* and its end removes the elements it found */
	mk_seg(&k, CLIENT, ORIGIN, CPORT, 80, WLB_TCP_RST, 0);
	to_server(&k);
	expect_op(0, WLB_FP_DEL, WLB_FP_DST, a, NULL);
	expect_op(1, WLB_FP_DEL, WLB_FP_SRC, as, NULL);
}
END_TEST

/* An element left by an earlier connection on the same ports (its end
 * unseen) would send the new one's packets to the old winner: deleted
 * when read back. */
START_TEST(fp_stale_element_deleted)
{
	struct wlb_fp_key a = fpk(CLIENT, CPORT, ORIGIN, 80);

	bc_open(ORIGIN, CPORT, WLB_MODE_A);
	clientgw_fp_seen(gw, WLB_FP_DST, &a, tp_addr(REPLICA2), 5000, now);
	ck_assert_uint_eq(fp->n_ops, 1);
	expect_op(0, WLB_FP_DEL, WLB_FP_DST, a, NULL);
	ck_assert_uint_eq(gw->c[fastpath_restored], 0);
	ck_assert_uint_eq(flow_of(CLIENT, ORIGIN, CPORT)->state, CGW_PENDING);
}
END_TEST

/* The kernel sees the traffic: its timeouts keep our entry alive. */
START_TEST(fp_seen_keeps_flow_alive)
{
	struct wlb_fp_key a = fpk(CLIENT, CPORT, ORIGIN, 80);
	uint32_t n = bc_open(ORIGIN, CPORT, WLB_MODE_A);

	replica_wins(CLIENT, ORIGIN, CPORT, REPLICA1, n);
	fp_warm(ORIGIN, CPORT);
	for (unsigned i = 0; i < 4; i++) {
		now += IDLE_MS / 2;
		clientgw_fp_seen(gw, WLB_FP_DST, &a, tp_addr(REPLICA1), IDLE_MS - 10, now);
	}
	ck_assert_ptr_nonnull(flow_of(CLIENT, ORIGIN, CPORT));
	ck_assert_uint_eq(gw->c[fastpath_restored], 0);
	/* traffic the daemon never sees may refresh the element after the
	 * read-back: the flow waits for the next read-back to tell */
	now += IDLE_MS - 10 + wlb_fp_sync_ms(IDLE_MS);
	ck_assert_ptr_nonnull(flow_of(CLIENT, ORIGIN, CPORT));
	/* the kernel's element gone, and no read-back found it: ours follows */
	now += 2000;
	ck_assert_ptr_null(flow_of(CLIENT, ORIGIN, CPORT));
}
END_TEST

static Suite *clientgw_suite(void)
{
	Suite *s = suite_create("clientgw");
	TCase *tc;

	tc = tcase_create("syn");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, syn_to_web_port_tagged);
	tcase_add_test(tc, syn_with_payload_and_padding_tagged);
	tcase_add_test(tc, syn_mode_from_service_or_default);
	tcase_add_test(tc, syn_not_web_untouched);
	tcase_add_test(tc, syn_retransmit_same_nonce);
	tcase_add_test(tc, syn_default_nonce_source);
	tcase_add_test(tc, syn_noroom_untouched);
	tcase_add_test(tc, syn_exactly_fits);
	tcase_add_test(tc, syn_eol_padding_reused);
	tcase_add_test(tc, syn_pretagged_untouched);
	tcase_add_test(tc, syn_other_kind253_experiment_still_tagged);
	tcase_add_test(tc, syn_reuses_port_after_close);
	suite_add_tcase(s, tc);

	tc = tcase_create("synack");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, synack_origin_wins_direct);
	tcase_add_test(tc, synack_origin_with_tag_stripped);
	tcase_add_test(tc, synack_replica_wins);
	tcase_add_test(tc, synack_replica_wins_odd_offset);
	tcase_add_test(tc, synack_spoofed_dropped);
	tcase_add_test(tc, synack_spoofed_then_origin);
	tcase_add_test(tc, synack_late_origin_reset);
	tcase_add_test(tc, synack_late_replica_after_origin_reset);
	tcase_add_test(tc, synack_late_other_replica_reset);
	tcase_add_test(tc, synack_late_no_emit_slot);
	tcase_add_test(tc, synack_winner_retransmit);
	tcase_add_test(tc, synack_unknown_passed);
	suite_add_tcase(s, tc);

	tc = tcase_create("translate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, translate_both_ways);
	tcase_add_test(tc, translate_masqueraded_client);
	tcase_add_test(tc, origin_packet_of_replica_flow_not_translated);
	tcase_add_test(tc, unmatched_packets_pass);
	tcase_add_test(tc, two_origins_same_client_port);
	tcase_add_test(tc, two_origins_echo_picks_its_flow);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fin_both_ways_then_linger);
	tcase_add_test(tc, fin_server_first_then_client);
	tcase_add_test(tc, one_fin_keeps_flow);
	tcase_add_test(tc, rst_closes);
	tcase_add_test(tc, server_rst_refuted_by_server);
	tcase_add_test(tc, server_rst_refuted_by_client);
	tcase_add_test(tc, server_rst_unrefuted_ends);
	tcase_add_test(tc, rst_after_fins_or_from_client_is_final);
	tcase_add_test(tc, idle_timeout);
	tcase_add_test(tc, idle_timeout_tick_reclaims);
	tcase_add_test(tc, half_open_timeout);
	tcase_add_test(tc, clock_wraps_32_bits);
	tcase_add_test(tc, reconfigure_keeps_flows);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, malformed_untouched, 0, N_BAD);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_checked_fixture(tc, setup_small, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fuzz_both_hooks);
	suite_add_tcase(s, tc);

	tc = tcase_create("dump");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, dump_counters_and_flows);
	suite_add_tcase(s, tc);

	tc = tcase_create("regressions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, regression_redirect_bit_follows_replicable);
	tcase_add_test(tc, regression_syn_retransmit_after_replica_won_keeps_flow);
	tcase_add_test(tc, regression_syn_retransmit_after_origin_won_keeps_flow);
	suite_add_tcase(s, tc);

	tc = tcase_create("config_b");
	tcase_add_checked_fixture(tc, setup_bc, teardown);
	tcase_add_test(tc, b_syn_tagged_mode_b);
	tcase_add_test(tc, b_tunnelled_synack_wins);
	tcase_add_test(tc, b_client_packets_to_replica);
	tcase_add_test(tc, b_replica_packets_untouched);
	tcase_add_test(tc, b_late_tunnelled_synack_reset);
	tcase_add_test(tc, b_late_synack_no_emit_slot);
	tcase_add_test(tc, b_winner_retransmits_synack);
	tcase_add_test(tc, b_plain_echo_refused);
	tcase_add_test(tc, b_tunnelled_synack_refused);
	tcase_add_test(tc, b_origin_wins);
	tcase_add_test(tc, b_tunnelled_synack_in_a_flow_refused);
	tcase_add_test(tc, b_fin_both_ways_then_linger);
	suite_add_tcase(s, tc);

	tc = tcase_create("config_c");
	tcase_add_checked_fixture(tc, setup_bc, teardown);
	tcase_add_test(tc, c_syn_mss_clamped);
	tcase_add_test(tc, c_syn_mss_follows_tunnel_mtu);
	tcase_add_test(tc, c_tunnelled_synack_wins_mss_clamped);
	tcase_add_test(tc, c_origin_wins_not_clamped);
	tcase_add_test(tc, c_client_packets_tunnelled);
	tcase_add_test(tc, c_syn_after_winner_tunnelled);
	tcase_add_test(tc, c_replica_packets_decapsulated);
	tcase_add_test(tc, c_tunnel_rejected);
	tcase_add_test(tc, c_foreign_tunnels_pass);
	tcase_add_test(tc, c_too_big_to_tunnel);
	tcase_add_test(tc, c_fin_both_ways_then_linger);
	tcase_add_test(tc, c_rst_from_replica_closes);
	tcase_add_test(tc, c_idle_timeout);
	tcase_add_test(tc, bc_dump_counters_and_flows);
	suite_add_tcase(s, tc);

	tc = tcase_create("fastpath");
	tcase_add_checked_fixture(tc, setup_fp, teardown_fp);
	tcase_add_test(tc, fp_short_connection_stays);
	tcase_add_test(tc, fp_a_replica_installed);
	tcase_add_test(tc, fp_server_rst_refuted_goes_back);
	tcase_add_test(tc, syn_after_answer_is_port_reuse);
	tcase_add_test(tc, fp_origin_installed_identity);
	tcase_add_test(tc, fp_b_installed);
	tcase_add_test(tc, fp_c_not_installed);
	tcase_add_test(tc, fp_c_kernel_tunnel_installed);
	tcase_add_test(tc, fp_c_kernel_tunnel_back_before_flush);
	tcase_add_test(tc, fp_c_kernel_tunnel_read_back);
	tcase_add_test(tc, fp_c_kernel_tunnel_restored);
	tcase_add_test(tc, fp_rst_removes);
	tcase_add_test(tc, fp_fins_remove);
	tcase_add_test(tc, fp_forget_removes);
	tcase_add_test(tc, fp_restore_from_maps);
	tcase_add_test(tc, fp_seen_keeps_flow_alive);
	tcase_add_test(tc, fp_stale_element_deleted);
	suite_add_tcase(s, tc);

	tc = tcase_create("mixed");
	tcase_add_checked_fixture(tc, setup_bc, teardown);
	tcase_add_test(tc, mixed_a_and_c_same_client_port);
	tcase_add_test(tc, mixed_a_origin_c_replica);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tp_run_suite(clientgw_suite());
}
