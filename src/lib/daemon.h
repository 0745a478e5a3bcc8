/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every wlb daemon does around its policy: options, configuration
 * (load, validate, reload on SIGHUP), the NFQUEUE and raw sockets, the poll
 * loop with its periodic tick, sd_notify, and the state file written on
 * SIGUSR1 and at exit.  A daemon supplies a struct wlb_daemon of callbacks;
 * its decide() is a pure function of (packet, time) -> struct wlb_action.
 */
#ifndef WLB_DAEMON_H
#define WLB_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "fastpath.h"
#include "nfq.h"
#include "tunfp.h"

#define WLB_EMIT_MAX 64	   /* packets one decision may send */
#define WLB_EMIT_SIZE 2048 /* each at most (a SYN with data, encapsulated) */
#define WLB_SCRATCH_SIZE (65535 + 64)

struct wlb_emit {
	uint32_t len;
	uint8_t data[WLB_EMIT_SIZE];
};

/* The outcome of one packet decision; buffers are allocated once. */
struct wlb_action {
	enum wlb_verdict verdict;
	const uint8_t *out; /* WLB_MANGLE: the new packet */
	uint32_t out_len;
	uint8_t *scratch; /* WLB_SCRATCH_SIZE bytes, for packets that grow */
	unsigned n_emit;
	struct wlb_emit *emit; /* WLB_EMIT_MAX slots */
};

struct wlb_action *wlb_action_new(void);
void wlb_action_free(struct wlb_action *a);
/* The next free emit slot, or NULL when all are used. */
struct wlb_emit *wlb_action_emit(struct wlb_action *a);

/* Inline: both run for every packet, and a call costs more than they do. */
static inline void wlb_action_reset(struct wlb_action *a)
{
	a->verdict = WLB_ACCEPT;
	a->out = NULL;
	a->out_len = 0;
	a->n_emit = 0;
}

static inline void wlb_action_mangle(struct wlb_action *a, const uint8_t *pkt, size_t len)
{
	a->verdict = WLB_MANGLE;
	a->out = pkt;
	a->out_len = (uint32_t)len;
}

struct wlb_ctl_req;
struct wlb_ctl_out;

struct wlb_daemon {
	const char *name;    /* "wlb-clientgw" */
	const char *summary; /* one line for --help */
	unsigned need;	     /* enum wlb_conf_need */
	bool gso;	     /* its queue never mangles: NFQA_CFG_F_GSO is safe */
	uint16_t (*queue)(const struct wlb_conf *c);
	unsigned (*workers)(const struct wlb_conf *c);	/* worker K serves queue + K */
	uint32_t (*raw_mark)(const struct wlb_conf *c); /* 0: no raw socket */
	void *(*create)(const struct wlb_conf *c, char *err, size_t errlen);
	void (*destroy)(void *self);
	/* swap in a validated configuration; the old one is freed after */
	void (*reconfigure)(void *self, const struct wlb_conf *c);
	/* the first of its own settings that differs between a and b and
	 * takes a restart to change (its tables' sizes...), or NULL; the
	 * queue, workers, nfqueue.* and the fast path's needs are checked for
	 * every daemon (may be NULL) */
	const char *(*restart_only)(const struct wlb_conf *a, const struct wlb_conf *b);
	void (*decide)(void *self, const struct wlb_nfq_pkt *pkt, uint64_t now_ms,
		       struct wlb_action *act);
	void (*tick)(void *self, uint64_t now_ms);
	void (*dump)(void *self, FILE *f, uint64_t now_ms);
	/* The kernel fast path (fastpath.h); fp_table NULL: none.  The
	 * policy gets the open maps, and every element read back from them:
	 * at start (connections carried across a restart) and periodically. */
	const char *fp_table;
	/* why this configuration needs no fast path, or NULL (may be NULL) */
	const char *(*fp_unneeded)(const struct wlb_conf *c);
	uint32_t (*fp_timeout)(const struct wlb_conf *c);
	void (*fp_attach)(void *self, struct wlb_fp *fp);
	void (*fp_seen)(void *self, enum wlb_fp_map m, const struct wlb_fp_key *k, uint32_t value,
			uint32_t expires_ms, uint64_t now_ms);
	/* Configuration C's tunnel in the kernel (tunfp.h), started with the
	 * fast path: how many connections it may hold, 0 when this
	 * configuration tunnels none (NULL: the daemon never does). */
	uint32_t (*tun_flows)(const struct wlb_conf *c);
	void (*tun_attach)(void *self, struct wlb_tun *t);
	/* an entry read back with the fast path's (see wlb_tun_dump()) */
	bool (*tun_seen)(void *self, enum wlb_tun_map m, const struct wlb_fp_key *k,
			 uint32_t outer_saddr, uint32_t outer_daddr, uint64_t idle_ms,
			 uint64_t now_ms);
	/* wlbctl(8): the daemon's commands, "status" and "counters" after
	 * the common part; returns WLB_CTL_DONE or WLB_CTL_UNKNOWN (ctl.h) */
	int (*control)(void *self, const struct wlb_ctl_req *req, struct wlb_ctl_out *out,
		       uint64_t now_ms);
	const char *control_usage; /* its own commands, for "unknown command" */
};

int wlb_daemon_main(const struct wlb_daemon *d, int argc, char **argv);
uint64_t wlb_now_ms(void);

#endif
