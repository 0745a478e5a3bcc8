/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the libFuzzer targets share: a check that, broken, stops the run
 * with its place, which libFuzzer then reports with the input. */
#ifndef WLB_FUZZ_H
#define WLB_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: %s does not hold\n", __FILE__, __LINE__, #cond); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

#endif
