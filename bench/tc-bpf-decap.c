// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench/probe-tc-bpf's program: at tc ingress, take the outer IPv4 header
 * off an IPv4-in-IPv4 packet (bpf_skb_adjust_room), so that the inner
 * packet goes up the stack as if a tunnel device had received it.  A probe
 * of what this kernel can do without ipip or gre modules, not part of wlb:
 * written without libbpf's headers, which Debian ships in libbpf-dev.
 */
typedef unsigned char __u8;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define BPF_ADJ_ROOM_MAC 1
#define TC_ACT_OK 0
#define ETH_HLEN 14

/* The start of the kernel's struct __sk_buff (uapi/linux/bpf.h). */
struct __sk_buff {
	__u32 len, pkt_type, mark, queue_mapping, protocol;
};

/* Helper numbers from uapi/linux/bpf.h. */
static long (*bpf_skb_load_bytes)(const struct __sk_buff *skb, __u32 off, void *to,
				  __u32 len) = (void *)26;
static long (*bpf_skb_adjust_room)(struct __sk_buff *skb, int len_diff, __u32 mode,
				   __u64 flags) = (void *)50;

SEC("tc") int decap(struct __sk_buff *skb)
{
	__u8 ver_ihl, proto;

	if (skb->protocol != 0x0008) /* ETH_P_IP, network order */
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ver_ihl, 1) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1))
		return TC_ACT_OK;
	if (ver_ihl == 0x45 && proto == 4)
		bpf_skb_adjust_room(skb, -20, BPF_ADJ_ROOM_MAC, 0);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
