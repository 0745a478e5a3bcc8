// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the wlb.conf(5) reader: the shipped sample, defaults,
 * every kind of error with its exact FILE:LINE: SETTING prefix, and the
 * packet-path lookups.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "testpkt.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "."
#endif

#define ALL_NEEDS (WLB_NEED_CLIENTGW | WLB_NEED_REDIRECTOR | WLB_NEED_REPLICAD)

static char err[512];

static uint32_t ip(const char *s)
{
	struct in_addr a;

	ck_assert_int_eq(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static uint32_t hip(const char *s)
{
	return ntohl(ip(s));
}

static struct wlb_conf *load(const char *text, unsigned need)
{
	struct wlb_conf *c;

	err[0] = '\0';
	c = wlb_conf_load_string(text, "t.conf", need, err, sizeof(err));
	ck_assert_msg(c, "unexpected error: %s", err);
	return c;
}

/* ---- the shipped sample ---- */

START_TEST(workers_read)
{
	struct wlb_conf *c = load("clientgw: {\n  queue = 10;\n  workers = 4;\n};\n", 0);

	ck_assert_uint_eq(c->clientgw.queue, 10);
	ck_assert_uint_eq(c->clientgw.workers, 4);
	wlb_conf_free(c);
}
END_TEST

START_TEST(sample_loads)
{
	struct wlb_conf *c;
	const struct wlb_service *s;

	c = wlb_conf_load(TEST_SRCDIR "/etc/wlb.conf", ALL_NEEDS, err, sizeof(err));
	ck_assert_msg(c, "%s", err);
	ck_assert_str_eq(c->file, TEST_SRCDIR "/etc/wlb.conf");
	ck_assert_uint_eq(c->queue_maxlen, 8192);
	ck_assert_uint_eq(c->rcvbuf, 8388608);
	ck_assert_uint_eq(c->n_services, 3);
	ck_assert(c->clientgw.present && c->redirector.present && c->replicad.present);

	s = wlb_conf_find_service(c, ip("203.0.113.10"), htons(443));
	ck_assert_ptr_nonnull(s);
	ck_assert(s->replicable);
	ck_assert_int_eq(s->mode, WLB_MODE_A);
	ck_assert_uint_eq(s->n_replicas, 2);
	ck_assert_uint_eq(s->replicas[1], ip("198.51.100.22"));
	s = wlb_conf_find_service(c, ip("203.0.113.20"), htons(443));
	ck_assert_ptr_nonnull(s);
	ck_assert(!s->replicable);
	ck_assert_int_eq(s->mode, WLB_MODE_B);
	ck_assert_uint_eq(s->n_replicas, 0);
	s = wlb_conf_find_service(c, ip("203.0.113.30"), htons(80));
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->mode, WLB_MODE_C);
	ck_assert_uint_eq(s->n_replicas, 1);

	ck_assert_uint_eq(c->clientgw.queue, 0);
	ck_assert_uint_eq(c->clientgw.tunnel_mtu, 1500);
	ck_assert_uint_eq(c->clientgw.half_open_ms, 10000);
	ck_assert_uint_eq(c->clientgw.rst_mark, 0x574c);
	ck_assert(wlb_conf_dst_included(c, ip("203.0.113.10")));
	ck_assert(!wlb_conf_dst_included(c, ip("10.1.2.3")));
	ck_assert_uint_eq(c->redirector.queue, 1);
	ck_assert_uint_eq(c->redirector.address, ip("198.51.100.6"));
	ck_assert_uint_eq(c->replicad.queue, 2);
	ck_assert(wlb_conf_is_redirector(c, ip("198.51.100.6")));
	ck_assert_uint_eq(c->replicad.flow_timeout_ms, 5000);
	ck_assert_uint_eq(c->replicad.idle_ms, 300000);
	ck_assert_uint_eq(c->replicad.linger_ms, 2000);
	ck_assert_uint_eq(c->replicad.tunnel_mtu, 1500);
	wlb_conf_free(c);
}
END_TEST

/* ---- defaults ---- */

static const char minimal[] = "services = ( { origin = \"192.0.2.80\"; } );\n"
			      "clientgw: { queue = 3; };\n"
			      "redirector: { queue = 4; address = \"192.0.2.1\"; };\n"
			      "replicad: { queue = 5; service_address = \"192.0.2.9\";\n"
			      "            redirectors = [ \"192.0.2.1\" ]; };\n";

START_TEST(defaults_applied)
{
	struct wlb_conf *c = load(minimal, ALL_NEEDS);
	const struct wlb_service *s = &c->services[0];

	ck_assert_str_eq(c->file, "t.conf");
	ck_assert_uint_eq(c->clientgw.workers, 1);
	ck_assert_uint_eq(c->redirector.workers, 1);
	ck_assert_uint_eq(c->replicad.workers, 1);
	ck_assert_uint_eq(c->queue_maxlen, 8192);
	ck_assert_uint_eq(c->rcvbuf, 8u << 20);

	ck_assert_uint_eq(c->n_services, 1);
	ck_assert_uint_eq(s->origin, ip("192.0.2.80"));
	ck_assert_uint_eq(s->n_ports, 2);
	ck_assert_uint_eq(s->ports[0], 80);
	ck_assert_uint_eq(s->ports[1], 443);
	ck_assert(s->replicable);
	ck_assert_int_eq(s->mode, WLB_MODE_A);
	ck_assert_uint_eq(s->n_replicas, 0);
	ck_assert_uint_eq(s->line, 1);

	ck_assert_uint_eq(c->clientgw.queue, 3);
	ck_assert(wlb_conf_is_web_port(c, htons(80)));
	ck_assert(wlb_conf_is_web_port(c, htons(443)));
	ck_assert(!wlb_conf_is_web_port(c, htons(8080)));
	ck_assert_uint_eq(c->clientgw.include.n, 1);
	ck_assert_uint_eq(c->clientgw.include.v[0].lo, 0);
	ck_assert_uint_eq(c->clientgw.include.v[0].hi, 0xffffffffu);
	ck_assert_uint_eq(c->clientgw.exclude.n, 0);
	ck_assert(wlb_conf_dst_included(c, ip("0.0.0.0")));
	ck_assert(wlb_conf_dst_included(c, ip("255.255.255.255")));
	ck_assert_uint_eq(c->clientgw.flows, 65536);
	ck_assert_uint_eq(c->clientgw.half_open_ms, 10000);
	ck_assert_uint_eq(c->clientgw.idle_ms, 300000);
	ck_assert_uint_eq(c->clientgw.linger_ms, 2000);
	ck_assert_uint_eq(c->clientgw.rst_mark, 0x574c);
	ck_assert_int_eq(c->clientgw.mode, WLB_MODE_A);
	ck_assert_uint_eq(c->clientgw.tunnel_mtu, 1500);

	ck_assert_uint_eq(c->redirector.queue, 4);
	ck_assert_uint_eq(c->redirector.ttl, 64);

	ck_assert_uint_eq(c->replicad.queue, 5);
	ck_assert_uint_eq(c->replicad.service_address, ip("192.0.2.9"));
	ck_assert_int_eq(c->replicad.state, WLB_REPLICA_ACTIVE);
	ck_assert_uint_eq(c->replicad.max_established, 0);
	ck_assert(c->replicad.max_load1 == 0.0);
	ck_assert_uint_eq(c->replicad.flows, 16384);
	ck_assert_uint_eq(c->replicad.flow_timeout_ms, 5000);
	ck_assert_uint_eq(c->replicad.idle_ms, 300000);
	ck_assert_uint_eq(c->replicad.linger_ms, 2000);
	ck_assert_uint_eq(c->replicad.tunnel_mtu, 1500);
	ck_assert(wlb_replicad_serves(&c->replicad, WLB_MODE_A));
	ck_assert(wlb_replicad_serves(&c->replicad, WLB_MODE_B));
	ck_assert(wlb_replicad_serves(&c->replicad, WLB_MODE_C));
	ck_assert(!wlb_replicad_serves(&c->replicad, (enum wlb_mode)3));
	wlb_conf_free(c);
}
END_TEST

START_TEST(replica_configurations)
{
	static const char *const text[] = {
		"replicad: { queue = 1; service_address = \"192.0.2.9\";\n"
		"  redirectors = [ \"192.0.2.1\" ]; configurations = [ \"A\" ]; };\n",
		"replicad: { queue = 1; service_address = \"192.0.2.9\";\n"
		"  redirectors = [ \"192.0.2.1\" ]; configurations = ( \"C\", \"B\" ); };\n",
	};
	struct wlb_conf *c = load(text[0], WLB_NEED_REPLICAD);

	ck_assert(wlb_replicad_serves(&c->replicad, WLB_MODE_A));
	ck_assert(!wlb_replicad_serves(&c->replicad, WLB_MODE_B));
	ck_assert(!wlb_replicad_serves(&c->replicad, WLB_MODE_C));
	wlb_conf_free(c);
	c = load(text[1], WLB_NEED_REPLICAD);
	ck_assert(!wlb_replicad_serves(&c->replicad, WLB_MODE_A));
	ck_assert(wlb_replicad_serves(&c->replicad, WLB_MODE_B));
	ck_assert(wlb_replicad_serves(&c->replicad, WLB_MODE_C));
	wlb_conf_free(c);
}
END_TEST

START_TEST(absent_sections)
{
	struct wlb_conf *c = load("", 0);

	ck_assert(!c->clientgw.present && !c->redirector.present && !c->replicad.present);
	ck_assert_uint_eq(c->n_services, 0);
	ck_assert_ptr_null(wlb_conf_find_service(c, ip("192.0.2.1"), htons(80)));
	ck_assert(!wlb_conf_is_redirector(c, ip("192.0.2.1")));
	ck_assert(!wlb_conf_is_web_port(c, htons(80)));
	ck_assert(!wlb_conf_dst_included(c, ip("192.0.2.1")));
	wlb_conf_free(c);
}
END_TEST

START_TEST(values_converted)
{
	struct wlb_conf *c = load("clientgw: { queue = 65535; half_open_timeout = 0.1234;\n"
				  "  idle_timeout = 1.5; linger = 0; rst_mark = 0xffffffff;\n"
				  "  configuration = \"C\"; flows = 67108864; web_ports = [ ]; };\n"
				  "replicad: { queue = 0; service_address = \"192.0.2.9\";\n"
				  "  redirectors = [ \"192.0.2.1\" ]; state = \"draining\";\n"
				  "  max_established = 4294967295L; max_load1 = 4;\n"
				  "  flow_timeout = 600; };\n"
				  "nfqueue: { queue_maxlen = 1; rcvbuf = 1073741824; };\n",
				  WLB_NEED_CLIENTGW | WLB_NEED_REPLICAD);

	ck_assert_uint_eq(c->clientgw.queue, 65535);
	ck_assert_uint_eq(c->clientgw.half_open_ms, 123);
	ck_assert_uint_eq(c->clientgw.idle_ms, 1500);
	ck_assert_uint_eq(c->clientgw.linger_ms, 0);
	ck_assert_uint_eq(c->clientgw.rst_mark, 0xffffffffu);
	ck_assert_int_eq(c->clientgw.mode, WLB_MODE_C);
	ck_assert_uint_eq(c->clientgw.flows, 67108864);
	ck_assert(!wlb_conf_is_web_port(c, htons(80)));
	ck_assert_int_eq(c->replicad.state, WLB_REPLICA_DRAINING);
	ck_assert_uint_eq(c->replicad.max_established, 4294967295u);
	ck_assert(c->replicad.max_load1 == 4.0);
	ck_assert_uint_eq(c->replicad.flow_timeout_ms, 600000);
	ck_assert_uint_eq(c->queue_maxlen, 1);
	ck_assert_uint_eq(c->rcvbuf, 1u << 30);
	wlb_conf_free(c);
}
END_TEST

/* The settings of configurations B and C, at the ends of their ranges. */
START_TEST(bc_values_converted)
{
	static const char lo[] =
		"services = ( { origin = \"192.0.2.80\"; configuration = \"B\"; },\n"
		"  { origin = \"192.0.2.81\"; configuration = \"C\"; } );\n"
		"clientgw: { queue = 0; tunnel_mtu = 576; configuration = \"B\"; };\n"
		"replicad: { queue = 1; service_address = \"192.0.2.9\";\n"
		"  redirectors = [ \"192.0.2.1\" ]; tunnel_mtu = 576;\n"
		"  idle_timeout = 1; linger = 0; };\n";
	static const char hi[] = "clientgw: { queue = 0; tunnel_mtu = 65535; };\n"
				 "replicad: { queue = 1; service_address = \"192.0.2.9\";\n"
				 "  redirectors = [ \"192.0.2.1\" ]; tunnel_mtu = 65535;\n"
				 "  idle_timeout = 86400; linger = 600.0; };\n";
	static const char odd[] = "clientgw: { queue = 0; tunnel_mtu = 0x5dc; };\n"
				  "replicad: { queue = 1; service_address = \"192.0.2.9\";\n"
				  "  redirectors = [ \"192.0.2.1\" ]; tunnel_mtu = 1400L;\n"
				  "  idle_timeout = 1.2345; linger = 0.0005; };\n";
	struct wlb_conf *c = load(lo, WLB_NEED_CLIENTGW | WLB_NEED_REPLICAD);

	ck_assert_uint_eq(c->clientgw.tunnel_mtu, 576);
	ck_assert_int_eq(c->clientgw.mode, WLB_MODE_B);
	ck_assert_int_eq(wlb_conf_find_service(c, ip("192.0.2.80"), htons(80))->mode, WLB_MODE_B);
	ck_assert_int_eq(wlb_conf_find_service(c, ip("192.0.2.81"), htons(443))->mode, WLB_MODE_C);
	ck_assert_uint_eq(c->replicad.tunnel_mtu, 576);
	ck_assert_uint_eq(c->replicad.idle_ms, 1000);
	ck_assert_uint_eq(c->replicad.linger_ms, 0);
	wlb_conf_free(c);
	c = load(hi, WLB_NEED_CLIENTGW | WLB_NEED_REPLICAD);
	ck_assert_uint_eq(c->clientgw.tunnel_mtu, 65535);
	ck_assert_uint_eq(c->replicad.tunnel_mtu, 65535);
	ck_assert_uint_eq(c->replicad.idle_ms, 86400000);
	ck_assert_uint_eq(c->replicad.linger_ms, 600000);
	/* the clientgw's own timers are its own */
	ck_assert_uint_eq(c->clientgw.idle_ms, 300000);
	ck_assert_uint_eq(c->clientgw.linger_ms, 2000);
	wlb_conf_free(c);
	c = load(odd, WLB_NEED_CLIENTGW | WLB_NEED_REPLICAD);
	ck_assert_uint_eq(c->clientgw.tunnel_mtu, 1500);
	ck_assert_uint_eq(c->replicad.tunnel_mtu, 1400);
	ck_assert_uint_eq(c->replicad.idle_ms, 1235); /* rounded to the millisecond */
	ck_assert_uint_eq(c->replicad.linger_ms, 1);
	ck_assert_uint_eq(c->replicad.flow_timeout_ms, 5000);
	wlb_conf_free(c);
}
END_TEST

/* ---- errors ---- */

struct bad {
	const char *text;
	unsigned need;
	const char *where; /* exact start of the message, "FILE:LINE: SETTING" */
	const char *what;  /* and somewhere after it */
};

static const struct bad bad[] = {
	{"clientgw: {\n  queue = 0;\n  workers = 3;\n};\n", 0, "bad.conf:3: clientgw.workers",
	 "not a power of two"},
	{"replicad: {\n  queue = 65535;\n  workers = 2;\n  service_address = \"192.0.2.1\";\n"
	 "  redirectors = [ \"192.0.2.2\" ];\n};\n",
	 0, "bad.conf:3: replicad.workers", "exceed 65535"},
	{"redirector: {\n  queue = 1;\n  address = \"192.0.2.1\";\n  workers = 16;\n};\n", 0,
	 "bad.conf:4: redirector.workers", "out of range 1..8"},
	{"nfqueue: {\n  queue_maxlen = ;\n};\n", 0, "bad.conf:2: syntax error", ""},
	{"clientgw: {\n  queue = 0;\n  web_ports = [ 80, \"443\" ];\n};\n", 0,
	 "bad.conf:3: syntax error", "mismatched element type in array"},
	{"services = ( {\n  origin = \"192.0.2.1\";\n"
	 "  replicas = [ \"192.0.2.2\", \"192.0.2.3\",\n    \"1.2.3\" ];\n} );\n",
	 0, "bad.conf:4: services.[0].replicas.[2]", "\"1.2.3\" is not an IPv4 address"},
	{"services = ( { origin = \"192.0.2.256\"; } );\n", 0, "bad.conf:1: services.[0].origin",
	 "not an IPv4 address"},
	{"clientgw: {\n  queue = 0;\n  web_ports = [ 80,\n    70000 ];\n};\n", 0,
	 "bad.conf:4: clientgw.web_ports.[1]", "port 70000 out of range 1..65535"},
	{"clientgw: { queue = 0;\n  web_ports = [ 0 ]; };\n", 0,
	 "bad.conf:2: clientgw.web_ports.[0]", "port 0 out of range 1..65535"},
	{"clientgw: { queue = 0;\n  web_ports = [ 80, 443, 80 ]; };\n", 0,
	 "bad.conf:2: clientgw.web_ports.[2]", "port 80 listed twice"},
	{"clientgw: { queue = 0;\n  include = [ \"10.0.0.1/8\" ]; };\n", 0,
	 "bad.conf:2: clientgw.include.[0]", "host bits set (did you mean \"10.0.0.0/8\"?)"},
	{"clientgw: { queue = 0;\n\n  exclude = [ \"10.0.0.0/8\", \"10.0.0.0/33\" ]; };\n", 0,
	 "bad.conf:3: clientgw.exclude.[1]", "not an IPv4 address or prefix"},
	{"clientgw: { queue = 0;\n  include = [ \"example.com\" ]; };\n", 0,
	 "bad.conf:2: clientgw.include.[0]", "not an IPv4 address or prefix"},
	{"clientgw: { queue = 0;\n  include = [ \"10.0.0.0/08\" ]; };\n", 0,
	 "bad.conf:2: clientgw.include.[0]", "not an IPv4 address or prefix"},
	{"clientgw: {\n  queue = 0;\n  web_port = [ 80 ];\n};\n", 0,
	 "bad.conf:3: clientgw.web_port", "unknown setting"},
	{"\nclientgateway: { queue = 0; };\n", 0, "bad.conf:2: clientgateway", "unknown setting"},
	{"services = (\n  { origin = \"192.0.2.1\"; },\n  { origin = \"192.0.2.2\";\n"
	 "    replica = [ ]; }\n);\n",
	 0, "bad.conf:4: services.[1].replica", "unknown setting"},
	{"clientgw: {\n  queue = \"0\";\n};\n", 0, "bad.conf:2: clientgw.queue",
	 "expected an integer, not a string"},
	{"services = ( { origin = \"192.0.2.1\";\n  replicable = \"yes\"; } );\n", 0,
	 "bad.conf:2: services.[0].replicable", "expected a boolean, not a string"},
	{"nfqueue = 5;\n", 0, "bad.conf:1: nfqueue", "expected a group, not an integer"},
	{"services = { origin = \"192.0.2.1\"; };\n", 0, "bad.conf:1: services",
	 "expected a list, not a group"},
	{"services = ( { origin = \"192.0.2.1\";\n  ports = 80; } );\n", 0,
	 "bad.conf:2: services.[0].ports", "expected an array, not an integer"},
	{"services = ( { origin = \"192.0.2.1\";\n  ports = [ \"80\" ]; } );\n", 0,
	 "bad.conf:2: services.[0].ports.[0]", "expected an integer, not a string"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  max_load1 = \"1\"; };\n",
	 0, "bad.conf:3: replicad.max_load1", "expected a number, not a string"},
	{"\nclientgw: {\n  web_ports = [ 80 ];\n};\n", 0, "bad.conf:2: clientgw.queue",
	 "required setting missing"},
	{"services = (\n  { origin = \"192.0.2.1\"; },\n  {\n    ports = [ 80 ];\n  }\n);\n", 0,
	 "bad.conf:3: services.[1].origin", "required setting missing"},
	{"redirector: {\n  queue = 1;\n};\n", 0, "bad.conf:1: redirector.address",
	 "required setting missing"},
	{"replicad: {\n  queue = 1;\n  service_address = \"192.0.2.9\";\n};\n", 0,
	 "bad.conf:1: replicad.redirectors", "required setting missing"},
	{"replicad: {\n  queue = 1;\n  service_address = \"192.0.2.9\";\n  redirectors = [ ];\n};\n",
	 0, "bad.conf:4: replicad.redirectors", "must not be empty"},
	{"clientgw: { queue = 0; };\n", WLB_NEED_CLIENTGW | WLB_NEED_REPLICAD, "bad.conf: replicad",
	 "section required by this daemon is missing"},
	{"services = ( );\n", WLB_NEED_CLIENTGW, "bad.conf: clientgw",
	 "section required by this daemon is missing"},
	{"redirector: { queue = 1; address = \"192.0.2.1\"; };\n", WLB_NEED_REDIRECTOR,
	 "bad.conf: services", "section required by this daemon is missing"},
	{"services = (\n  { origin = \"192.0.2.7\"; },\n  { origin = \"192.0.2.1\"; },\n"
	 "  {\n    origin = \"192.0.2.7\"; }\n);\n",
	 0, "bad.conf:5: services.[2].origin",
	 "duplicate origin 192.0.2.7 (first defined at line 2)"},
	{"services = ( { origin = \"192.0.2.1\";\n  configuration = \"D\"; } );\n", 0,
	 "bad.conf:2: services.[0].configuration",
	 "\"D\" is not a configuration (expected \"A\", \"B\" or \"C\")"},
	{"clientgw: { queue = 0;\n  configuration = \"a\"; };\n", 0,
	 "bad.conf:2: clientgw.configuration", "is not a configuration"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  state = \"paused\"; };\n",
	 0, "bad.conf:3: replicad.state", "\"paused\" is not a replica state"},
	{"services = ( { origin = \"192.0.2.1\";\n  ports = [ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"
	 " 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33 ];"
	 " } );\n",
	 0, "bad.conf:2: services.[0].ports", "too many ports (33, at most 32)"},
	{"services = ( { origin = \"192.0.2.1\";\n  ports = [ ]; } );\n", 0,
	 "bad.conf:2: services.[0].ports", "must not be empty"},
	{"services = ( { origin = \"192.0.2.1\";\n  replicas = [ \"192.0.2.5\", \"192.0.2.5\" ]; } );\n",
	 0, "bad.conf:2: services.[0].replicas.[1]", "192.0.2.5 listed twice"},
	{"clientgw: {\n  queue = 65536;\n};\n", 0, "bad.conf:2: clientgw.queue",
	 "65536 out of range 0..65535"},
	{"clientgw: { queue = 0;\n  half_open_timeout = 0.05; };\n", 0,
	 "bad.conf:2: clientgw.half_open_timeout", "0.05 out of range 0.1..3600"},
	{"clientgw: { queue = 0;\n  linger = -1; };\n", 0, "bad.conf:2: clientgw.linger",
	 "-1 out of range 0..600"},
	{"clientgw: { queue = 0;\n  idle_timeout = true; };\n", 0,
	 "bad.conf:2: clientgw.idle_timeout", "expected a number, not a boolean"},
	{"clientgw: { queue = 0;\n  flows = 15; };\n", 0, "bad.conf:2: clientgw.flows",
	 "15 out of range 16..67108864"},
	{"clientgw: { queue = 0;\n  rst_mark = 0x100000000L; };\n", 0,
	 "bad.conf:2: clientgw.rst_mark", "4294967296 out of range 1..4294967295"},
	/* unmarked, the gateway's own RSTs would come back through its queue
	 * and close the connection they were sent for */
	{"clientgw: { queue = 0;\n  rst_mark = 0; };\n", 0, "bad.conf:2: clientgw.rst_mark",
	 "0 out of range 1..4294967295"},
	{"nfqueue: {\n  rcvbuf = 65535;\n};\n", 0, "bad.conf:2: nfqueue.rcvbuf",
	 "65535 out of range 65536..1073741824"},
	{"nfqueue: {\n  queue_maxlen = 0;\n};\n", 0, "bad.conf:2: nfqueue.queue_maxlen",
	 "0 out of range 1..1048576"},
	{"redirector: { queue = 1; address = \"192.0.2.1\";\n  ttl = 0; };\n", 0,
	 "bad.conf:2: redirector.ttl", "0 out of range 1..255"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  max_established = -1; };\n",
	 0, "bad.conf:3: replicad.max_established", "-1 out of range 0..4294967295"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  flow_timeout = 601; };\n",
	 0, "bad.conf:3: replicad.flow_timeout", "601 out of range 0.1..600"},
	{"services = ( 1 );\n", 0, "bad.conf:1: services.[0]", "expected a group, not an integer"},
	/* configurations B and C */
	{"clientgw: { queue = 0;\n  tunnel_mtu = 575; };\n", 0, "bad.conf:2: clientgw.tunnel_mtu",
	 "575 out of range 576..65535"},
	{"clientgw: {\n  queue = 0;\n\n  tunnel_mtu = 65536;\n};\n", 0,
	 "bad.conf:4: clientgw.tunnel_mtu", "65536 out of range 576..65535"},
	{"clientgw: { queue = 0;\n  tunnel_mtu = -1; };\n", 0, "bad.conf:2: clientgw.tunnel_mtu",
	 "-1 out of range 576..65535"},
	{"clientgw: { queue = 0;\n  tunnel_mtu = 1500.0; };\n", 0,
	 "bad.conf:2: clientgw.tunnel_mtu", "expected an integer, not a float"},
	{"clientgw: { queue = 0;\n  tunnel_mtu = \"1500\"; };\n", 0,
	 "bad.conf:2: clientgw.tunnel_mtu", "expected an integer, not a string"},
	{"clientgw: { queue = 0;\n  tunnel_mtu = 4294968796L; };\n", 0,
	 "bad.conf:2: clientgw.tunnel_mtu", "4294968796 out of range 576..65535"},
	{"clientgw: { queue = 0;\n  configuration = \"BC\"; };\n", 0,
	 "bad.conf:2: clientgw.configuration", "\"BC\" is not a configuration"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  tunnel_mtu = 575; };\n",
	 0, "bad.conf:3: replicad.tunnel_mtu", "575 out of range 576..65535"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  tunnel_mtu = 65536; };\n",
	 0, "bad.conf:3: replicad.tunnel_mtu", "65536 out of range 576..65535"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  idle_timeout = 0.5; };\n",
	 0, "bad.conf:3: replicad.idle_timeout", "0.5 out of range 1..86400"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  idle_timeout = 86401; };\n",
	 0, "bad.conf:3: replicad.idle_timeout", "86401 out of range 1..86400"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  idle_timeout = \"60\"; };\n",
	 0, "bad.conf:3: replicad.idle_timeout", "expected a number, not a string"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  linger = 601; };\n",
	 0, "bad.conf:3: replicad.linger", "601 out of range 0..600"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  linger = -0.5; };\n",
	 0, "bad.conf:3: replicad.linger", "-0.5 out of range 0..600"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  linger = [ 1 ]; };\n",
	 0, "bad.conf:3: replicad.linger", "expected a number, not an array"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  configurations = [ ]; };\n",
	 0, "bad.conf:3: replicad.configurations", "must not be empty"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  configurations = [ \"A\", \"D\" ]; };\n",
	 0, "bad.conf:3: replicad.configurations.[1]", "\"D\" is not a configuration"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  configurations = [ \"B\", \"B\" ]; };\n",
	 0, "bad.conf:3: replicad.configurations.[1]", "configuration B listed twice"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  configurations = \"A\"; };\n",
	 0, "bad.conf:3: replicad.configurations", "expected an array, not a string"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  configurations = [ \"A\", \"B\", \"C\", \"A\" ]; };\n",
	 0, "bad.conf:3: replicad.configurations", "too many configurations (4, at most 3)"},
	{"clientgw: { queue = 0;\n  configurations = [ \"A\" ]; };\n", 0,
	 "bad.conf:2: clientgw.configurations", "unknown setting"},
	/* unknown settings are still refused next to the new ones */
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  tunnel_mtu = 1400;\n  tunnel_mut = 1400; };\n",
	 0, "bad.conf:4: replicad.tunnel_mut", "unknown setting"},
	{"replicad: { queue = 0; service_address = \"192.0.2.9\";\n  redirectors = [ \"192.0.2.1\" ];\n"
	 "  configuration = \"C\"; };\n",
	 0, "bad.conf:3: replicad.configuration", "unknown setting"},
	{"clientgw: { queue = 0; tunnel_mtu = 1400;\n  linger_time = 1; };\n", 0,
	 "bad.conf:2: clientgw.linger_time", "unknown setting"},
	{"redirector: { queue = 1; address = \"192.0.2.1\";\n  tunnel_mtu = 1500; };\n", 0,
	 "bad.conf:2: redirector.tunnel_mtu", "unknown setting"},
	{"services = ( { origin = \"192.0.2.1\"; configuration = \"C\";\n  tunnel_mtu = 1500; } );\n",
	 0, "bad.conf:2: services.[0].tunnel_mtu", "unknown setting"},
	/* a value quoted in the message stays on its line: a string may span
	 * lines, and an escape may make a terminal control */
	{"clientgw: { queue = 0;\n  exclude = [ \"10.0.0.0/x\ny\" ]; };\n", 0,
	 "bad.conf:3: clientgw.exclude.[0]", "\"10.0.0.0/x?y\" is not an IPv4 address"},
	{"clientgw: { queue = 0;\n  exclude = [ \"\\x1b[2J\" ]; };\n", 0,
	 "bad.conf:2: clientgw.exclude.[0]", "\"?[2J\" is not an IPv4 address"},
};

START_TEST(bad_config)
{
	const struct bad *b = &bad[_i];
	size_t n = strlen(b->where);
	struct wlb_conf *c;

	memset(err, 'x', sizeof(err));
	c = wlb_conf_load_string(b->text, "bad.conf", b->need, err, sizeof(err));
	ck_assert_msg(!c, "case %d loaded", _i);
	ck_assert_msg(!strncmp(err, b->where, n) && err[n] == ':',
		      "case %d: \"%s\" does not start with \"%s:\"", _i, err, b->where);
	ck_assert_msg(strstr(err + n, b->what), "case %d: \"%s\" lacks \"%s\"", _i, err, b->what);
	ck_assert_msg(!strchr(err, '\n'), "case %d: more than one line", _i);
}
END_TEST

START_TEST(missing_file)
{
	ck_assert_ptr_null(wlb_conf_load("/nonexistent/wlb.conf", 0, err, sizeof(err)));
	ck_assert_str_eq(err, "/nonexistent/wlb.conf: cannot open: No such file or directory");
	ck_assert_ptr_null(wlb_conf_load("/", 0, err, sizeof(err)));
	ck_assert_str_eq(err, "/: cannot open: Is a directory");
}
END_TEST

START_TEST(short_error_buffer)
{
	char small[8];

	memset(small, 'x', sizeof(small));
	ck_assert_ptr_null(
		wlb_conf_load_string("clientgw = 1;", "bad.conf", 0, small, sizeof(small)));
	ck_assert_str_eq(small, "bad.con");
	ck_assert_ptr_null(wlb_conf_load_string("clientgw = 1;", "bad.conf", 0, NULL, 0));
	ck_assert_ptr_null(wlb_conf_load("/nonexistent", 0, NULL, 0));
	wlb_conf_free(NULL);
}
END_TEST

/* @include is resolved next to the including file, and an error inside
 * the included file names that file. */
START_TEST(include_relative)
{
	char dir[] = "/tmp/wlb-test-conf.XXXXXX", main_path[64], part_path[64];
	struct wlb_conf *c;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(main_path, sizeof(main_path), "%s/wlb.conf", dir);
	snprintf(part_path, sizeof(part_path), "%s/part.conf", dir);
	f = fopen(main_path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("@include \"part.conf\"\n", f);
	fclose(f);
	f = fopen(part_path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("clientgw: { queue = 7; };\n", f);
	fclose(f);
	c = wlb_conf_load(main_path, WLB_NEED_CLIENTGW, err, sizeof(err));
	ck_assert_msg(c, "%s", err);
	ck_assert_uint_eq(c->clientgw.queue, 7);
	wlb_conf_free(c);

	f = fopen(part_path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("\nclientgw: { queue = 70000; };\n", f);
	fclose(f);
	ck_assert_ptr_null(wlb_conf_load(main_path, WLB_NEED_CLIENTGW, err, sizeof(err)));
	ck_assert_msg(!strncmp(err, part_path, strlen(part_path)), "%s", err);
	ck_assert_msg(strstr(err, ":2: clientgw.queue: 70000 out of range"), "%s", err);
	unlink(part_path);
	unlink(main_path);
	rmdir(dir);
}
END_TEST

/* ---- lookups ---- */

START_TEST(find_service)
{
	struct wlb_conf *c = load("services = (\n"
				  "  { origin = \"203.0.113.30\"; ports = [ 8080 ]; },\n"
				  "  { origin = \"192.0.2.10\"; configuration = \"C\"; },\n"
				  "  { origin = \"203.0.113.4\"; ports = [ 443, 80 ];\n"
				  "    replicas = [ \"198.51.100.1\" ]; }\n"
				  ");\n",
				  0);
	const struct wlb_service *s;
	unsigned i;

	/* sorted numerically, not as strings or in network order */
	for (i = 1; i < c->n_services; i++)
		ck_assert_uint_lt(ntohl(c->services[i - 1].origin), ntohl(c->services[i].origin));
	s = wlb_conf_find_service(c, ip("203.0.113.4"), htons(80));
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->origin, ip("203.0.113.4"));
	ck_assert_uint_eq(s->line, 4);
	ck_assert_uint_eq(s->replicas[0], ip("198.51.100.1"));
	ck_assert_ptr_eq(wlb_conf_find_service(c, ip("203.0.113.4"), htons(443)), s);
	s = wlb_conf_find_service(c, ip("192.0.2.10"), htons(443));
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->mode, WLB_MODE_C);
	s = wlb_conf_find_service(c, ip("203.0.113.30"), htons(8080));
	ck_assert_ptr_nonnull(s);
	/* wrong port */
	ck_assert_ptr_null(wlb_conf_find_service(c, ip("203.0.113.30"), htons(80)));
	ck_assert_ptr_null(wlb_conf_find_service(c, ip("192.0.2.10"), htons(8080)));
	/* a port given in host order must not match */
	ck_assert_ptr_null(wlb_conf_find_service(c, ip("203.0.113.4"), 80));
	/* misses on either side and in between */
	ck_assert_ptr_null(wlb_conf_find_service(c, ip("192.0.2.9"), htons(80)));
	ck_assert_ptr_null(wlb_conf_find_service(c, ip("203.0.113.5"), htons(80)));
	ck_assert_ptr_null(wlb_conf_find_service(c, ip("255.255.255.255"), htons(80)));
	wlb_conf_free(c);
}
END_TEST

START_TEST(dst_included)
{
	struct wlb_conf *c =
		load("clientgw: { queue = 0;\n"
		     "  include = [ \"192.168.1.0/24\", \"10.0.0.0/8\", \"10.1.0.0/16\",\n"
		     "              \"192.168.0.0/24\", \"198.51.100.7\" ];\n"
		     "  exclude = [ \"10.1.2.128/25\", \"10.1.2.0/24\" ];\n"
		     "};\n",
		     0);
	const struct wlb_ranges *in = &c->clientgw.include;

	/* overlapping and adjacent prefixes merged */
	ck_assert_uint_eq(in->n, 3);
	ck_assert_uint_eq(in->v[0].lo, hip("10.0.0.0"));
	ck_assert_uint_eq(in->v[0].hi, hip("10.255.255.255"));
	ck_assert_uint_eq(in->v[1].lo, hip("192.168.0.0"));
	ck_assert_uint_eq(in->v[1].hi, hip("192.168.1.255"));
	ck_assert_uint_eq(in->v[2].lo, hip("198.51.100.7"));
	ck_assert_uint_eq(in->v[2].hi, hip("198.51.100.7"));
	ck_assert_uint_eq(c->clientgw.exclude.n, 1);

	ck_assert(wlb_conf_dst_included(c, ip("10.0.0.0")));
	ck_assert(wlb_conf_dst_included(c, ip("10.255.255.255")));
	ck_assert(wlb_conf_dst_included(c, ip("10.1.1.255")));
	ck_assert(!wlb_conf_dst_included(c, ip("10.1.2.0")));
	ck_assert(!wlb_conf_dst_included(c, ip("10.1.2.200")));
	ck_assert(!wlb_conf_dst_included(c, ip("10.1.2.255")));
	ck_assert(wlb_conf_dst_included(c, ip("10.1.3.0")));
	ck_assert(!wlb_conf_dst_included(c, ip("9.255.255.255")));
	ck_assert(!wlb_conf_dst_included(c, ip("11.0.0.0")));
	ck_assert(wlb_conf_dst_included(c, ip("192.168.0.0")));
	ck_assert(wlb_conf_dst_included(c, ip("192.168.1.255")));
	ck_assert(!wlb_conf_dst_included(c, ip("192.168.2.0")));
	ck_assert(wlb_conf_dst_included(c, ip("198.51.100.7")));
	ck_assert(!wlb_conf_dst_included(c, ip("198.51.100.6")));
	ck_assert(!wlb_conf_dst_included(c, ip("198.51.100.8")));
	ck_assert(!wlb_conf_dst_included(c, ip("0.0.0.0")));
	ck_assert(!wlb_conf_dst_included(c, ip("255.255.255.255")));
	wlb_conf_free(c);
}
END_TEST

/* Ranges touching 255.255.255.255 must merge without wrapping around. */
START_TEST(ranges_top_of_space)
{
	struct wlb_conf *c =
		load("clientgw: { queue = 0;\n"
		     "  include = [ \"255.255.255.255\", \"128.0.0.0/1\", \"0.0.0.0/1\" ];\n"
		     "  exclude = [ \"0.0.0.0/0\", \"255.0.0.0/8\" ];\n"
		     "};\n",
		     0);

	ck_assert_uint_eq(c->clientgw.include.n, 1);
	ck_assert_uint_eq(c->clientgw.include.v[0].lo, 0);
	ck_assert_uint_eq(c->clientgw.include.v[0].hi, 0xffffffffu);
	ck_assert_uint_eq(c->clientgw.exclude.n, 1);
	ck_assert(wlb_ranges_contain(&c->clientgw.include, 0xffffffffu));
	ck_assert(wlb_ranges_contain(&c->clientgw.exclude, 0));
	ck_assert(!wlb_conf_dst_included(c, ip("203.0.113.1")));
	wlb_conf_free(c);
}
END_TEST

START_TEST(is_redirector)
{
	struct wlb_conf *c =
		load("replicad: { queue = 0; service_address = \"192.0.2.9\";\n"
		     "  redirectors = [ \"203.0.113.1\", \"10.0.0.1\", \"192.0.2.1\",\n"
		     "                  \"198.51.100.6\" ]; };\n",
		     WLB_NEED_REPLICAD);
	const struct wlb_replicad_conf *r = &c->replicad;
	unsigned i;

	ck_assert_uint_eq(r->n_redirectors, 4);
	for (i = 1; i < r->n_redirectors; i++)
		ck_assert_uint_lt(ntohl(r->redirectors[i - 1]), ntohl(r->redirectors[i]));
	ck_assert(wlb_conf_is_redirector(c, ip("203.0.113.1")));
	ck_assert(wlb_conf_is_redirector(c, ip("10.0.0.1")));
	ck_assert(wlb_conf_is_redirector(c, ip("192.0.2.1")));
	ck_assert(wlb_conf_is_redirector(c, ip("198.51.100.6")));
	ck_assert(!wlb_conf_is_redirector(c, ip("198.51.100.7")));
	ck_assert(!wlb_conf_is_redirector(c, ip("10.0.0.0")));
	ck_assert(!wlb_conf_is_redirector(c, ip("255.255.255.255")));
	wlb_conf_free(c);
}
END_TEST

START_TEST(is_web_port)
{
	struct wlb_conf *c = load("clientgw: { queue = 0;\n"
				  "  web_ports = [ 1, 8080, 65535 ]; };\n",
				  0);

	ck_assert(wlb_conf_is_web_port(c, htons(1)));
	ck_assert(wlb_conf_is_web_port(c, htons(8080)));
	ck_assert(wlb_conf_is_web_port(c, htons(65535)));
	ck_assert(!wlb_conf_is_web_port(c, htons(80)));
	ck_assert(!wlb_conf_is_web_port(c, htons(443)));
	ck_assert(!wlb_conf_is_web_port(c, 8080)); /* host order is wrong */
	ck_assert(!wlb_conf_is_web_port(c, 0));
	wlb_conf_free(c);
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(wlb_mode_name(WLB_MODE_A), "A");
	ck_assert_str_eq(wlb_mode_name(WLB_MODE_B), "B");
	ck_assert_str_eq(wlb_mode_name(WLB_MODE_C), "C");
	ck_assert_str_eq(wlb_replica_state_name(WLB_REPLICA_ACTIVE), "active");
	ck_assert_str_eq(wlb_replica_state_name(WLB_REPLICA_DRAINING), "draining");
	ck_assert_str_eq(wlb_replica_state_name(WLB_REPLICA_DISABLED), "disabled");
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *t;

	t = tcase_create("load");
	tcase_add_test(t, sample_loads);
	tcase_add_test(t, workers_read);
	tcase_add_test(t, defaults_applied);
	tcase_add_test(t, replica_configurations);
	tcase_add_test(t, absent_sections);
	tcase_add_test(t, values_converted);
	tcase_add_test(t, bc_values_converted);
	tcase_add_test(t, include_relative);
	suite_add_tcase(s, t);

	t = tcase_create("errors");
	tcase_add_loop_test(t, bad_config, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(t, missing_file);
	tcase_add_test(t, short_error_buffer);
	suite_add_tcase(s, t);

	t = tcase_create("lookup");
	tcase_add_test(t, find_service);
	tcase_add_test(t, dst_included);
	tcase_add_test(t, ranges_top_of_space);
	tcase_add_test(t, is_redirector);
	tcase_add_test(t, is_web_port);
	tcase_add_test(t, names);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tp_run_suite(conf_suite());
}
