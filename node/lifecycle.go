package node

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

// view is everything the lifecycle decision looks at. The event loop fills it
// in; decide turns it into a state and the set of addresses to announce. It
// is a pure function so the whole state machine is testable without BGP,
// DNS or a clock.
type view struct {
	now      time.Time
	stopping bool

	drainIntent bool
	drainSince  time.Time // when the routes were withdrawn for the drain
	lameDuck    time.Duration

	// service addresses in config order, and which pass every critical check
	addrs   []netip.Addr
	healthy map[netip.Addr]bool
	known   bool // every check has decided at least once

	// announcedOnce: the node announced since start or the last undrain, so
	// losing health now is a withdrawal rather than still warming up.
	announcedOnce bool
}

type decision struct {
	state    string
	reason   string
	announce []netip.Addr
}

func decide(v view) decision {
	switch {
	case v.stopping:
		return decision{state: control.StateStopping, reason: "shutting down: routes withdrawn, finishing in-flight queries"}
	case v.drainIntent:
		if v.now.Sub(v.drainSince) < v.lameDuck {
			return decision{state: control.StateDraining, reason: "drained by operator: routes withdrawn, lame duck until routers converge"}
		}
		return decision{state: control.StateDrained, reason: "drained by operator: run `anycastctl undrain` to return to rotation"}
	}

	var up, down []string
	var announce []netip.Addr
	for _, a := range v.addrs {
		if v.healthy[a] {
			announce = append(announce, a)
			up = append(up, a.String())
		} else {
			down = append(down, a.String())
		}
	}
	switch {
	case len(announce) == 0 && !v.announcedOnce:
		reason := "waiting for health checks to pass rise times"
		if v.known {
			reason = "health checks failing for " + strings.Join(down, ", ")
		}
		return decision{state: control.StateWarming, reason: reason}
	case len(announce) == 0:
		return decision{state: control.StateWithdrawn, reason: "critical health checks failing for " + strings.Join(down, ", ")}
	case len(down) > 0:
		return decision{state: control.StateAnnouncing, announce: announce,
			reason: fmt.Sprintf("announcing %s; withdrawn %s (failing checks)", strings.Join(up, ", "), strings.Join(down, ", "))}
	default:
		return decision{state: control.StateAnnouncing, announce: announce, reason: "all checks healthy"}
	}
}
