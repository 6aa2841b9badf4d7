package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Resolver is a recursive resolver with its listeners. Build it with New,
// serve with Run. Resolve may be used without Run.
type Resolver struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	cache   *cache
	up      *upstream
	flights singleflight.Group
	cookies *cookies
	val     *validation // DNSSEC; nil when Config.DNSSEC is
	priv    *privacy    // query log, dnstap, sampling, rate limit (privacy.go)
	shed    *shedding   // overload limits (shed.go)
	now     func() time.Time

	counters counters      // answers, upstream RTT, bogus: QueryCount and the health checks (counters.go)
	ready    chan struct{} // closed once Run has bound every listener

	// mu guards what follows.
	mu      sync.Mutex
	running bool
	addrs   []netip.AddrPort
}

// New checks cfg and builds a Resolver. It starts nothing: no socket, no
// goroutine. Metrics go to reg unless it is nil.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Resolver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("resolver config: %w", err)
	}
	cfg.RootHints = append([]netip.Addr(nil), cfg.RootHints...)
	cfg.Listen = append([]netip.AddrPort(nil), cfg.Listen...)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{
		cfg:   cfg,
		log:   log,
		now:   time.Now,
		ready: make(chan struct{}),
	}
	r.cache, err = newCache(cacheConfig{
		maxBytes:   cfg.CacheBytes,
		minTTL:     cfg.MinTTL,
		serveStale: max(cfg.ServeStale, 0),
	}, func() time.Time { return r.now() })
	if err != nil {
		return nil, err
	}
	r.m, err = newMetrics(reg, func() float64 { return float64(r.cache.bytes()) })
	if err != nil {
		return nil, err
	}
	r.up, err = newUpstream(cfg, r.m, reg, func() time.Time { return r.now() })
	if err != nil {
		return nil, err
	}
	r.up.cnt = &r.counters
	r.cookies = newCookies(cfg.CookieSecret)
	if r.val, err = newValidation(cfg.DNSSEC, reg); err != nil {
		return nil, err
	}
	r.up.ck = r.cookies
	r.priv, err = newPrivacy(cfg.Privacy, cfg.NodeName, func() time.Time { return r.now() }, log, reg)
	if err != nil {
		return nil, fmt.Errorf("resolver config: %w", err)
	}
	r.up.priv = r.priv
	if r.shed, err = newShedding(reg); err != nil {
		return nil, err
	}
	return r, nil
}

// Resolve answers q recursively: from the cache, by joining an identical
// question already in flight, or by iterating from the closest known zone
// cut. The reply holds Rcode, Answer (the CNAME chain and the data) and,
// for negative answers, the SOA in Ns. An error means the question could not
// be answered (the listeners turn it into SERVFAIL). Each caller gets its
// own copy of the message.
//
// Cache hits, serve-stale and prefetch are in stale.go (lookup); a stale
// answer comes back like a fresh one here, with TTLs of 30s.
func (r *Resolver) Resolve(ctx context.Context, q dns.Question) (*dns.Msg, error) {
	a, err := r.lookup(ctx, q)
	if err != nil {
		return nil, err
	}
	return a.msg, nil
}

// flight starts, or joins, the resolution of q (lowercase) from the
// authorities; lookup decides when to wait for it.
func (r *Resolver) flight(ctx context.Context, q dns.Question) <-chan singleflight.Result {
	key := q.Name + "/" + strconv.Itoa(int(q.Qtype)) + "/" + strconv.Itoa(int(q.Qclass))
	return r.flights.DoChan(key, func() (any, error) {
		// The flight outlives the caller who started it: others may have
		// joined, and the answer is worth caching either way.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ResolveTimeout)
		defer cancel()
		return r.resolve(fctx, q, r.newBudget())
	})
}

// QueryCount returns how many client queries the listeners have answered,
// so the node can watch traffic taper while draining.
func (r *Resolver) QueryCount() uint64 { return r.counters.answers.Load() }

// Ready is closed once Run has bound every listener.
func (r *Resolver) Ready() <-chan struct{} { return r.ready }

// Addrs returns the bound listener addresses (ports resolved when Listen
// asked for port 0); nil before Ready.
func (r *Resolver) Addrs() []netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]netip.AddrPort(nil), r.addrs...)
}

// Run binds the listeners, serves until ctx is done, then stops accepting
// and waits up to Config.ShutdownTimeout for queries in flight. It returns
// nil after a clean stop, or the error that stopped it early.
func (r *Resolver) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("resolver: Run called twice")
	}
	r.running = true
	r.mu.Unlock()

	if err := r.priv.tap.open(); err != nil {
		return err
	}
	defer r.priv.tap.close()
	ls, err := r.listen(ctx)
	if err != nil {
		return err
	}
	errc := make(chan error, ls.count())
	ls.serve(errc)
	for range ls.count() {
		select {
		case <-ls.started:
		case err := <-errc:
			ls.shutdown(context.Background())
			return fmt.Errorf("serve dns: %w", err)
		}
	}
	r.mu.Lock()
	r.addrs = ls.addrs
	r.mu.Unlock()
	close(r.ready)
	r.log.Info("resolver listening", "addrs", ls.addrs)

	// otter gets no ticks of its own (see otterClock): expired entries are
	// swept here, so New starts nothing.
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-sweep.C:
			r.cache.cleanUp()
			r.priv.sweep()
		case err := <-errc:
			runErr = fmt.Errorf("serve dns: %w", err)
			break loop
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
	defer cancel()
	if err := ls.shutdown(sctx); err != nil {
		r.log.Warn("resolver shutdown incomplete", "err", err)
	}
	r.log.Info("resolver stopped")
	return runErr
}
