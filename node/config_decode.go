package node

// The strict YAML walker under Parse: it decodes a yaml.Node tree field by
// field so every problem carries its path and line, and unknown keys are
// errors.

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

type decoder struct {
	errs  []*FieldError
	lines map[string]int  // path -> line of its value
	bad   map[string]bool // paths that failed to decode
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	shown := path
	if shown == "" {
		shown = "(top level)"
	}
	d.errs = append(d.errs, &FieldError{Path: shown, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

// isBad reports whether path or one of its parents failed to decode, in
// which case validating it would only repeat the problem.
func (d *decoder) isBad(path string) bool {
	for {
		if d.bad[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return d.bad[""]
		}
		path = path[:i]
	}
}

// lineOf returns the line of path's value or, for a key that is not in the
// file, of the nearest enclosing value that is.
func (d *decoder) lineOf(path string) int {
	for {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "nothing"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// field is one key of a mapping and the decoder of its value.
type field struct {
	key string
	fn  func(n *yaml.Node, path string)
}

// fields are the keys of one mapping, in schema order.
type fields []field

func (d *decoder) mapping(n *yaml.Node, path string, fs fields) {
	n = deref(n)
	if isNull(n) {
		return // an empty section: all defaults
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping of keys, got %s", describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		p := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			d.fail(k, join(path, "?"), "keys must be plain words, got %s", describe(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.fail(k, p, "set twice (first at line %d); keep one", line)
			continue
		}
		seen[k.Value] = k.Line
		i := slices.IndexFunc(fs, func(f field) bool { return f.key == k.Value })
		if i < 0 {
			d.unknown(k, p, fs)
			continue
		}
		// The key's line: for a section it is where the reader looks.
		d.lines[p] = k.Line
		fs[i].fn(v, p)
	}
}

func (d *decoder) unknown(k *yaml.Node, path string, fs fields) {
	var known []string
	best, bestDist := "", 3
	for _, f := range fs {
		known = append(known, f.key)
		if dist := editDistance(k.Value, f.key); dist < bestDist {
			best, bestDist = f.key, dist
		}
	}
	if best != "" {
		d.fail(k, path, "unknown key; did you mean %q?", best)
		return
	}
	d.fail(k, path, "unknown key; known keys here are %s", strings.Join(known, ", "))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) list(n *yaml.Node, path string, item func(n *yaml.Node, path string)) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be a list (one `- item` per line), got %s", describe(n))
		return
	}
	for i, v := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = deref(v).Line
		item(v, p)
	}
}

// scalar returns the scalar node at n, or fails with what was expected.
func (d *decoder) scalar(n *yaml.Node, path, want string) (*yaml.Node, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be %s, got %s", want, describe(n))
		return nil, false
	}
	return n, true
}

func (d *decoder) str(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if s, ok := d.scalar(n, path, "a string"); ok {
			if isNull(s) {
				*dst = "" // `key:` with nothing after it is the empty string
				return
			}
			*dst = s.Value
		}
	}
}

// integer decodes a YAML integer within lo..hi.
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	s, ok := d.scalar(n, path, "an integer")
	if !ok {
		return 0, false
	}
	switch s.ShortTag() {
	case "!!int":
	case "!!str":
		d.fail(s, path, "must be an integer (no quotes), got %s", describe(s))
		return 0, false
	default: // floats, including integers too large for int64, and null
		d.fail(s, path, "must be an integer in %d..%d, got %s", lo, hi, describe(s))
		return 0, false
	}
	var v int64
	if err := s.Decode(&v); err != nil {
		d.fail(s, path, "must be %d..%d, got %s", lo, hi, s.Value)
		return 0, false
	}
	if v < lo || v > hi {
		d.fail(s, path, "must be %d..%d, got %d", lo, hi, v)
		return 0, false
	}
	return v, true
}

func intField[T int | int32 | int64 | uint8 | uint16 | uint32](d *decoder, dst *T, lo, hi int64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if v, ok := d.integer(n, path, lo, hi); ok {
			*dst = T(v)
		}
	}
}

func (d *decoder) duration(dst *time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, `a duration such as "1s" or "1500ms"`)
		if !ok {
			return
		}
		v, err := time.ParseDuration(s.Value)
		if err != nil || s.ShortTag() == "!!null" {
			d.fail(s, path, `must be a duration such as "1s" or "1500ms", got %s`, describe(s))
			return
		}
		*dst = v
	}
}

func (d *decoder) addr(dst *netip.Addr) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "an IP address")
		if !ok {
			return
		}
		if isNull(s) {
			*dst = netip.Addr{}
			return
		}
		a, err := netip.ParseAddr(s.Value)
		if err != nil {
			if _, perr := netip.ParsePrefix(s.Value); perr == nil {
				d.fail(s, path, "must be an address without a prefix length, got %s", describe(s))
				return
			}
			d.fail(s, path, "must be an IP address such as 192.0.2.1 or 2001:db8::1, got %s", describe(s))
			return
		}
		*dst = a
	}
}

var sizeRE = regexp.MustCompile(`^([0-9]+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$`)

var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// ParseSize parses a byte size: an integer, or an integer with one of the
// units B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (of 1024).
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size such as 64MiB, 1GB or 67108864", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	unit := sizeUnits[m[2]]
	if err != nil || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * unit, nil
}

func (d *decoder) size(dst *int64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "a size such as 64MiB")
		if !ok {
			return
		}
		if s.ShortTag() == "!!int" {
			if v, ok := d.integer(s, path, 0, math.MaxInt64); ok {
				*dst = v
			}
			return
		}
		v, err := ParseSize(s.Value)
		if err != nil || isNull(s) {
			d.fail(s, path, "must be a size such as 64MiB, 1GB or a number of bytes, got %s", describe(s))
			return
		}
		*dst = v
	}
}
