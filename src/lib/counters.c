// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>

#include "counters.h"

void wlb_counters_print(FILE *f, const char *const *names, const uint64_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%-28s %" PRIu64 "\n", names[i], v[i]);
}
