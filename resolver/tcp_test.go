package resolver

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// streamResolver is a resolver without a network whose cache holds a few
// answers, stored directly, with its clock then stopped 10 s later so the
// fast path and respond lower the TTLs alike:
//
//	www.example.com A      two records
//	txt.example.com TXT    about 900 bytes: more than 512, less than 1232
//	big.example.com A      about 3,300 bytes: more than any UDP answer
//	odd.example.com TYPE65280, a type without a name in miekg/dns
func streamResolver(t testing.TB, cfg Config) (*Resolver, *prometheus.Registry) {
	t.Helper()
	cfg.RootHints = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	reg := prometheus.NewRegistry()
	r, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	store := func(name string, qtype uint16, rrs ...string) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Response = true
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		r.cache.set(answerKey(question(name, qtype)), m, time.Hour)
	}
	store("www.example.com.", dns.TypeA, "www.example.com. 3600 IN A 192.0.2.1", "www.example.com. 3600 IN A 192.0.2.2")
	var txt, big []string
	for i := range 8 {
		txt = append(txt, fmt.Sprintf("txt.example.com. 3600 IN TXT \"%0100d\"", i))
	}
	for i := range 200 {
		big = append(big, fmt.Sprintf("big.example.com. 3600 IN A 10.0.%d.%d", i/256, i%256))
	}
	store("txt.example.com.", dns.TypeTXT, txt...)
	store("big.example.com.", dns.TypeA, big...)
	store("odd.example.com.", 65280, `odd.example.com. 3600 IN TYPE65280 \# 2 abcd`)
	later := time.Now().Add(10 * time.Second)
	r.now = func() time.Time { return later }
	return r, reg
}

// countingConn counts the Read and Write calls on a connection: each is
// one system call on a TCP socket.
type countingConn struct {
	net.Conn
	reads, writes atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(b)
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// streamPair returns a client connection to s and the server's end, counted,
// served by s.handle; done is closed when handle returns.
func streamPair(t testing.TB, s *streamServer) (client net.Conn, server *countingConn, done chan struct{}) {
	t.Helper()
	client, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	raw, err := s.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	server = &countingConn{Conn: raw}
	done = make(chan struct{})
	go func() { defer close(done); s.handle(server) }()
	return client, server, done
}

func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func frame(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...)
}

// TestStreamPipelinedSyscalls sends a burst of pipelined cached queries in
// one segment: the server must read them with a read or two and answer
// them with a write or two, not two reads and one write per query.
func TestStreamPipelinedSyscalls(t *testing.T) {
	r, _ := streamResolver(t, Config{})
	s := newTCPServer(r, listenLoopback(t))
	client, server, done := streamPair(t, s)
	const n = 32
	var burst []byte
	for i := range n {
		m := query("www.example.com", dns.TypeA, false, 0)
		m.Id = uint16(i + 1)
		burst = append(burst, frame(t, m)...)
	}
	if _, err := client.Write(burst); err != nil {
		t.Fatal(err)
	}
	seen := map[uint16]bool{}
	for range n {
		m, err := tcpRead(client, 5*time.Second)
		if err != nil {
			t.Fatalf("answer %d: %v", len(seen)+1, err)
		}
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 2 {
			t.Fatalf("answer %d: %v", m.Id, m)
		}
		seen[m.Id] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct answers to %d queries", len(seen), n)
	}
	client.Close()
	<-done
	// One read brings the burst (two if the kernel split it), one more
	// sees the close; the answers go out in one write (or two).
	if rd, wr := server.reads.Load(), server.writes.Load(); rd > 4 || wr > 2 {
		t.Errorf("%d queries took %d reads and %d writes, want at most 4 and 2", n, rd, wr)
	}
}

// heldConn collects what is written to it while hold is set, so that a
// test can send many TLS records in one segment.
type heldConn struct {
	net.Conn
	hold bool
	held []byte
}

func (c *heldConn) Write(b []byte) (int, error) {
	if c.hold {
		c.held = append(c.held, b...)
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// TestDoTPipelinedRecords sends pipelined cached queries over DoT each in
// its own TLS record, as dnsperf does, all in one segment: the answers must
// still go out in a write or two, not one per record.
func TestDoTPipelinedRecords(t *testing.T) {
	s, pki := dotStreamServer(t)
	raw, server, done := streamPair(t, s)
	hc := &heldConn{Conn: raw}
	client := tls.Client(hc, &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1"})
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	// A round trip, so the server's handshake writes are done and counted.
	if _, err := client.Write(frame(t, query("www.example.com", dns.TypeA, false, 0))); err != nil {
		t.Fatal(err)
	}
	if _, err := tcpRead(client, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	before := server.writes.Load()
	const n = 32
	hc.hold = true
	for i := range n {
		m := query("www.example.com", dns.TypeA, false, 0)
		m.Id = uint16(i + 1)
		if _, err := client.Write(frame(t, m)); err != nil { // one record each
			t.Fatal(err)
		}
	}
	hc.hold = false
	if _, err := raw.Write(hc.held); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := tcpRead(client, 5*time.Second); err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
	}
	client.Close()
	<-done
	if wr := server.writes.Load() - before; wr > 2 {
		t.Errorf("%d queries in %d records took %d writes, want at most 2", n, n, wr)
	}
}

// TestStreamFastMatchesRespond checks the fast path of the stream
// transports against respond, on cached answers of every size: over TCP
// an answer is never truncated, with or without EDNS, and over DoT it is
// padded as packPadded pads it.
func TestStreamFastMatchesRespond(t *testing.T) {
	r, _ := streamResolver(t, Config{})
	client := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		name, qname string
		qtype       uint16
		edns        bool
		do          bool
	}{
		{"small", "www.example.com.", dns.TypeA, false, false},
		{"over 512 without EDNS", "TXT.example.com.", dns.TypeTXT, false, false},
		{"over 512, EDNS 512", "txt.example.com.", dns.TypeTXT, true, false},
		{"over 1232, EDNS", "big.EXAMPLE.com.", dns.TypeA, true, true},
		{"over 1232 without EDNS", "big.example.com.", dns.TypeA, false, false},
	}
	for _, proto := range []string{"tcp", "dot"} {
		fp := newFastPath(r.m, proto)
		fp.pad = proto == "dot"
		for _, tc := range tests {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				req := new(dns.Msg).SetQuestion(tc.qname, tc.qtype)
				req.Id = 0xBEEF
				if tc.edns {
					req.SetEdns0(512, tc.do)
				}
				wire, err := req.Pack()
				if err != nil {
					t.Fatal(err)
				}
				var lower [maxFastName]byte
				fb, ok := r.fastAnswer(fp, wire, nil, client, &lower)
				if !ok {
					t.Fatal("the fast path refused a fresh cached answer")
				}
				sb := r.answerWire(wire, client, proto, proto == "dot")
				fast, slow := new(dns.Msg), new(dns.Msg)
				if err := fast.Unpack(fb); err != nil {
					t.Fatalf("unpack fast answer: %v", err)
				}
				if err := slow.Unpack(sb); err != nil {
					t.Fatalf("unpack slow answer: %v", err)
				}
				if fast.Truncated || len(fast.Answer) != len(slow.Answer) || len(fast.Answer) == 0 {
					t.Fatalf("fast answer TC=%v with %d records, slow %d", fast.Truncated, len(fast.Answer), len(slow.Answer))
				}
				if fast.MsgHdr != slow.MsgHdr {
					t.Errorf("header\nfast %+v\nslow %+v", fast.MsgHdr, slow.MsgHdr)
				}
				if !slices.Equal(fast.Question, slow.Question) || fast.Question[0].Name != tc.qname {
					t.Errorf("question fast %v slow %v", fast.Question, slow.Question)
				}
				if f, s := withTTLs(fast.Answer), withTTLs(slow.Answer); !slices.Equal(f, s) {
					t.Errorf("answer\nfast %q\nslow %q", f, s)
				}
				// The padding's length may differ: respond's packing does
				// not compress a name against the question when their case
				// differs, so its answer can be a little longer.
				if f, s := withTTLs(unpadded(fast.Extra)), withTTLs(unpadded(slow.Extra)); !slices.Equal(f, s) {
					t.Errorf("additional\nfast %q\nslow %q", f, s)
				}
				if proto == "dot" && tc.edns && len(fb)%paddingBlock != 0 {
					t.Errorf("padded answer of %d bytes, not a multiple of %d", len(fb), paddingBlock)
				}
			})
		}
	}
}

// unpadded returns rrs with the bytes of any Padding option dropped (the
// option itself stays).
func unpadded(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if o, ok := rr.(*dns.OPT); ok {
			c := dns.Copy(o).(*dns.OPT)
			for i, e := range c.Option {
				if _, ok := e.(*dns.EDNS0_PADDING); ok {
					c.Option[i] = &dns.EDNS0_PADDING{}
				}
			}
			rr = c
		}
		out = append(out, rr)
	}
	return out
}

// TestTCPLargeCachedAnswer asks over a real TCP listener, without EDNS,
// for a cached answer larger than any UDP answer: it comes back whole,
// from the fast path (counted under tcp, not udp).
func TestTCPLargeCachedAnswer(t *testing.T) {
	r, reg := streamResolver(t, Config{})
	s := newTCPServer(r, listenLoopback(t))
	s.cfg.answer = func([]byte, netip.Addr) []byte {
		t.Error("a fresh cached answer went to the slow path")
		return nil
	}
	client, _, done := streamPair(t, s)
	req := query("big.example.com", dns.TypeA, false, 0)
	if _, err := client.Write(frame(t, req)); err != nil {
		t.Fatal(err)
	}
	resp, err := tcpRead(client, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Truncated || len(resp.Answer) != 200 {
		t.Errorf("TC=%v, %d records, want the 200 cached", resp.Truncated, len(resp.Answer))
	}
	client.Close()
	<-done
	if got := counterValue(t, reg, "anycastd_queries_total", map[string]string{"proto": "tcp"}); got != 1 {
		t.Errorf("queries{proto=tcp} = %v, want 1", got)
	}
	if got := counterValue(t, reg, "anycastd_cache_hits_total", nil); got != 1 {
		t.Errorf("cache hits = %v, want 1", got)
	}
}

// TestFastAnswerCountsProto: answers of the stream fast path are counted
// under the transport's label, including qtypes without a prebuilt
// counter (the fallback once counted every one of those as udp).
func TestFastAnswerCountsProto(t *testing.T) {
	r, reg := streamResolver(t, Config{})
	client := netip.MustParseAddr("192.0.2.7")
	for _, proto := range []string{"tcp", "dot"} {
		fp := newFastPath(r.m, proto)
		for _, q := range []dns.Question{question("www.example.com", dns.TypeA), question("odd.example.com", 65280)} {
			wire, err := new(dns.Msg).SetQuestion(q.Name, q.Qtype).Pack()
			if err != nil {
				t.Fatal(err)
			}
			var lower [maxFastName]byte
			if _, ok := r.fastAnswer(fp, wire, nil, client, &lower); !ok {
				t.Fatalf("%s %s: fast path refused", proto, q.Name)
			}
		}
		for _, qtype := range []string{"A", "other"} {
			if got := counterValue(t, reg, "anycastd_queries_total", map[string]string{"proto": proto, "qtype": qtype}); got != 1 {
				t.Errorf("queries{proto=%s,qtype=%s} = %v, want 1", proto, qtype, got)
			}
		}
	}
	if got := counterValue(t, reg, "anycastd_queries_total", map[string]string{"proto": "udp"}); got != 0 {
		t.Errorf("queries{proto=udp} = %v, want 0", got)
	}
}

// TestStreamFastOffWhenIneligible: with a query log on, a cached TCP
// answer goes through respond, which logs it, as over UDP.
func TestStreamFastOffWhenIneligible(t *testing.T) {
	r, _ := streamResolver(t, Config{Privacy: Privacy{QueryLog: QueryLogConfig{Enabled: true, Size: 10}}})
	s := newTCPServer(r, listenLoopback(t))
	if s.cfg.fast != nil {
		t.Error("fast path set up with the query log on")
	}
	client, _, done := streamPair(t, s)
	if _, err := client.Write(frame(t, query("www.example.com", dns.TypeA, false, 0))); err != nil {
		t.Fatal(err)
	}
	if _, err := tcpRead(client, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	client.Close()
	<-done
	if log := r.QueryLog(); len(log) != 1 || log[0].Protocol != "tcp" {
		t.Errorf("query log %+v, want one tcp record", log)
	}
}

// TestStreamMixedPipeline interleaves fast and slow queries (RD=0 goes
// to respond) on one connection: every query gets exactly one answer,
// with its own ID.
func TestStreamMixedPipeline(t *testing.T) {
	r, _ := streamResolver(t, Config{})
	s := newTCPServer(r, listenLoopback(t))
	client, _, done := streamPair(t, s)
	const n = 200
	var burst []byte
	for i := range n {
		m := query("www.example.com", dns.TypeA, false, 0)
		m.Id = uint16(i + 1)
		m.RecursionDesired = i%3 != 0
		burst = append(burst, frame(t, m)...)
	}
	if _, err := client.Write(burst); err != nil {
		t.Fatal(err)
	}
	seen := map[uint16]bool{}
	for range n {
		m, err := tcpRead(client, 5*time.Second)
		if err != nil {
			t.Fatalf("after %d answers: %v", len(seen), err)
		}
		if seen[m.Id] || len(m.Answer) != 2 {
			t.Fatalf("answer %d: repeated or %d records", m.Id, len(m.Answer))
		}
		seen[m.Id] = true
	}
	client.Close()
	<-done
}

// BenchmarkTCPServerCached is the TCP stream server on loopback: one
// connection keeps 64 pipelined cached queries in flight, written and read
// in batches. allocs/op is per query, client included (the client
// allocates nothing in the loop).
func BenchmarkTCPServerCached(b *testing.B) {
	r, _ := streamResolver(b, Config{})
	s := newTCPServer(r, listenLoopback(b))
	go s.serve()
	defer s.shutdown(b.Context())
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchStream(b, c)
}

// benchStream runs the pipelined load of BenchmarkTCPServerCached on c.
func benchStream(b *testing.B, c net.Conn) {
	const window = 64
	q := frame(b, query("WWW.example.com", dns.TypeA, false, 0))
	batch := make([]byte, 0, window*len(q))
	for range window {
		batch = append(batch, q...)
	}
	in := bufio.NewReaderSize(c, 64<<10)
	var hdr [2]byte
	body := make([]byte, 65535)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(window, b.N-done)
		if _, err := c.Write(batch[:k*len(q)]); err != nil {
			b.Fatal(err)
		}
		for range k {
			if _, err := io.ReadFull(in, hdr[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(in, body[:binary.BigEndian.Uint16(hdr[:])]); err != nil {
				b.Fatal(err)
			}
		}
		done += k
	}
}

// dotStreamServer is a DoT stream server (fast path and padding on) over
// a resolver with a cached www.example.com, with a certificate from a fresh
// test PKI; it is not serving yet.
func dotStreamServer(tb testing.TB) (*streamServer, *testPKI) {
	tb.Helper()
	r, _ := streamResolver(tb, Config{})
	pki := newTestPKI(tb)
	certFile, keyFile := filepath.Join(pki.dir, "cert.pem"), filepath.Join(pki.dir, "key.pem")
	pki.issue(tb, certFile, keyFile, time.Hour)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		tb.Fatal(err)
	}
	return newStreamServer(streamConfig{
		proto: protoDoT, idle: 10 * time.Second, inFlight: maxTCPInFlight, maxConns: 10,
		tls:              &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"dot"}},
		handshakeTimeout: 5 * time.Second,
		answer:           func(wire []byte, client netip.Addr) []byte { return r.answerWire(wire, client, protoDoT, true) },
		fast:             streamFast(r, protoDoT, true, nil),
	}, listenLoopback(tb), r.log), pki
}

// BenchmarkDoTServerCached is BenchmarkTCPServerCached over TLS: the
// stream server with a handshake, padding on, and the TLS record work on
// both ends.
func BenchmarkDoTServerCached(b *testing.B) {
	s, pki := dotStreamServer(b)
	go s.serve()
	defer s.shutdown(b.Context())
	c, err := tls.Dial("tcp", s.ln.Addr().String(), &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1", NextProtos: []string{"dot"}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchStream(b, c)
}
