/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Named event counters.  Each daemon lists its counters once with an
 * X-macro, which gives both the enum (in its header) and the names (in its
 * policy file), so a counter cannot be added to one and forgotten in the
 * other:
 *
 *   #define MY_COUNTERS(X) X(syn_tagged, "SYNs tagged") X(...)
 *   WLB_COUNTERS_ENUM(my, MY_COUNTERS)       in my.h
 *   WLB_COUNTERS_NAMES(my, MY_COUNTERS)      in my.c
 */
#ifndef WLB_COUNTERS_H
#define WLB_COUNTERS_H

#include <stdint.h>
#include <stdio.h>

#define WLB_COUNTER_ENUM(name, help) name,
#define WLB_COUNTER_NAME(name, help) #name,

#define WLB_COUNTERS_ENUM(prefix, LIST)                                   \
	enum prefix##_counter{LIST(WLB_COUNTER_ENUM) prefix##_NCOUNTERS}; \
	extern const char *const prefix##_counter_names[];
#define WLB_COUNTERS_NAMES(prefix, LIST) \
	const char *const prefix##_counter_names[] = {LIST(WLB_COUNTER_NAME)};

/* One "name value" line per counter, for the state file and logs. */
void wlb_counters_print(FILE *f, const char *const *names, const uint64_t *v, unsigned n);
/* One such line for a single value. */
void wlb_counter_print(FILE *f, const char *name, uint64_t v);

#endif
