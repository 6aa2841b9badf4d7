package dnssec

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// nsecZone is the NSEC chain of a small zone: a.example has an A, b.example
// is an unsigned delegation, c.example a signed one, *.w.example a wildcard
// TXT, and y.example an empty non-terminal above x.y.example.
var nsecZone = map[string]string{
	"example.":     "example. 300 IN NSEC a.example. SOA NS DNSKEY RRSIG NSEC",
	"a.example.":   "a.example. 300 IN NSEC b.example. A RRSIG NSEC",
	"b.example.":   "b.example. 300 IN NSEC c.example. NS RRSIG NSEC",
	"c.example.":   "c.example. 300 IN NSEC *.w.example. NS DS RRSIG NSEC",
	"*.w.example.": "*.w.example. 300 IN NSEC x.y.example. TXT RRSIG NSEC",
	"x.y.example.": "x.y.example. 300 IN NSEC example. A RRSIG NSEC",
}

func nsecs(t testing.TB, owners ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, o := range owners {
		out = append(out, mustRR(t, nsecZone[o]))
	}
	return out
}

func TestCanonicalOrder(t *testing.T) {
	// RFC 4034 section 6.1's example, in order.
	names := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	for i := 0; i+1 < len(names); i++ {
		if c, ok := canonicalCompare(names[i], names[i+1]); !ok || c >= 0 {
			t.Errorf("%s < %s: got %d %v", names[i], names[i+1], c, ok)
		}
	}
}

func TestNSECProofs(t *testing.T) {
	v := newTestValidator(t, Config{})
	wc := func(qname string, labels uint8) *dns.RRSIG {
		return &dns.RRSIG{Hdr: dns.RR_Header{Name: qname}, TypeCovered: dns.TypeTXT, Labels: labels}
	}
	type prove func(d []dns.RR) (Result, error)
	nx := func(q string) prove {
		return func(d []dns.RR) (Result, error) { return v.ProveNXDOMAIN(q, "example.", d, nil) }
	}
	nodata := func(q string, qt uint16) prove {
		return func(d []dns.RR) (Result, error) { return v.ProveNODATA(q, qt, "example.", d, nil) }
	}
	tests := []struct {
		name    string
		prove   prove
		records []string
		want    Status
	}{
		{"NXDOMAIN", nx("d.example."), []string{"c.example.", "example."}, Secure},
		{"NXDOMAIN without the wildcard proof", nx("d.example."), []string{"c.example."}, Bogus},
		{"NXDOMAIN wrapping past the last name", nx("z.example."), []string{"x.y.example.", "example."}, Secure},
		{"NXDOMAIN for a name the wildcard would answer", nx("q.w.example."), []string{"*.w.example.", "c.example."}, Bogus},
		{"NXDOMAIN for an empty non-terminal", nx("y.example."), []string{"*.w.example.", "example."}, Bogus},
		{"NXDOMAIN below a delegation", nx("x.b.example."), []string{"b.example.", "example."}, Bogus},
		{"NXDOMAIN for an existing name", nx("a.example."), []string{"a.example.", "example."}, Bogus},
		{"NODATA", nodata("a.example.", dns.TypeMX), []string{"a.example."}, Secure},
		{"NODATA for a type that exists", nodata("a.example.", dns.TypeA), []string{"a.example."}, Bogus},
		{"NODATA for a CNAME owner", nodata("a.example.", dns.TypeMX), nil, Bogus},
		{"NODATA empty non-terminal", nodata("y.example.", dns.TypeA), []string{"*.w.example."}, Secure},
		{"NODATA wildcard", nodata("q.w.example.", dns.TypeMX), []string{"*.w.example.", "c.example."}, Secure},
		{"NODATA wildcard that has the type", nodata("q.w.example.", dns.TypeTXT), []string{"*.w.example.", "c.example."}, Bogus},
		{"NODATA from the parent side of a delegation", nodata("b.example.", dns.TypeA), []string{"b.example."}, Bogus},
		{"NODATA for DS at an unsigned delegation", nodata("b.example.", dns.TypeDS), []string{"b.example."}, Secure},
		{"wildcard answer", func(d []dns.RR) (Result, error) {
			return v.ProveWildcard("q.w.example.", wc("q.w.example.", 2), "example.", d, nil)
		}, []string{"*.w.example."}, Secure},
		{"wildcard answer, deeper name", func(d []dns.RR) (Result, error) {
			return v.ProveWildcard("r.q.w.example.", wc("r.q.w.example.", 2), "example.", d, nil)
		}, []string{"*.w.example."}, Secure},
		{"wildcard answer with the wrong span", func(d []dns.RR) (Result, error) {
			return v.ProveWildcard("q.w.example.", wc("q.w.example.", 2), "example.", d, nil)
		}, []string{"c.example."}, Bogus},
		{"wildcard answer where the next closer is an empty non-terminal", func(d []dns.RR) (Result, error) {
			return v.ProveWildcard("x.y.example.", wc("x.y.example.", 1), "example.", d, nil)
		}, []string{"*.w.example."}, Bogus},
		{"not a wildcard answer", func(d []dns.RR) (Result, error) {
			return v.ProveWildcard("a.example.", wc("a.example.", 2), "example.", d, nil)
		}, []string{"example."}, Bogus},
		{"insecure delegation", func(d []dns.RR) (Result, error) {
			return v.ProveInsecureDelegation("b.example.", "example.", d, nil)
		}, []string{"b.example."}, Secure},
		{"signed delegation", func(d []dns.RR) (Result, error) {
			return v.ProveInsecureDelegation("c.example.", "example.", d, nil)
		}, []string{"c.example."}, Bogus},
		{"not a delegation", func(d []dns.RR) (Result, error) {
			return v.ProveInsecureDelegation("a.example.", "example.", d, nil)
		}, []string{"a.example."}, Bogus},
		{"records from another zone are ignored", nx("d.example."), nil, Bogus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := nsecs(t, tt.records...)
			if tt.name == "NODATA for a CNAME owner" {
				d = mustRRs(t, "a.example. 300 IN NSEC b.example. CNAME RRSIG NSEC")
			}
			if tt.name == "records from another zone are ignored" {
				d = mustRRs(t, "c.example.org. 300 IN NSEC z.example.org. A", "example.org. 300 IN NSEC a.example.org. SOA")
			}
			r, err := tt.prove(d)
			if r.Status != tt.want {
				t.Fatalf("status %v (%v), want %v", r.Status, err, tt.want)
			}
			if tt.want == Bogus {
				if _, _, ok := EDE(err); !ok {
					t.Errorf("bogus without an EDE: %v", err)
				}
			}
		})
	}
}

func TestSynthesize(t *testing.T) {
	v := newTestValidator(t, Config{})
	var all []dns.RR
	for o := range nsecZone {
		all = append(all, nsecs(t, o)...)
	}
	// RFC 5155's zone without opt-out, and with it.
	var plain3, optout3 []dns.RR
	for h := range rfc5155Zone {
		rr := nsec3s(t, h)[0]
		optout3 = append(optout3, rr)
		c := dns.Copy(rr).(*dns.NSEC3)
		c.Flags = 0
		plain3 = append(plain3, c)
	}
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		cached []dns.RR
		want   Synthesis
		used   int
	}{
		{"NSEC NXDOMAIN", "d.example.", dns.TypeA, all, SynthNXDOMAIN, 2},
		{"NSEC NODATA", "a.example.", dns.TypeMX, all, SynthNODATA, 1},
		{"NSEC name exists", "a.example.", dns.TypeA, all, NoSynthesis, 0},
		{"NSEC wildcard would answer", "q.w.example.", dns.TypeTXT, all, NoSynthesis, 0},
		{"NSEC3 NXDOMAIN", "a.c.x.w.example.", dns.TypeA, plain3, SynthNXDOMAIN, 3},
		{"NSEC3 NODATA", "ns1.example.", dns.TypeMX, plain3, SynthNODATA, 1},
		{"NSEC3 opt-out is never used", "a.c.x.w.example.", dns.TypeA, optout3, NoSynthesis, 0},
		{"nothing cached", "d.example.", dns.TypeA, nil, NoSynthesis, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, used := v.Synthesize(tt.qname, tt.qtype, "example.", tt.cached, v.NewBudget())
			if got != tt.want || len(used) != tt.used {
				t.Fatalf("got %v with %d records, want %v with %d", got, len(used), tt.want, tt.used)
			}
			for _, rr := range used {
				if !strings.HasSuffix(rr.Header().Name, "example.") {
					t.Errorf("used record from elsewhere: %v", rr)
				}
			}
		})
	}
}
