package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// The TCP listener is our own rather than miekg/dns's Server: that one
// reads a query, answers it, and only then reads the next, so one slow
// question holds up every question behind it on the connection. RFC 7766
// section 6.2.1.1 asks resolvers to process pipelined queries concurrently
// and send answers as they complete, out of order.

const (
	// maxTCPInFlight bounds the queries answered at once on one
	// connection. A client that pipelines more waits: we stop reading
	// until one completes, so one connection cannot take all the workers.
	maxTCPInFlight = 16
	// tcpWriteTimeout bounds one answer's write, so a client that stops
	// reading cannot pin a goroutine.
	tcpWriteTimeout = 5 * time.Second
)

// tcpServer answers DNS over TCP on one listener.
type tcpServer struct {
	r     *Resolver
	ln    net.Listener
	idle  time.Duration
	slots chan struct{} // one per open connection, up to MaxTCPConnections

	conns sync.WaitGroup // connections being served

	// mu guards what follows.
	mu      sync.Mutex
	open    map[net.Conn]struct{}
	closing bool
}

func newTCPServer(r *Resolver, ln net.Listener) *tcpServer {
	return &tcpServer{
		r:     r,
		ln:    ln,
		idle:  r.cfg.TCPIdleTimeout,
		slots: make(chan struct{}, r.cfg.MaxTCPConnections),
		open:  map[net.Conn]struct{}{},
	}
}

// serve accepts connections until shutdown closes the listener.
func (s *tcpServer) serve() error {
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
			return fmt.Errorf("accept tcp: %w", err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			// At the limit: close at once (RFC 7766 section 6.2.2 lets a
			// server refuse connections), rather than queue work we cannot
			// give time to.
			c.Close()
			s.r.m.tcpRejected.Inc()
			continue
		}
		if !s.track(c) {
			c.Close()
			<-s.slots
			return nil
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer func() { <-s.slots }()
			s.handle(c)
		}()
	}
}

func (s *tcpServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *tcpServer) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// handle reads queries from c and answers each on its own goroutine, up to
// maxTCPInFlight at once, writing answers in the order they complete. The
// connection closes after TCPIdleTimeout without a query (once answers in
// flight are written), on a read error or a malformed frame, or at shutdown.
func (s *tcpServer) handle(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.open, c)
		s.mu.Unlock()
		c.Close()
	}()
	client := addrOf(c.RemoteAddr())
	var (
		wmu      sync.Mutex // serialises whole answers on c
		inflight sync.WaitGroup
		sem      = make(chan struct{}, maxTCPInFlight)
	)
	defer inflight.Wait()
	lenBuf := make([]byte, 2)
	for {
		if s.isClosing() {
			return
		}
		c.SetReadDeadline(time.Now().Add(s.idle))
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
			req, resp := s.answer(wire, client)
			if resp == nil {
				return
			}
			out, err := resp.Pack()
			if err != nil {
				s.r.log.Debug("pack tcp answer failed", "err", err)
				return
			}
			frame := make([]byte, 2+len(out))
			binary.BigEndian.PutUint16(frame, uint16(len(out)))
			copy(frame[2:], out)
			if req != nil {
				s.r.count("tcp", req, resp) // before the write: see handler.ServeDNS
			}
			wmu.Lock()
			c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
			_, err = c.Write(frame)
			wmu.Unlock()
			if err != nil {
				// Not the error itself: a net.OpError names the client.
				s.r.log.Debug("write answer failed", "proto", "tcp")
				return
			}
		})
	}
}

// answer parses one query and builds its answer; req is nil when the query
// did not parse and resp is then a header-only FORMERR (RFC 1035 section
// 4.1.1), as miekg/dns answers over UDP.
func (s *tcpServer) answer(wire []byte, client netip.Addr) (*dns.Msg, *dns.Msg) {
	req := new(dns.Msg)
	if err := req.Unpack(wire); err != nil {
		var h dns.Msg
		h.Id = binary.BigEndian.Uint16(wire)
		h.Response = true
		h.Rcode = dns.RcodeFormatError
		if wire[2]&0x80 != 0 {
			return nil, nil // a response: never answer
		}
		return nil, &h
	}
	return req, s.r.respond(req, client, false)
}

// shutdown stops accepting and reading; queries in flight are answered
// unless ctx ends first, when every connection is closed.
func (s *tcpServer) shutdown(ctx context.Context) error {
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
		return errors.Join(err, fmt.Errorf("tcp shutdown: %w", ctx.Err()))
	}
}
