// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <arpa/inet.h>

#include "counters.h"
#include "ctl.h"
#include "ctlsrv.h"
#include "daemon.h"
#include "log.h"
#include "rawsock.h"

#define TICK_MS 200
#define RECV_BUDGET 64

struct daemon_run {
	const struct wlb_daemon *d;
	const char *conf_path;
	const char *state_path;
	const char *ctl_path;
	int queue_override;
	int worker;	  /* --worker: which of the configured workers this is */
	unsigned workers; /* of how many, as configured at start */
	struct wlb_conf *conf;
	void *self;
	struct wlb_nfq *nfq;
	struct wlb_action *act;
	int raw_fd;
	int sig_fd;
	int tick_fd;
	uint64_t watchdog_ms;
	uint64_t last_watchdog;
	uint64_t emit_errors;
	uint64_t truncated;
	uint64_t by_hook[5]; /* packets per netfilter hook: which direction costs what */
	uint64_t reloads, reload_failures;
	struct wlb_fp *fp;
	struct wlb_tun *tun;
	bool no_fastpath;
	uint64_t next_fp_sync;
	bool stop;
	struct wlb_ctl *ctl;
	uint64_t started_ms;
};

uint64_t wlb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ action */

struct wlb_action *wlb_action_new(void)
{
	struct wlb_action *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->scratch = malloc(WLB_SCRATCH_SIZE);
	a->emit = calloc(WLB_EMIT_MAX, sizeof(*a->emit));
	if (!a->scratch || !a->emit) {
		wlb_action_free(a);
		return NULL;
	}
	return a;
}

void wlb_action_free(struct wlb_action *a)
{
	if (!a)
		return;
	free(a->scratch);
	free(a->emit);
	free(a);
}

struct wlb_emit *wlb_action_emit(struct wlb_action *a)
{
	if (a->n_emit >= WLB_EMIT_MAX)
		return NULL;
	return &a->emit[a->n_emit++];
}

/* ----------------------------------------------------------------- options */

static void usage(const struct wlb_daemon *d, FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTION]...\n"
		"%s\n\n"
		"  -c, --config=FILE      configuration file (default %s/wlb/wlb.conf)\n"
		"  -t, --test-config      check the configuration, print the result, exit\n"
		"  -q, --queue=NUM        NFQUEUE number, overriding the configuration\n"
		"  -w, --worker=K         be worker K (0 by default) of the section's\n"
		"                         \"workers\": serve queue + K\n"
		"  -s, --state-file=FILE  where SIGUSR1 and exit write counters and flows\n"
		"                         (default %s/wlb/%s.state)\n"
		"      --control=PATH     control socket for wlbctl(8)\n"
		"                         (default %s/wlb/%s.ctl)\n"
		"%s"
		"      --syslog           log to syslog as well as to stderr\n"
		"  -v, --verbose          log debug messages\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"\nSignals: SIGHUP reloads the configuration (kept if invalid),\n"
		"SIGUSR1 writes the state file, SIGTERM and SIGINT stop.\n",
		d->name, d->summary, SYSCONFDIR, RUNSTATEDIR, d->name, RUNSTATEDIR, d->name,
		d->fp_table
			? "      --no-fastpath      keep every packet in userspace: never hand a\n"
			  "                         connection to the kernel's nftables maps\n"
			: "");
}

/* Worker 0 keeps the plain names: with one worker it is the daemon. */
static char *default_run_path(const struct wlb_daemon *d, int worker, const char *suffix)
{
	size_t n = strlen(RUNSTATEDIR) + strlen(d->name) + strlen(suffix) + 16;
	char *p = malloc(n);

	if (p && worker)
		snprintf(p, n, "%s/wlb/%s.%d%s", RUNSTATEDIR, d->name, worker, suffix);
	else if (p)
		snprintf(p, n, "%s/wlb/%s%s", RUNSTATEDIR, d->name, suffix);
	return p;
}

static uint16_t queue_of(const struct daemon_run *r)
{
	if (r->queue_override >= 0)
		return (uint16_t)r->queue_override;
	return (uint16_t)(r->d->queue(r->conf) + r->worker);
}

/* optarg as a number 0..max, or -1 with the message. */
static int number_arg(const struct daemon_run *r, const char *opt, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(optarg, &end, 10);
	if (errno || *end || end == optarg || v < 0 || v > max) {
		fprintf(stderr, "%s: --%s: '%s' is not 0..%ld\n", r->d->name, opt, optarg, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* Returns -1 to go on, else an exit status. */
static int parse_args(struct daemon_run *r, int argc, char **argv, bool *test_only)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"test-config", no_argument, NULL, 't'},
		{"queue", required_argument, NULL, 'q'},
		{"state-file", required_argument, NULL, 's'},
		{"control", required_argument, NULL, 'C'},
		{"syslog", no_argument, NULL, 'S'},
		{"no-fastpath", no_argument, NULL, 'F'},
		{"worker", required_argument, NULL, 'w'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	bool use_syslog = false;
	int prio = LOG_INFO, c;

	while ((c = getopt_long(argc, argv, "c:tq:s:w:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			r->conf_path = optarg;
			break;
		case 't':
			*test_only = true;
			break;
		case 'q':
			if (number_arg(r, "queue", 65535, &r->queue_override) < 0)
				return 2;
			break;
		case 's':
			r->state_path = optarg;
			break;
		case 'C':
			r->ctl_path = optarg;
			break;
		case 'S':
			use_syslog = true;
			break;
		case 'F':
			r->no_fastpath = true;
			break;
		case 'w':
			if (number_arg(r, "worker", WLB_CONF_MAX_WORKERS - 1, &r->worker) < 0)
				return 2;
			break;
		case 'v':
			prio = LOG_DEBUG;
			break;
		case 'h':
			usage(r->d, stdout);
			return 0;
		case 'V':
			printf("%s %s\n", r->d->name, PACKAGE_VERSION);
			return 0;
		default:
			usage(r->d, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", r->d->name, argv[optind]);
		return 2;
	}
	wlb_log_open(r->d->name, use_syslog, prio);
	return -1;
}

/* ----------------------------------------------------------------- packets */

static void send_emits(struct daemon_run *r)
{
	for (unsigned i = 0; i < r->act->n_emit; i++) {
		int err = wlb_raw_send(r->raw_fd, r->act->emit[i].data, r->act->emit[i].len);

		if (err) {
			r->emit_errors++;
			wlb_debug("raw send: %s", strerror(-err));
		}
	}
}

static void on_packet(void *ctx, struct wlb_nfq_pkt *pkt, struct wlb_nfq_result *res)
{
	struct daemon_run *r = ctx;

	wlb_action_reset(r->act);
	r->by_hook[pkt->hook % 5]++;
	/* we ask for whole packets; a short copy is never edited */
	if (pkt->truncated) {
		r->truncated++;
		res->verdict = WLB_ACCEPT;
		return;
	}
	r->d->decide(r->self, pkt, wlb_now_ms(), r->act);
	if (r->act->n_emit && r->raw_fd >= 0)
		send_emits(r);
	res->verdict = r->act->verdict;
	res->out = r->act->out;
	res->out_len = r->act->out_len;
}

/* --------------------------------------------------------------- fast path */

struct seen_ctx {
	struct daemon_run *r;
	uint64_t now;
};

static void fp_seen(void *arg, enum wlb_fp_map m, const struct wlb_fp_key *k, uint32_t value,
		    uint32_t expires_ms)
{
	struct seen_ctx *c = arg;

	/* as the rules split, from the configuration at start: a reload
	 * does not move the queues */
	unsigned workers = c->r->workers;
	/* the client's port: the source in fp_dst, the destination in fp_src */
	uint16_t cport = ntohs(m == WLB_FP_DST ? k->sport : k->dport);

	/* another worker's connection (the rules split by these bits) */
	if (((cport >> 1) & (workers - 1)) != (unsigned)c->r->worker)
		return;
	/* re-created by a packet racing our delete (see nft.c): not a flow */
	if (!value) {
		wlb_fp_del(c->r->fp, m, k);
		return;
	}
	c->r->d->fp_seen(c->r->self, m, k, value, expires_ms, c->now);
}

static uint64_t fp_sync_interval(const struct daemon_run *r)
{
	return wlb_fp_sync_ms(r->d->fp_timeout(r->conf));
}

static bool tun_seen(void *arg, enum wlb_tun_map m, const struct wlb_fp_key *k, uint32_t osaddr,
		     uint32_t odaddr, uint64_t idle_ms)
{
	struct seen_ctx *c = arg;

	return c->r->d->tun_seen(c->r->self, m, k, osaddr, odaddr, idle_ms, c->now);
}

/* The tunnel first: after a restart its entries say which connections are
 * tunnelled, which nftables' identity elements for them do not. */
static void fp_sync(struct daemon_run *r, uint64_t now)
{
	struct seen_ctx c = {r, now};

	wlb_tun_dump(r->tun, tun_seen, &c);
	if (wlb_fp_dump(r->fp, fp_seen, &c) < 0)
		wlb_warn("fast path: reading the maps back failed: %s", strerror(errno));
	r->next_fp_sync = now + fp_sync_interval(r);
}

/*
 * Configuration C's tunnel in the kernel (tunfp.h), beside the nftables
 * maps, which spare its packets the queues.  One program per host: with
 * several workers each would replace the others', so they tunnel in
 * userspace.
 */
static void tun_start(struct daemon_run *r)
{
	uint32_t flows;
	char err[256];

	if (!r->d->tun_flows)
		return;
	flows = r->d->tun_flows(r->conf);
	if (!flows || r->workers > 1) {
		/* a program an earlier run left would tunnel connections no
		 * daemon tracks any more */
		wlb_tun_detach_all();
		if (flows)
			wlb_notice("configuration C tunnels in userspace: the kernel's tc "
				   "program serves one worker, this daemon has %u",
				   r->workers);
		return;
	}
	r->tun = wlb_tun_open(flows, err, sizeof(err));
	if (!r->tun) {
		wlb_warn("configuration C tunnels in userspace: %s", err);
		return;
	}
	r->d->tun_attach(r->self, r->tun);
	wlb_notice("configuration C tunnels in the kernel: tc program on %u interface(s)%s",
		   r->tun->n_ifaces,
		   r->tun->adopted ? ", the tunnels of the program before it taken over" : "");
}

/* A program that still carries connections stays for the next start. */
static void tun_stop(struct daemon_run *r)
{
	if (r->tun && r->tun->n_encaps) {
		wlb_notice("leaving the tc program attached: it carries %u tunnelled "
			   "connection(s); the next start takes them over",
			   r->tun->n_encaps);
		wlb_tun_leave(r->tun);
	} else {
		wlb_tun_close(r->tun);
	}
	r->tun = NULL;
}

static void dump_tun(const struct daemon_run *r, FILE *f)
{
	static const char *const names[] = {"tunnel_kernel_encap", "tunnel_kernel_decap",
					    "tunnel_kernel_refused", "tunnel_kernel_failed"};
	_Static_assert(sizeof(names) / sizeof(names[0]) == WLB_TUN_NCOUNTERS,
		       "a name for each of the tc program's counters");
	uint64_t c[WLB_TUN_NCOUNTERS];

	wlb_counter_print(f, "tunnel_kernel_interfaces", r->tun->n_ifaces);
	wlb_counter_print(f, "tunnel_kernel_tunnels", r->tun->n_encaps);
	wlb_counter_print(f, "tunnel_kernel_added", r->tun->st.added);
	wlb_counter_print(f, "tunnel_kernel_deleted", r->tun->st.deleted);
	wlb_counter_print(f, "tunnel_kernel_add_failures", r->tun->st.add_failures);
	wlb_tun_counters(r->tun, c);
	for (unsigned i = 0; i < WLB_TUN_NCOUNTERS; i++)
		wlb_counter_print(f, names[i], c[i]);
}

/* Without nftables (or with rules from elsewhere) the daemon still works:
 * it translates every packet itself. */
static void fp_start(struct daemon_run *r)
{
	char err[256];
	const char *why;
	uint64_t before;

	if (!r->d->fp_table || r->no_fastpath) {
		if (r->d->fp_table)
			wlb_notice("fast path off (--no-fastpath): every packet in userspace");
		return;
	}
	why = r->d->fp_unneeded ? r->d->fp_unneeded(r->conf) : NULL;
	if (why) {
		wlb_notice("fast path not used: %s", why);
		return;
	}
	r->fp = wlb_fp_open(r->d->fp_table, r->d->fp_timeout(r->conf), err, sizeof(err));
	if (!r->fp) {
		wlb_warn("fast path unavailable, translating in userspace: %s", err);
		return;
	}
	r->d->fp_attach(r->self, r->fp);
	tun_start(r);
	before = r->fp->st.dumped;
	fp_sync(r, wlb_now_ms());
	wlb_notice("fast path on (table ip %s): %" PRIu64 " elements found", r->d->fp_table,
		   r->fp->st.dumped - before);
}

static void dump_fp(const struct daemon_run *r, FILE *f)
{
	const struct wlb_fp_stats *s = &r->fp->st;

	wlb_counter_print(f, "fastpath_added", s->added);
	wlb_counter_print(f, "fastpath_deleted", s->deleted);
	wlb_counter_print(f, "fastpath_transactions", s->transactions);
	wlb_counter_print(f, "fastpath_refused", s->refused);
	wlb_counter_print(f, "fastpath_gone", s->gone);
	wlb_counter_print(f, "fastpath_read_back", s->dumped);
	wlb_counter_print(f, "fastpath_failures", s->failures);
}

/* ------------------------------------------------------------------- state */

static void dump_common(struct daemon_run *r, FILE *f)
{
	const struct wlb_nfq_stats *s = wlb_nfq_stats(r->nfq);
	struct wlb_nfq_kstats ks;
	uint16_t q = queue_of(r);

	fprintf(f, "# %s %s, config %s\n", r->d->name, PACKAGE_VERSION, r->conf->file);
	wlb_counter_print(f, "nfq_queue", q);
	wlb_counter_print(f, "worker", r->worker);
	wlb_counter_print(f, "workers", r->workers);
	wlb_counter_print(f, "nfq_packets", s->packets);
	wlb_counter_print(f, "nfq_enobufs", s->enobufs);
	wlb_counter_print(f, "nfq_bad_msgs", s->bad_msgs);
	wlb_counter_print(f, "nfq_verdicts", s->verdicts);
	wlb_counter_print(f, "nfq_batches", s->batches);
	wlb_counter_print(f, "nfq_send_errors", s->send_errors);
	wlb_counter_print(f, "nfq_verdict_errors", s->verdict_errors);
	wlb_counter_print(f, "nfq_too_big", s->too_big);
	if (wlb_nfq_kstats(q, &ks) == 0) {
		wlb_counter_print(f, "kernel_queue_total", ks.queue_total);
		wlb_counter_print(f, "kernel_queue_dropped", ks.queue_dropped);
		wlb_counter_print(f, "kernel_user_dropped", ks.user_dropped);
	}
	static const char *const hooks[5] = {"prerouting", "input", "forward", "output",
					     "postrouting"};

	for (unsigned i = 0; i < 5; i++)
		if (r->by_hook[i])
			fprintf(f, "packets_%-20s %" PRIu64 "\n", hooks[i], r->by_hook[i]);
	wlb_counter_print(f, "emit_errors", r->emit_errors);
	wlb_counter_print(f, "truncated_passed", r->truncated);
	wlb_counter_print(f, "reloads", r->reloads);
	wlb_counter_print(f, "reload_failures", r->reload_failures);
	wlb_counter_print(f, "fastpath_on", r->fp != NULL);
	if (r->fp)
		dump_fp(r, f);
	wlb_counter_print(f, "tunnel_kernel_on", r->tun != NULL);
	if (r->tun)
		dump_tun(r, f);
}

/* The state file's directory (under systemd, RuntimeDirectory=wlb makes
 * it): created here when missing, for a daemon started by hand. */
static void make_state_dir(const char *path)
{
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;

	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			wlb_warn("state directory %s: %s", dir, strerror(errno));
	}
	free(dir);
}

/* Written to a temporary name and renamed, so readers never see half. */
static void write_state(struct daemon_run *r)
{
	size_t n = strlen(r->state_path) + 8;
	char *tmp = malloc(n);
	FILE *f;

	if (!tmp)
		return;
	snprintf(tmp, n, "%s.tmp", r->state_path);
	f = fopen(tmp, "we");
	if (!f) {
		wlb_warn("state file %s: %s", tmp, strerror(errno));
		free(tmp);
		return;
	}
	dump_common(r, f);
	r->d->dump(r->self, f, wlb_now_ms());
	if (fclose(f) == 0 && rename(tmp, r->state_path) == 0)
		wlb_debug("state written to %s", r->state_path);
	else
		wlb_warn("state file %s: %s", r->state_path, strerror(errno));
	free(tmp);
}

/*
 * A setting the running daemon cannot take without a restart, named, or
 * NULL: it is bound to its queues and its tables are sized at start.  A
 * reload that took one silently would report a configuration the daemon
 * does not run.
 */
static const char *restart_only(const struct daemon_run *r, const struct wlb_conf *c, char *buf,
				size_t n)
{
	const struct wlb_daemon *d = r->d;
	const struct wlb_conf *o = r->conf;
	const char *what = NULL;

	if (d->queue(c) != d->queue(o))
		what = "queue";
	else if (d->workers(c) != d->workers(o))
		what = "workers";
	else if (c->queue_maxlen != o->queue_maxlen)
		return "nfqueue.queue_maxlen";
	else if (c->rcvbuf != o->rcvbuf)
		return "nfqueue.rcvbuf";
	else if (d->restart_only)
		return d->restart_only(o, c);
	if (what)
		snprintf(buf, n, "%s.%s", d->name + strlen("wlb-"), what);
	return what ? buf : NULL;
}

/* What a reload takes only in part: said, so that the log tells what runs. */
static void reload_warnings(const struct daemon_run *r, const struct wlb_conf *c)
{
	const struct wlb_daemon *d = r->d;

	if (r->fp && d->fp_timeout(c) != d->fp_timeout(r->conf))
		wlb_warn("%s: the kernel's fast-path elements keep their timeout of %u s until "
			 "a restart",
			 c->file, d->fp_timeout(r->conf) / 1000);
	if (d->fp_unneeded && !d->fp_unneeded(c) != !d->fp_unneeded(r->conf))
		wlb_warn("%s: the fast path stays %s until a restart", c->file,
			 r->fp ? "open" : "closed");
	if (d->tun_flows && !d->tun_flows(c) != !d->tun_flows(r->conf))
		wlb_warn("%s: configuration C's tunnel stays %s until a restart", c->file,
			 r->tun ? "in the kernel" : "in userspace");
}

static void reload(struct daemon_run *r)
{
	char err[512], name[128];
	struct wlb_conf *c;
	const char *what;

	wlb_notify("RELOADING=1");
	c = wlb_conf_load(r->conf_path, r->d->need, err, sizeof(err));
	if (!c) {
		r->reload_failures++;
		wlb_err("reload refused, keeping the running configuration: %s", err);
	} else if ((what = restart_only(r, c, name, sizeof(name)))) {
		r->reload_failures++;
		wlb_err("reload refused, keeping the running configuration: %s: %s changed, "
			"which takes a restart",
			c->file, what);
		wlb_conf_free(c);
	} else {
		reload_warnings(r, c);
		r->d->reconfigure(r->self, c);
		wlb_conf_free(r->conf);
		r->conf = c;
		r->reloads++;
		wlb_notice("configuration reloaded from %s", c->file);
	}
	wlb_notify("READY=1");
}

/* ----------------------------------------------------------------- control */

static void ctl_status(struct daemon_run *r, struct wlb_ctl_out *out, uint64_t now)
{
	wlb_ctl_kv_str(out, "daemon", r->d->name);
	wlb_ctl_kv_str(out, "version", PACKAGE_VERSION);
	wlb_ctl_kv_u64(out, "pid", (uint64_t)getpid());
	wlb_ctl_kv_str(out, "config", r->conf->file);
	wlb_ctl_kv_u64(out, "uptime_s", (now - r->started_ms) / 1000);
	wlb_ctl_kv_u64(out, "queue", queue_of(r));
}

/* From the state file's common lines: both always list the same. */
static void ctl_counters(struct daemon_run *r, struct wlb_ctl_out *out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		wlb_ctl_fail(out, WLB_CTL_ERROR, "out of memory");
		return;
	}
	dump_common(r, f);
	if (fclose(f) == 0)
		wlb_ctl_kv_lines(out, text);
	else
		wlb_ctl_fail(out, WLB_CTL_ERROR, "out of memory");
	free(text);
}

static void on_control(void *ctx, const struct wlb_ctl_req *req, struct wlb_ctl_out *out)
{
	struct daemon_run *r = ctx;
	const char *cmd = req->argv[0], *more = r->d->control_usage;
	bool common = !strcmp(cmd, "status") || !strcmp(cmd, "counters");
	uint64_t now = wlb_now_ms();

	if (common && req->argc > 1) {
		wlb_ctl_fail(out, WLB_CTL_USAGE, "%s takes no argument", cmd);
		return;
	}
	if (!strcmp(cmd, "status"))
		ctl_status(r, out, now);
	else if (!strcmp(cmd, "counters"))
		ctl_counters(r, out);
	if ((!r->d->control || r->d->control(r->self, req, out, now) == WLB_CTL_UNKNOWN) && !common)
		wlb_ctl_fail(out, WLB_CTL_USAGE,
			     "unknown command '%s'; %s knows: status, counters%s%s", cmd,
			     r->d->name, more ? ", " : "", more ? more : "");
}

/* -------------------------------------------------------------------- loop */

/* The signals the daemon takes through its signalfd (on_signal()). */
static void handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

static int setup_fds(struct daemon_run *r)
{
	struct itimerspec its = {
		.it_interval = {.tv_nsec = TICK_MS * 1000000L},
		.it_value = {.tv_nsec = TICK_MS * 1000000L},
	};
	sigset_t set;

	handled_signals(&set);
	signal(SIGPIPE, SIG_IGN);
	r->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	r->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (r->sig_fd < 0 || r->tick_fd < 0 || timerfd_settime(r->tick_fd, 0, &its, NULL) < 0) {
		wlb_err("signalfd/timerfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void on_signal(struct daemon_run *r)
{
	struct signalfd_siginfo si;

	while (read(r->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(r);
			break;
		case SIGUSR1:
			write_state(r);
			break;
		default:
			wlb_notice("signal %u: stopping", si.ssi_signo);
			r->stop = true;
		}
	}
}

/* nftables' changes first: the tunnel's deletions that wait for them
 * (wlb_tun_del_later) follow */
static void kernel_flush(struct daemon_run *r)
{
	if (r->fp && r->fp->n_ops)
		wlb_fp_flush(r->fp);
	wlb_tun_flush(r->tun);
}

static void on_tick(struct daemon_run *r)
{
	uint64_t expirations, now = wlb_now_ms();

	if (read(r->tick_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		wlb_debug("timerfd: %s", strerror(errno));
	r->d->tick(r->self, now);
	if (r->fp) {
		kernel_flush(r);
		if (now >= r->next_fp_sync)
			fp_sync(r, now);
	}
	if (r->watchdog_ms && now - r->last_watchdog >= r->watchdog_ms / 2) {
		wlb_notify("WATCHDOG=1");
		r->last_watchdog = now;
	}
}

static int loop(struct daemon_run *r)
{
	struct pollfd pfd[3 + WLB_CTL_NFDS] = {
		{.fd = wlb_nfq_fd(r->nfq), .events = POLLIN},
		{.fd = r->sig_fd, .events = POLLIN},
		{.fd = r->tick_fd, .events = POLLIN},
	};
	unsigned n;

	while (!r->stop) {
		n = 3 + wlb_ctl_pollfds(r->ctl, pfd + 3, wlb_now_ms());
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			wlb_err("poll: %s", strerror(errno));
			return 1;
		}
		if (pfd[0].revents && wlb_nfq_receive(r->nfq, on_packet, r, RECV_BUDGET) < 0) {
			wlb_err("NFQUEUE receive: %s", strerror(errno));
			return 1;
		}
		/* the round's decisions reach the kernel's maps in one go */
		kernel_flush(r);
		if (pfd[1].revents)
			on_signal(r);
		if (pfd[2].revents)
			on_tick(r);
		/* after the packets: the control socket never delays them */
		wlb_ctl_serve(r->ctl, pfd + 3, n - 3, wlb_now_ms());
	}
	return 0;
}

static int open_io(struct daemon_run *r)
{
	struct wlb_nfq_opts o = {
		.queue = queue_of(r),
		.maxlen = r->conf->queue_maxlen,
		.rcvbuf = r->conf->rcvbuf,
		.gso = r->d->gso,
	};
	uint32_t mark = r->d->raw_mark ? r->d->raw_mark(r->conf) : 0;
	char err[256];

	r->raw_fd = wlb_raw_open(mark, err, sizeof(err));
	if (r->raw_fd < 0) {
		wlb_err("%s", err);
		return -1;
	}
	r->nfq = wlb_nfq_open(&o, err, sizeof(err));
	if (!r->nfq) {
		wlb_err("%s", err);
		return -1;
	}
	wlb_notice("serving NFQUEUE %u (worker %d of %u, fail-open, maxlen %u%s)", o.queue,
		   r->worker, r->workers, o.maxlen, o.gso ? ", GSO" : "");
	return 0;
}

static void cleanup(struct daemon_run *r)
{
	kernel_flush(r);
	tun_stop(r);
	wlb_fp_close(r->fp);
	wlb_ctl_close(r->ctl);
	wlb_nfq_close(r->nfq);
	if (r->raw_fd >= 0)
		close(r->raw_fd);
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	if (r->tick_fd >= 0)
		close(r->tick_fd);
	if (r->self)
		r->d->destroy(r->self);
	wlb_action_free(r->act);
	wlb_conf_free(r->conf);
}

static int run(struct daemon_run *r)
{
	char err[512];
	int status = 1;

	r->self = r->d->create(r->conf, err, sizeof(err));
	r->act = wlb_action_new();
	if (!r->self || !r->act) {
		wlb_err("start-up: %s", r->self ? "out of memory" : err);
		return 1;
	}
	/* before the queue: a second daemon on the same socket stops here */
	r->started_ms = wlb_now_ms();
	r->ctl = wlb_ctl_open(r->ctl_path, on_control, r, err, sizeof(err));
	if (!r->ctl) {
		wlb_err("%s", err);
		return 1;
	}
	if (setup_fds(r) < 0 || open_io(r) < 0)
		return 1;
	fp_start(r);
	make_state_dir(r->state_path);
	r->watchdog_ms = wlb_watchdog_usec() / 1000;
	wlb_notify("READY=1");
	wlb_notifyf("STATUS=serving NFQUEUE, config %s", r->conf->file);
	status = loop(r);
	wlb_notify("STOPPING=1");
	write_state(r);
	return status;
}

int wlb_daemon_main(const struct wlb_daemon *d, int argc, char **argv)
{
	struct daemon_run r = {
		.d = d,
		.conf_path = SYSCONFDIR "/wlb/wlb.conf",
		.queue_override = -1,
		.raw_fd = -1,
		.sig_fd = -1,
		.tick_fd = -1,
	};
	char *state_default = NULL, *ctl_default = NULL;
	bool test_only = false;
	char err[512];
	sigset_t set;
	int status;

	/* blocked from the first moment, so that a reload or a stop sent
	 * while the daemon starts waits for its signalfd instead of ending
	 * it (SIGHUP's default action) */
	handled_signals(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	status = parse_args(&r, argc, argv, &test_only);
	if (status >= 0)
		goto out;
	state_default = default_run_path(d, r.worker, ".state");
	ctl_default = default_run_path(d, r.worker, ".ctl");
	if (!r.state_path)
		r.state_path = state_default;
	if (!r.ctl_path)
		r.ctl_path = ctl_default;
	r.conf = wlb_conf_load(r.conf_path, d->need, err, sizeof(err));
	if (!r.conf) {
		fprintf(stderr, "%s: %s\n", d->name, err);
		status = 1;
		goto out;
	}
	r.workers = d->workers(r.conf);
	if ((unsigned)r.worker >= r.workers) {
		fprintf(stderr, "%s: --worker=%d: %s sets workers = %u (0..%u)\n", d->name,
			r.worker, r.conf->file, r.workers, r.workers - 1u);
		status = 2;
		goto out;
	}
	if (test_only) {
		printf("%s: configuration %s is valid\n", d->name, r.conf->file);
		status = 0;
		goto out;
	}
	status = run(&r);
out:
	cleanup(&r);
	free(state_default);
	free(ctl_default);
	return status;
}
