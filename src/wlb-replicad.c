// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-replicad: the replica daemon (wiring only; policy in replicad.c).
 * Here too lives what the policy must not do itself: reading the load.
 */
#include <stdlib.h>
#include <string.h>

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

static void *create(const struct wlb_conf *c, char *err, size_t errlen)
{
	struct replicad *r = replicad_new(c, err, errlen);

	if (r)
		measure(r);
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

static uint32_t fp_timeout(const struct wlb_conf *c)
{
	return c->replicad.idle_ms;
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

static const struct wlb_daemon replicad_daemon = {
	.name = "wlb-replicad",
	.summary = "Replica daemon of wlb: answers redirected SYNs at once when active\n"
		   "and not busy, so the replica nearest the client wins the race.",
	.need = WLB_NEED_REPLICAD,
	.queue = queue,
	.create = create,
	.destroy = destroy,
	.reconfigure = reconfigure,
	.decide = decide,
	.tick = tick,
	.dump = dump,
	.fp_table = "wlb_replicad",
	.fp_timeout = fp_timeout,
	.fp_attach = fp_attach,
	.fp_seen = fp_seen,
};

int main(int argc, char **argv)
{
	return wlb_daemon_main(&replicad_daemon, argc, argv);
}
