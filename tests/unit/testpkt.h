/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Packet crafting for unit tests: build IPv4/TCP packets with valid checksums. */
#ifndef WLB_TESTPKT_H
#define WLB_TESTPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

struct tp_opts {
	const char *src, *dst; /* dotted quads */
	uint16_t sport, dport; /* host order */
	uint8_t flags;
	uint32_t seq, ack;
	const uint8_t *opts; /* TCP options, padded by the caller to a multiple of 4 */
	unsigned optlen;
	const uint8_t *payload;
	size_t paylen;
	const uint8_t *ipopts; /* IP options, multiple of 4 */
	unsigned ipoptlen;
	bool df;
};

/* Options of a typical Linux SYN: MSS 1460, SACK-permitted, timestamps, WS 7. */
extern const uint8_t tp_linux_syn_opts[20];

uint32_t tp_addr(const char *dotted); /* network order */
uint16_t tp_port(uint16_t host);      /* network order */
/* Build into buf (cap bytes); returns the length. */
size_t tp_build(uint8_t *buf, size_t cap, const struct tp_opts *o);
/* Parse and assert success; returns the parsed view. */
struct wlb_pkt tp_parse(uint8_t *buf, size_t len, size_t cap);
/* A pseudo-random number generator with a fixed seed for reproducible tests. */
uint32_t tp_rand(void);
void tp_srand(uint32_t seed);

#endif
