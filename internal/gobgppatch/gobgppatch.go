// Package gobgppatch checks that every change anycastd made to its copy of
// GoBGP (third_party/gobgp) is marked and listed. It diffs the copy against
// the pristine upstream module (from the Go module cache) and fails on any
// hunk that the patch list, third_party/gobgp/ANYCASTD-PATCH.txt, does not
// name. scripts/check_gobgp_patch.sh runs it; `make lint` calls that script.
//
// What counts as a hunk (Format below says how the list names them):
//
//   - Every hunk of `diff -U3 UPSTREAM/F PATCHED/F` for a file F present in
//     both trees. Its IDs are those named by markers "anycastd patch AP-NN"
//     (several: "anycastd patch AP-05, AP-09") in its added or its context
//     lines, so a pure deletion is explained by a marker on a line next to it.
//   - A file that only the patched tree has (e.g. pkg/server/anycastd.go) is
//     one hunk; its marker must be in its first 5 lines.
//   - A non-test .go file under api/, internal/ or pkg/ that upstream has and
//     the patched tree lacks is one hunk (upstream's other files, docs, tests,
//     tools, cmd, .github, README, were pruned on purpose and are not). It
//     cannot carry a marker: an AP entry names it by listing its path. So
//     does a binary file that differs.
//
// ANYCASTD-PATCH.txt itself and *.draft.txt files are not compared.
package gobgppatch

// Format is the format of ANYCASTD-PATCH.txt, as the usage text prints it.
const Format = `Format of ANYCASTD-PATCH.txt (trailing blanks and CRs are ignored)

  Patch entry: a header line at column 0, then field lines indented by
  blanks, up to the first blank line or column-0 line:

    AP-NN  <path>[, <path>...]  <short title>
      fixes: <advisory IDs (GHSA-..., CVE-...) or a description of the bug>
      test: <repo-relative file> <TestOrFuzzName>[, <file> <Name>...]
      why: <free text, optional>
          <a line indented deeper than the field lines continues the field>

  - NN is two digits; each ID has one entry. An ID is listed once it has
    an entry.
  - <path>s are relative to third_party/gobgp (a leading
    "third_party/gobgp/" is accepted), comma-separated, without blanks;
    a path ending in "/" stands for every file under it. They name every
    file that has a hunk marked with the ID, and each one must have such a
    hunk. A deleted upstream file or a differing binary file cannot carry a
    marker: listing its path is what names it.
  - <short title> is the rest of the header line and must not be empty.
  - fixes: is required. test: is required; it may repeat, and the pairs of
    all its lines add up; each pair names a repo-relative *_test.go file
    that exists and a function in it declared as "func TestName(" or
    "func FuzzName(". why: is optional. Other field names are errors.

  Advisory review entry: a line at column 0 starting with "GHSA-", "CVE-"
  or "osrg/gobgp#", with indented lines below it. Those are not checked,
  except a line
      vX.Y.Z: affected -> AP-NN[, AP-NN...]
  (anywhere outside a patch entry), whose IDs must have patch entries.

  Anything else (free-text paragraphs, headings) is ignored.

A hunk is marked by a comment "anycastd patch AP-NN" (or
"anycastd patch AP-05, AP-09") in one of its added or context lines, or,
for a new file, in its first 5 lines.

The check fails when: a hunk has no marker; a marker names an ID with no
entry; an entry's ID is on no hunk (stale) or its paths do not match the
files of its hunks; an entry lacks fixes: or test:; a test file or test
function does not exist; an "affected -> AP-NN" names a missing entry.`

// Problem is one reason the check fails, printed as one line.
type Problem struct {
	File string // display path: a file of the patched tree, or the list
	Line int    // line in File, 0 when none
	Msg  string
}

func (p Problem) String() string {
	return p.Msg
}

// Result is what Check found.
type Result struct {
	Hunks    []*Hunk  // hunks, new files and deleted files, by file and line
	IDs      []string // distinct AP IDs on hunks, sorted
	Problems []Problem
}

// Summary is the last line the checker prints.
func (r *Result) Summary() string {
	if len(r.Problems) == 0 {
		return sprintf("gobgp patch check: %d hunks, %d IDs, all listed", len(r.Hunks), len(r.IDs))
	}
	return sprintf("gobgp patch check: %d hunks, %d IDs, %d problems", len(r.Hunks), len(r.IDs), len(r.Problems))
}
