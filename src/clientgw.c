// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-clientgw policy, configuration A (address translation at the client
 * gateway).  Every function here is a pure decision over one packet and the
 * flow table; the I/O loop in wlb-clientgw.c feeds it.
 *
 * Where it runs in netfilter (see wlb.7, "Rules"): client-to-server packets
 * are queued at postrouting after source NAT, so the flow is recorded as
 * the servers see it (a masqueraded client appears as the router's public
 * address); server-to-client packets are queued at prerouting before
 * conntrack, so a replica's packet is given the origin's source before
 * conntrack looks for the connection it replies to.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <sys/random.h>

#include "clientgw.h"
#include "compiler.h"
#include "tag.h"

WLB_COUNTERS_NAMES(clientgw, CLIENTGW_COUNTERS)

/* Expiry sweep per tick: bounded work, the whole table every few seconds. */
#define EXPIRE_BUDGET 4096

static uint32_t random_nonce(struct clientgw *gw)
{
	if (!gw->pool_left) {
		if (getrandom(gw->pool, sizeof(gw->pool), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(gw->pool)) {
			/* never block the packet path: a weaker nonce beats none */
			for (unsigned i = 0; i < 256; i++)
				gw->pool[i] ^=
					(uint32_t)random() ^ (uint32_t)(uintptr_t)&gw->pool[i];
		}
		gw->pool_left = 256;
	}
	return gw->pool[--gw->pool_left];
}

struct clientgw *clientgw_new(const struct wlb_conf *c, char *err, size_t errlen)
{
	struct clientgw *gw = calloc(1, sizeof(*gw));

	if (!gw || !(gw->flows = wlb_flow_table_new(c->clientgw.flows))) {
		snprintf(err, errlen, "out of memory for %u flows", c->clientgw.flows);
		free(gw);
		return NULL;
	}
	gw->conf = c;
	gw->nonce = random_nonce;
	return gw;
}

void clientgw_free(struct clientgw *gw)
{
	if (!gw)
		return;
	wlb_flow_table_free(gw->flows);
	free(gw);
}

/* The table keeps its capacity: a new size takes effect at restart.
 * Flows recorded under the old configuration keep their decisions. */
void clientgw_reconfigure(struct clientgw *gw, const struct wlb_conf *c)
{
	gw->conf = c;
}

/* A client's packet names its flow whole. */
static inline struct wlb_flow_key key_of(const struct wlb_pkt *p)
{
	return (struct wlb_flow_key){
		{wlb_ip_saddr(p)}, {wlb_ip_daddr(p)}, wlb_tcp_sport(p), wlb_tcp_dport(p)};
}

/* What a server's packet tells of its flow before the walk over the
 * client port's flows: the server address is the one the walk ignores. */
static inline struct wlb_flow_key endpoint_of(const struct wlb_pkt *p)
{
	return (struct wlb_flow_key){{wlb_ip_daddr(p)}, {0}, wlb_tcp_dport(p), wlb_tcp_sport(p)};
}

static inline enum wlb_mode flow_mode(const struct wlb_flow *f)
{
	return (enum wlb_mode)((f->flags & CGW_MODE_MASK) >> CGW_MODE_SHIFT);
}

/* Outer IPv4 header, inner IPv4 and TCP headers: what the MSS leaves room for. */
static uint16_t tunnel_mss(const struct clientgw *gw)
{
	return (uint16_t)(gw->conf->clientgw.tunnel_mtu - 2 * WLB_IP_MINHDR - WLB_TCP_MINHDR);
}

/* Copy into the scratch buffer: a tag needs room the receive buffer lacks. */
static int to_scratch(struct wlb_pkt *p, struct wlb_action *act)
{
	memcpy(act->scratch, p->data, p->len);
	return wlb_pkt_parse(p, act->scratch, p->len, WLB_SCRATCH_SIZE);
}

/* ------------------------------------------------------------ FIG. 2: SYN */

static bool wants_tag(const struct clientgw *gw, const struct wlb_pkt *p)
{
	return wlb_conf_is_web_port(gw->conf, wlb_tcp_dport(p)) &&
	       wlb_conf_dst_included(gw->conf, wlb_ip_daddr(p));
}

/*
 * The option byte's two states (claim 1): redirection is permitted unless
 * the origin is listed as not replicable, so the origin side needs no
 * per-client knowledge; the configuration bits tell the replica how to answer.
 */
static uint8_t tag_flags(const struct clientgw *gw, const struct wlb_flow *f)
{
	const struct wlb_service *s =
		wlb_conf_find_service(gw->conf, f->key.server.v4, f->key.server_port);

	return wlb_tag_flags(s ? s->replicable : true, flow_mode(f), false);
}

/* Chosen per origin (or the default), fixed for the flow's lifetime: a
 * reload changes new connections only. */
static enum wlb_mode mode_for(const struct clientgw *gw, const struct wlb_flow_key *k)
{
	const struct wlb_service *s = wlb_conf_find_service(gw->conf, k->server.v4, k->server_port);

	return s ? s->mode : gw->conf->clientgw.mode;
}

static bool tag_syn(struct clientgw *gw, struct wlb_pkt *p, const struct wlb_flow *f,
		    struct wlb_action *act)
{
	if (to_scratch(p, act) != WLB_PKT_OK ||
	    wlb_tag_add(p, tag_flags(gw, f), f->nonce) != WLB_PKT_OK)
		return false;
	/* a tunnelled connection's segments must fit the tunnel: the replica
	 * sends no more than the client's SYN allows */
	if (flow_mode(f) == WLB_MODE_C && wlb_tcp_clamp_mss(p, tunnel_mss(gw)))
		gw->c[mss_clamped]++;
	wlb_action_mangle(act, p->data, p->len);
	return true;
}

/* A SYN of a connection that already has a winner: the client missed the
 * SYN-ACK.  No new race: it goes where the connection is. */
static wlb_always_inline void to_winner(struct clientgw *gw, struct wlb_flow *f, enum wlb_mode mode,
					struct wlb_pkt *p, struct wlb_action *act);

static void decided_syn(struct clientgw *gw, struct wlb_pkt *p, struct wlb_flow *f,
			struct wlb_action *act)
{
	gw->c[syn_retransmit]++;
	if (f->state == CGW_REPLICA)
		to_winner(gw, f, flow_mode(f), p, act);
}

static void fp_remove(struct clientgw *gw, struct wlb_flow *f);

static void client_syn(struct clientgw *gw, struct wlb_pkt *p, uint64_t now, struct wlb_action *act)
{
	const struct wlb_clientgw_conf *cc = &gw->conf->clientgw;
	struct wlb_flow_key k = key_of(p);
	struct wlb_flow *f;
	struct wlb_tag t;
	bool fresh = false;

	if (!wants_tag(gw, p)) {
		gw->c[syn_not_web]++;
		return;
	}
	if (wlb_tag_find(p, &t) != 0) {
		/* tagged (or claimed) by a gateway nearer the client: its job */
		gw->c[syn_pretagged]++;
		return;
	}
	f = wlb_flow_lookup(gw->flows, &k, now);
	if (f && f->state != CGW_PENDING && !(f->flags & CGW_CLOSING)) {
		if (!(f->flags & CGW_ANSWERED)) {
			decided_syn(gw, p, f, act);
			return;
		}
		/* a client that answered a handshake sends no SYN in that
		 * connection again: this one opens another on its ports, and
		 * the end of the old one went unseen (evicted, a FIN lost, a
		 * restart) */
		gw->c[syn_port_reused]++;
		fp_remove(gw, f);
	}
	if (f && f->state == CGW_PENDING) {
		/* the same nonce, so a replica's answer to either copy counts */
		gw->c[syn_retransmit]++;
		wlb_flow_touch(gw->flows, f, now, cc->half_open_ms);
	} else {
		/* new, or the port reused after a closed connection */
		if (f)
			wlb_flow_remove(gw->flows, f);
		f = wlb_flow_insert(gw->flows, &k, WLB_FLOW_PENDING, now, cc->half_open_ms);
		f->nonce = gw->nonce(gw);
		f->state = CGW_PENDING;
		f->flags = (uint8_t)(mode_for(gw, &k) << CGW_MODE_SHIFT);
		fresh = true;
	}
	if (!tag_syn(gw, p, f, act)) {
		/* no option room: the SYN goes on untagged, the origin serves */
		gw->c[syn_noroom]++;
		wlb_flow_remove(gw->flows, f);
		return;
	}
	if (fresh)
		gw->c[syn_tagged]++;
}

/* ------------------------------------------------ FIG. 5A-C: SYN-ACK */

/*
 * A server's packet as the gateway receives it: plain, or tunnelled by a
 * replica in configuration B or C, in which case p is the packet inside and
 * via the replica that sent the tunnel packet.
 */
struct from_server {
	struct wlb_pkt p;
	uint32_t via; /* outer source, 0 when not tunnelled */
};

/* Who sent it, as the flow records a winner: the replica for a tunnel. */
static uint32_t sender(const struct from_server *s)
{
	return s->via ? s->via : wlb_ip_saddr(&s->p);
}

static bool from_winner(const struct wlb_flow *f, const struct from_server *s)
{
	if (f->state == CGW_REPLICA)
		return f->peer.v4 == sender(s);
	return !s->via && f->key.server.v4 == wlb_ip_saddr(&s->p);
}

/*
 * Whether this SYN-ACK answers the SYN recorded in f: from the origin, or
 * carrying the echo of the nonce only the SYN's recipients saw, sent the way
 * the flow's configuration tells a replica to answer (plain in A, from
 * inside a tunnel with the origin's source in B and C).
 */
static bool answers(const struct wlb_flow *f, const struct from_server *s, const struct wlb_tag *t,
		    int tagged)
{
	bool echo = tagged == 1 && (t->flags & WLB_TAG_ECHO) && t->nonce == f->nonce;

	if (!s->via)
		return wlb_ip_saddr(&s->p) == f->key.server.v4 ||
		       (echo && flow_mode(f) == WLB_MODE_A);
	return echo && flow_mode(f) != WLB_MODE_A && wlb_ip_saddr(&s->p) == f->key.server.v4;
}

/* The loser must free its half-open connection now.  A replica that answered
 * from inside a tunnel knows the connection as the origin's: the RST goes
 * to it the same way, tunnelled. */
static void reset_loser(struct clientgw *gw, const struct from_server *s, struct wlb_action *act)
{
	struct wlb_emit *e = wlb_action_emit(act);
	uint8_t rst[WLB_IP_MINHDR + WLB_TCP_MINHDR +
		    WLB_TCP_MAXOPT]; /* room the parser may look at */
	struct wlb_pkt r;
	size_t n;

	if (!e) {
		gw->c[rst_unsent]++;
		return;
	}
	if (!s->via) {
		e->len = (uint32_t)wlb_rst_craft(&s->p, e->data, sizeof(e->data));
	} else {
		n = wlb_rst_craft(&s->p, rst, sizeof(rst));
		e->len = 0;
		if (n && wlb_pkt_parse(&r, rst, n, n) == WLB_PKT_OK)
			e->len = (uint32_t)wlb_ipip_encap(&r, e->data, sizeof(e->data),
							  wlb_ip_saddr(&r), s->via, 64);
	}
	if (!e->len)
		act->n_emit--;
}

/* ------------------------------------------------ the kernel fast path */

/* A client's packet as it reaches postrouting. */
static struct wlb_fp_key fp_client_key(const struct wlb_flow *f)
{
	return wlb_fp_key_of(&f->key, true);
}

/* The winner's packet as it reaches prerouting: from the replica in A,
 * from the origin's address otherwise. */
static struct wlb_fp_key fp_server_key(const struct wlb_flow *f)
{
	uint32_t from = f->state == CGW_REPLICA && flow_mode(f) == WLB_MODE_A ? f->peer.v4
									      : f->key.server.v4;

	return (struct wlb_fp_key){from, f->key.server_port, f->key.client.v4, f->key.client_port};
}

static bool is_tunnelled(const struct wlb_flow *f)
{
	return f->state == CGW_REPLICA && flow_mode(f) == WLB_MODE_C;
}

/* What the client's packets get in fp_dst: the winner's address in A and
 * B; in C the origin's, kept, so that they pass the queue and meet the
 * kernel's tunnel. */
static uint32_t fp_dst_value(const struct wlb_flow *f)
{
	return is_tunnelled(f) ? f->key.server.v4 : f->peer.v4;
}

/* C: the kernel's tunnel (tunfp.h) carries both ways, the client's
 * packets into the tunnel to the winner and the winner's out of it, marked
 * so that the rules pass them where they queue a plain packet with the
 * origin's source as forged.  All or nothing. */
static bool tun_install(struct clientgw *gw, struct wlb_flow *f)
{
	struct wlb_fp_key ck = fp_client_key(f), sk = fp_server_key(f);

	if (wlb_tun_add(gw->tun, WLB_TUN_MAP_ENCAP, &ck, f->key.client.v4, f->peer.v4, 0))
		return false;
	if (wlb_tun_add(gw->tun, WLB_TUN_MAP_DECAP, &sk, f->peer.v4, f->key.client.v4,
			gw->conf->clientgw.rst_mark)) {
		wlb_tun_del(gw->tun, WLB_TUN_MAP_ENCAP, &ck);
		return false;
	}
	wlb_fp_add(gw->fp, WLB_FP_DST, &ck, fp_dst_value(f));
	return true;
}

/*
 * A decided connection is handed to the kernel once it has shown it
 * carries more than a short exchange (WLB_FP_AFTER_PACKETS), never once it
 * has begun to close: A, B and any the origin serves to nftables' maps (new
 * addresses, or for the origin's and B's only a way past the queue), C to
 * the kernel's tunnel when there is one.  The server side is installed in
 * B as well: when A is the default, the rules queue every web reply.
 */
static void fp_install(struct clientgw *gw, struct wlb_flow *f)
{
	bool tunnel = is_tunnelled(f);
	struct wlb_fp_key ck, sk;

	if (tunnel && !gw->tun)
		return;
	if (f->hits < WLB_FP_AFTER_PACKETS) {
		f->hits++;
		return;
	}
	if (tunnel) {
		if (!tun_install(gw, f)) {
			/* the maps are full: try again some packets later */
			f->hits = 0;
			return;
		}
	} else {
		ck = fp_client_key(f);
		sk = fp_server_key(f);
		wlb_fp_add(gw->fp, WLB_FP_DST, &ck, f->peer.v4);
		wlb_fp_add(gw->fp, WLB_FP_SRC, &sk, f->key.server.v4);
	}
	f->flags |= CGW_FASTPATH;
	gw->c[fastpath_installed]++;
}

/* Called for each packet of a decided connection: inline, as most of them
 * (every one without a fast path, or after the hand-over) stop here. */
static wlb_always_inline void fp_consider(struct clientgw *gw, struct wlb_flow *f)
{
	if (gw->fp && !(f->flags & (CGW_FASTPATH | CGW_CLOSING | CGW_FIN_CLIENT | CGW_FIN_SERVER)))
		fp_install(gw, f);
}

/* The connection closes: its last packets (and a port reuse) are ours. */
static void fp_remove(struct clientgw *gw, struct wlb_flow *f)
{
	struct wlb_fp_key ck = fp_client_key(f), sk = fp_server_key(f);

	if (!(f->flags & CGW_FASTPATH))
		return;
	wlb_fp_del(gw->fp, WLB_FP_DST, &ck);
	if (is_tunnelled(f)) {
		/* the client's packets pass the queue until the element goes */
		wlb_tun_del_later(gw->tun, WLB_TUN_MAP_ENCAP, &ck);
		wlb_tun_del(gw->tun, WLB_TUN_MAP_DECAP, &sk);
	} else {
		wlb_fp_del(gw->fp, WLB_FP_SRC, &sk);
	}
	f->flags &= (uint8_t)~CGW_FASTPATH;
	gw->c[fastpath_removed]++;
}

/* A connection the kernel carries but the table lacks (we restarted, or
 * evicted it), recorded again: decided, handed over, its handshake long
 * answered; the nonce is gone, and only a pending connection needs one. */
static struct wlb_flow *restore(struct clientgw *gw, const struct wlb_flow_key *k, uint32_t winner,
				enum wlb_mode mode, uint32_t expires_ms, uint64_t now)
{
	struct wlb_flow *f = wlb_flow_insert(gw->flows, k, WLB_FLOW_SETTLED, now, expires_ms);

	f->state = winner == k->server.v4 ? CGW_DIRECT : CGW_REPLICA;
	f->peer.v4 = winner;
	f->flags = (uint8_t)(mode << CGW_MODE_SHIFT | CGW_FASTPATH | CGW_ANSWERED);
	gw->c[fastpath_restored]++;
	return f;
}

/* As nftables' elements describe it: B until its server-side element says
 * A. */
static void fp_restore(struct clientgw *gw, const struct wlb_flow_key *k, uint32_t winner,
		       uint32_t expires_ms, uint64_t now)
{
	restore(gw, k, winner, winner == k->server.v4 ? mode_for(gw, k) : WLB_MODE_B, expires_ms,
		now);
}

void clientgw_fp_seen(struct clientgw *gw, enum wlb_fp_map m, const struct wlb_fp_key *e,
		      uint32_t value, uint32_t expires_ms, uint64_t now_ms)
{
	struct wlb_flow_key k = {0};
	struct wlb_flow *f;

	/* live for as long as the kernel's element, and until the next
	 * read-back has seen whether traffic kept it */
	expires_ms = wlb_fp_keep_ms(expires_ms, gw->conf->clientgw.idle_ms);
	if (m == WLB_FP_DST) {
		k = wlb_flow_key_of(e, true);
		f = wlb_flow_lookup(gw->flows, &k, now_ms);
		if (!f)
			fp_restore(gw, &k, value, expires_ms, now_ms);
		else if ((f->flags & CGW_FASTPATH) && fp_dst_value(f) == value)
			wlb_flow_touch(gw->flows, f, now_ms, expires_ms);
		else
			/* left from an earlier connection on these ports (its
			 * end unseen, or its deletion lost): it would send this
			 * one's packets to that one's winner */
			wlb_fp_del(gw->fp, WLB_FP_DST, e);
		return;
	}
	if (e->saddr == value)
		return;
	/* a replica's source rewritten to the origin's: configuration A */
	k.client.v4 = e->daddr;
	k.client_port = e->dport;
	k.server.v4 = value;
	k.server_port = e->sport;
	f = wlb_flow_lookup(gw->flows, &k, now_ms);
	if (f && f->state == CGW_REPLICA && f->peer.v4 == e->saddr)
		f->flags = (uint8_t)((f->flags & ~CGW_MODE_MASK) | WLB_MODE_A << CGW_MODE_SHIFT);
}

/*
 * An entry of the kernel's tunnel, read back: the connection lives as long
 * as the kernel carries it, and is recorded again when the table lacks it
 * (a restart took the program's maps over, or the table evicted it).  One
 * the table holds without a kernel tunnel (a new connection on its ports)
 * or that has been idle for the idle timeout is removed: the maps have no
 * timeouts of their own.  Both entries of a connection say the same;
 * the encapsulation's (the client's packets) is the one read.
 */
bool clientgw_tun_seen(struct clientgw *gw, enum wlb_tun_map m, const struct wlb_fp_key *e,
		       uint32_t outer_saddr, uint32_t outer_daddr, uint64_t idle_ms,
		       uint64_t now_ms)
{
	uint32_t idle = gw->conf->clientgw.idle_ms;
	struct wlb_flow_key k = wlb_flow_key_of(e, m == WLB_TUN_MAP_ENCAP);
	struct wlb_flow *f = wlb_flow_lookup(gw->flows, &k, now_ms);

	if (!f && idle_ms < idle)
		/* the winner: where the client's packets go, whence its own */
		f = restore(gw, &k, m == WLB_TUN_MAP_ENCAP ? outer_daddr : outer_saddr, WLB_MODE_C,
			    idle, now_ms);
	if (!f || !(f->flags & CGW_FASTPATH) || !is_tunnelled(f))
		return true;
	if (idle_ms >= idle) {
		clientgw_forget(gw, f);
		return false; /* gone with it */
	}
	if (m == WLB_TUN_MAP_ENCAP && !(f->flags & CGW_CLOSING))
		wlb_flow_touch(gw->flows, f, now_ms,
			       wlb_fp_keep_ms((uint32_t)(idle - idle_ms), idle));
	return false;
}

static void settle(struct clientgw *gw, struct wlb_flow *f, enum clientgw_state st, uint32_t peer,
		   uint64_t now)
{
	f->state = st;
	f->peer.v4 = peer;
	wlb_flow_set_class(gw->flows, f, WLB_FLOW_SETTLED);
	wlb_flow_touch(gw->flows, f, now, gw->conf->clientgw.idle_ms);
}

/* The SYN-ACK the client gets: from the origin's address, without our echo,
 * out of its tunnel, its MSS clamped when the connection will be tunnelled. */
static void deliver_synack(struct clientgw *gw, const struct wlb_flow *f, struct from_server *s,
			   const struct wlb_tag *t, int tagged, struct wlb_action *act)
{
	struct wlb_pkt *p = &s->p;

	if (tagged == 1)
		wlb_tag_strip(p, t);
	if (wlb_ip_saddr(p) != f->key.server.v4)
		wlb_pkt_set_saddr(p, f->key.server.v4);
	if (flow_mode(f) == WLB_MODE_C && f->state == CGW_REPLICA &&
	    wlb_tcp_clamp_mss(p, tunnel_mss(gw)))
		gw->c[mss_clamped]++;
	if (tagged == 1 || s->via || f->state == CGW_REPLICA)
		wlb_action_mangle(act, p->data, p->len);
}

static void synack_for(struct clientgw *gw, struct wlb_flow *f, struct from_server *s,
		       const struct wlb_tag *t, int tagged, uint64_t now, struct wlb_action *act)
{
	if (f->state == CGW_PENDING) {
		if (!s->via && wlb_ip_saddr(&s->p) == f->key.server.v4) {
			gw->c[synack_origin_won]++;
			settle(gw, f, CGW_DIRECT, f->key.server.v4, now);
		} else {
			gw->c[synack_replica_won]++;
			settle(gw, f, CGW_REPLICA, sender(s), now);
		}
	} else if (!from_winner(f, s)) {
		/* a loser: the client must see one SYN-ACK source only */
		gw->c[synack_late_reset]++;
		act->verdict = WLB_DROP;
		reset_loser(gw, s, act);
		return;
	} else {
		gw->c[synack_retransmit]++;
	}
	deliver_synack(gw, f, s, t, tagged, act);
}

static void server_synack(struct clientgw *gw, struct from_server *s, uint64_t now,
			  struct wlb_action *act)
{
	struct wlb_flow_key k = endpoint_of(&s->p);
	struct wlb_flow *f = NULL;
	struct wlb_tag t;
	int tagged = wlb_tag_find(&s->p, &t);
	bool ours = false;

	/* every connection from this client port to this service port */
	while ((f = wlb_flow_lookup_endpoint(gw->flows, &k, f, now))) {
		ours = true;
		if (answers(f, s, &t, tagged)) {
			synack_for(gw, f, s, &t, tagged, now, act);
			return;
		}
	}
	if (ours) {
		/* right ports, but neither the origin nor a valid echo */
		gw->c[synack_spoofed]++;
		act->verdict = WLB_DROP;
	} else {
		gw->c[unknown_passed]++;
	}
}

/* ----------------------------------------- FIG. 6A-C: the connection */

/*
 * A RST towards the client may be anybody's: the gateway keeps no sequence
 * numbers, and a blind attacker who guesses the ports can send one with
 * the server's address.  The client's TCP checks it against its window
 * (RFC 5961) and ignores a forged one; the gateway cannot, so it holds such
 * a connection as long as a live one and lets the ends decide
 * (wlb_flow_rst_refuted(); in B the server's packets never come here, and
 * the client's refute it).  The client's RSTs come from the client's own
 * side and are taken at their word, as is any RST before the client
 * answered its handshake.
 */
static void rst_judged(struct clientgw *gw, struct wlb_flow *f, const struct wlb_pkt *p,
		       bool from_client, uint64_t now)
{
	if (!(f->flags & CGW_RST_SERVER) ||
	    !wlb_flow_rst_refuted(f, p->flags & WLB_TCP_RST, !from_client, now,
				  gw->conf->clientgw.linger_ms))
		return;
	f->flags &= (uint8_t) ~(CGW_RST_SERVER | CGW_CLOSING);
	gw->c[rst_refuted]++;
}

static void track_close(struct clientgw *gw, struct wlb_flow *f, const struct wlb_pkt *p,
			bool from_client, uint64_t now)
{
	const struct wlb_clientgw_conf *cc = &gw->conf->clientgw;
	bool rst = p->flags & WLB_TCP_RST, was_closing;

	rst_judged(gw, f, p, from_client, now);
	was_closing = f->flags & CGW_CLOSING;
	if (p->flags & WLB_TCP_FIN)
		f->flags |= from_client ? CGW_FIN_CLIENT : CGW_FIN_SERVER;
	if (rst ||
	    (f->flags & (CGW_FIN_CLIENT | CGW_FIN_SERVER)) == (CGW_FIN_CLIENT | CGW_FIN_SERVER)) {
		if (!was_closing)
			gw->c[closed]++;
		fp_remove(gw, f);
		f->flags |= CGW_CLOSING;
		if (rst && !from_client && (f->flags & CGW_ANSWERED) &&
		    (!was_closing || (f->flags & CGW_RST_SERVER))) {
			f->flags |= CGW_RST_SERVER;
			f->since_ms = (uint32_t)now;
			wlb_flow_touch(gw->flows, f, now, cc->idle_ms);
			return;
		}
		/* linger: the last ACK and retransmitted FINs still need us */
		f->flags &= (uint8_t)~CGW_RST_SERVER;
		wlb_flow_touch(gw->flows, f, now, cc->linger_ms);
		return;
	}
	if (!(f->flags & CGW_CLOSING))
		wlb_flow_touch(gw->flows, f, now, cc->idle_ms);
}

/* A packet of a decided connection, either way: its deadline moves, a FIN
 * or RST begins the close, and the fast path may take it over.  The
 * common packet (no FIN or RST, not closing) only moves the deadline. */
static wlb_always_inline void flow_seen(struct clientgw *gw, struct wlb_flow *f,
					const struct wlb_pkt *p, bool from_client, uint64_t now)
{
	if ((p->flags & (WLB_TCP_FIN | WLB_TCP_RST)) || (f->flags & CGW_CLOSING))
		track_close(gw, f, p, from_client, now);
	else
		wlb_flow_touch(gw->flows, f, now, gw->conf->clientgw.idle_ms);
	fp_consider(gw, f);
}

/* C: the client's packet goes to the replica inside a tunnel. */
static void to_tunnel(struct clientgw *gw, struct wlb_flow *f, struct wlb_pkt *p,
		      struct wlb_action *act)
{
	size_t n = wlb_ipip_encap(p, act->scratch, WLB_NFQ_MAX_PAYLOAD, wlb_ip_saddr(p), f->peer.v4,
				  64);

	if (!n) {
		gw->c[tunnel_too_big]++;
		act->verdict = WLB_DROP;
		return;
	}
	gw->c[tunnel_encap]++;
	wlb_action_mangle(act, act->scratch, n);
}

/* A client packet of a replica-served connection goes to the replica:
 * readdressed in A and B, tunnelled in C. */
static wlb_always_inline void to_winner(struct clientgw *gw, struct wlb_flow *f, enum wlb_mode mode,
					struct wlb_pkt *p, struct wlb_action *act)
{
	if (mode == WLB_MODE_C) {
		to_tunnel(gw, f, p, act);
		return;
	}
	gw->c[to_replica]++;
	wlb_pkt_set_daddr(p, f->peer.v4);
	wlb_action_mangle(act, p->data, p->len);
}

static void client_packet(struct clientgw *gw, struct wlb_pkt *p, uint64_t now,
			  struct wlb_action *act)
{
	struct wlb_flow_key k = key_of(p);
	struct wlb_flow *f = wlb_flow_lookup(gw->flows, &k, now);
	enum wlb_mode mode;
	uint8_t st;

	if (!f || f->state == CGW_PENDING) {
		gw->c[unknown_passed]++;
		return;
	}
	/* the winner and its way, read before flow_seen(), which changes
	 * neither: after its stores the compiler would read them again */
	st = f->state;
	mode = flow_mode(f);
	f->flags |= CGW_ANSWERED;
	flow_seen(gw, f, p, true, now);
	if (st == CGW_DIRECT) {
		gw->c[direct_passed]++;
		return;
	}
	to_winner(gw, f, mode, p, act);
}

/* The winner's packet, if s is one, taken the winner's way: from the
 * replica in A given the origin's source; from the origin (it won, or a
 * replica spoofs it in B) left alone; in C taken out of the tunnel the
 * replica sent it in.  Returns whether s was the winner's. */
static wlb_always_inline bool winner_packet(struct clientgw *gw, struct wlb_flow *f,
					    struct from_server *s, uint64_t now,
					    struct wlb_action *act)
{
	uint32_t src = wlb_ip_saddr(&s->p);
	enum wlb_mode mode = flow_mode(f);

	if (f->state == CGW_REPLICA && mode == WLB_MODE_A) {
		if (s->via || src != f->peer.v4)
			return false;
		flow_seen(gw, f, &s->p, false, now);
		gw->c[from_replica]++;
		wlb_pkt_set_saddr(&s->p, f->key.server.v4);
		wlb_action_mangle(act, s->p.data, s->p.len);
	} else if (f->state == CGW_DIRECT || mode == WLB_MODE_B) {
		if (s->via || src != f->key.server.v4)
			return false;
		flow_seen(gw, f, &s->p, false, now);
		if (f->state == CGW_REPLICA)
			gw->c[from_replica_untouched]++;
		else
			gw->c[direct_passed]++;
	} else {
		if (s->via != f->peer.v4 || src != f->key.server.v4)
			return false;
		flow_seen(gw, f, &s->p, false, now);
		gw->c[tunnel_decap]++;
		wlb_action_mangle(act, s->p.data, s->p.len);
	}
	return true;
}

/* In C everything of a replica-served connection arrives tunnelled: a plain
 * packet with the origin's source for it is somebody else's. */
static bool forged_origin(const struct wlb_flow *f, const struct from_server *s)
{
	return !s->via && f->state == CGW_REPLICA && flow_mode(f) == WLB_MODE_C &&
	       f->key.server.v4 == wlb_ip_saddr(&s->p);
}

/* One walk over the client port's flows decides: the winner's packet, a
 * refused one (a tunnel packet no winner sent, a forged origin packet in
 * C), or somebody else's (another tunnel through this router, unknown). */
static wlb_always_inline void server_packet(struct clientgw *gw, struct from_server *s,
					    uint64_t now, struct wlb_action *act)
{
	struct wlb_flow_key k = endpoint_of(&s->p);
	struct wlb_flow *f = NULL;
	bool refuse = false;

	while ((f = wlb_flow_lookup_endpoint(gw->flows, &k, f, now))) {
		if (f->state != CGW_PENDING && winner_packet(gw, f, s, now, act))
			return;
		refuse |= s->via || forged_origin(f, s);
	}
	if (refuse) {
		gw->c[tunnel_rejected]++;
		act->verdict = WLB_DROP;
		return;
	}
	gw->c[unknown_passed]++;
}

/* A tunnel packet: ours when it carries TCP for a recorded connection; the
 * walks in server_synack() and server_packet() pass it on otherwise. */
static void server_tunnel(struct clientgw *gw, struct wlb_pkt *outer, uint64_t now,
			  struct wlb_action *act)
{
	struct from_server s = {.via = wlb_ip_saddr(outer)};

	/* the kernel resumes after our verdict with the outer header's
	 * length: only an inner header of the same length can replace it */
	if (wlb_ipip_decap(outer, &s.p) != WLB_PKT_OK || s.p.ihl != outer->ihl) {
		gw->c[unknown_passed]++;
		return;
	}
	if (wlb_tcp_is_synack(&s.p))
		server_synack(gw, &s, now, act);
	else
		server_packet(gw, &s, now, act);
}

/* ---------------------------------------------------------------- entry */

/* A tunnel packet from a server, or something not ours to judge: a router
 * passes what it cannot read. */
static void not_plain_tcp(struct clientgw *gw, struct wlb_pkt *p, int err, bool from_client,
			  uint64_t now, struct wlb_action *act)
{
	if (!from_client && err == WLB_PKT_NOT_TCP && p->proto == WLB_IPPROTO_IPIP)
		server_tunnel(gw, p, now, act);
	else if (err != WLB_PKT_NOT_TCP && err != WLB_PKT_FRAGMENT)
		gw->c[malformed_passed]++;
	else
		gw->c[unknown_passed]++;
}

void clientgw_decide(struct clientgw *gw, unsigned hook, uint8_t *data, uint32_t len,
		     uint64_t now_ms, struct wlb_action *act)
{
	/* parsed in place as a plain server packet would be: no copy later */
	struct from_server s;
	int err = wlb_pkt_parse(&s.p, data, len, len);
	bool from_client = hook == NF_INET_POST_ROUTING;

	s.via = 0;

	act->verdict = WLB_ACCEPT;
	if (err) {
		not_plain_tcp(gw, &s.p, err, from_client, now_ms, act);
		return;
	}
	if (from_client && wlb_tcp_is_syn(&s.p))
		client_syn(gw, &s.p, now_ms, act);
	else if (from_client)
		client_packet(gw, &s.p, now_ms, act);
	else if (wlb_tcp_is_synack(&s.p))
		server_synack(gw, &s, now_ms, act);
	else
		server_packet(gw, &s, now_ms, act);
}

void clientgw_forget(struct clientgw *gw, struct wlb_flow *f)
{
	fp_remove(gw, f);
	wlb_flow_remove(gw->flows, f);
}

void clientgw_tick(struct clientgw *gw, uint64_t now_ms)
{
	wlb_flow_expire(gw->flows, now_ms, EXPIRE_BUDGET);
}

/* ------------------------------------------------------------------ dump */

static const char *const state_names[] = {"pending", "direct", "replica"};

static void dump_flow(const struct wlb_flow *f, void *arg)
{
	FILE *out = arg;
	char c[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN], r[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &f->key.client.v4, c, sizeof(c));
	inet_ntop(AF_INET, &f->key.server.v4, s, sizeof(s));
	inet_ntop(AF_INET, &f->peer.v4, r, sizeof(r));
	fprintf(out, "flow %s:%u %s:%u %s config=%s served_by=%s nonce=%08x%s%s%s\n", c,
		ntohs(f->key.client_port), s, ntohs(f->key.server_port), state_names[f->state % 3],
		wlb_mode_name(flow_mode(f)), f->state == CGW_PENDING ? "-" : r, ntohl(f->nonce),
		(f->flags & CGW_FASTPATH) ? " fastpath" : "",
		(f->flags & CGW_CLOSING) ? " closing" : "",
		(f->flags & CGW_RST_SERVER) ? " server-rst" : "");
}

void clientgw_dump(struct clientgw *gw, FILE *f, uint64_t now_ms)
{
	struct wlb_flow_stats st;

	wlb_counters_print(f, clientgw_counter_names, gw->c, clientgw_NCOUNTERS);
	wlb_flow_stats(gw->flows, &st);
	wlb_counter_print(f, "flows", st.count);
	wlb_counter_print(f, "flows_capacity", st.capacity);
	wlb_counter_print(f, "flows_evicted", st.evicted);
	wlb_counter_print(f, "flows_expired", st.expired);
	wlb_flow_foreach(gw->flows, now_ms, dump_flow, f);
}
