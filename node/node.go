// Package node is the composition root of anycastd. It loads the config,
// wires the resolver, the BGP speaker and the health monitor together, owns
// the lifecycle state machine (starting, warming, announcing, withdrawn,
// draining, drained), keeps the service addresses on their interface, and
// serves the control socket and /metrics. Only cmd/ imports node; only node
// imports bgp, health and resolver.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/anycastd/anycastd/bgp"
	"github.com/anycastd/anycastd/health"
	"github.com/anycastd/anycastd/resolver"
)

// Version is set at build time with -ldflags "-X .../node.Version=...".
var Version = "dev"

// Node is one anycast resolver node. Build it with New, run it with Run.
type Node struct {
	cfg   *Config
	log   *slog.Logger
	clock health.Clock

	reg     *prometheus.Registry
	metrics *nodeMetrics

	addrs    *addrs
	resolver *resolver.Resolver
	// encrypted is DoT/DoH/DoQ (checks_tls.go); nil without tls.cert_file.
	encrypted *resolver.Encrypted
	speaker   *bgp.Speaker
	monitor   *health.Monitor

	// cmds carries closures into the event loop, which owns the lifecycle
	// state (the loop* fields of the node live only there).
	cmds chan func(*loop)

	policy policy

	// canaryQueries counts probes the node sent to itself, so the query
	// rate operators see can leave them out.
	canaryQueries atomic.Uint64
}

// clientQueries is the number of client queries answered so far, with the
// node's own canary probes taken out.
func (n *Node) clientQueries() uint64 {
	q, c := n.resolver.QueryCount(), n.canaryQueries.Load()
	if q < c {
		return 0
	}
	return q - c
}

// New builds a node from a validated config. It starts nothing.
func New(cfg *Config, log *slog.Logger) (*Node, error) {
	n := &Node{
		cfg:   cfg,
		log:   log,
		clock: health.RealClock{},
		reg:   prometheus.NewRegistry(),
		cmds:  make(chan func(*loop)),
	}
	n.policy = policyFromConfig(cfg)
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.addrs = &addrs{link: cfg.Service.Interface, want: cfg.Service.Addresses, log: log}

	hints := resolver.DefaultRootHints()
	if cfg.Resolver.RootHints != "" {
		h, err := loadRootHints(cfg.Resolver.RootHints)
		if err != nil {
			return nil, err
		}
		hints = h
	}
	validator, err := dnssecValidator(cfg.Resolver, log)
	if err != nil {
		return nil, err
	}
	var listen []netip.AddrPort
	for _, a := range cfg.Service.Addresses {
		listen = append(listen, netip.AddrPortFrom(a, cfg.Service.Port))
	}
	res, err := resolver.New(resolver.Config{
		NodeName:        cfg.Node.Name,
		Listen:          listen,
		RootHints:       hints,
		UpstreamPort:    cfg.Resolver.UpstreamPort,
		CacheBytes:      cfg.Resolver.CacheSize,
		UpstreamTimeout: cfg.Resolver.UpstreamTimeout,
		ResolveTimeout:  cfg.Resolver.ResolveTimeout,
		MaxTTL:          cfg.Resolver.MaxTTL,
		MaxNegativeTTL:  cfg.Resolver.MaxNegativeTTL,

		MinTTL: cfg.Resolver.MinTTL,
		// The config says 0 for "off"; resolver.Config says negative, its
		// zero meaning "default".
		ServeStale:        offIfZero(cfg.Resolver.ServeStale),
		StaleAnswerAfter:  offIfZero(cfg.Resolver.StaleAnswerAfter),
		TCPIdleTimeout:    cfg.Resolver.TCPIdleTimeout,
		MaxTCPConnections: cfg.Resolver.MaxTCPConnections,
		Allow:             cfg.Resolver.Allow,
		CookieSecret:      cookieSecret(cfg.Resolver.CookieSecret),

		DisableQNAMEMinimisation: !cfg.Resolver.QNAMEMinimisation,
		Disable0x20:              !cfg.Resolver.CaseRandomisation,
		MaxReferrals:             cfg.Resolver.MaxReferrals,
		MaxCNAMEChain:            cfg.Resolver.MaxCNAMEChain,
		MaxGluelessPerDelegation: cfg.Resolver.MaxGluelessPerDelegation,
		MaxUpstreamQueries:       cfg.Resolver.MaxUpstreamQueries,

		Privacy: cfg.Privacy.resolverPrivacy(),
		DNSSEC:  validator,
	}, log.With("component", "resolver"), n.reg)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	n.resolver = res
	if n.encrypted, err = newEncrypted(cfg, res, log, n.reg); err != nil {
		return nil, fmt.Errorf("encrypted dns: %w", err)
	}

	bc := bgp.Config{ASN: cfg.BGP.ASN, RouterID: cfg.BGP.RouterID, ListenPort: cfg.BGP.ListenPort, APIListen: cfg.BGP.APIListen,
		Faults:    bgp.FaultPolicy{Limit: cfg.BGP.Faults.Limit, Window: cfg.BGP.Faults.Window, HoldDown: cfg.BGP.Faults.HoldDown},
		StateFile: filepath.Join(cfg.Node.StateDir, "bgp-faults.json"),
		// Only other announcers of our own service prefixes matter
		// (OtherAnnouncers); a router sending a full table costs parse
		// time, not memory.
		Keep: []netip.Prefix{},
	}
	if bc.Faults.Limit == 0 {
		bc.Faults.Limit = -1 // config 0: never disable
	}
	for _, a := range cfg.Service.Addresses {
		bc.Keep = append(bc.Keep, hostPrefix(a))
	}
	for _, p := range cfg.BGP.Peers {
		bc.Peers = append(bc.Peers, bgp.Peer{
			Address: p.Address, ASN: p.ASN, LocalAddress: p.LocalAddress, Port: p.Port,
			Password: p.Password, HoldTime: p.HoldTime, Keepalive: p.Keepalive, Multihop: p.Multihop,
			TTLSecurity: p.TTLSecurity,
		})
	}
	n.speaker = bgp.New(bc, log.With("component", "bgp"))
	n.monitor = health.New(n.clock, log.With("component", "health"), n.checks()...)
	n.metrics = newNodeMetrics(n)
	n.reg.MustRegister(n.metrics)
	return n, nil
}

// checks builds the critical checks of each service address: the address is
// on the interface, and a canary query through that address's real listener
// resolves recursively.
func (n *Node) checks() []health.Check {
	hc := n.cfg.Health
	qtype := dns.StringToType[hc.CanaryType]
	var cs []health.Check
	for _, a := range n.cfg.Service.Addresses {
		a := a
		cs = append(cs, health.Check{
			Name: "address " + a.String(), Level: health.Critical,
			Interval: hc.Interval, Timeout: hc.Timeout, Rise: hc.Rise, Fall: hc.Fall,
			Probe: func(context.Context) error {
				ok, err := n.addrs.Present(a)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("%s is not on %s", a, n.cfg.Service.Interface)
				}
				return nil
			},
		})
		target := netip.AddrPortFrom(a, n.cfg.Service.Port)
		cs = append(cs, health.Check{
			Name: "canary " + a.String(), Level: health.Critical,
			Interval: hc.Interval, Timeout: hc.Timeout, Rise: hc.Rise, Fall: hc.Fall,
			Probe: func(ctx context.Context) error {
				n.canaryQueries.Add(1)
				return resolver.Canary(ctx, target, hc.CanaryName, qtype)
			},
		})
	}
	return append(append(append(cs, n.degradingChecks()...), n.dnssecChecks()...), n.tlsChecks()...)
}

// Run brings the node up and blocks until ctx is done, then runs the
// ordered shutdown. It returns nil after a clean shutdown.
func (n *Node) Run(ctx context.Context) error {
	if err := n.coreDumpPolicy(); err != nil {
		return err
	}
	intent, err := readIntent(n.cfg.Node.StateDir)
	if err != nil {
		return err
	}
	if err := n.addrs.Apply(); err != nil {
		return fmt.Errorf("configure service addresses: %w", err)
	}

	// Each part gets its own context so shutdown can stop them in order
	// rather than all at once.
	parts := newParts()
	resCtx, stopRes := context.WithCancel(context.Background())
	spkCtx, stopSpk := context.WithCancel(context.Background())
	monCtx, stopMon := context.WithCancel(context.Background())
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer func() { stopSrv(); stopMon(); stopRes(); stopSpk() }()

	parts.start("resolver", func() error { return n.resolver.Run(resCtx) })
	if n.encrypted != nil {
		parts.start("encrypted", func() error { return n.encrypted.Run(resCtx) })
		parts.start("sighup", func() error { return n.reloadOnSIGHUP(srvCtx) })
	}
	parts.start("bgp", func() error { return n.speaker.Run(spkCtx) })
	parts.start("health", func() error { return n.monitor.Run(monCtx) })
	ctl, err := n.listenControl()
	if err != nil {
		return err
	}
	parts.start("control", func() error { return n.serveControl(srvCtx, ctl) })
	if n.cfg.Metrics.Listen != "" {
		ml, err := n.listenMetrics()
		if err != nil {
			return err
		}
		parts.start("metrics", func() error { return n.serveMetrics(srvCtx, ml) })
	}

	l := newLoop(n, intent)
	n.notify("READY=1")
	// The loop returns once ctx is done and the shutdown drain (taper with
	// GRACEFUL_SHUTDOWN, withdraw, lame duck) has run, or when a part fails.
	runErr := l.run(ctx, parts.failed)

	n.log.Info("shutting down", "state", l.state)
	if err := l.withdrawAll(); err != nil {
		n.log.Error("withdraw on shutdown", "err", err)
	}
	stopMon()
	stopRes()
	parts.wait("resolver", 10*time.Second)
	stopSpk()
	parts.wait("bgp", 10*time.Second)
	stopSrv()
	if err := n.addrs.Remove(); err != nil {
		n.log.Error("remove service addresses", "err", err)
	}
	parts.waitAll(5 * time.Second)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}
