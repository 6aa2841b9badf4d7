#!/usr/bin/env bash
# Shared by scripts/deps.sh and scripts/bench/deps.sh (sourced, not run):
# find which of PACKAGES are missing and install them without letting any
# package start its service with the package's default config. The caller
# defines PACKAGES (array), say and die.

readonly POLICY=/usr/sbin/policy-rc.d

missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			printf '%s\n' "$p"
	done
}

# policy_installed_by_us is set when we put a policy-rc.d in place for the
# install and must take it away again.
policy_installed_by_us=0
restore_policy() {
	if ((policy_installed_by_us)); then
		if [[ -e $POLICY.anycastd-saved ]]; then
			mv -f "$POLICY.anycastd-saved" "$POLICY"
		else
			rm -f "$POLICY"
		fi
		policy_installed_by_us=0
	fi
}

install_packages() {
	local -a missing=("$@")
	((EUID == 0)) || die "missing packages (${missing[*]}); run as root: sudo $0"
	# invoke-rc.d asks policy-rc.d before starting a service from a
	# maintainer script; 101 means "not allowed", so nothing starts with the
	# package's default config during the install.
	if [[ -e $POLICY ]] && ! cmp -s "$POLICY" <(printf '#!/bin/sh\nexit 101\n'); then
		cp -p "$POLICY" "$POLICY.anycastd-saved"
	fi
	printf '#!/bin/sh\nexit 101\n' >"$POLICY"
	chmod 0755 "$POLICY"
	policy_installed_by_us=1
	trap restore_policy EXIT INT TERM

	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# tshark (the privacy lab test's captures) would otherwise ask whether
	# non-root users may capture; they may not.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	local log
	log=$(mktemp)
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
		# A stale or empty package list is the usual cause: refresh once.
		apt-get update -q >>"$log" 2>&1 || true
		apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || {
			tail -n 30 "$log" >&2
			rm -f "$log"
			die "apt-get install failed"
		}
	fi
	rm -f "$log"
	restore_policy
	trap - EXIT INT TERM
}
