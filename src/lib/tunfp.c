// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_arp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "tunfp.h"

/* The program's object file, linked in by tunnel-obj.S. */
extern const unsigned char wlb_tun_obj[], wlb_tun_obj_end[];

/* Ours among a device's tc filters; a later start replaces a filter a
 * killed daemon left behind. */
#define TUN_TC_HANDLE 0x574c
#define TUN_TC_PRIO 0x574c

static const char *const map_names[WLB_TUN_NMAPS] = {"wlb_encap", "wlb_decap"};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

struct wlb_tun *wlb_tun_new_offline(void)
{
	struct wlb_tun *t = calloc(1, sizeof(*t));

	if (t)
		t->map_fd[0] = t->map_fd[1] = t->stats_fd = t->encaps_fd = -1;
	return t;
}

/* libbpf speaks on stderr by default: through our log instead, its
 * warnings as warnings and its chatter at debug level. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[16384];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	/* the kernel's words for an error libbpf returns, which we handle
	 * (a query where no clsact qdisc is yet): not a warning of ours */
	if (level == LIBBPF_WARN && !strstr(line, "Kernel error message"))
		wlb_warn("libbpf: %s", line);
	else
		wlb_debug("libbpf: %s", line);
	return 0;
}

static bool is_ethernet(int sock, const char *name)
{
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	return ioctl(sock, SIOCGIFHWADDR, &ifr) == 0 && ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
}

/* fn for each Ethernet interface (the program reads an Ethernet header)
 * until it returns non-zero, which is returned; -1 with errno when the
 * interfaces cannot be listed. */
static int each_ethernet(int (*fn)(void *arg, int ifindex, const char *name), void *arg)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

	if (ifs && sock >= 0)
		for (rc = 0, i = ifs; !rc && i->if_index; i++)
			if (is_ethernet(sock, i->if_name))
				rc = fn(arg, (int)i->if_index, i->if_name);
	if (ifs)
		if_freenameindex(ifs);
	if (sock >= 0)
		close(sock);
	return rc;
}

/* Our filters at both hooks of the interface, whichever program they run. */
static void detach_filters(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TUN_TC_HANDLE, .priority = TUN_TC_PRIO);

	bpf_tc_detach(&hook, &opts);
	hook.attach_point = BPF_TC_EGRESS;
	bpf_tc_detach(&hook, &opts);
}

static int attach_one(struct wlb_tun *t, int ifindex, int fd_in, int fd_out)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TUN_TC_HANDLE, .priority = TUN_TC_PRIO,
		    .flags = BPF_TC_F_REPLACE);
	unsigned i = t->n_ifaces;
	int rc = bpf_tc_hook_create(&hook);

	if (rc && rc != -EEXIST)
		return rc;
	t->ifindex[i] = ifindex;
	t->made_qdisc[i] = rc == 0;
	t->n_ifaces++;
	hook.attach_point = BPF_TC_INGRESS;
	opts.prog_fd = fd_in;
	if ((rc = bpf_tc_attach(&hook, &opts)))
		return rc;
	hook.attach_point = BPF_TC_EGRESS;
	opts.prog_fd = fd_out;
	opts.prog_id = 0;
	return bpf_tc_attach(&hook, &opts);
}

struct attaching {
	struct wlb_tun *t;
	int fd_in, fd_out;
	char *err;
	size_t errlen;
};

/* Stops the walk: 1 when the interfaces are too many (a warning), < 0
 * when one refuses (err says which). */
static int attach_to(void *arg, int ifindex, const char *name)
{
	struct attaching *a = arg;
	int rc;

	if (a->t->n_ifaces == WLB_TUN_MAX_IFACES) {
		wlb_warn("kernel tunnel: more than %d interfaces, %s and later not attached",
			 WLB_TUN_MAX_IFACES, name);
		return 1;
	}
	rc = attach_one(a->t, ifindex, a->fd_in, a->fd_out);
	if (rc)
		snprintf(a->err, a->errlen, "attaching to %s: %s", name, strerror(-rc));
	return rc;
}

static int attach_all(struct wlb_tun *t, char *err, size_t errlen)
{
	struct attaching a = {t, wlb_tun_prog_fd(t, true), wlb_tun_prog_fd(t, false), err, errlen};
	int rc;

	if (a.fd_in < 0 || a.fd_out < 0) {
		snprintf(err, errlen, "the tc program lacks its ingress or egress part");
		return -1;
	}
	*err = '\0';
	rc = each_ethernet(attach_to, &a);
	if (rc < 0 && !*err)
		snprintf(err, errlen, "cannot list interfaces: %s", strerror(errno));
	return rc < 0 ? -1 : 0;
}

struct finding {
	enum bpf_tc_attach_point hook;
	int fd;
};

static int find_on(void *arg, int ifindex, const char *name)
{
	struct finding *f = arg;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = f->hook);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TUN_TC_HANDLE, .priority = TUN_TC_PRIO);

	(void)name;
	if (!bpf_tc_query(&hook, &opts) && opts.prog_id)
		f->fd = bpf_prog_get_fd_by_id(opts.prog_id);
	return f->fd >= 0;
}

/* Our filter's program at hook (ingress or egress) on an Ethernet
 * interface, if one is attached: a daemon stopped while it carried
 * connections, or killed. */
static int attached_prog(enum bpf_tc_attach_point hook_at)
{
	struct finding f = {hook_at, -1};

	each_ethernet(find_on, &f);
	return f.fd;
}

/* Take one of the old program's maps over if it is one of ours, of the
 * same size: the new program starts with its entries. */
static bool adopt_map(struct wlb_tun *t, uint32_t id)
{
	struct bpf_map_info mi = {0};
	uint32_t len = sizeof(mi);
	int fd = bpf_map_get_fd_by_id(id);
	struct bpf_map *m;
	bool done = false;

	if (fd < 0)
		return false;
	if (!bpf_obj_get_info_by_fd(fd, &mi, &len) &&
	    (m = bpf_object__find_map_by_name(t->obj, mi.name)) && bpf_map__fd(m) < 0 &&
	    mi.type == bpf_map__type(m) && mi.map_flags == bpf_map__map_flags(m) &&
	    mi.max_entries == bpf_map__max_entries(m) && mi.key_size == bpf_map__key_size(m) &&
	    mi.value_size == bpf_map__value_size(m))
		done = !bpf_map__reuse_fd(m, fd);
	close(fd);
	return done;
}

/* The maps of a program of ours still attached, so that the connections
 * it carries go on across a restart; returns how many were taken over.
 * Each of the two programs names only the maps it uses. */
static unsigned adopt_maps(struct wlb_tun *t)
{
	static const enum bpf_tc_attach_point hooks[] = {BPF_TC_EGRESS, BPF_TC_INGRESS};
	unsigned n = 0;

	for (unsigned h = 0; h < 2; h++) {
		uint32_t ids[8] = {0};
		struct bpf_prog_info info = {.nr_map_ids = 8, .map_ids = (uint64_t)(uintptr_t)ids};
		uint32_t len = sizeof(info);
		int fd = attached_prog(hooks[h]);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len))
			for (uint32_t i = 0; i < info.nr_map_ids && i < 8; i++)
				n += adopt_map(t, ids[i]);
		close(fd);
	}
	return n;
}

void wlb_tun_recount(struct wlb_tun *t)
{
	struct wlb_tun_key k, next;
	uint32_t zero = 0, n = 0;
	const void *prev = NULL;

	while (!bpf_map_get_next_key(t->map_fd[WLB_TUN_MAP_ENCAP], prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	t->n_encaps = n;
	if (bpf_map_update_elem(t->encaps_fd, &zero, &n, BPF_ANY))
		wlb_warn("kernel tunnel: its gate not updated: %s", strerror(errno));
}

static int load(struct wlb_tun *t, uint32_t max_flows, bool adopt, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, o, .object_name = "wlb_tunnel");
	int rc;

	t->obj = bpf_object__open_mem(wlb_tun_obj, (size_t)(wlb_tun_obj_end - wlb_tun_obj), &o);
	if (!t->obj) {
		snprintf(err, errlen, "cannot read the tc program: %s", strerror(errno));
		return -1;
	}
	for (unsigned m = 0; m < WLB_TUN_NMAPS; m++)
		bpf_map__set_max_entries(bpf_object__find_map_by_name(t->obj, map_names[m]),
					 max_flows ? max_flows : 1);
	if (adopt)
		t->adopted = adopt_maps(t);
	if ((rc = bpf_object__load(t->obj))) {
		snprintf(err, errlen, "cannot load the tc program: %s", strerror(-rc));
		return -1;
	}
	for (unsigned m = 0; m < WLB_TUN_NMAPS; m++)
		t->map_fd[m] = bpf_object__find_map_fd_by_name(t->obj, map_names[m]);
	t->stats_fd = bpf_object__find_map_fd_by_name(t->obj, "wlb_tun_stats");
	t->encaps_fd = bpf_object__find_map_fd_by_name(t->obj, "wlb_encaps");
	if (t->adopted)
		wlb_tun_recount(t);
	return 0;
}

static struct wlb_tun *loaded(uint32_t max_flows, bool adopt, char *err, size_t errlen)
{
	struct wlb_tun *t = wlb_tun_new_offline();

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	libbpf_set_print(libbpf_log);
	if (load(t, max_flows, adopt, err, errlen)) {
		wlb_tun_close(t);
		return NULL;
	}
	return t;
}

struct wlb_tun *wlb_tun_load(uint32_t max_flows, char *err, size_t errlen)
{
	return loaded(max_flows, false, err, errlen);
}

struct wlb_tun *wlb_tun_open(uint32_t max_flows, char *err, size_t errlen)
{
	struct wlb_tun *t = loaded(max_flows, true, err, errlen);

	if (t && attach_all(t, err, errlen)) {
		/* the interfaces not reached may still hold an earlier run's
		 * program, which no daemon would fill or empty */
		wlb_tun_close(t);
		wlb_tun_detach_all();
		return NULL;
	}
	return t;
}

int wlb_tun_prog_fd(const struct wlb_tun *t, bool ingress)
{
	const char *name = ingress ? "wlb_tun_ingress" : "wlb_tun_egress";

	return t->obj ? bpf_program__fd(bpf_object__find_program_by_name(t->obj, name)) : -1;
}

static void detach_one(struct wlb_tun *t, unsigned i)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = t->ifindex[i],
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	if (t->made_qdisc[i])
		/* the clsact qdisc goes with every filter in it: only ours */
		bpf_tc_hook_destroy(&hook);
	else
		detach_filters(t->ifindex[i]);
}

void wlb_tun_close(struct wlb_tun *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->n_ifaces; i++)
		detach_one(t, i);
	wlb_tun_leave(t);
}

void wlb_tun_leave(struct wlb_tun *t)
{
	if (!t)
		return;
	bpf_object__close(t->obj);
	free(t);
}

static int detach_from(void *arg, int ifindex, const char *name)
{
	(void)arg;
	(void)name;
	detach_filters(ifindex);
	return 0;
}

void wlb_tun_detach_all(void)
{
	/* most interfaces hold none: the kernel's "cannot find" is no news */
	libbpf_set_print(libbpf_log);
	each_ethernet(detach_from, NULL);
}

static struct wlb_tun_key key_of(const struct wlb_fp_key *k)
{
	return (struct wlb_tun_key){k->saddr, k->daddr, k->sport, k->dport};
}

static void log_change(struct wlb_tun *t, bool add, enum wlb_tun_map m,
		       const struct wlb_fp_key *inner, uint32_t saddr, uint32_t daddr,
		       uint32_t mark)
{
	t->log[t->n_log++ % WLB_TUN_LOG] =
		(struct wlb_tun_change){add, m, *inner, saddr, daddr, mark};
}

/* The program's gate (wlb_encaps): the encapsulation map's size. */
static void count_encaps(struct wlb_tun *t, enum wlb_tun_map m, int d)
{
	uint32_t zero = 0;

	if (m != WLB_TUN_MAP_ENCAP)
		return;
	t->n_encaps = (uint32_t)((int64_t)t->n_encaps + d);
	if (bpf_map_update_elem(t->encaps_fd, &zero, &t->n_encaps, BPF_ANY))
		wlb_warn("kernel tunnel: its gate not updated: %s", strerror(errno));
}

/* A connection handed back before the flush keeps its entry. */
static void cancel_later(struct wlb_tun *t, enum wlb_tun_map m, const struct wlb_fp_key *inner)
{
	for (unsigned i = 0; i < t->n_later; i++) {
		if (t->later[i].map == m && wlb_fp_key_eq(&t->later[i].inner, inner)) {
			t->later[i] = t->later[--t->n_later];
			return;
		}
	}
}

int wlb_tun_add(struct wlb_tun *t, enum wlb_tun_map m, const struct wlb_fp_key *inner,
		uint32_t outer_saddr, uint32_t outer_daddr, uint32_t mark)
{
	struct wlb_tun_key k = key_of(inner);
	/* last_ns now: an entry whose flow goes before its first packet is
	 * still found stale by the read-back */
	struct wlb_tun_val v = {
		.saddr = outer_saddr, .daddr = outer_daddr, .mark = mark, .last_ns = mono_ns()};

	if (!t)
		return -1;
	if (t->n_later)
		cancel_later(t, m, inner);
	if (t->map_fd[m] < 0) {
		log_change(t, true, m, inner, outer_saddr, outer_daddr, mark);
	} else if (!bpf_map_update_elem(t->map_fd[m], &k, &v, BPF_NOEXIST)) {
		count_encaps(t, m, 1);
	} else if (errno != EEXIST || bpf_map_update_elem(t->map_fd[m], &k, &v, BPF_EXIST)) {
		t->st.add_failures++;
		return -1;
	}
	t->st.added++;
	return 0;
}

void wlb_tun_del(struct wlb_tun *t, enum wlb_tun_map m, const struct wlb_fp_key *inner)
{
	struct wlb_tun_key k = key_of(inner);

	if (!t)
		return;
	if (t->map_fd[m] < 0)
		log_change(t, false, m, inner, 0, 0, 0);
	else if (bpf_map_delete_elem(t->map_fd[m], &k))
		return;
	else
		count_encaps(t, m, -1);
	t->st.deleted++;
}

void wlb_tun_del_later(struct wlb_tun *t, enum wlb_tun_map m, const struct wlb_fp_key *inner)
{
	if (!t)
		return;
	if (t->n_later == WLB_TUN_MAX_LATER) {
		wlb_tun_del(t, m, inner);
		return;
	}
	t->later[t->n_later++] = (struct wlb_tun_later){m, *inner};
}

void wlb_tun_flush(struct wlb_tun *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->n_later; i++)
		wlb_tun_del(t, t->later[i].map, &t->later[i].inner);
	t->n_later = 0;
}

/* The next key is read before fn runs: fn may delete the entry it is
 * given (and the connection's entry in the other map), never another of
 * this map, so the walk neither restarts nor skips. */
static void dump_map(struct wlb_tun *t, enum wlb_tun_map m, uint64_t now_ns, wlb_tun_seen_fn fn,
		     void *arg)
{
	struct wlb_tun_key cur, next;
	struct wlb_tun_val v;
	bool more = !bpf_map_get_next_key(t->map_fd[m], NULL, &cur);

	while (more) {
		more = !bpf_map_get_next_key(t->map_fd[m], &cur, &next);
		if (!bpf_map_lookup_elem(t->map_fd[m], &cur, &v)) {
			struct wlb_fp_key e = {cur.saddr, cur.sport, cur.daddr, cur.dport};
			uint64_t idle = now_ns > v.last_ns ? (now_ns - v.last_ns) / 1000000 : 0;

			if (fn(arg, m, &e, v.saddr, v.daddr, idle))
				wlb_tun_del(t, m, &e);
		}
		cur = next;
	}
}

void wlb_tun_dump(struct wlb_tun *t, wlb_tun_seen_fn fn, void *arg)
{
	if (!t || t->map_fd[0] < 0)
		return;
	for (unsigned m = 0; m < WLB_TUN_NMAPS; m++)
		dump_map(t, m, mono_ns(), fn, arg);
}

void wlb_tun_counters(const struct wlb_tun *t, uint64_t out[WLB_TUN_NCOUNTERS])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t v[512];

	memset(out, 0, WLB_TUN_NCOUNTERS * sizeof(out[0]));
	if (!t || t->stats_fd < 0 || ncpu <= 0 || ncpu > 512)
		return;
	for (uint32_t c = 0; c < WLB_TUN_NCOUNTERS; c++) {
		/* set for valgrind, whose bpf(2) model writes one CPU's value */
		memset(v, 0, (size_t)ncpu * sizeof(v[0]));
		if (bpf_map_lookup_elem(t->stats_fd, &c, v))
			continue;
		for (int cpu = 0; cpu < ncpu; cpu++)
			out[c] += v[cpu];
	}
}
