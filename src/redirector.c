// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-redirector policy.  It never changes the SYN it sees: the origin
 * always gets it, so a dead or slow replica set costs the client nothing but
 * the race it would have won.
 */
#include <stdlib.h>

#include "redirector.h"
#include "tag.h"

WLB_COUNTERS_NAMES(redirector, REDIRECTOR_COUNTERS)

struct redirector *redirector_new(const struct wlb_conf *c, char *err, size_t errlen)
{
	struct redirector *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->conf = c;
	return r;
}

void redirector_free(struct redirector *r)
{
	free(r);
}

static void fan_out(struct redirector *r, const struct wlb_pkt *syn, const struct wlb_service *s,
		    struct wlb_action *act)
{
	const struct wlb_redirector_conf *rc = &r->conf->redirector;
	unsigned sent = 0;

	for (unsigned i = 0; i < s->n_replicas; i++) {
		struct wlb_emit *e = wlb_action_emit(act);

		if (!e)
			break;
		e->len = (uint32_t)wlb_ipip_encap(syn, e->data, sizeof(e->data), rc->address,
						  s->replicas[i], rc->ttl);
		if (!e->len) {
			act->n_emit--;
			r->c[copies_too_big]++;
			continue;
		}
		r->c[copies_sent]++;
		sent++;
	}
	if (sent)
		r->c[syn_fanned_out]++;
}

void redirector_decide(struct redirector *r, uint8_t *data, uint32_t len, struct wlb_action *act)
{
	const struct wlb_service *s;
	struct wlb_pkt p;
	struct wlb_tag t;
	int tagged;

	act->verdict = WLB_ACCEPT;
	if (wlb_pkt_parse(&p, data, len, len) != WLB_PKT_OK) {
		r->c[malformed_passed]++;
		return;
	}
	if (!wlb_tcp_is_syn(&p)) {
		r->c[other_passed]++;
		return;
	}
	tagged = wlb_tag_find(&p, &t);
	if (tagged <= 0) {
		r->c[tagged ? syn_bad_tag : syn_untagged]++;
		return;
	}
	if (!(t.flags & WLB_TAG_REDIRECT) || (t.flags & WLB_TAG_ECHO)) {
		r->c[syn_not_permitted]++;
		return;
	}
	s = wlb_conf_find_service(r->conf, wlb_ip_daddr(&p), wlb_tcp_dport(&p));
	if (!s || !s->replicable || !s->n_replicas) {
		r->c[syn_not_replicable]++;
		return;
	}
	fan_out(r, &p, s, act);
}

void redirector_dump(struct redirector *r, FILE *f)
{
	wlb_counters_print(f, redirector_counter_names, r->c, redirector_NCOUNTERS);
}
