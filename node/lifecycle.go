package node

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/anycastd/anycastd/internal/control"
)

// pref is how attractive an announced route is made: the per-state BGP
// attributes of the config (communities, MED, prepends) hang off it.
type pref int

const (
	prefHealthy  pref = iota
	prefDegraded      // a degrading check fails: still announced, de-preferred
	prefLowest        // draining, or kept by the last-announcer guard
)

func (p pref) String() string {
	return [...]string{"healthy", "degraded", "lowest"}[p]
}

// drainPhase is where a drain is: tapering (routes still there, with
// GRACEFUL_SHUTDOWN and prepends, while traffic moves away), then lame duck
// (routes withdrawn, listeners still answering), then done.
type drainPhase int

const (
	drainTaper drainPhase = iota
	drainLameDuck
	drainDone
)

// view is everything the lifecycle decision looks at. The event loop fills
// it in; decide turns it into a state and the routes to announce. It is a
// pure function so the whole state machine is testable without BGP, DNS or
// a clock.
type view struct {
	stopping bool

	drainIntent bool
	drainPhase  drainPhase

	// service addresses in config order, which pass every critical check,
	// and whether every check has decided at least once
	addrs   []netip.Addr
	healthy map[netip.Addr]bool
	known   bool
	// names of degrading checks that fail
	degraded []string

	// announced is what the speaker announces now; announcedOnce says the
	// node announced since start or the last undrain, so losing health is a
	// withdrawal rather than still warming up.
	announced     map[netip.Addr]bool
	announcedOnce bool

	// guard: other announcers of each service prefix seen in the Adj-RIB-In
	// (absent: unknown, which counts as "others exist" so a broken view can
	// never pin a sick node in place).
	guard  bool
	others map[netip.Addr]int

	// damping: whether a (re-)announcement is allowed now, and why not.
	mayAnnounce bool
	dampedWhy   string
}

type decision struct {
	state    string
	reason   string
	announce map[netip.Addr]pref
	guarded  []netip.Addr // kept announced only by the guard
}

func (d decision) addrs(order []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range order {
		if _, ok := d.announce[a]; ok {
			out = append(out, a)
		}
	}
	return out
}

func decide(v view) decision {
	d := decision{announce: map[netip.Addr]pref{}}
	switch {
	case v.stopping:
		d.state, d.reason = control.StateStopping, "shutting down: routes withdrawn, finishing in-flight queries"
		return d
	case v.drainIntent && v.drainPhase == drainTaper:
		for _, a := range v.addrs {
			if v.announced[a] {
				d.announce[a] = prefLowest
			}
		}
		d.state, d.reason = control.StateDraining, "drained by operator: routes carry GRACEFUL_SHUTDOWN while traffic moves away"
		return d
	case v.drainIntent && v.drainPhase == drainLameDuck:
		d.state, d.reason = control.StateDraining, "drained by operator: routes withdrawn, lame duck until queries stop"
		return d
	case v.drainIntent:
		d.state, d.reason = control.StateDrained, "drained by operator: run `anycastctl undrain` to return to rotation"
		return d
	}

	level := prefHealthy
	if len(v.degraded) > 0 {
		level = prefDegraded
	}
	var down, damped []string
	for _, a := range v.addrs {
		switch {
		case v.healthy[a] && v.announced[a]:
			d.announce[a] = level
		case v.healthy[a] && v.mayAnnounce:
			d.announce[a] = level
		case v.healthy[a]:
			damped = append(damped, a.String())
		case v.announced[a] && v.guard && guardHolds(v.others, a):
			d.announce[a] = prefLowest
			d.guarded = append(d.guarded, a)
			down = append(down, a.String())
		default:
			down = append(down, a.String())
		}
	}

	var why []string
	if len(down) > 0 {
		why = append(why, "critical checks failing for "+strings.Join(down, ", "))
	}
	if len(damped) > 0 {
		why = append(why, strings.Join(damped, ", ")+" healthy but held back by "+v.dampedWhy)
	}
	if len(v.degraded) > 0 {
		why = append(why, "degraded by "+strings.Join(v.degraded, ", "))
	}
	switch {
	case len(d.guarded) > 0:
		d.state = control.StateGuarded
		why = append(why, fmt.Sprintf("kept announced at the lowest preference: no other announcer of %s is visible, and withdrawing the last one would take the service down", joinAddrs(d.guarded)))
	case len(d.announce) == 0 && !v.announcedOnce && len(damped) == 0:
		d.state = control.StateWarming
		if !v.known {
			why = append([]string{"waiting for health checks to pass rise times"}, why...)
		}
	case len(d.announce) == 0:
		d.state = control.StateWithdrawn
	case level == prefDegraded:
		d.state = control.StateDegraded
	default:
		d.state = control.StateAnnouncing
	}
	if len(why) == 0 {
		why = append(why, "all checks healthy")
	}
	d.reason = strings.Join(why, "; ")
	return d
}

// guardHolds: the guard keeps a when no other announcer of it is visible.
func guardHolds(others map[netip.Addr]int, a netip.Addr) bool {
	n, known := others[a]
	return known && n == 0
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
