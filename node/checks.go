package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anycastd/anycastd/health"
	"github.com/anycastd/anycastd/resolver"
)

// The degrading checks: each de-prefers the node's routes instead of
// withdrawing them, because every one of them can fail on every node at
// once (an upstream outage, a clock problem) and a fleet-wide withdrawal is
// the outage the design exists to prevent. They read the node's own
// metrics, so they measure what clients got, not a synthetic probe.

// counterDelta remembers the last reading of a metric sum so each probe
// judges only the interval since the previous one.
type counterDelta struct {
	mu     sync.Mutex // mu guards what follows
	last   map[string]float64
	primed bool
}

func (c *counterDelta) delta(now map[string]float64) (map[string]float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := map[string]float64{}
	for k, v := range now {
		d[k] = v - c.last[k]
	}
	primed := c.primed
	c.last, c.primed = now, true
	return d, primed
}

// The checks read the resolver's running totals (resolver.Counters), not
// the Prometheus registry: a gather of every series three times a second
// allocated megabytes and delayed answers in bursts once a second. The
// totals count the same events as anycastd_queries_total,
// anycastd_upstream_rtt_seconds and anycastd_dnssec_bogus_total, and are
// shaped here as the sums the verdicts judge.

// rcodeSums: client answers by response code (SERVFAIL and the rest).
func rcodeSums(c resolver.Counters) map[string]float64 {
	return map[string]float64{"SERVFAIL": float64(c.Servfails), "other": float64(c.Answers - c.Servfails)}
}

// rttSums: the upstream round-trip times' sum (seconds) and count.
func rttSums(c resolver.Counters) map[string]float64 {
	return map[string]float64{"sum": c.UpstreamRTT.Seconds(), "count": float64(c.UpstreamAnswers)}
}

// bogusSums: bogus answers by EDE code (7 expired, 8 not yet valid, the rest).
func bogusSums(c resolver.Counters) map[string]float64 {
	return map[string]float64{"7": float64(c.BogusExpired), "8": float64(c.BogusNotYet), "other": float64(c.Bogus - c.BogusExpired - c.BogusNotYet)}
}

// degradingChecks builds the enabled degrading checks.
func (n *Node) degradingChecks() []health.Check {
	hc := n.cfg.Health
	dg := hc.Degrading
	mk := func(name string, probe func(context.Context) error) health.Check {
		return health.Check{Name: name, Level: health.Degrading, Interval: hc.Interval, Timeout: hc.Timeout, Rise: hc.Rise, Fall: hc.Fall, Probe: probe}
	}
	var cs []health.Check
	if dg.ServfailRatio > 0 {
		var cd counterDelta
		cs = append(cs, mk("servfail ratio", func(context.Context) error {
			return servfailVerdict(cd.delta(rcodeSums(n.resolver.Counters())))(dg.ServfailRatio, dg.ServfailMin)
		}))
	}
	if dg.UpstreamLatency > 0 {
		var cd counterDelta
		cs = append(cs, mk("upstream latency", func(context.Context) error {
			return latencyVerdict(cd.delta(rttSums(n.resolver.Counters())))(dg.UpstreamLatency)
		}))
	}
	if dg.ColdCacheEntries > 0 {
		cs = append(cs, mk("cold cache", func(context.Context) error {
			if e := n.resolver.CacheStats().Entries; e < dg.ColdCacheEntries {
				return fmt.Errorf("cache holds %d entries, fewer than health.degrading.cold_cache_entries %d", e, dg.ColdCacheEntries)
			}
			return nil
		}))
	}
	if dg.Clock {
		cs = append(cs, mk("clock sync", func(context.Context) error { return clockVerdict(adjtimex()) }))
	}
	return cs
}

// servfailVerdict judges one interval's answers by rcode.
func servfailVerdict(d map[string]float64, primed bool) func(ratio float64, min int) error {
	return func(ratio float64, min int) error {
		if !primed {
			return nil
		}
		var total float64
		for _, v := range d {
			total += v
		}
		if total < float64(min) {
			return nil // too few answers for a ratio to mean anything
		}
		if r := d["SERVFAIL"] / total; r > ratio {
			return fmt.Errorf("%.0f%% of %.0f answers in the last interval were SERVFAIL, above health.degrading.servfail_ratio %.0f%%", 100*r, total, 100*ratio)
		}
		return nil
	}
}

// latencyVerdict judges one interval of the upstream RTT histogram.
func latencyVerdict(d map[string]float64, primed bool) func(limit time.Duration) error {
	return func(limit time.Duration) error {
		if !primed || d["count"] < 5 {
			return nil // too few upstream answers to judge
		}
		mean := time.Duration(d["sum"] / d["count"] * float64(time.Second))
		if mean > limit {
			return fmt.Errorf("mean upstream answer time %s over the last interval is above health.degrading.upstream_latency %s", mean.Round(time.Millisecond), limit)
		}
		return nil
	}
}

type timexState struct {
	state    int
	unsynced bool
	maxError time.Duration
	err      error
}

func adjtimex() timexState {
	var t unix.Timex
	st, err := unix.Adjtimex(&t)
	return timexState{state: st, unsynced: t.Status&unix.STA_UNSYNC != 0, maxError: time.Duration(t.Maxerror) * time.Microsecond, err: err}
}

// clockVerdict: signatures (DNSSEC, TLS) depend on the time, so a clock the
// kernel does not consider synchronised de-prefers the node.
func clockVerdict(s timexState) error {
	switch {
	case s.err != nil:
		return fmt.Errorf("read the kernel clock state (adjtimex): %w", s.err)
	case s.state == unix.TIME_ERROR || s.unsynced:
		return errors.New("the kernel reports the clock as not synchronised (no NTP?): DNSSEC and TLS depend on the time; run an NTP client, or set health.degrading.clock: false")
	case s.maxError > time.Second:
		return fmt.Errorf("the kernel's clock error bound is %s, above 1s", s.maxError)
	}
	return nil
}
