// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>

#include "counters.h"

void wlb_counter_print(FILE *f, const char *name, uint64_t v)
{
	fprintf(f, "%-28s %" PRIu64 "\n", name, v);
}

void wlb_counters_print(FILE *f, const char *const *names, const uint64_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		wlb_counter_print(f, names[i], v[i]);
}
