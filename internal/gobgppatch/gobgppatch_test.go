package gobgppatch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goFile is a Go source of n numbered lines, like an upstream file.
func goFile(name string, n int) string {
	var b strings.Builder
	b.WriteString("package " + name + "\n\n")
	for i := 3; i <= n; i++ {
		fmt.Fprintf(&b, "var v%d = %d\n", i, i)
	}
	return b.String()
}

// tree is a synthetic repository: an upstream tree, a patched copy under
// third_party/gobgp, a patch list and a test file.
type tree struct {
	root, up, patched, list string
}

func (tr *tree) write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (tr *tree) read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaceLine replaces line n (1-based) of a patched file.
func (tr *tree) replaceLine(t *testing.T, rel string, n int, with string) {
	t.Helper()
	p := filepath.Join(tr.patched, rel)
	lines := strings.Split(tr.read(t, p), "\n")
	lines[n-1] = with
	tr.write(t, p, strings.Join(lines, "\n"))
}

// deleteLine deletes line n (1-based) of a patched file.
func (tr *tree) deleteLine(t *testing.T, rel string, n int) {
	t.Helper()
	p := filepath.Join(tr.patched, rel)
	lines := strings.Split(tr.read(t, p), "\n")
	lines = append(lines[:n-1], lines[n:]...)
	tr.write(t, p, strings.Join(lines, "\n"))
}

const baseList = `This is GoBGP v3.37.0 with the patches below. Free text is ignored,
  and so are indented lines of free text.

AP-01  pkg/server/fsm.go  first fix
  fixes: GHSA-aaaa-bbbb-cccc (a crash)
  test: bgp/fix_test.go TestFix
  why: because it crashed,
      and a continuation line: like this one.

AP-02  pkg/server/anycastd.go, third_party/gobgp/pkg/server/server.go  hooks
  fixes: no way to see malformed input
  test: bgp/fix_test.go TestFix,
        bgp/fix_test.go FuzzFix

GHSA-aaaa-bbbb-cccc  (a crash)
  v3.37.0: affected -> AP-01
  v4.0.0: not affected
osrg/gobgp#1234  (another one)
  v3.37.0: not affected
`

// newTree builds a tree that passes: fsm.go and server.go have a marked
// hunk each, anycastd.go is new with a marker on its first line, and
// upstream's docs, README and test files were pruned.
func newTree(t *testing.T) *tree {
	root := t.TempDir()
	tr := &tree{root: root, up: filepath.Join(root, "upstream"), patched: filepath.Join(root, "third_party", "gobgp")}
	tr.list = filepath.Join(tr.patched, "ANYCASTD-PATCH.txt")
	files := map[string]string{
		"go.mod":                          "module github.com/osrg/gobgp/v3\n\ngo 1.21\n",
		"pkg/server/fsm.go":               goFile("server", 60),
		"pkg/server/server.go":            goFile("server", 60),
		"pkg/packet/bgp/bgp.go":           goFile("bgp", 40),
		"internal/pkg/table/message.go":   goFile("table", 20),
		"api/gobgp.pb.go":                 goFile("api", 10),
		"api/gobgp.proto":                 "syntax = \"proto3\";\n",
		"pkg/packet/bgp/testdata/x.go":    goFile("x", 5),
		"pkg/packet/bgp/bgp_test.go":      goFile("bgp", 5),
		"internal/pkg/table/path_test.go": goFile("table", 5),
		"docs/sources/cli.md":             "# cli\n",
		"cmd/gobgp/main.go":               goFile("main", 10),
		"README.md":                       "# GoBGP\n",
		".github/workflows/ci.yml":        "on: push\n",
	}
	pruned := map[string]bool{"pkg/packet/bgp/testdata/x.go": true, "pkg/packet/bgp/bgp_test.go": true,
		"internal/pkg/table/path_test.go": true, "docs/sources/cli.md": true, "cmd/gobgp/main.go": true,
		"README.md": true, ".github/workflows/ci.yml": true, "api/gobgp.proto": true}
	for rel, text := range files {
		tr.write(t, filepath.Join(tr.up, rel), text)
		if !pruned[rel] {
			tr.write(t, filepath.Join(tr.patched, rel), text)
		}
	}
	tr.replaceLine(t, "pkg/server/fsm.go", 20, "var v20 = 21 // anycastd patch AP-01: the fix")
	tr.replaceLine(t, "pkg/server/server.go", 30, "var v30 = hook() // anycastd patch AP-02")
	tr.write(t, filepath.Join(tr.patched, "pkg/server/anycastd.go"),
		"// anycastd patch AP-02: hooks.\n\npackage server\n\nfunc hook() int { return 30 }\n")
	tr.write(t, filepath.Join(tr.patched, "notes.draft.txt"), "unlisted draft, ignored\n")
	tr.write(t, tr.list, baseList)
	tr.write(t, filepath.Join(root, "bgp/fix_test.go"), "package bgp\n\nimport \"testing\"\n\n"+
		"func TestFix(t *testing.T) {}\n\nfunc FuzzFix(f *testing.F) {}\n")
	return tr
}

func (tr *tree) check(t *testing.T) *Result {
	t.Helper()
	res, err := Check(Config{Root: tr.root, Upstream: tr.up, Patched: tr.patched, List: tr.list})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (tr *tree) editList(t *testing.T, old, new string) {
	t.Helper()
	text := tr.read(t, tr.list)
	if !strings.Contains(text, old) {
		t.Fatalf("list has no %q", old)
	}
	tr.write(t, tr.list, strings.Replace(text, old, new, 1))
}

const ap03 = "\nAP-03  pkg/packet/bgp/bgp.go  third fix\n  fixes: CVE-2099-0001\n  test: bgp/fix_test.go TestFix\n"

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*testing.T, *tree)
		want   []string // substrings, each in its own problem line, in order; none: passes
	}{
		{"pass", func(*testing.T, *tree) {}, nil},
		{"hunk without marker", func(t *testing.T, tr *tree) {
			tr.replaceLine(t, "pkg/server/server.go", 50, "var v50 = 51")
		}, []string{"third_party/gobgp/pkg/server/server.go @@ -47,7 +47,7 @@: no 'anycastd patch AP-NN' marker in this hunk; add one and list it in third_party/gobgp/ANYCASTD-PATCH.txt (the hunk changes: \"-var v50 = 50\", \"+var v50 = 51\")"}},
		{"marker with a bad ID", func(t *testing.T, tr *tree) {
			tr.replaceLine(t, "pkg/server/server.go", 50, "var v50 = 51 // anycastd patch AP-5")
		}, []string{
			`server.go @@ -47,7 +47,7 @@: "+var v50 = 51 // anycastd patch AP-5" looks like a marker but is not 'anycastd patch AP-NN'`,
			"server.go @@ -47,7 +47,7 @@: no 'anycastd patch AP-NN' marker in this hunk"}},
		{"old marker without ID", func(t *testing.T, tr *tree) {
			tr.replaceLine(t, "pkg/server/server.go", 50, "// anycastd patch: the nil check")
		}, []string{"looks like a marker", "no 'anycastd patch AP-NN' marker in this hunk"}},
		{"unknown ID", func(t *testing.T, tr *tree) {
			tr.replaceLine(t, "pkg/server/server.go", 50, "var v50 = 51 // anycastd patch AP-07")
			tr.replaceLine(t, "pkg/server/server.go", 53, "var v53 = 54 // anycastd patch AP-07")
		}, []string{"third_party/gobgp/pkg/server/server.go @@ -47,10 +47,10 @@: marker names AP-07, which has no entry in third_party/gobgp/ANYCASTD-PATCH.txt; add 'AP-07  pkg/server/server.go  <short title>'"}},
		{"unknown ID reported once per file", func(t *testing.T, tr *tree) {
			tr.replaceLine(t, "pkg/server/server.go", 45, "var v45 = 1 // anycastd patch AP-07")
			tr.replaceLine(t, "pkg/server/server.go", 58, "var v58 = 1 // anycastd patch AP-07")
		}, []string{"server.go @@ -42,7 +42,7 @@: marker names AP-07, which has no entry in third_party/gobgp/ANYCASTD-PATCH.txt (as does 1 more hunk in this file)"}},
		{"stale entry", func(t *testing.T, tr *tree) {
			tr.editList(t, "\nGHSA-", ap03+"\nGHSA-")
		}, []string{"third_party/gobgp/ANYCASTD-PATCH.txt:15: AP-03 has no hunk: no hunk in third_party/gobgp carries an 'anycastd patch AP-03' marker (and no deleted file is listed); remove the stale entry or mark its hunks"}},
		{"missing test function", func(t *testing.T, tr *tree) {
			tr.editList(t, "TestFix\n  why", "TestGone\n  why")
		}, []string{"ANYCASTD-PATCH.txt:6: AP-01 names bgp/fix_test.go TestGone, but bgp/fix_test.go has no 'func TestGone('; fix the name or add the test"}},
		{"missing test function on a continuation line", func(t *testing.T, tr *tree) {
			tr.editList(t, "FuzzFix", "FuzzGone")
		}, []string{"ANYCASTD-PATCH.txt:12: AP-02 names bgp/fix_test.go FuzzGone, but bgp/fix_test.go has no 'func FuzzGone('"}},
		{"test named in a comment only", func(t *testing.T, tr *tree) {
			tr.write(t, filepath.Join(tr.root, "bgp/fix_test.go"), "package bgp\n\n// func TestFix(t *testing.T)\nfunc FuzzFix(f *testing.F) {}\n")
		}, []string{"AP-01 names bgp/fix_test.go TestFix", "AP-02 names bgp/fix_test.go TestFix"}},
		{"missing test file", func(t *testing.T, tr *tree) {
			tr.editList(t, "bgp/fix_test.go TestFix\n  why", "bgp/gone_test.go TestFix\n  why")
		}, []string{"ANYCASTD-PATCH.txt:6: AP-01 test file bgp/gone_test.go does not exist; fix the path (relative to the repository root)"}},
		{"test that is not a test", func(t *testing.T, tr *tree) {
			tr.editList(t, "bgp/fix_test.go TestFix\n  why", "bgp/fix.go TestFix, bgp/fix_test.go BenchmarkFix, bgp/fix_test.go\n  why")
		}, []string{`ANYCASTD-PATCH.txt:6: AP-01: test item "bgp/fix_test.go" is not '<repo-relative file> <TestOrFuzzName>'`,
			"ANYCASTD-PATCH.txt:6: AP-01 test file bgp/fix.go is not a _test.go file",
			"ANYCASTD-PATCH.txt:6: AP-01 test BenchmarkFix in bgp/fix_test.go is not a TestXxx or FuzzXxx function name"}},
		{"entry without fixes", func(t *testing.T, tr *tree) {
			tr.editList(t, "  fixes: GHSA-aaaa-bbbb-cccc (a crash)\n", "")
		}, []string{"ANYCASTD-PATCH.txt:4: AP-01 has no 'fixes:' line; add '  fixes: <GHSA-..., CVE-... or the bug>'"}},
		{"entry without test", func(t *testing.T, tr *tree) {
			tr.editList(t, "  test: bgp/fix_test.go TestFix,\n        bgp/fix_test.go FuzzFix\n", "")
		}, []string{"ANYCASTD-PATCH.txt:10: AP-02 has no 'test:' line"}},
		{"fields after a blank line belong to no entry", func(t *testing.T, tr *tree) {
			tr.editList(t, "first fix\n", "first fix\n\n")
		}, []string{"AP-01 has no 'fixes:' line", "AP-01 has no 'test:' line"}},
		{"new file without marker", func(t *testing.T, tr *tree) {
			tr.write(t, filepath.Join(tr.patched, "pkg/server/extra.go"), "package server\n\n\n\n\n// anycastd patch AP-02 on line 6 is too late\n")
		}, []string{"third_party/gobgp/pkg/server/extra.go: new file (upstream v3.37.0 has none) with no 'anycastd patch AP-NN' marker in its first 5 lines; add one there and list it in third_party/gobgp/ANYCASTD-PATCH.txt"}},
		{"new file with a marker but not listed on its entry", func(t *testing.T, tr *tree) {
			tr.write(t, filepath.Join(tr.patched, "pkg/server/extra.go"), "package server\n\n// anycastd patch AP-01\n")
		}, []string{"third_party/gobgp/pkg/server/extra.go: hunk is marked AP-01, but the AP-01 entry in third_party/gobgp/ANYCASTD-PATCH.txt (line 4) does not list pkg/server/extra.go; add it to the entry's paths"}},
		{"stray file like a .orig", func(t *testing.T, tr *tree) {
			tr.write(t, filepath.Join(tr.patched, "pkg/server/fsm.go.orig"), goFile("server", 60))
		}, []string{"pkg/server/fsm.go.orig: new file"}},
		{"deleted upstream file", func(t *testing.T, tr *tree) {
			os.Remove(filepath.Join(tr.patched, "pkg/packet/bgp/bgp.go"))
		}, []string{"third_party/gobgp/pkg/packet/bgp/bgp.go: deleted, but upstream v3.37.0 has this non-test Go file; restore it, or list its path on the AP entry in third_party/gobgp/ANYCASTD-PATCH.txt that deletes it"}},
		{"deleted upstream file in api/ and internal/", func(t *testing.T, tr *tree) {
			os.Remove(filepath.Join(tr.patched, "api/gobgp.pb.go"))
			os.RemoveAll(filepath.Join(tr.patched, "internal"))
		}, []string{"third_party/gobgp/api/gobgp.pb.go: deleted", "third_party/gobgp/internal/pkg/table/message.go: deleted"}},
		{"deleted upstream file that an entry lists", func(t *testing.T, tr *tree) {
			os.Remove(filepath.Join(tr.patched, "pkg/packet/bgp/bgp.go"))
			tr.editList(t, "\nGHSA-", ap03+"\nGHSA-")
		}, nil},
		{"entry listing a directory", func(t *testing.T, tr *tree) {
			tr.editList(t, "AP-01  pkg/server/fsm.go  ", "AP-01  pkg/server/fsm.go, pkg/packet/  ")
			os.Remove(filepath.Join(tr.patched, "pkg/packet/bgp/bgp.go"))
			tr.replaceLine(t, "pkg/server/fsm.go", 40, "// anycastd patch AP-01: a second hunk")
		}, nil},
		{"entry listing a file without its hunk", func(t *testing.T, tr *tree) {
			tr.editList(t, "AP-01  pkg/server/fsm.go  ", "AP-01  pkg/server/fsm.go, pkg/packet/bgp/bgp.go, pkg/nope.go  ")
		}, []string{"ANYCASTD-PATCH.txt:4: AP-01 lists pkg/packet/bgp/bgp.go, but no hunk there carries an 'anycastd patch AP-01' marker; remove the path or mark the hunk",
			"ANYCASTD-PATCH.txt:4: AP-01 lists pkg/nope.go, which is not in third_party/gobgp or upstream v3.37.0"}},
		{"pure deletion under an added comment", func(t *testing.T, tr *tree) {
			tr.replaceLine(t, "pkg/server/server.go", 50, "// anycastd patch AP-02: v51 must go")
			tr.deleteLine(t, "pkg/server/server.go", 51)
		}, nil},
		{"pure deletion without marker", func(t *testing.T, tr *tree) {
			tr.deleteLine(t, "pkg/server/server.go", 51)
		}, []string{`server.go @@ -48,7 +48,6 @@: no 'anycastd patch AP-NN' marker in this hunk; add one and list it in third_party/gobgp/ANYCASTD-PATCH.txt (the hunk changes: "-var v51 = 51")`}},
		{"marker naming two IDs", func(t *testing.T, tr *tree) {
			tr.replaceLine(t, "pkg/server/server.go", 30, "var v30 = hook() // anycastd patch AP-02, AP-03")
			tr.editList(t, "\nGHSA-", strings.Replace(ap03, "pkg/packet/bgp/bgp.go", "pkg/server/server.go", 1)+"\nGHSA-")
		}, nil},
		{"advisory pointing at a missing entry", func(t *testing.T, tr *tree) {
			tr.editList(t, "v3.37.0: not affected", "v3.37.0: affected -> AP-01, AP-09")
		}, []string{`ANYCASTD-PATCH.txt:19: "v3.37.0: affected -> AP-01, AP-09" points at AP-09, which has no entry; add the entry or fix the reference`}},
		{"advisory affected without an ID", func(t *testing.T, tr *tree) {
			tr.editList(t, "v3.37.0: not affected", "v3.37.0: affected -> see below")
		}, []string{`ANYCASTD-PATCH.txt:19: "v3.37.0: affected -> see below" names no AP-NN entry`}},
		{"list format errors", func(t *testing.T, tr *tree) {
			tr.editList(t, "  why: because", "  tests: x\n  why: because")
			tr.editList(t, "\nGHSA-", "\nAP-1  pkg/x.go  bad id\nAP-01  pkg/server/fsm.go  again\n  fixes: x\n  test: bgp/fix_test.go TestFix\nAP-04\n\nGHSA-")
		}, []string{
			`ANYCASTD-PATCH.txt:7: AP-01: unknown field "tests:"; the fields are fixes:, test:, why:`,
			"ANYCASTD-PATCH.txt:16: AP-1: an ID is AP- and two digits",
			"ANYCASTD-PATCH.txt:17: AP-01: duplicate entry (the first is on line 4); merge the two",
			"ANYCASTD-PATCH.txt:20: AP-04: entry header needs paths and a title",
			"ANYCASTD-PATCH.txt:20: AP-04 has no hunk",
			"ANYCASTD-PATCH.txt:20: AP-04 has no 'fixes:' line",
			"ANYCASTD-PATCH.txt:20: AP-04 has no 'test:' line"}},
		{"list missing", func(t *testing.T, tr *tree) {
			os.Remove(tr.list)
		}, []string{"pkg/server/anycastd.go: marker names AP-02, which has no entry",
			"pkg/server/fsm.go @@ -17,7 +17,7 @@: marker names AP-01, which has no entry",
			"pkg/server/server.go @@ -27,7 +27,7 @@: marker names AP-02, which has no entry",
			"third_party/gobgp/ANYCASTD-PATCH.txt: the patch list does not exist"}},
		{"binary file differs", func(t *testing.T, tr *tree) {
			tr.write(t, filepath.Join(tr.up, "pkg/packet/bgp/blob.bin"), "a\x00b")
			tr.write(t, filepath.Join(tr.patched, "pkg/packet/bgp/blob.bin"), "a\x00c")
		}, []string{"third_party/gobgp/pkg/packet/bgp/blob.bin: binary file that differs from upstream v3.37.0 (it cannot carry a marker)"}},
		{"CRLF list", func(t *testing.T, tr *tree) {
			tr.write(t, tr.list, strings.ReplaceAll(baseList, "\n", "\r\n"))
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTree(t)
			tc.change(t, tr)
			res := tr.check(t)
			var got []string
			for _, p := range res.Problems {
				got = append(got, p.String())
			}
			if len(tc.want) == 0 {
				if len(got) > 0 {
					t.Fatalf("want no problem, got:\n%s", strings.Join(got, "\n"))
				}
				if s := res.Summary(); !strings.HasSuffix(s, "IDs, all listed") {
					t.Fatalf("summary %q", s)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("want %d problems, got %d:\n%s", len(tc.want), len(got), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d:\n got %s\nwant it to contain %s", i, got[i], w)
				}
			}
			if s := res.Summary(); !strings.Contains(s, fmt.Sprintf("%d problems", len(tc.want))) {
				t.Errorf("summary %q", s)
			}
		})
	}
}

func TestCheckPassSummary(t *testing.T) {
	tr := newTree(t)
	res := tr.check(t)
	// fsm.go, server.go, anycastd.go; go.mod, docs, tests and the draft
	// are not hunks.
	if got, want := res.Summary(), "gobgp patch check: 3 hunks, 2 IDs, all listed"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	var where []string
	for _, h := range res.Hunks {
		where = append(where, h.File+" "+h.Where()+" "+strings.Join(h.IDs, ","))
	}
	want := []string{
		"pkg/server/anycastd.go (new file) AP-02",
		"pkg/server/fsm.go @@ -17,7 +17,7 @@ AP-01",
		"pkg/server/server.go @@ -27,7 +27,7 @@ AP-02",
	}
	if strings.Join(where, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hunks:\n%s\nwant:\n%s", strings.Join(where, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckMissingTree(t *testing.T) {
	tr := newTree(t)
	_, err := Check(Config{Root: tr.root, Upstream: filepath.Join(tr.root, "nope"), Patched: tr.patched, List: tr.list})
	if err == nil || !strings.Contains(err.Error(), "upstream tree") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseUnifiedContextMarker(t *testing.T) {
	// A marker in an unchanged context line explains a pure deletion.
	diff := `--- a/f.go
+++ b/f.go
@@ -1,5 +1,4 @@
 a := 1 // anycastd patch AP-03
 b := 2
-c := 3
 d := 4
 e := 5
@@ -20,3 +19,3 @@ func f() {
 x
-y // anycastd patch AP-04 (removed: does not count)
+y
 z
\ No newline at end of file
`
	hunks, err := parseUnified("f.go", diff)
	if err != nil {
		t.Fatal(err)
	}
	if len(hunks) != 2 {
		t.Fatalf("%d hunks", len(hunks))
	}
	if h := hunks[0]; h.Header != "@@ -1,5 +1,4 @@" || h.NewLine != 1 || strings.Join(h.IDs, ",") != "AP-03" || strings.Join(h.Changed, "|") != "-c := 3" {
		t.Errorf("hunk 0: %+v", h)
	}
	if h := hunks[1]; h.Header != "@@ -20,3 +19,3 @@" || h.NewLine != 19 || len(h.IDs) != 0 {
		t.Errorf("hunk 1: %+v", h)
	}
}

func TestMarkerIDs(t *testing.T) {
	for _, tc := range []struct {
		line string
		ids  string
		bad  bool
	}{
		{"// anycastd patch AP-05", "AP-05", false},
		{"x // anycastd patch AP-05, AP-09: both", "AP-05,AP-09", false},
		{"x // anycastd patch AP-05,AP-09", "AP-05,AP-09", false},
		{"// anycastd patch AP-01: a; see also anycastd patch AP-02", "AP-01,AP-02", false},
		{"// anycastd patch: no ID", "", true},
		{"// anycastd patch", "", true},
		{"// anycastd patch AP-5", "", true},
		{"// anycastd patch AP-123", "", true},
		{"// anycastd patch ap-05", "", true},
		{"// Anycastd patch AP-05", "", true},
		{"// anycastd-patch AP-05", "", true},
		{"// anycastd patches GoBGP in several places", "", false},
		{"// see the anycastd patch list", "", false},
		{"// AP-05 without the words", "", false},
	} {
		ids, bad := markerIDs(tc.line)
		if strings.Join(ids, ",") != tc.ids || bad != tc.bad {
			t.Errorf("%q: ids %v bad %v, want %q %v", tc.line, ids, bad, tc.ids, tc.bad)
		}
	}
}

func TestParseList(t *testing.T) {
	l := ParseList(baseList + `
Some heading
AP-03  third_party/gobgp/pkg/a.go,pkg/b.go, pkg/c/  a title  with  blanks
	fixes: CVE-2024-1, GHSA-x
	  and a continued description
	test: a/x_test.go TestA, b/y_test.go FuzzB
	test: c/z_test.go TestC
	why: first line
	     note: a continuation, not a field
`)
	if len(l.Problems) != 0 {
		t.Fatalf("problems: %v", l.Problems)
	}
	if len(l.Entries) != 3 {
		t.Fatalf("%d entries", len(l.Entries))
	}
	e := l.ByID["AP-03"]
	if strings.Join(e.Paths, " ") != "pkg/a.go pkg/b.go pkg/c/" || e.Title != "a title with blanks" {
		t.Errorf("header: %q %q", e.Paths, e.Title)
	}
	if e.Fixes != "CVE-2024-1, GHSA-x and a continued description" {
		t.Errorf("fixes %q", e.Fixes)
	}
	if e.Why != "first line note: a continuation, not a field" {
		t.Errorf("why %q", e.Why)
	}
	var tests []string
	for _, tr := range e.Tests {
		tests = append(tests, fmt.Sprintf("%s %s %d", tr.File, tr.Name, tr.Line))
	}
	if got, want := strings.Join(tests, "; "), "a/x_test.go TestA 25; b/y_test.go FuzzB 25; c/z_test.go TestC 26"; got != want {
		t.Errorf("tests %q, want %q", got, want)
	}
	e = l.ByID["AP-02"]
	if strings.Join(e.Paths, " ") != "pkg/server/anycastd.go pkg/server/server.go" || len(e.Tests) != 2 || e.Tests[1].Line != 12 {
		t.Errorf("AP-02: %+v", e)
	}
	if len(l.Refs) != 1 || strings.Join(l.Refs[0].IDs, ",") != "AP-01" || l.Refs[0].Line != 16 {
		t.Errorf("refs: %+v", l.Refs)
	}
}

func TestDeletionCounts(t *testing.T) {
	for rel, want := range map[string]bool{
		"pkg/server/fsm.go":             true,
		"api/gobgp.pb.go":               true,
		"internal/pkg/table/message.go": true,
		"pkg/server/fsm_test.go":        false,
		"pkg/packet/bgp/testdata/x.go":  false,
		"api/gobgp.proto":               false,
		"cmd/gobgp/main.go":             false,
		"tools/x.go":                    false,
		"README.md":                     false,
	} {
		if got := deletionCounts(rel); got != want {
			t.Errorf("deletionCounts(%q) = %v", rel, got)
		}
	}
}
