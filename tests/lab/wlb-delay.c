// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlb-delay: one-way link delay for the lab, since this kernel has no netem.
 *
 * Every packet queued to NFQUEUE QUEUE is held for DELAY_MS and then
 * accepted.  The delay is constant, so packets become due in the order they
 * arrived: a FIFO of packet ids suffices, and all due packets are released
 * with one batch verdict for the newest due id.  The queue is GSO-enabled
 * (we never mangle) and copies only the metadata it needs.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "nfq.h"

#define RING_SIZE 65536 /* power of two */

struct held {
	uint32_t id;
	uint64_t due_ns;
};

struct delay {
	struct wlb_nfq *q;
	uint64_t delay_ns;
	struct held *ring;
	uint32_t head, tail; /* tail - head = held packets */
	uint64_t passed_full;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_packet(void *ctx, struct wlb_nfq_pkt *pkt, struct wlb_nfq_result *res)
{
	struct delay *d = ctx;

	/* no delay: the bare accept loop the benchmarks compare against */
	if (!d->delay_ns)
		return;
	if (d->tail - d->head == RING_SIZE) {
		/* never hold more than we can track: pass it at once */
		d->passed_full++;
		return;
	}
	d->ring[d->tail++ & (RING_SIZE - 1)] = (struct held){pkt->id, now_ns() + d->delay_ns};
	res->verdict = WLB_HOLD;
}

static void release(struct delay *d, uint64_t upto_ns)
{
	uint32_t last;

	if (d->head == d->tail || d->ring[d->head & (RING_SIZE - 1)].due_ns > upto_ns)
		return;
	do {
		last = d->ring[d->head & (RING_SIZE - 1)].id;
		d->head++;
	} while (d->head != d->tail && d->ring[d->head & (RING_SIZE - 1)].due_ns <= upto_ns);
	wlb_nfq_verdict(d->q, last, true, true);
}

static int next_timeout(const struct delay *d, struct timespec *ts)
{
	uint64_t now, due;

	if (d->head == d->tail)
		return 0;
	due = d->ring[d->head & (RING_SIZE - 1)].due_ns;
	now = now_ns();
	due = due > now ? due - now : 0;
	ts->tv_sec = (time_t)(due / 1000000000ull);
	ts->tv_nsec = (long)(due % 1000000000ull);
	return 1;
}

static int run(struct delay *d, int sig_fd)
{
	struct pollfd pfd[2] = {
		{.fd = wlb_nfq_fd(d->q), .events = POLLIN},
		{.fd = sig_fd, .events = POLLIN},
	};

	for (;;) {
		struct timespec ts;
		int timed = next_timeout(d, &ts);

		if (ppoll(pfd, 2, timed ? &ts : NULL, NULL) < 0 && errno != EINTR)
			return 1;
		if (pfd[0].revents && wlb_nfq_receive(d->q, on_packet, d, 64) < 0) {
			fprintf(stderr, "wlb-delay: receive: %s\n", strerror(errno));
			return 1;
		}
		release(d, now_ns());
		if (pfd[1].revents) {
			/* leave nothing behind: what we hold goes on now */
			release(d, UINT64_MAX);
			return 0;
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: wlb-delay -q QUEUE -d DELAY_MS [-G]\n"
		   "Hold every packet of NFQUEUE QUEUE for DELAY_MS (may be fractional), then\n"
		   "accept it; with 0 it is a bare accept loop.  -G: without NFQA_CFG_F_GSO.\n"
		   "SIGTERM/SIGINT release what is held and exit.\n");
}

int main(int argc, char **argv)
{
	struct wlb_nfq_opts o = {.maxlen = RING_SIZE,
				 .rcvbuf = 16 << 20,
				 .gso = true,
				 .no_batch = true,
				 .copy_range = 64};
	struct delay d = {0};
	double ms = -1;
	char err[256];
	sigset_t set;
	int c, q = -1, sig_fd, status;

	while ((c = getopt(argc, argv, "q:d:Gh")) != -1) {
		if (c == 'G')
			o.gso = false;
		else if (c == 'q')
			q = atoi(optarg);
		else if (c == 'd')
			ms = atof(optarg);
		else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (q < 0 || q > 65535 || ms < 0 || ms > 10000) {
		usage(stderr);
		return 2;
	}
	o.queue = (uint16_t)q;
	d.delay_ns = (uint64_t)(ms * 1e6);
	/* nothing held: accepts may be batched */
	o.no_batch = d.delay_ns != 0;
	d.ring = calloc(RING_SIZE, sizeof(*d.ring));
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	d.q = wlb_nfq_open(&o, err, sizeof(err));
	if (!d.ring || !d.q || sig_fd < 0) {
		fprintf(stderr, "wlb-delay: %s\n", d.q ? "out of memory" : err);
		return 1;
	}
	status = run(&d, sig_fd);
	if (d.passed_full)
		fprintf(stderr, "wlb-delay: %llu packets passed undelayed (ring full)\n",
			(unsigned long long)d.passed_full);
	wlb_nfq_close(d.q);
	free(d.ring);
	return status;
}
