package gobgppatch

import (
	"regexp"
	"strings"
)

// Entry is one patch entry of ANYCASTD-PATCH.txt.
type Entry struct {
	ID    string
	Line  int      // of the header
	Paths []string // relative to third_party/gobgp, slash-separated
	Title string
	Fixes string
	Tests []TestRef
	Why   string

	seen     map[string]int // field name -> line it was first seen on
	rawTests []TestRef      // test: lines with continuations, File = text
}

// TestRef is one "<file> <Name>" pair of a test: field.
type TestRef struct {
	File string // repo-relative
	Name string
	Line int
}

// Reference is an "affected -> AP-NN" line of an advisory entry.
type Reference struct {
	Line int
	Text string
	IDs  []string
}

// List is the parsed ANYCASTD-PATCH.txt.
type List struct {
	Entries  []*Entry
	ByID     map[string]*Entry
	Refs     []Reference
	Problems []Problem // format errors, with Line set and File empty
}

var (
	headerRE   = regexp.MustCompile(`^(AP-[0-9]+)\b(.*)$`)
	strictIDRE = regexp.MustCompile(`^AP-[0-9]{2}$`)
	fieldRE    = regexp.MustCompile(`^([ \t]+)([A-Za-z][A-Za-z0-9_-]*):(?:[ \t]|$)(.*)$`)
	affectedRE = regexp.MustCompile(`^[ \t]+v[0-9]+\.[0-9]+\.[0-9]+[^ \t:]*:[ \t]*affected[ \t]*->(.*)$`)
	advisoryRE = regexp.MustCompile(`^(GHSA-|CVE-|osrg/gobgp#)`)
)

const patchedPrefix = "third_party/gobgp/"

// ParseList parses the text of ANYCASTD-PATCH.txt.
func ParseList(text string) *List {
	l := &List{ByID: map[string]*Entry{}}
	bad := func(line int, format string, args ...any) {
		l.Problems = append(l.Problems, Problem{Line: line, Msg: sprintf(format, args...)})
	}
	var cur *Entry    // the entry being read, nil outside one
	var field string  // its last field
	fieldIndent := -1 // indentation of its first field line
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, raw := range lines {
		n := i + 1
		line := strings.TrimRight(raw, " \t\r")
		if line == "" {
			cur = nil
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		if !indented {
			cur = nil
			if m := headerRE.FindStringSubmatch(line); m != nil {
				cur = l.parseHeader(n, m[1], m[2], bad)
				field, fieldIndent = "", -1
			}
			continue
		}
		if cur == nil {
			if m := affectedRE.FindStringSubmatch(line); m != nil {
				ids := idRE.FindAllString(m[1], -1)
				if len(ids) == 0 {
					bad(n, "%q names no AP-NN entry; write 'affected -> AP-NN'", strings.TrimSpace(line))
				}
				l.Refs = append(l.Refs, Reference{Line: n, Text: strings.TrimSpace(line), IDs: ids})
			}
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		m := fieldRE.FindStringSubmatch(line)
		if m != nil && (fieldIndent < 0 || indent <= fieldIndent) {
			name, value := m[2], strings.TrimSpace(m[3])
			if fieldIndent < 0 {
				fieldIndent = indent
			}
			switch name {
			case "fixes", "test", "why":
				field = name
				if _, ok := cur.seen[name]; !ok {
					cur.seen[name] = n
				}
				cur.add(name, value, n, false)
			default:
				bad(n, "%s: unknown field %q; the fields are fixes:, test:, why: (indent a continuation line deeper than the field lines)", cur.ID, name+":")
				field = ""
			}
			continue
		}
		if field == "" {
			if fieldIndent < 0 {
				bad(n, "%s: line after the header is not a field; start it with 'fixes:', 'test:' or 'why:'", cur.ID)
			}
			continue
		}
		cur.add(field, strings.TrimSpace(line), n, true)
	}
	for _, e := range l.Entries {
		e.parseTests(bad)
	}
	return l
}

func (l *List) parseHeader(n int, id, rest string, bad func(int, string, ...any)) *Entry {
	if !strictIDRE.MatchString(id) {
		bad(n, "%s: an ID is AP- and two digits (AP-01 ... AP-99)", id)
		return nil
	}
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		bad(n, "%s%s: malformed entry header; write 'AP-NN  <path>[, <path>...]  <short title>'", id, rest)
		return nil
	}
	e := &Entry{ID: id, Line: n, seen: map[string]int{}}
	fields := strings.Fields(rest)
	i := 0
	for i < len(fields) {
		p := fields[i]
		more := strings.HasSuffix(p, ",")
		for _, part := range strings.Split(strings.TrimSuffix(p, ","), ",") {
			if part == "" {
				continue
			}
			e.Paths = append(e.Paths, strings.TrimPrefix(part, patchedPrefix))
		}
		i++
		if !more {
			break
		}
	}
	e.Title = strings.Join(fields[i:], " ")
	if len(e.Paths) == 0 || e.Title == "" {
		bad(n, "%s: entry header needs paths and a title; write '%s  <path>[, <path>...]  <short title>'", id, id)
	}
	for _, p := range e.Paths {
		if strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") {
			bad(n, "%s: path %q must be relative to third_party/gobgp", id, p)
		}
	}
	if prev, ok := l.ByID[id]; ok {
		bad(n, "%s: duplicate entry (the first is on line %d); merge the two", id, prev.Line)
		return e // read its fields, but keep the first
	}
	l.ByID[id] = e
	l.Entries = append(l.Entries, e)
	return e
}

func (e *Entry) add(field, value string, n int, continued bool) {
	join := func(s *string) {
		if *s != "" && value != "" {
			*s += " "
		}
		*s += value
	}
	switch field {
	case "fixes":
		join(&e.Fixes)
	case "why":
		join(&e.Why)
	case "test":
		if !continued || len(e.rawTests) == 0 {
			e.rawTests = append(e.rawTests, TestRef{Line: n})
		}
		join(&e.rawTests[len(e.rawTests)-1].File)
	}
}

// parseTests splits each test: line (with its continuation lines) into
// "<file> <Name>" pairs.
func (e *Entry) parseTests(bad func(int, string, ...any)) {
	for _, r := range e.rawTests {
		for _, item := range strings.Split(r.File, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			f := strings.Fields(item)
			if len(f) != 2 {
				bad(r.Line, "%s: test item %q is not '<repo-relative file> <TestOrFuzzName>'", e.ID, item)
				continue
			}
			e.Tests = append(e.Tests, TestRef{File: f[0], Name: f[1], Line: r.Line})
		}
	}
}
