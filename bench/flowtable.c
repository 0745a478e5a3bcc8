// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The flow table at a million flows: bytes per flow, and insert and lookup
 * rates (hit and miss) over a million random keys, timed with
 * CLOCK_MONOTONIC, next to a same-run baseline on the same keys in the same
 * order:
 *   hash only    the arithmetic of flow.c's tuple hash (3 mixing rounds and
 *                a finish), nothing stored;
 *   array write  that hash, then the key stored at hash & mask in a plain
 *                array of n slots as large as the table's entries (48
 *                bytes, so as much memory as its entry array): one random
 *                memory access, the least a hash table insert can do;
 *   array read   the same, read back and compared: the least a lookup does.
 * Inserts are compared with the array write, lookups with the array read.
 *
 * Usage: flowtable [N [REPS]]  (default 1048576 flows, 5 repetitions; each
 * figure is the median of the repetitions, each on a fresh table).
 * A benchmark: it fails only when the table loses or invents a key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flow.h"

#define DEFAULT_N (1u << 20)
#define DEFAULT_REPS 5
#define MAX_REPS 101
#define NOW_MS 1000u
#define TIMEOUT_MS 300000u

static volatile uint64_t sink;

static void die(const char *what)
{
	fprintf(stderr, "flowtable: %s\n", what);
	exit(EXIT_FAILURE);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("out of memory");
	return p;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: reproducible keys from run to run */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rand64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* A bijection on 32 bits: distinct i give distinct client addresses, so
 * every key is distinct whatever the random rest of it is. */
static uint32_t permute(uint32_t x)
{
	x *= 0x9e3779b1u;
	x ^= x >> 16;
	x *= 0x85ebca6bu;
	return x ^ x >> 13;
}

/* Keys first..first+n-1: the hit set is 0..n-1, the miss set n..2n-1. */
static void make_keys(struct wlb_flow_key *k, uint32_t n, uint32_t first)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t r = rand64();

		memset(&k[i], 0, sizeof(k[i]));
		k[i].client.v4 = permute(first + i);
		k[i].server.v4 = (uint32_t)r;
		k[i].client_port = (uint16_t)(r >> 32);
		k[i].server_port = (uint16_t)(r >> 48);
	}
}

static void shuffle(struct wlb_flow_key *k, uint32_t n)
{
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rand64() % (i + 1));
		struct wlb_flow_key t = k[i];

		k[i] = k[j];
		k[j] = t;
	}
}

/* ------------------------------------------------------------ baseline */

/* A slot of the plain array: a key, padded to the size of a table entry. */
struct slot {
	struct wlb_flow_key key;
	uint8_t pad[sizeof(struct wlb_flow) - sizeof(struct wlb_flow_key)];
};

/* The table's own tuple hash, with fixed keys in place of its random ones
 * (any will do); shift set in main() for the array's size. */
static struct wlb_flow_index bix = {
	.tkey = {0x2545f4914f6cdd1dull, 0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull,
		 0x94d049bb133111ebull},
};

static inline uint32_t hash(const struct wlb_flow_key *k)
{
	return wlb_flow_tuple_hash(&bix, k);
}

static double hash_only(const struct wlb_flow_key *k, uint32_t n)
{
	double t0 = now_s();
	uint32_t acc = 0;

	for (uint32_t i = 0; i < n; i++)
		acc += hash(&k[i]);
	sink += acc;
	return now_s() - t0;
}

static double array_write(struct slot *a, uint32_t mask, const struct wlb_flow_key *k, uint32_t n)
{
	double t0 = now_s();

	for (uint32_t i = 0; i < n; i++)
		a[hash(&k[i]) & mask].key = k[i];
	sink += a[0].key.client.v4;
	return now_s() - t0;
}

static double array_read(const struct slot *a, uint32_t mask, const struct wlb_flow_key *k,
			 uint32_t n)
{
	double t0 = now_s();
	uint32_t found = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct wlb_flow_key *e = &a[hash(&k[i]) & mask].key;

		found += e->client.v4 == k[i].client.v4 && e->server.v4 == k[i].server.v4 &&
			 e->client_port == k[i].client_port && e->server_port == k[i].server_port;
	}
	sink += found;
	return now_s() - t0;
}

/* --------------------------------------------------------- flow table */

static double table_insert(struct wlb_flow_table *t, const struct wlb_flow_key *k, uint32_t n)
{
	double t0 = now_s();

	for (uint32_t i = 0; i < n; i++)
		wlb_flow_insert(t, &k[i], WLB_FLOW_SETTLED, NOW_MS, TIMEOUT_MS);
	return now_s() - t0;
}

static double table_lookup(struct wlb_flow_table *t, const struct wlb_flow_key *k, uint32_t n,
			   uint32_t *found)
{
	double t0 = now_s(), dt;
	uint32_t hits = 0;

	for (uint32_t i = 0; i < n; i++)
		hits += wlb_flow_lookup(t, &k[i], NOW_MS) != NULL;
	dt = now_s() - t0;
	*found = hits;
	return dt;
}

/* --------------------------------------------------------------- main */

enum row { HASH, AWRITE, AREAD, INSERT, HIT, MISS, NROWS };

static const char *const row_name[NROWS] = {
	"baseline: hash only", "baseline: array write", "baseline: array read",
	"wlb_flow_insert",     "wlb_flow_lookup, hit",	"wlb_flow_lookup, miss",
};

/* which baseline a row is compared with (itself for the baselines) */
static const enum row row_base[NROWS] = {HASH, AWRITE, AREAD, AWRITE, AREAD, AREAD};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	uint32_t n = DEFAULT_N, reps = DEFAULT_REPS, mask = 1, found;
	struct wlb_flow_key *keys, *hits, *misses;
	struct slot *arr;
	static double secs[NROWS][MAX_REPS];
	double med[NROWS];
	struct wlb_flow_stats st = {0};
	size_t bytes = 0;

	if (argc > 1)
		n = (uint32_t)strtoul(argv[1], NULL, 0);
	if (argc > 2)
		reps = (uint32_t)strtoul(argv[2], NULL, 0);
	if (n < 16 || n > (1u << 26) || reps < 1 || reps > MAX_REPS)
		die("usage: flowtable [N [REPS]]: 16 <= N <= 2^26, 1 <= REPS <= 101");
	while (mask + 1 < n)
		mask = mask << 1 | 1;
	bix.shift = 64 - (uint32_t)__builtin_popcount(mask);

	keys = xcalloc(n, sizeof(*keys));
	hits = xcalloc(n, sizeof(*hits));
	misses = xcalloc(n, sizeof(*misses));
	arr = xcalloc((size_t)mask + 1, sizeof(*arr));
	make_keys(keys, n, 0);
	make_keys(misses, n, n);
	memcpy(hits, keys, (size_t)n * sizeof(*keys));
	shuffle(hits, n); /* looked up in another order than inserted */
	memset(arr, 0xff, ((size_t)mask + 1) * sizeof(*arr)); /* every page touched */

	for (uint32_t r = 0; r < reps; r++) {
		/* created (and its memory touched) outside the timed region */
		struct wlb_flow_table *t = wlb_flow_table_new(n);

		if (!t)
			die("out of memory for the table");
		secs[HASH][r] = hash_only(keys, n);
		secs[AWRITE][r] = array_write(arr, mask, keys, n);
		secs[AREAD][r] = array_read(arr, mask, hits, n);
		secs[INSERT][r] = table_insert(t, keys, n);
		secs[HIT][r] = table_lookup(t, hits, n, &found);
		if (found != n)
			die("a key inserted was not found");
		secs[MISS][r] = table_lookup(t, misses, n, &found);
		if (found)
			die("a key never inserted was found");
		bytes = wlb_flow_table_bytes(t);
		wlb_flow_stats(t, &st);
		if (st.evicted || st.count != n)
			die("the table did not hold every key");
		wlb_flow_table_free(t);
	}
	for (int i = 0; i < NROWS; i++) {
		qsort(secs[i], reps, sizeof(double), cmp_double);
		med[i] = reps % 2 ? secs[i][reps / 2]
				  : (secs[i][reps / 2 - 1] + secs[i][reps / 2]) / 2;
	}

	printf("flows %u, capacity %u, sizeof(struct wlb_flow) %zu, sizeof(struct wlb_flow_key) "
	       "%zu\n",
	       st.count, st.capacity, sizeof(struct wlb_flow), sizeof(struct wlb_flow_key));
	printf("table bytes %zu (%.1f MiB): %.2f per slot of capacity, %.2f per flow held\n", bytes,
	       (double)bytes / (1 << 20), (double)bytes / st.capacity, (double)bytes / st.count);
	printf("baseline array: %zu bytes, %.2f per key\n\n", ((size_t)mask + 1) * sizeof(*arr),
	       (double)((size_t)mask + 1) * sizeof(*arr) / n);
	printf("%-24s %10s %8s %16s\n", "operation", "Mops/s", "ns/op", "rate / baseline");
	for (int i = 0; i < NROWS; i++)
		printf("%-24s %10.2f %8.1f %16.3f%s\n", row_name[i], n / med[i] / 1e6,
		       med[i] / n * 1e9, med[row_base[i]] / med[i],
		       i == INSERT ? "  (vs array write)"
		       : i >= HIT  ? "  (vs array read)"
				   : "");
	printf("\nmedians of %u runs of %u keys each; hits looked up in another order than\n"
	       "inserted; misses are %u other keys; table load at the end %.2f.\n",
	       reps, n, n, (double)st.count / st.capacity);
	return 0;
}
