// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-clientgw: the client gateway daemon (wiring only; policy in
 * clientgw.c), and its wlbctl commands, which only read the policy's state
 * but for "flush".
 */
#include <string.h>
#include <arpa/inet.h>

#include "clientgw.h"
#include "ctl.h"

static uint16_t queue(const struct wlb_conf *c)
{
	return c->clientgw.queue;
}

static unsigned workers(const struct wlb_conf *c)
{
	return c->clientgw.workers;
}

static uint32_t raw_mark(const struct wlb_conf *c)
{
	return c->clientgw.rst_mark;
}

static void *create(const struct wlb_conf *c, char *err, size_t errlen)
{
	return clientgw_new(c, err, errlen);
}

static void destroy(void *self)
{
	clientgw_free(self);
}

static void reconfigure(void *self, const struct wlb_conf *c)
{
	clientgw_reconfigure(self, c);
}

static void decide(void *self, const struct wlb_nfq_pkt *pkt, uint64_t now_ms,
		   struct wlb_action *act)
{
	clientgw_decide(self, pkt->hook, pkt->data, pkt->len, now_ms, act);
}

static void tick(void *self, uint64_t now_ms)
{
	clientgw_tick(self, now_ms);
}

static void dump(void *self, FILE *f, uint64_t now_ms)
{
	clientgw_dump(self, f, now_ms);
}

static uint32_t fp_timeout(const struct wlb_conf *c)
{
	return c->clientgw.idle_ms;
}

static const char *restart_only(const struct wlb_conf *a, const struct wlb_conf *b)
{
	if (a->clientgw.flows != b->clientgw.flows)
		return "clientgw.flows";
	if (a->clientgw.rst_mark != b->clientgw.rst_mark)
		return "clientgw.rst_mark";
	return NULL;
}

static void fp_attach(void *self, struct wlb_fp *fp)
{
	((struct clientgw *)self)->fp = fp;
}

static void fp_seen(void *self, enum wlb_fp_map m, const struct wlb_fp_key *k, uint32_t value,
		    uint32_t expires_ms, uint64_t now_ms)
{
	clientgw_fp_seen(self, m, k, value, expires_ms, now_ms);
}

static uint32_t tun_flows(const struct wlb_conf *c)
{
	return wlb_conf_clientgw_uses(c, WLB_MODE_C) ? c->clientgw.flows : 0;
}

static void tun_attach(void *self, struct wlb_tun *t)
{
	((struct clientgw *)self)->tun = t;
}

static bool tun_seen(void *self, enum wlb_tun_map m, const struct wlb_fp_key *k, uint32_t osaddr,
		     uint32_t odaddr, uint64_t idle_ms, uint64_t now_ms)
{
	return clientgw_tun_seen(self, m, k, osaddr, odaddr, idle_ms, now_ms);
}

/* ----------------------------------------------------------------- control */

static void forget(void *self, struct wlb_flow *f)
{
	clientgw_forget(self, f);
}

static void flow_cells(struct wlb_ctl_out *out, const struct wlb_flow *f)
{
	static const char *const states[] = {"pending", "direct", "replica"};
	bool decided = f->state != CGW_PENDING;
	char w[INET_ADDRSTRLEN];

	wlb_ctl_cell_str(out, states[f->state % 3]);
	wlb_ctl_cell_str(out, wlb_mode_name((f->flags & CGW_MODE_MASK) >> CGW_MODE_SHIFT));
	wlb_ctl_cell_str(out, decided ? inet_ntop(AF_INET, &f->peer.v4, w, sizeof(w)) : NULL);
	wlb_ctl_cell_bool(out, f->flags & CGW_CLOSING);
}

/* the filter address also finds the connections a replica won */
static bool flow_names(const struct wlb_flow *f, uint32_t addr)
{
	return f->state != CGW_PENDING && f->peer.v4 == addr;
}

static const struct wlb_ctl_col flow_cols[] = {
	{"client", 21}, {"server", 21}, {"state", 7}, {"config", 6}, {"winner", 15}, {"closing", 0},
};

static const struct wlb_ctl_flow_view flow_view = {flow_cols, 6, flow_cells, flow_names};

static int control(void *self, const struct wlb_ctl_req *req, struct wlb_ctl_out *out,
		   uint64_t now_ms)
{
	struct clientgw *gw = self;
	const char *cmd = req->argv[0];

	if (!strcmp(cmd, "status")) {
		wlb_ctl_flow_counts(out, gw->flows, false);
	} else if (!strcmp(cmd, "counters")) {
		wlb_ctl_kv_counters(out, clientgw_counter_names, gw->c, clientgw_NCOUNTERS);
		wlb_ctl_flow_counts(out, gw->flows, true);
	} else if (!strcmp(cmd, "flows")) {
		return wlb_ctl_flows(out, gw->flows, req, now_ms, &flow_view);
	} else if (!strcmp(cmd, "replicas")) {
		if (req->argc > 1)
			return wlb_ctl_fail(out, WLB_CTL_USAGE, "replicas takes no argument");
		wlb_ctl_services(out, gw->conf);
	} else if (!strcmp(cmd, "flush")) {
		return wlb_ctl_flush(out, gw->flows, req, now_ms, forget, gw);
	} else {
		return WLB_CTL_UNKNOWN;
	}
	return WLB_CTL_DONE;
}

static const struct wlb_daemon clientgw_daemon = {
	.name = "wlb-clientgw",
	.summary = "Client gateway of wlb: tags web SYNs, lets the first SYN-ACK win and\n"
		   "carries the connection to the winner (origin or nearest replica).",
	.need = WLB_NEED_CLIENTGW,
	.queue = queue,
	.workers = workers,
	.raw_mark = raw_mark,
	.create = create,
	.destroy = destroy,
	.reconfigure = reconfigure,
	.restart_only = restart_only,
	.decide = decide,
	.tick = tick,
	.dump = dump,
	.fp_table = "wlb_clientgw",
	.fp_timeout = fp_timeout,
	.fp_attach = fp_attach,
	.fp_seen = fp_seen,
	.tun_flows = tun_flows,
	.tun_attach = tun_attach,
	.tun_seen = tun_seen,
	.control = control,
	.control_usage = "flows [ADDRESS], replicas, flush CLIENT:PORT SERVER:PORT",
};

int main(int argc, char **argv)
{
	return wlb_daemon_main(&clientgw_daemon, argc, argv);
}
