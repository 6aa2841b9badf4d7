package resolver

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
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
}

const (
	defaultCacheBytes      = 64 << 20
	defaultUpstreamTimeout = 800 * time.Millisecond
	defaultResolveTimeout  = 5 * time.Second
	defaultShutdownTimeout = 3 * time.Second
	defaultMaxTTL          = 24 * time.Hour
	defaultMaxNegativeTTL  = time.Hour
)

// withDefaults returns cfg with defaults filled in, or every problem found.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
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
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %v is negative", d.name, d.v))
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
	return cfg, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}
