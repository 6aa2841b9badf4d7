package dnssec

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// Real root KSKs (IANA root-anchors.xml); their DS must be the built-in
// anchors.
const (
	rootKSK2017 = ". IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU="
	rootKSK2024 = ". IN DNSKEY 257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc="
)

func TestRootAnchors(t *testing.T) {
	builtin := RootAnchors()
	zone, ds, ok := builtin.Closest("www.example.com.")
	if !ok || zone != "." || len(ds) != 2 {
		t.Fatalf("Closest: %q %d %v", zone, len(ds), ok)
	}
	fromKeys, err := ParseAnchors(strings.NewReader(rootKSK2017+"\n"+rootKSK2024+"\n"), "root.key")
	if err != nil {
		t.Fatal(err)
	}
	_, keyDS, _ := fromKeys.Closest(".")
	for i, want := range []uint16{20326, 38696} {
		if ds[i].KeyTag != want || keyDS[i].KeyTag != want {
			t.Errorf("anchor %d key tag %d/%d, want %d", i, ds[i].KeyTag, keyDS[i].KeyTag, want)
		}
		if !strings.EqualFold(ds[i].Digest, keyDS[i].Digest) {
			t.Errorf("key tag %d: built-in digest %s, DNSKEY gives %s", want, ds[i].Digest, keyDS[i].Digest)
		}
	}
}

func TestParseAnchors(t *testing.T) {
	tests := []struct {
		name, text, err string
		zones           []string
	}{
		{"ds and comments", "; root\n" + RootKSK2017 + "\nexample. 3600 IN DS 55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17\n", "", []string{".", "example."}},
		{"wrong type", "example. IN A 192.0.2.1\n", "not DS or DNSKEY", nil},
		{"not a zone key", "example. IN DNSKEY 1 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n", "not a usable zone key", nil},
		{"syntax", "example. IN DS 1 2\n", "anchors.txt", nil},
		{"empty", "; nothing\n", "no DS or DNSKEY", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAnchors(strings.NewReader(tt.text), "anchors.txt")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Zones(); strings.Join(got, " ") != strings.Join(tt.zones, " ") {
				t.Errorf("zones %v, want %v", got, tt.zones)
			}
		})
	}
}

func TestNegativeAnchors(t *testing.T) {
	a, err := ParseAnchors(strings.NewReader(RootKSK2017+"\nsigned.corp.example. IN DS 55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestValidator(t, Config{Anchors: a, Insecure: []string{"corp.example", "broken.test."}})
	for name, want := range map[string]Status{
		"www.example.com.":        Secure,
		"corp.example.":           Insecure,
		"a.b.corp.example.":       Insecure,
		"x.signed.corp.example.":  Secure, // a deeper positive anchor wins
		"BROKEN.test.":            Insecure,
		"notbroken.test.example.": Secure,
	} {
		if _, _, st := v.Anchor(name); st != want {
			t.Errorf("Anchor(%s) = %v, want %v", name, st, want)
		}
	}
	noRoot, _ := ParseAnchors(strings.NewReader("example. IN DS 55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17\n"), "t")
	v = newTestValidator(t, Config{Anchors: noRoot})
	if _, _, st := v.Anchor("example.org."); st != Indeterminate {
		t.Errorf("outside every anchor: %v, want Indeterminate", st)
	}
}

// signedZone is a zone with a KSK and a ZSK and its DNSKEY RRset signed by
// the KSK.
type signedZone struct {
	ksk, zsk testKey
	dnskeys  []dns.RR
	sigs     []*dns.RRSIG
}

func newSignedZone(t *testing.T, zone string, alg uint8) signedZone {
	z := signedZone{ksk: newKey(t, zone, alg, dns.ZONE|dns.SEP), zsk: newKey(t, zone, alg, dns.ZONE)}
	z.dnskeys = []dns.RR{z.ksk.key, z.zsk.key}
	z.sigs = []*dns.RRSIG{z.ksk.signNow(t, z.dnskeys)}
	return z
}

// rsaKeyWithExponent builds an RSA DNSKEY whose exponent field is exp
// (RFC 3110 encoding) and a 1024-bit odd modulus.
func rsaKeyWithExponent(zone string, exp []byte) *dns.DNSKEY {
	buf := []byte{}
	if len(exp) > 255 {
		buf = append(buf, 0, byte(len(exp)>>8), byte(len(exp)))
	} else {
		buf = append(buf, byte(len(exp)))
	}
	buf = append(buf, exp...)
	mod := make([]byte, 128)
	for i := range mod {
		mod[i] = 0xc5
	}
	buf = append(buf, mod...)
	return &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     dns.ZONE | dns.SEP,
		Protocol:  3,
		Algorithm: dns.RSASHA256,
		PublicKey: base64.StdEncoding.EncodeToString(buf),
	}
}

func TestVerifyDNSKEYs(t *testing.T) {
	v := newTestValidator(t, Config{})
	z := newSignedZone(t, "example.", dns.ECDSAP256SHA256)
	ds2 := z.ksk.key.ToDS(dns.SHA256)
	ds4 := z.ksk.key.ToDS(dns.SHA384)
	ds1 := z.ksk.key.ToDS(dns.SHA1)
	broken := func(d *dns.DS) *dns.DS {
		c := *d
		c.Digest = strings.Repeat("00", len(d.Digest)/2)
		return &c
	}
	withAlg := func(d *dns.DS, alg uint8) *dns.DS {
		c := *d
		c.Algorithm = alg
		return &c
	}
	withDigestType := func(d *dns.DS, dt uint8) *dns.DS {
		c := *d
		c.DigestType = dt
		return &c
	}

	huge := rsaKeyWithExponent("huge.example.", []byte{1, 0, 0, 0, 1}) // 2^32+1: over what crypto/rsa takes
	bigE := rsaKeyWithExponent("big.example.", []byte{0xff, 0xff, 0xff, 0xff})
	evenE := rsaKeyWithExponent("even.example.", []byte{1, 0, 0})

	tests := []struct {
		name    string
		dnskeys []dns.RR
		sigs    []*dns.RRSIG
		ds      []*dns.DS
		want    Status
		ede     uint16
	}{
		{"SHA-256 DS", z.dnskeys, z.sigs, []*dns.DS{ds2}, Secure, 0},
		{"SHA-384 DS", z.dnskeys, z.sigs, []*dns.DS{ds4}, Secure, 0},
		{"SHA-1 DS alone", z.dnskeys, z.sigs, []*dns.DS{ds1}, Secure, 0},
		{"SHA-1 ignored beside SHA-256", z.dnskeys, z.sigs, []*dns.DS{ds1, broken(ds2)}, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"broken SHA-1 ignored beside SHA-256", z.dnskeys, z.sigs, []*dns.DS{broken(ds1), ds2}, Secure, 0},
		{"DS mismatch", z.dnskeys, z.sigs, []*dns.DS{broken(ds2)}, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"DNSKEY RRset signed only by the ZSK", z.dnskeys, []*dns.RRSIG{z.zsk.signNow(t, z.dnskeys)}, []*dns.DS{ds2}, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"DNSKEY RRSIG missing", z.dnskeys, nil, []*dns.DS{ds2}, Bogus, dns.ExtendedErrorCodeRRSIGsMissing},
		{"unsupported algorithm DSA", z.dnskeys, z.sigs, []*dns.DS{withAlg(ds2, dns.DSA)}, Insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm},
		{"unsupported algorithm Ed448", z.dnskeys, z.sigs, []*dns.DS{withAlg(ds2, dns.ED448)}, Insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm},
		{"unsupported digest GOST", z.dnskeys, z.sigs, []*dns.DS{withDigestType(ds2, dns.GOST94)}, Insecure, dns.ExtendedErrorCodeUnsupportedDSDigestType},
		{"unsupported digest beside a good one", z.dnskeys, z.sigs, []*dns.DS{withDigestType(ds2, dns.GOST94), ds2}, Secure, 0},
		{"no DS", z.dnskeys, z.sigs, nil, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"RSA exponent of five bytes", []dns.RR{huge}, nil, []*dns.DS{huge.ToDS(dns.SHA256)}, Insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm},
		{"RSA exponent over 2^31-1", []dns.RR{bigE}, nil, []*dns.DS{bigE.ToDS(dns.SHA256)}, Insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm},
		{"RSA even exponent", []dns.RR{evenE}, nil, []*dns.DS{evenE.ToDS(dns.SHA256)}, Insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, r, err := v.VerifyDNSKEYs(tt.dnskeys, tt.sigs, tt.ds, testNow, v.NewBudget())
			wantStatus(t, r, err, tt.want, tt.ede)
			if tt.want == Secure && len(keys) != 2 {
				t.Errorf("got %d zone keys, want 2", len(keys))
			}
		})
	}

	// The chain continues: data signed by the ZSK validates with the keys
	// VerifyDNSKEYs returned.
	keys, _, _ := v.VerifyDNSKEYs(z.dnskeys, z.sigs, []*dns.DS{ds2}, testNow, nil)
	rrset := mustRRs(t, "www.example. 300 IN AAAA 2001:db8::1")
	r, err := v.VerifyRRset(rrset, []*dns.RRSIG{z.zsk.signNow(t, rrset)}, keys, testNow, nil)
	wantStatus(t, r, err, Secure, 0)
}

// TestUnusableZSK: data signed only by a key Go cannot use is Insecure,
// not Bogus.
func TestUnusableZSK(t *testing.T) {
	v := newTestValidator(t, Config{})
	huge := rsaKeyWithExponent("example.", []byte{1, 0, 0, 0, 1})
	rrset := mustRRs(t, "www.example. 300 IN A 192.0.2.1")
	sig := &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: "www.example.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 300},
		TypeCovered: dns.TypeA, Algorithm: dns.RSASHA256, Labels: 2, OrigTtl: 300,
		Expiration: uint32(testNow.Unix()) + 3600, Inception: uint32(testNow.Unix()) - 3600,
		KeyTag: huge.KeyTag(), SignerName: "example.", Signature: base64.StdEncoding.EncodeToString(make([]byte, 128)),
	}
	b := v.NewBudget()
	r, err := v.VerifyRRset(rrset, []*dns.RRSIG{sig}, []*dns.DNSKEY{huge}, testNow, b)
	wantStatus(t, r, err, Insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm)
	if b.Verifications() != 0 {
		t.Errorf("%d verifications spent on an unusable key", b.Verifications())
	}
}
