// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define BUF_MIN 4096

/* ------------------------------------------------------------------ buffer */

void wlb_buf_init(struct wlb_buf *b, size_t max)
{
	*b = (struct wlb_buf){.max = max};
}

void wlb_buf_free(struct wlb_buf *b)
{
	free(b->data);
	*b = (struct wlb_buf){.max = b->max};
}

static bool reserve(struct wlb_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : BUF_MIN;
	char *p;

	if (b->overflow || n > b->max - b->len) {
		b->overflow = true;
		return false;
	}
	if (b->len + n <= b->cap)
		return true;
	while (cap < b->len + n)
		cap *= 2;
	if (cap > b->max)
		cap = b->max;
	p = realloc(b->data, cap);
	if (!p) {
		b->overflow = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void wlb_buf_put(struct wlb_buf *b, const char *s, size_t n)
{
	if (!n || !reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

void wlb_buf_puts(struct wlb_buf *b, const char *s)
{
	wlb_buf_put(b, s, strlen(s));
}

void wlb_buf_putc(struct wlb_buf *b, char c)
{
	wlb_buf_put(b, &c, 1);
}

void wlb_buf_pad(struct wlb_buf *b, size_t n)
{
	if (!n || !reserve(b, n))
		return;
	memset(b->data + b->len, ' ', n);
	b->len += n;
}

void wlb_buf_printf(struct wlb_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		wlb_buf_put(b, small, (size_t)n);
		return;
	}
	/* longer than the stack buffer: format in place */
	if (!reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* -------------------------------------------------------------------- json */

void wlb_json_init(struct wlb_json *j, struct wlb_buf *b)
{
	*j = (struct wlb_json){.b = b};
}

/* Before a value or a key: the comma that separates it from the last one. */
static void separate(struct wlb_json *j)
{
	uint32_t bit = 1u << j->depth;

	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->started & bit)
		wlb_buf_putc(j->b, ',');
	j->started |= bit;
}

static void open_container(struct wlb_json *j, char c)
{
	separate(j);
	if (j->depth + 1 >= WLB_JSON_MAX_DEPTH) {
		j->misuse = true;
		return;
	}
	wlb_buf_putc(j->b, c);
	j->depth++;
	j->started &= ~(1u << j->depth);
}

static void close_container(struct wlb_json *j, char c)
{
	if (!j->depth || j->after_key) {
		j->misuse = true;
		return;
	}
	j->depth--;
	wlb_buf_putc(j->b, c);
}

void wlb_json_begin_object(struct wlb_json *j)
{
	open_container(j, '{');
}

void wlb_json_end_object(struct wlb_json *j)
{
	close_container(j, '}');
}

void wlb_json_begin_array(struct wlb_json *j)
{
	open_container(j, '[');
}

void wlb_json_end_array(struct wlb_json *j)
{
	close_container(j, ']');
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if there is none. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

static void escaped(struct wlb_buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	wlb_buf_putc(b, '"');
	while (*s) {
		size_t n;

		switch (*s) {
		case '"':
			wlb_buf_puts(b, "\\\"");
			break;
		case '\\':
			wlb_buf_puts(b, "\\\\");
			break;
		case '\n':
			wlb_buf_puts(b, "\\n");
			break;
		case '\r':
			wlb_buf_puts(b, "\\r");
			break;
		case '\t':
			wlb_buf_puts(b, "\\t");
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				wlb_buf_printf(b, "\\u%04x", *s);
			} else if (*s < 0x80) {
				wlb_buf_putc(b, (char)*s);
			} else if ((n = utf8_seq(s))) {
				wlb_buf_put(b, (const char *)s, n);
				s += n;
				continue;
			} else {
				wlb_buf_puts(b, "\\ufffd");
			}
		}
		s++;
	}
	wlb_buf_putc(b, '"');
}

void wlb_json_key(struct wlb_json *j, const char *key)
{
	separate(j);
	escaped(j->b, key);
	wlb_buf_putc(j->b, ':');
	j->after_key = true;
}

void wlb_json_string(struct wlb_json *j, const char *s)
{
	if (!s) {
		wlb_json_null(j);
		return;
	}
	separate(j);
	escaped(j->b, s);
}

void wlb_json_u64(struct wlb_json *j, uint64_t v)
{
	separate(j);
	wlb_buf_printf(j->b, "%" PRIu64, v);
}

void wlb_json_i64(struct wlb_json *j, int64_t v)
{
	separate(j);
	wlb_buf_printf(j->b, "%" PRId64, v);
}

void wlb_json_double(struct wlb_json *j, double v)
{
	if (!isfinite(v)) {
		wlb_json_null(j);
		return;
	}
	separate(j);
	/* 15 digits: round-trips what the daemons measure, no 0.1 noise */
	wlb_buf_printf(j->b, "%.15g", v);
}

void wlb_json_bool(struct wlb_json *j, bool v)
{
	separate(j);
	wlb_buf_puts(j->b, v ? "true" : "false");
}

void wlb_json_null(struct wlb_json *j)
{
	separate(j);
	wlb_buf_puts(j->b, "null");
}
