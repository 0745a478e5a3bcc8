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

# Placeholder: start the wlb daemons (clientgw in cgw, redirector in sgw, replicad in
# each replica) and show the client being served by a near replica.
demo_daemons() {
	:
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
