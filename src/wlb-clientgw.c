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

static void fp_attach(void *self, struct wlb_fp *fp)
{
	((struct clientgw *)self)->fp = fp;
}

static void fp_seen(void *self, enum wlb_fp_map m, const struct wlb_fp_key *k, uint32_t value,
		    uint32_t expires_ms, uint64_t now_ms)
{
	clientgw_fp_seen(self, m, k, value, expires_ms, now_ms);
}

/* ----------------------------------------------------------------- control */

static void forget(void *self, struct wlb_flow *f)
{
	clientgw_forget(self, f);
}

static void flow_counts(struct clientgw *gw, struct wlb_ctl_out *out, bool all)
{
	struct wlb_flow_stats st;

	wlb_flow_stats(gw->flows, &st);
	wlb_ctl_kv_u64(out, "flows", st.count);
	wlb_ctl_kv_u64(out, "flows_capacity", st.capacity);
	if (!all)
		return;
	wlb_ctl_kv_u64(out, "flows_evicted", st.evicted);
	wlb_ctl_kv_u64(out, "flows_expired", st.expired);
}

struct flow_list {
	struct wlb_ctl_out *out;
	bool filtered;
	uint32_t addr; /* the filter: client, server or winner */
	uint64_t omitted;
};

static void list_flow(const struct wlb_flow *f, void *arg)
{
	static const char *const states[] = {"pending", "direct", "replica"};
	struct flow_list *l = arg;
	bool decided = f->state != CGW_PENDING;
	char c[WLB_CTL_ENDPOINT_LEN], s[WLB_CTL_ENDPOINT_LEN], w[INET_ADDRSTRLEN];

	if (l->filtered && f->key.client.v4 != l->addr && f->key.server.v4 != l->addr &&
	    !(decided && f->peer.v4 == l->addr))
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
	wlb_ctl_cell_str(l->out, states[f->state % 3]);
	wlb_ctl_cell_str(l->out, wlb_mode_name((f->flags & CGW_MODE_MASK) >> CGW_MODE_SHIFT));
	wlb_ctl_cell_str(l->out, decided ? inet_ntop(AF_INET, &f->peer.v4, w, sizeof(w)) : NULL);
	wlb_ctl_cell_bool(l->out, f->flags & CGW_CLOSING);
	wlb_ctl_row_end(l->out);
}

static int list_flows(struct clientgw *gw, const struct wlb_ctl_req *req, struct wlb_ctl_out *out,
		      uint64_t now_ms)
{
	static const struct wlb_ctl_col cols[] = {
		{"client", 21}, {"server", 21}, {"state", 7},
		{"config", 6},	{"winner", 15}, {"closing", 0},
	};
	struct flow_list l = {.out = out, .filtered = req->argc == 2};

	if (req->argc > 2 || (l.filtered && wlb_ctl_parse_addr(req->argv[1], &l.addr) < 0))
		return wlb_ctl_fail(out, WLB_CTL_USAGE, "usage: flows [ADDRESS]");
	wlb_ctl_table_begin(out, "flows", cols, 6);
	wlb_flow_foreach(gw->flows, now_ms, list_flow, &l);
	wlb_ctl_table_end(out);
	wlb_ctl_table_omitted(out, l.omitted);
	return WLB_CTL_DONE;
}

static int control(void *self, const struct wlb_ctl_req *req, struct wlb_ctl_out *out,
		   uint64_t now_ms)
{
	struct clientgw *gw = self;
	const char *cmd = req->argv[0];

	if (!strcmp(cmd, "status")) {
		flow_counts(gw, out, false);
	} else if (!strcmp(cmd, "counters")) {
		wlb_ctl_kv_counters(out, clientgw_counter_names, gw->c, clientgw_NCOUNTERS);
		flow_counts(gw, out, true);
	} else if (!strcmp(cmd, "flows")) {
		return list_flows(gw, req, out, now_ms);
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
	.decide = decide,
	.tick = tick,
	.dump = dump,
	.fp_table = "wlb_clientgw",
	.fp_timeout = fp_timeout,
	.fp_attach = fp_attach,
	.fp_seen = fp_seen,
	.control = control,
	.control_usage = "flows [ADDRESS], replicas, flush CLIENT:PORT SERVER:PORT",
};

int main(int argc, char **argv)
{
	return wlb_daemon_main(&clientgw_daemon, argc, argv);
}
