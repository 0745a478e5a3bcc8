// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * IPv4/TCP codec.  Header fields are read and written through memcpy-free
 * byte accessors so that unaligned buffers (NFQUEUE payloads sit at any
 * offset in a netlink message) never trap and UBSan stays quiet.
 */
#include <string.h>
#include <arpa/inet.h>

#include "pkt.h"

static const char *const pkt_errors[WLB_PKT_ERR_MAX] = {
	[WLB_PKT_OK] = "ok",
	[WLB_PKT_TRUNCATED] = "truncated",
	[WLB_PKT_BAD_VERSION] = "not IPv4",
	[WLB_PKT_BAD_IHL] = "bad IP header length",
	[WLB_PKT_BAD_TOTLEN] = "bad IP total length",
	[WLB_PKT_BAD_IPOPT] = "malformed IP options",
	[WLB_PKT_FRAGMENT] = "fragment",
	[WLB_PKT_NOT_TCP] = "not TCP",
	[WLB_PKT_BAD_DOFF] = "bad TCP data offset",
	[WLB_PKT_BAD_TCPOPT] = "malformed TCP options",
	[WLB_PKT_NOSPACE] = "no room",
};

const char *wlb_pkt_strerror(int err)
{
	if (err < 0 || err >= WLB_PKT_ERR_MAX)
		return "unknown";
	return pkt_errors[err];
}

static inline uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline void put16(uint8_t *b, uint16_t v)
{
	b[0] = v >> 8;
	b[1] = v & 0xff;
}

static inline uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline void put32(uint8_t *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b + 2, v & 0xffff);
}

static inline uint16_t raw16(const uint8_t *b)
{
	uint16_t v;

	memcpy(&v, b, 2);
	return v;
}

/* ---------------------------------------------------------------- checksums */

uint32_t wlb_csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += raw16(b + i);
	if (len & 1) {
		uint16_t last = 0;

		memcpy(&last, b + len - 1, 1);
		s += last;
	}
	while (s >> 32)
		s = (s & 0xffffffff) + (s >> 32);
	return (uint32_t)s;
}

/*
 * RFC 1624 eqn. 3 on memory-order 16-bit words: the one's complement sum is
 * byte-order independent as long as every term is taken the same way.
 */
void wlb_csum_replace2(uint8_t *check, uint16_t old, uint16_t new)
{
	wlb_csum_apply(check, (uint32_t)(uint16_t)~old + new);
}

uint16_t wlb_ip_csum_compute(const struct wlb_pkt *p)
{
	uint8_t hdr[60];

	memcpy(hdr, p->data, p->ihl);
	hdr[10] = hdr[11] = 0;
	return wlb_csum_fold(wlb_csum_add(0, hdr, p->ihl));
}

static uint32_t pseudo_sum(const struct wlb_pkt *p, size_t l4len)
{
	uint8_t ph[12];

	memcpy(ph, p->data + 12, 8);
	ph[8] = 0;
	ph[9] = p->proto;
	put16(ph + 10, (uint16_t)l4len);
	return wlb_csum_add(0, ph, sizeof(ph));
}

uint16_t wlb_tcp_csum_compute(const struct wlb_pkt *p)
{
	const uint8_t *tcp = p->data + p->ihl;
	size_t l4len = p->len - p->ihl;
	uint32_t sum = pseudo_sum(p, l4len);

	sum = wlb_csum_add(sum, tcp, 16);
	/* skip the checksum field itself (bytes 16-17) */
	sum = wlb_csum_add(sum, tcp + 18, l4len - 18);
	return wlb_csum_fold(sum);
}

void wlb_pkt_csum_fill(struct wlb_pkt *p)
{
	uint16_t c = wlb_ip_csum_compute(p);

	memcpy(p->data + 10, &c, 2);
	if (p->thl) {
		c = wlb_tcp_csum_compute(p);
		memcpy(p->data + p->ihl + 16, &c, 2);
	}
}

bool wlb_pkt_csum_ok(const struct wlb_pkt *p)
{
	if (wlb_ip_csum_compute(p) != raw16(p->data + 10))
		return false;
	if (p->thl && wlb_tcp_csum_compute(p) != raw16(p->data + p->ihl + 16))
		return false;
	return true;
}

/* ------------------------------------------------------------------ parsing */

/* Walk an option list of either protocol: single-byte EOL and NOP, every
 * other option has a length byte >= 2 that must stay inside the list. */
static bool options_wellformed(const uint8_t *opt, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (opt[i] == 0)
			return true;
		if (opt[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
			return false;
		i += opt[i + 1];
	}
	return true;
}

static int ip_parse(struct wlb_pkt *p)
{
	const uint8_t *d = p->data;
	uint16_t totlen;

	if (p->len < WLB_IP_MINHDR)
		return WLB_PKT_TRUNCATED;
	if (d[0] >> 4 != 4)
		return WLB_PKT_BAD_VERSION;
	p->ihl = (d[0] & 0x0f) * 4;
	if (p->ihl < WLB_IP_MINHDR || p->ihl > p->len)
		return WLB_PKT_BAD_IHL;
	totlen = get16(d + 2);
	if (totlen < p->ihl)
		return WLB_PKT_BAD_TOTLEN;
	if (totlen > p->len)
		return WLB_PKT_TRUNCATED;
	/* link-layer padding beyond the IP datagram is not ours to keep */
	p->len = totlen;
	if (p->ihl > WLB_IP_MINHDR &&
	    !options_wellformed(d + WLB_IP_MINHDR, p->ihl - WLB_IP_MINHDR))
		return WLB_PKT_BAD_IPOPT;
	p->proto = d[9];
	p->frag = (get16(d + 6) & 0x3fff) != 0; /* MF or a non-zero offset */
	return WLB_PKT_OK;
}

static int tcp_parse(struct wlb_pkt *p)
{
	const uint8_t *tcp = p->data + p->ihl;
	size_t l4len = p->len - p->ihl;
	unsigned thl;

	if (l4len < WLB_TCP_MINHDR)
		return WLB_PKT_TRUNCATED;
	thl = (tcp[12] >> 4) * 4u;
	if (thl < WLB_TCP_MINHDR || thl > l4len)
		return WLB_PKT_BAD_DOFF;
	p->flags = tcp[13];
	if (!options_wellformed(tcp + WLB_TCP_MINHDR, thl - WLB_TCP_MINHDR))
		return WLB_PKT_BAD_TCPOPT;
	/* set last: thl != 0 promises a TCP header that can be trusted */
	p->thl = (uint16_t)thl;
	return WLB_PKT_OK;
}

int wlb_pkt_parse_any(struct wlb_pkt *p, uint8_t *data, size_t len, size_t cap)
{
	int err;

	/* field by field: zeroing the whole struct first costs more */
	p->data = data;
	p->len = len;
	p->cap = cap < len ? len : cap;
	p->ihl = 0;
	p->thl = 0;
	p->proto = 0;
	p->flags = 0;
	p->frag = false;
	err = ip_parse(p);
	if (err)
		return err;
	if (p->frag)
		return WLB_PKT_FRAGMENT;
	if (p->proto != WLB_IPPROTO_TCP)
		return WLB_PKT_NOT_TCP;
	return tcp_parse(p);
}

uint32_t wlb_tcp_seq(const struct wlb_pkt *p)
{
	return get32(wlb_tcp_hdr(p) + 4);
}

uint32_t wlb_tcp_ack(const struct wlb_pkt *p)
{
	return get32(wlb_tcp_hdr(p) + 8);
}

/* ----------------------------------------------------------------- rewrites */

static void set_port(struct wlb_pkt *p, unsigned off, uint16_t port)
{
	uint8_t *tcp = wlb_tcp_hdr(p);
	uint16_t old = raw16(tcp + off);

	memcpy(tcp + off, &port, 2);
	wlb_csum_replace2(tcp + 16, old, port);
}

void wlb_pkt_set_sport(struct wlb_pkt *p, uint16_t port)
{
	set_port(p, 0, port);
}

void wlb_pkt_set_dport(struct wlb_pkt *p, uint16_t port)
{
	set_port(p, 2, port);
}

/* ------------------------------------------------------------- TCP options */

int wlb_tcp_opt_find(const struct wlb_pkt *p, uint8_t kind, unsigned *off, unsigned *olen)
{
	const uint8_t *tcp = wlb_tcp_hdr(p);
	unsigned i = WLB_TCP_MINHDR;

	/* the list was validated by the parser, so lengths stay in bounds */
	while (i < p->thl) {
		if (tcp[i] == WLB_TCPOPT_EOL)
			return 0;
		if (tcp[i] == WLB_TCPOPT_NOP) {
			i++;
			continue;
		}
		if (tcp[i] == kind) {
			*off = i;
			*olen = tcp[i + 1];
			return 1;
		}
		i += tcp[i + 1];
	}
	return 0;
}

/* Bytes of the option list before any EOL: where a new option goes. */
static unsigned opt_used(const struct wlb_pkt *p)
{
	const uint8_t *tcp = wlb_tcp_hdr(p);
	unsigned i = WLB_TCP_MINHDR;

	while (i < p->thl) {
		if (tcp[i] == WLB_TCPOPT_EOL)
			break;
		i += tcp[i] == WLB_TCPOPT_NOP ? 1 : tcp[i + 1];
	}
	return i;
}

/* The 16-bit one's complement sum (not complemented) of a 32-bit accumulator. */
static uint16_t sum16(uint32_t acc)
{
	return (uint16_t)~wlb_csum_fold(acc);
}

/*
 * Insert: the region [used, thl) (EOL padding) is replaced by the new option
 * plus fresh padding, and the payload moves by the difference.  The checksum
 * is updated incrementally (RFC 1624 eqn. 3 with m = the old region, m' =
 * the new one): the payload keeps its 16-bit alignment (the shift is a
 * multiple of 4) so its sum is unchanged; only the region, the data-offset
 * word and the pseudo-header length change.
 */
int wlb_tcp_opt_append(struct wlb_pkt *p, const uint8_t *opt, unsigned len)
{
	uint8_t *tcp = wlb_tcp_hdr(p);
	unsigned used = opt_used(p);
	unsigned start = used & ~1u; /* sum whole words */
	unsigned need = (used + len + 3) & ~3u;
	/* never shrink the header: EOL padding beyond the new option stays */
	unsigned newthl = need > p->thl ? need : p->thl;
	unsigned grow = newthl - p->thl;
	size_t payload = wlb_tcp_payload_len(p);
	uint16_t oldw, oldlen, newlen, oldtot, newtot;
	uint32_t sum;

	if (newthl > WLB_TCP_MINHDR + WLB_TCP_MAXOPT || p->len + grow > p->cap ||
	    p->len + grow > 0xffff)
		return WLB_PKT_NOSPACE;
	sum = (uint16_t)~raw16(tcp + 16);
	sum += (uint16_t)~sum16(wlb_csum_add(0, tcp + start, p->thl - start));
	oldw = raw16(tcp + 12);
	oldlen = htons((uint16_t)(p->len - p->ihl));

	memmove(tcp + newthl, tcp + p->thl, payload);
	memcpy(tcp + used, opt, len);
	memset(tcp + used + len, WLB_TCPOPT_EOL, newthl - used - len);
	tcp[12] = (uint8_t)((newthl / 4) << 4 | (tcp[12] & 0x0f));
	p->thl = newthl;
	p->len += grow;
	newlen = htons((uint16_t)(p->len - p->ihl));

	sum += sum16(wlb_csum_add(0, tcp + start, newthl - start));
	sum += (uint16_t)~oldw;
	sum += raw16(tcp + 12);
	sum += (uint16_t)~oldlen;
	sum += newlen;
	uint16_t res = wlb_csum_fold(sum);

	memcpy(tcp + 16, &res, 2);
	oldtot = raw16(p->data + 2);
	newtot = htons((uint16_t)p->len);
	memcpy(p->data + 2, &newtot, 2);
	wlb_csum_replace2(p->data + 10, oldtot, newtot);
	return WLB_PKT_OK;
}

void wlb_tcp_opt_nop(struct wlb_pkt *p, unsigned off, unsigned len)
{
	uint8_t *tcp = wlb_tcp_hdr(p);
	/* the whole 16-bit words the option touches (the header length is a
	 * multiple of 4, so the span stays inside it) */
	unsigned start = off & ~1u, span = ((off + len + 1) & ~1u) - start;
	uint32_t sum = (uint16_t)~raw16(tcp + 16);
	uint16_t res;

	sum += (uint16_t)~sum16(wlb_csum_add(0, tcp + start, span));
	memset(tcp + off, WLB_TCPOPT_NOP, len);
	sum += sum16(wlb_csum_add(0, tcp + start, span));
	res = wlb_csum_fold(sum);
	memcpy(tcp + 16, &res, 2);
}

bool wlb_tcp_clamp_mss(struct wlb_pkt *p, uint16_t mss)
{
	unsigned off, olen;
	uint8_t *tcp = wlb_tcp_hdr(p);

	if (!wlb_tcp_opt_find(p, WLB_TCPOPT_MSS, &off, &olen) || olen != 4)
		return false;
	if (get16(tcp + off + 2) <= mss)
		return false;
	/* the MSS value may sit at an odd offset: update word by word */
	uint8_t val[2];

	put16(val, mss);
	for (unsigned i = 0; i < 2; i++) {
		unsigned at = off + 2 + i;
		unsigned w = at & ~1u;
		uint16_t old = raw16(tcp + w);

		tcp[at] = val[i];
		wlb_csum_replace2(tcp + 16, old, raw16(tcp + w));
	}
	return true;
}

/* ---------------------------------------------------------- IP-in-IP (RFC 2003) */

size_t wlb_ipip_encap(const struct wlb_pkt *inner, uint8_t *out, size_t cap, uint32_t src,
		      uint32_t dst, uint8_t ttl)
{
	size_t total = inner->len + WLB_IP_MINHDR;
	/* read from where the inner packet lands: out may be its buffer */
	const uint8_t *in = out + WLB_IP_MINHDR;

	if (total > cap || total > 0xffff)
		return 0;
	memmove(out + WLB_IP_MINHDR, inner->data, inner->len);
	memset(out, 0, WLB_IP_MINHDR);
	out[0] = 0x45;
	out[1] = in[1]; /* TOS and ECN copied (RFC 2003 3.1, RFC 6040 4.1) */
	put16(out + 2, (uint16_t)total);
	/* the inner ID: unique where the outer one may be fragmented
	 * (RFC 6864), and one more thing the tunnel need not invent */
	memcpy(out + 4, in + 4, 2);
	put16(out + 6, get16(in + 6) & 0x4000); /* DF copied */
	out[8] = ttl;
	out[9] = WLB_IPPROTO_IPIP;
	memcpy(out + 12, &src, 4);
	memcpy(out + 16, &dst, 4);
	uint16_t c = wlb_csum_fold(wlb_csum_add(0, out, WLB_IP_MINHDR));

	memcpy(out + 10, &c, 2);
	return total;
}

/*
 * RFC 6040 4.2: congestion met by the tunnel packet is the inner packet's
 * too, when its ends speak ECN; a Not-ECT inner packet is left as it is
 * (this encapsulation copies its ECN field, so only a broken hop marks such
 * a tunnel packet, and the data is worth more than the mark).
 */
static void ecn_decap(uint8_t outer_tos, struct wlb_pkt *inner)
{
	uint8_t *ip = inner->data;
	uint16_t old = raw16(ip);

	if ((outer_tos & WLB_ECN_CE) != WLB_ECN_CE || !(ip[1] & WLB_ECN_CE) ||
	    (ip[1] & WLB_ECN_CE) == WLB_ECN_CE)
		return;
	ip[1] |= WLB_ECN_CE;
	wlb_csum_replace2(ip + 10, old, raw16(ip));
}

int wlb_ipip_decap(const struct wlb_pkt *p, struct wlb_pkt *inner)
{
	int rc;

	if (p->proto != WLB_IPPROTO_IPIP || p->frag)
		return WLB_PKT_NOT_TCP;
	rc = wlb_pkt_parse(inner, p->data + p->ihl, p->len - p->ihl, p->cap - p->ihl);
	if (rc == WLB_PKT_OK)
		ecn_decap(p->data[1], inner);
	return rc;
}

/* --------------------------------------------------------------------- RST */

size_t wlb_rst_craft(const struct wlb_pkt *seg, uint8_t *out, size_t cap)
{
	const uint8_t *in = seg->data;
	const size_t len = WLB_IP_MINHDR + WLB_TCP_MINHDR;
	uint8_t *tcp = out + WLB_IP_MINHDR;
	struct wlb_pkt p;

	if (cap < len || !seg->thl || (seg->flags & WLB_TCP_RST))
		return 0;
	memset(out, 0, len);
	out[0] = 0x45;
	put16(out + 2, (uint16_t)len);
	put16(out + 6, 0x4000);
	out[8] = 64;
	out[9] = WLB_IPPROTO_TCP;
	memcpy(out + 12, in + 16, 4);
	memcpy(out + 16, in + 12, 4);
	memcpy(tcp, wlb_tcp_hdr(seg) + 2, 2);
	memcpy(tcp + 2, wlb_tcp_hdr(seg), 2);
	tcp[12] = 5 << 4;
	if (seg->flags & WLB_TCP_ACK) {
		put32(tcp + 4, wlb_tcp_ack(seg));
		tcp[13] = WLB_TCP_RST;
	} else {
		uint32_t seglen = (uint32_t)wlb_tcp_payload_len(seg) +
				  !!(seg->flags & WLB_TCP_SYN) + !!(seg->flags & WLB_TCP_FIN);

		put32(tcp + 8, wlb_tcp_seq(seg) + seglen);
		tcp[13] = WLB_TCP_RST | WLB_TCP_ACK;
	}
	wlb_pkt_parse(&p, out, len, len);
	wlb_pkt_csum_fill(&p);
	return len;
}
