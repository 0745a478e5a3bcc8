/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration: one libconfig file (wlb.conf(5)) read by all three daemons,
 * each using its own section plus the shared "services" list.
 *
 * A loaded configuration is immutable: the daemons hold a pointer to it and
 * a reload builds a new object and swaps the pointer, so a packet decision
 * never sees half of an old and half of a new configuration.
 *
 * Errors are reported as "FILE:LINE: SETTING: what is wrong" and the whole
 * file is refused: unknown settings are errors too, so a typo never turns
 * into a silently ignored default.
 */
#ifndef WLB_CONF_H
#define WLB_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tag.h"

#define WLB_CONF_MAX_PORTS 32
#define WLB_CONF_MAX_WORKERS 8
#define WLB_CONF_MAX_REPLICAS 64

/* What a daemon requires to be present (its own section). */
enum wlb_conf_need {
	WLB_NEED_CLIENTGW = 1,
	WLB_NEED_REDIRECTOR = 2,
	WLB_NEED_REPLICAD = 4,
};

enum wlb_replica_state {
	WLB_REPLICA_ACTIVE = 0,
	WLB_REPLICA_DRAINING, /* answers no new SYN; existing connections go on */
	WLB_REPLICA_DISABLED,
};

/* Inclusive range of IPv4 addresses in host byte order. */
struct wlb_range {
	uint32_t lo, hi;
};

/* Sorted, merged, disjoint ranges: membership is a binary search. */
struct wlb_ranges {
	struct wlb_range *v;
	unsigned n;
};

struct wlb_service {
	uint32_t origin;		    /* network byte order */
	uint16_t ports[WLB_CONF_MAX_PORTS]; /* host byte order */
	unsigned n_ports;
	bool replicable;
	enum wlb_mode mode;
	uint32_t replicas[WLB_CONF_MAX_REPLICAS]; /* network byte order */
	unsigned n_replicas;
	unsigned line; /* where it was defined, for messages */
};

struct wlb_clientgw_conf {
	bool present;
	uint16_t queue;
	uint8_t workers;	      /* queues queue .. queue + workers - 1, one process each */
	uint8_t web_ports[65536 / 8]; /* bitmap, host-order port numbers */
	struct wlb_ranges include;    /* destinations whose SYNs are tagged */
	struct wlb_ranges exclude;    /* ... minus these */
	uint32_t flows;		      /* flow table capacity */
	uint32_t half_open_ms;	      /* SYN seen, no winner yet */
	uint32_t idle_ms;	      /* decided connection without traffic */
	uint32_t linger_ms;	      /* after FIN or RST */
	uint32_t rst_mark;	      /* SO_MARK of the RSTs it sends, never 0 */
	enum wlb_mode mode;	      /* for destinations not listed in services */
	uint16_t tunnel_mtu;	      /* configuration C: MTU the tunnel must fit */
};

struct wlb_redirector_conf {
	bool present;
	uint16_t queue;
	uint8_t workers;  /* queues queue .. queue + workers - 1, one process each */
	uint32_t address; /* outer source of the copies, network order */
	uint8_t ttl;	  /* outer TTL */
};

struct wlb_replicad_conf {
	bool present;
	uint16_t queue;
	uint8_t workers;	  /* queues queue .. queue + workers - 1, one process each */
	uint32_t service_address; /* network order: where the local server listens */
	uint32_t redirectors[WLB_CONF_MAX_REPLICAS]; /* sorted, network order */
	unsigned n_redirectors;
	enum wlb_replica_state state;
	uint32_t max_established; /* 0: no limit */
	double max_load1;	  /* 0: no limit */
	uint32_t flows;		  /* capacity of the SYN -> nonce table */
	uint32_t flow_timeout_ms; /* how long a nonce waits for its SYN-ACK */
	uint32_t idle_ms;	  /* configurations B and C: connection idle timeout */
	uint32_t linger_ms;	  /* ... and after FIN both ways or RST */
	uint16_t tunnel_mtu;	  /* configuration C: MTU the tunnel must fit */
	uint8_t configurations;	  /* served: bit 1 << enum wlb_mode for each */
};

/* Whether the replica serves configuration m (replicad.configurations). */
static inline bool wlb_replicad_serves(const struct wlb_replicad_conf *r, enum wlb_mode m)
{
	return (unsigned)m < 8 && (r->configurations >> m) & 1;
}

struct wlb_conf {
	char *file;
	uint32_t queue_maxlen;	      /* nfqueue.queue_maxlen */
	uint32_t rcvbuf;	      /* nfqueue.rcvbuf, bytes */
	struct wlb_service *services; /* sorted by origin address */
	unsigned n_services;
	struct wlb_clientgw_conf clientgw;
	struct wlb_redirector_conf redirector;
	struct wlb_replicad_conf replicad;
};

/* Load and validate.  On error returns NULL and writes one line
 * "FILE:LINE: SETTING: message" into err. */
struct wlb_conf *wlb_conf_load(const char *path, unsigned need, char *err, size_t errlen);
/* The same from a string; name stands for the file name in messages. */
struct wlb_conf *wlb_conf_load_string(const char *text, const char *name, unsigned need, char *err,
				      size_t errlen);
void wlb_conf_free(struct wlb_conf *c);

/* Lookups used on the packet path: O(log n), no allocation.
 * Addresses and ports are in network byte order. */
const struct wlb_service *wlb_conf_find_service(const struct wlb_conf *c, uint32_t origin,
						uint16_t port);
bool wlb_conf_is_web_port(const struct wlb_conf *c, uint16_t port);
bool wlb_conf_dst_included(const struct wlb_conf *c, uint32_t addr);
bool wlb_conf_is_redirector(const struct wlb_conf *c, uint32_t addr);
bool wlb_ranges_contain(const struct wlb_ranges *r, uint32_t host_addr);

/* Whether the client gateway may see connections in configuration m: its
 * default, or a listed service's. */
bool wlb_conf_clientgw_uses(const struct wlb_conf *c, enum wlb_mode m);

const char *wlb_mode_name(enum wlb_mode m);
const char *wlb_replica_state_name(enum wlb_replica_state s);

#endif
