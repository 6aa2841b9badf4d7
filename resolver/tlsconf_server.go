package resolver

// Encrypted is the set of encrypted listeners beside a Resolver's UDP and
// TCP ones: DoT (dot.go), DoH over HTTP/2 and HTTP/3 (doh.go), DoQ
// (doq.go), sharing one certificate (tlsconf.go). It is its own part with
// its own Run, so a node without a certificate runs none of it, and the
// plain listeners never wait on a TLS problem.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Transport names: the proto label of anycastd_queries_total and of the
// anycastd_tls_* and anycastd_encrypted_* metrics.
const (
	protoDoT  = "dot"
	protoDoH  = "doh"  // HTTP/1.1 and HTTP/2
	protoDoH3 = "doh3" // HTTP/3
	protoDoQ  = "doq"
)

// EncryptedConfig is what NewEncrypted needs. The zero value of a limit
// means the default named next to it.
type EncryptedConfig struct {
	// CertFile and KeyFile are PEM files: the chain (leaf first) and its
	// key. Required.
	CertFile, KeyFile string
	// Addrs are the addresses to listen on (the service addresses; bound
	// with IP_FREEBIND like the plain listeners).
	Addrs []netip.Addr
	// Which transports run, and their ports. Port 0 picks a free port
	// (tests); DoH over HTTP/3 uses DoHPort on UDP.
	DoT, DoH, DoH3, DoQ       bool
	DoTPort, DoHPort, DoQPort uint16
	// MaxConnections bounds open connections per transport and address;
	// more are closed at once (default 1000).
	MaxConnections int
	// MaxStreams bounds the queries in flight on one connection: pipelined
	// DoT queries, HTTP/2 and HTTP/3 streams, DoQ streams (default 100).
	MaxStreams int
	// HandshakeTimeout bounds the TLS or QUIC handshake, and the request
	// headers of HTTP/1.1 and HTTP/2 (default 5s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection without queries for this long, and
	// bounds the reading of one query (default 30s).
	IdleTimeout time.Duration
	// ReloadInterval is how often the certificate files are checked for
	// changes (default 10s; negative: only on Reload).
	ReloadInterval time.Duration
	// ShutdownTimeout bounds how long Run waits for connections once its
	// context is done (default 3s).
	ShutdownTimeout time.Duration
}

const (
	defaultEncMaxConnections   = 1000
	defaultEncMaxStreams       = 100
	defaultEncHandshakeTimeout = 5 * time.Second
	defaultEncIdleTimeout      = 30 * time.Second
	defaultEncReloadInterval   = 10 * time.Second
)

func (c EncryptedConfig) withDefaults() (EncryptedConfig, error) {
	var errs []error
	if c.CertFile == "" || c.KeyFile == "" {
		errs = append(errs, errors.New("cert_file, key_file: both are required"))
	}
	if !c.DoT && !c.DoH && !c.DoH3 && !c.DoQ {
		errs = append(errs, errors.New("transports: none enabled"))
	}
	if c.MaxConnections < 0 || c.MaxStreams < 0 || c.HandshakeTimeout < 0 || c.IdleTimeout < 0 {
		errs = append(errs, errors.New("limits: negative"))
	}
	for i, a := range c.Addrs {
		if !a.IsValid() {
			errs = append(errs, fmt.Errorf("addrs[%d]: invalid address", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("encrypted config: %w", err)
	}
	setDefaultInt(&c.MaxConnections, defaultEncMaxConnections)
	setDefaultInt(&c.MaxStreams, defaultEncMaxStreams)
	setDefault(&c.HandshakeTimeout, defaultEncHandshakeTimeout)
	setDefault(&c.IdleTimeout, defaultEncIdleTimeout)
	setDefault(&c.ReloadInterval, defaultEncReloadInterval)
	setDefault(&c.ShutdownTimeout, defaultShutdownTimeout)
	c.Addrs = append([]netip.Addr(nil), c.Addrs...)
	return c, nil
}

// Encrypted serves DoT, DoH and DoQ for a Resolver. Build it with
// NewEncrypted, serve with Run.
type Encrypted struct {
	r          *Resolver
	cfg        EncryptedConfig
	log        *slog.Logger
	certs      *certStore
	transports map[string]*transport // by proto; fixed after NewEncrypted
	ready      chan struct{}

	// mu guards what follows.
	mu      sync.Mutex
	running bool
	addrs   map[string][]netip.AddrPort
}

// NewEncrypted checks cfg and loads the certificate; it starts nothing.
// Metrics go to reg unless it is nil.
func NewEncrypted(r *Resolver, cfg EncryptedConfig, log *slog.Logger, reg prometheus.Registerer) (*Encrypted, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newEncMetrics()
	if reg != nil {
		for _, c := range m.collectors() {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register encrypted metrics: %w", err)
			}
		}
	}
	e := &Encrypted{r: r, cfg: cfg, log: log, transports: map[string]*transport{}, ready: make(chan struct{})}
	for _, p := range []string{protoDoT, protoDoH, protoDoH3, protoDoQ} {
		e.transports[p] = m.transport(p)
	}
	e.certs, err = newCertStore(cfg.CertFile, cfg.KeyFile, log, func() time.Time { return r.now() }, m.reloadErrors, m.expiry)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Ready is closed once Run has bound every listener.
func (e *Encrypted) Ready() <-chan struct{} { return e.ready }

// Addrs returns the bound addresses by transport ("dot", "doh", "doh3",
// "doq"); nil before Ready.
func (e *Encrypted) Addrs() map[string][]netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string][]netip.AddrPort{}
	for p, as := range e.addrs {
		out[p] = append([]netip.AddrPort(nil), as...)
	}
	return out
}

// Reload loads the certificate files now (SIGHUP). On error the old
// certificate stays and the error is logged, counted and returned.
func (e *Encrypted) Reload() error { return e.certs.Reload() }

// CertProblem is nil while the certificate is healthy: the last reload
// worked and it is valid for more than a day.
func (e *Encrypted) CertProblem() error { return e.certs.problem() }

// answer is every transport's query path (padding.go), counted per
// transport for Status.
func (e *Encrypted) answer(wire []byte, client netip.Addr, t *transport) []byte {
	out := e.r.answerWire(wire, client, t.proto, true)
	if out != nil {
		t.queries.Add(1)
	}
	return out
}

// server is one bound listener of one transport.
type server interface {
	serve() error
	shutdown(ctx context.Context) error
}

// Run binds every enabled listener, serves until ctx is done, then stops
// accepting and waits up to ShutdownTimeout for open connections. The
// certificate files are polled meanwhile.
func (e *Encrypted) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("encrypted: Run called twice")
	}
	e.running = true
	e.mu.Unlock()

	servers, addrs, err := e.listen(ctx)
	if err != nil {
		for _, s := range servers {
			s.shutdown(context.Background())
		}
		return err
	}
	e.mu.Lock()
	e.addrs = addrs
	e.mu.Unlock()
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.serve() }()
	}
	close(e.ready)
	e.log.Info("encrypted listeners up", "addrs", addrs)

	var tick <-chan time.Time
	if e.cfg.ReloadInterval > 0 {
		t := time.NewTicker(e.cfg.ReloadInterval)
		defer t.Stop()
		tick = t.C
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick:
			e.certs.poll()
		case err := <-errc:
			if err != nil {
				runErr = err
				break loop
			}
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if err := s.shutdown(sctx); err != nil {
				e.log.Warn("encrypted shutdown incomplete", "err", err)
			}
		})
	}
	wg.Wait()
	e.log.Info("encrypted listeners stopped")
	return runErr
}

// listen binds every enabled transport on every address. On error, the
// servers returned so far must be shut down by the caller.
func (e *Encrypted) listen(ctx context.Context) ([]server, map[string][]netip.AddrPort, error) {
	lc := net.ListenConfig{Control: freebind}
	var servers []server
	addrs := map[string][]netip.AddrPort{}
	bound := func(proto string, a net.Addr) {
		var ap netip.AddrPort
		switch a := a.(type) {
		case *net.TCPAddr:
			ap = a.AddrPort()
		case *net.UDPAddr:
			ap = a.AddrPort()
		}
		addrs[proto] = append(addrs[proto], netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	altSvc := ""
	if e.cfg.DoH3 {
		// Only meaningful when DoH's TCP and UDP ports agree, which they
		// do unless a test picked port 0.
		altSvc = fmt.Sprintf(`h3=":%d"; ma=86400`, e.cfg.DoHPort)
	}
	handler := dohHandler{e: e, altSvc: altSvc}
	for _, a := range e.cfg.Addrs {
		if e.cfg.DoT {
			ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(a, e.cfg.DoTPort).String())
			if err != nil {
				return servers, nil, fmt.Errorf("listen dot: %w", err)
			}
			bound(protoDoT, ln.Addr())
			servers = append(servers, newDoTServer(e, ln))
		}
		if e.cfg.DoH {
			ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(a, e.cfg.DoHPort).String())
			if err != nil {
				return servers, nil, fmt.Errorf("listen doh: %w", err)
			}
			bound(protoDoH, ln.Addr())
			s, err := newDoHServer(e, ln, handler)
			if err != nil {
				ln.Close()
				return servers, nil, err
			}
			servers = append(servers, s)
		}
		if e.cfg.DoH3 {
			pc, err := lc.ListenPacket(ctx, "udp", netip.AddrPortFrom(a, e.cfg.DoHPort).String())
			if err != nil {
				return servers, nil, fmt.Errorf("listen doh3: %w", err)
			}
			bound(protoDoH3, pc.LocalAddr())
			h3 := newDoH3(e, handler)
			t := e.transports[protoDoH3]
			tlsConf := http3.ConfigureTLSConfig(e.certs.tlsConfig(nil, t.handshakes))
			s, err := newQUICServer(e, t, pc, tlsConf, func(_ context.Context, c *quic.Conn) {
				h3.ServeQUICConn(c) // returns when the connection ends
			})
			if err != nil {
				pc.Close()
				return servers, nil, err
			}
			servers = append(servers, &doh3Server{quicServer: s, h3: h3})
		}
		if e.cfg.DoQ {
			pc, err := lc.ListenPacket(ctx, "udp", netip.AddrPortFrom(a, e.cfg.DoQPort).String())
			if err != nil {
				return servers, nil, fmt.Errorf("listen doq: %w", err)
			}
			bound(protoDoQ, pc.LocalAddr())
			t := e.transports[protoDoQ]
			s, err := newQUICServer(e, t, pc, e.certs.tlsConfig([]string{"doq"}, t.handshakes), e.serveDoQ)
			if err != nil {
				pc.Close()
				return servers, nil, err
			}
			servers = append(servers, s)
		}
	}
	return servers, addrs, nil
}

// doh3Server closes the HTTP/3 server (GOAWAY to its connections) before
// the QUIC listener under it.
type doh3Server struct {
	*quicServer
	h3 *http3.Server
}

func (s *doh3Server) shutdown(ctx context.Context) error {
	herr := s.h3.Shutdown(ctx)
	return errors.Join(herr, s.quicServer.shutdown(ctx))
}

// TransportStatus is one encrypted transport's counters.
type TransportStatus struct {
	Proto             string           `json:"proto"`
	Addrs             []netip.AddrPort `json:"addrs"`
	OpenConnections   int64            `json:"open_connections"`
	Connections       uint64           `json:"connections"`
	Rejected          uint64           `json:"rejected"`
	Queries           uint64           `json:"queries"`
	Handshakes        uint64           `json:"handshakes"`
	HandshakeFailures uint64           `json:"handshake_failures"` // dot and doh; QUIC handshakes that fail are not seen
}

// EncryptedStatus is the status of the encrypted listeners.
type EncryptedStatus struct {
	Certificate CertStatus        `json:"certificate"`
	Transports  []TransportStatus `json:"transports"`
}

// Status reports the certificate and each enabled transport.
func (e *Encrypted) Status() EncryptedStatus {
	addrs := e.Addrs()
	st := EncryptedStatus{Certificate: e.certs.status()}
	for _, p := range []string{protoDoT, protoDoH, protoDoH3, protoDoQ} {
		as, ok := addrs[p]
		if !ok {
			continue
		}
		t := e.transports[p]
		st.Transports = append(st.Transports, TransportStatus{
			Proto: p, Addrs: as, OpenConnections: t.open.Load(), Connections: t.conns.Load(),
			Rejected: t.rejectedN.Load(), Queries: t.queries.Load(),
			Handshakes: t.handshakesN.Load(), HandshakeFailures: t.failuresN.Load(),
		})
	}
	return st
}

// transport holds one transport's metrics, as Prometheus children and as
// plain counters for Status.
type transport struct {
	proto                                             string
	open                                              atomic.Int64
	conns, queries, rejectedN, handshakesN, failuresN atomic.Uint64

	openGauge                      prometheus.Gauge
	connsTotal                     prometheus.Counter
	rejected, handshakes, failures countingCounter
}

func (t *transport) opened() {
	t.open.Add(1)
	t.conns.Add(1)
	t.openGauge.Inc()
	t.connsTotal.Inc()
}

func (t *transport) closed() {
	t.open.Add(-1)
	t.openGauge.Dec()
}

// countingCounter is a Prometheus counter that also keeps its value for
// Status.
type countingCounter struct {
	prometheus.Counter
	n *atomic.Uint64
}

func (c countingCounter) Inc() {
	c.n.Add(1)
	c.Counter.Inc()
}

// encMetrics are the encrypted transports' collectors.
type encMetrics struct {
	open                                      *prometheus.GaugeVec
	connsC, rejectedC, handshakesC, failuresC *prometheus.CounterVec
	reloadErrors                              prometheus.Counter
	expiry                                    prometheus.Gauge
}

func newEncMetrics() *encMetrics {
	cv := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"proto"})
	}
	return &encMetrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "anycastd_encrypted_connections",
			Help: "Open client connections, by encrypted transport (dot, doh, doh3, doq).",
		}, []string{"proto"}),
		connsC:      cv("anycastd_encrypted_connections_total", "Client connections accepted, by encrypted transport."),
		rejectedC:   cv("anycastd_encrypted_connections_rejected_total", "Client connections closed at once because the transport's max_connections were open."),
		handshakesC: cv("anycastd_tls_handshakes_total", "TLS handshakes completed (full or resumed), by transport."),
		failuresC:   cv("anycastd_tls_handshake_failures_total", "TLS handshakes that failed or timed out, by transport (dot, doh)."),
		reloadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anycastd_tls_cert_reload_errors_total",
			Help: "Certificate reloads that failed and kept the old certificate.",
		}),
		expiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "anycastd_tls_cert_expiry_timestamp_seconds",
			Help: "NotAfter of the serving certificate, in Unix seconds.",
		}),
	}
}

func (m *encMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.open, m.connsC, m.rejectedC, m.handshakesC, m.failuresC, m.reloadErrors, m.expiry}
}

func (m *encMetrics) transport(proto string) *transport {
	t := &transport{proto: proto}
	t.openGauge = m.open.WithLabelValues(proto)
	t.connsTotal = m.connsC.WithLabelValues(proto)
	t.rejected = countingCounter{m.rejectedC.WithLabelValues(proto), &t.rejectedN}
	t.handshakes = countingCounter{m.handshakesC.WithLabelValues(proto), &t.handshakesN}
	t.failures = countingCounter{m.failuresC.WithLabelValues(proto), &t.failuresN}
	return t
}
