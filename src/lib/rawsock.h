/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Raw IPv4 sender (IPPROTO_RAW implies IP_HDRINCL): the daemons emit whole
 * packets they built (RSTs, encapsulated copies).  A mark lets the rule set
 * exempt them from conntrack and NAT (see wlb.7, "Rules").
 */
#ifndef WLB_RAWSOCK_H
#define WLB_RAWSOCK_H

#include <stddef.h>
#include <stdint.h>

int wlb_raw_open(uint32_t mark, char *err, size_t errlen);
/* Send to the packet's own destination address. Returns 0 or -errno. */
int wlb_raw_send(int fd, const uint8_t *pkt, size_t len);

#endif
