package resolver

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkUDPServerCached is the whole UDP server on loopback: one client
// socket keeps 64 cached queries in flight. Run with -cpuprofile to see the
// split between system calls, the Go runtime and the fast path.
func BenchmarkUDPServerCached(b *testing.B) {
	r := benchResolver(b)
	r.cfg.Listen = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-r.Ready()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.Addrs()[0]))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetReadBuffer(4 << 20)
	wire := benchQuery(b)
	buf := make([]byte, 1500)
	const window = 64
	b.ReportAllocs()
	b.ResetTimer()
	sent, got := 0, 0
	for got < b.N {
		for sent < b.N && sent-got < window {
			if _, err := c.Write(wire); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			sent = got // lost in a full socket buffer: send again
			continue
		}
		got++
	}
}

// BenchmarkUDPBatch is one reader's work on a full batch of cached
// queries, without the receive: parse, answer and one sendmmsg of 32
// answers, to a socket nobody reads (the kernel drops them once its buffer
// is full, which costs the sender the same). Target: 0 allocs/op.
func BenchmarkUDPBatch(b *testing.B) {
	r := cachedResolver(b)
	srv, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	sink, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	s := newUDPServer(r, netip.MustParseAddr("192.0.2.53"), []*net.UDPConn{srv})
	rd, err := newUDPReader(s, srv)
	if err != nil {
		b.Fatal(err)
	}
	n := fillBatch(rd, queryWire(b), sink.LocalAddr().(*net.UDPAddr).AddrPort())
	b.ReportAllocs()
	for b.Loop() {
		rd.batch(n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/datagram")
	if len(s.queue) != 0 {
		b.Fatalf("%d queries left the fast path", len(s.queue))
	}
}
