package resolver

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/mininet"
	"github.com/miekg/dns"
)

func TestMinimalANY(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	addr := serve(t, r)
	before := sum(in.Queries())
	for _, network := range []string{"udp", "tcp"} {
		m := exchange(t, network, addr, query("www.example.com", dns.TypeANY, true, 1232))
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("%s: %v", network, m)
		}
		h, ok := m.Answer[0].(*dns.HINFO)
		if !ok || h.Cpu != "RFC8482" || h.Os != "" || h.Hdr.Name != "www.example.com." {
			t.Errorf("%s: answer %v, want HINFO \"RFC8482\" \"\"", network, m.Answer[0])
		}
	}
	if n := sum(in.Queries()) - before; n != 0 {
		t.Errorf("ANY caused %d upstream queries", n)
	}
}

// TestEDEOnServfail: every SERVFAIL carries an EDE when the client sent
// EDNS, and none when it did not.
func TestEDEOnServfail(t *testing.T) {
	in := startNet(t)
	cfg := netConfig(t, in)
	cfg.ServeStale = -1
	r, _ := newResolver(t, cfg)
	addr := serve(t, r)
	failExample(t, in, mininet.ServFail)
	m := exchange(t, "udp", addr, query("www.example.com", dns.TypeA, true, 1232))
	if m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[m.Rcode])
	}
	if edeOfReply(m) == nil {
		t.Errorf("SERVFAIL without EDE: %v", m)
	}
	m = exchange(t, "udp", addr, query("www.example.com", dns.TypeA, false, 0))
	if m.Rcode != dns.RcodeServerFailure || m.IsEdns0() != nil {
		t.Errorf("no-EDNS SERVFAIL: %v", m)
	}
}

func cookieQuery(cookie []byte) *dns.Msg {
	m := query("www.example.com", dns.TypeA, true, 1232)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(cookie)})
	return m
}

// TestServerCookies: a client cookie gets a server cookie; echoing it back
// keeps it; a malformed cookie is FORMERR (RFC 7873 section 5.2).
func TestServerCookies(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	addr := serve(t, r)
	cc := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	m := exchange(t, "udp", addr, cookieQuery(cc))
	got, ok := cookieOption(m.IsEdns0())
	if !ok || len(got) != clientCookieLen+serverCookieLen || !bytes.Equal(got[:8], cc) || got[8] != 1 {
		t.Fatalf("cookie in reply %x, want our client cookie and a 16-byte RFC 9018 server cookie", got)
	}
	m = exchange(t, "udp", addr, cookieQuery(got))
	if again, _ := cookieOption(m.IsEdns0()); !bytes.Equal(again, got) {
		t.Errorf("valid cookie not kept: sent %x, got %x", got, again)
	}
	forged := append([]byte(nil), got...)
	forged[len(forged)-1] ^= 1
	m = exchange(t, "udp", addr, cookieQuery(forged))
	if fresh, _ := cookieOption(m.IsEdns0()); bytes.Equal(fresh, forged) || m.Rcode != dns.RcodeSuccess {
		t.Errorf("forged server cookie: rcode %s, cookie %x", dns.RcodeToString[m.Rcode], fresh)
	}
	for _, bad := range [][]byte{cc[:5], append(cc, 1, 2, 3)} {
		if m := exchange(t, "udp", addr, cookieQuery(bad)); m.Rcode != dns.RcodeFormatError {
			t.Errorf("cookie of %d bytes: rcode %s, want FORMERR", len(bad), dns.RcodeToString[m.Rcode])
		}
	}
}

func TestSipHash24(t *testing.T) {
	// The reference vector of the SipHash paper, appendix A: key 00..0f,
	// message 00..0e.
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	if got := sipHash24(key, msg); got != 0xa129ca6149be45e5 {
		t.Errorf("SipHash-2-4 = %#x, want 0xa129ca6149be45e5", got)
	}
}

// TestUpstreamCookies: a server cookie is learned only with our client
// cookie for that server, and then sent to it.
func TestUpstreamCookies(t *testing.T) {
	c := newCookies(nil)
	a, b := netip.MustParseAddr("127.0.53.1"), netip.MustParseAddr("127.0.53.2")
	if bytes.Equal(c.cookieFor(a), c.cookieFor(b)) || len(c.cookieFor(a)) != 8 {
		t.Fatal("client cookies must be 8 bytes and differ per server")
	}
	reply := func(cookie []byte) *dns.OPT {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(cookie)}}
		return o
	}
	sc := bytes.Repeat([]byte{0xab}, 16)
	c.learnCookie(a, reply(append(c.cookieFor(b), sc...))) // b's client cookie from a: ignored
	if len(c.cookieFor(a)) != 8 {
		t.Error("learned a server cookie that echoed the wrong client cookie")
	}
	c.learnCookie(a, reply(append(c.cookieFor(a), sc...)))
	if got := c.cookieFor(a); !bytes.Equal(got[8:], sc) {
		t.Errorf("cookieFor after learning = %x", got)
	}
	m := newQuery(question("x.test", dns.TypeA), true)
	c.addCookie(m, a)
	if got, _ := cookieOption(m.IsEdns0()); len(got) != 24 {
		t.Errorf("query cookie %x", got)
	}
}

// tcpConn dials addr and returns helpers to write and read framed messages.
func tcpDial(t *testing.T, addr netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tcpWrite(t *testing.T, c net.Conn, m *dns.Msg) {
	t.Helper()
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	frame := binary.BigEndian.AppendUint16(nil, uint16(len(wire)))
	if _, err := c.Write(append(frame, wire...)); err != nil {
		t.Fatal(err)
	}
}

func tcpRead(c net.Conn, timeout time.Duration) (*dns.Msg, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	return m, m.Unpack(buf)
}

// TestTCPPipelining sends three queries on one connection, the first to a
// slow authority: the two fast answers come back first.
func TestTCPPipelining(t *testing.T) {
	in := startNet(t)
	if err := in.SetLatency("ns.slow.com.", 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	cfg := netConfig(t, in)
	cfg.UpstreamTimeout = 2 * time.Second
	r, _ := newResolver(t, cfg)
	addr := serve(t, r)
	if _, err := r.Resolve(context.Background(), question("www.example.com", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	c := tcpDial(t, addr)
	slow := query("www.slow.com", dns.TypeA, false, 0)
	fast1 := query("www.example.com", dns.TypeA, false, 0)
	fast2 := query("anything.example.com", dns.TypeANY, false, 0)
	for _, m := range []*dns.Msg{slow, fast1, fast2} {
		tcpWrite(t, c, m)
	}
	var order []uint16
	for range 3 {
		m, err := tcpRead(c, 5*time.Second)
		if err != nil {
			t.Fatalf("read answer %d: %v", len(order)+1, err)
		}
		order = append(order, m.Id)
	}
	if order[2] != slow.Id {
		t.Errorf("answer order %v: the slow query (%d) should come last", order, slow.Id)
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	in := startNet(t)
	cfg := netConfig(t, in)
	cfg.TCPIdleTimeout = 100 * time.Millisecond
	r, _ := newResolver(t, cfg)
	addr := serve(t, r)
	c := tcpDial(t, addr)
	tcpWrite(t, c, query("x.example.com", dns.TypeANY, false, 0))
	if _, err := tcpRead(c, 2*time.Second); err != nil {
		t.Fatalf("first answer: %v", err)
	}
	// Nothing more is sent: the server must close within the idle time.
	// The 2s read deadline only bounds a broken server.
	start := time.Now()
	_, err := tcpRead(c, 2*time.Second)
	if err != io.EOF {
		t.Fatalf("read after idle: %v, want EOF (server closed)", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestTCPConnectionLimit(t *testing.T) {
	in := startNet(t)
	cfg := netConfig(t, in)
	cfg.MaxTCPConnections = 2
	r, reg := newResolver(t, cfg)
	addr := serve(t, r)
	var held []net.Conn
	for range 2 {
		c := tcpDial(t, addr)
		tcpWrite(t, c, query("x.example.com", dns.TypeANY, false, 0))
		if _, err := tcpRead(c, 2*time.Second); err != nil {
			t.Fatalf("connection within the limit: %v", err)
		}
		held = append(held, c)
	}
	extra := tcpDial(t, addr)
	tcpWrite(t, extra, query("x.example.com", dns.TypeANY, false, 0))
	if _, err := tcpRead(extra, 2*time.Second); err == nil {
		t.Error("a third connection was served with a limit of 2")
	}
	if got := counterValue(t, reg, "anycastd_tcp_connections_rejected_total", nil); got != 1 {
		t.Errorf("rejected metric = %v, want 1", got)
	}
	// Closing one frees its slot.
	held[0].Close()
	waitFor(t, "a slot to free up", func() bool {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			return false
		}
		defer c.Close()
		tcpWrite(t, c, query("x.example.com", dns.TypeANY, false, 0))
		_, err = tcpRead(c, time.Second)
		return err == nil
	})
}

func TestAllowList(t *testing.T) {
	in := startNet(t)
	tests := []struct {
		name  string
		allow []netip.Prefix
		rcode int
	}{
		{"empty: everyone", nil, dns.RcodeSuccess},
		{"inside", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}, dns.RcodeSuccess},
		{"outside", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}, dns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := netConfig(t, in)
			cfg.Allow = tt.allow
			r, _ := newResolver(t, cfg)
			addr := serve(t, r)
			for _, network := range []string{"udp", "tcp"} {
				m := exchange(t, network, addr, query("www.example.com", dns.TypeA, true, 1232))
				if m.Rcode != tt.rcode {
					t.Errorf("%s: rcode %s, want %s", network, dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
				}
				if ede := edeOfReply(m); tt.rcode == dns.RcodeRefused && (ede == nil || ede.InfoCode != dns.ExtendedErrorCodeProhibited) {
					t.Errorf("%s: REFUSED with EDE %v, want Prohibited (18)", network, ede)
				}
			}
		})
	}
}
