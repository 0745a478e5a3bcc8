// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/common.h>

#include "fastpath.h"
#include "nft.h"

/* At most two messages per change, each under 128 bytes: the batch
 * never fills. */
#define FP_BUF_SIZE (WLB_FP_MAX_OPS * 256 + 4096)
#define FP_KEY_LEN 16
#define FP_RETRIES 3
/* netlink answers come in pages; a dump part never exceeds 32 KiB */
#define FP_RBUF_SIZE 65536

static const char *const map_names[WLB_FP_NMAPS] = {WLB_NFT_MAP_DST, WLB_NFT_MAP_SRC};

static struct wlb_fp *fp_alloc(uint32_t timeout_ms)
{
	struct wlb_fp *fp = calloc(1, sizeof(*fp));

	if (fp)
		fp->timeout_ms = timeout_ms;
	return fp;
}

struct wlb_fp *wlb_fp_new_offline(uint32_t timeout_ms)
{
	return fp_alloc(timeout_ms);
}

void wlb_fp_close(struct wlb_fp *fp)
{
	if (!fp)
		return;
	if (fp->nl)
		mnl_socket_close(fp->nl);
	free(fp->buf);
	free(fp->rbuf);
	free(fp);
}

/* Room for a refusal of every change of a full batch (without the
 * changes echoed back) and for the read-back's parts. */
static void size_socket(struct mnl_socket *nl)
{
	int fd = mnl_socket_get_fd(nl), sz = 4 * 1024 * 1024, one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
}

struct wlb_fp *wlb_fp_open(const char *table, uint32_t timeout_ms, char *err, size_t errlen)
{
	struct wlb_fp *fp = fp_alloc(timeout_ms);

	if (!fp || !(fp->buf = malloc(FP_BUF_SIZE)) || !(fp->rbuf = malloc(FP_RBUF_SIZE))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	fp->table = table;
	fp->seq = (uint32_t)time(NULL);
	fp->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!fp->nl || mnl_socket_bind(fp->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		goto fail;
	}
	size_socket(fp->nl);
	for (unsigned m = 0; m < WLB_FP_NMAPS; m++) {
		if (wlb_nft_map_count(table, map_names[m]) < 0) {
			snprintf(err, errlen, "no map %s in table ip %s (no rules, or iptables?)",
				 map_names[m], table);
			goto fail;
		}
	}
	return fp;
fail:
	wlb_fp_close(fp);
	return NULL;
}

static void queue_op(struct wlb_fp *fp, uint8_t kind, enum wlb_fp_map m, const struct wlb_fp_key *k,
		     uint32_t value)
{
	/* full: flush now, but never inside a read-back, whose answers the
	 * flush would read as its own */
	if (fp->n_ops == WLB_FP_MAX_OPS &&
	    (!fp->nl || fp->dumping || wlb_fp_flush(fp) < 0 || fp->n_ops == WLB_FP_MAX_OPS)) {
		fp->st.failures++;
		return;
	}
	fp->ops[fp->n_ops++] =
		(struct wlb_fp_op){.kind = kind, .map = (uint8_t)m, .value = value, .key = *k};
}

void wlb_fp_add(struct wlb_fp *fp, enum wlb_fp_map m, const struct wlb_fp_key *k, uint32_t value)
{
	if (fp)
		queue_op(fp, WLB_FP_ADD, m, k, value);
}

void wlb_fp_del(struct wlb_fp *fp, enum wlb_fp_map m, const struct wlb_fp_key *k)
{
	if (fp)
		queue_op(fp, WLB_FP_DEL, m, k, 0);
}

/* The key as the rule builds it: each field in a 32-bit word, the ports
 * followed by two zero bytes. */
static void key_bytes(const struct wlb_fp_key *k, uint8_t out[FP_KEY_LEN])
{
	memset(out, 0, FP_KEY_LEN);
	memcpy(out, &k->saddr, 4);
	memcpy(out + 4, &k->sport, 2);
	memcpy(out + 8, &k->daddr, 4);
	memcpy(out + 12, &k->dport, 2);
}

static void key_parse(const uint8_t in[FP_KEY_LEN], struct wlb_fp_key *k)
{
	memcpy(&k->saddr, in, 4);
	memcpy(&k->sport, in + 4, 2);
	memcpy(&k->daddr, in + 8, 4);
	memcpy(&k->dport, in + 12, 2);
}

static void put_op(struct wlb_fp *fp, struct nlmsghdr *nlh, const struct wlb_fp_op *op)
{
	struct nlattr *list, *el, *n;
	uint8_t key[FP_KEY_LEN];

	key_bytes(&op->key, key);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, fp->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, map_names[op->map]);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	n = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, FP_KEY_LEN, key);
	mnl_attr_nest_end(nlh, n);
	if (nlh->nlmsg_type == (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM)) {
		n = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, 4, &op->value);
		mnl_attr_nest_end(nlh, n);
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT, htobe64(fp->timeout_ms));
	}
	mnl_attr_nest_end(nlh, el);
	mnl_attr_nest_end(nlh, list);
}

static void put_msg(struct wlb_fp *fp, struct mnl_nlmsg_batch *b, uint16_t type, uint16_t flags,
		    uint32_t seq, const struct wlb_fp_op *op)
{
	struct nlmsghdr *nlh =
		nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), type, NFPROTO_IPV4, flags, seq);

	put_op(fp, nlh, op);
	mnl_nlmsg_batch_next(b);
}

/* The ops that are still wanted, one message each, sequence base + index. */
static size_t build_batch(struct wlb_fp *fp, const bool *skip, uint32_t base)
{
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(fp->buf, FP_BUF_SIZE);
	size_t len;

	nftnl_batch_begin(mnl_nlmsg_batch_current(b), base - 1);
	mnl_nlmsg_batch_next(b);
	for (unsigned i = 0; i < fp->n_ops; i++) {
		const struct wlb_fp_op *op = &fp->ops[i];

		if (skip[i])
			continue;
		/* no NLM_F_ACK: the kernel answers only what it refuses */
		if (op->kind != WLB_FP_ADD)
			put_msg(fp, b, NFT_MSG_DELSETELEM, 0, base + i, op);
		if (op->kind != WLB_FP_DEL)
			put_msg(fp, b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, base + i, op);
	}
	nftnl_batch_end(mnl_nlmsg_batch_current(b), base + fp->n_ops);
	mnl_nlmsg_batch_next(b);
	len = mnl_nlmsg_batch_size(b);
	mnl_nlmsg_batch_stop(b);
	return len;
}

/* The kernel runs a batch inside sendmsg(): its refusals are already
 * queued when we look.  Marks the refused ops; returns how many. */
/* The kernel runs a batch inside sendmsg(): its refusals are already
 * queued when we look.  Marks the refused ops; returns how many, or -1
 * when what happened cannot be known (refusals lost to a full socket
 * buffer, or one against the batch as a whole): the batch was undone. */
static int read_refusals(struct wlb_fp *fp, bool *skip, uint32_t base)
{
	char *rbuf = fp->rbuf;
	int refused = 0;
	ssize_t n;

	while ((n = recv(mnl_socket_get_fd(fp->nl), rbuf, FP_RBUF_SIZE, MSG_DONTWAIT)) > 0) {
		int len = (int)n;

		for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; mnl_nlmsg_ok(h, len);
		     h = mnl_nlmsg_next(h, &len)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
			uint32_t i = e->msg.nlmsg_seq - base;

			if (h->nlmsg_type != NLMSG_ERROR || !e->error)
				continue;
			if (i >= fp->n_ops) {
				refused = -1;
				continue;
			}
			if (skip[i] || refused < 0)
				continue;
			refused++;
			/* the element is there with another value (a connection
			 * on the same ports that ended unseen): replace it */
			if (fp->ops[i].kind == WLB_FP_ADD &&
			    (e->error == -EEXIST || e->error == -EBUSY)) {
				fp->ops[i].kind = WLB_FP_REPLACE;
				continue;
			}
			skip[i] = true;
			if (fp->ops[i].kind == WLB_FP_DEL && e->error == -ENOENT)
				fp->st.gone++;
			else
				fp->st.refused++;
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	return refused;
}

/* A deletion that did not happen leaves the kernel rewriting a closed
 * connection: kept for the next flush, unlike an addition, whose packets
 * the daemon goes on carrying itself. */
static void keep_deletions(struct wlb_fp *fp, const bool *skip)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fp->n_ops; i++)
		if (!skip[i] && fp->ops[i].kind == WLB_FP_DEL)
			fp->ops[n++] = fp->ops[i];
	fp->n_ops = n;
}

int wlb_fp_flush(struct wlb_fp *fp)
{
	bool skip[WLB_FP_MAX_OPS] = {false};
	bool done = false;

	if (!fp || !fp->n_ops)
		return 0;
	if (!fp->nl) {
		fp->n_ops = 0;
		return 0;
	}
	/* each round drops at least one refused change, or ends */
	for (unsigned attempt = 0; attempt < FP_RETRIES && !done; attempt++) {
		uint32_t base = fp->seq + 1;
		size_t len = build_batch(fp, skip, base);

		fp->seq += fp->n_ops + 2;
		fp->st.transactions++;
		if (mnl_socket_sendto(fp->nl, fp->buf, len) < 0)
			break;
		done = read_refusals(fp, skip, base) == 0;
	}
	for (unsigned i = 0; i < fp->n_ops; i++) {
		if (skip[i])
			continue;
		if (!done)
			fp->st.failures++;
		else if (fp->ops[i].kind != WLB_FP_DEL)
			fp->st.added++;
		else
			fp->st.deleted++;
	}
	if (done)
		fp->n_ops = 0;
	else
		keep_deletions(fp, skip);
	return done ? 0 : -1;
}

/* ----------------------------------------------------------------- dump */

struct dump_ctx {
	struct wlb_fp *fp;
	enum wlb_fp_map map;
	wlb_fp_elem_fn fn;
	void *arg;
};

static const void *nested_value(const struct nlattr *nest, uint16_t want_len)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
	{
		if (mnl_attr_get_type(a) == NFTA_DATA_VALUE &&
		    mnl_attr_get_payload_len(a) == want_len)
			return mnl_attr_get_payload(a);
	}
	return NULL;
}

static void one_elem(struct dump_ctx *c, const struct nlattr *el)
{
	const uint8_t *key = NULL;
	const struct nlattr *a;
	uint32_t value = 0;
	uint64_t expires = 0;
	const void *v;
	struct wlb_fp_key k;

	mnl_attr_for_each_nested(a, el)
	{
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_KEY:
			key = nested_value(a, FP_KEY_LEN);
			break;
		case NFTA_SET_ELEM_DATA:
			v = nested_value(a, 4);
			if (v)
				memcpy(&value, v, 4);
			break;
		case NFTA_SET_ELEM_EXPIRATION:
			expires = be64toh(mnl_attr_get_u64(a));
			break;
		}
	}
	if (!key)
		return;
	key_parse(key, &k);
	c->fp->st.dumped++;
	c->fn(c->arg, c->map, &k, value, expires > UINT32_MAX ? UINT32_MAX : (uint32_t)expires);
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *a, *el;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(el, a)
		{
			if (mnl_attr_get_type(el) == NFTA_LIST_ELEM)
				one_elem(data, el);
		}
	}
	return MNL_CB_OK;
}

static int dump_map(struct wlb_fp *fp, struct dump_ctx *c)
{
	char *rbuf = fp->rbuf;
	uint32_t seq = ++fp->seq;
	struct nlmsghdr *nlh;
	int n, r = -1;

	nlh = nftnl_nlmsg_build_hdr(rbuf, NFT_MSG_GETSETELEM, NFPROTO_IPV4, NLM_F_DUMP, seq);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, fp->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, map_names[c->map]);
	if (mnl_socket_sendto(fp->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	while ((n = (int)mnl_socket_recvfrom(fp->nl, rbuf, FP_RBUF_SIZE)) > 0) {
		r = mnl_cb_run(rbuf, (size_t)n, seq, mnl_socket_get_portid(fp->nl), dump_cb, c);
		if (r <= 0)
			break;
	}
	return r < 0 ? -1 : 0;
}

int wlb_fp_dump(struct wlb_fp *fp, wlb_fp_elem_fn fn, void *arg)
{
	int ret = 0;

	if (!fp || !fp->nl)
		return 0;
	/* a refusal still queued from a flush would confuse the dump */
	wlb_fp_flush(fp);
	fp->dumping = true;
	for (unsigned m = 0; m < WLB_FP_NMAPS; m++) {
		struct dump_ctx c = {.fp = fp, .map = (enum wlb_fp_map)m, .fn = fn, .arg = arg};

		if (dump_map(fp, &c) < 0)
			ret = -1;
	}
	fp->dumping = false;
	return ret;
}
