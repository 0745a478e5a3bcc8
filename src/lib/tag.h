/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The wlb tag: the one wire contract all three daemons share (see wlb(7)).
 *
 *   kind 253 (RFC 4727 experimental), length 10, ExID 0x574C ("WL", RFC 6994),
 *   flags, version = 1, nonce[4]; preceded by two NOPs so it fills 12 bytes.
 *
 * flags: bit 0 redirection permitted, bits 1-2 configuration (0 A, 1 B, 2 C),
 * bit 7 echo (set by a replica in its SYN-ACK, carrying the SYN's nonce).
 */
#ifndef WLB_TAG_H
#define WLB_TAG_H

#include "pkt.h"

#define WLB_TAG_KIND 253
#define WLB_TAG_LEN 10
#define WLB_TAG_EXID 0x574c
#define WLB_TAG_VERSION 1
#define WLB_TAG_SPACE 12 /* with NOP padding */

#define WLB_TAG_REDIRECT 0x01
#define WLB_TAG_CONF_SHIFT 1
#define WLB_TAG_CONF_MASK 0x06
#define WLB_TAG_ECHO 0x80

enum wlb_mode { WLB_MODE_A = 0, WLB_MODE_B = 1, WLB_MODE_C = 2 };

struct wlb_tag {
	uint8_t flags;
	uint32_t nonce; /* opaque, kept in wire order */
	unsigned off;	/* where it was found (TCP header relative) */
};

static inline enum wlb_mode wlb_tag_mode(const struct wlb_tag *t)
{
	return (enum wlb_mode)((t->flags & WLB_TAG_CONF_MASK) >> WLB_TAG_CONF_SHIFT);
}

static inline uint8_t wlb_tag_flags(bool redirect, enum wlb_mode mode, bool echo)
{
	return (redirect ? WLB_TAG_REDIRECT : 0) | ((unsigned)mode << WLB_TAG_CONF_SHIFT) |
	       (echo ? WLB_TAG_ECHO : 0);
}

/* Returns 1 and fills tag when a wlb tag (our ExID, version 1, length 10)
 * is present; 0 when absent (other users of kind 253 are ignored); -1 when
 * an option claims to be ours but is malformed (wrong length or version). */
int wlb_tag_find(const struct wlb_pkt *p, struct wlb_tag *tag);
/* Append the tag; WLB_PKT_NOSPACE when the SYN has no option room. */
int wlb_tag_add(struct wlb_pkt *p, uint8_t flags, uint32_t nonce);
/* Remove a found tag by overwriting it with NOPs (length unchanged). */
void wlb_tag_strip(struct wlb_pkt *p, const struct wlb_tag *tag);

#endif
