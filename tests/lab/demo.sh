#!/bin/bash
# demo.sh: bring the wlb lab up, show it, measure it, tear it down.
#
#   sudo LAB_BUILDDIR=/path/to/build tests/lab/demo.sh
#
# Environment: everything lab.sh reads (LAB_REPLICAS, LAB_DELAY_*, LAB_BUILDDIR, ...),
# and DEMO_PAUSE=1 to wait for Enter before tearing down.
#
# The demo is a list of sections (DEMO_SECTIONS), each a function demo_<name>.  To
# add one (e.g. the wlb daemons), write a function demo_<name> and insert <name> in
# DEMO_SECTIONS where it belongs; register its cleanup with lab_at_down.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lab.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab.sh"
# shellcheck source=wlb.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/wlb.sh"

DEMO_SECTIONS=(topology baseline daemons)

section() {
	printf '\n==== %s ====\n\n' "$*"
}

demo_topology() {
	section "topology"
	lab_topology
}

# Client's view before any load balancing: RTT and /name of origin and replicas.
demo_baseline() {
	local k ip name rtt
	section "baseline: client -> servers (ping -c 10 RTT, HTTP /name)"
	printf '%-10s %-16s %12s %12s   %s\n' server address expected_ms measured_ms /name
	for name in origin $(lab_servers | grep replica); do
		if [ "$name" = origin ]; then
			ip=$LAB_ORIGIN_IP
		else
			k=${name#replica}
			ip=$(lab_replica_ip "$k")
		fi
		rtt=$(lab_ping_rtt client "$ip" 10) || rtt=none
		printf '%-10s %-16s %12s %12s   %s\n' "$name" "$ip" \
			"$((2 * ($(lab_delay client) + $(lab_delay "$name"))))" "$rtt" \
			"$(lab_curl client "http://$ip/name" 2>&1 || echo '(error)')"
	done
}

race() { # DESC: fetch the origin's /name three times, print who answered
	local i out
	for ((i = 1; i <= 3; i++)); do
		out=$(lab_curl client "http://$LAB_ORIGIN_IP/name" \
			-w ' %{remote_ip} %{time_connect}' 2>&1 | tr '\n' ' ') || out="(error) $out"
		read -r who ip t <<<"$out"
		printf '%-34s %-9s %-14s %9.1f\n' "$1" "$who" "$ip" "$(awk -v t="$t" 'BEGIN{print t*1000}')"
	done
}

# The race: the three daemons running, the client asking the origin's address.
demo_daemons() {
	section "wlb: clientgw in cgw, redirector in sgw, replicad in each replica"
	wlb_up
	printf '%-34s %-9s %-14s %9s\n' "delays (one-way)" "served by" "client's peer" "connect/ms"
	race "origin 80, replica1 5, replica2 40"
	lab_set_delay replica1 60 >/dev/null 2>&1
	lab_set_delay replica2 10 >/dev/null 2>&1
	race "origin 80, replica1 60, replica2 10"
	lab_set_delay origin 3 >/dev/null 2>&1
	race "origin 3, replica1 60, replica2 10"
	lab_set_delay origin 80 >/dev/null 2>&1
	lab_set_delay replica1 5 >/dev/null 2>&1
	lab_set_delay replica2 40 >/dev/null 2>&1
	wlb_stop sgw
	race "(no redirector) default delays"
	wlb_start sgw
	sleep 1 # the losers' late SYN-ACKs arrive and are reset
	section "client gateway: counters and flow table (wlb-clientgw state file)"
	wlb_dump cgw | grep -v '^nfq_\|^kernel_\|^emit\|^trunc\|^reload'
	section "replica1: wlb-replicad state"
	wlb_dump replica1 | grep -v '^nfq_\|^kernel_\|^emit\|^trunc\|^reload'
	wlb_down
}

if [ ! -x "$(lab_delay_bin)" ]; then
	echo "*** demo: $(lab_delay_bin) is not built: running WITHOUT link delays ***" >&2
	export LAB_DELAY_CLIENT=0 LAB_DELAY_ORIGIN=0
	for ((k = 1; k <= ${LAB_REPLICAS:-2}; k++)); do export "LAB_DELAY_REPLICA$k=0"; done
fi

lab_up
for s in "${DEMO_SECTIONS[@]}"; do
	"demo_$s"
done
if [ "${DEMO_PAUSE:-0}" = 1 ] && [ -t 0 ]; then
	section "lab is up; press Enter to tear it down"
	read -r _ || true
fi
section "teardown"
lab_down
echo "demo done"
