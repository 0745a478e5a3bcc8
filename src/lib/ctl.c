// SPDX-License-Identifier: GPL-2.0-or-later
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "conf.h"
#include "ctl.h"
#include "flow.h"

/* As wide as the state file's names, so both read the same. */
#define KV_NAME_WIDTH 28

/* ----------------------------------------------------------------- request */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int wlb_ctl_parse(struct wlb_ctl_req *req, const char *line, size_t len, char *err, size_t errlen)
{
	char *w = req->text;
	bool in_word = false, too_many = false;

	memset(req, 0, sizeof(*req));
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	if (len >= WLB_CTL_REQ_MAX) {
		snprintf(err, errlen, "request longer than %d bytes", WLB_CTL_REQ_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (is_blank((char)c)) {
			if (in_word)
				*w++ = '\0';
			in_word = false;
			continue;
		}
		/* ASCII only: nothing a command takes needs more, and a
		 * message quoting the request stays printable */
		if (c < 0x21 || c > 0x7e) {
			snprintf(err, errlen, "byte 0x%02x in the request: printable ASCII only",
				 c);
			return -1;
		}
		if (!in_word) {
			/* one more than allowed: "json" may be one */
			if (req->argc == WLB_CTL_MAX_ARGS + 1) {
				too_many = true;
				break;
			}
			req->argv[req->argc++] = w;
			in_word = true;
		}
		*w++ = (char)c;
	}
	*w = '\0';
	if (req->argc && !strcmp(req->argv[0], "json")) {
		req->json = true;
		memmove(req->argv, req->argv + 1, --req->argc * sizeof(req->argv[0]));
		req->argv[req->argc] = NULL;
	}
	if (too_many || req->argc > WLB_CTL_MAX_ARGS) {
		snprintf(err, errlen, "more than %d words in the request", WLB_CTL_MAX_ARGS);
		return -1;
	}
	if (!req->argc) {
		snprintf(err, errlen, "empty request");
		return -1;
	}
	return 0;
}

int wlb_ctl_parse_addr(const char *s, uint32_t *addr)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*addr = a.s_addr;
	return 0;
}

int wlb_ctl_parse_endpoint(const char *s, uint32_t *addr, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	char host[INET_ADDRSTRLEN];
	unsigned long p;
	char *end;

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host) ||
	    !isdigit((unsigned char)colon[1]))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || p < 1 || p > 65535 || wlb_ctl_parse_addr(host, addr) < 0)
		return -1;
	*port = htons((uint16_t)p);
	return 0;
}

void wlb_ctl_endpoint(char *buf, uint32_t addr, uint16_t port)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(buf, WLB_CTL_ENDPOINT_LEN, "%s:%u", a, ntohs(port));
}

/* ------------------------------------------------------------------ answer */

void wlb_ctl_out_init(struct wlb_ctl_out *o, bool json, size_t max)
{
	memset(o, 0, sizeof(*o));
	o->json = json;
	wlb_buf_init(&o->buf, max);
	wlb_json_init(&o->j, &o->buf);
	if (json)
		wlb_json_begin_object(&o->j);
}

enum wlb_ctl_status wlb_ctl_out_finish(struct wlb_ctl_out *o)
{
	if (o->status != WLB_CTL_OK)
		return o->status;
	if (o->json) {
		wlb_json_end_object(&o->j);
		wlb_buf_putc(&o->buf, '\n');
		if (o->j.misuse || o->j.depth) {
			wlb_ctl_fail(o, WLB_CTL_ERROR, "internal error: unbalanced JSON");
			return o->status;
		}
	}
	if (o->buf.overflow)
		wlb_ctl_fail(o, WLB_CTL_ERROR, "the answer exceeds %zu bytes", o->buf.max);
	return o->status;
}

void wlb_ctl_out_free(struct wlb_ctl_out *o)
{
	wlb_buf_free(&o->buf);
}

int wlb_ctl_fail(struct wlb_ctl_out *o, enum wlb_ctl_status st, const char *fmt, ...)
{
	va_list ap;

	/* the first failure is the cause; later ones follow from it */
	if (o->status != WLB_CTL_OK)
		return WLB_CTL_DONE;
	o->status = st;
	va_start(ap, fmt);
	vsnprintf(o->msg, sizeof(o->msg), fmt, ap);
	va_end(ap);
	/* the payload is not sent: free it, and drop what follows */
	wlb_buf_free(&o->buf);
	o->buf.overflow = true;
	return WLB_CTL_DONE;
}

bool wlb_ctl_room(const struct wlb_ctl_out *o)
{
	size_t soft = o->buf.max > 2 * WLB_CTL_ANSWER_RESERVE ? o->buf.max - WLB_CTL_ANSWER_RESERVE
							      : o->buf.max / 2;

	return o->status == WLB_CTL_OK && !o->buf.overflow && o->buf.len < soft;
}

static void kv_name(struct wlb_ctl_out *o, const char *name)
{
	size_t n = strlen(name);

	if (o->json) {
		wlb_json_key(&o->j, name);
		return;
	}
	wlb_buf_put(&o->buf, name, n);
	wlb_buf_pad(&o->buf, n < KV_NAME_WIDTH ? KV_NAME_WIDTH - n + 1 : 1);
}

void wlb_ctl_kv_str(struct wlb_ctl_out *o, const char *name, const char *v)
{
	kv_name(o, name);
	if (o->json) {
		wlb_json_string(&o->j, v);
		return;
	}
	wlb_buf_puts(&o->buf, v ? v : "-");
	wlb_buf_putc(&o->buf, '\n');
}

void wlb_ctl_kv_u64(struct wlb_ctl_out *o, const char *name, uint64_t v)
{
	kv_name(o, name);
	if (o->json)
		wlb_json_u64(&o->j, v);
	else
		wlb_buf_printf(&o->buf, "%llu\n", (unsigned long long)v);
}

void wlb_ctl_kv_double(struct wlb_ctl_out *o, const char *name, double v)
{
	kv_name(o, name);
	if (o->json)
		wlb_json_double(&o->j, v);
	else
		wlb_buf_printf(&o->buf, "%.2f\n", v);
}

void wlb_ctl_kv_bool(struct wlb_ctl_out *o, const char *name, bool v)
{
	kv_name(o, name);
	if (o->json)
		wlb_json_bool(&o->j, v);
	else
		wlb_buf_puts(&o->buf, v ? "yes\n" : "no\n");
}

void wlb_ctl_kv_counters(struct wlb_ctl_out *o, const char *const *names, const uint64_t *v,
			 unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		wlb_ctl_kv_u64(o, names[i], v[i]);
}

static bool is_uint(const char *s)
{
	size_t n = strspn(s, "0123456789");

	/* 19 digits always fit in 64 bits */
	return n && !s[n] && n < 20;
}

void wlb_ctl_kv_lines(struct wlb_ctl_out *o, const char *text)
{
	while (*text) {
		const char *eol = strchr(text, '\n');
		size_t n = eol ? (size_t)(eol - text) : strlen(text);
		char line[256], name[128], value[128], extra[2];

		if (n < sizeof(line) && *text != '#') {
			memcpy(line, text, n);
			line[n] = '\0';
			if (sscanf(line, "%127s %127s %1s", name, value, extra) == 2) {
				if (is_uint(value))
					wlb_ctl_kv_u64(o, name, strtoull(value, NULL, 10));
				else
					wlb_ctl_kv_str(o, name, value);
			}
		}
		text += n + (eol != NULL);
	}
}

/* ------------------------------------------------------------------ tables */

void wlb_ctl_table_begin(struct wlb_ctl_out *o, const char *name, const struct wlb_ctl_col *cols,
			 unsigned ncols)
{
	o->cols = cols;
	o->ncols = ncols;
	if (o->json) {
		wlb_json_key(&o->j, name);
		wlb_json_begin_array(&o->j);
		return;
	}
	for (unsigned i = 0; i < ncols; i++) {
		size_t n = strlen(cols[i].name);

		if (i)
			wlb_buf_putc(&o->buf, ' ');
		for (size_t k = 0; k < n; k++)
			wlb_buf_putc(&o->buf, (char)toupper((unsigned char)cols[i].name[k]));
		if (i + 1 < ncols && n < cols[i].width)
			wlb_buf_pad(&o->buf, cols[i].width - n);
	}
	wlb_buf_putc(&o->buf, '\n');
}

void wlb_ctl_table_end(struct wlb_ctl_out *o)
{
	if (o->json)
		wlb_json_end_array(&o->j);
	o->cols = NULL;
	o->ncols = 0;
}

void wlb_ctl_table_omitted(struct wlb_ctl_out *o, uint64_t n)
{
	if (o->json)
		wlb_ctl_kv_u64(o, "omitted", n);
	else if (n)
		wlb_buf_printf(&o->buf,
			       "(%llu more not listed: the answer is limited to %zu bytes)\n",
			       (unsigned long long)n, o->buf.max);
}

void wlb_ctl_row_begin(struct wlb_ctl_out *o)
{
	o->col = 0;
	if (o->json)
		wlb_json_begin_object(&o->j);
}

void wlb_ctl_row_end(struct wlb_ctl_out *o)
{
	if (o->json)
		wlb_json_end_object(&o->j);
	else
		wlb_buf_putc(&o->buf, '\n');
}

static void cell_begin(struct wlb_ctl_out *o)
{
	if (o->json) {
		wlb_json_key(&o->j, o->col < o->ncols ? o->cols[o->col].name : "?");
		return;
	}
	if (o->col)
		wlb_buf_putc(&o->buf, ' ');
	o->cell_start = o->buf.len;
}

static void cell_end(struct wlb_ctl_out *o)
{
	if (!o->json && o->col + 1 < o->ncols) {
		size_t w = o->buf.len - o->cell_start;

		if (w < o->cols[o->col].width)
			wlb_buf_pad(&o->buf, o->cols[o->col].width - w);
	}
	o->col++;
}

void wlb_ctl_cell_str(struct wlb_ctl_out *o, const char *v)
{
	cell_begin(o);
	if (o->json)
		wlb_json_string(&o->j, v);
	else
		wlb_buf_puts(&o->buf, v ? v : "-");
	cell_end(o);
}

void wlb_ctl_cell_u64(struct wlb_ctl_out *o, uint64_t v)
{
	cell_begin(o);
	if (o->json)
		wlb_json_u64(&o->j, v);
	else
		wlb_buf_printf(&o->buf, "%llu", (unsigned long long)v);
	cell_end(o);
}

void wlb_ctl_cell_bool(struct wlb_ctl_out *o, bool v)
{
	cell_begin(o);
	if (o->json)
		wlb_json_bool(&o->j, v);
	else
		wlb_buf_puts(&o->buf, v ? "yes" : "no");
	cell_end(o);
}

void wlb_ctl_cell_list_begin(struct wlb_ctl_out *o)
{
	cell_begin(o);
	o->list_started = false;
	if (o->json)
		wlb_json_begin_array(&o->j);
}

static void list_sep(struct wlb_ctl_out *o)
{
	if (o->list_started)
		wlb_buf_putc(&o->buf, ',');
	o->list_started = true;
}

void wlb_ctl_list_str(struct wlb_ctl_out *o, const char *v)
{
	if (o->json) {
		wlb_json_string(&o->j, v);
		return;
	}
	list_sep(o);
	wlb_buf_puts(&o->buf, v ? v : "-");
}

void wlb_ctl_list_u64(struct wlb_ctl_out *o, uint64_t v)
{
	if (o->json) {
		wlb_json_u64(&o->j, v);
		return;
	}
	list_sep(o);
	wlb_buf_printf(&o->buf, "%llu", (unsigned long long)v);
}

void wlb_ctl_cell_list_end(struct wlb_ctl_out *o)
{
	if (o->json)
		wlb_json_end_array(&o->j);
	else if (!o->list_started)
		wlb_buf_putc(&o->buf, '-');
	cell_end(o);
}

/* ------------------------------------------------- commands of several daemons */

static const struct wlb_ctl_col service_cols[] = {
	{"origin", 15}, {"ports", 11}, {"replicable", 10}, {"config", 6}, {"replicas", 0},
};

void wlb_ctl_services(struct wlb_ctl_out *o, const struct wlb_conf *c)
{
	char a[INET_ADDRSTRLEN];

	wlb_ctl_table_begin(o, "services", service_cols, 5);
	for (unsigned i = 0; i < c->n_services; i++) {
		const struct wlb_service *s = &c->services[i];

		wlb_ctl_row_begin(o);
		wlb_ctl_cell_str(o, inet_ntop(AF_INET, &s->origin, a, sizeof(a)));
		wlb_ctl_cell_list_begin(o);
		for (unsigned k = 0; k < s->n_ports; k++)
			wlb_ctl_list_u64(o, s->ports[k]);
		wlb_ctl_cell_list_end(o);
		wlb_ctl_cell_bool(o, s->replicable);
		wlb_ctl_cell_str(o, wlb_mode_name(s->mode));
		wlb_ctl_cell_list_begin(o);
		for (unsigned k = 0; k < s->n_replicas; k++)
			wlb_ctl_list_str(o, inet_ntop(AF_INET, &s->replicas[k], a, sizeof(a)));
		wlb_ctl_cell_list_end(o);
		wlb_ctl_row_end(o);
	}
	wlb_ctl_table_end(o);
}

int wlb_ctl_flush(struct wlb_ctl_out *o, struct wlb_flow_table *t, const struct wlb_ctl_req *req,
		  uint64_t now_ms, void (*forget)(void *self, struct wlb_flow *f), void *self)
{
	struct wlb_flow_key k = {0};
	char c[WLB_CTL_ENDPOINT_LEN], s[WLB_CTL_ENDPOINT_LEN];
	struct wlb_flow *f;

	if (req->argc != 3)
		return wlb_ctl_fail(o, WLB_CTL_USAGE, "usage: flush CLIENT:PORT SERVER:PORT");
	for (unsigned i = 1; i <= 2; i++)
		if (wlb_ctl_parse_endpoint(req->argv[i], i == 1 ? &k.client.v4 : &k.server.v4,
					   i == 1 ? &k.client_port : &k.server_port) < 0)
			return wlb_ctl_fail(o, WLB_CTL_USAGE, "flush: '%s' is not ADDRESS:PORT",
					    req->argv[i]);
	f = wlb_flow_lookup(t, &k, now_ms);
	if (!f)
		return wlb_ctl_fail(o, WLB_CTL_ERROR, "no flow %s %s", req->argv[1], req->argv[2]);
	forget(self, f);
	wlb_ctl_endpoint(c, k.client.v4, k.client_port);
	wlb_ctl_endpoint(s, k.server.v4, k.server_port);
	wlb_ctl_kv_str(o, "flushed_client", c);
	wlb_ctl_kv_str(o, "flushed_server", s);
	return WLB_CTL_DONE;
}

void wlb_ctl_flow_counts(struct wlb_ctl_out *o, struct wlb_flow_table *t, bool all)
{
	struct wlb_flow_stats st;

	wlb_flow_stats(t, &st);
	wlb_ctl_kv_u64(o, "flows", st.count);
	wlb_ctl_kv_u64(o, "flows_capacity", st.capacity);
	if (!all)
		return;
	wlb_ctl_kv_u64(o, "flows_evicted", st.evicted);
	wlb_ctl_kv_u64(o, "flows_expired", st.expired);
}

struct flow_list {
	struct wlb_ctl_out *out;
	const struct wlb_ctl_flow_view *v;
	bool filtered;
	uint32_t addr;
	uint64_t omitted;
};

static void list_flow(const struct wlb_flow *f, void *arg)
{
	struct flow_list *l = arg;
	char c[WLB_CTL_ENDPOINT_LEN], s[WLB_CTL_ENDPOINT_LEN];

	if (l->filtered && f->key.client.v4 != l->addr && f->key.server.v4 != l->addr &&
	    !(l->v->names && l->v->names(f, l->addr)))
		return;
	if (!wlb_ctl_room(l->out)) {
		l->omitted++;
		return;
	}
	wlb_ctl_endpoint(c, f->key.client.v4, f->key.client_port);
	wlb_ctl_endpoint(s, f->key.server.v4, f->key.server_port);
	wlb_ctl_row_begin(l->out);
	wlb_ctl_cell_str(l->out, c);
	wlb_ctl_cell_str(l->out, s);
	l->v->cells(l->out, f);
	wlb_ctl_row_end(l->out);
}

int wlb_ctl_flows(struct wlb_ctl_out *o, struct wlb_flow_table *t, const struct wlb_ctl_req *req,
		  uint64_t now_ms, const struct wlb_ctl_flow_view *v)
{
	struct flow_list l = {.out = o, .v = v, .filtered = req->argc == 2};

	if (req->argc > 2 || (l.filtered && wlb_ctl_parse_addr(req->argv[1], &l.addr) < 0))
		return wlb_ctl_fail(o, WLB_CTL_USAGE, "usage: flows [ADDRESS]");
	wlb_ctl_table_begin(o, "flows", v->cols, v->n_cols);
	wlb_flow_foreach(t, now_ms, list_flow, &l);
	wlb_ctl_table_end(o);
	wlb_ctl_table_omitted(o, l.omitted);
	return WLB_CTL_DONE;
}
