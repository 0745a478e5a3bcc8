# shellcheck shell=bash
#
# tests/lab/check.sh -- what the operations tests share: a failure is
# counted and the test goes on (it exits 1 at the end when any was
# counted), a pass is said, and a skip is loud and exits 77.

fails=0

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	fails=$((fails + 1))
}

ok() {
	printf 'ok: %s\n' "$*" >&2
}

skip() {
	{
		echo "*****************************************************************"
		echo "*** SKIP: $(basename "$0" .sh): $* ***"
		echo "*****************************************************************"
	} >&2
	exit 77
}
