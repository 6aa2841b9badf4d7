package resolver

// DNS over HTTPS (RFC 8484) at /dns-query, GET and POST, over HTTP/2 (and
// HTTP/1.1) from net/http with golang.org/x/net/http2, and over HTTP/3 from
// quic-go's http3 (doq.go binds its QUIC listener). The handler keeps
// nothing of the request but the DNS message: no header, User-Agent or
// address is logged or stored, and net/http's own error log, which names
// client addresses, is replaced by one that only counts.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/http2"
)

const (
	dohPath        = "/dns-query"
	dohContentType = "application/dns-message"
	// dohMaxHeaderBytes bounds request headers; a DoH GET needs a few
	// hundred bytes.
	dohMaxHeaderBytes = 8 << 10
)

// dohHandler serves /dns-query for HTTP/1.1, HTTP/2 and HTTP/3.
type dohHandler struct {
	e      *Encrypted
	altSvc string // advertises HTTP/3 on HTTP/2 answers; "" without DoH3
}

func (h dohHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != dohPath {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	t := h.e.transports[protoDoH]
	if req.ProtoMajor == 3 {
		t = h.e.transports[protoDoH3]
	} else if h.altSvc != "" {
		w.Header().Set("Alt-Svc", h.altSvc)
	}
	var wire []byte
	switch req.Method {
	case http.MethodGet:
		q := req.URL.Query().Get("dns")
		if q == "" || len(q) > base64.RawURLEncoding.EncodedLen(dns.MaxMsgSize) {
			http.Error(w, "missing or oversized dns parameter", http.StatusBadRequest)
			return
		}
		var err error
		if wire, err = base64.RawURLEncoding.DecodeString(q); err != nil {
			http.Error(w, "dns parameter is not base64url", http.StatusBadRequest)
			return
		}
	case http.MethodPost:
		if ct := req.Header.Get("Content-Type"); ct != dohContentType {
			http.Error(w, "content type must be "+dohContentType, http.StatusUnsupportedMediaType)
			return
		}
		var err error
		wire, err = io.ReadAll(http.MaxBytesReader(w, req.Body, dns.MaxMsgSize))
		if err != nil {
			http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if len(wire) < 12 {
		http.Error(w, "not a DNS message", http.StatusBadRequest)
		return
	}
	var client netip.Addr
	if ap, err := netip.ParseAddrPort(req.RemoteAddr); err == nil {
		client = ap.Addr().Unmap() // in memory for this request only
	}
	out := h.e.answer(wire, client, t)
	if out == nil {
		http.Error(w, "no answer", http.StatusBadRequest)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", dohContentType)
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	hdr.Set("Cache-Control", "max-age="+strconv.FormatUint(uint64(minTTL(out)), 10))
	w.Write(out)
}

// minTTL is the freshness lifetime of an answer for HTTP caches (RFC 8484
// section 5.1): the smallest TTL in it, OPT left out, 0 without records.
func minTTL(wire []byte) uint32 {
	var m dns.Msg
	if m.Unpack(wire) != nil {
		return 0
	}
	ttl := uint32(math.MaxUint32)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			ttl = min(ttl, rr.Header().Ttl)
		}
	}
	if ttl == math.MaxUint32 {
		return 0
	}
	return ttl
}

// dohServer is the HTTPS (HTTP/1.1 and HTTP/2) server on one listener.
type dohServer struct {
	srv *http.Server
	ln  net.Listener
}

func newDoHServer(e *Encrypted, ln net.Listener, handler http.Handler) (*dohServer, error) {
	t := e.transports[protoDoH]
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: e.cfg.HandshakeTimeout,
		// A whole request, body included, within the idle timeout: a
		// slowloris body cannot hold a goroutine longer.
		ReadTimeout:    e.cfg.IdleTimeout,
		WriteTimeout:   e.cfg.IdleTimeout,
		IdleTimeout:    e.cfg.IdleTimeout,
		MaxHeaderBytes: dohMaxHeaderBytes,
		TLSConfig:      e.certs.tlsConfig([]string{"h2", "http/1.1"}, t.handshakes),
		ErrorLog:       log.New(handshakeErrorCounter{t: t}, "", 0),
	}
	h2 := &http2.Server{
		MaxConcurrentStreams:         uint32(e.cfg.MaxStreams),
		IdleTimeout:                  e.cfg.IdleTimeout,
		MaxUploadBufferPerConnection: 1 << 20,
		MaxUploadBufferPerStream:     dns.MaxMsgSize,
		CountError: func(string) {
			// Protocol errors of a client; nothing of it kept.
		},
	}
	if err := http2.ConfigureServer(srv, h2); err != nil {
		return nil, fmt.Errorf("configure http2: %w", err)
	}
	serveH2PerRecord(srv, h2) // doh_records.go
	return &dohServer{srv: srv, ln: &limitListener{Listener: ln, t: t, slots: make(chan struct{}, e.cfg.MaxConnections)}}, nil
}

func (s *dohServer) serve() error {
	err := s.srv.ServeTLS(s.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve doh: %w", err)
}

func (s *dohServer) shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
		return fmt.Errorf("doh shutdown: %w", err)
	}
	return nil
}

// handshakeErrorCounter is net/http's error log. Its lines name the client
// ("http: TLS handshake error from 192.0.2.1:1234: ..."), so they are
// counted and dropped, never written.
type handshakeErrorCounter struct{ t *transport }

func (h handshakeErrorCounter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		h.t.failures.Inc()
	}
	return len(p), nil
}

// limitListener closes connections beyond the transport's limit at once
// and tracks the open ones for the metrics.
type limitListener struct {
	net.Listener
	t     *transport
	slots chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.t.opened()
			return &slotConn{Conn: c, release: func() { <-l.slots; l.t.closed() }}, nil
		default:
			c.Close()
			l.t.rejected.Inc()
		}
	}
}

// slotConn gives its slot back once, on the first Close.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
