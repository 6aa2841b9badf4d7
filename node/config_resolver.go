package node

// The resolver keys added by issue 3 (cache, serve-stale, protocol edges,
// resolution limits): their defaults, decoding and validation, kept apart
// from config.go so that file stays readable.

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults of the resolver keys in this file; see docs/config.md.
const (
	DefaultMaxTTL            = 24 * time.Hour
	DefaultMaxNegativeTTL    = time.Hour
	DefaultServeStale        = 24 * time.Hour
	DefaultStaleAnswerAfter  = 1800 * time.Millisecond
	DefaultResolveTimeout    = 5 * time.Second
	DefaultTCPIdleTimeout    = 10 * time.Second
	DefaultMaxTCPConnections = 1000
)

// defaultResolver is ResolverConfig with every default.
func defaultResolver() ResolverConfig {
	return ResolverConfig{
		CacheSize: DefaultCacheSize, UpstreamTimeout: 1500 * time.Millisecond, UpstreamPort: 53,
		ResolveTimeout: DefaultResolveTimeout,
		MaxTTL:         DefaultMaxTTL, MaxNegativeTTL: DefaultMaxNegativeTTL,
		ServeStale: DefaultServeStale, StaleAnswerAfter: DefaultStaleAnswerAfter,
		TCPIdleTimeout: DefaultTCPIdleTimeout, MaxTCPConnections: DefaultMaxTCPConnections,
		QNAMEMinimisation: true, CaseRandomisation: true, DNSSEC: true,
		MaxReferrals: 16, MaxCNAMEChain: 12, MaxGluelessPerDelegation: 4, MaxUpstreamQueries: 64,
	}
}

// resolverFields are the keys of the resolver section.
func (d *decoder) resolverFields(r *ResolverConfig) fields {
	return fields{
		{"root_hints", d.str(&r.RootHints)},
		{"trust_anchor", d.str(&r.TrustAnchor)},
		{"cache_size", d.size(&r.CacheSize)},
		{"upstream_timeout", d.duration(&r.UpstreamTimeout)},
		{"upstream_port", intField(d, &r.UpstreamPort, 1, math.MaxUint16)},
		{"resolve_timeout", d.duration(&r.ResolveTimeout)},
		{"min_ttl", d.duration(&r.MinTTL)},
		{"max_ttl", d.duration(&r.MaxTTL)},
		{"max_negative_ttl", d.duration(&r.MaxNegativeTTL)},
		{"serve_stale", d.duration(&r.ServeStale)},
		{"stale_answer_after", d.duration(&r.StaleAnswerAfter)},
		{"tcp_idle_timeout", d.duration(&r.TCPIdleTimeout)},
		{"max_tcp_connections", intField(d, &r.MaxTCPConnections, math.MinInt32, math.MaxInt32)},
		{"allow", func(n *yaml.Node, p string) {
			r.Allow = nil // the file's list replaces the default, never appends
			d.list(n, p, func(n *yaml.Node, p string) {
				var pfx netip.Prefix
				d.prefix(&pfx)(n, p)
				r.Allow = append(r.Allow, pfx)
			})
		}},
		{"cookie_secret", d.str(&r.CookieSecret)},
		{"qname_minimisation", d.boolean(&r.QNAMEMinimisation)},
		{"case_randomisation", d.boolean(&r.CaseRandomisation)},
		{"max_referrals", intField(d, &r.MaxReferrals, math.MinInt32, math.MaxInt32)},
		{"max_cname_chain", intField(d, &r.MaxCNAMEChain, math.MinInt32, math.MaxInt32)},
		{"max_glueless_per_delegation", intField(d, &r.MaxGluelessPerDelegation, math.MinInt32, math.MaxInt32)},
		{"max_upstream_queries", intField(d, &r.MaxUpstreamQueries, math.MinInt32, math.MaxInt32)},
	}
}

// prefix decodes an IP prefix; a bare address means just that host.
func (d *decoder) prefix(dst *netip.Prefix) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "a prefix such as 203.0.113.0/24")
		if !ok {
			return
		}
		v := strings.TrimSpace(s.Value)
		if p, err := netip.ParsePrefix(v); err == nil && !isNull(s) {
			*dst = p.Masked()
			return
		}
		if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
			*dst = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			return
		}
		d.fail(s, path, "must be a prefix such as 203.0.113.0/24 or 2001:db8::/32, got %s", describe(s))
	}
}

// resolverProblems validates the resolver section.
func (r ResolverConfig) problems(add adder) {
	existingFile(add, "resolver.root_hints", r.RootHints)
	existingFile(add, "resolver.trust_anchor", r.TrustAnchor)
	if r.CacheSize < 1<<20 {
		add("resolver.cache_size", "must be at least 1MiB, got %d bytes", r.CacheSize)
	}
	between(add, "resolver.upstream_timeout", r.UpstreamTimeout, 10*time.Millisecond, 30*time.Second)
	port(add, "resolver.upstream_port", int64(r.UpstreamPort))
	between(add, "resolver.resolve_timeout", r.ResolveTimeout, 100*time.Millisecond, time.Minute)
	if r.ResolveTimeout > 0 && r.UpstreamTimeout > r.ResolveTimeout {
		add("resolver.resolve_timeout", "must be at least resolver.upstream_timeout (%s), got %s", r.UpstreamTimeout, r.ResolveTimeout)
	}
	wholeSeconds(add, "resolver.min_ttl", r.MinTTL, 0, time.Hour)
	wholeSeconds(add, "resolver.max_ttl", r.MaxTTL, time.Second, 7*24*time.Hour)
	wholeSeconds(add, "resolver.max_negative_ttl", r.MaxNegativeTTL, time.Second, 24*time.Hour)
	if r.MinTTL > r.MaxTTL && r.MaxTTL >= time.Second {
		add("resolver.min_ttl", "must not be above resolver.max_ttl (%s), got %s", r.MaxTTL, r.MinTTL)
	}
	between(add, "resolver.serve_stale", r.ServeStale, 0, 7*24*time.Hour)
	if s := r.StaleAnswerAfter; s != 0 && (s < 10*time.Millisecond || s >= r.ResolveTimeout) {
		add("resolver.stale_answer_after", "must be 0 (wait for the resolution to fail) or from 10ms to less than resolver.resolve_timeout (%s), got %s", r.ResolveTimeout, s)
	}
	between(add, "resolver.tcp_idle_timeout", r.TCPIdleTimeout, 100*time.Millisecond, 10*time.Minute)
	intBetween(add, "resolver.max_tcp_connections", r.MaxTCPConnections, 1, 1_000_000)
	if r.CookieSecret != "" {
		if b, err := hex.DecodeString(r.CookieSecret); err != nil || len(b) != 16 {
			add("resolver.cookie_secret", "must be 32 hex digits (16 bytes, e.g. from `openssl rand -hex 16`), the same on every node of the service, got %d characters", len(r.CookieSecret))
		}
	}
	for i, p := range r.Allow {
		if !p.IsValid() {
			continue // reported while decoding
		}
		for j, q := range r.Allow[:i] {
			if q == p {
				add(fmt.Sprintf("resolver.allow[%d]", i), "%s is listed twice (also resolver.allow[%d]); remove one", p, j)
			}
		}
	}
	intBetween(add, "resolver.max_referrals", r.MaxReferrals, 1, 64)
	intBetween(add, "resolver.max_cname_chain", r.MaxCNAMEChain, 1, 64)
	intBetween(add, "resolver.max_glueless_per_delegation", r.MaxGluelessPerDelegation, 1, 32)
	intBetween(add, "resolver.max_upstream_queries", r.MaxUpstreamQueries, 1, 1000)
}

func intBetween(add adder, path string, v, lo, hi int) {
	if v < lo || v > hi {
		add(path, "must be %d..%d, got %d", lo, hi, v)
	}
}

// wholeSeconds is between for TTLs, which DNS counts in seconds.
func wholeSeconds(add adder, path string, v, lo, hi time.Duration) {
	if v < lo || v > hi || v%time.Second != 0 {
		add(path, "must be whole seconds between %s and %s, got %s", lo, hi, v)
	}
}

// offIfZero maps the config's "0 = off" to resolver.Config's "negative =
// off" (its zero means "default").
func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// cookieSecret decodes resolver.cookie_secret, validated already; nil means
// a random secret per process.
func cookieSecret(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return nil
	}
	return b
}
