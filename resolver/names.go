package resolver

import "strings"

// isSubDomain is dns.IsSubDomain(parent, child) without allocating:
// miekg/dns splits both names into label slices, which on the cold path
// (bailiwick checks of every record of every upstream answer) was eight
// allocations per resolved name. Same answer for every input, escapes
// included (a "\." inside a label is not a boundary); names_test.go
// compares the two.
func isSubDomain(parent, child string) bool {
	if parent == "." {
		return true // the root is everyone's parent
	}
	if parent == "" {
		return child == "" // not a name; as miekg/dns answers
	}
	// miekg/dns compares the last labels with their dots: "com." is no
	// parent of "example.com" (the resolver's names are all fully
	// qualified, so this only keeps the two functions identical).
	var pfq, cfq bool
	parent, pfq = trimRootDot(parent)
	child, cfq = trimRootDot(child)
	if pfq != cfq {
		return false
	}
	if len(child) < len(parent) || !strings.EqualFold(child[len(child)-len(parent):], parent) {
		return false
	}
	if len(child) == len(parent) {
		return true
	}
	// The suffix must start a label: a dot before it that no backslash
	// escapes (an even run of backslashes escapes one another), and the
	// suffix itself must not begin inside an escape sequence.
	i := len(child) - len(parent) - 1
	if child[i] != '.' || escaped(child, i) {
		return false
	}
	return true
}

// trimRootDot drops a name's final dot, unless it is escaped ("a\."),
// and reports whether it did.
func trimRootDot(s string) (string, bool) {
	if n := len(s); n > 0 && s[n-1] == '.' && !escaped(s, n-1) {
		return s[:n-1], true
	}
	return s, false
}

// escaped reports whether s[i] is escaped by an odd run of backslashes.
func escaped(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}
