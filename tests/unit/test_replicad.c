// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the wlb-replicad policy (configuration A): encapsulated
 * tagged SYNs from a redirector are cracked and delivered to the local
 * service address at prerouting, the local server's SYN-ACK gets the echo of
 * the SYN's nonce at local output; every other outcome is a counted drop or
 * pass.  Every packet the policy mangles is parsed again and its checksums
 * verified.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>

#include "conf.h"
#include "daemon.h"
#include "replicad.h"
#include "tag.h"
#include "testpkt.h"

#define CLIENT "192.0.2.2"
#define CLIENT2 "198.51.100.1"
#define ORIGIN "203.0.113.10"
#define SERVICE "198.51.100.18"
#define OTHER_LOCAL "198.51.100.19"
#define REDIRECTOR "198.51.100.6"
#define STRANGER "198.51.100.9"
#define CPORT 40000
#define NONCE 0xabcd1234u
#define FLOW_TIMEOUT_MS 5000u
#define T0 500000u

#define REPLICAD_CONF(state, max_est, max_load)    \
	"replicad: {\n"                            \
	"  queue = 2;\n"                           \
	"  service_address = \"198.51.100.18\";\n" \
	"  redirectors = [ \"198.51.100.6\" ];\n"  \
	"  state = \"" state "\";\n"               \
	"  max_established = " max_est ";\n"       \
	"  max_load1 = " max_load ";\n"            \
	"  flows = 64;\n"                          \
	"  flow_timeout = 5.0;\n"                  \
	"};\n"

static const char conf_active[] = REPLICAD_CONF("active", "0", "0.0");
static const char conf_draining[] = REPLICAD_CONF("draining", "0", "0.0");
static const char conf_disabled[] = REPLICAD_CONF("disabled", "0", "0.0");
static const char conf_limits[] = REPLICAD_CONF("active", "100", "2.0");

static struct wlb_conf *conf;
static struct replicad *rp;
static struct wlb_action *act;
static uint64_t now;
static struct tp_pk outbuf;
static uint8_t payload[TP_PKT_CAP];

/* ------------------------------------------------------------ fixtures */

static void start(const char *text)
{
	char err[256] = "";

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 5 + 11);
	conf = tp_conf(text, WLB_NEED_REPLICAD);
	rp = replicad_new(conf, err, sizeof(err));
	ck_assert_msg(rp != NULL, "replicad_new: %s", err);
	act = wlb_action_new();
	ck_assert_ptr_nonnull(act);
	now = T0;
}

static void setup(void)
{
	start(conf_active);
}

static void setup_limits(void)
{
	start(conf_limits);
}

static void teardown(void)
{
	wlb_action_free(act);
	replicad_free(rp);
	wlb_conf_free(conf);
}

/* ------------------------------------------------------------- packets */

/* The SYN as the client gateway tagged it, before encapsulation. */
struct inner {
	const char *client;
	uint16_t cport;
	uint8_t flags; /* default SYN */
	bool untagged;
	uint8_t tag_flags; /* default redirect | A */
	bool tag_flags_set;
	uint8_t tag_version;
	uint32_t nonce; /* host order; default NONCE */
	bool ipopts;
	size_t paylen;
};

static size_t mk_inner(uint8_t *b, size_t cap, const struct inner *in)
{
	static const uint8_t ipopts[4] = {1, 1, 1, 0};
	uint8_t o[TP_TAGGED_SYN_OPTLEN];
	struct tp_opts t = {.src = in->client ? in->client : CLIENT,
			    .dst = ORIGIN,
			    .sport = in->cport ? in->cport : CPORT,
			    .dport = 80,
			    .flags = in->flags ? in->flags : WLB_TCP_SYN,
			    .seq = 1000,
			    .ack = (in->flags & WLB_TCP_ACK) ? 9999 : 0,
			    .opts = tp_linux_syn_opts,
			    .optlen = 20,
			    .payload = payload,
			    .paylen = in->paylen,
			    .ipopts = in->ipopts ? ipopts : NULL,
			    .ipoptlen = in->ipopts ? 4 : 0,
			    .df = true};

	if (!in->untagged) {
		t.opts = o;
		t.optlen =
			tp_tagged_syn_opts(o, in->tag_flags_set ? in->tag_flags : WLB_TAG_REDIRECT,
					   htonl(in->nonce ? in->nonce : NONCE),
					   in->tag_version ? in->tag_version : WLB_TAG_VERSION);
	}
	return tp_build(b, cap, &t);
}

/* Encapsulate as wlb-redirector does: src -> SERVICE, protocol 4. */
static void encap(struct tp_pk *k, const uint8_t *inner, size_t len, const char *src)
{
	uint8_t tmp[TP_PKT_CAP];
	struct wlb_pkt p;

	memcpy(tmp, inner, len);
	/* a view of the inner bytes; the encapsulation needs only len and data */
	memset(&p, 0, sizeof(p));
	p.data = tmp;
	p.len = len;
	p.cap = sizeof(tmp);
	k->len = wlb_ipip_encap(&p, k->b, sizeof(k->b), tp_addr(src), tp_addr(SERVICE), 64);
	ck_assert_uint_eq(k->len, len + 20);
}

static void mk_copy(struct tp_pk *k, const struct inner *in, const char *src)
{
	uint8_t b[TP_PKT_CAP];
	size_t len = mk_inner(b, sizeof(b), in);

	encap(k, b, len, src);
}

/* The default: a tagged SYN copied by the configured redirector. */
static void mk_default_copy(struct tp_pk *k)
{
	struct inner in = {0};

	mk_copy(k, &in, REDIRECTOR);
}

/* The local server's SYN-ACK, Linux-like options. */
static void mk_synack(struct tp_pk *k, const char *src, const char *client, uint16_t cport,
		      unsigned optlen)
{
	static const uint8_t o[32] = {2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1,
				      1, 3, 3, 7,    1, 1, 1, 1,  1, 1, 1, 1, 1, 1, 1, 1};
	struct tp_opts t = {.src = src,
			    .dst = client,
			    .sport = 80,
			    .dport = cport,
			    .flags = WLB_TCP_SYN | WLB_TCP_ACK,
			    .seq = 777777,
			    .ack = 1001,
			    .opts = o,
			    .optlen = optlen,
			    .df = true};

	k->len = tp_build(k->b, sizeof(k->b), &t);
}

static void decide(unsigned hook, struct tp_pk *k)
{
	wlb_action_reset(act);
	replicad_decide(rp, hook, k->b, (uint32_t)k->len, now, act);
}

static uint64_t total(void)
{
	return tp_counters_sum(rp->c, replicad_NCOUNTERS);
}

static uint32_t pending(void)
{
	struct wlb_flow_stats st;

	wlb_flow_stats(rp->flows, &st);
	return st.count;
}

static void pass_unchanged(unsigned hook, struct tp_pk *k)
{
	struct tp_pk before = *k;

	decide(hook, k);
	tp_assert_accepted_unchanged(act, &before, k, 0);
}

static void dropped(struct tp_pk *k)
{
	decide(NF_INET_PRE_ROUTING, k);
	ck_assert_int_eq(act->verdict, WLB_DROP);
	ck_assert_uint_eq(act->n_emit, 0);
}

/* The mangled packet, copied out, parsed, checksums verified; no emits. */
static struct wlb_pkt mangled(void)
{
	struct wlb_pkt p = tp_assert_mangled(act, &outbuf);

	ck_assert_uint_eq(act->n_emit, 0);
	return p;
}

/* Deliver a copy: the inner SYN comes out addressed to the service. */
static void delivered(struct tp_pk *k, const char *client, uint16_t cport)
{
	struct wlb_pkt p;

	decide(NF_INET_PRE_ROUTING, k);
	p = mangled();
	ck_assert(wlb_tcp_is_syn(&p));
	ck_assert_uint_eq(wlb_ip_saddr(&p), tp_addr(client));
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(SERVICE));
	ck_assert_uint_eq(ntohs(wlb_tcp_sport(&p)), cport);
	ck_assert_uint_eq(ntohs(wlb_tcp_dport(&p)), 80);
	ck_assert_uint_eq(p.len, k->len - 20);
}

/* The SYN-ACK comes out with the echo of nonce (host order). */
static void echoed(struct tp_pk *k, uint32_t nonce)
{
	struct tp_pk before = *k;
	struct wlb_pkt p, q;
	struct wlb_tag t;
	unsigned off, olen;

	decide(NF_INET_LOCAL_OUT, k);
	p = mangled();
	q = tp_parse(before.b, before.len, sizeof(before.b));
	ck_assert_uint_eq(p.len, before.len + WLB_TAG_SPACE);
	ck_assert(wlb_tcp_is_synack(&p));
	ck_assert_uint_eq(wlb_ip_saddr(&p), wlb_ip_saddr(&q));
	ck_assert_uint_eq(wlb_ip_daddr(&p), wlb_ip_daddr(&q));
	ck_assert_uint_eq(wlb_tcp_sport(&p), wlb_tcp_sport(&q));
	ck_assert_uint_eq(wlb_tcp_dport(&p), wlb_tcp_dport(&q));
	ck_assert_uint_eq(wlb_tcp_seq(&p), wlb_tcp_seq(&q));
	ck_assert_uint_eq(wlb_tcp_ack(&p), wlb_tcp_ack(&q));
	ck_assert_int_eq(wlb_tag_find(&p, &t), 1);
	ck_assert_uint_eq(t.flags, WLB_TAG_ECHO | WLB_TAG_REDIRECT);
	ck_assert(t.flags & WLB_TAG_ECHO);
	ck_assert(t.flags & WLB_TAG_REDIRECT);
	ck_assert_int_eq(wlb_tag_mode(&t), WLB_MODE_A);
	ck_assert_uint_eq(t.nonce, htonl(nonce));
	/* the server's own options stay where they were */
	ck_assert_int_eq(memcmp(p.data + 40, q.data + 40, q.thl - 20), 0);
	if (q.thl > 20)
		ck_assert_int_eq(wlb_tcp_opt_find(&p, WLB_TCPOPT_MSS, &off, &olen), 1);
	/* the kernel's buffer is not grown in place: the copy is in scratch */
	ck_assert(act->out >= act->scratch && act->out < act->scratch + WLB_SCRATCH_SIZE);
}

/* =================================================== the redirected SYN */

START_TEST(syn_delivered_to_service)
{
	struct tp_pk k;
	uint8_t inner[TP_PKT_CAP];
	struct inner in = {0};
	size_t ilen = mk_inner(inner, sizeof(inner), &in);

	encap(&k, inner, ilen, REDIRECTOR);
	delivered(&k, CLIENT, CPORT);
	/* edited in place: the inner packet right after the outer header */
	ck_assert_ptr_eq(act->out, k.b + 20);
	/* all but the destination (and the checksums) as the client sent it */
	ck_assert_int_eq(memcmp(outbuf.b, inner, 10), 0);
	ck_assert_int_eq(memcmp(outbuf.b + 12, inner + 12, 4), 0);
	ck_assert_int_eq(memcmp(outbuf.b + 20, inner + 20, 16), 0);
	ck_assert_int_eq(memcmp(outbuf.b + 38, inner + 38, ilen - 38), 0);
	ck_assert_uint_eq(rp->c[syn_delivered], 1);
	ck_assert_uint_eq(total(), 1);
	ck_assert_uint_eq(pending(), 1);
}
END_TEST

START_TEST(syn_with_data_and_padding_delivered)
{
	struct tp_pk k;
	struct wlb_pkt p;
	struct inner in = {.paylen = 500};

	mk_copy(&k, &in, REDIRECTOR);
	memset(k.b + k.len, 0, 6);
	k.len += 6;
	decide(NF_INET_PRE_ROUTING, &k);
	p = mangled();
	ck_assert_uint_eq(wlb_ip_daddr(&p), tp_addr(SERVICE));
	ck_assert_uint_eq(wlb_tcp_payload_len(&p), 500);
	ck_assert_mem_eq(p.data + p.ihl + p.thl, payload, 500);
	ck_assert_uint_eq(rp->c[syn_delivered], 1);
}
END_TEST

START_TEST(synack_gets_echo)
{
	struct tp_pk k;

	mk_default_copy(&k);
	delivered(&k, CLIENT, CPORT);
	now += 3;
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	echoed(&k, NONCE);
	ck_assert_uint_eq(rp->c[synack_echoed], 1);
	/* the server retransmits its SYN-ACK: the echo again */
	now += 1000;
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	echoed(&k, NONCE);
	now += 2000;
	mk_synack(&k, SERVICE, CLIENT, CPORT, 0);
	echoed(&k, NONCE);
	ck_assert_uint_eq(rp->c[synack_echoed], 3);
	ck_assert_uint_eq(pending(), 1);
}
END_TEST

START_TEST(synack_after_timeout_passes)
{
	struct tp_pk k;

	mk_default_copy(&k);
	delivered(&k, CLIENT, CPORT);
	now += FLOW_TIMEOUT_MS - 1;
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	echoed(&k, NONCE);
	now += 1;
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	pass_unchanged(NF_INET_LOCAL_OUT, &k);
	ck_assert_uint_eq(rp->c[other_passed], 1);
	ck_assert_uint_eq(pending(), 0);
}
END_TEST

START_TEST(synack_unrelated_passes)
{
	struct tp_pk k;

	mk_default_copy(&k);
	delivered(&k, CLIENT, CPORT);
	/* another client port */
	mk_synack(&k, SERVICE, CLIENT, CPORT + 1, 20);
	pass_unchanged(NF_INET_LOCAL_OUT, &k);
	/* another client */
	mk_synack(&k, SERVICE, CLIENT2, CPORT, 20);
	pass_unchanged(NF_INET_LOCAL_OUT, &k);
	/* another local address */
	mk_synack(&k, OTHER_LOCAL, CLIENT, CPORT, 20);
	pass_unchanged(NF_INET_LOCAL_OUT, &k);
	/* not a SYN-ACK: the server's data and ACKs of that connection */
	{
		struct tp_opts t = {.src = SERVICE,
				    .dst = CLIENT,
				    .sport = 80,
				    .dport = CPORT,
				    .flags = WLB_TCP_ACK | WLB_TCP_PSH,
				    .payload = payload,
				    .paylen = 100};

		k.len = tp_build(k.b, sizeof(k.b), &t);
		pass_unchanged(NF_INET_LOCAL_OUT, &k);
		t.flags = WLB_TCP_SYN | WLB_TCP_ACK | WLB_TCP_RST;
		t.paylen = 0;
		k.len = tp_build(k.b, sizeof(k.b), &t);
		pass_unchanged(NF_INET_LOCAL_OUT, &k);
	}
	ck_assert_uint_eq(rp->c[other_passed], 5);
	ck_assert_uint_eq(rp->c[synack_echoed], 0);
	/* the genuine one still gets its echo */
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	echoed(&k, NONCE);
}
END_TEST

START_TEST(synack_noroom_passes)
{
	struct tp_pk k;

	mk_default_copy(&k);
	delivered(&k, CLIENT, CPORT);
	mk_synack(&k, SERVICE, CLIENT, CPORT, 32);
	pass_unchanged(NF_INET_LOCAL_OUT, &k);
	ck_assert_uint_eq(rp->c[synack_noroom], 1);
	ck_assert_uint_eq(rp->c[synack_echoed], 0);
}
END_TEST

START_TEST(two_clients_two_nonces)
{
	struct tp_pk k;
	struct inner a = {.nonce = 0x11111111}, b = {.client = CLIENT2, .nonce = 0x22222222},
		     c = {.cport = CPORT + 1, .nonce = 0x33333333};

	mk_copy(&k, &a, REDIRECTOR);
	delivered(&k, CLIENT, CPORT);
	mk_copy(&k, &b, REDIRECTOR);
	delivered(&k, CLIENT2, CPORT);
	mk_copy(&k, &c, REDIRECTOR);
	delivered(&k, CLIENT, CPORT + 1);
	ck_assert_uint_eq(pending(), 3);
	mk_synack(&k, SERVICE, CLIENT2, CPORT, 20);
	echoed(&k, 0x22222222);
	mk_synack(&k, SERVICE, CLIENT, CPORT + 1, 20);
	echoed(&k, 0x33333333);
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	echoed(&k, 0x11111111);
}
END_TEST

START_TEST(syn_copy_retransmitted)
{
	struct tp_pk k;
	struct inner in = {.nonce = 0x44444444};

	mk_copy(&k, &in, REDIRECTOR);
	delivered(&k, CLIENT, CPORT);
	now += 1000;
	mk_copy(&k, &in, REDIRECTOR);
	delivered(&k, CLIENT, CPORT);
	ck_assert_uint_eq(pending(), 1);
	ck_assert_uint_eq(rp->c[syn_delivered], 2);
	/* the port reused with a new nonce: the newest one is echoed */
	in.nonce = 0x55555555;
	mk_copy(&k, &in, REDIRECTOR);
	delivered(&k, CLIENT, CPORT);
	ck_assert_uint_eq(pending(), 1);
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	echoed(&k, 0x55555555);
}
END_TEST

/* ================================================================ drops */

struct drop_case {
	const char *what;
	struct inner in;
	const char *src; /* outer source, default the redirector */
	void (*mutate)(struct tp_pk *k);
	enum replicad_counter counter;
};

static void fix_outer_csum(struct tp_pk *k)
{
	uint16_t c;

	k->b[10] = k->b[11] = 0;
	c = wlb_csum_fold(wlb_csum_add(0, k->b, 20));
	memcpy(k->b + 10, &c, 2);
}

static void m_inner_truncated(struct tp_pk *k)
{
	/* the outer datagram ends 30 bytes into the inner one */
	k->len = 50;
	k->b[2] = 0;
	k->b[3] = 50;
	fix_outer_csum(k);
}

static void m_inner_short(struct tp_pk *k)
{
	/* fewer bytes than an IP header inside */
	k->len = 30;
	k->b[2] = 0;
	k->b[3] = 30;
	fix_outer_csum(k);
}

static void m_inner_udp(struct tp_pk *k)
{
	k->b[20 + 9] = 17;
}

static void m_inner_frag(struct tp_pk *k)
{
	k->b[20 + 6] |= 0x20;
}

static void m_inner_v6(struct tp_pk *k)
{
	k->b[20] = 0x65;
}

static void m_inner_doff(struct tp_pk *k)
{
	k->b[40 + 12] = 0x30;
}

static void m_inner_badopt(struct tp_pk *k)
{
	k->b[60 + 1] = 0; /* the MSS option's length */
}

static void m_outer_frag(struct tp_pk *k)
{
	k->b[6] |= 0x20;
	fix_outer_csum(k);
}

static void m_outer_later_frag(struct tp_pk *k)
{
	k->b[7] = 0x10;
	fix_outer_csum(k);
}

static const struct drop_case drop_cases[] = {
	{"outer source not a redirector", {0}, STRANGER, NULL, drop_not_redirector},
	{"outer source is the service itself", {0}, SERVICE, NULL, drop_not_redirector},
	{"stranger and a malformed inner",
	 {.flags = WLB_TCP_ACK},
	 STRANGER,
	 NULL,
	 drop_not_redirector},
	{"inner ACK", {.flags = WLB_TCP_ACK}, NULL, NULL, drop_malformed},
	{"inner SYN-ACK", {.flags = WLB_TCP_SYN | WLB_TCP_ACK}, NULL, NULL, drop_malformed},
	{"inner SYN+RST", {.flags = WLB_TCP_SYN | WLB_TCP_RST}, NULL, NULL, drop_malformed},
	{"inner not tagged", {.untagged = true}, NULL, NULL, drop_malformed},
	{"tag without redirect",
	 {.tag_flags_set = true, .tag_flags = 0},
	 NULL,
	 NULL,
	 drop_malformed},
	{"tag with echo",
	 {.tag_flags_set = true, .tag_flags = WLB_TAG_REDIRECT | WLB_TAG_ECHO},
	 NULL,
	 NULL,
	 drop_malformed},
	{"tag version 2", {.tag_version = 2}, NULL, NULL, drop_malformed},
	{"inner with IP options", {.ipopts = true}, NULL, NULL, drop_malformed},
	{"inner truncated", {0}, NULL, m_inner_truncated, drop_malformed},
	{"inner shorter than a header", {0}, NULL, m_inner_short, drop_malformed},
	{"inner UDP", {0}, NULL, m_inner_udp, drop_malformed},
	{"inner fragment", {0}, NULL, m_inner_frag, drop_malformed},
	{"inner IPv6", {0}, NULL, m_inner_v6, drop_malformed},
	{"inner data offset 3", {0}, NULL, m_inner_doff, drop_malformed},
	{"inner bad option list", {0}, NULL, m_inner_badopt, drop_malformed},
	{"outer first fragment", {0}, NULL, m_outer_frag, drop_malformed},
	{"outer later fragment", {0}, NULL, m_outer_later_frag, drop_malformed},
	{"tag mode 3 (undefined)",
	 {.tag_flags_set = true, .tag_flags = WLB_TAG_REDIRECT | 3 << 1},
	 NULL,
	 NULL,
	 drop_mode},
};

#define N_DROP (sizeof(drop_cases) / sizeof(drop_cases[0]))

START_TEST(copy_dropped)
{
	const struct drop_case *c = &drop_cases[_i];
	struct tp_pk k;

	mk_copy(&k, &c->in, c->src ? c->src : REDIRECTOR);
	if (c->mutate)
		c->mutate(&k);
	dropped(&k);
	ck_assert_msg(rp->c[c->counter] == 1, "%s: %s not counted (drop_malformed %llu)", c->what,
		      replicad_counter_names[c->counter],
		      (unsigned long long)rp->c[drop_malformed]);
	ck_assert_msg(total() == 1, "%s: other counters moved", c->what);
	ck_assert_uint_eq(pending(), 0);
	/* nothing was recorded: its SYN-ACK gets no echo */
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	pass_unchanged(NF_INET_LOCAL_OUT, &k);
}
END_TEST

/* ============================================ replica state and load */

START_TEST(inactive_states)
{
	static const char *const texts[] = {conf_draining, conf_disabled};

	for (unsigned i = 0; i < 2; i++) {
		struct wlb_conf *c = tp_conf(texts[i], WLB_NEED_REPLICAD);
		struct tp_pk k;
		struct inner mode_b = {.tag_flags_set = true,
				       .tag_flags = WLB_TAG_REDIRECT | 1 << 1};

		replicad_reconfigure(rp, c);
		mk_default_copy(&k);
		dropped(&k);
		/* inactive is checked before the configuration letter */
		mk_copy(&k, &mode_b, REDIRECTOR);
		dropped(&k);
		ck_assert_uint_eq(rp->c[drop_inactive], 2 * (i + 1));
		ck_assert_uint_eq(rp->c[drop_mode], 0);
		/* but a stranger is still a stranger */
		mk_copy(&k, &(struct inner){0}, STRANGER);
		dropped(&k);
		ck_assert_uint_eq(rp->c[drop_not_redirector], i + 1);
		replicad_reconfigure(rp, conf);
		wlb_conf_free(c);
	}
	ck_assert_uint_eq(pending(), 0);
}
END_TEST

START_TEST(draining_finishes_pending)
{
	/* a SYN delivered while active keeps its echo after draining starts */
	struct wlb_conf *c = tp_conf(conf_draining, WLB_NEED_REPLICAD);
	struct tp_pk k;

	mk_default_copy(&k);
	delivered(&k, CLIENT, CPORT);
	replicad_reconfigure(rp, c);
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	echoed(&k, NONCE);
	mk_copy(&k, &(struct inner){.cport = CPORT + 1}, REDIRECTOR);
	dropped(&k);
	ck_assert_uint_eq(rp->c[drop_inactive], 1);
	replicad_reconfigure(rp, conf);
	wlb_conf_free(c);
	/* active again */
	mk_copy(&k, &(struct inner){.cport = CPORT + 2}, REDIRECTOR);
	delivered(&k, CLIENT, CPORT + 2);
}
END_TEST

START_TEST(busy_thresholds)
{
	struct tp_pk k;
	struct inner mode_c = {.tag_flags_set = true, .tag_flags = WLB_TAG_REDIRECT | 2 << 1};

	/* at the limits: not busy (the limits are "more than") */
	ck_assert(!replicad_set_load(rp, 100, 2.0));
	ck_assert(!rp->busy);
	mk_default_copy(&k);
	delivered(&k, CLIENT, CPORT);
	/* too many connections */
	ck_assert(replicad_set_load(rp, 101, 0.0));
	ck_assert(rp->busy);
	mk_copy(&k, &(struct inner){.cport = CPORT + 1}, REDIRECTOR);
	dropped(&k);
	ck_assert_uint_eq(rp->c[drop_busy], 1);
	/* busy is checked before the configuration letter */
	mk_copy(&k, &mode_c, REDIRECTOR);
	dropped(&k);
	ck_assert_uint_eq(rp->c[drop_busy], 2);
	ck_assert_uint_eq(rp->c[drop_mode], 0);
	/* the connection it already answered still gets its echo */
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	echoed(&k, NONCE);
	/* too much load */
	ck_assert(replicad_set_load(rp, 0, 2.01));
	mk_copy(&k, &(struct inner){.cport = CPORT + 3}, REDIRECTOR);
	dropped(&k);
	ck_assert_uint_eq(rp->c[drop_busy], 3);
	ck_assert(replicad_set_load(rp, 500, 9.0));
	/* and back */
	ck_assert(!replicad_set_load(rp, 0, 0.0));
	ck_assert(!rp->busy);
	mk_copy(&k, &(struct inner){.cport = CPORT + 4}, REDIRECTOR);
	delivered(&k, CLIENT, CPORT + 4);
	ck_assert_uint_eq(rp->established, 0);
	ck_assert_uint_eq(rp->c[syn_delivered], 2);
}
END_TEST

START_TEST(no_limits)
{
	struct wlb_conf *c = tp_conf(conf_active, WLB_NEED_REPLICAD);
	struct tp_pk k;

	/* 0 means no limit */
	replicad_reconfigure(rp, c);
	ck_assert(!replicad_set_load(rp, UINT32_MAX, 1e6));
	ck_assert(!rp->busy);
	mk_default_copy(&k);
	delivered(&k, CLIENT, CPORT);
	/* busy again under the limits: reconfiguring re-evaluates the
	 * last measured load */
	replicad_reconfigure(rp, conf);
	ck_assert(rp->busy);
	mk_copy(&k, &(struct inner){.cport = CPORT + 1}, REDIRECTOR);
	dropped(&k);
	ck_assert_uint_eq(rp->c[drop_busy], 1);
	replicad_reconfigure(rp, c);
	ck_assert(!rp->busy);
	replicad_reconfigure(rp, conf);
	wlb_conf_free(c);
}
END_TEST

START_TEST(only_established_limit)
{
	struct wlb_conf *c = tp_conf(REPLICAD_CONF("active", "10", "0"), WLB_NEED_REPLICAD);

	replicad_reconfigure(rp, c);
	ck_assert(!replicad_set_load(rp, 10, 1e6));
	ck_assert(replicad_set_load(rp, 11, 0));
	replicad_reconfigure(rp, conf);
	wlb_conf_free(c);
	c = tp_conf(REPLICAD_CONF("active", "0", "0.5"), WLB_NEED_REPLICAD);
	replicad_reconfigure(rp, c);
	ck_assert(!replicad_set_load(rp, UINT32_MAX, 0.5));
	ck_assert(replicad_set_load(rp, 0, 0.51));
	replicad_reconfigure(rp, conf);
	wlb_conf_free(c);
}
END_TEST

/* ====================================================== other packets */

START_TEST(other_packets_pass)
{
	struct tp_pk k;
	struct tp_opts t = {.src = CLIENT,
			    .dst = SERVICE,
			    .sport = CPORT,
			    .dport = 80,
			    .flags = WLB_TCP_SYN,
			    .opts = tp_linux_syn_opts,
			    .optlen = 20};

	/* a plain SYN to the service (the replica's own clients) */
	k.len = tp_build(k.b, sizeof(k.b), &t);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* plain data */
	t.flags = WLB_TCP_ACK;
	t.payload = payload;
	t.paylen = 50;
	t.opts = NULL;
	t.optlen = 0;
	k.len = tp_build(k.b, sizeof(k.b), &t);
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* UDP, a TCP fragment, an unparseable packet */
	k.b[9] = 17;
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	k.b[9] = 6;
	k.b[6] |= 0x20;
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	k.b[0] = 0x65;
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	k.len = 10;
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	k.len = 0;
	pass_unchanged(NF_INET_PRE_ROUTING, &k);
	/* and at local output: not SYN-ACKs, malformed */
	k.len = 19;
	pass_unchanged(NF_INET_LOCAL_OUT, &k);
	mk_synack(&k, SERVICE, CLIENT, CPORT, 20);
	k.b[20 + 12] = 0x40;
	pass_unchanged(NF_INET_LOCAL_OUT, &k);
	ck_assert_uint_eq(rp->c[other_passed], 9);
	ck_assert_uint_eq(total(), 9);
	/* an IP-in-IP packet at local output is not ours either */
	mk_default_copy(&k);
	pass_unchanged(NF_INET_LOCAL_OUT, &k);
	ck_assert_uint_eq(rp->c[other_passed], 10);
	ck_assert_uint_eq(pending(), 0);
}
END_TEST

/* ----------------------------------------------------- randomized run */

START_TEST(fuzz_both_hooks)
{
	static const char *const srcs[] = {REDIRECTOR, REDIRECTOR, REDIRECTOR, STRANGER};
	static const char *const clients[] = {CLIENT, CLIENT2};
	unsigned verdicts[4] = {0};

	tp_srand(0xbeef);
	for (int i = 0; i < 20000; i++) {
		struct tp_pk k;
		struct wlb_pkt p;
		bool input_ok = false;
		uint8_t *h;
		unsigned hook;
		uint16_t cport = (uint16_t)(CPORT + tp_rand() % 4);
		const char *client = clients[tp_rand() % 2];

		if (tp_rand() % 2) {
			struct inner in = {
				.client = client,
				.cport = cport,
				.flags = tp_rand() % 4 ? WLB_TCP_SYN : (uint8_t)(tp_rand() | 1),
				.untagged = tp_rand() % 8 == 0,
				.tag_flags_set = tp_rand() % 3 == 0,
				.tag_flags = (uint8_t)tp_rand(),
				.tag_version = tp_rand() % 8 ? 0 : (uint8_t)tp_rand(),
				.nonce = tp_rand() | 1,
				.ipopts = tp_rand() % 8 == 0,
				.paylen = tp_rand() % 4 ? 0 : tp_rand() % 300,
			};

			mk_copy(&k, &in, srcs[tp_rand() % 4]);
			hook = tp_rand() % 8 ? NF_INET_PRE_ROUTING : NF_INET_LOCAL_OUT;
		} else {
			mk_synack(&k, tp_rand() % 4 ? SERVICE : OTHER_LOCAL, client, cport,
				  (unsigned[]){0, 20, 32}[tp_rand() % 3]);
			if (tp_rand() % 8 == 0)
				k.b[20 + 13] = (uint8_t)tp_rand();
			hook = tp_rand() % 8 ? NF_INET_LOCAL_OUT : NF_INET_PRE_ROUTING;
		}
		switch (tp_rand() % 5) {
		case 0:
		case 1:
			break;
		case 2:
			for (unsigned n = 1 + tp_rand() % 4; n; n--)
				k.b[tp_rand() % k.len] = (uint8_t)tp_rand();
			break;
		case 3:
			k.len = tp_rand() % (k.len + 1);
			break;
		default:
			k.len = tp_rand() % 120;
			for (size_t j = 0; j < k.len; j++)
				k.b[j] = (uint8_t)tp_rand();
			if (k.len)
				k.b[0] = tp_rand() % 2 ? 0x45 : k.b[0];
			if (k.len > 9 && tp_rand() % 2)
				k.b[9] = WLB_IPPROTO_IPIP;
		}
		/* a valid input (outer or inner) must give valid checksums */
		{
			struct tp_pk c = k;
			struct wlb_pkt in;
			int err = wlb_pkt_parse(&p, c.b, c.len, c.len);

			if (err == WLB_PKT_OK)
				input_ok = wlb_pkt_csum_ok(&p);
			else if (err == WLB_PKT_NOT_TCP && wlb_ipip_decap(&p, &in) == WLB_PKT_OK)
				input_ok = wlb_pkt_csum_ok(&in);
		}
		h = tp_heap_copy(&k);
		now += tp_rand() % 200;
		wlb_action_reset(act);
		replicad_decide(rp, hook, h, (uint32_t)k.len, now, act);
		tp_assert_fuzz_outcome(act, h, &k, input_ok, i);
		ck_assert_uint_eq(act->n_emit, 0);
		verdicts[act->verdict]++;
		free(h);
		if (i % 1000 == 0) {
			replicad_tick(rp, now);
			replicad_set_load(rp, tp_rand() % 200, (tp_rand() % 400) / 100.0);
		}
	}
	ck_assert_uint_gt(verdicts[WLB_ACCEPT], 0);
	ck_assert_uint_gt(verdicts[WLB_DROP], 0);
	ck_assert_uint_gt(verdicts[WLB_MANGLE], 0);
	ck_assert_uint_gt(rp->c[syn_delivered], 0);
	ck_assert_uint_gt(rp->c[synack_echoed], 0);
	ck_assert_uint_gt(rp->c[drop_busy], 0);
}
END_TEST

/* ================================================================ dump */

START_TEST(dump_state)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;
	struct tp_pk k;

	mk_default_copy(&k);
	delivered(&k, CLIENT, CPORT);
	replicad_set_load(rp, 150, 3.25);
	f = open_memstream(&s, &len);
	ck_assert_ptr_nonnull(f);
	replicad_dump(rp, f, now);
	fclose(f);
	tp_assert_counter_lines(s, replicad_counter_names, rp->c, replicad_NCOUNTERS);
	ck_assert_ptr_nonnull(strstr(s, "syn_delivered                1\n"));
	ck_assert_ptr_nonnull(strstr(s, "state                        active\n"));
	ck_assert_ptr_nonnull(strstr(s, "busy                         0\n"));
	ck_assert_ptr_nonnull(strstr(s, "established                  150\n"));
	ck_assert_ptr_nonnull(strstr(s, "load1                        3.25\n"));
	ck_assert_ptr_nonnull(strstr(s, "pending_nonces               1\n"));
	free(s);
	/* after the timeout and a tick, nothing is pending */
	now += FLOW_TIMEOUT_MS;
	replicad_tick(rp, now);
	ck_assert_uint_eq(pending(), 0);
	replicad_free(NULL);
}
END_TEST

/* ================================================================ main */

static Suite *replicad_suite(void)
{
	Suite *s = suite_create("replicad");
	TCase *tc;

	tc = tcase_create("deliver");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, syn_delivered_to_service);
	tcase_add_test(tc, syn_with_data_and_padding_delivered);
	tcase_add_test(tc, synack_gets_echo);
	tcase_add_test(tc, synack_after_timeout_passes);
	tcase_add_test(tc, synack_unrelated_passes);
	tcase_add_test(tc, synack_noroom_passes);
	tcase_add_test(tc, two_clients_two_nonces);
	tcase_add_test(tc, syn_copy_retransmitted);
	suite_add_tcase(s, tc);

	tc = tcase_create("drop");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, copy_dropped, 0, N_DROP);
	tcase_add_test(tc, inactive_states);
	tcase_add_test(tc, draining_finishes_pending);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup_limits, teardown);
	tcase_add_test(tc, busy_thresholds);
	tcase_add_test(tc, no_limits);
	tcase_add_test(tc, only_established_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("other");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, other_packets_pass);
	tcase_add_test(tc, dump_state);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_checked_fixture(tc, setup_limits, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fuzz_both_hooks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tp_run_suite(replicad_suite());
}
