package resolver

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Server health, after Unbound's infra cache: what the resolver has learnt
// about each authoritative server address, used to pick whom to ask next.
const (
	minServerTimeout = 50 * time.Millisecond
	// unknownRTT ranks a server never measured: Unbound's 376ms, so a
	// measured fast server is preferred and a slow one is not.
	unknownRTT = 376 * time.Millisecond
	// exploreOneIn: about 8% of selections put a random other server first,
	// so a server that got faster (or was unlucky once) is measured again.
	exploreOneIn = 12
	// A server that timed out is asked only when no other server is left,
	// for backoffBase doubling per consecutive timeout up to backoffMax.
	backoffBase = 2 * time.Second
	backoffMax  = 2 * time.Minute
	// lameTTL: how long a server stays lame for a zone (Unbound infra-lame-ttl).
	lameTTL = 15 * time.Minute
	// quirkTTL: how long "no EDNS" or "no 0x20" is remembered for a server.
	quirkTTL = 15 * time.Minute
	// maxServers bounds both maps; beyond it an arbitrary entry is evicted,
	// which is enough to keep memory flat under a flood of distinct servers.
	maxServers = 10000
)

// serverInfo is what is known about one server address.
type serverInfo struct {
	srtt, rttvar time.Duration // smoothed RTT and its variance; srtt 0: unmeasured
	timeouts     int           // consecutive timeouts
	backoffUntil time.Time     // asked only as a last resort before this
	noEDNSUntil  time.Time     // answers only without EDNS until this
	no0x20Until  time.Time     // does not echo the query name's case until this
	ednsOK       bool          // has answered a query with EDNS at least once
}

type lameKey struct {
	addr netip.Addr
	zone string
}

// infra tracks server RTTs, timeouts, lameness and quirks.
type infra struct {
	now        func() time.Time
	maxTimeout time.Duration
	exploreOne int // 1 in exploreOne orders starts with a random server; 0: never (tests)

	// mu guards what follows.
	mu      sync.Mutex
	servers map[netip.Addr]*serverInfo
	lame    map[lameKey]time.Time // until
	rnd     *rand.Rand
}

func newInfra(now func() time.Time, maxTimeout time.Duration) *infra {
	return &infra{
		now:        now,
		maxTimeout: maxTimeout,
		exploreOne: exploreOneIn,
		servers:    map[netip.Addr]*serverInfo{},
		lame:       map[lameKey]time.Time{},
		rnd:        rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// getLocked returns the entry for a, creating it (and evicting another if
// the map is full) when create is set.
func (in *infra) getLocked(a netip.Addr, create bool) *serverInfo {
	s := in.servers[a]
	if s == nil && create {
		if len(in.servers) >= maxServers {
			for k := range in.servers {
				delete(in.servers, k)
				break
			}
		}
		s = &serverInfo{}
		in.servers[a] = s
	}
	return s
}

// timeout is how long to wait for a, like Unbound's RTO: srtt+4*rttvar,
// clamped to [minServerTimeout, maxTimeout]; the maximum while unmeasured.
func (in *infra) timeout(a netip.Addr) time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.getLocked(a, false)
	if s == nil || s.srtt == 0 {
		return in.maxTimeout
	}
	return min(max(s.srtt+4*s.rttvar, minServerTimeout), in.maxTimeout)
}

// retryTimeout is the timeout of the attempt-th round: doubled each round,
// at most maxTimeout.
func (in *infra) retryTimeout(a netip.Addr, attempt int) time.Duration {
	t := in.timeout(a)
	for range attempt {
		t *= 2
	}
	return min(t, in.maxTimeout)
}

// measured keeps the addresses that have answered before.
func (in *infra) measured(addrs []netip.Addr) []netip.Addr {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []netip.Addr
	for _, a := range addrs {
		if s := in.getLocked(a, false); s != nil && s.srtt > 0 {
			out = append(out, a)
		}
	}
	return out
}

// observe records an answer from a after rtt (RFC 6298 smoothing).
func (in *infra) observe(a netip.Addr, rtt time.Duration, edns bool) {
	rtt = max(rtt, time.Millisecond)
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.getLocked(a, true)
	if s.srtt == 0 {
		s.srtt, s.rttvar = rtt, rtt/2
	} else {
		d := s.srtt - rtt
		if d < 0 {
			d = -d
		}
		s.rttvar = (3*s.rttvar + d) / 4
		s.srtt = (7*s.srtt + rtt) / 8
	}
	s.timeouts = 0
	s.backoffUntil = time.Time{}
	if edns {
		s.ednsOK = true
	}
}

// timedOut records that a did not answer in time: it is backed off.
func (in *infra) timedOut(a netip.Addr) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.getLocked(a, true)
	s.timeouts++
	d := backoffMax
	if s.timeouts <= 10 {
		d = min(backoffBase<<(s.timeouts-1), backoffMax)
	}
	s.backoffUntil = in.now().Add(d)
}

// markLame remembers that a is not a working server for zone.
func (in *infra) markLame(a netip.Addr, zone string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.lame) >= maxServers {
		for k := range in.lame {
			delete(in.lame, k)
			break
		}
	}
	in.lame[lameKey{a, zone}] = in.now().Add(lameTTL)
}

func (in *infra) isLameLocked(a netip.Addr, zone string, now time.Time) bool {
	until, ok := in.lame[lameKey{a, zone}]
	if ok && !now.Before(until) {
		delete(in.lame, lameKey{a, zone})
		return false
	}
	return ok
}

// quirks says how to talk to a: without EDNS, without 0x20.
func (in *infra) quirks(a netip.Addr) (noEDNS, no0x20, ednsOK bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.getLocked(a, false)
	if s == nil {
		return false, false, false
	}
	now := in.now()
	return now.Before(s.noEDNSUntil), now.Before(s.no0x20Until), s.ednsOK
}

func (in *infra) setNoEDNS(a netip.Addr) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.getLocked(a, true).noEDNSUntil = in.now().Add(quirkTTL)
}

func (in *infra) setNo0x20(a netip.Addr) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.getLocked(a, true).no0x20Until = in.now().Add(quirkTTL)
}

// order returns the servers of zone to ask, best first: those lame for
// zone and those of a disabled address family are left out; backed-off
// servers come last (a last resort, which also probes them); the rest by
// smoothed RTT, ties in random order, and with probability 1/exploreOneIn
// a random one of them first.
func (in *infra) order(addrs []netip.Addr, zone string, no4, no6 bool) []netip.Addr {
	type cand struct {
		a       netip.Addr
		rtt     time.Duration
		backoff time.Time
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	now := in.now()
	// live has room for backed too: they are joined at the end.
	live, backed := make([]cand, 0, len(addrs)), []cand(nil)
	// A zone has a handful of addresses: scanning for duplicates costs less
	// than a map on every upstream query. A delegation with very many gets
	// the map, so it cannot make the scan quadratic.
	var seen map[netip.Addr]bool
	if len(addrs) > 32 {
		seen = make(map[netip.Addr]bool, len(addrs))
	}
	for i, a := range addrs {
		dup := seen[a]
		if seen == nil {
			dup = slices.Contains(addrs[:i], a)
		}
		if dup || (no4 && a.Is4()) || (no6 && !a.Is4()) || in.isLameLocked(a, zone, now) {
			continue
		}
		if seen != nil {
			seen[a] = true
		}
		c := cand{a: a, rtt: unknownRTT}
		if s := in.getLocked(a, false); s != nil {
			if s.srtt > 0 {
				c.rtt = s.srtt
			}
			if now.Before(s.backoffUntil) {
				c.backoff = s.backoffUntil
				backed = append(backed, c)
				continue
			}
		}
		live = append(live, c)
	}
	in.rnd.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	slices.SortStableFunc(live, func(x, y cand) int { return cmp.Compare(x.rtt, y.rtt) })
	if len(live) > 1 && in.exploreOne > 0 && in.rnd.IntN(in.exploreOne) == 0 {
		i := 1 + in.rnd.IntN(len(live)-1)
		live[0], live[i] = live[i], live[0]
	}
	slices.SortFunc(backed, func(x, y cand) int { return x.backoff.Compare(y.backoff) })
	out := make([]netip.Addr, 0, len(live)+len(backed))
	for _, c := range append(live, backed...) {
		out = append(out, c.a)
	}
	return out
}
