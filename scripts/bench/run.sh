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
#   BENCH_CACHED_RUNS    3      cached runs per resolver; the best q/s counts
#   BENCH_STREAM_SECONDS 10     cached runs over TCP, DoT and DoH (where the peer has them)
#   BENCH_STREAM_RUNS    2      runs of each; the best q/s counts
#   BENCH_LATENCY_QPS    10000  fixed rate of the latency run over the cached names
#   BENCH_LATENCY_SECONDS 10
#   BENCH_COLDFAST_NAMES 20000  distinct names asked as fast as the resolver answers
#   BENCH_MEM_NAMES      200000 names cached before the RSS reading
#   BENCH_MEM_QPS        5000   rate at which they are primed (200,000 take 40 s)
#   BENCH_SUFFIX         bench.lab   zone the distinct names are made under
#                        (a wildcard zone in the mini internet: every name exists)
#   BENCH_DNSSEC         1      every resolver validates against the mini root's
#                        trust anchor and the validated cold phase runs ("0": no
#                        validation anywhere, no validated phase)
#   BENCH_DNSSEC_SUFFIX  wild.example.org   signed wildcard zone of the validated phase
#   BENCH_DNSSEC_COLD_NAMES 3000  validated names at BENCH_DNSSEC_QPS (median, p99)
#   BENCH_DNSSEC_QPS     500
#   BENCH_DNSSEC_NAMES   10000  further validated names as fast as answered (names/s, CPU)
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
cached_runs=${BENCH_CACHED_RUNS:-3}
suffix=${BENCH_SUFFIX:-bench.lab}
suffix=${suffix%.}
threads=${BENCH_THREADS:-2}
stream_seconds=${BENCH_STREAM_SECONDS:-10}
stream_runs=${BENCH_STREAM_RUNS:-2}
lat_qps=${BENCH_LATENCY_QPS:-10000}
lat_seconds=${BENCH_LATENCY_SECONDS:-10}
coldfast_names=${BENCH_COLDFAST_NAMES:-20000}
mem_names=${BENCH_MEM_NAMES:-200000}
mem_qps=${BENCH_MEM_QPS:-5000}
dnsperf_args=${BENCH_DNSPERF_ARGS:--c 4 -T 2 -q 200}
dnssec=${BENCH_DNSSEC:-1}
dnssec_suffix=${BENCH_DNSSEC_SUFFIX:-wild.example.org}
dnssec_suffix=${dnssec_suffix%.}
dnssec_cold_names=${BENCH_DNSSEC_COLD_NAMES:-3000}
dnssec_qps=${BENCH_DNSSEC_QPS:-500}
dnssec_names=${BENCH_DNSSEC_NAMES:-10000}
out=${BENCH_OUT-docs/benchmarks.md}
[[ -z $out || $out == /* ]] || out=$REPO_DIR/$out
keep_logs=${BENCH_KEEP_LOGS:-}
bin_dir=${BENCH_BIN:-$REPO_DIR/bin}
readonly stream_seconds stream_runs lat_qps lat_seconds coldfast_names mem_names mem_qps
readonly dnssec dnssec_suffix dnssec_cold_names dnssec_qps dnssec_names
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
		-port 53 -latency "$latency" -debug -root-hints "$dir/root.hints" -trust-anchor "$dir/root.ds" \
		</dev/null >"$dir/mininet.log" 2>&1 &
	for ((i = 0; i < 100; i++)); do
		[[ -s $dir/root.hints && -s $dir/root.ds ]] && break
		alive $! || die "mininet exited at start: $(tail -n 5 "$dir/mininet.log")"
		sleep 0.1
	done
	[[ -s $dir/root.hints && -s $dir/root.ds ]] || die "mininet wrote no root hints or trust anchor within 10 s"
	chmod 0644 "$dir/root.ds"
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
	local d=$dir/anycastd validation="dnssec: false"
	((dnssec)) && validation="trust_anchor: $dir/root.ds"
	mkdir -p "$d/state"
	chmod 0700 "$d/state"
	cat >"$d/anycastd.yaml" <<EOF
version: 1
node: {name: bench, state_dir: $d/state, control_socket: $d/control.sock}
# anycastd puts the address on lo itself and removes it on exit.
service: {interface: lo, addresses: [$(svc_addr anycastd)]}
resolver: {root_hints: $dir/root.hints, cache_size: 64MiB, $validation}
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
	interface: $(svc_addr unbound)@443
	port: 53
	tls-port: 853
	# DoH (HTTP/2, /dns-query; Debian's Unbound is built with libnghttp2).
	https-port: 443
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
$(unbound_dnssec)
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

# unbound_dnssec prints the validator lines of unbound.conf: the mini
# root's DS as the only anchor (no root.key, no auto-trust-anchor-file).
unbound_dnssec() {
	if ((dnssec)); then
		printf '\tmodule-config: "validator iterator"\n\ttrust-anchor-file: "%s"\n' "$dir/root.ds"
		# No answers synthesised from cached NSEC (RFC 8198): the validated
		# phase measures cache misses (anycastd synthesises no wildcards).
		printf '\taggressive-nsec: no\n'
	else
		printf '\tmodule-config: "iterator"\n'
	fi
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
$(if ((dnssec)); then echo "trust_anchors.add_file('$dir/root.ds', true) -- unmanaged: no RFC 5011, no writes"; fi)
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
$(if ((dnssec)); then
		printf 'dnssec=validate\nlua-config-file=%s\n' "$d/recursor.lua"
		# As for Unbound: no RFC 8198 synthesis in the validated phase.
		echo aggressive-nsec-cache-size=0
	else echo dnssec=off; fi)
threads=$threads
reuseport=yes
query-local-address=0.0.0.0
max-cache-entries=1000000
loglevel=3
quiet=yes
EOF
	# The mini root's DS replaces the built-in root anchors (4.8: Lua config).
	awk '$4 == "DS" {printf "addTA(\".\", \"%s %s %s %s\")\n", $5, $6, $7, $8}' "$dir/root.ds" |
		{
			echo "clearTA('.')"
			cat
		} >"$d/recursor.lua"
	grep -q addTA "$d/recursor.lua" || die "no DS in $dir/root.ds"
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

# cpu_ticks prints the CPU time (user + system, clock ticks, all threads)
# the resolver's processes have used so far.
cpu_ticks() {
	local p total=0 v
	while read -r p; do
		# Past the ") " that ends the command name, utime and stime are
		# fields 12 and 13.
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || true
		total=$((total + ${v:-0}))
	done < <(ip netns pids "$(ns res)" 2>/dev/null || true)
	echo "$total"
}

# ms_per_answer TICKS_BEFORE TICKS_AFTER DNSPERF_OUTPUT prints the
# resolver's CPU milliseconds per NOERROR answer of one dnsperf run.
ms_per_answer() {
	awk -v a="$1" -v b="$2" -v hz="$(getconf CLK_TCK)" '
		/Response codes:/ { for (i = 1; i < NF; i++) if ($i == "NOERROR") n = $(i + 1) }
		END { if (n > 0) printf "%.3f", (b - a) * 1000 / hz / n; else print "-" }' "$3"
}

# names_per_s DNSPERF_OUTPUT prints answered queries per second of run time.
names_per_s() {
	awk '/Queries completed:/ {c = $3} /Run time \(s\):/ {t = $4} END {if (t > 0) printf "%d", c / t; else print "-"}' "$1"
}

rcodes_of() {
	local r
	r=$(awk -F': *' '/Response codes:/ {print $2}' "$1" | sed 's/ ([0-9.]*%)//g')
	echo "${r:-none}"
}

# check_validation RESOLVER asks for a signed name with DO and for the
# mini internet's deliberately bogus canary, and prints what it saw:
# "AD+SERVFAIL" is a validating resolver; anything else is logged loudly.
check_validation() {
	local r=$1 addr good bad
	addr=$(svc_addr "$r")
	good=$(nsx cli dig +dnssec +time=3 +tries=2 "@$addr" "check.$dnssec_suffix" A 2>/dev/null |
		awk '/^;; flags:/ {f = $0; sub(/^;; flags:/, "", f); sub(/;.*/, "", f); print (f ~ / ad( |$)/) ? "AD" : "noAD"; exit}')
	bad=$(nsx cli dig +dnssec +time=3 +tries=2 "@$addr" bad.canary.lab A 2>/dev/null |
		grep -o 'status: [A-Z]*' | awk '{print $2; exit}')
	good=${good:-noanswer}
	bad=${bad:-noanswer}
	if [[ $good == AD && $bad == SERVFAIL ]]; then
		log "$r validates: check.$dnssec_suffix A has AD, bad.canary.lab A is SERVFAIL"
	else
		log "WARNING: $r does not validate: check.$dnssec_suffix A $good, bad.canary.lab A $bad"
	fi
	echo "$good+$bad"
}

# measure_dnssec RESOLVER runs the validated cold phase and prints
# "check median p99 completed lost names_s cpu_ms upq|fixed_rcodes|fast_rcodes".
measure_dnssec() {
	local r=$1 addr check q0 q1 t0 t1 stats
	addr=$(svc_addr "$r")
	if ((!dnssec)); then
		echo "off - - 0 0 - - -|none|none"
		return
	fi
	# The check also primes the chain of trust (root, org., example.org.
	# keys), as www.SUFFIX primes the delegations for the cold run.
	check=$(check_validation "$r")
	log "$r: validated cold run, $dnssec_cold_names names at $dnssec_qps q/s"
	q0=$(mininet_queries)
	bg_wait nsx cli dnsperf -s "$addr" -d "$dir/dnssec.txt" -n 1 -Q "$dnssec_qps" -q 1000 -t "$TIMEOUT_S" -v \
		>"$dir/$r.dnssec" 2>&1 || true
	stats=$(latency_stats <"$dir/$r.dnssec")
	log "$r: validated cold names/s, $dnssec_names names as fast as answered"
	t0=$(cpu_ticks)
	bg_wait nsx cli dnsperf -s "$addr" -d "$dir/dnssecfast.txt" -n 1 -q 200 -t "$TIMEOUT_S" \
		>"$dir/$r.dnssecfast" 2>&1 || true
	t1=$(cpu_ticks)
	q1=$(mininet_queries)
	printf '%s %s %s %s %s|%s|%s\n' "$check" "$stats" "$(names_per_s "$dir/$r.dnssecfast")" \
		"$(ms_per_answer "$t0" "$t1" "$dir/$r.dnssecfast")" \
		"$(awk -v a="$q0" -v b="$q1" -v n="$((dnssec_cold_names + dnssec_names))" 'BEGIN {printf "%.2f", (b - a) / n}')" \
		"$(rcodes_of "$dir/$r.dnssec")" "$(rcodes_of "$dir/$r.dnssecfast")"
}

# ------------------------------------------------------------ measuring

# names FILE PREFIX COUNT [SUFFIX] writes COUNT distinct A queries under
# SUFFIX (default: the bench suffix).
# The run id keeps names distinct from any earlier run against the same
# (persistent) mininet process; each resolver starts with an empty cache.
names() {
	awk -v p="$2" -v n="$3" -v s="${4:-$suffix}" 'BEGIN {for (i = 1; i <= n; i++) printf "%s%d.%s A\n", p, i, s}' >"$1"
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
			printf "%.2f %.2f %d %d\n", s[int((n - 1) * 0.5)] * 1000, s[int((n - 1) * 0.99)] * 1000, n - lost, lost + 0
		}'
}

# measure_one runs every phase against one resolver and prints one result
# line: resolver median p99 upq qps rss_mib cold_rcodes.
measure_one() {
	local r=$1 addr q0 q1 q i stats upq qps rss rcodes cached_upq lost all load dsec t0 t1 coldfast_cpu
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

	# Before the cached phases, while the cache is small, as in the cold run.
	dsec=$(measure_dnssec "$r")

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
	t0=$(cpu_ticks)
	bg_wait nsx cli dnsperf -s "$addr" -d "$dir/coldfast.txt" -n 1 -q 200 -t "$TIMEOUT_S" \
		>"$dir/$r.coldfast" 2>&1 || true
	t1=$(cpu_ticks)
	coldfast=$(names_per_s "$dir/$r.coldfast")
	coldfast_cpu=$(ms_per_answer "$t0" "$t1" "$dir/$r.coldfast")

	log "$r: caching $mem_names names at $mem_qps q/s for the memory reading"
	bg_wait nsx cli dnsperf -s "$addr" -d "$dir/mem.txt" -n 1 -Q "$mem_qps" -q 500 -t "$TIMEOUT_S" \
		>"$dir/$r.mem" 2>&1 || true
	mem=$(($(rss_kib) / 1024))

	load=$(cut -d' ' -f1 /proc/loadavg)
	stop_resolver "$r"
	# Fields 1-19 as before; 20-27 the validated phase (check median p99
	# completed lost names/s cpu_ms upq), 28 CPU ms per unvalidated cold
	# answer; after the first |: cold rcodes, validated fixed-rate and
	# as-fast-as-answered rcodes.
	printf '%s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s|%s|%s\n' "$r" "$stats" "$upq" "$qps" "$rss" "$cached_upq" \
		"${lost:-0}" "$all" "$load" "${tcp:--}" "$dot" "$doh" "${lat_avg:--}" "$(awk '{print $2}' <<<"$lat_stats")" \
		"$coldfast" "$mem" "${dsec%%|*}" "$coldfast_cpu" "${rcodes:-none}" "${dsec#*|}"
}

# supports RESOLVER MODE: which peers serve DoT and DoH in this bench
# (PowerDNS Recursor 4.8 serves neither).
supports() {
	case "$1:$2" in
	anycastd:dot | anycastd:doh | unbound:dot | unbound:doh | kresd:dot | kresd:doh) return 0 ;;
	esac
	return 1
}

# stream_qps RESOLVER MODE PORT runs the cached names over a stream
# transport, stream_runs times, and prints the best q/s.
stream_qps() {
	local r=$1 mode=$2 port=$3 q i best=-
	for ((i = 1; i <= stream_runs; i++)); do
		# shellcheck disable=SC2086 # dnsperf_args is a list of options
		bg_wait nsx cli dnsperf -m "$mode" -p "$port" -s "$(svc_addr "$r")" -d "$dir/cached.txt" -l "$stream_seconds" \
			$dnsperf_args -t "$TIMEOUT_S" >"$dir/$r.$mode.$i" 2>&1 || true
		q=$(awk '/Queries per second:/ {printf "%d", $4}' "$dir/$r.$mode.$i")
		if [[ -n $q ]] && { [[ $best == - ]] || ((q > best)); }; then best=$q; fi
	done
	echo "$best"
}

# ------------------------------------------------------------ report

# shellcheck source-path=SCRIPTDIR source=report.sh
. "$SCRIPT_DIR/report.sh"

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
	# Measure a private copy: a rebuild of bin/ during the run must not
	# change what is measured halfway (it once did), and the version in the
	# report is this copy's.
	mkdir -p "$dir/bin"
	cp "$bin_dir/anycastd" "$bin_dir/mininet" "$dir/bin/"
	bin_dir=$dir/bin
	layout
	start_mininet
	names "$dir/cold.txt" bench- "$cold_names"
	names "$dir/cached.txt" cached- "$cached_names"
	names "$dir/coldfast.txt" coldfast- "$coldfast_names"
	names "$dir/mem.txt" mem- "$mem_names"
	names "$dir/dnssec.txt" dnssec- "$dnssec_cold_names" "$dnssec_suffix"
	names "$dir/dnssecfast.txt" dnssecfast- "$dnssec_names" "$dnssec_suffix"
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
	dnssec_section "$results"
	if [[ -n $out ]]; then
		splice_doc "$out" "$dir/doc.md" "$results"
		log "wrote $out"
	fi
}

main "$@"
