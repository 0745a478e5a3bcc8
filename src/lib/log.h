/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging to stderr (under systemd, journald reads the "<N>" priority
 * prefixes) and optionally syslog; sd_notify wrappers that compile to
 * nothing when built --without-systemd.
 */
#ifndef WLB_LOG_H
#define WLB_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

void wlb_log_open(const char *ident, bool use_syslog, int max_prio);
void wlb_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define wlb_err(...) wlb_log(LOG_ERR, __VA_ARGS__)
#define wlb_warn(...) wlb_log(LOG_WARNING, __VA_ARGS__)
#define wlb_notice(...) wlb_log(LOG_NOTICE, __VA_ARGS__)
#define wlb_info(...) wlb_log(LOG_INFO, __VA_ARGS__)
#define wlb_debug(...) wlb_log(LOG_DEBUG, __VA_ARGS__)

/* sd_notify(3): "READY=1", "STOPPING=1", "RELOADING=1", "WATCHDOG=1" ... */
void wlb_notify(const char *state);
void wlb_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval systemd asked for, 0 when none. */
uint64_t wlb_watchdog_usec(void);

#endif
