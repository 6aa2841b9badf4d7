package dnssec

import (
	"bytes"
	"strings"

	"github.com/miekg/dns"
)

// wireLabels returns the labels of name in wire form, lowercased, leftmost
// first. Comparing wire labels rather than presentation text is what makes
// escaped names (\065, \.) order the way RFC 4034 section 6.1 says.
func wireLabels(name string) ([][]byte, bool) {
	var buf [256]byte
	off, err := dns.PackDomainName(dns.Fqdn(name), buf[:], 0, nil, false)
	if err != nil {
		return nil, false
	}
	wire := buf[:off]
	var labels [][]byte
	for i := 0; i < len(wire); {
		n := int(wire[i])
		if n == 0 {
			break
		}
		if i+1+n > len(wire) {
			return nil, false
		}
		l := bytes.ToLower(wire[i+1 : i+1+n])
		labels = append(labels, l)
		i += 1 + n
	}
	return labels, true
}

// canonicalCompare orders a and b in canonical DNS name order (RFC 4034
// section 6.1). ok is false when either name does not pack; callers treat
// that as "proves nothing".
func canonicalCompare(a, b string) (c int, ok bool) {
	la, ok1 := wireLabels(a)
	lb, ok2 := wireLabels(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := bytes.Compare(la[i], lb[j]); c != 0 {
			return c, true
		}
	}
	switch {
	case len(la) < len(lb):
		return -1, true
	case len(la) > len(lb):
		return 1, true
	}
	return 0, true
}

// equalName compares two domain names ignoring ASCII case.
func equalName(a, b string) bool {
	return strings.EqualFold(dns.Fqdn(a), dns.Fqdn(b))
}

// isSubdomain reports whether child is at or below parent.
func isSubdomain(parent, child string) bool {
	return dns.IsSubDomain(dns.Fqdn(parent), dns.Fqdn(child))
}

// isStrictSubdomain reports whether child is strictly below parent.
func isStrictSubdomain(parent, child string) bool {
	return isSubdomain(parent, child) && !equalName(parent, child)
}

// parentName strips the leftmost label; the root is its own parent.
func parentName(name string) string {
	name = dns.Fqdn(name)
	if name == "." {
		return "."
	}
	idx := dns.Split(name)
	if len(idx) < 2 {
		return "."
	}
	return name[idx[1]:]
}

// suffixLabels returns the rightmost n labels of name as a name.
func suffixLabels(name string, n int) string {
	name = dns.Fqdn(name)
	if n <= 0 {
		return "."
	}
	idx := dns.Split(name)
	if n >= len(idx) {
		return name
	}
	return name[idx[len(idx)-n]:]
}

// commonAncestor returns the longest name that is an ancestor of (or equal
// to) both a and b.
func commonAncestor(a, b string) string {
	n := dns.CompareDomainName(a, b)
	return suffixLabels(a, n)
}

// hasType reports whether bitmap lists t.
func hasType(bitmap []uint16, t uint16) bool {
	for _, x := range bitmap {
		if x == t {
			return true
		}
	}
	return false
}
