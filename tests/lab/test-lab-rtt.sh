#!/bin/bash
# test-lab-rtt.sh: the lab itself works.  Brings the lab up with the default
# configuration, checks the namespaces' settings and that every host reaches what it
# should (HTTP /name), measures ping RTTs client -> origin and client -> each replica
# against the configured one-way delays (RTT = 2 * (client delay + link delay)), then
# changes replica1's delay at run time and measures again.  Finally tears the lab down
# and checks that nothing is left.
#
# Needs root, and $LAB_BUILDDIR/tests/lab/wlb-delay (exits 77 without it).
# Exit: 0 pass, 1 fail, 77 skip.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lab.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab.sh"

TOLERANCE=20 # percent
PINGS=10
NEW_REPLICA1_DELAY=30

if [ ! -x "$(lab_delay_bin)" ]; then
	echo "*** SKIP: test-lab-rtt needs the delay tool $(lab_delay_bin) (build it first) ***" >&2
	exit 77
fi

fails=0
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	fails=$((fails + 1))
}

# What the root namespace looks like before: the lab must add nothing to it.
root_links() { ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort; }
root_state() {
	root_links
	echo "--- routes"
	ip route show table all 2>/dev/null | sort
	echo "--- nft"
	nft list ruleset 2>/dev/null | md5sum
}
root_before=$(root_state)

lab_up
lab_topology

root_after=$(root_state)
if [ "$root_before" != "$root_after" ]; then
	fail "the root namespace changed while the lab came up:"
	diff <(printf '%s\n' "$root_before") <(printf '%s\n' "$root_after") >&2 || true
fi

# --- namespace settings
for h in $(lab_hosts); do
	v6=$(lab_exec "$h" sysctl -n net.ipv6.conf.all.disable_ipv6 net.ipv6.conf.default.disable_ipv6 | paste -sd' ')
	[ "$v6" = "1 1" ] || fail "$h: IPv6 not disabled ($v6)"
	rp=$(lab_exec "$h" sysctl -a 2>/dev/null | awk -F' = ' '/^net\.ipv4\.conf\..*\.rp_filter/ && $2 != 0 { print $1 }')
	[ -z "$rp" ] || fail "$h: rp_filter set on: $rp"
	lo=$(lab_exec "$h" ip -o link show lo)
	case "$lo" in *"<LOOPBACK,UP"*) ;; *) fail "$h: lo is not up" ;; esac
done
for h in cgw wan sgw; do
	[ "$(lab_exec "$h" sysctl -n net.ipv4.ip_forward)" = 1 ] || fail "$h: ip_forward is not 1"
done

# --- reachability: HTTP /name (through the delayed links)
check_name() { # FROM IP EXPECTED
	local got
	got=$(lab_curl "$1" "http://$2/name" 2>&1) || true
	if [ "$got" = "$3" ]; then
		lab_log "ok: $1 -> $2/name = $got"
	else
		fail "$1 -> http://$2/name: expected '$3', got '$got'"
	fi
}
check_name client "$LAB_ORIGIN_IP" origin
for ((k = 1; k <= LAB_REPLICAS; k++)); do
	check_name client "$(lab_replica_ip "$k")" "replica$k"
	check_name "replica$k" "$LAB_ORIGIN_IP" origin
	check_name origin "$(lab_replica_ip "$k")" "replica$k"
done
size=$(lab_curl client "http://$(lab_replica_ip 1)/10m" -o /dev/null -w '%{size_download}' 2>&1) || true
[ "$size" = 10485760 ] || fail "client -> replica1 /10m: got '$size' bytes, expected 10485760"
lab_log "ok: client fetched /10m from replica1 ($size bytes)"

# --- RTTs
rows=()
measure() { # LABEL IP EXPECTED_MS
	local rtt status=ok
	rtt=$(lab_ping_rtt client "$2" "$PINGS") || rtt=""
	lab_assert_within "$rtt" "$3" "$TOLERANCE" "RTT client->$1" || {
		status=FAIL
		fails=$((fails + 1))
	}
	rows+=("$(printf '%-26s %10s %12s   %s' "client->$1" "$3.0" "${rtt:-none}" "$status")")
}
c=$(lab_delay client)
measure origin "$LAB_ORIGIN_IP" $((2 * (c + $(lab_delay origin))))
for ((k = 1; k <= LAB_REPLICAS; k++)); do
	measure "replica$k" "$(lab_replica_ip "$k")" $((2 * (c + $(lab_delay "replica$k"))))
done

lab_set_delay replica1 "$NEW_REPLICA1_DELAY"
measure "replica1 (${NEW_REPLICA1_DELAY}ms)" "$(lab_replica_ip 1)" $((2 * (c + NEW_REPLICA1_DELAY)))
check_name client "$(lab_replica_ip 1)" replica1

printf '\n%-26s %10s %12s   %s\n' path expected_ms measured_ms status
printf '%s\n' "${rows[@]}"
printf '(ping -c %d, tolerance %d%%)\n\n' "$PINGS" "$TOLERANCE"

# --- teardown leaves nothing
lab_dir=$LAB_DIR
lab_down
left=$(ip netns list | awk -v p="$LAB_PREFIX" 'index($1, p) == 1 { print $1 }')
[ -z "$left" ] || fail "namespaces left after lab_down: $left"
[ ! -e "$lab_dir" ] || fail "lab dir left after lab_down: $lab_dir"

if [ "$fails" -gt 0 ]; then
	echo "test-lab-rtt: $fails check(s) failed" >&2
	exit 1
fi
echo "test-lab-rtt: all checks passed"
exit 0
