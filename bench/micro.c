// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Instructions per packet of the packet decisions, for callgrind.
 *
 * Everything is set up once (one configuration for the three daemons, a
 * client gateway with a deterministic nonce, a redirector, a replicad, one
 * connection a replica won in configuration A and one in C); then each
 * bench_<x>() runs one kind of decision n times, each time on a fresh copy
 * of its packet, so
 *
 *	valgrind --tool=callgrind --toggle-collect=bench_<x> ./micro
 *
 * counts that decision and nothing else; bench/run-micro divides by n.  The
 * copy into the work buffer is part of every measured function, the
 * baseline (bench_baseline_parse: copy and parse, the least any decision
 * does) included.
 *
 * Stateful decisions get a distinct prepared packet per iteration, built
 * before the measured region: bench_syn opens n new connections (n client
 * address:port pairs), bench_synack then answers each of them from a
 * replica with the echo of its nonce, so both measure the common path (a
 * new SYN, a winning SYN-ACK) n times without removing anything inside the
 * measured loop.
 * bench_replicad_syn and bench_replicad_synack do the same at the replica:
 * n redirected SYNs cracked, then their local SYN-ACKs given the echo.
 *
 * The flow tables take their hash seed from getrandom(): a flow may share
 * its chain with one of the n new ones, so a lookup's count can vary by a
 * few instructions from run to run.
 *
 * Run natively it only checks that every benchmark took the path it names
 * (each outcome counter moved by n) and prints what it ran: it times nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>

#include "conf.h"
#include "counters.h"
#include "daemon.h"
#include "flow.h"
#include "pkt.h"
#include "tag.h"
#include "testpkt.h"

/* The three policies name some counters alike (other_passed, mss_clamped):
 * one file that includes all three gives each set its own prefix. */
#undef WLB_COUNTER_ENUM
#define WLB_COUNTER_ENUM(name, help) cg_##name,
#include "clientgw.h"
#undef WLB_COUNTER_ENUM
#define WLB_COUNTER_ENUM(name, help) rd_##name,
#include "redirector.h"
#undef WLB_COUNTER_ENUM
#define WLB_COUNTER_ENUM(name, help) rp_##name,
#include "replicad.h"

#define CLIENT "192.0.2.2"
#define ORIGIN_A "203.0.113.10" /* configuration A */
#define ORIGIN_C "203.0.113.30" /* configuration C */
#define REPLICA1 "198.51.100.18"
#define REPLICA2 "198.51.100.22"
#define REDIRECTOR "198.51.100.6"
#define CPORT_A 40000
#define CPORT_C 40001
/* bench_syn's clients: 192.0.2.100 + i / SYN_PORTS, port SYN_PORT0 + i % SYN_PORTS */
#define SYN_CLIENT0 "192.0.2.100"
#define SYN_PORT0 20000u
#define SYN_PORTS 40000u
#define CLIENT_ISN 1000u
#define SERVER_ISN 700000u
#define T0 1000000u

#define DATA_PAYLOAD 1448 /* MSS 1460 less the timestamp option: a 1500-byte packet */
#define SLOT 128	  /* bytes per prepared SYN, SYN-ACK or encapsulated SYN */
#define DEFAULT_N 10000

#define BENCH __attribute__((noinline, noclone))

static const char conf_fmt[] =
	"services = (\n"
	"  { origin = \"" ORIGIN_A "\"; ports = [ 80, 443 ]; replicable = true;\n"
	"    configuration = \"A\"; replicas = [ \"" REPLICA1 "\", \"" REPLICA2 "\" ]; },\n"
	"  { origin = \"" ORIGIN_C "\"; ports = [ 80, 443 ]; replicable = true;\n"
	"    configuration = \"C\"; replicas = [ \"" REPLICA1 "\", \"" REPLICA2 "\" ]; }\n"
	");\n"
	"clientgw: { queue = 0; web_ports = [ 80, 443 ]; flows = %u; };\n"
	"redirector: { queue = 1; address = \"" REDIRECTOR "\"; ttl = 64; };\n"
	"replicad: {\n"
	"  queue = 2; service_address = \"" REPLICA1 "\";\n"
	"  redirectors = [ \"" REDIRECTOR "\" ];\n"
	"  flows = %u; flow_timeout = 5.0;\n"
	"};\n";

/* A Linux data segment's options: NOP, NOP, timestamps. */
static const uint8_t ts_opts[12] = {1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78};

static struct wlb_conf *conf;
static struct clientgw *gw;
static struct redirector *rd;
static struct replicad *rp;
static struct wlb_action *act;
static unsigned n_iter = DEFAULT_N;
static unsigned nonce_calls;
static uint8_t payload[2048];

/* The packets: one of each kind, n of the stateful ones. */
static struct tp_pk pk_data_a, pk_reply_a, pk_data_c, pk_decap_c, pk_tagged_syn;
static uint8_t *syns, *synacks, *acks, *reply_acks, *rp_syns, *rp_synacks;
static uint16_t syn_len, synack_len, ack_len, rp_syn_len, rp_synack_len;

/* The work buffer a decision gets: the NFQUEUE receive buffer's stand-in. */
static uint8_t work[TP_PKT_CAP];
static volatile unsigned sink;

/* ------------------------------------------------------------ set-up */

static void die(const char *what)
{
	fprintf(stderr, "micro: %s\n", what);
	exit(EXIT_FAILURE);
}

static uint32_t bench_nonce(struct clientgw *g)
{
	(void)g;
	return htonl(0x5eed0000u + ++nonce_calls);
}

static size_t build(uint8_t *buf, size_t cap, const char *src, const char *dst, uint16_t sport,
		    uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack, const uint8_t *opts,
		    unsigned optlen, size_t paylen)
{
	struct tp_opts o = {.src = src,
			    .dst = dst,
			    .sport = sport,
			    .dport = dport,
			    .flags = flags,
			    .seq = seq,
			    .ack = ack,
			    .opts = opts,
			    .optlen = optlen,
			    .payload = payload,
			    .paylen = paylen,
			    .df = true};

	return tp_build(buf, cap, &o);
}

static void pk_build(struct tp_pk *k, const char *src, const char *dst, uint16_t sport,
		     uint16_t dport, uint8_t flags, const uint8_t *opts, unsigned optlen,
		     size_t paylen)
{
	k->len = build(k->b, sizeof(k->b), src, dst, sport, dport, flags, CLIENT_ISN + 1,
		       SERVER_ISN + 1, opts, optlen, paylen);
}

/* IP-in-IP, src -> dst, around len bytes of inner; returns the length. */
static size_t encap(uint8_t *out, size_t cap, uint8_t *inner, size_t len, const char *src,
		    const char *dst)
{
	struct wlb_pkt p;
	size_t n;

	if (wlb_pkt_parse(&p, inner, len, len) != WLB_PKT_OK)
		die("encap: inner packet does not parse");
	n = wlb_ipip_encap(&p, out, cap, tp_addr(src), tp_addr(dst), 64);
	if (!n)
		die("encap: no room");
	return n;
}

/* bench_syn's client i: address and port. */
static const char *syn_client(unsigned i, char *buf, size_t len)
{
	uint32_t a = ntohl(tp_addr(SYN_CLIENT0)) + i / SYN_PORTS;
	struct in_addr in = {.s_addr = htonl(a)};

	return inet_ntop(AF_INET, &in, buf, (socklen_t)len);
}

static uint16_t syn_port(unsigned i)
{
	return (uint16_t)(SYN_PORT0 + i % SYN_PORTS);
}

static void gw_decide(unsigned hook, uint8_t *data, size_t len)
{
	wlb_action_reset(act);
	clientgw_decide(gw, hook, data, (uint32_t)len, T0, act);
}

/* The tag nonce of the flow client:cport -> server:80. */
static uint32_t flow_nonce(const char *client, uint16_t cport, const char *server)
{
	struct wlb_flow_key k = {.client.v4 = tp_addr(client),
				 .server.v4 = tp_addr(server),
				 .client_port = htons(cport),
				 .server_port = htons(80)};
	struct wlb_flow *f = wlb_flow_lookup(gw->flows, &k, T0);

	if (!f)
		die("no flow recorded for a SYN");
	return f->nonce;
}

/* A replica's SYN-ACK with the echo: plain (A) or tunnelled as the origin (C). */
static size_t replica_synack(uint8_t *buf, size_t cap, const char *client, uint16_t cport,
			     const char *server, enum wlb_mode mode, uint32_t nonce)
{
	uint8_t o[TP_TAGGED_SYN_OPTLEN], inner[SLOT];
	unsigned ol =
		tp_tagged_syn_opts(o, wlb_tag_flags(true, mode, true), nonce, WLB_TAG_VERSION);
	size_t n;

	if (mode == WLB_MODE_A)
		return build(buf, cap, REPLICA1, client, 80, cport, WLB_TCP_SYN | WLB_TCP_ACK,
			     SERVER_ISN, CLIENT_ISN + 1, o, ol, 0);
	n = build(inner, sizeof(inner), server, client, 80, cport, WLB_TCP_SYN | WLB_TCP_ACK,
		  SERVER_ISN, CLIENT_ISN + 1, o, ol, 0);
	return encap(buf, cap, inner, n, REPLICA1, client);
}

/* A connection client:cport -> server:80 that REPLICA1 won. */
static void replica_connection(uint16_t cport, const char *server, enum wlb_mode mode)
{
	uint8_t b[SLOT];
	size_t n = build(b, sizeof(b), CLIENT, server, cport, 80, WLB_TCP_SYN, CLIENT_ISN, 0,
			 tp_linux_syn_opts, sizeof(tp_linux_syn_opts), 0);
	uint64_t won = gw->c[cg_synack_replica_won];

	gw_decide(NF_INET_POST_ROUTING, b, n);
	if (act->verdict != WLB_MANGLE)
		die("set-up SYN not tagged");
	n = replica_synack(b, sizeof(b), CLIENT, cport, server, mode,
			   flow_nonce(CLIENT, cport, server));
	gw_decide(NF_INET_PRE_ROUTING, b, n);
	if (gw->c[cg_synack_replica_won] != won + 1)
		die("set-up SYN-ACK did not win");
}

static uint8_t *slots(void)
{
	uint8_t *p = calloc(n_iter, SLOT);

	if (!p)
		die("out of memory");
	return p;
}

static void setup(void)
{
	char err[256] = "", text[sizeof(conf_fmt) + 32];
	uint8_t o[TP_TAGGED_SYN_OPTLEN], inner[SLOT];
	unsigned flows = 4 * n_iter + 64; /* rounded up to a power of two: load <= 1/4 */
	size_t c_payload;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	snprintf(text, sizeof(text), conf_fmt, flows, flows);
	conf = wlb_conf_load_string(text, "bench.conf",
				    WLB_NEED_CLIENTGW | WLB_NEED_REDIRECTOR | WLB_NEED_REPLICAD,
				    err, sizeof(err));
	if (!conf)
		die(err);
	gw = clientgw_new(conf, err, sizeof(err));
	rd = redirector_new(conf, err, sizeof(err));
	rp = replicad_new(conf, err, sizeof(err));
	act = wlb_action_new();
	if (!gw || !rd || !rp || !act)
		die(err[0] ? err : "out of memory");
	gw->nonce = bench_nonce;

	replica_connection(CPORT_A, ORIGIN_A, WLB_MODE_A);
	replica_connection(CPORT_C, ORIGIN_C, WLB_MODE_C);

	/* A: both ways, full-sized segments */
	pk_build(&pk_data_a, CLIENT, ORIGIN_A, CPORT_A, 80, WLB_TCP_ACK | WLB_TCP_PSH, ts_opts,
		 sizeof(ts_opts), DATA_PAYLOAD);
	pk_build(&pk_reply_a, REPLICA1, CLIENT, 80, CPORT_A, WLB_TCP_ACK | WLB_TCP_PSH, ts_opts,
		 sizeof(ts_opts), DATA_PAYLOAD);
	/* C: segments as large as the clamped MSS lets them be */
	c_payload =
		conf->clientgw.tunnel_mtu - 2 * WLB_IP_MINHDR - WLB_TCP_MINHDR - sizeof(ts_opts);
	pk_build(&pk_data_c, CLIENT, ORIGIN_C, CPORT_C, 80, WLB_TCP_ACK | WLB_TCP_PSH, ts_opts,
		 sizeof(ts_opts), c_payload);
	{
		struct tp_pk in;

		pk_build(&in, ORIGIN_C, CLIENT, 80, CPORT_C, WLB_TCP_ACK | WLB_TCP_PSH, ts_opts,
			 sizeof(ts_opts), c_payload);
		pk_decap_c.len =
			encap(pk_decap_c.b, sizeof(pk_decap_c.b), in.b, in.len, REPLICA1, CLIENT);
	}
	/* the SYN as the client gateway sends it on, for the redirector */
	tp_tagged_syn_opts(o, wlb_tag_flags(true, WLB_MODE_A, false), htonl(0x5eedf00du),
			   WLB_TAG_VERSION);
	pk_tagged_syn.len = build(pk_tagged_syn.b, sizeof(pk_tagged_syn.b), CLIENT, ORIGIN_A,
				  CPORT_A + 2, 80, WLB_TCP_SYN, CLIENT_ISN, 0, o, sizeof(o), 0);

	/* n new connections: their SYNs (SYN-ACKs come after bench_syn);
	 * the replicad's n redirected SYNs and its server's SYN-ACKs */
	syns = slots();
	synacks = slots();
	acks = slots();
	reply_acks = slots();
	rp_syns = slots();
	rp_synacks = slots();
	for (unsigned i = 0; i < n_iter; i++) {
		char cl[INET_ADDRSTRLEN];
		size_t n;

		syn_client(i, cl, sizeof(cl));
		syn_len = (uint16_t)build(syns + (size_t)i * SLOT, SLOT, cl, ORIGIN_A, syn_port(i),
					  80, WLB_TCP_SYN, CLIENT_ISN, 0, tp_linux_syn_opts,
					  sizeof(tp_linux_syn_opts), 0);
		ack_len = (uint16_t)build(acks + (size_t)i * SLOT, SLOT, cl, ORIGIN_A, syn_port(i),
					  80, WLB_TCP_ACK, CLIENT_ISN + 1, SERVER_ISN + 1, ts_opts,
					  sizeof(ts_opts), 0);
		build(reply_acks + (size_t)i * SLOT, SLOT, REPLICA1, cl, 80, syn_port(i),
		      WLB_TCP_ACK, SERVER_ISN + 1, CLIENT_ISN + 1, ts_opts, sizeof(ts_opts), 0);
		tp_tagged_syn_opts(o, wlb_tag_flags(true, WLB_MODE_A, false), htonl(i + 1),
				   WLB_TAG_VERSION);
		n = build(inner, sizeof(inner), cl, ORIGIN_A, syn_port(i), 80, WLB_TCP_SYN,
			  CLIENT_ISN, 0, o, sizeof(o), 0);
		rp_syn_len = (uint16_t)encap(rp_syns + (size_t)i * SLOT, SLOT, inner, n, REDIRECTOR,
					     REPLICA1);
		rp_synack_len = (uint16_t)build(rp_synacks + (size_t)i * SLOT, SLOT, REPLICA1, cl,
						80, syn_port(i), WLB_TCP_SYN | WLB_TCP_ACK,
						SERVER_ISN, CLIENT_ISN + 1, tp_linux_syn_opts,
						sizeof(tp_linux_syn_opts), 0);
	}
}

/* After bench_syn: each new connection's SYN-ACK, from a replica, with the echo. */
static void prepare_synacks(void)
{
	for (unsigned i = 0; i < n_iter; i++) {
		char cl[INET_ADDRSTRLEN];

		syn_client(i, cl, sizeof(cl));
		synack_len = (uint16_t)replica_synack(synacks + (size_t)i * SLOT, SLOT, cl,
						      syn_port(i), ORIGIN_A, WLB_MODE_A,
						      flow_nonce(cl, syn_port(i), ORIGIN_A));
	}
}

/* ------------------------------------------------------- measured */

/* Not static: callgrind's --toggle-collect finds them by these names. */
void bench_baseline_parse(unsigned n);
void bench_syn(unsigned n);
void bench_synack(unsigned n);
void bench_data_a(unsigned n);
void bench_data_a_reply(unsigned n);
void bench_acks_a_many(unsigned n);
void bench_reply_acks_a_many(unsigned n);
void bench_acks_a_new_epoch(unsigned n);
void bench_encap_c(unsigned n);
void bench_decap_c(unsigned n);
void bench_redirector_fanout(unsigned n);
void bench_replicad_syn(unsigned n);
void bench_replicad_synack(unsigned n);

BENCH void bench_baseline_parse(unsigned n)
{
	struct wlb_pkt p;
	unsigned e = 0;

	for (unsigned i = 0; i < n; i++) {
		memcpy(work, pk_data_a.b, pk_data_a.len);
		e += (unsigned)wlb_pkt_parse(&p, work, pk_data_a.len, pk_data_a.len);
	}
	sink = e + p.ihl;
}

/* The client gateway's measured loops: n decisions, each on a fresh copy of
 * one packet (gw_same) or of the i-th of n prepared ones (gw_slots). */
static inline void gw_same(unsigned n, unsigned hook, const struct tp_pk *k)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(work, k->b, k->len);
		wlb_action_reset(act);
		clientgw_decide(gw, hook, work, (uint32_t)k->len, T0, act);
	}
}

static inline void gw_slots(unsigned n, unsigned hook, const uint8_t *slot, uint16_t len,
			    uint64_t now)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(work, slot + (size_t)i * SLOT, len);
		wlb_action_reset(act);
		clientgw_decide(gw, hook, work, len, now, act);
	}
}

BENCH void bench_syn(unsigned n)
{
	gw_slots(n, NF_INET_POST_ROUTING, syns, syn_len, T0);
}

BENCH void bench_synack(unsigned n)
{
	gw_slots(n, NF_INET_PRE_ROUTING, synacks, synack_len, T0);
}

BENCH void bench_data_a(unsigned n)
{
	gw_same(n, NF_INET_POST_ROUTING, &pk_data_a);
}

BENCH void bench_data_a_reply(unsigned n)
{
	gw_same(n, NF_INET_PRE_ROUTING, &pk_reply_a);
}

/*
 * The n connections bench_synack settled, one segment each in turn, each
 * way: every packet finds a flow other than the last one's, and the count
 * is the mean over n flows' places in the hash chains, where the single
 * connection of bench_data_a shares a chain or not by the luck of the
 * table's random keys.
 */
BENCH void bench_acks_a_many(unsigned n)
{
	gw_slots(n, NF_INET_POST_ROUTING, acks, ack_len, T0);
}

BENCH void bench_reply_acks_a_many(unsigned n)
{
	gw_slots(n, NF_INET_PRE_ROUTING, reply_acks, ack_len, T0);
}

/* The same client ACKs one LRU epoch later (flow.h): each connection's
 * packet is its first of the epoch, so its flow moves to the head of its
 * list, as for a connection that paused 64 ms or more.  The rows before
 * stay within the epoch of T0, as a busy transfer's packets do. */
BENCH void bench_acks_a_new_epoch(unsigned n)
{
	gw_slots(n, NF_INET_POST_ROUTING, acks, ack_len, T0 + WLB_FLOW_EPOCH_MS);
}

BENCH void bench_encap_c(unsigned n)
{
	gw_same(n, NF_INET_POST_ROUTING, &pk_data_c);
}

BENCH void bench_decap_c(unsigned n)
{
	gw_same(n, NF_INET_PRE_ROUTING, &pk_decap_c);
}

BENCH void bench_redirector_fanout(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(work, pk_tagged_syn.b, pk_tagged_syn.len);
		wlb_action_reset(act);
		redirector_decide(rd, work, (uint32_t)pk_tagged_syn.len, act);
	}
}

BENCH void bench_replicad_syn(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(work, rp_syns + (size_t)i * SLOT, rp_syn_len);
		wlb_action_reset(act);
		replicad_decide(rp, NF_INET_PRE_ROUTING, work, rp_syn_len, T0, act);
	}
}

BENCH void bench_replicad_synack(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(work, rp_synacks + (size_t)i * SLOT, rp_synack_len);
		wlb_action_reset(act);
		replicad_decide(rp, NF_INET_LOCAL_OUT, work, rp_synack_len, T0, act);
	}
}

/* ------------------------------------------------------------ driver */

/* Run one benchmark; it counts only when counter c moved by per * n and the
 * last decision's verdict was v. */
static void run(const char *name, void (*fn)(unsigned n), const char *what, const uint64_t *c,
		unsigned per, enum wlb_verdict v)
{
	uint64_t before = c ? *c : 0;

	fn(n_iter);
	if (c && (*c - before != (uint64_t)per * n_iter || act->verdict != v)) {
		fprintf(stderr,
			"micro: %s did not take its path: counter +%llu of %llu, verdict %d\n",
			name, (unsigned long long)(*c - before), (unsigned long long)per * n_iter,
			act->verdict);
		exit(EXIT_FAILURE);
	}
	printf("%-24s %s\n", name, what);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		char *end;
		unsigned long n = strtoul(argv[1], &end, 10);

		if (*end || n < 1 || n > 1000000)
			die("usage: micro [N], 1 <= N <= 1000000 (default 10000)");
		n_iter = (unsigned)n;
	}
	setup();
	printf("n = %u decisions per benchmark\n", n_iter);
	run("bench_baseline_parse", bench_baseline_parse,
	    "memcpy + wlb_pkt_parse of the 1500-byte data packet", NULL, 0, WLB_ACCEPT);
	run("bench_syn", bench_syn, "clientgw: new client SYN tagged, flow recorded (A)",
	    &gw->c[cg_syn_tagged], 1, WLB_MANGLE);
	prepare_synacks();
	run("bench_synack", bench_synack, "clientgw: replica SYN-ACK with the echo wins (A)",
	    &gw->c[cg_synack_replica_won], 1, WLB_MANGLE);
	run("bench_data_a", bench_data_a, "clientgw: client data to the replica, translated (A)",
	    &gw->c[cg_to_replica], 1, WLB_MANGLE);
	run("bench_data_a_reply", bench_data_a_reply,
	    "clientgw: replica data to the client, translated (A)", &gw->c[cg_from_replica], 1,
	    WLB_MANGLE);
	run("bench_acks_a_many", bench_acks_a_many,
	    "clientgw: client ACKs of n connections in turn, translated (A)", &gw->c[cg_to_replica],
	    1, WLB_MANGLE);
	run("bench_reply_acks_a_many", bench_reply_acks_a_many,
	    "clientgw: replica ACKs of n connections in turn, translated (A)",
	    &gw->c[cg_from_replica], 1, WLB_MANGLE);
	run("bench_acks_a_new_epoch", bench_acks_a_new_epoch,
	    "clientgw: the same client ACKs in a new LRU epoch (flows moved)",
	    &gw->c[cg_to_replica], 1, WLB_MANGLE);
	run("bench_encap_c", bench_encap_c, "clientgw: client data tunnelled to the replica (C)",
	    &gw->c[cg_tunnel_encap], 1, WLB_MANGLE);
	run("bench_decap_c", bench_decap_c, "clientgw: replica tunnel packet cracked (C)",
	    &gw->c[cg_tunnel_decap], 1, WLB_MANGLE);
	run("bench_redirector_fanout", bench_redirector_fanout,
	    "redirector: tagged SYN copied to 2 replicas", &rd->c[rd_copies_sent], 2, WLB_ACCEPT);
	run("bench_replicad_syn", bench_replicad_syn,
	    "replicad: redirected SYN cracked, nonce recorded (A)", &rp->c[rp_syn_delivered], 1,
	    WLB_MANGLE);
	run("bench_replicad_synack", bench_replicad_synack,
	    "replicad: local SYN-ACK given the echo (A)", &rp->c[rp_synack_echoed], 1, WLB_MANGLE);

	free(syns);
	free(synacks);
	free(acks);
	free(reply_acks);
	free(rp_syns);
	free(rp_synacks);
	wlb_action_free(act);
	replicad_free(rp);
	redirector_free(rd);
	clientgw_free(gw);
	wlb_conf_free(conf);
	return 0;
}
