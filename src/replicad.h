/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wlb-replicad policy: a replica's procedure of the method (FIG. 4A).  An
 * encapsulated tagged SYN from a known redirector is cracked and handed to
 * the local web server, unless this replica is inactive or busy; the
 * SYN-ACK the server sends back gets the echo of the SYN's nonce, which is
 * how the client gateway tells a genuine answer from a spoofed one.
 */
#ifndef WLB_REPLICAD_H
#define WLB_REPLICAD_H

#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "counters.h"
#include "daemon.h"
#include "fastpath.h"
#include "flow.h"

#define REPLICAD_COUNTERS(X)                                                           \
	X(syn_delivered, "encapsulated SYNs delivered to the local server")            \
	X(drop_not_redirector, "encapsulated packets from unknown sources dropped")    \
	X(drop_malformed, "encapsulated packets that are not a tagged SYN dropped")    \
	X(drop_inactive, "SYNs ignored: replica disabled or draining")                 \
	X(drop_busy, "SYNs dropped: replica busy")                                     \
	X(drop_mode, "SYNs dropped: configuration not served here")                    \
	X(synack_echoed, "SYN-ACKs given the echo option")                             \
	X(synack_noroom, "SYN-ACKs without option room for the echo")                  \
	X(b_readdressed, "configuration B: client packets given the origin's address") \
	X(b_spoofed_sent, "configuration B: packets sent as the origin, untouched")    \
	X(tunnel_received, "configurations B, C: client-side tunnel packets taken")    \
	X(tunnel_sent, "configuration C: packets tunnelled to the client")             \
	X(tunnel_too_big, "configuration C: packets too big to tunnel: dropped")       \
	X(mss_clamped, "configuration C: SYN MSS lowered to fit the tunnel")           \
	X(other_passed, "packets of no redirected connection, passed")                 \
	X(rst_refuted, "client-side RSTs the client's next packets refuted: carried on") \
	X(fastpath_installed, "connections handed to the kernel fast path")            \
	X(fastpath_removed, "fast-path connections closed")                            \
	X(fastpath_restored, "connections taken back from the kernel's maps")

WLB_COUNTERS_ENUM(replicad, REPLICAD_COUNTERS)

/* flow flags (the flow's state holds its configuration, enum wlb_mode) */
#define RPD_FIN_CLIENT 0x01
#define RPD_FIN_SERVER 0x02
#define RPD_CLOSING 0x04
#define RPD_FASTPATH 0x08 /* its rewrite is in the kernel's maps */
#define RPD_RST_CLIENT 0x10 /* closing on a client-side RST the client may yet refute */

struct replicad {
	const struct wlb_conf *conf;
	struct wlb_flow_table *flows; /* SYN seen -> its nonce, until the SYN-ACK */
	struct wlb_fp *fp;	      /* NULL: every packet comes here */
	struct wlb_tun *tun;	      /* NULL: C tunnels in userspace */
	/* the state in force: the configuration's, until wlbctl drain or
	 * enable sets another; a reload brings the configuration's back */
	enum wlb_replica_state state;
	bool busy;
	uint32_t established; /* last measured, for the state file */
	double load1;
	uint64_t c[replicad_NCOUNTERS];
};

struct replicad *replicad_new(const struct wlb_conf *c, char *err, size_t errlen);
void replicad_free(struct replicad *r);
void replicad_reconfigure(struct replicad *r, const struct wlb_conf *c);
/* hook: NF_INET_PRE_ROUTING for arriving encapsulated packets,
 * NF_INET_LOCAL_OUT for the local server's SYN-ACKs. */
void replicad_decide(struct replicad *r, unsigned hook, uint8_t *data, uint32_t len,
		     uint64_t now_ms, struct wlb_action *act);
/* Feed the measured load; returns whether the replica is now busy. */
bool replicad_set_load(struct replicad *r, uint32_t established, double load1);
void replicad_tick(struct replicad *r, uint64_t now_ms);
/* Drop a connection (wlbctl flush), its fast path with it. */
void replicad_forget(struct replicad *r, struct wlb_flow *f);
/* An element of the kernel's maps, read back (see clientgw_fp_seen()). */
void replicad_fp_seen(struct replicad *r, enum wlb_fp_map m, const struct wlb_fp_key *k,
		      uint32_t value, uint32_t expires_ms, uint64_t now_ms);
/* An entry of the kernel's C tunnel read back, with its outer addresses,
 * idle_ms since its last packet; one of a connection the table lacks
 * (after a restart, or evicted) records it again.  Returns whether the
 * entry is stale and must go. */
bool replicad_tun_seen(struct replicad *r, enum wlb_tun_map m, const struct wlb_fp_key *k,
		       uint32_t outer_saddr, uint32_t outer_daddr, uint64_t idle_ms,
		       uint64_t now_ms);
void replicad_dump(struct replicad *r, FILE *f, uint64_t now_ms);

#endif
