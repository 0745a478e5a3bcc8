// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer targets for the three daemons' packet decisions: whatever the
 * bytes, a decision must not crash, read or write outside the packet it is
 * given, leak, or answer with what a verdict cannot carry.
 *
 * Built once per daemon (-DFUZZ_CLIENTGW, -DFUZZ_REDIRECTOR or
 * -DFUZZ_REPLICAD) by tests/fuzz/run-fuzz.  One input is a run of records,
 * decided in turn by one fresh daemon (a tiny flow table with short timers,
 * the kernel's maps and tunnel offline), so that a run can open, carry and
 * close connections:
 *
 *   byte 0     what: a packet at one of the daemon's hooks, a tick, or a
 *              read-back of the kernel's maps or tunnel (the key and value
 *              from the record's bytes)
 *   byte 1     time passing first, in 50 ms steps
 *   bytes 2-3  the record's length, little-endian (cut to what is left)
 *   then       the record: the packet, or the read-back's bytes
 *
 * With WLB_FUZZ_SEEDS=DIR set, the binary writes a few well-formed runs
 * into DIR (a tagged SYN and its answers, an encapsulated copy) and exits:
 * a start the fuzzer cannot find by chance, since the services' addresses
 * are looked up by hash, not compared.
 */
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"
#include "daemon.h"
#include "fastpath.h"
#include "pkt.h"
#include "tag.h"
#include "testpkt.h"
#include "tunfp.h"

#if defined(FUZZ_CLIENTGW)
#include "clientgw.h"
#define NEED WLB_NEED_CLIENTGW
#define D(fn) clientgw_##fn
#define HOOK0 NF_INET_POST_ROUTING /* the client's packets */
#define HOOK1 NF_INET_PRE_ROUTING  /* the servers' */
typedef struct clientgw daemon_t;
#elif defined(FUZZ_REPLICAD)
#include "replicad.h"
#define NEED WLB_NEED_REPLICAD
#define D(fn) replicad_##fn
#define HOOK0 NF_INET_PRE_ROUTING /* arriving */
#define HOOK1 NF_INET_LOCAL_OUT	  /* the local server's */
typedef struct replicad daemon_t;
#elif defined(FUZZ_REDIRECTOR)
#include "redirector.h"
#define NEED WLB_NEED_REDIRECTOR
typedef struct redirector daemon_t;
#else
#error "define FUZZ_CLIENTGW, FUZZ_REDIRECTOR or FUZZ_REPLICAD"
#endif

#define CLIENT "192.0.2.2"
#define ORIGIN_A "203.0.113.10"
#define ORIGIN_B "203.0.113.20"
#define ORIGIN_C "203.0.113.30"
#define REPLICA1 "198.51.100.18"
#define REPLICA2 "198.51.100.22"
#define REDIRECTOR "198.51.100.6"
#define IDLE_MS 2000u

static const char conf_text[] =
	"services = (\n"
	"  { origin = \"" ORIGIN_A "\"; ports = [ 80, 443 ]; replicable = true;\n"
	"    configuration = \"A\"; replicas = [ \"" REPLICA1 "\", \"" REPLICA2 "\" ]; },\n"
	"  { origin = \"" ORIGIN_B "\"; ports = [ 80 ]; replicable = true;\n"
	"    configuration = \"B\"; replicas = [ \"" REPLICA1 "\" ]; },\n"
	"  { origin = \"" ORIGIN_C "\"; ports = [ 80 ]; replicable = true;\n"
	"    configuration = \"C\"; replicas = [ \"" REPLICA1 "\", \"" REPLICA2 "\" ]; }\n"
	");\n"
	"clientgw: { queue = 0; flows = 16; half_open_timeout = 0.5; idle_timeout = 2;\n"
	"  linger = 0.2; };\n"
	"redirector: { queue = 1; address = \"" REDIRECTOR "\"; };\n"
	"replicad: { queue = 2; service_address = \"" REPLICA1 "\";\n"
	"  redirectors = [ \"" REDIRECTOR "\" ]; flows = 16; flow_timeout = 0.5;\n"
	"  idle_timeout = 2; linger = 0.2; tunnel_mtu = 1500; };\n";

enum what { W_HOOK0, W_HOOK1, W_TICK, W_FP_SEEN, W_TUN_SEEN, W_N };

static struct wlb_conf *conf;

/* ------------------------------------------------------------ the daemon */

#if defined(FUZZ_CLIENTGW)
static uint32_t nonces;

static uint32_t next_nonce(struct clientgw *gw)
{
	(void)gw;
	return htonl(0x5eed0000u + ++nonces);
}
#endif

#if defined(FUZZ_CLIENTGW) || defined(FUZZ_REPLICAD)
static daemon_t *d_new(void)
{
	char err[256];
	daemon_t *x = D(new)(conf, err, sizeof(err));

	CHECK(x);
#if defined(FUZZ_CLIENTGW)
	nonces = 0;
	x->nonce = next_nonce;
#endif
	x->fp = wlb_fp_new_offline(IDLE_MS);
	x->tun = wlb_tun_new_offline();
	return x;
}

static void d_free(daemon_t *x)
{
	struct wlb_fp *fp = x->fp;
	struct wlb_tun *tun = x->tun;

	D(free)(x);
	wlb_fp_close(fp);
	wlb_tun_close(tun);
}

static void d_decide(daemon_t *x, int hook, uint8_t *p, uint32_t len, uint64_t now,
		     struct wlb_action *act)
{
	D(decide)(x, hook ? HOOK1 : HOOK0, p, len, now, act);
}

static void d_tick(daemon_t *x, uint64_t now)
{
	D(tick)(x, now);
}

static void d_fp_seen(daemon_t *x, enum wlb_fp_map m, const struct wlb_fp_key *k, uint32_t v,
		      uint32_t expires, uint64_t now)
{
	D(fp_seen)(x, m, k, v, expires, now);
}

static void d_tun_seen(daemon_t *x, enum wlb_tun_map m, const struct wlb_fp_key *k, uint32_t os,
		       uint32_t od, uint64_t idle, uint64_t now)
{
	D(tun_seen)(x, m, k, os, od, idle, now);
}

/* what the daemon loop does after each round */
static void d_flush(daemon_t *x)
{
	wlb_fp_flush(x->fp);
	wlb_tun_flush(x->tun);
}
#else
/* The redirector keeps no state: every record is a packet. */
static daemon_t *d_new(void)
{
	char err[256];
	daemon_t *x = redirector_new(conf, err, sizeof(err));

	CHECK(x);
	return x;
}

static void d_free(daemon_t *x)
{
	redirector_free(x);
}

static void d_decide(daemon_t *x, int hook, uint8_t *p, uint32_t len, uint64_t now,
		     struct wlb_action *act)
{
	(void)hook;
	(void)now;
	redirector_decide(x, p, len, act);
}

static void d_tick(daemon_t *x, uint64_t now)
{
	(void)x;
	(void)now;
}

static void d_fp_seen(daemon_t *x, enum wlb_fp_map m, const struct wlb_fp_key *k, uint32_t v,
		      uint32_t expires, uint64_t now)
{
	(void)x, (void)m, (void)k, (void)v, (void)expires, (void)now;
}

static void d_tun_seen(daemon_t *x, enum wlb_tun_map m, const struct wlb_fp_key *k, uint32_t os,
		       uint32_t od, uint64_t idle, uint64_t now)
{
	(void)x, (void)m, (void)k, (void)os, (void)od, (void)idle, (void)now;
}

static void d_flush(daemon_t *x)
{
	(void)x;
}
#endif

/* ------------------------------------------------------------ the checks */

static bool ip_csum_ok(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t ihl;

	if (len < 20)
		return false;
	ihl = (size_t)(p[0] & 15) * 4;
	if (ihl < 20 || ihl > len)
		return false;
	for (size_t i = 0; i < ihl; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* What a verdict and the raw socket can carry, from where it may point. */
static void check_action(const struct wlb_action *act, const uint8_t *p, uint32_t len)
{
	CHECK(act->verdict == WLB_ACCEPT || act->verdict == WLB_DROP || act->verdict == WLB_MANGLE);
	if (act->verdict == WLB_MANGLE) {
		CHECK(act->out_len > 0 && act->out_len <= WLB_NFQ_MAX_PAYLOAD);
		CHECK((act->out >= p && act->out + act->out_len <= p + len) ||
		      (act->out >= act->scratch &&
		       act->out + act->out_len <= act->scratch + WLB_SCRATCH_SIZE));
		/* every rewrite keeps or writes a valid IPv4 header */
		CHECK(act->out_len >= 20 && (act->out[0] >> 4) == 4);
	}
	CHECK(act->n_emit <= WLB_EMIT_MAX);
	for (unsigned i = 0; i < act->n_emit; i++) {
		/* built here from scratch: their headers' checksums hold */
		CHECK(act->emit[i].len >= 20 && act->emit[i].len <= WLB_EMIT_SIZE);
		CHECK(ip_csum_ok(act->emit[i].data, act->emit[i].len));
	}
}

/* ------------------------------------------------------------ one input */

static uint32_t get32(const uint8_t *b)
{
	uint32_t v;

	memcpy(&v, b, 4);
	return v;
}

static struct wlb_fp_key key_from(const uint8_t *b)
{
	struct wlb_fp_key k;

	memset(&k, 0, sizeof(k));
	k.saddr = get32(b);
	memcpy(&k.sport, b + 4, 2);
	k.daddr = get32(b + 6);
	memcpy(&k.dport, b + 10, 2);
	return k;
}

static void record(daemon_t *x, struct wlb_action *act, unsigned what, const uint8_t *b,
		   uint32_t len, uint64_t now)
{
	uint8_t *p;

	switch (what) {
	case W_HOOK0:
	case W_HOOK1:
		/* an exact-size copy: ASan sees every byte read beyond it */
		p = malloc(len ? len : 1);
		CHECK(p);
		memcpy(p, b, len);
		wlb_action_reset(act);
		d_decide(x, what == W_HOOK1, p, len, now, act);
		check_action(act, p, len);
		free(p);
		break;
	case W_TICK:
		d_tick(x, now);
		break;
	case W_FP_SEEN:
		if (len >= 21) {
			struct wlb_fp_key k = key_from(b + 1);

			d_fp_seen(x, b[0] & 1 ? WLB_FP_SRC : WLB_FP_DST, &k, get32(b + 13),
				  get32(b + 17) % (4 * IDLE_MS), now);
		}
		break;
	case W_TUN_SEEN:
		if (len >= 25) {
			struct wlb_fp_key k = key_from(b + 1);

			d_tun_seen(x, b[0] & 1 ? WLB_TUN_MAP_DECAP : WLB_TUN_MAP_ENCAP, &k,
				   get32(b + 13), get32(b + 17), get32(b + 21) % (4 * IDLE_MS),
				   now);
		}
		break;
	}
	d_flush(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wlb_action *act = wlb_action_new();
	daemon_t *x = d_new();
	uint64_t now = 1000000;

	CHECK(act);
	while (size >= 4) {
		unsigned what = data[0] % W_N;
		uint32_t len = (uint32_t)(data[2] | data[3] << 8);

		now += (uint64_t)data[1] * 50;
		data += 4;
		size -= 4;
		if (len > size)
			len = (uint32_t)size;
		record(x, act, what, data, len, now);
		data += len;
		size -= len;
	}
	d_free(x);
	wlb_action_free(act);
	return 0;
}

/* ------------------------------------------------------------ the seeds */

struct seed {
	uint8_t b[8192];
	size_t len;
};

static void seed_put(struct seed *s, unsigned what, uint8_t dt, const struct tp_pk *k)
{
	CHECK(s->len + 4 + k->len <= sizeof(s->b));
	s->b[s->len++] = (uint8_t)what;
	s->b[s->len++] = dt;
	s->b[s->len++] = (uint8_t)(k->len & 0xff);
	s->b[s->len++] = (uint8_t)(k->len >> 8);
	memcpy(s->b + s->len, k->b, k->len);
	s->len += k->len;
}

static void seed_write(const char *dir, const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f && fwrite(s->b, 1, s->len, f) == s->len && fclose(f) == 0);
}

static void seg(struct tp_pk *k, const char *src, const char *dst, uint16_t sport, uint16_t dport,
		uint8_t flags, const uint8_t *opts, unsigned optlen, size_t paylen)
{
	static const uint8_t pay[1400];
	struct tp_opts o = {.src = src,
			    .dst = dst,
			    .sport = sport,
			    .dport = dport,
			    .flags = flags,
			    .seq = 1000,
			    .ack = 2000,
			    .opts = opts,
			    .optlen = optlen,
			    .payload = pay,
			    .paylen = paylen,
			    .df = true};

	k->len = tp_build(k->b, sizeof(k->b), &o);
}

#if !defined(FUZZ_REDIRECTOR)
/* tp_encap() without its Check assertions, which need a test runner */
static void encap(struct tp_pk *out, const struct tp_pk *inner, const char *src, const char *dst)
{
	struct wlb_pkt p;

	memset(&p, 0, sizeof(p));
	p.data = (uint8_t *)inner->b;
	p.len = inner->len;
	p.cap = inner->len;
	out->len = wlb_ipip_encap(&p, out->b, sizeof(out->b), tp_addr(src), tp_addr(dst), 64);
	CHECK(out->len == inner->len + 20);
}
#endif

/* A connection to origin in mode, as each daemon sees it. */
static void seeds_for(const char *dir, const char *origin, enum wlb_mode mode, const char *name)
{
	uint8_t tagged[TP_TAGGED_SYN_OPTLEN], echo[TP_TAGGED_SYN_OPTLEN];
	struct tp_pk k, in;
	struct seed s = {.len = 0};
	uint32_t nonce = htonl(0x5eed0001u);

	tp_tagged_syn_opts(tagged, wlb_tag_flags(true, mode, false), nonce, 1);
	tp_tagged_syn_opts(echo, wlb_tag_flags(true, mode, true), nonce, 1);
#if defined(FUZZ_CLIENTGW)
	seg(&k, CLIENT, origin, 40000, 80, WLB_TCP_SYN, tp_linux_syn_opts, 20, 0);
	seed_put(&s, W_HOOK0, 0, &k);
	if (mode == WLB_MODE_A) {
		seg(&k, REPLICA1, CLIENT, 80, 40000, WLB_TCP_SYN | WLB_TCP_ACK, echo, sizeof(echo),
		    0);
		seed_put(&s, W_HOOK1, 1, &k);
	} else {
		seg(&in, origin, CLIENT, 80, 40000, WLB_TCP_SYN | WLB_TCP_ACK, echo, sizeof(echo),
		    0);
		encap(&k, &in, REPLICA1, CLIENT);
		seed_put(&s, W_HOOK1, 1, &k);
	}
	seg(&k, origin, CLIENT, 80, 40000, WLB_TCP_SYN | WLB_TCP_ACK, NULL, 0, 0);
	seed_put(&s, W_HOOK1, 1, &k);
	for (int i = 0; i < 20; i++) {
		seg(&k, CLIENT, origin, 40000, 80, WLB_TCP_ACK, NULL, 0, 100);
		seed_put(&s, W_HOOK0, 0, &k);
	}
	seg(&k, CLIENT, origin, 40000, 80, WLB_TCP_FIN | WLB_TCP_ACK, NULL, 0, 0);
	seed_put(&s, W_HOOK0, 1, &k);
#elif defined(FUZZ_REPLICAD)
	seg(&in, CLIENT, origin, 40000, 80, WLB_TCP_SYN, tagged, sizeof(tagged), 0);
	encap(&k, &in, REDIRECTOR, REPLICA1);
	seed_put(&s, W_HOOK0, 0, &k);
	seg(&k, mode == WLB_MODE_A ? REPLICA1 : origin, CLIENT, 80, 40000,
	    WLB_TCP_SYN | WLB_TCP_ACK, tp_linux_syn_opts, 20, 0);
	seed_put(&s, W_HOOK1, 0, &k);
	for (int i = 0; i < 20; i++) {
		seg(&in, CLIENT, mode == WLB_MODE_B ? REPLICA1 : origin, 40000, 80, WLB_TCP_ACK,
		    NULL, 0, 100);
		if (mode == WLB_MODE_C)
			encap(&k, &in, CLIENT, REPLICA1);
		seed_put(&s, W_HOOK0, 0, mode == WLB_MODE_C ? &k : &in);
		seg(&k, origin, CLIENT, 80, 40000, WLB_TCP_ACK, NULL, 0, 100);
		seed_put(&s, W_HOOK1, 0, &k);
	}
#else
	(void)echo;
	(void)in;
	seg(&k, CLIENT, origin, 40000, 80, WLB_TCP_SYN, tagged, sizeof(tagged), 0);
	seed_put(&s, W_HOOK0, 0, &k);
#endif
	seed_write(dir, name, &s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("WLB_FUZZ_SEEDS");
	char err[256];

	(void)argc;
	(void)argv;
	conf = wlb_conf_load_string(conf_text, "fuzz.conf", NEED, err, sizeof(err));
	CHECK(conf);
	if (seeds) {
		seeds_for(seeds, ORIGIN_A, WLB_MODE_A, "seed-a");
		seeds_for(seeds, ORIGIN_B, WLB_MODE_B, "seed-b");
		seeds_for(seeds, ORIGIN_C, WLB_MODE_C, "seed-c");
		exit(0);
	}
	return 0;
}
