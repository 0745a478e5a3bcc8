// SPDX-License-Identifier: GPL-2.0-or-later
/* wlb-redirector: the origin gateway daemon (wiring only; policy in redirector.c). */
#include <string.h>

#include "ctl.h"
#include "redirector.h"

static uint16_t queue(const struct wlb_conf *c)
{
	return c->redirector.queue;
}

static unsigned workers(const struct wlb_conf *c)
{
	return c->redirector.workers;
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

static int control(void *self, const struct wlb_ctl_req *req, struct wlb_ctl_out *out,
		   uint64_t now_ms)
{
	struct redirector *r = self;
	const char *cmd = req->argv[0];

	if (!strcmp(cmd, "status")) {
		wlb_ctl_kv_u64(out, "services", r->conf->n_services);
	} else if (!strcmp(cmd, "counters")) {
		wlb_ctl_kv_counters(out, redirector_counter_names, r->c, redirector_NCOUNTERS);
	} else if (!strcmp(cmd, "replicas")) {
		if (req->argc > 1)
			return wlb_ctl_fail(out, WLB_CTL_USAGE, "replicas takes no argument");
		wlb_ctl_services(out, r->conf);
	} else {
		return WLB_CTL_UNKNOWN;
	}
	return WLB_CTL_DONE;
}

static const struct wlb_daemon redirector_daemon = {
	.name = "wlb-redirector",
	.summary = "Origin gateway of wlb: copies tagged SYNs for replicable content,\n"
		   "IP-in-IP encapsulated, to every replica of the origin.",
	.need = WLB_NEED_REDIRECTOR,
	.gso = true, /* it never mangles what it queues */
	.queue = queue,
	.workers = workers,
	.create = create,
	.destroy = destroy,
	.reconfigure = reconfigure,
	.decide = decide,
	.tick = tick,
	.dump = dump,
	.control = control,
	.control_usage = "replicas",
};

int main(int argc, char **argv)
{
	return wlb_daemon_main(&redirector_daemon, argc, argv);
}
