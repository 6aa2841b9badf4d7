#!/usr/bin/env bash
# check_gobgp_patch.sh fails on any change in third_party/gobgp that
# third_party/gobgp/ANYCASTD-PATCH.txt does not name. It diffs the tree
# against pristine GoBGP v3.37.0 from the Go module cache (downloading it
# there when missing) with diff -U3, and checks every hunk and the list.
# The logic is Go: internal/gobgppatch (tests there), main in
# internal/gobgppatch/cmd/checkgobgppatch.
#
# usage: scripts/check_gobgp_patch.sh [--root DIR] [--upstream DIR]
#          [--patched DIR] [--list FILE] [-v] [-h]
#   exit 0: every hunk listed ("gobgp patch check: N hunks, M IDs, all
#   listed"); 1: problems, one line each; 2: the check could not run.
#
# What a hunk is: each hunk of diff -U3 of a file both trees have; a file
# only third_party/gobgp has (one hunk; its marker must be in its first 5
# lines); a non-test .go file under api/, internal/ or pkg/ that upstream
# has and third_party/gobgp lacks (named by listing its path). Other files
# upstream has were pruned on purpose. ANYCASTD-PATCH.txt and *.draft.txt
# are not compared. A hunk's IDs are those of the markers
# "anycastd patch AP-NN" (or "anycastd patch AP-05, AP-09") in its added
# or context lines.
#
# Format of ANYCASTD-PATCH.txt (the full text: -h, or the Format constant
# in internal/gobgppatch/gobgppatch.go):
#
#   AP-NN  <path>[, <path>...]  <short title>
#     fixes: <advisory IDs (GHSA-..., CVE-...) or a description of the bug>
#     test: <repo-relative file> <TestOrFuzzName>[, <file> <Name>...]
#     why: <optional; lines indented deeper than the fields continue a field>
#
# A patch entry starts at column 0 and ends at the first blank line or
# column-0 line. NN is two digits, one entry per ID. Paths are relative to
# third_party/gobgp, comma-separated; they must be exactly the files whose
# hunks carry the ID ("dir/" covers a directory). fixes: and test: are
# required; each test pair names an existing *_test.go file and a
# "func TestX(" or "func FuzzX(" in it. Lines at column 0 starting with
# "GHSA-", "CVE-" or "osrg/gobgp#" begin advisory review entries, which are
# not checked except that "  vX.Y.Z: affected -> AP-NN" must name an
# existing entry. Other text is ignored.
#
# It fails when a hunk has no marker, a marker names an ID without an
# entry, an entry has no hunk or its paths do not match its hunks' files,
# an entry lacks fixes: or test:, or a test file or function is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

if ! command -v go >/dev/null 2>&1; then
	PATH=/usr/local/go/bin:$PATH
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A built binary, not go run: go run turns every failing exit status into 1
# and adds an "exit status" line.
(cd "$ROOT" && go build -o "$tmp/checkgobgppatch" ./internal/gobgppatch/cmd/checkgobgppatch) || {
	echo "check_gobgp_patch: cannot build internal/gobgppatch/cmd/checkgobgppatch" >&2
	exit 2
}
# Paths given as arguments are relative to the caller's directory.
rc=0
"$tmp/checkgobgppatch" --root "$ROOT" "$@" || rc=$?
exit "$rc"
