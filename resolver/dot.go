package resolver

// DNS over TLS (RFC 7858): the stream server of tcp.go with a TLS handshake
// that must finish within HandshakeTimeout, padded answers, and the
// transport's own connection limit and counters.

import (
	"net"
	"net/netip"
)

func newDoTServer(e *Encrypted, ln net.Listener) *streamServer {
	t := e.transports[protoDoT]
	return newStreamServer(streamConfig{
		proto:            protoDoT,
		idle:             e.cfg.IdleTimeout,
		inFlight:         e.cfg.MaxStreams,
		maxConns:         e.cfg.MaxConnections,
		tls:              e.certs.tlsConfig([]string{"dot"}, t.handshakes),
		handshakeTimeout: e.cfg.HandshakeTimeout,
		answer:           func(wire []byte, client netip.Addr) []byte { return e.answer(wire, client, t) },
		fast:             streamFast(e.r, protoDoT, true, func() { t.queries.Add(1) }),
		rejected:         t.rejected.Inc,
		opened:           t.opened,
		closed:           t.closed,
		handshakeFailed:  t.failures.Inc,
	}, ln, e.log)
}
