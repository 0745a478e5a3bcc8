#!/bin/bash
# Replicas that serve only configuration A (replicad.configurations = [ "A" ]):
#   - wlb-rules gives them no fast-path maps, no rule for the client's packets
#     and no origin address on lo;
#   - the mission's A checks still pass;
#   - a replica-served download costs each replica its SYN copy and its
#     SYN-ACK in userspace, nothing more;
#   - a connection the client gateway puts in B is refused by the replicas
#     (drop_mode) and served by the origin;
#   - "wlb-rules remove" with an A-only file deletes the origin's address a
#     replica bound while it served B.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lab.sh"
. "$here/wlb.sh"
. "$here/mission.sh"

export WLB_MODE=A WLB_REPLICAD_EXTRA='  configurations = [ "A" ];'
for t in tcpdump wrk; do
	command -v "$t" >/dev/null || { echo "*** SKIP: $t missing ***"; exit 77; }
done
lab_up || exit 1
wlb_up || exit 1

check_a_only_rules() {
	local t rc=0
	t=$(lab_exec replica1 nft list table ip wlb_replicad) ||
		{ wlb_fail "no table ip wlb_replicad in replica1"; return 1; }
	grep -q 'map ' <<<"$t" && { wlb_fail "an A-only replica has fast-path maps"; rc=1; }
	grep -q "ip daddr $(lab_replica_ip 1)" <<<"$t" &&
		{ wlb_fail "an A-only replica queues the client's packets"; rc=1; }
	grep -q "ip saddr $LAB_ORIGIN_IP" <<<"$t" &&
		{ wlb_fail "an A-only replica queues what it sends as the origin"; rc=1; }
	grep -Eq 'ip protocol (4|ipencap) .*queue' <<<"$t" ||
		{ wlb_fail "no queue rule for the copies"; rc=1; }
	grep -Eq 'tcp sport 80 tcp flags .*queue' <<<"$t" ||
		{ wlb_fail "no queue rule for the SYN-ACKs"; rc=1; }
	lab_exec replica1 ip -o addr show dev lo | grep -q " $LAB_ORIGIN_IP/" &&
		{ wlb_fail "an A-only replica owns the origin's address"; rc=1; }
	[ "$(wlb_counter replica1 fastpath_on)" = 0 ] || { wlb_fail "fast path on in replica1"; rc=1; }
	mission_note "replica1's table: $(grep -c queue <<<"$t") queue rules, no map, origin not on lo"
	return $rc
}

queued() { # HOST: packets its daemon has been given so far, every hook
	wlb_dump "$1" | awk '/^packets_/ { n += $2 } END { print n + 0 }'
}

check_a_only_handshake_only() {
	local q0 q1 got want
	want=$(sha256sum "$LAB_DIR/www/10m" | cut -d' ' -f1)
	q0=$(queued replica1)
	[ "$(lab_curl client "http://$LAB_ORIGIN_IP/name")" = replica1 ] ||
		{ wlb_fail "not served by replica1"; return 1; }
	lab_exec client curl -sS --max-time 60 -o "$LAB_DIR/dl-10m" "http://$LAB_ORIGIN_IP/10m" ||
		{ wlb_fail "10 MiB download failed"; return 1; }
	got=$(sha256sum "$LAB_DIR/dl-10m" | cut -d' ' -f1)
	[ "$got" = "$want" ] || { wlb_fail "10 MiB download corrupted"; return 1; }
	q1=$(queued replica1)
	mission_note "two connections (/name, 10 MiB), replica1's daemon was given $((q1 - q0)) packets"
	# a copy and a SYN-ACK per connection, and room for one retransmission
	[ $((q1 - q0)) -ge 4 ] && [ $((q1 - q0)) -le 6 ] ||
		{ wlb_fail "replica1 queued $((q1 - q0)) packets, expected 4 (SYN copy, SYN-ACK, twice)"; return 1; }
}

check_b_refused() {
	local d0 d1
	wlb_down || return 1
	WLB_MODE=B wlb_up || return 1
	d0=$(wlb_counter replica1 drop_mode)
	expect_served origin "configuration B, replicas serving only A" || return 1
	d1=$(wlb_counter replica1 drop_mode)
	[ $((d1 - d0)) -ge 1 ] || { wlb_fail "replica1's drop_mode did not count the B copy"; return 1; }
	mission_note "replica1 refused the B copy (drop_mode +$((d1 - d0)))"
	grep -q "origin $LAB_ORIGIN_IP lists this replica in configuration B" \
		"$LAB_DIR/log/replica1-replicad.log" ||
		{ wlb_fail "wlb-replicad did not warn about the B origin it does not serve"; return 1; }
}

# A replica that served B owns the origin's address; "wlb-rules remove",
# even with the file that now serves only A, deletes it.
check_remove_after_narrowing() {
	local f rc=0
	wlb_down || return 1
	WLB_MODE=A WLB_REPLICAD_EXTRA='' wlb_up || return 1
	lab_exec replica1 ip -o addr show dev lo | grep -q " $LAB_ORIGIN_IP/" ||
		{ wlb_fail "replica1, serving B, does not own the origin's address"; return 1; }
	f=$(wlb_conf replica1)
	WLB_REPLICAD_EXTRA='  configurations = [ "A" ];' _wlb_write_conf replica1
	lab_exec replica1 "$(wlb_bin wlb-rules)" -c "$f" remove replicad ||
		{ wlb_fail "wlb-rules remove replicad failed"; rc=1; }
	lab_exec replica1 ip -o addr show dev lo | grep -q " $LAB_ORIGIN_IP/" &&
		{ wlb_fail "the origin's address outlived remove with an A-only file"; rc=1; }
	lab_exec replica1 nft list table ip wlb_replicad >/dev/null 2>&1 &&
		{ wlb_fail "table ip wlb_replicad outlived remove"; rc=1; }
	[ "$rc" = 0 ] && mission_note "remove with the A-only file: origin address and table gone"
	return $rc
}

mission_run check_a_only_rules check_nearest_serves check_delays_decide check_single_synack \
	check_bulk_and_concurrency check_port_reuse check_a_only_handshake_only check_b_refused \
	check_remove_after_narrowing

printf '\nA-only replicas summary:\n%s' "$MISSION_REPORT"
[ "$MISSION_FAILS" = 0 ]
