package resolver

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/mininet"
	"github.com/miekg/dns"
)

// failExample makes every server of example.com. answer with fault f, and
// restores them when the test ends.
func failExample(t *testing.T, in *mininet.Internet, f mininet.Fault) {
	t.Helper()
	for _, s := range []string{"ns1.example.com.", "ns2.example.com."} {
		if err := in.SetFault(s, f); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.SetFault(s, mininet.Healthy) })
	}
}

// edeOfReply returns the EDE option of m, if any.
func edeOfReply(m *dns.Msg) *dns.EDNS0_EDE {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ede, ok := e.(*dns.EDNS0_EDE); ok {
				return ede
			}
		}
	}
	return nil
}

// TestCacheClamps checks min_ttl and max_ttl on the entry and on the TTLs
// served: short.example.com has TTL 5, www.example.com 3600,
// and nope.example.com is NXDOMAIN with a negative TTL of 60.
func TestCacheClamps(t *testing.T) {
	in := startNet(t)
	tests := []struct {
		name           string
		q              dns.Question
		min, max, neg  time.Duration
		wantTTL        uint32 // of the first answer (or SOA) record
		wantEntryTTL   time.Duration
		checkAuthority bool
	}{
		{"min raises", question("short.example.com", dns.TypeA), 30 * time.Second, 0, 0, 30, 30 * time.Second, false},
		{"max lowers", question("www.example.com", dns.TypeA), 0, 10 * time.Second, 0, 10, 10 * time.Second, false},
		{"untouched", question("www.example.com", dns.TypeA), 0, 0, 0, 3600, time.Hour, false},
		{"negative cap", question("nope.example.com", dns.TypeA), 0, 0, 7 * time.Second, 7, 7 * time.Second, true},
		{"negative min", question("nope.example.com", dns.TypeA), 90 * time.Second, 0, 0, 90, 90 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := netConfig(t, in)
			cfg.MinTTL, cfg.MaxTTL, cfg.MaxNegativeTTL = tt.min, tt.max, tt.neg
			r, _ := newResolver(t, cfg)
			clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			r.now = clk.now
			if _, err := r.Resolve(context.Background(), tt.q); err != nil {
				t.Fatal(err)
			}
			m, ok := r.cache.get(answerKey(tt.q))
			if !ok {
				t.Fatal("not cached")
			}
			rrs := m.Answer
			if tt.checkAuthority {
				rrs = m.Ns
			}
			if len(rrs) == 0 || rrs[0].Header().Ttl != tt.wantTTL {
				t.Fatalf("served TTLs %v, want %d", rrs, tt.wantTTL)
			}
			clk.advance(tt.wantEntryTTL - time.Second)
			if _, ok := r.cache.get(answerKey(tt.q)); !ok {
				t.Errorf("expired before %v", tt.wantEntryTTL)
			}
			clk.advance(time.Second)
			if _, ok := r.cache.get(answerKey(tt.q)); ok {
				t.Errorf("still fresh after %v", tt.wantEntryTTL)
			}
		})
	}
}

// TestServeStale: with the authorities failing, an expired entry is served
// with TTL 30 and EDE 3; without serve-stale the client gets SERVFAIL with
// an EDE; past the stale window it is SERVFAIL again.
func TestServeStale(t *testing.T) {
	in := startNet(t)
	tests := []struct {
		name       string
		serveStale time.Duration
		age        time.Duration
		wantStale  bool
	}{
		{"stale served", 0 /* default 1 day */, time.Minute, true},
		{"disabled", -1, time.Minute, false},
		{"past the window", time.Hour, 2 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := netConfig(t, in)
			cfg.ServeStale = tt.serveStale
			r, reg := newResolver(t, cfg)
			clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			r.now = clk.now
			addr := serve(t, r)
			q := query("short.example.com", dns.TypeA, true, 1232)
			if m := exchange(t, "udp", addr, q); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Fatalf("warm-up: %v", m)
			}
			clk.advance(tt.age)
			failExample(t, in, mininet.ServFail)

			m := exchange(t, "udp", addr, q)
			ede := edeOfReply(m)
			if !tt.wantStale {
				if m.Rcode != dns.RcodeServerFailure || ede == nil {
					t.Fatalf("want SERVFAIL with EDE, got %v", m)
				}
				return
			}
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Fatalf("want the stale answer, got %v", m)
			}
			if ttl := m.Answer[0].Header().Ttl; ttl != staleTTL {
				t.Errorf("stale TTL %d, want %d", ttl, staleTTL)
			}
			if ede == nil || ede.InfoCode != dns.ExtendedErrorCodeStaleAnswer {
				t.Errorf("EDE %v, want Stale Answer (3)", ede)
			}
			if got := r.CacheStats().StaleAnswers; got != 1 {
				t.Errorf("StaleAnswers = %d, want 1", got)
			}
			if got := counterValue(t, reg, "anycastd_cache_stale_answers_total", nil); got != 1 {
				t.Errorf("stale metric = %v, want 1", got)
			}
			// Without EDNS the answer is the same, without an OPT.
			if m := exchange(t, "udp", addr, query("short.example.com", dns.TypeA, false, 0)); m.IsEdns0() != nil || len(m.Answer) != 1 {
				t.Errorf("no-EDNS stale answer: %v", m)
			}
		})
	}
}

// TestStaleAnswerAfter: an authority slower than the client response timer
// gets the client the stale answer at once, and the resolution that goes on
// refreshes the cache.
func TestStaleAnswerAfter(t *testing.T) {
	in := startNet(t)
	cfg := netConfig(t, in)
	cfg.StaleAnswerAfter = 50 * time.Millisecond
	cfg.UpstreamTimeout = 2 * time.Second
	r, _ := newResolver(t, cfg)
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	r.now = clk.now
	q := question("short.example.com", dns.TypeA)
	if _, err := r.Resolve(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	clk.advance(10 * time.Second)
	for _, s := range []string{"ns1.example.com.", "ns2.example.com."} {
		in.SetLatency(s, 400*time.Millisecond)
		t.Cleanup(func() { in.SetLatency(s, 0) })
	}
	a, err := r.lookup(context.Background(), q)
	if err != nil || !a.stale {
		t.Fatalf("lookup = %+v, %v; want a stale answer", a, err)
	}
	waitFor(t, "the background refresh", func() bool {
		_, ok := r.cache.get(answerKey(q))
		return ok
	})
	if a, err := r.lookup(context.Background(), q); err != nil || a.stale || a.msg.Answer[0].Header().Ttl != 5 {
		t.Errorf("after refresh: %+v, %v", a, err)
	}
}

// TestPrefetch: a second hit in the last tenth of the TTL makes exactly one
// upstream query, and the name never misses after its original expiry.
func TestPrefetch(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	r.now = clk.now
	q := question("short.example.com", dns.TypeA) // TTL 5
	ask := func() {
		t.Helper()
		if _, err := r.Resolve(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	ask() // miss, cached for 5s
	clk.advance(time.Second)
	ask() // first hit: not due
	e0, _ := r.cache.c.GetIfPresent(answerKey(q))
	before := sum(in.Queries())
	clk.advance(3700 * time.Millisecond) // 0.3s left of 5s
	ask()                                // second hit, in the last 10%: prefetch
	waitFor(t, "the prefetch to replace the entry", func() bool {
		e, ok := r.cache.c.GetIfPresent(answerKey(q))
		return ok && e != e0
	})
	if n := sum(in.Queries()) - before; n != 1 {
		t.Errorf("prefetch made %d upstream queries, want 1", n)
	}
	ask() // another hit on the fresh entry: not due, nothing more
	misses := r.CacheStats().Misses
	clk.advance(2 * time.Second) // past the original expiry
	ask()
	st := r.CacheStats()
	if st.Misses != misses {
		t.Errorf("a miss after the prefetch (misses %d -> %d)", misses, st.Misses)
	}
	if st.Prefetches != 1 {
		t.Errorf("Prefetches = %d, want 1", st.Prefetches)
	}
	if n := sum(in.Queries()) - before; n != 1 {
		t.Errorf("%d upstream queries in all, want 1", n)
	}
}

// TestFlushCache removes one name, a subtree, and everything, and the
// stats follow.
func TestFlushCache(t *testing.T) {
	in := startNet(t)
	names := []dns.Question{
		question("www.example.com", dns.TypeA),
		question("www.example.com", dns.TypeTXT), // NODATA, cached too
		question("short.example.com", dns.TypeA),
		question("www.example.net", dns.TypeA),
	}
	fill := func(t *testing.T) *Resolver {
		r, _ := newResolver(t, netConfig(t, in))
		for _, q := range names {
			if _, err := r.Resolve(context.Background(), q); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	cached := func(r *Resolver, q dns.Question) bool { _, ok := r.cache.get(answerKey(q)); return ok }

	t.Run("name", func(t *testing.T) {
		r := fill(t)
		if n := r.FlushCache("WWW.example.com", false); n != 2 {
			t.Errorf("removed %d, want 2 (A and TXT)", n)
		}
		if cached(r, names[0]) || cached(r, names[1]) || !cached(r, names[2]) || !cached(r, names[3]) {
			t.Error("wrong entries removed")
		}
	})
	t.Run("delegation with the name", func(t *testing.T) {
		r := fill(t)
		if _, ok := r.cache.get(delegationKey("example.com.")); !ok {
			t.Fatal("no delegation cached for example.com")
		}
		r.FlushCache("example.com.", false)
		if _, ok := r.cache.get(delegationKey("example.com.")); ok {
			t.Error("delegation of example.com survived its flush")
		}
		if !cached(r, names[0]) {
			t.Error("flush without subtree removed www.example.com")
		}
	})
	t.Run("subtree", func(t *testing.T) {
		r := fill(t)
		r.FlushCache("example.com", true)
		for _, q := range names[:3] {
			if cached(r, q) {
				t.Errorf("%s survived the subtree flush", q.Name)
			}
		}
		if !cached(r, names[3]) {
			t.Error("www.example.net removed by a flush of example.com")
		}
		if _, ok := r.cache.get(delegationKey("com.")); !ok {
			t.Error("com. delegation removed by a flush below it")
		}
	})
	t.Run("all", func(t *testing.T) {
		r := fill(t)
		before := r.CacheStats()
		if before.Entries < len(names) || before.Bytes == 0 {
			t.Fatalf("stats before: %+v", before)
		}
		if n := r.FlushCache("", false); n != before.Entries {
			t.Errorf("removed %d, want %d", n, before.Entries)
		}
		if st := r.CacheStats(); st.Entries != 0 || st.Bytes != 0 {
			t.Errorf("stats after: %+v", st)
		}
	})
}

// TestCacheStats checks that hits, misses and the ratio move as questions
// come in.
func TestCacheStats(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	q := question("www.example.com", dns.TypeA)
	for range 4 {
		if _, err := r.Resolve(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	st := r.CacheStats()
	if st.Hits != 3 || st.Misses != 1 || st.HitRatio != 0.75 {
		t.Errorf("stats %+v, want 3 hits, 1 miss, ratio 0.75", st)
	}
	if st.Capacity != defaultCacheBytes || st.Entries == 0 {
		t.Errorf("capacity %d entries %d", st.Capacity, st.Entries)
	}
}

// TestCacheEvictionsCounted fills a small cache past its bound.
func TestCacheEvictionsCounted(t *testing.T) {
	c, err := newCache(cacheConfig{maxBytes: 64 << 10}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{string(make([]byte, 200))}}}
	for i := range 2000 {
		c.set(cacheKey{name: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String() + ".", qtype: dns.TypeTXT, qclass: 1}, m, time.Minute)
	}
	c.cleanUp()
	if c.stats().Evictions == 0 {
		t.Errorf("no evictions counted: %+v", c.stats())
	}
}
