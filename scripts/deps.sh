#!/usr/bin/env bash
# deps.sh installs the Debian packages anycastd's tests, lab and demo need,
# and makes sure none of their services runs with the package defaults: the
# lab starts BIRD (and, later, FRR and Unbound) itself, with its own configs,
# inside network namespaces. Safe to run again; quiet when nothing is missing.
#
# usage: scripts/deps.sh [--check]   (--check: report only, install nothing)
set -euo pipefail

readonly PACKAGES=(
	bird2 iproute2 iputils-ping dnsutils knot-dnsutils unbound dnsperf frr
	procps psmisc ca-certificates curl git make gcc shellcheck tshark
)
# Units the packages above enable and start on Debian. unbound-resolvconf
# would point the host's resolv.conf at a resolver that must not run.
readonly SERVICES=(bird unbound unbound-resolvconf frr)

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO_DIR

check_only=0
[[ ${1:-} == --check ]] && check_only=1

say() { printf 'deps: %s\n' "$*"; }
die() {
	printf 'deps: error: %s\n' "$*" >&2
	exit 1
}

# shellcheck source-path=SCRIPTDIR source=lib/apt.sh
. "$SCRIPT_DIR/lib/apt.sh"

# quiet_services stops and disables the packages' own services. Only with
# systemd as PID 1 are they started at boot; without it nothing started them
# (policy-rc.d forbade it), but a SysV script that is running is stopped too.
quiet_services() {
	local s
	if [[ -d /run/systemd/system ]]; then
		for s in "${SERVICES[@]}"; do
			systemctl list-unit-files "$s.service" >/dev/null 2>&1 || continue
			if systemctl is-enabled --quiet "$s.service" 2>/dev/null ||
				systemctl is-active --quiet "$s.service" 2>/dev/null; then
				((EUID == 0)) || die "$s.service is enabled or running; run as root to disable it"
				systemctl disable --now --quiet "$s.service" 2>/dev/null || true
				say "stopped and disabled $s.service"
			fi
		done
		return
	fi
	for s in "${SERVICES[@]}"; do
		[[ -x /etc/init.d/$s ]] || continue
		if /etc/init.d/"$s" status >/dev/null 2>&1; then
			((EUID == 0)) || die "$s is running; run as root to stop it"
			/etc/init.d/"$s" stop >/dev/null 2>&1 || true
			say "stopped $s"
		fi
		if ((EUID == 0)) && command -v update-rc.d >/dev/null; then
			update-rc.d "$s" disable >/dev/null 2>&1 || true
		fi
	done
}

# check_go reports whether a Go toolchain at least as new as go.mod's is on
# PATH. The machine image carries one in /usr/local/go; scripts put it first.
check_go() {
	local want have gobin=go
	want=$(awk '$1 == "go" {print $2; exit}' "$REPO_DIR/go.mod")
	if ! command -v go >/dev/null; then
		if [[ -x /usr/local/go/bin/go ]]; then
			gobin=/usr/local/go/bin/go
			say "go is not on PATH; use: export PATH=/usr/local/go/bin:\$PATH"
		else
			say "Go $want or newer is needed and not installed: unpack the official"
			say "  go$want linux tarball into /usr/local (so /usr/local/go/bin/go exists)"
			say "  and export PATH=/usr/local/go/bin:\$PATH"
			return 1
		fi
	fi
	have=$("$gobin" env GOVERSION)
	have=${have#go}
	if [[ $(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1) != "$want" ]]; then
		say "Go $have is older than go.mod's $want: install go$want into /usr/local/go"
		say "  and export PATH=/usr/local/go/bin:\$PATH (GOTOOLCHAIN=auto cannot download here)"
		return 1
	fi
}

main() {
	local -a missing
	mapfile -t missing < <(missing_packages)
	if ((${#missing[@]} > 0)); then
		((check_only)) && die "missing packages: ${missing[*]}"
		install_packages "${missing[@]}"
		mapfile -t missing < <(missing_packages)
		((${#missing[@]} == 0)) || die "still missing after install: ${missing[*]}"
	fi
	quiet_services
	check_go || exit 1
	say "ok: ${#PACKAGES[@]} packages present, package services off, $(PATH=/usr/local/go/bin:$PATH go env GOVERSION)"
}

main
