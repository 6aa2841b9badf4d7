package dnssec

import (
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkVerifyRRset measures one RRset verification per algorithm, the
// unit the work budget counts.
func BenchmarkVerifyRRset(b *testing.B) {
	v, _ := New(Config{})
	for _, alg := range []uint8{dns.RSASHA256, dns.ECDSAP256SHA256, dns.ED25519} {
		k := newKey(b, "example.", alg, dns.ZONE)
		rrset := mustRRs(b, "www.example. 300 IN A 192.0.2.1")
		sig := k.signNow(b, rrset)
		b.Run(dns.AlgorithmToString[alg], func(b *testing.B) {
			for b.Loop() {
				if r, err := v.VerifyRRset(rrset, []*dns.RRSIG{sig}, []*dns.DNSKEY{k.key}, testNow, nil); r.Status != Secure {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNSEC3NXDOMAIN measures the RFC 5155 B.1 proof (12 iterations).
func BenchmarkNSEC3NXDOMAIN(b *testing.B) {
	v, _ := New(Config{})
	d := nsec3s(b, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "b4um86eghhds6nea196smvmlo4ors995", "35mthgpgcu1qg68fab165klnsnk3dpvl")
	for b.Loop() {
		v.ProveNXDOMAIN("a.c.x.w.example.", "example.", d, nil)
	}
}
