/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The iptables backend of wlb-rules: the rules of a struct wlb_nft_table
 * as iptables rules, for hosts whose firewall is managed with iptables.
 *
 * Each nftables chain becomes a user-defined chain of the daemon's own
 * ("WLB-CLIENTGW-PRE" for chain "pre" of table "wlb_clientgw"), called by
 * one jump from the built-in chain of the iptables table that runs at the
 * chain's hook and priority.  Only the daemon's chains and jumps are ever
 * written, with iptables-restore --noflush, so rules of other programs in
 * the same tables stay as they are.  The fast path (WLB_A_REWRITE) has no
 * iptables form and is left out: the daemons then translate every packet
 * in userspace.
 *
 * iptables(8) and iptables-restore(8) are the ones found in PATH, run
 * without a shell.
 */
#ifndef WLB_IPT_H
#define WLB_IPT_H

#include <stdbool.h>
#include <stdio.h>

#include "nft.h"

#define WLB_IPT_CHAIN_LEN 29 /* iptables' longest chain name, with the NUL */

/* Where an nftables chain's rules go. */
struct wlb_ipt_place {
	const char *table;   /* "raw", "mangle", "filter" */
	const char *builtin; /* "PREROUTING", ... */
	bool nearest;	     /* no table runs at that priority: the nearest one */
};

/* 0, or -1 when no iptables table runs at or near the chain's priority. */
int wlb_ipt_place(const struct wlb_nft_chain *c, struct wlb_ipt_place *p);
/* The daemon's chain for chain i of t: "WLB-" TABLE "-" CHAIN, upper case,
 * the table's "wlb_" left out. */
void wlb_ipt_chain_name(const struct wlb_nft_table *t, unsigned i, char name[WLB_IPT_CHAIN_LEN]);

/*
 * The iptables-restore --noflush input that installs t's rules in one
 * iptables table: "*TABLE", a chain line per daemon chain placed there
 * (which creates the chain, or flushes it), its rules, the jumps, COMMIT.
 * jump (indexed by chain; NULL: all) says which jumps to add: a jump that
 * is already there must not be added twice.  Returns the chains of t that
 * go to that table (0: nothing written), or -1 with err set when a chain
 * has no place or a rule no iptables form (f then holds part of the text).
 */
int wlb_ipt_render_install(const struct wlb_nft_table *t, const char *table, const bool *jump,
			   FILE *f, char *err, size_t errlen);
/* The input that removes them: the jumps where jumped (NULL: all), then
 * each chain that exists (NULL: all) flushed and deleted.  Returns the
 * lines written between "*TABLE" and COMMIT; 0: nothing to do, nothing
 * written. */
int wlb_ipt_render_remove(const struct wlb_nft_table *t, const char *table, const bool *exists,
			  const bool *jumped, FILE *f);
/* Both for every table in turn (for --dry-run and show): what install or
 * remove feeds to iptables-restore when nothing of t is loaded yet, or all
 * of it is. */
int wlb_ipt_print_install(const struct wlb_nft_table *t, FILE *f, char *err, size_t errlen);
void wlb_ipt_print_remove(const struct wlb_nft_table *t, FILE *f);

/* Install t's rules, one iptables-restore transaction per table. */
int wlb_ipt_install(const struct wlb_nft_table *t, char *err, size_t errlen);
/* Remove them (absent is success); with iptables-nft, a built-in chain
 * left empty by it goes too, as does its table when it has nothing else. */
int wlb_ipt_remove(const struct wlb_nft_table *t, char *err, size_t errlen);

#endif
