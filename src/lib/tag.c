// SPDX-License-Identifier: GPL-2.0-or-later
#include <string.h>

#include "tag.h"

/*
 * RFC 6994: several experiments share kind 253 and tell themselves apart by
 * the 16-bit ExID that follows the length, so an option of kind 253 with
 * another ExID is somebody else's and simply not a tag.
 */
static bool is_ours(const uint8_t *o, unsigned olen)
{
	return olen >= 4 && o[2] == (WLB_TAG_EXID >> 8) && o[3] == (WLB_TAG_EXID & 0xff);
}

int wlb_tag_find(const struct wlb_pkt *p, struct wlb_tag *tag)
{
	const uint8_t *tcp = wlb_tcp_hdr(p);
	unsigned i = WLB_TCP_MINHDR;

	/* walk every option: a SYN may carry other kind-253 experiments first */
	while (i < p->thl) {
		const uint8_t *o = tcp + i;

		if (o[0] == WLB_TCPOPT_EOL)
			return 0;
		if (o[0] == WLB_TCPOPT_NOP) {
			i++;
			continue;
		}
		if (o[0] == WLB_TAG_KIND && is_ours(o, o[1])) {
			if (o[1] != WLB_TAG_LEN || o[5] != WLB_TAG_VERSION)
				return -1;
			tag->flags = o[4];
			memcpy(&tag->nonce, o + 6, 4);
			tag->off = i;
			return 1;
		}
		i += o[1];
	}
	return 0;
}

int wlb_tag_add(struct wlb_pkt *p, uint8_t flags, uint32_t nonce)
{
	uint8_t opt[WLB_TAG_SPACE] = {
		WLB_TCPOPT_NOP,	   WLB_TCPOPT_NOP,	WLB_TAG_KIND, WLB_TAG_LEN,
		WLB_TAG_EXID >> 8, WLB_TAG_EXID & 0xff, flags,	      WLB_TAG_VERSION,
	};

	memcpy(opt + 8, &nonce, 4);
	return wlb_tcp_opt_append(p, opt, sizeof(opt));
}

void wlb_tag_strip(struct wlb_pkt *p, const struct wlb_tag *tag)
{
	wlb_tcp_opt_nop(p, tag->off, WLB_TAG_LEN);
}
