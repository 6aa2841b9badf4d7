package gobgppatch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

var sprintf = fmt.Sprintf

// HunkKind says what a hunk is.
type HunkKind int

const (
	Modified HunkKind = iota // a hunk of a file both trees have
	NewFile                  // a file only the patched tree has
	Deleted                  // a non-test .go file only upstream has
	Binary                   // a binary file that differs
)

// Hunk is one change of the patched tree against upstream.
type Hunk struct {
	File    string // slash path relative to the tree roots
	Kind    HunkKind
	Header  string   // "@@ -912,10 +912,18 @@" for Modified
	NewLine int      // first line in the patched file (1 for a new file)
	Changed []string // added and removed lines, with their "+"/"-"
	IDs     []string // AP IDs of its markers, sorted, distinct
	// BadMarkers are added lines (or a new file's lines) that look like a
	// marker but do not name an ID the right way, e.g. "anycastd patch:".
	BadMarkers []string
}

// Where is the hunk's place for messages, e.g. "@@ -1,3 +1,4 @@".
func (h *Hunk) Where() string {
	switch h.Kind {
	case Modified:
		return h.Header
	case NewFile:
		return "(new file)"
	case Deleted:
		return "(deleted)"
	default:
		return "(binary)"
	}
}

var (
	// markerRE matches a marker and captures its ID list.
	markerRE = regexp.MustCompile(`anycastd patch (AP-[0-9]{2}(?:\s*,\s*AP-[0-9]{2})*)\b`)
	idRE     = regexp.MustCompile(`AP-[0-9]{2}`)
	// looseMarkerRE finds what was meant as a marker: "anycastd patch"
	// ending the line, or followed by a colon or something like an ID.
	looseMarkerRE = regexp.MustCompile(`(?i)anycastd[ -]patch(?:\s*$|\s*:|\s*,|\s+a?p\b|\s+a?p-|\s+[0-9])`)
)

// markerIDs returns the IDs named by markers on line, and whether the line
// has something that looks like a marker but is not one.
func markerIDs(line string) (ids []string, bad bool) {
	for _, m := range markerRE.FindAllStringSubmatch(line, -1) {
		ids = append(ids, idRE.FindAllString(m[1], -1)...)
	}
	loose := len(looseMarkerRE.FindAllStringIndex(line, -1))
	good := len(markerRE.FindAllStringIndex(line, -1))
	return ids, loose > good
}

// ignored reports whether a file of the patched tree is not compared.
func ignored(rel string) bool {
	base := path.Base(rel)
	return rel == "ANYCASTD-PATCH.txt" || strings.HasSuffix(base, ".draft.txt")
}

// deletionCounts reports whether an upstream file missing from the patched
// tree is a hunk: a non-test .go file under api/, internal/ or pkg/.
func deletionCounts(rel string) bool {
	if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
		return false
	}
	if !strings.HasPrefix(rel, "api/") && !strings.HasPrefix(rel, "internal/") && !strings.HasPrefix(rel, "pkg/") {
		return false
	}
	for _, dir := range strings.Split(path.Dir(rel), "/") {
		if dir == "testdata" {
			return false
		}
	}
	return true
}

// listFiles returns the regular files under dir as slash paths relative to it.
func listFiles(dir string) (map[string]bool, error) {
	files := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = true
		return nil
	})
	return files, err
}

func isBinary(b []byte) bool {
	if len(b) > 8000 {
		b = b[:8000]
	}
	return bytes.IndexByte(b, 0) >= 0
}

// Hunks diffs the patched tree against upstream and returns its hunks,
// sorted by file and line.
func Hunks(upstream, patched string) ([]*Hunk, error) {
	if _, err := exec.LookPath("diff"); err != nil {
		return nil, errors.New("diff (GNU diffutils) is not installed: apt-get install diffutils")
	}
	up, err := listFiles(upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream tree: %w", err)
	}
	pat, err := listFiles(patched)
	if err != nil {
		return nil, fmt.Errorf("patched tree: %w", err)
	}
	var hunks []*Hunk
	for rel := range pat {
		if ignored(rel) {
			continue
		}
		pb, err := os.ReadFile(filepath.Join(patched, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		if !up[rel] {
			h := &Hunk{File: rel, Kind: NewFile, NewLine: 1}
			if isBinary(pb) {
				h.Kind = Binary
			} else {
				h.IDs, h.BadMarkers, h.Changed = newFileMarkers(pb)
			}
			hunks = append(hunks, h)
			continue
		}
		ub, err := os.ReadFile(filepath.Join(upstream, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		if bytes.Equal(ub, pb) {
			continue
		}
		if isBinary(ub) || isBinary(pb) {
			hunks = append(hunks, &Hunk{File: rel, Kind: Binary})
			continue
		}
		fh, err := diffFile(upstream, patched, rel)
		if err != nil {
			return nil, err
		}
		hunks = append(hunks, fh...)
	}
	for rel := range up {
		if !pat[rel] && deletionCounts(rel) {
			hunks = append(hunks, &Hunk{File: rel, Kind: Deleted})
		}
	}
	sort.Slice(hunks, func(i, j int) bool {
		if hunks[i].File != hunks[j].File {
			return hunks[i].File < hunks[j].File
		}
		return hunks[i].NewLine < hunks[j].NewLine
	})
	return hunks, nil
}

// newFileMarkers reads the markers in the first 5 lines of a new file.
func newFileMarkers(b []byte) (ids, bad, first []string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 0; n < 5 && sc.Scan(); n++ {
		line := sc.Text()
		i, isBad := markerIDs(line)
		ids = append(ids, i...)
		if isBad {
			bad = append(bad, "+"+line)
		}
		first = append(first, "+"+line)
	}
	return distinct(ids), bad, first
}

var hunkHeaderRE = regexp.MustCompile(`^@@ -[0-9]+(?:,[0-9]+)? \+([0-9]+)(?:,[0-9]+)? @@`)

// diffFile runs diff -U3 on one file and parses its hunks.
func diffFile(upstream, patched, rel string) ([]*Hunk, error) {
	cmd := exec.Command("diff", "-U3", "--text",
		"--label", "a/"+rel, "--label", "b/"+rel, "--",
		filepath.Join(upstream, filepath.FromSlash(rel)),
		filepath.Join(patched, filepath.FromSlash(rel)))
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("diff %s: %v: %s", rel, err, strings.TrimSpace(stderr.String()))
	}
	return parseUnified(rel, string(out))
}

// parseUnified splits the unified diff of one file into hunks.
func parseUnified(rel, out string) ([]*Hunk, error) {
	var hunks []*Hunk
	var cur *Hunk
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if m := hunkHeaderRE.FindStringSubmatch(line); m != nil {
			cur = &Hunk{File: rel, Kind: Modified, Header: m[0]}
			fmt.Sscan(m[1], &cur.NewLine)
			hunks = append(hunks, cur)
			continue
		}
		if cur == nil || line == "" {
			continue // the ---/+++ lines
		}
		body := line[1:]
		switch line[0] {
		case '+', ' ':
			ids, bad := markerIDs(body)
			cur.IDs = append(cur.IDs, ids...)
			if bad && line[0] == '+' {
				cur.BadMarkers = append(cur.BadMarkers, line)
			}
			if line[0] == '+' {
				cur.Changed = append(cur.Changed, line)
			}
		case '-':
			cur.Changed = append(cur.Changed, line)
		case '\\': // "\ No newline at end of file"
		default:
			return nil, fmt.Errorf("diff %s: cannot parse line %q", rel, line)
		}
	}
	for _, h := range hunks {
		h.IDs = distinct(h.IDs)
	}
	if len(hunks) == 0 {
		return nil, fmt.Errorf("diff %s: the files differ but diff printed no hunk", rel)
	}
	return hunks, nil
}

func distinct(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	out := ids[:1]
	for _, id := range ids[1:] {
		if id != out[len(out)-1] {
			out = append(out, id)
		}
	}
	return out
}
