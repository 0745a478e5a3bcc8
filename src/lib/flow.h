/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flow table: fixed capacity, chosen at start-up; no allocation afterwards.
 *
 * A flow is keyed by its 4-tuple as the gateway sees it (client side and
 * server side).  Two hash indexes point into one entry array:
 *   - the tuple index, on the whole key;
 *   - the endpoint index, on (client address, client port, server port),
 *     which finds a flow from a packet whose server address is not the one
 *     the client asked for (a replica answering in place of the origin).
 * Chains are singly linked through 32-bit slot numbers, so an entry costs
 * 48 bytes and the two bucket arrays 8 bytes per slot.
 *
 * Time is a millisecond clock passed in by the caller (tests simulate it).
 * An entry whose deadline has passed is treated as absent by every lookup
 * and reclaimed lazily or by wlb_flow_expire()'s bounded sweep.
 *
 * Eviction when full: pending entries (half-open: class WLB_FLOW_PENDING)
 * go first, least recently used first; settled entries (a connection that
 * has a winner) are evicted, LRU first, only when no pending entry is left.
 * So a SYN flood recycles its own half-open entries and cannot push out
 * established connections until the table holds nothing else.
 */
#ifndef WLB_FLOW_H
#define WLB_FLOW_H

#include <stdbool.h>
#include <stdint.h>

/* Network byte order.  IPv6 support widens this union; flow.c hashes and
 * compares addresses through two small helpers, the only code to change. */
union wlb_addr {
	uint32_t v4;
};

struct wlb_flow_key {
	union wlb_addr client;
	union wlb_addr server;
	uint16_t client_port; /* network byte order */
	uint16_t server_port; /* network byte order */
};

enum wlb_flow_class {
	WLB_FLOW_PENDING = 0, /* evicted first */
	WLB_FLOW_SETTLED = 1,
	WLB_FLOW_NCLASS
};

#define WLB_FLOW_NIL UINT32_MAX

struct wlb_flow {
	struct wlb_flow_key key;
	union wlb_addr peer; /* owner-defined: e.g. the replica that won */
	uint32_t nonce;	     /* owner-defined: the tag nonce, wire order */
	uint32_t created_ms; /* low 32 bits of the clock */
	uint32_t expires_ms;
	uint8_t state; /* owner-defined */
	uint8_t cls;   /* enum wlb_flow_class */
	uint8_t used : 1;
	uint8_t hits : 7; /* owner-defined: e.g. packets seen, saturating */
	uint8_t flags;	  /* owner-defined */
	/* private links: tuple chain, endpoint chain, LRU list */
	uint32_t tnext, enext, lprev, lnext;
};

struct wlb_flow_stats {
	uint32_t capacity;
	uint32_t count;
	uint32_t count_cls[WLB_FLOW_NCLASS];
	uint64_t inserted;
	uint64_t evicted;
	uint64_t expired;
};

struct wlb_flow_table;

/* capacity is rounded up to a power of two (at least 16, at most 2^26).
 * Returns NULL when the allocation fails. */
struct wlb_flow_table *wlb_flow_table_new(uint32_t capacity);
void wlb_flow_table_free(struct wlb_flow_table *t);
size_t wlb_flow_table_bytes(const struct wlb_flow_table *t);

struct wlb_flow *wlb_flow_lookup(struct wlb_flow_table *t, const struct wlb_flow_key *key,
				 uint64_t now_ms);
/* Walk the flows that share (client, client_port, server_port), whatever
 * their server address: pass prev = NULL for the first, then the last one
 * returned.  Expired entries are skipped. */
struct wlb_flow *wlb_flow_lookup_endpoint(struct wlb_flow_table *t, union wlb_addr client,
					  uint16_t client_port, uint16_t server_port,
					  const struct wlb_flow *prev, uint64_t now_ms);
/* Insert a key known to be absent (look it up first).  Evicts by the rule
 * above when full, so it never fails.  The entry is zeroed but for key,
 * class and times. */
struct wlb_flow *wlb_flow_insert(struct wlb_flow_table *t, const struct wlb_flow_key *key,
				 enum wlb_flow_class cls, uint64_t now_ms, uint32_t timeout_ms);
/* Push the deadline to now + timeout and mark the entry most recently used. */
void wlb_flow_touch(struct wlb_flow_table *t, struct wlb_flow *f, uint64_t now_ms,
		    uint32_t timeout_ms);
void wlb_flow_set_class(struct wlb_flow_table *t, struct wlb_flow *f, enum wlb_flow_class cls);
void wlb_flow_remove(struct wlb_flow_table *t, struct wlb_flow *f);
/* Examine at most budget slots (round robin) and free the expired ones.
 * Returns how many were freed.  Call it from a periodic tick. */
uint32_t wlb_flow_expire(struct wlb_flow_table *t, uint64_t now_ms, uint32_t budget);
void wlb_flow_stats(const struct wlb_flow_table *t, struct wlb_flow_stats *st);
/* Visit every live entry (for dumps; not for the packet path). */
void wlb_flow_foreach(struct wlb_flow_table *t, uint64_t now_ms,
		      void (*fn)(const struct wlb_flow *f, void *arg), void *arg);

static inline bool wlb_flow_expired(const struct wlb_flow *f, uint64_t now_ms)
{
	return (int32_t)((uint32_t)now_ms - f->expires_ms) >= 0;
}

#endif
