#!/usr/bin/env bash
# demo.sh shows anycastd end to end in the namespace lab (docs/lab.md):
# three nodes announce 192.0.2.53 and 2001:db8:53::53 to a BIRD router, a
# client resolves through them, one node drains without a failed query,
# comes back, and another is killed and drops out of the routing table.
# `make demo` runs scripts/deps.sh and `make build` first. Exits non-zero if
# any step fails; the lab is always torn down. LAB_NAME (acd) and LAB_BIN
# (bin/) choose the lab and the binaries.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO_DIR
readonly NAME=${LAB_NAME:-acd} BIN=${LAB_BIN:-$REPO_DIR/bin}
readonly LABDIR=/run/anycastd-lab/$NAME
readonly SVC4=192.0.2.53 SVC6=2001:db8:53::53
readonly P4=192.0.2.53/32 P6=2001:db8:53::53/128
readonly NAMES=(www.example.com www.example.org www.glueless.com www.chain.com)
export PATH=/usr/local/go/bin:$PATH

lab() { "$SCRIPT_DIR/lab.sh" --name "$NAME" "$@"; }

step_no=0
current=""
step() {
	step_no=$((step_no + 1))
	current=$*
	printf '\n\033[1m== %d. %s\033[0m\n' "$step_no" "$*"
}
say() { printf '   %s\n' "$*"; }
fail() {
	printf '\n\033[1;31mFAILED\033[0m in step %d (%s): %s\n' "$step_no" "$current" "$*" >&2
	exit 1
}

tmp=$(mktemp -d)
loop_pid=""
stop_client_loop() {
	if [[ -n $loop_pid ]]; then
		touch "$tmp/stop"
		wait "$loop_pid" 2>/dev/null || true
		loop_pid=""
	fi
}

teardown() {
	local rc=$? n
	trap - EXIT INT TERM
	stop_client_loop
	if ((rc != 0)) && [[ -d $LABDIR ]]; then
		for n in 1 2 3; do
			[[ -s $LABDIR/n$n/anycastd.log ]] || continue
			printf '\n--- n%d anycastd.log (last 15 lines)\n' "$n" >&2
			tail -n 15 "$LABDIR/n$n/anycastd.log" >&2
		done
	fi
	printf '\n== tearing the lab down\n'
	lab down || true
	rm -rf "$tmp"
	if ((rc == 0)); then printf '\n\033[1;32mdemo OK\033[0m\n'; fi
	exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# resolve asks one service address for a name from c1 and prints the answer,
# the node that answered (its NSID is the node name) and the time taken.
resolve() {
	local server=$1 qname=$2 qtype=$3 out status nsid answers ms
	out=$(lab exec c1 dig +time=3 +tries=1 +nsid "@$server" "$qname" "$qtype" 2>&1) ||
		fail "dig @$server $qname $qtype: $(tail -n 2 <<<"$out")"
	status=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out")
	nsid=$(sed -n 's/^; NSID: .*"\(.*\)".*/\1/p' <<<"$out")
	ms=$(sed -n 's/^;; Query time: \([0-9]*\) msec.*/\1/p' <<<"$out")
	answers=$(awk '/^;; ANSWER SECTION:/ {a=1; next} /^$/ {a=0} a && !/^;/ {printf "%s %s; ", $4, $5}' <<<"$out")
	printf '   %-16s %-18s %-5s -> %-8s node %-3s %4s ms  %s\n' "$server" "$qname" "$qtype" \
		"${status:-?}" "${nsid:-?}" "${ms:-?}" "${answers%; }"
	[[ $status == NOERROR && -n $answers ]] || fail "no answer for $qname $qtype from $server"
}

# client_loop queries the service addresses from c1 until told to stop,
# alternating names and address families; every query gets one try, so a
# dropped or refused query counts as a failure.
client_loop() {
	local ok=0 bad=0 i=0 server qname out t0 ms max=0
	while [[ ! -e $tmp/stop ]]; do
		t0=$(date +%s%N)
		qname=${NAMES[i % ${#NAMES[@]}]}
		if ((i % 2)); then server=$SVC6; else server=$SVC4; fi
		i=$((i + 1))
		if out=$(ip netns exec "$NAME-c1" dig +time=2 +tries=1 +noall +comments +answer \
			"@$server" "$qname" A 2>&1) &&
			grep -q 'status: NOERROR' <<<"$out" && grep -qE '[[:space:]]A[[:space:]]' <<<"$out"; then
			ok=$((ok + 1))
		else
			bad=$((bad + 1))
			printf '%s %s %s\n' "$(date +%T.%N)" "$server" "$qname" >>"$tmp/failures"
		fi
		ms=$((($(date +%s%N) - t0) / 1000000))
		((ms > max)) && max=$ms
		sleep 0.05
	done
	echo "$ok $bad $max" >"$tmp/result"
}

paths_line() {
	printf 'BIRD paths: %s v4, %s v6; r1 kernel nexthops: %s v4, %s v6' \
		"$(lab paths "$P4")" "$(lab paths "$P6")" "$(lab paths --kernel "$P4")" "$(lab paths --kernel "$P6")"
}

# ---------------------------------------------------------------- steps

step "check the built binaries"
for b in anycastd anycastctl mininet; do
	[[ -x $BIN/$b ]] || fail "$BIN/$b missing: run make build"
done
say "using $BIN"
((EUID == 0)) || fail "the lab needs root (network namespaces)"
if [[ -e $LABDIR ]] || ip netns list | grep -q "^$NAME-"; then
	say "a lab named $NAME is left over from an earlier run; removing it"
	lab down
fi

step "build the lab: mini internet, router r1 (BIRD), nodes n1-n3, client c1"
lab up --nodes 3 --bin "$BIN" || fail "lab up"
say "no namespace has a route to the host's uplink; all traffic stays in $NAME-*"

step "start anycastd on n1, n2 and n3"
for n in 1 2 3; do lab node-start "$n" || fail "node-start $n"; done

step "wait until r1 (BIRD) has three paths to $P4 and $P6"
t0=$(now)
lab wait-paths 3 --timeout 90 "$P4" || fail "three IPv4 paths"
lab wait-paths 3 --timeout 30 "$P6" || fail "three IPv6 paths"
say "all three nodes announced after $(since "$t0") s"
lab routes
lab wait-paths 3 --kernel --timeout 10 "$P4" || fail "r1's kernel route has no 3-way ECMP"

step "resolve names from the client through the anycast addresses"
say "each dig uses a new source port; r1 hashes on ports, so answers come from different nodes"
for qname in "${NAMES[@]}"; do
	resolve "$SVC4" "$qname" A
	resolve "$SVC6" "$qname" AAAA
done
for i in 1 2 3 4; do resolve "$SVC4" www.example.com A; done

step "DNSSEC: the nodes validate against the mini internet's root key"
out=$(lab dig +dnssec +time=2 +tries=1 @"$SVC4" good.canary.lab A 2>&1) || true
grep -qE 'flags:[^;]* ad[ ;]' <<<"$out" || fail "good.canary.lab came back without AD"
say "good.canary.lab (signed): $(grep -oE 'flags:[^;]*' <<<"$out" | head -n1) -> authenticated data (AD)"
out=$(lab dig +dnssec +time=2 +tries=1 @"$SVC4" www.expired.test A 2>&1) || true
grep -q 'status: SERVFAIL' <<<"$out" || fail "a zone with expired signatures was not SERVFAIL"
say "www.expired.test (expired signatures): SERVFAIL, $(grep -oE 'EDE: [0-9]+ \([^)]*\)' <<<"$out" | head -n1)"

step "status of n1 (anycastctl status)"
lab ctl 1 status || fail "anycastctl status"

step "privacy: n1 audits itself against every commitment (anycastctl audit)"
lab ctl 1 audit || fail "anycastctl audit reported a failure"

step "drain n1 while a client keeps querying"
client_loop &
loop_pid=$!
sleep 2
t0=$(now)
lab ctl 1 -timeout 90s drain || fail "anycastctl drain"
lab wait-paths 2 --timeout 60 "$P4" || fail "n1 did not withdraw $P4"
lab wait-paths 2 --timeout 30 "$P6" || fail "n1 did not withdraw $P6"
say "n1 withdrew after $(since "$t0") s; $(paths_line)"
sleep 3 # keep querying the two remaining nodes for a while
stop_client_loop
read -r ok bad max <"$tmp/result"
say "client loop: $((ok + bad)) queries, $bad failed, slowest ${max} ms (dig + ip netns exec)"
lab ctl 1 status | head -n 4 || true
if ((bad > 0)); then
	sed 's/^/   failed: /' "$tmp/failures"
	fail "$bad queries failed during the drain"
fi
lab routes

step "undrain n1: it comes back once its health checks pass"
t0=$(now)
lab ctl 1 -timeout 90s undrain || fail "anycastctl undrain"
lab wait-paths 3 --timeout 60 "$P4" || fail "n1 did not come back ($P4)"
lab wait-paths 3 --timeout 30 "$P6" || fail "n1 did not come back ($P6)"
say "n1 announced again after $(since "$t0") s; $(paths_line)"

step "kill -9 anycastd on n2: the crash closes its BGP sessions, its path goes"
t0=$(now)
lab node-stop 2 KILL || fail "kill -9 n2"
lab wait-paths 2 --timeout 30 "$P4" || fail "n2's IPv4 path stayed"
t4=$(since "$t0")
lab wait-paths 2 --timeout 30 "$P6" || fail "n2's IPv6 path stayed"
say "n2's path gone from r1 $t4 s after kill -9 (IPv6: $(since "$t0") s)"
lab routes
resolve "$SVC4" www.example.org A
resolve "$SVC6" www.example.org AAAA
