package node

import (
	"fmt"
	"math"
	"time"
)

// damper is route-flap damping for the node's own announcements, after RFC
// 2439: every health-driven withdrawal adds a penalty that decays
// exponentially; while the penalty is above the suppress threshold the node
// does not re-announce, until it decays below the reuse threshold. On top, a
// token bucket caps re-announcements per window, so a check that flaps ten
// times a minute cannot make ten withdrawals.
//
// It is owned by the event loop; it has no lock.
type damper struct {
	halfLife    time.Duration
	perFlap     float64
	suppressAt  float64
	reuseBelow  float64
	maxPenalty  float64
	maxAnnounce int           // re-announcements allowed per window
	window      time.Duration // of the re-announce rate limit

	penalty    float64
	updated    time.Time
	suppressed bool
	flaps      int
	announces  []time.Time // re-announce times within the window
}

func newDamper(p dampingPolicy) *damper {
	return &damper{
		halfLife: p.HalfLife, perFlap: p.Penalty, suppressAt: p.Suppress, reuseBelow: p.Reuse,
		maxPenalty: p.MaxPenalty, maxAnnounce: p.MaxAnnounces, window: p.Window,
	}
}

// dampingPolicy is the operator-visible tuning of the damper.
type dampingPolicy struct {
	HalfLife     time.Duration
	Penalty      float64
	Suppress     float64
	Reuse        float64
	MaxPenalty   float64
	MaxAnnounces int
	Window       time.Duration
}

func defaultDamping() dampingPolicy {
	// One flap is forgiven at once; a second within about a minute
	// suppresses re-announcing for roughly 1.4 half-lives.
	return dampingPolicy{HalfLife: time.Minute, Penalty: 1000, Suppress: 2000, Reuse: 750, MaxPenalty: 8000, MaxAnnounces: 4, Window: time.Minute}
}

// decay brings the penalty to now.
func (d *damper) decay(now time.Time) {
	if !d.updated.IsZero() && d.halfLife > 0 {
		dt := now.Sub(d.updated)
		if dt > 0 {
			d.penalty *= math.Exp2(-float64(dt) / float64(d.halfLife))
		}
	}
	d.updated = now
	if d.suppressed && d.penalty < d.reuseBelow {
		d.suppressed = false
	}
}

// withdrawn records a health-driven withdrawal.
func (d *damper) withdrawn(now time.Time) {
	d.decay(now)
	d.flaps++
	if d.perFlap == 0 {
		return // damping off: count, never suppress
	}
	d.penalty = min(d.penalty+d.perFlap, d.maxPenalty)
	if d.penalty >= d.suppressAt {
		d.suppressed = true
	}
}

// mayAnnounce reports whether a re-announcement is allowed now, and if not,
// why and roughly until when.
func (d *damper) mayAnnounce(now time.Time) (bool, string) {
	d.decay(now)
	if d.suppressed {
		wait := time.Duration(float64(d.halfLife) * math.Log2(d.penalty/d.reuseBelow))
		return false, fmt.Sprintf("flap damping: penalty %.0f, re-announce in about %s", d.penalty, wait.Round(time.Second))
	}
	d.trim(now)
	if d.maxAnnounce > 0 && d.window > 0 && len(d.announces) >= d.maxAnnounce {
		wait := d.announces[0].Add(d.window).Sub(now)
		return false, fmt.Sprintf("flap damping: %d re-announcements in %s, next in %s", d.maxAnnounce, d.window, wait.Round(time.Second))
	}
	return true, ""
}

// announced records a re-announcement after a withdrawal.
func (d *damper) announced(now time.Time) {
	d.trim(now)
	d.announces = append(d.announces, now)
}

func (d *damper) trim(now time.Time) {
	i := 0
	for i < len(d.announces) && now.Sub(d.announces[i]) >= d.window {
		i++
	}
	d.announces = d.announces[i:]
}

// state is for status and metrics.
func (d *damper) state(now time.Time) (penalty float64, suppressed bool, flaps int) {
	d.decay(now)
	return d.penalty, d.suppressed, d.flaps
}
