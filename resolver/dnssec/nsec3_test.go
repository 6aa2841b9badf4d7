package dnssec

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil || rr == nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return rr
}

func mustRRs(t testing.TB, ss ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, s := range ss {
		out = append(out, mustRR(t, s))
	}
	return out
}

func newTestValidator(t testing.TB, cfg Config) *Validator {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rfc5155Zone is the NSEC3 chain of the example zone in RFC 5155 Appendix
// A (salt aabbccdd, 12 iterations, opt-out set on every record).
var rfc5155Zone = map[string]string{
	"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom": "example. NSEC3 1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG",
	"2t7b4g4vsa5smi47k61mv5bv1a22bojr": "example. NSEC3 1 1 12 aabbccdd 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG",
	"2vptu5timamqttgl4luu9kg21e0aor3s": "example. NSEC3 1 1 12 aabbccdd 35mthgpgcu1qg68fab165klnsnk3dpvl MX RRSIG",
	"35mthgpgcu1qg68fab165klnsnk3dpvl": "example. NSEC3 1 1 12 aabbccdd b4um86eghhds6nea196smvmlo4ors995 NS DS RRSIG",
	"b4um86eghhds6nea196smvmlo4ors995": "example. NSEC3 1 1 12 aabbccdd gjeqe526plbf1g8mklp59enfd789njgi MX RRSIG",
	"gjeqe526plbf1g8mklp59enfd789njgi": "example. NSEC3 1 1 12 aabbccdd ji6neoaepv8b5o6k4ev33abha8ht9fgc HINFO A AAAA RRSIG",
	"ji6neoaepv8b5o6k4ev33abha8ht9fgc": "example. NSEC3 1 1 12 aabbccdd k8udemvp1j2f7eg6jebps17vp3n8i58h",
	"k8udemvp1j2f7eg6jebps17vp3n8i58h": "example. NSEC3 1 1 12 aabbccdd kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
	"kohar7mbb8dc2ce8a9qvl8hon4k53uhi": "example. NSEC3 1 1 12 aabbccdd q04jkcevqvmu85r014c7dkba38o0ji5r A RRSIG",
	"q04jkcevqvmu85r014c7dkba38o0ji5r": "example. NSEC3 1 1 12 aabbccdd r53bq7cc2uvmubfu5ocmm6pers9tk9en A RRSIG",
	"r53bq7cc2uvmubfu5ocmm6pers9tk9en": "example. NSEC3 1 1 12 aabbccdd t644ebqk9bibcna874givr6joj62mlhv MX RRSIG",
	"t644ebqk9bibcna874givr6joj62mlhv": "example. NSEC3 1 1 12 aabbccdd 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A HINFO AAAA RRSIG",
}

// nsec3s returns the RFC 5155 records with the given hash labels.
func nsec3s(t testing.TB, hashes ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, h := range hashes {
		rest, ok := rfc5155Zone[h]
		if !ok {
			t.Fatalf("no NSEC3 %s in the RFC 5155 zone", h)
		}
		out = append(out, mustRR(t, h+"."+rest))
	}
	return out
}

// TestRFC5155Hashes checks the owner-name hashes listed in RFC 5155
// Appendix A.
func TestRFC5155Hashes(t *testing.T) {
	for name, want := range map[string]string{
		"example.":       "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
		"a.example.":     "35mthgpgcu1qg68fab165klnsnk3dpvl",
		"ai.example.":    "gjeqe526plbf1g8mklp59enfd789njgi",
		"ns1.example.":   "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
		"ns2.example.":   "q04jkcevqvmu85r014c7dkba38o0ji5r",
		"w.example.":     "k8udemvp1j2f7eg6jebps17vp3n8i58h",
		"*.w.example.":   "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
		"x.w.example.":   "b4um86eghhds6nea196smvmlo4ors995",
		"y.w.example.":   "ji6neoaepv8b5o6k4ev33abha8ht9fgc",
		"x.y.w.example.": "2vptu5timamqttgl4luu9kg21e0aor3s",
		"xx.example.":    "t644ebqk9bibcna874givr6joj62mlhv",
		"2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.": "kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
	} {
		if got := strings.ToLower(dns.HashName(name, dns.SHA1, 12, "aabbccdd")); got != want {
			t.Errorf("hash(%s) = %s, want %s", name, got, want)
		}
	}
}

// TestRFC5155AppendixB runs the responses of RFC 5155 Appendix B through
// the proofs, plus variants with a record missing, which must fail.
func TestRFC5155AppendixB(t *testing.T) {
	v := newTestValidator(t, Config{})
	wildcardSig := mustRR(t, "a.z.w.example. 3600 IN RRSIG MX 7 2 3600 20150420235959 20051021000000 40430 example. AA==").(*dns.RRSIG)
	tests := []struct {
		name    string
		prove   func(denial []dns.RR, b *Budget) (Result, error)
		records []string
		want    Status
		ede     uint16
	}{
		{
			name: "B.1 name error",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNXDOMAIN("a.c.x.w.example.", "example.", d, b)
			},
			// The next closer c.x.w.example is covered by an opt-out span,
			// so the NXDOMAIN cannot be Secure (an unsigned delegation could
			// hide there).
			records: []string{"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "b4um86eghhds6nea196smvmlo4ors995", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
			want:    Insecure,
		},
		{
			name: "B.1 without the wildcard proof",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNXDOMAIN("a.c.x.w.example.", "example.", d, b)
			},
			records: []string{"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "b4um86eghhds6nea196smvmlo4ors995"},
			want:    Bogus, ede: dns.ExtendedErrorCodeNSECMissing,
		},
		{
			name: "B.1 without the closest encloser",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNXDOMAIN("a.c.x.w.example.", "example.", d, b)
			},
			records: []string{"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
			want:    Bogus, ede: dns.ExtendedErrorCodeNSECMissing,
		},
		{
			name: "B.2 no data",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNODATA("ns1.example.", dns.TypeMX, "example.", d, b)
			},
			records: []string{"2t7b4g4vsa5smi47k61mv5bv1a22bojr"},
			want:    Secure,
		},
		{
			name: "B.2 no data but the type exists",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNODATA("ns1.example.", dns.TypeA, "example.", d, b)
			},
			records: []string{"2t7b4g4vsa5smi47k61mv5bv1a22bojr"},
			want:    Bogus, ede: dns.ExtendedErrorCodeDNSBogus,
		},
		{
			name: "B.2.1 no data, empty non-terminal",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNODATA("y.w.example.", dns.TypeA, "example.", d, b)
			},
			records: []string{"ji6neoaepv8b5o6k4ev33abha8ht9fgc"},
			want:    Secure,
		},
		{
			name: "B.3 referral to an opt-out unsigned zone",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveInsecureDelegation("c.example.", "example.", d, b)
			},
			records: []string{"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
			want:    Secure,
		},
		{
			name: "B.3 the signed delegation a.example is not insecure",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveInsecureDelegation("a.example.", "example.", d, b)
			},
			records: []string{"35mthgpgcu1qg68fab165klnsnk3dpvl"},
			want:    Bogus, ede: dns.ExtendedErrorCodeDNSBogus,
		},
		{
			name: "B.4 wildcard expansion",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveWildcard("a.z.w.example.", wildcardSig, "example.", d, b)
			},
			records: []string{"q04jkcevqvmu85r014c7dkba38o0ji5r"},
			want:    Secure,
		},
		{
			name: "B.4 wildcard expansion with the wrong span",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveWildcard("a.z.w.example.", wildcardSig, "example.", d, b)
			},
			records: []string{"r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
			want:    Bogus, ede: dns.ExtendedErrorCodeNSECMissing,
		},
		{
			name: "B.5 wildcard no data",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNODATA("a.z.w.example.", dns.TypeAAAA, "example.", d, b)
			},
			records: []string{"k8udemvp1j2f7eg6jebps17vp3n8i58h", "q04jkcevqvmu85r014c7dkba38o0ji5r", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
			want:    Secure,
		},
		{
			name: "B.5 wildcard no data for a type the wildcard has",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNODATA("a.z.w.example.", dns.TypeMX, "example.", d, b)
			},
			records: []string{"k8udemvp1j2f7eg6jebps17vp3n8i58h", "q04jkcevqvmu85r014c7dkba38o0ji5r", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
			want:    Bogus, ede: dns.ExtendedErrorCodeNSECMissing,
		},
		{
			name: "B.6 DS child zone no data",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNODATA("example.", dns.TypeDS, "example.", d, b)
			},
			records: []string{"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"},
			want:    Secure,
		},
		{
			name: "no records at all",
			prove: func(d []dns.RR, b *Budget) (Result, error) {
				return v.ProveNXDOMAIN("nope.example.", "example.", d, b)
			},
			want: Bogus, ede: dns.ExtendedErrorCodeNSECMissing,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := v.NewBudget()
			r, err := tt.prove(nsec3s(t, tt.records...), b)
			if r.Status != tt.want {
				t.Fatalf("status %v (%v), want %v", r.Status, err, tt.want)
			}
			if tt.want == Bogus {
				code, _, ok := EDE(err)
				if !ok || code != tt.ede {
					t.Errorf("EDE %d (%v), want %d", code, err, tt.ede)
				}
			}
			if b.Hashes() == 0 && len(tt.records) > 0 {
				t.Errorf("no hashes charged to the budget")
			}
		})
	}
}

// TestNSEC3Iterations checks the RFC 9276 limits: over the soft limit the
// proof is Insecure with EDE 27 without hashing anything, over the hard
// limit Bogus.
func TestNSEC3Iterations(t *testing.T) {
	v := newTestValidator(t, Config{})
	tests := []struct {
		iter uint16
		want Status
	}{
		{150, Secure},
		{151, Insecure},
		{500, Insecure},
		{2501, Bogus},
	}
	for _, tt := range tests {
		zoneHash := strings.ToLower(dns.HashName("example.", dns.SHA1, tt.iter, "aabbccdd"))
		rr := mustRR(t, zoneHash+".example. NSEC3 1 0 "+itoa(int(tt.iter))+" aabbccdd "+zoneHash+" SOA NS RRSIG")
		b := v.NewBudget()
		r, err := v.ProveNODATA("example.", dns.TypeA, "example.", []dns.RR{rr}, b)
		if r.Status != tt.want {
			t.Errorf("%d iterations: %v (%v), want %v", tt.iter, r.Status, err, tt.want)
			continue
		}
		if tt.want != Secure {
			if code, _, _ := EDE(err); code != dns.ExtendedErrorCodeUnsupportedNSEC3IterValue {
				t.Errorf("%d iterations: EDE %d, want 27", tt.iter, code)
			}
			if b.Hashes() != 0 {
				t.Errorf("%d iterations: %d hashes computed, want none", tt.iter, b.Hashes())
			}
		}
	}
}

// TestNSEC3HashBudget: a long query name against a zone whose proof does
// not close makes the closest encloser search hash every label; the
// budget stops it and says so.
func TestNSEC3HashBudget(t *testing.T) {
	v := newTestValidator(t, Config{Limits: Limits{NSEC3Hashes: 10}})
	qname := strings.Repeat("a.", 60) + "example."
	b := v.NewBudget()
	r, err := v.ProveNXDOMAIN(qname, "example.", nsec3s(t, "35mthgpgcu1qg68fab165klnsnk3dpvl"), b)
	if r.Status != Bogus || !errorsIsBudget(err) {
		t.Fatalf("got %v (%v), want Bogus with budget exhausted", r.Status, err)
	}
	if b.Hashes() != 10 {
		t.Errorf("hashes %d, want exactly the cap 10", b.Hashes())
	}
}

// TestNSEC3UnknownHash: only NSEC3 with an unknown hash algorithm means
// Insecure (RFC 5155 section 8.1).
func TestNSEC3UnknownHash(t *testing.T) {
	v := newTestValidator(t, Config{})
	rr := mustRR(t, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. NSEC3 2 0 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A")
	r, err := v.ProveNXDOMAIN("x.example.", "example.", []dns.RR{rr}, nil)
	if r.Status != Insecure {
		t.Fatalf("got %v (%v), want Insecure", r.Status, err)
	}
}
