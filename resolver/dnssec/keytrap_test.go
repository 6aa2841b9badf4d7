package dnssec

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/miekg/dns"
)

// collidingKeys returns n Ed25519-shaped DNSKEYs for zone that all have
// the same key tag: moving d from byte 0 to byte 2 keeps the 16-bit sum
// the key tag is computed from.
func collidingKeys(t *testing.T, zone string, n int) []*dns.DNSKEY {
	t.Helper()
	base := make([]byte, 32)
	if _, err := rand.Read(base); err != nil {
		t.Fatal(err)
	}
	base[0], base[2] = 0, 255
	var keys []*dns.DNSKEY
	for i := 0; i < n; i++ {
		pub := append([]byte(nil), base...)
		pub[0] += byte(i)
		pub[2] -= byte(i)
		keys = append(keys, &dns.DNSKEY{
			Hdr:   dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
			Flags: dns.ZONE, Protocol: 3, Algorithm: dns.ED25519,
			PublicKey: base64.StdEncoding.EncodeToString(pub),
		})
	}
	tag := keys[0].KeyTag()
	for _, k := range keys {
		if k.KeyTag() != tag {
			t.Fatalf("key tags differ: %d vs %d", k.KeyTag(), tag)
		}
	}
	return keys
}

// TestKeyTrap: 200 DNSKEYs sharing one key tag and 200 RRSIGs naming it
// (CVE-2023-50387). Unbounded, that is 40,000 verifications; the budget
// stops it after a handful, and says so.
func TestKeyTrap(t *testing.T) {
	keys := collidingKeys(t, "trap.example.", 200)
	rrset := mustRRs(t, "www.trap.example. 300 IN A 192.0.2.1")
	var sigs []*dns.RRSIG
	for i := 0; i < 200; i++ {
		sig := make([]byte, 64)
		sig[0] = byte(i)
		sigs = append(sigs, &dns.RRSIG{
			Hdr:         dns.RR_Header{Name: "www.trap.example.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 300},
			TypeCovered: dns.TypeA, Algorithm: dns.ED25519, Labels: 3, OrigTtl: 300,
			Expiration: uint32(testNow.Unix()) + 3600, Inception: uint32(testNow.Unix()) - 3600,
			KeyTag: keys[0].KeyTag(), SignerName: "trap.example.",
			Signature: base64.StdEncoding.EncodeToString(sig),
		})
	}
	tests := []struct {
		name          string
		limits        Limits
		verifications int
		exhausted     bool
	}{
		{"defaults: failure cap", Limits{}, DefaultLimits.Failures, true},
		{"total cap", Limits{Failures: 1000, KeysPerSignature: 100, SignaturesPerRRset: 100, Verifications: 20}, 20, true},
		{"per-RRset caps", Limits{Failures: 1000, Verifications: 1000, KeysPerSignature: 3, SignaturesPerRRset: 5}, 15, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestValidator(t, Config{Limits: tt.limits})
			b := v.NewBudget()
			r, err := v.VerifyRRset(rrset, sigs, keys, testNow, b)
			if r.Status != Bogus {
				t.Fatalf("status %v (%v), want Bogus", r.Status, err)
			}
			if b.Verifications() != tt.verifications {
				t.Errorf("verifications %d, want %d", b.Verifications(), tt.verifications)
			}
			if got := errorsIsBudget(err); got != tt.exhausted {
				t.Errorf("budget exhausted %v (%v), want %v", got, err, tt.exhausted)
			}
			if tt.exhausted {
				// Once spent, the budget stays spent for the query.
				r, err = v.VerifyRRset(rrset, sigs, keys, testNow, b)
				if !errorsIsBudget(err) || b.Verifications() != tt.verifications {
					t.Errorf("second call: %v, %d verifications", err, b.Verifications())
				}
			}
		})
	}
}

// TestKeyTrapDS: a DS pointing at a tag that 200 keys share hashes at most
// KeysPerSignature of them.
func TestKeyTrapDS(t *testing.T) {
	keys := collidingKeys(t, "trap.example.", 200)
	ds := keys[199].ToDS(dns.SHA256) // the only match is out of reach
	var rrs []dns.RR
	for _, k := range keys {
		rrs = append(rrs, k)
	}
	v := newTestValidator(t, Config{})
	_, r, err := v.VerifyDNSKEYs(rrs, nil, []*dns.DS{ds}, testNow, nil)
	wantStatus(t, r, err, Bogus, dns.ExtendedErrorCodeDNSKEYMissing)
}
