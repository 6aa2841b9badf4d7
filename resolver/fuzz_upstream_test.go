package resolver

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzUpstreamResponse feeds arbitrary bytes to the path an authoritative
// server's answer takes: unpack, classify, referral extraction, scrubbing
// and DNAME checks. Whatever a server sends, none of it may panic.
func FuzzUpstreamResponse(f *testing.F) {
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	seed := func(build func(m *dns.Msg)) {
		m := new(dns.Msg)
		m.SetQuestion(q.Name, q.Qtype)
		m.Response = true
		build(m)
		if b, err := m.Pack(); err == nil {
			f.Add(b, "com.")
		}
	}
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		return r
	}
	seed(func(m *dns.Msg) {
		m.Ns = []dns.RR{rr("example.com. 3600 IN NS ns1.example.com."), rr("example.com. 3600 IN NS ns.other.net.")}
		m.Extra = []dns.RR{rr("ns1.example.com. 3600 IN A 192.0.2.1"), rr("ns.other.net. 3600 IN A 192.0.2.66")}
	})
	seed(func(m *dns.Msg) {
		m.Authoritative = true
		m.Answer = []dns.RR{rr("example.com. 300 IN DNAME example.net."), rr("www.example.com. 300 IN CNAME www.example.net."), rr("www.example.net. 300 IN A 192.0.2.7")}
	})
	seed(func(m *dns.Msg) {
		m.Authoritative = true
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{rr("example.com. 300 IN SOA ns1.example.com. h.example.com. 1 2 3 4 60")}
	})
	f.Add([]byte{0, 1, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0}, ".")
	f.Fuzz(func(t *testing.T, wire []byte, zone string) {
		if _, ok := dns.IsDomainName(zone); !ok || !dns.IsFqdn(zone) {
			zone = "com."
		}
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil {
			return
		}
		kind := classify(m, q, zone)
		switch kind {
		case respReferral:
			referral(m, q.Name, zone)
		case respAnswer, respNegative:
			scrubAnswer(m, q, zone)
			checkDNAME(m, zone)
		}
		delegationTTL(m, 0)
		isLame(m)
		chainEnd(m, q.Name, q.Qtype)
	})
}
