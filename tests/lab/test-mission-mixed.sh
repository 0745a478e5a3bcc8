#!/bin/bash
# Two origins through the same client gateway at the same time: one served
# in configuration A, the other in C (issue 4, "Mixed").
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lab.sh"
. "$here/wlb.sh"
. "$here/mission.sh"

O2=203.0.113.11
export WLB_MODE=A LAB_BIG_MB=${LAB_BIG_MB:-20}
lab_up || exit 1
lab_exec origin ip addr add "$O2/28" dev eth0 || exit 1
WLB_SERVICES_EXTRA=$(printf '  , { origin = "%s"; ports = [ 80 ]; replicable = true;\n    configuration = "C"; replicas = [ "%s", "%s" ]; }' \
	"$O2" "$(lab_replica_ip 1)" "$(lab_replica_ip 2)")
export WLB_SERVICES_EXTRA
wlb_up || exit 1

check_mixed() {
	local rc=0 o want got p1 p2 flows c0 t0
	want=$(sha256sum "$LAB_DIR/www/big" | cut -d' ' -f1)
	c0=$(cgw_counter to_replica)
	t0=$(cgw_counter tunnel_encap)
	# both downloads at once, rate-limited so they overlap for a while
	for o in "$LAB_ORIGIN_IP" "$O2"; do
		wlb_bg client curl -sS --max-time 60 --limit-rate 8M -o "$LAB_DIR/dl-$o" "http://$o/big"
		eval "p_${o//./_}=\$!"
	done
	p1=p_${LAB_ORIGIN_IP//./_} p2=p_${O2//./_}
	sleep 1
	flows=$(wlb_dump cgw | grep '^flow .* replica ')
	mission_note "flows while both download:"
	while read -r l; do mission_note "  $l"; done <<<"$flows"
	grep -q "$LAB_ORIGIN_IP:80 replica config=A" <<<"$flows" ||
		{ wlb_fail "no configuration A flow to $LAB_ORIGIN_IP"; rc=1; }
	grep -q "$O2:80 replica config=C" <<<"$flows" ||
		{ wlb_fail "no configuration C flow to $O2"; rc=1; }
	wait "${!p1}" || { wlb_fail "download from $LAB_ORIGIN_IP failed"; rc=1; }
	wait "${!p2}" || { wlb_fail "download from $O2 failed"; rc=1; }
	for o in "$LAB_ORIGIN_IP" "$O2"; do
		got=$(sha256sum "$LAB_DIR/dl-$o" | cut -d' ' -f1)
		[ "$got" = "$want" ] || { wlb_fail "/big from $o corrupted"; rc=1; }
		[ "$(lab_curl client "http://$o/name")" = replica1 ] ||
			{ wlb_fail "$o not served by replica1"; rc=1; }
	done
	mission_note "both intact; to_replica +$(($(cgw_counter to_replica) - c0))," \
		"tunnel_encap +$(($(cgw_counter tunnel_encap) - t0))"
	if [ $(($(cgw_counter to_replica) - c0)) = 0 ] || [ $(($(cgw_counter tunnel_encap) - t0)) = 0 ]; then
		wlb_fail "one of the two configurations was not used"
		rc=1
	fi
	return $rc
}

mission_run check_mixed check_no_fragments
printf '\nmixed summary:\n%s' "$MISSION_REPORT"
[ "$MISSION_FAILS" = 0 ]
