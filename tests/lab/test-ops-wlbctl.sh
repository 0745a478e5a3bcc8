#!/bin/bash
# wlbctl against the three daemons of a lab in configuration A (the
# operations issue): status, counters, flows and replicas in text and in
# JSON; drain and enable of a replica, seen by the next connections;
# flush of a gateway flow, seen by its connection; and the control socket
# itself: its mode, its errors, a stale socket file replaced, a live one
# kept, removed at exit, idle clients that never hold the packets up.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lab.sh"
. "$here/wlb.sh"
. "$here/mission.sh"

export WLB_MODE=A LAB_BIG_MB=${LAB_BIG_MB:-10}
command -v python3 >/dev/null || { echo "*** SKIP: python3 missing ***"; exit 77; }
[ -x "$(wlb_bin wlbctl)" ] || { echo "FAIL: $(wlb_bin wlbctl) is not built" >&2; exit 1; }
lab_up || exit 1
wlb_up || exit 1

R1=$(lab_replica_ip 1)
R2=$(lab_replica_ip 2)

# jq PYTHON-EXPR: evaluate it over j, the JSON document on stdin (which
# must parse), and print the result.
jq() {
	python3 -c 'import json, sys; j = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# kv HOST ARGS...: the value of one "name value" line of a text answer.
kv() { # NAME: from stdin
	awk -v n="$1" '$1 == n { print $2; found = 1 } END { exit !found }'
}

# expect_exit STATUS DESC CMD...: run CMD, check its exit status; its
# stderr is left in $LAB_DIR/err.
expect_exit() {
	local want=$1 desc=$2 rc
	shift 2
	"$@" >"$LAB_DIR/out" 2>"$LAB_DIR/err"
	rc=$?
	[ "$rc" = "$want" ] || {
		wlb_fail "$desc: exit $rc, expected $want: $(cat "$LAB_DIR/err")"
		return 1
	}
}

# A download of /10m from the client, rate-limited so it lasts; sets
# DL_PID, and DL_PORT to the client's port once the connection is up.
slow_download() { # RATE OUTFILE
	local i
	wlb_bg client curl -sS --max-time 60 --limit-rate "$1" -o "$2" "http://$LAB_ORIGIN_IP/10m"
	DL_PID=$!
	DL_PORT=""
	for ((i = 0; i < 50; i++)); do
		DL_PORT=$(lab_exec client ss -Htn state established "( dport = :80 )" |
			awk '{ split($3, a, ":"); print a[2]; exit }')
		[ -n "$DL_PORT" ] && return 0
		sleep 0.1
	done
	wlb_fail "the download from $LAB_ORIGIN_IP did not start"
	return 1
}

check_status() {
	local out rc=0 js
	out=$(wlb_ctl cgw status) || { wlb_fail "wlbctl status: exit $?"; return 1; }
	[ "$(kv daemon <<<"$out")" = wlb-clientgw ] &&
		[ "$(kv pid <<<"$out")" = "${_WLB_PID[cgw]}" ] &&
		[ "$(kv config <<<"$out")" = "$(wlb_conf cgw)" ] &&
		[ "$(kv queue <<<"$out")" = "$WLB_Q_CLIENTGW" ] &&
		[ "$(kv flows_capacity <<<"$out")" -gt 0 ] &&
		[[ "$(kv uptime_s <<<"$out")" =~ ^[0-9]+$ ]] &&
		[ -n "$(kv version <<<"$out")" ] ||
		{ wlb_fail "wlbctl status on cgw: $out"; rc=1; }
	js=$(wlb_ctl cgw --json status | jq '(j["daemon"], j["pid"], j["queue"], j["config"])') ||
		{ wlb_fail "wlbctl --json status: no JSON"; rc=1; }
	[ "$js" = "('wlb-clientgw', ${_WLB_PID[cgw]}, $WLB_Q_CLIENTGW, '$(wlb_conf cgw)')" ] ||
		{ wlb_fail "wlbctl --json status on cgw: $js"; rc=1; }
	js=$(wlb_ctl sgw --json status | jq '(j["daemon"], j["queue"], j["services"])')
	[ "$js" = "('wlb-redirector', $WLB_Q_REDIRECTOR, 1)" ] ||
		{ wlb_fail "wlbctl --json status on sgw: $js"; rc=1; }
	js=$(wlb_ctl replica1 --json status | jq '(j["daemon"], j["state"], j["busy"])')
	[ "$js" = "('wlb-replicad', 'active', False)" ] ||
		{ wlb_fail "wlbctl --json status on replica1: $js"; rc=1; }
	[ $rc = 0 ] && mission_note "status:" $(tr -s ' ' <<<"$out" | paste -sd' ' -)
	return $rc
}

check_counters() {
	local out rc=0 i won won_js del fan
	for i in 1 2 3; do expect_served replica1 "download $i" || rc=1; done
	out=$(wlb_ctl cgw counters) || { wlb_fail "wlbctl counters: exit $?"; return 1; }
	won=$(kv synack_replica_won <<<"$out")
	[ "${won:-0}" -ge 3 ] && [ "$(kv syn_tagged <<<"$out")" -ge 3 ] &&
		[ "$(kv nfq_packets <<<"$out")" -gt 0 ] && [ "$(kv reloads <<<"$out")" = 0 ] &&
		[ -n "$(kv flows_capacity <<<"$out")" ] ||
		{ wlb_fail "wlbctl counters on cgw: $out"; rc=1; }
	# the same counters as the state file, JSON numbers throughout
	won_js=$(wlb_ctl cgw --json counters |
		jq 'j["synack_replica_won"] if all(type(v) is int for v in j.values()) else "not int"')
	[ "$won_js" = "$won" ] && [ "$(cgw_counter synack_replica_won)" = "$won" ] ||
		{ wlb_fail "synack_replica_won: text $won, JSON $won_js, state file $(cgw_counter synack_replica_won)"; rc=1; }
	del=$(wlb_ctl replica1 --json counters | jq 'j["syn_delivered"]')
	fan=$(wlb_ctl sgw --json counters | jq 'j["syn_fanned_out"]')
	[ "${del:-0}" -ge 3 ] && [ "${fan:-0}" -ge 3 ] ||
		{ wlb_fail "replica1 syn_delivered '$del', sgw syn_fanned_out '$fan'"; rc=1; }
	[ $rc = 0 ] && mission_note "counters: cgw synack_replica_won $won (text = JSON = state file)," \
		"replica1 syn_delivered $del, sgw syn_fanned_out $fan"
	return $rc
}

check_flows() {
	local out rc=0 row js
	slow_download 1M "$LAB_DIR/dl-flows" || return 1
	out=$(wlb_ctl cgw flows) || { wlb_fail "wlbctl flows: exit $?"; rc=1; }
	row=$(grep -E "^$LAB_CLIENT_IP:$DL_PORT +$LAB_ORIGIN_IP:80 +replica +A +$R1 +no$" <<<"$out")
	head -n 1 <<<"$out" | grep -qE '^CLIENT +SERVER +STATE +CONFIG +WINNER +CLOSING$' && [ -n "$row" ] ||
		{ wlb_fail "wlbctl flows on cgw: no row for port $DL_PORT: $out"; rc=1; }
	# the filter: the client, the server and the winner match; another replica does not
	for a in "$LAB_CLIENT_IP" "$LAB_ORIGIN_IP" "$R1"; do
		wlb_ctl cgw flows "$a" | grep -q ":$DL_PORT " ||
			{ wlb_fail "wlbctl flows $a: the flow is missing"; rc=1; }
	done
	[ "$(wlb_ctl cgw flows "$R2" | wc -l)" = 1 ] ||
		{ wlb_fail "wlbctl flows $R2 lists flows replica2 did not win"; rc=1; }
	js=$(wlb_ctl cgw --json flows "$R1" | jq "[(f['state'], f['config'], f['winner'], f['closing'])
		for f in j['flows'] if f['client'] == '$LAB_CLIENT_IP:$DL_PORT'] + [j['omitted']]")
	[ "$js" = "[('replica', 'A', '$R1', False), 0]" ] ||
		{ wlb_fail "wlbctl --json flows on cgw: $js"; rc=1; }
	expect_exit 2 "flows with a bad address" wlb_ctl cgw flows 203.0.113 || rc=1
	grep -q 'usage: flows \[ADDRESS\]' "$LAB_DIR/err" || { wlb_fail "flows usage: $(cat "$LAB_DIR/err")"; rc=1; }
	# the replica's table: a fresh connection, answered, kept while it lives
	expect_served replica1 "a connection for the replica's table" || rc=1
	js=$(wlb_ctl replica1 --json flows "$LAB_CLIENT_IP" |
		jq "sorted(set((f['server'], f['state'], f['config']) for f in j['flows']))")
	[ "$js" = "[('$R1:80', 'carried', 'A')]" ] ||
		{ wlb_fail "wlbctl --json flows on replica1: $js"; rc=1; }
	wlb_ctl replica1 flows | head -n 1 | grep -qE '^CLIENT +SERVER +STATE +CONFIG +CLOSING$' ||
		{ wlb_fail "wlbctl flows on replica1: no header"; rc=1; }
	kill "$DL_PID" 2>/dev/null
	wait "$DL_PID" 2>/dev/null
	[ $rc = 0 ] && mission_note "flows: $(tr -s ' ' <<<"$row")"
	return $rc
}

check_replicas() {
	local rc=0 h out js
	for h in cgw sgw; do
		out=$(wlb_ctl "$h" replicas) || { wlb_fail "wlbctl replicas on $h: exit $?"; rc=1; }
		grep -qE "^$LAB_ORIGIN_IP +80 +yes +A +$R1,$R2$" <<<"$out" ||
			{ wlb_fail "wlbctl replicas on $h: $out"; rc=1; }
		js=$(wlb_ctl "$h" --json replicas | jq '[(s["origin"], s["ports"], s["replicas"]) for s in j["services"]]')
		[ "$js" = "[('$LAB_ORIGIN_IP', [80], ['$R1', '$R2'])]" ] ||
			{ wlb_fail "wlbctl --json replicas on $h: $js"; rc=1; }
	done
	out=$(wlb_ctl replica1 replicas)
	[ "$(kv state <<<"$out")" = active ] && [ "$(kv busy <<<"$out")" = no ] &&
		[ "$(kv service_address <<<"$out")" = "$R1" ] ||
		{ wlb_fail "wlbctl replicas on replica1: $out"; rc=1; }
	js=$(wlb_ctl replica1 --json replicas | jq '(j["state"], j["configured_state"], j["busy"], type(j["established"]))')
	[ "$js" = "('active', 'active', False, <class 'int'>)" ] ||
		{ wlb_fail "wlbctl --json replicas on replica1: $js"; rc=1; }
	[ $rc = 0 ] && mission_note "replicas: $(wlb_ctl cgw replicas | grep "^$LAB_ORIGIN_IP" | tr -s ' ');" \
		"replica1 $(kv state <<<"$out"), busy $(kv busy <<<"$out")"
	return $rc
}

check_drain_enable() {
	local rc=0 out d0 d1 want got
	want=$(sha256sum "$LAB_DIR/www/10m" | cut -d' ' -f1)
	# a connection replica1 serves, still running when it drains
	slow_download 4M "$LAB_DIR/dl-drain" || return 1
	d0=$(wlb_ctl replica1 --json counters | jq 'j["drop_inactive"]')
	out=$(wlb_ctl replica1 drain) || { wlb_fail "wlbctl drain: exit $?"; rc=1; }
	[ "$(kv state <<<"$out")" = draining ] && [ "$(kv previous_state <<<"$out")" = active ] &&
		[ "$(kv configured_state <<<"$out")" = active ] ||
		{ wlb_fail "wlbctl drain: $out"; rc=1; }
	[ "$(wlb_ctl replica1 --json status | jq 'j["state"]')" = draining ] ||
		{ wlb_fail "status after drain"; rc=1; }
	expect_served replica2 "replica1 drained by wlbctl" || rc=1
	d1=$(wlb_ctl replica1 --json counters | jq 'j["drop_inactive"]')
	[ "$d1" -gt "$d0" ] || { wlb_fail "drop_inactive did not count ($d0 -> $d1)"; rc=1; }
	wait "$DL_PID" || { wlb_fail "the download replica1 served failed while it drained"; rc=1; }
	got=$(sha256sum "$LAB_DIR/dl-drain" | cut -d' ' -f1)
	[ "$got" = "$want" ] || { wlb_fail "the download replica1 served was corrupted"; rc=1; }
	[ $rc = 0 ] && mission_note "drained: the running download finished intact (10 MiB)"
	out=$(wlb_ctl replica1 --json enable | jq '(j["state"], j["previous_state"])')
	[ "$out" = "('active', 'draining')" ] || { wlb_fail "wlbctl --json enable: $out"; rc=1; }
	expect_served replica1 "replica1 enabled by wlbctl" || rc=1
	# a reload brings back the configuration's state
	wlb_ctl replica1 drain >/dev/null
	wlb_reload replica1
	[ "$(wlb_ctl replica1 --json status | jq 'j["state"]')" = active ] ||
		{ wlb_fail "a reload did not bring back the configured state"; rc=1; }
	expect_served replica1 "drained, then reloaded" || rc=1
	expect_exit 2 "drain with an argument" wlb_ctl replica1 drain now || rc=1
	expect_exit 2 "drain on the gateway" wlb_ctl cgw drain || rc=1
	grep -q "unknown command 'drain'" "$LAB_DIR/err" || { wlb_fail "drain on cgw: $(cat "$LAB_DIR/err")"; rc=1; }
	return $rc
}

check_flush() {
	local rc=0 out u0 u1 i
	sleep 2.5 # earlier connections linger 2 s
	slow_download 300k "$LAB_DIR/dl-flush" || return 1
	u0=$(cgw_counter unknown_passed)
	out=$(wlb_ctl cgw flush "$LAB_CLIENT_IP:$DL_PORT" "$LAB_ORIGIN_IP:80") ||
		{ wlb_fail "wlbctl flush: exit $?: $out"; rc=1; }
	[ "$(kv flushed_client <<<"$out")" = "$LAB_CLIENT_IP:$DL_PORT" ] ||
		{ wlb_fail "wlbctl flush: $out"; rc=1; }
	! wlb_ctl cgw flows "$LAB_CLIENT_IP" | grep -q ":$DL_PORT " ||
		{ wlb_fail "the flow is still listed after flush"; rc=1; }
	# forgotten, the connection's packets go on untranslated: it breaks
	for ((i = 0; i < 200; i++)); do
		kill -0 "$DL_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$DL_PID" 2>/dev/null; then
		wlb_fail "the flushed connection still runs"
		kill "$DL_PID" 2>/dev/null
		rc=1
	fi
	wait "$DL_PID" 2>/dev/null && { wlb_fail "the flushed download succeeded"; rc=1; }
	u1=$(cgw_counter unknown_passed)
	[ "$u1" -gt "$u0" ] || { wlb_fail "unknown_passed did not count ($u0 -> $u1)"; rc=1; }
	expect_exit 1 "flush of a flow gone" \
		wlb_ctl cgw flush "$LAB_CLIENT_IP:$DL_PORT" "$LAB_ORIGIN_IP:80" || rc=1
	grep -q "wlb-clientgw: no flow $LAB_CLIENT_IP:$DL_PORT $LAB_ORIGIN_IP:80" "$LAB_DIR/err" ||
		{ wlb_fail "flush of a flow gone: $(cat "$LAB_DIR/err")"; rc=1; }
	expect_exit 2 "flush without a port" wlb_ctl cgw flush "$LAB_CLIENT_IP" "$LAB_ORIGIN_IP:80" || rc=1
	expect_served replica1 "a new connection after the flush" || rc=1
	# the replica forgets its flows too
	expect_served replica1 "a connection for the replica's table" || rc=1
	out=$(wlb_ctl replica1 --json flows | jq '" ".join(f["client"] + " " + f["server"] for f in j["flows"][:1])')
	if [ -n "$out" ]; then
		# shellcheck disable=SC2086 # two words: CLIENT:PORT SERVER:PORT
		wlb_ctl replica1 flush $out >/dev/null || { wlb_fail "wlbctl flush on replica1: $out"; rc=1; }
		# shellcheck disable=SC2086
		expect_exit 1 "a second flush on replica1" wlb_ctl replica1 flush $out || rc=1
	else
		wlb_fail "replica1 lists no flow to flush"
		rc=1
	fi
	[ $rc = 0 ] && mission_note "flushed $LAB_CLIENT_IP:$DL_PORT: its download broke, unknown_passed +$((u1 - u0))"
	return $rc
}

check_errors() {
	local rc=0 none="$LAB_DIR/state/nowhere-wlb-clientgw.ctl"
	expect_exit 3 "no daemon" lab_exec cgw "$(wlb_bin wlbctl)" -s "$none" status || rc=1
	grep -qxF "wlbctl: cannot connect to $none: No such file or directory (is wlb-clientgw running?)" \
		"$LAB_DIR/err" || { wlb_fail "no daemon: $(cat "$LAB_DIR/err")"; rc=1; }
	expect_exit 2 "unknown command" wlb_ctl sgw flows || rc=1
	grep -qF "wlbctl: wlb-redirector: unknown command 'flows'; wlb-redirector knows: status, counters, replicas" \
		"$LAB_DIR/err" || { wlb_fail "unknown command: $(cat "$LAB_DIR/err")"; rc=1; }
	expect_exit 2 "no command" wlb_ctl cgw || rc=1
	expect_exit 2 "an argument with a blank" wlb_ctl cgw flows "1.2.3.4 5" || rc=1
	expect_exit 2 "status with an argument" wlb_ctl cgw status now || rc=1
	expect_exit 2 "a bad -d" lab_exec cgw "$(wlb_bin wlbctl)" -d gateway status || rc=1
	expect_exit 0 "--help" lab_exec cgw "$(wlb_bin wlbctl)" --help || rc=1
	expect_exit 0 "--version" lab_exec cgw "$(wlb_bin wlbctl)" --version || rc=1
	[ $rc = 0 ] && mission_note "errors: no daemon (3), unknown command and bad usage (2), flow gone (1)"
	return $rc
}

check_socket_file() {
	local rc=0 s1 s2 mode out
	s1=$(wlb_ctl_socket replica1)
	s2=$(wlb_ctl_socket replica2)
	mode=$(stat -c '%F %a %U' "$s1")
	[ "$mode" = "socket 600 root" ] || { wlb_fail "control socket: $mode"; rc=1; }
	# a daemon killed leaves its socket; the next start replaces it
	wlb_kill replica2
	[ -S "$s2" ] || { wlb_fail "no socket file left by the killed daemon"; rc=1; }
	expect_exit 3 "a dead daemon's socket" wlb_ctl replica2 status || rc=1
	grep -q "Connection refused (is wlb-replicad running?)" "$LAB_DIR/err" ||
		{ wlb_fail "dead daemon: $(cat "$LAB_DIR/err")"; rc=1; }
	wlb_stop replica2 # its rules only: as after a crash, before a restart
	wlb_start replica2 || rc=1
	[ "$(wlb_ctl replica2 --json status | jq 'j["pid"]')" = "${_WLB_PID[replica2]}" ] ||
		{ wlb_fail "the restarted daemon does not answer on the replaced socket"; rc=1; }
	grep -q "replacing the one a dead daemon left" "$LAB_DIR/log/replica2-replicad.log" ||
		{ wlb_fail "the replacement was not logged"; rc=1; }
	# a second daemon on a live socket stops before binding its queue
	out=$(lab_exec replica2 timeout 10 "$(wlb_bin wlb-replicad)" -c "$(wlb_conf replica2)" \
		-q 9 -s "$LAB_DIR/state/second.state" --control "$s1" 2>&1)
	[ $? = 1 ] && grep -q "a running daemon answers on it" <<<"$out" ||
		{ wlb_fail "a second daemon on replica1's socket: $out"; rc=1; }
	[ "$(wlb_ctl replica1 --json status | jq 'j["pid"]')" = "${_WLB_PID[replica1]}" ] ||
		{ wlb_fail "replica1 lost its socket to a second daemon"; rc=1; }
	# removed at exit
	wlb_stop replica2
	[ -e "$s2" ] && { wlb_fail "socket file left after a clean stop"; rc=1; }
	wlb_start replica2 || rc=1
	[ $rc = 0 ] && mission_note "socket: $mode; stale file replaced, live one kept, removed at stop"
	return $rc
}

# Idle clients fill every slot: the next one waits until they are dropped
# (5 s without progress), and packets flow meanwhile.
check_idle_clients() {
	local rc=0 pid t0 t1 ms st
	wlb_bg cgw python3 -c '
import socket, sys, time
socks = []
for _ in range(8):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
time.sleep(8)' "$(wlb_ctl_socket cgw)"
	pid=$!
	sleep 0.5
	t0=$(date +%s%N)
	wlb_ctl cgw status >"$LAB_DIR/out9" 2>&1 &
	st=$!
	sleep 0.5
	expect_served replica1 "while every control slot is held" || rc=1
	kill -0 "$st" 2>/dev/null || { wlb_fail "a ninth client was not kept waiting"; rc=1; }
	wait "$st" || { wlb_fail "a ninth client: $(cat "$LAB_DIR/out9")"; rc=1; }
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	[ "$ms" -ge 4000 ] && [ "$ms" -le 7000 ] &&
		[ "$(kv daemon <"$LAB_DIR/out9")" = wlb-clientgw ] ||
		{ wlb_fail "a ninth client answered after $ms ms: $(cat "$LAB_DIR/out9")"; rc=1; }
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ $rc = 0 ] && mission_note "8 idle clients: a download served meanwhile; the 9th client" \
		"answered after $ms ms, when the idle ones were dropped"
	return $rc
}

# Every option of wlbctl --help is in wlbctl(8), and the daemons' --control.
check_help_matches_man() {
	local rc=0 o man="$_LAB_SRCDIR/man/wlbctl.8"
	for o in $(lab_exec cgw "$(wlb_bin wlbctl)" --help | grep -oE '^ +-[a-zA-Z], --[a-z-]+' | sed 's/.*--//'); do
		grep -qF -- "\\-\\-${o//-/\\-}" "$man" || { wlb_fail "wlbctl --$o is not in wlbctl(8)"; rc=1; }
	done
	for o in clientgw redirector replicad; do
		"$(wlb_bin "wlb-$o")" --help | grep -q -- '--control=PATH' &&
			grep -qF -- '\-\-control' "$_LAB_SRCDIR/man/wlb-$o.8" ||
			{ wlb_fail "wlb-$o: --control missing from --help or its man page"; rc=1; }
	done
	return $rc
}

mission_run check_status check_counters check_flows check_replicas check_drain_enable \
	check_flush check_errors check_socket_file check_idle_clients check_help_matches_man

printf '\nwlbctl summary:\n%s' "$MISSION_REPORT"
[ "$MISSION_FAILS" = 0 ]
