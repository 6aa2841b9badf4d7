#!/usr/bin/env bash
# deps.sh installs the peer resolvers `make bench` compares anycastd with
# (Knot Resolver and PowerDNS Recursor; Unbound and dnsperf come from
# scripts/deps.sh) and makes sure none of their packaged services runs: the
# bench starts each one itself, with its own config, inside a network
# namespace, pointed at the mini internet. Safe to run again.
set -euo pipefail

readonly PACKAGES=(knot-resolver pdns-recursor unbound dnsperf)

say() { printf 'bench deps: %s\n' "$*"; }
die() {
	printf 'bench deps: error: %s\n' "$*" >&2
	exit 1
}

# shellcheck source-path=SCRIPTDIR source=../lib/apt.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib/apt.sh"

# quiet_services stops and disables the packaged units. kresd is a template
# (kresd@1.service ...) plus sockets; pdns-recursor a plain service.
quiet_services() {
	local u
	if [[ -d /run/systemd/system ]]; then
		local -a units
		mapfile -t units < <(systemctl list-units --all --plain --no-legend 'kresd@*' 'kres-cache-gc*' \
			'kresd.target' 'kresd*.socket' 'pdns-recursor*' 2>/dev/null | awk '{print $1}')
		units+=(kresd.target kres-cache-gc.service pdns-recursor.service)
		for u in "${units[@]}"; do
			[[ -n $u ]] || continue
			systemctl list-unit-files "$u" >/dev/null 2>&1 || continue
			if systemctl is-enabled --quiet "$u" 2>/dev/null || systemctl is-active --quiet "$u" 2>/dev/null; then
				systemctl disable --now --quiet "$u" 2>/dev/null || true
				say "stopped and disabled $u"
			fi
		done
		return
	fi
	u=pdns-recursor
	[[ -x /etc/init.d/$u ]] || return 0
	if /etc/init.d/"$u" status >/dev/null 2>&1; then
		/etc/init.d/"$u" stop >/dev/null 2>&1 || true
		say "stopped $u"
	fi
	if command -v update-rc.d >/dev/null; then
		update-rc.d "$u" disable >/dev/null 2>&1 || true
	fi
}

main() {
	local -a missing
	mapfile -t missing < <(missing_packages)
	if ((${#missing[@]} > 0)); then
		install_packages "${missing[@]}"
		mapfile -t missing < <(missing_packages)
		((${#missing[@]} == 0)) || die "still missing after install: ${missing[*]}"
	fi
	quiet_services
	local b
	for b in kresd pdns_recursor unbound dnsperf; do
		command -v "$b" >/dev/null || [[ -x /usr/sbin/$b ]] || die "$b not found after install"
	done
	say "ok: ${PACKAGES[*]} present, packaged services off"
}

main "$@"
