# shellcheck shell=bash
#
# tests/lab/wlb.sh -- run the wlb daemons in the lab.  Source after lab.sh:
#
#     . tests/lab/lab.sh; . tests/lab/wlb.sh
#     lab_up; wlb_up            # rules + daemons: clientgw in cgw, redirector in sgw,
#                               # replicad in every replica
#     wlb_counter cgw clientgw synack_replica_won
#     wlb_ctl cgw flows         # wlbctl against the host's daemon
#     wlb_down                  # stop daemons, remove their rules (lab_down does it too)
#
# Each host gets its own configuration file, generated from the lab's addresses
# (wlb_conf HOST prints its path).  Settings can be changed per test through
# environment variables before wlb_up, or with wlb_replica_set later:
#   WLB_MODE (A)                    configuration of the origin's service, and the
#                                   client gateway's default
#   WLB_SERVICES_EXTRA              more entries for the services list
#   WLB_REPLICA<k>_STATE (active)   WLB_REPLICA<k>_MAX_EST (0)
#   WLB_CLIENTGW_EXTRA, WLB_REPLICAD_EXTRA   lines appended to the section
#   WLB_REPLICAS_SKIP               replica numbers left out of the services list
#   WLB_DAEMON_ARGS                 more options for every daemon (--no-fastpath)
#   WLB_WORKERS (1)                 worker processes per daemon: worker 0 with the
#                                   unit's command line, the others with --worker=K
#   WLB_RULES_ARGS                  words appended to the units' wlb-rules
#                                   command lines (ExecStartPre, ExecStopPost),
#                                   e.g. "--backend=iptables"
#
# The daemons are started in the foreground of a background job, as systemd
# would (Type=notify, no fork), with the units' own command lines: the
# ExecStartPre, ExecStart and ExecStopPost of systemd/wlb-*.service.in, their
# installed paths replaced by the build's programs and the host's
# configuration file; a host's own runtime directory is bound over the
# daemons' (see _wlb_exec_in), so nothing is added to the command lines.

# Like lab_fail, but returns: a failed check must not end the whole test.
wlb_fail() {
	printf 'FAIL: %s\n' "$*" >&2
	return 1
}

# wlb_bg HOST CMD...: run CMD in HOST in the background.  Unlike "lab_exec &"
# (a function, so a subshell), $! is then CMD itself and can be signalled.
wlb_bg() {
	local ns
	ns=$(lab_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@" &
}

WLB_Q_CLIENTGW=0
WLB_Q_REDIRECTOR=10
WLB_Q_REPLICAD=20
declare -A _WLB_PID=() _WLB_XPIDS=()

wlb_bin() {
	printf '%s/src/%s\n' "${LAB_BUILDDIR:?}" "$1"
}

_WLB_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# _wlb_unit_cmd HOST DAEMON KEY: the words of the unit's KEY= line.
_wlb_unit_cmd() {
	local h=$1 d=$2 key=$3 unit line
	unit="$_WLB_SRCDIR/systemd/wlb-$d.service.in"
	line=$(sed -n "s/^$key=//p" "$unit" | head -n 1)
	[ -n "$line" ] || { wlb_fail "no $key= in $unit"; return 1; }
	line=${line//@sysconfdir@\/wlb\/wlb.conf/$(wlb_conf "$h")}
	line=${line//@sbindir@/${LAB_BUILDDIR:?}/src}
	printf '%s\n' "$line"
}

wlb_conf() {
	printf '%s/wlb-%s.conf\n' "${LAB_DIR:?}" "$1"
}

# The lab's hosts share one file system, but not their runtime directory:
# each daemon runs with the lab's run/HOST bound over the directory its
# defaults name (runstatedir/wlb, read from its --help), so it is started
# with nothing added to its unit's ExecStart and writes its state file and
# control socket where the lab reads them, never into the system's.
_wlb_rundir() {
	"$(wlb_bin wlb-clientgw)" --help | sed -n 's|.*(default \(/.*\)/wlb-clientgw\.state).*|\1|p'
}

wlb_state() { # HOST DAEMON [WORKER]
	printf '%s/run/%s/wlb-%s%s.state\n' "${LAB_DIR:?}" "$1" "$2" "${3:+.$3}"
}

wlb_ctl_socket() { # HOST
	local d
	d=$(_wlb_daemon_of "$1") || return 1
	printf '%s/run/%s/wlb-%s.ctl\n' "${LAB_DIR:?}" "$1" "$d"
}

# _wlb_exec_in HOST CMD... &: exec CMD in HOST with the host's runtime
# directory (ip netns exec gives every command a mount namespace of its own,
# whose mounts the root namespace does not see).  Only in the background:
# it execs, so $! is CMD itself.
_wlb_exec_in() {
	local h=$1 rd
	shift
	rd=$(_wlb_rundir)
	[ -n "$rd" ] || { wlb_fail "cannot read the daemons' runtime directory from --help"; return 1; }
	mkdir -p "$LAB_DIR/run/$h" "$rd"
	exec ip netns exec "$(lab_ns "$h")" /bin/sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
		_ "$LAB_DIR/run/$h" "$rd" "$@"
}

# wlb_ctl HOST ARGS...: wlbctl, in HOST, against the host's daemon.
wlb_ctl() {
	local h=$1 s
	s=$(wlb_ctl_socket "$h") || return 2
	shift
	lab_exec "$h" "$(wlb_bin wlbctl)" -s "$s" "$@"
}

_wlb_replicas_list() {
	local k out=""
	for ((k = 1; k <= LAB_REPLICAS; k++)); do
		[[ " ${WLB_REPLICAS_SKIP:-} " == *" $k "* ]] && continue
		out+="${out:+, }\"$(lab_replica_ip "$k")\""
	done
	printf '%s' "$out"
}

# The configuration a host's daemon reads: the shared services list and the
# host's own section.
_wlb_write_conf() { # HOST
	local h=$1 k f
	f=$(wlb_conf "$h")
	{
		printf 'services = (\n  { origin = "%s"; ports = [ 80 ]; replicable = true;\n' "$LAB_ORIGIN_IP"
		printf '    configuration = "%s"; replicas = [ %s ]; }\n' "${WLB_MODE:-A}" "$(_wlb_replicas_list)"
		printf '%s\n);\n' "${WLB_SERVICES_EXTRA:-}"
		case "$h" in
		cgw)
			printf 'clientgw: {\n  queue = %d;\n  workers = %d;\n  web_ports = [ 80 ];\n' \
				"$WLB_Q_CLIENTGW" "${WLB_WORKERS:-1}"
			printf '  configuration = "%s";\n' "${WLB_MODE:-A}"
			printf '  half_open_timeout = 10;\n  linger = 2;\n%s\n};\n' "${WLB_CLIENTGW_EXTRA:-}"
			;;
		sgw)
			printf 'redirector: {\n  queue = %d;\n  workers = %d;\n  address = "%s";\n};\n' \
				"$WLB_Q_REDIRECTOR" "${WLB_WORKERS:-1}" "$LAB_SGW_IP"
			;;
		replica*)
			k=${h#replica}
			local st=WLB_REPLICA${k}_STATE mx=WLB_REPLICA${k}_MAX_EST
			printf 'replicad: {\n  queue = %d;\n  workers = %d;\n  service_address = "%s";\n' \
				"$WLB_Q_REPLICAD" "${WLB_WORKERS:-1}" "$(lab_replica_ip "$k")"
			printf '  redirectors = [ "%s" ];\n  state = "%s";\n' "$LAB_SGW_IP" "${!st:-active}"
			printf '  max_established = %s;\n%s\n};\n' "${!mx:-0}" "${WLB_REPLICAD_EXTRA:-}"
			;;
		esac
	} >"$f"
}

_wlb_daemon_of() {
	case "$1" in
	cgw) echo clientgw ;;
	sgw) echo redirector ;;
	replica*) echo replicad ;;
	*) return 1 ;;
	esac
}

_wlb_queue_bound() { # HOST QUEUE
	lab_exec "$1" cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk -v q="$2" '$1 == q { found = 1 } END { exit !found }'
}

# wlb_start HOST: install the rules of the host's daemon and start it.
wlb_start() {
	local h=$1 d q k pre cmd
	d=$(_wlb_daemon_of "$h") || { wlb_fail "wlb_start: no daemon for $h"; return 1; }
	[ -n "${_WLB_PID[$h]:-}" ] && return 0
	[ -f "$(wlb_conf "$h")" ] || _wlb_write_conf "$h"
	read -ra pre <<<"$(_wlb_unit_cmd "$h" "$d" ExecStartPre) ${WLB_RULES_ARGS:-}" || return 1
	read -ra cmd <<<"$(_wlb_unit_cmd "$h" "$d" ExecStart)" || return 1
	lab_exec "$h" "${pre[@]}" || return 1
	# ip(8) and sh exec the daemon: $! is the daemon itself, not a subshell
	_wlb_exec_in "$h" "${cmd[@]}" ${WLB_DAEMON_ARGS:-} ${WLB_VERBOSE:+-v} \
		>>"$LAB_DIR/log/$h-$d.log" 2>&1 &
	_WLB_PID[$h]=$!
	case "$d" in
	clientgw) q=$WLB_Q_CLIENTGW ;;
	redirector) q=$WLB_Q_REDIRECTOR ;;
	*) q=$WLB_Q_REPLICAD ;;
	esac
	_wlb_wait_queue "$h" "$q" "${_WLB_PID[$h]}" || return 1
	# the other workers: the same command line, told which they are
	for ((k = 1; k < ${WLB_WORKERS:-1}; k++)); do
		_wlb_exec_in "$h" "${cmd[@]}" ${WLB_DAEMON_ARGS:-} --worker="$k" \
			${WLB_VERBOSE:+-v} >>"$LAB_DIR/log/$h-$d.$k.log" 2>&1 &
		_WLB_XPIDS[$h]+="$! "
		_wlb_wait_queue "$h" $((q + k)) "$!" || return 1
	done
	return 0
}

_wlb_wait_queue() { # HOST QUEUE PID
	local i
	for ((i = 0; i < 100; i++)); do
		_wlb_queue_bound "$1" "$2" && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.05
	done
	wlb_fail "no daemon bound queue $2 in $1: $(tail -n 3 "$LAB_DIR/log/$1-"*.log)"
	return 1
}

# wlb_stop HOST [--keep-rules]: stop the daemon (SIGTERM) and remove its rules.
wlb_stop() {
	local h=$1 d pid i post
	d=$(_wlb_daemon_of "$h") || return 1
	for pid in ${_WLB_XPIDS[$h]:-}; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	unset "_WLB_XPIDS[$h]"
	pid=${_WLB_PID[$h]:-}
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		wait "$pid" 2>/dev/null || true
		unset "_WLB_PID[$h]"
	fi
	[ "${2:-}" = --keep-rules ] && return 0
	read -ra post <<<"$(_wlb_unit_cmd "$h" "$d" ExecStopPost) ${WLB_RULES_ARGS:-}" || return 1
	lab_exec "$h" "${post[@]}"
}

# wlb_kill HOST: the daemon dies (SIGKILL): its rules stay, traffic must flow.
wlb_kill() {
	local h=$1 pid=${_WLB_PID[$1]:-} x
	for x in ${_WLB_XPIDS[$h]:-}; do
		kill -KILL "$x" 2>/dev/null || true
		wait "$x" 2>/dev/null || true
	done
	unset "_WLB_XPIDS[$h]"
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "_WLB_PID[$h]"
}

wlb_hosts() {
	local k
	echo cgw sgw
	for ((k = 1; k <= LAB_REPLICAS; k++)); do echo "replica$k"; done
}

wlb_up() {
	local h
	for h in $(wlb_hosts); do _wlb_write_conf "$h"; done
	for h in $(wlb_hosts); do wlb_start "$h" || return 1; done
	lab_at_down wlb_down
}

wlb_down() {
	local h
	for h in $(wlb_hosts); do wlb_stop "$h" 2>/dev/null || true; done
}

# wlb_reload HOST: rewrite the host's configuration from the environment and
# send SIGHUP.
wlb_reload() {
	local h=$1 x
	_wlb_write_conf "$h"
	kill -HUP "${_WLB_PID[$h]}"
	for x in ${_WLB_XPIDS[$h]:-}; do kill -HUP "$x"; done
	sleep 0.2
}

# wlb_worker_counter HOST K NAME: a counter of worker K (0: the first).
wlb_worker_counter() {
	local h=$1 k=$2 d f pid before i
	[ "$k" = 0 ] && { wlb_dump "$h" | awk -v n="$3" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }'; return; }
	d=$(_wlb_daemon_of "$h") || return 1
	f=$(wlb_state "$h" "$d" "$k")
	read -ra pid <<<"${_WLB_XPIDS[$h]:-}"
	before=$(stat -c %y "$f" 2>/dev/null || echo none)
	kill -USR1 "${pid[$((k - 1))]}" 2>/dev/null || { echo 0; return 1; }
	for ((i = 0; i < 100; i++)); do
		[ "$(stat -c %y "$f" 2>/dev/null || echo none)" != "$before" ] && break
		sleep 0.02
	done
	sleep 0.02
	awk -v n="$3" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$f"
}

# wlb_dump HOST: have the daemon write its state file (SIGUSR1) and print it.
wlb_dump() {
	local h=$1 d f i before
	d=$(_wlb_daemon_of "$h") || return 1
	f=$(wlb_state "$h" "$d")
	before=$(stat -c %y "$f" 2>/dev/null || echo none)
	kill -USR1 "${_WLB_PID[$h]}" 2>/dev/null || { wlb_fail "wlb_dump: no daemon in $h"; return 1; }
	for ((i = 0; i < 100; i++)); do
		[ "$(stat -c %y "$f" 2>/dev/null || echo none)" != "$before" ] && break
		sleep 0.02
	done
	sleep 0.02
	cat "$f"
}

# wlb_counter HOST NAME: one counter from a fresh state dump, summed over
# the host's workers.
wlb_counter() {
	local k sum v
	sum=$(wlb_dump "$1" | awk -v n="$2" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }')
	for ((k = 1; k < ${WLB_WORKERS:-1}; k++)); do
		v=$(wlb_worker_counter "$1" "$k" "$2")
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# wlb_rules_left HOST: prints the wlb tables still present in the host.
wlb_rules_left() {
	lab_exec "$1" nft list tables 2>/dev/null | grep -o 'wlb_[a-z]*' || true
}
