package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// smallTree writes an upstream tree, a patched copy with one marked hunk,
// a list and a test file under a temp dir, and returns the dir.
func smallTree(t *testing.T, list string) string {
	t.Helper()
	dir := t.TempDir()
	var src strings.Builder
	src.WriteString("package server\n\n")
	for i := 0; i < 20; i++ {
		src.WriteString("var x = 1\n")
	}
	up := src.String()
	patched := strings.Replace(up, "var x = 1\n", "var x = 2 // anycastd patch AP-01\n", 1)
	for path, text := range map[string]string{
		"up/pkg/server/fsm.go":                           up,
		"repo/third_party/gobgp/pkg/server/fsm.go":       patched,
		"repo/third_party/gobgp/ANYCASTD-PATCH.txt":      list,
		"repo/bgp/fix_test.go":                           "package bgp\n\nfunc TestFix(t *testing.T) {}\n",
		"repo/third_party/gobgp/ANYCASTD-NEXT.draft.txt": "AP-02 not yet\n",
	} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodList = "AP-01  pkg/server/fsm.go  the fix\n  fixes: a crash\n  test: bgp/fix_test.go TestFix\n"

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name, list string
		args       []string
		code       int
		out        string // the last line of stdout, or of stderr for code 2
	}{
		{"pass", goodList, nil, 0, "gobgp patch check: 1 hunks, 1 IDs, all listed"},
		{"stale", goodList + "\nAP-02  pkg/server/fsm.go  more\n  fixes: b\n  test: bgp/fix_test.go TestFix\n", nil, 1,
			"gobgp patch check: 1 hunks, 1 IDs, 1 problems"},
		{"verbose", goodList, []string{"-v"}, 0, "gobgp patch check: 1 hunks, 1 IDs, all listed"},
		{"no upstream", goodList, []string{"--upstream", "/nonexistent"}, 2,
			"check_gobgp_patch: upstream tree /nonexistent is not a directory"},
		{"bad flag", goodList, []string{"--nope"}, 2, "(-h: the options and the format of ANYCASTD-PATCH.txt)"},
		{"extra argument", goodList, []string{"extra"}, 2, `check_gobgp_patch: unexpected argument "extra" (-h for help)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := smallTree(t, tc.list)
			repo := filepath.Join(dir, "repo")
			args := append([]string{"--root", repo, "--upstream", filepath.Join(dir, "up")}, tc.args...)
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			out := stdout.String()
			if code == 2 {
				out = stderr.String()
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != tc.code || lines[len(lines)-1] != tc.out {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--upstream DIR", "AP-NN  <path>[, <path>...]  <short title>", "fixes:", "test: <repo-relative file> <TestOrFuzzName>", "affected -> AP-NN"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

// TestScript runs scripts/check_gobgp_patch.sh itself on a small tree.
func TestScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the checker")
	}
	script, err := filepath.Abs("../../../../scripts/check_gobgp_patch.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		list string
		code int
		last string
	}{
		{goodList, 0, "gobgp patch check: 1 hunks, 1 IDs, all listed"},
		{strings.Replace(goodList, "TestFix", "TestGone", 1), 1, "gobgp patch check: 1 hunks, 1 IDs, 1 problems"},
	} {
		dir := smallTree(t, tc.list)
		cmd := exec.Command("bash", script, "--root", filepath.Join(dir, "repo"), "--upstream", "up",
			"--patched", "repo/third_party/gobgp", "--list", "repo/third_party/gobgp/ANYCASTD-PATCH.txt")
		cmd.Dir = dir // relative paths are the caller's
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if code != tc.code || lines[len(lines)-1] != tc.last {
			t.Errorf("exit %d, want %d; output:\n%s", code, tc.code, out)
		}
	}
}
