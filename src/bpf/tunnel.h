/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the tc tunnel program (tunnel.bpf.c) and the daemons (lib/tunfp.c)
 * share: the maps' keys and values and the counters.  Plain fixed-width
 * types only: this header is compiled for BPF as well.
 */
#ifndef WLB_BPF_TUNNEL_H
#define WLB_BPF_TUNNEL_H

#include <linux/types.h>

/* An inner packet's 4-tuple as it travels, network byte order. */
struct wlb_tun_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
};

/* The outer addresses: put on (encap map) or required (decap map). */
struct wlb_tun_val {
	__be32 saddr;
	__be32 daddr;
	/* decap: the mark the inner packet gets, so that the netfilter
	 * rules tell it from a plain packet claiming the same addresses */
	__u32 mark;
	__u32 pad;
	/* when the program last carried a packet of the flow (CLOCK_MONOTONIC,
	 * ns), written at most once a second: the daemon, which no longer
	 * sees the flow, reads it to keep the connection */
	__u64 last_ns;
};

#define WLB_TUN_LAST_NS_STEP 1000000000ULL

enum wlb_tun_counter {
	WLB_TUN_ENCAP,	 /* packets put into a tunnel */
	WLB_TUN_DECAP,	 /* packets taken out of one */
	WLB_TUN_REFUSED, /* tunnel packets of a known flow from the wrong ends */
	WLB_TUN_FAILED,	 /* the kernel refused a header change: passed as it was */
	WLB_TUN_NCOUNTERS
};

#endif
