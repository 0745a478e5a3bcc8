// SPDX-License-Identifier: GPL-2.0-or-later
/* wlb-redirector: the origin gateway daemon (wiring only; policy in redirector.c). */
#include "redirector.h"

static uint16_t queue(const struct wlb_conf *c)
{
	return c->redirector.queue;
}

static void *create(const struct wlb_conf *c, char *err, size_t errlen)
{
	return redirector_new(c, err, errlen);
}

static void destroy(void *self)
{
	redirector_free(self);
}

static void reconfigure(void *self, const struct wlb_conf *c)
{
	((struct redirector *)self)->conf = c;
}

static void decide(void *self, const struct wlb_nfq_pkt *pkt, uint64_t now_ms,
		   struct wlb_action *act)
{
	redirector_decide(self, pkt->data, pkt->len, act);
}

static void tick(void *self, uint64_t now_ms)
{
}

static void dump(void *self, FILE *f, uint64_t now_ms)
{
	redirector_dump(self, f);
}

static const struct wlb_daemon redirector_daemon = {
	.name = "wlb-redirector",
	.summary = "Origin gateway of wlb: copies tagged SYNs for replicable content,\n"
		   "IP-in-IP encapsulated, to every replica of the origin.",
	.need = WLB_NEED_REDIRECTOR,
	.gso = true, /* it never mangles what it queues */
	.queue = queue,
	.create = create,
	.destroy = destroy,
	.reconfigure = reconfigure,
	.decide = decide,
	.tick = tick,
	.dump = dump,
};

int main(int argc, char **argv)
{
	return wlb_daemon_main(&redirector_daemon, argc, argv);
}
