package dnssec

import (
	"crypto"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testNow is the validation time of the generated-key tests.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type testKey struct {
	key  *dns.DNSKEY
	priv crypto.Signer
}

// newKey makes a key for zone; bits is the RSA size (1024 keeps the tests
// fast; Go refuses less).
func newKey(t testing.TB, zone string, alg uint8, flags uint16) testKey {
	t.Helper()
	k := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     flags,
		Protocol:  3,
		Algorithm: alg,
	}
	bits := 256
	switch alg {
	case dns.RSASHA256, dns.RSASHA512, dns.RSASHA1:
		bits = 1024
	case dns.ECDSAP384SHA384:
		bits = 384
	}
	priv, err := k.Generate(bits)
	if err != nil {
		t.Fatalf("generate alg %d: %v", alg, err)
	}
	return testKey{key: k, priv: priv.(crypto.Signer)}
}

// sign signs rrset valid from incep to exp.
func (k testKey) sign(t testing.TB, rrset []dns.RR, incep, exp time.Time) *dns.RRSIG {
	t.Helper()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Ttl: rrset[0].Header().Ttl},
		KeyTag:     k.key.KeyTag(),
		SignerName: k.key.Hdr.Name,
		Algorithm:  k.key.Algorithm,
		Inception:  uint32(incep.Unix()),
		Expiration: uint32(exp.Unix()),
	}
	if err := sig.Sign(k.priv, rrset); err != nil {
		t.Fatalf("sign: %v", err)
	}
	return sig
}

// signNow signs with a validity period around testNow.
func (k testKey) signNow(t testing.TB, rrset []dns.RR) *dns.RRSIG {
	return k.sign(t, rrset, testNow.Add(-24*time.Hour), testNow.Add(7*24*time.Hour))
}

func wantStatus(t *testing.T, r Result, err error, want Status, ede uint16) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %v (%v), want %v", r.Status, err, want)
	}
	if want == Secure {
		if err != nil {
			t.Fatalf("secure with error %v", err)
		}
		return
	}
	if ede == 0xffff {
		return // no EDE expected or not checked
	}
	code, _, ok := EDE(err)
	if !ok || code != ede {
		t.Fatalf("EDE %d (%v), want %d", code, err, ede)
	}
}

// TestRFCVectors validates the signed examples of RFC 6605 (ECDSA P-256 and
// P-384) and RFC 8080 (Ed25519) from their DS down, at a time inside their
// validity periods.
func TestRFCVectors(t *testing.T) {
	tests := []struct {
		name   string
		dnskey string
		ds     string
		rr     string
		sig    string
		at     time.Time
	}{
		{
			name:   "RFC 6605 P-256",
			dnskey: "example.net. 3600 IN DNSKEY 257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
			ds:     "example.net. 3600 IN DS 55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17",
			rr:     "www.example.net. 3600 IN A 192.0.2.1",
			sig:    "www.example.net. 3600 IN RRSIG A 13 3 3600 20100909100439 20100812100439 55648 example.net. qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==",
			at:     time.Date(2010, 8, 20, 0, 0, 0, 0, time.UTC),
		},
		{
			name:   "RFC 6605 P-384",
			dnskey: "example.net. 3600 IN DNSKEY 257 3 14 xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+SErKivBVSum1w/egsXvSADtNJhyem5RCOpgQ6K8X1DRSEkrbYQ+OB+v8/uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40",
			ds:     "example.net. 3600 IN DS 10771 14 4 72d7b62976ce06438e9c0bf319013cf801f09ecc84b8d7e9495f27e305c6a9b0563a9b5f4d288405c3008a946df983d6",
			rr:     "www.example.net. 3600 IN A 192.0.2.1",
			sig:    "www.example.net. 3600 IN RRSIG A 14 3 3600 20100909102025 20100812102025 10771 example.net. /L5hDKIvGDyI1fcARX3z65qrmPsVz73QD1Mr5CEqOiLP95hxQouuroGCeZOvzFaxsT8Glr74hbavRKayJNuydCuzWTSSPdz7wnqXL5bdcJzusdnI0RSMROxxwGipWcJm",
			at:     time.Date(2010, 8, 20, 0, 0, 0, 0, time.UTC),
		},
		{
			name:   "RFC 8080 Ed25519 example 1",
			dnskey: "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
			ds:     "example.com. 3600 IN DS 3613 15 2 3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b",
			rr:     "example.com. 3600 IN MX 10 mail.example.com.",
			sig:    "example.com. 3600 IN RRSIG MX 15 2 3600 1440021600 1438207200 3613 example.com. oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==",
			at:     time.Date(2015, 8, 1, 0, 0, 0, 0, time.UTC),
		},
		{
			name:   "RFC 8080 Ed25519 example 2",
			dnskey: "example.com. 3600 IN DNSKEY 257 3 15 zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=",
			ds:     "example.com. 3600 IN DS 35217 15 2 401781b934e392de492ec77ae2e15d70f6575a1c0bc59c5275c04ebe80c6614c",
			rr:     "example.com. 3600 IN MX 10 mail.example.com.",
			sig:    "example.com. 3600 IN RRSIG MX 15 2 3600 1440021600 1438207200 35217 example.com. zXQ0bkYgQTEFyfLyi9QoiY6D8ZdYo4wyUhVioYZXFdT410QPRITQSqJSnzQoSm5poJ7gD7AQR0O7KuI5k2pcBg==",
			at:     time.Date(2015, 8, 1, 0, 0, 0, 0, time.UTC),
		},
	}
	v := newTestValidator(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := mustRR(t, tt.dnskey).(*dns.DNSKEY)
			ds := mustRR(t, tt.ds).(*dns.DS)
			rr := mustRR(t, tt.rr)
			sig := mustRR(t, tt.sig).(*dns.RRSIG)

			// The vectors sign only the answer, so the DS -> DNSKEY step is
			// checked on the digest, then the answer against the key.
			if got := key.ToDS(ds.DigestType); got == nil || got.Digest != ds.Digest {
				t.Fatalf("DS digest mismatch")
			}
			b := v.NewBudget()
			r, err := v.VerifyRRset([]dns.RR{rr}, []*dns.RRSIG{sig}, []*dns.DNSKEY{key}, tt.at, b)
			wantStatus(t, r, err, Secure, 0)
			if b.Verifications() != 1 {
				t.Errorf("verifications %d, want 1", b.Verifications())
			}
			if want := time.Unix(int64(sig.Expiration), 0); !r.Until.Equal(want) {
				t.Errorf("Until %v, want %v", r.Until, want)
			}
			// Altered data must not verify.
			bad := dns.Copy(rr)
			bad.Header().Ttl = 3600
			switch x := bad.(type) {
			case *dns.A:
				x.A[3]++
			case *dns.MX:
				x.Preference++
			}
			r, err = v.VerifyRRset([]dns.RR{bad}, []*dns.RRSIG{sig}, []*dns.DNSKEY{key}, tt.at, nil)
			wantStatus(t, r, err, Bogus, dns.ExtendedErrorCodeDNSBogus)
			// Years later the same signature has expired.
			r, err = v.VerifyRRset([]dns.RR{rr}, []*dns.RRSIG{sig}, []*dns.DNSKEY{key}, tt.at.AddDate(3, 0, 0), nil)
			wantStatus(t, r, err, Bogus, dns.ExtendedErrorCodeSignatureExpired)
		})
	}
}

// TestVerifyRRset covers RFC 4035 Appendix B-style failures with keys made
// for the test.
func TestVerifyRRset(t *testing.T) {
	v := newTestValidator(t, Config{})
	algs := []uint8{dns.RSASHA256, dns.RSASHA512, dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519}
	for _, alg := range algs {
		zsk := newKey(t, "example.", alg, dns.ZONE)
		other := newKey(t, "example.", alg, dns.ZONE)
		rrset := mustRRs(t, "a.example. 300 IN A 192.0.2.1", "a.example. 300 IN A 192.0.2.2")
		day := 24 * time.Hour
		tests := []struct {
			name string
			sigs []*dns.RRSIG
			keys []*dns.DNSKEY
			want Status
			ede  uint16
		}{
			{"good", []*dns.RRSIG{zsk.signNow(t, rrset)}, []*dns.DNSKEY{zsk.key}, Secure, 0},
			{"good among others", []*dns.RRSIG{other.signNow(t, rrset), zsk.signNow(t, rrset)}, []*dns.DNSKEY{zsk.key}, Secure, 0},
			{"expired", []*dns.RRSIG{zsk.sign(t, rrset, testNow.Add(-30*day), testNow.Add(-day))}, []*dns.DNSKEY{zsk.key}, Bogus, dns.ExtendedErrorCodeSignatureExpired},
			{"expired within skew", []*dns.RRSIG{zsk.sign(t, rrset, testNow.Add(-30*day), testNow.Add(-time.Minute))}, []*dns.DNSKEY{zsk.key}, Secure, 0},
			{"not yet valid", []*dns.RRSIG{zsk.sign(t, rrset, testNow.Add(day), testNow.Add(30*day))}, []*dns.DNSKEY{zsk.key}, Bogus, dns.ExtendedErrorCodeSignatureNotYetValid},
			{"wrong key", []*dns.RRSIG{other.signNow(t, rrset)}, []*dns.DNSKEY{zsk.key}, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
			{"missing RRSIG", nil, []*dns.DNSKEY{zsk.key}, Bogus, dns.ExtendedErrorCodeRRSIGsMissing},
			{"RRSIG for another type", []*dns.RRSIG{func() *dns.RRSIG {
				s := zsk.signNow(t, rrset)
				s.TypeCovered = dns.TypeAAAA
				return s
			}()}, []*dns.DNSKEY{zsk.key}, Bogus, dns.ExtendedErrorCodeRRSIGsMissing},
			{"forged signature", []*dns.RRSIG{func() *dns.RRSIG {
				s := zsk.signNow(t, rrset)
				s.OrigTtl++ // covered by the signature
				return s
			}()}, []*dns.DNSKEY{zsk.key}, Bogus, dns.ExtendedErrorCodeDNSBogus},
			{"revoked key", []*dns.RRSIG{zsk.signNow(t, rrset)}, []*dns.DNSKEY{func() *dns.DNSKEY {
				k := *zsk.key
				k.Flags |= dns.REVOKE
				return &k
			}()}, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		}
		for _, tt := range tests {
			t.Run(dns.AlgorithmToString[alg]+"/"+tt.name, func(t *testing.T) {
				r, err := v.VerifyRRset(rrset, tt.sigs, tt.keys, testNow, v.NewBudget())
				wantStatus(t, r, err, tt.want, tt.ede)
			})
		}
	}
}

// TestSerialArithmetic: signatures spanning the 2106 wrap of 32-bit time
// validate (RFC 4034 section 3.1.5).
func TestSerialArithmetic(t *testing.T) {
	v := newTestValidator(t, Config{})
	k := newKey(t, "example.", dns.ED25519, dns.ZONE)
	rrset := mustRRs(t, "example. 300 IN TXT wrap")
	wrap := time.Unix(1<<32, 0)
	sig := k.sign(t, rrset, wrap.Add(-time.Hour), wrap.Add(time.Hour))
	for _, tc := range []struct {
		at   time.Time
		want Status
	}{
		{wrap.Add(-time.Minute), Secure},
		{wrap.Add(time.Minute), Secure},
		{wrap.Add(3 * time.Hour), Bogus},
		{wrap.Add(-3 * time.Hour), Bogus},
	} {
		r, err := v.VerifyRRset(rrset, []*dns.RRSIG{sig}, []*dns.DNSKEY{k.key}, tc.at, nil)
		if r.Status != tc.want {
			t.Errorf("at %v: %v (%v), want %v", tc.at, r.Status, err, tc.want)
		}
	}
}
