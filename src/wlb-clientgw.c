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
};

int main(int argc, char **argv)
{
	return wlb_daemon_main(&clientgw_daemon, argc, argv);
}
