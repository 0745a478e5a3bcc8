/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inlining hints for the per-packet path, as the kernel spells them.  A
 * decision is a handful of small steps; a call costs about as much as one
 * of them, so the steps every data packet takes are forced inline and the
 * rare branches (an expired entry, a closing connection) kept out of line,
 * where they do not make the common path save registers.
 * bench/run-micro counts the result.
 */
#ifndef WLB_COMPILER_H
#define WLB_COMPILER_H

#define __wlb_always_inline inline __attribute__((always_inline))
#define __wlb_noinline __attribute__((noinline))

#endif
