#!/usr/bin/env bash
# lab.sh builds and drives the anycastd network-namespace lab: a mini
# internet, one upstream router (BIRD 2, or FRR with --router frr), optionally
# a second BIRD router (--routers 2), N anycastd nodes and a client, joined by
# veth pairs that live only inside the lab's namespaces. See docs/lab.md.
#
# Safety: no interface is ever created in the root namespace and no namespace
# gets a route towards the host's uplink; `down` removes everything `up` made.
set -euo pipefail

readonly LAB_ROOT=/run/anycastd-lab
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO_DIR

readonly INET4_PREFIX=198.51.100.0/24 INET6_PREFIX=2001:db8:100::/64
readonly R1_INET4=198.51.100.254 R1_INET6=2001:db8:100::fe
readonly R1_C4=203.0.113.1 R1_C6=2001:db8:c::1 C1_4=203.0.113.2 C1_6=2001:db8:c::2
readonly SVC4=192.0.2.53 SVC6=2001:db8:53::53
readonly SVC4_PREFIX=192.0.2.53/32 SVC6_PREFIX=2001:db8:53::53/128
readonly R1_AS=64496 R2_AS=64497 NODE_AS_BASE=64512
# r2 (--routers 2): 198.19.N.1 / fd00:54:N::1 towards node N, 198.19.0.0/24
# and fd00:54::/64 towards c1, 198.19.255.0/24 and fd00:54:255::/64 towards inet.
readonly R2_C4=198.19.0.1 R2_C6=fd00:54::1 C1_R2_4=198.19.0.2 C1_R2_6=fd00:54::2
readonly R2_INET4=198.19.255.1 R2_INET6=fd00:54:255::1 INET_R2_4=198.19.255.2 INET_R2_6=fd00:54:255::2
readonly FRR_LIB=/usr/lib/frr
readonly MAX_NODES=200

name=${LAB_NAME:-acd}
nodes=3
bin_dir=${LAB_BIN:-}
no_mininet=0
timeout_s=60
kernel=0
router=bird
routers=1
on=r1
rest=()
extra_routes=()

usage() {
	cat <<'EOF'
usage: scripts/lab.sh [--name P] COMMAND [options] [args]

  up [--nodes N] [--bin DIR] [--no-mininet] [--router bird|frr] [--routers 1|2]
                                              build the lab (defaults N=3, DIR=./bin,
                                              r1 runs BIRD, one router)
  down                                        kill lab processes, delete namespaces and LABDIR
  status                                      namespaces, processes, BGP sessions
  node-start N [anycastd args...]             start DIR/anycastd in P-nN (background)
  node-stop N [SIGNAL]                        signal it (default TERM), wait up to 30 s
  ctl N ARGS...                               anycastctl against node N's control socket
  exec NS CMD...                              run CMD in NS (inet|r1|c1|nN)
  dig ARGS...                                 dig from c1 (default server @192.0.2.53)
  routes [--on R]                             BGP and kernel routes for the service prefixes
  paths [--kernel] [--on R] [PREFIX]          print the number of BGP paths (or kernel nexthops)
  wait-paths COUNT [--kernel] [--on R] [--timeout S] [PREFIX]
                                              wait until `paths` equals COUNT
  router-stop R [SIGNAL]                      stop router R's daemons (default KILL, as a crash)
  router-start R                              start router R's daemons again with its config
  vtysh ARGS...                               FRR's vtysh (bgpd) on r1 (--router frr labs)

R is r1 (default) or r2.

Every command takes --name P (or env LAB_NAME, default acd); LABDIR=/run/anycastd-lab/P.
EOF
}

log() { printf 'lab[%s]: %s\n' "$name" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# parse_opts consumes the options it knows and stops at the first other word,
# leaving it and everything after it in rest: arguments of exec, dig and ctl
# are passed on untouched.
parse_opts() {
	rest=()
	while (($# > 0)); do
		case $1 in
		--name) name=${2:?--name needs a value}; shift 2 ;;
		--name=*) name=${1#*=}; shift ;;
		--nodes) nodes=${2:?--nodes needs a value}; shift 2 ;;
		--nodes=*) nodes=${1#*=}; shift ;;
		--bin) bin_dir=${2:?--bin needs a value}; shift 2 ;;
		--bin=*) bin_dir=${1#*=}; shift ;;
		--timeout) timeout_s=${2:?--timeout needs a value}; shift 2 ;;
		--timeout=*) timeout_s=${1#*=}; shift ;;
		--no-mininet) no_mininet=1; shift ;;
		--kernel) kernel=1; shift ;;
		--router) router=${2:?--router needs a value}; shift 2 ;;
		--router=*) router=${1#*=}; shift ;;
		--routers) routers=${2:?--routers needs a value}; shift 2 ;;
		--routers=*) routers=${1#*=}; shift ;;
		--on) on=${2:?--on needs a value}; shift 2 ;;
		--on=*) on=${1#*=}; shift ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	rest=("$@")
}

ns() { printf '%s-%s' "$name" "$1"; }
nsx() {
	local n=$1
	shift
	ip netns exec "$(ns "$n")" "$@"
}
lab_dir() { printf '%s/%s' "$LAB_ROOT" "$name"; }

# router_kind prints what runs on router R (r1: what `up --router` chose,
# recorded in LABDIR/router; r2: always BIRD).
router_kind() {
	if [[ $1 == r1 && -r "$(lab_dir)/router" ]]; then cat "$(lab_dir)/router"; else echo bird; fi
}

check_router() {
	[[ $1 == r1 || ($1 == r2 && -d "$(lab_dir)/r2") ]] ||
		die "no router '$1' in lab $name (r1, or r2 with up --routers 2)"
}

# lab_namespaces lists the namespaces of this lab only: an exact match, so
# lab "acd" never touches lab "acd2" or anything else on the host.
lab_namespaces() {
	ip netns list 2>/dev/null | awk '{print $1}' |
		grep -E "^${name}-(inet|r1|r2|c1|n[0-9]+)\$" || true
}

check_name() {
	[[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,23}$ ]] ||
		die "bad lab name '$name' (letters, digits, _ and -, at most 24)"
}

need_root() { ((EUID == 0)) || die "must run as root (network namespaces)"; }

# resolve_bin picks the binary directory: --bin / LAB_BIN, else what `up`
# recorded, else ./bin, else the repository's bin/.
resolve_bin() {
	if [[ -z $bin_dir && -r "$(lab_dir)/bin" ]]; then
		bin_dir=$(<"$(lab_dir)/bin")
	fi
	if [[ -z $bin_dir ]]; then
		if [[ -d ./bin ]]; then bin_dir=./bin; else bin_dir=$REPO_DIR/bin; fi
	fi
	if [[ -d $bin_dir ]]; then bin_dir=$(cd "$bin_dir" && pwd); fi
}

node_num() {
	local n=${1#n}
	if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > MAX_NODES)); then
		die "bad node number '$1'"
	fi
	[[ -d "$(lab_dir)/n$n" ]] || die "node n$n is not in lab $name (is it up?)"
	printf '%s' "$n"
}

# alive reports whether pid runs; a zombie counts as exited, since nothing
# may reap a daemon whose starter (this script) has gone.
alive() {
	local pid=$1 state
	[[ -r /proc/$pid/stat ]] || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z && $state != X ]]
}

# ---------------------------------------------------------------- up

mk_ns() {
	local n
	n=$(ns "$1")
	ip netns add "$n"
	ip -n "$n" link set lo up
	# No DAD: addresses are usable at once and nothing else shares these links.
	nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
}

# link creates a veth pair with both ends born inside the lab's namespaces,
# so no interface ever appears in the root namespace. Each end is named after
# the namespace it leads to.
link() {
	local a=$1 b=$2
	ip link add name "$b" netns "$(ns "$a")" type veth peer name "$a" netns "$(ns "$b")"
	ip -n "$(ns "$a")" link set "$b" up
	ip -n "$(ns "$b")" link set "$a" up
}

addr() {
	local n=$1 dev=$2 a=$3
	if [[ $a == *:* ]]; then
		ip -n "$(ns "$n")" -6 addr add "$a" dev "$dev" nodad
	else
		ip -n "$(ns "$n")" addr add "$a" dev "$dev"
	fi
}

defaults() {
	ip -n "$(ns "$1")" route add default via "$2"
	ip -n "$(ns "$1")" -6 route add default via "$3"
}

# inet_addrs asks the mini internet which addresses it serves on and prints
# them one a line as ADDR/LEN. It tolerates any whitespace- or comma-separated
# output, with or without prefix lengths.
inet_addrs() {
	local out tok
	if ((no_mininet)); then
		printf '%s\n' 198.51.100.1/24 198.51.100.2/24 2001:db8:100::1/64 2001:db8:100::2/64
		return
	fi
	out=$(nsx inet "$bin_dir/mininet" -prefix4 "$INET4_PREFIX" -prefix6 "$INET6_PREFIX" -print-addrs) ||
		die "mininet -print-addrs failed"
	for tok in ${out//,/ }; do
		if [[ $tok =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?$ ]]; then
			[[ $tok == */* ]] || tok=$tok/24
		elif [[ $tok =~ ^[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(/[0-9]+)?$ ]]; then
			[[ $tok == */* ]] || tok=$tok/64
		else
			continue
		fi
		printf '%s\n' "$tok"
	done
}

in_inet() {
	# The prefixes the r1<->inet link is numbered from; anything else the
	# mini internet claims needs a static route on r1.
	case $1 in
	198.51.100.*) return 0 ;;
	2001:db8:100::*) return 0 ;;
	*) return 1 ;;
	esac
}

start_mininet() {
	local d dir log pid i
	dir="$(lab_dir)/inet"
	log=$dir/mininet.log
	d=$(lab_dir)
	# Started with ip netns exec directly (not a shell function) so $! is the
	# daemon itself; setsid keeps a terminal's ^C from reaching it.
	ip netns exec "$(ns inet)" setsid "$bin_dir/mininet" -prefix4 "$INET4_PREFIX" \
		-prefix6 "$INET6_PREFIX" -port 53 -root-hints "$d/root.hints" -trust-anchor "$d/trust.anchor" \
		</dev/null >"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/mininet.pid"
	for ((i = 0; i < 300; i++)); do
		alive "$pid" || {
			tail -n 20 "$log" >&2 || true
			die "mininet exited during start (log $log)"
		}
		# dig prints its own errors on stdout, so look for an NS record.
		if nsx inet dig +time=1 +tries=1 +noall +answer @198.51.100.1 -p 53 . NS 2>/dev/null |
			grep -qE '[[:space:]]NS[[:space:]]'; then
			break
		fi
		sleep 0.1
	done
	((i < 300)) || die "mininet did not answer on 198.51.100.1 within 30 s (log $log)"
	# mininet writes the hints itself; give it a moment, then fall back to
	# the two roots the lab is specified with.
	for ((i = 0; i < 20; i++)); do
		[[ -s $d/root.hints ]] && break
		sleep 0.1
	done
	[[ -s $d/root.hints ]] || write_root_hints "$d/root.hints"
	log "mininet up (pid $pid)"
}

write_root_hints() {
	cat >"$1" <<'EOF'
; lab root hints written by scripts/lab.sh: the mini internet's roots only.
.                        3600000      NS    a.root-servers.net.
a.root-servers.net.      3600000      A     198.51.100.1
a.root-servers.net.      3600000      AAAA  2001:db8:100::1
.                        3600000      NS    b.root-servers.net.
b.root-servers.net.      3600000      A     198.51.100.2
b.root-servers.net.      3600000      AAAA  2001:db8:100::2
EOF
}

# router_side prints, for router R and node N, the router's IPv4 and IPv6
# address on the link to the node, the node's, and the router's AS.
router_side() {
	local r=$1 n=$2
	if [[ $r == r2 ]]; then
		printf '%s %s %s %s %s\n' "198.19.$n.1" "fd00:54:$n::1" "198.19.$n.2" "fd00:54:$n::2" "$R2_AS"
	else
		printf '%s %s %s %s %s\n' "198.18.$n.1" "fd00:53:$n::1" "198.18.$n.2" "fd00:53:$n::2" "$R1_AS"
	fi
}

write_bird_conf() {
	local r=${1:-r1} d n rid l4 l6 p4 p6 as
	d=$(lab_dir)
	rid=$R1_INET4
	[[ $r == r2 ]] && rid=$R2_INET4
	{
		cat <<EOF
# BIRD 2 config for the upstream router $r of lab "$name", written by
# scripts/lab.sh. Not the Debian default: no direct/static protocols, and the
# router only learns the anycast prefixes from the nodes.
log "$d/$r/bird.log" all;
router id $rid;

protocol device {
	scan time 10;
}

# RFC 8326: a draining node tags its routes GRACEFUL_SHUTDOWN (65535:0).
# Local-pref 0 takes that path out of the ECMP set at once, while the route
# is still there as a fallback, so traffic moves before the withdrawal.
filter from_node {
	if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
	accept;
}

# merge paths turns equally good BGP routes from different nodes into one
# multipath kernel route. BIRD 2 merges routes from different neighbour ASes
# when local-pref, AS-path length and origin are equal; it compares MED only
# between routes of the same neighbour AS unless "med metric" is on (below),
# which a node's MED-only de-preference needs to take effect here.
protocol kernel kernel4 {
	ipv4 { import none; export where source = RTS_BGP; };
	merge paths yes;
}

protocol kernel kernel6 {
	ipv6 { import none; export where source = RTS_BGP; };
	merge paths yes;
}

# Hold 9 / keepalive 3 come from the node's OPEN (the lower hold time wins).
template bgp node_session {
	local as $(router_side "$r" 1 | cut -d' ' -f5);
	error wait time 1, 10;
	connect retry time 1;
	connect delay time 1;
	# Compare MED across neighbour ASes (each node is its own AS), so a
	# degraded node's higher MED moves it out of the ECMP set.
	med metric yes;
}

# Each node is sent every other node's path for the service prefixes (ADD-PATH
# tx; BIRD never sends a node its own), so its last-announcer guard can see
# whether anyone else still announces before it withdraws.
EOF
		for ((n = 1; n <= nodes; n++)); do
			read -r l4 l6 p4 p6 as < <(router_side "$r" "$n")
			cat <<EOF

protocol bgp n${n}_v4 from node_session {
	description "node n$n IPv4";
	local $l4 as $as;
	neighbor $p4 as $((NODE_AS_BASE + n));
	ipv4 { import filter from_node; export where source = RTS_BGP; add paths tx; };
}

protocol bgp n${n}_v6 from node_session {
	description "node n$n IPv6";
	local $l6 as $as;
	neighbor $p6 as $((NODE_AS_BASE + n));
	ipv6 { import filter from_node; export where source = RTS_BGP; add paths tx; };
}
EOF
		done
	} >"$d/$r/bird.conf"
}

start_bird() {
	local r=${1:-r1} d i
	d=$(lab_dir)/$r
	[[ -s $d/bird.conf ]] || write_bird_conf "$r"
	nsx "$r" bird -p -c "$d/bird.conf" || die "bird rejected $d/bird.conf"
	# Its own output goes to the log too: a caller reading our stdout through
	# a pipe must not wait for the daemon to close it.
	nsx "$r" bird -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" \
		</dev/null >>"$d/bird.log" 2>&1
	for ((i = 0; i < 100; i++)); do
		birdc -s "$d/bird.ctl" show status >/dev/null 2>&1 && break
		sleep 0.1
	done
	((i < 100)) || die "bird did not open $d/bird.ctl (log $d/bird.log)"
	log "bird up on $r (pid $(<"$d/bird.pid"))"
}

# write_frr_conf writes r1's FRR configuration (--router frr): zebra for the
# kernel routes, bgpd with the same policy as the BIRD router.
write_frr_conf() {
	local d n l4 l6 p4 p6 as
	d=$(lab_dir)/r1/frr
	cat >"$d/zebra.conf" <<EOF
! zebra for r1 of lab "$name", written by scripts/lab.sh; never /etc/frr.
hostname ${name}-r1
log file $d/zebra.log
EOF
	{
		cat <<EOF
! bgpd for r1 of lab "$name", written by scripts/lab.sh; never /etc/frr.
hostname ${name}-r1
log file $d/bgpd.log
!
! RFC 8326: a draining node tags its routes GRACEFUL_SHUTDOWN (65535:0).
! FRR's "bgp graceful-shutdown" is about sending it; on receipt this
! route-map does what BIRD's from_node filter does: local-pref 0, so the
! path leaves the ECMP set at once but stays as a fallback.
bgp community-list standard GSHUT seq 5 permit 65535:0
route-map from_node permit 10
 match community GSHUT
 set local-preference 0
exit
route-map from_node permit 20
exit
!
router bgp $R1_AS
 bgp router-id $R1_INET4
 ! Explicit policy (from_node in, everything out) instead of RFC 8212's
 ! default deny on eBGP; the lab has no other routes to leak.
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 ! Each node is its own AS: without multipath-relax FRR only load-shares
 ! over paths with an identical AS path, i.e. never here.
 bgp bestpath as-path multipath-relax
 ! Compare MED across neighbour ASes (BIRD: med metric yes), so a degraded
 ! node's higher MED takes it out of the ECMP set.
 bgp always-compare-med
EOF
		for ((n = 1; n <= nodes; n++)); do
			read -r l4 l6 p4 p6 as < <(router_side r1 "$n")
			cat <<EOF
 neighbor $p4 remote-as $((NODE_AS_BASE + n))
 neighbor $p4 description node n$n IPv4
 neighbor $p4 update-source $l4
 neighbor $p4 timers connect 1
 neighbor $p6 remote-as $((NODE_AS_BASE + n))
 neighbor $p6 description node n$n IPv6
 neighbor $p6 update-source $l6
 neighbor $p6 timers connect 1
EOF
		done
		printf ' address-family ipv4 unicast\n  maximum-paths 16\n'
		for ((n = 1; n <= nodes; n++)); do
			read -r l4 l6 p4 p6 as < <(router_side r1 "$n")
			printf '  neighbor %s activate\n  neighbor %s route-map from_node in\n  neighbor %s addpath-tx-all-paths\n' "$p4" "$p4" "$p4"
		done
		printf ' exit-address-family\n address-family ipv6 unicast\n  maximum-paths 16\n'
		for ((n = 1; n <= nodes; n++)); do
			read -r l4 l6 p4 p6 as < <(router_side r1 "$n")
			printf '  neighbor %s activate\n  neighbor %s route-map from_node in\n  neighbor %s addpath-tx-all-paths\n' "$p6" "$p6" "$p6"
		done
		printf ' exit-address-family\nexit\n'
	} >"$d/bgpd.conf"
}

# frr_daemon starts one FRR daemon in r1, as the package's user frr (FRR
# refuses a user outside its vty group frrvty), so LABDIR/r1/frr belongs to
# frr. -P 0: no TCP vty; every path (config, pid, zserv and vty sockets, log)
# is under LABDIR, never the package's /etc/frr or /run/frr.
frr_daemon() {
	local dn=$1 d
	d=$(lab_dir)/r1/frr
	nsx r1 "$FRR_LIB/$dn" -d -A 127.0.0.1 -P 0 -f "$d/$dn.conf" \
		-i "$d/$dn.pid" -z "$d/zserv.api" --vty_socket "$d" \
		</dev/null >>"$d/frr.log" 2>&1 || die "FRR $dn did not start (log $d/frr.log, $d/$dn.log)"
}

vtysh_lab() { vtysh --vty_socket "$(lab_dir)/r1/frr" -d bgpd "$@"; }

start_frr() {
	local d i
	d=$(lab_dir)/r1/frr
	[[ -x $FRR_LIB/bgpd && -x $FRR_LIB/zebra ]] || die "FRR not installed ($FRR_LIB/bgpd); run scripts/deps.sh"
	mkdir -p "$d"
	[[ -s $d/bgpd.conf ]] || write_frr_conf
	chown -R frr:frr "$d"
	# zebra first: bgpd hands it the ECMP routes for r1's kernel.
	frr_daemon zebra
	for ((i = 0; i < 100; i++)); do
		[[ -S $d/zserv.api ]] && break
		sleep 0.1
	done
	((i < 100)) || die "zebra did not open $d/zserv.api (log $d/frr.log)"
	frr_daemon bgpd
	for ((i = 0; i < 100; i++)); do
		vtysh_lab -c "show bgp summary" >/dev/null 2>&1 && break
		sleep 0.1
	done
	((i < 100)) || die "bgpd did not answer on $d/bgpd.vty (log $d/frr.log)"
	log "frr up on r1 (zebra $(<"$d/zebra.pid"), bgpd $(<"$d/bgpd.pid"))"
}

start_router() {
	if [[ $(router_kind "$1") == frr ]]; then start_frr; else start_bird "$1"; fi
}

write_node_conf() {
	local n=$1 d r2_peers="" trust_anchor="" dnssec_canaries=""
	d=$(lab_dir)
	# Without the mini internet (--no-mininet) there is no anchor to trust.
	if ((!no_mininet)); then
		trust_anchor=", trust_anchor: $d/trust.anchor"
		dnssec_canaries=", dnssec_good: good.canary.lab., dnssec_bad: bad.canary.lab."
	fi
	if ((routers == 2)); then
		r2_peers=$(printf '\n    - {address: 198.19.%s.1, asn: %s}\n    - {address: "fd00:54:%s::1", asn: %s}' "$n" "$R2_AS" "$n" "$R2_AS")
	fi
	mkdir -p "$d/n$n/state"
	chmod 0700 "$d/n$n/state"
	cat >"$d/n$n/anycastd.yaml" <<EOF
version: 1
node: {name: n$n, state_dir: $d/n$n/state, control_socket: $d/n$n/control.sock}
service: {interface: lo, addresses: [$SVC4, "$SVC6"]}
# The mini internet is DNSSEC-signed; its root key is the lab's trust anchor
# (mininet writes it before the root hints).
resolver: {root_hints: $d/root.hints${trust_anchor}}
bgp:
  asn: $((NODE_AS_BASE + n))
  router_id: 198.18.$n.2
  peers:
    - {address: 198.18.$n.1, asn: $R1_AS}
    - {address: "fd00:53:$n::1", asn: $R1_AS}${r2_peers}
# Lab hosts run no NTP, so the clock-sync check would mark every node degraded.
health:
  {interval: 1s, rise: 3, fall: 2, canary_name: canary.anycastd.lab., canary_type: A,
   degrading: {clock: false${dnssec_canaries}}}
metrics: {listen: "127.0.0.1:9253"}
drain: {lame_duck: 2s}
EOF
}

# build_r2 adds the second router (--routers 2): links to every node, to c1
# and to inet. Defaults stay via r1; r2 is the nodes' second BGP upstream,
# and c1 can send through it with a route via 198.19.0.1 (docs/lab.md).
build_r2() {
	local n
	nsx r2 sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
	link r2 c1
	addr r2 c1 "$R2_C4/24"
	addr r2 c1 "$R2_C6/64"
	addr c1 r2 "$C1_R2_4/24"
	addr c1 r2 "$C1_R2_6/64"
	link r2 inet
	addr r2 inet "$R2_INET4/24"
	addr r2 inet "$R2_INET6/64"
	addr inet r2 "$INET_R2_4/24"
	addr inet r2 "$INET_R2_6/64"
	ip -n "$(ns r2)" route add "$INET4_PREFIX" via "$INET_R2_4"
	ip -n "$(ns r2)" -6 route add "$INET6_PREFIX" via "$INET_R2_6"
	# Replies to what came in through r2 go back through r2.
	ip -n "$(ns inet)" route add 198.19.0.0/16 via "$R2_INET4"
	ip -n "$(ns inet)" -6 route add fd00:54::/32 via "$R2_INET6"
	for ((n = 1; n <= nodes; n++)); do
		link r2 "n$n"
		addr r2 "n$n" "198.19.$n.1/24"
		addr r2 "n$n" "fd00:54:$n::1/64"
		addr "n$n" r2 "198.19.$n.2/24"
		addr "n$n" r2 "fd00:54:$n::2/64"
		ip -n "$(ns "n$n")" route add 198.19.0.0/24 via "198.19.$n.1"
		ip -n "$(ns "n$n")" -6 route add fd00:54::/64 via "fd00:54:$n::1"
	done
}

on_up_exit() {
	local rc=$?
	if ((rc != 0)); then
		log "up failed (exit $rc); removing the half-built lab"
		cmd_down || true
	fi
	exit "$rc"
}

cmd_up() {
	local d n a first4=""
	need_root
	if ! [[ $nodes =~ ^[0-9]+$ ]] || ((nodes < 1 || nodes > MAX_NODES)); then
		die "--nodes must be 1..$MAX_NODES"
	fi
	[[ $router == bird || $router == frr ]] || die "--router must be bird or frr"
	[[ $routers == 1 || $routers == 2 ]] || die "--routers must be 1 or 2"
	d=$(lab_dir)
	if [[ -e $d || -n $(lab_namespaces) ]]; then
		die "lab $name already exists; run: $0 down --name $name"
	fi
	resolve_bin
	if ((!no_mininet)); then
		[[ -x $bin_dir/mininet ]] ||
			die "$bin_dir/mininet not found; build it (go build -o bin/mininet ./internal/mininet/cmd/mininet) or pass --bin DIR"
	fi
	# From here on, a failure or ^C removes whatever was built.
	trap on_up_exit EXIT
	trap 'exit 130' INT TERM

	mkdir -p "$d/inet" "$d/r1" "$d/c1"
	chmod 0755 "$LAB_ROOT" "$d"
	printf '%s\n' "$bin_dir" >"$d/bin"
	printf '%s\n' "$nodes" >"$d/nodes"
	printf '%s\n' "$router" >"$d/router"
	((routers == 2)) && mkdir -p "$d/r2"

	mk_ns inet
	mk_ns r1
	mk_ns c1
	((routers == 2)) && mk_ns r2
	for ((n = 1; n <= nodes; n++)); do mk_ns "n$n"; done
	nsx r1 sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
	# hash_policy=1 hashes on ports too: one client's queries spread over the
	# nodes instead of all landing on one.

	# r1 <-> inet
	link r1 inet
	addr r1 inet "$R1_INET4/24"
	addr r1 inet "$R1_INET6/64"
	while read -r a; do
		[[ -n $a ]] || continue
		addr inet r1 "$a"
		if ! in_inet "$a"; then
			extra_routes+=("${a%/*}")
		elif [[ -z $first4 && $a != *:* ]]; then
			first4=${a%/*}
		fi
	done < <(inet_addrs)
	defaults inet "$R1_INET4" "$R1_INET6"
	for a in "${extra_routes[@]}"; do
		# Addresses outside the link prefixes: reach them through inet.
		if [[ $a == *:* ]]; then
			ip -n "$(ns r1)" -6 route add "$a/128" dev inet
		else
			ip -n "$(ns r1)" route add "$a/32" dev inet
		fi
	done

	# r1 <-> c1
	link r1 c1
	addr r1 c1 "$R1_C4/24"
	addr r1 c1 "$R1_C6/64"
	addr c1 r1 "$C1_4/24"
	addr c1 r1 "$C1_6/64"
	defaults c1 "$R1_C4" "$R1_C6"

	# r1 <-> nN
	for ((n = 1; n <= nodes; n++)); do
		link r1 "n$n"
		addr r1 "n$n" "198.18.$n.1/24"
		addr r1 "n$n" "fd00:53:$n::1/64"
		addr "n$n" r1 "198.18.$n.2/24"
		addr "n$n" r1 "fd00:53:$n::2/64"
		defaults "n$n" "198.18.$n.1" "fd00:53:$n::1"
		mkdir -p "$d/n$n"
		write_node_conf "$n"
	done
	((routers == 2)) && build_r2
	log "namespaces and links up: $(lab_namespaces | tr '\n' ' ')"

	if ((no_mininet)); then
		write_root_hints "$d/root.hints"
		log "--no-mininet: addresses only, no DNS server in inet"
	else
		start_mininet
	fi
	start_router r1
	((routers == 2)) && start_bird r2

	trap - EXIT INT TERM
	log "lab ready; node configs in $d/nN/anycastd.yaml (anycastd not started)"
	printf 'LABDIR=%s\n' "$d"
}

# ---------------------------------------------------------------- down

cmd_down() {
	local nss pids n i d
	need_root
	mapfile -t nss < <(lab_namespaces)
	d=$(lab_dir)
	pids=()
	for n in "${nss[@]}"; do
		mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$n" 2>/dev/null || true)
	done
	if ((${#pids[@]} > 0)); then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		# anycastd drains on TERM; do not wait for a full drain here.
		for ((i = 0; i < 50; i++)); do
			local left=0 p
			for p in "${pids[@]}"; do alive "$p" && left=1; done
			((left)) || break
			sleep 0.1
		done
		kill -KILL "${pids[@]}" 2>/dev/null || true
	fi
	for n in "${nss[@]}"; do
		ip netns del "$n" 2>/dev/null || log "could not delete namespace $n"
	done
	rm -rf "$d"
	rmdir "$LAB_ROOT" 2>/dev/null || true
	log "down: removed ${#nss[@]} namespaces, stopped ${#pids[@]} processes"
}

# ---------------------------------------------------------------- nodes

cmd_node_start() {
	local n d pid log i
	need_root
	(($# >= 1)) || die "usage: node-start N [anycastd args...]"
	n=$(node_num "$1")
	shift
	d=$(lab_dir)/n$n
	resolve_bin
	[[ -x $bin_dir/anycastd ]] || die "$bin_dir/anycastd not found (make build, or --bin DIR)"
	if [[ -r $d/anycastd.pid ]] && alive "$(<"$d/anycastd.pid")"; then
		die "anycastd already runs on n$n (pid $(<"$d/anycastd.pid"))"
	fi
	log=$d/anycastd.log
	printf '=== %s node-start %s\n' "$(date -u +%FT%TZ)" "$*" >>"$log"
	# ip netns exec + setsid exec in place, so $! is anycastd's own pid.
	ip netns exec "$(ns "n$n")" setsid "$bin_dir/anycastd" -config "$d/anycastd.yaml" "$@" \
		</dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/anycastd.pid"
	# Catch an immediate exit (bad flags or config) here rather than later.
	for ((i = 0; i < 5; i++)); do
		sleep 0.1
		alive "$pid" || {
			tail -n 20 "$log" >&2 || true
			die "anycastd on n$n exited at once (log $log)"
		}
	done
	log "anycastd started on n$n (pid $pid, log $log)"
}

cmd_node_stop() {
	local n d pid sig i
	need_root
	(($# >= 1)) || die "usage: node-stop N [SIGNAL]"
	n=$(node_num "$1")
	sig=${2:-TERM}
	sig=${sig#-}
	sig=${sig#SIG}
	d=$(lab_dir)/n$n
	if [[ ! -r $d/anycastd.pid ]] || ! alive "$(<"$d/anycastd.pid")"; then
		log "anycastd is not running on n$n"
		rm -f "$d/anycastd.pid"
		return 0
	fi
	pid=$(<"$d/anycastd.pid")
	kill -s "$sig" "$pid"
	for ((i = 0; i < 300; i++)); do
		alive "$pid" || {
			rm -f "$d/anycastd.pid"
			log "anycastd on n$n (pid $pid) exited after SIG$sig"
			return 0
		}
		sleep 0.1
	done
	die "anycastd on n$n (pid $pid) still runs 30 s after SIG$sig"
}

cmd_ctl() {
	local n
	(($# >= 1)) || die "usage: ctl N ARGS..."
	n=$(node_num "$1")
	shift
	resolve_bin
	[[ -x $bin_dir/anycastctl ]] || die "$bin_dir/anycastctl not found"
	nsx "n$n" "$bin_dir/anycastctl" -socket "$(lab_dir)/n$n/control.sock" "$@"
}

cmd_exec() {
	local n
	(($# >= 2)) || die "usage: exec NS CMD..."
	n=${1#"$name"-}
	shift
	[[ $n =~ ^(inet|r1|r2|c1|n[0-9]+)$ ]] || die "unknown namespace '$n' (inet|r1|r2|c1|nN)"
	ip netns list | awk '{print $1}' | grep -qx "$(ns "$n")" || die "namespace $(ns "$n") does not exist"
	nsx "$n" "$@"
}

cmd_dig() {
	local a
	for a in "$@"; do
		# dig without @server would ask the host's resolver; there is no
		# route to it from c1, but the lab's service address is what is meant.
		[[ $a == @* ]] && {
			nsx c1 dig "$@"
			return
		}
	done
	nsx c1 dig "@$SVC4" "$@"
}

# ---------------------------------------------------------------- routes

birdc_lab() { birdc -s "$(lab_dir)/$on/bird.ctl" "$@"; }

# frr_afi prints FRR's address family for a prefix.
frr_afi() { if [[ $1 == *:* ]]; then echo ipv6; else echo ipv4; fi; }

cmd_routes() {
	check_router "$on"
	if [[ $(router_kind "$on") == frr ]]; then
		echo "--- FRR ($on): BGP routes for the service prefixes"
		vtysh_lab -c "show bgp ipv4 unicast $SVC4_PREFIX" || true
		vtysh_lab -c "show bgp ipv6 unicast $SVC6_PREFIX" || true
	else
		[[ -S "$(lab_dir)/$on/bird.ctl" ]] || die "lab $name has no running BIRD on $on"
		echo "--- BIRD ($on): BGP routes for the service prefixes"
		birdc_lab show route "$SVC4_PREFIX" || true
		birdc_lab show route "$SVC6_PREFIX" || true
	fi
	echo "--- kernel ($on): ip route show $SVC4_PREFIX"
	ip -n "$(ns "$on")" route show "$SVC4_PREFIX"
	echo "--- kernel ($on): ip -6 route show $SVC6_PREFIX"
	ip -n "$(ns "$on")" -6 route show "$SVC6_PREFIX"
}

# count_paths prints how many BGP routes BIRD holds for a prefix or, with
# --kernel, how many nexthops r1's kernel route for it has.
count_paths() {
	local prefix=$1 out
	if ((kernel)); then
		if [[ $prefix == *:* ]]; then
			out=$(ip -n "$(ns "$on")" -6 route show "$prefix" 2>/dev/null || true)
		else
			out=$(ip -n "$(ns "$on")" route show "$prefix" 2>/dev/null || true)
		fi
		if [[ -z $out ]]; then
			echo 0
		elif grep -q nexthop <<<"$out"; then
			grep -c nexthop <<<"$out"
		else
			grep -c . <<<"$out"
		fi
	elif [[ $(router_kind "$on") == frr ]]; then
		# "Paths: (2 available, best #1, table default)"; absent prefixes
		# print "% Network not in table".
		out=$(vtysh_lab -c "show bgp $(frr_afi "$prefix") unicast $prefix" 2>/dev/null || true)
		sed -nE 's/^[[:space:]]*Paths: \(([0-9]+) available.*/\1/p' <<<"$out" | grep . || echo 0
	else
		out=$(birdc_lab show route "$prefix" 2>/dev/null || true)
		grep -cE '(^|[[:space:]])unicast \[' <<<"$out" || true
	fi
}

cmd_paths() {
	check_router "$on"
	count_paths "${1:-$SVC4_PREFIX}"
}

cmd_wait_paths() {
	local want prefix got start now
	(($# >= 1)) || die "usage: wait-paths COUNT [--kernel] [--timeout S] [PREFIX]"
	want=$1
	shift
	parse_opts "$@"
	prefix=${rest[0]:-$SVC4_PREFIX}
	[[ $want =~ ^[0-9]+$ ]] || die "COUNT must be a number"
	check_router "$on"
	start=$(date +%s.%N)
	while :; do
		got=$(count_paths "$prefix")
		now=$(date +%s.%N)
		if [[ $got == "$want" ]]; then
			log "$prefix: $got $( ((kernel)) && echo nexthops || echo paths) after $(awk -v a="$start" -v b="$now" 'BEGIN{printf "%.1f", b-a}') s"
			return 0
		fi
		if awk -v a="$start" -v b="$now" -v t="$timeout_s" 'BEGIN{exit !(b-a >= t)}'; then
			die "$prefix: want $want paths, have $got after $timeout_s s"
		fi
		sleep 0.1
	done
}

# ---------------------------------------------------------------- status

cmd_status() {
	local d n pids
	d=$(lab_dir)
	echo "lab $name  LABDIR=$d"
	mapfile -t nss < <(lab_namespaces)
	if ((${#nss[@]} == 0)); then
		echo "no namespaces: the lab is down"
		return 0
	fi
	for n in "${nss[@]}"; do
		pids=$(ip netns pids "$n" 2>/dev/null | paste -sd, -)
		printf '%-14s ' "$n"
		if [[ -n $pids ]]; then
			ps -o pid=,comm= -p "$pids" | awk '{printf "%s(%s) ", $2, $1} END {print ""}'
		else
			echo "(no processes)"
		fi
	done
	for on in r1 r2; do
		if [[ $(router_kind "$on") == frr && -S $d/$on/frr/bgpd.vty ]]; then
			echo "--- BGP sessions on $on (FRR)"
			vtysh_lab -c "show bgp summary" || true
		elif [[ -S $d/$on/bird.ctl ]]; then
			echo "--- BGP sessions on $on"
			birdc_lab show protocols | grep -E '^(Name|n[0-9]+_v[46])' || true
		fi
	done
}

# ---------------------------------------------------------------- routers

# router_pids prints the pids of router R's daemons from their pid files.
router_pids() {
	local d f
	d=$(lab_dir)/$1
	for f in "$d/bird.pid" "$d/frr/bgpd.pid" "$d/frr/zebra.pid"; do
		[[ -r $f ]] && alive "$(<"$f")" && cat "$f"
	done
	return 0
}

cmd_router_stop() {
	local r=${1:-} sig=${2:-KILL} pids i
	need_root
	[[ -n $r ]] || die "usage: router-stop R [SIGNAL]"
	check_router "$r"
	sig=${sig#-}
	sig=${sig#SIG}
	mapfile -t pids < <(router_pids "$r")
	((${#pids[@]} > 0)) || {
		log "no router daemon runs on $r"
		return 0
	}
	kill -s "$sig" "${pids[@]}"
	for ((i = 0; i < 100; i++)); do
		local left=0 p
		for p in "${pids[@]}"; do alive "$p" && left=1; done
		((left)) || break
		sleep 0.1
	done
	((i < 100)) || die "router daemons on $r (${pids[*]}) still run 10 s after SIG$sig"
	rm -f "$(lab_dir)/$r/bird.ctl" "$(lab_dir)/$r/frr/"*.vty "$(lab_dir)/$r/frr/zserv.api"
	log "router $r stopped (SIG$sig: ${pids[*]})"
}

cmd_router_start() {
	local r=${1:-}
	need_root
	[[ -n $r ]] || die "usage: router-start R"
	check_router "$r"
	[[ -z $(router_pids "$r") ]] || die "router $r already runs ($(router_pids "$r" | paste -sd' '))"
	start_router "$r"
}

cmd_vtysh() {
	[[ $(router_kind r1) == frr ]] || die "lab $name runs BIRD on r1, not FRR (birdc -s $(lab_dir)/r1/bird.ctl)"
	vtysh_lab "$@"
}

# ---------------------------------------------------------------- main

# strip_trailing_opts takes --name/--bin off the end of the arguments, where
# callers that append them (the Go lab tests) put them, even after the
# positional arguments of node-start, ctl or exec. Sets rest.
strip_trailing_opts() {
	local -a a=("$@")
	local n
	while n=${#a[@]}; ((n > 0)); do
		case ${a[n - 1]} in
		--name=* | --bin=*) parse_opts "${a[n - 1]}"; unset 'a[n-1]' ;;
		*)
			if ((n >= 2)) && [[ ${a[n - 2]} == --name || ${a[n - 2]} == --bin ]]; then
				parse_opts "${a[n - 2]}" "${a[n - 1]}"
				unset 'a[n-1]' 'a[n-2]'
			else
				break
			fi
			;;
		esac
	done
	rest=("${a[@]}")
}

main() {
	local cmd
	strip_trailing_opts "$@"
	set -- "${rest[@]}"
	parse_opts "$@"
	set -- "${rest[@]}"
	(($# > 0)) || {
		usage >&2
		exit 2
	}
	cmd=$1
	shift
	parse_opts "$@"
	set -- "${rest[@]}"
	check_name
	case $cmd in
	up) (($# == 0)) || die "up takes no arguments: $*"; cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	node-start) cmd_node_start "$@" ;;
	node-stop) cmd_node_stop "$@" ;;
	ctl) cmd_ctl "$@" ;;
	exec) cmd_exec "$@" ;;
	dig) cmd_dig "$@" ;;
	routes) cmd_routes ;;
	paths) cmd_paths "$@" ;;
	wait-paths) cmd_wait_paths "$@" ;;
	router-stop) cmd_router_stop "$@" ;;
	router-start) cmd_router_start "$@" ;;
	vtysh) cmd_vtysh "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
