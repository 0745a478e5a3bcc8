// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nft.h"
#include "pkt.h"

/* 1024 rules of up to ~400 bytes each, with room to spare */
#define BATCH_SIZE (4 * 1024 * 1024)
/* one ack per message comes back: the default receive buffer holds ~280 */
#define SOCK_BUF (16 * 1024 * 1024)

/* nft(8)'s type ids, so "nft list" shows the maps' keys and values */
#define NFT_TYPE_IPV4_ADDR 7
#define NFT_TYPE_INET_SERVICE 13
#define NFT_TYPE_BITS 6
#define FP_KEY_LEN 16 /* four fields, each in its own 32-bit register */

struct txn {
	struct mnl_nlmsg_batch *b;
	char *buf;
	uint32_t seq;
	unsigned acks; /* messages that will be acknowledged */
	bool full;     /* a message did not fit: never send a partial table */
};

static void txn_begin(struct txn *x)
{
	/* libmnl lets the last message overrun the limit: twice the room */
	x->buf = malloc(2 * BATCH_SIZE);
	x->b = mnl_nlmsg_batch_start(x->buf, BATCH_SIZE);
	x->seq = (uint32_t)time(NULL);
	x->acks = 0;
	x->full = false;
	nftnl_batch_begin(mnl_nlmsg_batch_current(x->b), x->seq++);
	mnl_nlmsg_batch_next(x->b);
}

static void txn_free(struct txn *x)
{
	mnl_nlmsg_batch_stop(x->b);
	free(x->buf);
}

static struct nlmsghdr *txn_msg(struct txn *x, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(x->b), type,
						     NFPROTO_IPV4, flags | NLM_F_ACK, x->seq++);

	x->acks++;
	return nlh;
}

static void txn_next(struct txn *x)
{
	if (!mnl_nlmsg_batch_next(x->b))
		x->full = true;
}

/* Room for the whole batch one way and an ack per message the other. */
static void size_buffers(struct mnl_socket *nl)
{
	int fd = mnl_socket_get_fd(nl), sz = SOCK_BUF, one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* an ack need not carry the message it answers back */
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
}

/* Send the transaction and read one answer per message: an error anywhere
 * aborts the whole transaction in the kernel, and we report the first
 * (returned as -errno when the kernel gave one, else -1). */
static int txn_commit(struct txn *x, char *err, size_t errlen)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	char rbuf[MNL_SOCKET_BUFFER_SIZE];
	int ret = -1;

	nftnl_batch_end(mnl_nlmsg_batch_current(x->b), x->seq++);
	txn_next(x);
	if (x->full) {
		snprintf(err, errlen, "nftables: transaction larger than %d bytes", BATCH_SIZE);
		goto out;
	}
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		goto out;
	}
	size_buffers(nl);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(x->b), mnl_nlmsg_batch_size(x->b)) < 0) {
		snprintf(err, errlen, "netlink send: %s", strerror(errno));
		goto out;
	}
	while (x->acks) {
		struct pollfd p = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
		int n;

		if (poll(&p, 1, 2000) <= 0) {
			snprintf(err, errlen, "nftables: no answer from the kernel");
			goto out;
		}
		n = (int)mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
		if (n < 0)
			goto fail;
		for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; mnl_nlmsg_ok(h, n);
		     h = mnl_nlmsg_next(h, &n)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (e->error) {
				errno = -e->error;
				goto fail;
			}
			x->acks--;
		}
	}
	ret = 0;
	goto out;
fail:
	ret = -errno;
	snprintf(err, errlen, "nftables: %s%s", strerror(-ret),
		 ret == -ENOENT ? " (is nft_compat/xt_NFQUEUE available?)" : "");
out:
	if (nl)
		mnl_socket_close(nl);
	return ret;
}

/* ------------------------------------------------------------- messages */

static void add_table(struct txn *x, const char *name, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_IPV4);
	nlh = txn_msg(x, type, flags);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	txn_next(x);
}

static void add_chain(struct txn *x, const char *table, const struct wlb_nft_chain *c)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, c->hook);
	nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c->prio);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = txn_msg(x, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	nftnl_chain_free(ch);
	txn_next(x);
}

/* A rule message without a handle deletes every rule of the chain. */
static void flush_chain(struct txn *x, const char *table, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_IPV4);
	nlh = txn_msg(x, NFT_MSG_DELRULE, 0);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	txn_next(x);
}

static uint32_t fp_key_type(void)
{
	uint32_t t = 0;

	for (unsigned i = 0; i < 4; i++)
		t = t << NFT_TYPE_BITS | (i % 2 ? NFT_TYPE_INET_SERVICE : NFT_TYPE_IPV4_ADDR);
	return t;
}

/* Created when absent; an existing map of the same shape is left as it
 * is, elements and all (that is the point: see wlb_nft_install()). */
static void add_map(struct txn *x, const char *table, const struct wlb_nft_map *m, uint32_t id)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, m->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_IPV4);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP | NFT_SET_TIMEOUT);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, fp_key_type());
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, FP_KEY_LEN);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_TYPE_IPV4_ADDR);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 4);
	nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, m->size);
	nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, m->timeout_ms);
	nlh = txn_msg(x, NFT_MSG_NEWSET, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	txn_next(x);
}

static void e_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
}

static void e_load(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t reg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, reg);
	nftnl_rule_add_expr(r, e);
}

static void e_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len)
{
	e_load(r, base, off, len, NFT_REG_1);
}

static void e_cmp(struct nftnl_rule *r, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

static void match_tcp(struct nftnl_rule *r)
{
	uint8_t tcp = IPPROTO_TCP;

	e_meta(r, NFT_META_L4PROTO);
	e_cmp(r, &tcp, 1);
}

static void e_bitwise(struct nftnl_rule *r, const void *mask, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	uint8_t xor [4] = {0};

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
	nftnl_rule_add_expr(r, e);
}

/* The client's port bits that pick a worker; inside a tunnel the outer
 * and inner headers are taken as 20 bytes each (wlb decapsulates no
 * other).  A packet too short for the load simply matches no worker. */
static void match_port_bits(struct nftnl_rule *r, const struct wlb_nft_match *m)
{
	uint16_t mask = htons(m->mask), val = htons((uint16_t)m->b);
	bool dport = m->a == WLB_PORT_DPORT || m->a == WLB_PORT_INNER_DPORT;

	if (m->a == WLB_PORT_INNER_SPORT || m->a == WLB_PORT_INNER_DPORT) {
		e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 40 + (dport ? 2 : 0), 2);
	} else {
		match_tcp(r);
		e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, dport ? 2 : 0, 2);
	}
	e_bitwise(r, &mask, 2);
	e_cmp(r, &val, 2);
}

static void add_match(struct nftnl_rule *r, const struct wlb_nft_match *m)
{
	uint16_t port = htons((uint16_t)m->a);
	uint8_t b8 = (uint8_t)m->b, a8 = (uint8_t)m->a;
	char ifname[IFNAMSIZ] = {0};

	switch (m->kind) {
	case WLB_M_PROTO:
		e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 9, 1);
		e_cmp(r, &a8, 1);
		break;
	case WLB_M_TCP_SPORT:
	case WLB_M_TCP_DPORT:
		match_tcp(r);
		e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, m->kind == WLB_M_TCP_SPORT ? 0 : 2, 2);
		e_cmp(r, &port, 2);
		break;
	case WLB_M_TCP_FLAGS:
		match_tcp(r);
		e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1);
		e_bitwise(r, &a8, 1);
		e_cmp(r, &b8, 1);
		break;
	case WLB_M_PORT_BITS:
		match_port_bits(r, m);
		break;
	case WLB_M_MARK:
		e_meta(r, NFT_META_MARK);
		e_cmp(r, &m->a, 4);
		break;
	case WLB_M_SADDR:
	case WLB_M_DADDR:
		e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, m->kind == WLB_M_SADDR ? 12 : 16, 4);
		e_cmp(r, &m->a, 4);
		break;
	case WLB_M_IIFNAME:
		strncpy(ifname, m->s, IFNAMSIZ - 1);
		e_meta(r, NFT_META_IIFNAME);
		e_cmp(r, ifname, IFNAMSIZ);
		break;
	case WLB_M_NONE:
		break;
	}
}

/*
 * The fast path, in nft(8) terms:
 *   tcp flags & (fin|syn|rst) == 0
 *   update @map { ip saddr . tcp sport . ip daddr . tcp dport : <looked up> }
 *   ip daddr set ip saddr . tcp sport . ip daddr . tcp dport map @map
 *   counter accept
 * The lookup comes first: a miss ends the rule before the update could
 * add an element.  The key fills NFT_REG_1 (four 32-bit words, the ports
 * zero-padded by the payload loads), the value lands in NFT_REG_2.
 */
/* Register numbers as nft(8) writes them: NFT_REG_1 is NFT_REG32_00
 * under its older name. */
static void load_key(struct nftnl_rule *r, const uint32_t offs[4][2])
{
	for (unsigned i = 0; i < 4; i++)
		e_load(r, offs[i][0], offs[i][1], i % 2 ? 2 : 4, i ? NFT_REG32_00 + i : NFT_REG_1);
}

static void add_rewrite(struct nftnl_rule *r, const struct wlb_nft_map *m, uint32_t set_id,
			bool any_flags)
{
	static const uint32_t offs[4][2] = {
		{NFT_PAYLOAD_NETWORK_HEADER, 12},
		{NFT_PAYLOAD_TRANSPORT_HEADER, 0},
		{NFT_PAYLOAD_NETWORK_HEADER, 16},
		{NFT_PAYLOAD_TRANSPORT_HEADER, 2},
	};
	struct nftnl_expr *e;

	if (!any_flags)
		add_match(r, &(struct wlb_nft_match){.kind = WLB_M_TCP_FLAGS,
						     .a = WLB_TCP_SYN | WLB_TCP_FIN | WLB_TCP_RST});
	else
		match_tcp(r);
	load_key(r, offs);
	e = nftnl_expr_alloc("lookup");
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_2);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, m->name);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	nftnl_rule_add_expr(r, e);
	/*
	 * Traffic keeps the element alive: the kernel, not the daemon, sees
	 * it.  The update only refreshes an element the lookup just found, so
	 * its value is never used, but a map's update must carry one: 0.0.0.0,
	 * rather than the looked-up value, which nft(8) 1.0.6 cannot print
	 * (it aborts).  Should the daemon delete the element between the
	 * lookup and the update, the update re-creates it with 0.0.0.0; the
	 * daemon removes such elements when it reads the maps back, and a
	 * packet rewritten to 0.0.0.0 meanwhile belongs to a connection that
	 * was closing anyway.  The key is loaded again for nft(8) as well: it
	 * takes a register as consumed once read.
	 */
	load_key(r, offs);
	e = nftnl_expr_alloc("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_3);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &(uint32_t){0}, 4);
	nftnl_rule_add_expr(r, e);
	e = nftnl_expr_alloc("dynset");
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, NFT_REG_3);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, m->timeout_ms);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, m->name);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
	nftnl_rule_add_expr(r, e);
	/* the IPv4 checksum and the TCP pseudo-header sum follow the address,
	 * incrementally and offload-aware: a GSO packet stays one packet */
	e = nftnl_expr_alloc("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_SREG, NFT_REG_2);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, m->saddr ? 12 : 16);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_CSUM_TYPE, NFT_PAYLOAD_CSUM_INET);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_CSUM_OFFSET, 10);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_FLAGS, NFT_PAYLOAD_L4CSUM_PSEUDOHDR);
	nftnl_rule_add_expr(r, e);
	nftnl_rule_add_expr(r, nftnl_expr_alloc("counter"));
}

static void add_action(struct nftnl_rule *r, const struct wlb_nft_rule *spec)
{
	struct nftnl_expr *e;

	if (spec->action == WLB_A_QUEUE) {
		/* libnftnl takes ownership of the target's info blob */
		struct xt_NFQ_info_v3 *info = calloc(1, sizeof(*info));

		info->queuenum = spec->queue;
		info->queues_total = 1;
		info->flags = NFQ_FLAG_BYPASS;
		e = nftnl_expr_alloc("target");
		nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, "NFQUEUE");
		nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 3);
		nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, info, sizeof(*info));
	} else if (spec->action == WLB_A_NOTRACK) {
		e = nftnl_expr_alloc("notrack");
	} else {
		/* WLB_A_ACCEPT, and WLB_A_REWRITE after its expressions */
		e = nftnl_expr_alloc("immediate");
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
	}
	nftnl_rule_add_expr(r, e);
}

static void add_rule(struct txn *x, const struct wlb_nft_table *t, const struct wlb_nft_rule *spec)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, t->name);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, t->chains[spec->chain].name);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_IPV4);
	for (unsigned i = 0; i < WLB_NFT_MAX_MATCH; i++)
		add_match(r, &spec->m[i]);
	if (spec->action == WLB_A_REWRITE)
		add_rewrite(r, &t->maps[spec->map], spec->map + 1, spec->any_flags);
	add_action(r, spec);
	nlh = txn_msg(x, NFT_MSG_NEWRULE, NLM_F_APPEND | NLM_F_CREATE);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	txn_next(x);
}

int wlb_nft_install(const struct wlb_nft_table *t, char *err, size_t errlen)
{
	struct txn x;
	int ret;

	txn_begin(&x);
	/* create what is missing, flush the rules, keep the maps: in one
	 * transaction, so packets meet the old rules or the new, never none */
	add_table(&x, t->name, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	for (unsigned i = 0; i < t->n_chains; i++) {
		add_chain(&x, t->name, &t->chains[i]);
		flush_chain(&x, t->name, t->chains[i].name);
	}
	for (unsigned i = 0; i < t->n_maps; i++)
		add_map(&x, t->name, &t->maps[i], i + 1);
	for (unsigned i = 0; i < t->n_rules; i++)
		add_rule(&x, t, &t->rules[i]);
	ret = txn_commit(&x, err, errlen);
	txn_free(&x);
	return ret;
}

int wlb_nft_remove(const char *table, char *err, size_t errlen)
{
	struct txn x;
	int ret;

	txn_begin(&x);
	add_table(&x, table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	add_table(&x, table, NFT_MSG_DELTABLE, 0);
	ret = txn_commit(&x, err, errlen);
	txn_free(&x);
	return ret;
}

/* A chain or table that goes only when it holds nothing (NLM_F_NONREC:
 * the kernel checks, in the transaction, that no rule or chain is left). */
static void del_empty(struct txn *x, const char *table, const char *chain)
{
	struct nftnl_chain *ch;
	struct nlmsghdr *nlh;

	if (!chain) {
		add_table(x, table, NFT_MSG_DELTABLE, NLM_F_NONREC);
		return;
	}
	ch = nftnl_chain_alloc();
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, chain);
	nlh = txn_msg(x, NFT_MSG_DELCHAIN, NLM_F_NONREC);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	nftnl_chain_free(ch);
	txn_next(x);
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	return nftnl_chain_nlmsg_parse(nlh, data) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int table_parse_cb(const struct nlmsghdr *nlh, void *data)
{
	return nftnl_table_nlmsg_parse(nlh, data) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* One request, its answers through cb: 0, or -1 with errno set (ENOENT:
 * no such object). */
static int request(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int n, r = -1, e = 0;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		e = errno;
		goto out;
	}
	while ((n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), cb, data);
		if (r <= 0)
			break;
	}
	if (r < 0)
		e = errno;
out:
	if (nl)
		mnl_socket_close(nl);
	errno = e;
	return r < 0 ? -1 : 0;
}

/* A delete refused because the object is not empty, or gone already, is
 * no error: what is not empty belongs to someone else and stays. */
static int prune_commit(struct txn *x, char *err, size_t errlen)
{
	int r = txn_commit(x, err, errlen);

	txn_free(x);
	return r == -EBUSY || r == -ENOENT ? 0 : r;
}

int wlb_nft_prune(const char *table, const char *chain, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	struct txn x;
	int ret = -1;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_IPV4, NLM_F_ACK,
				    (uint32_t)time(NULL));
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_unset(c, NFTNL_CHAIN_TABLE);
	nftnl_chain_unset(c, NFTNL_CHAIN_NAME);
	if (request(nlh, chain_cb, c) < 0) {
		if (errno == ENOENT)
			ret = 0;
		else
			snprintf(err, errlen, "nftables: chain %s of table ip %s: %s", chain, table,
				 strerror(errno));
		goto out;
	}
	/* a policy other than accept filters: such a chain is not empty */
	ret = 0;
	if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM) ||
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) != NF_ACCEPT ||
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_USE) != 0)
		goto out;
	txn_begin(&x);
	del_empty(&x, table, chain);
	ret = prune_commit(&x, err, errlen);
	if (ret < 0)
		goto out;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_IPV4, NLM_F_ACK,
				    (uint32_t)time(NULL));
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_unset(t, NFTNL_TABLE_NAME);
	/* kernels that ignore NLM_F_NONREC for tables would delete what is
	 * in it: look first */
	if (request(nlh, table_parse_cb, t) < 0 || !nftnl_table_is_set(t, NFTNL_TABLE_USE) ||
	    nftnl_table_get_u32(t, NFTNL_TABLE_USE) != 0)
		goto out;
	txn_begin(&x);
	del_empty(&x, table, NULL);
	ret = prune_commit(&x, err, errlen);
out:
	nftnl_chain_free(c);
	nftnl_table_free(t);
	return ret;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	*(int *)data = 1;
	return MNL_CB_OK;
}

int wlb_nft_exists(const char *table)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int found = -1, n;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_IPV4, NLM_F_ACK, 1);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nftnl_table_nlmsg_build_payload(nlh, t);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	found = 0;
	n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
	while (n > 0) {
		int r = mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), table_cb, &found);

		if (r <= 0)
			break;
		n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
	}
out:
	nftnl_table_free(t);
	if (nl)
		mnl_socket_close(nl);
	return found;
}

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *a, *list;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(list, a)(*(long *)data)++;
	}
	return MNL_CB_OK;
}

long wlb_nft_map_count(const char *table, const char *map)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	long count = 0;
	int n, r = -1;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_IPV4, NLM_F_DUMP | NLM_F_ACK,
				    1);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, map);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	while ((n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		r = mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), count_cb, &count);
		if (r <= 0)
			break;
	}
out:
	if (nl)
		mnl_socket_close(nl);
	return r < 0 ? -1 : count;
}

/* ---------------------------------------------------------------- print */

static const char *const hook_names[] = {"prerouting", "input", "forward", "output", "postrouting"};

static void print_match(FILE *f, const struct wlb_nft_match *m)
{
	char a[INET_ADDRSTRLEN];

	switch (m->kind) {
	case WLB_M_PROTO:
		fprintf(f, "ip protocol %u ", m->a);
		break;
	case WLB_M_TCP_SPORT:
		fprintf(f, "tcp sport %u ", m->a);
		break;
	case WLB_M_TCP_DPORT:
		fprintf(f, "tcp dport %u ", m->a);
		break;
	case WLB_M_TCP_FLAGS:
		fprintf(f, "tcp flags & 0x%02x == 0x%02x ", m->a, m->b);
		break;
	case WLB_M_MARK:
		fprintf(f, "meta mark 0x%08x ", m->a);
		break;
	case WLB_M_IIFNAME:
		fprintf(f, "iifname \"%s\" ", m->s);
		break;
	case WLB_M_SADDR:
	case WLB_M_DADDR:
		inet_ntop(AF_INET, &m->a, a, sizeof(a));
		fprintf(f, "ip %s %s ", m->kind == WLB_M_SADDR ? "saddr" : "daddr", a);
		break;
	case WLB_M_PORT_BITS:
		if (m->a == WLB_PORT_INNER_SPORT || m->a == WLB_PORT_INNER_DPORT)
			fprintf(f, "@nh,%u,16 & 0x%x == 0x%x ",
				m->a == WLB_PORT_INNER_DPORT ? 336 : 320, m->mask, m->b);
		else
			fprintf(f, "tcp %s & 0x%x == 0x%x ",
				m->a == WLB_PORT_DPORT ? "dport" : "sport", m->mask, m->b);
		break;
	case WLB_M_NONE:
		break;
	}
}

#define FP_KEY "ip saddr . tcp sport . ip daddr . tcp dport"

void wlb_nft_print(const struct wlb_nft_table *t, FILE *f)
{
	fprintf(f, "table ip %s {\n", t->name);
	for (unsigned i = 0; i < t->n_maps; i++)
		fprintf(f,
			"\tmap %s {\n\t\ttype ipv4_addr . inet_service . ipv4_addr . "
			"inet_service : ipv4_addr\n\t\tsize %u; flags timeout; timeout %ums;\n\t}\n",
			t->maps[i].name, t->maps[i].size, t->maps[i].timeout_ms);
	for (unsigned c = 0; c < t->n_chains; c++) {
		fprintf(f, "\tchain %s {\n\t\ttype filter hook %s priority %d; policy accept;\n",
			t->chains[c].name, hook_names[t->chains[c].hook % 5], t->chains[c].prio);
		for (unsigned i = 0; i < t->n_rules; i++) {
			const struct wlb_nft_rule *r = &t->rules[i];

			if (r->chain != c)
				continue;
			fprintf(f, "\t\t");
			for (unsigned m = 0; m < WLB_NFT_MAX_MATCH; m++)
				print_match(f, &r->m[m]);
			if (r->action == WLB_A_REWRITE)
				fprintf(f,
					"%supdate @%s { " FP_KEY
					" timeout %ums : 0.0.0.0 } ip %s set " FP_KEY
					" map @%s counter accept\n",
					r->any_flags ? "meta l4proto tcp "
						     : "tcp flags & (fin|syn|rst) == 0 ",
					t->maps[r->map].name, t->maps[r->map].timeout_ms,
					t->maps[r->map].saddr ? "saddr" : "daddr",
					t->maps[r->map].name);
			else if (r->action == WLB_A_QUEUE)
				fprintf(f, "queue num %u bypass\n", r->queue);
			else
				fprintf(f, "%s\n",
					r->action == WLB_A_NOTRACK ? "notrack" : "accept");
		}
		fprintf(f, "\t}\n");
	}
	fprintf(f, "}\n");
}
