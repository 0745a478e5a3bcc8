// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wlbctl: one request to a running wlb daemon through its control socket
 * (the protocol is in src/lib/ctl.h), the answer printed as it comes, the
 * exit status taken from the daemon's status line.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "ctl.h"

enum {
	EXIT_DONE = 0,
	EXIT_FAILED = 1,      /* the daemon answered "error" */
	EXIT_USAGE = 2,	      /* bad options, or the daemon answered "usage" */
	EXIT_UNREACHABLE = 3, /* no daemon, or no whole answer */
};

#define TIMEOUT_S 10
#define SOCKET_DIR RUNSTATEDIR "/wlb"

static const char *const daemons[] = {"wlb-clientgw", "wlb-redirector", "wlb-replicad"};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: wlbctl [OPTION]... COMMAND [ARG]...\n"
		"Ask a running wlb daemon, through its control socket.\n\n"
		"  -d, --daemon=NAME      clientgw, redirector or replicad (default: the\n"
		"                         only daemon with a control socket in DIR)\n"
		"  -s, --socket=PATH      the control socket (default DIR/wlb-NAME.ctl)\n"
		"  -j, --json             answer in JSON\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"\nCommands:\n"
		"  status                 daemon, version, pid, configuration, uptime,\n"
		"                         queue, flows; replicad: its state\n"
		"  counters               every counter\n"
		"  flows [ADDRESS]        clientgw, replicad: the flow table, or the flows\n"
		"                         whose client, server or winner is ADDRESS\n"
		"  replicas               clientgw, redirector: the services and their\n"
		"                         replicas; replicad: its state and load\n"
		"  drain                  replicad: answer no new connection (existing\n"
		"                         ones go on) until enable or a reload\n"
		"  enable                 replicad: answer new connections again\n"
		"  flush CLIENT:PORT SERVER:PORT\n"
		"                         clientgw, replicad: forget that flow\n"
		"\nDIR is %s.\n"
		"Exit status: 0 done, 1 the command failed, 2 bad usage,\n"
		"3 no daemon answered.\n",
		SOCKET_DIR);
}

static const char *daemon_name(const char *arg)
{
	for (unsigned i = 0; i < 3; i++)
		if (!strcmp(arg, daemons[i]) || !strcmp(arg, daemons[i] + 4))
			return daemons[i];
	return NULL;
}

static char *socket_of(const char *name)
{
	size_t n = strlen(SOCKET_DIR) + strlen(name) + 8;
	char *p = malloc(n);

	if (!p) {
		perror("wlbctl");
		exit(EXIT_FAILED);
	}
	snprintf(p, n, "%s/%s.ctl", SOCKET_DIR, name);
	return p;
}

static bool is_socket(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* No -d, no -s: the daemon whose socket is there, if it is alone. */
static const char *find_daemon(void)
{
	const char *found[3];
	unsigned n = 0;

	for (unsigned i = 0; i < 3; i++) {
		char *p = socket_of(daemons[i]);

		if (is_socket(p))
			found[n++] = daemons[i];
		free(p);
	}
	if (n == 1)
		return found[0];
	if (!n) {
		fprintf(stderr, "wlbctl: no control socket in %s (is a wlb daemon running?)\n",
			SOCKET_DIR);
		exit(EXIT_UNREACHABLE);
	}
	fprintf(stderr, "wlbctl: several daemons run here (");
	for (unsigned i = 0; i < n; i++)
		fprintf(stderr, "%s%s/%s.ctl", i ? ", " : "", SOCKET_DIR, found[i]);
	fprintf(stderr, "): choose one with -d\n");
	exit(EXIT_USAGE);
}

/* The daemon's name from its socket's ("...wlb-NAME.ctl"), for messages. */
static const char *name_of_socket(const char *path)
{
	size_t len = strlen(path);

	for (unsigned i = 0; i < 3; i++) {
		size_t n = strlen(daemons[i]) + 4;

		if (len >= n && !strncmp(path + len - n, daemons[i], n - 4) &&
		    !strcmp(path + len - 4, ".ctl"))
			return daemons[i];
	}
	return NULL;
}

/* "[json ]COMMAND ARG...\n", checked as the daemon will parse it. */
static size_t build_request(char *req, bool json, int argc, char **argv)
{
	struct wlb_ctl_req parsed;
	char err[WLB_CTL_MSG_MAX];
	size_t len = 0;

	if (json)
		len = (size_t)snprintf(req, WLB_CTL_REQ_MAX, "json");
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (!n || strpbrk(argv[i], " \t")) {
			fprintf(stderr, "wlbctl: argument '%s': empty or with blanks\n", argv[i]);
			exit(EXIT_USAGE);
		}
		if (len + n + 2 > WLB_CTL_REQ_MAX) {
			fprintf(stderr, "wlbctl: the request is longer than %d bytes\n",
				WLB_CTL_REQ_MAX - 1);
			exit(EXIT_USAGE);
		}
		if (len)
			req[len++] = ' ';
		memcpy(req + len, argv[i], n);
		len += n;
	}
	if (wlb_ctl_parse(&parsed, req, len, err, sizeof(err)) < 0) {
		fprintf(stderr, "wlbctl: %s\n", err);
		exit(EXIT_USAGE);
	}
	req[len++] = '\n';
	return len;
}

static int connect_to(const char *path, const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = TIMEOUT_S};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "wlbctl: %s: socket path too long\n", path);
		exit(EXIT_USAGE);
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* the send timeout also bounds connect() to a full backlog */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		perror("wlbctl: socket");
		exit(EXIT_FAILED);
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "wlbctl: cannot connect to %s: %s (is %s running?)\n", path,
			strerror(errno), name ? name : "its daemon");
		exit(EXIT_UNREACHABLE);
	}
	return fd;
}

static void send_all(int fd, const char *path, const char *req, size_t len)
{
	while (len) {
		ssize_t k = send(fd, req, len, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			fprintf(stderr, "wlbctl: %s: %s\n", path,
				errno == EAGAIN ? "timed out" : strerror(errno));
			exit(EXIT_UNREACHABLE);
		}
		req += k;
		len -= (size_t)k;
	}
	shutdown(fd, SHUT_WR);
}

/* The whole answer: the daemon closes after it. */
static char *receive_all(int fd, const char *path, size_t *len)
{
	size_t cap = 65536, max = WLB_CTL_ANSWER_MAX + WLB_CTL_MSG_MAX + 16;
	char *buf = malloc(cap + 1);

	*len = 0;
	for (;;) {
		ssize_t k;

		if (!buf) {
			perror("wlbctl");
			exit(EXIT_FAILED);
		}
		k = recv(fd, buf + *len, cap - *len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			fprintf(stderr, "wlbctl: %s: no answer within %d s\n", path, TIMEOUT_S);
			exit(EXIT_UNREACHABLE);
		}
		if (k < 0) {
			fprintf(stderr, "wlbctl: %s: %s\n", path, strerror(errno));
			exit(EXIT_UNREACHABLE);
		}
		if (!k)
			break;
		*len += (size_t)k;
		if (*len == cap) {
			if (cap >= max) {
				fprintf(stderr, "wlbctl: %s: answer too long\n", path);
				exit(EXIT_UNREACHABLE);
			}
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
	}
	buf[*len] = '\0';
	return buf;
}

/* The status line decides the exit status; the payload goes to stdout. */
static int report(const char *ans, size_t len, const char *path, const char *name)
{
	const char *nl = memchr(ans, '\n', len);
	const char *who = name ? name : path;

	if (!nl) {
		fprintf(stderr, "wlbctl: %s closed the connection without an answer\n", path);
		return EXIT_UNREACHABLE;
	}
	if (!strncmp(ans, "ok\n", 3)) {
		fwrite(nl + 1, 1, len - (size_t)(nl + 1 - ans), stdout);
		if (fflush(stdout) != 0) {
			perror("wlbctl: stdout");
			return EXIT_FAILED;
		}
		return EXIT_DONE;
	}
	if (!strncmp(ans, "error ", 6)) {
		fprintf(stderr, "wlbctl: %s: %.*s\n", who, (int)(nl - ans - 6), ans + 6);
		return EXIT_FAILED;
	}
	if (!strncmp(ans, "usage ", 6)) {
		fprintf(stderr, "wlbctl: %s: %.*s\n", who, (int)(nl - ans - 6), ans + 6);
		return EXIT_USAGE;
	}
	fprintf(stderr, "wlbctl: %s: not a wlb control answer\n", path);
	return EXIT_UNREACHABLE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"daemon", required_argument, NULL, 'd'}, {"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},	  {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	  {NULL, 0, NULL, 0},
	};
	const char *name = NULL, *path = NULL;
	char req[WLB_CTL_REQ_MAX + 1], *ans, *owned = NULL;
	bool json = false;
	size_t req_len, ans_len;
	int c, fd, status;

	while ((c = getopt_long(argc, argv, "d:s:jhV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			name = daemon_name(optarg);
			if (!name) {
				fprintf(stderr,
					"wlbctl: --daemon: '%s' is not clientgw, redirector or replicad\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_DONE;
		case 'V':
			printf("wlbctl %s\n", PACKAGE_VERSION);
			return EXIT_DONE;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "wlbctl: no command (try wlbctl --help)\n");
		return EXIT_USAGE;
	}
	req_len = build_request(req, json, argc - optind, argv + optind);
	if (!path) {
		if (!name)
			name = find_daemon();
		path = owned = socket_of(name);
	} else if (!name) {
		name = name_of_socket(path);
	}
	fd = connect_to(path, name);
	send_all(fd, path, req, req_len);
	ans = receive_all(fd, path, &ans_len);
	close(fd);
	status = report(ans, ans_len, path, name);
	free(ans);
	free(owned);
	return status;
}
