package resolver

import (
	"math/rand/v2"
	"testing"

	"github.com/miekg/dns"
)

// TestIsSubDomainMatchesMiekg: the non-allocating isSubDomain gives
// dns.IsSubDomain's answer for hand-picked edge cases and for random names
// built from labels that include escapes, case changes and the root.
func TestIsSubDomainMatchesMiekg(t *testing.T) {
	cases := [][2]string{
		{".", "."}, {".", "com."}, {"com.", "."}, {"com.", "com."}, {"com.", "COM."},
		{"example.com.", "www.example.com."}, {"example.com.", "wwwexample.com."},
		{"example.com.", "example.com."}, {"www.example.com.", "example.com."},
		{"b.", `a\.b.`}, {"b.", `a\\.b.`}, {`\.b.`, `a\.b.`}, {"b.", `a\\\.b.`},
		{"com", "example.com"}, {"com.", "example.com"}, {"com", "example.com."},
		{"", "com."}, {"", ""}, {"com.", ""}, {`a\.`, `x.a\.`}, {"m.", `co\m.`},
	}
	for _, c := range cases {
		if got, want := isSubDomain(c[0], c[1]), dns.IsSubDomain(c[0], c[1]); got != want {
			t.Errorf("isSubDomain(%q, %q) = %v, dns.IsSubDomain says %v", c[0], c[1], got, want)
		}
	}
	labels := []string{"a", "A", "b", "ab", "com", "COM", `a\.b`, `x\\`, `\065`, "b.a", "example"}
	rng := rand.New(rand.NewPCG(1, 2))
	name := func() string {
		s := ""
		for range rng.IntN(4) {
			s += labels[rng.IntN(len(labels))] + "."
		}
		switch {
		case s == "" && rng.IntN(4) == 0:
			return ""
		case s == "":
			return "."
		case rng.IntN(5) == 0:
			return s[:len(s)-1] // not fully qualified
		}
		return s
	}
	for range 20000 {
		p, c := name(), name()
		if rng.IntN(2) == 0 {
			c = name() + p // often a real child
			if p == "." || p == "" {
				c = name()
			}
		}
		if got, want := isSubDomain(p, c), dns.IsSubDomain(p, c); got != want {
			t.Fatalf("isSubDomain(%q, %q) = %v, dns.IsSubDomain says %v", p, c, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { isSubDomain("example.com.", "www.EXAMPLE.com.") }); n != 0 {
		t.Errorf("isSubDomain allocates %v times", n)
	}
}
