/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bounded output buffer and a tiny JSON emitter over it, for the control
 * socket's answers (wlbctl --json).  No parser, no tree: values are written
 * in order and the emitter only tracks where commas go.
 *
 * The buffer grows on demand up to a hard limit given at init; a write that
 * would pass the limit is dropped and sets overflow, so a caller that checks
 * overflow at the end never sends a cut answer for a whole one.
 */
#ifndef WLB_JSON_H
#define WLB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wlb_buf {
	char *data; /* not NUL-terminated */
	size_t len, cap, max;
	bool overflow; /* a write was dropped: out of room or out of memory */
};

void wlb_buf_init(struct wlb_buf *b, size_t max);
void wlb_buf_free(struct wlb_buf *b);
void wlb_buf_put(struct wlb_buf *b, const char *s, size_t n);
void wlb_buf_puts(struct wlb_buf *b, const char *s);
void wlb_buf_putc(struct wlb_buf *b, char c);
void wlb_buf_printf(struct wlb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append n spaces. */
void wlb_buf_pad(struct wlb_buf *b, size_t n);

#define WLB_JSON_MAX_DEPTH 16

struct wlb_json {
	struct wlb_buf *b;
	unsigned depth;
	uint32_t started; /* bit d: the container at depth d has a member */
	bool after_key;
	bool misuse; /* nesting too deep or unbalanced: the output is not JSON */
};

void wlb_json_init(struct wlb_json *j, struct wlb_buf *b);
void wlb_json_begin_object(struct wlb_json *j);
void wlb_json_end_object(struct wlb_json *j);
void wlb_json_begin_array(struct wlb_json *j);
void wlb_json_end_array(struct wlb_json *j);
/* Inside an object: the name of the next value. */
void wlb_json_key(struct wlb_json *j, const char *key);
/* NULL writes null.  Control characters are escaped; bytes that are not
 * UTF-8 become U+FFFD, so any C string gives valid JSON. */
void wlb_json_string(struct wlb_json *j, const char *s);
void wlb_json_u64(struct wlb_json *j, uint64_t v);
void wlb_json_i64(struct wlb_json *j, int64_t v);
/* NaN and infinities, which JSON lacks, are written as null. */
void wlb_json_double(struct wlb_json *j, double v);
void wlb_json_bool(struct wlb_json *j, bool v);
void wlb_json_null(struct wlb_json *j);

#endif
