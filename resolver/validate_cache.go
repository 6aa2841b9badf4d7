package resolver

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/anycastd/anycastd/resolver/dnssec"
)

// Bounds of the validation caches. They hold per-zone state, so they are
// small next to the answer cache; on overflow the oldest half goes, which
// costs at most a re-fetch of a DNSKEY or DS set.
const (
	maxKeyZones      = 20000
	maxDenialZones   = 20000
	maxDenialRecords = 128 // NSEC/NSEC3 records kept per zone
	bogusKeyTTL      = 60 * time.Second
)

// zoneKeys is what walking the chain of trust concluded about one zone:
// its validated DNSKEYs when Secure, the reason otherwise.
type zoneKeys struct {
	keys    []*dns.DNSKEY
	status  dnssec.Status
	err     error // *dnssec.Error for Bogus and informational Insecure
	expires time.Time
}

// keyCache holds zoneKeys per zone with their validation status, so the
// chain is walked once per zone and TTL, not once per query.
type keyCache struct {
	mu sync.Mutex // mu guards what follows
	m  map[string]zoneKeys
}

func newKeyCache() *keyCache { return &keyCache{m: map[string]zoneKeys{}} }

func (c *keyCache) get(zone string, now time.Time) (zoneKeys, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	zk, ok := c.m[zone]
	if !ok || !now.Before(zk.expires) {
		return zoneKeys{}, false
	}
	return zk, true
}

func (c *keyCache) set(zone string, zk zoneKeys) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxKeyZones {
		evictOldestHalf(c.m, func(z zoneKeys) time.Time { return z.expires })
	}
	c.m[zone] = zk
}

func (c *keyCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// evictOldestHalf drops the entries that expire soonest, half of them.
func evictOldestHalf[V any](m map[string]V, exp func(V) time.Time) {
	times := make([]time.Time, 0, len(m))
	for _, v := range m {
		times = append(times, exp(v))
	}
	// A partial selection would do; zones overflow rarely enough that a
	// sort of the times is fine.
	slices.SortFunc(times, time.Time.Compare)
	cut := times[len(times)/2]
	for k, v := range m {
		if !exp(v).After(cut) {
			delete(m, k)
		}
	}
}

// denialSet is the validated NSEC or NSEC3 records of one zone, with
// their RRSIGs and the zone's SOA, for aggressive negative caching (RFC
// 8198).
type denialSet struct {
	soa     []dns.RR            // SOA and its RRSIGs
	recs    map[string][]dns.RR // owner -> NSEC/NSEC3 and its RRSIGs
	expires map[string]time.Time
	updated time.Time
}

// denialStore keeps denialSets per zone; only Secure proofs go in.
type denialStore struct {
	mu    sync.Mutex // mu guards what follows
	zones map[string]*denialSet
}

func newDenialStore() *denialStore { return &denialStore{zones: map[string]*denialSet{}} }

// add stores the denial records (with their RRSIGs) and SOA of a Secure
// negative answer from zone, each until its TTL runs out.
func (s *denialStore) add(zone string, ns []dns.RR, now time.Time) {
	var soa []dns.RR
	byOwner := map[string][]dns.RR{}
	minTTL := uint32(0)
	for _, rr := range ns {
		h := rr.Header()
		t := h.Rrtype
		if sig, ok := rr.(*dns.RRSIG); ok {
			t = sig.TypeCovered
		}
		switch t {
		case dns.TypeSOA:
			soa = append(soa, rr)
			if h.Rrtype == dns.TypeSOA {
				minTTL = min(h.Ttl, rr.(*dns.SOA).Minttl)
			}
		case dns.TypeNSEC, dns.TypeNSEC3:
			o := strings.ToLower(h.Name)
			byOwner[o] = append(byOwner[o], rr)
		}
	}
	if len(soa) == 0 || len(byOwner) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.zones[zone]
	if d == nil {
		if len(s.zones) >= maxDenialZones {
			evictOldestHalf(s.zones, func(d *denialSet) time.Time { return d.updated })
		}
		d = &denialSet{recs: map[string][]dns.RR{}, expires: map[string]time.Time{}}
		s.zones[zone] = d
	}
	d.soa, d.updated = soa, now
	for o, rrs := range byOwner {
		if len(d.recs) >= maxDenialRecords {
			d.dropExpired(now)
			if len(d.recs) >= maxDenialRecords {
				break
			}
		}
		ttl := rrs[0].Header().Ttl
		if minTTL > 0 {
			ttl = min(ttl, minTTL) // RFC 8198 section 5.4: no longer than the SOA minimum
		}
		d.recs[o] = rrs
		d.expires[o] = now.Add(time.Duration(ttl) * time.Second)
	}
}

func (d *denialSet) dropExpired(now time.Time) {
	for o, e := range d.expires {
		if !now.Before(e) {
			delete(d.expires, o)
			delete(d.recs, o)
		}
	}
}

// closest returns the zone of the deepest denial set at or above name,
// with copies of its live records: the NSEC/NSEC3 records alone (for
// Synthesize), and every record by owner (to add the RRSIGs back), and
// the SOA with its signatures.
func (s *denialStore) closest(name string, now time.Time) (zone string, denial []dns.RR, byOwner map[string][]dns.RR, soa []dns.RR, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.zones) == 0 {
		return "", nil, nil, nil, false
	}
	for z := name; ; z = parentName(z) {
		if d := s.zones[z]; d != nil {
			d.dropExpired(now)
			if len(d.recs) == 0 {
				delete(s.zones, z)
			} else {
				byOwner = make(map[string][]dns.RR, len(d.recs))
				for o, rrs := range d.recs {
					byOwner[o] = rrs
					for _, rr := range rrs {
						if t := rr.Header().Rrtype; t == dns.TypeNSEC || t == dns.TypeNSEC3 {
							denial = append(denial, rr)
						}
					}
				}
				return z, denial, byOwner, d.soa, true
			}
		}
		if z == "." {
			return "", nil, nil, nil, false
		}
	}
}

func (s *denialStore) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.zones)
}
