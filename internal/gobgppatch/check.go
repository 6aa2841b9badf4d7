package gobgppatch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Config says where the trees are.
type Config struct {
	Root     string // the anycastd repository: test: files are relative to it
	Upstream string // pristine module tree
	Patched  string // third_party/gobgp
	List     string // ANYCASTD-PATCH.txt
	Version  string // upstream version, for messages; Version if empty
}

// Check compares the trees and the list. An error means the check could
// not run (a tree is missing, diff failed); problems are in the Result.
func Check(cfg Config) (*Result, error) {
	if cfg.Version == "" {
		cfg.Version = Version
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, err
	}
	disp := func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		if rel, err := filepath.Rel(root, abs); err == nil && filepath.IsLocal(rel) {
			return filepath.ToSlash(rel)
		}
		return abs
	}
	for _, d := range []struct{ what, dir string }{{"upstream", cfg.Upstream}, {"patched", cfg.Patched}} {
		if st, err := os.Stat(d.dir); err != nil || !st.IsDir() {
			return nil, errors.New(d.what + " tree " + d.dir + " is not a directory")
		}
	}
	hunks, err := Hunks(cfg.Upstream, cfg.Patched)
	if err != nil {
		return nil, err
	}
	listName := disp(cfg.List)
	patchedName := disp(cfg.Patched)
	fileName := func(rel string) string { return patchedName + "/" + rel }

	var hunkProblems, listProblems []Problem
	atHunk := func(h *Hunk, format string, args ...any) {
		where := fileName(h.File)
		if h.Kind == Modified {
			where += " " + h.Header
		}
		hunkProblems = append(hunkProblems, Problem{File: fileName(h.File), Line: h.NewLine,
			Msg: where + ": " + sprintf(format, args...)})
	}
	atList := func(line int, format string, args ...any) {
		where := listName
		if line > 0 {
			where += ":" + itoa(line)
		}
		listProblems = append(listProblems, Problem{File: listName, Line: line,
			Msg: where + ": " + sprintf(format, args...)})
	}

	text, err := os.ReadFile(cfg.List)
	if errors.Is(err, fs.ErrNotExist) {
		atList(0, "the patch list does not exist; write it (format: scripts/check_gobgp_patch.sh --help)")
	} else if err != nil {
		return nil, err
	}
	list := ParseList(string(text))
	for _, p := range list.Problems {
		atList(p.Line, "%s", p.Msg)
	}

	// idFiles[id][file] is the first hunk of file that carries id.
	idFiles := map[string]map[string]*Hunk{}
	note := func(id string, h *Hunk) {
		if idFiles[id] == nil {
			idFiles[id] = map[string]*Hunk{}
		}
		if idFiles[id][h.File] == nil {
			idFiles[id][h.File] = h
		}
	}
	// An unknown ID is reported once per file, at its first hunk there.
	type unknownID struct {
		id    string
		first *Hunk
		more  int
	}
	unknown := map[string]*unknownID{}
	var unknownOrder []string
	allIDs := map[string]bool{}
	for _, h := range hunks {
		for _, b := range h.BadMarkers {
			atHunk(h, "%q looks like a marker but is not 'anycastd patch AP-NN' (AP and two digits, several IDs separated by commas); fix it", trim(b, 100))
		}
		switch h.Kind {
		case Modified, NewFile:
			if len(h.IDs) == 0 {
				if h.Kind == NewFile {
					atHunk(h, "new file (upstream %s has none) with no 'anycastd patch AP-NN' marker in its first 5 lines; add one there and list it in %s", cfg.Version, listName)
				} else {
					atHunk(h, "no 'anycastd patch AP-NN' marker in this hunk; add one and list it in %s (the hunk changes: %s)", listName, firstChanges(h.Changed, 3))
				}
			}
			for _, id := range h.IDs {
				allIDs[id] = true
				if list.ByID[id] == nil {
					key := id + " " + h.File
					if unknown[key] == nil {
						unknown[key] = &unknownID{id: id, first: h}
						unknownOrder = append(unknownOrder, key)
					} else {
						unknown[key].more++
					}
					continue
				}
				note(id, h)
			}
		case Deleted, Binary:
			for _, e := range list.Entries {
				if covers(e.Paths, h.File) {
					h.IDs = append(h.IDs, e.ID)
					allIDs[e.ID] = true
					note(e.ID, h)
				}
			}
			if len(h.IDs) == 0 {
				if h.Kind == Deleted {
					atHunk(h, "deleted, but upstream %s has this non-test Go file; restore it, or list its path on the AP entry in %s that deletes it", cfg.Version, listName)
				} else {
					atHunk(h, "binary file that differs from upstream %s (it cannot carry a marker); list its path on the AP entry in %s that changes it", cfg.Version, listName)
				}
			}
		}
	}

	for _, key := range unknownOrder {
		u := unknown[key]
		more := ""
		if u.more > 0 {
			more = sprintf(" (as does %d more hunk in this file)", u.more)
			if u.more > 1 {
				more = sprintf(" (as do %d more hunks in this file)", u.more)
			}
		}
		atHunk(u.first, "marker names %s, which has no entry in %s%s; add '%s  %s  <short title>' with fixes: and test: lines, or fix the marker", u.id, listName, more, u.id, u.first.File)
	}

	exists := func(rel string) bool {
		for _, dir := range []string{cfg.Patched, cfg.Upstream} {
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(rel, "/")))); err == nil {
				return true
			}
		}
		return false
	}
	testFiles := map[string]string{}
	for _, e := range list.Entries {
		files := idFiles[e.ID]
		if len(files) == 0 {
			atList(e.Line, "%s has no hunk: no hunk in %s carries an 'anycastd patch %s' marker (and no deleted file is listed); remove the stale entry or mark its hunks", e.ID, patchedName, e.ID)
		} else {
			var names []string
			for f := range files {
				names = append(names, f)
			}
			sort.Strings(names)
			for _, f := range names {
				if !covers(e.Paths, f) {
					atHunk(files[f], "hunk is marked %s, but the %s entry in %s (line %d) does not list %s; add it to the entry's paths", e.ID, e.ID, listName, e.Line, f)
				}
			}
			for _, p := range e.Paths {
				found := false
				for _, f := range names {
					found = found || covers([]string{p}, f)
				}
				switch {
				case found:
				case !exists(p):
					atList(e.Line, "%s lists %s, which is not in %s or upstream %s; fix the path (relative to third_party/gobgp)", e.ID, p, patchedName, cfg.Version)
				default:
					atList(e.Line, "%s lists %s, but no hunk there carries an 'anycastd patch %s' marker; remove the path or mark the hunk", e.ID, p, e.ID)
				}
			}
		}
		if e.Fixes == "" {
			atList(e.Line, "%s has no 'fixes:' line; add '  fixes: <GHSA-..., CVE-... or the bug>'", e.ID)
		}
		if len(e.Tests) == 0 && len(e.rawTests) == 0 {
			atList(e.Line, "%s has no 'test:' line; add '  test: <repo-relative file> <TestOrFuzzName>' naming the test that fails without the patch", e.ID)
		}
		for _, t := range e.Tests {
			checkTest(root, e.ID, t, testFiles, atList)
		}
	}
	for _, r := range list.Refs {
		for _, id := range r.IDs {
			if list.ByID[id] == nil {
				atList(r.Line, "%q points at %s, which has no entry; add the entry or fix the reference", r.Text, id)
			}
		}
	}

	sortProblems(hunkProblems)
	sortProblems(listProblems)
	res := &Result{Hunks: hunks, Problems: append(hunkProblems, listProblems...)}
	for id := range allIDs {
		res.IDs = append(res.IDs, id)
	}
	sort.Strings(res.IDs)
	return res, nil
}

var testNameRE = regexp.MustCompile(`^(Test|Fuzz)[A-Za-z0-9_]*$`)

// checkTest checks that t names an existing test function. testFiles caches
// file contents ("" for a file that could not be read).
func checkTest(root, id string, t TestRef, testFiles map[string]string, atList func(int, string, ...any)) {
	if !filepath.IsLocal(filepath.FromSlash(t.File)) {
		atList(t.Line, "%s test file %s must be relative to the repository root", id, t.File)
		return
	}
	if !strings.HasSuffix(t.File, "_test.go") {
		atList(t.Line, "%s test file %s is not a _test.go file; name the file that declares the test", id, t.File)
		return
	}
	if !testNameRE.MatchString(t.Name) {
		atList(t.Line, "%s test %s in %s is not a TestXxx or FuzzXxx function name", id, t.Name, t.File)
		return
	}
	src, ok := testFiles[t.File]
	if !ok {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(t.File)))
		if err == nil {
			src = string(b)
		} else {
			src = "\x00" + err.Error()
		}
		testFiles[t.File] = src
	}
	if strings.HasPrefix(src, "\x00") {
		atList(t.Line, "%s test file %s does not exist; fix the path (relative to the repository root)", id, t.File)
		return
	}
	re := regexp.MustCompile(`(?m)^func[ \t]+` + regexp.QuoteMeta(t.Name) + `[ \t]*[\[(]`)
	if !re.MatchString(src) {
		atList(t.Line, "%s names %s %s, but %s has no 'func %s('; fix the name or add the test", id, t.File, t.Name, t.File, t.Name)
	}
}

// covers reports whether a path list names file (a path ending in "/"
// names every file under it).
func covers(paths []string, file string) bool {
	for _, p := range paths {
		if p == file || strings.HasSuffix(p, "/") && strings.HasPrefix(file, p) {
			return true
		}
	}
	return false
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}

func firstChanges(lines []string, n int) string {
	var out []string
	for _, l := range lines {
		if len(out) == n {
			out = append(out, "...")
			break
		}
		body := strings.TrimSpace(l[1:])
		if body == "" {
			continue
		}
		out = append(out, sprintf("%q", l[:1]+trim(body, 70)))
	}
	if len(out) == 0 {
		return "blank lines only"
	}
	return strings.Join(out, ", ")
}

func trim(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}

func itoa(n int) string { return sprintf("%d", n) }
