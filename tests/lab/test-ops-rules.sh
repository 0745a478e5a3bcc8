#!/bin/bash
# test-ops-rules.sh: "wlb-rules install" and "remove" leave the host as they found it,
# with either backend.
#
# For each backend (nft, iptables) and each daemon (clientgw with
# clientgw.configuration A and C, redirector, replicad), in a fresh network
# namespace, with the lab's configuration for the daemon's host (wlb.sh writes it; a
# second origin, in configuration C, is added to the services so that every kind of
# rule appears), twice: on an empty ruleset, and then with foreign rules present (a
# table "ip foreign" with a set and a base chain, a table "inet wlb_clientgw" (our
# name, another family), and iptables-nft rules in "mangle PREROUTING" and "raw
# PREROUTING", the built-in chains the iptables backend jumps from).  A snapshot is
# "nft list ruleset", "iptables-save" (without its time-stamped comments), "ip -o
# address" and "ip route show table all" of the namespace.  Checked:
#   - "wlb-rules --dry-run install D" prints the table (nft) or the iptables-restore
#     input (iptables) with queue rules (and, for replicad, the "ip address add" of
#     each origin) and changes nothing;
#   - "install D" loads table ip wlb_D (nft), or the chains WLB-D-* (iptables:
#     iptables-save shows exactly the rules --dry-run printed, every NFQUEUE rule
#     with --queue-bypass, and one jump to each chain, first in its built-in
#     chain; the client gateway warns about source NAT); replicad binds the
#     origins on lo;
#   - a second "install D" gives exactly the same snapshot as the first;
#   - "--dry-run remove D" prints "delete table ip wlb_D" (nft) or the "-X" of
#     each chain (iptables) and changes nothing;
#   - "remove D" restores the snapshot taken before install, byte for byte;
#   - a second "remove D" succeeds and changes nothing;
#   - the foreign tables and rules are the same after each install and remove.
# While the rules are loaded no packet flows in the namespace, so whatever sets or
# maps wlb-rules creates stay empty: remove must then leave nothing behind.
#
# Needs root, nft, iptables, iptables-restore, ip.  Exit: 0 pass, 1 fail, 77 skip.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=check.sh
. "$here/check.sh"
# shellcheck source=lab.sh
. "$here/lab.sh"
# shellcheck source=wlb.sh
. "$here/wlb.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for t in ip nft iptables iptables-save iptables-restore; do
	command -v "$t" >/dev/null 2>&1 || skip "$t not found"
done
RULES=$(wlb_bin wlb-rules)
[ -x "$RULES" ] || skip "$RULES is not built"


T=$(mktemp -d "${TMPDIR:-/tmp}/wlbops-rules.XXXXXX") || exit 1
LAB_DIR=$T
mkdir -p "$T/state"
OWN_NS=()
# shellcheck disable=SC2317 # called by the traps
cleanup() {
	local ns p
	for ns in "${OWN_NS[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	case "$T" in */wlbops-rules.??????) rm -rf "$T" ;; esac
}
trap 'rc=$?; cleanup; exit $rc' EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

# A second origin in configuration C: per-replica and per-origin rules appear.
export WLB_SERVICES_EXTRA=',  { origin = "203.0.113.20"; ports = [ 80, 443 ]; replicable = true;
    configuration = "C"; replicas = [ "198.51.100.18" ]; }'

NS="" BACKEND=nft
snap() { # FILE: the namespace's ruleset, addresses and routes
	{
		echo "### nft list ruleset"
		ip netns exec "$NS" nft list ruleset 2>&1
		echo "### iptables-save"
		ip netns exec "$NS" iptables-save 2>&1 | grep -v '^#'
		echo "### ip -o address"
		ip -n "$NS" -o address 2>&1
		echo "### ip route show table all"
		ip -n "$NS" route show table all 2>&1
	} >"$1"
}

foreign_snap() { # FILE: the foreign tables and rules only
	{
		ip netns exec "$NS" nft list table ip foreign 2>&1
		ip netns exec "$NS" nft list table inet wlb_clientgw 2>&1
		if [ "$BACKEND" = nft ]; then
			ip netns exec "$NS" nft list table ip mangle 2>&1
			ip netns exec "$NS" nft list table ip raw 2>&1
		else
			# the daemon's chains share these tables: all but them
			ip netns exec "$NS" iptables-save 2>&1 | grep -v '^#' | grep -v -- 'WLB-'
		fi
	} >"$1"
}

add_foreign() {
	ip netns exec "$NS" nft -f - <<'EOF' || return 1
table ip foreign {
	set s {
		type ipv4_addr
		elements = { 192.0.2.77, 198.51.100.77 }
	}
	chain c {
		type filter hook prerouting priority 0; policy accept;
		ip saddr @s counter accept
	}
}
table inet wlb_clientgw {
	chain c {
		type filter hook output priority 0; policy accept;
	}
}
EOF
	ip netns exec "$NS" iptables -w 5 -t mangle -A PREROUTING -s 192.0.2.99 -j ACCEPT &&
		ip netns exec "$NS" iptables -w 5 -t raw -A PREROUTING -s 192.0.2.98 -j ACCEPT
}

same() { # A B WHAT: prints the diff and fails when A and B differ
	if cmp -s "$1" "$2"; then
		return 0
	fi
	fail "$3"
	diff -u "$1" "$2" | head -n 40 | sed 's/^/    /' >&2
	return 1
}

rules() { # ARGS...: wlb-rules in the namespace, with the host's configuration
	ip netns exec "$NS" "$RULES" -c "$CONF" --backend="$BACKEND" "$@"
}

# ipt_loaded D DRYRUN_OUTPUT: the iptables backend's chains hold what --dry-run
# printed (iptables-save names protocol 4 "ipencap"), every queue rule bypasses,
# and each chain has one jump, first in its built-in chain.
ipt_loaded() {
	local d=$1 dry=$2 what=$3 table="" line b c want got n_q n_b first
	local save
	save=$(ip netns exec "$NS" iptables-save 2>&1 | grep -v '^#')
	while IFS= read -r line; do
		case "$line" in
		\**) table=${line#\*} ;;
		":WLB-"*)
			c=${line#:}
			c=${c%% *}
			want=$(grep -- "^-A $c " <<<"$dry" | sed 's/ -p 4 / -p ipencap /')
			got=$(grep -- "^-A $c " <<<"$save")
			[ "$want" = "$got" ] || {
				fail "$what: chain $c in iptables-save differs from --dry-run"
				diff -u <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/    /' >&2
			}
			;;
		"-I "*" 1 -j WLB-"*)
			read -r _ b _ _ c <<<"$line"
			got=$(ip netns exec "$NS" iptables -w 5 -t "$table" -S "$b" | grep -c -- "^-A $b -j $c\$")
			first=$(ip netns exec "$NS" iptables -w 5 -t "$table" -S "$b" | grep -m1 -- '^-A ')
			[ "$got" = 1 ] || fail "$what: $got jumps to $c in $table $b, expected 1"
			[ "$first" = "-A $b -j $c" ] || fail "$what: the first rule of $table $b is '$first', not the jump to $c"
			;;
		esac
	done <<<"$dry"
	n_q=$(grep -c -- '-j NFQUEUE ' <<<"$save")
	n_b=$(grep -c -- '-j NFQUEUE --queue-num [0-9]* --queue-bypass$' <<<"$save")
	if [ "$n_q" -gt 0 ] && [ "$n_q" = "$n_b" ]; then
		ok "$what: iptables-save shows $n_q NFQUEUE rules in WLB-${d^^}-*, all with --queue-bypass"
	else
		fail "$what: iptables-save shows $n_q NFQUEUE rules, $n_b with --queue-bypass"
	fi
}

# cycle DAEMON LABEL [FOREIGN_SNAPSHOT]
cycle() {
	local d=$1 what="$2" fs=${3:-} tag="$T/$2" out rc lo_addrs head queue dry
	what="wlb-rules $d ($what)"
	snap "$tag.before"

	# dry-run install
	out=$(rules --dry-run install "$d" 2>&1)
	rc=$?
	snap "$tag.dry"
	if [ "$BACKEND" = nft ]; then
		head="table ip wlb_$d {" queue='queue num [0-9]* bypass'
	else
		head=":WLB-${d^^}-" queue='-j NFQUEUE --queue-num [0-9]* --queue-bypass'
	fi
	if [ "$rc" != 0 ]; then
		fail "$what: --dry-run install exits $rc: $out"
	elif ! grep -q -- "^$head" <<<"$out" || ! grep -q -- "$queue" <<<"$out"; then
		fail "$what: --dry-run install does not print '$head' with queue rules: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
	elif [ "$d" = replicad ] && ! grep -qx "ip address add $LAB_ORIGIN_IP/32 dev lo" <<<"$out"; then
		fail "$what: --dry-run install does not print 'ip address add $LAB_ORIGIN_IP/32 dev lo'"
	else
		ok "$what: --dry-run install prints $(printf '%s\n' "$out" | grep -c -- "$queue") queue rules"
	fi
	dry=$out
	# A's server packets (from the service address) are accepted before
	# the map lookup that only B's and C's, sent as the origin, can hit
	if [ "$BACKEND" = nft ] && [ "$d" = replicad ]; then
		if awk '/ip saddr [0-9.]+ accept$/ { a = NR } /@fp_src/ { exit !(a && a < NR) }' <<<"$out"; then
			ok "$what: the service address's packets pass before the fp_src lookup"
		else
			fail "$what: no 'ip saddr SERVICE accept' before the fp_src rule"
		fi
	fi
	same "$tag.before" "$tag.dry" "$what: --dry-run install changed the namespace"

	# install, twice
	if ! rules install "$d" >"$tag.out1" 2>&1; then
		fail "$what: install failed: $(cat "$tag.out1")"
		return
	fi
	snap "$tag.inst1"
	if [ "$BACKEND" = nft ]; then
		ip netns exec "$NS" nft list table ip "wlb_$d" >/dev/null 2>&1 ||
			fail "$what: after install there is no table ip wlb_$d"
	else
		ipt_loaded "$d" "$dry" "$what"
		ip netns exec "$NS" nft list table ip "wlb_$d" >/dev/null 2>&1 &&
			fail "$what: the iptables backend loaded table ip wlb_$d"
		if [ "$d" = clientgw ]; then
			grep -q 'cannot work behind source NAT' "$tag.out1" ||
				fail "$what: install did not warn about source NAT: $(cat "$tag.out1")"
		fi
	fi
	if [ "$d" = replicad ]; then
		lo_addrs=$(ip -n "$NS" -o address show dev lo)
		grep -q " $LAB_ORIGIN_IP/32 " <<<"$lo_addrs" ||
			fail "$what: after install $LAB_ORIGIN_IP/32 is not on lo"
		grep -q " 203.0.113.20/32 " <<<"$lo_addrs" ||
			fail "$what: after install 203.0.113.20/32 is not on lo"
	fi
	[ -n "$fs" ] && { foreign_snap "$tag.f1"; same "$fs" "$tag.f1" "$what: install changed the foreign tables"; }
	if ! rules install "$d" >"$tag.out2" 2>&1; then
		fail "$what: second install failed: $(cat "$tag.out2")"
	fi
	snap "$tag.inst2"
	same "$tag.inst1" "$tag.inst2" "$what: a second install gives another ruleset (not idempotent)" &&
		ok "$what: install is idempotent ($(grep -c 'queue num' "$tag.inst1") queue rules listed)"

	# dry-run remove
	out=$(rules --dry-run remove "$d" 2>&1)
	rc=$?
	snap "$tag.dryrm"
	if [ "$BACKEND" = nft ]; then
		head="delete table ip wlb_$d"
	else
		head="-X WLB-${d^^}-"
	fi
	if [ "$rc" != 0 ] || ! grep -q -- "^$head" <<<"$out"; then
		fail "$what: --dry-run remove (exit $rc) does not print '$head': $out"
	fi
	same "$tag.inst2" "$tag.dryrm" "$what: --dry-run remove changed the namespace"

	# remove, twice
	rules remove "$d" >"$tag.out3" 2>&1 || fail "$what: remove failed: $(cat "$tag.out3")"
	snap "$tag.after"
	same "$tag.before" "$tag.after" "$what: the namespace after remove differs from before install" &&
		ok "$what: remove restores the ruleset, addresses and routes of before install"
	[ -n "$fs" ] && { foreign_snap "$tag.f2"; same "$fs" "$tag.f2" "$what: remove changed the foreign tables"; }
	rules remove "$d" >"$tag.out4" 2>&1 || fail "$what: remove of an absent table failed: $(cat "$tag.out4")"
	snap "$tag.after2"
	same "$tag.before" "$tag.after2" "$what: a second remove changed the namespace"
}

run_daemon() { # HOST DAEMON MODE (BACKEND is set)
	local h=$1 d=$2 mode=$3 fs
	lab_log "---- wlb-rules --backend=$BACKEND $d (lab host $h, configuration $mode)"
	NS="${LAB_PREFIX}rules-$BACKEND-$d-$mode"
	ip netns add "$NS" || { fail "cannot create namespace $NS"; return; }
	OWN_NS+=("$NS")
	ip -n "$NS" link set lo up
	WLB_MODE=$mode _wlb_write_conf "$h"
	CONF=$(wlb_conf "$h")
	cycle "$d" "$BACKEND-$d-$mode-empty"
	if add_foreign; then
		foreign_snap "$T/$BACKEND-$d-$mode.foreign"
		cycle "$d" "$BACKEND-$d-$mode-foreign" "$T/$BACKEND-$d-$mode.foreign"
	else
		fail "cannot add the foreign tables in $NS"
	fi
	ip netns del "$NS"
}

for BACKEND in nft iptables; do
	run_daemon cgw clientgw A
	run_daemon cgw clientgw C
	run_daemon sgw redirector A
	run_daemon replica1 replicad A
done

if [ "$fails" -gt 0 ]; then
	echo "test-ops-rules: $fails check(s) FAILED" >&2
	exit 1
fi
echo "test-ops-rules: all checks passed"
exit 0
