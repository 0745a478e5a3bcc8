# shellcheck shell=bash
#
# tests/lab/lab.sh -- the wlb network-namespace lab.  Source it, do not run it:
#
#     . tests/lab/lab.sh
#     lab_up                      # builds everything, installs EXIT/INT/TERM traps
#     lab_curl client "http://$LAB_ORIGIN_IP/name"
#     lab_down                    # optional: the trap does it anyway
#
# Every lab host is a network namespace named "$LAB_PREFIX<host>" (default prefix
# "wlb<pid of the sourcing shell>-").  Links are veth pairs created directly inside
# the namespaces, so nothing at all (link, address, route, rule, sysctl, nft rule)
# is ever added to the root namespace.  Only documentation ranges are used.
#
# Topology (fixed addresses; K = 1..LAB_REPLICAS, at most 8):
#
#   192.0.2.0/28          198.51.100.0/30           198.51.100.4/30           203.0.113.0/28
#  +--------+         +-------+              +-------+              +-------+              +--------+
#  | client |eth0 lan0|  cgw  |wan0      cgw0|  wan  |sgw0      wan0|  sgw  |lan0      eth0| origin |
#  |     .2 |---------| .1 .1 |--------------| .2 .5 |--------------| .6 .1 |--------------| .10    |
#  +--------+         +-------+  link        +-------+              +-------+  link        +--------+
#   default via .1     default   "client"     |  |  |                default   "origin"
#                      via .2    queue 100    |  |  |  (sgw: default via 198.51.100.5; queue 101
#                                             |  |  |   origin: default via 203.0.113.1)
#                                          r10|  |rK0 (198.51.100.16+4(K-1)+1/30)
#                       link "replica1"       |  |        link "replicaK", queue 101+K
#                       queue 102         eth0|  |eth0 (198.51.100.16+4(K-1)+2/30)
#                                    +----------+ +----------+
#                                    | replica1 | | replicaK |  default via 198.51.100.16+4(K-1)+1
#                                    | .18/30   | | ...      |
#                                    +----------+ +----------+
#
#   client   eth0 192.0.2.2/28            default via 192.0.2.1
#   cgw      lan0 192.0.2.1/28, wan0 198.51.100.1/30, default via 198.51.100.2      (router)
#   wan      cgw0 198.51.100.2/30, sgw0 198.51.100.5/30, rK0 198.51.100.(16+4(K-1)+1)/30
#            192.0.2.0/28 via 198.51.100.1, 203.0.113.0/28 via 198.51.100.6         (router)
#   sgw      wan0 198.51.100.6/30 default via 198.51.100.5, lan0 203.0.113.1/28      (router)
#   origin   eth0 203.0.113.10/28             default via 203.0.113.1
#   replicaK eth0 198.51.100.(16+4(K-1)+2)/30 default via 198.51.100.(16+4(K-1)+1)
#
# Every namespace: lo up, IPv6 disabled (all, default), rp_filter=0 (all, default and
# every interface); routers (cgw, wan, sgw) have ip_forward=1.
#
# Link delay (this kernel has no netem).  Delays are one-way, per link, applied in the
# wan namespace (the "origin" link: in sgw, between sgw and origin, so that the
# redirector at the origin site's edge copies a SYN to the replicas before the SYN
# pays the origin's distance) by the project's tool $LAB_BUILDDIR/tests/lab/wlb-delay (-q QUEUE -d MS),
# one process per delayed link.  Packets reach it through NFQUEUE rules.  This
# kernel is built without nft's "queue" expression (CONFIG_NFT_QUEUE unset: "nft add
# rule ... queue num N" fails with ENOENT), so the rules are xtables NFQUEUE targets
# loaded with iptables-nft (nft_compat; "nft list ruleset" shows them as
# "queue num Q bypass"):
#     table ip mangle, chain FORWARD (prio -150) -> WLBLAB_IN:  -i L -j NFQUEUE --queue-num Q --queue-bypass
#     table ip filter, chain FORWARD (prio 0)    -> WLBLAB_OUT: -o L -j NFQUEUE --queue-num Q --queue-bypass
# The two directions of a link use the same queue.  The in and out rules sit in two
# base chains because a queue verdict ends the chain: a packet crossing two delayed
# links (client -> replica with a client delay) gets both delays, since the packet
# accepted by the first wlb-delay continues with the next base chain of the hook.
#     link       interface       queue   default one-way delay (env override)
#     client     wan cgw0        100     0 ms  (LAB_DELAY_CLIENT)
#     origin     sgw lan0        101     80 ms (LAB_DELAY_ORIGIN)
#     replica1   r10             102     5 ms  (LAB_DELAY_REPLICA1)
#     replica2   r20             103     40 ms (LAB_DELAY_REPLICA2)
#     replicaK   rK0             101+K   60 ms (LAB_DELAY_REPLICAk), K = 3..8
# A delay of 0 means no rule and no process for that link.  Queues 0-99 are left to
# the wlb daemons; the lab uses 100-109 in wan and sgw only.
#
# HTTP: one nginx instance per server (origin, replica1..N), all with the same docroot
# (index.html, /10m = 10 MiB, /big = LAB_BIG_MB MiB (default 100) of random data) and
# /name returning the host name ("origin\n", "replica1\n", ...).  They listen on
# 0.0.0.0:80 (wildcard, so an address added later is served too).
#
# Environment (all optional): LAB_PREFIX, LAB_REPLICAS (1..8, default 2), LAB_BUILDDIR
# (default: the source tree), LAB_BIG_MB, LAB_DELAY_CLIENT, LAB_DELAY_ORIGIN,
# LAB_DELAY_REPLICAk, LAB_NGINX (default /usr/sbin/nginx), TMPDIR.  After lab_up,
# LAB_DIR is the lab's temp dir (docroot www/, nginx/<host>/, log/, state/).
#
# Functions: lab_up lab_down lab_at_down lab_ns lab_exec lab_hosts lab_servers
# lab_links lab_replica_ip lab_delay lab_set_delay lab_delay_bin lab_topology lab_curl
# lab_ping_rtt lab_log lab_fail lab_assert_within.
#
# lab_up installs traps on EXIT, INT, TERM and HUP that call lab_down (replacing any trap
# the caller had on them); register extra cleanup with lab_at_down "command" instead.
# lab_up must be called from the main shell of the script (not a subshell or $(...)).

if [ -z "${BASH_VERSION:-}" ]; then
	echo "lab.sh: needs bash" >&2
	# shellcheck disable=SC2317 # exit is reached when the file is executed, not sourced
	return 1 2>/dev/null || exit 1
fi
if ! (return 0 2>/dev/null); then
	echo "lab.sh is a library: source it from a test script (. tests/lab/lab.sh)" >&2
	exit 2
fi

_LAB_SH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
_LAB_SRCDIR=$(cd "$(dirname "$_LAB_SH")/../.." && pwd)

LAB_PREFIX=${LAB_PREFIX:-wlb$$-}
LAB_REPLICAS=${LAB_REPLICAS:-2}
LAB_BUILDDIR=${LAB_BUILDDIR:-$_LAB_SRCDIR}
LAB_BIG_MB=${LAB_BIG_MB:-100}
LAB_DIR=${_LAB_SUB_DIR:-} # set by lab_up; never taken from the environment
_LAB_DOWN_HOOKS=()
_LAB_IN_DOWN=0

export LAB_CLIENT_IP=192.0.2.2
export LAB_CGW_LAN_IP=192.0.2.1
export LAB_CGW_WAN_IP=198.51.100.1
export LAB_WAN_CGW_IP=198.51.100.2
export LAB_WAN_SGW_IP=198.51.100.5
export LAB_SGW_IP=198.51.100.6
export LAB_SGW_LAN_IP=203.0.113.1
export LAB_ORIGIN_IP=203.0.113.10

_LAB_MAX_REPLICAS=8
_LAB_NGINX=${LAB_NGINX:-/usr/sbin/nginx}

# ---------------------------------------------------------------- small helpers

lab_log() {
	printf '%s [lab] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2
}

# lab_fail MSG: prints "FAIL: MSG" and exits 1 (the trap tears the lab down).  In a
# subshell it ends only that subshell, with status 1.
lab_fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

_lab_err() {
	printf 'lab: error: %s\n' "$*" >&2
	return 1
}

_lab_is_uint() {
	case "${1:-}" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac
}

_lab_in_range() { # VALUE LO HI
	_lab_is_uint "${1:-}" || return 1
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

_lab_check_replicas() {
	_lab_in_range "$LAB_REPLICAS" 1 "$_LAB_MAX_REPLICAS" ||
		_lab_err "LAB_REPLICAS must be 1..$_LAB_MAX_REPLICAS (got '$LAB_REPLICAS')"
}

# Hosts of this lab, and every host name the lab could ever use (for cleanup).
lab_hosts() {
	local k
	printf '%s\n' client cgw wan sgw origin
	for ((k = 1; k <= LAB_REPLICAS; k++)); do printf 'replica%d\n' "$k"; done
}

_lab_all_hosts() {
	local k
	printf '%s\n' client cgw wan sgw origin
	for ((k = 1; k <= _LAB_MAX_REPLICAS; k++)); do printf 'replica%d\n' "$k"; done
}

# Hosts running an HTTP server.
lab_servers() {
	local k
	printf '%s\n' origin
	for ((k = 1; k <= LAB_REPLICAS; k++)); do printf 'replica%d\n' "$k"; done
}

# Links that can carry a delay.
lab_links() {
	local k
	printf '%s\n' client origin
	for ((k = 1; k <= LAB_REPLICAS; k++)); do printf 'replica%d\n' "$k"; done
}

lab_ns() {
	case "${1:-}" in
	client | cgw | wan | sgw | origin) ;;
	replica[1-8]) ;;
	*) _lab_err "lab_ns: unknown host '${1:-}'" || return 1 ;;
	esac
	printf '%s%s\n' "$LAB_PREFIX" "$1"
}

lab_exec() {
	local ns
	ns=$(lab_ns "${1:-}") || return 1
	shift
	ip netns exec "$ns" "$@"
}

_lab_replica_k() { # replicaK -> K, validated
	local k=${1#replica}
	_lab_in_range "$k" 1 "$_LAB_MAX_REPLICAS" ||
		_lab_err "bad replica '$1'" || return 1
	printf '%d\n' "$k"
}

lab_replica_ip() {
	_lab_in_range "${1:-}" 1 "$_LAB_MAX_REPLICAS" ||
		_lab_err "lab_replica_ip: bad index '${1:-}'" || return 1
	printf '198.51.100.%d\n' $((16 + 4 * ($1 - 1) + 2))
}

_lab_replica_gw() {
	printf '198.51.100.%d\n' $((16 + 4 * ($1 - 1) + 1))
}

_lab_link_iface() {
	local k
	case "$1" in
	client) echo cgw0 ;;
	origin) echo lan0 ;;
	replica*) k=$(_lab_replica_k "$1") || return 1; echo "r${k}0" ;;
	*) _lab_err "unknown link '$1'" ;;
	esac
}

# The namespace whose forwarding path delays the link.  The origin's delay sits
# between sgw and origin, so the redirector in sgw sees a SYN at once: the
# copies to the replicas do not pay the origin's distance twice.
_lab_link_host() {
	case "$1" in
	origin) echo sgw ;;
	*) echo wan ;;
	esac
}

_lab_link_queue() {
	local k
	case "$1" in
	client) echo 100 ;;
	origin) echo 101 ;;
	replica*) k=$(_lab_replica_k "$1") || return 1; echo $((101 + k)) ;;
	*) _lab_err "unknown link '$1'" ;;
	esac
}

_lab_default_delay() {
	local var def k
	case "$1" in
	client) var=LAB_DELAY_CLIENT def=0 ;;
	origin) var=LAB_DELAY_ORIGIN def=80 ;;
	replica*)
		k=$(_lab_replica_k "$1") || return 1
		var=LAB_DELAY_REPLICA$k
		case "$k" in 1) def=5 ;; 2) def=40 ;; *) def=60 ;; esac
		;;
	*) _lab_err "unknown link '$1'" || return 1 ;;
	esac
	printf '%s\n' "${!var:-$def}"
}

lab_delay_bin() {
	printf '%s/tests/lab/wlb-delay\n' "$LAB_BUILDDIR"
}

# lab_delay LINK: the one-way delay (ms) configured now (or the one lab_up would use).
lab_delay() {
	if [ -n "$LAB_DIR" ] && [ -f "$LAB_DIR/state/delay.$1" ]; then
		cat "$LAB_DIR/state/delay.$1"
	else
		_lab_default_delay "$1"
	fi
}

# Run a lab function in a fresh bash with errexit: robust even when the caller
# invoked us in a context where set -e is ignored (if, ||, &&).
# shellcheck disable=SC2016 # $0 and $@ expand in the child bash
_lab_sub() {
	env LAB_PREFIX="$LAB_PREFIX" LAB_REPLICAS="$LAB_REPLICAS" _LAB_SUB_DIR="$LAB_DIR" \
		LAB_BUILDDIR="$LAB_BUILDDIR" LAB_BIG_MB="$LAB_BIG_MB" LAB_DELAYS="${_LAB_DELAYS_ARG:-}" \
		bash -euo pipefail -c '. "$0"; "$@"' "$_LAB_SH" "$@"
}

# ---------------------------------------------------------------- build (runs in _lab_sub)

_lab_sysctl() { # HOST key=value...
	lab_exec "$1" sysctl -qw "${@:2}" >/dev/null
}

# _lab_veth HOST_A IF_A HOST_B IF_B
_lab_veth() {
	ip -n "$(lab_ns "$1")" link add "$2" type veth peer name "$4" netns "$(lab_ns "$3")"
	_lab_sysctl "$1" "net.ipv4.conf.$2.rp_filter=0" "net.ipv6.conf.$2.disable_ipv6=1"
	_lab_sysctl "$3" "net.ipv4.conf.$4.rp_filter=0" "net.ipv6.conf.$4.disable_ipv6=1"
}

_lab_addr() { # HOST IF ADDR/LEN
	ip -n "$(lab_ns "$1")" addr add "$3" dev "$2"
	ip -n "$(lab_ns "$1")" link set "$2" up
}

_lab_route() { # HOST ROUTE...
	ip -n "$(lab_ns "$1")" route add "${@:2}"
}

_lab_build_net() {
	local h ns k rip gw existing
	existing=$(ip netns list | awk '{print $1}')
	for h in $(lab_hosts); do
		ns=$(lab_ns "$h")
		if printf '%s\n' "$existing" | grep -xF "$ns" >/dev/null; then
			_lab_err "namespace $ns already exists (stale lab? remove it with: ip netns del $ns)"
			return 1
		fi
	done
	for h in $(lab_hosts); do
		ip netns add "$(lab_ns "$h")"
		ip -n "$(lab_ns "$h")" link set lo up
		_lab_sysctl "$h" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
			net.ipv4.conf.lo.rp_filter=0
	done
	for h in cgw wan sgw; do
		_lab_sysctl "$h" net.ipv4.ip_forward=1
	done

	_lab_veth client eth0 cgw lan0
	_lab_veth cgw wan0 wan cgw0
	_lab_veth wan sgw0 sgw wan0
	_lab_veth sgw lan0 origin eth0

	_lab_addr client eth0 "$LAB_CLIENT_IP/28"
	_lab_addr cgw lan0 "$LAB_CGW_LAN_IP/28"
	_lab_addr cgw wan0 "$LAB_CGW_WAN_IP/30"
	_lab_addr wan cgw0 "$LAB_WAN_CGW_IP/30"
	_lab_addr wan sgw0 "$LAB_WAN_SGW_IP/30"
	_lab_addr sgw wan0 "$LAB_SGW_IP/30"
	_lab_addr sgw lan0 "$LAB_SGW_LAN_IP/28"
	_lab_addr origin eth0 "$LAB_ORIGIN_IP/28"

	_lab_route client default via "$LAB_CGW_LAN_IP"
	_lab_route cgw default via "$LAB_WAN_CGW_IP"
	_lab_route wan 192.0.2.0/28 via "$LAB_CGW_WAN_IP"
	_lab_route wan 203.0.113.0/28 via "$LAB_SGW_IP"
	_lab_route sgw default via "$LAB_WAN_SGW_IP"
	_lab_route origin default via "$LAB_SGW_LAN_IP"

	for ((k = 1; k <= LAB_REPLICAS; k++)); do
		rip=$(lab_replica_ip "$k")
		gw=$(_lab_replica_gw "$k")
		_lab_veth wan "r${k}0" "replica$k" eth0
		_lab_addr wan "r${k}0" "$gw/30"
		_lab_addr "replica$k" eth0 "$rip/30"
		_lab_route "replica$k" default via "$gw"
	done
}

_lab_build_docroot() {
	local d="$LAB_DIR/www"
	_lab_is_uint "$LAB_BIG_MB" || _lab_err "LAB_BIG_MB must be a number" || return 1
	mkdir -p "$d"
	printf '<!doctype html>\n<title>wlb lab</title>\n<p>wlb lab docroot</p>\n' >"$d/index.html"
	head -c $((LAB_BIG_MB * 1048576)) /dev/urandom >"$d/big"
	head -c $((10 * 1048576)) /dev/urandom >"$d/10m"
	chmod 0755 "$LAB_DIR" "$d"
	chmod 0644 "$d/index.html" "$d/big" "$d/10m"
}

_lab_nginx_conf() { # HOST DIR
	local user=nobody group=nogroup
	getent group nogroup >/dev/null 2>&1 || group=nobody
	cat <<EOF
# nginx for lab host $1 (generated by tests/lab/lab.sh)
user $user $group;
worker_processes 1;
worker_rlimit_nofile 16384;
daemon on;
pid $2/nginx.pid;
error_log $2/error.log warn;
events {
    worker_connections 4096;
}
http {
    types {
        text/html html;
        text/plain txt;
    }
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 100000;
    client_body_temp_path $2/client_body;
    proxy_temp_path $2/proxy;
    fastcgi_temp_path $2/fastcgi;
    uwsgi_temp_path $2/uwsgi;
    scgi_temp_path $2/scgi;
    server {
        listen 80 backlog=4096 reuseport default_server;
        server_name _;
        root $LAB_DIR/www;
        index index.html;
        # who served: the benchmark checks the race it meant to measure
        add_header X-Lab-Host $1 always;
        location = /name {
            default_type text/plain;
            return 200 "$1\n";
        }
    }
}
EOF
}

_lab_start_nginx() { # HOST
	local d="$LAB_DIR/nginx/$1"
	mkdir -p "$d"
	_lab_nginx_conf "$1" "$d" >"$d/nginx.conf"
	lab_exec "$1" "$_LAB_NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
		</dev/null >>"$d/stdout.log" 2>&1 ||
		{
			cat "$d/stdout.log" "$d/error.log" >&2 2>/dev/null || true
			_lab_err "nginx did not start in $1"
			return 1
		}
}

_lab_wait_nginx() { # HOST: bounded wait until /name answers in its own namespace
	local i got
	for ((i = 0; i < 100; i++)); do
		got=$(lab_exec "$1" curl -s --max-time 2 "http://127.0.0.1/name" 2>/dev/null || true)
		[ "$got" = "$1" ] && return 0
		sleep 0.1
	done
	_lab_err "nginx in $1 does not answer on /name (see $LAB_DIR/nginx/$1/error.log)"
}

_lab_build_servers() {
	local h
	for h in $(lab_servers); do _lab_start_nginx "$h"; done
	for h in $(lab_servers); do _lab_wait_nginx "$h"; done
}

# ---------------------------------------------------------------- delays (run in _lab_sub)

# iptables-nft (xtables NFQUEUE through nft_compat): this kernel has no nft "queue".
_lab_ipt() { # HOST ARGS...
	local h=$1
	shift
	if command -v iptables-nft >/dev/null 2>&1; then
		lab_exec "$h" iptables-nft -w 5 "$@"
	else
		lab_exec "$h" iptables -w 5 "$@"
	fi
}

_lab_ipt_restore() { # HOST
	if command -v iptables-nft-restore >/dev/null 2>&1; then
		lab_exec "$1" iptables-nft-restore -w 5 --noflush
	else
		lab_exec "$1" iptables-restore -w 5 --noflush
	fi
}

_lab_delay_rules_init() {
	local h
	for h in wan sgw; do
		_lab_ipt "$h" -t mangle -N WLBLAB_IN
		_lab_ipt "$h" -t mangle -A FORWARD -j WLBLAB_IN
		_lab_ipt "$h" -t filter -N WLBLAB_OUT
		_lab_ipt "$h" -t filter -A FORWARD -j WLBLAB_OUT
	done
}

_lab_delay_rules_apply() {
	_lab_delay_rules_apply_host wan
	_lab_delay_rules_apply_host sgw
}

# Rewrite both delay chains of HOST from the state files, in one
# iptables-restore transaction.
_lab_delay_rules_apply_host() {
	local h=$1 f="$LAB_DIR/state/delay-rules-$1.txt" l ifc q ms
	{
		echo "*mangle"
		echo "-F WLBLAB_IN"
		for l in $(lab_links); do
			[ "$(_lab_link_host "$l")" = "$h" ] || continue
			ms=$(lab_delay "$l")
			[ "$ms" -gt 0 ] || continue
			ifc=$(_lab_link_iface "$l")
			q=$(_lab_link_queue "$l")
			echo "-A WLBLAB_IN -i $ifc -m comment --comment \"$l ${ms}ms\" -j NFQUEUE --queue-num $q --queue-bypass"
		done
		echo "COMMIT"
		echo "*filter"
		echo "-F WLBLAB_OUT"
		for l in $(lab_links); do
			[ "$(_lab_link_host "$l")" = "$h" ] || continue
			ms=$(lab_delay "$l")
			[ "$ms" -gt 0 ] || continue
			ifc=$(_lab_link_iface "$l")
			q=$(_lab_link_queue "$l")
			echo "-A WLBLAB_OUT -o $ifc -m comment --comment \"$l ${ms}ms\" -j NFQUEUE --queue-num $q --queue-bypass"
		done
		echo "COMMIT"
	} >"$f"
	_lab_ipt_restore "$h" <"$f"
}

_lab_queue_bound() { # HOST QUEUE: is a listener bound to it in HOST?
	lab_exec "$1" cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk -v q="$2" '$1 == q { found = 1 } END { exit !found }'
}

_lab_proc_alive() { # PID: alive and not a zombie
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

_lab_delay_start() { # LINK
	local l=$1 ms q bin pid i log
	ms=$(lab_delay "$l")
	[ "$ms" -gt 0 ] || return 0
	q=$(_lab_link_queue "$l")
	bin=$(lab_delay_bin)
	[ -x "$bin" ] || _lab_err "link $l needs a delay of $ms ms but $bin is not built" \
		"(build it, or set LAB_DELAY_${l^^}=0)" || return 1
	log="$LAB_DIR/log/delay-$l.log"
	mkdir -p "$LAB_DIR/log"
	ip netns exec "$(lab_ns "$(_lab_link_host "$l")")" "$bin" -q "$q" -d "$ms" </dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$LAB_DIR/state/delay.$l.pid"
	for ((i = 0; i < 100; i++)); do
		_lab_queue_bound "$(_lab_link_host "$l")" "$q" && return 0
		if ! _lab_proc_alive "$pid"; then
			cat "$log" >&2 2>/dev/null || true
			_lab_err "wlb-delay for link $l (queue $q) exited at start"
			return 1
		fi
		sleep 0.05
	done
	_lab_err "wlb-delay for link $l did not bind queue $q within 5 s"
}

_lab_delay_stop() { # LINK: SIGTERM and wait (bounded), then SIGKILL
	local f="$LAB_DIR/state/delay.$1.pid" pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	rm -f "$f"
	_lab_is_uint "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		_lab_proc_alive "$pid" || break
		sleep 0.05
	done
	if _lab_proc_alive "$pid"; then
		lab_log "wlb-delay for link $1 (pid $pid) ignored SIGTERM for 5 s, killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# LAB_DELAYS="link=ms ..." (resolved by the parent shell)
_lab_build_delays() {
	local kv
	mkdir -p "$LAB_DIR/state"
	for kv in $LAB_DELAYS; do
		printf '%s\n' "${kv#*=}" >"$LAB_DIR/state/delay.${kv%%=*}"
	done
	_lab_delay_rules_init
	_lab_delay_rules_apply
	for kv in $LAB_DELAYS; do
		_lab_delay_start "${kv%%=*}"
	done
}

_lab_set_delay() { # LINK MS
	_lab_delay_stop "$1"
	printf '%s\n' "$2" >"$LAB_DIR/state/delay.$1"
	_lab_delay_rules_apply
	_lab_delay_start "$1"
}

_lab_build() {
	lab_log "creating namespaces ${LAB_PREFIX}{$(lab_hosts | paste -sd, -)}"
	_lab_build_net
	lab_log "docroot (big = $LAB_BIG_MB MiB)"
	_lab_build_docroot
	lab_log "delays: $LAB_DELAYS"
	_lab_build_delays
	lab_log "starting nginx in $(lab_servers | paste -sd' ' -)"
	_lab_build_servers
}

# ---------------------------------------------------------------- public: up / down

_lab_on_exit() {
	local rc=$?
	lab_down
	exit "$rc"
}

_lab_on_signal() {
	lab_log "caught signal, tearing the lab down"
	trap - EXIT
	lab_down
	exit "$1"
}

lab_up() {
	local l ms delays="" tool
	if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
		_lab_err "lab_up: a lab is already up ($LAB_DIR)"
		return 1
	fi
	_lab_check_replicas || return 1
	for tool in ip nft iptables curl ping sysctl; do
		command -v "$tool" >/dev/null 2>&1 || _lab_err "lab_up: $tool not found" || return 1
	done
	[ -x "$_LAB_NGINX" ] || _lab_err "lab_up: $_LAB_NGINX not found" || return 1
	for l in $(lab_links); do
		ms=$(_lab_default_delay "$l") || return 1
		_lab_is_uint "$ms" || _lab_err "delay for $l must be whole ms (got '$ms')" || return 1
		delays+="$l=$ms "
	done

	trap _lab_on_exit EXIT
	trap '_lab_on_signal 130' INT
	trap '_lab_on_signal 143' TERM
	trap '_lab_on_signal 129' HUP

	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wlblab.XXXXXX") || _lab_err "mktemp failed" || return 1
	mkdir -p "$LAB_DIR/state" "$LAB_DIR/log"
	if ! _LAB_DELAYS_ARG="$delays" _lab_sub _lab_build; then
		_lab_err "lab_up failed; tearing down"
		lab_down
		return 1
	fi
	lab_log "lab up: prefix $LAB_PREFIX, $LAB_REPLICAS replicas, dir $LAB_DIR"
}

# lab_set_delay LINK MS: change one link's one-way delay at run time.  While the
# tool is being replaced (a fraction of a second), that link's packets are not delayed.
lab_set_delay() {
	local l=${1:-} ms=${2:-}
	[ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ] || _lab_err "lab_set_delay: the lab is not up" || return 1
	lab_links | grep -xF "$l" >/dev/null || _lab_err "lab_set_delay: unknown link '$l' (one of: $(lab_links | paste -sd' ' -))" || return 1
	_lab_is_uint "$ms" || _lab_err "lab_set_delay: delay must be whole ms (got '$ms')" || return 1
	lab_log "link $l: one-way delay $(lab_delay "$l") ms -> $ms ms"
	_lab_sub _lab_set_delay "$l" "$ms"
}

# lab_at_down CMD: run CMD (eval'd, errors ignored) at the start of lab_down.
lab_at_down() {
	_LAB_DOWN_HOOKS+=("$*")
}

# lab_down: stop every process in the lab's namespaces, delete them and the temp
# dir.  Idempotent; never fails.
lab_down() {
	local h ns present="" pids="" p i hook alive
	[ "$_LAB_IN_DOWN" = 1 ] && return 0
	_LAB_IN_DOWN=1
	for hook in "${_LAB_DOWN_HOOKS[@]}"; do
		eval "$hook" || true
	done
	_LAB_DOWN_HOOKS=()
	present=$(ip netns list 2>/dev/null | awk '{print $1}') || present=""
	for h in $(_lab_all_hosts); do
		ns="$LAB_PREFIX$h"
		printf '%s\n' "$present" | grep -xF "$ns" >/dev/null || continue
		pids+=" $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)"
	done
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for ((i = 0; i < 60; i++)); do
		alive=0
		for p in $pids; do _lab_proc_alive "$p" && alive=1 && break; done
		[ "$alive" = 0 ] && break
		sleep 0.05
	done
	for p in $pids; do
		_lab_proc_alive "$p" && kill -KILL "$p" 2>/dev/null
	done
	for h in $(_lab_all_hosts); do
		ns="$LAB_PREFIX$h"
		printf '%s\n' "$present" | grep -xF "$ns" >/dev/null || continue
		# pids started after the sweep (should not happen): kill them too
		for p in $(ip netns pids "$ns" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || lab_log "warning: could not delete namespace $ns"
	done
	case "$LAB_DIR" in
	*/wlblab.??????) rm -rf "$LAB_DIR" 2>/dev/null || true ;;
	esac
	[ -n "$LAB_DIR" ] && lab_log "lab down ($LAB_PREFIX*)"
	LAB_DIR=""
	_LAB_IN_DOWN=0
	return 0
}

# ---------------------------------------------------------------- public: test helpers

# lab_curl HOST URL [curl args...]
lab_curl() {
	local h=${1:-} url=${2:-}
	shift 2 || _lab_err "usage: lab_curl HOST URL [curl args...]" || return 1
	lab_exec "$h" curl --max-time 30 -sS "$@" "$url"
}

# lab_ping_rtt FROM TO_IP COUNT: prints the average RTT in ms (fails if no reply).
lab_ping_rtt() {
	local from=${1:-} to=${2:-} count=${3:-10} out avg
	_lab_in_range "$count" 1 1000 ||
		_lab_err "lab_ping_rtt: COUNT must be 1..1000" || return 1
	out=$(lab_exec "$from" timeout $((count / 5 + 15)) \
		ping -q -n -c "$count" -i 0.2 -W 2 "$to" 2>&1) || true
	avg=$(printf '%s\n' "$out" | awk -F' = ' '/^(rtt|round-trip) / { split($2, a, "/"); print a[2] }')
	[ -n "$avg" ] || _lab_err "lab_ping_rtt: no reply from $to in $from: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')" || return 1
	printf '%s\n' "$avg"
}

# lab_assert_within VALUE EXPECTED PERCENT MSG: returns 0 if |VALUE-EXPECTED| <=
# EXPECTED*PERCENT/100, else prints "FAIL: MSG ..." and returns 1 (does not exit).
lab_assert_within() {
	local v=${1:-} e=${2:-} p=${3:-} msg=${4:-}
	if awk -v v="$v" -v e="$e" -v p="$p" 'BEGIN {
		if (v !~ /^-?[0-9]+(\.[0-9]+)?$/ || e !~ /^-?[0-9]+(\.[0-9]+)?$/) exit 1
		d = v - e; if (d < 0) d = -d; lim = e * p / 100; if (lim < 0) lim = -lim
		exit !(d <= lim) }'; then
		printf 'ok: %s: %s within %s%% of %s\n' "$msg" "$v" "$p" "$e" >&2
		return 0
	fi
	printf 'FAIL: %s: %s not within %s%% of %s\n' "$msg" "${v:-<none>}" "$p" "$e" >&2
	return 1
}

# lab_topology: the diagram with this lab's namespace names, addresses and delays.
lab_topology() {
	local k d q c o
	c=$(lab_delay client)
	o=$(lab_delay origin)
	printf 'wlb lab, namespace prefix %s (%d replicas)%s\n' "$LAB_PREFIX" "$LAB_REPLICAS" \
		"${LAB_DIR:+, dir $LAB_DIR}"
	printf '\n'
	printf '  %-9s %-22s eth0 %s/28\n' client "[$(lab_ns client)]" "$LAB_CLIENT_IP"
	printf '      |\n'
	printf '  %-9s %-22s lan0 %s/28   wan0 %s/30   (router)\n' cgw "[$(lab_ns cgw)]" \
		"$LAB_CGW_LAN_IP" "$LAB_CGW_WAN_IP"
	printf '      |   link "client": %s ms one-way%s\n' "$c" "$( [ "$c" -gt 0 ] && echo ", queue 100")"
	printf '  %-9s %-22s cgw0 %s/30   sgw0 %s/30   (router)\n' wan "[$(lab_ns wan)]" \
		"$LAB_WAN_CGW_IP" "$LAB_WAN_SGW_IP"
	printf '      +-- %-9s %-22s wan0 %s/30  lan0 %s/28   (router)\n' sgw "[$(lab_ns sgw)]" \
		"$LAB_SGW_IP" "$LAB_SGW_LAN_IP"
	printf '      |     |   link "origin": %s ms one-way%s\n' "$o" "$( [ "$o" -gt 0 ] && echo ", queue 101 in sgw")"
	printf '      |     +-- %-9s %-18s eth0 %s/28   HTTP\n' origin "[$(lab_ns origin)]" "$LAB_ORIGIN_IP"
	for ((k = 1; k <= LAB_REPLICAS; k++)); do
		d=$(lab_delay "replica$k")
		q=$((101 + k))
		printf '      |   link "replica%d": %s ms one-way%s\n' "$k" "$d" \
			"$( [ "$d" -gt 0 ] && echo ", queue $q")"
		printf '      +-- %-9s %-22s eth0 %s/30 (wan r%d0 %s/30)   HTTP\n' "replica$k" \
			"[$(lab_ns "replica$k")]" "$(lab_replica_ip "$k")" "$k" "$(_lab_replica_gw "$k")"
	done
	printf '\n  expected RTT from client: origin %d ms' $((2 * (c + o)))
	for ((k = 1; k <= LAB_REPLICAS; k++)); do
		printf ', replica%d %d ms' "$k" $((2 * (c + $(lab_delay "replica$k"))))
	done
	printf '\n'
}
