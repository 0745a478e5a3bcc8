// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "ctlsrv.h"
#include "log.h"

struct client {
	int fd; /* -1: a free slot */
	bool writing;
	uint64_t deadline;
	size_t rlen;
	char req[WLB_CTL_REQ_MAX];
	/* the answer: the status line, then (for ok) the payload */
	char head[WLB_CTL_MSG_MAX + 16];
	size_t head_len, sent;
	struct wlb_ctl_out out;
};

struct wlb_ctl {
	int fd;
	char *path;
	dev_t dev; /* the socket file we made: removed at exit only if */
	ino_t ino; /* nobody replaced it meanwhile */
	wlb_ctl_handler *fn;
	void *ctx;
	struct client cl[WLB_CTL_MAX_CLIENTS];
	int slot[WLB_CTL_NFDS]; /* pollfd index -> client, -1 for the listener */
	unsigned npfd;
};

/* ------------------------------------------------------------------ socket */

static void make_dir(const char *path)
{
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;

	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			wlb_warn("control socket directory %s: %s", dir, strerror(errno));
	}
	free(dir);
}

/* A socket file nobody listens on refuses connections: the daemon that
 * made it is gone.  Anything else (accepted, backlog full) is alive. */
static bool stale(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool dead;

	if (fd < 0)
		return false;
	dead = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 && errno == ECONNREFUSED;
	close(fd);
	return dead;
}

static int bind_path(int fd, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket %s: longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	if (errno != EADDRINUSE)
		goto fail;
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %s: exists and is not a socket", path);
		return -1;
	}
	if (!stale(&sa)) {
		snprintf(err, errlen, "control socket %s: a running daemon answers on it", path);
		return -1;
	}
	wlb_notice("control socket %s: replacing the one a dead daemon left", path);
	if (unlink(path) < 0 && errno != ENOENT)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
fail:
	snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
	return -1;
}

struct wlb_ctl *wlb_ctl_open(const char *path, wlb_ctl_handler *fn, void *ctx, char *err,
			     size_t errlen)
{
	struct wlb_ctl *c = calloc(1, sizeof(*c));
	struct stat st;

	if (!path || !c || !(c->path = strdup(path))) {
		snprintf(err, errlen, "control socket: out of memory");
		free(c);
		return NULL;
	}
	c->fn = fn;
	c->ctx = ctx;
	for (unsigned i = 0; i < WLB_CTL_MAX_CLIENTS; i++)
		c->cl[i].fd = -1;
	make_dir(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	if (bind_path(c->fd, path, err, errlen) < 0)
		goto fail;
	/* no connection is possible before listen(): no window with the
	 * mode the umask gave */
	if (chmod(path, 0600) < 0 || lstat(path, &st) < 0 ||
	    listen(c->fd, WLB_CTL_MAX_CLIENTS) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	wlb_info("control socket %s", path);
	return c;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	free(c);
	return NULL;
}

static void drop(struct client *cl)
{
	close(cl->fd);
	cl->fd = -1;
	wlb_ctl_out_free(&cl->out);
}

void wlb_ctl_close(struct wlb_ctl *c)
{
	struct stat st;

	if (!c)
		return;
	for (unsigned i = 0; i < WLB_CTL_MAX_CLIENTS; i++)
		if (c->cl[i].fd >= 0)
			drop(&c->cl[i]);
	close(c->fd);
	if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	free(c->path);
	free(c);
}

/* ----------------------------------------------------------------- answers */

static void client_write(struct client *cl, uint64_t now)
{
	size_t body = cl->out.status == WLB_CTL_OK ? cl->out.buf.len : 0;

	while (cl->sent < cl->head_len + body) {
		const char *p = cl->sent < cl->head_len
					? cl->head + cl->sent
					: cl->out.buf.data + (cl->sent - cl->head_len);
		size_t left = cl->sent < cl->head_len ? cl->head_len - cl->sent
						      : body - (cl->sent - cl->head_len);
		ssize_t k = send(cl->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (k < 0) {
			wlb_debug("control: send: %s", strerror(errno));
			break;
		}
		cl->sent += (size_t)k;
		cl->deadline = now + WLB_CTL_TIMEOUT_MS;
	}
	drop(cl);
}

static void answer(struct wlb_ctl *c, struct client *cl, size_t len, uint64_t now)
{
	static const char *const word[] = {"ok", "error", "usage"};
	struct wlb_ctl_req req;
	char err[WLB_CTL_MSG_MAX];
	enum wlb_ctl_status st;

	if (wlb_ctl_parse(&req, cl->req, len, err, sizeof(err)) < 0) {
		wlb_ctl_out_init(&cl->out, false, WLB_CTL_ANSWER_MAX);
		wlb_ctl_fail(&cl->out, WLB_CTL_USAGE, "%s", err);
	} else {
		wlb_debug("control: %.*s", (int)strcspn(cl->req, "\r\n"), cl->req);
		wlb_ctl_out_init(&cl->out, req.json, WLB_CTL_ANSWER_MAX);
		c->fn(c->ctx, &req, &cl->out);
	}
	st = wlb_ctl_out_finish(&cl->out);
	/* the status is one line, whatever a message holds */
	for (char *p = cl->out.msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	cl->head_len = (size_t)snprintf(cl->head, sizeof(cl->head), "%s%s%s\n", word[st],
					st == WLB_CTL_OK ? "" : " ", cl->out.msg);
	if (cl->head_len >= sizeof(cl->head))
		cl->head_len = sizeof(cl->head) - 1;
	cl->writing = true;
	cl->sent = 0;
	client_write(cl, now);
}

static void client_read(struct wlb_ctl *c, struct client *cl, uint64_t now)
{
	ssize_t k = recv(cl->fd, cl->req + cl->rlen, sizeof(cl->req) - cl->rlen, MSG_DONTWAIT);
	char *nl;

	if (k < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			drop(cl);
		return;
	}
	if (k == 0) {
		/* the client's shutdown ends an unterminated request */
		if (cl->rlen)
			answer(c, cl, cl->rlen, now);
		else
			drop(cl);
		return;
	}
	cl->rlen += (size_t)k;
	cl->deadline = now + WLB_CTL_TIMEOUT_MS;
	nl = memchr(cl->req, '\n', cl->rlen);
	if (nl)
		answer(c, cl, (size_t)(nl - cl->req) + 1, now);
	else if (cl->rlen == sizeof(cl->req))
		answer(c, cl, cl->rlen, now); /* too long: answered "usage" */
}

/* Root, or the daemon's own user: the socket's mode says so already, but
 * a socket in a directory others can enter deserves a second lock. */
static bool allowed(int fd)
{
	struct ucred cr;
	socklen_t n = sizeof(cr);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) == 0 &&
	       (cr.uid == 0 || cr.uid == geteuid());
}

static void refuse(int fd)
{
	static const char line[] = "error permission denied\n";
	char req[WLB_CTL_REQ_MAX];

	/* a request left unread would turn the close into a reset, which
	 * the client may see before this line */
	while (recv(fd, req, sizeof(req), MSG_DONTWAIT) > 0)
		;
	/* a fresh socket's buffer takes this line whole: never blocks */
	if (send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		wlb_debug("control: send: %s", strerror(errno));
	close(fd);
}

static struct client *free_slot(struct wlb_ctl *c)
{
	for (unsigned i = 0; i < WLB_CTL_MAX_CLIENTS; i++)
		if (c->cl[i].fd < 0)
			return &c->cl[i];
	return NULL;
}

static void accept_all(struct wlb_ctl *c, uint64_t now)
{
	struct client *cl;

	while ((cl = free_slot(c))) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				wlb_warn("control socket: accept: %s", strerror(errno));
			return;
		}
		if (!allowed(fd)) {
			refuse(fd);
			continue;
		}
		cl->fd = fd;
		cl->writing = false;
		cl->rlen = 0;
		cl->deadline = now + WLB_CTL_TIMEOUT_MS;
		/* the request is often there already */
		client_read(c, cl, now);
	}
}

/* -------------------------------------------------------------------- poll */

unsigned wlb_ctl_pollfds(struct wlb_ctl *c, struct pollfd *pfd, uint64_t now_ms)
{
	unsigned n = 0;

	if (!c)
		return 0;
	/* all slots taken: new connections wait in the backlog, and beyond
	 * it in their connect(), until a client is done or dropped */
	pfd[n] = (struct pollfd){.fd = c->fd, .events = POLLIN};
	c->slot[n++] = -1;
	for (unsigned i = 0; i < WLB_CTL_MAX_CLIENTS; i++) {
		struct client *cl = &c->cl[i];

		if (cl->fd < 0)
			continue;
		if ((int64_t)(now_ms - cl->deadline) >= 0) {
			wlb_debug("control: a client made no progress for %d ms: dropped",
				  WLB_CTL_TIMEOUT_MS);
			drop(cl);
			continue;
		}
		pfd[n] = (struct pollfd){.fd = cl->fd, .events = cl->writing ? POLLOUT : POLLIN};
		c->slot[n++] = (int)i;
	}
	if (!free_slot(c))
		pfd[0].events = 0;
	c->npfd = n;
	return n;
}

void wlb_ctl_serve(struct wlb_ctl *c, const struct pollfd *pfd, unsigned n, uint64_t now_ms)
{
	if (!c)
		return;
	for (unsigned i = 0; i < n && i < c->npfd; i++) {
		struct client *cl;

		if (!pfd[i].revents)
			continue;
		if (c->slot[i] < 0) {
			accept_all(c, now_ms);
			continue;
		}
		cl = &c->cl[c->slot[i]];
		if (cl->fd != pfd[i].fd)
			continue;
		if (cl->writing)
			client_write(cl, now_ms);
		else
			client_read(c, cl, now_ms);
	}
}
