/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemons' netfilter rules, as one nftables table per daemon, loaded
 * in one atomic transaction through libnftnl.
 *
 * Why libnftnl and not nft(8): kernels built without CONFIG_NFT_QUEUE (this
 * project's lab machines among them) refuse nft's native "queue"
 * statement, while the xtables NFQUEUE target works everywhere through
 * nft_compat.  iptables(8) can load that target only into its fixed tables,
 * whose priorities do not include "after source NAT", which the client
 * gateway needs.  Built here, the rule carries the compat NFQUEUE target in
 * a table and at a priority of our choosing, and "nft list ruleset" shows
 * it as "queue num N bypass".
 */
#ifndef WLB_NFT_H
#define WLB_NFT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum wlb_nft_match_kind {
	WLB_M_NONE = 0,
	WLB_M_PROTO,	 /* ip protocol == a */
	WLB_M_TCP_SPORT, /* tcp sport == a (host order) */
	WLB_M_TCP_DPORT, /* tcp dport == a (host order) */
	WLB_M_TCP_FLAGS, /* tcp flags & a == b */
	WLB_M_MARK,	 /* meta mark == a */
	WLB_M_IIFNAME,	 /* iifname == s */
	WLB_M_SADDR,	 /* ip saddr == a (network order) */
	WLB_M_DADDR,	 /* ip daddr == a (network order) */
	WLB_M_PORT_BITS, /* the port at a (enum wlb_nft_port) & mask == b */
};

/* Where a worker split finds the client's port (wlb-rules(8), "WORKERS"). */
enum wlb_nft_port {
	WLB_PORT_SPORT,	      /* tcp sport */
	WLB_PORT_DPORT,	      /* tcp dport */
	WLB_PORT_INNER_SPORT, /* of the TCP header inside IP-in-IP, no IP options */
	WLB_PORT_INNER_DPORT,
};

struct wlb_nft_match {
	enum wlb_nft_match_kind kind;
	uint32_t a, b;
	const char *s;
	uint16_t mask; /* WLB_M_PORT_BITS */
};

enum wlb_nft_action {
	WLB_A_QUEUE, /* NFQUEUE num queue, bypass when nobody listens */
	WLB_A_NOTRACK,
	WLB_A_ACCEPT,
	/* the fast path: a packet without SYN, FIN or RST whose 4-tuple is in
	 * the rule's map gets the map's address as its source or destination
	 * (checksums fixed by the kernel, offloads kept), refreshes the
	 * element's timeout, and is accepted; any other packet goes on */
	WLB_A_REWRITE,
};

#define WLB_NFT_MAX_MATCH 4
#define WLB_NFT_MAX_CHAINS 4
#define WLB_NFT_MAX_RULES 1024
#define WLB_NFT_MAX_MAPS 2

/* The fast-path maps every daemon table may have, keyed by
 * ip saddr . tcp sport . ip daddr . tcp dport, valued by an address. */
#define WLB_NFT_MAP_DST "fp_dst" /* the value replaces the destination */
#define WLB_NFT_MAP_SRC "fp_src" /* the value replaces the source */

struct wlb_nft_map {
	const char *name;
	bool saddr;	     /* rewrites the source (else the destination) */
	uint32_t size;	     /* most elements */
	uint32_t timeout_ms; /* an element's life without traffic */
};

struct wlb_nft_rule {
	unsigned chain; /* index into chains */
	struct wlb_nft_match m[WLB_NFT_MAX_MATCH];
	enum wlb_nft_action action;
	uint16_t queue;
	unsigned map;	/* WLB_A_REWRITE: index into maps */
	bool any_flags; /* WLB_A_REWRITE: SYN, FIN and RST too (no daemon to see them) */
};

struct wlb_nft_chain {
	const char *name;
	unsigned hook; /* NF_INET_* */
	int prio;
	bool to_client; /* its packets go to the client: a worker split by dport */
};

struct wlb_nft_table {
	const char *name;
	struct wlb_nft_chain chains[WLB_NFT_MAX_CHAINS];
	unsigned n_chains;
	struct wlb_nft_rule rules[WLB_NFT_MAX_RULES];
	unsigned n_rules;
	struct wlb_nft_map maps[WLB_NFT_MAX_MAPS];
	unsigned n_maps;
	bool overflow; /* a rule did not fit: never install a partial table */
};

/* Replace the table's rules (family ip) atomically: the table, its chains
 * and maps are created when absent; existing maps keep their elements, so
 * connections on the fast path survive a reinstall (a daemon's restart). */
int wlb_nft_install(const struct wlb_nft_table *t, char *err, size_t errlen);
/* Delete the table with its maps; absent is not an error. */
int wlb_nft_remove(const char *table, char *err, size_t errlen);
/* Delete base chain chain of table (family ip) if it has no rule and
 * policy accept, then the table if nothing is left in it; anything else
 * stays, absent is no error.  For the iptables backend: see ipt.c. */
int wlb_nft_prune(const char *table, const char *chain, char *err, size_t errlen);
/* Elements in one of the table's maps: >= 0, or -1 (absent, error). */
long wlb_nft_map_count(const char *table, const char *map);
/* Whether the table exists: 1 yes, 0 no, -1 error. */
int wlb_nft_exists(const char *table);
/* The same rules in nft(8) syntax, for --dry-run and the manual. */
void wlb_nft_print(const struct wlb_nft_table *t, FILE *f);

#endif
