// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the configuration loader: whatever the text, the
 * loader must not crash or leak, and a file it refuses is refused with one
 * line that names the file (wlb.conf(5): "FILE:LINE: SETTING: message",
 * or "FILE: ..." for what has no line).  A file it accepts serves the
 * packet path's lookups.
 *
 * The first byte chooses the daemons whose sections are required (bits 0-2,
 * WLB_NEED_*); the rest is the file.  With WLB_FUZZ_SEEDS=DIR set, the
 * binary copies etc/wlb.conf (given as WLB_FUZZ_CONF) into DIR as its seed
 * and exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

#define NAME "fuzz.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	struct wlb_conf *c;
	unsigned need;
	char *text;

	if (!size)
		return 0;
	need = data[0] & (WLB_NEED_CLIENTGW | WLB_NEED_REDIRECTOR | WLB_NEED_REPLICAD);
	text = malloc(size);
	CHECK(text);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	c = wlb_conf_load_string(text, NAME, need, err, sizeof(err));
	if (c) {
		/* the packet path's lookups on what was accepted */
		(void)wlb_conf_find_service(c, 0x0a7100cb, 0x5000);
		(void)wlb_conf_is_web_port(c, 0x5000);
		(void)wlb_conf_dst_included(c, 0x0a7100cb);
		(void)wlb_conf_is_redirector(c, 0x066433c6);
		wlb_conf_free(c);
	} else {
		CHECK(strncmp(err, NAME ":", strlen(NAME ":")) == 0);
		CHECK(!strchr(err, '\n'));
	}
	free(text);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("WLB_FUZZ_SEEDS"), *conf = getenv("WLB_FUZZ_CONF");
	char path[4096], buf[65536];
	size_t n;
	FILE *in, *out;

	(void)argc;
	(void)argv;
	if (!seeds)
		return 0;
	CHECK(conf && (in = fopen(conf, "rb")));
	n = fread(buf + 1, 1, sizeof(buf) - 1, in);
	fclose(in);
	buf[0] = WLB_NEED_CLIENTGW | WLB_NEED_REDIRECTOR | WLB_NEED_REPLICAD;
	snprintf(path, sizeof(path), "%s/seed-wlb.conf", seeds);
	CHECK((out = fopen(path, "wb")) && fwrite(buf, 1, n + 1, out) == n + 1 && fclose(out) == 0);
	exit(0);
}
