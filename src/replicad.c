// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-replicad policy.  The configuration comes with each SYN, in its tag:
 *   A  the replica answers from its own service address; the client
 *      gateway translates both ways (FIG. 4A);
 *   B  it answers as the origin (whose address it owns), its SYN-ACK
 *      tunnelled so the gateway learns who won; the client's packets come
 *      readdressed to the service address and are given the origin's
 *      address back here (FIG. 4B);
 *   C  as B, but everything to the client leaves tunnelled and the client's
 *      packets arrive tunnelled (FIG. 4C).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>

#include "replicad.h"
#include "tag.h"

WLB_COUNTERS_NAMES(replicad, REPLICAD_COUNTERS)

#define EXPIRE_BUDGET 1024

struct replicad *replicad_new(const struct wlb_conf *c, char *err, size_t errlen)
{
	struct replicad *r = calloc(1, sizeof(*r));

	if (!r || !(r->flows = wlb_flow_table_new(c->replicad.flows))) {
		snprintf(err, errlen, "out of memory for %u flows", c->replicad.flows);
		free(r);
		return NULL;
	}
	r->conf = c;
	r->state = c->replicad.state;
	return r;
}

void replicad_free(struct replicad *r)
{
	if (!r)
		return;
	wlb_flow_table_free(r->flows);
	free(r);
}

void replicad_reconfigure(struct replicad *r, const struct wlb_conf *c)
{
	r->conf = c;
	r->state = c->replicad.state;
	replicad_set_load(r, r->established, r->load1);
}

bool replicad_set_load(struct replicad *r, uint32_t established, double load1)
{
	const struct wlb_replicad_conf *rc = &r->conf->replicad;

	r->established = established;
	r->load1 = load1;
	r->busy = (rc->max_established && established > rc->max_established) ||
		  (rc->max_load1 > 0 && load1 > rc->max_load1);
	return r->busy;
}

/* ------------------------------------------- FIG. 4A: the redirected SYN */

/* Returns the counter that names the outcome: syn_delivered or a drop. */
static int check_inner(struct replicad *r, const struct wlb_pkt *outer, struct wlb_pkt *in,
		       struct wlb_tag *t)
{
	if (!wlb_conf_is_redirector(r->conf, wlb_ip_saddr(outer)))
		return drop_not_redirector;
	/* the kernel resumes after our verdict with the outer header's
	 * length: an inner header with options would be misread */
	if (wlb_ipip_decap(outer, in) != WLB_PKT_OK || in->ihl != outer->ihl ||
	    !wlb_tcp_is_syn(in) || wlb_tag_find(in, t) != 1 || !(t->flags & WLB_TAG_REDIRECT) ||
	    (t->flags & WLB_TAG_ECHO))
		return drop_malformed;
	if (r->state != WLB_REPLICA_ACTIVE)
		return drop_inactive;
	if (r->busy)
		return drop_busy;
	if (!wlb_replicad_serves(&r->conf->replicad, wlb_tag_mode(t)))
		return drop_mode;
	return syn_delivered;
}

static struct wlb_flow_key key_from_client(const struct wlb_pkt *p)
{
	return (struct wlb_flow_key){
		.client.v4 = wlb_ip_saddr(p),
		.server.v4 = wlb_ip_daddr(p),
		.client_port = wlb_tcp_sport(p),
		.server_port = wlb_tcp_dport(p),
	};
}

static struct wlb_flow_key key_to_client(const struct wlb_pkt *p)
{
	return (struct wlb_flow_key){
		.client.v4 = wlb_ip_daddr(p),
		.server.v4 = wlb_ip_saddr(p),
		.client_port = wlb_tcp_dport(p),
		.server_port = wlb_tcp_sport(p),
	};
}

/* Outer IPv4 header, inner IPv4 and TCP headers: what the MSS leaves room for. */
static uint16_t tunnel_mss(const struct replicad *r)
{
	return (uint16_t)(r->conf->replicad.tunnel_mtu - 2 * WLB_IP_MINHDR - WLB_TCP_MINHDR);
}

static void fp_remove(struct replicad *r, struct wlb_flow *f);

static void redirected_syn(struct replicad *r, struct wlb_pkt *outer, uint64_t now,
			   struct wlb_action *act)
{
	struct wlb_flow_key k;
	struct wlb_pkt in;
	struct wlb_tag t;
	struct wlb_flow *f;
	int verdict = check_inner(r, outer, &in, &t);

	r->c[verdict]++;
	if (verdict != syn_delivered) {
		/* inactive: "nothing happens"; busy: dropped; both silent */
		act->verdict = WLB_DROP;
		return;
	}
	/* A: the SYN is for our own service address; B and C: for the
	 * origin's, which this replica owns (wlb-rules binds it) */
	if (wlb_tag_mode(&t) == WLB_MODE_A)
		wlb_pkt_set_daddr(&in, r->conf->replicad.service_address);
	else if (wlb_tag_mode(&t) == WLB_MODE_C && wlb_tcp_clamp_mss(&in, tunnel_mss(r)))
		r->c[mss_clamped]++;
	k = key_from_client(&in);
	/* a retransmitted SYN restarts the wait for its SYN-ACK; a new
	 * connection on the port of a closing one starts afresh */
	f = wlb_flow_lookup(r->flows, &k, now);
	if (f && (f->nonce != t.nonce || (f->flags & RPD_CLOSING))) {
		fp_remove(r, f);
		f->flags = 0;
		wlb_flow_set_class(r->flows, f, WLB_FLOW_PENDING);
	}
	if (f)
		wlb_flow_touch(r->flows, f, now, r->conf->replicad.flow_timeout_ms);
	else
		f = wlb_flow_insert(r->flows, &k, WLB_FLOW_PENDING, now,
				    r->conf->replicad.flow_timeout_ms);
	f->nonce = t.nonce;
	f->state = wlb_tag_mode(&t);
	wlb_action_mangle(act, in.data, in.len);
}

/* ------------------------------------------ the kernel fast path */

/* A client's packet as it arrives: at our service address in A and B. */
static struct wlb_fp_key fp_arriving_key(const struct replicad *r, const struct wlb_flow *f)
{
	return (struct wlb_fp_key){f->key.client.v4, f->key.client_port,
				   r->conf->replicad.service_address, f->key.server_port};
}

/* A client's packet inside the gateway's tunnel (C): to the origin. */
static struct wlb_fp_key fp_tunnel_key(const struct wlb_flow *f)
{
	return wlb_fp_key_of(&f->key, true);
}

/* What the server sends to the client, as the origin in B and C. */
static struct wlb_fp_key fp_leaving_key(const struct wlb_flow *f)
{
	return wlb_fp_key_of(&f->key, false);
}

/* C: the kernel's tunnel (tunfp.h) takes the client's packets out of the
 * gateway's tunnel and puts the server's into one to the client; an
 * element that keeps the origin's address spares the server's packets
 * the queue on their way to it.  All or nothing. */
static bool tun_install(struct replicad *r, struct wlb_flow *f)
{
	struct wlb_fp_key in = fp_tunnel_key(f), out = fp_leaving_key(f);
	uint32_t service = r->conf->replicad.service_address;

	if (!r->tun || !r->fp ||
	    wlb_tun_add(r->tun, WLB_TUN_MAP_DECAP, &in, f->key.client.v4, service, 0))
		return false;
	if (wlb_tun_add(r->tun, WLB_TUN_MAP_ENCAP, &out, service, f->key.client.v4, 0)) {
		wlb_tun_del(r->tun, WLB_TUN_MAP_DECAP, &in);
		return false;
	}
	wlb_fp_add(r->fp, WLB_FP_SRC, &out, f->key.server.v4);
	return true;
}

/* A's client packets need nothing, but the rule that queues B's (same
 * address, same port) would take them: an element that keeps the
 * address spares them the queue.  B's get the origin's address, and
 * what the server sends as the origin passes untouched. */
static void fp_install(struct replicad *r, struct wlb_flow *f)
{
	struct wlb_fp_key in = fp_arriving_key(r, f), out = fp_leaving_key(f);

	if (f->state == WLB_MODE_C) {
		if (!tun_install(r, f)) {
			/* no kernel tunnel, or its maps are full: try again
			 * some packets later */
			f->hits = 0;
			return;
		}
	} else {
		if (!r->fp)
			return;
		wlb_fp_add(r->fp, WLB_FP_DST, &in, f->key.server.v4);
		if (f->state == WLB_MODE_B)
			wlb_fp_add(r->fp, WLB_FP_SRC, &out, f->key.server.v4);
	}
	f->flags |= RPD_FASTPATH;
	r->c[fastpath_installed]++;
}

/* The client's ACK of our SYN-ACK is the proof we won: a loser only ever
 * hears a RST.  Only then is the connection worth an element, and never
 * again once it has begun to close. */
static void fp_won(struct replicad *r, struct wlb_flow *f, const struct wlb_pkt *p)
{
	if ((f->flags & (RPD_FASTPATH | RPD_CLOSING | RPD_FIN_CLIENT | RPD_FIN_SERVER)) ||
	    (p->flags & (WLB_TCP_SYN | WLB_TCP_FIN | WLB_TCP_RST)))
		return;
	/* and only a connection that carries more than a short exchange */
	if (f->hits < WLB_FP_AFTER_PACKETS)
		f->hits++;
	else
		fp_install(r, f);
}

static void fp_remove(struct replicad *r, struct wlb_flow *f)
{
	struct wlb_fp_key in = fp_arriving_key(r, f), out = fp_leaving_key(f);

	if (!(f->flags & RPD_FASTPATH))
		return;
	if (f->state == WLB_MODE_C) {
		struct wlb_fp_key tin = fp_tunnel_key(f);

		wlb_tun_del(r->tun, WLB_TUN_MAP_DECAP, &tin);
		/* the server's packets pass the queue until the element goes */
		wlb_tun_del_later(r->tun, WLB_TUN_MAP_ENCAP, &out);
	} else {
		wlb_fp_del(r->fp, WLB_FP_DST, &in);
	}
	if (f->state != WLB_MODE_A)
		wlb_fp_del(r->fp, WLB_FP_SRC, &out);
	f->flags &= (uint8_t)~RPD_FASTPATH;
	r->c[fastpath_removed]++;
}

/* A connection the kernel carries but the table lacks (we restarted, or
 * evicted it), recorded again.  Its nonce is gone: a SYN-ACK retransmitted
 * now leaves without echo. */
static struct wlb_flow *restore(struct replicad *r, const struct wlb_flow_key *k,
				enum wlb_mode mode, uint32_t expires_ms, uint64_t now)
{
	struct wlb_flow *f = wlb_flow_insert(r->flows, k, WLB_FLOW_SETTLED, now, expires_ms);

	f->state = mode;
	f->flags = RPD_FASTPATH;
	r->c[fastpath_restored]++;
	return f;
}

/* A connection the kernel carries still needs us for its end (FIN, RST):
 * recorded as long as its element lives, again after a restart. */
void replicad_fp_seen(struct replicad *r, enum wlb_fp_map m, const struct wlb_fp_key *e,
		      uint32_t value, uint32_t expires_ms, uint64_t now_ms)
{
	struct wlb_flow_key k = {
		.client.v4 = e->saddr,
		.server.v4 = value,
		.client_port = e->sport,
		.server_port = e->dport,
	};
	struct wlb_flow *f;

	if (m != WLB_FP_DST)
		return;
	expires_ms = wlb_fp_keep_ms(expires_ms, r->conf->replicad.idle_ms);
	f = wlb_flow_lookup(r->flows, &k, now_ms);
	if (f) {
		if (f->flags & RPD_FASTPATH)
			wlb_flow_touch(r->flows, f, now_ms, expires_ms);
		else
			/* an earlier connection's, on the ports of a new one */
			wlb_fp_del(r->fp, WLB_FP_DST, e);
		return;
	}
	restore(r, &k, value == r->conf->replicad.service_address ? WLB_MODE_A : WLB_MODE_B,
		expires_ms, now_ms);
}

/* An entry of the kernel's tunnel read back: as clientgw_tun_seen(). */
bool replicad_tun_seen(struct replicad *r, enum wlb_tun_map m, const struct wlb_fp_key *e,
		       uint32_t outer_saddr, uint32_t outer_daddr, uint64_t idle_ms,
		       uint64_t now_ms)
{
	bool arriving = m == WLB_TUN_MAP_DECAP;
	uint32_t idle = r->conf->replicad.idle_ms;
	struct wlb_flow_key k = wlb_flow_key_of(e, arriving);
	struct wlb_flow *f = wlb_flow_lookup(r->flows, &k, now_ms);

	(void)outer_saddr;
	(void)outer_daddr;
	if (!f && idle_ms < idle)
		f = restore(r, &k, WLB_MODE_C, idle, now_ms);
	if (!f || !(f->flags & RPD_FASTPATH) || f->state != WLB_MODE_C)
		return true;
	if (idle_ms >= idle) {
		replicad_forget(r, f);
		return false; /* gone with it */
	}
	if (arriving && !(f->flags & RPD_CLOSING))
		wlb_flow_touch(r->flows, f, now_ms,
			       wlb_fp_keep_ms((uint32_t)(idle - idle_ms), idle));
	return false;
}

/* ------------------------------------------ B and C: the connection */

/*
 * As at the client gateway, mirrored: here a RST from the client's side may
 * be anybody's, and the local server's TCP, which checks it against its
 * window, is the one that ignores a forged one.  Such a RST of a connection
 * that has begun (the client answered our SYN-ACK) holds it as long as a
 * live one, until wlb_flow_rst_refuted() (in A the local server's packets
 * never come here).  A RST before the connection began, such as the
 * gateway's for a lost race, is final.
 */
static void rst_judged(struct replicad *r, struct wlb_flow *f, const struct wlb_pkt *p,
		       bool from_client, uint64_t now)
{
	if (!(f->flags & RPD_RST_CLIENT) ||
	    !wlb_flow_rst_refuted(f, p->flags & WLB_TCP_RST, from_client, now,
				  r->conf->replicad.linger_ms))
		return;
	f->flags &= (uint8_t) ~(RPD_RST_CLIENT | RPD_CLOSING);
	r->c[rst_refuted]++;
}

static void track_close(struct replicad *r, struct wlb_flow *f, const struct wlb_pkt *p,
			bool from_client, uint64_t now)
{
	bool rst = p->flags & WLB_TCP_RST, was_closing, begun;

	rst_judged(r, f, p, from_client, now);
	was_closing = f->flags & RPD_CLOSING;
	begun = (f->flags & RPD_FASTPATH) || f->hits;
	if (p->flags & WLB_TCP_FIN)
		f->flags |= from_client ? RPD_FIN_CLIENT : RPD_FIN_SERVER;
	/* in A the server's FIN passes unseen: the client's ends the fast
	 * path, and the rest of the connection is passed from here */
	if (f->state == WLB_MODE_A && (p->flags & (WLB_TCP_FIN | WLB_TCP_RST)))
		fp_remove(r, f);
	if (rst ||
	    (f->flags & (RPD_FIN_CLIENT | RPD_FIN_SERVER)) == (RPD_FIN_CLIENT | RPD_FIN_SERVER)) {
		fp_remove(r, f);
		f->flags |= RPD_CLOSING;
		if (rst && from_client && begun && (!was_closing || (f->flags & RPD_RST_CLIENT))) {
			f->flags |= RPD_RST_CLIENT;
			f->since_ms = (uint32_t)now;
		} else {
			f->flags &= (uint8_t)~RPD_RST_CLIENT;
		}
	}
	wlb_flow_touch(r->flows, f, now,
		       (f->flags & (RPD_CLOSING | RPD_RST_CLIENT)) == RPD_CLOSING
			       ? r->conf->replicad.linger_ms
			       : r->conf->replicad.idle_ms);
}

/* Tunnel our packet to the client: outer source the service address.  One
 * too long to tunnel is dropped: plain, it would bear the origin's source
 * where the gateway expects only tunnels, and be dropped there. */
static void tunnel_out(struct replicad *r, const struct wlb_pkt *p, struct wlb_action *act)
{
	size_t n = wlb_ipip_encap(p, act->scratch, WLB_NFQ_MAX_PAYLOAD,
				  r->conf->replicad.service_address, wlb_ip_daddr(p), 64);

	if (!n) {
		r->c[tunnel_too_big]++;
		act->verdict = WLB_DROP;
		return;
	}
	r->c[tunnel_sent]++;
	wlb_action_mangle(act, act->scratch, n);
}

/* The local server's SYN-ACK: the echo, and in B and C a tunnel, so the
 * client gateway learns which replica spoofs the origin. */
static void local_synack(struct replicad *r, struct wlb_flow *f, struct wlb_pkt *p, uint64_t now,
			 struct wlb_action *act)
{
	memcpy(act->scratch + WLB_IP_MINHDR, p->data, p->len);
	if (wlb_pkt_parse(p, act->scratch + WLB_IP_MINHDR, p->len,
			  WLB_SCRATCH_SIZE - WLB_IP_MINHDR) != WLB_PKT_OK ||
	    wlb_tag_add(p, wlb_tag_flags(true, f->state, true), f->nonce) != WLB_PKT_OK) {
		r->c[synack_noroom]++;
		/* in B and C it would leave bearing the origin's source and
		 * no proof: the gateway would take it for the origin's own */
		if (f->state != WLB_MODE_A)
			act->verdict = WLB_DROP;
		return;
	}
	r->c[synack_echoed]++;
	if (f->state == WLB_MODE_A && !wlb_replicad_serves(&r->conf->replicad, WLB_MODE_B)) {
		/* A replica that serves no B has no rule that queues A's
		 * client packets: it never hears of this connection again,
		 * so the entry waits only for a retransmitted SYN-ACK, as a
		 * SYN waits */
		wlb_flow_touch(r->flows, f, now, r->conf->replicad.flow_timeout_ms);
	} else {
		/* kept while the connection lives: a retransmitted SYN-ACK
		 * needs the echo, the end of the connection ends its fast
		 * path, and in B and C the connection is ours to carry */
		wlb_flow_set_class(r->flows, f, WLB_FLOW_SETTLED);
		wlb_flow_touch(r->flows, f, now, r->conf->replicad.idle_ms);
	}
	if (f->state == WLB_MODE_A) {
		wlb_action_mangle(act, p->data, p->len);
		return;
	}
	/* encapsulating in place: the scratch has the room in front */
	act->verdict = WLB_MANGLE;
	act->out_len =
		(uint32_t)wlb_ipip_encap(p, act->scratch, WLB_NFQ_MAX_PAYLOAD,
					 r->conf->replicad.service_address, wlb_ip_daddr(p), 64);
	act->out = act->scratch;
	if (!act->out_len) {
		/* as one without room for the echo: no proof, no SYN-ACK */
		r->c[synack_noroom]++;
		act->verdict = WLB_DROP;
	}
}

static void local_packet(struct replicad *r, struct wlb_pkt *p, uint64_t now,
			 struct wlb_action *act)
{
	struct wlb_flow_key k = key_to_client(p);
	struct wlb_flow *f = wlb_flow_lookup(r->flows, &k, now);

	if (!f) {
		r->c[other_passed]++;
		return;
	}
	if (wlb_tcp_is_synack(p)) {
		local_synack(r, f, p, now, act);
		return;
	}
	if (f->state == WLB_MODE_A || f->cls != WLB_FLOW_SETTLED) {
		r->c[other_passed]++;
		return;
	}
	track_close(r, f, p, false, now);
	if (f->state == WLB_MODE_C)
		tunnel_out(r, p, act);
	else
		r->c[b_spoofed_sent]++;
	fp_won(r, f, p);
}

/* Configuration B: the client gateway sends the client's packets to our
 * service address; the connection's socket is the origin's. */
static void client_to_service(struct replicad *r, struct wlb_pkt *p, uint64_t now,
			      struct wlb_action *act)
{
	struct wlb_flow_key k = key_from_client(p);
	struct wlb_flow *f = NULL;

	while ((f = wlb_flow_lookup_endpoint(r->flows, &k, f, now))) {
		if (f->cls != WLB_FLOW_SETTLED)
			continue;
		if (f->state == WLB_MODE_A && f->key.server.v4 == k.server.v4) {
			/* ours already: only its end matters */
			track_close(r, f, p, true, now);
			fp_won(r, f, p);
			r->c[other_passed]++;
			return;
		}
		if (f->state != WLB_MODE_B)
			continue;
		r->c[b_readdressed]++;
		track_close(r, f, p, true, now);
		fp_won(r, f, p);
		wlb_pkt_set_daddr(p, f->key.server.v4);
		wlb_action_mangle(act, p->data, p->len);
		return;
	}
	r->c[other_passed]++;
}

/*
 * A tunnel packet not from a redirector: the client gateway's, carrying a
 * client packet (C) or the RST for a loser (B, C).  Taken only for a
 * connection we answered, and only when the tunnel comes from the client's
 * own address as the gateway sees it.
 */
static void client_tunnel(struct replicad *r, struct wlb_pkt *outer, uint64_t now,
			  struct wlb_action *act)
{
	struct wlb_flow_key k;
	struct wlb_flow *f;
	struct wlb_pkt in;

	if (wlb_ipip_decap(outer, &in) != WLB_PKT_OK || in.ihl != outer->ihl ||
	    wlb_ip_saddr(&in) != wlb_ip_saddr(outer)) {
		r->c[drop_not_redirector]++;
		act->verdict = WLB_DROP;
		return;
	}
	k = key_from_client(&in);
	f = wlb_flow_lookup(r->flows, &k, now);
	if (!f || f->state == WLB_MODE_A) {
		r->c[drop_not_redirector]++;
		act->verdict = WLB_DROP;
		return;
	}
	r->c[tunnel_received]++;
	track_close(r, f, &in, true, now);
	fp_won(r, f, &in);
	wlb_action_mangle(act, in.data, in.len);
}

static void arriving(struct replicad *r, struct wlb_pkt *p, int err, uint64_t now,
		     struct wlb_action *act)
{
	if (err == WLB_PKT_NOT_TCP && p->proto == WLB_IPPROTO_IPIP) {
		if (wlb_conf_is_redirector(r->conf, wlb_ip_saddr(p)))
			redirected_syn(r, p, now, act);
		else
			client_tunnel(r, p, now, act);
	} else if (p->ihl && p->proto == WLB_IPPROTO_IPIP) {
		/* a fragmented or broken tunnel packet: nobody else here
		 * decapsulates, so passing it on would only bounce */
		r->c[drop_malformed]++;
		act->verdict = WLB_DROP;
	} else if (err == WLB_PKT_OK && wlb_ip_daddr(p) == r->conf->replicad.service_address) {
		client_to_service(r, p, now, act);
	} else {
		r->c[other_passed]++;
	}
}

void replicad_decide(struct replicad *r, unsigned hook, uint8_t *data, uint32_t len,
		     uint64_t now_ms, struct wlb_action *act)
{
	struct wlb_pkt p;
	int err = wlb_pkt_parse(&p, data, len, len);

	act->verdict = WLB_ACCEPT;
	if (hook == NF_INET_PRE_ROUTING)
		arriving(r, &p, err, now_ms, act);
	else if (err == WLB_PKT_OK)
		local_packet(r, &p, now_ms, act);
	else
		r->c[other_passed]++;
}

void replicad_forget(struct replicad *r, struct wlb_flow *f)
{
	fp_remove(r, f);
	wlb_flow_remove(r->flows, f);
}

void replicad_tick(struct replicad *r, uint64_t now_ms)
{
	wlb_flow_expire(r->flows, now_ms, EXPIRE_BUDGET);
}

void replicad_dump(struct replicad *r, FILE *f, uint64_t now_ms)
{
	struct wlb_flow_stats st;

	wlb_counters_print(f, replicad_counter_names, r->c, replicad_NCOUNTERS);
	wlb_flow_stats(r->flows, &st);
	fprintf(f, "state                        %s\n", wlb_replica_state_name(r->state));
	wlb_counter_print(f, "busy", r->busy);
	wlb_counter_print(f, "established", r->established);
	fprintf(f, "load1                        %.2f\n", r->load1);
	wlb_counter_print(f, "pending_nonces", st.count);
}
