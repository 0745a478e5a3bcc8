// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "nfq.h"

/* One receive round: big enough for many packets copied whole. */
#define NFQ_RECV_SIZE (256 * 1024)
/* Verdicts of one round; a mangled one carries its payload (<= 64 KiB). */
#define NFQ_SEND_SIZE (512 * 1024)
#define NFQ_VERDICT_ROOM (0xffff + 256)

struct wlb_nfq {
	struct mnl_socket *nl;
	uint32_t portid;
	uint16_t queue;
	bool no_batch;
	/* per receive round */
	wlb_nfq_handler fn;
	void *ctx;
	bool pending;	     /* an accept batch is open ... */
	uint32_t pending_id; /* ... up to this id */
	size_t send_len;
	struct wlb_nfq_stats st;
	char *rbuf;
	char *sbuf;
};

/* Once bound, the queue may deliver packets before our request's answer
 * (the bypass rules are in place): read on until the acknowledgement of
 * this request arrives, leaving those packets to a later batch verdict. */
static int config_msg(struct wlb_nfq *q, struct nlmsghdr *nlh, uint32_t seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int n;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	for (;;) {
		struct pollfd p = {.fd = mnl_socket_get_fd(q->nl), .events = POLLIN};

		if (poll(&p, 1, 2000) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = (int)mnl_socket_recvfrom(q->nl, buf, sizeof(buf));
		if (n < 0)
			return -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; mnl_nlmsg_ok(h, n);
		     h = mnl_nlmsg_next(h, &n)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

			if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq != seq)
				continue;
			if (e->error) {
				errno = -e->error;
				return -1;
			}
			return 0;
		}
	}
}

static int bind_queue(struct wlb_nfq *q, const struct wlb_nfq_opts *o)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	uint32_t flags = NFQA_CFG_F_FAIL_OPEN | (o->gso ? NFQA_CFG_F_GSO : 0);
	uint32_t mask = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, o->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (config_msg(q, nlh, 1) < 0)
		return -1;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, o->queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET,
				 o->copy_range ? (int)o->copy_range : 0xffff);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, o->maxlen ? o->maxlen : 1024);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(mask));
	return config_msg(q, nlh, 2);
}

static void set_buffer(struct wlb_nfq *q, int force, int plain, uint32_t bytes)
{
	int fd = mnl_socket_get_fd(q->nl);
	int v = (int)bytes;

	/* FORCE needs CAP_NET_ADMIN, which we have; fall back to the capped one */
	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, plain, &v, sizeof(v));
}

struct wlb_nfq *wlb_nfq_open(const struct wlb_nfq_opts *o, char *err, size_t errlen)
{
	struct wlb_nfq *q = calloc(1, sizeof(*q));

	if (!q)
		goto nomem;
	q->rbuf = malloc(NFQ_RECV_SIZE);
	q->sbuf = malloc(NFQ_SEND_SIZE);
	if (!q->rbuf || !q->sbuf)
		goto nomem;
	q->queue = o->queue;
	q->no_batch = o->no_batch;
	q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!q->nl || mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		goto fail;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	if (o->rcvbuf)
		set_buffer(q, SO_RCVBUFFORCE, SO_RCVBUF, o->rcvbuf);
	/* one send carries a whole round of verdicts, rewritten packets
	 * included: netlink refuses a message larger than the send buffer */
	set_buffer(q, SO_SNDBUFFORCE, SO_SNDBUF, 2 * NFQ_SEND_SIZE);
	if (bind_queue(q, o) < 0) {
		snprintf(err, errlen, "bind NFQUEUE %u: %s%s", o->queue, strerror(errno),
			 errno == EBUSY ? " (another program serves this queue)" : "");
		goto fail;
	}
	return q;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	wlb_nfq_close(q);
	return NULL;
}

void wlb_nfq_close(struct wlb_nfq *q)
{
	if (!q)
		return;
	/* closing the socket unbinds; the kernel then lets the queue's
	 * bypass rule pass traffic again */
	if (q->nl)
		mnl_socket_close(q->nl);
	free(q->rbuf);
	free(q->sbuf);
	free(q);
}

int wlb_nfq_fd(const struct wlb_nfq *q)
{
	return mnl_socket_get_fd(q->nl);
}

const struct wlb_nfq_stats *wlb_nfq_stats(const struct wlb_nfq *q)
{
	return &q->st;
}

/* ---------------------------------------------------------------- verdicts */

static void flush_send(struct wlb_nfq *q)
{
	if (!q->send_len)
		return;
	if (mnl_socket_sendto(q->nl, q->sbuf, q->send_len) < 0)
		q->st.send_errors++;
	q->send_len = 0;
}

static struct nlmsghdr *verdict_msg(struct wlb_nfq *q, int type, uint32_t id, int verdict)
{
	struct nlmsghdr *nlh;

	if (q->send_len + NFQ_VERDICT_ROOM > NFQ_SEND_SIZE)
		flush_send(q);
	nlh = nfq_nlmsg_put(q->sbuf + q->send_len, type, q->queue);
	nfq_nlmsg_verdict_put(nlh, (int)id, verdict);
	q->st.verdicts++;
	return nlh;
}

static void commit_msg(struct wlb_nfq *q, struct nlmsghdr *nlh)
{
	q->send_len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void flush_batch(struct wlb_nfq *q)
{
	if (!q->pending)
		return;
	commit_msg(q, verdict_msg(q, NFQNL_MSG_VERDICT_BATCH, q->pending_id, NF_ACCEPT));
	q->st.batches++;
	q->pending = false;
}

static void answer(struct wlb_nfq *q, uint32_t id, const struct wlb_nfq_result *r)
{
	struct nlmsghdr *nlh;

	if (r->verdict == WLB_HOLD)
		return;
	if (r->verdict == WLB_ACCEPT && !q->no_batch) {
		/* every id below was answered already or is in this run */
		q->pending = true;
		q->pending_id = id;
		return;
	}
	flush_batch(q);
	if (r->verdict == WLB_MANGLE && r->out_len > WLB_NFQ_MAX_PAYLOAD) {
		/* the policies never build one; were one to, its original
		 * must not leave in its place */
		q->st.too_big++;
		commit_msg(q, verdict_msg(q, NFQNL_MSG_VERDICT, id, NF_DROP));
		return;
	}
	nlh = verdict_msg(q, NFQNL_MSG_VERDICT, id, r->verdict == WLB_DROP ? NF_DROP : NF_ACCEPT);
	if (r->verdict == WLB_MANGLE)
		nfq_nlmsg_verdict_put_pkt(nlh, r->out, r->out_len);
	commit_msg(q, nlh);
}

int wlb_nfq_verdict(struct wlb_nfq *q, uint32_t id, bool accept, bool batch)
{
	struct nlmsghdr *nlh;

	nlh = verdict_msg(q, batch ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT, id,
			  accept ? NF_ACCEPT : NF_DROP);
	commit_msg(q, nlh);
	if (batch)
		q->st.batches++;
	flush_send(q);
	return 0;
}

/* ----------------------------------------------------------------- receive */

static void fill_pkt(struct wlb_nfq_pkt *p, struct nlattr **a)
{
	struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(a[NFQA_PACKET_HDR]);

	memset(p, 0, sizeof(*p));
	p->id = ntohl(ph->packet_id);
	p->hook = ph->hook;
	if (a[NFQA_MARK])
		p->mark = ntohl(mnl_attr_get_u32(a[NFQA_MARK]));
	if (a[NFQA_IFINDEX_INDEV])
		p->indev = ntohl(mnl_attr_get_u32(a[NFQA_IFINDEX_INDEV]));
	if (a[NFQA_IFINDEX_OUTDEV])
		p->outdev = ntohl(mnl_attr_get_u32(a[NFQA_IFINDEX_OUTDEV]));
	if (a[NFQA_PAYLOAD]) {
		p->data = mnl_attr_get_payload(a[NFQA_PAYLOAD]);
		p->len = mnl_attr_get_payload_len(a[NFQA_PAYLOAD]);
	}
	if (a[NFQA_CAP_LEN])
		p->truncated = ntohl(mnl_attr_get_u32(a[NFQA_CAP_LEN])) != p->len;
	if (a[NFQA_SKB_INFO]) {
		uint32_t info = ntohl(mnl_attr_get_u32(a[NFQA_SKB_INFO]));

		p->csum_not_ready = info & NFQA_SKB_CSUMNOTREADY;
		p->gso = info & NFQA_SKB_GSO;
	}
}

static int packet_cb(const struct nlmsghdr *nlh, void *data)
{
	struct wlb_nfq *q = data;
	struct nlattr *a[NFQA_MAX + 1] = {NULL};
	struct wlb_nfq_result res = {.verdict = WLB_ACCEPT};
	struct wlb_nfq_pkt pkt;

	if (nfq_nlmsg_parse(nlh, a) < 0 || !a[NFQA_PACKET_HDR]) {
		/* without an id there is nothing to answer: the kernel's
		 * queue timeout never comes, so count it loudly */
		q->st.bad_msgs++;
		return MNL_CB_OK;
	}
	fill_pkt(&pkt, a);
	q->st.packets++;
	if (pkt.data)
		q->fn(q->ctx, &pkt, &res);
	else
		q->st.bad_msgs++;
	answer(q, pkt.id, &res);
	return MNL_CB_OK;
}

/* The kernel reports a failed verdict (say, for an id it no longer holds)
 * with an error message in the stream: count it, never stop the round. */
static int error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct wlb_nfq *q = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(*e)) && e->error)
		q->st.verdict_errors++;
	return MNL_CB_OK;
}

static int noop_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

static mnl_cb_t ctl_cbs[NLMSG_MIN_TYPE] = {
	[NLMSG_NOOP] = noop_cb,
	[NLMSG_ERROR] = error_cb,
	[NLMSG_DONE] = noop_cb,
	[NLMSG_OVERRUN] = noop_cb,
};

int wlb_nfq_receive(struct wlb_nfq *q, wlb_nfq_handler fn, void *ctx, unsigned budget)
{
	int fd = mnl_socket_get_fd(q->nl);
	int handled = 0;
	uint64_t before = q->st.packets;

	q->fn = fn;
	q->ctx = ctx;
	while (budget--) {
		ssize_t n = recv(fd, q->rbuf, NFQ_RECV_SIZE, MSG_DONTWAIT);

		if (n < 0) {
			int err = errno;

			if (err == ENOBUFS) {
				/* the kernel dropped (or, fail-open, accepted)
				 * what did not fit: count it and go on */
				q->st.enobufs++;
				continue;
			}
			if (err == EAGAIN || err == EINTR)
				break;
			/* the caller logs errno: the verdicts' send must not
			 * replace it */
			flush_batch(q);
			flush_send(q);
			errno = err;
			return -1;
		}
		mnl_cb_run2(q->rbuf, (size_t)n, 0, q->portid, packet_cb, q, ctl_cbs,
			    NLMSG_MIN_TYPE);
	}
	flush_batch(q);
	flush_send(q);
	handled = (int)(q->st.packets - before);
	return handled;
}

int wlb_nfq_kstats(uint16_t queue, struct wlb_nfq_kstats *ks)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "re");
	char line[256];
	int found = -1;

	memset(ks, 0, sizeof(*ks));
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned num, portid, mode, range;
		unsigned long long total, qdrop, udrop, seq;

		if (sscanf(line, "%u %u %llu %u %u %llu %llu %llu", &num, &portid, &total, &mode,
			   &range, &qdrop, &udrop, &seq) != 8 ||
		    num != queue)
			continue;
		ks->queue_total = total;
		ks->queue_dropped = qdrop;
		ks->user_dropped = udrop;
		ks->id_sequence = seq;
		found = 0;
	}
	fclose(f);
	return found;
}
