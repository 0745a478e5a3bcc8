#!/bin/bash
# test-ops-units.sh: the systemd units, as make generates them from
# systemd/*.service.in and "make install" installs them.
#
#   1. "make install DESTDIR=TMP" in $LAB_BUILDDIR; each installed unit must be
#      the build's systemd/NAME.service and its .service.in with @sbindir@ and
#      @sysconfdir@ substituted (so what is checked is the real unit text).
#   2. "systemd-analyze verify": it checks that the Exec binaries exist, so it
#      runs on a copy of each installed unit in which only the installed
#      sbindir is prefixed with TMP (the diff is printed), with MANPATH
#      pointing at the installed man pages (it also checks Documentation=).
#      Any non-zero exit, or any output naming a wlb unit, fails.
#   3. "systemd-analyze security --offline=true": the overall exposure of each
#      installed unit is printed and must be at most EXPOSURE_MAX, 2.7 (every
#      unit scored 2.6 when this test was written, systemd 252 of Debian 12;
#      dropping PrivateDevices= or ProtectKernelTunables= makes 2.8,
#      RestrictNamespaces= 3.3, SystemCallFilter= 3.9).  Another systemd may
#      score differently: WLB_UNIT_EXPOSURE_MAX overrides the limit.
#   4. The settings operations rely on, in the [Service] section: Type=notify,
#      WatchdogSec (> 0), Restart=on-failure, ExecReload sending SIGHUP to
#      $MAINPID, CapabilityBoundingSet and AmbientCapabilities exactly
#      CAP_NET_ADMIN CAP_NET_RAW (and CAP_BPF but for the redirector),
#      NoNewPrivileges=yes, ProtectSystem=strict,
#      ProtectHome, PrivateTmp=yes, RestrictAddressFamilies exactly AF_NETLINK
#      AF_INET AF_UNIX; and ExecStart running the unit's daemon, with
#      ExecStartPre "wlb-rules ... install D" and ExecStopPost "... remove D".
#      Each missing or wrong setting is named.
#   5. A warning only (not a failure): the daemon's default state file (its
#      --help) should be under the unit's RuntimeDirectory=, since
#      ProtectSystem=strict makes every other path read-only.
#
# Needs make and systemd-analyze (systemd >= 250 for --offline).  No network,
# no namespace.  Exit: 0 pass, 1 fail, 77 skip.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=check.sh
. "$here/check.sh"
srcdir=$(cd "$here/../.." && pwd)
builddir=${LAB_BUILDDIR:-$srcdir}
EXPOSURE_MAX=${WLB_UNIT_EXPOSURE_MAX:-2.7}
UNITS="wlb-clientgw wlb-redirector wlb-replicad"

command -v systemd-analyze >/dev/null 2>&1 || skip "systemd-analyze not found (apt-get install systemd)"
command -v make >/dev/null 2>&1 || skip "make not found"
[ -f "$builddir/Makefile" ] || skip "$builddir is not a configured build directory"
if ! grep -q -- '--offline' <<<"$(systemd-analyze security --help 2>/dev/null)"; then
	skip "this systemd-analyze has no 'security --offline' (systemd >= 250 needed)"
fi


T=$(mktemp -d "${TMPDIR:-/tmp}/wlbops-units.XXXXXX") || exit 1
trap 'case "$T" in */wlbops-units.??????) rm -rf "$T" ;; esac' EXIT
D="$T/root"

# ------------------------------------------------------------------ 1. install

if ! make -s -C "$builddir" install DESTDIR="$D" >"$T/install.log" 2>&1; then
	cat "$T/install.log" >&2
	echo "FAIL: make install DESTDIR=$D failed in $builddir" >&2
	exit 1
fi

declare -A INST=()
for u in $UNITS; do
	f=$(find "$D" -type f -name "$u.service" | head -n 1)
	if [ -z "$f" ]; then
		fail "$u.service: not installed by make install (looked under $D)"
		continue
	fi
	INST[$u]=$f
	cmp -s "$f" "$builddir/systemd/$u.service" ||
		fail "$u.service: the installed unit differs from $builddir/systemd/$u.service"
done
[ "${#INST[@]}" = 3 ] || { echo "test-ops-units: units missing, stopping" >&2; exit 1; }

# sbindir and sysconfdir as make substituted them: from ExecStart=SBINDIR/wlb-X -c SYSCONFDIR/wlb/wlb.conf
f=${INST[wlb-clientgw]}
sbindir=$(sed -n 's|^ExecStart=\(/.*\)/wlb-clientgw .*|\1|p' "$f" | head -n 1)
sysconfdir=$(sed -n 's|^ExecStart=.* -c \(/.*\)/wlb/wlb\.conf.*|\1|p' "$f" | head -n 1)
if [ -z "$sbindir" ] || [ -z "$sysconfdir" ]; then
	echo "FAIL: cannot find sbindir and sysconfdir in $f's ExecStart" >&2
	exit 1
fi
unitdir=$(dirname "$f")
echo "installed under $D: units in ${unitdir#"$D"}, sbindir $sbindir, sysconfdir $sysconfdir"
for u in $UNITS; do
	sed -e "s|@sbindir@|$sbindir|g" -e "s|@sysconfdir@|$sysconfdir|g" \
		"$srcdir/systemd/$u.service.in" >"$T/$u.expected"
	cmp -s "$T/$u.expected" "${INST[$u]}" ||
		fail "$u.service is not systemd/$u.service.in with @sbindir@ and @sysconfdir@ substituted: $(diff "$T/$u.expected" "${INST[$u]}" | head -n 5 | tr '\n' ' ')"
	for p in wlb-rules "$u"; do
		[ -x "$D$sbindir/$p" ] || fail "make install did not install $sbindir/$p"
	done
done

# ------------------------------------------------------------------ 2. verify

mkdir -p "$T/verify"
for u in $UNITS; do
	sed "s|$sbindir/|$D$sbindir/|g" "${INST[$u]}" >"$T/verify/$u.service"
done
echo "systemd-analyze verify runs on these copies (only the sbindir is rewritten):"
for u in $UNITS; do
	diff "${INST[$u]}" "$T/verify/$u.service" | sed 's/^/    /'
done
manopt=()
mandir=$(find "$D" -type d -name man8 | head -n 1)
if command -v man >/dev/null 2>&1 && [ -n "$mandir" ]; then
	export MANPATH
	MANPATH=$(dirname "$mandir")
else
	echo "*** WARNING: man(1) or the installed man pages missing: verify runs with --man=no ***" >&2
	manopt=(--man=no)
fi
out=$(systemd-analyze verify "${manopt[@]}" "$T"/verify/*.service 2>&1)
rc=$?
printf '%s\n' "$out" | sed '/^$/d; s/^/    verify: /'
if [ "$rc" != 0 ]; then
	fail "systemd-analyze verify exits $rc"
elif grep -q 'wlb' <<<"$out"; then
	fail "systemd-analyze verify complains about a wlb unit (see above)"
else
	ok "systemd-analyze verify: ${UNITS// /.service, }.service are clean"
fi

# ------------------------------------------------------------------ 3. security

printf '\n%-24s %s\n' "unit" "exposure (systemd-analyze security --offline=true; at most $EXPOSURE_MAX)"
for u in $UNITS; do
	out=$(systemd-analyze security --offline=true --no-pager "${INST[$u]}" 2>&1)
	score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' | tail -n 1)
	if [ -z "$score" ]; then
		printf '%s\n' "$out" | tail -n 5 >&2
		fail "$u.service: no exposure level from systemd-analyze security"
		continue
	fi
	level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: [0-9.]* \([A-Z]*\).*/\1/p' | tail -n 1)
	printf '%-24s %s %s\n' "$u.service" "$score" "$level"
	if awk -v s="$score" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(s + 0 <= m + 0) }'; then
		ok "$u.service: exposure $score <= $EXPOSURE_MAX"
	else
		fail "$u.service: exposure $score > $EXPOSURE_MAX; what it flags:"
		printf '%s\n' "$out" | grep '✗' | sed 's/^/    /' >&2
	fi
done
echo

# ------------------------------------------------------------------ 4. settings

# svc UNITFILE KEY: the effective value of KEY in [Service]: for list settings
# (capabilities, address families) the assignments accumulate and an empty one
# resets, ExecStartPre= and ExecStopPost= lines accumulate one a line; for the
# others the last one wins.  Prints nothing when unset.
svc() {
	awk -v key="$2" '
		/^[ \t]*\[/ { sec = $0; gsub(/[ \t\[\]]/, "", sec); next }
		sec != "Service" || /^[ \t]*[#;]/ { next }
		{
			i = index($0, "=")
			if (!i) next
			k = substr($0, 1, i - 1); gsub(/[ \t]/, "", k)
			if (k != key) next
			v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
			set = 1
			if (key ~ /^(CapabilityBoundingSet|AmbientCapabilities|RestrictAddressFamilies)$/)
				val = (v == "" ? "" : (val == "" ? v : val " " v))
			else if (key ~ /^Exec(StartPre|StartPost|ReloadPost|StopPost)$/)
				val = (v == "" ? "" : (val == "" ? v : val "\n" v))
			else
				val = v
		}
		END { if (set) print val }' "$1"
}

# same_set "LIST" "WANTED": prints what is missing and what is extra, or nothing.
set_diff() {
	local got=" $1 " want=" $2 " w g missing="" extra=""
	for w in $2; do case "$got" in *" $w "*) ;; *) missing+=" $w" ;; esac; done
	for g in $1; do case "$want" in *" $g "*) ;; *) extra+=" $g" ;; esac; done
	[ -n "$missing" ] && printf 'missing%s' "$missing"
	[ -n "$missing" ] && [ -n "$extra" ] && printf '; '
	[ -n "$extra" ] && printf 'not allowed%s' "$extra"
}

is_yes() { case "${1,,}" in yes | true | on | 1) return 0 ;; *) return 1 ;; esac; }

check_settings() { # UNIT
	local u=$1 f=${INST[$1]} d=${1#wlb-} v diff bad=0
	local -a problems=()

	v=$(svc "$f" Type)
	[ "$v" = notify ] || problems+=("Type=notify (is '${v:-unset}')")
	v=$(svc "$f" WatchdogSec)
	case "$v" in '' | 0 | 0s | infinity) problems+=("WatchdogSec= > 0 (is '${v:-unset}')") ;; esac
	v=$(svc "$f" Restart)
	[ "$v" = on-failure ] || problems+=("Restart=on-failure (is '${v:-unset}')")
	v=$(svc "$f" ExecReload)
	# shellcheck disable=SC2016 # a literal $MAINPID
	grep -Eq '(^|[ /])kill +(-HUP|-SIGHUP|-s +(SIG)?HUP) +(\$MAINPID|\$\{MAINPID\})( |$)' <<<"$v" ||
		problems+=("ExecReload= sending SIGHUP (kill -HUP \$MAINPID) (is '${v:-unset}')")
	# the two daemons with C's tc program load BPF; the redirector does not
	local caps="CAP_NET_ADMIN CAP_NET_RAW"
	[ "$d" = redirector ] || caps+=" CAP_BPF"
	for k in CapabilityBoundingSet AmbientCapabilities; do
		v=$(svc "$f" "$k")
		case "$v" in
		'') problems+=("$k=$caps (unset)") ;;
		'~'*) problems+=("$k=$caps (is a deny list: '$v')") ;;
		*)
			diff=$(set_diff "$v" "$caps")
			[ -z "$diff" ] || problems+=("$k=$caps ($diff)")
			;;
		esac
	done
	v=$(svc "$f" NoNewPrivileges)
	is_yes "$v" || problems+=("NoNewPrivileges=yes (is '${v:-unset}')")
	v=$(svc "$f" ProtectSystem)
	[ "$v" = strict ] || problems+=("ProtectSystem=strict (is '${v:-unset}')")
	v=$(svc "$f" ProtectHome)
	is_yes "$v" || [ "$v" = read-only ] || [ "$v" = tmpfs ] ||
		problems+=("ProtectHome=yes (is '${v:-unset}')")
	v=$(svc "$f" PrivateTmp)
	is_yes "$v" || problems+=("PrivateTmp=yes (is '${v:-unset}')")
	v=$(svc "$f" RestrictAddressFamilies)
	case "$v" in
	'') problems+=("RestrictAddressFamilies=AF_NETLINK AF_INET AF_UNIX (unset)") ;;
	'~'*) problems+=("RestrictAddressFamilies=AF_NETLINK AF_INET AF_UNIX (is a deny list: '$v')") ;;
	*)
		diff=$(set_diff "$v" "AF_NETLINK AF_INET AF_UNIX")
		[ -z "$diff" ] || problems+=("RestrictAddressFamilies=AF_NETLINK AF_INET AF_UNIX ($diff)")
		;;
	esac
	v=$(svc "$f" ExecStart)
	case "$v" in "$sbindir/$u "* | "$sbindir/$u") ;; *) problems+=("ExecStart=$sbindir/$u ... (is '${v:-unset}')") ;; esac
	v=$(svc "$f" ExecStartPre)
	grep -Eq "(^|/)wlb-rules .*install $d( |$)" <<<"$v" ||
		problems+=("ExecStartPre=.../wlb-rules ... install $d (is '${v:-unset}')")
	v=$(svc "$f" ExecStopPost)
	grep -Eq "(^|/)wlb-rules .*remove $d( |$)" <<<"$v" ||
		problems+=("ExecStopPost=.../wlb-rules ... remove $d (is '${v:-unset}')")

	if [ "${#problems[@]}" = 0 ]; then
		ok "$u.service: Type=notify WatchdogSec=$(svc "$f" WatchdogSec) Restart=on-failure ExecReload=SIGHUP, capabilities and address families as required, NoNewPrivileges ProtectSystem=strict ProtectHome PrivateTmp"
	else
		for v in "${problems[@]}"; do
			fail "$u.service (systemd/$u.service.in) needs $v"
			bad=1
		done
	fi
	return $bad
}

for u in $UNITS; do check_settings "$u"; done

# ------------------------------------------------------------------ 5. state file (warning)

for u in $UNITS; do
	rt=$(svc "${INST[$u]}" RuntimeDirectory)
	st=$("$D$sbindir/$u" --help 2>/dev/null | sed -n 's/.*(default \(.*\.state\)).*/\1/p' | head -n 1)
	case "$st" in
	/run/"$rt"/* | /var/run/"$rt"/*) ok "$u: default state file $st is in RuntimeDirectory=$rt" ;;
	*)
		echo "*** WARNING: $u: its default state file ${st:-?} is not under RuntimeDirectory=${rt:-<unset>} (/run/${rt:-?}):" \
			"with ProtectSystem=strict the daemon cannot write it (configure --runstatedir=/run, or pass -s in ExecStart=) ***" >&2
		;;
	esac
done

# ------------------------------------------------------------------ 6. worker units

# wlb-X@.service runs worker %i of a daemon with "workers" > 1: the
# daemon's unit with the same hardening, minus the rules (the daemon's own
# unit owns them), bound to it.  Verified and scored as instance 1.
for u in $UNITS; do
	w=$(find "$D" -type f -name "$u@.service" | head -n 1)
	if [ -z "$w" ]; then
		fail "$u@.service: not installed by make install"
		continue
	fi
	want="$(svc "${INST[$u]}" ExecStart) --worker=%i"
	[ "$(svc "$w" ExecStart)" = "$want" ] ||
		fail "$u@.service: ExecStart is '$(svc "$w" ExecStart)', not '$want'"
	[ -z "$(svc "$w" ExecStartPre)$(svc "$w" ExecStopPost)" ] ||
		fail "$u@.service: installs or removes rules (only $u.service may)"
	grep -qx "BindsTo=$u.service" "$w" || fail "$u@.service: not bound to $u.service"
	# the same hardening and service settings, line for line
	missing=$(grep -vE '^(ExecStartPre|ExecStopPost|ExecStart|RuntimeDirectoryPreserve|Description|After)=|^#|^$' \
		"${INST[$u]}" | grep -vxFf "$w" || true)
	[ -z "$missing" ] || fail "$u@.service lacks lines of $u.service: $(tr '\n' ' ' <<<"$missing")"
	sed "s|$sbindir/|$D$sbindir/|g" "$w" >"$T/verify/$u@1.service"
	out=$(systemd-analyze verify "${manopt[@]}" "$T/verify/$u@1.service" 2>&1)
	if [ $? != 0 ] || grep -q 'wlb' <<<"$out"; then
		printf '%s\n' "$out" | sed 's/^/    verify: /' >&2
		fail "$u@1.service: systemd-analyze verify complains"
	fi
	cp "$w" "$T/$u@1.service"
	out=$(systemd-analyze security --offline=true --no-pager "$T/$u@1.service" 2>&1)
	score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' | tail -n 1)
	if [ -n "$score" ] && awk -v s="$score" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(s + 0 <= m + 0) }'; then
		ok "$u@.service: ExecStart with --worker=%i, no rules, bound to $u.service, verify clean, exposure $score"
	else
		fail "$u@.service: exposure ${score:-?} > $EXPOSURE_MAX"
	fi
done

if [ "$fails" -gt 0 ]; then
	echo "test-ops-units: $fails check(s) FAILED" >&2
	exit 1
fi
echo "test-ops-units: all checks passed"
exit 0
