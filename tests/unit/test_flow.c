// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the flow table: indexes, eviction order, timeouts on a
 * simulated clock (including the 2^32 ms wrap) and a randomized run
 * against a plain reference model.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "flow.h"
#include "testpkt.h"

#define LONG_TIMEOUT 1000000u
#define WRAP (UINT64_C(1) << 32)

static struct wlb_flow_key mkkey(uint32_t client, uint32_t server, uint16_t cport, uint16_t sport)
{
	struct wlb_flow_key k = {
		.client.v4 = client,
		.server.v4 = server,
		.client_port = cport,
		.server_port = sport,
	};

	return k;
}

/* Flow number n: distinct clients and ports, one server. */
static struct wlb_flow_key nkey(uint32_t n)
{
	return mkkey(0x0a000000u + n, 0xc0a80001u, (uint16_t)(1024 + n), 80);
}

static struct wlb_flow *add(struct wlb_flow_table *t, uint32_t n, enum wlb_flow_class cls,
			    uint64_t now)
{
	struct wlb_flow_key k = nkey(n);

	return wlb_flow_insert(t, &k, cls, now, LONG_TIMEOUT);
}

static struct wlb_flow *find(struct wlb_flow_table *t, uint32_t n, uint64_t now)
{
	struct wlb_flow_key k = nkey(n);

	return wlb_flow_lookup(t, &k, now);
}

static struct wlb_flow_stats stats(const struct wlb_flow_table *t)
{
	struct wlb_flow_stats st;

	wlb_flow_stats(t, &st);
	return st;
}

static uint32_t capacity_of(uint32_t requested)
{
	struct wlb_flow_table *t = wlb_flow_table_new(requested);
	uint32_t cap;

	ck_assert_ptr_nonnull(t);
	cap = stats(t).capacity;
	wlb_flow_table_free(t);
	return cap;
}

START_TEST(test_capacity_rounding)
{
	ck_assert_uint_eq(capacity_of(0), 16);
	ck_assert_uint_eq(capacity_of(1), 16);
	ck_assert_uint_eq(capacity_of(16), 16);
	ck_assert_uint_eq(capacity_of(17), 32);
	ck_assert_uint_eq(capacity_of(1000), 1024);
	ck_assert_uint_eq(capacity_of(1024), 1024);
	ck_assert_uint_eq(capacity_of(65537), 131072);
}
END_TEST

START_TEST(test_sizes)
{
	static const uint32_t caps[] = {16, 1024, 65536};

	ck_assert_uint_le(sizeof(struct wlb_flow), 48);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct wlb_flow_table *t = wlb_flow_table_new(caps[i]);

		ck_assert_ptr_nonnull(t);
		/* the table's own header (hash keys, lists, counters: under
		 * 256 bytes) is not per flow: it shows only in a tiny table */
		ck_assert_uint_le(wlb_flow_table_bytes(t), (size_t)56 * caps[i] + 256);
		if (caps[i] >= 1024)
			ck_assert_uint_le(wlb_flow_table_bytes(t), (size_t)64 * caps[i]);
		ck_assert_uint_ge(wlb_flow_table_bytes(t), (size_t)56 * caps[i]);
		wlb_flow_table_free(t);
	}
}
END_TEST

START_TEST(test_insert_lookup_remove)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_key k = mkkey(0x01020304, 0x05060708, 40000, 443);
	struct wlb_flow *f = wlb_flow_insert(t, &k, WLB_FLOW_SETTLED, 5000, 100);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_eq(wlb_flow_lookup(t, &k, 5001), f);
	ck_assert_uint_eq(f->key.client.v4, 0x01020304);
	ck_assert_uint_eq(f->key.server.v4, 0x05060708);
	ck_assert_uint_eq(f->key.client_port, 40000);
	ck_assert_uint_eq(f->key.server_port, 443);
	ck_assert_uint_eq(f->cls, WLB_FLOW_SETTLED);
	ck_assert_uint_eq(f->since_ms, 5000);
	ck_assert_uint_eq(f->expires_ms, 5100);
	ck_assert_uint_eq(f->state, 0);
	ck_assert_uint_eq(f->flags, 0);
	ck_assert_uint_eq(f->peer.v4, 0);
	ck_assert_uint_eq(f->nonce, 0);
	ck_assert_uint_eq(stats(t).count, 1);

	wlb_flow_remove(t, f);
	ck_assert_ptr_null(wlb_flow_lookup(t, &k, 5001));
	ck_assert_uint_eq(stats(t).count, 0);
	wlb_flow_table_free(t);
}
END_TEST

/* A reused slot must not leak the owner-defined fields of its last flow. */
START_TEST(test_reuse_zeroes_entry)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow *f = add(t, 1, WLB_FLOW_PENDING, 0);

	f->state = 7;
	f->flags = 0xff;
	f->peer.v4 = 0xdeadbeef;
	f->nonce = 0x12345678;
	wlb_flow_remove(t, f);
	f = add(t, 2, WLB_FLOW_PENDING, 10);
	ck_assert_uint_eq(f->state, 0);
	ck_assert_uint_eq(f->flags, 0);
	ck_assert_uint_eq(f->peer.v4, 0);
	ck_assert_uint_eq(f->nonce, 0);
	ck_assert_uint_eq(f->since_ms, 10);
	ck_assert_ptr_null(find(t, 1, 10));
	ck_assert_ptr_eq(find(t, 2, 10), f);
	wlb_flow_table_free(t);
}
END_TEST

START_TEST(test_lookup_absent)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_key k = mkkey(1, 2, 3, 4);
	struct wlb_flow_key other;

	ck_assert_ptr_null(wlb_flow_lookup(t, &k, 0));
	ck_assert_ptr_null(wlb_flow_lookup_endpoint(t, &k, NULL, 0));
	wlb_flow_insert(t, &k, WLB_FLOW_PENDING, 0, 100);
	/* Each field takes part in the match. */
	other = mkkey(9, 2, 3, 4);
	ck_assert_ptr_null(wlb_flow_lookup(t, &other, 0));
	other = mkkey(1, 9, 3, 4);
	ck_assert_ptr_null(wlb_flow_lookup(t, &other, 0));
	other = mkkey(1, 2, 9, 4);
	ck_assert_ptr_null(wlb_flow_lookup(t, &other, 0));
	other = mkkey(1, 2, 3, 9);
	ck_assert_ptr_null(wlb_flow_lookup(t, &other, 0));
	ck_assert_ptr_nonnull(wlb_flow_lookup(t, &k, 0));
	wlb_flow_table_free(t);
}
END_TEST

/* Collect the endpoint matches into out[]; returns how many. */
static int endpoint_walk(struct wlb_flow_table *t, uint32_t client, uint16_t cport, uint16_t sport,
			 uint64_t now, struct wlb_flow **out, int max)
{
	struct wlb_flow_key k = {.client.v4 = client, .client_port = cport, .server_port = sport};
	struct wlb_flow *f = NULL;
	int n = 0;

	while ((f = wlb_flow_lookup_endpoint(t, &k, f, now))) {
		ck_assert_int_lt(n, max);
		out[n++] = f;
	}
	return n;
}

START_TEST(test_endpoint_index)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_key ka = mkkey(100, 1, 5000, 80);
	struct wlb_flow_key kb = mkkey(100, 2, 5000, 80);
	struct wlb_flow_key kc = mkkey(100, 3, 5000, 443); /* other server port */
	struct wlb_flow_key kd = mkkey(101, 4, 5000, 80);  /* other client */
	struct wlb_flow_key ke = mkkey(100, 5, 5001, 80);  /* other client port */
	struct wlb_flow *a = wlb_flow_insert(t, &ka, WLB_FLOW_PENDING, 0, 100);
	struct wlb_flow *b = wlb_flow_insert(t, &kb, WLB_FLOW_SETTLED, 0, 100);
	struct wlb_flow *got[4];
	int n;

	wlb_flow_insert(t, &kc, WLB_FLOW_PENDING, 0, 100);
	wlb_flow_insert(t, &kd, WLB_FLOW_PENDING, 0, 100);
	wlb_flow_insert(t, &ke, WLB_FLOW_PENDING, 0, 100);

	n = endpoint_walk(t, 100, 5000, 80, 1, got, 4);
	ck_assert_int_eq(n, 2);
	ck_assert((got[0] == a && got[1] == b) || (got[0] == b && got[1] == a));

	wlb_flow_remove(t, a);
	n = endpoint_walk(t, 100, 5000, 80, 1, got, 4);
	ck_assert_int_eq(n, 1);
	ck_assert_ptr_eq(got[0], b);

	wlb_flow_remove(t, b);
	ck_assert_int_eq(endpoint_walk(t, 100, 5000, 80, 1, got, 4), 0);
	ck_assert_int_eq(endpoint_walk(t, 100, 5000, 443, 1, got, 4), 1);
	ck_assert_int_eq(endpoint_walk(t, 101, 5000, 80, 1, got, 4), 1);
	ck_assert_int_eq(endpoint_walk(t, 100, 5001, 80, 1, got, 4), 1);
	wlb_flow_table_free(t);
}
END_TEST

START_TEST(test_endpoint_skips_expired)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_key ka = mkkey(100, 1, 5000, 80);
	struct wlb_flow_key kb = mkkey(100, 2, 5000, 80);
	struct wlb_flow_key kc = mkkey(100, 3, 5000, 80);
	struct wlb_flow *got[4];
	struct wlb_flow *b;

	wlb_flow_insert(t, &ka, WLB_FLOW_PENDING, 0, 10);
	b = wlb_flow_insert(t, &kb, WLB_FLOW_PENDING, 0, 50);
	wlb_flow_insert(t, &kc, WLB_FLOW_PENDING, 0, 10);
	ck_assert_int_eq(endpoint_walk(t, 100, 5000, 80, 20, got, 4), 1);
	ck_assert_ptr_eq(got[0], b);
	ck_assert_uint_eq(stats(t).count, 1);
	ck_assert_uint_eq(stats(t).expired, 2);
	wlb_flow_table_free(t);
}
END_TEST

/* cap 16: p0..p7 pending then s0..s7 settled, all at distinct times. */
static struct wlb_flow_table *full_table(void)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);

	for (uint32_t i = 0; i < 8; i++)
		add(t, i, WLB_FLOW_PENDING, i);
	for (uint32_t i = 0; i < 8; i++)
		add(t, 100 + i, WLB_FLOW_SETTLED, 8 + i);
	ck_assert_uint_eq(stats(t).count, 16);
	return t;
}

START_TEST(test_evict_pending_first)
{
	struct wlb_flow_table *t = full_table();
	uint64_t now = 100;

	/* p0 becomes the most recently used pending flow. */
	wlb_flow_touch(t, find(t, 0, now), now, LONG_TIMEOUT);
	add(t, 200, WLB_FLOW_SETTLED, now);
	ck_assert_ptr_null(find(t, 1, now));
	ck_assert_ptr_nonnull(find(t, 0, now));
	ck_assert_uint_eq(stats(t).evicted, 1);

	/* The rest of the pending flows go, oldest first, before any settled. */
	for (uint32_t i = 2; i < 8; i++) {
		add(t, 200 + i, WLB_FLOW_SETTLED, now);
		ck_assert_ptr_null(find(t, i, now));
		if (i < 7)
			ck_assert_ptr_nonnull(find(t, i + 1, now));
		ck_assert_ptr_nonnull(find(t, 0, now));
	}
	add(t, 300, WLB_FLOW_SETTLED, now);
	ck_assert_ptr_null(find(t, 0, now));
	ck_assert_uint_eq(stats(t).count_cls[WLB_FLOW_PENDING], 0);
	ck_assert_uint_eq(stats(t).count_cls[WLB_FLOW_SETTLED], 16);
	for (uint32_t i = 0; i < 8; i++)
		ck_assert_ptr_nonnull(find(t, 100 + i, now));
	ck_assert_uint_eq(stats(t).evicted, 8);
	wlb_flow_table_free(t);
}
END_TEST

START_TEST(test_evict_settled_when_no_pending)
{
	struct wlb_flow_table *t = full_table();
	uint64_t now = 100;

	/* Promote every pending flow, then touch s0 (key 100): s1 (key 101)
	 * becomes the least recently used flow of the table. */
	for (uint32_t i = 0; i < 8; i++)
		wlb_flow_set_class(t, find(t, i, now), WLB_FLOW_SETTLED);
	wlb_flow_touch(t, find(t, 100, now), now, LONG_TIMEOUT);
	add(t, 400, WLB_FLOW_PENDING, now);
	ck_assert_ptr_null(find(t, 101, now));
	ck_assert_ptr_nonnull(find(t, 100, now));
	/* Now a pending flow exists: it goes first, however new it is. */
	add(t, 401, WLB_FLOW_PENDING, now);
	ck_assert_ptr_null(find(t, 400, now));
	ck_assert_ptr_nonnull(find(t, 401, now));
	ck_assert_ptr_nonnull(find(t, 102, now));
	ck_assert_uint_eq(stats(t).evicted, 2);
	wlb_flow_table_free(t);
}
END_TEST

/* Moving a flow to SETTLED protects it from pending eviction. */
START_TEST(test_set_class_moves_lists)
{
	struct wlb_flow_table *t = full_table();
	struct wlb_flow_stats st;
	uint64_t now = 100;

	wlb_flow_set_class(t, find(t, 0, now), WLB_FLOW_SETTLED);
	st = stats(t);
	ck_assert_uint_eq(st.count_cls[WLB_FLOW_PENDING], 7);
	ck_assert_uint_eq(st.count_cls[WLB_FLOW_SETTLED], 9);
	for (uint32_t i = 0; i < 7; i++)
		add(t, 500 + i, WLB_FLOW_SETTLED, now);
	ck_assert_uint_eq(stats(t).count_cls[WLB_FLOW_PENDING], 0);
	ck_assert_ptr_nonnull(find(t, 0, now));
	/* The settled LRU is now s0, p0 sits later: s0..s7 go before p0. */
	add(t, 600, WLB_FLOW_PENDING, now);
	ck_assert_ptr_null(find(t, 100, now));
	ck_assert_ptr_nonnull(find(t, 0, now));
	/* Back to pending makes it the next victim once 600 is gone. */
	wlb_flow_set_class(t, find(t, 0, now), WLB_FLOW_PENDING);
	add(t, 601, WLB_FLOW_SETTLED, now);
	ck_assert_ptr_null(find(t, 600, now));
	add(t, 602, WLB_FLOW_SETTLED, now);
	ck_assert_ptr_null(find(t, 0, now));
	wlb_flow_table_free(t);
}
END_TEST

START_TEST(test_timeout_lookup)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_key k = nkey(1);

	wlb_flow_insert(t, &k, WLB_FLOW_PENDING, 1000, 500);
	ck_assert_ptr_nonnull(wlb_flow_lookup(t, &k, 1499));
	ck_assert_uint_eq(stats(t).expired, 0);
	/* The deadline itself is already too late. */
	ck_assert_ptr_null(wlb_flow_lookup(t, &k, 1500));
	ck_assert_uint_eq(stats(t).count, 0);
	ck_assert_uint_eq(stats(t).count_cls[WLB_FLOW_PENDING], 0);
	ck_assert_uint_eq(stats(t).expired, 1);
	ck_assert_ptr_null(wlb_flow_lookup(t, &k, 1499));
	wlb_flow_table_free(t);
}
END_TEST

/* Touch the oldest of 16 settled flows at now, then add a 17th: returns
 * whether the touched one survived the eviction. */
static bool touched_survives(uint64_t now)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	bool alive;

	for (uint32_t i = 0; i < 16; i++)
		add(t, i, WLB_FLOW_SETTLED, i);
	wlb_flow_touch(t, find(t, 0, now), now, LONG_TIMEOUT);
	add(t, 100, WLB_FLOW_SETTLED, now);
	alive = find(t, 0, now) != NULL;
	if (alive)
		ck_assert_ptr_null(find(t, 1, now)); /* the next oldest went */
	wlb_flow_table_free(t);
	return alive;
}

/* LRU order is kept to the epoch: a touch in the epoch of the insert does
 * not move the flow, one in a later epoch does. */
START_TEST(test_touch_epoch)
{
	ck_assert(!touched_survives(WLB_FLOW_EPOCH_MS - 1));
	ck_assert(touched_survives(WLB_FLOW_EPOCH_MS));
	ck_assert(touched_survives(5 * WLB_FLOW_EPOCH_MS + 3));
	/* 256 epochs on, the 8-bit epoch matches again: not moved */
	ck_assert(!touched_survives(256 * WLB_FLOW_EPOCH_MS));
}
END_TEST

START_TEST(test_touch_extends)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_key k = nkey(1);
	struct wlb_flow *f = wlb_flow_insert(t, &k, WLB_FLOW_SETTLED, 0, 100);

	wlb_flow_touch(t, f, 90, 100);
	ck_assert_uint_eq(f->expires_ms, 190);
	ck_assert_uint_eq(f->since_ms, 0);
	ck_assert_ptr_eq(wlb_flow_lookup(t, &k, 150), f);
	ck_assert_uint_eq(wlb_flow_expire(t, 189, 16), 0);
	ck_assert_ptr_eq(wlb_flow_lookup(t, &k, 189), f);
	ck_assert_ptr_null(wlb_flow_lookup(t, &k, 190));
	wlb_flow_table_free(t);
}
END_TEST

START_TEST(test_expire_budget)
{
	struct wlb_flow_table *t = wlb_flow_table_new(64);
	struct wlb_flow_key k;
	uint32_t total = 0;

	for (uint32_t i = 0; i < 40; i++) {
		k = nkey(i);
		wlb_flow_insert(t, &k, WLB_FLOW_PENDING, 0, i < 30 ? 10 : 1000);
	}
	ck_assert_uint_eq(wlb_flow_expire(t, 5, 64), 0);
	ck_assert_uint_eq(wlb_flow_expire(t, 100, 0), 0);
	/* Four rounds of 16 cover the 64 slots exactly once. */
	for (int round = 0; round < 4; round++) {
		uint32_t freed = wlb_flow_expire(t, 100, 16);

		ck_assert_uint_le(freed, 16);
		total += freed;
		ck_assert_uint_eq(stats(t).count, 40 - total);
		if (round == 0)
			ck_assert_uint_lt(total, 30);
	}
	ck_assert_uint_eq(total, 30);
	ck_assert_uint_eq(stats(t).expired, 30);
	ck_assert_uint_eq(stats(t).count, 10);
	/* The long-lived ones are untouched; a huge budget is one lap. */
	ck_assert_uint_eq(wlb_flow_expire(t, 100, UINT32_MAX), 0);
	ck_assert_uint_eq(wlb_flow_expire(t, 1000, UINT32_MAX), 10);
	ck_assert_uint_eq(stats(t).count, 0);
	wlb_flow_table_free(t);
}
END_TEST

START_TEST(test_clock_wrap)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_key k = nkey(1);
	struct wlb_flow_key k2 = nkey(2);
	uint64_t start = WRAP - 50;
	struct wlb_flow *f = wlb_flow_insert(t, &k, WLB_FLOW_SETTLED, start, 100);

	ck_assert_uint_eq(f->since_ms, UINT32_MAX - 49);
	ck_assert_uint_eq(f->expires_ms, 50);
	ck_assert_ptr_eq(wlb_flow_lookup(t, &k, WRAP - 1), f);
	ck_assert_ptr_eq(wlb_flow_lookup(t, &k, WRAP), f);
	ck_assert_ptr_eq(wlb_flow_lookup(t, &k, WRAP + 49), f);
	ck_assert_uint_eq(wlb_flow_expire(t, WRAP + 49, 16), 0);

	/* Touch across the wrap, then sweep after the new deadline. */
	wlb_flow_touch(t, f, WRAP + 40, 100);
	ck_assert_uint_eq(f->expires_ms, 140);
	ck_assert_ptr_eq(wlb_flow_lookup(t, &k, WRAP + 139), f);
	ck_assert_uint_eq(wlb_flow_expire(t, WRAP + 140, 16), 1);
	ck_assert_ptr_null(wlb_flow_lookup(t, &k, WRAP + 139));

	/* Far from zero the high bits still do not matter. */
	start = (UINT64_C(7) << 40) + WRAP - 1;
	f = wlb_flow_insert(t, &k2, WLB_FLOW_PENDING, start, 2);
	ck_assert_ptr_eq(wlb_flow_lookup(t, &k2, start + 1), f);
	ck_assert_ptr_null(wlb_flow_lookup(t, &k2, start + 2));
	wlb_flow_table_free(t);
}
END_TEST

START_TEST(test_stats_counters)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_stats st;

	for (uint32_t i = 0; i < 20; i++)
		add(t, i, i % 2 ? WLB_FLOW_SETTLED : WLB_FLOW_PENDING, i);
	st = stats(t);
	ck_assert_uint_eq(st.capacity, 16);
	ck_assert_uint_eq(st.count, 16);
	ck_assert_uint_eq(st.inserted, 20);
	ck_assert_uint_eq(st.evicted, 4);
	ck_assert_uint_eq(st.expired, 0);
	ck_assert_uint_eq(st.count_cls[WLB_FLOW_PENDING] + st.count_cls[WLB_FLOW_SETTLED], 16);
	ck_assert_uint_eq(st.count_cls[WLB_FLOW_PENDING], 6);

	wlb_flow_remove(t, find(t, 19, 20));
	st = stats(t);
	ck_assert_uint_eq(st.count, 15);
	ck_assert_uint_eq(st.count_cls[WLB_FLOW_SETTLED], 9);
	/* remove() is neither eviction nor expiry. */
	ck_assert_uint_eq(st.evicted, 4);
	ck_assert_uint_eq(st.expired, 0);
	ck_assert_uint_eq(wlb_flow_expire(t, 20 + LONG_TIMEOUT, 16), 15);
	st = stats(t);
	ck_assert_uint_eq(st.count, 0);
	ck_assert_uint_eq(st.count_cls[WLB_FLOW_PENDING], 0);
	ck_assert_uint_eq(st.count_cls[WLB_FLOW_SETTLED], 0);
	ck_assert_uint_eq(st.expired, 15);
	ck_assert_uint_eq(st.inserted, 20);
	wlb_flow_table_free(t);
}
END_TEST

/* An expired victim is reclaimed as expired, not counted as evicted. */
START_TEST(test_full_reclaims_expired_victim)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_key k;

	for (uint32_t i = 0; i < 16; i++) {
		k = nkey(i);
		wlb_flow_insert(t, &k, WLB_FLOW_PENDING, 0, i == 0 ? 10 : 1000);
	}
	add(t, 16, WLB_FLOW_PENDING, 20);
	ck_assert_uint_eq(stats(t).evicted, 0);
	ck_assert_uint_eq(stats(t).expired, 1);
	ck_assert_uint_eq(stats(t).count, 16);
	wlb_flow_table_free(t);
}
END_TEST

struct visit {
	uint32_t seen[64];
	int calls;
};

static void count_visit(const struct wlb_flow *f, void *arg)
{
	struct visit *v = arg;
	uint32_t n = f->key.client.v4 - 0x0a000000u;

	ck_assert_uint_lt(n, 64);
	v->seen[n]++;
	v->calls++;
}

START_TEST(test_foreach_live)
{
	struct wlb_flow_table *t = wlb_flow_table_new(64);
	struct visit v = {{0}, 0};
	struct wlb_flow_key k;

	for (uint32_t i = 0; i < 40; i++) {
		k = nkey(i);
		wlb_flow_insert(t, &k, i % 3 ? WLB_FLOW_PENDING : WLB_FLOW_SETTLED, 0,
				i % 2 ? 100 : 1000);
	}
	wlb_flow_remove(t, find(t, 0, 0));
	wlb_flow_foreach(t, 500, count_visit, &v);
	/* Live: even numbers but 0 (removed); odd ones are past deadline. */
	ck_assert_int_eq(v.calls, 19);
	for (uint32_t i = 0; i < 40; i++)
		ck_assert_uint_eq(v.seen[i], i % 2 == 0 && i != 0 ? 1 : 0);
	wlb_flow_table_free(t);
}
END_TEST

/*
 * Randomized run against a reference model: one record per possible key,
 * with the same LRU rule expressed as "smallest use stamp of the lowest
 * class wins".  The key space is four times the capacity so the table is
 * full most of the time and evicts constantly.
 */
#define STRESS_CAP 128
#define STRESS_KEYS 512
#define STRESS_OPS 200000

struct model_flow {
	bool present; /* in the table, maybe past its deadline */
	uint8_t cls;
	uint64_t expires;
	uint64_t stamp; /* last move to the head: insert, touch or class change */
	uint8_t epoch;	/* wlb_flow_epoch() of the insert or the last touch that moved it */
};

struct model {
	struct model_flow f[STRESS_KEYS];
	uint32_t count;
	uint64_t stamp;
	uint64_t evicted, expired;
	uint64_t now;
	uint64_t rng;
};

/* xorshift64*: fixed seed, so a failure replays identically. */
static uint32_t rnd(struct model *m, uint32_t n)
{
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return (uint32_t)((m->rng * UINT64_C(2685821657736338717)) >> 32) % n;
}

/* Four flows (four servers) per endpoint, 128 endpoints over 32 clients:
 * both indexes see shared chains and the endpoint walk has work to do. */
static struct wlb_flow_key skey(uint32_t n)
{
	uint32_t e = n / 4;

	return mkkey(0x0a000000u + e % 32, 0xc0a80000u + n % 4, (uint16_t)(1000 + e / 32), 443);
}

static bool model_live(const struct model *m, uint32_t n)
{
	return m->f[n].present && m->now < m->f[n].expires;
}

static void model_drop(struct model *m, uint32_t n)
{
	m->f[n].present = false;
	m->count--;
}

/* What a lookup does: an expired entry is reclaimed. */
static bool model_lookup(struct model *m, uint32_t n)
{
	if (m->f[n].present && !model_live(m, n)) {
		model_drop(m, n);
		m->expired++;
	}
	return m->f[n].present;
}

/* Lowest class first, then least recently used. */
static bool model_before(const struct model_flow *a, const struct model_flow *b)
{
	return a->cls < b->cls || (a->cls == b->cls && a->stamp < b->stamp);
}

static uint32_t model_victim(const struct model *m)
{
	uint32_t best = STRESS_KEYS;

	for (uint32_t n = 0; n < STRESS_KEYS; n++) {
		if (!m->f[n].present)
			continue;
		if (best == STRESS_KEYS || model_before(&m->f[n], &m->f[best]))
			best = n;
	}
	ck_assert_uint_lt(best, STRESS_KEYS);
	return best;
}

static void model_insert(struct model *m, uint32_t n, uint8_t cls, uint32_t timeout)
{
	if (m->count == STRESS_CAP) {
		uint32_t v = model_victim(m);

		if (model_live(m, v))
			m->evicted++;
		else
			m->expired++;
		model_drop(m, v);
	}
	m->f[n] = (struct model_flow){true, cls, m->now + timeout, ++m->stamp,
				      wlb_flow_epoch(m->now)};
	m->count++;
}

/* Whether n is at the head of its class's list: the latest stamp there. */
static bool model_is_head(const struct model *m, uint32_t n)
{
	for (uint32_t i = 0; i < STRESS_KEYS; i++) {
		if (m->f[i].present && m->f[i].cls == m->f[n].cls && m->f[i].stamp > m->f[n].stamp)
			return false;
	}
	return true;
}

/* A touch moves a flow to the head once per epoch (flow.h). */
static void model_touch(struct model *m, uint32_t n, uint32_t timeout)
{
	m->f[n].expires = m->now + timeout;
	if (model_is_head(m, n) || m->f[n].epoch == wlb_flow_epoch(m->now))
		return;
	m->f[n].stamp = ++m->stamp;
	m->f[n].epoch = wlb_flow_epoch(m->now);
}

static void check_key(struct wlb_flow_table *t, struct model *m, uint32_t n)
{
	struct wlb_flow_key k = skey(n);
	struct wlb_flow *f = wlb_flow_lookup(t, &k, m->now);
	bool want = model_lookup(m, n);

	ck_assert_msg(want == (f != NULL), "key %u: model %d table %d at now %llu", n, want,
		      f != NULL, (unsigned long long)m->now);
	if (!f)
		return;
	ck_assert_uint_eq(f->key.client.v4, k.client.v4);
	ck_assert_uint_eq(f->key.server.v4, k.server.v4);
	ck_assert_uint_eq(f->key.client_port, k.client_port);
	ck_assert_uint_eq(f->key.server_port, k.server_port);
	ck_assert_uint_eq(f->cls, m->f[n].cls);
	ck_assert_uint_eq(f->expires_ms, (uint32_t)m->f[n].expires);
}

static void count_live(const struct wlb_flow *f, void *arg)
{
	(*(uint32_t *)arg)++;
}

static void check_all(struct wlb_flow_table *t, struct model *m)
{
	struct wlb_flow_stats st;
	uint32_t live = 0, want = 0;

	for (uint32_t n = 0; n < STRESS_KEYS; n++)
		want += model_live(m, n);
	wlb_flow_foreach(t, m->now, count_live, &live);
	ck_assert_uint_eq(live, want);
	for (uint32_t n = 0; n < STRESS_KEYS; n++)
		check_key(t, m, n);
	wlb_flow_stats(t, &st);
	ck_assert_uint_eq(st.count, m->count);
	ck_assert_uint_eq(st.evicted, m->evicted);
	ck_assert_uint_eq(st.expired, m->expired);
}

/* The walk returns each live flow of the endpoint once and reclaims the
 * expired ones it passes, as the model does here. */
static void do_endpoint(struct wlb_flow_table *t, struct model *m, uint32_t n)
{
	struct wlb_flow_key k = skey(n);
	uint32_t e = n / 4, seen = 0, want = 0;
	struct wlb_flow *f = NULL;

	while ((f = wlb_flow_lookup_endpoint(t, &k, f, m->now))) {
		uint32_t id = e * 4 + (f->key.server.v4 - 0xc0a80000u);

		ck_assert_uint_lt(id, STRESS_KEYS);
		ck_assert(model_live(m, id));
		ck_assert_uint_eq(seen & 1u << (id % 4), 0);
		seen |= 1u << (id % 4);
	}
	for (uint32_t id = e * 4; id < e * 4 + 4; id++)
		want |= (uint32_t)model_lookup(m, id) << (id % 4);
	ck_assert_uint_eq(seen, want);
}

/* Bring the model in line after a partial sweep: each expired entry is
 * gone from the table or is reclaimed now by a lookup, so either way it
 * counts once as expired. */
static void do_expire(struct wlb_flow_table *t, struct model *m)
{
	uint32_t budget = rnd(m, 48);
	uint32_t freed = wlb_flow_expire(t, m->now, budget);

	ck_assert_uint_le(freed, budget);
	for (uint32_t n = 0; n < STRESS_KEYS; n++) {
		if (m->f[n].present && !model_live(m, n))
			check_key(t, m, n);
	}
}

static void do_insert(struct wlb_flow_table *t, struct model *m, uint32_t n)
{
	struct wlb_flow_key k = skey(n);
	uint8_t cls = (uint8_t)rnd(m, WLB_FLOW_NCLASS);
	uint32_t timeout = 1 + rnd(m, 1000);

	if (wlb_flow_lookup(t, &k, m->now)) {
		ck_assert(model_lookup(m, n));
		return;
	}
	ck_assert(!model_lookup(m, n));
	wlb_flow_insert(t, &k, cls, m->now, timeout);
	model_insert(m, n, cls, timeout);
}

static void do_update(struct wlb_flow_table *t, struct model *m, uint32_t n, int op)
{
	struct wlb_flow_key k = skey(n);
	struct wlb_flow *f = wlb_flow_lookup(t, &k, m->now);
	uint8_t cls;

	ck_assert(model_lookup(m, n) == (f != NULL));
	if (!f)
		return;
	if (op == 0) {
		uint32_t timeout = 1 + rnd(m, 1000);

		wlb_flow_touch(t, f, m->now, timeout);
		model_touch(m, n, timeout);
	} else if (op == 1) {
		cls = (uint8_t)rnd(m, WLB_FLOW_NCLASS);
		wlb_flow_set_class(t, f, cls);
		if (cls != m->f[n].cls)
			m->f[n].stamp = ++m->stamp;
		m->f[n].cls = cls;
	} else {
		wlb_flow_remove(t, f);
		model_drop(m, n);
	}
}

static void stress_step(struct wlb_flow_table *t, struct model *m)
{
	uint32_t n = rnd(m, STRESS_KEYS);
	uint32_t op = rnd(m, 16);

	if (op < 6)
		do_insert(t, m, n);
	else if (op < 8)
		check_key(t, m, n);
	else if (op < 11)
		do_update(t, m, n, (int)op - 8);
	else if (op < 12)
		do_expire(t, m);
	else if (op < 13)
		do_endpoint(t, m, n);
	else
		m->now += rnd(m, 16);
}

START_TEST(test_stress_model)
{
	struct wlb_flow_table *t = wlb_flow_table_new(STRESS_CAP);
	struct model *m = calloc(1, sizeof(*m));
	struct wlb_flow_stats st;

	ck_assert_ptr_nonnull(m);
	m->rng = UINT64_C(0x9e3779b97f4a7c15);
	/* Start close enough to 2^32 that the run crosses the wrap. */
	m->now = WRAP - 100000;
	for (uint32_t i = 0; i < STRESS_OPS; i++) {
		stress_step(t, m);
		wlb_flow_stats(t, &st);
		ck_assert_uint_le(st.count, STRESS_CAP);
		ck_assert_uint_eq(st.count, m->count);
		ck_assert_uint_eq(st.count_cls[0] + st.count_cls[1], st.count);
		if (i % 4096 == 0)
			check_all(t, m);
	}
	check_all(t, m);
	ck_assert_uint_gt(m->now, WRAP);
	ck_assert_uint_gt(m->evicted, 0);
	ck_assert_uint_gt(m->expired, 0);
	free(m);
	wlb_flow_table_free(t);
}
END_TEST

/*
 * Sequential client ports (one client, one server) must spread like random
 * keys whatever the table's random hash keys: the mean walk to a flow in
 * its chain, for 10000 flows in 65536 buckets, stays near 1.08 for every
 * one of 100 key sets.  Without the finalizer in wlb_flow_hash3() about
 * one key set in nine gives 1.2 or worse.
 */
START_TEST(test_hash_spreads_sequential_ports)
{
	enum { N = 10000, BITS = 16 };
	static uint16_t per_bucket[1u << BITS];
	static uint32_t bucket[N];
	struct wlb_flow_index ix = {.shift = 64 - BITS};
	double worst = 0;

	tp_srand(3);
	for (int set = 0; set < 100; set++) {
		double walk = 0;

		for (unsigned k = 0; k < WLB_FLOW_NKEYS; k++)
			ix.tkey[k] = (uint64_t)tp_rand() << 32 | tp_rand();
		memset(per_bucket, 0, sizeof(per_bucket));
		for (uint32_t i = 0; i < N; i++) {
			struct wlb_flow_key k = mkkey(htonl(0xc0000264), htonl(0xcb00710a),
						      htons((uint16_t)(20000 + i)), htons(80));

			bucket[i] = wlb_flow_tuple_hash(&ix, &k);
			per_bucket[bucket[i]]++;
		}
		for (uint32_t i = 0; i < N; i++)
			walk += (per_bucket[bucket[i]] + 1) / 2.0;
		if (walk / N > worst)
			worst = walk / N;
	}
	ck_assert_msg(worst < 1.15, "worst mean walk %.3f", worst);
}
END_TEST

static Suite *flow_suite(void)
{
	Suite *s = suite_create("flow");
	TCase *basic = tcase_create("basic");
	TCase *evict = tcase_create("eviction");
	TCase *timer = tcase_create("timeouts");
	TCase *stress = tcase_create("stress");

	tcase_add_test(basic, test_capacity_rounding);
	tcase_add_test(basic, test_sizes);
	tcase_add_test(basic, test_insert_lookup_remove);
	tcase_add_test(basic, test_reuse_zeroes_entry);
	tcase_add_test(basic, test_lookup_absent);
	tcase_add_test(basic, test_endpoint_index);
	tcase_add_test(basic, test_endpoint_skips_expired);
	tcase_add_test(basic, test_stats_counters);
	tcase_add_test(basic, test_foreach_live);
	tcase_add_test(basic, test_hash_spreads_sequential_ports);
	suite_add_tcase(s, basic);

	tcase_add_test(evict, test_evict_pending_first);
	tcase_add_test(evict, test_evict_settled_when_no_pending);
	tcase_add_test(evict, test_set_class_moves_lists);
	tcase_add_test(evict, test_full_reclaims_expired_victim);
	tcase_add_test(evict, test_touch_epoch);
	suite_add_tcase(s, evict);

	tcase_add_test(timer, test_timeout_lookup);
	tcase_add_test(timer, test_touch_extends);
	tcase_add_test(timer, test_expire_budget);
	tcase_add_test(timer, test_clock_wrap);
	suite_add_tcase(s, timer);

	/* Slow under sanitizers and valgrind. */
	tcase_set_timeout(stress, 300);
	tcase_add_test(stress, test_stress_model);
	suite_add_tcase(s, stress);
	return s;
}

int main(void)
{
	return tp_run_suite(flow_suite());
}
