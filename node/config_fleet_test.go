package node

import (
	"slices"
	"testing"
	"time"

	"github.com/anycastd/anycastd/bgp"
)

const fleetBase = `version: 1
node: {name: n1}
service: {addresses: [192.0.2.53]}
bgp:
  asn: 64513
  router_id: 198.18.1.2
  peers: [{address: 198.18.1.1, asn: 64496}]
`

func TestFleetConfig(t *testing.T) {
	c, err := Parse([]byte(fleetBase + `  guard: false
  rise_jitter: 500ms
  attributes:
    degraded: {communities: ["65000:100"], large_communities: ["65000:1:2"], med: 50}
    draining: {prepend: 6}
  damping: {half_life: 30s, suppress: 3000, reuse: 500, max_announces: 2, window: 2m}
health:
  degrading: {servfail_ratio: 0.25, upstream_latency: 300ms, cold_cache_entries: 1000, clock: false}
drain: {min_qps: 2.5, idle_after: 2s}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := policyFromConfig(c)
	if p.Guard {
		t.Error("guard: false not applied")
	}
	if got := p.Attrs[prefDegraded]; got.MED != 50 || got.Prepend != 2 || !slices.Equal(got.Communities, []uint32{65000<<16 | 100}) ||
		!slices.Equal(got.LargeCommunities, []bgp.LargeCommunity{{ASN: 65000, Data1: 1, Data2: 2}}) {
		t.Errorf("degraded attributes = %+v: want the written keys replaced and prepend kept at its default 2", got)
	}
	if got := p.Attrs[prefLowest]; got.Prepend != 6 || !slices.Contains(got.Communities, gracefulShutdown) || got.MED != 1000 {
		t.Errorf("draining attributes = %+v: want prepend 6, MED default 1000, GRACEFUL_SHUTDOWN always", got)
	}
	if p.Damping.HalfLife != 30*time.Second || p.Damping.Suppress != 3000 || p.Damping.MaxAnnounces != 2 || p.RiseJitter != 500*time.Millisecond {
		t.Errorf("damping = %+v jitter %v", p.Damping, p.RiseJitter)
	}
	if p.MinQPS != 2.5 || p.IdleAfter != 2*time.Second {
		t.Errorf("drain policy = %v %v", p.MinQPS, p.IdleAfter)
	}
	dg := c.Health.Degrading
	if dg.ServfailRatio != 0.25 || dg.UpstreamLatency != 300*time.Millisecond || dg.ColdCacheEntries != 1000 || dg.Clock {
		t.Errorf("degrading = %+v", dg)
	}

	c, err = Parse([]byte(fleetBase + "  damping: {enabled: false}\n  attributes: {draining: {communities: []}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p = policyFromConfig(c)
	if p.Damping.Penalty != 0 {
		t.Errorf("damping off still has penalty %v", p.Damping.Penalty)
	}
	if !slices.Contains(p.Attrs[prefLowest].Communities, gracefulShutdown) {
		t.Error("an empty draining community list dropped GRACEFUL_SHUTDOWN")
	}
}

func TestFleetConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"bad communities", fleetBase + `  attributes:
    healthy: {communities: ["65000"], large_communities: ["1:2"], prepend: 20}
`, []string{`bgp.attributes.healthy.communities[0]: must be a community ASN:VALUE`, `bgp.attributes.healthy.large_communities[0]: must be a large community`, `bgp.attributes.healthy.prepend: must be 0..16, got 20`}},
		{"damping and guard", fleetBase + `  guard: yes please
  damping: {suppress: 500, reuse: 800}
  api_listen: 0.0.0.0:50051
`, []string{`bgp.guard: must be true or false`, `bgp.damping.reuse: must be above 0 and below bgp.damping.suppress (500), got 800`, `bgp.api_listen: must be a loopback IP:port`}},
		{"faults", fleetBase + `  faults: {limit: -1, window: 0s, hold_down: 30d, bogus: 1}
`, []string{`bgp.faults.limit: must be 0..1000, got -1`, `bgp.faults.window: must be`, `bgp.faults.hold_down: must be a duration`, `bgp.faults.bogus: unknown key`}},
		{"faults range", fleetBase + `  faults: {window: 48h, hold_down: 200h}
`, []string{`bgp.faults.window: must be`, `bgp.faults.hold_down: must be`}},
		{"degrading and drain", fleetBase + `health: {degrading: {servfail_ratio: 1.5, clock: maybe, bogus: 1}}
drain: {min_qps: -1, idle_after: fast}
`, []string{`health.degrading.servfail_ratio: must be between 0 (off) and 1, got 1.5`, `health.degrading.clock: must be true or false`,
			`health.degrading.bogus: unknown key`, `drain.min_qps: must be 0 or more, got -1`, `drain.idle_after: must be a duration`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			checkProblems(t, err, tt.want)
		})
	}
}

func TestCookieSecretConfig(t *testing.T) {
	c, err := Parse([]byte(fleetBase + "resolver: {cookie_secret: 000102030405060708090a0b0c0d0e0f}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b := cookieSecret(c.Resolver.CookieSecret); len(b) != 16 || b[15] != 15 {
		t.Errorf("cookie secret decoded as %x", b)
	}
	if r := c.Redacted(); r.Resolver.CookieSecret != "<redacted>" || c.Resolver.CookieSecret == "<redacted>" {
		t.Errorf("Redacted: %q (original %q): the copy must hide it, the original keep it", r.Resolver.CookieSecret, c.Resolver.CookieSecret)
	}
	_, err = Parse([]byte(fleetBase + "resolver: {cookie_secret: abc}\n"))
	checkProblems(t, err, []string{"resolver.cookie_secret: must be 32 hex digits"})
}
