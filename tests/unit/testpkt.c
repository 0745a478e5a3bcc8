// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "testpkt.h"

const uint8_t tp_linux_syn_opts[20] = {
	2, 4,  0x05, 0xb4,		     /* MSS 1460 */
	4, 2,				     /* SACK permitted */
	8, 10, 0,    0,	   0, 1, 0, 0, 0, 0, /* timestamps */
	1, 3,  3,    7,			     /* NOP, window scale 7 */
};

uint32_t tp_addr(const char *dotted)
{
	struct in_addr a;

	if (inet_pton(AF_INET, dotted, &a) != 1)
		abort();
	return a.s_addr;
}

uint16_t tp_port(uint16_t host)
{
	return htons(host);
}

static uint32_t rng = 12345;

void tp_srand(uint32_t seed)
{
	rng = seed ? seed : 1;
}

uint32_t tp_rand(void)
{
	/* xorshift32 */
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

size_t tp_build(uint8_t *buf, size_t cap, const struct tp_opts *o)
{
	size_t ihl = 20 + o->ipoptlen, thl = 20 + o->optlen;
	size_t len = ihl + thl + o->paylen;
	uint8_t *tcp = buf + ihl;
	uint32_t a;
	uint16_t v;
	struct wlb_pkt p;

	if (len > cap)
		abort();
	memset(buf, 0, len);
	buf[0] = (uint8_t)(0x40 | ihl / 4);
	v = htons((uint16_t)len);
	memcpy(buf + 2, &v, 2);
	v = htons(o->df ? 0x4000 : 0);
	memcpy(buf + 6, &v, 2);
	buf[8] = 64;
	buf[9] = 6;
	a = tp_addr(o->src ? o->src : "192.0.2.2");
	memcpy(buf + 12, &a, 4);
	a = tp_addr(o->dst ? o->dst : "203.0.113.10");
	memcpy(buf + 16, &a, 4);
	if (o->ipoptlen)
		memcpy(buf + 20, o->ipopts, o->ipoptlen);
	v = htons(o->sport);
	memcpy(tcp, &v, 2);
	v = htons(o->dport);
	memcpy(tcp + 2, &v, 2);
	a = htonl(o->seq);
	memcpy(tcp + 4, &a, 4);
	a = htonl(o->ack);
	memcpy(tcp + 8, &a, 4);
	tcp[12] = (uint8_t)(thl / 4 << 4);
	tcp[13] = o->flags;
	tcp[14] = 0xff;
	tcp[15] = 0xff;
	if (o->optlen)
		memcpy(tcp + 20, o->opts, o->optlen);
	if (o->paylen)
		memcpy(tcp + thl, o->payload, o->paylen);
	if (wlb_pkt_parse(&p, buf, len, cap) != WLB_PKT_OK)
		abort();
	wlb_pkt_csum_fill(&p);
	return len;
}

struct wlb_pkt tp_parse(uint8_t *buf, size_t len, size_t cap)
{
	struct wlb_pkt p;

	if (wlb_pkt_parse(&p, buf, len, cap) != WLB_PKT_OK)
		abort();
	return p;
}
