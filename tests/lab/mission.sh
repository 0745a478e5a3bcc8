# shellcheck shell=bash
#
# tests/lab/mission.sh -- the end-to-end checks of the mission, one function per
# point of the specification, shared by the per-configuration test scripts
# (test-mission-a.sh, ...).
# shellcheck disable=SC2015 # "[ a ] && [ b ] || fail" is meant: fail when either is false  Each check prints what it measured and returns
# non-zero on failure; mission_run runs a list and counts.

MISSION_FAILS=0
MISSION_REPORT=""

mission_note() {
	MISSION_REPORT+="$*"$'\n'
	printf '  %s\n' "$*" >&2
}

# served: what /name says, the client's view of the peer and the connect time.
served() {
	lab_curl client "http://$LAB_ORIGIN_IP/name" -w ' %{remote_ip} %{time_connect}\n'
}

expect_served() { # WHO DESC
	local out who ip
	out=$(served) || { wlb_fail "$2: curl failed: $out"; return 1; }
	read -r who ip _ <<<"$(tr '\n' ' ' <<<"$out")"
	[ "$ip" = "$LAB_ORIGIN_IP" ] || { wlb_fail "$2: client saw peer $ip, not the origin"; return 1; }
	[ "$who" = "$1" ] || { wlb_fail "$2: served by $who, expected $1"; return 1; }
	mission_note "$2: served by $who (connect $(tr '\n' ' ' <<<"$out" | awk '{print $3 * 1000}') ms, peer $ip)"
}

default_delays() {
	lab_set_delay origin 80 >/dev/null 2>&1
	lab_set_delay replica1 5 >/dev/null 2>&1
	lab_set_delay replica2 40 >/dev/null 2>&1
}

cgw_counter() {
	wlb_counter cgw "$1"
}

# 1. the nearest replica serves, and the client believes it talks to the origin
check_nearest_serves() {
	local pid peers
	expect_served replica1 "default delays" || return 1
	# a slow transfer, to look at the client's socket while it is open
	wlb_bg client curl -s --max-time 20 --limit-rate 200k -o /dev/null \
		"http://$LAB_ORIGIN_IP/10m"
	pid=$!
	sleep 0.7
	peers=$(lab_exec client ss -Htn state established | awk '{print $4}')
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	[ "$peers" = "$LAB_ORIGIN_IP:80" ] ||
		{ wlb_fail "client sockets' peers: '$peers', expected only $LAB_ORIGIN_IP:80"; return 1; }
	mission_note "ss in client during a replica-served transfer: peer $peers"
}

# 2. whoever is nearest wins; when the origin wins nothing is translated
check_delays_decide() {
	local won0 to0 from0 rc=0
	lab_set_delay replica1 50 && lab_set_delay replica2 5 || return 1
	expect_served replica2 "replica2 nearest" || rc=1
	lab_set_delay origin 2 && lab_set_delay replica2 50 || return 1
	sleep 1 # let earlier connections finish closing
	won0=$(cgw_counter synack_origin_won)
	to0=$(cgw_counter to_replica)
	from0=$(cgw_counter from_replica)
	expect_served origin "origin nearest" || rc=1
	sleep 0.3
	[ "$(cgw_counter synack_origin_won)" = $((won0 + 1)) ] ||
		{ wlb_fail "synack_origin_won did not count the origin's win"; rc=1; }
	[ "$(cgw_counter to_replica)" = "$to0" ] && [ "$(cgw_counter from_replica)" = "$from0" ] ||
		{ wlb_fail "packets of an origin-served connection were translated"; rc=1; }
	mission_note "origin won: to_replica/from_replica unchanged ($to0/$from0)"
	default_delays
	return $rc
}

hold_connections() { # N HOST_IP SECONDS: open N idle TCP connections from client
	wlb_bg client python3 -c '
import socket, sys, time
n, ip, t = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
socks = [socket.create_connection((ip, 80), timeout=5) for _ in range(n)]
time.sleep(t)' "$1" "$2" "$3"
}

replica_field() { # HOST FIELD
	wlb_dump "$1" | awk -v n="$2" '$1 == n { print $2 }'
}

# 3. busy, disabled, no replica daemon, no redirector
check_availability() {
	local pid rc=0 i
	export WLB_REPLICA1_MAX_EST=2
	wlb_reload replica1
	hold_connections 3 "$(lab_replica_ip 1)" 15
	pid=$!
	for ((i = 0; i < 40; i++)); do
		[ "$(replica_field replica1 busy)" = 1 ] && break
		sleep 0.1
	done
	[ "$(replica_field replica1 busy)" = 1 ] || { wlb_fail "replica1 never became busy"; rc=1; }
	expect_served replica2 "replica1 busy ($(replica_field replica1 established) established > 2)" || rc=1
	[ "$(replica_field replica1 drop_busy)" -ge 1 ] || { wlb_fail "drop_busy not counted"; rc=1; }
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	unset WLB_REPLICA1_MAX_EST
	wlb_reload replica1

	export WLB_REPLICA1_STATE=disabled
	wlb_reload replica1
	expect_served replica2 "replica1 disabled" || rc=1
	[ "$(replica_field replica1 drop_inactive)" -ge 1 ] || { wlb_fail "drop_inactive not counted"; rc=1; }
	unset WLB_REPLICA1_STATE
	wlb_reload replica1
	expect_served replica1 "replica1 enabled again" || rc=1
	# the loser's tunnelled RST (B, C) needs its replicad: let it arrive
	sleep 0.5

	wlb_stop replica1 && wlb_stop replica2
	expect_served origin "no replica daemon running" || rc=1
	wlb_start replica1 && wlb_start replica2
	wlb_stop sgw
	expect_served origin "wlb-redirector not running" || rc=1
	wlb_start sgw
	expect_served replica1 "all daemons back" || rc=1
	return $rc
}

# Sets CAPTURE_PID (not printed: a $(...) would background it in a subshell).
capture_start() { # HOST FILE FILTER
	rm -f "$2"
	wlb_bg "$1" tcpdump -i eth0 -nn -U --immediate-mode -w "$2" "$3" >/dev/null 2>&1
	CAPTURE_PID=$!
}

capture_count() { # FILE [FILTER]: packets in a capture
	tcpdump -nn -r "$1" ${2:+"$2"} 2>/dev/null | wc -l
}

# 4. exactly one SYN-ACK reaches the client; every loser is reset and keeps no
# half-open socket
check_single_synack() { # N
	local n=${1:-5} c r2 o pids rc=0 synacks late0 late srcs seen ports left p
	c="$LAB_DIR/cap-client.pcap" r2="$LAB_DIR/cap-r2.pcap" o="$LAB_DIR/cap-origin.pcap"
	capture_start client "$c" 'tcp[13] & 0x12 == 0x12'
	pids=$CAPTURE_PID
	# in B and C the loser replica's RST comes tunnelled: look inside too
	capture_start replica2 "$r2" '(tcp[13] & 0x04 != 0) or (ip[9] == 4 and ip[53] & 0x04 != 0)'
	pids+=" $CAPTURE_PID"
	capture_start origin "$o" 'tcp[13] & 0x04 != 0'
	pids+=" $CAPTURE_PID"
	sleep 1
	late0=$(cgw_counter synack_late_reset)
	ports=""
	for ((i = 0; i < n; i++)); do
		ports+=" $(lab_curl client "http://$LAB_ORIGIN_IP/name" -o /dev/null -w '%{local_port}')" || rc=1
	done
	sleep 1 # the losers answer after 80 and 160 ms; their RSTs follow at once
	# half-open sockets of these connections (others, older, are reported)
	left=$( (lab_exec replica2 ss -Htn state syn-recv; lab_exec origin ss -Htn state syn-recv) |
		awk '{print $4}')
	seen=0
	for p in $ports; do
		grep -q ":$p\$" <<<"$left" && seen=$((seen + 1))
	done
	# shellcheck disable=SC2086
	kill -INT $pids 2>/dev/null
	# shellcheck disable=SC2086
	wait $pids 2>/dev/null
	synacks=$(capture_count "$c")
	srcs=$(tcpdump -nn -r "$c" 2>/dev/null | awk '{print $3}' | sed 's/\.[0-9]*$//' | sort -u | paste -sd, -)
	late=$(($(cgw_counter synack_late_reset) - late0))
	mission_note "$n connections: client saw $synacks SYN-ACKs from {$srcs}; late SYN-ACKs reset: $late;" \
		"RSTs received: replica2 $(capture_count "$r2"), origin $(capture_count "$o"); syn-recv left: $seen"
	[ "$synacks" = "$n" ] && [ "$srcs" = "$LAB_ORIGIN_IP" ] ||
		{ wlb_fail "expected $n SYN-ACKs from the origin address only"; rc=1; }
	# a loser's retransmitted SYN-ACK of an earlier connection may add some
	[ "$late" -ge $((2 * n)) ] || { wlb_fail "expected $((2 * n)) late SYN-ACKs reset, got $late"; rc=1; }
	[ "$(capture_count "$r2")" -ge "$n" ] && [ "$(capture_count "$o")" -ge "$n" ] ||
		{ wlb_fail "a loser did not receive its RST"; rc=1; }
	[ "$seen" = 0 ] || { wlb_fail "$seen half-open sockets left on the losers: $left"; rc=1; }
	[ -z "$left" ] || mission_note "half-open sockets of earlier connections: $(tr '\n' ' ' <<<"$left")"
	return $rc
}

# 5. a large download intact, and 200 concurrent connections to the nearest
check_bulk_and_concurrency() {
	local f="$LAB_DIR/download" want got t0 t1 out n
	want=$(sha256sum "$LAB_DIR/www/big" | cut -d' ' -f1)
	t0=$(date +%s.%N)
	lab_exec client curl -sS --max-time 120 -o "$f" "http://$LAB_ORIGIN_IP/big" ||
		{ wlb_fail "download of /big failed"; return 1; }
	t1=$(date +%s.%N)
	got=$(sha256sum "$f" | cut -d' ' -f1)
	rm -f "$f"
	[ "$got" = "$want" ] || { wlb_fail "/big corrupted: $got != $want"; return 1; }
	mission_note "/big ($LAB_BIG_MB MiB) intact (sha256 ${got:0:16}...) in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}') s"
	out=$(lab_exec client bash -c "seq 200 | xargs -P 200 -I{} curl -s --max-time 30 http://$LAB_ORIGIN_IP/name")
	n=$(grep -c '^replica1$' <<<"$out")
	mission_note "200 concurrent connections: $n served by replica1, $(grep -vc '^replica1$' <<<"$out") otherwise"
	[ "$n" = 200 ] || mission_note "not by replica1: $(grep -v "^replica1$" <<<"$out" | sort | uniq -c | tr "\n" " ")"
	[ "$n" = 200 ] || { wlb_fail "only $n of 200 concurrent connections served by replica1"; return 1; }
	sleep 1 # the losers' SYN-ACKs (80 and 160 ms) are still on their way
	mission_note "clientgw counters: $(wlb_dump cgw | awk '/^(syn_tagged|synack_replica_won|synack_late_reset|synack_spoofed|to_replica|from_replica|flows_evicted|nfq_enobufs|kernel_queue_dropped|kernel_user_dropped) / {printf "%s=%s ", $1, $2}')"
}

# 6. daemons stopped (properly, or killed): traffic flows; a proper stop
# leaves no rule behind
check_fail_open() {
	local h left kept="" rc=0
	for h in $(wlb_hosts); do wlb_kill "$h"; done
	expect_served origin "all daemons killed (rules left, queues bypassed)" || rc=1
	for h in $(wlb_hosts); do wlb_stop "$h"; done
	for h in $(wlb_hosts); do
		wlb_start "$h" || rc=1
	done
	expect_served replica1 "daemons restarted" || rc=1
	sleep 0.5 # the losers' late SYN-ACKs still need the gateway to reset them
	wlb_down
	expect_served origin "all daemons stopped" || rc=1
	# the units' stop keeps a fast path that still carries connections
	# (here: those that ended while the daemons were dead, until their
	# elements time out): no queue rule is left, and a plain
	# "wlb-rules remove" takes the rest
	for h in $(wlb_hosts); do
		left=$(wlb_rules_left "$h")
		[ -z "$left" ] && continue
		if lab_exec "$h" nft list table ip "$left" | grep -q queue; then
			wlb_fail "queue rules left in $h after stop: $left"
			rc=1
		fi
		kept+="$h:$(lab_exec "$h" nft list table ip "$left" | grep -o ' expires ' | wc -l) "
		lab_exec "$h" "$(wlb_bin wlb-rules)" -c "$(wlb_conf "$h")" remove "$(_wlb_daemon_of "$h")"
		left=$(wlb_rules_left "$h")
		[ -z "$left" ] || { wlb_fail "rules left in $h after wlb-rules remove: $left"; rc=1; }
	done
	for h in $(wlb_hosts); do
		left=$(tun_filters "$h" | tr '\n' ' ')
		[ -z "$left" ] || { wlb_fail "tc filters left in $h after wlb-rules remove: $left"; rc=1; }
	done
	[ $rc = 0 ] && mission_note "stopped: no queue rule left in $(wlb_hosts | paste -sd' ' -);" \
		"fast path kept for established connections: ${kept:-none}; none left after wlb-rules remove"
	for h in $(wlb_hosts); do wlb_start "$h" || rc=1; done
	return $rc
}

# 8. a spoofed SYN-ACK (right ports, no or a wrong echo) racing ahead of the
# genuine ones never reaches the client
check_spoofed_synack() {
	local c="$LAB_DIR/cap-spoof.pcap" pid spid sp0 synacks srcs rc=0
	lab_set_delay replica1 20 || return 1
	capture_start client "$c" 'tcp[13] & 0x12 == 0x12'
	pid=$CAPTURE_PID
	wlb_bg wan python3 "$(dirname "${BASH_SOURCE[0]}")/spoof-synack.py" cgw0 \
		198.51.100.99 "$(lab_replica_ip 2)" 1 20 >"$LAB_DIR/spoof.out" 2>&1
	spid=$!
	sleep 1
	sp0=$(cgw_counter synack_spoofed)
	expect_served replica1 "with a spoofer on the path" || rc=1
	wait "$spid" || { wlb_fail "spoofer: $(cat "$LAB_DIR/spoof.out")"; rc=1; }
	sleep 0.5
	kill -INT "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	synacks=$(capture_count "$c")
	srcs=$(tcpdump -nn -r "$c" 2>/dev/null | awk '{print $3}' | sed 's/\.[0-9]*$//' | sort -u | paste -sd, -)
	mission_note "spoofer sent 2 SYN-ACKs first; client saw $synacks SYN-ACK(s) from {$srcs};" \
		"synack_spoofed +$(($(cgw_counter synack_spoofed) - sp0))"
	[ "$synacks" = 1 ] && [ "$srcs" = "$LAB_ORIGIN_IP" ] || { wlb_fail "a spoofed SYN-ACK reached the client"; rc=1; }
	[ $(($(cgw_counter synack_spoofed) - sp0)) = 2 ] || { wlb_fail "synack_spoofed did not count both"; rc=1; }
	default_delays
	return $rc
}

# 7. the client gateway is a real router: stateful forwarding policy and a
# masqueraded LAN
router_policy_on() {
	lab_exec cgw nft -f - <<-'EOF2'
	table inet router {
		chain forward {
			type filter hook forward priority filter; policy drop;
			ct state established,related accept
			ct state invalid drop
			iifname "lan0" ct state new accept
		}
		chain postrouting {
			type nat hook postrouting priority srcnat; policy accept;
			oifname "wan0" masquerade
		}
	}
	EOF2
}

# Thousands of short connections: the client reuses its ports at once, and
# every new connection on a reused port must be taken for new, not for the
# old one.
check_port_reuse() {
	local rate out failed range
	# 500 client ports: a few thousand connections reuse each of them (also
	# those the client closed first, in TIME_WAIT: tcp_tw_reuse)
	range=$(lab_exec client sysctl -n net.ipv4.ip_local_port_range)
	lab_exec client sysctl -qw net.ipv4.ip_local_port_range="40000 40499" net.ipv4.tcp_tw_reuse=1
	rate=$(lab_exec client timeout 20 wrk -t2 -c32 -d3s -H 'Connection: close' \
		"http://$LAB_ORIGIN_IP/name" 2>/dev/null | awk '/^Requests\/sec/ { printf "%.0f", $2 }')
	out=$(lab_exec client python3 - "$LAB_ORIGIN_IP" 200 <<-'PY'
	import socket, sys
	failed = 0
	for _ in range(int(sys.argv[2])):
	    s = socket.socket()
	    s.settimeout(2)
	    try:
	        s.connect((sys.argv[1], 80))
	    except OSError:
	        failed += 1
	    s.close()
	print(failed)
	PY
	)
	failed=${out:-200}
	lab_exec client sysctl -qw net.ipv4.ip_local_port_range="$range" net.ipv4.tcp_tw_reuse=2
	mission_note "wrk: ${rate:-?} short connections/s for 3 s over 500 client ports, then" \
		"200 connects: $failed failed"
	[ "$failed" = 0 ] || { wlb_fail "$failed of 200 connections failed after port reuse"; return 1; }
}

# No packet of a tunnelled connection may need fragmenting: the MSS is
# clamped to the tunnel (the lab's links have a 1500-byte MTU).
check_no_fragments() {
	local h mtu frag rc=0
	for h in client cgw wan sgw replica1 replica2; do
		# shellcheck disable=SC2016 # an awk program
		frag=$(lab_exec "$h" awk '/^Ip:/ { if (!n++) { for (i = 1; i <= NF; i++) k[i] = $i } else {
			for (i = 1; i <= NF; i++) if (k[i] ~ /^Frag(Creates|Fails)$|^ReasmReqds$/) s += $i; print s } }' /proc/net/snmp)
		[ "$frag" = 0 ] || { wlb_fail "$h fragmented or reassembled $frag times"; rc=1; }
	done
	mtu=$(lab_exec cgw cat /sys/class/net/wan0/mtu)
	mission_note "no fragments created, failed or reassembled on any host (link MTU $mtu)"
	return $rc
}

# What each daemon handles for one 10 MiB download, per hook (direction).
check_packet_counts() {
	local h after out=""
	declare -A b
	for h in cgw replica1; do
		b[$h]=$(wlb_dump "$h" | awk '/^packets_/ { printf "%s=%s ", $1, $2 }')
	done
	lab_exec client curl -sS --max-time 60 -o /dev/null "http://$LAB_ORIGIN_IP/10m" ||
		{ wlb_fail "10m download failed"; return 1; }
	sleep 1
	for h in cgw replica1; do
		after=$(wlb_dump "$h" | awk '/^packets_/ { printf "%s=%s ", $1, $2 }')
		out+="$h:$(awk -v b="${b[$h]}" -v a="$after" 'BEGIN {
			n = split(b, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); old[kv[1]] = kv[2] }
			n = split(a, y, " "); for (i = 1; i <= n; i++) { split(y[i], kv, "="); d = kv[2] - old[kv[1]]
				sub(/^packets_/, "", kv[1]); printf " %s=%d", kv[1], d } }') "
	done
	mission_note "configuration $WLB_MODE, one 10 MiB download, packets queued per hook: $out"
}

mission_run() { # CHECK...
	local c
	for c in "$@"; do
		lab_log "---- $c"
		if "$c"; then
			printf 'ok   %s\n' "$c"
		else
			printf 'FAIL %s\n' "$c"
			MISSION_FAILS=$((MISSION_FAILS + 1))
		fi
	done
}

# 11. the kernel fast path (A, B): a decided connection's packets stay in the
# kernel, and a restart of the client gateway's daemon (the unit's stop and
# start: ExecStopPost keeps the fast path that carries connections) in the
# middle of a 100 MiB download served by a replica does not break it
check_restart_during_download() {
	local f="$LAB_DIR/download-restart" want got pid elems before after rc=0
	want=$(sha256sum "$LAB_DIR/www/big" | cut -d' ' -f1)
	lab_exec client curl -s --max-time 60 --limit-rate 25M -o "$f" \
		"http://$LAB_ORIGIN_IP/big" &
	pid=$!
	sleep 1
	elems=$(lab_exec cgw nft list map ip wlb_clientgw fp_dst 2>/dev/null |
		grep -c ": $(lab_replica_ip 1)" || true)
	before=$(lab_exec cgw nft list chain ip wlb_clientgw post 2>/dev/null |
		awk '/fp_dst counter/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }')
	wlb_stop cgw
	lab_exec cgw nft list table ip wlb_clientgw >/dev/null 2>&1 ||
		{ wlb_fail "the fast path did not outlive the daemon's stop"; rc=1; }
	sleep 0.5
	wlb_start cgw || rc=1
	wait "$pid" || { wlb_fail "download across the restart failed (curl $?)"; rc=1; }
	got=$(sha256sum "$f" 2>/dev/null | cut -d' ' -f1)
	rm -f "$f"
	after=$(lab_exec cgw nft list chain ip wlb_clientgw post 2>/dev/null |
		awk '/fp_dst counter/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }')
	[ "$got" = "$want" ] || { wlb_fail "download across the restart corrupted"; rc=1; }
	[ "${elems:-0}" -ge 1 ] || { wlb_fail "no fast-path element to replica1 during the download"; rc=1; }
	local restored ended
	restored=$(cgw_counter fastpath_restored)
	# its end (FIN both ways) took its elements out of the kernel
	sleep 0.3
	ended=$(lab_exec cgw nft list table ip wlb_clientgw 2>/dev/null | grep -o ' expires ' | wc -l)
	[ "$ended" = 0 ] || { wlb_fail "$ended fast-path elements left after the download ended"; rc=1; }
	[ "${restored:-0}" -ge 1 ] || { wlb_fail "the restarted daemon took back no connection"; rc=1; }
	mission_note "restart of wlb-clientgw during a $LAB_BIG_MB MiB download from replica1 ($WLB_MODE):" \
		"intact=$([ "$got" = "$want" ] && echo yes || echo no), elements to replica1 before: $elems," \
		"kernel-rewritten client packets: ${before:-?} before the stop, ${after:-?} at the end," \
		"connections taken back: $restored, elements left after it ended: $ended"
	return $rc
}

# RSTs from a blind attacker (the right ports, a random sequence number)
# during a replica-served download: one in the server's name towards the
# client, through the client gateway, then one in the client's name towards
# replica1.  Each receiving TCP ignores its RST (RFC 5961), and wlb, once the
# next packet from the RST's supposed sender (or, after the linger, from its
# receiver) refutes it, carries the connection on and gives it back to the
# kernel (without that, the gateway dropped the connection after its linger,
# and the download broke; replica1 carried the rest of it in userspace).
# In B the server's packets pass the gateway unseen, so there the client's,
# after the lab's 2 s linger, refute the first RST.
forge_rst() { # SRC SPORT DST DPORT [OUTER_SRC OUTER_DST]
	lab_exec wan python3 "$(dirname "${BASH_SOURCE[0]}")/forge-rst.py" "$@" >/dev/null
}

# Each end's packets as they travel where the RST is forged: the server's
# from the replica in A, from the origin in B, tunnelled from the replica in
# C; the client's to the replica, tunnelled in C.
forge_server_rst() { # CLIENT_PORT: towards the client, through the gateway
	local r1
	r1=$(lab_replica_ip 1)
	case "$WLB_MODE" in
	A) forge_rst "$r1" 80 "$LAB_CLIENT_IP" "$1" ;;
	B) forge_rst "$LAB_ORIGIN_IP" 80 "$LAB_CLIENT_IP" "$1" ;;
	*) forge_rst "$LAB_ORIGIN_IP" 80 "$LAB_CLIENT_IP" "$1" "$r1" "$LAB_CLIENT_IP" ;;
	esac
}

forge_client_rst() { # CLIENT_PORT: towards replica1
	local r1
	r1=$(lab_replica_ip 1)
	case "$WLB_MODE" in
	A | B) forge_rst "$LAB_CLIENT_IP" "$1" "$r1" 80 ;;
	*) forge_rst "$LAB_CLIENT_IP" "$1" "$LAB_ORIGIN_IP" 80 "$LAB_CLIENT_IP" "$r1" ;;
	esac
}

check_forged_rst() {
	local f="$LAB_DIR/download-rst" want got pid port g0 p0 g p gi pi rc=0
	want=$(sha256sum "$LAB_DIR/www/big" | cut -d' ' -f1)
	g0=$(cgw_counter rst_refuted)
	p0=$(wlb_counter replica1 rst_refuted)
	lab_exec client curl -s --max-time 60 --limit-rate 15M -o "$f" \
		"http://$LAB_ORIGIN_IP/big" &
	pid=$!
	sleep 1
	port=$(lab_exec client ss -Htn state established dst "$LAB_ORIGIN_IP" |
		awk '{ sub(/.*:/, "", $3); print $3; exit }')
	if [ -z "$port" ]; then
		wlb_fail "no established download to forge a RST into"
		rc=1
	else
		gi=$(cgw_counter fastpath_installed)
		forge_server_rst "$port" || rc=1
		sleep 2.5
		gi=$(($(cgw_counter fastpath_installed) - gi))
		pi=$(wlb_counter replica1 fastpath_installed)
		forge_client_rst "$port" || rc=1
		sleep 1
		pi=$(($(wlb_counter replica1 fastpath_installed) - pi))
	fi
	wait "$pid" || { wlb_fail "download with forged RSTs failed (curl $?)"; rc=1; }
	got=$(sha256sum "$f" 2>/dev/null | cut -d' ' -f1)
	rm -f "$f"
	[ "$got" = "$want" ] || { wlb_fail "download with forged RSTs corrupted or cut"; rc=1; }
	g=$(($(cgw_counter rst_refuted) - g0))
	p=$(($(wlb_counter replica1 rst_refuted) - p0))
	[ "$g" -ge 1 ] || { wlb_fail "the client gateway did not see its RST refuted"; rc=1; }
	[ "$p" -ge 1 ] || { wlb_fail "replica1 did not see its RST refuted"; rc=1; }
	[ "${gi:-0}" -ge 1 ] || { wlb_fail "the client gateway did not give the connection back to the kernel"; rc=1; }
	[ "${pi:-0}" -ge 1 ] || { wlb_fail "replica1 did not give the connection back to the kernel"; rc=1; }
	mission_note "forged RSTs into a $LAB_BIG_MB MiB download from replica1 ($WLB_MODE):" \
		"intact=$([ "$got" = "$want" ] && echo yes || echo no), rst_refuted: cgw +$g, replica1 +$p;" \
		"handed back to the kernel after the RST: cgw +${gi:-0}, replica1 +${pi:-0}"
	return $rc
}

# The same RSTs into a kept-alive connection while it is idle: one request,
# the forged RSTs, silence for longer than the linger, a second request on
# the same connection.  Nothing refutes the RSTs before the second request,
# so wlb must hold the connection as a live one meanwhile (without that, the
# gateway forgot it after the linger and the second request went to the
# origin, which reset it; in B, replica1 forgot it too).
check_forged_rst_idle() {
	local out pfile="$LAB_DIR/keepalive-port" port i rc=0
	rm -f "$pfile"
	lab_exec client python3 - "$LAB_ORIGIN_IP" "$pfile" >"$LAB_DIR/keepalive.out" 2>&1 <<'PY' &
import http.client, os, sys, time
origin, pfile = sys.argv[1], sys.argv[2]
c = http.client.HTTPConnection(origin, 80, timeout=10)
served = []
c.request("GET", "/name")
r = c.getresponse()
r.read()
served.append("%d:%s" % (r.status, r.getheader("X-Lab-Host")))
with open(pfile + ".tmp", "w") as f:
    f.write(str(c.sock.getsockname()[1]))
os.rename(pfile + ".tmp", pfile)
time.sleep(4)  # the RSTs come now; silence for twice the lab's linger
c.request("GET", "/name")
r = c.getresponse()
r.read()
served.append("%d:%s" % (r.status, r.getheader("X-Lab-Host")))
print(" ".join(served))
PY
	local pid=$!
	for ((i = 0; i < 50; i++)); do
		[ -s "$pfile" ] && break
		sleep 0.05
	done
	port=$(cat "$pfile" 2>/dev/null)
	if [ -z "$port" ]; then
		wlb_fail "the kept-alive client did not get its first answer"
		rc=1
	else
		forge_server_rst "$port" || rc=1
		forge_client_rst "$port" || rc=1
	fi
	wait "$pid" || { wlb_fail "kept-alive client: $(tail -1 "$LAB_DIR/keepalive.out")"; rc=1; }
	out=$(tail -1 "$LAB_DIR/keepalive.out")
	[ "$out" = "200:replica1 200:replica1" ] ||
		{ wlb_fail "kept-alive connection after forged RSTs and 4 s of silence: '$out'"; rc=1; }
	mission_note "forged RSTs into an idle kept-alive connection ($WLB_MODE), 4 s of silence:" \
		"requests answered $out"
	return $rc
}

# A reload that changes what only a restart can change (the queue the
# daemon is bound to) is refused and named; the running daemon goes on.
check_reload_restart_only() {
	local fails0 fails q rc=0 log="$LAB_DIR/log/cgw-clientgw.log"
	fails0=$(cgw_counter reload_failures)
	WLB_Q_CLIENTGW=$((WLB_Q_CLIENTGW + 7)) _wlb_write_conf cgw
	kill -HUP "${_WLB_PID[cgw]}"
	sleep 0.3
	fails=$(($(cgw_counter reload_failures) - fails0))
	[ "$fails" = 1 ] || { wlb_fail "cgw counted $fails refused reloads, expected 1"; rc=1; }
	grep -q "reload refused.*clientgw.queue changed, which takes a restart" "$log" ||
		{ wlb_fail "no refusal naming clientgw.queue: $(grep -i reload "$log" | tail -n 1)"; rc=1; }
	q=$(wlb_ctl cgw status | awk '$1 == "queue" { print $2 }')
	[ "$q" = "$WLB_Q_CLIENTGW" ] || { wlb_fail "cgw reports queue $q after the refused reload"; rc=1; }
	expect_served replica1 "after a refused reload of a new queue" || rc=1
	wlb_reload cgw
	[ "$(($(cgw_counter reload_failures) - fails0))" = 1 ] ||
		{ wlb_fail "the reload of the running settings was refused"; rc=1; }
	[ $rc = 0 ] && mission_note "reload with a new clientgw.queue: $(grep -o 'reload refused.*' "$log" | tail -n 1)"
	return $rc
}

# A SIGHUP that reaches a starting daemon (a reload a script sent too soon)
# waits for it and is a reload, not the daemon's death.  The daemon's
# configuration is a FIFO: the test's open for writing returns once the
# daemon, in its main, opened the file, and the daemon waits there for the
# content while the signal arrives; the path then becomes a plain file again
# for the reload.
check_hup_during_start() {
	local rc=0 conf pid reloads cmd real="$LAB_DIR/cgw.conf.real"
	conf=$(wlb_conf cgw)
	wlb_stop cgw --keep-rules
	cp "$conf" "$real"
	rm -f "$conf"
	mkfifo "$conf"
	read -ra cmd <<<"$(_wlb_unit_cmd cgw clientgw ExecStart)" || return 1
	_wlb_exec_in cgw "${cmd[@]}" >>"$LAB_DIR/log/cgw-clientgw.log" 2>&1 &
	pid=$!
	_WLB_PID[cgw]=$pid
	exec 3>"$conf"
	kill -HUP "$pid"
	sleep 0.2
	mv -f "$real" "$conf"
	cat "$conf" >&3 2>/dev/null
	exec 3>&-
	if _wlb_wait_queue cgw "$WLB_Q_CLIENTGW" "$pid"; then
		sleep 0.3
		reloads=$(cgw_counter reloads)
		[ "${reloads:-0}" -ge 1 ] ||
			{ wlb_fail "the SIGHUP sent during the start was no reload (reloads=${reloads:-none})"; rc=1; }
	else
		wlb_fail "wlb-clientgw did not survive a SIGHUP during its start"
		unset "_WLB_PID[cgw]"
		rc=1
	fi
	wlb_stop cgw
	wlb_start cgw || rc=1
	expect_served replica1 "after the restart" || rc=1
	[ $rc = 0 ] && mission_note "a SIGHUP while wlb-clientgw read its configuration:" \
		"it came up, reloads=$reloads"
	return $rc
}

# 12. reloads (SIGHUP to every daemon) during a 100 MiB download served by
# replica1: one with the same settings, one with a broken file (refused,
# the running configuration kept, the error named with file and line),
# one that removes replica1 from the services: the download completes
# intact, and only new connections go elsewhere
check_reload_during_download() {
	local f="$LAB_DIR/download-reload" want got pid h d fails0 fails rc=0 log
	want=$(sha256sum "$LAB_DIR/www/big" | cut -d' ' -f1)
	fails0=$(cgw_counter reload_failures)
	lab_exec client curl -s --max-time 60 --limit-rate 20M -o "$f" \
		"http://$LAB_ORIGIN_IP/big" &
	pid=$!
	sleep 0.7
	for h in $(wlb_hosts); do wlb_reload "$h"; done
	sleep 0.5
	for h in $(wlb_hosts); do
		printf 'services = (\n  { origin = "%s"; ports = [ 80 ];\n  oops\n);\n' \
			"$LAB_ORIGIN_IP" >"$(wlb_conf "$h")"
		kill -HUP "${_WLB_PID[$h]}"
	done
	sleep 0.5
	WLB_REPLICAS_SKIP=1
	for h in $(wlb_hosts); do wlb_reload "$h"; done
	wait "$pid" || { wlb_fail "download across the reloads failed (curl $?)"; rc=1; }
	got=$(sha256sum "$f" 2>/dev/null | cut -d' ' -f1)
	rm -f "$f"
	[ "$got" = "$want" ] || { wlb_fail "download across the reloads corrupted"; rc=1; }
	fails=$(($(cgw_counter reload_failures) - fails0))
	[ "$fails" = 1 ] || { wlb_fail "cgw counted $fails refused reloads, expected 1"; rc=1; }
	log="$LAB_DIR/log/cgw-clientgw.log"
	grep -q "reload refused.*wlb-cgw.conf:[0-9]*" "$log" ||
		{ wlb_fail "the refused reload's message names no file:line: $(grep refused "$log" | tail -n 1)"; rc=1; }
	expect_served replica2 "replica1 removed from the services" || rc=1
	mission_note "download from replica1 across 3 reloads ($WLB_MODE: same, broken, replica1 removed):" \
		"intact=$([ "$got" = "$want" ] && echo yes || echo no), refused: $fails," \
		"message: $(grep -o 'reload refused.*' "$log" | tail -n 1)"
	unset WLB_REPLICAS_SKIP
	for h in $(wlb_hosts); do wlb_reload "$h"; done
	expect_served replica1 "replica1 back in the services" || rc=1
	return $rc
}

# The tc filters of wlb's C tunnel in HOST, one line per device and hook.
tun_filters() { # HOST
	local dev hook
	for dev in $(lab_exec "$1" ls /sys/class/net); do
		for hook in ingress egress; do
			lab_exec "$1" tc filter show dev "$dev" "$hook" 2>/dev/null |
				grep -q 'wlb_tun_' && echo "$dev $hook"
		done
	done
}

# 13. C in the kernel: after the hand-over, a 10 MiB download from replica1
# is carried by the tc program at both tunnel ends (the replica puts the
# server's packets into the tunnel, the gateway takes them out, and the
# client's ACKs the other way), intact; the daemons see its first packets
# and its end, which removes the entries; a stop takes the filters away.
check_kernel_tunnel() {
	local f="$LAB_DIR/download-c" want got h rc=0 filters
	declare -A b a
	want=$(sha256sum "$LAB_DIR/www/10m" | cut -d' ' -f1)
	for h in cgw replica1; do
		[ "$(wlb_counter "$h" tunnel_kernel_on)" = 1 ] ||
			{ wlb_fail "$h: the kernel tunnel is off: $(grep -h 'tunnels' "$LAB_DIR"/log/"$h"-*.log | tail -n 1)"; rc=1; }
		filters=$(tun_filters "$h" | wc -l)
		[ "$filters" -ge 2 ] || { wlb_fail "$h: $filters tc filters of wlb"; rc=1; }
		b[$h]=$(wlb_dump "$h" | awk '/^(tunnel_kernel_(encap|decap|added|deleted)|tunnel_(encap|decap|sent|received)) / { printf "%s=%s ", $1, $2 }')
	done
	lab_exec client curl -sS --max-time 60 -o "$f" "http://$LAB_ORIGIN_IP/10m" ||
		{ wlb_fail "10m download failed"; return 1; }
	got=$(sha256sum "$f" | cut -d' ' -f1)
	rm -f "$f"
	[ "$got" = "$want" ] || { wlb_fail "10m corrupted through the kernel tunnel"; rc=1; }
	sleep 2.5 # the linger after the FINs, then the entries are gone
	for h in cgw replica1; do
		a[$h]=$(wlb_dump "$h" | awk '/^(tunnel_kernel_(encap|decap|added|deleted)|tunnel_(encap|decap|sent|received)) / { printf "%s=%s ", $1, $2 }')
	done
	delta() { # HOST NAME
		local x y
		x=$(tr ' ' '\n' <<<"${b[$1]}" | sed -n "s/^$2=//p")
		y=$(tr ' ' '\n' <<<"${a[$1]}" | sed -n "s/^$2=//p")
		echo $((${y:-0} - ${x:-0}))
	}
	local gw_k gw_u r_k r_u gw_left r_left
	gw_k=$(delta cgw tunnel_kernel_decap)
	gw_u=$(delta cgw tunnel_decap)
	r_k=$(delta replica1 tunnel_kernel_encap)
	r_u=$(delta replica1 tunnel_sent)
	gw_left=$(($(delta cgw tunnel_kernel_added) - $(delta cgw tunnel_kernel_deleted)))
	r_left=$(($(delta replica1 tunnel_kernel_added) - $(delta replica1 tunnel_kernel_deleted)))
	[ "$gw_k" -ge 20 ] && [ "$r_k" -ge 20 ] ||
		{ wlb_fail "the kernel carried little: cgw decap $gw_k, replica1 encap $r_k"; rc=1; }
	[ "$gw_u" -le 40 ] && [ "$r_u" -le 40 ] ||
		{ wlb_fail "userspace carried much: cgw decap $gw_u, replica1 sent $r_u"; rc=1; }
	[ "$gw_left" = 0 ] && [ "$r_left" = 0 ] ||
		{ wlb_fail "entries left after the download ended: cgw $gw_left, replica1 $r_left"; rc=1; }
	mission_note "C in the kernel, one 10 MiB download: intact=$([ "$got" = "$want" ] && echo yes || echo no);" \
		"replica1 tunnelled $r_k (kernel, GSO buffers) / $r_u (userspace);" \
		"cgw decapsulated $gw_k / $gw_u; entries left: cgw $gw_left, replica1 $r_left;" \
		"tc filters: cgw $(tun_filters cgw | wc -l), replica1 $(tun_filters replica1 | wc -l)"
	for h in cgw replica1; do
		wlb_stop "$h"
		filters=$(tun_filters "$h" | tr '\n' ' ')
		[ -z "$filters" ] || { wlb_fail "$h: tc filters left after the stop: $filters"; rc=1; }
		wlb_start "$h" || rc=1
	done
	return $rc
}

# 14. C in the kernel across restarts: the daemons' stops (the units'
# ExecStopPost keeps the fast path) leave the tc program attached while it
# carries tunnels, and their starts take its maps over: a 100 MiB download
# from replica1 survives a restart of wlb-clientgw and then of
# wlb-replicad, each daemon records the connection again from the
# program's entries, and its end removes them.
check_kernel_tunnel_restart() {
	local f="$LAB_DIR/download-c-restart" want got pid h rc=0 kept restored left
	want=$(sha256sum "$LAB_DIR/www/big" | cut -d' ' -f1)
	lab_exec client curl -s --max-time 60 --limit-rate 25M -o "$f" "http://$LAB_ORIGIN_IP/big" &
	pid=$!
	sleep 1.5
	for h in cgw replica1; do
		wlb_stop "$h"
		kept=$(tun_filters "$h" | wc -l)
		[ "$kept" -ge 2 ] || { wlb_fail "$h: the stop took the tc program away ($kept filters)"; rc=1; }
		sleep 0.5
		wlb_start "$h" || rc=1
		sleep 0.5
	done
	wait "$pid" || { wlb_fail "download across the restarts failed (curl $?)"; rc=1; }
	got=$(sha256sum "$f" 2>/dev/null | cut -d' ' -f1)
	rm -f "$f"
	[ "$got" = "$want" ] || { wlb_fail "download across the restarts corrupted"; rc=1; }
	sleep 2.5 # linger after the FINs
	restored=""
	for h in cgw replica1; do
		restored+="$h:$(wlb_counter "$h" fastpath_restored) "
		left=$(wlb_counter "$h" tunnel_kernel_tunnels)
		[ "$(wlb_counter "$h" fastpath_restored)" -ge 1 ] ||
			{ wlb_fail "$h took no tunnelled connection back"; rc=1; }
		[ "${left:-1}" = 0 ] || { wlb_fail "$h: $left tunnels left after the download ended"; rc=1; }
	done
	mission_note "C: $LAB_BIG_MB MiB download from replica1 across restarts of wlb-clientgw and" \
		"wlb-replicad: intact=$([ "$got" = "$want" ] && echo yes || echo no); connections" \
		"taken back from the tc program's maps: $restored; tunnels left after it: 0"
	return $rc
}

# A program left behind carries tunnels no daemon follows once the next
# start runs without it: replica1's daemon is killed while the program
# carries a download, then started without configuration C, which takes the
# program away (the download dies with the tunnel, as it must).
check_kernel_tunnel_left_behind() {
	local pid rc=0 kept left
	lab_exec client curl -s --max-time 30 --limit-rate 5M -o /dev/null "http://$LAB_ORIGIN_IP/big" &
	pid=$!
	sleep 1.5
	wlb_kill replica1
	kept=$(tun_filters replica1 | wc -l)
	[ "$kept" -ge 2 ] || { wlb_fail "replica1: the kill took the tc program away ($kept filters)"; rc=1; }
	WLB_REPLICAD_EXTRA='  configurations = [ "A", "B" ];' _wlb_write_conf replica1
	wlb_start replica1 || rc=1
	left=$(tun_filters replica1 | tr '\n' ' ')
	[ -z "$left" ] || { wlb_fail "replica1 started without C kept the old tc program: $left"; rc=1; }
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	wlb_stop replica1
	_wlb_write_conf replica1
	wlb_start replica1 || rc=1
	[ $rc = 0 ] && mission_note "C: a start without C took away the tc program a killed" \
		"wlb-replicad left ($kept filters before, none after)"
	return $rc
}
