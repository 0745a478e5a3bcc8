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
#define FLOW_FALLBACK_KEY 0x6a09e667f3bcc909ull

_Static_assert(sizeof(struct wlb_flow) <= 48, "struct wlb_flow must stay within 48 bytes");
_Static_assert(WLB_FLOW_NCLASS <= 2, "struct wlb_flow keeps the class in one bit");

struct flow_lru {
	uint32_t head; /* most recently used */
	uint32_t tail; /* next victim */
};

/* The index comes first: the inline lookups in flow.h read it through
 * the table pointer. */
struct wlb_flow_table {
	struct wlb_flow_index ix;
	uint32_t mask; /* capacity - 1 */
	uint32_t free_head;
	uint32_t cursor; /* where the next wlb_flow_expire() sweep starts */
	uint32_t count;
	uint32_t count_cls[WLB_FLOW_NCLASS];
	struct flow_lru lru[WLB_FLOW_NCLASS];
	uint64_t inserted;
	uint64_t evicted;
	uint64_t expired;
};

static uint32_t slot_of(const struct wlb_flow_table *t, const struct wlb_flow *f)
{
	return (uint32_t)(f - t->ix.e);
}

static uint32_t round_capacity(uint32_t capacity)
{
	uint32_t n = FLOW_MIN_CAPACITY;

	while (n < capacity && n < FLOW_MAX_CAPACITY)
		n <<= 1;
	return n;
}

static void table_keys(struct wlb_flow_table *t)
{
	uint64_t k[2 * WLB_FLOW_NKEYS];
	unsigned int i;

	if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k))
		for (i = 0; i < 2 * WLB_FLOW_NKEYS; i++)
			k[i] = FLOW_FALLBACK_KEY * (2 * i + 1);
	memcpy(t->ix.tkey, k, sizeof(t->ix.tkey));
	memcpy(t->ix.ekey, k + WLB_FLOW_NKEYS, sizeof(t->ix.ekey));
}

/* Build the free list in slot order so the first inserts use low slots. */
static void table_init(struct wlb_flow_table *t)
{
	uint32_t n = t->mask + 1;
	unsigned int c;

	memset(t->ix.tbucket, 0xff, n * sizeof(*t->ix.tbucket));
	memset(t->ix.ebucket, 0xff, n * sizeof(*t->ix.ebucket));
	for (uint32_t i = 0; i < n; i++)
		t->ix.e[i].lnext = i + 1 < n ? i + 1 : WLB_FLOW_NIL;
	t->free_head = 0;
	for (c = 0; c < WLB_FLOW_NCLASS; c++)
		t->lru[c].head = t->lru[c].tail = WLB_FLOW_NIL;
	table_keys(t);
}

struct wlb_flow_table *wlb_flow_table_new(uint32_t capacity)
{
	struct wlb_flow_table *t = calloc(1, sizeof(*t));
	uint32_t n = round_capacity(capacity);

	if (!t)
		return NULL;
	t->mask = n - 1;
	t->ix.shift = 64 - (uint32_t)__builtin_ctz(n);
	t->ix.e = calloc(n, sizeof(*t->ix.e));
	t->ix.tbucket = malloc((size_t)n * sizeof(*t->ix.tbucket));
	t->ix.ebucket = malloc((size_t)n * sizeof(*t->ix.ebucket));
	if (!t->ix.e || !t->ix.tbucket || !t->ix.ebucket) {
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
	free(t->ix.e);
	free(t->ix.tbucket);
	free(t->ix.ebucket);
	free(t);
}

size_t wlb_flow_table_bytes(const struct wlb_flow_table *t)
{
	size_t n = (size_t)t->mask + 1;

	return sizeof(*t) +
	       n * (sizeof(*t->ix.e) + sizeof(*t->ix.tbucket) + sizeof(*t->ix.ebucket));
}

static inline void lru_push(struct wlb_flow_table *t, uint32_t i)
{
	struct wlb_flow *f = &t->ix.e[i];
	struct flow_lru *l = &t->lru[f->cls];

	f->lprev = WLB_FLOW_NIL;
	f->lnext = l->head;
	if (l->head != WLB_FLOW_NIL)
		t->ix.e[l->head].lprev = i;
	else
		l->tail = i;
	l->head = i;
}

static inline void lru_unlink(struct wlb_flow_table *t, uint32_t i)
{
	struct wlb_flow *f = &t->ix.e[i];
	struct flow_lru *l = &t->lru[f->cls];

	if (f->lprev != WLB_FLOW_NIL)
		t->ix.e[f->lprev].lnext = f->lnext;
	else
		l->head = f->lnext;
	if (f->lnext != WLB_FLOW_NIL)
		t->ix.e[f->lnext].lprev = f->lprev;
	else
		l->tail = f->lprev;
}

static void tuple_unlink(struct wlb_flow_table *t, uint32_t i)
{
	uint32_t *p = &t->ix.tbucket[wlb_flow_tuple_hash(&t->ix, &t->ix.e[i].key)];

	while (*p != i)
		p = &t->ix.e[*p].tnext;
	*p = t->ix.e[i].tnext;
}

static void endpoint_unlink(struct wlb_flow_table *t, uint32_t i)
{
	uint32_t *p = &t->ix.ebucket[wlb_flow_endpoint_hash(&t->ix, &t->ix.e[i].key)];

	while (*p != i)
		p = &t->ix.e[*p].enext;
	*p = t->ix.e[i].enext;
}

/* Unlink a used slot from everything and give it back to the free list. */
static void release(struct wlb_flow_table *t, uint32_t i)
{
	struct wlb_flow *f = &t->ix.e[i];

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
	if (wlb_flow_expired(&t->ix.e[i], now_ms)) {
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
	t->free_head = t->ix.e[i].lnext;
	return i;
}

static void index_link(struct wlb_flow_table *t, uint32_t i)
{
	struct wlb_flow *f = &t->ix.e[i];
	uint32_t th = wlb_flow_tuple_hash(&t->ix, &f->key);
	uint32_t eh = wlb_flow_endpoint_hash(&t->ix, &f->key);

	f->tnext = t->ix.tbucket[th];
	t->ix.tbucket[th] = i;
	f->enext = t->ix.ebucket[eh];
	t->ix.ebucket[eh] = i;
}

struct wlb_flow *wlb_flow_insert(struct wlb_flow_table *t, const struct wlb_flow_key *key,
				 enum wlb_flow_class cls, uint64_t now_ms, uint32_t timeout_ms)
{
	uint32_t i = take_slot(t, now_ms);
	struct wlb_flow *f = &t->ix.e[i];

	memset(f, 0, sizeof(*f));
	f->key = *key;
	f->cls = cls;
	f->lru_epoch = wlb_flow_epoch(now_ms);
	f->used = 1;
	f->since_ms = (uint32_t)now_ms;
	f->expires_ms = (uint32_t)now_ms + timeout_ms;
	index_link(t, i);
	lru_push(t, i);
	t->count++;
	t->count_cls[cls]++;
	t->inserted++;
	return f;
}

/* The walks past an expired entry with the key, from the inline lookups
 * in flow.h: reclaim it and go on. */
struct wlb_flow *wlb_flow_lookup_expired(struct wlb_flow_table *t, struct wlb_flow_key key,
					 uint32_t i, uint64_t now_ms)
{
	while (i != WLB_FLOW_NIL) {
		struct wlb_flow *f = &t->ix.e[i];
		uint32_t next = f->tnext;

		if (wlb_flow_key_eq(&f->key, &key)) {
			if (!wlb_flow_expired(f, now_ms))
				return f;
			release_expired(t, i);
		}
		i = next;
	}
	return NULL;
}

struct wlb_flow *wlb_flow_endpoint_expired(struct wlb_flow_table *t, struct wlb_flow_key key,
					   uint32_t i, uint64_t now_ms)
{
	while (i != WLB_FLOW_NIL) {
		struct wlb_flow *f = &t->ix.e[i];
		uint32_t next = f->enext;

		if (wlb_flow_endpoint_eq(&f->key, &key)) {
			if (!wlb_flow_expired(f, now_ms))
				return f;
			release_expired(t, i);
		}
		i = next;
	}
	return NULL;
}

void wlb_flow_promote(struct wlb_flow_table *t, struct wlb_flow *f, uint64_t now_ms)
{
	uint32_t i = slot_of(t, f);

	lru_unlink(t, i);
	lru_push(t, i);
	f->lru_epoch = wlb_flow_epoch(now_ms);
}

void wlb_flow_set_class(struct wlb_flow_table *t, struct wlb_flow *f, enum wlb_flow_class cls)
{
	uint32_t i = slot_of(t, f);

	if (f->cls == cls)
		return;
	lru_unlink(t, i);
	t->count_cls[f->cls]--;
	f->cls = cls;
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
		struct wlb_flow *f = &t->ix.e[i];

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
		const struct wlb_flow *f = &t->ix.e[i];

		if (f->used && !wlb_flow_expired(f, now_ms))
			fn(f, arg);
	}
}
