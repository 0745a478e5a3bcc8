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
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Network byte order.  IPv6 support widens this union; the lookups below
 * hash and compare addresses through two small helpers, the only code to
 * change (with the key's 32-bit words in wlb_flow_hash3()). */
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
	uint32_t
		since_ms; /* low 32 bits of the clock at the insert, or of a later event the owner dates */
	uint32_t expires_ms;
	uint8_t state;	   /* owner-defined */
	uint8_t lru_epoch; /* private: wlb_flow_epoch() of its insert or last promotion */
	uint8_t used : 1;
	uint8_t cls : 1;  /* enum wlb_flow_class */
	uint8_t hits : 6; /* owner-defined: e.g. packets seen, saturating at 63 */
	uint8_t flags;	  /* owner-defined */
	/* private links: tuple chain, endpoint chain, LRU list (lprev is
	 * NIL at the head of the list, which wlb_flow_touch() relies on) */
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

/* Random 64-bit keys of the two hashes (see wlb_flow_hash3()). */
enum { WLB_FLOW_K_CLIENT, WLB_FLOW_K_SERVER, WLB_FLOW_K_PORTS, WLB_FLOW_K_ADD, WLB_FLOW_NKEYS };

/*
 * What the inline lookups below read, at the start of the table, so that
 * the packet path finds its flow without a call.  The rest of the table
 * (lists, counters) is private to flow.c.
 */
struct wlb_flow_index {
	struct wlb_flow *e;
	uint32_t *tbucket; /* tuple index */
	uint32_t *ebucket; /* endpoint index */
	uint64_t tkey[WLB_FLOW_NKEYS];
	uint64_t ekey[WLB_FLOW_NKEYS];
	uint32_t shift; /* 64 - log2(capacity): a hash's top bits index */
};

struct wlb_flow_table;

/* capacity is rounded up to a power of two (at least 16, at most 2^26).
 * Returns NULL when the allocation fails. */
struct wlb_flow_table *wlb_flow_table_new(uint32_t capacity);
void wlb_flow_table_free(struct wlb_flow_table *t);
size_t wlb_flow_table_bytes(const struct wlb_flow_table *t);

/* Insert a key known to be absent (look it up first).  Evicts by the rule
 * above when full, so it never fails.  The entry is zeroed but for key,
 * class and times. */
struct wlb_flow *wlb_flow_insert(struct wlb_flow_table *t, const struct wlb_flow_key *key,
				 enum wlb_flow_class cls, uint64_t now_ms, uint32_t timeout_ms);
/*
 * LRU order is kept to WLB_FLOW_EPOCH_MS: an entry moves to the head of
 * its list at most once per such epoch, however many packets touch it.
 * Eviction is unchanged for flows touched further apart, and the packet
 * path is spared an unlink and a push per packet when connections
 * interleave.  The epoch number is kept in 8 bits: an entry touched again
 * exactly a multiple of 256 epochs (16.4 s) later is not moved that time.
 */
#define WLB_FLOW_EPOCH_SHIFT 6 /* 64 ms */
#define WLB_FLOW_EPOCH_MS (1u << WLB_FLOW_EPOCH_SHIFT)

static inline uint8_t wlb_flow_epoch(uint64_t now_ms)
{
	return (uint8_t)(now_ms >> WLB_FLOW_EPOCH_SHIFT);
}

/* Move the entry to the head of its list (out of line: wlb_flow_touch()
 * below calls it only when the move is due). */
void wlb_flow_promote(struct wlb_flow_table *t, struct wlb_flow *f, uint64_t now_ms);
/* Push the deadline to now + timeout and mark the entry most recently used
 * (to the epoch, above).  Inline: every packet of a connection does it,
 * and the busy flow of a transfer is usually at the head of its list (no
 * predecessor) or was moved there in this epoch already. */
static inline void wlb_flow_touch(struct wlb_flow_table *t, struct wlb_flow *f, uint64_t now_ms,
				  uint32_t timeout_ms)
{
	f->expires_ms = (uint32_t)now_ms + timeout_ms;
	if (f->lprev != WLB_FLOW_NIL && f->lru_epoch != wlb_flow_epoch(now_ms))
		wlb_flow_promote(t, f, now_ms);
}
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

/* ------------------------------------------------ lookups, inline */

/* Address helpers: the only code to touch when union wlb_addr widens. */
static inline bool wlb_flow_addr_eq(union wlb_addr a, union wlb_addr b)
{
	return a.v4 == b.v4;
}

static inline uint32_t wlb_flow_addr_fold(union wlb_addr a)
{
	return a.v4;
}

/* Both ports as they sit together in the key: one load, taken from the
 * key itself (the read spans two members). */
_Static_assert(offsetof(struct wlb_flow_key, server_port) ==
		       offsetof(struct wlb_flow_key, client_port) + 2,
	       "the ports must be adjacent");

static inline uint32_t wlb_flow_ports_word(const struct wlb_flow_key *k)
{
	uint32_t w;

	memcpy(&w, (const uint8_t *)k + offsetof(struct wlb_flow_key, client_port), sizeof(w));
	return w;
}

/*
 * Dietzfelbinger's multiply-add over the key's 32-bit words, with random
 * 64-bit multipliers and addend: a peer that does not know them cannot aim
 * many flows at one chain.  Its top bits alone (multiply-add-shift) spread
 * sequential client ports unevenly under some keys: for 10000 ports in a
 * row, one random key in nine walked chains 1.2 to 7 entries long on
 * average, against 1.08 for a random hash.  A xor-shift and a multiply by
 * a fixed odd constant (a bijection) before the shift bring every key
 * measured (2000) to 1.08.  Four multiplies and a shift for a tuple,
 * three for an endpoint: the packet path pays this on every lookup.
 */
static inline uint32_t wlb_flow_hash3(const uint64_t *k, uint32_t shift, uint32_t a, uint32_t b,
				      uint32_t c)
{
	uint64_t v = k[WLB_FLOW_K_CLIENT] * a + k[WLB_FLOW_K_SERVER] * b + k[WLB_FLOW_K_PORTS] * c +
		     k[WLB_FLOW_K_ADD];

	v ^= v >> 32;
	return (uint32_t)((v * 0x9e3779b97f4a7c15ull) >> shift);
}

static inline uint32_t wlb_flow_tuple_hash(const struct wlb_flow_index *ix,
					   const struct wlb_flow_key *k)
{
	return wlb_flow_hash3(ix->tkey, ix->shift, wlb_flow_addr_fold(k->client),
			      wlb_flow_addr_fold(k->server), wlb_flow_ports_word(k));
}

/* Keys of its own, so both indexes do not share their collisions. */
static inline uint32_t wlb_flow_endpoint_hash(const struct wlb_flow_index *ix,
					      const struct wlb_flow_key *k)
{
	return wlb_flow_hash3(ix->ekey, ix->shift, wlb_flow_addr_fold(k->client), 0,
			      wlb_flow_ports_word(k));
}

/* The key has no padding: one compare of its bytes, which the compiler
 * turns into two loads. */
_Static_assert(sizeof(struct wlb_flow_key) == 2 * sizeof(union wlb_addr) + 4,
	       "struct wlb_flow_key must have no padding");

static inline bool wlb_flow_key_eq(const struct wlb_flow_key *a, const struct wlb_flow_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/*
 * A RST from the far side of a connection (where a blind attacker can forge
 * one), held since f->since_ms, and a later packet of the connection:
 * whether the packet refutes it.  A real RST is its sender's last word, so
 * any packet but a RST from that side does; so does one from the receiving
 * side later than linger_ms, when its TCP (RFC 5961) has long had the RST
 * and plainly ignored it (earlier ones may have been in flight).
 */
static inline bool wlb_flow_rst_refuted(const struct wlb_flow *f, bool is_rst, bool from_sender,
					uint64_t now_ms, uint32_t linger_ms)
{
	return !is_rst && (from_sender || (uint32_t)now_ms - f->since_ms >= linger_ms);
}

/* Client address and both ports: the key less its server address. */
static inline bool wlb_flow_endpoint_eq(const struct wlb_flow_key *a, const struct wlb_flow_key *b)
{
	return wlb_flow_addr_eq(a->client, b->client) &&
	       wlb_flow_ports_word(a) == wlb_flow_ports_word(b);
}

/* The rare case of the lookups below, out of line: an entry with the key
 * has expired; reclaim it and walk on from slot i.  The key goes by value,
 * so that the caller's copy never needs an address and can stay in
 * registers. */
struct wlb_flow *wlb_flow_lookup_expired(struct wlb_flow_table *t, struct wlb_flow_key key,
					 uint32_t i, uint64_t now_ms);
struct wlb_flow *wlb_flow_endpoint_expired(struct wlb_flow_table *t, struct wlb_flow_key key,
					   uint32_t i, uint64_t now_ms);

/* The table begins with its index. */
static inline const struct wlb_flow_index *wlb_flow_ix(const struct wlb_flow_table *t)
{
	return (const struct wlb_flow_index *)(const void *)t;
}

static inline struct wlb_flow *wlb_flow_lookup(struct wlb_flow_table *t,
					       const struct wlb_flow_key *key, uint64_t now_ms)
{
	const struct wlb_flow_index *ix = wlb_flow_ix(t);
	uint32_t i = ix->tbucket[wlb_flow_tuple_hash(ix, key)];

	while (i != WLB_FLOW_NIL) {
		struct wlb_flow *f = &ix->e[i];

		if (wlb_flow_key_eq(&f->key, key)) {
			if (!wlb_flow_expired(f, now_ms))
				return f;
			return wlb_flow_lookup_expired(t, *key, i, now_ms);
		}
		i = f->tnext;
	}
	return NULL;
}

/* Walk the flows that share key's (client, client_port, server_port),
 * whatever their server address (key->server is not read): pass prev =
 * NULL for the first, then the last one returned.  Expired entries are
 * skipped. */
static inline struct wlb_flow *wlb_flow_lookup_endpoint(struct wlb_flow_table *t,
							const struct wlb_flow_key *key,
							const struct wlb_flow *prev,
							uint64_t now_ms)
{
	const struct wlb_flow_index *ix = wlb_flow_ix(t);
	uint32_t i = prev ? prev->enext : ix->ebucket[wlb_flow_endpoint_hash(ix, key)];

	while (i != WLB_FLOW_NIL) {
		struct wlb_flow *f = &ix->e[i];

		if (wlb_flow_endpoint_eq(&f->key, key)) {
			if (!wlb_flow_expired(f, now_ms))
				return f;
			return wlb_flow_endpoint_expired(t, *key, i, now_ms);
		}
		i = f->enext;
	}
	return NULL;
}

#endif
