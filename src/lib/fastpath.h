/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel fast path of a decided connection: the daemon puts the
 * connection's address rewrite into its table's maps (see nft.h,
 * WLB_A_REWRITE), and the kernel rewrites every later packet without
 * SYN, FIN or RST itself; those three still come to the daemon, which
 * removes the elements when the connection closes.
 *
 * Element changes are queued by the policies while they decide (no system
 * call on the packet path) and leave in one nftables transaction per
 * receive round.  A transaction is all or nothing, so one refused change
 * (deleting an element that already timed out) would lose the others: the
 * refused ones are dropped and the rest sent again.
 *
 * Liveness: the kernel refreshes an element's timeout with every packet
 * it rewrites, and the daemon, which no longer sees that traffic, reads
 * the remaining timeouts back now and then (wlb_fp_dump()) to keep its
 * own flow entries alive as long as the kernel's.
 *
 * A struct wlb_fp opened offline (wlb_fp_new_offline()) records the
 * changes without a socket: the unit tests read them.
 */
#ifndef WLB_FASTPATH_H
#define WLB_FASTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

enum wlb_fp_map {
	WLB_FP_DST = 0, /* the value becomes the destination address */
	WLB_FP_SRC = 1, /* the value becomes the source address */
	WLB_FP_NMAPS
};

/* A packet's 4-tuple as it reaches the rule; network byte order. */
struct wlb_fp_key {
	uint32_t saddr;
	uint16_t sport;
	uint32_t daddr;
	uint16_t dport;
};

/* Field by field: the key has padding, whose bytes are not ours to compare. */
static inline bool wlb_fp_key_eq(const struct wlb_fp_key *a, const struct wlb_fp_key *b)
{
	return a->saddr == b->saddr && a->sport == b->sport && a->daddr == b->daddr &&
	       a->dport == b->dport;
}

/* A connection's packet one way or the other as its 4-tuple, and back: the
 * client's (from_client) or the server's, the flow's addresses kept. */
static inline struct wlb_fp_key wlb_fp_key_of(const struct wlb_flow_key *k, bool from_client)
{
	return from_client ? (struct wlb_fp_key){k->client.v4, k->client_port, k->server.v4,
						 k->server_port}
			   : (struct wlb_fp_key){k->server.v4, k->server_port, k->client.v4,
						 k->client_port};
}

static inline struct wlb_flow_key wlb_flow_key_of(const struct wlb_fp_key *e, bool from_client)
{
	struct wlb_flow_key k = {0};

	k.client.v4 = from_client ? e->saddr : e->daddr;
	k.client_port = from_client ? e->sport : e->dport;
	k.server.v4 = from_client ? e->daddr : e->saddr;
	k.server_port = from_client ? e->dport : e->sport;
	return k;
}

enum wlb_fp_op_kind {
	WLB_FP_ADD,
	WLB_FP_DEL,
	WLB_FP_REPLACE, /* an add the kernel refused for a stale value: delete, add */
};

struct wlb_fp_op {
	uint8_t kind;
	uint8_t map;
	uint32_t value; /* WLB_FP_ADD: the new address */
	struct wlb_fp_key key;
};

#define WLB_FP_MAX_OPS 1024 /* queued before a flush is forced */

/*
 * A connection is handed to the kernel once this many of its packets
 * (after the handshake) have crossed the daemon.  An element costs two
 * nftables transactions (add, delete), far more than the few packets of a
 * short request and answer; a transfer that gets this far has many more
 * to come.
 */
#define WLB_FP_AFTER_PACKETS 16
/* counted in struct wlb_flow's 6-bit hits */
_Static_assert(WLB_FP_AFTER_PACKETS <= 63, "WLB_FP_AFTER_PACKETS must fit struct wlb_flow's hits");

/*
 * How often a daemon reads its maps back: a quarter of the elements'
 * timeout, within 1 to 30 s.  A flow the kernel carries is given, at each
 * read-back, its element's remaining life plus this (and a second of
 * margin): traffic that refreshes the element in between never reaches the
 * daemon, and its flow must not lapse before the next read-back sees it.
 */
static inline uint32_t wlb_fp_sync_ms(uint32_t timeout_ms)
{
	uint32_t t = timeout_ms / 4;

	return t < 1000 ? 1000 : t > 30000 ? 30000 : t;
}

/* What a flow the kernel carries is given at a read-back (see above). */
static inline uint32_t wlb_fp_keep_ms(uint32_t remaining_ms, uint32_t timeout_ms)
{
	return remaining_ms + wlb_fp_sync_ms(timeout_ms) + 1000;
}

struct wlb_fp_stats {
	uint64_t added, deleted;
	uint64_t transactions;
	uint64_t refused;  /* changes the kernel refused (other than below) */
	uint64_t gone;	   /* deletions of elements that had timed out */
	uint64_t dumped;   /* elements read back */
	uint64_t failures; /* transactions that could not be sent */
};

struct wlb_fp {
	const char *table;
	uint32_t timeout_ms;
	struct wlb_fp_op ops[WLB_FP_MAX_OPS];
	unsigned n_ops;
	struct wlb_fp_stats st;
	/* private */
	struct mnl_socket *nl;
	char *buf, *rbuf;
	uint32_t seq;
	bool dumping;
};

/* Fails (NULL, err set) when netlink or the table's maps are missing. */
struct wlb_fp *wlb_fp_open(const char *table, uint32_t timeout_ms, char *err, size_t errlen);
struct wlb_fp *wlb_fp_new_offline(uint32_t timeout_ms);
void wlb_fp_close(struct wlb_fp *fp);

/* Queue a change; fp may be NULL (no fast path): nothing happens. */
void wlb_fp_add(struct wlb_fp *fp, enum wlb_fp_map m, const struct wlb_fp_key *k, uint32_t value);
void wlb_fp_del(struct wlb_fp *fp, enum wlb_fp_map m, const struct wlb_fp_key *k);
/* Send what is queued.  Returns 0, or -1 when the transaction did not
 * happen (counted): additions are dropped (the daemon goes on carrying
 * those packets itself), deletions stay queued for the next flush. */
int wlb_fp_flush(struct wlb_fp *fp);

typedef void (*wlb_fp_elem_fn)(void *arg, enum wlb_fp_map m, const struct wlb_fp_key *k,
			       uint32_t value, uint32_t expires_ms);
/* Read every element of both maps back, with the time each has left. */
int wlb_fp_dump(struct wlb_fp *fp, wlb_fp_elem_fn fn, void *arg);

#endif
