package resolver

import (
	"fmt"
	"math"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/miekg/dns"
)

// cacheKind separates answers from delegations that share a name and type:
// "example.com. NS" asked by a client is an answer from the zone itself,
// while the delegation is what the parent said and holds glue.
type cacheKind uint8

const (
	kindAnswer cacheKind = iota
	kindDelegation
)

// cacheKey names one cache entry. name is lowercase and fully qualified.
type cacheKey struct {
	name   string
	qtype  uint16
	qclass uint16
	kind   cacheKind
}

func answerKey(q dns.Question) cacheKey {
	return cacheKey{name: q.Name, qtype: q.Qtype, qclass: q.Qclass, kind: kindAnswer}
}

func delegationKey(zone string) cacheKey {
	return cacheKey{name: zone, qtype: dns.TypeNS, qclass: dns.ClassINET, kind: kindDelegation}
}

// entry is one cached message in wire form (ID 0, no OPT) plus the TTL
// bookkeeping needed to serve it later: the TTLs inside wire are those at
// stored, and an answer served at time t has them lowered by t-stored.
// Keeping wire form is what lets a later fast path patch ID, question case
// and TTLs in place instead of building a message.
type entry struct {
	wire   []byte
	stored int64 // clock nanoseconds
	ttl    time.Duration
}

// entryOverhead approximates the bytes an entry costs beyond its wire form
// and key name: the entry and key structs and otter's node.
const entryOverhead = 128

// cache is the resolver's answer and delegation cache, bounded in bytes.
type cache struct {
	c   *otter.Cache[cacheKey, *entry]
	now func() time.Time
}

// otterClock hands otter the resolver's clock and no ticks: with no ticks
// otter starts no clean-up goroutine of its own, and Run drives CleanUp
// instead, so that New starts nothing.
type otterClock struct{ now func() time.Time }

func (c otterClock) NowNano() int64                    { return c.now().UnixNano() }
func (otterClock) Tick(time.Duration) <-chan time.Time { return nil }

func newCache(maxBytes int64, now func() time.Time) (*cache, error) {
	c, err := otter.New(&otter.Options[cacheKey, *entry]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(k cacheKey, e *entry) uint32 {
			return uint32(min(len(e.wire)+len(k.name)+entryOverhead, math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[cacheKey, *entry]) time.Duration {
			return e.Value.ttl
		}),
		Clock: otterClock{now},
		// Maintenance runs on the goroutine that touched the cache: it is
		// cheap and keeps the byte bound tight without extra goroutines.
		Executor: func(fn func()) { fn() },
	})
	if err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	return &cache{c: c, now: now}, nil
}

// set stores m for ttl. m is not modified. A ttl under one second is not
// worth caching.
func (c *cache) set(k cacheKey, m *dns.Msg, ttl time.Duration) {
	if ttl < time.Second {
		return
	}
	cp := m.Copy()
	cp.Id = 0
	cp.Extra = stripOPT(cp.Extra)
	wire, err := cp.Pack()
	if err != nil {
		return // a message we cannot pack we cannot serve either
	}
	c.c.Set(k, &entry{wire: wire, stored: c.now().UnixNano(), ttl: ttl})
}

// get returns a fresh copy of the entry with TTLs lowered by its age.
func (c *cache) get(k cacheKey) (*dns.Msg, bool) {
	e, ok := c.c.GetIfPresent(k)
	if !ok {
		return nil, false
	}
	age := time.Duration(c.now().UnixNano() - e.stored)
	if age >= e.ttl {
		return nil, false
	}
	m := new(dns.Msg)
	if err := m.Unpack(e.wire); err != nil {
		return nil, false
	}
	ageSec := uint32(age / time.Second)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Ttl > ageSec {
				h.Ttl -= ageSec
			} else {
				h.Ttl = 0
			}
		}
	}
	return m, true
}

// bytes is the weight held now, comparable with Config.CacheBytes.
func (c *cache) bytes() uint64 { return c.c.WeightedSize() }

func (c *cache) cleanUp() { c.c.CleanUp() }

func stripOPT(rrs []dns.RR) []dns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// ttlFor returns how long m may be cached: the smallest TTL of its answer
// records and, for a negative answer, min(SOA TTL, SOA MINIMUM) (RFC 2308
// section 5), each capped. Zero means do not cache.
func ttlFor(m *dns.Msg, maxTTL, maxNeg time.Duration) time.Duration {
	ttl := uint32(math.MaxUint32)
	for _, rr := range m.Answer {
		ttl = min(ttl, rr.Header().Ttl)
	}
	limit := maxTTL
	soa := findSOA(m.Ns)
	switch {
	case m.Rcode == dns.RcodeNameError || soa != nil:
		// Negative, possibly at the end of a CNAME chain. We only keep an
		// SOA in the authority section of negative answers.
		if soa == nil {
			return 0 // RFC 2308 section 5: no SOA, no negative caching
		}
		limit = maxNeg
		ttl = min(ttl, soa.Hdr.Ttl, soa.Minttl)
	case m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0:
		return 0
	}
	return min(time.Duration(ttl)*time.Second, limit)
}

func findSOA(rrs []dns.RR) *dns.SOA {
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}
