#!/bin/bash
# Several worker processes per daemon (workers = 2 in every section): the
# rules split the queues by the client's port bits, so each worker keeps a
# flow table of its own.  The end-to-end checks of configurations A and C
# (C: the tunnels are split by the ports inside them) must pass as with one
# worker, and both workers of the client gateway must have had connections.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lab.sh"
. "$here/wlb.sh"
. "$here/mission.sh"

export WLB_WORKERS=2
for t in tcpdump wrk; do
	command -v "$t" >/dev/null || { echo "*** SKIP: $t missing ***"; exit 77; }
done

# both of cgw's workers tagged SYNs, and no connection was seen by the
# wrong one (a SYN-ACK or packet for a flow it does not have)
check_workers_share() {
	local k tagged unknown rc=0 note=""
	for k in 0 1; do
		tagged=$(wlb_worker_counter cgw "$k" syn_tagged)
		unknown=$(wlb_worker_counter cgw "$k" synack_spoofed)
		note+="worker $k: syn_tagged=$tagged synack_spoofed=$unknown; "
		[ "${tagged:-0}" -gt 0 ] || { wlb_fail "cgw worker $k tagged no SYN"; rc=1; }
	done
	mission_note "configuration $WLB_MODE, 2 workers per daemon: $note"
	return $rc
}

for mode in A C; do
	export WLB_MODE=$mode
	lab_up || exit 1
	wlb_up || exit 1
	mission_run check_nearest_serves check_single_synack check_bulk_and_concurrency \
		check_port_reuse check_workers_share
	[ "$mode" = C ] || mission_run check_restart_during_download
	lab_down
done

printf '\nworkers summary:\n%s' "$MISSION_REPORT"
[ "$MISSION_FAILS" = 0 ]
