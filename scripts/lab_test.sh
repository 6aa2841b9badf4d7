#!/usr/bin/env bash
# lab_test.sh checks scripts/lab.sh for real: it builds a 2-node lab, checks
# reachability and isolation, stands in for anycastd with a BIRD speaker per
# node to check ECMP, MED, GRACEFUL_SHUTDOWN and session loss on r1, drives
# node-start/node-stop/ctl with stub binaries, and checks that `down` leaves
# nothing behind. Needs root, bird2, iproute2, iputils-ping, dnsutils.
#
# usage: scripts/lab_test.sh [--bin DIR]   (DIR with a mininet binary; without
#        one the lab is built with --no-mininet and DNS is not checked)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR LAB=$SCRIPT_DIR/lab.sh
readonly NAME=labtest$$
export LAB_NAME=$NAME

mininet_bin=""
if [[ ${1:-} == --bin ]]; then mininet_bin=${2:?--bin needs a directory}; fi

tmp=$(mktemp -d)
passed=0 failed=0
lab_pids=()

cleanup() {
	local rc=$?
	"$LAB" down >/dev/null 2>&1 || true
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
	passed=$((passed + 1))
	printf 'ok   %s\n' "$*"
}
bad() {
	failed=$((failed + 1))
	printf 'FAIL %s\n' "$*"
}
check() {
	local what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok "$what"; else
		bad "$what"
		sed 's/^/     | /' "$tmp/out" | tail -n 15
	fi
}
check_not() {
	local what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		bad "$what"
		sed 's/^/     | /' "$tmp/out" | tail -n 15
	else ok "$what"; fi
}

((EUID == 0)) || {
	echo "lab_test.sh needs root" >&2
	exit 1
}

# ------------------------------------------------------------ stub binaries
bin=$tmp/bin
mkdir -p "$bin"
if [[ -n $mininet_bin ]]; then cp "$mininet_bin/mininet" "$bin/mininet"; fi
cat >"$bin/anycastd" <<'EOF'
#!/usr/bin/env bash
# stub anycastd: stays up until TERM, like the real one
trap 'echo "stub anycastd: TERM"; exit 0' TERM
echo "stub anycastd: $*"
while :; do sleep 0.1; done
EOF
cat >"$bin/anycastctl" <<'EOF'
#!/usr/bin/env bash
echo "stub anycastctl: $*"
EOF
chmod +x "$bin/anycastd" "$bin/anycastctl"

# ------------------------------------------------------------ a failing up
# A mininet that lists addresses but dies at once: up must fail and leave
# no namespace and no lab directory behind.
mkdir -p "$tmp/badbin"
cat >"$tmp/badbin/mininet" <<'EOF'
#!/usr/bin/env bash
for a in "$@"; do [[ $a == -print-addrs ]] && { echo 198.51.100.1 2001:db8:100::1; exit 0; }; done
echo "stub mininet: failing on purpose" >&2
exit 1
EOF
chmod +x "$tmp/badbin/mininet"
check_not "up fails when mininet dies" "$LAB" up --nodes 1 --bin "$tmp/badbin"
check "failed up removed its namespaces" test -z "$(ip netns list | grep -E "^$NAME-" || true)"
check "failed up removed LABDIR" test ! -e "/run/anycastd-lab/$NAME"

# ------------------------------------------------------------ up
links_before=$(ip -o link | wc -l)
up_args=(up --nodes 2 --bin "$bin")
[[ -n $mininet_bin ]] || up_args+=(--no-mininet)
check "up --nodes 2" "$LAB" "${up_args[@]}"
cp "$tmp/out" "$tmp/up.out"
check "up prints LABDIR" grep -q "^LABDIR=/run/anycastd-lab/$NAME\$" "$tmp/up.out"
labdir=/run/anycastd-lab/$NAME
check "five namespaces" test "$(ip netns list | grep -cE "^$NAME-(inet|r1|c1|n1|n2)( |\$)")" = 5
check "no interface added to the root namespace" test "$(ip -o link | wc -l)" = "$links_before"
check "node config n2 written" grep -q 'asn: 64514' "$labdir/n2/anycastd.yaml"
check "root hints present" test -s "$labdir/root.hints"

# ------------------------------------------------------------ reachability
for t in 198.51.100.1 198.18.1.2 198.18.2.2 203.0.113.2 2001:db8:100::1 fd00:53:2::2 2001:db8:c::2; do
	check "r1 reaches $t" "$LAB" exec r1 ping -c1 -W2 -q "$t"
done
for t in 198.51.100.1 198.18.2.2 2001:db8:100::1 fd00:53:1::2; do
	check "c1 reaches $t" "$LAB" exec c1 ping -c1 -W2 -q "$t"
done
check "n1 reaches the mini internet" "$LAB" exec n1 ping -c1 -W2 -q 198.51.100.1
if [[ -n $mininet_bin ]]; then
	check "n1 resolves . NS at the lab root" "$LAB" exec n1 dig +time=2 +tries=1 @198.51.100.1 . NS
fi

# ------------------------------------------------------------ isolation
# Checked with route lookups, not probes: no packet is sent off the lab.
# The addresses asked about are outside every lab prefix (CGNAT space and a
# documentation /48 the lab does not use): any route to them would be a leak.
check_not "r1 has no IPv4 route out of the lab" "$LAB" exec r1 ip route get 100.64.0.1
check_not "r1 has no IPv6 route out of the lab" "$LAB" exec r1 ip -6 route get 2001:db8:ffff::1
check_not "inet has no route except via r1" sh -c "ip -n $NAME-inet route | grep -v 198.51.100 | grep ."
for ns in inet r1 c1 n1 n2; do
	# every interface is lo or a veth whose peer is in a lab namespace
	check "$ns: only lo and lab veths" sh -c "
		ip -n $NAME-$ns -o link | awk -F': ' '{print \$2}' | while read -r l; do
			case \$l in lo) ;; *@*) ip -n $NAME-$ns -d link show \"\${l%@*}\" | grep -q 'link-netns $NAME-' || exit 1 ;; *) exit 1 ;; esac
		done"
done
check "service prefix not routed before BGP" test -z "$(ip -n "$NAME-r1" route show 192.0.2.53/32)"

# ------------------------------------------------------------ BIRD, no speaker
sleep 1.5
check "BIRD sessions wait in Active/Connect" sh -c "
	birdc -s $labdir/r1/bird.ctl show protocols | grep -E '^n[12]_v[46] ' > $tmp/protos
	test \$(wc -l < $tmp/protos) = 4 && ! grep -vE ' (Active|Connect|Idle) ' $tmp/protos"
check "bird.log written" test -s "$labdir/r1/bird.log"

# ------------------------------------------------------------ fake speakers
speaker_conf() { # node med gshut
	local n=$1 med=$2 gshut=$3 extra=""
	((med > 0)) && extra+="bgp_med = $med; "
	((gshut)) && extra+="bgp_community.add((65535, 0)); "
	cat <<EOF
router id 198.18.$n.2;
protocol device {}
protocol static s4 { ipv4; route 192.0.2.53/32 blackhole; }
protocol static s6 { ipv6; route 2001:db8:53::53/128 blackhole; }
filter to_r1 { if proto !~ "s*" then reject; $extra accept; }
protocol bgp up4 {
	local 198.18.$n.2 as $((64512 + n)); neighbor 198.18.$n.1 as 64496;
	hold time 9; keepalive time 3; connect retry time 1;
	ipv4 { import none; export filter to_r1; };
}
protocol bgp up6 {
	local fd00:53:$n::2 as $((64512 + n)); neighbor fd00:53:$n::1 as 64496;
	hold time 9; keepalive time 3; connect retry time 1;
	ipv6 { import none; export filter to_r1; };
}
EOF
}
for n in 1 2; do
	speaker_conf "$n" 0 0 >"$tmp/n$n.conf"
	ip netns exec "$NAME-n$n" bird -c "$tmp/n$n.conf" -s "$tmp/n$n.ctl" -P "$tmp/n$n.pid"
	"$LAB" exec "n$n" ip addr add 192.0.2.53/32 dev lo
	"$LAB" exec "n$n" ip addr add 2001:db8:53::53/128 dev lo
done
check "BIRD learns 2 paths for 192.0.2.53/32" "$LAB" wait-paths 2 --timeout 20
check "BIRD learns 2 paths for 2001:db8:53::53/128" "$LAB" wait-paths 2 --timeout 20 2001:db8:53::53/128
check "kernel ECMP: 2 nexthops for 192.0.2.53 (different neighbour ASes)" "$LAB" wait-paths 2 --kernel --timeout 5
check "kernel ECMP: 2 nexthops for 2001:db8:53::53" "$LAB" wait-paths 2 --kernel --timeout 5 2001:db8:53::53/128
check "routes" "$LAB" routes
check "c1 reaches 192.0.2.53 through r1" "$LAB" exec c1 ping -c1 -W2 -q 192.0.2.53
check "c1 reaches 2001:db8:53::53 through r1" "$LAB" exec c1 ping -c1 -W2 -q 2001:db8:53::53
check "flows hash over both nodes (L4 policy)" sh -c "
	for p in \$(seq 1000 1063); do ip -n $NAME-r1 route get 192.0.2.53 from 203.0.113.2 iif c1 ipproto udp sport \$p dport 53; done |
	grep -oE 'dev n[12]' | sort -u | wc -l | grep -qx 2"

# MED de-preference across neighbour ASes (med metric yes on r1)
speaker_conf 2 100 0 >"$tmp/n2.conf"
birdc -s "$tmp/n2.ctl" configure >/dev/null
check "higher MED from n2 leaves 1 nexthop" "$LAB" wait-paths 1 --kernel --timeout 10
check "  while BIRD still holds 2 paths" "$LAB" wait-paths 2 --timeout 1
speaker_conf 2 0 0 >"$tmp/n2.conf"
birdc -s "$tmp/n2.ctl" configure >/dev/null
check "MED back to 0: 2 nexthops" "$LAB" wait-paths 2 --kernel --timeout 10

# RFC 8326 GRACEFUL_SHUTDOWN from n1
speaker_conf 1 0 1 >"$tmp/n1.conf"
birdc -s "$tmp/n1.ctl" configure >/dev/null
check "GRACEFUL_SHUTDOWN from n1 leaves 1 nexthop" "$LAB" wait-paths 1 --kernel --timeout 10
check "  and it is n2" sh -c "ip -n $NAME-r1 route show 192.0.2.53/32 | grep -q 'dev n2'"
speaker_conf 1 0 0 >"$tmp/n1.conf"
birdc -s "$tmp/n1.ctl" configure >/dev/null
check "n1 back: 2 nexthops" "$LAB" wait-paths 2 --kernel --timeout 10

# a speaker killed with SIGKILL: its TCP session closes, its path goes
kill -KILL "$(<"$tmp/n2.pid")"
check "SIGKILL of n2's speaker removes its path" "$LAB" wait-paths 1 --timeout 5
grep -o 'after .*' "$tmp/out" | sed 's/^/     | path gone /'

# ------------------------------------------------------------ node-start/stop/ctl
check "node-start 1" "$LAB" node-start 1 -extra-flag
pid=$(cat "$labdir/n1/anycastd.pid" 2>/dev/null || echo 0)
check "pid file names the daemon itself" sh -c "tr '\\0' ' ' < /proc/$pid/cmdline | grep -q 'anycastd -config $labdir/n1/anycastd.yaml -extra-flag'"
check "daemon runs in $NAME-n1" sh -c "ip netns identify $pid | grep -qx $NAME-n1"
check_not "node-start 1 twice is refused" "$LAB" node-start 1
check "ctl passes the socket" sh -c "'$LAB' ctl 1 status --json | grep -q -- '-socket $labdir/n1/control.sock status --json'"
check "node-stop 1 (TERM), --name given last" env -u LAB_NAME "$LAB" node-stop 1 --name "$NAME"
check "stub saw TERM" grep -q 'TERM' "$labdir/n1/anycastd.log"
check "node-stop 1 again is a no-op" "$LAB" node-stop 1
check "node-start 2 / node-stop 2 KILL" sh -c "'$LAB' node-start 2 && '$LAB' node-stop 2 KILL"
check "status" "$LAB" status
check "dig from c1 runs in c1" sh -c "'$LAB' dig +time=1 +tries=1 @198.51.100.1 . NS >/dev/null || true"

# ------------------------------------------------------------ down
for ns in inet r1 c1 n1 n2; do
	mapfile -t -O "${#lab_pids[@]}" lab_pids < <(ip netns pids "$NAME-$ns" 2>/dev/null)
done
check "down" "$LAB" down
check "down left no namespace" test -z "$(ip netns list | grep -E "^$NAME-" || true)"
check "down removed LABDIR" test ! -e "$labdir"
check "down left no live lab process" sh -c "
	for p in ${lab_pids[*]:-}; do
		s=\$(awk '{print \$3}' /proc/\$p/stat 2>/dev/null || true)
		[ -z \"\$s\" ] || [ \"\$s\" = Z ] || exit 1
	done"
check "down twice is fine" "$LAB" down
check "down of a lab that never existed is fine" "$LAB" down --name "never$$"

echo "$passed passed, $failed failed"
((failed == 0))
