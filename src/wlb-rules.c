// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-rules: install, remove or show the netfilter rules a wlb daemon needs,
 * as one nftables table per daemon, derived from the same configuration
 * file the daemon reads.  Run it before the daemon starts and after it
 * stops (the systemd units do).  Every queue rule has "bypass": while no
 * daemon listens, traffic passes untouched.
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>

#include "conf.h"
#include "nft.h"
#include "pkt.h"

/* Chain priorities: see wlb(7), "Rules", for why each is where it is. */
#define PRIO_RAW (-300)	    /* before conntrack (-200) */
#define PRIO_MANGLE (-150)  /* after conntrack */
#define PRIO_AFTER_SNAT 110 /* source NAT is at 100 */

struct daemon_rules {
	const char *name;
	unsigned need;
	const char *table;
	void (*build)(const struct wlb_conf *c, struct wlb_nft_table *t);
};

static void rule(struct wlb_nft_table *t, unsigned chain, enum wlb_nft_action action,
		 uint16_t queue, struct wlb_nft_match m0, struct wlb_nft_match m1)
{
	struct wlb_nft_rule *r;

	if (t->n_rules >= WLB_NFT_MAX_RULES) {
		t->overflow = true;
		return;
	}
	r = &t->rules[t->n_rules++];
	r->chain = chain;
	r->action = action;
	r->queue = queue;
	r->m[0] = m0;
	r->m[1] = m1;
}

static unsigned chain(struct wlb_nft_table *t, const char *name, unsigned hook, int prio)
{
	t->chains[t->n_chains] = (struct wlb_nft_chain){name, hook, prio};
	return t->n_chains++;
}

#define NOMATCH ((struct wlb_nft_match){WLB_M_NONE, 0, 0, NULL})
#define MATCH(k, a, b) ((struct wlb_nft_match){(k), (a), (b), NULL})

/*
 * Client gateway: replies are queued before conntrack so a replica's
 * packets can be made to look like the origin's before conntrack (and
 * the de-NAT of a masqueraded LAN) looks for their connection; client
 * packets are queued after source NAT so the flow is recorded as the
 * servers see it.  Its own RSTs are marked and left untracked.
 */
static void build_clientgw(const struct wlb_conf *c, struct wlb_nft_table *t)
{
	const struct wlb_clientgw_conf *g = &c->clientgw;
	unsigned pre = chain(t, "pre", NF_INET_PRE_ROUTING, PRIO_RAW);
	unsigned post = chain(t, "post", NF_INET_POST_ROUTING, PRIO_AFTER_SNAT);
	unsigned out = chain(t, "out", NF_INET_LOCAL_OUT, PRIO_RAW);

	for (unsigned p = 1; p < 65536; p++)
		if (g->web_ports[p / 8] & (1u << (p % 8)))
			rule(t, pre, WLB_A_QUEUE, g->queue, MATCH(WLB_M_TCP_SPORT, p, 0), NOMATCH);
	if (g->rst_mark)
		rule(t, post, WLB_A_ACCEPT, 0, MATCH(WLB_M_MARK, g->rst_mark, 0), NOMATCH);
	for (unsigned p = 1; p < 65536; p++)
		if (g->web_ports[p / 8] & (1u << (p % 8)))
			rule(t, post, WLB_A_QUEUE, g->queue, MATCH(WLB_M_TCP_DPORT, p, 0), NOMATCH);
	if (g->rst_mark)
		rule(t, out, WLB_A_NOTRACK, 0, MATCH(WLB_M_MARK, g->rst_mark, 0), NOMATCH);
}

/* Redirector: only pure SYNs; it never changes them, so any hook works. */
static void build_redirector(const struct wlb_conf *c, struct wlb_nft_table *t)
{
	unsigned pre = chain(t, "pre", NF_INET_PRE_ROUTING, PRIO_MANGLE);

	rule(t, pre, WLB_A_QUEUE, c->redirector.queue,
	     MATCH(WLB_M_TCP_FLAGS, WLB_TCP_SYN | WLB_TCP_ACK | WLB_TCP_RST, WLB_TCP_SYN), NOMATCH);
}

static bool port_seen(const struct wlb_conf *c, unsigned upto_service, unsigned upto_port,
		      uint16_t port)
{
	for (unsigned i = 0; i <= upto_service; i++)
		for (unsigned j = 0;
		     j < c->services[i].n_ports && (i < upto_service || j < upto_port); j++)
			if (c->services[i].ports[j] == port)
				return true;
	return false;
}

/* Replica: tunnel packets before conntrack, so it tracks the inner SYN;
 * the local server's SYN-ACKs on their way out, to carry the echo. */
static void build_replicad(const struct wlb_conf *c, struct wlb_nft_table *t)
{
	const struct wlb_nft_match synack =
		MATCH(WLB_M_TCP_FLAGS, WLB_TCP_SYN | WLB_TCP_ACK | WLB_TCP_RST,
		      WLB_TCP_SYN | WLB_TCP_ACK);
	unsigned pre = chain(t, "pre", NF_INET_PRE_ROUTING, PRIO_RAW);
	unsigned out = chain(t, "out", NF_INET_LOCAL_OUT, PRIO_MANGLE);
	uint16_t q = c->replicad.queue;

	rule(t, pre, WLB_A_QUEUE, q, MATCH(WLB_M_PROTO, WLB_IPPROTO_IPIP, 0), NOMATCH);
	if (!c->n_services) {
		rule(t, out, WLB_A_QUEUE, q, MATCH(WLB_M_TCP_SPORT, 80, 0), synack);
		rule(t, out, WLB_A_QUEUE, q, MATCH(WLB_M_TCP_SPORT, 443, 0), synack);
		return;
	}
	for (unsigned i = 0; i < c->n_services; i++)
		for (unsigned j = 0; j < c->services[i].n_ports; j++)
			if (!port_seen(c, i, j, c->services[i].ports[j]))
				rule(t, out, WLB_A_QUEUE, q,
				     MATCH(WLB_M_TCP_SPORT, c->services[i].ports[j], 0), synack);
}

static const struct daemon_rules daemons[] = {
	{"clientgw", WLB_NEED_CLIENTGW, "wlb_clientgw", build_clientgw},
	{"redirector", WLB_NEED_REDIRECTOR, "wlb_redirector", build_redirector},
	{"replicad", WLB_NEED_REPLICAD, "wlb_replicad", build_replicad},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: wlb-rules [OPTION]... install|remove|show DAEMON\n"
		"Install or remove the netfilter rules of a wlb daemon (one nftables table,\n"
		"replaced atomically), derived from its configuration.\n"
		"DAEMON is clientgw, redirector or replicad.\n\n"
		"  -c, --config=FILE  configuration file (default %s/wlb/wlb.conf)\n"
		"  -n, --dry-run      print the rules (nft syntax) instead of installing them\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n",
		SYSCONFDIR);
}

static const struct daemon_rules *find_daemon(const char *name)
{
	for (unsigned i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++)
		if (!strcmp(daemons[i].name, name) ||
		    (!strncmp(name, "wlb-", 4) && !strcmp(daemons[i].name, name + 4)))
			return &daemons[i];
	return NULL;
}

static int act(const char *verb, const struct daemon_rules *d, const char *conf_path, bool dry)
{
	struct wlb_nft_table *t;
	struct wlb_conf *c;
	char err[512];
	int ret = 1;

	if (!strcmp(verb, "remove") && !dry) {
		if (wlb_nft_remove(d->table, err, sizeof(err)) == 0)
			return 0;
		fprintf(stderr, "wlb-rules: remove %s: %s\n", d->table, err);
		return 1;
	}
	c = wlb_conf_load(conf_path, d->need, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "wlb-rules: %s\n", err);
		return 1;
	}
	t = calloc(1, sizeof(*t));
	t->name = d->table;
	d->build(c, t);
	if (t->overflow) {
		fprintf(stderr, "wlb-rules: %s: more than %u rules (too many ports?): refused\n",
			d->table, WLB_NFT_MAX_RULES);
	} else if (dry || !strcmp(verb, "show")) {
		if (!strcmp(verb, "remove"))
			printf("delete table ip %s\n", d->table);
		else
			wlb_nft_print(t, stdout);
		ret = 0;
	} else if (wlb_nft_install(t, err, sizeof(err)) == 0) {
		ret = 0;
	} else {
		fprintf(stderr, "wlb-rules: install %s: %s\n", d->table, err);
	}
	free(t);
	wlb_conf_free(c);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *conf_path = SYSCONFDIR "/wlb/wlb.conf";
	const struct daemon_rules *d;
	bool dry = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:nhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			dry = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("wlb-rules %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2 ||
	    (strcmp(argv[optind], "install") && strcmp(argv[optind], "remove") &&
	     strcmp(argv[optind], "show"))) {
		usage(stderr);
		return 2;
	}
	d = find_daemon(argv[optind + 1]);
	if (!d) {
		fprintf(stderr, "wlb-rules: unknown daemon '%s'\n", argv[optind + 1]);
		return 2;
	}
	return act(argv[optind], d, conf_path, dry);
}
