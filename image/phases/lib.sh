# shellcheck shell=bash
# lib.sh: helpers shared by the image phases (sourced, not run).

say() { printf 'image[%s]: %s\n' "${PHASE:-build}" "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# run_phase runs image/phases/NAME.sh in a subshell with strict mode, prints
# its duration, and turns any failure into one line naming the phase.
run_phase() {
	local phase=$1 t0=$SECONDS rc=0
	printf 'image: phase %s ...\n' "$phase" >&2
	(
		PHASE=$phase
		set -euo pipefail
		# shellcheck source=/dev/null
		source "$IMAGE_DIR/phases/$phase.sh"
	) || rc=$?
	if ((rc != 0)); then
		printf 'image: phase %s FAILED (exit %d) after %d s\n' "$phase" "$rc" "$((SECONDS - t0))" >&2
		exit "$rc"
	fi
	printf 'image: phase %s ok in %d s\n' "$phase" "$((SECONDS - t0))" >&2
}

# need_tools installs the Debian packages that provide the given commands,
# the way scripts/deps.sh does: only what is missing, quietly.
need_tools() {
	local -a pkgs=() pair
	local p
	for p in "$@"; do
		IFS=: read -ra pair <<<"$p"
		command -v "${pair[0]}" >/dev/null || pkgs+=("${pair[1]}")
	done
	((${#pkgs[@]} == 0)) && return 0
	say "installing ${pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 || {
		apt-get update -q >/dev/null 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null ||
			die "apt-get install ${pkgs[*]} failed"
	}
}
