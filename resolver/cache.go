package resolver

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
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
// stored (already clamped to ttl), and an answer served at time t has them
// lowered by t-stored. Keeping wire form is what lets a later fast path
// patch ID, question case and TTLs in place instead of building a message.
type entry struct {
	wire   []byte
	stored int64 // clock nanoseconds
	ttl    time.Duration

	// hits counts client answers served from this entry, so prefetch only
	// refreshes names someone asked for again.
	hits atomic.Uint32
	// refreshing is set while a prefetch replaces this entry. The
	// resolution path (get) then treats it as missing, so the refresh goes
	// upstream instead of finding this entry; clients (peek) still get it.
	refreshing atomic.Bool
	// fast is the answer packed for the UDP fast path (fast.go), built on
	// its first fast hit.
	fast atomic.Pointer[fastForm]
	// cut is a delegation entry parsed into the zone cut it describes,
	// built on first use: closestCut needs it for every resolution below
	// the zone, and unpacking the message each time was a tenth of the
	// cold path. Readers must not modify it.
	cut atomic.Pointer[nsSet]
}

// entryOverhead approximates the bytes an entry costs beyond its wire form
// and key name: the entry struct (64 bytes with its size class), otter's
// node (about 90) and hash table slot, and the size-class rounding of the
// wire and name allocations. Measured (TestCacheEntryHeap), not guessed:
// it was 128, which let a full cache hold a quarter more heap than
// cache_size said, and the process memory limit is derived from it.
const entryOverhead = 192

// staleTTL is the TTL of records in a stale answer: RFC 8767 section 4
// recommends 30 seconds.
const staleTTL = 30

// cacheConfig is the part of Config the cache needs.
type cacheConfig struct {
	maxBytes   int64
	minTTL     time.Duration
	serveStale time.Duration // 0: expired entries are dropped at once
}

// cache is the resolver's answer and delegation cache, bounded in bytes.
//
// It is "sharded" the way otter is: otter keeps entries in a concurrent
// hash table with per-bucket locks and records reads in striped buffers,
// so concurrent readers and writers of different keys do not contend on one
// lock. A hand-made set of shards around a mutex-guarded LRU would only add
// a worse eviction policy (otter uses W-TinyLFU, which keeps popular names
// under a scan of one-off names).
type cache struct {
	c   *otter.Cache[cacheKey, *entry]
	cfg cacheConfig
	now func() time.Time

	// Counters for CacheStats; the Prometheus counters are separate so
	// that a stats call need not gather a registry.
	hits, misses, stale, prefetches, evictions atomic.Uint64
}

// otterClock hands otter the resolver's clock and no ticks: with no ticks
// otter starts no clean-up goroutine of its own, and Run drives CleanUp
// instead, so that New starts nothing.
type otterClock struct{ now func() time.Time }

func (c otterClock) NowNano() int64                    { return c.now().UnixNano() }
func (otterClock) Tick(time.Duration) <-chan time.Time { return nil }

func newCache(cfg cacheConfig, now func() time.Time) (*cache, error) {
	c := &cache{cfg: cfg, now: now}
	var err error
	c.c, err = otter.New(&otter.Options[cacheKey, *entry]{
		MaximumWeight: uint64(cfg.maxBytes),
		Weigher: func(k cacheKey, e *entry) uint32 {
			return uint32(min(uint64(len(e.wire)+len(k.name)+entryOverhead), math.MaxUint32))
		},
		// otter drops an entry only once it is past serve-stale too; get
		// decides whether it is still fresh.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[cacheKey, *entry]) time.Duration {
			return e.Value.ttl + cfg.serveStale
		}),
		OnDeletion: func(e otter.DeletionEvent[cacheKey, *entry]) {
			if e.Cause == otter.CauseOverflow {
				c.evictions.Add(1)
			}
		},
		Clock: otterClock{now},
		// Maintenance runs on the goroutine that touched the cache: it is
		// cheap and keeps the byte bound tight without extra goroutines.
		Executor: func(fn func()) { fn() },
	})
	if err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	return c, nil
}

// set stores m for ttl, raised to the configured minimum. A ttl of zero
// means "not cacheable" (see ttlFor) and stores nothing. Every record TTL
// is clamped into [min_ttl, ttl], so a record never tells a client to keep
// it longer than we do (max_ttl, RFC 2308's negative TTL). m is not
// modified.
func (c *cache) set(k cacheKey, m *dns.Msg, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	ttl = max(ttl, c.cfg.minTTL)
	if ttl < time.Second {
		return // not worth caching
	}
	// A shallow copy is enough: Pack reads the records and changes none
	// of them for rcodes that fit the header (larger ones need the OPT
	// record stored entries leave out, and do not pack without it).
	if m.Rcode > 0xF {
		return
	}
	cp := *m
	cp.Id = 0
	cp.Extra = withoutOPT(m.Extra)
	wire, err := cp.Pack()
	if err != nil {
		return // a message we cannot pack we cannot serve either
	}
	if !clampTTLs(wire, uint32(c.cfg.minTTL/time.Second), uint32(ttl/time.Second)) {
		return
	}
	c.c.Set(k, &entry{wire: wire, stored: c.now().UnixNano(), ttl: ttl})
}

// get returns a fresh copy of the entry with TTLs lowered by its age, for
// the resolution path. An entry being refreshed by prefetch counts as
// missing here, so the refresh asks the authorities.
func (c *cache) get(k cacheKey) (*dns.Msg, bool) {
	e, ok := c.c.GetIfPresent(k)
	if !ok || e.refreshing.Load() {
		return nil, false
	}
	return c.fresh(e)
}

// delegation returns the fresh zone cut cached for zone, shared: the
// caller copies before changing it (fillAddrs does).
func (c *cache) delegation(zone string) (*nsSet, bool) {
	e, ok := c.c.GetIfPresent(delegationKey(zone))
	if !ok || e.refreshing.Load() || time.Duration(c.now().UnixNano()-e.stored) >= e.ttl {
		return nil, false
	}
	if ns := e.cut.Load(); ns != nil {
		return ns, true
	}
	m := new(dns.Msg)
	if err := m.Unpack(e.wire); err != nil {
		return nil, false
	}
	ns := nsSetFrom(zone, m)
	e.cut.Store(&ns)
	return &ns, true
}

// lookup is get for client questions: it counts hits and misses, and
// returns the entry so the caller can decide on a prefetch.
func (c *cache) lookup(k cacheKey) (*dns.Msg, *entry, bool) {
	e, ok := c.c.GetIfPresent(k)
	if ok {
		// CD marks an entry not validated (validate.go): not for clients.
		if m, ok := c.fresh(e); ok && !m.CheckingDisabled {
			c.hits.Add(1)
			return m, e, true
		}
	}
	c.misses.Add(1)
	return nil, nil, false
}

func (c *cache) fresh(e *entry) (*dns.Msg, bool) {
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

// getStale returns an expired entry still inside the serve-stale window,
// with every TTL set to staleTTL (RFC 8767 section 4). It does not count
// the answer as served: the caller does once it uses it.
func (c *cache) getStale(k cacheKey) (*dns.Msg, bool) {
	if c.cfg.serveStale <= 0 {
		return nil, false
	}
	e, ok := c.c.GetIfPresent(k)
	if !ok {
		return nil, false
	}
	age := time.Duration(c.now().UnixNano() - e.stored)
	if age < e.ttl || age >= e.ttl+c.cfg.serveStale {
		return nil, false
	}
	m := new(dns.Msg)
	if err := m.Unpack(e.wire); err != nil || m.CheckingDisabled {
		return nil, false
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			rr.Header().Ttl = staleTTL
		}
	}
	return m, true
}

// prefetchDue reports whether e, just served, should be refreshed now: it
// had been served before (a name asked for at least twice), it is in the
// last tenth of its TTL, and no refresh is running. It claims the refresh:
// of concurrent callers exactly one gets true.
func (c *cache) prefetchDue(e *entry) bool {
	if e.hits.Add(1) < 2 {
		return false
	}
	left := e.ttl - time.Duration(c.now().UnixNano()-e.stored)
	if left > e.ttl/10 {
		return false
	}
	return e.refreshing.CompareAndSwap(false, true)
}

// flush removes entries of every type and kind (answers and delegations)
// whose owner is name, or, with subtree, name or any name below it. An
// empty name removes everything. It returns how many entries went.
func (c *cache) flush(name string, subtree bool) int {
	if name == "" || (subtree && name == ".") {
		n := c.c.EstimatedSize()
		c.c.InvalidateAll()
		return n
	}
	name = dns.CanonicalName(name)
	suffix := "." + name
	var doomed []cacheKey
	// otter's key iterator is weakly consistent: keys added during the walk
	// may be missed, which is what a flush racing new answers means anyway.
	for k := range c.c.Keys() {
		if k.name == name || (subtree && strings.HasSuffix(k.name, suffix)) {
			doomed = append(doomed, k)
		}
	}
	removed := 0
	for _, k := range doomed {
		if _, ok := c.c.Invalidate(k); ok {
			removed++
		}
	}
	return removed
}

// bytes is the weight held now, comparable with Config.CacheBytes.
func (c *cache) bytes() uint64 { return c.c.WeightedSize() }

func (c *cache) cleanUp() { c.c.CleanUp() }

// CacheStats is a snapshot of the cache, for `anycastctl cache stats`.
type CacheStats struct {
	Entries      int     // entries held, expired-but-stale ones included
	Bytes        uint64  // weight held (see Config.CacheBytes)
	Capacity     uint64  // the bound, Config.CacheBytes
	Hits         uint64  // client questions answered from fresh entries
	Misses       uint64  // client questions that were not
	HitRatio     float64 // Hits / (Hits + Misses); 0 before any question
	StaleAnswers uint64  // answers served stale (RFC 8767)
	Prefetches   uint64  // refreshes started before expiry
	Evictions    uint64  // entries dropped to stay within Capacity
}

func (c *cache) stats() CacheStats {
	s := CacheStats{
		Entries:      c.c.EstimatedSize(),
		Bytes:        c.c.WeightedSize(),
		Capacity:     uint64(c.cfg.maxBytes),
		Hits:         c.hits.Load(),
		Misses:       c.misses.Load(),
		StaleAnswers: c.stale.Load(),
		Prefetches:   c.prefetches.Load(),
		Evictions:    c.evictions.Load(),
	}
	if t := s.Hits + s.Misses; t > 0 {
		s.HitRatio = float64(s.Hits) / float64(t)
	}
	return s
}

// withoutOPT returns rrs without OPT records: rrs itself when it has none,
// else a new slice (rrs is left as it was).
func withoutOPT(rrs []dns.RR) []dns.RR {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	if n == 0 {
		return rrs
	}
	out := make([]dns.RR, 0, len(rrs)-n)
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// clampTTLs sets every record TTL in the packed message wire into [lo, hi]
// in place. It reports false if wire does not parse as a message.
func clampTTLs(wire []byte, lo, hi uint32) bool {
	if len(wire) < 12 {
		return false
	}
	off := 12
	for range binary.BigEndian.Uint16(wire[4:]) {
		if off = skipName(wire, off); off < 0 || off+4 > len(wire) {
			return false
		}
		off += 4
	}
	records := int(binary.BigEndian.Uint16(wire[6:])) + int(binary.BigEndian.Uint16(wire[8:])) + int(binary.BigEndian.Uint16(wire[10:]))
	for range records {
		if off = skipName(wire, off); off < 0 || off+10 > len(wire) {
			return false
		}
		ttl := binary.BigEndian.Uint32(wire[off+4:])
		binary.BigEndian.PutUint32(wire[off+4:], min(max(ttl, lo), hi))
		off += 10 + int(binary.BigEndian.Uint16(wire[off+8:]))
	}
	return off == len(wire)
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
	if ttl == 0 {
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
