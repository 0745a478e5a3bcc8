/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NFQUEUE loop on libnetfilter_queue's libmnl-based API (nfq_nlmsg_*).
 *
 * The queue is bound in copy-packet mode with fail-open, a raised queue
 * length and a forced receive buffer.  Every packet handed to the handler
 * gets a verdict, accept when the handler fails to decide; runs of plain
 * accepts are sent as one NFQNL_MSG_VERDICT_BATCH, and all verdicts of one
 * receive round leave in a single sendmsg.
 */
#ifndef WLB_NFQ_H
#define WLB_NFQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wlb_verdict {
	WLB_ACCEPT = 0, /* unchanged */
	WLB_DROP,
	WLB_MANGLE, /* accept with the payload replaced by out/out_len */
	WLB_HOLD,   /* no verdict now: the owner calls wlb_nfq_verdict() later */
};

struct wlb_nfq_pkt {
	uint32_t id;
	uint8_t hook; /* NF_INET_* */
	uint32_t mark;
	uint32_t indev, outdev;
	uint8_t *data; /* the payload, inside the receive buffer: may be edited in place */
	uint32_t len;
	bool csum_not_ready; /* only with gso: checksum left to the device */
	bool gso;	     /* larger than the MTU, segmented later */
	bool truncated;	     /* the kernel copied less than the packet (copy_range):
			      * such a packet must not be mangled */
};

/* The largest packet a verdict can carry: the payload attribute's 16-bit
 * length counts its own 4-byte header, and a longer one would wrap (the
 * kernel would then take the original packet). */
#define WLB_NFQ_MAX_PAYLOAD (0xffff - 4)

struct wlb_nfq_result {
	enum wlb_verdict verdict;
	const uint8_t *out; /* WLB_MANGLE: the new packet */
	uint32_t out_len;
};

typedef void (*wlb_nfq_handler)(void *ctx, struct wlb_nfq_pkt *pkt, struct wlb_nfq_result *res);

struct wlb_nfq_opts {
	uint16_t queue;
	uint32_t maxlen;     /* kernel queue length (default 1024 is too short) */
	uint32_t rcvbuf;     /* SO_RCVBUFFORCE bytes */
	bool gso;	     /* NFQA_CFG_F_GSO: only for queues that never mangle */
	bool no_batch;	     /* the owner holds packets: never batch verdicts */
	uint32_t copy_range; /* 0: whole packet */
};

struct wlb_nfq_stats {
	uint64_t packets;
	uint64_t enobufs;  /* receive buffer overruns survived */
	uint64_t bad_msgs; /* messages we could not parse: accepted */
	uint64_t verdicts; /* verdict messages sent */
	uint64_t batches;  /* of which batch verdicts */
	uint64_t send_errors;
	uint64_t verdict_errors; /* the kernel refused a verdict */
	uint64_t too_big;	 /* mangled packets beyond WLB_NFQ_MAX_PAYLOAD: dropped */
};

/* Counters the kernel keeps per queue (/proc/net/netfilter/nfnetlink_queue). */
struct wlb_nfq_kstats {
	uint64_t queue_total;
	uint64_t queue_dropped; /* queue full (with fail-open: accepted instead) */
	uint64_t user_dropped;	/* could not be delivered to us */
	uint64_t id_sequence;
};

struct wlb_nfq;

struct wlb_nfq *wlb_nfq_open(const struct wlb_nfq_opts *o, char *err, size_t errlen);
void wlb_nfq_close(struct wlb_nfq *q);
int wlb_nfq_fd(const struct wlb_nfq *q);
/* Read what is ready (non-blocking, up to budget messages) and answer it.
 * Returns packets handled, or -1 on a fatal socket error (errno set). */
int wlb_nfq_receive(struct wlb_nfq *q, wlb_nfq_handler fn, void *ctx, unsigned budget);
/* A verdict for a held packet; batch = every held id <= id. */
int wlb_nfq_verdict(struct wlb_nfq *q, uint32_t id, bool accept, bool batch);
const struct wlb_nfq_stats *wlb_nfq_stats(const struct wlb_nfq *q);
int wlb_nfq_kstats(uint16_t queue, struct wlb_nfq_kstats *ks);

#endif
