package node

import (
	"net/netip"
	"time"

	"github.com/anycastd/anycastd/bgp"
)

// gracefulShutdown is the well-known GRACEFUL_SHUTDOWN community (RFC 8326,
// 65535:0). Routers that honour it drop the route's local preference to 0,
// so traffic moves to the other nodes before the route is withdrawn.
const gracefulShutdown uint32 = 0xFFFF0000

// attrs are the BGP attributes of one preference level.
type attrs struct {
	Communities      []uint32
	LargeCommunities []bgp.LargeCommunity
	MED              uint32
	Prepend          int
}

// policy is how the node turns its state into routes: per-level attributes,
// the last-announcer guard, damping, and drain thresholds.
type policy struct {
	Attrs   [3]attrs // indexed by pref
	Guard   bool
	Damping dampingPolicy
	// RiseJitter delays a re-announcement after recovery by a random time
	// up to this, so a fleet-wide event does not make every node come back
	// in the same second.
	RiseJitter time.Duration

	// Drain: taper until the node's own client query rate falls to
	// MinQPS or Timeout passes, then withdraw and stay lame duck until no
	// query came for IdleAfter, at most LameDuck.
	MinQPS    float64
	Timeout   time.Duration
	LameDuck  time.Duration
	IdleAfter time.Duration
}

func defaultPolicy() policy {
	return policy{
		Attrs: [3]attrs{
			prefHealthy:  {},
			prefDegraded: {MED: 100, Prepend: 2},
			prefLowest:   {Communities: []uint32{gracefulShutdown}, MED: 1000, Prepend: 4},
		},
		Guard:      true,
		Damping:    defaultDamping(),
		RiseJitter: 2 * time.Second,
		MinQPS:     5,
		Timeout:    30 * time.Second,
		LameDuck:   5 * time.Second,
		IdleAfter:  time.Second,
	}
}

func (p policy) route(a routeAddr) bgp.Route {
	at := p.Attrs[a.pref]
	return bgp.Route{
		Prefix:           hostPrefix(a.addr),
		Communities:      at.Communities,
		LargeCommunities: at.LargeCommunities,
		MED:              at.MED,
		Prepend:          at.Prepend,
	}
}

type routeAddr struct {
	addr netip.Addr
	pref pref
}
