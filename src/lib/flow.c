// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Flow table (see flow.h for the contract).
 *
 * Every slot is always on exactly one list: the free list (threaded through
 * lnext) when unused, or the LRU list of its class when used.  A used slot
 * is also on one tuple chain and one endpoint chain.  Bucket arrays have as
 * many heads as there are slots, so chains average about one entry when full.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "flow.h"

#define FLOW_MIN_CAPACITY 16u
#define FLOW_MAX_CAPACITY (1u << 26)
/* Used only when getrandom() fails: the table still works, it just loses
 * its resistance to chosen-collision floods. */
#define FLOW_FALLBACK_SEED 0x6a09e667u

_Static_assert(sizeof(struct wlb_flow) <= 48, "struct wlb_flow must stay within 48 bytes");

struct flow_lru {
	uint32_t head; /* most recently used */
	uint32_t tail; /* next victim */
};

struct wlb_flow_table {
	struct wlb_flow *e;
	uint32_t *tbucket; /* tuple index */
	uint32_t *ebucket; /* endpoint index */
	uint32_t mask;	   /* capacity - 1 */
	uint32_t seed;
	uint32_t free_head;
	uint32_t cursor; /* where the next wlb_flow_expire() sweep starts */
	uint32_t count;
	uint32_t count_cls[WLB_FLOW_NCLASS];
	struct flow_lru lru[WLB_FLOW_NCLASS];
	uint64_t inserted;
	uint64_t evicted;
	uint64_t expired;
};

/* Address helpers: the only code to touch when union wlb_addr widens. */
static inline bool addr_eq(union wlb_addr a, union wlb_addr b)
{
	return a.v4 == b.v4;
}

static inline uint32_t addr_fold(union wlb_addr a)
{
	return a.v4;
}

static inline uint32_t ports_word(uint16_t client_port, uint16_t server_port)
{
	return (uint32_t)client_port << 16 | server_port;
}

/* One multiply-xorshift round per word: keyed by the seed, so a peer that
 * does not know it cannot aim many flows at one chain. */
static inline uint32_t mix(uint32_t h, uint32_t v)
{
	h ^= v;
	h *= 0x9e3779b1u;
	return h ^ h >> 15;
}

static inline uint32_t finish(uint32_t h)
{
	h *= 0x85ebca77u;
	h ^= h >> 13;
	h *= 0xc2b2ae3du;
	return h ^ h >> 16;
}

static uint32_t tuple_hash(const struct wlb_flow_table *t, const struct wlb_flow_key *k)
{
	uint32_t h = mix(t->seed, addr_fold(k->client));

	h = mix(h, addr_fold(k->server));
	return finish(mix(h, ports_word(k->client_port, k->server_port))) & t->mask;
}

/* A different starting value from the tuple hash, so both indexes do not
 * share their collisions. */
static uint32_t endpoint_hash(const struct wlb_flow_table *t, union wlb_addr client,
			      uint16_t client_port, uint16_t server_port)
{
	uint32_t h = mix(~t->seed, addr_fold(client));

	return finish(mix(h, ports_word(client_port, server_port))) & t->mask;
}

static bool key_eq(const struct wlb_flow_key *a, const struct wlb_flow_key *b)
{
	return addr_eq(a->client, b->client) && addr_eq(a->server, b->server) &&
	       a->client_port == b->client_port && a->server_port == b->server_port;
}

static bool endpoint_eq(const struct wlb_flow *f, union wlb_addr client, uint16_t client_port,
			uint16_t server_port)
{
	return addr_eq(f->key.client, client) && f->key.client_port == client_port &&
	       f->key.server_port == server_port;
}

static uint32_t slot_of(const struct wlb_flow_table *t, const struct wlb_flow *f)
{
	return (uint32_t)(f - t->e);
}

static uint32_t round_capacity(uint32_t capacity)
{
	uint32_t n = FLOW_MIN_CAPACITY;

	while (n < capacity && n < FLOW_MAX_CAPACITY)
		n <<= 1;
	return n;
}

static uint32_t table_seed(void)
{
	uint32_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		return FLOW_FALLBACK_SEED;
	return seed;
}

/* Build the free list in slot order so the first inserts use low slots. */
static void table_init(struct wlb_flow_table *t)
{
	uint32_t n = t->mask + 1;
	unsigned int c;

	memset(t->tbucket, 0xff, n * sizeof(*t->tbucket));
	memset(t->ebucket, 0xff, n * sizeof(*t->ebucket));
	for (uint32_t i = 0; i < n; i++)
		t->e[i].lnext = i + 1 < n ? i + 1 : WLB_FLOW_NIL;
	t->free_head = 0;
	for (c = 0; c < WLB_FLOW_NCLASS; c++)
		t->lru[c].head = t->lru[c].tail = WLB_FLOW_NIL;
	t->seed = table_seed();
}

struct wlb_flow_table *wlb_flow_table_new(uint32_t capacity)
{
	struct wlb_flow_table *t = calloc(1, sizeof(*t));
	uint32_t n = round_capacity(capacity);

	if (!t)
		return NULL;
	t->mask = n - 1;
	t->e = calloc(n, sizeof(*t->e));
	t->tbucket = malloc((size_t)n * sizeof(*t->tbucket));
	t->ebucket = malloc((size_t)n * sizeof(*t->ebucket));
	if (!t->e || !t->tbucket || !t->ebucket) {
		wlb_flow_table_free(t);
		return NULL;
	}
	table_init(t);
	return t;
}

void wlb_flow_table_free(struct wlb_flow_table *t)
{
	if (!t)
		return;
	free(t->e);
	free(t->tbucket);
	free(t->ebucket);
	free(t);
}

size_t wlb_flow_table_bytes(const struct wlb_flow_table *t)
{
	size_t n = (size_t)t->mask + 1;

	return sizeof(*t) + n * (sizeof(*t->e) + sizeof(*t->tbucket) + sizeof(*t->ebucket));
}

static void lru_push(struct wlb_flow_table *t, uint32_t i)
{
	struct wlb_flow *f = &t->e[i];
	struct flow_lru *l = &t->lru[f->cls];

	f->lprev = WLB_FLOW_NIL;
	f->lnext = l->head;
	if (l->head != WLB_FLOW_NIL)
		t->e[l->head].lprev = i;
	else
		l->tail = i;
	l->head = i;
}

static void lru_unlink(struct wlb_flow_table *t, uint32_t i)
{
	struct wlb_flow *f = &t->e[i];
	struct flow_lru *l = &t->lru[f->cls];

	if (f->lprev != WLB_FLOW_NIL)
		t->e[f->lprev].lnext = f->lnext;
	else
		l->head = f->lnext;
	if (f->lnext != WLB_FLOW_NIL)
		t->e[f->lnext].lprev = f->lprev;
	else
		l->tail = f->lprev;
}

static void tuple_unlink(struct wlb_flow_table *t, uint32_t i)
{
	uint32_t *p = &t->tbucket[tuple_hash(t, &t->e[i].key)];

	while (*p != i)
		p = &t->e[*p].tnext;
	*p = t->e[i].tnext;
}

static void endpoint_unlink(struct wlb_flow_table *t, uint32_t i)
{
	const struct wlb_flow_key *k = &t->e[i].key;
	uint32_t *p = &t->ebucket[endpoint_hash(t, k->client, k->client_port, k->server_port)];

	while (*p != i)
		p = &t->e[*p].enext;
	*p = t->e[i].enext;
}

/* Unlink a used slot from everything and give it back to the free list. */
static void release(struct wlb_flow_table *t, uint32_t i)
{
	struct wlb_flow *f = &t->e[i];

	tuple_unlink(t, i);
	endpoint_unlink(t, i);
	lru_unlink(t, i);
	t->count--;
	t->count_cls[f->cls]--;
	f->used = 0;
	f->lnext = t->free_head;
	t->free_head = i;
}

static void release_expired(struct wlb_flow_table *t, uint32_t i)
{
	release(t, i);
	t->expired++;
}

/* Table full: reclaim the LRU tail of the lowest class that has one.  A
 * victim already past its deadline counts as expired, not as evicted, so
 * "evicted" measures live flows lost to pressure. */
static void evict_one(struct wlb_flow_table *t, uint64_t now_ms)
{
	uint32_t i = t->lru[WLB_FLOW_PENDING].tail;

	if (i == WLB_FLOW_NIL)
		i = t->lru[WLB_FLOW_SETTLED].tail;
	if (wlb_flow_expired(&t->e[i], now_ms)) {
		release_expired(t, i);
		return;
	}
	release(t, i);
	t->evicted++;
}

static uint32_t take_slot(struct wlb_flow_table *t, uint64_t now_ms)
{
	uint32_t i;

	if (t->free_head == WLB_FLOW_NIL)
		evict_one(t, now_ms);
	i = t->free_head;
	t->free_head = t->e[i].lnext;
	return i;
}

static void index_link(struct wlb_flow_table *t, uint32_t i)
{
	struct wlb_flow *f = &t->e[i];
	uint32_t th = tuple_hash(t, &f->key);
	uint32_t eh = endpoint_hash(t, f->key.client, f->key.client_port, f->key.server_port);

	f->tnext = t->tbucket[th];
	t->tbucket[th] = i;
	f->enext = t->ebucket[eh];
	t->ebucket[eh] = i;
}

struct wlb_flow *wlb_flow_insert(struct wlb_flow_table *t, const struct wlb_flow_key *key,
				 enum wlb_flow_class cls, uint64_t now_ms, uint32_t timeout_ms)
{
	uint32_t i = take_slot(t, now_ms);
	struct wlb_flow *f = &t->e[i];

	memset(f, 0, sizeof(*f));
	f->key = *key;
	f->cls = (uint8_t)cls;
	f->used = 1;
	f->created_ms = (uint32_t)now_ms;
	f->expires_ms = (uint32_t)now_ms + timeout_ms;
	index_link(t, i);
	lru_push(t, i);
	t->count++;
	t->count_cls[cls]++;
	t->inserted++;
	return f;
}

struct wlb_flow *wlb_flow_lookup(struct wlb_flow_table *t, const struct wlb_flow_key *key,
				 uint64_t now_ms)
{
	uint32_t i = t->tbucket[tuple_hash(t, key)];

	while (i != WLB_FLOW_NIL) {
		struct wlb_flow *f = &t->e[i];
		uint32_t next = f->tnext;

		if (key_eq(&f->key, key)) {
			if (!wlb_flow_expired(f, now_ms))
				return f;
			release_expired(t, i);
		}
		i = next;
	}
	return NULL;
}

struct wlb_flow *wlb_flow_lookup_endpoint(struct wlb_flow_table *t, union wlb_addr client,
					  uint16_t client_port, uint16_t server_port,
					  const struct wlb_flow *prev, uint64_t now_ms)
{
	uint32_t i =
		prev ? prev->enext : t->ebucket[endpoint_hash(t, client, client_port, server_port)];

	while (i != WLB_FLOW_NIL) {
		struct wlb_flow *f = &t->e[i];
		uint32_t next = f->enext;

		if (endpoint_eq(f, client, client_port, server_port)) {
			if (!wlb_flow_expired(f, now_ms))
				return f;
			release_expired(t, i);
		}
		i = next;
	}
	return NULL;
}

void wlb_flow_touch(struct wlb_flow_table *t, struct wlb_flow *f, uint64_t now_ms,
		    uint32_t timeout_ms)
{
	uint32_t i = slot_of(t, f);

	f->expires_ms = (uint32_t)now_ms + timeout_ms;
	/* the busy flow of a transfer is usually at the head already */
	if (t->lru[f->cls].head == i)
		return;
	lru_unlink(t, i);
	lru_push(t, i);
}

void wlb_flow_set_class(struct wlb_flow_table *t, struct wlb_flow *f, enum wlb_flow_class cls)
{
	uint32_t i = slot_of(t, f);

	if (f->cls == cls)
		return;
	lru_unlink(t, i);
	t->count_cls[f->cls]--;
	f->cls = (uint8_t)cls;
	t->count_cls[cls]++;
	lru_push(t, i);
}

void wlb_flow_remove(struct wlb_flow_table *t, struct wlb_flow *f)
{
	release(t, slot_of(t, f));
}

uint32_t wlb_flow_expire(struct wlb_flow_table *t, uint64_t now_ms, uint32_t budget)
{
	uint32_t freed = 0;

	/* More than one lap would only look at the same slots again. */
	if (budget > t->mask + 1)
		budget = t->mask + 1;
	while (budget--) {
		uint32_t i = t->cursor;
		struct wlb_flow *f = &t->e[i];

		t->cursor = (i + 1) & t->mask;
		if (f->used && wlb_flow_expired(f, now_ms)) {
			release_expired(t, i);
			freed++;
		}
	}
	return freed;
}

void wlb_flow_stats(const struct wlb_flow_table *t, struct wlb_flow_stats *st)
{
	unsigned int c;

	st->capacity = t->mask + 1;
	st->count = t->count;
	for (c = 0; c < WLB_FLOW_NCLASS; c++)
		st->count_cls[c] = t->count_cls[c];
	st->inserted = t->inserted;
	st->evicted = t->evicted;
	st->expired = t->expired;
}

void wlb_flow_foreach(struct wlb_flow_table *t, uint64_t now_ms,
		      void (*fn)(const struct wlb_flow *f, void *arg), void *arg)
{
	uint32_t n = t->mask + 1;

	for (uint32_t i = 0; i < n; i++) {
		const struct wlb_flow *f = &t->e[i];

		if (f->used && !wlb_flow_expired(f, now_ms))
			fn(f, arg);
	}
}
