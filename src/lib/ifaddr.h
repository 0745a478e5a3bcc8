/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Local addresses for replicas in configurations B and C: a replica answers
 * as the origin, so it owns the origin's address, bound /32 on the loopback
 * device as direct-server-return setups do.  Over rtnetlink with libmnl.
 */
#ifndef WLB_IFADDR_H
#define WLB_IFADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Add (or delete) addr/32 on "lo".  Adding an address that is already
 * there and deleting one that is not both succeed. */
int wlb_ifaddr_set(uint32_t addr, bool add, char *err, size_t errlen);

#endif
