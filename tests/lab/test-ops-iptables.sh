#!/bin/bash
# test-ops-iptables.sh: the daemons work with the rules of "wlb-rules --backend=iptables".
#
# The lab in configuration A, each host's rules installed and removed by the units'
# own wlb-rules command lines (ExecStartPre, ExecStopPost) with --backend=iptables
# appended (WLB_RULES_ARGS, see wlb.sh) instead of the nftables default.  Checked:
#   - every host has its daemon's WLB-<DAEMON>-* chains, each called by one jump,
#     and no nftables table wlb_*;
#   - a client's curl to the origin is served by the nearest replica, the client
#     seeing the origin's address: the packets reached the daemons through the
#     iptables rules, the client gateway translated them;
#   - the client gateway and the replica run without the fast path (fastpath_on 0
#     in their state files), and a 10 MiB download, every packet of it translated
#     in userspace, arrives intact;
#   - after wlb_down (the units' stop), iptables-save in each host shows no WLB-
#     chain or jump, and is what it was before wlb_up (packet counters aside).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lab.sh"
. "$here/wlb.sh"
. "$here/mission.sh"

export WLB_MODE=A
export WLB_RULES_ARGS=--backend=iptables
command -v iptables-save >/dev/null || { echo "*** SKIP: iptables-save missing ***"; exit 77; }

ipt_save() { # HOST: iptables-save without its comments and counters
	lab_exec "$1" iptables-save | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]$//'
}

chains_of() { # HOST: the chains its daemon gets
	case "$1" in
	cgw) echo WLB-CLIENTGW-PRE WLB-CLIENTGW-POST WLB-CLIENTGW-OUT ;;
	sgw) echo WLB-REDIRECTOR-PRE ;;
	*) echo WLB-REPLICAD-PRE WLB-REPLICAD-OUT ;;
	esac
}

check_ipt_loaded() {
	local h c save rc=0 n
	for h in $(wlb_hosts); do
		save=$(ipt_save "$h")
		for c in $(chains_of "$h"); do
			grep -qx ":$c -" <<<"$save" || { wlb_fail "$h: no chain $c"; rc=1; }
			n=$(grep -c -- "^-A [A-Z]* -j $c\$" <<<"$save")
			[ "$n" = 1 ] || { wlb_fail "$h: $n jumps to $c"; rc=1; }
		done
		n=$(grep -c -- '^-A WLB-.* -j NFQUEUE --queue-num [0-9]* --queue-bypass$' <<<"$save")
		[ "$n" -ge 1 ] || { wlb_fail "$h: no NFQUEUE rule with --queue-bypass"; rc=1; }
		[ -z "$(wlb_rules_left "$h")" ] ||
			{ wlb_fail "$h: nftables tables $(wlb_rules_left "$h") loaded"; rc=1; }
		mission_note "$h: $(chains_of "$h" | wc -w) WLB- chains, $n NFQUEUE rules with --queue-bypass, no nftables table"
	done
	return $rc
}

check_ipt_served() {
	local to0 from0 rc=0
	to0=$(cgw_counter to_replica)
	from0=$(cgw_counter from_replica)
	expect_served replica1 "iptables backend, default delays" || rc=1
	sleep 0.3
	if [ "$(cgw_counter to_replica)" -le "$to0" ] || [ "$(cgw_counter from_replica)" -le "$from0" ]; then
		wlb_fail "the client gateway translated nothing"
		rc=1
	fi
	mission_note "client gateway: to_replica $to0 -> $(cgw_counter to_replica)," \
		"from_replica $from0 -> $(cgw_counter from_replica)"
	return $rc
}

check_ipt_no_fastpath() {
	local h fp f="$LAB_DIR/download-ipt" want got rc=0
	for h in cgw replica1; do
		fp=$(wlb_dump "$h" | awk '$1 == "fastpath_on" { print $2 }')
		[ "$fp" = 0 ] || { wlb_fail "$h: fastpath_on is '$fp', expected 0"; rc=1; }
		mission_note "$h: fastpath_on ${fp:-?}"
	done
	grep -q 'fast path unavailable' "$LAB_DIR/log/cgw-clientgw.log" ||
		{ wlb_fail "wlb-clientgw did not warn that the fast path is unavailable"; rc=1; }
	want=$(sha256sum "$LAB_DIR/www/10m" | cut -d' ' -f1)
	lab_exec client curl -sS --max-time 60 -o "$f" "http://$LAB_ORIGIN_IP/10m" ||
		{ wlb_fail "download of /10m failed"; return 1; }
	got=$(sha256sum "$f" | cut -d' ' -f1)
	rm -f "$f"
	[ "$got" = "$want" ] || { wlb_fail "/10m corrupted"; rc=1; }
	mission_note "/10m through the userspace translation: $([ "$got" = "$want" ] && echo intact || echo CORRUPTED)"
	return $rc
}

declare -A BEFORE=()
check_ipt_down() {
	local h rc=0 left
	wlb_down
	for h in $(wlb_hosts); do
		left=$(ipt_save "$h" | grep -- 'WLB-')
		[ -z "$left" ] || { wlb_fail "$h: left after stop: $(tr '\n' ' ' <<<"$left")"; rc=1; }
		if [ "$(ipt_save "$h")" != "${BEFORE[$h]}" ]; then
			wlb_fail "$h: iptables-save after stop differs from before start"
			diff -u <(printf '%s\n' "${BEFORE[$h]}") <(ipt_save "$h") | sed 's/^/    /' >&2
			rc=1
		fi
	done
	[ $rc = 0 ] && mission_note "stopped: no WLB- chain or jump left in $(wlb_hosts | paste -sd' ' -);" \
		"iptables-save as before start"
	return $rc
}

lab_up || exit 1
for h in $(wlb_hosts); do BEFORE[$h]=$(ipt_save "$h"); done
wlb_up || exit 1

mission_run check_ipt_loaded check_ipt_served check_ipt_no_fastpath check_ipt_down

printf '\niptables backend summary:\n%s' "$MISSION_REPORT"
[ "$MISSION_FAILS" = 0 ]
