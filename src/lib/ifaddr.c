// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "ifaddr.h"

int wlb_ifaddr_set(uint32_t addr, bool add, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = NULL;
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	unsigned lo = if_nametoindex("lo");
	char a[INET_ADDRSTRLEN];
	int ret = -1;

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = 32;
	ifa->ifa_scope = RT_SCOPE_HOST;
	ifa->ifa_index = lo;
	mnl_attr_put_u32(nlh, IFA_LOCAL, addr);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, addr);
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!lo || !nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto fail;
	ret = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (ret < 0)
		goto fail;
	ret = mnl_cb_run(buf, (size_t)ret, nlh->nlmsg_seq, mnl_socket_get_portid(nl), NULL, NULL);
	/* deleting what is not there is what we wanted anyway */
	if (ret < 0 && !add && errno == EADDRNOTAVAIL)
		ret = 0;
	if (ret < 0)
		goto fail;
	mnl_socket_close(nl);
	return 0;
fail:
	snprintf(err, errlen, "%s %s/32 on lo: %s", add ? "add" : "delete", a, strerror(errno));
	if (nl)
		mnl_socket_close(nl);
	return -1;
}
