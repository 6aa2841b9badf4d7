package resolver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeClock is the resolver's injected clock in tests.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestCacheTTL checks expiry and TTL decrement of positive and negative
// entries against the zone data: short.example.com has TTL 5, and the
// example.com SOA gives a negative TTL of min(3600, 60) = 60.
func TestCacheTTL(t *testing.T) {
	in := startNet(t)
	tests := []struct {
		name string
		q    dns.Question
		ttl  time.Duration
	}{
		{"positive, TTL 5", question("short.example.com", dns.TypeA), 5 * time.Second},
		{"NXDOMAIN, SOA minimum 60", question("nope.example.com", dns.TypeA), 60 * time.Second},
		{"NODATA, SOA minimum 60", question("www.example.com", dns.TypeSRV), 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			r, _ := newResolver(t, netConfig(t, in))
			r.now = clk.now
			ask := func() (*dns.Msg, uint64) {
				before := sum(in.Queries())
				m, err := r.Resolve(context.Background(), tt.q)
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				return m, sum(in.Queries()) - before
			}
			if _, n := ask(); n == 0 {
				t.Fatal("first Resolve made no upstream query")
			}
			clk.advance(tt.ttl - 2*time.Second)
			m, n := ask()
			if n != 0 {
				t.Errorf("before expiry: %d upstream queries, want 0", n)
			}
			var rr dns.RR
			if len(m.Answer) > 0 {
				rr = m.Answer[0]
			} else {
				rr = findSOA(m.Ns)
			}
			if rr == nil || rr.Header().Ttl != 2 {
				t.Errorf("served TTL of %v, want 2", rr)
			}
			clk.advance(2 * time.Second)
			if _, n := ask(); n == 0 {
				t.Error("after expiry: no upstream query")
			}
		})
	}
}

// TestCacheBoundInBytes fills a small cache with many negative answers and
// checks the weight stays under CacheBytes.
func TestCacheBoundInBytes(t *testing.T) {
	in := startNet(t)
	cfg := netConfig(t, in)
	const limit = 8 << 10
	cfg.CacheBytes = limit
	r, reg := newResolver(t, cfg)
	for i := range 200 {
		if _, err := r.Resolve(context.Background(), question(fmt.Sprintf("nope-%d.example.com", i), dns.TypeA)); err != nil {
			t.Fatal(err)
		}
	}
	r.cache.cleanUp()
	got := r.cache.bytes()
	if got == 0 || got > limit {
		t.Errorf("cache holds %d bytes, want 0 < n <= %d", got, limit)
	}
	if g := counterValue(t, reg, "anycastd_cache_bytes", nil); g != float64(got) {
		t.Errorf("anycastd_cache_bytes = %v, want %d", g, got)
	}
	if n := r.cache.c.EstimatedSize(); n >= 200 {
		t.Errorf("cache kept %d entries: nothing was evicted", n)
	}
}

func TestCacheWeighsBytes(t *testing.T) {
	c, err := newCache(cacheConfig{maxBytes: 1 << 20}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	small := new(dns.Msg)
	small.Answer = []dns.RR{mustRR(t, "a.example. 60 IN A 192.0.2.1")}
	big := new(dns.Msg)
	for i := range 20 {
		big.Answer = append(big.Answer, mustRR(t, fmt.Sprintf("b.example. 60 IN TXT \"%0200d\"", i)))
	}
	c.set(answerKey(question("a.example", dns.TypeA)), small, time.Minute)
	c.cleanUp()
	w1 := c.bytes()
	c.set(answerKey(question("b.example", dns.TypeTXT)), big, time.Minute)
	c.cleanUp()
	w2 := c.bytes() - w1
	if w1 < entryOverhead || w2 < 20*200 {
		t.Errorf("weights %d (one A) and %d (4 KB of TXT): not counted in bytes", w1, w2)
	}
}

func TestTTLFor(t *testing.T) {
	soa := func(ttl, minimum uint32) dns.RR {
		return mustRR(t, fmt.Sprintf("example. %d IN SOA ns. host. 1 2 3 4 %d", ttl, minimum))
	}
	a := func(ttl uint32) dns.RR { return mustRR(t, fmt.Sprintf("x.example. %d IN A 192.0.2.1", ttl)) }
	msg := func(rcode int, ans []dns.RR, ns []dns.RR) *dns.Msg {
		return &dns.Msg{MsgHdr: dns.MsgHdr{Rcode: rcode}, Answer: ans, Ns: ns}
	}
	tests := []struct {
		name string
		m    *dns.Msg
		want time.Duration
	}{
		{"smallest answer TTL", msg(dns.RcodeSuccess, []dns.RR{a(300), a(100)}, nil), 100 * time.Second},
		{"capped by MaxTTL", msg(dns.RcodeSuccess, []dns.RR{a(999999)}, nil), time.Hour},
		{"NXDOMAIN uses SOA minimum", msg(dns.RcodeNameError, nil, []dns.RR{soa(3600, 60)}), time.Minute},
		{"NXDOMAIN uses SOA TTL when smaller", msg(dns.RcodeNameError, nil, []dns.RR{soa(30, 600)}), 30 * time.Second},
		{"negative capped by MaxNegativeTTL", msg(dns.RcodeNameError, nil, []dns.RR{soa(86400, 86400)}), 10 * time.Minute},
		{"NXDOMAIN without SOA not cached", msg(dns.RcodeNameError, nil, nil), 0},
		{"NODATA without SOA not cached", msg(dns.RcodeSuccess, nil, nil), 0},
		{"NODATA after CNAME takes the smaller", msg(dns.RcodeSuccess, []dns.RR{a(20)}, []dns.RR{soa(3600, 60)}), 20 * time.Second},
		{"SERVFAIL not cached", msg(dns.RcodeServerFailure, []dns.RR{a(60)}, nil), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ttlFor(tt.m, time.Hour, 10*time.Minute); got != tt.want {
				t.Errorf("ttlFor = %v, want %v", got, tt.want)
			}
		})
	}
}
