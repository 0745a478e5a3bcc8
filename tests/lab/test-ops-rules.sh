#!/bin/bash
# test-ops-rules.sh: "wlb-rules install" and "remove" leave the host as they found it.
#
# For each daemon (clientgw with clientgw.configuration A and C, redirector,
# replicad), in a fresh network namespace, with the lab's configuration for the
# daemon's host (wlb.sh writes it; a second origin, in configuration C, is added to
# the services so that every kind of rule appears), twice: on an empty ruleset, and
# then with foreign rules present (a table "ip foreign" with a set and a base chain,
# a table "inet wlb_clientgw" (our name, another family), and an iptables-nft rule
# in "ip mangle").  A snapshot is "nft list ruleset", "iptables-save" (without its
# time-stamped comments), "ip -o address" and "ip route show table all" of the
# namespace.  Checked:
#   - "wlb-rules --dry-run install D" prints the table (and, for replicad, the "ip
#     address add" of each origin) and changes nothing;
#   - "install D" loads table ip wlb_D (replicad: binds the origins on lo);
#   - a second "install D" gives exactly the same snapshot as the first;
#   - "--dry-run remove D" prints "delete table ip wlb_D" and changes nothing;
#   - "remove D" restores the snapshot taken before install, byte for byte;
#   - a second "remove D" succeeds and changes nothing;
#   - the foreign tables are the same after each install and remove.
# While the tables are loaded no packet flows in the namespace, so whatever sets or
# maps wlb-rules creates stay empty: remove must then leave nothing behind.
#
# Needs root, nft, iptables, ip.  Exit: 0 pass, 1 fail, 77 skip.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"
# shellcheck source=wlb.sh
. "$here/wlb.sh"

skip() {
	{
		echo "*****************************************************************"
		echo "*** SKIP: test-ops-rules: $* ***"
		echo "*****************************************************************"
	} >&2
	exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for t in ip nft iptables iptables-save; do
	command -v "$t" >/dev/null 2>&1 || skip "$t not found"
done
RULES=$(wlb_bin wlb-rules)
[ -x "$RULES" ] || skip "$RULES is not built"

fails=0
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	fails=$((fails + 1))
}
ok() {
	printf 'ok: %s\n' "$*" >&2
}

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

NS=""
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

foreign_snap() { # FILE: the foreign tables only
	{
		ip netns exec "$NS" nft list table ip foreign 2>&1
		ip netns exec "$NS" nft list table inet wlb_clientgw 2>&1
		ip netns exec "$NS" nft list table ip mangle 2>&1
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
	ip netns exec "$NS" iptables -w 5 -t mangle -A PREROUTING -s 192.0.2.99 -j ACCEPT
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
	ip netns exec "$NS" "$RULES" -c "$CONF" "$@"
}

# cycle DAEMON LABEL [FOREIGN_SNAPSHOT]
cycle() {
	local d=$1 what="$2" fs=${3:-} tag="$T/$2" out rc lo_addrs
	what="wlb-rules $d ($what)"
	snap "$tag.before"

	# dry-run install
	out=$(rules --dry-run install "$d" 2>&1)
	rc=$?
	snap "$tag.dry"
	if [ "$rc" != 0 ]; then
		fail "$what: --dry-run install exits $rc: $out"
	elif ! grep -q "^table ip wlb_$d {" <<<"$out" ||
		! grep -q 'queue num' <<<"$out"; then
		fail "$what: --dry-run install does not print table ip wlb_$d with queue rules: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
	elif [ "$d" = replicad ] && ! grep -qx "ip address add $LAB_ORIGIN_IP/32 dev lo" <<<"$out"; then
		fail "$what: --dry-run install does not print 'ip address add $LAB_ORIGIN_IP/32 dev lo'"
	else
		ok "$what: --dry-run install prints $(printf '%s\n' "$out" | grep -c 'queue num') queue rules"
	fi
	same "$tag.before" "$tag.dry" "$what: --dry-run install changed the namespace"

	# install, twice
	if ! rules install "$d" >"$tag.out1" 2>&1; then
		fail "$what: install failed: $(cat "$tag.out1")"
		return
	fi
	snap "$tag.inst1"
	ip netns exec "$NS" nft list table ip "wlb_$d" >/dev/null 2>&1 ||
		fail "$what: after install there is no table ip wlb_$d"
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
	if [ "$rc" != 0 ] || ! grep -q "delete table ip wlb_$d" <<<"$out"; then
		fail "$what: --dry-run remove (exit $rc) does not print 'delete table ip wlb_$d': $out"
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

run_daemon() { # HOST DAEMON MODE
	local h=$1 d=$2 mode=$3 fs
	lab_log "---- wlb-rules $d (lab host $h, configuration $mode)"
	NS="${LAB_PREFIX}rules-$d-$mode"
	ip netns add "$NS" || { fail "cannot create namespace $NS"; return; }
	OWN_NS+=("$NS")
	ip -n "$NS" link set lo up
	WLB_MODE=$mode _wlb_write_conf "$h"
	CONF=$(wlb_conf "$h")
	cycle "$d" "$d-$mode-empty"
	if add_foreign; then
		foreign_snap "$T/$d-$mode.foreign"
		cycle "$d" "$d-$mode-foreign" "$T/$d-$mode.foreign"
	else
		fail "cannot add the foreign tables in $NS"
	fi
	ip netns del "$NS"
}

run_daemon cgw clientgw A
run_daemon cgw clientgw C
run_daemon sgw redirector A
run_daemon replica1 replicad A

if [ "$fails" -gt 0 ]; then
	echo "test-ops-rules: $fails check(s) FAILED" >&2
	exit 1
fi
echo "test-ops-rules: all checks passed"
exit 0
