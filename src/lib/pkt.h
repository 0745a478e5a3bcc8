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
#include <endian.h>

#define WLB_IP_MINHDR 20
#define WLB_ECN_CE 0x03 /* the ECN field (RFC 3168), all ones: CE */
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

/* The general parser behind wlb_pkt_parse() below: same contract. */
int wlb_pkt_parse_any(struct wlb_pkt *p, uint8_t *data, size_t len, size_t cap);

/*
 * Parse the IPv4 header, and the TCP header when proto is TCP. Returns a
 * wlb_pkt_err.  WLB_PKT_NOT_TCP and WLB_PKT_FRAGMENT still leave ihl/proto
 * valid, so callers can pass such packets on unchanged.
 *
 * Nearly every packet is an unfragmented TCP segment with a 20-byte IP
 * header and no TCP options, or exactly NOP, NOP, timestamps (most
 * segments of an established Linux connection, RFC 7323 appendix A; those
 * with SACK blocks take the general parser).  Such
 * a packet is recognised here, inline, by the checks below alone; they are
 * the general parser's checks with the IHL fixed at 5, so whatever they
 * turn away goes to wlb_pkt_parse_any(), which finds the same answer or
 * the error.  (A buffer for a 40-byte segment is best given room for
 * options: the compiler cannot see that the option bytes are read only
 * when totlen says they are there, and warns.)
 */
static inline int wlb_pkt_parse(struct wlb_pkt *p, uint8_t *data, size_t len, size_t cap)
{
	const uint8_t *tcp = data + WLB_IP_MINHDR;
	unsigned totlen, thl;
	uint16_t frag;
	uint32_t opt;

	if (len < WLB_IP_MINHDR + WLB_TCP_MINHDR || data[0] != 0x45 || data[9] != WLB_IPPROTO_TCP)
		return wlb_pkt_parse_any(p, data, len, cap);
	memcpy(&frag, data + 6, 2);
	totlen = (unsigned)data[2] << 8 | data[3];
	thl = (tcp[12] & 0xf0u) >> 2; /* data offset, in bytes */
	if ((frag & htobe16(0x3fff)) || totlen > len || totlen < WLB_IP_MINHDR + thl)
		return wlb_pkt_parse_any(p, data, len, cap);
	if (thl != WLB_TCP_MINHDR) {
		if (thl != WLB_TCP_MINHDR + 12)
			return wlb_pkt_parse_any(p, data, len, cap);
		memcpy(&opt, tcp + WLB_TCP_MINHDR, 4);
		if (opt != htobe32(0x0101080a))
			return wlb_pkt_parse_any(p, data, len, cap);
	}
	p->data = data;
	p->len = totlen;
	p->cap = cap < len ? len : cap;
	p->ihl = WLB_IP_MINHDR;
	p->thl = (uint16_t)thl;
	p->proto = WLB_IPPROTO_TCP;
	p->flags = tcp[13];
	p->frag = false;
	return WLB_PKT_OK;
}

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
/* A 32-bit one's complement addition: the carry out comes back in. */
static inline uint32_t wlb_csum32_add(uint32_t a, uint32_t b)
{
	a += b;
	return a + (a < b);
}

/* Fold any 32-bit sum to 16 bits and complement it.  Adding the sum to
 * itself rotated by 16 leaves in the top half both halves' end-around
 * carry sum (the kernel's csum_fold()). */
static inline uint16_t wlb_csum_fold(uint32_t sum)
{
	return (uint16_t)(~(sum + (sum >> 16 | sum << 16)) >> 16);
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
/* Add an RFC 1624 difference (~m + m', any 32-bit one's complement sum)
 * to a stored checksum. */
static inline void wlb_csum_apply(uint8_t *check, uint32_t diff)
{
	uint16_t c;

	memcpy(&c, check, 2);
	c = wlb_csum_fold(wlb_csum32_add((uint16_t)~c, diff));
	memcpy(check, &c, 2);
}

/* Inline, as the one edit of every translated packet.  One difference
 * serves both checksums: TCP's covers the address through the
 * pseudo-header.  A 32-bit word's one's complement is its negation in
 * 32-bit one's complement arithmetic as in 16-bit, so ~old + new is the
 * difference whole. */
static inline void wlb_pkt_set_addr_at(struct wlb_pkt *p, unsigned off, uint32_t addr)
{
	uint32_t old, diff;

	memcpy(&old, p->data + off, 4);
	diff = wlb_csum32_add(~old, addr);
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
/* Write into out an outer header (src -> dst, protocol 4, TOS, ECN, ID and
 * DF copied from the inner header, given TTL) followed by the inner packet;
 * out may be the inner packet's own buffer.  Returns the total length, or 0
 * when out is too small or the result would exceed 65535 bytes. */
size_t wlb_ipip_encap(const struct wlb_pkt *inner, uint8_t *out, size_t cap, uint32_t src,
		      uint32_t dst, uint8_t ttl);
/* Parse p as an IP-in-IP packet: on success inner describes the packet
 * carried inside (pointing into p's buffer), marked CE when the outer
 * header is and the inner one is ECN-capable (RFC 6040), and WLB_PKT_OK is
 * returned. */
int wlb_ipip_decap(const struct wlb_pkt *p, struct wlb_pkt *inner);

/* --- RST --- */
/* Craft the RST that answers seg as its receiver would (RFC 9293 3.10.7):
 * if seg has ACK, <SEQ=SEG.ACK><CTL=RST>; else <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
 * <CTL=RST,ACK>.  Addresses and ports are swapped.  Returns the length (40)
 * or 0 when out is too small or seg is itself a RST. */
size_t wlb_rst_craft(const struct wlb_pkt *seg, uint8_t *out, size_t cap);

#endif
