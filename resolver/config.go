package resolver

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/anycastd/anycastd/resolver/dnssec"
)

// Config is what New needs. The zero value of every optional field means
// "use the default" named next to it.
type Config struct {
	// NodeName is the NSID payload (RFC 5001) returned to clients that ask.
	NodeName string
	// Listen holds the addresses served over both UDP and TCP. Sockets are
	// opened with IP_FREEBIND, so an address may appear on an interface
	// after Run has bound it. Port 0 picks one free port shared by UDP and
	// TCP; Addrs reports it.
	Listen []netip.AddrPort
	// RootHints are the root server addresses the iterator starts from.
	// Required: tests, benches and the lab must point these at their own
	// mini internet; DefaultRootHints is for real deployments only.
	RootHints []netip.Addr
	// UpstreamPort is the port of every authoritative server (0 means 53).
	UpstreamPort uint16
	// CacheBytes bounds the cache by the bytes of its entries (default 64 MiB).
	CacheBytes int64
	// UpstreamTimeout bounds one query to one authoritative server before
	// the next server is tried (default 800ms).
	UpstreamTimeout time.Duration
	// ResolveTimeout bounds one client question, all upstream work
	// included (default 5s).
	ResolveTimeout time.Duration
	// ShutdownTimeout bounds how long Run waits for in-flight queries once
	// its context is done (default 3s).
	ShutdownTimeout time.Duration
	// MaxTTL caps the TTL of cached positive answers (default 24h).
	MaxTTL time.Duration
	// MaxNegativeTTL caps the TTL of cached NXDOMAIN/NODATA (default 1h,
	// RFC 2308 suggests one to three hours).
	MaxNegativeTTL time.Duration

	// Cache and protocol (issue 3)

	// MinTTL raises the TTL of cached answers, positive and negative, to at
	// least this (default 0: the zone's TTLs stand).
	MinTTL time.Duration
	// ServeStale keeps expired entries this long past their TTL so they can
	// be served (RFC 8767) when the authorities fail (default 24h;
	// negative disables serve-stale).
	ServeStale time.Duration
	// StaleAnswerAfter is RFC 8767's client response timer: when an expired
	// entry exists and resolving takes longer than this, the client gets
	// the stale answer while the refresh goes on (default 1.8s; negative
	// waits for the resolution to fail instead).
	StaleAnswerAfter time.Duration
	// TCPIdleTimeout closes a client TCP connection after this long without
	// a query (default 10s, RFC 7766 section 6.2.3).
	TCPIdleTimeout time.Duration
	// MaxTCPConnections bounds concurrent client TCP connections per
	// listener; connections beyond it are closed at once (default 1000).
	MaxTCPConnections int
	// Allow lists the client prefixes served; others get REFUSED. Empty
	// means everyone, as a public resolver.
	Allow []netip.Prefix
	// CookieSecret keys the server cookies given to clients (RFC 9018).
	// Nodes of one anycast service share it, so a client whose packets
	// move to another node keeps a valid cookie (RFC 9018 section 5).
	// Empty: a random secret per process.
	CookieSecret []byte

	// Resolution limits and behaviour (issue 3)

	// DisableQNAMEMinimisation sends the full query name to every zone's
	// servers instead of one label more than the zone (RFC 9156, on by
	// default).
	DisableQNAMEMinimisation bool
	// Disable0x20 sends query names in the case they were asked instead of
	// randomising the case of their letters over UDP.
	Disable0x20 bool
	// DisableIPv4Upstream and DisableIPv6Upstream skip name server
	// addresses of that family, for hosts without such connectivity.
	DisableIPv4Upstream bool
	DisableIPv6Upstream bool
	// MaxReferrals bounds the zone cuts walked down for one name (default 16).
	MaxReferrals int
	// MaxCNAMEChain bounds the CNAME/DNAME links followed for one client
	// question (default 12).
	MaxCNAMEChain int
	// MaxGluelessPerDelegation bounds the name servers without glue that
	// are resolved for one zone cut (default 4; NXNSAttack).
	MaxGluelessPerDelegation int
	// MaxUpstreamQueries bounds the queries sent to authoritative servers
	// for one client question, sub-lookups and retries included (default 64).
	MaxUpstreamQueries int

	// Privacy (issue 6, privacy.go): query log, dnstap, debug sampling,
	// rate limit. The zero value keeps nothing about clients.
	Privacy Privacy

	// DNSSEC (issue 4, validate.go) validates answers from this
	// validator's trust anchors; nil means no validation, no DO bit
	// upstream, never AD.
	DNSSEC *dnssec.Validator
}

const (
	defaultCacheBytes      = 64 << 20
	defaultUpstreamTimeout = 800 * time.Millisecond
	defaultResolveTimeout  = 5 * time.Second
	defaultShutdownTimeout = 3 * time.Second
	defaultMaxTTL          = 24 * time.Hour
	defaultMaxNegativeTTL  = time.Hour

	defaultServeStale        = 24 * time.Hour
	defaultStaleAnswerAfter  = 1800 * time.Millisecond
	defaultTCPIdleTimeout    = 10 * time.Second
	defaultMaxTCPConnections = 1000
)

// withDefaults returns cfg with defaults filled in, or every problem found.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	if n := len(cfg.CookieSecret); n != 0 && n != 16 {
		errs = append(errs, fmt.Errorf("cookie_secret: must be 16 bytes, got %d", n))
	}
	if len(cfg.RootHints) == 0 {
		errs = append(errs, errors.New("root_hints: empty (tests must use their own mini internet, deployments DefaultRootHints)"))
	}
	for i, a := range cfg.RootHints {
		if !a.IsValid() {
			errs = append(errs, fmt.Errorf("root_hints[%d]: invalid address", i))
		}
	}
	for i, ap := range cfg.Listen {
		if !ap.Addr().IsValid() {
			errs = append(errs, fmt.Errorf("listen[%d]: invalid address", i))
		}
	}
	if cfg.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("cache_bytes: %d is negative", cfg.CacheBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"upstream_timeout", cfg.UpstreamTimeout},
		{"resolve_timeout", cfg.ResolveTimeout},
		{"shutdown_timeout", cfg.ShutdownTimeout},
		{"max_ttl", cfg.MaxTTL},
		{"max_negative_ttl", cfg.MaxNegativeTTL},
		{"min_ttl", cfg.MinTTL},
		{"tcp_idle_timeout", cfg.TCPIdleTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %v is negative", d.name, d.v))
		}
	}
	for _, l := range []struct {
		name string
		v    int
	}{
		{"max_referrals", cfg.MaxReferrals},
		{"max_cname_chain", cfg.MaxCNAMEChain},
		{"max_glueless_per_delegation", cfg.MaxGluelessPerDelegation},
		{"max_upstream_queries", cfg.MaxUpstreamQueries},
	} {
		if l.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %d is negative", l.name, l.v))
		}
	}
	if cfg.DisableIPv4Upstream && cfg.DisableIPv6Upstream {
		errs = append(errs, errors.New("disable_ipv4_upstream, disable_ipv6_upstream: both set, no server would be reachable"))
	}
	if cfg.MaxTCPConnections < 0 {
		errs = append(errs, fmt.Errorf("max_tcp_connections: %d is negative", cfg.MaxTCPConnections))
	}
	if cfg.MinTTL > 0 && cfg.MaxTTL > 0 && cfg.MinTTL > cfg.MaxTTL {
		errs = append(errs, fmt.Errorf("min_ttl: %v is above max_ttl %v", cfg.MinTTL, cfg.MaxTTL))
	}
	for i, p := range cfg.Allow {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("allow[%d]: invalid prefix", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	if cfg.UpstreamPort == 0 {
		cfg.UpstreamPort = 53
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = defaultCacheBytes
	}
	setDefault(&cfg.UpstreamTimeout, defaultUpstreamTimeout)
	setDefault(&cfg.ResolveTimeout, defaultResolveTimeout)
	setDefault(&cfg.ShutdownTimeout, defaultShutdownTimeout)
	setDefault(&cfg.MaxTTL, defaultMaxTTL)
	setDefault(&cfg.MaxNegativeTTL, defaultMaxNegativeTTL)
	// Cache and protocol (issue 3)
	setDefault(&cfg.ServeStale, defaultServeStale)
	setDefault(&cfg.StaleAnswerAfter, defaultStaleAnswerAfter)
	setDefault(&cfg.TCPIdleTimeout, defaultTCPIdleTimeout)
	if cfg.MaxTCPConnections == 0 {
		cfg.MaxTCPConnections = defaultMaxTCPConnections
	}
	cfg.Allow = append([]netip.Prefix(nil), cfg.Allow...)
	// Resolution limits and behaviour (issue 3)
	setDefaultInt(&cfg.MaxReferrals, defaultMaxReferrals)
	setDefaultInt(&cfg.MaxCNAMEChain, defaultMaxCNAMEChain)
	setDefaultInt(&cfg.MaxGluelessPerDelegation, defaultMaxGluelessPerDelegation)
	setDefaultInt(&cfg.MaxUpstreamQueries, defaultMaxUpstreamQueries)
	return cfg, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}
