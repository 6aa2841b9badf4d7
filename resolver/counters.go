package resolver

import (
	"sync/atomic"
	"time"
)

// Counters are running totals the node's health checks read every
// interval (Answers is also QueryCount, the drain's query rate). They count the same events as the Prometheus metrics named on
// each field, but reading them is a few atomic loads: gathering the
// registry for them instead (thousands of series: every transport, query
// type and response code) allocated megabytes and took the CPU for
// milliseconds three times a second, which showed as bursts of slow
// answers once a second (the bench's p99 at 10,000 q/s).
type Counters struct {
	Answers   uint64 // client queries answered (anycastd_queries_total)
	Servfails uint64 // of which SERVFAIL

	UpstreamAnswers uint64        // matching authoritative answers timed (anycastd_upstream_rtt_seconds count)
	UpstreamRTT     time.Duration // their total round-trip time (its sum)

	Bogus        uint64 // answers that failed validation (anycastd_dnssec_bogus_total)
	BogusExpired uint64 // of which on an expired signature (EDE 7)
	BogusNotYet  uint64 // of which on a signature not yet valid (EDE 8)
}

// counters are Counters' atomic sources.
type counters struct {
	answers, servfails               atomic.Uint64
	upstreamAnswers, upstreamRTT     atomic.Uint64 // RTT in nanoseconds
	bogus, bogusExpired, bogusNotYet atomic.Uint64
}

func (c *counters) answer(rcode int) {
	c.answers.Add(1)
	if rcode == 2 { // SERVFAIL
		c.servfails.Add(1)
	}
}

func (c *counters) upstream(rtt time.Duration) {
	c.upstreamAnswers.Add(1)
	c.upstreamRTT.Add(uint64(max(rtt, 0)))
}

func (c *counters) bogusAnswer(ede string) {
	c.bogus.Add(1)
	switch ede {
	case "7":
		c.bogusExpired.Add(1)
	case "8":
		c.bogusNotYet.Add(1)
	}
}

// Counters returns the running totals.
func (r *Resolver) Counters() Counters {
	c := &r.counters
	return Counters{
		Answers:         c.answers.Load(),
		Servfails:       c.servfails.Load(),
		UpstreamAnswers: c.upstreamAnswers.Load(),
		UpstreamRTT:     time.Duration(c.upstreamRTT.Load()),
		Bogus:           c.bogus.Load(),
		BogusExpired:    c.bogusExpired.Load(),
		BogusNotYet:     c.bogusNotYet.Load(),
	}
}
