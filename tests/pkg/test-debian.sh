#!/bin/bash
# Build the Debian package (debian/) from a scratch copy of the tree and check
# what a user of the .deb relies on: it builds with dpkg-buildpackage -b, the
# unit tests pass inside that build, lintian finds no error in the source or
# binary packages, the programs, conffile, units and man pages are where
# Debian expects them, installing it neither enables nor starts a daemon, and
# debian/rules clean gives back the tree the build started from.
#
#   tests/pkg/test-debian.sh     exit 0 passed, 1 failed, 77 could not run
#
# Needs dpkg-dev, debhelper, lintian and the Build-Depends of debian/control;
# no root.  The working tree is never written to: everything happens in a
# mktemp -d directory, kept on failure (set KEEP=1 to keep it always).
set -euo pipefail

top=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
cd "$top"

say() { printf '\n=== %s\n' "$*"; }
fails=0
ok() { printf 'ok:   %s\n' "$*"; }
bad() {
	printf 'FAIL: %s\n' "$*"
	fails=$((fails + 1))
}
skip() {
	printf '\n*** SKIPPED: %s ***\n\n' "$*" >&2
	exit 77
}

# A missing tool or build dependency says nothing about the package, so it is
# a skip, loud enough that nobody takes it for a pass.
missing=()
for tool in dpkg-buildpackage dpkg-source dpkg-deb dpkg-checkbuilddeps dpkg-parsechangelog \
	dpkg-architecture dh lintian; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} = 0 ] ||
	skip "tests/pkg/test-debian.sh needs ${missing[*]} (apt-get install dpkg-dev debhelper lintian)"
[ -f debian/control ] || { echo "FAIL: no debian/control in $top" >&2; exit 1; }
if ! unmet=$(dpkg-checkbuilddeps debian/control 2>&1); then
	skip "tests/pkg/test-debian.sh: ${unmet#dpkg-checkbuilddeps: error: }"
fi

version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=wlb_${version}_${arch}.deb

work=$(mktemp -d "${TMPDIR:-/tmp}/wlb-deb.XXXXXX")
cleanup() {
	local rc=$?
	if [ $rc = 0 ] && [ "${KEEP:-0}" = 0 ]; then
		rm -rf "$work"
	else
		echo "build directory kept: $work"
	fi
}
trap cleanup EXIT

say "copy the tree to $work/src"
in_git=no
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=yes
if [ $in_git = yes ]; then
	# Tracked files plus new ones not ignored: uncommitted edits to debian/
	# are tested, build directories and in-tree build output are not copied.
	before=$(git status --porcelain)
	echo "from git: tracked and untracked, non-ignored files (uncommitted edits included)"
	mkdir "$work/src"
	git ls-files -z -c -o --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$work/src"
else
	echo "no git: the whole tree but .git, build/ and build-*/"
	mkdir "$work/src"
	tar --exclude=./.git --exclude=./build --exclude='./build-*' -cf - . | tar -xf - -C "$work/src"
fi

say "versions"
ac_version=$(sed -n 's/^AC_INIT(\[wlb\], *\[\([^]]*\)\].*/\1/p' configure.ac)
if [ "$ac_version" = "$version" ]; then
	ok "debian/changelog $version = configure.ac AC_INIT $ac_version (native package)"
else
	bad "debian/changelog says $version, configure.ac AC_INIT says ${ac_version:-nothing}"
fi

say "dpkg-source -b (source package, from the pristine copy)"
if (cd "$work" && dpkg-source -b src) >"$work/source.log" 2>&1; then
	dsc=$(cd "$work" && ls wlb_*.dsc)
	ok "built $dsc"
else
	tail -n 20 "$work/source.log"
	bad "dpkg-source -b failed (log: $work/source.log)"
	exit 1
fi

say "dpkg-buildpackage -us -uc -b (log: build.log)"
cp -a "$work/src" "$work/pristine"
start=$SECONDS
if (cd "$work/src" && dpkg-buildpackage -us -uc -b -Jauto) >"$work/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b succeeded in $((SECONDS - start)) s"
else
	tail -n 40 "$work/build.log"
	bad "dpkg-buildpackage failed (log: $work/build.log)"
	exit 1
fi
[ -f "$work/$deb" ] || { bad "no $deb was built"; exit 1; }

# The paths the binaries and units are built against come from configure.
conf_line=$(grep -m1 -E '^[[:space:]]*\./configure ' "$work/build.log" || true)
for opt in --prefix=/usr --sysconfdir=/etc --localstatedir=/var --runstatedir=/run \
	--with-systemdsystemunitdir=/lib/systemd/system; do
	case " $conf_line " in
	*" $opt "*) ok "configure was given $opt" ;;
	*) bad "configure was not given $opt" ;;
	esac
done
# Check's summary: the unit tests ran inside the package build and passed.
unit_pass=$(sed -n 's/^# PASS: *//p' "$work/build.log" | tail -n 1)
unit_fail=$(sed -n 's/^# FAIL: *//p' "$work/build.log" | tail -n 1)
if [ "${unit_pass:-0}" -gt 0 ] && [ "${unit_fail:-1}" = 0 ]; then
	ok "make check during the build: $unit_pass unit tests passed"
else
	bad "make check during the build: passed ${unit_pass:-?}, failed ${unit_fail:-?}"
fi

say "lintian (source and binary packages)"
changes=$(cd "$work" && ls wlb_*_"$arch".changes)
# Exit 1 only means tags at --fail-on level; 2 and up mean lintian broke.
lrc=0
(cd "$work" && lintian --display-info "$changes" "$dsc") >"$work/lintian.log" 2>&1 || lrc=$?
grep -v 'running with root privileges is not recommended' "$work/lintian.log" || true
if [ $lrc -gt 1 ]; then
	bad "lintian itself failed (exit $lrc)"
fi
n_e=$(grep -c '^E: ' "$work/lintian.log" || true)
n_w=$(grep -c '^W: ' "$work/lintian.log" || true)
n_i=$(grep -c '^I: ' "$work/lintian.log" || true)
if [ "$n_e" = 0 ]; then
	ok "lintian: 0 errors, $n_w warnings, $n_i info tags ($changes, $dsc)"
else
	bad "lintian: $n_e errors, $n_w warnings, $n_i info tags"
fi

say "contents of $deb (dpkg-deb -c)"
dpkg-deb -c "$work/$deb" >"$work/contents"
# "MODE OWNER SIZE DATE TIME ./PATH" -> "MODE /PATH"
listing=$(awk '{ p = $6; sub(/^\./, "", p); print $1, p }' "$work/contents")
has() { # MODE-REGEX PATH
	if grep -qE "^$1 $2\$" <<<"$listing"; then
		ok "$2"
	else
		bad "$2 missing from $deb (or wrong mode, want $1)"
	fi
}
for p in wlb-clientgw wlb-redirector wlb-replicad wlb-rules wlbctl; do
	has '-rwxr-xr-x' "/usr/sbin/$p"
done
has '-rw-r--r--' /etc/wlb/wlb.conf
for u in wlb-clientgw wlb-redirector wlb-replicad; do
	has '-rw-r--r--' "/lib/systemd/system/$u.service"
done
for m in man5/wlb.conf.5 man7/wlb.7 man8/wlb-clientgw.8 man8/wlb-redirector.8 \
	man8/wlb-replicad.8 man8/wlb-rules.8 man8/wlbctl.8; do
	has '-rw-r--r--' "/usr/share/man/$m.gz"
done
has '-rw-r--r--' /usr/share/doc/wlb/copyright
has '-rw-r--r--' /usr/share/doc/wlb/README.Debian
# Only the five programs: the lab's wlb-delay and the tests stay out.
extra=$(grep -E '^-\S+ /usr/s?bin/' <<<"$listing" |
	grep -vE '/usr/sbin/wlb-(clientgw|redirector|replicad|rules)$|/usr/sbin/wlbctl$' || true)
if [ -z "$extra" ]; then
	ok "no other programs in /usr/bin or /usr/sbin"
else
	bad "unexpected programs: $extra"
fi

say "conffile and units"
if dpkg-deb -I "$work/$deb" conffiles 2>/dev/null | grep -qx /etc/wlb/wlb.conf; then
	ok "/etc/wlb/wlb.conf is a conffile"
else
	bad "/etc/wlb/wlb.conf is not listed in conffiles"
fi
for u in wlb-clientgw wlb-redirector wlb-replicad; do
	unit=$(dpkg-deb --fsys-tarfile "$work/$deb" | tar -xOf - "./lib/systemd/system/$u.service")
	if grep -q '@[a-z]*@' <<<"$unit"; then
		bad "$u.service has unsubstituted @...@"
	elif grep -qx "ExecStart=/usr/sbin/$u -c /etc/wlb/wlb.conf" <<<"$unit"; then
		ok "$u.service: ExecStart=/usr/sbin/$u -c /etc/wlb/wlb.conf"
	else
		bad "$u.service: ExecStart is not /usr/sbin/$u -c /etc/wlb/wlb.conf"
	fi
done

# Run the maintainer scripts against stubs that log what they would do, with
# the "systemd is running" test pointed at a directory that exists, so the
# start and stop branches are taken even where systemd is not running.
say "maintainer scripts (stubbed deb-systemd-helper, deb-systemd-invoke, systemctl)"
mkdir -p "$work/ctrl" "$work/stub" "$work/fakerun"
dpkg-deb -e "$work/$deb" "$work/ctrl"
# A fresh install: no unit is "debian-installed" and was-enabled answers yes,
# as deb-systemd-helper does for units it has never seen.
cat >"$work/stub/deb-systemd-helper" <<'STUB'
#!/bin/sh
echo "deb-systemd-helper $*" >>"$STUBLOG"
case $1 in --quiet) shift ;; esac
case $1 in
debian-installed) [ "$STUB_STATE" = upgrade ] ;;
was-enabled) [ "$STUB_STATE" = fresh ] ;;
esac
STUB
for s in deb-systemd-invoke systemctl; do
	# shellcheck disable=SC2016 # $* and $STUBLOG belong to the stub
	printf '#!/bin/sh\necho "%s $*" >>"$STUBLOG"\n' "$s" >"$work/stub/$s"
done
chmod +x "$work/stub/"*
run_script() { # LOG STATE SCRIPT ARGS...
	local log=$1 state=$2 script=$3
	shift 3
	sed "s|/run/systemd/system|$work/fakerun|g" "$work/ctrl/$script" >"$work/$script.test"
	: >"$log"
	env -u DPKG_ROOT PATH="$work/stub:$PATH" STUBLOG="$log" STUB_STATE="$state" \
		sh "$work/$script.test" "$@"
}
units='wlb-clientgw.service.*wlb-redirector.service.*wlb-replicad.service'
run_script "$work/fresh.log" fresh postinst configure
if grep -qE 'deb-systemd-helper enable|deb-systemd-invoke (start|restart)|systemctl .*(enable|start)' \
	"$work/fresh.log"; then
	bad "postinst configure (fresh install) enables or starts: $(tr '\n' ';' <"$work/fresh.log")"
else
	ok "postinst configure (fresh install): nothing enabled, nothing started"
fi
run_script "$work/upgrade.log" upgrade postinst configure 0.0.1
if grep -qE "deb-systemd-invoke try-restart .*$units" "$work/upgrade.log" &&
	! grep -qE 'deb-systemd-helper enable|deb-systemd-invoke (start|restart) ' "$work/upgrade.log"; then
	ok "postinst configure OLD (upgrade): try-restart only, running daemons come back"
else
	bad "postinst configure OLD (upgrade): $(tr '\n' ';' <"$work/upgrade.log")"
fi
run_script "$work/remove.log" upgrade prerm remove
if grep -qE "deb-systemd-invoke stop .*$units" "$work/remove.log"; then
	ok "prerm remove: stops the three services (their ExecStopPost removes the rules)"
else
	bad "prerm remove does not stop the services: $(tr '\n' ';' <"$work/remove.log")"
fi
run_script "$work/prerm-upgrade.log" upgrade prerm upgrade 0.0.2
if grep -q 'deb-systemd-invoke stop' "$work/prerm-upgrade.log"; then
	bad "prerm upgrade stops the services (postinst's try-restart would then find them stopped)"
else
	ok "prerm upgrade: services left running"
fi

say "debian/rules clean after the build"
# A second build from the same tree must start from the tree the first one
# started from, or stale output ends up in the next source tarball.
if (cd "$work/src" && debian/rules clean) >"$work/clean.log" 2>&1 &&
	diff -r "$work/pristine" "$work/src" >"$work/clean.diff" 2>&1; then
	ok "the cleaned tree is identical to the tree before the build"
else
	head -n 20 "$work/clean.diff" 2>/dev/null || true
	bad "debian/rules clean leaves the tree different from before the build (see $work/clean.log)"
fi

if [ $in_git = yes ]; then
	if [ "$(git status --porcelain)" = "$before" ]; then
		ok "working tree untouched"
	else
		bad "the working tree changed during the test"
	fi
fi

say "summary"
if [ $fails = 0 ]; then
	echo "debian package: passed ($deb, $((SECONDS)) s)"
else
	echo "debian package: $fails check(s) FAILED"
	exit 1
fi
