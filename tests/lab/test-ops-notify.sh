#!/bin/bash
# test-ops-notify.sh: the sd_notify(3) protocol of the three daemons, against a
# NOTIFY_SOCKET this test owns (no systemd needed).
#
# Each daemon runs in a fresh network namespace (it binds an NFQUEUE and a raw
# socket), with the lab's configuration for its host (wlb.sh writes it), with
# NOTIFY_SOCKET set to a unix datagram socket on which a small python3 listener
# records every datagram with a CLOCK_MONOTONIC time stamp and the sender's pid
# (SO_PASSCRED), and with WATCHDOG_USEC=2 s and WATCHDOG_PID=the daemon's pid
# (libsystemd's sd_watchdog_enabled() honours WATCHDOG_USEC only when WATCHDOG_PID
# is unset or equal to getpid()).  Checked, per daemon:
#   - READY=1 arrives, sent by the daemon's own pid (systemd's NotifyAccess=main
#     drops messages from any other pid);
#   - WATCHDOG=1 arrives repeatedly: at most WATCHDOG_USEC/2 + slack apart, from
#     READY=1 to STOPPING=1 (reloads included), and not more often than every
#     WATCHDOG_USEC/4;
#   - SIGHUP with a valid configuration: RELOADING=1, then READY=1, and the log
#     says "configuration reloaded";
#   - SIGHUP with an invalid configuration (an unknown setting; a syntax error):
#     RELOADING=1, then READY=1, the daemon keeps running and keeps feeding the
#     watchdog, and the log names FILE:LINE of the error;
#   - SIGTERM: STOPPING=1, exit status 0, and the state file written at exit
#     counts reloads 1 and reload_failures 2;
#   - with WATCHDOG_PID naming another process, no WATCHDOG=1 at all.
#
# Needs root, python3 and the built daemons.  Exit: 0 pass, 1 fail, 77 skip.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=check.sh
. "$here/check.sh"
# shellcheck source=lab.sh
. "$here/lab.sh"
# shellcheck source=wlb.sh
. "$here/wlb.sh"

WD_USEC=2000000 # WATCHDOG_USEC given to the daemons
WD_SLACK_MS=500 # allowed lateness of a watchdog ping beyond WATCHDOG_USEC/2
STEADY_S=4.5    # steady-state watch of the watchdog before the reloads
LISTEN_MAX_S=60 # a listener never lives longer than this

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
command -v python3 >/dev/null 2>&1 || skip "python3 not found (the notify socket listener)"
for d in clientgw redirector replicad; do
	[ -x "$(wlb_bin "wlb-$d")" ] || skip "$(wlb_bin "wlb-$d") is not built"
done


# ------------------------------------------------------------------ cleanup

T=$(mktemp -d "${TMPDIR:-/tmp}/wlbops-notify.XXXXXX") || exit 1
LAB_DIR=$T # wlb.sh writes the configurations and state files there
mkdir -p "$T/state" "$T/log"
OWN_PIDS=()
OWN_NS=()

# shellcheck disable=SC2317 # called by the traps
cleanup() {
	local p ns i
	for p in "${OWN_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for ((i = 0; i < 40; i++)); do
		local alive=0
		for p in "${OWN_PIDS[@]}"; do _lab_proc_alive "$p" && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.05
	done
	for p in "${OWN_PIDS[@]}"; do _lab_proc_alive "$p" && kill -KILL "$p" 2>/dev/null; done
	for ns in "${OWN_NS[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	case "$T" in */wlbops-notify.??????) rm -rf "$T" ;; esac
}
trap 'rc=$?; cleanup; exit $rc' EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

NS=""
new_ns() { # NAME: a fresh namespace with lo up, in $NS
	NS="${LAB_PREFIX}$1"
	ip netns add "$NS" || return 1
	OWN_NS+=("$NS")
	ip -n "$NS" link set lo up
}

# ------------------------------------------------------------------ listener

cat >"$T/listen.py" <<'EOF'
# listen.py SOCKET LOG MAX_SECONDS: records sd_notify datagrams as
# "MONOTONIC_SECONDS SENDER_PID LINE", one line per line of a datagram.
import os, socket, struct, sys, time
path, log, max_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path + ".tmp")
os.rename(path + ".tmp", path)  # the path appears only once bound
end = time.monotonic() + max_s
with open(log, "a", buffering=1) as f:
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
        except socket.timeout:
            break
        t = time.monotonic()
        pid = "-"
        for level, kind, d in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = str(struct.unpack("iII", d[:12])[0])
        for line in data.decode("utf-8", "replace").split("\n"):
            if line:
                f.write("%.3f %s %s\n" % (t, pid, line))
EOF

LISTENER=""
start_listener() { # SOCKET LOG
	local i
	: >"$2"
	python3 "$T/listen.py" "$1" "$2" "$LISTEN_MAX_S" &
	LISTENER=$!
	OWN_PIDS+=("$LISTENER")
	for ((i = 0; i < 100; i++)); do
		[ -S "$1" ] && return 0
		_lab_proc_alive "$LISTENER" || break
		sleep 0.05
	done
	fail "the notify listener did not bind $1"
	return 1
}

stop_listener() {
	[ -n "$LISTENER" ] || return 0
	kill -TERM "$LISTENER" 2>/dev/null || true
	wait "$LISTENER" 2>/dev/null || true
	LISTENER=""
}

# ------------------------------------------------------------------ daemon

DPID=""
# start_daemon NS DAEMON CONF SOCKET LOG WDPID: WDPID "self" (WATCHDOG_PID = the
# daemon's own pid) or a number.  sh sets WATCHDOG_PID to its own pid and execs
# ip, which execs the daemon: the pid stays the same, and $! is the daemon.
start_daemon() {
	local ns=$1 d=$2 conf=$3 sock=$4 log=$5 wdpid=$6
	# shellcheck disable=SC2016 # $$ and $@ expand in sh
	env -u JOURNAL_STREAM -u LISTEN_FDS -u LISTEN_PID NOTIFY_SOCKET="$sock" \
		WATCHDOG_USEC="$WD_USEC" OPS_WDPID="$wdpid" \
		sh -c 'if [ "$OPS_WDPID" = self ]; then WATCHDOG_PID=$$; else WATCHDOG_PID=$OPS_WDPID; fi
			export WATCHDOG_PID; unset OPS_WDPID; exec ip netns exec "$@"' \
		sh "$ns" "$(wlb_bin "wlb-$d")" -c "$conf" -s "$T/state/$d.state" \
		</dev/null >>"$log" 2>&1 &
	DPID=$!
	OWN_PIDS+=("$DPID")
}

# wait_msg LOG FROM_LINE MSG [SECONDS]: MSG recorded after line FROM_LINE.
wait_msg() {
	local i n=$((${4:-5} * 20))
	for ((i = 0; i < n; i++)); do
		awk -v from="$2" -v m="$3" 'NR > from && $3 == m { f = 1 } END { exit !f }' "$1" && return 0
		sleep 0.05
	done
	return 1
}

# wait_pair LOG FROM_LINE: RELOADING=1 and then READY=1 after line FROM_LINE.
wait_pair() {
	local i
	for ((i = 0; i < 100; i++)); do
		awk -v from="$2" 'NR > from && $3 == "RELOADING=1" && !r { r = NR }
			r && NR > r && $3 == "READY=1" { f = 1 } END { exit !f }' "$1" && return 0
		sleep 0.05
	done
	return 1
}

lines() { wc -l <"$1"; }

# stop_daemon: SIGTERM, bounded wait; the exit status in $STOP_RC ("killed"
# when it had to be killed).  Not in $(...): wait needs the daemon's parent.
STOP_RC=""
stop_daemon() {
	local i
	kill -TERM "$DPID" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		_lab_proc_alive "$DPID" || break
		sleep 0.05
	done
	if _lab_proc_alive "$DPID"; then
		kill -KILL "$DPID" 2>/dev/null || true
		wait "$DPID" 2>/dev/null
		STOP_RC=killed
		return
	fi
	wait "$DPID" 2>/dev/null
	STOP_RC=$?
}

# Watchdog pings between READY=1 (the first) and STOPPING=1 (or the end):
# "count mingap_ms maxgap_ms", the gaps including READY -> first ping and last
# ping -> STOPPING.
wd_stats() { # LOG
	awk '
		$3 == "READY=1" && !ready { ready = 1; last = $1; next }
		!ready { next }
		$3 == "WATCHDOG=1" || $3 == "STOPPING=1" {
			g = ($1 - last) * 1000
			if ($3 == "WATCHDOG=1") {
				n++
				if (n > 1 && (min == "" || g < min)) min = g
			}
			if (g > max) max = g
			last = $1
			if ($3 == "STOPPING=1") exit
		}
		END { printf "%d %.0f %.0f\n", n, (min == "" ? 0 : min), max }' "$1"
}

# ------------------------------------------------------------------ one daemon

check_daemon() { # HOST DAEMON
	local h=$1 d=$2 ns conf sock nlog dlog n L wd count min max rc bad_pids st
	lab_log "---- wlb-$d (lab host $h)"
	new_ns "notify-$d" || { fail "wlb-$d: cannot create a namespace"; return; }
	ns=$NS
	_wlb_write_conf "$h"
	conf=$(wlb_conf "$h")
	cp "$conf" "$T/$d.valid.conf"
	sock="$T/notify-$d.sock"
	nlog="$T/log/notify-$d.log"
	dlog="$T/log/$d.log"
	start_listener "$sock" "$nlog" || return
	start_daemon "$ns" "$d" "$conf" "$sock" "$dlog" self

	if wait_msg "$nlog" 0 READY=1 5; then
		ok "wlb-$d: READY=1"
	else
		fail "wlb-$d: no READY=1 on NOTIFY_SOCKET within 5 s; log: $(tail -n 3 "$dlog" | tr '\n' ' ')"
		stop_daemon
		stop_listener
		return
	fi

	# the watchdog in the steady state
	sleep "$STEADY_S"
	read -r count min max < <(wd_stats "$nlog")
	wd=$((WD_USEC / 1000))
	if [ "$count" -ge 3 ] && [ "$max" -le $((wd / 2 + WD_SLACK_MS)) ] && [ "$min" -ge $((wd / 4)) ]; then
		ok "wlb-$d: $count WATCHDOG=1 in ${STEADY_S} s, gaps ${min}..${max} ms (WATCHDOG_USEC ${wd} ms)"
	else
		fail "wlb-$d: WATCHDOG=1 not every ${wd}/2 ms (+${WD_SLACK_MS} ms): $count pings in ${STEADY_S} s, gaps ${min}..${max} ms (must be >= $((wd / 4)) and <= $((wd / 2 + WD_SLACK_MS)))"
	fi

	# SIGHUP with a valid configuration (rewritten, as an operator would)
	n=$(lines "$nlog")
	_wlb_write_conf "$h"
	kill -HUP "$DPID"
	if wait_pair "$nlog" "$n"; then
		ok "wlb-$d: SIGHUP (valid configuration): RELOADING=1 then READY=1"
	else
		fail "wlb-$d: SIGHUP (valid configuration): missing RELOADING=1 followed by READY=1; got: $(awk -v f="$n" 'NR > f { printf "%s ", $3 }' "$nlog")"
	fi
	grep -q "configuration reloaded from $conf" "$dlog" ||
		fail "wlb-$d: valid reload: no 'configuration reloaded from $conf' in the log"

	# SIGHUP with an invalid configuration: an unknown setting, then a syntax error
	local kind extra
	for kind in setting syntax; do
		case "$kind" in
		setting) extra='bogus_setting = 1;' ;;
		syntax) extra='this is not a setting' ;;
		esac
		cp "$T/$d.valid.conf" "$conf"
		printf '%s\n' "$extra" >>"$conf"
		L=$(lines "$conf")
		n=$(lines "$nlog")
		kill -HUP "$DPID"
		if wait_pair "$nlog" "$n"; then
			ok "wlb-$d: SIGHUP (invalid configuration, $kind): RELOADING=1 then READY=1"
		else
			fail "wlb-$d: SIGHUP (invalid configuration, $kind): missing RELOADING=1 followed by READY=1; got: $(awk -v f="$n" 'NR > f { printf "%s ", $3 }' "$nlog")"
		fi
		if grep -F "reload refused" "$dlog" | grep -F "$conf:$L:" >/dev/null; then
			ok "wlb-$d: invalid configuration ($kind) logged: $(grep -F "$conf:$L:" "$dlog" | tail -n 1 | sed 's/.*configuration: //')"
		else
			fail "wlb-$d: invalid configuration ($kind) at line $L: no 'reload refused ... $conf:$L:' in the log: $(tail -n 1 "$dlog")"
		fi
		# still alive and still feeding the watchdog
		n=$(lines "$nlog")
		if ! _lab_proc_alive "$DPID"; then
			fail "wlb-$d: died after a SIGHUP with an invalid configuration ($kind)"
			stop_listener
			return
		fi
		wait_msg "$nlog" "$n" WATCHDOG=1 $(((WD_USEC / 2000 + WD_SLACK_MS) / 1000 + 1)) ||
			fail "wlb-$d: no WATCHDOG=1 after the invalid reload ($kind)"
	done
	cp "$T/$d.valid.conf" "$conf"

	# SIGTERM
	n=$(lines "$nlog")
	stop_daemon
	rc=$STOP_RC
	if [ "$rc" = 0 ]; then
		ok "wlb-$d: SIGTERM: exit status 0"
	else
		fail "wlb-$d: SIGTERM: exit status $rc (expected 0); log: $(tail -n 3 "$dlog" | tr '\n' ' ')"
	fi
	if awk -v f="$n" 'NR > f && $3 == "STOPPING=1" { s = 1 } END { exit !s }' "$nlog"; then
		ok "wlb-$d: SIGTERM: STOPPING=1"
	else
		fail "wlb-$d: SIGTERM: no STOPPING=1 on NOTIFY_SOCKET"
	fi
	stop_listener

	# over the whole run (the reloads included)
	read -r count min max < <(wd_stats "$nlog")
	if [ "$max" -le $((wd / 2 + WD_SLACK_MS)) ] && [ "$min" -ge $((wd / 4)) ]; then
		ok "wlb-$d: whole run: $count WATCHDOG=1, gaps ${min}..${max} ms"
	else
		fail "wlb-$d: whole run: $count WATCHDOG=1 with gaps ${min}..${max} ms (must be >= $((wd / 4)) and <= $((wd / 2 + WD_SLACK_MS)))"
	fi
	bad_pids=$(awk -v p="$DPID" '$2 != p { print $2 }' "$nlog" | sort -u | tr '\n' ' ')
	if [ -n "$bad_pids" ]; then
		fail "wlb-$d: notifications from pid(s) $bad_pids, not the daemon's $DPID (NotifyAccess=main would drop them)"
	else
		ok "wlb-$d: every notification came from the daemon's pid $DPID"
	fi
	st="$T/state/$d.state"
	if [ -f "$st" ] && awk '$1 == "reloads" && $2 == 1 { a = 1 } $1 == "reload_failures" && $2 == 2 { b = 1 }
		END { exit !(a && b) }' "$st"; then
		ok "wlb-$d: state file at exit: reloads 1, reload_failures 2"
	else
		fail "wlb-$d: state file $st at exit: expected reloads 1 and reload_failures 2, got: $(grep -E '^reload' "$st" 2>/dev/null | tr -s ' ' | tr '\n' ',')"
	fi
	printf 'notifications of wlb-%s (seconds, pid, message; WATCHDOG=1 elided):\n' "$d"
	awk '$3 != "WATCHDOG=1" { print "    " $0 }' "$nlog"

	# WATCHDOG_PID naming another process: the watchdog is not ours
	lab_log "---- wlb-$d with WATCHDOG_PID=1 (another process)"
	: >"$dlog.2"
	start_listener "$sock.2" "$nlog.2" || return
	start_daemon "$ns" "$d" "$conf" "$sock.2" "$dlog.2" 1
	if wait_msg "$nlog.2" 0 READY=1 5; then
		sleep 2.5
		count=$(awk '$3 == "WATCHDOG=1"' "$nlog.2" | wc -l)
		if [ "$count" = 0 ]; then
			ok "wlb-$d: WATCHDOG_PID=1: READY=1 and no WATCHDOG=1 in 2.5 s"
		else
			fail "wlb-$d: WATCHDOG_PID=1 (not the daemon): $count WATCHDOG=1 sent anyway"
		fi
	else
		fail "wlb-$d: WATCHDOG_PID=1: no READY=1 within 5 s"
	fi
	stop_daemon
	rc=$STOP_RC
	[ "$rc" = 0 ] || fail "wlb-$d: WATCHDOG_PID=1 run: exit status $rc after SIGTERM"
	stop_listener
}

check_daemon cgw clientgw
check_daemon sgw redirector
check_daemon replica1 replicad

if [ "$fails" -gt 0 ]; then
	echo "test-ops-notify: $fails check(s) FAILED" >&2
	exit 1
fi
echo "test-ops-notify: all checks passed"
exit 0
