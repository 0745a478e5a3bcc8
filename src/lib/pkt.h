/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IPv4/TCP packet codec: pure functions over a caller-owned byte buffer.
 *
 * Every read and write is bounds-checked against pkt->len (bytes of packet)
 * and pkt->cap (bytes the buffer can grow to).  Nothing here allocates or
 * touches the kernel, so unit tests drive it with crafted byte arrays.
 * All addresses and ports are in network byte order.
 */
#ifndef WLB_PKT_H
#define WLB_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WLB_IP_MINHDR 20
#define WLB_TCP_MINHDR 20
#define WLB_TCP_MAXOPT 40
#define WLB_IPPROTO_IPIP 4
#define WLB_IPPROTO_TCP 6

/* TCP flag bits as in byte 13 of the header */
#define WLB_TCP_FIN 0x01
#define WLB_TCP_SYN 0x02
#define WLB_TCP_RST 0x04
#define WLB_TCP_PSH 0x08
#define WLB_TCP_ACK 0x10

/* TCP option kinds used here */
#define WLB_TCPOPT_EOL 0
#define WLB_TCPOPT_NOP 1
#define WLB_TCPOPT_MSS 2

enum wlb_pkt_err {
	WLB_PKT_OK = 0,
	WLB_PKT_TRUNCATED,   /* shorter than a header or than IP total length */
	WLB_PKT_BAD_VERSION, /* not IPv4 */
	WLB_PKT_BAD_IHL,     /* IHL < 5 or beyond the packet */
	WLB_PKT_BAD_TOTLEN,  /* total length < IHL */
	WLB_PKT_BAD_IPOPT,   /* IP option list malformed */
	WLB_PKT_FRAGMENT,    /* a fragment: no transport header to trust */
	WLB_PKT_NOT_TCP,     /* well-formed IPv4, but not TCP */
	WLB_PKT_BAD_DOFF,    /* TCP data offset < 5 or beyond the packet */
	WLB_PKT_BAD_TCPOPT,  /* TCP option list malformed */
	WLB_PKT_NOSPACE,     /* an edit needs more option room or buffer capacity */
	WLB_PKT_ERR_MAX
};

struct wlb_pkt {
	uint8_t *data; /* first byte of the IPv4 header */
	size_t len;    /* packet bytes; parse trims it to the IP total length */
	size_t cap;    /* buffer size: edits may grow len up to cap */
	/* filled by wlb_pkt_parse() */
	uint16_t ihl; /* IP header bytes */
	uint16_t thl; /* TCP header bytes (0 when not TCP) */
	uint8_t proto;
	uint8_t flags; /* TCP flags */
	bool frag;
};

const char *wlb_pkt_strerror(int err);

/* Parse the IPv4 header, and the TCP header when proto is TCP. Returns a
 * wlb_pkt_err.  WLB_PKT_NOT_TCP and WLB_PKT_FRAGMENT still leave ihl/proto
 * valid, so callers can pass such packets on unchanged. */
int wlb_pkt_parse(struct wlb_pkt *p, uint8_t *data, size_t len, size_t cap);

/* Accessors; only valid after a successful parse (of TCP where named tcp). */
uint32_t wlb_tcp_seq(const struct wlb_pkt *p); /* host order */
uint32_t wlb_tcp_ack(const struct wlb_pkt *p); /* host order */

/* The per-packet accessors are inline: every decision reads them several
 * times.  Raw loads through memcpy, since the buffer may be unaligned. */
static inline uint32_t wlb_ip_saddr(const struct wlb_pkt *p)
{
	uint32_t v;

	memcpy(&v, p->data + 12, 4);
	return v;
}

static inline uint32_t wlb_ip_daddr(const struct wlb_pkt *p)
{
	uint32_t v;

	memcpy(&v, p->data + 16, 4);
	return v;
}

static inline uint8_t *wlb_tcp_hdr(const struct wlb_pkt *p)
{
	return p->data + p->ihl;
}

static inline uint16_t wlb_tcp_sport(const struct wlb_pkt *p)
{
	uint16_t v;

	memcpy(&v, p->data + p->ihl, 2);
	return v;
}

static inline uint16_t wlb_tcp_dport(const struct wlb_pkt *p)
{
	uint16_t v;

	memcpy(&v, p->data + p->ihl + 2, 2);
	return v;
}

static inline size_t wlb_tcp_payload_len(const struct wlb_pkt *p)
{
	return p->len - p->ihl - p->thl;
}

static inline bool wlb_tcp_is_syn(const struct wlb_pkt *p)
{
	return (p->flags & (WLB_TCP_SYN | WLB_TCP_ACK | WLB_TCP_RST)) == WLB_TCP_SYN;
}

static inline bool wlb_tcp_is_synack(const struct wlb_pkt *p)
{
	return (p->flags & (WLB_TCP_SYN | WLB_TCP_ACK | WLB_TCP_RST)) ==
	       (WLB_TCP_SYN | WLB_TCP_ACK);
}

/* --- checksums (RFC 1071 sums, RFC 1624 incremental updates) --- */
uint32_t wlb_csum_add(uint32_t sum, const void *buf, size_t len);
/* Two end-around carries fold any 32-bit sum: the first leaves at most
 * 0x1fffe, the second at most 0xffff.  Returns the complement. */
static inline uint16_t wlb_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum += sum >> 16;
	return (uint16_t)~sum;
}

/* Update a stored checksum field for a 16-bit field changing old -> new
 * (values as they sit in memory). RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m');
 * addresses go through wlb_pkt_set_saddr/daddr below. */
void wlb_csum_replace2(uint8_t *check, uint16_t old, uint16_t new);
/* Full recomputation, used by crafting code and by tests to check the
 * incremental updates. */
uint16_t wlb_ip_csum_compute(const struct wlb_pkt *p);
uint16_t wlb_tcp_csum_compute(const struct wlb_pkt *p);
void wlb_pkt_csum_fill(struct wlb_pkt *p);
bool wlb_pkt_csum_ok(const struct wlb_pkt *p);

/* --- rewrites, each fixing both checksums incrementally --- */
/* Add an RFC 1624 difference (~m + m', unfolded) to a stored checksum. */
static inline void wlb_csum_apply(uint8_t *check, uint32_t diff)
{
	uint16_t c;

	memcpy(&c, check, 2);
	c = wlb_csum_fold(diff + (uint16_t)~c);
	memcpy(check, &c, 2);
}

/* Inline, as the one edit of every translated packet.  One difference
 * serves both checksums: TCP's covers the address through the
 * pseudo-header. */
static inline void wlb_pkt_set_addr_at(struct wlb_pkt *p, unsigned off, uint32_t addr)
{
	uint32_t old, diff;

	memcpy(&old, p->data + off, 4);
	diff = (uint32_t)(uint16_t)~old + (uint16_t) ~(old >> 16) + (addr & 0xffff) + (addr >> 16);
	memcpy(p->data + off, &addr, 4);
	wlb_csum_apply(p->data + 10, diff);
	if (p->thl)
		wlb_csum_apply(p->data + p->ihl + 16, diff);
}

static inline void wlb_pkt_set_saddr(struct wlb_pkt *p, uint32_t addr)
{
	wlb_pkt_set_addr_at(p, 12, addr);
}

static inline void wlb_pkt_set_daddr(struct wlb_pkt *p, uint32_t addr)
{
	wlb_pkt_set_addr_at(p, 16, addr);
}

void wlb_pkt_set_sport(struct wlb_pkt *p, uint16_t port);
void wlb_pkt_set_dport(struct wlb_pkt *p, uint16_t port);

/* --- TCP options --- */
/* Find the first option of this kind; on success *off is its offset from
 * the TCP header start and *olen its length.  Returns 1 found, 0 absent. */
int wlb_tcp_opt_find(const struct wlb_pkt *p, uint8_t kind, unsigned *off, unsigned *olen);
/* Append an option (len bytes, a multiple of 4 after the caller's NOP
 * padding) to the option list, moving any payload, growing the TCP header,
 * the IP total length and fixing both checksums.  WLB_PKT_NOSPACE when the
 * 40 option bytes or the buffer capacity do not allow it. */
int wlb_tcp_opt_append(struct wlb_pkt *p, const uint8_t *opt, unsigned len);
/* Overwrite an option (offset/len from wlb_tcp_opt_find) with NOPs. */
void wlb_tcp_opt_nop(struct wlb_pkt *p, unsigned off, unsigned len);
/* Lower the MSS option to at most mss; returns true when changed. */
bool wlb_tcp_clamp_mss(struct wlb_pkt *p, uint16_t mss);

/* --- IPv4-in-IPv4 (RFC 2003) --- */
/* Write into out an outer header (src -> dst, protocol 4, TOS and DF copied
 * from the inner header, given TTL) followed by the inner packet.  Returns
 * the total length, or 0 when out is too small or the result would exceed
 * 65535 bytes. */
size_t wlb_ipip_encap(const struct wlb_pkt *inner, uint8_t *out, size_t cap, uint32_t src,
		      uint32_t dst, uint8_t ttl);
/* Parse p as an IP-in-IP packet: on success inner describes the packet
 * carried inside (pointing into p's buffer) and WLB_PKT_OK is returned. */
int wlb_ipip_decap(const struct wlb_pkt *p, struct wlb_pkt *inner);

/* --- RST --- */
/* Craft the RST that answers seg as its receiver would (RFC 9293 3.10.7):
 * if seg has ACK, <SEQ=SEG.ACK><CTL=RST>; else <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
 * <CTL=RST,ACK>.  Addresses and ports are swapped.  Returns the length (40)
 * or 0 when out is too small or seg is itself a RST. */
size_t wlb_rst_craft(const struct wlb_pkt *seg, uint8_t *out, size_t cap);

#endif
