package resolver

// DNS over QUIC (RFC 9250) and the QUIC side of DoH (HTTP/3), both from
// quic-go. Each has its own UDP socket and quic.Listener; the accept loop
// here enforces the per-transport connection limit, and quic-go enforces
// the rest: streams per connection (MaxIncomingStreams), the handshake and
// idle timeouts, and flow-control windows that bound memory per stream.
// 0-RTT stays off: replayed early data could repeat queries, and a
// resolver gains too little from it to be worth the replay analysis.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// DoQ error codes (RFC 9250 section 4.3).
const (
	doqNoError       quic.ApplicationErrorCode = 0x0
	doqInternalError quic.ApplicationErrorCode = 0x1
	doqProtocolError quic.ApplicationErrorCode = 0x2
	doqExcessiveLoad quic.ApplicationErrorCode = 0x4
)

// quicConfig is the QUIC transport configuration of both DoQ and DoH3.
func (e *Encrypted) quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  e.cfg.HandshakeTimeout,
		MaxIdleTimeout:        e.cfg.IdleTimeout,
		MaxIncomingStreams:    int64(e.cfg.MaxStreams),
		MaxIncomingUniStreams: 8, // HTTP/3 control and QPACK streams; DoQ uses none
		// A DNS message is at most 64 KiB: windows that hold a few of
		// them bound what one connection can make us buffer.
		MaxStreamReceiveWindow:     1 << 17,
		MaxConnectionReceiveWindow: 1 << 20,
		Allow0RTT:                  false,
	}
}

// quicServer accepts QUIC connections on one socket and hands each to
// serveConn, up to the transport's connection limit.
type quicServer struct {
	e         *Encrypted
	t         *transport
	tr        *quic.Transport
	ln        *quic.Listener
	serveConn func(ctx context.Context, c *quic.Conn)

	ctx    context.Context // ends at shutdown
	cancel context.CancelFunc
	slots  chan struct{}
	conns  sync.WaitGroup
}

func newQUICServer(e *Encrypted, t *transport, pc net.PacketConn, tlsConf *tls.Config, serveConn func(context.Context, *quic.Conn)) (*quicServer, error) {
	tr := &quic.Transport{Conn: pc}
	ln, err := tr.Listen(tlsConf, e.quicConfig())
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("listen quic %s: %w", pc.LocalAddr(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &quicServer{e: e, t: t, tr: tr, ln: ln, serveConn: serveConn, ctx: ctx, cancel: cancel,
		slots: make(chan struct{}, e.cfg.MaxConnections)}, nil
}

func (s *quicServer) serve() error {
	for {
		c, err := s.ln.Accept(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, quic.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("accept %s: %w", s.t.proto, err)
		}
		select {
		case s.slots <- struct{}{}:
		default:
			c.CloseWithError(doqExcessiveLoad, "too many connections")
			s.t.rejected.Inc()
			continue
		}
		s.t.opened()
		s.conns.Go(func() {
			defer func() { <-s.slots }()
			defer s.t.closed()
			s.serveConn(s.ctx, c)
		})
	}
}

// shutdown stops accepting, lets connections finish until ctx ends, then
// closes the socket (which ends every connection).
func (s *quicServer) shutdown(ctx context.Context) error {
	s.cancel()
	lerr := s.ln.Close()
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("%s shutdown: %w", s.t.proto, ctx.Err())
	}
	return errors.Join(lerr, err, s.tr.Close())
}

// serveDoQ answers the queries of one DoQ connection: one query per
// client-initiated bidirectional stream (RFC 9250 section 4.2), each on its
// own goroutine; quic-go caps the streams open at once.
func (e *Encrypted) serveDoQ(ctx context.Context, c *quic.Conn) {
	t := e.transports[protoDoQ]
	client := addrOf(c.RemoteAddr())
	var streams sync.WaitGroup
	defer streams.Wait()
	for {
		st, err := c.AcceptStream(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.CloseWithError(doqNoError, "")
			}
			return // idle timeout, client closed, or shutdown
		}
		streams.Go(func() {
			if !e.doqStream(st, client, t) {
				c.CloseWithError(doqProtocolError, "")
			}
		})
	}
}

// doqStream answers the one query on st; false is a protocol error that
// closes the connection.
func (e *Encrypted) doqStream(st *quic.Stream, client netip.Addr, t *transport) bool {
	defer st.Close()
	st.SetReadDeadline(time.Now().Add(e.cfg.IdleTimeout))
	var lenBuf [2]byte
	if _, err := io.ReadFull(st, lenBuf[:]); err != nil {
		st.CancelRead(quic.StreamErrorCode(doqProtocolError))
		return true // the client gave up on this stream; not the connection
	}
	n := binary.BigEndian.Uint16(lenBuf[:])
	if n < 12 {
		return false
	}
	wire := make([]byte, n)
	if _, err := io.ReadFull(st, wire); err != nil {
		st.CancelRead(quic.StreamErrorCode(doqProtocolError))
		return true
	}
	// RFC 9250 section 4.2.1: the message ID must be 0 on DoQ.
	if binary.BigEndian.Uint16(wire) != 0 {
		return false
	}
	out := e.answer(wire, client, t)
	if out == nil {
		st.CancelWrite(quic.StreamErrorCode(doqInternalError))
		return true
	}
	frame := make([]byte, 2+len(out))
	binary.BigEndian.PutUint16(frame, uint16(len(out)))
	copy(frame[2:], out)
	st.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
	if _, err := st.Write(frame); err != nil {
		e.log.Debug("write answer failed", "proto", protoDoQ)
	}
	return true
}

// newDoH3 is the HTTP/3 server for DoH; its QUIC listener is a quicServer.
func newDoH3(e *Encrypted, handler dohHandler) *http3.Server {
	return &http3.Server{
		Handler:        handler,
		MaxHeaderBytes: dohMaxHeaderBytes,
		IdleTimeout:    e.cfg.IdleTimeout,
		QUICConfig:     e.quicConfig(),
		Logger:         nil, // quic-go logs nothing without one
	}
}
