#!/usr/bin/env bash
# run.sh is `make bench`: it measures anycastd beside Unbound, Knot Resolver
# and PowerDNS Recursor against the same mini internet, one resolver at a
# time, and writes the table to docs/benchmarks.md. See docs/benchmarks.md
# for what each column means.
#
# Layout (three network namespaces, veth pairs born inside them, so nothing
# appears in the root namespace and no namespace has a route to the uplink):
#
#   P-inet  mininet on 198.51.100.0/24 port 53, -latency BENCH_LATENCY
#     | 198.18.0.1/30 -- 198.18.0.2/30
#   P-res   the resolver under test, on its own service address on lo
#     | 203.0.113.1/24 -- 203.0.113.2/24
#   P-cli   dnsperf
#
# usage: scripts/bench/run.sh          run everything, write docs/benchmarks.md
#        scripts/bench/run.sh down     remove a bench left behind by a kill -9
#
# Environment (defaults: about 5 minutes on 2 cores):
#   BENCH_RESOLVERS      "anycastd unbound kresd pdns"
#   BENCH_LATENCY        20ms   added by mininet before every answer
#   BENCH_COLD_NAMES     10000  distinct never-asked names for the cold run
#   BENCH_COLD_QPS       500    fixed rate of the cold run
#   BENCH_CACHED_NAMES   10000  names primed, then asked for BENCH_CACHED_SECONDS
#   BENCH_CACHED_SECONDS 20
#   BENCH_PRIME_QPS      2000   rate of the two priming passes
#   BENCH_CACHED_RUNS    2      cached runs per resolver; the best q/s counts
#   BENCH_STREAM_SECONDS 10     cached runs over TCP, DoT and DoH (where the peer has them)
#   BENCH_LATENCY_QPS    10000  fixed rate of the latency run over the cached names
#   BENCH_LATENCY_SECONDS 10
#   BENCH_COLDFAST_NAMES 20000  distinct names asked as fast as the resolver answers
#   BENCH_MEM_NAMES      200000 names cached before the RSS reading
#   BENCH_MEM_QPS        5000   rate at which they are primed (200,000 take 40 s)
#   BENCH_SUFFIX         bench.lab   zone the distinct names are made under
#                        (a wildcard zone in the mini internet: every name exists)
#   BENCH_THREADS        2      threads (Unbound, PowerDNS) or processes (kresd)
#   BENCH_DNSPERF_ARGS   "-c 4 -T 2 -q 200"   dnsperf load shape of the cached run
#   BENCH_OUT            docs/benchmarks.md ("" prints only)
#   BENCH_NAME           acdb   namespace prefix
#   BENCH_KEEP_LOGS      ""     directory to copy configs, logs and dnsperf output to at exit
#   BENCH_BIN            ./bin  anycastd and mininet (make build)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
readonly SCRIPT_DIR REPO_DIR

name=${BENCH_NAME:-acdb}
resolvers=${BENCH_RESOLVERS:-anycastd unbound kresd pdns}
latency=${BENCH_LATENCY:-20ms}
cold_names=${BENCH_COLD_NAMES:-10000}
cold_qps=${BENCH_COLD_QPS:-500}
cached_names=${BENCH_CACHED_NAMES:-10000}
cached_seconds=${BENCH_CACHED_SECONDS:-20}
prime_qps=${BENCH_PRIME_QPS:-2000}
cached_runs=${BENCH_CACHED_RUNS:-2}
suffix=${BENCH_SUFFIX:-bench.lab}
suffix=${suffix%.}
threads=${BENCH_THREADS:-2}
stream_seconds=${BENCH_STREAM_SECONDS:-10}
lat_qps=${BENCH_LATENCY_QPS:-10000}
lat_seconds=${BENCH_LATENCY_SECONDS:-10}
coldfast_names=${BENCH_COLDFAST_NAMES:-20000}
mem_names=${BENCH_MEM_NAMES:-200000}
mem_qps=${BENCH_MEM_QPS:-5000}
dnsperf_args=${BENCH_DNSPERF_ARGS:--c 4 -T 2 -q 200}
out=${BENCH_OUT-docs/benchmarks.md}
[[ -z $out || $out == /* ]] || out=$REPO_DIR/$out
keep_logs=${BENCH_KEEP_LOGS:-}
bin_dir=${BENCH_BIN:-$REPO_DIR/bin}
readonly stream_seconds lat_qps lat_seconds coldfast_names mem_names mem_qps
readonly name resolvers latency cold_names cold_qps cached_names cached_seconds prime_qps cached_runs suffix threads dnsperf_args out keep_logs

readonly BENCH_ROOT=/run/anycastd-bench
readonly INET4_PREFIX=198.51.100.0/24
readonly INET_LINK=198.18.0.1 RES_LINK=198.18.0.2
readonly RES_CLI=203.0.113.1 CLI_ADDR=203.0.113.2
# A peer that does not exist: anycastd's BGP session never comes up, so it
# never announces, but its listeners answer from the start.
readonly BGP_PEER=198.18.0.99
readonly TIMEOUT_S=5

dir=$BENCH_ROOT/$name
load_before=""

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

ns() { printf '%s-%s' "$name" "$1"; }
nsx() {
	local n=$1
	shift
	ip netns exec "$(ns "$n")" "$@"
}

# bg_wait runs a long command in the background and waits for it, so a
# signal runs the trap at once instead of after the command ends; the
# cleanup then stops the command with the rest of the namespace.
bg_wait() {
	"$@" &
	wait "$!"
}

bench_namespaces() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${name}-(inet|res|cli)\$" || true
}

alive() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z && $state != X ]]
}

# kill_ns_procs stops every process in one of our namespaces: TERM, a short
# wait, then KILL. Only processes inside the bench's own namespaces.
kill_ns_procs() {
	local n p i left
	local -a pids=()
	for n in "$@"; do
		mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$(ns "$n")" 2>/dev/null || true)
	done
	((${#pids[@]} > 0)) || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		left=0
		for p in "${pids[@]}"; do alive "$p" && left=1; done
		((left)) || return 0
		sleep 0.1
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
}

cleanup() {
	local n
	kill_ns_procs res cli inet
	while read -r n; do
		[[ -n $n ]] && { ip netns del "$n" 2>/dev/null || log "could not delete namespace $n"; }
	done < <(bench_namespaces)
	rm -rf "$dir"
	rmdir "$BENCH_ROOT" 2>/dev/null || true
}

on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	# A trap runs inside the redirections of the interrupted command (a
	# dnsperf output file): talk to the original stdout and stderr again.
	exec 1>&3 2>&4
	if [[ -n $keep_logs && -d $dir ]]; then
		mkdir -p "$keep_logs" && cp -r "$dir/." "$keep_logs/" && log "logs kept in $keep_logs"
	fi
	cleanup
	((rc == 0)) || log "failed (exit $rc); namespaces and processes removed"
	exit "$rc"
}

# ------------------------------------------------------------ layout

mk_ns() {
	ip netns add "$(ns "$1")"
	ip -n "$(ns "$1")" link set lo up
}

# link makes a veth pair whose ends are created directly in the two
# namespaces, each named after the namespace it leads to.
link() {
	ip link add name "$2" netns "$(ns "$1")" type veth peer name "$1" netns "$(ns "$2")"
	ip -n "$(ns "$1")" link set "$2" up
	ip -n "$(ns "$2")" link set "$1" up
}

layout() {
	local a
	mk_ns inet
	mk_ns res
	mk_ns cli
	link inet res
	link res cli
	ip -n "$(ns inet)" addr add "$INET_LINK/30" dev res
	ip -n "$(ns res)" addr add "$RES_LINK/30" dev inet
	ip -n "$(ns res)" addr add "$RES_CLI/24" dev cli
	ip -n "$(ns cli)" addr add "$CLI_ADDR/24" dev res
	# The mini internet's servers sit on inet's lo; the resolver reaches
	# them through the link, the client reaches the service addresses
	# (192.0.2.53-56, on res's lo) the same way. No default routes anywhere.
	while read -r a; do
		[[ $a == *.*.*.* ]] || continue
		ip -n "$(ns inet)" addr add "${a%/*}/32" dev lo
	done < <("$bin_dir/mininet" -prefix4 "$INET4_PREFIX" -prefix6 "" -print-addrs)
	ip -n "$(ns res)" route add "$INET4_PREFIX" via "$INET_LINK"
	ip -n "$(ns cli)" route add 192.0.2.0/24 via "$RES_CLI"
	# UDP buffers large enough that the cached run measures the resolver,
	# not drops in a default-sized socket queue.
	nsx res sysctl -qw net.core.rmem_max=8388608 net.core.wmem_max=8388608 2>/dev/null || true
	nsx cli sysctl -qw net.core.rmem_max=8388608 net.core.wmem_max=8388608 2>/dev/null || true
}

mininet_queries() {
	grep -c 'msg="mininet answer"' "$dir/mininet.log" || true
}

start_mininet() {
	local i
	# -debug logs one line per answer: counting them gives the upstream
	# queries of each phase without a counter API in the binary.
	# nice -n -10: on a shared machine, other builds otherwise stall
	# mininet's answers for hundreds of ms, and a resolver with a tight
	# RTT-based timeout (kresd) backs off the one bench.lab. server.
	ip netns exec "$(ns inet)" setsid nice -n -10 "$bin_dir/mininet" -prefix4 "$INET4_PREFIX" -prefix6 "" \
		-port 53 -latency "$latency" -debug -root-hints "$dir/root.hints" \
		</dev/null >"$dir/mininet.log" 2>&1 &
	for ((i = 0; i < 100; i++)); do
		[[ -s $dir/root.hints ]] && break
		alive $! || die "mininet exited at start: $(tail -n 5 "$dir/mininet.log")"
		sleep 0.1
	done
	[[ -s $dir/root.hints ]] || die "mininet wrote no root hints within 10 s"
	log "mininet up in $(ns inet), latency $latency"
}

# ------------------------------------------------------------ resolvers

svc_addr() {
	case $1 in
	anycastd) echo 192.0.2.53 ;;
	unbound) echo 192.0.2.54 ;;
	kresd) echo 192.0.2.55 ;;
	pdns) echo 192.0.2.56 ;;
	*) die "unknown resolver '$1' (anycastd unbound kresd pdns)" ;;
	esac
}

start_anycastd() {
	local d=$dir/anycastd
	mkdir -p "$d/state"
	chmod 0700 "$d/state"
	cat >"$d/anycastd.yaml" <<EOF
version: 1
node: {name: bench, state_dir: $d/state, control_socket: $d/control.sock}
# anycastd puts the address on lo itself and removes it on exit.
service: {interface: lo, addresses: [$(svc_addr anycastd)]}
resolver: {root_hints: $dir/root.hints, cache_size: 64MiB}
bgp:
  asn: 64512
  router_id: $RES_LINK
  peers:
    - {address: $BGP_PEER, asn: 64496}
metrics: {listen: "127.0.0.1:9253"}
tls: {cert_file: $dir/tls.crt, key_file: $dir/tls.key, transports: [dot, doh]}
drain: {lame_duck: 0s, timeout: 1s}
log: {level: warn}
EOF
	ip netns exec "$(ns res)" setsid "$bin_dir/anycastd" -config "$d/anycastd.yaml" \
		</dev/null >"$d/log" 2>&1 &
}

start_unbound() {
	local d=$dir/unbound
	mkdir -p "$d"
	cat >"$d/unbound.conf" <<EOF
server:
	interface: $(svc_addr unbound)
	interface: $(svc_addr unbound)@853
	port: 53
	tls-port: 853
	tls-service-key: "$dir/tls.key"
	tls-service-pem: "$dir/tls.crt"
	access-control: 0.0.0.0/0 allow
	num-threads: $threads
	so-reuseport: yes
	chroot: ""
	username: ""
	directory: "$d"
	pidfile: "$d/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 0
	root-hints: "$dir/root.hints"
	do-ip6: no
	# No validator until the mini internet is signed.
	module-config: "iterator"
	msg-cache-size: 32m
	rrset-cache-size: 32m
	so-rcvbuf: 4m
	so-sndbuf: 4m
remote-control:
	control-enable: no
EOF
	unbound-checkconf "$d/unbound.conf" >/dev/null || die "unbound-checkconf rejected $d/unbound.conf"
	ip netns exec "$(ns res)" setsid unbound -d -c "$d/unbound.conf" </dev/null >"$d/log" 2>&1 &
}

start_kresd() {
	local d=$dir/kresd i hints
	mkdir -p "$d/cache"
	# hints.root() replaces the built-in root servers with the mini
	# internet's, read from the hints mininet wrote.
	hints=$(awk '$3 == "A" || $4 == "A" {printf "\t[\"%s\"] = \"%s\",\n", $1, $NF}' "$dir/root.hints")
	[[ -n $hints ]] || die "no A records in $dir/root.hints"
	cat >"$d/config.lua" <<EOF
-- Knot Resolver config for the bench; not the Debian default.
net.ipv6 = false
net.listen('$(svc_addr kresd)', 53, { kind = 'dns' })
net.listen('$(svc_addr kresd)', 853, { kind = 'tls' })
net.listen('$(svc_addr kresd)', 443, { kind = 'doh2' })
net.tls('$dir/tls.crt', '$dir/tls.key')
trust_anchors.remove('.')
cache.open(64 * MB, 'lmdb://$d/cache')
modules.load('hints > iterate')
hints.root({
$hints
})
log_level('${BENCH_KRESD_LOG:-warning}')
EOF
	# One process per thread, sharing the cache and the socket (SO_REUSEPORT),
	# which is how kresd uses more than one core.
	for ((i = 1; i <= threads; i++)); do
		ip netns exec "$(ns res)" setsid kresd -n -q -c "$d/config.lua" "$d" \
			</dev/null >"$d/log.$i" 2>&1 &
	done
}

start_pdns() {
	local d=$dir/pdns
	mkdir -p "$d"
	cat >"$d/recursor.conf" <<EOF
# PowerDNS Recursor config for the bench; not the Debian default.
config-dir=$d
socket-dir=$d
daemon=no
write-pid=no
local-address=$(svc_addr pdns)
local-port=53
allow-from=0.0.0.0/0
hint-file=$dir/root.hints
# The default dont-query list holds the documentation prefixes the mini
# internet lives in.
dont-query=
dnssec=off
threads=$threads
reuseport=yes
query-local-address=0.0.0.0
max-cache-entries=1000000
loglevel=3
quiet=yes
EOF
	ip netns exec "$(ns res)" setsid pdns_recursor --config-dir="$d" </dev/null >"$d/log" 2>&1 &
}

# start_resolver starts one resolver and waits until it answers through its
# service address from the client namespace. The first answer primes the
# root, com. and the suffix's delegation, so the cold run measures names
# below an already known zone cut, the same for every resolver.
start_resolver() {
	local r=$1 addr i
	addr=$(svc_addr "$r")
	if [[ $r != anycastd ]]; then
		ip -n "$(ns res)" addr add "$addr/32" dev lo
	fi
	"start_$r"
	for ((i = 0; i < 150; i++)); do
		if nsx cli dig +time=1 +tries=1 +noall +answer "@$addr" "www.$suffix" A 2>/dev/null |
			grep -qE '[[:space:]]A[[:space:]]'; then
			log "$r answers on $addr"
			return 0
		fi
		sleep 0.2
	done
	tail -n 20 "$dir/$r"/log* >&2 || true
	die "$r did not answer www.$suffix on $addr within 30 s"
}

stop_resolver() {
	local r=$1
	kill_ns_procs res
	if [[ $r != anycastd ]]; then
		ip -n "$(ns res)" addr del "$(svc_addr "$r")/32" dev lo 2>/dev/null || true
	fi
}

rss_kib() {
	local p total=0 v
	while read -r p; do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
		total=$((total + ${v:-0}))
	done < <(ip netns pids "$(ns res)" 2>/dev/null || true)
	echo "$total"
}

# ------------------------------------------------------------ measuring

# names FILE PREFIX COUNT writes COUNT distinct A queries under the suffix.
# The run id keeps names distinct from any earlier run against the same
# (persistent) mininet process; each resolver starts with an empty cache.
names() {
	awk -v p="$2" -v n="$3" -v s="$suffix" 'BEGIN {for (i = 1; i <= n; i++) printf "%s%d.%s A\n", p, i, s}' >"$1"
}

# latency_stats reads dnsperf -v output and prints "median_ms p99_ms
# completed lost". Lost queries count as the timeout, so a resolver that
# drops answers cannot look fast.
latency_stats() {
	local raw
	raw=$(cat)
	{
		awk -v t="$TIMEOUT_S" '
			/^> / { if (NF >= 5 && $NF ~ /^[0-9.]+$/) print $NF; else seen++ }
			/Queries lost:/ { lost = $3 }
			END { if (seen > lost) lost = seen; for (i = 0; i < lost; i++) print t }' <<<"$raw" |
			sort -g
	} | awk -v lost="$(awk '/Queries lost:/ {print $3}' <<<"$raw")" '
		{ s[n++] = $1 }
		END {
			if (n == 0) { print "- - 0 0"; exit }
			printf "%.1f %.1f %d %d\n", s[int((n - 1) * 0.5)] * 1000, s[int((n - 1) * 0.99)] * 1000, n - lost, lost + 0
		}'
}

# measure_one runs every phase against one resolver and prints one result
# line: resolver median p99 upq qps rss_mib cold_rcodes.
measure_one() {
	local r=$1 addr q0 q1 q i stats upq qps rss rcodes cached_upq lost all load
	addr=$(svc_addr "$r")
	start_resolver "$r"

	log "$r: cold run, $cold_names names at $cold_qps q/s"
	q0=$(mininet_queries)
	bg_wait nsx cli dnsperf -s "$addr" -d "$dir/cold.txt" -n 1 -Q "$cold_qps" -q 1000 -t "$TIMEOUT_S" -v \
		>"$dir/$r.cold" 2>&1 || true
	q1=$(mininet_queries)
	stats=$(latency_stats <"$dir/$r.cold")
	upq=$(awk -v a="$q0" -v b="$q1" -v n="$cold_names" 'BEGIN {printf "%.2f", (b - a) / n}')
	rcodes=$(awk -F': *' '/Response codes:/ {print $2}' "$dir/$r.cold" | sed 's/ ([0-9.]*%)//g')

	log "$r: priming $cached_names names"
	# At a bounded rate, twice: a burst of misses makes some resolvers drop
	# queries, and the cached run must find every name in the cache.
	bg_wait nsx cli dnsperf -s "$addr" -d "$dir/cached.txt" -n 2 -Q "$prime_qps" -q 200 -t "$TIMEOUT_S" \
		>"$dir/$r.prime" 2>&1 || true
	log "$r: cached run, $cached_runs x ${cached_seconds}s"
	q0=$(mininet_queries)
	qps=0
	lost=0
	all=""
	for ((i = 1; i <= cached_runs; i++)); do
		# shellcheck disable=SC2086 # dnsperf_args is a list of options
		bg_wait nsx cli dnsperf -s "$addr" -d "$dir/cached.txt" -l "$cached_seconds" $dnsperf_args -t "$TIMEOUT_S" \
			>"$dir/$r.cached.$i" 2>&1 || true
		q=$(awk '/Queries per second:/ {printf "%d", $4}' "$dir/$r.cached.$i")
		all+="${all:+,}${q:-0}"
		# Best of the runs: on a shared machine a slower run measures the
		# neighbours, not the resolver.
		if ((${q:-0} > qps)); then
			qps=$q
			lost=$(awk '/Queries lost:/ {print $3}' "$dir/$r.cached.$i")
		fi
	done
	q1=$(mininet_queries)
	cached_upq=$((q1 - q0))
	rss=$(($(rss_kib) / 1024))

	local tcp dot doh lat_avg lat_stats coldfast mem
	log "$r: cached over TCP, DoT, DoH, ${stream_seconds}s each (where supported)"
	tcp=$(stream_qps "$r" tcp 53)
	dot=-
	doh=-
	if supports "$r" dot; then dot=$(stream_qps "$r" dot 853); fi
	if supports "$r" doh; then doh=$(stream_qps "$r" doh 443); fi

	log "$r: latency at $lat_qps q/s for ${lat_seconds}s"
	bg_wait nsx cli dnsperf -s "$addr" -d "$dir/cached.txt" -l "$lat_seconds" -Q "$lat_qps" -c 4 -T 2 -q 2000 -t "$TIMEOUT_S" -v \
		>"$dir/$r.lat" 2>&1 || true
	lat_avg=$(awk '/Average Latency \(s\):/ {printf "%.2f", $4 * 1000}' "$dir/$r.lat")
	lat_stats=$(latency_stats <"$dir/$r.lat")

	log "$r: cold names/s, $coldfast_names names as fast as answered"
	bg_wait nsx cli dnsperf -s "$addr" -d "$dir/coldfast.txt" -n 1 -q 200 -t "$TIMEOUT_S" \
		>"$dir/$r.coldfast" 2>&1 || true
	coldfast=$(awk '/Queries completed:/ {c = $3} /Run time \(s\):/ {t = $4} END {if (t > 0) printf "%d", c / t; else print "-"}' "$dir/$r.coldfast")

	log "$r: caching $mem_names names at $mem_qps q/s for the memory reading"
	bg_wait nsx cli dnsperf -s "$addr" -d "$dir/mem.txt" -n 1 -Q "$mem_qps" -q 500 -t "$TIMEOUT_S" \
		>"$dir/$r.mem" 2>&1 || true
	mem=$(($(rss_kib) / 1024))

	load=$(cut -d' ' -f1 /proc/loadavg)
	stop_resolver "$r"
	printf '%s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s|%s\n' "$r" "$stats" "$upq" "$qps" "$rss" "$cached_upq" \
		"${lost:-0}" "$all" "$load" "${tcp:--}" "$dot" "$doh" "${lat_avg:--}" "$(awk '{print $2}' <<<"$lat_stats")" \
		"$coldfast" "$mem" "${rcodes:-none}"
}

# supports RESOLVER MODE: which peers serve DoT and DoH in this bench
# (PowerDNS Recursor 4.8 serves neither; Unbound's DoH needs a separate
# HTTP/2 set-up we leave out).
supports() {
	case "$1:$2" in
	anycastd:dot | anycastd:doh | unbound:dot | kresd:dot | kresd:doh) return 0 ;;
	esac
	return 1
}

# stream_qps RESOLVER MODE PORT runs the cached names over a stream
# transport and prints the q/s.
stream_qps() {
	local r=$1 mode=$2 port=$3 q
	# shellcheck disable=SC2086 # dnsperf_args is a list of options
	bg_wait nsx cli dnsperf -m "$mode" -p "$port" -s "$(svc_addr "$r")" -d "$dir/cached.txt" -l "$stream_seconds" \
		$dnsperf_args -t "$TIMEOUT_S" >"$dir/$r.$mode" 2>&1 || true
	q=$(awk '/Queries per second:/ {printf "%d", $4}' "$dir/$r.$mode")
	echo "${q:--}"
}

# ------------------------------------------------------------ report

machine() {
	printf '%s cores, %s, Linux %s' "$(nproc)" \
		"$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)" "$(uname -r)"
}

versions() {
	local r
	for r in $resolvers; do
		case $r in
		anycastd) printf -- '- %s\n' "$("$bin_dir/anycastd" -version 2>&1 | head -n1)" ;;
		unbound) printf -- '- Unbound %s\n' "$(unbound -V | awk '/^Version/ {print $2; exit}')" ;;
		kresd) printf -- '- %s\n' "$(kresd --version | head -n1)" ;;
		pdns) printf -- '- %s\n' "$(pdns_recursor --version 2>&1 | grep -o 'PowerDNS Recursor [0-9.]*' | head -n1)" ;;
		esac
	done
}

command_line() {
	local v c=""
	for v in BENCH_RESOLVERS BENCH_LATENCY BENCH_COLD_NAMES BENCH_COLD_QPS BENCH_CACHED_NAMES \
		BENCH_CACHED_SECONDS BENCH_CACHED_RUNS BENCH_PRIME_QPS BENCH_SUFFIX BENCH_THREADS BENCH_DNSPERF_ARGS BENCH_BIN \
		BENCH_STREAM_SECONDS BENCH_LATENCY_QPS BENCH_LATENCY_SECONDS BENCH_COLDFAST_NAMES BENCH_MEM_NAMES BENCH_MEM_QPS; do
		[[ -n ${!v:-} ]] && c+="$v='${!v}' "
	done
	if [[ -n ${MAKELEVEL:-} ]]; then c+="make bench"; else c+="scripts/bench/run.sh"; fi
	printf '%s' "$c"
}

# table prints the results and anycastd's ratios as markdown.
table() {
	local results=$1
	echo "| resolver | cold median ms | cold p99 ms | upstream q per client q | cold names/s | cached UDP q/s | TCP q/s | DoT q/s | DoH q/s | avg ms at ${lat_qps} q/s | p99 ms at ${lat_qps} q/s | RSS MiB after cached | RSS MiB after ${mem_names} names |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk '{split($0, a, "|"); split(a[1], f, " ");
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3], f[6], f[18], f[7], f[13], f[14], f[15], f[16], f[17], f[8], f[19]}' "$results"
	if grep -q '^anycastd ' "$results" && (($(wc -l <"$results") > 1)); then
		echo
		echo "anycastd's ratio to each peer (anycastd / peer; for latency, upstream"
		echo "queries and memory lower is better, for q/s and names/s higher is better):"
		echo
		echo "| peer | cold median | cold p99 | upstream q per client q | cold names/s | cached UDP q/s | TCP q/s | DoT q/s | DoH q/s | avg at ${lat_qps} q/s | p99 at ${lat_qps} q/s | RSS after ${mem_names} names |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		awk '
			function r(a, b) { return (b ~ /^[0-9.]+$/ && b + 0 > 0 && a ~ /^[0-9.]+$/) ? sprintf("%.2f", a / b) : "-" }
			{ split($0, x, "|"); split(x[1], f, " "); for (j = 1; j <= 19; j++) v[NR, j] = f[j]
			  if (f[1] == "anycastd") a = NR }
			END { for (i = 1; i <= NR; i++) if (i != a)
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", v[i, 1],
					r(v[a, 2], v[i, 2]), r(v[a, 3], v[i, 3]), r(v[a, 6], v[i, 6]), r(v[a, 18], v[i, 18]),
					r(v[a, 7], v[i, 7]), r(v[a, 13], v[i, 13]), r(v[a, 14], v[i, 14]), r(v[a, 15], v[i, 15]),
					r(v[a, 16], v[i, 16]), r(v[a, 17], v[i, 17]), r(v[a, 19], v[i, 19]) }' "$results"
	fi
}

details() {
	local results=$1
	echo "Per resolver: cold-run answers (answered, lost, response codes); cached"
	echo "runs (q/s of each; upstream queries during them, ~0 when every name was"
	echo "primed; lost queries, mostly those in flight when dnsperf stops); the"
	echo "1-minute load average at the end:"
	echo
	awk '{split($0, a, "|"); split(a[1], f, " ");
		printf "- %s: cold %s answered, %s lost (%s); cached runs %s q/s, %s upstream queries, %s lost; load %s\n",
			f[1], f[4], f[5], a[2], f[11], f[9], f[10], f[12]}' "$results"
	if awk -F'|' '$2 ~ /SERVFAIL/ {found = 1} {split($1, f, " "); if (f[5] > 0) found = 1} END {exit !found}' "$results"; then
		echo
		echo "SERVFAIL or lost answers in a cold run: answers from the one bench.lab."
		echo "server came late (a loaded machine stalls mininet, by up to 650 ms in one"
		echo "run) and the resolver gave up instead of waiting or retrying. Which one"
		echo "it was shows in the logs (BENCH_KEEP_LOGS=DIR): mininet.log has the"
		echo "upstream answer, RESOLVER.cold the client's SERVFAIL and its latency."
	fi
}

# splice_doc replaces the part of the page between the bench markers with a
# fresh write_doc, so sections other tools and people keep there (lifecycle
# timings, encrypted transports, DNSSEC) survive a rerun.
splice_doc() {
	local page=$1 tmp=$2 results=$3
	{
		echo '<!-- make bench: begin (scripts/bench/run.sh rewrites up to the end marker) -->'
		write_doc "$results"
		echo '<!-- make bench: end -->'
	} >"$tmp"
	if [[ -f $page ]] && grep -q '^<!-- make bench: begin' "$page" && grep -q '^<!-- make bench: end' "$page"; then
		awk -v new="$tmp" '
			/^<!-- make bench: begin/ { while ((getline line < new) > 0) print line; skip = 1; next }
			/^<!-- make bench: end/ { skip = 0; next }
			!skip { print }
		' "$page" >"$page.tmp"
		mv "$page.tmp" "$page"
	elif [[ -f $page ]]; then
		# A page without markers: the run goes first, the rest follows.
		cat "$tmp" "$page" >"$page.tmp"
		mv "$page.tmp" "$page"
	else
		cp "$tmp" "$page"
	fi
}

# profile_notes is what pprof shows of anycastd's cached path; written by
# hand from \`go test -bench BenchmarkUDPServerCached -cpuprofile\` (see
# docs/resolver.md, Performance), kept here so a rerun keeps it.
profile_notes() {
	cat <<'NOTES'
## Where the time goes (pprof)

anycastd's UDP server (resolver/udp.go, fast.go): one SO_REUSEPORT socket per
core per address, recvmmsg/sendmmsg batches of up to 32, cached answers
served from pre-packed wire form by the socket's reader (ID, flags, question
case and TTLs patched in place), everything else through a bounded queue to a
fixed worker pool. In-process numbers (`go test -bench . ./resolver/`, this
machine):

| benchmark | ns/op | allocs/op |
|---|---:|---:|
| BenchmarkFastAnswer (parse, look-up, copy, patch, count) | ~280 | 0 |
| BenchmarkRespondCached (the old path: dns.Msg in and out) | ~4,450 | 29 |
| BenchmarkParseFast | ~29 | 0 |
| BenchmarkPatchTTLs (two records) | ~4 | 0 |
| BenchmarkUDPServerCached (loopback, client in the same process) | ~7,700 | 2 |

A CPU profile of BenchmarkUDPServerCached (5 s) puts 86% of samples in
system calls (the server's sendmmsg 35%, its recvmmsg 7%, the client's
write/read the rest), 2-3% in the clock (time.Now for the TTL age), 3% in
otter's Get, 1% in parsing, and under 5% in the whole fast answer. The 2
allocations per query are golang.org/x/net's ReadBatch building a
net.UDPAddr and its IP for each datagram. So the remaining gap to Unbound on
cached UDP is not in building answers: it is per-datagram kernel work that
both pay, the Go scheduler's netpoll wake-ups between batches (a reader
parks whenever its socket is empty, which at bench load is often, so
batches stay small), and those two allocations (GC work). What would close
more of it: recvmmsg into a raw sockaddr buffer without x/net's per-message
net.Addr (zero allocations), spinning a little before parking, and a cheaper
clock (a coarse time updated once per batch).
NOTES
}

write_doc() {
	local results=$1 date_s
	date_s=$(date -u '+%Y-%m-%d %H:%M UTC')
	cat <<EOF
# Benchmarks

Written by \`make bench\` (scripts/bench/run.sh); a rerun replaces this part
of the page, up to the end marker, and keeps the sections after it.
The numbers come from a shared, noisy 2-core machine where dnsperf, the
resolver and the mini internet compete for the same cores, often beside other
builds: **read them as ratios between resolvers measured in the same run, not
as absolutes.**

## Last run

- date: $date_s
- machine: $(machine); load average before the run: $load_before
- command: \`$(command_line)\`
- mini internet: mininet, IPv4 only, ${latency} added before every answer
  (the kernel here has no tc netem, so mininet adds it), at nice -10 so that
  neighbours on the machine delay its answers less
- resolvers, each alone in the resolver namespace with an empty cache,
  ${threads} threads (kresd: ${threads} processes sharing the cache), no DNSSEC
  validation (the mini internet is not signed yet):
$(versions | sed 's/^/  /')

$(table "$results")

$(details "$results")

## What is measured

- **cold median / p99**: ${cold_names} distinct names never asked before
  (\`bench-<i>.${suffix} A\`), sent by dnsperf at a fixed ${cold_qps} q/s; per-query
  latency from \`dnsperf -v\`, a lost query counts as the ${TIMEOUT_S} s timeout.
  Before the run one query for \`www.${suffix}\` primes the root, the TLD and the
  zone cut, so every resolver starts from the same known delegations.
- **upstream q per client q**: queries the mini internet answered during the
  cold run (one debug log line each, \`mininet -debug\`) divided by the client
  queries.
- **cached q/s**: ${cached_names} other names are primed, then dnsperf
  (\`${dnsperf_args}\`, UDP) asks them for ${cached_seconds} s,
  ${cached_runs} time(s); the best q/s counts. The answers' TTL (3600 s in
  bench.lab.) outlives the runs.
- **TCP / DoT / DoH q/s**: the same cached names and dnsperf load shape over
  \`dnsperf -m tcp|dot|doh\` for ${stream_seconds} s each, one run. DoT and DoH only
  where the peer serves them here: anycastd (DoT, DoH), Unbound (DoT; its DoH
  is left out), kresd (DoT, DoH/2); PowerDNS Recursor 4.8 serves neither
  ("-"). One self-signed certificate for all, not verified by dnsperf.
- **avg / p99 ms at ${lat_qps} q/s**: the cached names at a fixed ${lat_qps} q/s
  for ${lat_seconds} s (\`dnsperf -Q ${lat_qps} -v\`): dnsperf's average latency,
  and the 99th percentile of the per-query latencies (a lost query counts
  as the ${TIMEOUT_S} s timeout).
- **cold names/s**: ${coldfast_names} further never-seen names, 200 outstanding,
  as fast as the resolver answers them; answered names per second of run time.
- **RSS MiB after cached**: resident memory of the resolver's processes after
  the cached runs (10,000-odd names). **RSS MiB after ${mem_names} names**: after
  ${mem_names} more distinct names were resolved at ${mem_qps} q/s
  (\`BENCH_MEM_NAMES\`, \`BENCH_MEM_QPS\`), so each cache holds them all.

$(profile_notes)

Every name is one level below a known zone cut, so the upstream ratio shows
overhead (retries, extra look-ups) rather than QNAME-minimisation depth.

## Running it

\`\`\`sh
make bench                                   # deps, build, then scripts/bench/run.sh
BENCH_CACHED_SECONDS=5 BENCH_COLD_NAMES=2000 scripts/bench/run.sh   # quicker
BENCH_RESOLVERS="anycastd unbound" BENCH_OUT= scripts/bench/run.sh  # print only
scripts/bench/run.sh down                    # after a kill -9
\`\`\`

The script installs Knot Resolver and PowerDNS Recursor (scripts/bench/deps.sh,
their packaged services stopped and disabled), builds three network
namespaces (\`acdb-inet\`, \`acdb-res\`, \`acdb-cli\`) joined by veth pairs that
never touch the host, points every resolver at the mini internet's root hints
only, and removes everything on exit, failure or ^C. The whole run takes about
five minutes with the defaults.
EOF
}

# ------------------------------------------------------------ main

main() {
	local r results
	((EUID == 0)) || die "must run as root (network namespaces)"
	[[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,10}$ ]] || die "bad BENCH_NAME '$name'"
	if [[ ${1:-} == down ]]; then
		cleanup
		log "down"
		return 0
	fi
	(($# == 0)) || die "usage: $0 [down]"
	[[ -x $bin_dir/anycastd && -x $bin_dir/mininet ]] || die "$bin_dir/anycastd or mininet missing: make build"
	"$SCRIPT_DIR/deps.sh"
	for r in $resolvers; do svc_addr "$r" >/dev/null; done
	if [[ -e $dir || -n $(bench_namespaces) ]]; then
		die "a bench named $name exists; run: $0 down"
	fi
	exec 3>&1 4>&2
	trap on_exit EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$dir"
	chmod 0755 "$BENCH_ROOT" "$dir"
	layout
	start_mininet
	names "$dir/cold.txt" bench- "$cold_names"
	names "$dir/cached.txt" cached- "$cached_names"
	names "$dir/coldfast.txt" coldfast- "$coldfast_names"
	names "$dir/mem.txt" mem- "$mem_names"
	# One self-signed certificate for every resolver's DoT/DoH; dnsperf
	# does not verify it.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench \
		-keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null || die "openssl could not make a certificate"
	chmod 0644 "$dir/tls.key" "$dir/tls.crt"

	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	results=$dir/results
	: >"$results"
	for r in $resolvers; do
		measure_one "$r" >>"$results"
		log "$r: $(tail -n 1 "$results")"
	done
	echo
	table "$results"
	echo
	details "$results"
	if [[ -n $out ]]; then
		splice_doc "$out" "$dir/doc.md" "$results"
		log "wrote $out"
	fi
}

main "$@"
