// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "conf.h"
#include "daemon.h"
#include "tag.h"
#include "testpkt.h"

const uint8_t tp_linux_syn_opts[20] = {
	2, 4,  0x05, 0xb4,		     /* MSS 1460 */
	4, 2,				     /* SACK permitted */
	8, 10, 0,    0,	   0, 1, 0, 0, 0, 0, /* timestamps */
	1, 3,  3,    7,			     /* NOP, window scale 7 */
};

uint32_t tp_addr(const char *dotted)
{
	struct in_addr a;

	if (inet_pton(AF_INET, dotted, &a) != 1)
		abort();
	return a.s_addr;
}

uint16_t tp_port(uint16_t host)
{
	return htons(host);
}

static uint32_t rng = 12345;

void tp_srand(uint32_t seed)
{
	rng = seed ? seed : 1;
}

uint32_t tp_rand(void)
{
	/* xorshift32 */
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

size_t tp_build(uint8_t *buf, size_t cap, const struct tp_opts *o)
{
	size_t ihl = 20 + o->ipoptlen, thl = 20 + o->optlen;
	size_t len = ihl + thl + o->paylen;
	uint8_t *tcp = buf + ihl;
	uint32_t a;
	uint16_t v;
	struct wlb_pkt p;

	if (len > cap)
		abort();
	memset(buf, 0, len);
	buf[0] = (uint8_t)(0x40 | ihl / 4);
	v = htons((uint16_t)len);
	memcpy(buf + 2, &v, 2);
	v = htons(o->df ? 0x4000 : 0);
	memcpy(buf + 6, &v, 2);
	buf[8] = 64;
	buf[9] = 6;
	a = tp_addr(o->src ? o->src : "192.0.2.2");
	memcpy(buf + 12, &a, 4);
	a = tp_addr(o->dst ? o->dst : "203.0.113.10");
	memcpy(buf + 16, &a, 4);
	if (o->ipoptlen)
		memcpy(buf + 20, o->ipopts, o->ipoptlen);
	v = htons(o->sport);
	memcpy(tcp, &v, 2);
	v = htons(o->dport);
	memcpy(tcp + 2, &v, 2);
	a = htonl(o->seq);
	memcpy(tcp + 4, &a, 4);
	a = htonl(o->ack);
	memcpy(tcp + 8, &a, 4);
	tcp[12] = (uint8_t)(thl / 4 << 4);
	tcp[13] = o->flags;
	tcp[14] = 0xff;
	tcp[15] = 0xff;
	if (o->optlen)
		memcpy(tcp + 20, o->opts, o->optlen);
	if (o->paylen)
		memcpy(tcp + thl, o->payload, o->paylen);
	if (wlb_pkt_parse(&p, buf, len, cap) != WLB_PKT_OK)
		abort();
	wlb_pkt_csum_fill(&p);
	return len;
}

struct wlb_pkt tp_parse(uint8_t *buf, size_t len, size_t cap)
{
	struct wlb_pkt p;

	if (wlb_pkt_parse(&p, buf, len, cap) != WLB_PKT_OK)
		abort();
	return p;
}

/* ------------------------------------------------------------ the tag */

void tp_tag_opt(uint8_t *o, uint8_t flags, uint32_t nonce, uint8_t version)
{
	o[0] = WLB_TAG_KIND;
	o[1] = WLB_TAG_LEN;
	o[2] = WLB_TAG_EXID >> 8;
	o[3] = WLB_TAG_EXID & 0xff;
	o[4] = flags;
	o[5] = version;
	memcpy(o + 6, &nonce, 4);
}

unsigned tp_tagged_syn_opts(uint8_t *o, uint8_t flags, uint32_t nonce, uint8_t version)
{
	memcpy(o, tp_linux_syn_opts, 20);
	o[20] = o[21] = WLB_TCPOPT_NOP;
	tp_tag_opt(o + 22, flags, nonce, version);
	return TP_TAGGED_SYN_OPTLEN;
}

/* ------------------------------------------ malformed variants of a packet */

void tp_mut_empty(struct tp_pk *k)
{
	k->len = 0;
}

void tp_mut_short(struct tp_pk *k)
{
	k->len = 19;
}

void tp_mut_version6(struct tp_pk *k)
{
	k->b[0] = 0x65;
}

void tp_mut_ihl4(struct tp_pk *k)
{
	k->b[0] = 0x44;
}

void tp_mut_ihl_beyond(struct tp_pk *k)
{
	k->b[0] = 0x4f;
	k->len = 40;
	k->b[2] = 0;
	k->b[3] = 40;
}

void tp_mut_doff4(struct tp_pk *k)
{
	k->b[32] = 0x40;
}

void tp_mut_doff_beyond(struct tp_pk *k)
{
	k->b[32] = 0xf0;
}

void tp_mut_optlen0(struct tp_pk *k)
{
	k->b[41] = 0;
}

/* ----------------------------------------------------- policy decisions */

struct wlb_pkt tp_assert_valid(struct tp_pk *k, const uint8_t *data, size_t len)
{
	struct wlb_pkt p;

	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, sizeof(k->b));
	memcpy(k->b, data, len);
	k->len = len;
	ck_assert_int_eq(wlb_pkt_parse(&p, k->b, k->len, sizeof(k->b)), WLB_PKT_OK);
	ck_assert(wlb_pkt_csum_ok(&p));
	return p;
}

struct wlb_pkt tp_assert_mangled(const struct wlb_action *act, struct tp_pk *out)
{
	struct wlb_pkt p;

	ck_assert_int_eq(act->verdict, WLB_MANGLE);
	ck_assert_ptr_nonnull(act->out);
	p = tp_assert_valid(out, act->out, act->out_len);
	ck_assert_uint_eq(p.len, act->out_len);
	return p;
}

void tp_assert_accepted_unchanged(const struct wlb_action *act, const struct tp_pk *before,
				  const struct tp_pk *k, unsigned n_emit)
{
	ck_assert_int_eq(act->verdict, WLB_ACCEPT);
	ck_assert_uint_eq(act->n_emit, n_emit);
	ck_assert_int_eq(memcmp(before->b, k->b, k->len), 0);
}

uint8_t *tp_heap_copy(const struct tp_pk *k)
{
	uint8_t *h = malloc(k->len ? k->len : 1);

	ck_assert_ptr_nonnull(h);
	memcpy(h, k->b, k->len);
	return h;
}

void tp_assert_fuzz_outcome(const struct wlb_action *act, const uint8_t *given,
			    const struct tp_pk *k, bool input_ok, int i)
{
	uint8_t out[TP_PKT_CAP];
	struct wlb_pkt p;

	ck_assert_msg(act->verdict == WLB_ACCEPT || act->verdict == WLB_DROP ||
			      act->verdict == WLB_MANGLE,
		      "iteration %d: verdict %d", i, act->verdict);
	if (act->verdict == WLB_MANGLE) {
		ck_assert_uint_le(act->out_len, sizeof(out));
		memcpy(out, act->out, act->out_len);
		ck_assert_msg(wlb_pkt_parse(&p, out, act->out_len, act->out_len) == WLB_PKT_OK,
			      "iteration %d: mangled packet does not parse", i);
		ck_assert_msg(!input_ok || wlb_pkt_csum_ok(&p),
			      "iteration %d: checksum broken by the edit", i);
	} else if (act->verdict == WLB_ACCEPT) {
		ck_assert_msg(memcmp(given, k->b, k->len) == 0,
			      "iteration %d: accepted packet was modified", i);
	}
}

/* ------------------------------------------------------------ IP-in-IP */

void tp_encap(struct tp_pk *out, const struct tp_pk *inner, const char *src, const char *dst)
{
	uint8_t tmp[TP_PKT_CAP];
	struct wlb_pkt p;

	ck_assert_uint_le(inner->len + 20, sizeof(out->b));
	memcpy(tmp, inner->b, inner->len);
	/* the encapsulation reads only data and len */
	memset(&p, 0, sizeof(p));
	p.data = tmp;
	p.len = inner->len;
	p.cap = sizeof(tmp);
	out->len = wlb_ipip_encap(&p, out->b, sizeof(out->b), tp_addr(src), tp_addr(dst), 64);
	ck_assert_uint_eq(out->len, inner->len + 20);
}

struct wlb_pkt tp_assert_ipip(struct tp_pk *k, const uint8_t *data, size_t len,
			      struct wlb_pkt *inner)
{
	struct wlb_pkt p;

	ck_assert_uint_gt(len, 40);
	ck_assert_uint_le(len, sizeof(k->b));
	memcpy(k->b, data, len);
	k->len = len;
	ck_assert_int_eq(wlb_pkt_parse(&p, k->b, k->len, sizeof(k->b)), WLB_PKT_NOT_TCP);
	ck_assert_uint_eq(p.proto, WLB_IPPROTO_IPIP);
	ck_assert_uint_eq(p.ihl, 20);
	ck_assert(!p.frag);
	ck_assert_uint_eq(p.thl, 0);
	ck_assert_uint_eq(p.len, len);
	ck_assert(wlb_pkt_csum_ok(&p));
	ck_assert_int_eq(wlb_ipip_decap(&p, inner), WLB_PKT_OK);
	ck_assert_uint_eq(inner->len, len - 20);
	ck_assert(wlb_pkt_csum_ok(inner));
	return p;
}

struct wlb_pkt tp_assert_mangled_ipip(const struct wlb_action *act, struct tp_pk *out,
				      struct wlb_pkt *inner)
{
	ck_assert_int_eq(act->verdict, WLB_MANGLE);
	ck_assert_ptr_nonnull(act->out);
	return tp_assert_ipip(out, act->out, act->out_len, inner);
}

int tp_mss(const struct wlb_pkt *p)
{
	unsigned off, olen;
	const uint8_t *o;

	if (wlb_tcp_opt_find(p, WLB_TCPOPT_MSS, &off, &olen) != 1)
		return -1;
	ck_assert_uint_eq(olen, 4);
	o = wlb_tcp_hdr(p) + off;
	return o[2] << 8 | o[3];
}

uint64_t tp_counters_sum(const uint64_t *c, unsigned n)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < n; i++)
		t += c[i];
	return t;
}

void tp_assert_counter_lines(const char *dump, const char *const *names, const uint64_t *c,
			     unsigned n)
{
	char line[128];

	for (unsigned i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%-28s %llu\n", names[i], (unsigned long long)c[i]);
		ck_assert_msg(strstr(dump, line) != NULL, "no line \"%s\" in:\n%s", line, dump);
	}
}

/* ------------------------------------------------------- the fast path */

struct wlb_fp_key tp_fp_key(const char *saddr, uint16_t sport, const char *daddr, uint16_t dport)
{
	return (struct wlb_fp_key){tp_addr(saddr), tp_port(sport), tp_addr(daddr), tp_port(dport)};
}

/* Field by field: the padding of a key is nobody's. */
static void assert_key_eq(struct wlb_fp_key a, struct wlb_fp_key b)
{
	ck_assert_uint_eq(a.saddr, b.saddr);
	ck_assert_uint_eq(a.sport, b.sport);
	ck_assert_uint_eq(a.daddr, b.daddr);
	ck_assert_uint_eq(a.dport, b.dport);
}

void tp_assert_fp_op(const struct wlb_fp *fp, unsigned i, enum wlb_fp_op_kind kind,
		     enum wlb_fp_map m, struct wlb_fp_key k, const char *value)
{
	const struct wlb_fp_op *op = &fp->ops[i];

	ck_assert_uint_lt(i, fp->n_ops);
	ck_assert_uint_eq(op->kind, kind);
	ck_assert_uint_eq(op->map, m);
	assert_key_eq(op->key, k);
	if (value)
		ck_assert_uint_eq(op->value, tp_addr(value));
}

/* --------------------------------------------------------------- harness */

struct wlb_conf *tp_conf(const char *text, unsigned need)
{
	char err[256] = "";
	struct wlb_conf *c = wlb_conf_load_string(text, "test.conf", need, err, sizeof(err));

	ck_assert_msg(c != NULL, "configuration refused: %s", err);
	return c;
}

int tp_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

void tp_assert_tun_change(const struct wlb_tun *t, unsigned i, bool add, enum wlb_tun_map m,
			  struct wlb_fp_key k, const char *osrc, const char *odst, uint32_t mark)
{
	const struct wlb_tun_change *c = &t->log[i % WLB_TUN_LOG];

	ck_assert_uint_lt(i, t->n_log);
	ck_assert_int_eq(c->add, add);
	ck_assert_int_eq(c->map, m);
	assert_key_eq(c->inner, k);
	if (!add)
		return;
	ck_assert_uint_eq(c->outer_saddr, tp_addr(osrc));
	ck_assert_uint_eq(c->outer_daddr, tp_addr(odst));
	ck_assert_uint_eq(c->mark, mark);
}
