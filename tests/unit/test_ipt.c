// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the iptables backend's rendering (no iptables is run): a
 * rule table as wlb-rules builds it becomes the exact iptables-restore
 * input, in the order and spelling iptables-save prints it back, so that a
 * reader can compare the two; chains land in the table of their priority;
 * jumps already in place are left out; the fast path is left out; what
 * iptables cannot express is refused, never approximated silently.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>

#include "ipt.h"
#include "nft.h"
#include "pkt.h"
#include "testpkt.h"

static char *text;
static size_t text_len;
static FILE *out;
static char err[256];

/* Any text of an earlier open_out() goes. */
static void open_out(void)
{
	free(text);
	text = NULL;
	text_len = 0;
	out = open_memstream(&text, &text_len);
	ck_assert_ptr_nonnull(out);
	err[0] = '\0';
}

/* The text written since open_out(). */
static const char *close_out(void)
{
	fclose(out);
	out = NULL;
	return text;
}

static void teardown(void)
{
	if (out)
		fclose(out);
	free(text);
	text = NULL;
}

static uint32_t ip(const char *s)
{
	uint32_t a;

	ck_assert_int_eq(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static struct wlb_nft_match m(enum wlb_nft_match_kind k, uint32_t a, uint32_t b)
{
	return (struct wlb_nft_match){.kind = k, .a = a, .b = b};
}

static void add(struct wlb_nft_table *t, unsigned chain, enum wlb_nft_action action, uint16_t queue,
		struct wlb_nft_match m0, struct wlb_nft_match m1)
{
	struct wlb_nft_rule *r = &t->rules[t->n_rules++];

	memset(r, 0, sizeof(*r));
	r->chain = chain;
	r->action = action;
	r->queue = queue;
	r->m[0] = m0;
	r->m[1] = m1;
}

#define NONE m(WLB_M_NONE, 0, 0)

/* The client gateway's table for the sample configuration, as wlb-rules
 * builds it (the fast path included). */
static void clientgw(struct wlb_nft_table *t)
{
	memset(t, 0, sizeof(*t));
	t->name = "wlb_clientgw";
	t->chains[0] = (struct wlb_nft_chain){"pre", NF_INET_PRE_ROUTING, -300, false};
	t->chains[1] = (struct wlb_nft_chain){"post", NF_INET_POST_ROUTING, 110, false};
	t->chains[2] = (struct wlb_nft_chain){"out", NF_INET_LOCAL_OUT, -300, false};
	t->n_chains = 3;
	add(t, 0, WLB_A_REWRITE, 0, NONE, NONE);
	add(t, 0, WLB_A_QUEUE, 0, m(WLB_M_PROTO, 4, 0), NONE);
	add(t, 0, WLB_A_QUEUE, 0, m(WLB_M_TCP_SPORT, 80, 0), NONE);
	add(t, 0, WLB_A_QUEUE, 0, m(WLB_M_TCP_SPORT, 443, 0), NONE);
	add(t, 1, WLB_A_ACCEPT, 0, m(WLB_M_MARK, 0x574c, 0), NONE);
	add(t, 1, WLB_A_REWRITE, 0, NONE, NONE);
	add(t, 1, WLB_A_QUEUE, 0, m(WLB_M_TCP_DPORT, 80, 0), NONE);
	add(t, 2, WLB_A_NOTRACK, 0, m(WLB_M_MARK, 0x574c, 0), NONE);
}

START_TEST(places)
{
	struct wlb_ipt_place p;
	struct wlb_nft_chain c;

	c = (struct wlb_nft_chain){"x", NF_INET_PRE_ROUTING, -300, false};
	ck_assert_int_eq(wlb_ipt_place(&c, &p), 0);
	ck_assert_str_eq(p.table, "raw");
	ck_assert_str_eq(p.builtin, "PREROUTING");
	ck_assert(!p.nearest);
	c = (struct wlb_nft_chain){"x", NF_INET_LOCAL_OUT, -300, false};
	ck_assert_int_eq(wlb_ipt_place(&c, &p), 0);
	ck_assert_str_eq(p.table, "raw");
	ck_assert_str_eq(p.builtin, "OUTPUT");
	c = (struct wlb_nft_chain){"x", NF_INET_LOCAL_OUT, -150, false};
	ck_assert_int_eq(wlb_ipt_place(&c, &p), 0);
	ck_assert_str_eq(p.table, "mangle");
	ck_assert_str_eq(p.builtin, "OUTPUT");
	c = (struct wlb_nft_chain){"x", NF_INET_FORWARD, 0, false};
	ck_assert_int_eq(wlb_ipt_place(&c, &p), 0);
	ck_assert_str_eq(p.table, "filter");
	ck_assert_str_eq(p.builtin, "FORWARD");
	/* after source NAT: nothing there, mangle is the nearest before */
	c = (struct wlb_nft_chain){"x", NF_INET_POST_ROUTING, 110, false};
	ck_assert_int_eq(wlb_ipt_place(&c, &p), 0);
	ck_assert_str_eq(p.table, "mangle");
	ck_assert_str_eq(p.builtin, "POSTROUTING");
	ck_assert(p.nearest);
	/* raw has no POSTROUTING, filter no PREROUTING; -200 is conntrack */
	c = (struct wlb_nft_chain){"x", NF_INET_POST_ROUTING, -300, false};
	ck_assert_int_eq(wlb_ipt_place(&c, &p), -1);
	c = (struct wlb_nft_chain){"x", NF_INET_PRE_ROUTING, 0, false};
	ck_assert_int_eq(wlb_ipt_place(&c, &p), -1);
	c = (struct wlb_nft_chain){"x", NF_INET_PRE_ROUTING, -200, false};
	ck_assert_int_eq(wlb_ipt_place(&c, &p), -1);
}
END_TEST

START_TEST(chain_names)
{
	struct wlb_nft_table *t = calloc(1, sizeof(*t));
	char name[WLB_IPT_CHAIN_LEN];

	t->name = "wlb_clientgw";
	t->chains[0] = (struct wlb_nft_chain){"pre", NF_INET_PRE_ROUTING, -300, false};
	t->chains[1] = (struct wlb_nft_chain){"a_rather_long_chain_name", NF_INET_PRE_ROUTING, -300,
					      false};
	t->n_chains = 2;
	wlb_ipt_chain_name(t, 0, name);
	ck_assert_str_eq(name, "WLB-CLIENTGW-PRE");
	/* cut at iptables' limit rather than refused by it */
	wlb_ipt_chain_name(t, 1, name);
	ck_assert_uint_eq(strlen(name), WLB_IPT_CHAIN_LEN - 1);
	ck_assert_str_eq(name, "WLB-CLIENTGW-A_RATHER_LONG_C");
	free(t);
}
END_TEST

START_TEST(clientgw_raw)
{
	struct wlb_nft_table *t = malloc(sizeof(*t));

	clientgw(t);
	open_out();
	ck_assert_int_eq(wlb_ipt_render_install(t, "raw", NULL, out, err, sizeof(err)), 2);
	ck_assert_str_eq(close_out(),
			 "*raw\n"
			 ":WLB-CLIENTGW-PRE - [0:0]\n"
			 ":WLB-CLIENTGW-OUT - [0:0]\n"
			 "-A WLB-CLIENTGW-PRE -p 4 -j NFQUEUE --queue-num 0 --queue-bypass\n"
			 "-A WLB-CLIENTGW-PRE -p tcp -m tcp --sport 80 -j NFQUEUE --queue-num 0 "
			 "--queue-bypass\n"
			 "-A WLB-CLIENTGW-PRE -p tcp -m tcp --sport 443 -j NFQUEUE --queue-num 0 "
			 "--queue-bypass\n"
			 "-A WLB-CLIENTGW-OUT -m mark --mark 0x574c -j CT --notrack\n"
			 "-I PREROUTING 1 -j WLB-CLIENTGW-PRE\n"
			 "-I OUTPUT 1 -j WLB-CLIENTGW-OUT\n"
			 "COMMIT\n");
	free(t);
}
END_TEST

START_TEST(clientgw_mangle)
{
	struct wlb_nft_table *t = malloc(sizeof(*t));

	clientgw(t);
	open_out();
	ck_assert_int_eq(wlb_ipt_render_install(t, "mangle", NULL, out, err, sizeof(err)), 1);
	ck_assert_str_eq(close_out(),
			 "*mangle\n"
			 ":WLB-CLIENTGW-POST - [0:0]\n"
			 "-A WLB-CLIENTGW-POST -m mark --mark 0x574c -j ACCEPT\n"
			 "-A WLB-CLIENTGW-POST -p tcp -m tcp --dport 80 -j NFQUEUE --queue-num 0 "
			 "--queue-bypass\n"
			 "-I POSTROUTING 1 -j WLB-CLIENTGW-POST\n"
			 "COMMIT\n");
	free(t);
}
END_TEST

/* No chain there: no section at all, or iptables-nft would create the
 * table for nothing. */
START_TEST(table_unused)
{
	struct wlb_nft_table *t = malloc(sizeof(*t));

	clientgw(t);
	open_out();
	ck_assert_int_eq(wlb_ipt_render_install(t, "filter", NULL, out, err, sizeof(err)), 0);
	ck_assert_str_eq(close_out(), "");
	open_out();
	ck_assert_int_eq(wlb_ipt_render_remove(t, "filter", NULL, NULL, out), 0);
	ck_assert_str_eq(close_out(), "");
	free(t);
}
END_TEST

/* A second install must not add a second jump. */
START_TEST(jump_present)
{
	struct wlb_nft_table *t = malloc(sizeof(*t));
	bool jump[WLB_NFT_MAX_CHAINS] = {false, false, true};

	clientgw(t);
	open_out();
	ck_assert_int_eq(wlb_ipt_render_install(t, "raw", jump, out, err, sizeof(err)), 2);
	close_out();
	ck_assert_ptr_null(strstr(text, "-I PREROUTING"));
	ck_assert_ptr_nonnull(strstr(text, "\n-I OUTPUT 1 -j WLB-CLIENTGW-OUT\nCOMMIT\n"));
	/* the chains are still flushed and refilled */
	ck_assert_ptr_nonnull(strstr(text, ":WLB-CLIENTGW-PRE - [0:0]\n"));
	ck_assert_ptr_nonnull(strstr(text, "--sport 443"));
	free(t);
}
END_TEST

START_TEST(remove_all_and_part)
{
	struct wlb_nft_table *t = malloc(sizeof(*t));
	bool exists[WLB_NFT_MAX_CHAINS] = {true, true, false};
	bool jumped[WLB_NFT_MAX_CHAINS] = {false, true, false};
	bool none[WLB_NFT_MAX_CHAINS] = {false, false, false};

	clientgw(t);
	open_out();
	ck_assert_int_eq(wlb_ipt_render_remove(t, "raw", NULL, NULL, out), 6);
	ck_assert_str_eq(close_out(), "*raw\n"
				      "-D PREROUTING -j WLB-CLIENTGW-PRE\n"
				      "-D OUTPUT -j WLB-CLIENTGW-OUT\n"
				      "-F WLB-CLIENTGW-PRE\n"
				      "-X WLB-CLIENTGW-PRE\n"
				      "-F WLB-CLIENTGW-OUT\n"
				      "-X WLB-CLIENTGW-OUT\n"
				      "COMMIT\n");
	/* the pre chain without its jump; out gone already */
	open_out();
	ck_assert_int_eq(wlb_ipt_render_remove(t, "raw", exists, jumped, out), 2);
	ck_assert_str_eq(close_out(), "*raw\n"
				      "-F WLB-CLIENTGW-PRE\n"
				      "-X WLB-CLIENTGW-PRE\n"
				      "COMMIT\n");
	/* nothing loaded: nothing to run */
	open_out();
	ck_assert_int_eq(wlb_ipt_render_remove(t, "raw", none, none, out), 0);
	ck_assert_str_eq(close_out(), "");
	free(t);
}
END_TEST

START_TEST(every_match)
{
	struct wlb_nft_table *t = calloc(1, sizeof(*t));

	t->name = "wlb_replicad";
	t->chains[0] = (struct wlb_nft_chain){"out", NF_INET_LOCAL_OUT, -150, false};
	t->n_chains = 1;
	add(t, 0, WLB_A_QUEUE, 2, m(WLB_M_SADDR, ip("203.0.113.10"), 0),
	    m(WLB_M_TCP_SPORT, 443, 0));
	add(t, 0, WLB_A_QUEUE, 2, m(WLB_M_TCP_SPORT, 80, 0),
	    m(WLB_M_TCP_FLAGS, WLB_TCP_SYN | WLB_TCP_ACK | WLB_TCP_RST, WLB_TCP_SYN | WLB_TCP_ACK));
	add(t, 0, WLB_A_QUEUE, 7, m(WLB_M_DADDR, ip("198.51.100.18"), 0),
	    m(WLB_M_TCP_DPORT, 8080, 0));
	/* nothing set of the three: NONE */
	add(t, 0, WLB_A_ACCEPT, 0, m(WLB_M_TCP_FLAGS, WLB_TCP_FIN | WLB_TCP_SYN | WLB_TCP_RST, 0),
	    NONE);
	add(t, 0, WLB_A_QUEUE, 65535, m(WLB_M_TCP_FLAGS, WLB_TCP_FIN, WLB_TCP_FIN), NONE);
	t->rules[t->n_rules - 1].m[1] = (struct wlb_nft_match){.kind = WLB_M_IIFNAME, .s = "eth0"};
	t->rules[t->n_rules - 1].m[2] = m(WLB_M_MARK, 0xffffffffu, 0);
	open_out();
	ck_assert_int_eq(wlb_ipt_render_install(t, "mangle", NULL, out, err, sizeof(err)), 1);
	ck_assert_str_eq(
		close_out(),
		"*mangle\n"
		":WLB-REPLICAD-OUT - [0:0]\n"
		"-A WLB-REPLICAD-OUT -s 203.0.113.10/32 -p tcp -m tcp --sport 443 "
		"-j NFQUEUE --queue-num 2 --queue-bypass\n"
		"-A WLB-REPLICAD-OUT -p tcp -m tcp --sport 80 --tcp-flags SYN,RST,ACK "
		"SYN,ACK -j NFQUEUE --queue-num 2 --queue-bypass\n"
		"-A WLB-REPLICAD-OUT -d 198.51.100.18/32 -p tcp -m tcp --dport 8080 "
		"-j NFQUEUE --queue-num 7 --queue-bypass\n"
		"-A WLB-REPLICAD-OUT -p tcp -m tcp --tcp-flags FIN,SYN,RST NONE -j ACCEPT\n"
		"-A WLB-REPLICAD-OUT -i eth0 -p tcp -m mark --mark 0xffffffff -m tcp "
		"--tcp-flags FIN FIN -j NFQUEUE --queue-num 65535 --queue-bypass\n"
		"-I OUTPUT 1 -j WLB-REPLICAD-OUT\n"
		"COMMIT\n");
	free(t);
}
END_TEST

/* Each refused with a message naming the table and chain. */
START_TEST(no_iptables_form)
{
	struct wlb_nft_table *t = calloc(1, sizeof(*t));

	t->name = "wlb_x";
	t->chains[0] = (struct wlb_nft_chain){"pre", NF_INET_PRE_ROUTING, -150, false};
	t->n_chains = 1;
	switch (_i) {
	case 0: /* the CT target lives in raw only */
		add(t, 0, WLB_A_NOTRACK, 0, m(WLB_M_MARK, 1, 0), NONE);
		break;
	case 1: /* ECE has no name in the tcp match */
		add(t, 0, WLB_A_QUEUE, 0, m(WLB_M_TCP_FLAGS, 0x40, 0x40), NONE);
		break;
	case 2: /* would never match */
		add(t, 0, WLB_A_QUEUE, 0, m(WLB_M_TCP_FLAGS, WLB_TCP_SYN, WLB_TCP_ACK), NONE);
		break;
	case 3: /* udp with a tcp port */
		add(t, 0, WLB_A_QUEUE, 0, m(WLB_M_PROTO, 17, 0), m(WLB_M_TCP_DPORT, 53, 0));
		break;
	case 4: /* iptables has one -s */
		add(t, 0, WLB_A_QUEUE, 0, m(WLB_M_SADDR, 1, 0), m(WLB_M_SADDR, 2, 0));
		break;
	case 5: /* no table at that priority */
		t->chains[0].prio = -200;
		add(t, 0, WLB_A_QUEUE, 0, NONE, NONE);
		break;
	}
	open_out();
	ck_assert_int_eq(wlb_ipt_render_install(t, "mangle", NULL, out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "wlb_x: chain pre: "), "message: %s", err);
	close_out();
	/* and so for the whole print */
	open_out();
	ck_assert_int_eq(wlb_ipt_print_install(t, out, err, sizeof(err)), -1);
	close_out();
	free(t);
}
END_TEST

/* protocol tcp named as a match, with a port: one -p */
START_TEST(proto_tcp_and_port)
{
	struct wlb_nft_table *t = calloc(1, sizeof(*t));

	t->name = "wlb_x";
	t->chains[0] = (struct wlb_nft_chain){"pre", NF_INET_PRE_ROUTING, -150, false};
	t->n_chains = 1;
	add(t, 0, WLB_A_QUEUE, 3, m(WLB_M_PROTO, 6, 0), m(WLB_M_TCP_DPORT, 22, 0));
	open_out();
	ck_assert_int_eq(wlb_ipt_render_install(t, "mangle", NULL, out, err, sizeof(err)), 1);
	close_out();
	ck_assert_ptr_nonnull(strstr(text, "\n-A WLB-X-PRE -p tcp -m tcp --dport 22 -j NFQUEUE"));
	free(t);
}
END_TEST

/* What --dry-run prints: comments iptables-restore skips, then the
 * sections in load order (raw before mangle). */
START_TEST(print_install_whole)
{
	struct wlb_nft_table *t = malloc(sizeof(*t));
	const char *raw, *mangle;

	clientgw(t);
	open_out();
	ck_assert_int_eq(wlb_ipt_print_install(t, out, err, sizeof(err)), 0);
	close_out();
	ck_assert_ptr_nonnull(strstr(text, "# left out: 2 fast-path rules (no iptables form)\n"));
	ck_assert_ptr_nonnull(strstr(
		text, "# chain post: no table at priority 110: mangle POSTROUTING instead\n"));
	raw = strstr(text, "\n*raw\n");
	mangle = strstr(text, "\n*mangle\n");
	ck_assert_ptr_nonnull(raw);
	ck_assert_ptr_nonnull(mangle);
	ck_assert(raw < mangle);
	ck_assert_ptr_null(strstr(text, "*filter"));
	for (const char *l = text; *l; l = strchr(l, '\n') + 1)
		ck_assert(*l == '#' || *l == '*' || *l == ':' || *l == '-' || *l == 'C');
	open_out();
	wlb_ipt_print_remove(t, out);
	close_out();
	ck_assert_ptr_nonnull(strstr(text, "*mangle\n-D POSTROUTING -j WLB-CLIENTGW-POST\n"
					   "-F WLB-CLIENTGW-POST\n-X WLB-CLIENTGW-POST\nCOMMIT\n"));
	free(t);
}
END_TEST

static Suite *ipt_suite(void)
{
	Suite *s = suite_create("ipt");
	TCase *t;

	t = tcase_create("render");
	tcase_add_checked_fixture(t, NULL, teardown);
	tcase_add_test(t, places);
	tcase_add_test(t, chain_names);
	tcase_add_test(t, clientgw_raw);
	tcase_add_test(t, clientgw_mangle);
	tcase_add_test(t, table_unused);
	tcase_add_test(t, jump_present);
	tcase_add_test(t, remove_all_and_part);
	tcase_add_test(t, every_match);
	tcase_add_loop_test(t, no_iptables_form, 0, 6);
	tcase_add_test(t, proto_tcp_and_port);
	tcase_add_test(t, print_install_whole);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tp_run_suite(ipt_suite());
}
