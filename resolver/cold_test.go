package resolver

import (
	"context"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Bounds on the cold path's work per resolved name (BenchmarkColdResolve
// measures it; docs/benchmarks.md has the netns figures). Before the cold
// path was profiled a name cost 118 allocations and 71 KB: a 64 KiB receive
// buffer per upstream query, the delegation unpacked on every resolution,
// the answer copied before packing it for the cache and again for the
// caller, and net.DialUDP's addresses (79 with only that left; 73 now,
// reading through the raw socket costs three small ones; 65 since the
// bailiwick checks stopped splitting names with dns.IsSubDomain). The bounds
// leave a little room for a changed dependency, not for any of those
// coming back.
const (
	maxColdAllocs = 67
	maxColdBytes  = 8 << 10
)

// TestColdResolveAllocs resolves distinct names one after another, each one
// upstream query below a cached delegation, and bounds what each costs in
// allocations and bytes.
func TestColdResolveAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("resolves a few hundred names over loopback")
	}
	n := startColdNet(t)
	r := coldResolver(t, n)
	names := coldNames("alloc", 400)
	i := 0
	resolve := func() {
		if _, err := r.Resolve(context.Background(), question(names[i], dns.TypeA)); err != nil {
			t.Fatal(err)
		}
		i++
	}
	resolve() // first use of the pools and the infra entry
	before := n.queries.Load()
	allocs := testing.AllocsPerRun(100, resolve)
	// One query each; a loaded machine (CI) may cost a retry or two after
	// a timeout, which AllocsPerRun then averages in.
	if got := n.queries.Load() - before; got < 101 || got > 104 {
		t.Fatalf("leaf got %d queries for 101 names, want one each (up to 3 retries)", got)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range 200 {
		resolve()
	}
	runtime.ReadMemStats(&m1)
	bytes := (m1.TotalAlloc - m0.TotalAlloc) / 200
	t.Logf("per cold name: %.0f allocations, %d bytes", allocs, bytes)
	if allocs > maxColdAllocs {
		t.Errorf("%.0f allocations per cold name, want at most %d", allocs, maxColdAllocs)
	}
	if bytes > maxColdBytes {
		t.Errorf("%d bytes allocated per cold name, want at most %d", bytes, maxColdBytes)
	}
}

// TestCacheSetLeavesMessage: set stores a clamped, OPT-less, ID-less copy
// and leaves the caller's message exactly as it was (it no longer deep
// copies it first).
func TestCacheSetLeavesMessage(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c, err := newCache(cacheConfig{maxBytes: 1 << 20, minTTL: 10 * time.Second}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.Id = 4711
	m.Response = true
	for _, s := range []string{"www.example.com. 5 IN A 192.0.2.1", "www.example.com. 7200 IN A 192.0.2.2"} {
		rr, _ := dns.NewRR(s)
		m.Answer = append(m.Answer, rr)
	}
	glue, _ := dns.NewRR("ns.example.com. 86400 IN A 192.0.2.53")
	m.Extra = []dns.RR{glue}
	m.SetEdns0(1232, true)
	before := m.String()
	extra := m.Extra

	k := answerKey(m.Question[0])
	c.set(k, m, time.Hour)
	if m.String() != before || &m.Extra[0] != &extra[0] || len(m.Extra) != 2 {
		t.Fatalf("set changed its argument:\n%s\nwant\n%s", m, before)
	}
	got, ok := c.get(k)
	if !ok {
		t.Fatal("entry not cached")
	}
	if got.Id != 0 || got.IsEdns0() != nil || len(got.Extra) != 1 {
		t.Errorf("stored message has ID %d, OPT %v, %d additional records; want 0, none, 1", got.Id, got.IsEdns0(), len(got.Extra))
	}
	var ttls []uint32
	for _, rr := range append(got.Answer, got.Extra...) {
		ttls = append(ttls, rr.Header().Ttl)
	}
	if want := []uint32{10, 3600, 3600}; !equalTTLs(ttls, want) {
		t.Errorf("stored TTLs %v, want %v (clamped into [min_ttl, ttl])", ttls, want)
	}
}

func equalTTLs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestClampTTLsRejectsBadWire: a message that does not walk to its end is
// not stored.
func TestClampTTLsRejectsBadWire(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("a.example.", dns.TypeA)
	rr, _ := dns.NewRR("a.example. 60 IN A 192.0.2.1")
	m.Answer = []dns.RR{rr}
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if !clampTTLs(append([]byte(nil), wire...), 0, 30) {
		t.Fatal("clampTTLs rejected a good message")
	}
	for _, bad := range [][]byte{wire[:len(wire)-1], append(append([]byte(nil), wire...), 0), wire[:11]} {
		if clampTTLs(append([]byte(nil), bad...), 0, 30) {
			t.Errorf("clampTTLs accepted %d bytes of a %d-byte message", len(bad), len(wire))
		}
	}
}

// TestDelegationParsedOnce: the zone cut of a cached delegation is parsed
// once and shared, and filling in the addresses of glueless servers from
// the cache changes the caller's copy, never the shared one.
func TestDelegationParsedOnce(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	r, err := New(Config{RootHints: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.now = clk.now
	deleg := new(dns.Msg)
	deleg.SetQuestion("example.", dns.TypeNS)
	for _, s := range []string{"example. 3600 IN NS ns1.example.", "example. 3600 IN NS ns.other."} {
		rr, _ := dns.NewRR(s)
		deleg.Ns = append(deleg.Ns, rr)
	}
	glue, _ := dns.NewRR("ns1.example. 3600 IN A 192.0.2.1")
	deleg.Extra = []dns.RR{glue}
	r.cache.set(delegationKey("example."), deleg, time.Hour)
	other := new(dns.Msg)
	other.SetQuestion("ns.other.", dns.TypeA)
	a, _ := dns.NewRR("ns.other. 3600 IN A 192.0.2.2")
	other.Answer = []dns.RR{a}
	r.cache.set(answerKey(other.Question[0]), other, time.Hour)

	first, ok := r.cache.delegation("example.")
	if !ok {
		t.Fatal("delegation not found")
	}
	if again, _ := r.cache.delegation("example."); again != first {
		t.Error("the delegation was parsed again on the second look-up")
	}
	ns := r.closestCut(question("www.example.", dns.TypeA))
	if ns.zone != "example." || len(ns.addrs["ns.other."]) != 1 {
		t.Fatalf("closestCut = %+v, want example. with ns.other. filled in from the cache", ns)
	}
	if len(first.addrs["ns.other."]) != 0 {
		t.Error("fillAddrs wrote into the shared cached cut")
	}
	clk.advance(time.Hour)
	if _, ok := r.cache.delegation("example."); ok {
		t.Error("delegation served after its TTL")
	}
}

// TestCacheEntryHeap caches many typical answers (one A record for a
// distinct name) and checks what each costs on the heap: within an
// absolute bound, and close to the weight the cache charges for it, so
// that cache_size bounds real memory and the process memory limit derived
// from it (cmd/anycastd) is not a fiction. The weight once left out 70
// bytes per entry (otter's node and table, the entry struct's size class).
func TestCacheEntryHeap(t *testing.T) {
	const entries = 20000
	c, err := newCache(cacheConfig{maxBytes: 1 << 30}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	// Twice: sync.Pool contents (from earlier tests) go in the second.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for i := range entries {
		name := "mem-" + strconv.Itoa(100000+i) + ".bench.lab."
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Response, m.Authoritative = true, true
		m.Answer = []dns.RR{&dns.A{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600},
			A:   []byte{198, 51, 100, 108},
		}}
		c.set(answerKey(m.Question[0]), m, time.Hour)
	}
	c.cleanUp()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if n := c.c.EstimatedSize(); n != entries {
		t.Fatalf("%d entries cached, want %d", n, entries)
	}
	heap := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / entries
	weight := float64(c.bytes()) / entries
	t.Logf("per entry: %.0f heap bytes, weight %.0f", heap, weight)
	if heap > 340 {
		t.Errorf("%.0f heap bytes per cached A answer, want at most 340", heap)
	}
	if heap > weight*1.15 || heap < weight*0.7 {
		t.Errorf("%.0f heap bytes per entry against a weight of %.0f: the weight must track the heap within -30%%..+15%%", heap, weight)
	}
	runtime.KeepAlive(c)
}
