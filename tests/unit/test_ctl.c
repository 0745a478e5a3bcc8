// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the control protocol: the JSON emitter (nesting, escaping,
 * UTF-8, numbers JSON lacks, the bounded buffer), the request parser and
 * ADDRESS:PORT, the answer in its two forms (aligned text, JSON) from the
 * same calls, the commands several daemons share ("replicas", "flush"),
 * and the control socket itself over a real unix socket: mode, stale and
 * live socket files, one answer per connection, the bound on clients, the
 * timeout, an answer larger than the socket buffer sent over poll rounds.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "conf.h"
#include "ctl.h"
#include "ctlsrv.h"
#include "flow.h"
#include "json.h"
#include "testpkt.h"

/* ================================================================ json */

static struct wlb_buf jb;
static struct wlb_json jj;

static void json_setup(void)
{
	wlb_buf_init(&jb, 1 << 20);
	wlb_json_init(&jj, &jb);
}

static void json_teardown(void)
{
	wlb_buf_free(&jb);
}

/* The buffer so far, as a string (it holds no NUL of its own). */
static const char *text(void)
{
	static char s[8192];

	ck_assert_uint_lt(jb.len, sizeof(s));
	memcpy(s, jb.data ? jb.data : "", jb.len);
	s[jb.len] = '\0';
	return s;
}

static void string_is(const char *in, const char *want)
{
	jb.len = 0;
	wlb_json_init(&jj, &jb);
	wlb_json_string(&jj, in);
	ck_assert_str_eq(text(), want);
}

START_TEST(json_nesting_and_commas)
{
	wlb_json_begin_object(&jj);
	wlb_json_key(&jj, "a");
	wlb_json_u64(&jj, 1);
	wlb_json_key(&jj, "b");
	wlb_json_begin_array(&jj);
	wlb_json_u64(&jj, 1);
	wlb_json_i64(&jj, -2);
	wlb_json_begin_object(&jj);
	wlb_json_key(&jj, "c");
	wlb_json_null(&jj);
	wlb_json_end_object(&jj);
	wlb_json_begin_array(&jj);
	wlb_json_end_array(&jj);
	wlb_json_begin_object(&jj);
	wlb_json_end_object(&jj);
	wlb_json_end_array(&jj);
	wlb_json_key(&jj, "d");
	wlb_json_bool(&jj, true);
	wlb_json_key(&jj, "e");
	wlb_json_bool(&jj, false);
	wlb_json_end_object(&jj);
	ck_assert_str_eq(text(),
			 "{\"a\":1,\"b\":[1,-2,{\"c\":null},[],{}],\"d\":true,\"e\":false}");
	ck_assert(!jj.misuse);
	ck_assert_uint_eq(jj.depth, 0);
}
END_TEST

START_TEST(json_escapes)
{
	string_is("plain", "\"plain\"");
	string_is("", "\"\"");
	string_is("q\"b\\s/", "\"q\\\"b\\\\s/\"");
	string_is("n\nr\rt\t", "\"n\\nr\\rt\\t\"");
	string_is("\x01\x08\x0c\x1f\x7f", "\"\\u0001\\u0008\\u000c\\u001f\\u007f\"");
	string_is(NULL, "null");
}
END_TEST

START_TEST(json_utf8)
{
	/* well-formed: 2, 3 and 4 bytes, and the edges of each range */
	string_is("caf\xc3\xa9", "\"caf\xc3\xa9\"");
	string_is("\xe2\x82\xac", "\"\xe2\x82\xac\"");
	string_is("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
	string_is("\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\"");
	string_is("\xe0\xa0\x80\xed\x9f\xbf\xef\xbf\xbf",
		  "\"\xe0\xa0\x80\xed\x9f\xbf\xef\xbf\xbf\"");
	string_is("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");
	/* not UTF-8: each bad byte is one U+FFFD, the rest goes on */
	string_is("a\x80z", "\"a\\ufffdz\"");
	string_is("\xc0\xaf", "\"\\ufffd\\ufffd\"");			   /* overlong */
	string_is("\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\"");		   /* overlong */
	string_is("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");		   /* surrogate */
	string_is("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
	string_is("\xf5", "\"\\ufffd\"");
	string_is("x\xe2\x82", "\"x\\ufffd\\ufffd\""); /* cut at the end */
	string_is("\xe2\x82z", "\"\\ufffd\\ufffdz\"");
}
END_TEST

START_TEST(json_numbers)
{
	wlb_json_begin_array(&jj);
	wlb_json_u64(&jj, UINT64_MAX);
	wlb_json_i64(&jj, INT64_MIN);
	wlb_json_double(&jj, 0.12);
	wlb_json_double(&jj, 3.0);
	wlb_json_double(&jj, -1.5e300);
	wlb_json_double(&jj, NAN);
	wlb_json_double(&jj, INFINITY);
	wlb_json_double(&jj, -INFINITY);
	wlb_json_end_array(&jj);
	ck_assert_str_eq(text(), "[18446744073709551615,-9223372036854775808,0.12,3,-1.5e+300,"
				 "null,null,null]");
}
END_TEST

START_TEST(json_keys_escaped)
{
	wlb_json_begin_object(&jj);
	wlb_json_key(&jj, "k\"1");
	wlb_json_string(&jj, "v");
	wlb_json_end_object(&jj);
	ck_assert_str_eq(text(), "{\"k\\\"1\":\"v\"}");
}
END_TEST

START_TEST(json_misuse)
{
	wlb_json_end_object(&jj);
	ck_assert(jj.misuse);
	wlb_json_init(&jj, &jb);
	wlb_json_begin_object(&jj);
	wlb_json_key(&jj, "a");
	wlb_json_end_object(&jj); /* a key without its value */
	ck_assert(jj.misuse);
	wlb_json_init(&jj, &jb);
	for (int i = 0; i < WLB_JSON_MAX_DEPTH + 2; i++)
		wlb_json_begin_array(&jj);
	ck_assert(jj.misuse);
}
END_TEST

START_TEST(buf_bounded)
{
	struct wlb_buf b;
	char big[1000];

	wlb_buf_init(&b, 10);
	wlb_buf_puts(&b, "0123456789");
	ck_assert(!b.overflow);
	ck_assert_uint_eq(b.len, 10);
	wlb_buf_putc(&b, 'x');
	ck_assert(b.overflow);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_uint_le(b.cap, 10);
	wlb_buf_free(&b);
	ck_assert(!b.overflow);

	/* a write is whole or not at all; once cut, nothing more is added */
	wlb_buf_init(&b, 12);
	wlb_buf_puts(&b, "abcdefgh");
	wlb_buf_puts(&b, "12345");
	ck_assert(b.overflow);
	wlb_buf_puts(&b, "z");
	ck_assert_uint_eq(b.len, 8);
	wlb_buf_free(&b);

	/* printf longer than its stack buffer, and growth by doubling */
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wlb_buf_init(&b, 1 << 20);
	for (int i = 0; i < 20; i++)
		wlb_buf_printf(&b, "%s%d", big, i);
	ck_assert(!b.overflow);
	ck_assert_uint_eq(b.len, 20 * 999 + 10 + 20);
	ck_assert_int_eq(memcmp(b.data + 999, "0yy", 3), 0);
	wlb_buf_pad(&b, 3);
	ck_assert_int_eq(memcmp(b.data + b.len - 3, "   ", 3), 0);
	wlb_buf_free(&b);
}
END_TEST

/* ============================================================= request */

static struct wlb_ctl_req rq;
static char perr[WLB_CTL_MSG_MAX];

static int parse(const char *s)
{
	perr[0] = '\0';
	return wlb_ctl_parse(&rq, s, strlen(s), perr, sizeof(perr));
}

START_TEST(parse_words)
{
	ck_assert_int_eq(parse("status\n"), 0);
	ck_assert(!rq.json);
	ck_assert_uint_eq(rq.argc, 1);
	ck_assert_str_eq(rq.argv[0], "status");
	ck_assert_ptr_null(rq.argv[1]);

	ck_assert_int_eq(parse("json flows 192.0.2.2\r\n"), 0);
	ck_assert(rq.json);
	ck_assert_uint_eq(rq.argc, 2);
	ck_assert_str_eq(rq.argv[0], "flows");
	ck_assert_str_eq(rq.argv[1], "192.0.2.2");
	ck_assert_ptr_null(rq.argv[2]);

	ck_assert_int_eq(parse("  flush\t 192.0.2.2:1   203.0.113.10:80  "), 0);
	ck_assert_uint_eq(rq.argc, 3);
	ck_assert_str_eq(rq.argv[2], "203.0.113.10:80");

	/* "json" is a flag only in front */
	ck_assert_int_eq(parse("flows json"), 0);
	ck_assert(!rq.json);
	ck_assert_str_eq(rq.argv[1], "json");
}
END_TEST

START_TEST(parse_refused)
{
	static const char *const bad[][2] = {
		{"", "empty request"},
		{"\n", "empty request"},
		{" \t \r\n", "empty request"},
		{"json\n", "empty request"},
		{"sta\x01tus", "byte 0x01 in the request: printable ASCII only"},
		{"status\n\n", "byte 0x0a in the request: printable ASCII only"},
		{"st\ratus", "byte 0x0d in the request: printable ASCII only"},
		{"caf\xc3\xa9", "byte 0xc3 in the request: printable ASCII only"},
		{"a b c d e f g h i", "more than 8 words in the request"},
		{"json a b c d e f g h i", "more than 8 words in the request"},
		{"a b c d e f g h i j k", "more than 8 words in the request"},
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i][0]) == -1, "accepted bad request %u", i);
		ck_assert_str_eq(perr, bad[i][1]);
	}
	ck_assert_int_eq(parse("a b c d e f g h"), 0);
	ck_assert_uint_eq(rq.argc, 8);
	ck_assert_int_eq(parse("json a b c d e f g h"), 0);
	ck_assert_uint_eq(rq.argc, 8);
	/* a NUL inside is a byte like any other */
	ck_assert_int_eq(wlb_ctl_parse(&rq, "sta\0tus", 7, perr, sizeof(perr)), -1);
}
END_TEST

START_TEST(parse_length)
{
	char line[WLB_CTL_REQ_MAX + 2];

	memset(line, 'a', sizeof(line));
	/* 255 bytes and the newline: the most */
	line[WLB_CTL_REQ_MAX - 1] = '\n';
	ck_assert_int_eq(wlb_ctl_parse(&rq, line, WLB_CTL_REQ_MAX, perr, sizeof(perr)), 0);
	ck_assert_uint_eq(strlen(rq.argv[0]), WLB_CTL_REQ_MAX - 1);
	/* 256 without a newline: too long */
	memset(line, 'a', sizeof(line));
	ck_assert_int_eq(wlb_ctl_parse(&rq, line, WLB_CTL_REQ_MAX, perr, sizeof(perr)), -1);
	ck_assert_str_eq(perr, "request longer than 255 bytes");
	ck_assert_int_eq(wlb_ctl_parse(&rq, line, WLB_CTL_REQ_MAX + 2, perr, sizeof(perr)), -1);
}
END_TEST

START_TEST(parse_endpoints)
{
	static const char *const bad[] = {
		"192.0.2.2",	  "192.0.2.2:",	     ":80",
		"192.0.2.2:0",	  "192.0.2.2:65536", "192.0.2.2:+80",
		"192.0.2.2:-1",	  "192.0.2:80",	     "host:80",
		"192.0.2.2:80x",  "192.0.2.2:8 0",   "1.2.3.4.5:80",
		"192.0.2.256:80", "::1:80",	     "192.0.2.2:99999999999999999999",
	};
	char s[WLB_CTL_ENDPOINT_LEN];
	uint32_t a;
	uint16_t p;

	ck_assert_int_eq(wlb_ctl_parse_endpoint("192.0.2.2:40000", &a, &p), 0);
	ck_assert_uint_eq(a, tp_addr("192.0.2.2"));
	ck_assert_uint_eq(p, htons(40000));
	ck_assert_int_eq(wlb_ctl_parse_endpoint("255.255.255.255:65535", &a, &p), 0);
	wlb_ctl_endpoint(s, a, p);
	ck_assert_str_eq(s, "255.255.255.255:65535");
	ck_assert_int_eq(wlb_ctl_parse_endpoint("203.0.113.10:1", &a, &p), 0);
	wlb_ctl_endpoint(s, a, p);
	ck_assert_str_eq(s, "203.0.113.10:1");
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(wlb_ctl_parse_endpoint(bad[i], &a, &p) == -1, "accepted '%s'",
			      bad[i]);
	ck_assert_int_eq(wlb_ctl_parse_addr("198.51.100.18", &a), 0);
	ck_assert_uint_eq(a, tp_addr("198.51.100.18"));
	ck_assert_int_eq(wlb_ctl_parse_addr("198.51.100", &a), -1);
	ck_assert_int_eq(wlb_ctl_parse_addr("198.51.100.18:80", &a), -1);
}
END_TEST

/* ============================================================== answer */

static struct wlb_ctl_out out;

/* The payload, finished, as a string. */
static const char *finished(void)
{
	static char s[1 << 16];

	ck_assert_int_eq(wlb_ctl_out_finish(&out), WLB_CTL_OK);
	ck_assert_uint_lt(out.buf.len, sizeof(s));
	memcpy(s, out.buf.data ? out.buf.data : "", out.buf.len);
	s[out.buf.len] = '\0';
	return s;
}

static void kv_sample(bool json)
{
	static const char *const names[] = {"alpha", "beta"};
	static const uint64_t v[] = {7, 0};

	wlb_ctl_out_init(&out, json, WLB_CTL_ANSWER_MAX);
	wlb_ctl_kv_str(&out, "daemon", "wlb-test");
	wlb_ctl_kv_str(&out, "none", NULL);
	wlb_ctl_kv_u64(&out, "pid", 1234);
	wlb_ctl_kv_double(&out, "load1", 0.5);
	wlb_ctl_kv_bool(&out, "busy", true);
	wlb_ctl_kv_counters(&out, names, v, 2);
	wlb_ctl_kv_str(&out, "a_name_longer_than_the_column", "x");
}

START_TEST(kv_text)
{
	kv_sample(false);
	ck_assert_str_eq(finished(), "daemon                       wlb-test\n"
				     "none                         -\n"
				     "pid                          1234\n"
				     "load1                        0.50\n"
				     "busy                         yes\n"
				     "alpha                        7\n"
				     "beta                         0\n"
				     "a_name_longer_than_the_column x\n");
	wlb_ctl_out_free(&out);
}
END_TEST

START_TEST(kv_json)
{
	kv_sample(true);
	ck_assert_str_eq(finished(), "{\"daemon\":\"wlb-test\",\"none\":null,\"pid\":1234,"
				     "\"load1\":0.5,\"busy\":true,\"alpha\":7,\"beta\":0,"
				     "\"a_name_longer_than_the_column\":\"x\"}\n");
	wlb_ctl_out_free(&out);
	/* nothing written: still an object */
	wlb_ctl_out_init(&out, true, WLB_CTL_ANSWER_MAX);
	ck_assert_str_eq(finished(), "{}\n");
	wlb_ctl_out_free(&out);
}
END_TEST

START_TEST(kv_from_state_lines)
{
	wlb_ctl_out_init(&out, true, WLB_CTL_ANSWER_MAX);
	wlb_ctl_kv_lines(&out, "# wlb-x 0.1.0, config /etc/wlb/wlb.conf\n"
			       "nfq_queue                    3\n"
			       "state                        draining\n"
			       "load1                        0.25\n"
			       "flow 192.0.2.2:1 203.0.113.10:80 pending\n"
			       "\n"
			       "huge 99999999999999999999\n"
			       "max  18446744073709551615\n"
			       "last 5");
	ck_assert_str_eq(finished(), "{\"nfq_queue\":3,\"state\":\"draining\",\"load1\":\"0.25\","
				     "\"huge\":\"99999999999999999999\","
				     "\"max\":\"18446744073709551615\",\"last\":5}\n");
	wlb_ctl_out_free(&out);
}
END_TEST

static const struct wlb_ctl_col cols[] = {{"client", 10}, {"n", 3}, {"list", 6}, {"last", 8}};

static void table_sample(bool json)
{
	wlb_ctl_out_init(&out, json, WLB_CTL_ANSWER_MAX);
	wlb_ctl_kv_u64(&out, "before", 1);
	wlb_ctl_table_begin(&out, "rows", cols, 4);
	wlb_ctl_row_begin(&out);
	wlb_ctl_cell_str(&out, "a");
	wlb_ctl_cell_u64(&out, 12);
	wlb_ctl_cell_list_begin(&out);
	wlb_ctl_list_u64(&out, 80);
	wlb_ctl_list_u64(&out, 443);
	wlb_ctl_cell_list_end(&out);
	wlb_ctl_cell_bool(&out, false);
	wlb_ctl_row_end(&out);
	wlb_ctl_row_begin(&out);
	wlb_ctl_cell_str(&out, "too-wide-for-it");
	wlb_ctl_cell_str(&out, NULL);
	wlb_ctl_cell_list_begin(&out);
	wlb_ctl_cell_list_end(&out);
	wlb_ctl_cell_list_begin(&out);
	wlb_ctl_list_str(&out, "x");
	wlb_ctl_list_str(&out, "y\"");
	wlb_ctl_cell_list_end(&out);
	wlb_ctl_row_end(&out);
	wlb_ctl_table_end(&out);
	wlb_ctl_table_omitted(&out, 0);
}

START_TEST(table_text)
{
	table_sample(false);
	ck_assert_str_eq(finished(), "before                       1\n"
				     "CLIENT     N   LIST   LAST\n"
				     "a          12  80,443 no\n"
				     "too-wide-for-it -   -      x,y\"\n");
	wlb_ctl_out_free(&out);
}
END_TEST

START_TEST(table_json)
{
	table_sample(true);
	ck_assert_str_eq(finished(),
			 "{\"before\":1,\"rows\":[{\"client\":\"a\",\"n\":12,\"list\":[80,443],"
			 "\"last\":false},{\"client\":\"too-wide-for-it\",\"n\":null,\"list\":[],"
			 "\"last\":[\"x\",\"y\\\"\"]}],\"omitted\":0}\n");
	wlb_ctl_out_free(&out);
}
END_TEST

/* A listing that wlb_ctl_room() stops stays a whole answer. */
static unsigned fill(bool json, size_t max, uint64_t *omitted)
{
	unsigned listed = 0;

	*omitted = 0;
	wlb_ctl_out_init(&out, json, max);
	wlb_ctl_table_begin(&out, "rows", cols, 4);
	for (unsigned i = 0; i < 100000; i++) {
		if (!wlb_ctl_room(&out)) {
			(*omitted)++;
			continue;
		}
		wlb_ctl_row_begin(&out);
		wlb_ctl_cell_str(&out, "192.0.2.2:40000");
		wlb_ctl_cell_u64(&out, i);
		wlb_ctl_cell_bool(&out, true);
		wlb_ctl_cell_str(&out, "z");
		wlb_ctl_row_end(&out);
		listed++;
	}
	wlb_ctl_table_end(&out);
	wlb_ctl_table_omitted(&out, *omitted);
	return listed;
}

START_TEST(listing_cut_short)
{
	uint64_t omitted;
	unsigned listed = fill(true, 64 * 1024, &omitted);
	const char *s;
	char tail[64];

	ck_assert_uint_gt(listed, 100);
	ck_assert_uint_eq(listed + omitted, 100000);
	s = finished();
	snprintf(tail, sizeof(tail), "}],\"omitted\":%llu}\n", (unsigned long long)omitted);
	ck_assert_str_eq(s + strlen(s) - strlen(tail), tail);
	ck_assert_uint_le(out.buf.len, 64 * 1024);
	wlb_ctl_out_free(&out);

	listed = fill(false, 64 * 1024, &omitted);
	s = finished();
	snprintf(tail, sizeof(tail), "(%llu more not listed", (unsigned long long)omitted);
	ck_assert_ptr_nonnull(strstr(s, tail));
	wlb_ctl_out_free(&out);
}
END_TEST

START_TEST(failure_replaces_payload)
{
	wlb_ctl_out_init(&out, true, WLB_CTL_ANSWER_MAX);
	wlb_ctl_kv_u64(&out, "x", 1);
	ck_assert_int_eq(wlb_ctl_fail(&out, WLB_CTL_USAGE, "bad '%s'", "arg"), WLB_CTL_DONE);
	/* the first failure is the one reported; the rest is dropped */
	wlb_ctl_fail(&out, WLB_CTL_ERROR, "later");
	wlb_ctl_kv_u64(&out, "y", 2);
	ck_assert(!wlb_ctl_room(&out));
	ck_assert_int_eq(wlb_ctl_out_finish(&out), WLB_CTL_USAGE);
	ck_assert_str_eq(out.msg, "bad 'arg'");
	ck_assert_uint_eq(out.buf.len, 0);
	wlb_ctl_out_free(&out);

	/* an answer past the hard limit is an error, never a cut answer */
	wlb_ctl_out_init(&out, false, 16);
	wlb_ctl_kv_str(&out, "name", "value");
	ck_assert_int_eq(wlb_ctl_out_finish(&out), WLB_CTL_ERROR);
	ck_assert_str_eq(out.msg, "the answer exceeds 16 bytes");
	wlb_ctl_out_free(&out);

	/* unbalanced JSON is an error too */
	wlb_ctl_out_init(&out, true, WLB_CTL_ANSWER_MAX);
	wlb_ctl_table_begin(&out, "rows", cols, 4);
	ck_assert_int_eq(wlb_ctl_out_finish(&out), WLB_CTL_ERROR);
	wlb_ctl_out_free(&out);
}
END_TEST

/* ================================================ commands of several daemons */

static const char conf_services[] =
	"services = (\n"
	"  { origin = \"203.0.113.10\"; ports = [ 80, 443 ]; replicable = true;\n"
	"    configuration = \"C\"; replicas = [ \"198.51.100.18\", \"198.51.100.22\" ]; },\n"
	"  { origin = \"203.0.113.11\"; ports = [ 8080 ]; replicable = false; }\n"
	");\n"
	"clientgw: { queue = 0; };\n";

START_TEST(services_listed)
{
	struct wlb_conf *c = tp_conf(conf_services, WLB_NEED_CLIENTGW);

	wlb_ctl_out_init(&out, false, WLB_CTL_ANSWER_MAX);
	wlb_ctl_services(&out, c);
	ck_assert_str_eq(
		finished(),
		"ORIGIN          PORTS       REPLICABLE CONFIG REPLICAS\n"
		"203.0.113.10    80,443      yes        C      198.51.100.18,198.51.100.22\n"
		"203.0.113.11    8080        no         A      -\n");
	wlb_ctl_out_free(&out);
	wlb_ctl_out_init(&out, true, WLB_CTL_ANSWER_MAX);
	wlb_ctl_services(&out, c);
	ck_assert_str_eq(finished(),
			 "{\"services\":[{\"origin\":\"203.0.113.10\",\"ports\":[80,443],"
			 "\"replicable\":true,\"config\":\"C\","
			 "\"replicas\":[\"198.51.100.18\",\"198.51.100.22\"]},"
			 "{\"origin\":\"203.0.113.11\",\"ports\":[8080],\"replicable\":false,"
			 "\"config\":\"A\",\"replicas\":[]}]}\n");
	wlb_ctl_out_free(&out);
	wlb_conf_free(c);
}
END_TEST

static unsigned forgotten;

static void forget(void *self, struct wlb_flow *f)
{
	forgotten++;
	wlb_flow_remove(self, f);
}

static int flush(struct wlb_flow_table *t, const char *line)
{
	ck_assert_int_eq(parse(line), 0);
	wlb_ctl_out_init(&out, false, WLB_CTL_ANSWER_MAX);
	ck_assert_int_eq(wlb_ctl_flush(&out, t, &rq, 1000, forget, t), WLB_CTL_DONE);
	return wlb_ctl_out_finish(&out);
}

START_TEST(flush_one_flow)
{
	struct wlb_flow_table *t = wlb_flow_table_new(16);
	struct wlb_flow_key k = {.client.v4 = tp_addr("192.0.2.2"),
				 .server.v4 = tp_addr("203.0.113.10"),
				 .client_port = htons(40000),
				 .server_port = htons(80)};
	struct wlb_flow_key k2 = k;
	struct wlb_flow_stats st;

	ck_assert_ptr_nonnull(t);
	k2.client_port = htons(40001);
	wlb_flow_insert(t, &k, WLB_FLOW_SETTLED, 1000, 60000);
	wlb_flow_insert(t, &k2, WLB_FLOW_SETTLED, 1000, 60000);

	ck_assert_int_eq(flush(t, "flush 192.0.2.2:40000 203.0.113.10:80"), WLB_CTL_OK);
	ck_assert_str_eq(finished(), "flushed_client               192.0.2.2:40000\n"
				     "flushed_server               203.0.113.10:80\n");
	wlb_ctl_out_free(&out);
	ck_assert_ptr_null(wlb_flow_lookup(t, &k, 1000));
	ck_assert_ptr_nonnull(wlb_flow_lookup(t, &k2, 1000));
	ck_assert_uint_eq(forgotten, 1);

	ck_assert_int_eq(flush(t, "flush 192.0.2.2:40000 203.0.113.10:80"), WLB_CTL_ERROR);
	ck_assert_str_eq(out.msg, "no flow 192.0.2.2:40000 203.0.113.10:80");
	wlb_ctl_out_free(&out);
	ck_assert_int_eq(flush(t, "flush 192.0.2.2:40001"), WLB_CTL_USAGE);
	ck_assert_str_eq(out.msg, "usage: flush CLIENT:PORT SERVER:PORT");
	wlb_ctl_out_free(&out);
	ck_assert_int_eq(flush(t, "flush 192.0.2.2:40001 203.0.113.10"), WLB_CTL_USAGE);
	ck_assert_str_eq(out.msg, "flush: '203.0.113.10' is not ADDRESS:PORT");
	wlb_ctl_out_free(&out);
	wlb_flow_stats(t, &st);
	ck_assert_uint_eq(st.count, 1);
	wlb_flow_table_free(t);
}
END_TEST

/* ============================================================== server */

static char dir[64], sock_path[128];
static unsigned handled;

static void server_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/wlb-test-ctl.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* the socket's own directory is made by wlb_ctl_open() */
	snprintf(sock_path, sizeof(sock_path), "%s/run/wlb-test.ctl", dir);
	handled = 0;
}

static void server_teardown(void)
{
	char sub[160];

	unlink(sock_path);
	snprintf(sub, sizeof(sub), "%s/run", dir);
	rmdir(sub);
	rmdir(dir);
}

/* "hello" answers, "big N" sends N bytes, anything else is unknown. */
static void handler(void *ctx, const struct wlb_ctl_req *req, struct wlb_ctl_out *o)
{
	handled++;
	if (!strcmp(req->argv[0], "hello")) {
		wlb_ctl_kv_str(o, "hello", req->argc > 1 ? req->argv[1] : (const char *)ctx);
	} else if (!strcmp(req->argv[0], "big") && req->argc == 2) {
		unsigned long n = strtoul(req->argv[1], NULL, 10);

		for (unsigned long i = 0; i < n; i++)
			wlb_buf_putc(&o->buf, (char)('a' + i % 26));
	} else {
		wlb_ctl_fail(o, WLB_CTL_USAGE, "unknown command '%s'", req->argv[0]);
	}
}

static struct wlb_ctl *open_server(void)
{
	char err[256] = "";
	struct wlb_ctl *c = wlb_ctl_open(sock_path, handler, "world", err, sizeof(err));

	ck_assert_msg(c != NULL, "wlb_ctl_open: %s", err);
	return c;
}

/* One round of the daemon's loop, as daemon.c runs it. */
static void serve_round(struct wlb_ctl *c, uint64_t now, int timeout_ms)
{
	struct pollfd pfd[WLB_CTL_NFDS];
	unsigned n = wlb_ctl_pollfds(c, pfd, now);

	ck_assert_uint_ge(n, 1);
	ck_assert_uint_le(n, WLB_CTL_NFDS);
	ck_assert_int_ge(poll(pfd, n, timeout_ms), 0);
	wlb_ctl_serve(c, pfd, n, now);
}

static int client(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	strcpy(sa.sun_path, sock_path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void say(int fd, const char *s)
{
	ck_assert_int_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Read what the server sent until it closed (serving meanwhile). */
static size_t hear(struct wlb_ctl *c, int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (int round = 0; round < 10000; round++) {
		ssize_t k = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);

		if (k == 0)
			break;
		if (k > 0)
			len += (size_t)k;
		else
			serve_round(c, 1000, 10);
		ck_assert_uint_lt(len, cap - 1);
	}
	buf[len] = '\0';
	close(fd);
	return len;
}

static void ask(struct wlb_ctl *c, const char *req, const char *want)
{
	char buf[1024];
	int fd = client();

	say(fd, req);
	hear(c, fd, buf, sizeof(buf));
	ck_assert_str_eq(buf, want);
}

START_TEST(server_answers)
{
	struct wlb_ctl *c = open_server();
	struct stat st;

	ck_assert_int_eq(lstat(sock_path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ask(c, "hello\n", "ok\nhello                        world\n");
	ask(c, "json hello you\n", "ok\n{\"hello\":\"you\"}\n");
	ask(c, "nope\n", "usage unknown command 'nope'\n");
	ask(c, "\n", "usage empty request\n");
	/* no newline: the client's shutdown ends the request */
	{
		char buf[256];
		int fd = client();

		say(fd, "hello");
		shutdown(fd, SHUT_WR);
		hear(c, fd, buf, sizeof(buf));
		ck_assert_str_eq(buf, "ok\nhello                        world\n");
	}
	ck_assert_uint_eq(handled, 4);
	wlb_ctl_close(c);
	/* removed at exit */
	ck_assert_int_eq(lstat(sock_path, &st), -1);
}
END_TEST

START_TEST(server_request_too_long)
{
	struct wlb_ctl *c = open_server();
	char req[400];

	memset(req, 'x', sizeof(req) - 1);
	req[sizeof(req) - 1] = '\0';
	ask(c, req, "usage request longer than 255 bytes\n");
	ck_assert_uint_eq(handled, 0);
	wlb_ctl_close(c);
}
END_TEST

START_TEST(server_socket_files)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char err[256] = "";
	struct wlb_ctl *c, *c2;
	int fd;

	/* a socket file left by a dead daemon is replaced */
	c = open_server();
	wlb_ctl_close(c);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, sock_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	c = open_server();
	ask(c, "hello\n", "ok\nhello                        world\n");

	/* one a live daemon answers on is not */
	c2 = wlb_ctl_open(sock_path, handler, "2", err, sizeof(err));
	ck_assert_ptr_null(c2);
	ck_assert_ptr_nonnull(strstr(err, "a running daemon answers on it"));
	/* and the live one still serves (its probe connection is closed) */
	serve_round(c, 1000, 0);
	ask(c, "hello\n", "ok\nhello                        world\n");
	wlb_ctl_close(c);

	/* nor a file that is not a socket */
	fd = open(sock_path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_ptr_null(wlb_ctl_open(sock_path, handler, "3", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "exists and is not a socket"));
	ck_assert_int_eq(access(sock_path, F_OK), 0);

	/* a path sockaddr_un cannot hold */
	{
		char longp[200];

		memset(longp, 'p', sizeof(longp) - 1);
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		ck_assert_ptr_null(wlb_ctl_open(longp, handler, "4", err, sizeof(err)));
		ck_assert_ptr_nonnull(strstr(err, "longer than"));
	}
}
END_TEST

START_TEST(server_bounds_clients)
{
	struct wlb_ctl *c = open_server();
	int fds[WLB_CTL_MAX_CLIENTS], extra;
	char buf[256];

	for (int i = 0; i < WLB_CTL_MAX_CLIENTS; i++) {
		fds[i] = client();
		serve_round(c, 1000, 0);
	}
	/* all slots held by clients that say nothing: the next one waits in
	 * the backlog, its request unread */
	extra = client();
	say(extra, "hello\n");
	for (int i = 0; i < 3; i++)
		serve_round(c, 1000 + i, 0);
	ck_assert_int_eq(recv(extra, buf, sizeof(buf), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_uint_eq(handled, 0);
	/* silent clients are dropped after the timeout: the waiting one is
	 * served in the same round */
	serve_round(c, 1000 + WLB_CTL_TIMEOUT_MS, 0);
	ck_assert_uint_eq(handled, 1);
	for (int i = 0; i < WLB_CTL_MAX_CLIENTS; i++) {
		ck_assert_int_eq(recv(fds[i], buf, sizeof(buf), 0), 0);
		close(fds[i]);
	}
	hear(c, extra, buf, sizeof(buf));
	ck_assert_str_eq(buf, "ok\nhello                        world\n");
	ask(c, "hello\n", "ok\nhello                        world\n");
	ck_assert_uint_eq(handled, 2);
	wlb_ctl_close(c);
}
END_TEST

/* An answer larger than the socket buffer, to a client that reads late:
 * sent over poll rounds, never blocking, and whole. */
START_TEST(server_large_answer)
{
	enum { N = 3000000 };
	struct wlb_ctl *c = open_server();
	char *buf = malloc(N + 64);
	size_t len;
	int fd = client();

	ck_assert_ptr_nonnull(buf);
	say(fd, "big 3000000\n");
	/* the daemon goes on while nobody reads: each round returns */
	for (int i = 0; i < 5; i++)
		serve_round(c, 1000, 0);
	len = hear(c, fd, buf, N + 64);
	ck_assert_uint_eq(len, N + 3);
	ck_assert_int_eq(memcmp(buf, "ok\nabc", 6), 0);
	for (size_t i = 0; i < N; i++)
		if (buf[3 + i] != (char)('a' + i % 26))
			ck_abort_msg("byte %zu of the answer is wrong", i);
	free(buf);
	wlb_ctl_close(c);
}
END_TEST

/* ================================================================ main */

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc;

	tc = tcase_create("json");
	tcase_add_checked_fixture(tc, json_setup, json_teardown);
	tcase_add_test(tc, json_nesting_and_commas);
	tcase_add_test(tc, json_escapes);
	tcase_add_test(tc, json_utf8);
	tcase_add_test(tc, json_numbers);
	tcase_add_test(tc, json_keys_escaped);
	tcase_add_test(tc, json_misuse);
	tcase_add_test(tc, buf_bounded);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_add_test(tc, parse_words);
	tcase_add_test(tc, parse_refused);
	tcase_add_test(tc, parse_length);
	tcase_add_test(tc, parse_endpoints);
	suite_add_tcase(s, tc);

	tc = tcase_create("answer");
	tcase_add_test(tc, kv_text);
	tcase_add_test(tc, kv_json);
	tcase_add_test(tc, kv_from_state_lines);
	tcase_add_test(tc, table_text);
	tcase_add_test(tc, table_json);
	tcase_add_test(tc, listing_cut_short);
	tcase_add_test(tc, failure_replaces_payload);
	tcase_add_test(tc, services_listed);
	tcase_add_test(tc, flush_one_flow);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_add_checked_fixture(tc, server_setup, server_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, server_answers);
	tcase_add_test(tc, server_request_too_long);
	tcase_add_test(tc, server_socket_files);
	tcase_add_test(tc, server_bounds_clients);
	tcase_add_test(tc, server_large_answer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tp_run_suite(ctl_suite());
}
