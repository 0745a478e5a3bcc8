// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "rawsock.h"

int wlb_raw_open(uint32_t mark, char *err, size_t errlen)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
	int sndbuf = 4 << 20;

	if (fd < 0) {
		snprintf(err, errlen, "raw socket: %s", strerror(errno));
		return -1;
	}
	/* a burst of SYNs fans out into many copies at once: a non-blocking
	 * socket must not run out of send buffer (best effort, like SO_RCVBUF) */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		snprintf(err, errlen, "SO_MARK 0x%x: %s", mark, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int wlb_raw_send(int fd, const uint8_t *pkt, size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET};

	if (len < 20)
		return -EINVAL;
	memcpy(&to.sin_addr, pkt + 16, 4);
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -errno;
	return 0;
}
