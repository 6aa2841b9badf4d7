package node

// The privacy part of the config: retention, the query log, dnstap, debug
// sampling, the rate limit and core dumps. See docs/config.md and
// docs/privacy.md.

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/anycastd/anycastd/resolver"
)

// PrivacyConfig is what the node may keep about client queries. Every
// record is in memory only and purged within Retention.
type PrivacyConfig struct {
	Retention      time.Duration       `json:"retention"` // at most 25h
	AllowCoreDumps bool                `json:"allow_core_dumps"`
	QueryLog       QueryLogConfig      `json:"query_log"`
	Dnstap         DnstapConfig        `json:"dnstap"`
	DebugSampling  DebugSamplingConfig `json:"debug_sampling"`
	RateLimit      RateLimitConfig     `json:"rate_limit"`
}

// QueryLogConfig is the in-memory query log (off by default).
type QueryLogConfig struct {
	Enabled      bool `json:"enabled"`
	Size         int  `json:"size"`          // records kept
	ClientPrefix bool `json:"client_prefix"` // add the client's /24 or /48
}

// DnstapConfig is dnstap output to a file or a unix socket (off by default).
type DnstapConfig struct {
	File         string `json:"file"`
	Socket       string `json:"socket"`
	ClientPrefix bool   `json:"client_prefix"` // query_address = the /24 or /48; otherwise omitted
}

// DebugSamplingConfig keeps a fraction of queries for debugging.
type DebugSamplingConfig struct {
	Rate float64 `json:"rate"` // 0 off, at most 0.0005
}

// RateLimitConfig is the per-prefix UDP response-rate limit.
type RateLimitConfig struct {
	QPS        float64       `json:"qps"` // 0 off
	Burst      int           `json:"burst"`
	Slip       int           `json:"slip"`
	Expire     time.Duration `json:"expire"`
	MaxEntries int           `json:"max_entries"`
}

func defaultPrivacy() PrivacyConfig {
	return PrivacyConfig{
		Retention: resolver.DefaultRetention,
		QueryLog:  QueryLogConfig{Size: 10000},
		RateLimit: RateLimitConfig{Slip: 2, Expire: resolver.DefaultRateLimitExpire, MaxEntries: 1 << 16},
	}
}

func (d *decoder) privacy(dst *PrivacyConfig) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		d.mapping(n, p, fields{
			{"retention", d.duration(&dst.Retention)},
			{"allow_core_dumps", d.boolean(&dst.AllowCoreDumps)},
			{"query_log", func(n *yaml.Node, p string) {
				d.mapping(n, p, fields{
					{"enabled", d.boolean(&dst.QueryLog.Enabled)},
					{"size", intField(d, &dst.QueryLog.Size, math.MinInt32, math.MaxInt32)},
					{"client_prefix", d.boolean(&dst.QueryLog.ClientPrefix)},
				})
			}},
			{"dnstap", func(n *yaml.Node, p string) {
				d.mapping(n, p, fields{
					{"file", d.str(&dst.Dnstap.File)},
					{"socket", d.str(&dst.Dnstap.Socket)},
					{"client_prefix", d.boolean(&dst.Dnstap.ClientPrefix)},
				})
			}},
			{"debug_sampling", func(n *yaml.Node, p string) {
				d.mapping(n, p, fields{{"rate", d.float(&dst.DebugSampling.Rate)}})
			}},
			{"rate_limit", func(n *yaml.Node, p string) {
				d.mapping(n, p, fields{
					{"qps", d.float(&dst.RateLimit.QPS)},
					{"burst", intField(d, &dst.RateLimit.Burst, math.MinInt32, math.MaxInt32)},
					{"slip", intField(d, &dst.RateLimit.Slip, math.MinInt32, math.MaxInt32)},
					{"expire", d.duration(&dst.RateLimit.Expire)},
					{"max_entries", intField(d, &dst.RateLimit.MaxEntries, math.MinInt32, math.MaxInt32)},
				})
			}},
		})
	}
}

// privacyProblems validates the privacy keys.
func (c *Config) privacyProblems(add adder) {
	pc := c.Privacy
	between(add, "privacy.retention", pc.Retention, time.Minute, resolver.MaxRetention)
	intBetween(add, "privacy.query_log.size", pc.QueryLog.Size, 1, 1<<20)
	if pc.Dnstap.File != "" && pc.Dnstap.Socket != "" {
		add("privacy.dnstap", "file and socket are both set; dnstap goes to one of them")
	}
	if pc.Dnstap.File != "" && !filepath.IsAbs(pc.Dnstap.File) {
		add("privacy.dnstap.file", "must be an absolute path, got %q", pc.Dnstap.File)
	}
	if pc.Dnstap.Socket != "" && !filepath.IsAbs(pc.Dnstap.Socket) {
		add("privacy.dnstap.socket", "must be an absolute path to a unix socket, got %q", pc.Dnstap.Socket)
	}
	if r := pc.DebugSampling.Rate; !(r >= 0 && r <= resolver.MaxDebugSampleRate) {
		add("privacy.debug_sampling.rate", "must be between 0 (off) and %g (0.05%% of queries), got %g", resolver.MaxDebugSampleRate, r)
	}
	rl := pc.RateLimit
	if !(rl.QPS >= 0) {
		add("privacy.rate_limit.qps", "must be 0 (off) or more, got %g", rl.QPS)
	}
	intBetween(add, "privacy.rate_limit.burst", rl.Burst, 0, 1<<20)
	intBetween(add, "privacy.rate_limit.slip", rl.Slip, 0, 100)
	between(add, "privacy.rate_limit.expire", rl.Expire, time.Second, resolver.MaxRateLimitExpire)
	intBetween(add, "privacy.rate_limit.max_entries", rl.MaxEntries, 1, 1<<24)
}

// resolverPrivacy maps the keys onto resolver.Privacy.
func (pc PrivacyConfig) resolverPrivacy() resolver.Privacy {
	return resolver.Privacy{
		Retention:       pc.Retention,
		QueryLog:        resolver.QueryLogConfig{Enabled: pc.QueryLog.Enabled, Size: pc.QueryLog.Size, ClientPrefix: pc.QueryLog.ClientPrefix},
		Dnstap:          resolver.DnstapConfig{File: pc.Dnstap.File, Socket: pc.Dnstap.Socket, ClientPrefix: pc.Dnstap.ClientPrefix},
		DebugSampleRate: pc.DebugSampling.Rate,
		RateLimit: resolver.RateLimitConfig{QPS: pc.RateLimit.QPS, Burst: pc.RateLimit.Burst, Slip: pc.RateLimit.Slip,
			Expire: pc.RateLimit.Expire, MaxEntries: pc.RateLimit.MaxEntries},
	}
}

// describe is a one-line summary for logs and status; no addresses.
func (pc PrivacyConfig) describe() string {
	return fmt.Sprintf("retention %v, query log %v, dnstap %v, debug sampling %g, rate limit %g qps, core dumps %v",
		pc.Retention, pc.QueryLog.Enabled, pc.Dnstap.File != "" || pc.Dnstap.Socket != "", pc.DebugSampling.Rate, pc.RateLimit.QPS, pc.AllowCoreDumps)
}
