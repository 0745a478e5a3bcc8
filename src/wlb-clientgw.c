// SPDX-License-Identifier: GPL-2.0-or-later
/* wlb-clientgw: the client gateway daemon (wiring only; policy in clientgw.c). */
#include "clientgw.h"

static uint16_t queue(const struct wlb_conf *c)
{
	return c->clientgw.queue;
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

static const struct wlb_daemon clientgw_daemon = {
	.name = "wlb-clientgw",
	.summary = "Client gateway of wlb: tags web SYNs, lets the first SYN-ACK win and\n"
		   "carries the connection to the winner (origin or nearest replica).",
	.need = WLB_NEED_CLIENTGW,
	.queue = queue,
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
};

int main(int argc, char **argv)
{
	return wlb_daemon_main(&clientgw_daemon, argc, argv);
}
