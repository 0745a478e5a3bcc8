#!/bin/bash
# End-to-end tests of one configuration (A by default; test-mission-b.sh and
# test-mission-c.sh run this with B and C): curl against real nginx servers
# through the three daemons, with the lab's link delays.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lab.sh"
. "$here/wlb.sh"
. "$here/mission.sh"

export WLB_MODE=${WLB_MODE:-A}
for t in tcpdump wrk; do
	command -v "$t" >/dev/null || { echo "*** SKIP: $t missing ***"; exit 77; }
done
lab_up || exit 1
wlb_up || exit 1

mission_run check_nearest_serves check_delays_decide check_availability \
	check_single_synack check_bulk_and_concurrency check_spoofed_synack check_packet_counts \
	check_port_reuse check_no_fragments check_fail_open check_reload_during_download check_forged_rst \
	check_forged_rst_idle
[ "$WLB_MODE" = C ] || mission_run check_restart_during_download
[ "$WLB_MODE" != A ] || mission_run check_reload_restart_only check_hup_during_start
[ "$WLB_MODE" != C ] || mission_run check_kernel_tunnel check_kernel_tunnel_restart check_kernel_tunnel_left_behind

# A router runs its policy from boot: a fresh lab, the policy before any traffic.
lab_log "---- a fresh lab whose cgw runs a stateful forwarding policy with masquerade"
lab_down
lab_up || exit 1
router_policy_on || exit 1
wlb_up || exit 1
mission_run check_nearest_serves check_single_synack check_bulk_and_concurrency \
	check_spoofed_synack

printf '\nconfiguration %s summary:\n%s' "$WLB_MODE" "$MISSION_REPORT"
[ "$MISSION_FAILS" = 0 ]
