// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Configuration C's data path in the kernel, at tc (cls_bpf, direct
 * action), for a kernel without ipip or gre modules.  The daemons decide a
 * connection and then fill two maps keyed by the inner packet's 4-tuple:
 *   encap: at egress, the packet leaves inside an IPv4 header with these
 *          addresses (the client gateway's client packets, after source
 *          NAT as the userspace path sees them; the replica's server
 *          packets).  It goes to the link's next hop the route to the
 *          inner destination chose, as a packet the daemon encapsulates
 *          at postrouting does;
 *   decap: at ingress, the tunnel packet must come with these outer
 *          addresses, and goes on without them (the gateway's packets from
 *          the replica, the replica's from the client), marked as the daemon
 *          says, before conntrack and routing see it.
 * A segment with SYN, FIN or RST, or of a flow the maps do not hold, is left
 * as it is: the netfilter rules queue it to the daemon, which does the same
 * work in userspace and sees every connection begin and end.  The daemon
 * only hands a connection over once its MSS was clamped to the tunnel, so
 * the segments keep their size (BPF_F_ADJ_ROOM_FIXED_GSO) and still fit.
 */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "tunnel.h"

#define IPV4_MINHDR 20
#define IP_OFFMASK_MF 0x3fff /* fragment offset and more fragments */
#define OUTER_TTL 64
#define ECN_CE 0x03 /* the ECN field all ones (RFC 3168) */

/* Sized by the daemon (its flow table) before loading; entries only as
 * connections are handed over. */
#define TUN_MAP(name)                                 \
	struct {                                      \
		__uint(type, BPF_MAP_TYPE_HASH);      \
		__uint(map_flags, BPF_F_NO_PREALLOC); \
		__uint(max_entries, 1);               \
		__type(key, struct wlb_tun_key);      \
		__type(value, struct wlb_tun_val);    \
	} name SEC(".maps")

TUN_MAP(wlb_encap);
TUN_MAP(wlb_decap);

/* How many entries wlb_encap holds, kept by the daemon: a host with no
 * tunnelled connection (a replica serving B and C, say) pays one array
 * read per packet at egress, not a hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} wlb_encaps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WLB_TUN_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} wlb_tun_stats SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&wlb_tun_stats, &which);

	if (c)
		*c += 1;
}

/* A plain IPv4 header at off, whole in the linear area; NULL otherwise. */
static __always_inline struct iphdr *ip_at(struct __sk_buff *skb, __u32 off, __u8 proto)
{
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip = (void *)(long)skb->data + off;

	if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl != 5 || ip->protocol != proto)
		return NULL;
	return ip;
}

/* The TCP segment after ip, if it is one the fast path may carry: not a
 * fragment, no SYN, FIN or RST (the daemon's). */
static __always_inline struct tcphdr *data_segment(struct __sk_buff *skb, struct iphdr *ip)
{
	struct tcphdr *th = (void *)(ip + 1);

	if ((void *)(th + 1) > (void *)(long)skb->data_end ||
	    (ip->frag_off & bpf_htons(IP_OFFMASK_MF)) || th->syn || th->fin || th->rst)
		return NULL;
	return th;
}

static __always_inline struct wlb_tun_key key_of(const struct iphdr *ip, const struct tcphdr *th)
{
	return (struct wlb_tun_key){ip->saddr, ip->daddr, th->source, th->dest};
}

static __always_inline void seen(struct wlb_tun_val *v)
{
	__u64 now = bpf_ktime_get_ns();

	if (now - v->last_ns > WLB_TUN_LAST_NS_STEP)
		v->last_ns = now;
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The outer header of wlb_ipip_encap(): TOS, ECN, ID and DF copied from
 * the inner one (RFC 2003 3.1, RFC 6040 4.1). */
static __always_inline void outer_header(struct iphdr *o, const struct iphdr *in,
					 const struct wlb_tun_val *v)
{
	__u16 *w = (__u16 *)o;
	__u32 sum = 0;

	*o = (struct iphdr){.version = 4,
			    .ihl = 5,
			    .tos = in->tos,
			    .id = in->id,
			    .ttl = OUTER_TTL,
			    .protocol = IPPROTO_IPIP,
			    .saddr = v->saddr,
			    .daddr = v->daddr};
	o->tot_len = bpf_htons(bpf_ntohs(in->tot_len) + IPV4_MINHDR);
	o->frag_off = in->frag_off & bpf_htons(0x4000);
	for (int i = 0; i < IPV4_MINHDR / 2; i++)
		sum += w[i];
	o->check = csum_fold(sum);
}

static __always_inline int encap(struct __sk_buff *skb, struct iphdr *ip)
{
	struct tcphdr *th;
	struct wlb_tun_val *v;
	struct wlb_tun_key k;
	struct iphdr o;

	if (!(th = data_segment(skb, ip)))
		return TC_ACT_OK;
	k = key_of(ip, th);
	v = bpf_map_lookup_elem(&wlb_encap, &k);
	if (!v)
		return TC_ACT_OK;
	/* a segment the outer length cannot describe: TCP never builds one
	 * below the device's 64 KiB GSO limit */
	if (bpf_ntohs(ip->tot_len) > 0xffff - IPV4_MINHDR) {
		count(WLB_TUN_FAILED);
		return TC_ACT_OK;
	}
	seen(v);
	outer_header(&o, ip, v);
	if (bpf_skb_adjust_room(skb, IPV4_MINHDR, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &o, sizeof(o), 0)) {
		count(WLB_TUN_FAILED);
		return TC_ACT_SHOT; /* half-built: it cannot go on */
	}
	count(WLB_TUN_ENCAP);
	return TC_ACT_OK;
}

/* The inner header marked CE as wlb_ipip_decap() marks it (RFC 6040 4.2):
 * when the outer one is and the inner one is ECN-capable. */
static __always_inline void ecn_decap(struct __sk_buff *skb, __u8 outer_tos, const struct iphdr *in)
{
	const __u32 off = ETH_HLEN + IPV4_MINHDR;
	__u16 old = *(const __u16 *)in, new = old;
	__u8 tos = in->tos | ECN_CE;

	if ((outer_tos & ECN_CE) != ECN_CE || !(in->tos & ECN_CE) || (in->tos & ECN_CE) == ECN_CE)
		return;
	((__u8 *)&new)[1] = tos;
	if (bpf_l3_csum_replace(skb, off + offsetof(struct iphdr, check), old, new, 2) ||
	    bpf_skb_store_bytes(skb, off + offsetof(struct iphdr, tos), &tos, 1, 0))
		count(WLB_TUN_FAILED);
}

static __always_inline int decap(struct __sk_buff *skb, struct iphdr *outer)
{
	struct iphdr *ip = ip_at(skb, ETH_HLEN + IPV4_MINHDR, IPPROTO_TCP);
	struct tcphdr *th;
	struct wlb_tun_val *v;
	struct wlb_tun_key k;

	if (!ip || (outer->frag_off & bpf_htons(IP_OFFMASK_MF)) || !(th = data_segment(skb, ip)))
		return TC_ACT_OK;
	k = key_of(ip, th);
	v = bpf_map_lookup_elem(&wlb_decap, &k);
	if (!v)
		return TC_ACT_OK;
	if (v->saddr != outer->saddr || v->daddr != outer->daddr) {
		/* the daemon judges (and counts) it again */
		count(WLB_TUN_REFUSED);
		return TC_ACT_OK;
	}
	seen(v);
	/* the helpers move the data: neither header is read after this */
	ecn_decap(skb, outer->tos, ip);
	/* no DECAP_L3 flag: the inner header is IPv4 like the outer one,
	 * and kernels before 6.3 refuse the flag */
	if (bpf_skb_adjust_room(skb, -IPV4_MINHDR, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO)) {
		count(WLB_TUN_FAILED);
		return TC_ACT_OK;
	}
	if (v->mark)
		skb->mark = v->mark;
	count(WLB_TUN_DECAP);
	return TC_ACT_OK;
}

/*
 * The first want bytes in the linear area, pulled only when missing.  A
 * pull makes the buffer writable, which copies the head of a cloned one,
 * and every TCP segment a host sends is a clone of its socket's copy: so
 * nothing is pulled before the program knows it has work to do.
 */
static __always_inline int linear(struct __sk_buff *skb, __u32 want)
{
	if ((void *)(long)skb->data + want <= (void *)(long)skb->data_end)
		return 1;
	return !bpf_skb_pull_data(skb, skb->len < want ? skb->len : want);
}

SEC("tc")
int wlb_tun_ingress(struct __sk_buff *skb)
{
	struct iphdr *ip;

	if (skb->protocol != bpf_htons(ETH_P_IP) || !linear(skb, ETH_HLEN + IPV4_MINHDR) ||
	    !ip_at(skb, ETH_HLEN, IPPROTO_IPIP))
		return TC_ACT_OK;
	/* a pull moves the data: the header is found again after it */
	if (!linear(skb, ETH_HLEN + 2 * IPV4_MINHDR + sizeof(struct tcphdr)) ||
	    !(ip = ip_at(skb, ETH_HLEN, IPPROTO_IPIP)))
		return TC_ACT_OK;
	return decap(skb, ip);
}

SEC("tc")
int wlb_tun_egress(struct __sk_buff *skb)
{
	__u32 zero = 0, *n = bpf_map_lookup_elem(&wlb_encaps, &zero);
	struct iphdr *ip;

	if (!n || !*n || skb->protocol != bpf_htons(ETH_P_IP) ||
	    !linear(skb, ETH_HLEN + IPV4_MINHDR + sizeof(struct tcphdr)) ||
	    !(ip = ip_at(skb, ETH_HLEN, IPPROTO_TCP)))
		return TC_ACT_OK;
	return encap(skb, ip);
}

char _license[] SEC("license") = "GPL";
