package node

// The fleet-safety part of the config: per-state BGP attributes, the
// last-announcer guard, flap damping, drain thresholds and the degrading
// health checks. See docs/config.md.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/anycastd/anycastd/bgp"
)

// AttributesConfig are the BGP attributes of each state. What a level
// leaves out keeps its default; 65535:0 (GRACEFUL_SHUTDOWN) is always added
// to draining.
type AttributesConfig struct {
	Healthy  AttrConfig `json:"healthy"`
	Degraded AttrConfig `json:"degraded"`
	Draining AttrConfig `json:"draining"` // also used by the last-announcer guard
}

// AttrConfig is one attribute set.
type AttrConfig struct {
	Communities      []uint32             `json:"communities"`
	LargeCommunities []bgp.LargeCommunity `json:"large_communities"`
	MED              uint32               `json:"med"`
	Prepend          int                  `json:"prepend"`
}

// DampingConfig tunes flap damping of health-driven withdrawals.
type DampingConfig struct {
	Enabled      bool          `json:"enabled"`
	HalfLife     time.Duration `json:"half_life"`
	Suppress     float64       `json:"suppress"` // penalty (1000 per withdrawal) that suppresses re-announcing
	Reuse        float64       `json:"reuse"`    // penalty below which re-announcing is allowed again
	MaxAnnounces int           `json:"max_announces"`
	Window       time.Duration `json:"window"`
}

// DegradingConfig are the checks that de-prefer the node's routes instead
// of withdrawing them. A zero threshold turns a check off.
type DegradingConfig struct {
	ServfailRatio    float64       `json:"servfail_ratio"`     // of client answers over the last interval x fall
	ServfailMin      int           `json:"servfail_min"`       // answers needed before the ratio counts
	UpstreamLatency  time.Duration `json:"upstream_latency"`   // mean upstream answer time over the window
	ColdCacheEntries int           `json:"cold_cache_entries"` // fewer cached entries than this is cold
	Clock            bool          `json:"clock"`              // kernel clock must be NTP-synchronised
	DNSSECGood       string        `json:"dnssec_good"`        // signed name that must validate (AD); "" off (config_dnssec.go)
	DNSSECBad        string        `json:"dnssec_bad"`         // signed name that must fail (SERVFAIL); "" off
	// TLSCanaryInterval spaces the DoT/DoH/DoH3/DoQ canaries, each a full
	// TLS handshake on a new connection: every health.interval (1 s) they
	// delayed the node's own answers in bursts (p99 at 10,000 q/s 0.14-0.15
	// ms against 0.11 without them). Never shorter than health.interval.
	TLSCanaryInterval time.Duration `json:"tls_canary_interval"`
}

func defaultBGP() BGPConfig {
	p := defaultPolicy()
	toCfg := func(a attrs) AttrConfig {
		return AttrConfig{Communities: a.Communities, LargeCommunities: a.LargeCommunities, MED: a.MED, Prepend: a.Prepend}
	}
	return BGPConfig{
		ListenPort: -1,
		Guard:      true,
		Attributes: AttributesConfig{
			Healthy:  toCfg(p.Attrs[prefHealthy]),
			Degraded: toCfg(p.Attrs[prefDegraded]),
			Draining: toCfg(p.Attrs[prefLowest]),
		},
		Damping: DampingConfig{
			Enabled: true, HalfLife: p.Damping.HalfLife, Suppress: p.Damping.Suppress, Reuse: p.Damping.Reuse,
			MaxAnnounces: p.Damping.MaxAnnounces, Window: p.Damping.Window,
		},
		RiseJitter: p.RiseJitter,
		Faults:     FaultsConfig{Limit: bgp.DefaultFaultLimit, Window: bgp.DefaultFaultWindow, HoldDown: bgp.DefaultFaultHoldDown},
	}
}

func defaultDegrading() DegradingConfig {
	return DegradingConfig{ServfailRatio: 0.5, ServfailMin: 20, UpstreamLatency: time.Second, Clock: true, TLSCanaryInterval: 10 * time.Second}
}

func (d *decoder) boolean(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		if s.ShortTag() != "!!bool" {
			d.fail(s, path, "must be true or false, got %s", describe(s))
			return
		}
		*dst = s.Value == "true" || s.Value == "True" || s.Value == "TRUE"
	}
}

func (d *decoder) float(dst *float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		if t := s.ShortTag(); t != "!!int" && t != "!!float" {
			d.fail(s, path, "must be a number such as 0.5, got %s", describe(s))
			return
		}
		v, err := strconv.ParseFloat(s.Value, 64)
		if err != nil {
			d.fail(s, path, "must be a number such as 0.5, got %s", s.Value)
			return
		}
		*dst = v
	}
}

func (d *decoder) attributes(dst *AttributesConfig) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		d.mapping(n, p, fields{
			{"healthy", d.attrSet(&dst.Healthy)},
			{"degraded", d.attrSet(&dst.Degraded)},
			{"draining", d.attrSet(&dst.Draining)},
		})
	}
}

// attrSet decodes one level. A level that is written replaces the default
// of each key it names.
func (d *decoder) attrSet(dst *AttrConfig) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		d.mapping(n, p, fields{
			{"communities", func(n *yaml.Node, p string) {
				dst.Communities = nil
				d.list(n, p, func(n *yaml.Node, p string) {
					var s string
					d.str(&s)(n, p)
					if c, err := parseCommunity(s); err != nil {
						d.fail(n, p, "%v", err)
					} else {
						dst.Communities = append(dst.Communities, c)
					}
				})
			}},
			{"large_communities", func(n *yaml.Node, p string) {
				dst.LargeCommunities = nil
				d.list(n, p, func(n *yaml.Node, p string) {
					var s string
					d.str(&s)(n, p)
					if c, err := parseLargeCommunity(s); err != nil {
						d.fail(n, p, "%v", err)
					} else {
						dst.LargeCommunities = append(dst.LargeCommunities, c)
					}
				})
			}},
			{"med", intField(d, &dst.MED, 0, 1<<32-1)},
			{"prepend", intField(d, &dst.Prepend, 0, 16)},
		})
	}
}

func (d *decoder) damping(dst *DampingConfig) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		d.mapping(n, p, fields{
			{"enabled", d.boolean(&dst.Enabled)},
			{"half_life", d.duration(&dst.HalfLife)},
			{"suppress", d.float(&dst.Suppress)},
			{"reuse", d.float(&dst.Reuse)},
			{"max_announces", intField(d, &dst.MaxAnnounces, 0, 1000)},
			{"window", d.duration(&dst.Window)},
		})
	}
}

func (d *decoder) degrading(dst *DegradingConfig) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		d.mapping(n, p, append(fields{
			{"servfail_ratio", d.float(&dst.ServfailRatio)},
			{"servfail_min", intField(d, &dst.ServfailMin, 1, 1<<31-1)},
			{"upstream_latency", d.duration(&dst.UpstreamLatency)},
			{"cold_cache_entries", intField(d, &dst.ColdCacheEntries, 0, 1<<31-1)},
			{"clock", d.boolean(&dst.Clock)},
			{"tls_canary_interval", d.duration(&dst.TLSCanaryInterval)},
		}, d.dnssecDegradingFields(dst)...))
	}
}

// parseCommunity reads "65000:100" (or a well-known name).
func parseCommunity(s string) (uint32, error) {
	switch strings.ToLower(s) {
	case "graceful_shutdown", "graceful-shutdown":
		return gracefulShutdown, nil
	case "no_export", "no-export":
		return 0xFFFFFF01, nil
	}
	a, b, ok := strings.Cut(s, ":")
	hi, err1 := strconv.ParseUint(a, 10, 16)
	lo, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("must be a community ASN:VALUE with both parts 0..65535, such as \"65000:100\", got %q", s)
	}
	return uint32(hi)<<16 | uint32(lo), nil
}

// parseLargeCommunity reads "65000:1:2".
func parseLargeCommunity(s string) (bgp.LargeCommunity, error) {
	parts := strings.Split(s, ":")
	var v [3]uint64
	var err error
	if len(parts) == 3 {
		for i, p := range parts {
			if v[i], err = strconv.ParseUint(p, 10, 32); err != nil {
				break
			}
		}
	}
	if len(parts) != 3 || err != nil {
		return bgp.LargeCommunity{}, fmt.Errorf("must be a large community ASN:DATA1:DATA2 with each part 0..4294967295, such as \"65000:1:2\", got %q", s)
	}
	return bgp.LargeCommunity{ASN: uint32(v[0]), Data1: uint32(v[1]), Data2: uint32(v[2])}, nil
}

// fleetProblems validates the fleet-safety keys.
func (c *Config) fleetProblems(add adder) {
	dc := c.BGP.Damping
	if dc.Enabled {
		between(add, "bgp.damping.half_life", dc.HalfLife, time.Second, time.Hour)
		between(add, "bgp.damping.window", dc.Window, time.Second, time.Hour)
		if dc.Reuse <= 0 || dc.Reuse >= dc.Suppress {
			add("bgp.damping.reuse", "must be above 0 and below bgp.damping.suppress (%g), got %g", dc.Suppress, dc.Reuse)
		}
	}
	between(add, "bgp.rise_jitter", c.BGP.RiseJitter, 0, time.Minute)
	between(add, "bgp.faults.window", c.BGP.Faults.Window, time.Second, 24*time.Hour)
	between(add, "bgp.faults.hold_down", c.BGP.Faults.HoldDown, time.Second, 7*24*time.Hour)
	if c.BGP.APIListen != "" {
		ap, err := netip.ParseAddrPort(c.BGP.APIListen)
		if err != nil || !ap.Addr().IsLoopback() {
			add("bgp.api_listen", "must be a loopback IP:port such as 127.0.0.1:50051 (the GoBGP API has no authentication), got %q", c.BGP.APIListen)
		}
	}
	if c.Drain.MinQPS < 0 {
		add("drain.min_qps", "must be 0 or more, got %g", c.Drain.MinQPS)
	}
	between(add, "drain.idle_after", c.Drain.IdleAfter, 0, time.Minute)
	dg := c.Health.Degrading
	if dg.ServfailRatio < 0 || dg.ServfailRatio > 1 {
		add("health.degrading.servfail_ratio", "must be between 0 (off) and 1, got %g", dg.ServfailRatio)
	}
	between(add, "health.degrading.upstream_latency", dg.UpstreamLatency, 0, time.Minute)
	between(add, "health.degrading.tls_canary_interval", dg.TLSCanaryInterval, 10*time.Millisecond, time.Hour)
}

// policyFromConfig turns the config into the lifecycle's policy.
func policyFromConfig(cfg *Config) policy {
	p := defaultPolicy()
	at := cfg.BGP.Attributes
	for lvl, a := range map[pref]AttrConfig{prefHealthy: at.Healthy, prefDegraded: at.Degraded, prefLowest: at.Draining} {
		p.Attrs[lvl] = attrs{Communities: a.Communities, LargeCommunities: a.LargeCommunities, MED: a.MED, Prepend: a.Prepend}
	}
	if !containsU32(p.Attrs[prefLowest].Communities, gracefulShutdown) {
		p.Attrs[prefLowest].Communities = append(append([]uint32(nil), p.Attrs[prefLowest].Communities...), gracefulShutdown)
	}
	p.Guard = cfg.BGP.Guard
	dc := cfg.BGP.Damping
	if dc.Enabled {
		p.Damping = dampingPolicy{HalfLife: dc.HalfLife, Penalty: 1000, Suppress: dc.Suppress, Reuse: dc.Reuse,
			MaxPenalty: max(8000, 4*dc.Suppress), MaxAnnounces: dc.MaxAnnounces, Window: dc.Window}
	} else {
		p.Damping = dampingPolicy{}
	}
	p.RiseJitter = cfg.BGP.RiseJitter
	p.LameDuck, p.Timeout, p.MinQPS, p.IdleAfter = cfg.Drain.LameDuck, cfg.Drain.Timeout, cfg.Drain.MinQPS, cfg.Drain.IdleAfter
	return p
}

func containsU32(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
