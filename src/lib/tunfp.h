/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration C's tunnel in the kernel: the daemon loads the tc program
 * of src/bpf/tunnel.bpf.c (built with the daemons and linked into them),
 * attaches it at ingress and egress of every Ethernet interface, and puts
 * each decided C connection into its maps (what to encapsulate, what to
 * decapsulate and from whom), as it puts A's and B's into nftables'
 * (fastpath.h).  The program leaves SYN, FIN and RST to the daemon, which
 * removes the connection's entries when it closes.
 *
 * The program and its maps belong to the daemon: detached when it stops
 * with no tunnelled connection.  A daemon stopped while it carries some, or
 * killed outright, leaves them attached (the filter holds them), still
 * carrying those connections; the next start takes the maps over, so the
 * connections survive a restart, and "wlb-rules remove" detaches them.
 *
 * Map changes are single bpf(2) calls made as the policy decides: one per
 * map per connection, at hand-over and at close, never per packet.
 */
#ifndef WLB_TUNFP_H
#define WLB_TUNFP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../bpf/tunnel.h"
#include "fastpath.h"

enum wlb_tun_map {
	WLB_TUN_MAP_ENCAP, /* this inner packet leaves in a tunnel */
	WLB_TUN_MAP_DECAP, /* this inner packet arrives in one */
	WLB_TUN_NMAPS
};

#define WLB_TUN_MAX_IFACES 64

struct wlb_tun_stats {
	uint64_t added, deleted;
	uint64_t add_failures; /* the map was full or refused it: userspace carries on */
};

/* Deletions that wait for the round's nftables flush (wlb_tun_del_later) */
#define WLB_TUN_MAX_LATER 256

struct wlb_tun_later {
	enum wlb_tun_map map;
	struct wlb_fp_key inner;
};

/* An offline tunnel remembers its last changes, for the unit tests. */
#define WLB_TUN_LOG 16

struct wlb_tun_change {
	bool add;
	enum wlb_tun_map map;
	struct wlb_fp_key inner;
	uint32_t outer_saddr, outer_daddr, mark;
};

struct wlb_tun {
	struct wlb_tun_stats st;
	unsigned n_ifaces;
	/* offline: the changes, newest last (n_log counts them all) */
	struct wlb_tun_change log[WLB_TUN_LOG];
	unsigned n_log;
	struct wlb_tun_later later[WLB_TUN_MAX_LATER];
	unsigned n_later;
	/* private */
	struct bpf_object *obj;
	int map_fd[WLB_TUN_NMAPS], stats_fd, encaps_fd;
	uint32_t n_encaps; /* entries of the encapsulation map */
	unsigned adopted;  /* maps taken over from a program left attached */
	int ifindex[WLB_TUN_MAX_IFACES];
	bool made_qdisc[WLB_TUN_MAX_IFACES];
};

/* Loads, sizes the maps for max_flows connections and attaches.  The maps
 * of a program of ours left attached (a daemon stopped while it carried
 * connections, or killed) are taken over when they have the same size
 * (adopted counts them), and the new program replaces it.  NULL with
 * err set when the kernel or the privileges do not allow it. */
struct wlb_tun *wlb_tun_open(uint32_t max_flows, char *err, size_t errlen);
struct wlb_tun *wlb_tun_new_offline(void);
/* Loaded, not attached: for the unit tests, which run the programs on
 * packets of their own (BPF_PROG_TEST_RUN). */
struct wlb_tun *wlb_tun_load(uint32_t max_flows, char *err, size_t errlen);
int wlb_tun_prog_fd(const struct wlb_tun *t, bool ingress);
/* Detaches from every interface; removes the clsact qdiscs it added. */
void wlb_tun_close(struct wlb_tun *t);
/* Closes without detaching: the program goes on carrying the connections
 * in its maps, for the next start to take over. */
void wlb_tun_leave(struct wlb_tun *t);
/* Detaches a program of ours from every interface (wlb-rules remove). */
void wlb_tun_detach_all(void);

/* t may be NULL (no kernel tunnel): nothing happens, add returns -1.
 * Addresses in network byte order; mark: see struct wlb_tun_val. */
int wlb_tun_add(struct wlb_tun *t, enum wlb_tun_map m, const struct wlb_fp_key *inner,
		uint32_t outer_saddr, uint32_t outer_daddr, uint32_t mark);
void wlb_tun_del(struct wlb_tun *t, enum wlb_tun_map m, const struct wlb_fp_key *inner);
/*
 * A deletion that must wait for nftables: an entry whose connection's
 * packets an element spares the queue on their way to the program.
 * Deleted before the element, which goes only at the round's flush, it
 * would let them pass the queue into no tunnel, plain.  wlb_tun_flush(),
 * called after wlb_fp_flush(), deletes what waits; an add of the same
 * entry meanwhile cancels its deletion.  With WLB_TUN_MAX_LATER waiting,
 * the entry is deleted at once.
 */
void wlb_tun_del_later(struct wlb_tun *t, enum wlb_tun_map m, const struct wlb_fp_key *inner);
void wlb_tun_flush(struct wlb_tun *t);

/* Every entry, with the time since the program last carried a packet of
 * it (or since it was added), in ms: the daemons' read-back, as
 * wlb_fp_dump() is for nftables'.  fn returns whether the entry is stale
 * and must go; it may itself delete the entry it is given and the same
 * connection's in the other map, no other. */
typedef bool (*wlb_tun_seen_fn)(void *arg, enum wlb_tun_map m, const struct wlb_fp_key *inner,
				uint32_t outer_saddr, uint32_t outer_daddr, uint64_t idle_ms);
void wlb_tun_dump(struct wlb_tun *t, wlb_tun_seen_fn fn, void *arg);

/* The program's gate (its count of encapsulation entries) set from the
 * entries themselves, as a start that adopts maps does: a daemon killed
 * between an entry and its count left it one off, and a gate short of the
 * entries leaves the last of them plain. */
void wlb_tun_recount(struct wlb_tun *t);

/* The program's counters (enum wlb_tun_counter), summed over the CPUs. */
void wlb_tun_counters(const struct wlb_tun *t, uint64_t out[WLB_TUN_NCOUNTERS]);

#endif
