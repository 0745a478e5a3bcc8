// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"

static const char *log_ident = "wlb";
static bool log_syslog;
static bool log_journal; /* stderr is read by journald */
static int log_max = LOG_INFO;

static const char *const prio_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

void wlb_log_open(const char *ident, bool use_syslog, int max_prio)
{
	log_ident = ident;
	log_syslog = use_syslog;
	log_max = max_prio;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

void wlb_log(int prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (prio > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", prio, msg);
	else
		fprintf(stderr, "%s: %s: %s\n", log_ident, prio_names[prio & 7], msg);
	if (log_syslog)
		syslog(prio, "%s", msg);
}

#ifdef HAVE_SYSTEMD
void wlb_notify(const char *state)
{
	sd_notify(0, state);
}

uint64_t wlb_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}
#else
void wlb_notify(const char *state)
{
}

uint64_t wlb_watchdog_usec(void)
{
	return 0;
}
#endif

void wlb_notifyf(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wlb_notify(msg);
}
