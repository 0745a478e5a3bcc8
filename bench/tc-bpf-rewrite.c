// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench/run-ctnat's "tcbpf" variant: configuration A's address rewrite at
 * the client gateway done by a tc program instead of nftables, to measure
 * what such a program costs per packet.  Not part of wlb.  Without a
 * daemon to fill its maps it learns each connection, at egress from its SYN
 * (client to ORIGIN:80), at ingress from the SYN-ACK of REPLICA:80 (tc
 * loads each section with maps of its own), then, like wlb's nftables
 * rules, looks every packet up by its 4-tuple: at egress the client's
 * packets get REPLICA as destination, at ingress the replica's get ORIGIN
 * as source; checksums fixed incrementally, GSO kept.
 * Built by run-ctnat: clang -O2 -target bpf -DORIGIN=0x... -DREPLICA=0x...
 * (network byte order), attached with tc's own loader.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include <stddef.h>

struct key {
	__be32 saddr, daddr;
	__be16 sport, dport;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct key);
	__type(value, __be32);
} rewrite_dst SEC(".maps"), rewrite_src SEC(".maps");

#define IP_OFF ETH_HLEN
#define TCP_OFF (ETH_HLEN + sizeof(struct iphdr))
#define TCP_CSUM (TCP_OFF + offsetof(struct tcphdr, check))

static __always_inline int headers(struct __sk_buff *skb, struct iphdr **ip, struct tcphdr **th)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return -1;
	*ip = data + IP_OFF;
	*th = data + TCP_OFF;
	if ((void *)(*th + 1) > end || (*ip)->ihl != 5 || (*ip)->protocol != IPPROTO_TCP)
		return -1;
	return 0;
}

/* Replace the address at off (saddr or daddr) with to. */
static __always_inline void set_addr(struct __sk_buff *skb, __u32 off, __be32 from, __be32 to)
{
	bpf_l4_csum_replace(skb, TCP_CSUM, from, to, BPF_F_PSEUDO_HDR | sizeof(to));
	bpf_l3_csum_replace(skb, IP_OFF + offsetof(struct iphdr, check), from, to, sizeof(to));
	bpf_skb_store_bytes(skb, off, &to, sizeof(to), 0);
}

/* Learn the connection when learn says so (its first packet this way,
 * new value value), then rewrite every packet found: the address at off
 * (saddr or daddr) becomes the map's value. */
static __always_inline int apply(struct __sk_buff *skb, void *map, int learn, __be32 value,
				 __u32 off)
{
	struct iphdr *ip;
	struct tcphdr *th;
	struct key k;
	__be32 *to;

	if (headers(skb, &ip, &th))
		return TC_ACT_OK;
	k = (struct key){ip->saddr, ip->daddr, th->source, th->dest};
	if (learn < 0 ? th->syn && !th->ack && ip->daddr == ORIGIN && th->dest == bpf_htons(80)
		      : th->syn && th->ack && ip->saddr == REPLICA && th->source == bpf_htons(80))
		bpf_map_update_elem(map, &k, &value, BPF_ANY);
	to = bpf_map_lookup_elem(map, &k);
	if (to)
		set_addr(skb, off,
			 off == IP_OFF + offsetof(struct iphdr, saddr) ? k.saddr : k.daddr, *to);
	return TC_ACT_OK;
}

/* The client's packets: learnt from the SYN, to the replica. */
SEC("tc/egress")
int client_out(struct __sk_buff *skb)
{
	return apply(skb, &rewrite_dst, -1, REPLICA, IP_OFF + offsetof(struct iphdr, daddr));
}

/* The replica's: learnt from its SYN-ACK, from the origin. */
SEC("tc/ingress")
int replica_in(struct __sk_buff *skb)
{
	return apply(skb, &rewrite_src, 1, ORIGIN, IP_OFF + offsetof(struct iphdr, saddr));
}

char _license[] SEC("license") = "GPL";
