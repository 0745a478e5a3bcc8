/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wlb-redirector policy: the origin side's procedure of the method (FIG. 3):
 * a tagged SYN for replicable content is copied, IP-in-IP encapsulated, to
 * every replica of its origin, and still goes on to the origin.
 */
#ifndef WLB_REDIRECTOR_H
#define WLB_REDIRECTOR_H

#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "counters.h"
#include "daemon.h"

#define REDIRECTOR_COUNTERS(X)                                                \
	X(syn_fanned_out, "tagged SYNs copied to the replicas")               \
	X(copies_sent, "encapsulated copies built")                           \
	X(copies_too_big, "copies skipped: SYN larger than an emit slot")     \
	X(syn_untagged, "SYNs without a tag: forwarded only")                 \
	X(syn_not_permitted, "tagged SYNs with redirection not permitted")    \
	X(syn_not_replicable, "tagged SYNs to content not marked replicable") \
	X(syn_bad_tag, "SYNs with a malformed tag: forwarded only")           \
	X(other_passed, "packets that are not SYNs, passed")                  \
	X(malformed_passed, "unparseable packets, passed unchanged")

WLB_COUNTERS_ENUM(redirector, REDIRECTOR_COUNTERS)

struct redirector {
	const struct wlb_conf *conf;
	uint64_t c[redirector_NCOUNTERS];
};

struct redirector *redirector_new(const struct wlb_conf *c, char *err, size_t errlen);
void redirector_free(struct redirector *r);
void redirector_decide(struct redirector *r, uint8_t *data, uint32_t len, struct wlb_action *act);
void redirector_dump(struct redirector *r, FILE *f);

#endif
