// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-replicad: the replica daemon (wiring only; policy in replicad.c).
 * Here too lives what the policy must not do itself: reading the load.
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "ctl.h"
#include "log.h"
#include "replicad.h"

/* Measuring the load reads /proc: once a second, never per packet. */
#define LOAD_PERIOD_MS 1000

static uint64_t last_load;

static bool counted_port(const struct wlb_conf *c, unsigned port)
{
	if (!c->n_services)
		return port == 80 || port == 443;
	for (unsigned i = 0; i < c->n_services; i++)
		for (unsigned j = 0; j < c->services[i].n_ports; j++)
			if (c->services[i].ports[j] == port)
				return true;
	return false;
}

/* Established TCP connections whose local port is a service port. */
static uint32_t count_established(const struct wlb_conf *c)
{
	FILE *f = fopen("/proc/net/tcp", "re");
	char line[256];
	uint32_t n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned lport, state;

		if (sscanf(line, " %*u: %*x:%x %*x:%*x %x", &lport, &state) == 2 && state == 1 &&
		    counted_port(c, lport))
			n++;
	}
	fclose(f);
	return n;
}

static double load_average(void)
{
	FILE *f = fopen("/proc/loadavg", "re");
	double l = 0;

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = 0;
		fclose(f);
	}
	return l;
}

static void measure(struct replicad *r)
{
	bool was = r->busy;

	if (replicad_set_load(r, count_established(r->conf), load_average()) != was)
		wlb_notice("replica %s: %u established, load %.2f",
			   r->busy ? "busy" : "no longer busy", r->established, r->load1);
}

static uint16_t queue(const struct wlb_conf *c)
{
	return c->replicad.queue;
}

static unsigned workers(const struct wlb_conf *c)
{
	return c->replicad.workers;
}

/* A service that lists this replica in a configuration it does not serve
 * is never served here: every copy is dropped (drop_mode).  Likely a
 * mistake, so said at start. */
static void warn_unserved(const struct wlb_conf *c)
{
	const struct wlb_replicad_conf *rc = &c->replicad;
	char a[INET_ADDRSTRLEN];

	for (unsigned i = 0; i < c->n_services; i++) {
		const struct wlb_service *s = &c->services[i];
		bool listed = false;

		for (unsigned j = 0; j < s->n_replicas; j++)
			listed |= s->replicas[j] == rc->service_address;
		if (!s->replicable || !listed || wlb_replicad_serves(rc, s->mode))
			continue;
		inet_ntop(AF_INET, &s->origin, a, sizeof(a));
		wlb_warn("origin %s lists this replica in configuration %s, which "
			 "replicad.configurations leaves out: its copies will be dropped",
			 a, wlb_mode_name(s->mode));
	}
}

static void *create(const struct wlb_conf *c, char *err, size_t errlen)
{
	struct replicad *r = replicad_new(c, err, errlen);

	if (r) {
		warn_unserved(c);
		measure(r);
	}
	return r;
}

static void destroy(void *self)
{
	replicad_free(self);
}

static void reconfigure(void *self, const struct wlb_conf *c)
{
	replicad_reconfigure(self, c);
	wlb_notice("replica state %s", wlb_replica_state_name(c->replicad.state));
}

static void decide(void *self, const struct wlb_nfq_pkt *pkt, uint64_t now_ms,
		   struct wlb_action *act)
{
	replicad_decide(self, pkt->hook, pkt->data, pkt->len, now_ms, act);
}

static void tick(void *self, uint64_t now_ms)
{
	replicad_tick(self, now_ms);
	if (now_ms - last_load >= LOAD_PERIOD_MS) {
		last_load = now_ms;
		measure(self);
	}
}

static void dump(void *self, FILE *f, uint64_t now_ms)
{
	replicad_dump(self, f, now_ms);
}

/* Only B's connections ever get elements (A's only to stay clear of
 * B's queue rule), and without B wlb-rules makes no maps. */
static const char *fp_unneeded(const struct wlb_conf *c)
{
	return wlb_replicad_serves(&c->replicad, WLB_MODE_B) ||
			       wlb_replicad_serves(&c->replicad, WLB_MODE_C)
		       ? NULL
		       : "configurations B and C not served";
}

static uint32_t fp_timeout(const struct wlb_conf *c)
{
	return c->replicad.idle_ms;
}

static const char *restart_only(const struct wlb_conf *a, const struct wlb_conf *b)
{
	return a->replicad.flows != b->replicad.flows ? "replicad.flows" : NULL;
}

static void fp_attach(void *self, struct wlb_fp *fp)
{
	((struct replicad *)self)->fp = fp;
}

static void fp_seen(void *self, enum wlb_fp_map m, const struct wlb_fp_key *k, uint32_t value,
		    uint32_t expires_ms, uint64_t now_ms)
{
	replicad_fp_seen(self, m, k, value, expires_ms, now_ms);
}

static uint32_t tun_flows(const struct wlb_conf *c)
{
	return wlb_replicad_serves(&c->replicad, WLB_MODE_C) ? c->replicad.flows : 0;
}

static void tun_attach(void *self, struct wlb_tun *t)
{
	((struct replicad *)self)->tun = t;
}

static bool tun_seen(void *self, enum wlb_tun_map m, const struct wlb_fp_key *k, uint32_t osaddr,
		     uint32_t odaddr, uint64_t idle_ms, uint64_t now_ms)
{
	return replicad_tun_seen(self, m, k, osaddr, odaddr, idle_ms, now_ms);
}

/* ----------------------------------------------------------------- control */

static void forget(void *self, struct wlb_flow *f)
{
	replicad_forget(self, f);
}

static void replica_state(struct replicad *r, struct wlb_ctl_out *out)
{
	wlb_ctl_kv_str(out, "state", wlb_replica_state_name(r->state));
	wlb_ctl_kv_str(out, "configured_state", wlb_replica_state_name(r->conf->replicad.state));
	wlb_ctl_kv_bool(out, "busy", r->busy);
}

static void replica_details(struct replicad *r, struct wlb_ctl_out *out)
{
	const struct wlb_replicad_conf *rc = &r->conf->replicad;
	char a[INET_ADDRSTRLEN];

	replica_state(r, out);
	wlb_ctl_kv_u64(out, "established", r->established);
	wlb_ctl_kv_double(out, "load1", r->load1);
	wlb_ctl_kv_u64(out, "max_established", rc->max_established);
	wlb_ctl_kv_double(out, "max_load1", rc->max_load1);
	wlb_ctl_kv_str(out, "service_address",
		       inet_ntop(AF_INET, &rc->service_address, a, sizeof(a)));
}

/* drain and enable: until the next reload, which brings back the
 * configuration's state (see replicad.h) */
static void set_state(struct replicad *r, enum wlb_replica_state st, struct wlb_ctl_out *out)
{
	enum wlb_replica_state was = r->state;

	r->state = st;
	if (was != st)
		wlb_notice("replica state %s (wlbctl), configured %s", wlb_replica_state_name(st),
			   wlb_replica_state_name(r->conf->replicad.state));
	replica_state(r, out);
	wlb_ctl_kv_str(out, "previous_state", wlb_replica_state_name(was));
}

static void flow_cells(struct wlb_ctl_out *out, const struct wlb_flow *f)
{
	/* pending: a SYN answered, its echo kept (A: until flow_timeout);
	 * carried: a B or C connection after its SYN-ACK */
	wlb_ctl_cell_str(out, f->cls == WLB_FLOW_SETTLED ? "carried" : "pending");
	wlb_ctl_cell_str(out, wlb_mode_name(f->state));
	wlb_ctl_cell_bool(out, f->flags & RPD_CLOSING);
}

static const struct wlb_ctl_col flow_cols[] = {
	{"client", 21}, {"server", 21}, {"state", 7}, {"config", 6}, {"closing", 0},
};

static const struct wlb_ctl_flow_view flow_view = {flow_cols, 5, flow_cells, NULL};

/* The commands without arguments; flows and flush take theirs. */
enum replicad_cmd { CMD_STATUS, CMD_COUNTERS, CMD_REPLICAS, CMD_DRAIN, CMD_ENABLE, NCMD };
static const char *const plain_cmds[NCMD] = {"status", "counters", "replicas", "drain", "enable"};

static int control(void *self, const struct wlb_ctl_req *req, struct wlb_ctl_out *out,
		   uint64_t now_ms)
{
	struct replicad *r = self;
	const char *cmd = req->argv[0];
	unsigned i = 0;

	if (!strcmp(cmd, "flows"))
		return wlb_ctl_flows(out, r->flows, req, now_ms, &flow_view);
	if (!strcmp(cmd, "flush"))
		return wlb_ctl_flush(out, r->flows, req, now_ms, forget, r);
	while (i < NCMD && strcmp(cmd, plain_cmds[i]))
		i++;
	if (i == NCMD)
		return WLB_CTL_UNKNOWN;
	if (req->argc > 1)
		return wlb_ctl_fail(out, WLB_CTL_USAGE, "%s takes no argument", cmd);
	switch (i) {
	case CMD_STATUS:
		replica_state(r, out);
		wlb_ctl_flow_counts(out, r->flows, false);
		break;
	case CMD_COUNTERS:
		wlb_ctl_kv_counters(out, replicad_counter_names, r->c, replicad_NCOUNTERS);
		wlb_ctl_flow_counts(out, r->flows, false);
		break;
	case CMD_REPLICAS:
		replica_details(r, out);
		break;
	default:
		set_state(r, i == CMD_DRAIN ? WLB_REPLICA_DRAINING : WLB_REPLICA_ACTIVE, out);
	}
	return WLB_CTL_DONE;
}

static const struct wlb_daemon replicad_daemon = {
	.name = "wlb-replicad",
	.summary = "Replica daemon of wlb: answers redirected SYNs at once when active\n"
		   "and not busy, so the replica nearest the client wins the race.",
	.need = WLB_NEED_REPLICAD,
	.queue = queue,
	.workers = workers,
	.create = create,
	.destroy = destroy,
	.reconfigure = reconfigure,
	.restart_only = restart_only,
	.decide = decide,
	.tick = tick,
	.dump = dump,
	.fp_table = "wlb_replicad",
	.fp_unneeded = fp_unneeded,
	.fp_timeout = fp_timeout,
	.fp_attach = fp_attach,
	.fp_seen = fp_seen,
	.tun_flows = tun_flows,
	.tun_attach = tun_attach,
	.tun_seen = tun_seen,
	.control = control,
	.control_usage = "flows [ADDRESS], replicas, drain, enable, flush CLIENT:PORT SERVER:PORT",
};

int main(int argc, char **argv)
{
	return wlb_daemon_main(&replicad_daemon, argc, argv);
}
