package bgp

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Defaults chosen so that a dead node disappears from its upstream within
// seconds (hold 9 s) without flapping on a single lost keepalive.
const (
	DefaultHoldTime  = 9 * time.Second
	DefaultKeepalive = 3 * time.Second
	DefaultPort      = 179

	// connectRetry and idleHold bring a session back within 2 s of a
	// reset (GoBGP's defaults: 120 s and 5 s, about 7 s in all). After a
	// reset GoBGP idles for idleHold, tries the first connect after a
	// random 0-0.5 s (third_party/gobgp AP-04), then every 1-2x
	// connectRetry with a dial timeout of max(connectRetry-1s, 1s). A
	// router that keeps sending bad input is bounded by the fault policy
	// (faults.go), not by slow reconnects.
	connectRetry = 1 * time.Second
	idleHold     = 1 * time.Second

	// maxPrepend bounds Route.Prepend: more copies than this only make
	// the path look broken to other networks and do not de-prefer further.
	maxPrepend = 16
)

// Config is the speaker's static configuration.
type Config struct {
	ASN      uint32
	RouterID netip.Addr // must be IPv4: the BGP identifier is 32 bits
	// ListenPort is the TCP port to accept sessions on. Zero or negative
	// means do not listen and only connect out, which is what an embedded
	// speaker wants: it never fights another daemon for port 179.
	ListenPort int32
	Peers      []Peer
	// APIListen, when set, serves GoBGP's gRPC API on this address so the
	// standard `gobgp` CLI can inspect the embedded speaker
	// (`gobgp -u 127.0.0.1 -p 50051 neighbor`). It must be a loopback
	// IP and port ("127.0.0.1:50051", "[::1]:50051"): the API has no
	// authentication. Only read methods are served (see api.go).
	APIListen string
	// Keep lists the prefixes whose routes are kept in each peer's
	// Adj-RIB-In (exact match, the service prefixes); every other route
	// a router sends is dropped on receipt, so a full table costs parse
	// time, not memory. Nil keeps everything.
	Keep []netip.Prefix
	// Faults bounds how often a peer's bad input may reset its session.
	Faults FaultPolicy
	// StateFile, when set, persists peers disabled by the fault policy
	// across restarts (the node uses <state_dir>/bgp-faults.json).
	StateFile string
}

// Peer is one BGP neighbour.
type Peer struct {
	Address      netip.Addr
	ASN          uint32
	LocalAddress netip.Addr    // optional source address of the session
	Port         uint16        // optional, default 179
	Password     string        // optional TCP-MD5 (RFC 2385)
	HoldTime     time.Duration // default 9s; 0 means default, else >= 3s
	Keepalive    time.Duration // default 3s; must be below HoldTime
	Multihop     uint8         // optional eBGP multihop TTL; 0 = directly connected
	// TTLSecurity turns on GTSM (RFC 5082): packets go out with TTL 255
	// and the kernel drops any segment of the session that arrives with a
	// TTL below 255 (directly connected) or 256-Multihop (multihop), so a
	// spoofer further away cannot reach the BGP socket. The router must
	// do the same (BIRD: `ttl security yes`, FRR: `ttl-security hops`).
	TTLSecurity bool
}

// Route is one locally originated prefix with the attributes to announce it
// with. Next hop and origin are not configurable: the next hop is always the
// session's own address and the origin is IGP.
type Route struct {
	Prefix           netip.Prefix     // usually a /32 or /128 service address
	Communities      []uint32         // standard communities, asn<<16 | value
	LargeCommunities []LargeCommunity // RFC 8092
	MED              uint32
	Prepend          int // extra copies of our ASN on the AS path, 0..16
}

// LargeCommunity is an RFC 8092 community: global administrator and two
// local data parts.
type LargeCommunity struct {
	ASN, Data1, Data2 uint32
}

func (c LargeCommunity) String() string { return fmt.Sprintf("%d:%d:%d", c.ASN, c.Data1, c.Data2) }

func compareLarge(a, b LargeCommunity) int {
	if c := cmp.Compare(a.ASN, b.ASN); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Data1, b.Data1); c != 0 {
		return c
	}
	return cmp.Compare(a.Data2, b.Data2)
}

// Validate reports every problem in the configuration at once, each naming
// the field, so that `anycastd -check` can show them together.
func (c Config) Validate() error {
	var errs []error
	if c.ASN == 0 {
		errs = append(errs, errors.New("asn: must not be 0"))
	}
	if !c.RouterID.Is4() {
		errs = append(errs, fmt.Errorf("router_id: %v is not an IPv4 address", c.RouterID))
	}
	seen := make(map[netip.Addr]bool, len(c.Peers))
	for i, p := range c.Peers {
		if err := p.validate(); err != nil {
			errs = append(errs, fmt.Errorf("peers[%d]: %w", i, err))
			continue
		}
		if seen[p.Address] {
			errs = append(errs, fmt.Errorf("peers[%d]: duplicate address %v", i, p.Address))
		}
		seen[p.Address] = true
	}
	if err := c.Faults.validate(); err != nil {
		errs = append(errs, err)
	}
	for i, p := range c.Keep {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("keep[%d]: invalid prefix", i))
		}
	}
	if c.APIListen != "" {
		if err := validateAPIListen(c.APIListen); err != nil {
			errs = append(errs, fmt.Errorf("api_listen: %w", err))
		}
	}
	return errors.Join(errs...)
}

// validateAPIListen accepts only a loopback IP literal with a port: the
// gRPC API has no authentication, so it must never face a network.
func validateAPIListen(s string) error {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return fmt.Errorf("%q is not an IP:port (use 127.0.0.1:50051 or [::1]:50051): %w", s, err)
	}
	if !ap.Addr().Unmap().IsLoopback() || ap.Addr().Zone() != "" {
		return fmt.Errorf("%v is not a loopback address; the API has no authentication and must stay on the host", ap.Addr())
	}
	if ap.Port() == 0 {
		return fmt.Errorf("%q: port must be set", s)
	}
	return nil
}

func (p Peer) validate() error {
	var errs []error
	if !p.Address.IsValid() || p.Address.IsUnspecified() || p.Address.Zone() != "" {
		errs = append(errs, fmt.Errorf("address: %v is not a usable unicast address", p.Address))
	}
	if p.ASN == 0 {
		errs = append(errs, errors.New("asn: must not be 0"))
	}
	if p.LocalAddress.IsValid() && p.Address.IsValid() && p.LocalAddress.Is4() != p.Address.Is4() {
		errs = append(errs, fmt.Errorf("local_address: %v is not the same family as %v", p.LocalAddress, p.Address))
	}
	hold, keepalive := p.timers()
	// RFC 4271 4.2: a hold time is either 0 (never used here) or at least 3 s.
	if hold < 3*time.Second || hold%time.Second != 0 {
		errs = append(errs, fmt.Errorf("hold_time: %v must be whole seconds and at least 3s", hold))
	}
	if keepalive < time.Second || keepalive%time.Second != 0 || keepalive >= hold {
		errs = append(errs, fmt.Errorf("keepalive: %v must be whole seconds, at least 1s and below hold_time %v", keepalive, hold))
	}
	return errors.Join(errs...)
}

// minTTL is the lowest TTL GTSM accepts from the peer: 255 when directly
// connected, 256-Multihop when the peer is Multihop hops away (the same as
// FRR's `ttl-security hops N`).
func (p Peer) minTTL() uint32 {
	if p.Multihop > 1 {
		return 256 - uint32(p.Multihop)
	}
	return 255
}

// timers returns the hold time and keepalive with defaults filled in.
func (p Peer) timers() (hold, keepalive time.Duration) {
	hold, keepalive = p.HoldTime, p.Keepalive
	if hold == 0 {
		hold = DefaultHoldTime
	}
	if keepalive == 0 {
		keepalive = min(DefaultKeepalive, hold/3)
	}
	return hold, keepalive
}

func (p Peer) port() uint16 {
	if p.Port == 0 {
		return DefaultPort
	}
	return p.Port
}

// validateRoutes checks a desired set and returns it keyed by prefix, with
// communities sorted and deduplicated so that equal sets compare equal.
func validateRoutes(routes []Route) (map[netip.Prefix]Route, error) {
	out := make(map[netip.Prefix]Route, len(routes))
	var errs []error
	for _, r := range routes {
		switch {
		case !r.Prefix.IsValid() || r.Prefix.Addr().Zone() != "":
			errs = append(errs, fmt.Errorf("route %v: invalid prefix", r.Prefix))
			continue
		case r.Prefix != r.Prefix.Masked():
			errs = append(errs, fmt.Errorf("route %v: host bits set (want %v)", r.Prefix, r.Prefix.Masked()))
			continue
		case r.Prefix.Addr().Is4In6():
			errs = append(errs, fmt.Errorf("route %v: IPv4-mapped prefix", r.Prefix))
			continue
		case r.Prepend < 0 || r.Prepend > maxPrepend:
			errs = append(errs, fmt.Errorf("route %v: prepend %d out of range 0..%d", r.Prefix, r.Prepend, maxPrepend))
			continue
		}
		if _, dup := out[r.Prefix]; dup {
			errs = append(errs, fmt.Errorf("route %v: listed twice", r.Prefix))
			continue
		}
		out[r.Prefix] = r.canonical()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
