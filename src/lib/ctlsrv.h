/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: a unix stream socket the daemon's poll loop serves
 * beside its queue.  One request per connection: the daemon reads a line,
 * builds the whole answer in memory (bounded, WLB_CTL_ANSWER_MAX), sends it
 * without ever blocking, over as many poll rounds as the client's reading
 * takes, and closes.
 *
 * Why not a blocking write with a send timeout: a client that reads slowly
 * would then stall packet processing for up to that timeout, and every
 * client could do it in turn.  Non-blocking, a slow client costs only its
 * slot and its buffer, and is dropped when it makes no progress for
 * WLB_CTL_TIMEOUT_MS.  At most WLB_CTL_MAX_CLIENTS connections are served
 * at once; more wait in the listen backlog (then in connect()) until a slot
 * frees, so a flood of connections costs the daemon nothing.
 */
#ifndef WLB_CTLSRV_H
#define WLB_CTLSRV_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

#define WLB_CTL_MAX_CLIENTS 8
#define WLB_CTL_TIMEOUT_MS 5000
/* pollfds the server may use: the listener and each client */
#define WLB_CTL_NFDS (1 + WLB_CTL_MAX_CLIENTS)

typedef void wlb_ctl_handler(void *ctx, const struct wlb_ctl_req *req, struct wlb_ctl_out *out);

struct wlb_ctl;

/*
 * Create the socket at path, mode 0600: its directory is created if missing
 * (not the ones above), a socket file left by a daemon that died is
 * replaced, one a live daemon answers on is not.  Only root and the
 * daemon's own user may talk to it (checked again on each connection).
 */
struct wlb_ctl *wlb_ctl_open(const char *path, wlb_ctl_handler *fn, void *ctx, char *err,
			     size_t errlen);
/* Close every connection and remove the socket file, if it is still ours. */
void wlb_ctl_close(struct wlb_ctl *c);
/* Fill at most WLB_CTL_NFDS pollfds; returns how many.  Drops the clients
 * that made no progress for WLB_CTL_TIMEOUT_MS. */
unsigned wlb_ctl_pollfds(struct wlb_ctl *c, struct pollfd *pfd, uint64_t now_ms);
/* Serve what poll reported on the pollfds wlb_ctl_pollfds() filled. */
void wlb_ctl_serve(struct wlb_ctl *c, const struct pollfd *pfd, unsigned n, uint64_t now_ms);

#endif
