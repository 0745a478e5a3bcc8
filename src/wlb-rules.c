// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-rules: install, remove or show the netfilter rules a wlb daemon needs,
 * as one nftables table per daemon (or, with --backend=iptables, as the
 * daemon's own iptables chains: see ipt.h), derived from the same
 * configuration file the daemon reads.  Run it before the daemon starts and
 * after it stops (the systemd units do).  Every queue rule has "bypass":
 * while no daemon listens, traffic passes untouched.
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>

#include "conf.h"
#include "ifaddr.h"
#include "ipt.h"
#include "nft.h"
#include "pkt.h"
#include "tunfp.h"

/* Chain priorities: see wlb(7), "Rules", for why each is where it is. */
#define PRIO_RAW (-300)	    /* before conntrack (-200) */
#define PRIO_MANGLE (-150)  /* after conntrack */
#define PRIO_AFTER_SNAT 110 /* source NAT is at 100 */

struct daemon_rules {
	const char *name;
	unsigned need;
	const char *table;
	void (*build)(const struct wlb_conf *c, struct wlb_nft_table *t);
	/* what else the daemon needs installed (NULL: nothing) */
	int (*extra)(const struct wlb_conf *c, bool add, bool dry);
};

#define NOMATCH ((struct wlb_nft_match){.kind = WLB_M_NONE})
#define MATCH(k, x, y) ((struct wlb_nft_match){.kind = (k), .a = (x), .b = (y)})
#define SYNACK \
	MATCH(WLB_M_TCP_FLAGS, WLB_TCP_SYN | WLB_TCP_ACK | WLB_TCP_RST, WLB_TCP_SYN | WLB_TCP_ACK)

static void rule3(struct wlb_nft_table *t, unsigned chain, enum wlb_nft_action action,
		  uint16_t queue, struct wlb_nft_match m0, struct wlb_nft_match m1,
		  struct wlb_nft_match m2)
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
	r->m[2] = m2;
}

static void rule(struct wlb_nft_table *t, unsigned chain, enum wlb_nft_action action,
		 uint16_t queue, struct wlb_nft_match m0, struct wlb_nft_match m1)
{
	rule3(t, chain, action, queue, m0, m1, NOMATCH);
}

/* The fast path's two maps, sized like the daemon's flow tables, all
 * workers' (a connection has at most one element in each). */
static void fastpath_maps(struct wlb_nft_table *t, uint32_t flows, uint32_t timeout_ms)
{
	t->maps[0] = (struct wlb_nft_map){WLB_NFT_MAP_DST, false, flows, timeout_ms};
	t->maps[1] = (struct wlb_nft_map){WLB_NFT_MAP_SRC, true, flows, timeout_ms};
	t->n_maps = 2;
}

/* First in its chain: a packet the kernel can rewrite never reaches a
 * queue rule. */
static void rewrite(struct wlb_nft_table *t, unsigned chain, unsigned map)
{
	rule(t, chain, WLB_A_REWRITE, 0, NOMATCH, NOMATCH);
	t->rules[t->n_rules - 1].map = map;
}

/* to_client: the chain's packets go to the client (a worker split takes
 * the client's port from the destination) */
static unsigned chain(struct wlb_nft_table *t, const char *name, unsigned hook, int prio,
		      bool to_client)
{
	t->chains[t->n_chains] = (struct wlb_nft_chain){name, hook, prio, to_client};
	return t->n_chains++;
}

static bool web_port(const struct wlb_clientgw_conf *g, unsigned p)
{
	return g->web_ports[p / 8] & (1u << (p % 8));
}

static bool service_port(const struct wlb_service *s, unsigned p)
{
	for (unsigned i = 0; i < s->n_ports; i++)
		if (s->ports[i] == p)
			return true;
	return false;
}

/*
 * What the client gateway must see of the servers' packets: every SYN-ACK
 * and every tunnel packet; the data of replicas in configuration A, which
 * it translates.  When A is the default for unlisted origins, their
 * replicas are unknown, so all web replies come; otherwise only those of
 * the listed A origins' replicas, and a B replica's packets (bearing the
 * origin's address) never leave the kernel.
 */
static void clientgw_replies(const struct wlb_conf *c, struct wlb_nft_table *t, unsigned pre)
{
	const struct wlb_clientgw_conf *g = &c->clientgw;

	rule(t, pre, WLB_A_QUEUE, g->queue, MATCH(WLB_M_PROTO, WLB_IPPROTO_IPIP, 0), NOMATCH);
	for (unsigned p = 1; p < 65536; p++) {
		if (!web_port(g, p))
			continue;
		if (g->mode == WLB_MODE_A) {
			rule(t, pre, WLB_A_QUEUE, g->queue, MATCH(WLB_M_TCP_SPORT, p, 0), NOMATCH);
			continue;
		}
		rule(t, pre, WLB_A_QUEUE, g->queue, MATCH(WLB_M_TCP_SPORT, p, 0), SYNACK);
		/* the ends of connections: without the servers' FIN a flow would
		 * never close, and a new connection reusing the client's port
		 * would be taken for the old one */
		rule(t, pre, WLB_A_QUEUE, g->queue, MATCH(WLB_M_TCP_SPORT, p, 0),
		     MATCH(WLB_M_TCP_FLAGS, WLB_TCP_FIN, WLB_TCP_FIN));
		rule(t, pre, WLB_A_QUEUE, g->queue, MATCH(WLB_M_TCP_SPORT, p, 0),
		     MATCH(WLB_M_TCP_FLAGS, WLB_TCP_RST, WLB_TCP_RST));
		for (unsigned i = 0; i < c->n_services; i++) {
			const struct wlb_service *s = &c->services[i];

			if (!service_port(s, p))
				continue;
			for (unsigned k = 0; s->mode == WLB_MODE_A && k < s->n_replicas; k++)
				rule(t, pre, WLB_A_QUEUE, g->queue,
				     MATCH(WLB_M_SADDR, s->replicas[k], 0),
				     MATCH(WLB_M_TCP_SPORT, p, 0));
			/* C: a plain packet bearing the origin's source for a
			 * connection a replica serves is forged; seen, dropped */
			if (s->mode == WLB_MODE_C)
				rule(t, pre, WLB_A_QUEUE, g->queue,
				     MATCH(WLB_M_SADDR, s->origin, 0),
				     MATCH(WLB_M_TCP_SPORT, p, 0));
		}
	}
}

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
	unsigned pre = chain(t, "pre", NF_INET_PRE_ROUTING, PRIO_RAW, true);
	unsigned post = chain(t, "post", NF_INET_POST_ROUTING, PRIO_AFTER_SNAT, false);
	unsigned out = chain(t, "out", NF_INET_LOCAL_OUT, PRIO_RAW, false);

	fastpath_maps(t, g->flows * g->workers, g->idle_ms);
	/* the kernel's C tunnel (tunfp.h) marks what it takes out of a
	 * replica's tunnel: passed, where a plain packet with the origin's
	 * source is queued as forged */
	if (wlb_conf_clientgw_uses(c, WLB_MODE_C))
		rule(t, pre, WLB_A_ACCEPT, 0, MATCH(WLB_M_MARK, g->rst_mark, 0), NOMATCH);
	rewrite(t, pre, 1);
	clientgw_replies(c, t, pre);
	rule(t, post, WLB_A_ACCEPT, 0, MATCH(WLB_M_MARK, g->rst_mark, 0), NOMATCH);
	rewrite(t, post, 0);
	for (unsigned p = 1; p < 65536; p++)
		if (web_port(g, p))
			rule(t, post, WLB_A_QUEUE, g->queue, MATCH(WLB_M_TCP_DPORT, p, 0), NOMATCH);
	rule(t, out, WLB_A_NOTRACK, 0, MATCH(WLB_M_MARK, g->rst_mark, 0), NOMATCH);
}

/* Redirector: only pure SYNs; it never changes them, so any hook works. */
static void build_redirector(const struct wlb_conf *c, struct wlb_nft_table *t)
{
	unsigned pre = chain(t, "pre", NF_INET_PRE_ROUTING, PRIO_MANGLE, false);

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

/* The service ports of the origins this replica serves (80 and 443 when
 * none is listed), each once. */
static unsigned replica_ports(const struct wlb_conf *c, uint16_t *ports, unsigned max)
{
	unsigned n = 0;

	if (!c->n_services) {
		ports[0] = 80;
		ports[1] = 443;
		return 2;
	}
	for (unsigned i = 0; i < c->n_services; i++)
		for (unsigned j = 0; j < c->services[i].n_ports; j++)
			if (n < max && !port_seen(c, i, j, c->services[i].ports[j]))
				ports[n++] = c->services[i].ports[j];
	return n;
}

/* B and C answer as the origin: the replica owns the origins' addresses
 * and what it sends from them is the daemon's to see. */
static bool replica_is_origin(const struct wlb_conf *c)
{
	return wlb_replicad_serves(&c->replicad, WLB_MODE_B) ||
	       wlb_replicad_serves(&c->replicad, WLB_MODE_C);
}

/*
 * Replica: tunnel packets before conntrack, so it tracks what is inside;
 * in B, the client's packets to the service address, to give them the
 * origin's address back, also before conntrack.  On the way out: the
 * local server's SYN-ACKs (the echo) and, for B and C, what it sends as
 * the origin (the tunnel in C).  A replica that serves only A needs the
 * copies and the SYN-ACKs alone: the rest of an A connection is plain
 * traffic to its own address, and no packet of it is queued.
 */
static void build_replicad(const struct wlb_conf *c, struct wlb_nft_table *t)
{
	unsigned pre = chain(t, "pre", NF_INET_PRE_ROUTING, PRIO_RAW, false);
	unsigned out = chain(t, "out", NF_INET_LOCAL_OUT, PRIO_MANGLE, true);
	uint16_t q = c->replicad.queue, ports[64];
	unsigned n = replica_ports(c, ports, 64);
	bool b = wlb_replicad_serves(&c->replicad, WLB_MODE_B);

	for (unsigned i = 0; i < n; i++)
		rule(t, out, WLB_A_QUEUE, q, MATCH(WLB_M_TCP_SPORT, ports[i], 0), SYNACK);
	if (b) {
		fastpath_maps(t, c->replicad.flows * c->replicad.workers, c->replicad.idle_ms);
		rewrite(t, pre, 0);
		/* the rest of what leaves from the service address is A's, the
		 * bulk of a replica's traffic: past the map, which holds only
		 * what leaves as the origin */
		rule(t, out, WLB_A_ACCEPT, 0, MATCH(WLB_M_SADDR, c->replicad.service_address, 0),
		     NOMATCH);
		rewrite(t, out, 1);
	}
	rule(t, pre, WLB_A_QUEUE, q, MATCH(WLB_M_PROTO, WLB_IPPROTO_IPIP, 0), NOMATCH);
	for (unsigned i = 0; b && i < n; i++)
		rule(t, pre, WLB_A_QUEUE, q, MATCH(WLB_M_DADDR, c->replicad.service_address, 0),
		     MATCH(WLB_M_TCP_DPORT, ports[i], 0));
	for (unsigned i = 0; replica_is_origin(c) && i < c->n_services; i++)
		for (unsigned j = 0; j < c->services[i].n_ports; j++)
			rule(t, out, WLB_A_QUEUE, q, MATCH(WLB_M_SADDR, c->services[i].origin, 0),
			     MATCH(WLB_M_TCP_SPORT, c->services[i].ports[j], 0));
}

/* In B and C a replica answers as the origin: it owns the addresses of
 * the replicable origins while its rules are installed. */
/* Install binds nothing on a replica that is never the origin; remove
 * deletes whatever the configurations, so that the addresses of a replica
 * that served B or C do not outlive it. */
static int replicad_addresses(const struct wlb_conf *c, bool add, bool dry)
{
	char err[256], a[INET_ADDRSTRLEN];
	int ret = 0;

	for (unsigned i = 0; (!add || replica_is_origin(c)) && i < c->n_services; i++) {
		if (!c->services[i].replicable)
			continue;
		inet_ntop(AF_INET, &c->services[i].origin, a, sizeof(a));
		if (dry) {
			printf("ip address %s %s/32 dev lo\n", add ? "add" : "del", a);
		} else if (wlb_ifaddr_set(c->services[i].origin, add, err, sizeof(err)) < 0) {
			fprintf(stderr, "wlb-rules: %s\n", err);
			ret = -1;
		}
	}
	return ret;
}

static const struct daemon_rules daemons[] = {
	{"clientgw", WLB_NEED_CLIENTGW, "wlb_clientgw", build_clientgw, NULL},
	{"redirector", WLB_NEED_REDIRECTOR, "wlb_redirector", build_redirector, NULL},
	{"replicad", WLB_NEED_REPLICAD, "wlb_replicad", build_replicad, replicad_addresses},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: wlb-rules [OPTION]... install|remove|show DAEMON\n"
		"Install or remove the netfilter rules of a wlb daemon (one nftables table,\n"
		"its rules replaced atomically, its fast-path maps kept; or the daemon's own\n"
		"iptables chains), derived from its configuration.\n"
		"DAEMON is clientgw, redirector or replicad.\n\n"
		"  -b, --backend=NAME  nft (default): one nftables table, with the fast path;\n"
		"                      iptables: chains WLB-DAEMON-*, no fast path\n"
		"  -c, --config=FILE   configuration file (default %s/wlb/wlb.conf)\n"
		"  -n, --dry-run       print the rules (nft syntax, or iptables-restore input)\n"
		"                      instead of installing or removing them\n"
		"  -k, --keep-established\n"
		"                      remove: while the fast path carries connections, keep\n"
		"                      it (and a replica's origin addresses) for them (nft)\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n",
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

static unsigned workers_of(const struct daemon_rules *d, const struct wlb_conf *c)
{
	if (d->need & WLB_NEED_CLIENTGW)
		return c->clientgw.workers;
	if (d->need & WLB_NEED_REDIRECTOR)
		return c->redirector.workers;
	return c->replicad.workers;
}

static bool is_tunnel_rule(const struct wlb_nft_rule *r)
{
	for (unsigned m = 0; m < WLB_NFT_MAX_MATCH; m++)
		if (r->m[m].kind == WLB_M_PROTO && r->m[m].a == WLB_IPPROTO_IPIP)
			return true;
	return false;
}

/*
 * Several workers: every queue rule becomes one per worker, worker k
 * taking the packets whose client port has k in its bits above the
 * lowest: Linux connects from even ports, so the lowest bit says
 * nothing.  Both
 * directions of a connection, its SYN, its SYN-ACK and the tunnels that
 * carry it meet the same worker, so each keeps its own flow table and
 * none takes a lock.  The client's address would not do: behind source
 * NAT every client has the router's.
 */
static void split_workers(struct wlb_nft_table *t, unsigned workers)
{
	static struct wlb_nft_rule in[WLB_NFT_MAX_RULES];
	unsigned n = t->n_rules;

	if (workers < 2)
		return;
	memcpy(in, t->rules, n * sizeof(in[0]));
	t->n_rules = 0;
	for (unsigned i = 0; i < n; i++) {
		bool to_client = t->chains[in[i].chain].to_client, tunnel = is_tunnel_rule(&in[i]);
		struct wlb_nft_match bits = {
			.kind = WLB_M_PORT_BITS,
			.a = tunnel ? (to_client ? WLB_PORT_INNER_DPORT : WLB_PORT_INNER_SPORT)
				    : (to_client ? WLB_PORT_DPORT : WLB_PORT_SPORT),
			.mask = (uint16_t)((workers - 1) << 1),
		};
		unsigned slot = 0;

		while (slot < WLB_NFT_MAX_MATCH - 1 && in[i].m[slot].kind != WLB_M_NONE)
			slot++;
		for (unsigned k = 0; k < (in[i].action == WLB_A_QUEUE ? workers : 1); k++) {
			if (t->n_rules >= WLB_NFT_MAX_RULES) {
				t->overflow = true;
				return;
			}
			t->rules[t->n_rules] = in[i];
			if (in[i].action == WLB_A_QUEUE) {
				bits.b = k << 1;
				t->rules[t->n_rules].m[slot] = bits;
				t->rules[t->n_rules].queue = (uint16_t)(in[i].queue + k);
			}
			t->n_rules++;
		}
	}
}

/* Whether the fast path still carries connections: elements in a map. */
static bool carries_connections(const struct wlb_nft_table *t)
{
	for (unsigned i = 0; i < t->n_maps; i++)
		if (wlb_nft_map_count(t->name, t->maps[i].name) > 0)
			return true;
	return false;
}

/* The table cut down to its fast path: no queue rules, only the rewrites
 * of the connections the kernel carries, FIN and RST included, until
 * their elements time out or a daemon takes them back. */
static void keep_fastpath_only(struct wlb_nft_table *t)
{
	unsigned n = 0;

	for (unsigned i = 0; i < t->n_rules; i++) {
		if (t->rules[i].action != WLB_A_REWRITE)
			continue;
		/* no daemon sees the ends of the connections now: the kernel
		 * carries them too, and the elements end by their timeout */
		t->rules[i].any_flags = true;
		t->rules[n++] = t->rules[i];
	}
	t->n_rules = n;
}

/*
 * The iptables backend's remove: the daemon's chains are the same whatever
 * the configuration says, so they are found from an empty one, and go even
 * when the file cannot be read.  There is no fast path to keep.
 */
static int remove_ipt(const struct daemon_rules *d, struct wlb_nft_table *t, bool dry)
{
	static const struct wlb_conf none;
	char err[512];

	t->name = d->table;
	d->build(&none, t);
	if (dry) {
		wlb_ipt_print_remove(t, stdout);
	} else if (wlb_ipt_remove(t, err, sizeof(err)) < 0) {
		fprintf(stderr, "wlb-rules: remove %s (iptables): %s\n", d->table, err);
		return 1;
	}
	return 0;
}

/* The nftables backend's remove; *keep: whether the fast path stays. */
static int remove_nft(const struct daemon_rules *d, struct wlb_nft_table *t,
		      const struct wlb_conf *c, bool dry, bool *keep)
{
	char err[512];
	int ret = 0;

	if (t && c && *keep) {
		t->name = d->table;
		d->build(c, t);
		split_workers(t, workers_of(d, c));
		*keep = carries_connections(t);
	} else {
		*keep = false;
	}
	if (*keep) {
		keep_fastpath_only(t);
		if (dry)
			wlb_nft_print(t, stdout);
		else if (wlb_nft_install(t, err, sizeof(err)) < 0)
			ret = 1;
		fprintf(stderr,
			"wlb-rules: %s: queue rules removed; the fast path keeps its "
			"established connections (\"wlb-rules remove %s\" ends them)\n",
			d->table, d->name);
	} else if (dry) {
		printf("delete table ip %s\n", d->table);
	} else if (wlb_nft_remove(d->table, err, sizeof(err)) < 0) {
		fprintf(stderr, "wlb-rules: remove %s: %s\n", d->table, err);
		ret = 1;
	}
	return ret;
}

/*
 * Remove is forgiving: with an unreadable configuration the rules still
 * go, only what the configuration names (addresses) cannot be found.
 * With keep set (the units' ExecStopPost), a fast path that still carries
 * connections stays, queue rules gone, so a restart or a crash of the
 * daemon does not break them; the next install takes the table back (and
 * the next start the tc program's maps).
 */
static int remove_rules(const struct daemon_rules *d, const char *conf_path, bool dry, bool keep,
			bool ipt)
{
	struct wlb_nft_table *t = calloc(1, sizeof(*t));
	struct wlb_conf *c = NULL;
	char err[512];
	int ret;

	if (ipt)
		keep = false;
	if (d->extra || keep) {
		c = wlb_conf_load(conf_path, d->need, err, sizeof(err));
		if (!c)
			fprintf(stderr, "wlb-rules: %s (removing the %s only)\n", err,
				ipt ? "chains" : "table");
	}
	if (!ipt) {
		ret = remove_nft(d, t, c, dry, &keep);
	} else if (!t) {
		fprintf(stderr, "wlb-rules: out of memory\n");
		ret = 1;
	} else {
		ret = remove_ipt(d, t, dry);
	}
	/* a replica's connections are the origin's: its address stays too */
	if (c && d->extra && !keep && d->extra(c, false, dry) < 0)
		ret = 1;
	/* a tc program a daemon left carrying tunnels (tunfp.h) goes with
	 * the fast path that spares their packets the queues */
	if (!keep && !dry && (d->need & (WLB_NEED_CLIENTGW | WLB_NEED_REPLICAD)))
		wlb_tun_detach_all();
	free(t);
	wlb_conf_free(c);
	return ret;
}

/*
 * What the iptables backend cannot do as the nftables one does, said at
 * every install: a chain whose priority no iptables table has (the client
 * gateway's, after source NAT) runs at the nearest one; and rules of the
 * nftables backend left loaded would queue the same packets again.
 */
static void ipt_warnings(const struct daemon_rules *d, const struct wlb_nft_table *t, bool dry)
{
	struct wlb_ipt_place p;

	for (unsigned i = 0; i < t->n_chains; i++)
		if (!wlb_ipt_place(&t->chains[i], &p) && p.nearest)
			fprintf(stderr,
				"wlb-rules: warning: %s: chain %s (priority %d, after source NAT) has "
				"no iptables equivalent: its rules go to %s %s, before source NAT; "
				"wlb-%s cannot work behind source NAT or masquerade on this router\n",
				d->table, t->chains[i].name, t->chains[i].prio, p.table, p.builtin,
				d->name);
	if (!dry && wlb_nft_exists(d->table) == 1)
		fprintf(stderr,
			"wlb-rules: warning: table ip %s of the nft backend is loaded too: its "
			"rules run beside these (\"wlb-rules remove %s\" removes it)\n",
			d->table, d->name);
}

static int install_ipt(const struct daemon_rules *d, const struct wlb_nft_table *t,
		       const struct wlb_conf *c, bool dry)
{
	char err[512];

	ipt_warnings(d, t, dry);
	if (dry) {
		if (wlb_ipt_print_install(t, stdout, err, sizeof(err)) < 0)
			goto fail;
		return d->extra && d->extra(c, true, true) < 0;
	}
	if (wlb_ipt_install(t, err, sizeof(err)) < 0)
		goto fail;
	return d->extra && d->extra(c, true, false) < 0;
fail:
	fprintf(stderr, "wlb-rules: install %s (iptables): %s\n", d->table, err);
	return 1;
}

static int install_rules(const struct daemon_rules *d, const char *conf_path, bool dry, bool ipt)
{
	struct wlb_nft_table *t = NULL;
	struct wlb_conf *c;
	char err[512];
	int ret = 1;

	c = wlb_conf_load(conf_path, d->need, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "wlb-rules: %s\n", err);
		return 1;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto out;
	t->name = d->table;
	d->build(c, t);
	split_workers(t, workers_of(d, c));
	if (t->overflow) {
		fprintf(stderr, "wlb-rules: %s: more than %u rules (too many ports?): refused\n",
			d->table, WLB_NFT_MAX_RULES);
	} else if (ipt && workers_of(d, c) > 1) {
		fprintf(stderr,
			"wlb-rules: %s: workers = %u needs the nftables backend (the split "
			"matches bits of the port): refused\n",
			d->table, workers_of(d, c));
	} else if (ipt) {
		ret = install_ipt(d, t, c, dry);
	} else if (dry) {
		wlb_nft_print(t, stdout);
		ret = d->extra && d->extra(c, true, true) < 0;
	} else if (wlb_nft_install(t, err, sizeof(err)) < 0) {
		fprintf(stderr, "wlb-rules: install %s: %s\n", d->table, err);
	} else {
		ret = d->extra && d->extra(c, true, false) < 0;
	}
out:
	free(t);
	wlb_conf_free(c);
	return ret;
}

static int act(const char *verb, const struct daemon_rules *d, const char *conf_path, bool dry,
	       bool keep, bool ipt)
{
	if (!strcmp(verb, "remove"))
		return remove_rules(d, conf_path, dry, keep, ipt);
	return install_rules(d, conf_path, dry || !strcmp(verb, "show"), ipt);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"backend", required_argument, NULL, 'b'},
		{"config", required_argument, NULL, 'c'},
		{"dry-run", no_argument, NULL, 'n'},
		{"keep-established", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *conf_path = SYSCONFDIR "/wlb/wlb.conf";
	const struct daemon_rules *d;
	bool dry = false, keep = false, ipt = false;
	int c;

	while ((c = getopt_long(argc, argv, "b:c:nkhV", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!strcmp(optarg, "iptables")) {
				ipt = true;
			} else if (!strcmp(optarg, "nft")) {
				ipt = false;
			} else {
				fprintf(stderr,
					"wlb-rules: unknown backend '%s' (nft or iptables)\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			dry = true;
			break;
		case 'k':
			keep = true;
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
	return act(argv[optind], d, conf_path, dry, keep, ipt);
}
