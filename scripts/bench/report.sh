#!/usr/bin/env bash
# report.sh is the reporting half of scripts/bench/run.sh (sourced by it, not
# run alone): the markdown tables, the per-resolver details and the part of
# docs/benchmarks.md between the `make bench` markers. It reads run.sh's
# settings (readonly globals) and the results file measure_one wrote.
# shellcheck disable=SC2154 # the settings are set by run.sh before sourcing


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
		BENCH_STREAM_SECONDS BENCH_STREAM_RUNS BENCH_LATENCY_QPS BENCH_LATENCY_SECONDS BENCH_COLDFAST_NAMES BENCH_MEM_NAMES BENCH_MEM_QPS \
		BENCH_DNSSEC BENCH_DNSSEC_SUFFIX BENCH_DNSSEC_COLD_NAMES BENCH_DNSSEC_QPS BENCH_DNSSEC_NAMES; do
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

# dnssec_table prints the validated cold phase and anycastd's ratios.
dnssec_table() {
	local results=$1
	echo "| resolver | validates (AD on a signed name + SERVFAIL on a bogus one) | validated cold median ms | validated cold p99 ms | upstream q per client q | validated cold names/s | CPU ms per validated answer | CPU ms per unvalidated cold answer |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	awk '{split($0, a, "|"); split(a[1], f, " ");
		printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[20], f[21], f[22], f[27], f[25], f[26], f[28]}' "$results"
	if grep -q '^anycastd ' "$results" && (($(wc -l <"$results") > 1)); then
		echo
		echo "anycastd / peer (latency, upstream queries and CPU: lower is better;"
		echo "names/s: higher is better):"
		echo
		echo "| peer | validated cold median | validated cold p99 | upstream q per client q | validated cold names/s | CPU per validated answer | CPU per unvalidated cold answer |"
		echo "|---|---:|---:|---:|---:|---:|---:|"
		awk '
			function r(a, b) { return (b ~ /^[0-9.]+$/ && b + 0 > 0 && a ~ /^[0-9.]+$/) ? sprintf("%.2f", a / b) : "-" }
			{ split($0, x, "|"); split(x[1], f, " "); for (j = 1; j <= 28; j++) v[NR, j] = f[j]
			  if (f[1] == "anycastd") a = NR }
			# A peer that asked upstream for under half the names answered
			# them from cached NSEC: no miss to compare with.
			END { for (i = 1; i <= NR; i++) if (i != a && v[i, 27] + 0 < 0.5)
				printf "| %s | %s ||||||\n", v[i, 1], "- (answers synthesised from cached NSEC, not misses)"
			else if (i != a)
				printf "| %s | %s | %s | %s | %s | %s | %s |\n", v[i, 1],
					r(v[a, 21], v[i, 21]), r(v[a, 22], v[i, 22]), r(v[a, 27], v[i, 27]), r(v[a, 25], v[i, 25]),
					r(v[a, 26], v[i, 26]), r(v[a, 28], v[i, 28]) }' "$results"
	fi
	echo
	echo "Validated-phase answers per resolver (fixed rate: answered, lost, response"
	echo "codes; as fast as answered: response codes):"
	echo
	awk '{split($0, a, "|"); split(a[1], f, " ");
		printf "- %s: %s answered, %s lost (%s); fast run %s\n", f[1], f[23], f[24], a[3], a[4]}' "$results"
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

# profile_notes is what the profiles of anycastd show and what was done
# about it (issue 9); written by hand from `go test -bench` profiles and
# the daemon's /debug/pprof/ during bench runs, kept here so a rerun keeps it.
profile_notes() {
	cat <<'NOTES'
## Where the time goes (pprof)

Profiles come from the daemon itself during a bench phase (with
`node.pprof: true` the control socket serves Go's profiler: `curl --unix-socket .../control.sock -o cpu.pprof
'http://node/debug/pprof/profile?seconds=10'`, then `go tool pprof -top`) and
from `go test -bench` in resolver/.

**Cached UDP** (resolver/udp.go, mmsg.go, fast.go): one SO_REUSEPORT
socket per core per address, read with recvmmsg and answered with sendmmsg
(batches of up to 32) as raw system calls into headers, iovecs, sockaddrs and
buffers allocated once per reader: no allocation per datagram (x/net's
ReadBatch built a net.UDPAddr per datagram). The answer is the cached
packed form with ID, flags, question case and TTLs patched in place. About
90% of the server's CPU is the kernel's sendmmsg/recvmmsg. The calls are
`RawSyscall6`: with `Syscall6` every call woke the Go runtime's sysmon
thread (14% of CPU at 10,000 q/s); the sockets are non-blocking, so the
calls never block. Measured side by side with Unbound (same namespaces,
interleaved rounds, CPU time of the process per answer): 9.7 us per cached
answer before, 7.1 us after, Unbound 8.8 us; p99 at 10,000 q/s 0.163 ms
before, 0.115 ms after, Unbound 0.097 ms. Tried and dropped: one more
recvmmsg after a yield before parking (more CPU, no better p99), blocking
reads on one thread per socket as Unbound does (twice the CPU), other
socket counts per core.

**Cached TCP and DoT** (resolver/tcp.go): buffered reads (one read brings
many pipelined queries), fresh cached answers through the same wire fast
path in the connection's reader goroutine (no goroutine, no dns.Msg), and
answers coalesced into one write while more complete queries are buffered;
over TLS the reader also takes the records TLS has already received before
writing (dnsperf sends one query per record). Before: two reads, one
goroutine, a dns.Msg round trip and one write per query.

**Cold path** (resolver/upstream.go, iterate.go, cache.go, bailiwick.go):
118 allocations and 71 KB per resolved name before, 65 and about 3 KB now
(`go test -run TestColdResolveAllocs -v ./resolver/`): a fresh 64 KiB
receive buffer per upstream query became a pooled one taken only once a
datagram is there; a socket deadline replaced a context timer; the
upstream socket is made with 4 system calls instead of net.DialUDP's 7
(still one new socket per query: the random source port is the defence
against spoofing); cached delegations are parsed once per entry; the cache
packs answers without a deep copy; bailiwick checks compare names without
dns.IsSubDomain's label slices. CPU per unvalidated cold answer went from
0.166 ms to 0.090-0.098 ms (Unbound 0.052-0.058 ms). What is left: system
calls are 42% of cold-path CPU (making the upstream socket 13%, the
upstream write 12%, the client's answer 13%).

**Memory**: a one-A answer costs about 291 heap bytes in the cache (otter's
node 92, the packed answer 80, the entry 64, the name 24, the table 20;
`go test -run TestCacheEntryHeap -v ./resolver/`), and the cache charges
that, so `cache_size` bounds the heap it uses. The daemon sets Go's soft
memory limit to cache_size x 1.25 + 48 MiB (unless GOMEMLIMIT is set), so
the collector's headroom no longer doubles the live heap: RSS after the
bench's 200,000 names 179 MiB without the limit and 141 MiB with it, same
build, same run (Unbound 106-108 MiB).

**p99 at 10,000 q/s**: dnsperf's per-query latencies (`-v`) grouped by
1,000 queries (0.1 s) showed anycastd's slow answers in bursts every 0.5 s;
Unbound's come irregularly (neighbours on the machine). The cause was in
the node's health checks, not the answer path: the DoT and DoH canaries did
a full TLS handshake on a new connection every health interval (1 s) each.
They now run every `health.degrading.tls_canary_interval` (10 s). Short
runs with only anycastd and Unbound (the bench with small counts, 10 s
latency runs; one run each): p99 0.15 vs 0.11 ms with the canaries every
second, 0.11 vs 0.14 ms with TLS off, 0.12 vs 0.11 ms with the canaries
every 10 s. The degrading checks also gathered the whole Prometheus registry
(thousands of series) three times a second; they now read atomic totals
(`resolver.Counters`), which alone made no measurable difference (0.15 to
0.14 ms). Garbage collection is not a cause: no collection ran during those
latency runs (`GODEBUG=gctrace=1`).

In-process numbers (`go test -run XXX -bench 'FastAnswer|UDPServerCached|UDPBatch|TCPServerCached|DoTServerCached|ColdResolve$' -benchmem ./resolver/`, this machine, noisy):

| benchmark | ns/op | allocs/op |
|---|---:|---:|
| BenchmarkFastAnswer (parse, look-up, copy, patch, count) | ~290 | 0 |
| BenchmarkUDPBatch (32 cached queries, one sendmmsg; per datagram) | ~3,000 | 0 |
| BenchmarkUDPServerCached (loopback, client in the same process) | ~9,200 | 0 |
| BenchmarkTCPServerCached (64 pipelined queries; per query) | ~470-930 | 0 |
| BenchmarkDoTServerCached (the same over TLS) | ~570-960 | 0 |
| BenchmarkColdResolve (loopback mini internet, no added latency; per name) | ~50,000 | ~65 |
NOTES
}

validation_line() {
	if ((dnssec)); then
		echo "every one validating DNSSEC against the mini root's DS (\`mininet -trust-anchor\`) as its only trust anchor:"
	else
		echo "no DNSSEC validation (BENCH_DNSSEC=0):"
	fi
}

# dnssec_section is the validated cold phase's part of the page.
dnssec_section() {
	((dnssec)) || return 0
	cat <<EOF

## Validated cold names (DNSSEC, issue 4)

$(dnssec_table "$1")

- **validated cold median / p99**: ${dnssec_cold_names} distinct names never
  asked before under the signed wildcard \`*.${dnssec_suffix}.\` (A), at a fixed
  ${dnssec_qps} q/s (\`dnsperf -v\`, a lost query counts as the ${TIMEOUT_S} s
  timeout). Each answer is a wildcard expansion: its RRSIG plus the signed
  NSEC proving no closer name exists, both verified (example.org.: ECDSA
  P-384, NSEC; its parent org.: Ed25519, NSEC3). Before the phase one
  \`dig +dnssec\` for \`check.${dnssec_suffix}\` must come back with AD and one for
  \`bad.canary.lab\` with SERVFAIL ("AD+SERVFAIL" above); it also primes the
  chain of trust, so the phase measures answers below validated keys.
- **upstream q per client q**: mini-internet answers during both validated
  runs per client query. Aggressive use of cached NSEC (RFC 8198) is off in
  Unbound (\`aggressive-nsec: no\`) and PowerDNS
  (\`aggressive-nsec-cache-size=0\`), so they resolve every name; Knot
  Resolver 5.6 has no switch for it and synthesises the wildcard answers
  from its cache (ratio near 0): its validated row measures cached,
  already validated answers, not misses. anycastd synthesises only
  NXDOMAIN/NODATA, never wildcards.
- **validated cold names/s**: ${dnssec_names} further such names, 200 outstanding,
  as fast as answered.
- **CPU ms per validated answer**: user + system CPU of the resolver's
  processes (\`/proc/PID/stat\`, all threads; kresd: all its processes)
  during that run, divided by its NOERROR answers: the whole resolution
  (upstream query, parsing, caching) plus validation. **CPU ms per
  unvalidated cold answer**: the same for the cold names/s run under the
  unsigned bench.lab. (an insecure delegation: no signatures to verify), so
  the difference between the two is roughly what validation costs per answer.
EOF
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
  ${threads} threads (kresd: ${threads} processes sharing the cache),
  $(validation_line)
$(versions | sed 's/^/  /')

$(table "$results")

$(details "$results")
$(dnssec_section "$results")

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
  \`dnsperf -m tcp|dot|doh\` for ${stream_seconds} s each, ${stream_runs} run(s) each; the best counts. DoT and DoH only
  where the peer serves them here: anycastd (DoT, DoH), Unbound (DoT, DoH/2:
  \`https-port\`, built with libnghttp2), kresd (DoT, DoH/2); PowerDNS
  Recursor 4.8 serves neither ("-"). One self-signed certificate for all,
  not verified by dnsperf; DoH is dnsperf's default (HTTP/2, \`/dns-query\`).
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
18 minutes with the defaults (shorter: the environment settings in run.sh).
EOF
}

