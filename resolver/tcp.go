package resolver

import (
	"bufio"
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
//
// Clients such as dnsperf and stub resolvers with connection reuse send
// many queries back to back. The reader takes them from a buffer, so one
// read system call brings many frames; a query for a fresh cached answer
// is answered on the spot by the wire-form fast path (fast.go), without a
// goroutine, and its answer joins the others in an output buffer written
// with one system call when the input runs dry. Any other query gets its
// own goroutine and writes its answer when it completes.

const (
	// maxTCPInFlight bounds the queries answered at once on one plain TCP
	// connection, each on its own goroutine (fast-path answers are the
	// reader's and not counted). A client that pipelines more waits: we
	// stop reading until one completes, so one connection cannot take all
	// the workers.
	maxTCPInFlight = 16
	// tcpWriteTimeout bounds one answer's write, so a client that stops
	// reading cannot pin a goroutine.
	tcpWriteTimeout = 5 * time.Second
	// streamReadBuffer is the read buffer of one connection: room for a
	// hundred or so pipelined queries. A frame longer than that (no real
	// query is) is read into its own slice.
	streamReadBuffer = 8 << 10
	// streamFlushSize is how much fast-path output waits for the input to
	// run dry before it is written anyway.
	streamFlushSize = 16 << 10
)

// streamConfig is what differs between the stream transports.
type streamConfig struct {
	proto    string        // "tcp" or "dot": log and metric label
	idle     time.Duration // a connection without a query for this long closes
	inFlight int           // slow queries answered at once per connection
	maxConns int           // open connections; beyond it new ones close at once
	// tls, when set, makes every connection a TLS server connection whose
	// handshake must finish within handshakeTimeout.
	tls              *tls.Config
	handshakeTimeout time.Duration
	// answer turns one query into its packed answer; nil sends nothing.
	answer func(wire []byte, client netip.Addr) []byte
	// fast, when set, is the wire-form fast path (streamFast): it appends
	// the answer to out and reports true, or leaves the query to answer.
	fast streamFastFunc
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
		fast:     streamFast(r, "tcp", false, nil),
		rejected: r.m.tcpRejected.Inc,
	}, ln, r.log)
}

// streamFastFunc is fastAnswer bound to one transport.
type streamFastFunc func(wire, out []byte, client netip.Addr, lower *[maxFastName]byte) ([]byte, bool)

// streamFast returns the fast path of a stream transport, counted under
// proto, padded when pad is set, with served called for every answer; nil
// when the resolver's settings keep every query on respond (fastEligible),
// fixed at start as for UDP.
func streamFast(r *Resolver, proto string, pad bool, served func()) streamFastFunc {
	if !r.fastEligible() {
		return nil
	}
	fp := newFastPath(r.m, proto)
	fp.pad = pad
	return func(wire, out []byte, client netip.Addr, lower *[maxFastName]byte) ([]byte, bool) {
		out, ok := r.fastAnswer(fp, wire, out, client, lower)
		if ok && served != nil {
			served()
		}
		return out, ok
	}
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

// handle runs the TLS handshake if any, then serves queries from c (see
// streamConn.serve) until the client goes quiet or closes, sends a
// malformed frame, or the server shuts down. Answers in flight are written
// before the connection closes.
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
	sc := &streamConn{
		s: s, c: c, client: client,
		in:  bufio.NewReaderSize(c, streamReadBuffer),
		sem: make(chan struct{}, s.cfg.inFlight),
	}
	defer sc.inflight.Wait()
	defer sc.flush()
	sc.serve()
}

// streamConn is one connection being served. The reader goroutine owns
// in, out and lower; writes to c from it and from the goroutines of slow
// queries are whole frames (or runs of them), serialised by wmu.
type streamConn struct {
	s      *streamServer
	c      net.Conn
	client netip.Addr
	in     *bufio.Reader
	out    []byte // framed fast-path answers not yet written
	lower  [maxFastName]byte

	wmu      sync.Mutex
	inflight sync.WaitGroup
	sem      chan struct{} // one per slow query in flight
}

// serve reads frames until the connection is done. A frame already in the
// buffer is served without a system call; before waiting for more input,
// the reader writes what it has answered and gives the next frame the idle
// timeout: a whole frame must arrive within it, so a client that sends
// slowly or not at all loses its connection rather than pinning it.
func (sc *streamConn) serve() {
	s := sc.s
	for {
		if !sc.frameBuffered() && !sc.decrypted() {
			if !sc.flush() {
				return
			}
			// The deadline first, then the check: a shutdown between the
			// two sets its own deadline after ours, which wakes the read.
			sc.c.SetReadDeadline(time.Now().Add(s.cfg.idle))
			if s.isClosing() {
				return
			}
		}
		hdr, err := sc.in.Peek(2)
		if err != nil {
			return // idle timeout, client closed, or shutdown
		}
		n := int(binary.BigEndian.Uint16(hdr))
		if n < 12 {
			return // shorter than a header: not DNS, stop
		}
		var wire []byte
		if 2+n <= sc.in.Size() {
			frame, err := sc.in.Peek(2 + n)
			if err != nil {
				return
			}
			if sc.answerFast(frame[2:]) {
				sc.in.Discard(2 + n)
				if len(sc.out) >= streamFlushSize && !sc.flush() {
					return
				}
				continue
			}
			wire = append([]byte(nil), frame[2:]...) // the buffer is reused
			sc.in.Discard(2 + n)
		} else {
			sc.in.Discard(2)
			wire = make([]byte, n)
			if _, err := io.ReadFull(sc.in, wire); err != nil {
				return
			}
		}
		if s.isClosing() {
			return // no new resolutions once shutdown has begun
		}
		sc.dispatch(wire)
	}
}

// frameBuffered reports whether a whole frame is in the read buffer.
func (sc *streamConn) frameBuffered() bool {
	b := sc.in.Buffered()
	if b < 2 {
		return false
	}
	hdr, _ := sc.in.Peek(2)
	return b >= 2+int(binary.BigEndian.Uint16(hdr))
}

// decrypted reports whether a whole frame can be had from records the TLS
// layer has already received, without waiting for the network. A client
// such as dnsperf sends each query in its own TLS record, and tls.Conn
// returns one record per read: without this, every answer would be
// written on its own. The read deadline in the past makes the raw
// connection fail at once, without a system call, when the TLS layer
// needs more bytes; tls.Conn keeps no error from a timeout on read.
func (sc *streamConn) decrypted() bool {
	if sc.s.cfg.tls == nil {
		return false // plain TCP: the last read took all the kernel had
	}
	sc.c.SetReadDeadline(pastDeadline)
	for !sc.frameBuffered() {
		n := sc.in.Buffered()
		if n == sc.in.Size() {
			return false // a frame larger than the buffer: read as usual
		}
		if _, err := sc.in.Peek(n + 1); err != nil {
			return false
		}
	}
	return true
}

// pastDeadline is a read deadline that has always passed.
var pastDeadline = time.Unix(1, 0)

// answerFast appends the framed fast-path answer to wire to out, if the
// fast path can give one.
func (sc *streamConn) answerFast(wire []byte) bool {
	if sc.s.cfg.fast == nil {
		return false
	}
	start := len(sc.out)
	out, ok := sc.s.cfg.fast(wire, append(sc.out, 0, 0), sc.client, &sc.lower)
	if !ok {
		return false
	}
	binary.BigEndian.PutUint16(out[start:], uint16(len(out)-start-2))
	sc.out = out
	return true
}

// dispatch answers wire on its own goroutine, waiting while cfg.inFlight
// are already in flight; the answer is written when it is ready.
func (sc *streamConn) dispatch(wire []byte) {
	select {
	case sc.sem <- struct{}{}:
	default:
		// Full: what is answered already should not wait with us.
		if !sc.flush() {
			return
		}
		sc.sem <- struct{}{}
	}
	sc.inflight.Go(func() {
		defer func() { <-sc.sem }()
		out := sc.s.cfg.answer(wire, sc.client)
		if out == nil {
			return
		}
		frame := make([]byte, 2+len(out))
		binary.BigEndian.PutUint16(frame, uint16(len(out)))
		copy(frame[2:], out)
		sc.write(frame)
	})
}

// flush writes the fast-path answers gathered so far. It reports false
// when the write failed: the connection is then of no more use.
func (sc *streamConn) flush() bool {
	if len(sc.out) == 0 {
		return true
	}
	ok := sc.write(sc.out)
	sc.out = sc.out[:0]
	if cap(sc.out) > 2*streamFlushSize {
		sc.out = nil // grown for a large answer: not kept while idle
	}
	return ok
}

// write writes b whole, within tcpWriteTimeout.
func (sc *streamConn) write(b []byte) bool {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	sc.c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
	if _, err := sc.c.Write(b); err != nil {
		// Not the error itself: a net.OpError names the client.
		sc.s.log.Debug("write answer failed", "proto", sc.s.cfg.proto)
		return false
	}
	return true
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
