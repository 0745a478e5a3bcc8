/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wlb-clientgw policy: the client gateway's procedures of the method
 * (FIG. 2: tag start packets; FIG. 5A-C: the first acknowledgement wins;
 * FIG. 6A-C: carry the connection to the winner, in configuration A by
 * translating both ways, in B by translating the client's packets only, in
 * C through a tunnel both ways).
 */
#ifndef WLB_CLIENTGW_H
#define WLB_CLIENTGW_H

#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "counters.h"
#include "daemon.h"
#include "fastpath.h"
#include "flow.h"

#define CLIENTGW_COUNTERS(X)                                                             \
	X(syn_tagged, "client SYNs tagged and recorded")                                 \
	X(syn_retransmit, "retransmitted SYNs (same nonce, or to the winner)")           \
	X(syn_port_reused, "SYNs on the ports of a connection whose end went unseen")    \
	X(syn_noroom, "SYNs sent on untagged: no TCP option room")                       \
	X(syn_pretagged, "SYNs that already carried a tag: passed untouched")            \
	X(syn_not_web, "SYNs to other ports or excluded destinations")                   \
	X(synack_origin_won, "connections the origin answered first")                    \
	X(synack_replica_won, "connections a replica answered first")                    \
	X(synack_retransmit, "SYN-ACKs retransmitted by the winner, passed")             \
	X(synack_late_reset, "late SYN-ACKs dropped, their sender reset")                \
	X(synack_spoofed, "SYN-ACKs without a valid echo dropped")                       \
	X(to_replica, "client packets redirected to the replica")                        \
	X(from_replica, "replica packets given the origin source")                       \
	X(direct_passed, "packets of origin-served connections")                         \
	X(unknown_passed, "packets of no recorded connection, passed")                   \
	X(malformed_passed, "unparseable packets, passed unchanged")                     \
	X(from_replica_untouched, "configuration B: replica packets passed as they are") \
	X(tunnel_encap, "configuration C: client packets tunnelled to the replica")      \
	X(tunnel_decap, "configuration C: replica packets taken out of the tunnel")      \
	X(tunnel_rejected, "tunnel packets for our clients no winner sent: dropped")     \
	X(tunnel_too_big, "client packets too big to tunnel: dropped")                   \
	X(mss_clamped, "MSS options lowered to fit the tunnel")                          \
	X(closed, "connections closed (FIN both ways or RST)")                           \
	X(rst_refuted, "server-side RSTs the server's next packets refuted: carried on") \
	X(rst_unsent, "RSTs that found no emit slot")                                    \
	X(fastpath_installed, "decided connections handed to the kernel fast path")      \
	X(fastpath_removed, "fast-path connections closed")                              \
	X(fastpath_restored, "connections taken back from the kernel's maps")

WLB_COUNTERS_ENUM(clientgw, CLIENTGW_COUNTERS)

enum clientgw_state {
	CGW_PENDING = 0, /* tagged SYN sent, no SYN-ACK yet */
	CGW_DIRECT,	 /* the origin won: nothing to translate */
	CGW_REPLICA,	 /* a replica won: translate both ways */
};

/* flow flags */
#define CGW_FIN_CLIENT 0x01
#define CGW_FIN_SERVER 0x02
#define CGW_CLOSING 0x04
#define CGW_ANSWERED 0x08 /* the client sent more than SYNs: its handshake is done */
#define CGW_MODE_SHIFT 4  /* bits 4-5: the flow's configuration (enum wlb_mode) */
#define CGW_MODE_MASK 0x30
#define CGW_FASTPATH 0x40 /* its rewrite is in the kernel's maps */
#define CGW_RST_SERVER 0x80 /* closing on a server-side RST the server may yet refute */

struct clientgw {
	const struct wlb_conf *conf;
	struct wlb_flow_table *flows;
	struct wlb_fp *fp;   /* NULL: every packet of a connection comes here */
	struct wlb_tun *tun; /* NULL: C tunnels in userspace */
	uint64_t c[clientgw_NCOUNTERS];
	/* nonces come from getrandom() in blocks; tests replace the source */
	uint32_t (*nonce)(struct clientgw *gw);
	uint32_t pool[256];
	unsigned pool_left;
};

struct clientgw *clientgw_new(const struct wlb_conf *c, char *err, size_t errlen);
void clientgw_free(struct clientgw *gw);
void clientgw_reconfigure(struct clientgw *gw, const struct wlb_conf *c);
/* hook: NF_INET_POST_ROUTING for client-to-server packets (after source
 * NAT), NF_INET_PRE_ROUTING for server-to-client packets (before conntrack). */
void clientgw_decide(struct clientgw *gw, unsigned hook, uint8_t *data, uint32_t len,
		     uint64_t now_ms, struct wlb_action *act);
void clientgw_tick(struct clientgw *gw, uint64_t now_ms);
/* Drop a connection (wlbctl flush), its fast path with it. */
void clientgw_forget(struct clientgw *gw, struct wlb_flow *f);
/* An element of the kernel's maps, read back: a connection the kernel
 * still carries (after a restart: one we forgot) stays recorded as long. */
void clientgw_fp_seen(struct clientgw *gw, enum wlb_fp_map m, const struct wlb_fp_key *k,
		      uint32_t value, uint32_t expires_ms, uint64_t now_ms);
/* An entry of the kernel's C tunnel read back, with its outer addresses,
 * idle_ms since its last packet; one of a connection the table lacks
 * (after a restart, or evicted) records it again.  Returns whether the
 * entry is stale and must go. */
bool clientgw_tun_seen(struct clientgw *gw, enum wlb_tun_map m, const struct wlb_fp_key *k,
		       uint32_t outer_saddr, uint32_t outer_daddr, uint64_t idle_ms,
		       uint64_t now_ms);
void clientgw_dump(struct clientgw *gw, FILE *f, uint64_t now_ms);

#endif
