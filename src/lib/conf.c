// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb.conf(5) reader.
 *
 * libconfig gives us a tree; everything here walks that tree once, checks
 * every setting against its type and range, and copies the result into a
 * plain struct wlb_conf so that the packet path never touches libconfig.
 * The config_t lives only for the duration of one load, which keeps loads
 * in different threads independent of each other.
 *
 * Every check reports through bad(), which names the setting by its path
 * (built from the tree, so it matches what the user wrote) and its line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define PATH_MAX_LEN 256
#define MAX_FILE_SIZE (16u << 20)

/* libconfig before 1.7 stores integer literals above INT32_MAX as a plain
 * int, wrapped: hex ones can be recovered, decimal ones cannot. */
#if defined(LIBCONFIG_VER_MAJOR) && \
	(LIBCONFIG_VER_MAJOR > 1 || (LIBCONFIG_VER_MAJOR == 1 && LIBCONFIG_VER_MINOR >= 7))
#define WRAP_HINT ""
#else
#define WRAP_HINT " (write values above 2147483647 in hex or with an L suffix)"
#endif

struct ctx {
	const char *name; /* file name for messages */
	const char *dir;  /* where @include looks, NULL: the working directory */
	char *err;
	size_t errlen;
};

static const char *const mode_names[] = {"A", "B", "C"};
static const char *const state_names[] = {"active", "draining", "disabled"};

const char *wlb_mode_name(enum wlb_mode m)
{
	return (unsigned)m < 3 ? mode_names[m] : "?";
}

const char *wlb_replica_state_name(enum wlb_replica_state s)
{
	return (unsigned)s < 3 ? state_names[s] : "?";
}

/* ---- error reporting ---- */

static void path_of(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = config_setting_parent(s);
	size_t used;

	buf[0] = '\0';
	if (!parent)
		return;
	path_of(parent, buf, len);
	used = strlen(buf);
	if (used && used + 1 < len)
		buf[used++] = '.';
	if (config_setting_name(s))
		snprintf(buf + used, len - used, "%s", config_setting_name(s));
	else
		snprintf(buf + used, len - used, "[%d]", config_setting_index(s));
}

/* Scalars inside arrays may carry no line of their own in some libconfig
 * versions: the nearest ancestor that has one is the next best thing. */
static unsigned line_of(const config_setting_t *s)
{
	for (; s; s = config_setting_parent(s))
		if (config_setting_source_line(s))
			return config_setting_source_line(s);
	return 0;
}

/* libconfig knows an included file by the name given to @include, which
 * is relative to the including file's directory, not to the reader's. */
static const char *file_name(const struct ctx *x, const char *f, char *buf, size_t len)
{
	if (!f)
		return x->name;
	if (f[0] == '/' || !x->dir)
		return f;
	snprintf(buf, len, "%s%s%s", x->dir, x->dir[strlen(x->dir) - 1] == '/' ? "" : "/", f);
	return buf;
}

/* "FILE:LINE: PATH: message" for setting s, or for its member child. */
static void say(struct ctx *x, const config_setting_t *s, const char *child, const char *fmt,
		va_list ap)
{
	char path[PATH_MAX_LEN], buf[PATH_MAX_LEN];
	const char *file = file_name(x, config_setting_source_file(s), buf, sizeof(buf));
	unsigned line = line_of(s);
	size_t used;
	int n;

	if (!x->err || !x->errlen)
		return;
	path_of(s, path, sizeof(path));
	used = strlen(path);
	if (child)
		snprintf(path + used, sizeof(path) - used, "%s%s", used ? "." : "", child);
	if (line)
		n = snprintf(x->err, x->errlen, "%s:%u: %s: ", file, line, path);
	else
		n = snprintf(x->err, x->errlen, "%s: %s: ", file, path);
	if (n >= 0 && (size_t)n < x->errlen)
		vsnprintf(x->err + n, x->errlen - n, fmt, ap);
}

__attribute__((format(printf, 3, 4))) static int bad(struct ctx *x, const config_setting_t *s,
						     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(x, s, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

__attribute__((format(printf, 4, 5))) static int
bad_member(struct ctx *x, const config_setting_t *group, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(x, group, name, fmt, ap);
	va_end(ap);
	return -1;
}

/* A setting that is absent has no line: point at the group that lacks it. */
static int missing(struct ctx *x, const config_setting_t *group, const char *name)
{
	return bad_member(x, group, name, "required setting missing");
}

static const char *type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

static int wrong_type(struct ctx *x, const config_setting_t *s, const char *expected)
{
	return bad(x, s, "expected %s, not %s", expected, type_name(s));
}

/* ---- scalars ---- */

static int get_uint(struct ctx *x, const config_setting_t *s, const char *noun, long long lo,
		    long long hi, long long *out)
{
	long long v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		/* A hex literal cannot be negative: a negative value is libconfig
		 * < 1.7 having wrapped 0x80000000..0xffffffff into an int. */
		if (v < 0 && config_setting_get_format(s) == CONFIG_FORMAT_HEX)
			v = (uint32_t)v;
		break;
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		break;
	default:
		return wrong_type(x, s, "an integer");
	}
	if (v < lo || v > hi)
		return bad(x, s, "%s%s%lld out of range %lld..%lld%s", noun ? noun : "",
			   noun ? " " : "", v, lo, hi, v < 0 && hi > INT32_MAX ? WRAP_HINT : "");
	*out = v;
	return 0;
}

static int get_number(struct ctx *x, const config_setting_t *s, double lo, double hi, double *out)
{
	double v;

	*out = 0; /* for compilers that cannot tell bad() always fails */
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	default:
		return wrong_type(x, s, "a number");
	}
	/* written so that NaN fails too */
	if (!(v >= lo && v <= hi))
		return bad(x, s, "%g out of range %g..%g", v, lo, hi);
	*out = v;
	return 0;
}

static int get_seconds(struct ctx *x, const config_setting_t *s, double lo, double hi, uint32_t *ms)
{
	double v;

	if (get_number(x, s, lo, hi, &v))
		return -1;
	/* v >= 0, so adding a half rounds to nearest without libm */
	*ms = (uint32_t)(v * 1000.0 + 0.5);
	return 0;
}

static int get_bool(struct ctx *x, const config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return wrong_type(x, s, "a boolean");
	*out = config_setting_get_bool(s);
	return 0;
}

/* NULL (reported) when s is not a string */
static const char *get_string(struct ctx *x, const config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		wrong_type(x, s, "a string");
		return NULL;
	}
	return config_setting_get_string(s);
}

static int get_choice(struct ctx *x, const config_setting_t *s, const char *const *names,
		      unsigned n, const char *what, unsigned *out)
{
	const char *v;
	unsigned i;

	*out = 0;
	v = get_string(x, s);
	if (!v)
		return -1;
	for (i = 0; i < n; i++) {
		if (!strcmp(v, names[i])) {
			*out = i;
			return 0;
		}
	}
	return bad(x, s, "\"%s\" is not %s (expected \"%s\", \"%s\" or \"%s\")", v, what, names[0],
		   names[1], names[2]);
}

static int get_addr(struct ctx *x, const config_setting_t *s, uint32_t *out)
{
	struct in_addr a;
	const char *v;

	v = get_string(x, s);
	if (!v)
		return -1;
	/* inet_pton, unlike inet_aton, takes only the full dotted quad */
	if (inet_pton(AF_INET, v, &a) != 1)
		return bad(x, s, "\"%s\" is not an IPv4 address", v);
	*out = a.s_addr;
	return 0;
}

static int parse_prefix_len(const char *p, unsigned *len)
{
	if (p[0] < '0' || p[0] > '9')
		return -1;
	if (p[1] && (p[1] < '0' || p[1] > '9' || p[2] || p[0] == '0'))
		return -1;
	*len = (unsigned)atoi(p);
	return *len <= 32 ? 0 : -1;
}

static uint32_t prefix_mask(unsigned len)
{
	return len ? 0xffffffffu << (32 - len) : 0;
}

static int get_prefix(struct ctx *x, const config_setting_t *s, struct wlb_range *r)
{
	char buf[sizeof("255.255.255.255/32")], fix[INET_ADDRSTRLEN];
	struct in_addr a;
	unsigned len = 32;
	uint32_t host, mask;
	const char *v;
	char *slash;

	v = get_string(x, s);
	if (!v)
		return -1;
	if (strlen(v) >= sizeof(buf))
		goto invalid;
	strcpy(buf, v);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (parse_prefix_len(slash + 1, &len))
			goto invalid;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		goto invalid;
	host = ntohl(a.s_addr);
	mask = prefix_mask(len);
	if (host & ~mask) {
		a.s_addr = htonl(host & mask);
		inet_ntop(AF_INET, &a, fix, sizeof(fix));
		return bad(x, s, "\"%s\" has host bits set (did you mean \"%s/%u\"?)", v, fix, len);
	}
	r->lo = host;
	r->hi = host | ~mask;
	return 0;
invalid:
	return bad(x, s, "\"%s\" is not an IPv4 address or prefix (a.b.c.d/0..32)", v);
}

/* ---- aggregates ---- */

/* An array or a list of up to max values; its length goes to *n. */
static int get_seq(struct ctx *x, const config_setting_t *s, bool nonempty, unsigned max,
		   const char *noun, unsigned *n)
{
	int t = config_setting_type(s);

	*n = 0;
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return wrong_type(x, s, "an array");
	*n = (unsigned)config_setting_length(s);
	if (!*n && nonempty)
		return bad(x, s, "must not be empty");
	if (*n > max)
		return bad(x, s, "too many %s (%u, at most %u)", noun, *n, max);
	return 0;
}

static int get_port(struct ctx *x, const config_setting_t *s, uint16_t *port)
{
	long long v;

	if (get_uint(x, s, "port", 1, 65535, &v))
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int port_list(struct ctx *x, const config_setting_t *s, uint16_t *ports, unsigned *n)
{
	const config_setting_t *e;
	unsigned i, j, len;

	if (get_seq(x, s, true, WLB_CONF_MAX_PORTS, "ports", &len))
		return -1;
	for (i = 0; i < len; i++) {
		e = config_setting_get_elem(s, i);
		if (get_port(x, e, &ports[i]))
			return -1;
		for (j = 0; j < i; j++)
			if (ports[j] == ports[i])
				return bad(x, e, "port %u listed twice", ports[i]);
	}
	*n = len;
	return 0;
}

static int port_bitmap(struct ctx *x, const config_setting_t *s, uint8_t *map)
{
	const config_setting_t *e;
	unsigned i, len;
	uint16_t p;

	if (get_seq(x, s, false, 65535, "ports", &len))
		return -1;
	for (i = 0; i < len; i++) {
		e = config_setting_get_elem(s, i);
		if (get_port(x, e, &p))
			return -1;
		if (map[p / 8] & (1u << (p % 8)))
			return bad(x, e, "port %u listed twice", p);
		map[p / 8] |= 1u << (p % 8);
	}
	return 0;
}

static int addr_list(struct ctx *x, const config_setting_t *s, bool nonempty, const char *noun,
		     uint32_t *addrs, unsigned *n)
{
	const config_setting_t *e;
	unsigned i, j, len;
	char buf[INET_ADDRSTRLEN];

	if (get_seq(x, s, nonempty, WLB_CONF_MAX_REPLICAS, noun, &len))
		return -1;
	for (i = 0; i < len; i++) {
		e = config_setting_get_elem(s, i);
		if (get_addr(x, e, &addrs[i]))
			return -1;
		for (j = 0; j < i; j++) {
			if (addrs[j] != addrs[i])
				continue;
			inet_ntop(AF_INET, &addrs[i], buf, sizeof(buf));
			return bad(x, e, "%s listed twice", buf);
		}
	}
	*n = len;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct wlb_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort and coalesce overlapping or adjacent ranges in place. */
static void merge_ranges(struct wlb_ranges *r)
{
	unsigned i, out = 0;

	if (!r->n)
		return;
	qsort(r->v, r->n, sizeof(*r->v), cmp_range);
	for (i = 1; i < r->n; i++) {
		struct wlb_range *last = &r->v[out];

		/* 64-bit so that hi + 1 cannot wrap at 255.255.255.255 */
		if ((uint64_t)r->v[i].lo <= (uint64_t)last->hi + 1) {
			if (r->v[i].hi > last->hi)
				last->hi = r->v[i].hi;
		} else {
			r->v[++out] = r->v[i];
		}
	}
	r->n = out + 1;
}

static int range_list(struct ctx *x, const config_setting_t *s, struct wlb_ranges *r)
{
	unsigned i, len;

	if (get_seq(x, s, false, 1u << 20, "prefixes", &len))
		return -1;
	if (!len)
		return 0;
	r->v = calloc(len, sizeof(*r->v));
	if (!r->v)
		return bad(x, s, "out of memory");
	for (i = 0; i < len; i++)
		if (get_prefix(x, config_setting_get_elem(s, i), &r->v[i]))
			return -1;
	r->n = len;
	merge_ranges(r);
	return 0;
}

static int whole_space(struct ctx *x, const config_setting_t *g, struct wlb_ranges *r)
{
	r->v = malloc(sizeof(*r->v));
	if (!r->v)
		return bad(x, g, "out of memory");
	r->v[0].lo = 0;
	r->v[0].hi = 0xffffffffu;
	r->n = 1;
	return 0;
}

/* ---- groups ---- */

static int check_names(struct ctx *x, const config_setting_t *g, const char *const *names)
{
	const config_setting_t *e;
	const char *const *n;
	int i, len = config_setting_length(g);

	for (i = 0; i < len; i++) {
		e = config_setting_get_elem(g, i);
		for (n = names; *n; n++)
			if (!strcmp(*n, config_setting_name(e)))
				break;
		if (!*n)
			return bad(x, e, "unknown setting");
	}
	return 0;
}

/* An optional integer: absent means def. */
static int opt_uint(struct ctx *x, const config_setting_t *g, const char *name, long long lo,
		    long long hi, long long def, long long *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	*out = def;
	return s ? get_uint(x, s, NULL, lo, hi, out) : 0;
}

/* The queue, and how many worker processes serve queue .. queue +
 * workers - 1: a power of two, since the rules split by the client's
 * port bits (wlb-rules(8), "WORKERS"). */
static int req_queue(struct ctx *x, const config_setting_t *g, uint16_t *queue, uint8_t *workers)
{
	const config_setting_t *s = config_setting_get_member(g, "queue");
	long long v, w;

	if (!s)
		return missing(x, g, "queue");
	if (get_uint(x, s, NULL, 0, 65535, &v) ||
	    opt_uint(x, g, "workers", 1, WLB_CONF_MAX_WORKERS, 1, &w))
		return -1;
	s = config_setting_get_member(g, "workers");
	if (w & (w - 1))
		return bad(x, s, "%lld is not a power of two (1, 2, 4 or 8)", w);
	if (v + w - 1 > 65535)
		return bad(x, s, "queues %lld..%lld exceed 65535", v, v + w - 1);
	*queue = (uint16_t)v;
	*workers = (uint8_t)w;
	return 0;
}

static int req_addr(struct ctx *x, const config_setting_t *g, const char *name, uint32_t *addr)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (!s)
		return missing(x, g, name);
	return get_addr(x, s, addr);
}

static int opt_seconds(struct ctx *x, const config_setting_t *g, const char *name, double lo,
		       double hi, double def, uint32_t *ms)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	*ms = (uint32_t)(def * 1000.0 + 0.5);
	return s ? get_seconds(x, s, lo, hi, ms) : 0;
}

static int opt_mode(struct ctx *x, const config_setting_t *g, enum wlb_mode *mode)
{
	const config_setting_t *s = config_setting_get_member(g, "configuration");
	unsigned v;

	*mode = WLB_MODE_A;
	if (!s)
		return 0;
	if (get_choice(x, s, mode_names, 3, "a configuration", &v))
		return -1;
	*mode = (enum wlb_mode)v;
	return 0;
}

/* The configurations a replica serves: all three when absent. */
static int opt_modes(struct ctx *x, const config_setting_t *g, uint8_t *modes)
{
	const config_setting_t *s = config_setting_get_member(g, "configurations");
	const config_setting_t *e;
	unsigned i, n, v;

	*modes = (1u << WLB_MODE_A) | (1u << WLB_MODE_B) | (1u << WLB_MODE_C);
	if (!s)
		return 0;
	if (get_seq(x, s, true, 3, "configurations", &n))
		return -1;
	*modes = 0;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		if (get_choice(x, e, mode_names, 3, "a configuration", &v))
			return -1;
		if (*modes & (1u << v))
			return bad(x, e, "configuration %s listed twice", mode_names[v]);
		*modes |= (uint8_t)(1u << v);
	}
	return 0;
}

/* A top-level group, or NULL when absent. */
static int section(struct ctx *x, const config_setting_t *root, const char *name,
		   const config_setting_t **g)
{
	*g = config_setting_get_member(root, name);
	if (*g && config_setting_type(*g) != CONFIG_TYPE_GROUP)
		return wrong_type(x, *g, "a group");
	return 0;
}

static int parse_nfqueue(struct ctx *x, const config_setting_t *root, struct wlb_conf *c)
{
	static const char *const names[] = {"queue_maxlen", "rcvbuf", NULL};
	const config_setting_t *g;
	long long v;

	c->queue_maxlen = 8192;
	c->rcvbuf = 8u << 20;
	if (section(x, root, "nfqueue", &g))
		return -1;
	if (!g)
		return 0;
	if (check_names(x, g, names))
		return -1;
	if (opt_uint(x, g, "queue_maxlen", 1, 1048576, 8192, &v))
		return -1;
	c->queue_maxlen = (uint32_t)v;
	if (opt_uint(x, g, "rcvbuf", 65536, 1u << 30, 8u << 20, &v))
		return -1;
	c->rcvbuf = (uint32_t)v;
	return 0;
}

static int parse_service(struct ctx *x, const config_setting_t *g, struct wlb_service *svc)
{
	static const char *const names[] = {"origin",	     "ports",	 "replicable",
					    "configuration", "replicas", NULL};
	const config_setting_t *s;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return wrong_type(x, g, "a group");
	if (check_names(x, g, names))
		return -1;
	svc->line = line_of(g);
	if (req_addr(x, g, "origin", &svc->origin))
		return -1;
	s = config_setting_get_member(g, "ports");
	if (s) {
		if (port_list(x, s, svc->ports, &svc->n_ports))
			return -1;
	} else {
		svc->ports[0] = 80;
		svc->ports[1] = 443;
		svc->n_ports = 2;
	}
	svc->replicable = true;
	s = config_setting_get_member(g, "replicable");
	if (s && get_bool(x, s, &svc->replicable))
		return -1;
	if (opt_mode(x, g, &svc->mode))
		return -1;
	s = config_setting_get_member(g, "replicas");
	if (s && addr_list(x, s, false, "replicas", svc->replicas, &svc->n_replicas))
		return -1;
	return 0;
}

static int cmp_addr(uint32_t a, uint32_t b)
{
	a = ntohl(a);
	b = ntohl(b);
	return a < b ? -1 : a > b;
}

static int cmp_service(const void *a, const void *b)
{
	const struct wlb_service *x = a, *y = b;

	return cmp_addr(x->origin, y->origin);
}

/* Sorted by origin, still in the order written at ties. */
static int cmp_service_ptr(const void *a, const void *b)
{
	const struct wlb_service *const *x = a, *const *y = b;
	int r = cmp_addr((*x)->origin, (*y)->origin);

	return r ? r : (*x < *y ? -1 : *x > *y);
}

/* Sorting pointers rather than the services themselves keeps the position
 * in the file, so the second definition can be named by its path. */
static int check_duplicate_origins(struct ctx *x, const config_setting_t *list,
				   struct wlb_service *v, unsigned n)
{
	const struct wlb_service **p, *first = NULL, *dup = NULL;
	char buf[INET_ADDRSTRLEN];
	unsigned i;

	if (n < 2)
		return 0;
	p = malloc(n * sizeof(*p));
	if (!p)
		return bad(x, list, "out of memory");
	for (i = 0; i < n; i++)
		p[i] = &v[i];
	qsort(p, n, sizeof(*p), cmp_service_ptr);
	for (i = 1; i < n && !dup; i++) {
		if (p[i]->origin == p[i - 1]->origin) {
			first = p[i - 1];
			dup = p[i];
		}
	}
	free(p);
	if (!dup)
		return 0;
	inet_ntop(AF_INET, &dup->origin, buf, sizeof(buf));
	return bad(x,
		   config_setting_get_member(config_setting_get_elem(list, (unsigned)(dup - v)),
					     "origin"),
		   "duplicate origin %s (first defined at line %u)", buf, first->line);
}

static int parse_services(struct ctx *x, const config_setting_t *root, struct wlb_conf *c)
{
	const config_setting_t *list = config_setting_get_member(root, "services");
	unsigned i, n;

	if (!list)
		return 0;
	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return wrong_type(x, list, "a list");
	n = (unsigned)config_setting_length(list);
	if (!n)
		return 0;
	c->services = calloc(n, sizeof(*c->services));
	if (!c->services)
		return bad(x, list, "out of memory");
	for (i = 0; i < n; i++)
		if (parse_service(x, config_setting_get_elem(list, i), &c->services[i]))
			return -1;
	c->n_services = n;
	if (check_duplicate_origins(x, list, c->services, n))
		return -1;
	qsort(c->services, n, sizeof(*c->services), cmp_service);
	return 0;
}

static int parse_clientgw_lists(struct ctx *x, const config_setting_t *g,
				struct wlb_clientgw_conf *cg)
{
	const config_setting_t *s;

	s = config_setting_get_member(g, "web_ports");
	if (s) {
		if (port_bitmap(x, s, cg->web_ports))
			return -1;
	} else {
		cg->web_ports[80 / 8] |= 1u << (80 % 8);
		cg->web_ports[443 / 8] |= 1u << (443 % 8);
	}
	s = config_setting_get_member(g, "include");
	if (s ? range_list(x, s, &cg->include) : whole_space(x, g, &cg->include))
		return -1;
	s = config_setting_get_member(g, "exclude");
	return s ? range_list(x, s, &cg->exclude) : 0;
}

static int parse_clientgw(struct ctx *x, const config_setting_t *root, struct wlb_conf *c)
{
	static const char *const names[] = {
		"queue",   "workers",  "web_ports",	    "include",
		"exclude", "flows",    "half_open_timeout", "idle_timeout",
		"linger",  "rst_mark", "configuration",	    "tunnel_mtu",
		NULL};
	struct wlb_clientgw_conf *cg = &c->clientgw;
	const config_setting_t *g;
	long long v;

	if (section(x, root, "clientgw", &g))
		return -1;
	if (!g)
		return 0;
	if (check_names(x, g, names) || req_queue(x, g, &cg->queue, &cg->workers) ||
	    parse_clientgw_lists(x, g, cg))
		return -1;
	if (opt_uint(x, g, "flows", 16, 1 << 26, 65536, &v))
		return -1;
	cg->flows = (uint32_t)v;
	if (opt_seconds(x, g, "half_open_timeout", 0.1, 3600, 10, &cg->half_open_ms) ||
	    opt_seconds(x, g, "idle_timeout", 1, 86400, 300, &cg->idle_ms) ||
	    opt_seconds(x, g, "linger", 0, 600, 2, &cg->linger_ms))
		return -1;
	if (opt_uint(x, g, "rst_mark", 1, 0xffffffffLL, 0x574c, &v))
		return -1;
	cg->rst_mark = (uint32_t)v;
	if (opt_mode(x, g, &cg->mode))
		return -1;
	if (opt_uint(x, g, "tunnel_mtu", 576, 65535, 1500, &v))
		return -1;
	cg->tunnel_mtu = (uint16_t)v;
	cg->present = true;
	return 0;
}

static int parse_redirector(struct ctx *x, const config_setting_t *root, struct wlb_conf *c)
{
	static const char *const names[] = {"queue", "workers", "address", "ttl", NULL};
	struct wlb_redirector_conf *r = &c->redirector;
	const config_setting_t *g;
	long long v;

	if (section(x, root, "redirector", &g))
		return -1;
	if (!g)
		return 0;
	if (check_names(x, g, names) || req_queue(x, g, &r->queue, &r->workers) ||
	    req_addr(x, g, "address", &r->address))
		return -1;
	if (opt_uint(x, g, "ttl", 1, 255, 64, &v))
		return -1;
	r->ttl = (uint8_t)v;
	r->present = true;
	return 0;
}

static int cmp_addr_p(const void *a, const void *b)
{
	return cmp_addr(*(const uint32_t *)a, *(const uint32_t *)b);
}

static int parse_replicad_limits(struct ctx *x, const config_setting_t *g,
				 struct wlb_replicad_conf *r)
{
	const config_setting_t *s;
	unsigned v;
	long long n;

	r->state = WLB_REPLICA_ACTIVE;
	s = config_setting_get_member(g, "state");
	if (s) {
		if (get_choice(x, s, state_names, 3, "a replica state", &v))
			return -1;
		r->state = (enum wlb_replica_state)v;
	}
	if (opt_uint(x, g, "max_established", 0, 0xffffffffLL, 0, &n))
		return -1;
	r->max_established = (uint32_t)n;
	r->max_load1 = 0;
	s = config_setting_get_member(g, "max_load1");
	return s ? get_number(x, s, 0, 1e6, &r->max_load1) : 0;
}

static int parse_replicad(struct ctx *x, const config_setting_t *root, struct wlb_conf *c)
{
	static const char *const names[] = {
		"queue",	   "workers",	 "service_address", "redirectors",  "state",
		"max_established", "max_load1",	 "flows",	    "flow_timeout", "idle_timeout",
		"linger",	   "tunnel_mtu", "configurations",  NULL,
	};
	struct wlb_replicad_conf *r = &c->replicad;
	const config_setting_t *g, *s;
	long long v;

	if (section(x, root, "replicad", &g))
		return -1;
	if (!g)
		return 0;
	if (check_names(x, g, names) || req_queue(x, g, &r->queue, &r->workers) ||
	    req_addr(x, g, "service_address", &r->service_address))
		return -1;
	s = config_setting_get_member(g, "redirectors");
	if (!s)
		return missing(x, g, "redirectors");
	if (addr_list(x, s, true, "redirectors", r->redirectors, &r->n_redirectors))
		return -1;
	qsort(r->redirectors, r->n_redirectors, sizeof(r->redirectors[0]), cmp_addr_p);
	if (parse_replicad_limits(x, g, r))
		return -1;
	if (opt_uint(x, g, "flows", 16, 1 << 26, 16384, &v))
		return -1;
	r->flows = (uint32_t)v;
	if (opt_seconds(x, g, "flow_timeout", 0.1, 600, 5, &r->flow_timeout_ms) ||
	    opt_seconds(x, g, "idle_timeout", 1, 86400, 300, &r->idle_ms) ||
	    opt_seconds(x, g, "linger", 0, 600, 2, &r->linger_ms))
		return -1;
	if (opt_uint(x, g, "tunnel_mtu", 576, 65535, 1500, &v) ||
	    opt_modes(x, g, &r->configurations))
		return -1;
	r->tunnel_mtu = (uint16_t)v;
	r->present = true;
	return 0;
}

static int need_section(struct ctx *x, const char *name)
{
	if (x->err && x->errlen)
		snprintf(x->err, x->errlen, "%s: %s: section required by this daemon is missing",
			 x->name, name);
	return -1;
}

static int check_needs(struct ctx *x, const config_setting_t *root, const struct wlb_conf *c,
		       unsigned need)
{
	if ((need & WLB_NEED_CLIENTGW) && !c->clientgw.present)
		return need_section(x, "clientgw");
	if ((need & WLB_NEED_REDIRECTOR) && !c->redirector.present)
		return need_section(x, "redirector");
	if ((need & WLB_NEED_REDIRECTOR) && !config_setting_get_member(root, "services"))
		return need_section(x, "services");
	if ((need & WLB_NEED_REPLICAD) && !c->replicad.present)
		return need_section(x, "replicad");
	return 0;
}

static int parse_root(struct ctx *x, const config_setting_t *root, struct wlb_conf *c,
		      unsigned need)
{
	static const char *const names[] = {"nfqueue",	  "services", "clientgw",
					    "redirector", "replicad", NULL};

	if (check_names(x, root, names) || parse_nfqueue(x, root, c) ||
	    parse_services(x, root, c) || parse_clientgw(x, root, c) ||
	    parse_redirector(x, root, c) || parse_replicad(x, root, c))
		return -1;
	return check_needs(x, root, c, need);
}

void wlb_conf_free(struct wlb_conf *c)
{
	if (!c)
		return;
	free(c->file);
	free(c->services);
	free(c->clientgw.include.v);
	free(c->clientgw.exclude.v);
	free(c);
}

/* A refusal is logged as one line: a quoted value (a string may span
 * lines) or a file name must not break it, nor put terminal controls in
 * the log. */
static void one_line(char *err, size_t errlen)
{
	if (!err || !errlen)
		return;
	for (; *err; err++)
		if ((unsigned char)*err < 0x20 || *err == 0x7f)
			*err = '?';
}

/* Parse text with a fresh config_t that does not outlive the call. */
static struct wlb_conf *parse_text(struct ctx *x, const char *text, unsigned need)
{
	struct wlb_conf *c;
	config_t cfg;

	config_init(&cfg);
	if (x->dir)
		config_set_include_dir(&cfg, x->dir);
	if (!config_read_string(&cfg, text)) {
		char buf[PATH_MAX_LEN];

		const char *what = config_error_text(&cfg);

		/* libconfig's commonest text is "syntax error" itself: say more */
		if (!strcmp(what, "syntax error"))
			what = "not libconfig syntax (a missing ';', '=' or bracket, or an "
			       "unquoted string?)";
		if (x->err && x->errlen)
			snprintf(x->err, x->errlen, "%s:%d: syntax error: %s",
				 file_name(x, config_error_file(&cfg), buf, sizeof(buf)),
				 config_error_line(&cfg), what);
		config_destroy(&cfg);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->file = strdup(x->name);
	if (!c || !c->file) {
		if (x->err && x->errlen)
			snprintf(x->err, x->errlen, "%s: out of memory", x->name);
		wlb_conf_free(c);
		c = NULL;
	} else if (parse_root(x, config_root_setting(&cfg), c, need)) {
		wlb_conf_free(c);
		c = NULL;
	}
	config_destroy(&cfg);
	return c;
}

static struct wlb_conf *load(struct ctx *x, const char *text, unsigned need)
{
	struct wlb_conf *c = parse_text(x, text, need);

	if (!c)
		one_line(x->err, x->errlen);
	return c;
}

struct wlb_conf *wlb_conf_load_string(const char *text, const char *name, unsigned need, char *err,
				      size_t errlen)
{
	struct ctx x = {.name = name ? name : "(string)", .err = err, .errlen = errlen};

	return load(&x, text, need);
}

/* Read the whole file up front: errors then come with errno, and the
 * scanner never meets a read error (flex would exit the process). */
static char *slurp(const char *path, int *errnum)
{
	size_t len = 0, cap = 4096;
	char *buf, *nbuf;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		*errnum = errno;
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		len += fread(buf + len, 1, cap - len - 1, f);
		if (ferror(f) || feof(f))
			break;
		if (cap > MAX_FILE_SIZE) {
			errno = EFBIG;
			break;
		}
		nbuf = realloc(buf, cap *= 2);
		if (!nbuf)
			break;
		buf = nbuf;
	}
	*errnum = errno;
	if (buf && !ferror(f) && feof(f)) {
		fclose(f);
		buf[len] = '\0';
		return buf;
	}
	fclose(f);
	free(buf);
	return NULL;
}

struct wlb_conf *wlb_conf_load(const char *path, unsigned need, char *err, size_t errlen)
{
	struct ctx x = {.name = path, .err = err, .errlen = errlen};
	struct wlb_conf *c;
	char *text, *dir, *slash;
	int errnum = 0;

	text = slurp(path, &errnum);
	if (!text) {
		/* %m rather than strerror(), which may use a static buffer */
		errno = errnum;
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %m", path);
		one_line(err, errlen);
		return NULL;
	}
	/* @include "x" is relative to the including file, not to our cwd */
	dir = strdup(path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash == dir)
		slash++; /* a file in "/" */
	if (slash) {
		*slash = '\0';
		x.dir = dir;
	}
	c = load(&x, text, need);
	free(dir);
	free(text);
	return c;
}

/* ---- lookups ---- */

bool wlb_ranges_contain(const struct wlb_ranges *r, uint32_t host_addr)
{
	unsigned lo = 0, hi = r->n;

	/* find the last range starting at or below host_addr */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (r->v[mid].lo <= host_addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && host_addr <= r->v[lo - 1].hi;
}

bool wlb_conf_dst_included(const struct wlb_conf *c, uint32_t addr)
{
	uint32_t h = ntohl(addr);

	return wlb_ranges_contain(&c->clientgw.include, h) &&
	       !wlb_ranges_contain(&c->clientgw.exclude, h);
}

bool wlb_conf_is_web_port(const struct wlb_conf *c, uint16_t port)
{
	uint16_t p = ntohs(port);

	return c->clientgw.web_ports[p / 8] & (1u << (p % 8));
}

static int cmp_key_service(const void *key, const void *elem)
{
	const struct wlb_service *s = elem;

	return cmp_addr(*(const uint32_t *)key, s->origin);
}

const struct wlb_service *wlb_conf_find_service(const struct wlb_conf *c, uint32_t origin,
						uint16_t port)
{
	const struct wlb_service *s;
	uint16_t p = ntohs(port);
	unsigned i;

	if (!c->n_services)
		return NULL;
	s = bsearch(&origin, c->services, c->n_services, sizeof(*s), cmp_key_service);
	if (!s)
		return NULL;
	for (i = 0; i < s->n_ports; i++)
		if (s->ports[i] == p)
			return s;
	return NULL;
}

bool wlb_conf_clientgw_uses(const struct wlb_conf *c, enum wlb_mode m)
{
	if (c->clientgw.mode == m)
		return true;
	for (unsigned i = 0; i < c->n_services; i++)
		if (c->services[i].mode == m)
			return true;
	return false;
}

bool wlb_conf_is_redirector(const struct wlb_conf *c, uint32_t addr)
{
	const struct wlb_replicad_conf *r = &c->replicad;

	return r->n_redirectors &&
	       bsearch(&addr, r->redirectors, r->n_redirectors, sizeof(addr), cmp_addr_p);
}
