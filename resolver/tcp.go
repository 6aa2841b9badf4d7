package resolver

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// The TCP listener is our own rather than miekg/dns's Server: that one
// reads a query, answers it, and only then reads the next, so one slow
// question holds up every question behind it on the connection. RFC 7766
// section 6.2.1.1 asks resolvers to process pipelined queries concurrently
// and send answers as they complete, out of order. DNS over TLS (RFC 7858)
// is the same framing inside TLS, so one stream server serves both; DoT
// only adds a handshake that must finish in time.

const (
	// maxTCPInFlight bounds the queries answered at once on one plain TCP
	// connection. A client that pipelines more waits: we stop reading
	// until one completes, so one connection cannot take all the workers.
	maxTCPInFlight = 16
	// tcpWriteTimeout bounds one answer's write, so a client that stops
	// reading cannot pin a goroutine.
	tcpWriteTimeout = 5 * time.Second
)

// streamConfig is what differs between the stream transports.
type streamConfig struct {
	proto    string        // "tcp" or "dot": log and metric label
	idle     time.Duration // a connection without a query for this long closes
	inFlight int           // queries answered at once per connection
	maxConns int           // open connections; beyond it new ones close at once
	// tls, when set, makes every connection a TLS server connection whose
	// handshake must finish within handshakeTimeout.
	tls              *tls.Config
	handshakeTimeout time.Duration
	// answer turns one query into its packed answer; nil sends nothing.
	answer func(wire []byte, client netip.Addr) []byte
	// counters; nil ones are skipped
	rejected, opened, closed, handshakeFailed func()
}

// streamServer answers DNS over TCP or TLS on one listener.
type streamServer struct {
	cfg   streamConfig
	log   *slog.Logger
	ln    net.Listener
	slots chan struct{} // one per open connection, up to cfg.maxConns

	conns sync.WaitGroup // connections being served

	// mu guards what follows.
	mu      sync.Mutex
	open    map[net.Conn]struct{}
	closing bool
}

func newStreamServer(cfg streamConfig, ln net.Listener, log *slog.Logger) *streamServer {
	return &streamServer{
		cfg: cfg, log: log, ln: ln,
		slots: make(chan struct{}, cfg.maxConns),
		open:  map[net.Conn]struct{}{},
	}
}

func newTCPServer(r *Resolver, ln net.Listener) *streamServer {
	return newStreamServer(streamConfig{
		proto:    "tcp",
		idle:     r.cfg.TCPIdleTimeout,
		inFlight: maxTCPInFlight,
		maxConns: r.cfg.MaxTCPConnections,
		answer:   func(wire []byte, client netip.Addr) []byte { return r.answerWire(wire, client, "tcp", false) },
		rejected: r.m.tcpRejected.Inc,
	}, ln, r.log)
}

func call(f func()) {
	if f != nil {
		f()
	}
}

// serve accepts connections until shutdown closes the listener.
func (s *streamServer) serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				// Out of file descriptors or a transient failure: let
				// connections finish rather than spin.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept %s: %w", s.cfg.proto, err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			// At the limit: close at once (RFC 7766 section 6.2.2 lets a
			// server refuse connections), rather than queue work we cannot
			// give time to.
			c.Close()
			call(s.cfg.rejected)
			continue
		}
		if !s.track(c) {
			c.Close()
			<-s.slots
			return nil
		}
		call(s.cfg.opened)
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer func() { <-s.slots }()
			defer call(s.cfg.closed)
			s.handle(c)
		}()
	}
}

func (s *streamServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *streamServer) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// handle runs the TLS handshake if any, then reads queries from c and
// answers each on its own goroutine, up to cfg.inFlight at once, writing
// answers in the order they complete. Every read has a deadline (the
// handshake's, then the idle timeout for a whole frame), so a client that
// sends slowly or not at all loses its connection rather than pinning it.
// The connection also closes on a read error, a malformed frame, or at
// shutdown, once answers in flight are written.
func (s *streamServer) handle(raw net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.open, raw)
		s.mu.Unlock()
		raw.Close()
	}()
	client := addrOf(raw.RemoteAddr())
	c := raw
	if s.cfg.tls != nil {
		tc := tls.Server(raw, s.cfg.tls)
		hctx, cancel := context.WithTimeout(context.Background(), s.cfg.handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			call(s.cfg.handshakeFailed) // not logged: the error names the client
			return
		}
		c = tc
	}
	var (
		wmu      sync.Mutex // serialises whole answers on c
		inflight sync.WaitGroup
		sem      = make(chan struct{}, s.cfg.inFlight)
	)
	defer inflight.Wait()
	lenBuf := make([]byte, 2)
	for {
		if s.isClosing() {
			return
		}
		c.SetReadDeadline(time.Now().Add(s.cfg.idle))
		if _, err := io.ReadFull(c, lenBuf); err != nil {
			return // idle timeout, client closed, or shutdown
		}
		n := binary.BigEndian.Uint16(lenBuf)
		if n < 12 {
			return // shorter than a header: not DNS, stop
		}
		wire := make([]byte, n)
		if _, err := io.ReadFull(c, wire); err != nil {
			return
		}
		sem <- struct{}{}
		inflight.Go(func() {
			defer func() { <-sem }()
			out := s.cfg.answer(wire, client)
			if out == nil {
				return
			}
			frame := make([]byte, 2+len(out))
			binary.BigEndian.PutUint16(frame, uint16(len(out)))
			copy(frame[2:], out)
			wmu.Lock()
			c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
			_, err := c.Write(frame)
			wmu.Unlock()
			if err != nil {
				// Not the error itself: a net.OpError names the client.
				s.log.Debug("write answer failed", "proto", s.cfg.proto)
			}
		})
	}
}

// shutdown stops accepting and reading; queries in flight are answered
// unless ctx ends first, when every connection is closed.
func (s *streamServer) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for c := range s.open {
		// Wake readers blocked on the idle wait; writes still work.
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	err := s.ln.Close()
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		// Out of time: cut the connections. Their answers fail to write
		// and their goroutines end with the resolutions they wait for.
		s.mu.Lock()
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		return errors.Join(err, fmt.Errorf("%s shutdown: %w", s.cfg.proto, ctx.Err()))
	}
}
