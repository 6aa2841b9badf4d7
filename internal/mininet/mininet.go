// Package mininet is a small, self-contained internet of authoritative DNS
// servers: a root zone, the TLDs com., net., org., lab., evil. and test.,
// and a handful of leaf zones that exercise what a recursive resolver must
// handle (referrals with and without glue, CNAME chains across zones,
// negative answers, truncation, lame and dead servers, a health canary).
// Most zones are DNSSEC-signed at start-up with a chain of trust from
// TrustAnchor, and test. holds zones broken on purpose for validators.
//
// The resolver's tests run it on 127.0.0.x addresses with a high port; the lab
// runs it in a network namespace on 198.51.100.0/24 and 2001:db8:100::/64,
// port 53. The zone data lives in zones.go and is documented in
// docs/mininet.md.
package mininet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Config says where the servers listen.
type Config struct {
	// Prefix4: servers get addresses Prefix4.Addr()+1, +2, ... in the order
	// of docs/mininet.md (127.0.53.0/24 in tests, 198.51.100.0/24 in the lab).
	Prefix4 netip.Prefix
	// Prefix6 is optional (zero = no IPv6): same host numbering, and AAAA
	// glue is published when set.
	Prefix6 netip.Prefix
	// Port is the same on every server address (53 in the lab). Zero makes
	// Start pick a random high port that is free on every address; Port()
	// reports it.
	Port uint16
	// Latency is added before every answer (the lab kernel has no tc netem).
	Latency time.Duration
	// MaxUDPSize caps the EDNS buffer size the servers honour and advertise;
	// zero means 1232, the DNS flag day 2020 value NSD and BIND use.
	MaxUDPSize uint16
}

// defaultMaxUDPSize avoids IP fragmentation on any sane path (DNS flag day 2020).
const defaultMaxUDPSize = 1232

// Server describes one authoritative server of the mini internet.
type Server struct {
	Name  string       // host name, e.g. "a.root-servers.net."
	Addrs []netip.Addr // IPv4, then IPv6 if configured
	Zones []string     // origins served; empty for a dead server
	// Bound is false for servers that have an address and glue but no
	// listener (ns.dead.com.), so resolvers meet an unresponsive server,
	// and for IPv6-only servers when Config.Prefix6 is not set.
	Bound bool
	// Behaviour is how the server bends the protocol (Normal for most).
	Behaviour Behaviour
}

// Internet is the set of servers. Build it with New, then Start and Close.
type Internet struct {
	cfg     Config
	log     *slog.Logger
	servers []*server // bound servers only, in table order
	all     []Server  // every server, including unbound ones
	done    chan struct{}
	hook    atomic.Pointer[func(Query)] // SetQueryHook
	anchor  []dns.RR                    // DS of the root KSK

	// mu guards what follows.
	mu        sync.Mutex
	port      uint16
	started   bool
	closed    bool
	dnsServer []*dns.Server
	wg        sync.WaitGroup
}

// server is one bound authoritative server: its zones and its query counter.
type server struct {
	name    string
	addrs   []netip.Addr
	zones   []*zone // longest origin first, so the closest enclosing zone wins
	queries atomic.Uint64
	fault   atomic.Uint32 // a Fault
	latency atomic.Int64  // a time.Duration, on top of Config.Latency
	behave  Behaviour     // fixed in the servers table
}

// Addrs returns every address the servers bind, so scripts can add them to an
// interface first. Unbound (dead) servers are not included.
func Addrs(cfg Config) []netip.Addr {
	var out []netip.Addr
	for i, s := range servers {
		if s.unbound {
			continue
		}
		out = append(out, hostAddrsFor(cfg, i+1, s.v6only)...)
	}
	return out
}

// hostAddrsFor returns the addresses of host number n: IPv4 (unless
// v6only), then IPv6.
func hostAddrsFor(cfg Config, n int, v6only bool) []netip.Addr {
	var addrs []netip.Addr
	if !v6only {
		addrs = append(addrs, addHost(cfg.Prefix4.Masked().Addr(), n))
	}
	if cfg.Prefix6.IsValid() {
		addrs = append(addrs, addHost(cfg.Prefix6.Masked().Addr(), n))
	}
	return addrs
}

// addHost adds n to the address, as a big-endian integer.
func addHost(a netip.Addr, n int) netip.Addr {
	b := a.As16()
	carry := n
	for i := 15; i >= 0 && carry > 0; i-- {
		sum := int(b[i]) + carry
		b[i] = byte(sum)
		carry = sum >> 8
	}
	out := netip.AddrFrom16(b)
	if a.Is4() {
		return out.Unmap()
	}
	return out
}

// New builds the zones and checks the config. It starts nothing.
func New(cfg Config, log *slog.Logger) (*Internet, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Internet{cfg: cfg, log: log, done: make(chan struct{})}

	var hosts []hostAddrs
	for i, s := range servers {
		addrs := hostAddrsFor(cfg, i+1, s.v6only)
		hosts = append(hosts, hostAddrs{name: s.name, addrs: addrs})
		in.all = append(in.all, Server{Name: s.name, Addrs: addrs, Zones: s.zones,
			Bound: !s.unbound && len(addrs) > 0, Behaviour: s.behaviour})
	}

	zones, anchor, err := cachedZones(cfg, hosts)
	if err != nil {
		return nil, fmt.Errorf("new mininet: %w", err)
	}
	in.anchor = anchor

	for i, s := range servers {
		if !in.all[i].Bound {
			continue
		}
		srv := &server{name: s.name, addrs: in.all[i].Addrs, behave: s.behaviour}
		srv.latency.Store(int64(s.latency))
		for _, origin := range s.zones {
			z, ok := zones[origin]
			if !ok {
				return nil, fmt.Errorf("new mininet: server %s serves unknown zone %s", s.name, origin)
			}
			srv.zones = append(srv.zones, z)
		}
		// Closest enclosing zone first.
		slices.SortFunc(srv.zones, func(a, b *zone) int {
			return dns.CountLabel(b.origin) - dns.CountLabel(a.origin)
		})
		in.servers = append(in.servers, srv)
	}
	return in, nil
}

// validate checks that the prefixes exist, have the right family and hold
// every host number.
func validate(cfg Config) error {
	var errs []error
	// Host numbers run 1..len(servers); keep clear of the broadcast address.
	fits := func(p netip.Prefix) bool {
		hostBits := p.Addr().BitLen() - p.Bits()
		return hostBits >= 16 || 1<<hostBits > len(servers)+1
	}
	switch {
	case !cfg.Prefix4.IsValid() || !cfg.Prefix4.Addr().Is4():
		errs = append(errs, fmt.Errorf("prefix4 %v: want an IPv4 prefix", cfg.Prefix4))
	case !fits(cfg.Prefix4):
		errs = append(errs, fmt.Errorf("prefix4 %v: too small for %d servers", cfg.Prefix4, len(servers)))
	}
	switch {
	case !cfg.Prefix6.IsValid():
		// no IPv6
	case !cfg.Prefix6.Addr().Is6() || cfg.Prefix6.Addr().Is4In6():
		errs = append(errs, fmt.Errorf("prefix6 %v: want an IPv6 prefix", cfg.Prefix6))
	case !fits(cfg.Prefix6):
		errs = append(errs, fmt.Errorf("prefix6 %v: too small for %d servers", cfg.Prefix6, len(servers)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("new mininet: %w", err)
	}
	return nil
}

// Servers describes every server, in host-number order.
func (in *Internet) Servers() []Server {
	out := make([]Server, len(in.all))
	for i, s := range in.all {
		s.Addrs = append([]netip.Addr(nil), s.Addrs...)
		s.Zones = append([]string(nil), s.Zones...)
		out[i] = s
	}
	return out
}

// Port returns the port the servers listen on: Config.Port, or the one Start
// picked when that was zero (0 before Start).
func (in *Internet) Port() uint16 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.port
}

// RootHints returns the root servers in named.root format: NS records for
// ".", then A (and AAAA) records for each root server.
func (in *Internet) RootHints() string {
	var b strings.Builder
	b.WriteString("; root hints of the mini internet (internal/mininet); not the real root servers\n")
	var roots []Server
	for _, s := range in.all {
		if len(s.Zones) > 0 && s.Zones[0] == "." {
			roots = append(roots, s)
		}
	}
	for _, s := range roots {
		fmt.Fprintf(&b, ".\t3600000\tIN\tNS\t%s\n", s.Name)
	}
	for _, s := range roots {
		for _, a := range s.Addrs {
			t := "A"
			if a.Is6() {
				t = "AAAA"
			}
			fmt.Fprintf(&b, "%s\t3600000\tIN\t%s\t%s\n", s.Name, t, a)
		}
	}
	return b.String()
}

// Queries returns, per server name, the queries received since start or the
// last ResetQueries, so tests can count upstream work.
func (in *Internet) Queries() map[string]uint64 {
	out := make(map[string]uint64, len(in.servers))
	for _, s := range in.servers {
		out[s.name] = s.queries.Load()
	}
	return out
}

// ResetQueries sets every query counter to zero.
func (in *Internet) ResetQueries() {
	for _, s := range in.servers {
		s.queries.Store(0)
	}
}

// TrustAnchor returns the DS records of the mini root's key-signing key in
// zone-file syntax, for resolver.trust_anchor, Unbound's trust-anchor-file
// and dnssec.ParseAnchors. The keys are derived, not random, so the anchor
// is the same on every run.
func (in *Internet) TrustAnchor() string {
	var b strings.Builder
	b.WriteString("; trust anchor of the mini internet (internal/mininet); not the real root\n")
	for _, rr := range in.anchor {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// zoneCache holds the zones built per address plan. Signing costs tens of
// milliseconds (RSA), tests build a mini internet dozens of times, and
// zones are immutable once built, so instances share them. Entries are
// rebuilt after a day, long before their signatures (sigExpiration) run out.
var zoneCache struct {
	mu      sync.Mutex // guards what follows
	entries map[[2]netip.Prefix]zoneCacheEntry
}

type zoneCacheEntry struct {
	zones  map[string]*zone
	anchor []dns.RR
	built  time.Time
}

const zoneCacheMaxAge = 24 * time.Hour

// cachedZones returns the zones for cfg's addresses, built now or shared
// with an earlier New.
func cachedZones(cfg Config, hosts []hostAddrs) (map[string]*zone, []dns.RR, error) {
	key := [2]netip.Prefix{cfg.Prefix4, cfg.Prefix6}
	zoneCache.mu.Lock()
	defer zoneCache.mu.Unlock()
	if e, ok := zoneCache.entries[key]; ok && time.Since(e.built) < zoneCacheMaxAge {
		return e.zones, e.anchor, nil
	}
	now := time.Now()
	zones, anchor, err := buildZones(hosts, now)
	if err != nil {
		return nil, nil, err
	}
	if zoneCache.entries == nil {
		zoneCache.entries = map[[2]netip.Prefix]zoneCacheEntry{}
	}
	zoneCache.entries[key] = zoneCacheEntry{zones: zones, anchor: anchor, built: now}
	return zones, anchor, nil
}

// buildZones parses every zone, adds the server addresses, the keys and
// the DS of signed children, indexes and signs. now sets the signatures'
// validity.
func buildZones(hosts []hostAddrs, now time.Time) (map[string]*zone, []dns.RR, error) {
	var anchor []dns.RR
	specs := slices.Clone(slices.Concat(zoneTexts, moreZones))
	for _, origin := range brokenZones {
		specs = append(specs, zoneSpec{origin: origin, text: brokenZoneText(origin)})
	}
	records := map[string][]dns.RR{}
	for _, spec := range specs {
		rrs, err := parseZone(spec.origin, spec.text)
		if err != nil {
			return nil, nil, err
		}
		records[spec.origin] = withAddresses(spec.origin, rrs, hosts)
	}
	// Keys first, so every parent holds its children's DS before it is
	// signed; the DNSKEY RRset is zone data like any other.
	signers := map[string]*zoneSigner{}
	var keys keyGen
	for _, spec := range specs {
		sg, ok := signed[spec.origin]
		if !ok {
			continue
		}
		zs, err := newZoneSigner(&keys, spec.origin, sg)
		if err != nil {
			return nil, nil, err
		}
		signers[spec.origin] = zs
		records[spec.origin] = append(records[spec.origin], zs.dnskeys...)
		if spec.origin == "." {
			anchor = zs.ds
			continue
		}
		p := parent(spec.origin)
		if _, ok := records[p]; !ok {
			return nil, nil, fmt.Errorf("signed zone %s has no parent zone %s", spec.origin, p)
		}
		records[p] = append(records[p], zs.ds...)
	}
	zones := map[string]*zone{}
	for _, spec := range specs {
		z, err := newZone(spec.origin, records[spec.origin])
		if err != nil {
			return nil, nil, err
		}
		if z.junk, err = parseZone(".", zoneJunk[spec.origin]); err != nil {
			return nil, nil, fmt.Errorf("junk of %s: %w", spec.origin, err)
		}
		if zs := signers[spec.origin]; zs != nil {
			if err := zs.sign(z, now); err != nil {
				return nil, nil, err
			}
		}
		zones[z.origin] = z
	}

	return zones, anchor, nil
}
