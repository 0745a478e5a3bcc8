/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inlining hint for the per-packet path.  A decision is a handful of small
 * steps and a call costs about as much as one of them, so the steps every
 * data packet takes are forced inline; the rare branches (a closing
 * connection, the hand-over to the kernel, an expired entry) stay out of
 * line, where they do not make the common path save registers.
 * bench/run-micro counts the result.  (The kernel's __always_inline; a name
 * without the leading underscores, which C reserves.)
 */
#ifndef WLB_COMPILER_H
#define WLB_COMPILER_H

#define wlb_always_inline inline __attribute__((always_inline))

#endif
