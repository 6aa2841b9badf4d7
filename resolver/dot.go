package resolver

// DNS over TLS (RFC 7858): the TCP framing of tcp.go inside TLS, with the
// same pipelining (answers out of order, up to MaxStreams in flight per
// connection). What a TLS listener adds: a handshake that must finish
// within HandshakeTimeout, and a per-transport connection limit that closes
// connections beyond it at once rather than queueing them.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// dotServer answers DNS over TLS on one listener.
type dotServer struct {
	e     *Encrypted
	t     *transport
	ln    net.Listener
	tls   *tls.Config
	slots chan struct{}

	conns sync.WaitGroup

	// mu guards what follows.
	mu      sync.Mutex
	open    map[net.Conn]struct{}
	closing bool
}

func newDoTServer(e *Encrypted, ln net.Listener) *dotServer {
	t := e.transports[protoDoT]
	return &dotServer{
		e: e, t: t, ln: ln,
		tls:   e.certs.tlsConfig([]string{"dot"}, t.handshakes),
		slots: make(chan struct{}, e.cfg.MaxConnections),
		open:  map[net.Conn]struct{}{},
	}
}

func (s *dotServer) serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept dot: %w", err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			c.Close()
			s.t.rejected.Inc()
			continue
		}
		if !s.track(c) {
			c.Close()
			<-s.slots
			return nil
		}
		s.t.opened()
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer func() { <-s.slots }()
			defer s.t.closed()
			s.handle(c)
		}()
	}
}

func (s *dotServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *dotServer) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// handle runs the handshake, then reads queries and answers each on its
// own goroutine. Every read has a deadline (the handshake's, then the idle
// timeout for a whole frame), so a client that sends slowly or not at all
// loses its connection rather than pinning it.
func (s *dotServer) handle(raw net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.open, raw)
		s.mu.Unlock()
		raw.Close()
	}()
	client := addrOf(raw.RemoteAddr())
	c := tls.Server(raw, s.tls)
	hctx, cancel := context.WithTimeout(context.Background(), s.e.cfg.HandshakeTimeout)
	err := c.HandshakeContext(hctx)
	cancel()
	if err != nil {
		s.t.failures.Inc() // not logged: the error names the client
		return
	}
	var (
		wmu      sync.Mutex
		inflight sync.WaitGroup
		sem      = make(chan struct{}, s.e.cfg.MaxStreams)
	)
	defer inflight.Wait()
	lenBuf := make([]byte, 2)
	for {
		if s.isClosing() {
			return
		}
		c.SetReadDeadline(time.Now().Add(s.e.cfg.IdleTimeout))
		if _, err := io.ReadFull(c, lenBuf); err != nil {
			return
		}
		n := binary.BigEndian.Uint16(lenBuf)
		if n < 12 {
			return
		}
		wire := make([]byte, n)
		if _, err := io.ReadFull(c, wire); err != nil {
			return
		}
		sem <- struct{}{}
		inflight.Go(func() {
			defer func() { <-sem }()
			out := s.e.answer(wire, client, s.t)
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
				s.e.log.Debug("write answer failed", "proto", protoDoT)
			}
		})
	}
}

func (s *dotServer) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for c := range s.open {
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
		s.mu.Lock()
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		return errors.Join(err, fmt.Errorf("dot shutdown: %w", ctx.Err()))
	}
}
