# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/lab-common.sh -- what the end-to-end benchmarks (run-lab, run-ctnat,
# run-nftcost) share.  Source it after setting LAB_BUILDDIR and the LAB_*
# delays and size; it sources tests/lab/lab.sh itself.

# The lab lives in tmpfs (no swap here, so it stays in memory): this
# machine runs a DAMON "pageout" scheme that drops unmapped page cache not
# read for about a minute (12 GiB so far, in its stats), and a download
# that reads /big from disk again is slower whichever path it takes.
export TMPDIR=${BENCH_TMPDIR:-/dev/shm}
# shellcheck source=../tests/lab/lab.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/lab/lab.sh"

# After lab_up.  Whether curl and nginx share a CPU decides bulk
# throughput more than anything measured here (seen: 35-44 Gbit/s on one
# CPU, 55-66 on two, in plain forwarding, alternating between downloads):
# so every nginx worker runs on CPU 1 (and the downloads' curl on CPU 0),
# and the daemons and the kernel's work float.  Then /big is read twice:
# a page is activated on its second read, and without this the first two
# downloads of a lab pay for it.
bench_prepare() {
	local pidfile w
	for pidfile in "$LAB_DIR"/nginx/*/nginx.pid; do
		for w in $(pgrep -P "$(cat "$pidfile")"); do taskset -p -c 1 "$w" >/dev/null; done
	done
	cat "$LAB_DIR/www/big" >/dev/null
	cat "$LAB_DIR/www/big" >/dev/null
}

# bench_bulk TARGET [CURL OPTION...]: "GBIT/S OTHER", the best of three
# downloads of /big served by replica1 (nginx names itself in X-Lab-Host),
# and how many were served by another host or failed ("0.00 3" when none
# counted).
bench_bulk() {
	local target=$1 best=0 r other=0 speed host
	shift
	for _ in 1 2 3; do
		r=$(lab_exec client taskset -c 0 curl -s --max-time 60 "$@" -o /dev/null \
			-w '%{speed_download} %header{x-lab-host}' "http://$target/big") || r="0 none"
		read -r speed host <<<"$r"
		if [ "$host" != replica1 ]; then
			other=$((other + 1))
			continue
		fi
		best=$(awk -v a="$best" -v b="$speed" 'BEGIN { print (b * 8 / 1e9 > a) ? b * 8 / 1e9 : a }')
	done
	printf '%.2f %d\n' "$best" "$other"
}
