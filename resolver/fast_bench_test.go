package resolver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// benchQuery is a typical stub query: EDNS, no options, mixed case.
func benchQuery(b *testing.B) []byte {
	b.Helper()
	m := new(dns.Msg)
	m.SetQuestion("WWW.Example.com.", dns.TypeA)
	m.SetEdns0(1232, false)
	wire, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	return wire
}

// benchResolver is a resolver with www.example.com A cached, without
// sockets or a network: the entry is stored directly.
func benchResolver(b *testing.B) *Resolver {
	b.Helper()
	r, err := New(Config{RootHints: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.Response = true
	for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		rr, _ := dns.NewRR("www.example.com. 3600 IN A " + ip)
		m.Answer = append(m.Answer, rr)
	}
	r.cache.set(answerKey(question("www.example.com", dns.TypeA)), m, time.Hour)
	return r
}

// BenchmarkFastAnswer is the cached-answer path of the UDP server: parse,
// cache look-up, copy, patch, count. Target: 0 allocs/op.
func BenchmarkFastAnswer(b *testing.B) {
	r := benchResolver(b)
	fp := newFastPath(r.m, "udp")
	wire := benchQuery(b)
	out := make([]byte, 0, serverUDPSize)
	client := netip.MustParseAddr("203.0.113.9")
	var lower [maxFastName]byte
	if _, ok := r.fastAnswer(fp, wire, out, client, &lower); !ok {
		b.Fatal("fastAnswer refused the benchmark query")
	}
	b.ReportAllocs()
	for b.Loop() {
		r.fastAnswer(fp, wire, out[:0], client, &lower)
	}
}

// BenchmarkRespondCached is the same answer through respond (dns.Msg in,
// dns.Msg out, packed), the path every query took before the fast path.
func BenchmarkRespondCached(b *testing.B) {
	r := benchResolver(b)
	wire := benchQuery(b)
	client := netip.MustParseAddr("203.0.113.9")
	b.ReportAllocs()
	for b.Loop() {
		req := new(dns.Msg)
		if err := req.Unpack(wire); err != nil {
			b.Fatal(err)
		}
		if _, err := r.respond(req, client, true).Pack(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseFast is the query parse alone.
func BenchmarkParseFast(b *testing.B) {
	wire := benchQuery(b)
	var lower [maxFastName]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseFast(wire, &lower); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkPatchTTLs is the TTL rewrite of a two-record answer.
func BenchmarkPatchTTLs(b *testing.B) {
	r := benchResolver(b)
	e, ok := r.cache.c.GetIfPresent(answerKey(question("www.example.com", dns.TypeA)))
	if !ok {
		b.Fatal("not cached")
	}
	w := fastFormOf(e, "www.example.com.", dns.TypeA).plain
	out := append([]byte(nil), w.b...)
	b.ReportAllocs()
	for b.Loop() {
		patchTTLs(out, w, 17)
	}
}
