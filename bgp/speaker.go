// Package bgp is the node's BGP speaker: an embedded GoBGP v3 server that
// announces a declarative set of locally originated routes to configured
// upstream routers.
//
// The boundary is the whole desired state: Set takes the full list of routes
// with their attributes, diffs it against what is announced, and changes only
// what differs, so it is safe to call on every state change. Because the
// speaker lives in the resolver's process, a crash closes the sessions and the
// routes go with them; graceful restart is never advertised for the same
// reason (see docs/bgp.md).
package bgp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// stopTimeout bounds how long Run waits for GoBGP to close its sessions;
// a peer that stops reading must not hold up the node's shutdown.
const stopTimeout = 5 * time.Second

// PeerStatus is a snapshot of one session.
type PeerStatus struct {
	Address    netip.Addr
	ASN        uint32
	State      string // idle, connect, active, opensent, openconfirm, established
	Uptime     time.Duration
	Received   int // paths in Adj-RIB-In
	Accepted   int // of those, accepted by import policy
	Advertised int // paths sent to the peer
	// DisabledUntil is set while the fault policy keeps the peer
	// disabled (see faults.go), with the reason.
	DisabledUntil  time.Time
	DisabledReason string
}

// Speaker announces routes over BGP. Its zero value is not usable; use New.
type Speaker struct {
	cfg    Config
	log    *slog.Logger
	faults *faults
	// testInput, when set by a test, is called for every received route
	// inside GoBGP's receive path; a panic there stands in for a decoder
	// bug (the fault policy test).
	testInput func(peer string)

	mu sync.Mutex // guards what follows
	// running is true between the start and the end of Run.
	running bool
	// srv is the GoBGP server while it is started, nil otherwise.
	srv *server.BgpServer
	// desired is the last set given to Set, kept so that a Set before Run
	// (or across a restart of Run) takes effect once the server is up.
	desired map[netip.Prefix]Route
	// announced is what is in GoBGP's local RIB, with the UUID GoBGP gave
	// each path so that it can be deleted exactly.
	announced map[netip.Prefix]announcedRoute
}

type announcedRoute struct {
	route Route
	uuid  []byte
}

// New returns a speaker for cfg. It starts nothing; Run does.
//
// Run one Speaker per process at a time: GoBGP's StartBgp writes route
// selection options into package globals that every server reads, so two
// servers starting side by side race (harmlessly, as the values are the
// same, but the race detector says so).
func New(cfg Config, log *slog.Logger) *Speaker {
	c := cfg
	c.Peers = slices.Clone(cfg.Peers)
	return &Speaker{
		cfg:       c,
		log:       log,
		desired:   map[netip.Prefix]Route{},
		announced: map[netip.Prefix]announcedRoute{},
		faults:    newFaults(cfg.Faults, cfg.StateFile),
	}
}

// Run starts GoBGP, announces the desired routes, adds the peers and blocks
// until ctx is done. It then stops GoBGP, which sends a Cease to every peer
// and closes the sessions, so the peers drop our routes at once rather than
// after the hold time. It returns nil after a clean stop.
func (s *Speaker) Run(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("start bgp: %w", err)
	}
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("start bgp: already running")
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()

	if err := s.faults.load(); err != nil {
		s.log.Error("bgp fault state not loaded; starting with every peer enabled", "err", err)
	}
	opts := []server.ServerOption{
		server.LoggerOption(newLogAdapter(s.log)),
		server.InputEventHookOption(s.faults.observe),
		// RFC 7606: an attribute error withdraws the UPDATE's routes (or
		// drops the attribute) instead of resetting the session, which
		// would also withdraw everything we announce to that router.
		server.RevisedErrorHandlingOption(),
	}
	if filter := s.adjInFilter(); filter != nil {
		opts = append(opts, server.AdjInFilterOption(filter))
	}
	if s.cfg.APIListen != "" {
		apiOpts, err := apiServerOptions(s.cfg.APIListen)
		if err != nil {
			return fmt.Errorf("start bgp: %w", err)
		}
		opts = append(opts, apiOpts...)
	}
	srv := server.NewBgpServer(opts...)
	// GoBGP's Serve loop has no way to end; after Stop it idles. One
	// goroutine per Run is the price of embedding it.
	go srv.Serve()

	listen := s.cfg.ListenPort
	if listen <= 0 {
		listen = -1 // GoBGP: do not listen; 0 would mean port 179.
	}
	err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:        s.cfg.ASN,
		RouterId:   s.cfg.RouterID.String(),
		ListenPort: listen,
	}})
	if err != nil {
		return fmt.Errorf("start bgp: %w", err)
	}

	if err := noTransit(ctx, srv); err != nil {
		stop(srv)
		return fmt.Errorf("start bgp: %w", err)
	}

	// Paths go into the RIB before any peer exists, so each session's
	// first UPDATE carries the whole set.
	s.mu.Lock()
	s.srv = srv
	if err := s.reconcileLocked(); err != nil {
		s.log.Error("announce desired routes", "err", err)
	}
	s.mu.Unlock()

	var addErr error
	for _, p := range s.cfg.Peers {
		ap := apiPeer(p)
		d, off := s.faults.disabledState(p.Address)
		ap.Conf.AdminDown = off
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: ap}); err != nil {
			addErr = fmt.Errorf("add peer %v: %w", p.Address, err)
			break
		}
		if off {
			s.log.Error("bgp peer added disabled by the fault policy", "peer", p.Address, "asn", p.ASN,
				"until", d.Until.Format(time.RFC3339), "reason", d.Reason)
			continue
		}
		s.log.Info("bgp peer added", "peer", p.Address, "asn", p.ASN)
	}
	if addErr == nil {
		faultsDone := make(chan struct{})
		go func() {
			defer close(faultsDone)
			s.runFaults(ctx, srv)
		}()
		<-ctx.Done()
		<-faultsDone
	}

	s.mu.Lock()
	s.srv = nil
	clear(s.announced)
	s.mu.Unlock()
	stopErr := stop(srv)
	if stopErr == nil {
		s.log.Info("bgp stopped, sessions closed")
	}
	return errors.Join(addErr, stopErr)
}

// noTransit keeps every path learned from a peer out of GoBGP's global RIB,
// so the node never re-advertises one router's routes to another: without
// it, a node with two upstreams (each sending it the other nodes' paths with
// ADD-PATH) would become a transit path between them. The global import
// policy rejects anything that came from a neighbour (the set covers every
// address); locally originated paths have no neighbour and are accepted by
// default. The paths stay in each peer's Adj-RIB-In, which is all that
// OtherAnnouncers reads.
func noTransit(ctx context.Context, srv *server.BgpServer) error {
	if err := srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{
		DefinedType: api.DefinedType_NEIGHBOR, Name: "any-peer", List: []string{"0.0.0.0/0", "::/0"},
	}}); err != nil {
		return fmt.Errorf("no-transit policy: %w", err)
	}
	if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: &api.Policy{
		Name: "no-transit",
		Statements: []*api.Statement{{
			Name:       "reject-learned",
			Conditions: &api.Conditions{NeighborSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: "any-peer"}},
			Actions:    &api.Actions{RouteAction: api.RouteAction_REJECT},
		}},
	}}); err != nil {
		return fmt.Errorf("no-transit policy: %w", err)
	}
	if err := srv.AddPolicyAssignment(ctx, &api.AddPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_IMPORT,
		Policies: []*api.Policy{{Name: "no-transit"}}, DefaultAction: api.RouteAction_ACCEPT,
	}}); err != nil {
		return fmt.Errorf("no-transit policy: %w", err)
	}
	return nil
}

// stop shuts GoBGP down, giving up after stopTimeout.
func stop(srv *server.BgpServer) error {
	done := make(chan struct{})
	go func() {
		srv.Stop()
		close(done)
	}()
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("stop bgp: sessions not closed after %v", stopTimeout)
	}
}

// apiPeer converts a validated Peer to GoBGP's form.
func apiPeer(p Peer) *api.Peer {
	hold, keepalive := p.timers()
	var fam *api.Family
	if p.Address.Is4() {
		fam = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	} else {
		fam = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	}
	ap := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.ASN,
			AuthPassword:    p.Password,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:           uint64(connectRetry / time.Second),
			HoldTime:               uint64(hold / time.Second),
			KeepaliveInterval:      uint64(keepalive / time.Second),
			IdleHoldTimeAfterReset: uint64(idleHold / time.Second),
		}},
		Transport: &api.Transport{RemotePort: uint32(p.port())},
		// Only the family of the session's own address: that is what
		// keeps an IPv6 prefix off an IPv4 session (where its next hop
		// would be IPv4, which BIRD treats as unreachable) and vice versa.
		// ADD-PATH receive lets a router that sends all paths show us
		// every other announcer, not only its best (OtherAnnouncers).
		AfiSafis: []*api.AfiSafi{{
			Config:   &api.AfiSafiConfig{Family: fam, Enabled: true},
			AddPaths: &api.AddPaths{Config: &api.AddPathsConfig{Receive: true}},
		}},
		// GracefulRestart is left nil: the capability is never sent,
		// so a peer drops our routes as soon as the session goes.
	}
	if p.LocalAddress.IsValid() {
		ap.Transport.LocalAddress = p.LocalAddress.String()
	}
	if p.Multihop > 0 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.Multihop)}
	}
	if p.TTLSecurity {
		// GoBGP then sends with TTL 255 (overriding the multihop TTL)
		// and sets IP_MINTTL / IPV6_MINHOPCOUNT on the socket.
		ap.TtlSecurity = &api.TtlSecurity{Enabled: true, TtlMin: p.minTTL()}
	}
	return ap
}

// Set makes routes the full set of announced routes: changed or new routes
// are (re)announced, routes not in the set are withdrawn, and unchanged
// routes cause no UPDATE at all. Before Run has started the server the set
// is remembered and announced once it is up. An invalid set is rejected
// whole and changes nothing.
func (s *Speaker) Set(ctx context.Context, routes []Route) error {
	want, err := validateRoutes(routes)
	if err != nil {
		return fmt.Errorf("set routes: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.desired = want
	if s.srv == nil {
		return nil
	}
	return s.reconcileLocked()
}

// reconcileLocked brings GoBGP's RIB to s.desired. Failures are collected,
// and what did succeed is recorded, so the next call retries only the rest.
func (s *Speaker) reconcileLocked() error {
	// GoBGP's management calls ignore their context; a background one
	// makes that explicit rather than suggesting cancellation works.
	ctx := context.Background()
	var errs []error
	for _, prefix := range sortedPrefixes(s.announced) {
		if _, ok := s.desired[prefix]; ok {
			continue
		}
		a := s.announced[prefix]
		if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{
			TableType: api.TableType_GLOBAL,
			Family:    family(prefix),
			Uuid:      a.uuid,
		}); err != nil {
			errs = append(errs, fmt.Errorf("withdraw %v: %w", prefix, err))
			continue
		}
		delete(s.announced, prefix)
		s.log.Info("bgp route withdrawn", "prefix", prefix)
	}
	for _, prefix := range sortedPrefixes(s.desired) {
		r := s.desired[prefix]
		if a, ok := s.announced[prefix]; ok && a.route.equal(r) {
			continue
		}
		path, err := apiPath(r, s.cfg.ASN)
		if err != nil {
			errs = append(errs, fmt.Errorf("announce %v: %w", prefix, err))
			continue
		}
		// Adding a path for a prefix we already originate replaces it
		// (implicit withdraw), so a change of attributes is one UPDATE.
		resp, err := s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
		if err != nil {
			errs = append(errs, fmt.Errorf("announce %v: %w", prefix, err))
			continue
		}
		s.announced[prefix] = announcedRoute{route: r.clone(), uuid: resp.GetUuid()}
		s.log.Info("bgp route announced", "prefix", prefix, "med", r.MED,
			"prepend", r.Prepend, "communities", communityStrings(r.Communities))
	}
	return errors.Join(errs...)
}

// Announced returns the routes currently in GoBGP's RIB, sorted by prefix.
// It is empty while Run is not running, whatever Set was given.
func (s *Speaker) Announced() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Route, 0, len(s.announced))
	for _, prefix := range sortedPrefixes(s.announced) {
		out = append(out, s.announced[prefix].route.clone())
	}
	return out
}

// server returns the running GoBGP server, or nil.
func (s *Speaker) server() *server.BgpServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Peers reports every configured peer. While Run is not running each one
// is reported idle.
func (s *Speaker) Peers(ctx context.Context) (_ []PeerStatus, err error) {
	defer recoverAs(&err, "list peers")
	srv := s.server()
	if srv == nil {
		out := make([]PeerStatus, 0, len(s.cfg.Peers))
		for _, p := range s.cfg.Peers {
			out = append(out, PeerStatus{Address: p.Address, ASN: p.ASN, State: "idle"})
		}
		return out, nil
	}
	var out []PeerStatus
	err = srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		st := peerStatus(p)
		if d, off := s.faults.disabledState(st.Address); off {
			st.DisabledUntil, st.DisabledReason = d.Until, d.Reason
		}
		out = append(out, st)
	})
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return a.Address.Compare(b.Address) })
	return out, nil
}

// MalformedCounts reports, per peer and action, how often a peer's input
// was not usable as sent (RFC 7606 handling, session resets, recovered
// panics). Counters live as long as the Speaker, across runs.
func (s *Speaker) MalformedCounts() []MalformedCount { return s.faults.counters() }

// adjInFilter is the Adj-RIB-In filter for GoBGP: Config.Keep, and the
// test hook.
func (s *Speaker) adjInFilter() func(string, bgp.AddrPrefixInterface) bool {
	keep := keepFilter(s.cfg.Keep)
	if s.testInput == nil {
		return keep
	}
	return func(peer string, nlri bgp.AddrPrefixInterface) bool {
		s.testInput(peer)
		return keep == nil || keep(peer, nlri)
	}
}

func peerStatus(p *api.Peer) PeerStatus {
	st := PeerStatus{State: "idle"}
	if c := p.GetConf(); c != nil {
		st.Address, _ = netip.ParseAddr(c.GetNeighborAddress())
		st.ASN = c.GetPeerAsn()
	}
	if s := p.GetState(); s != nil {
		if name := strings.ToLower(s.GetSessionState().String()); name != "unknown" {
			st.State = name
		}
	}
	if up := p.GetTimers().GetState().GetUptime(); st.State == "established" && up != nil {
		st.Uptime = max(time.Since(up.AsTime()), 0).Truncate(time.Second)
	}
	for _, af := range p.GetAfiSafis() {
		as := af.GetState()
		st.Received += int(as.GetReceived())
		st.Accepted += int(as.GetAccepted())
		st.Advertised += int(as.GetAdvertised())
	}
	return st
}

// OtherAnnouncers counts the paths for exactly prefix that peers sent us,
// across all sessions. Paths whose AS path already holds our ASN are not
// counted: they are our own route reflected back. A router that sends only
// its best path shows nothing to the node whose path is best; routers that
// send ADD-PATH show every other announcer (see docs/bgp.md).
func (s *Speaker) OtherAnnouncers(ctx context.Context, prefix netip.Prefix) (_ int, err error) {
	defer recoverAs(&err, "other announcers")
	if !prefix.IsValid() {
		return 0, fmt.Errorf("other announcers of %v: invalid prefix", prefix)
	}
	prefix = prefix.Masked()
	srv := s.server()
	if srv == nil {
		return 0, fmt.Errorf("other announcers of %v: bgp not running", prefix)
	}
	n := 0
	for _, p := range s.cfg.Peers {
		if p.Address.Is4() != prefix.Addr().Is4() {
			continue
		}
		err := srv.ListPath(ctx, &api.ListPathRequest{
			TableType: api.TableType_ADJ_IN,
			Name:      p.Address.String(),
			Family:    family(prefix),
			Prefixes:  []*api.TableLookupPrefix{{Prefix: prefix.String(), Type: api.TableLookupPrefix_EXACT}},
		}, func(d *api.Destination) {
			for _, path := range d.GetPaths() {
				if path.GetIsWithdraw() || asPathContains(path, s.cfg.ASN) {
					continue
				}
				n++
			}
		})
		if err != nil {
			return 0, fmt.Errorf("other announcers of %v from %v: %w", prefix, p.Address, err)
		}
	}
	return n, nil
}

// recoverAs turns a panic while GoBGP converts what a peer sent into API
// form (which runs in the caller's goroutine) into an error for the caller:
// the node then treats the answer as unknown instead of dying.
func recoverAs(err *error, op string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: recovered panic in gobgp: %v", op, r)
	}
}

func sortedPrefixes[V any](m map[netip.Prefix]V) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return out
}

// communityStrings renders communities as "asn:value" for logs.
func communityStrings(cs []uint32) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%d:%d", c>>16, c&0xffff)
	}
	return out
}
