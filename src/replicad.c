// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-replicad policy, configuration A: the replica answers from its own
 * service address and the client gateway translates.
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
	if (wlb_ipip_decap(outer, in) != WLB_PKT_OK || in->ihl != WLB_IP_MINHDR ||
	    !wlb_tcp_is_syn(in) || wlb_tag_find(in, t) != 1 || !(t->flags & WLB_TAG_REDIRECT) ||
	    (t->flags & WLB_TAG_ECHO))
		return drop_malformed;
	if (r->conf->replicad.state != WLB_REPLICA_ACTIVE)
		return drop_inactive;
	if (r->busy)
		return drop_busy;
	if (wlb_tag_mode(t) != WLB_MODE_A)
		return drop_mode;
	return syn_delivered;
}

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
	/* configuration A: the SYN is addressed to our own service address */
	wlb_pkt_set_daddr(&in, r->conf->replicad.service_address);
	k = (struct wlb_flow_key){
		.client.v4 = wlb_ip_saddr(&in),
		.server.v4 = wlb_ip_daddr(&in),
		.client_port = wlb_tcp_sport(&in),
		.server_port = wlb_tcp_dport(&in),
	};
	/* a retransmitted SYN restarts the wait for its SYN-ACK */
	f = wlb_flow_lookup(r->flows, &k, now);
	if (f)
		wlb_flow_touch(r->flows, f, now, r->conf->replicad.flow_timeout_ms);
	else
		f = wlb_flow_insert(r->flows, &k, WLB_FLOW_PENDING, now,
				    r->conf->replicad.flow_timeout_ms);
	f->nonce = t.nonce;
	f->state = wlb_tag_mode(&t);
	wlb_action_mangle(act, in.data, in.len);
}

/* ------------------------------------------------- the SYN-ACK and echo */

static void local_synack(struct replicad *r, struct wlb_pkt *p, uint64_t now,
			 struct wlb_action *act)
{
	struct wlb_flow_key k = {
		.client.v4 = wlb_ip_daddr(p),
		.server.v4 = wlb_ip_saddr(p),
		.client_port = wlb_tcp_dport(p),
		.server_port = wlb_tcp_sport(p),
	};
	/* kept until it expires: a retransmitted SYN-ACK needs the echo too */
	struct wlb_flow *f = wlb_flow_lookup(r->flows, &k, now);

	if (!f) {
		r->c[other_passed]++;
		return;
	}
	memcpy(act->scratch, p->data, p->len);
	if (wlb_pkt_parse(p, act->scratch, p->len, WLB_SCRATCH_SIZE) != WLB_PKT_OK ||
	    wlb_tag_add(p, wlb_tag_flags(true, f->state, true), f->nonce) != WLB_PKT_OK) {
		r->c[synack_noroom]++;
		return;
	}
	r->c[synack_echoed]++;
	wlb_action_mangle(act, p->data, p->len);
}

void replicad_decide(struct replicad *r, unsigned hook, uint8_t *data, uint32_t len,
		     uint64_t now_ms, struct wlb_action *act)
{
	struct wlb_pkt p;
	int err = wlb_pkt_parse(&p, data, len, len);

	act->verdict = WLB_ACCEPT;
	if (hook == NF_INET_PRE_ROUTING) {
		if (err == WLB_PKT_NOT_TCP && p.proto == WLB_IPPROTO_IPIP) {
			redirected_syn(r, &p, now_ms, act);
		} else if (p.ihl && p.proto == WLB_IPPROTO_IPIP) {
			/* a fragmented or broken tunnel packet: nobody else here
			 * decapsulates, so passing it on would only bounce */
			r->c[drop_malformed]++;
			act->verdict = WLB_DROP;
		} else {
			r->c[other_passed]++;
		}
		return;
	}
	if (err == WLB_PKT_OK && wlb_tcp_is_synack(&p))
		local_synack(r, &p, now_ms, act);
	else
		r->c[other_passed]++;
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
	fprintf(f, "state                        %s\n",
		wlb_replica_state_name(r->conf->replicad.state));
	fprintf(f, "busy                         %u\n", r->busy);
	fprintf(f, "established                  %u\n", r->established);
	fprintf(f, "load1                        %.2f\n", r->load1);
	fprintf(f, "pending_nonces               %u\n", st.count);
}
