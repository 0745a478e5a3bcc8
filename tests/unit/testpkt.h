/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the unit tests share: crafting IPv4/TCP packets with valid
 * checksums, the wlb tag option, malformed variants of a packet, checks of
 * what a policy decided, configurations from text and the Check runner.
 */
#ifndef WLB_TESTPKT_H
#define WLB_TESTPKT_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fastpath.h"
#include "pkt.h"
#include "tunfp.h"

struct wlb_action;
struct wlb_conf;

struct tp_opts {
	const char *src, *dst; /* dotted quads */
	uint16_t sport, dport; /* host order */
	uint8_t flags;
	uint32_t seq, ack;
	const uint8_t *opts; /* TCP options, padded by the caller to a multiple of 4 */
	unsigned optlen;
	const uint8_t *payload;
	size_t paylen;
	const uint8_t *ipopts; /* IP options, multiple of 4 */
	unsigned ipoptlen;
	bool df;
};

/* A packet of the policy tests and its length. */
#define TP_PKT_CAP 4096
struct tp_pk {
	uint8_t b[TP_PKT_CAP];
	size_t len;
};

/* Options of a typical Linux SYN: MSS 1460, SACK-permitted, timestamps, WS 7. */
extern const uint8_t tp_linux_syn_opts[20];

uint32_t tp_addr(const char *dotted); /* network order */
uint16_t tp_port(uint16_t host);      /* network order */
/* Build into buf (cap bytes); returns the length. */
size_t tp_build(uint8_t *buf, size_t cap, const struct tp_opts *o);
/* Parse and assert success; returns the parsed view. */
struct wlb_pkt tp_parse(uint8_t *buf, size_t len, size_t cap);
/* A pseudo-random number generator with a fixed seed for reproducible tests. */
uint32_t tp_rand(void);
void tp_srand(uint32_t seed);

/* ------------------------------------------------------------ the tag */

/* Write the WLB_TAG_LEN bytes of a wlb tag option at o (nonce in network order). */
void tp_tag_opt(uint8_t *o, uint8_t flags, uint32_t nonce, uint8_t version);

/* The options of a SYN as wlb-clientgw tags it: tp_linux_syn_opts, NOP, NOP
 * and the tag option.  Writes TP_TAGGED_SYN_OPTLEN bytes at o; returns that. */
#define TP_TAGGED_SYN_OPTLEN 32
unsigned tp_tagged_syn_opts(uint8_t *o, uint8_t flags, uint32_t nonce, uint8_t version);

/* ------------------------------------------ malformed variants of a packet */

/* For a packet from tp_build() with no IP options and at least one TCP
 * option with a length byte (as the first option). */
void tp_mut_empty(struct tp_pk *k);	  /* no bytes at all */
void tp_mut_short(struct tp_pk *k);	  /* 19 bytes: less than an IP header */
void tp_mut_version6(struct tp_pk *k);	  /* IP version 6 */
void tp_mut_ihl4(struct tp_pk *k);	  /* IHL 4: less than the minimum */
void tp_mut_ihl_beyond(struct tp_pk *k);  /* IHL 15 in a datagram of 40 bytes */
void tp_mut_doff4(struct tp_pk *k);	  /* TCP data offset 4: less than the minimum */
void tp_mut_doff_beyond(struct tp_pk *k); /* TCP data offset 15: 60 bytes of header */
void tp_mut_optlen0(struct tp_pk *k);	  /* the first option's length 0 */

/* ----------------------------------------------------- policy decisions */

/* Copy len bytes of data into k and assert that they are an IPv4/TCP
 * packet that parses, with valid checksums; returns the view of k. */
struct wlb_pkt tp_assert_valid(struct tp_pk *k, const uint8_t *data, size_t len);
/* The decision was WLB_MANGLE and the new packet, copied into out, is valid
 * (tp_assert_valid()) and all of act->out_len; returns the view of out. */
struct wlb_pkt tp_assert_mangled(const struct wlb_action *act, struct tp_pk *out);
/* The decision was WLB_ACCEPT with n_emit packets emitted, and the packet
 * decided on (k) is byte for byte what it was before (before). */
void tp_assert_accepted_unchanged(const struct wlb_action *act, const struct tp_pk *before,
				  const struct tp_pk *k, unsigned n_emit);
/* An exact-size heap copy of k's bytes for a policy to decide on: ASan sees
 * every byte read beyond it.  The caller frees it. */
uint8_t *tp_heap_copy(const struct tp_pk *k);
/* One decision of a randomized run, on the bytes given (a copy of k, the
 * input): the verdict is accept, drop or mangle; a mangled packet parses
 * and, when the input had valid checksums (input_ok), keeps them; an
 * accepted one is left as it was.  i, the iteration, for the messages. */
void tp_assert_fuzz_outcome(const struct wlb_action *act, const uint8_t *given,
			    const struct tp_pk *k, bool input_ok, int i);

/* ------------------------------------------------------------ IP-in-IP */

/* Encapsulate the packet in inner (IPv4-in-IPv4, src -> dst, TTL 64, as
 * wlb_ipip_encap() does) into out. */
void tp_encap(struct tp_pk *out, const struct tp_pk *inner, const char *src, const char *dst);
/* Copy len bytes of data into k and assert an IP-in-IP packet: an outer
 * header of 20 bytes with a valid checksum, protocol 4, not a fragment, its
 * total length all of len; inside, an IPv4/TCP packet that parses to the
 * end with valid checksums.  Returns the outer view; *inner is the inner
 * one (pointing into k). */
struct wlb_pkt tp_assert_ipip(struct tp_pk *k, const uint8_t *data, size_t len,
			      struct wlb_pkt *inner);
/* The decision was WLB_MANGLE and the new packet, copied into out, is
 * IP-in-IP (tp_assert_ipip()); returns the outer view, *inner the inner. */
struct wlb_pkt tp_assert_mangled_ipip(const struct wlb_action *act, struct tp_pk *out,
				      struct wlb_pkt *inner);
/* The value of the packet's MSS option, or -1 when it has none. */
int tp_mss(const struct wlb_pkt *p);

/* The sum of n counters. */
uint64_t tp_counters_sum(const uint64_t *c, unsigned n);
/* The dump has the line wlb_counters_print() writes for each of n counters. */
void tp_assert_counter_lines(const char *dump, const char *const *names, const uint64_t *c,
			     unsigned n);

/* ------------------------------------------------------- the fast path */

/* A fast-path key from dotted quads and host-order ports. */
struct wlb_fp_key tp_fp_key(const char *saddr, uint16_t sport, const char *daddr, uint16_t dport);
/* The change queued at i in fp is kind on map m for key k, and, when
 * value is not NULL, sets that address. */
void tp_assert_fp_op(const struct wlb_fp *fp, unsigned i, enum wlb_fp_op_kind kind,
		     enum wlb_fp_map m, struct wlb_fp_key k, const char *value);

/* The change logged at i by an offline kernel tunnel (tunfp.h): an add
 * or a delete on map m for inner key k; an add with these outer addresses
 * (dotted quads) and mark. */
void tp_assert_tun_change(const struct wlb_tun *t, unsigned i, bool add, enum wlb_tun_map m,
			  struct wlb_fp_key k, const char *osrc, const char *odst, uint32_t mark);

/* --------------------------------------------------------------- harness */

/* The configuration in text, loaded for the daemons in need (WLB_NEED_*);
 * a configuration refused fails the test with the error. */
struct wlb_conf *tp_conf(const char *text, unsigned need);
/* Run every test of s; returns the exit status for main(). */
int tp_run_suite(Suite *s);

#endif
