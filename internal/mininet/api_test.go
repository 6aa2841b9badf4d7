package mininet

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
)

func TestQueries(t *testing.T) {
	in := startTest(t)
	exchange(t, in, query{server: "a.root-servers.net.", qname: "www.example.com.", qtype: dns.TypeA})
	in.ResetQueries()
	for _, q := range []query{
		{server: "a.root-servers.net.", qname: "www.example.com.", qtype: dns.TypeA},
		{server: "a.root-servers.net.", qname: ".", qtype: dns.TypeNS, net: "tcp"},
		{server: "a.nic.com.", qname: "www.example.com.", qtype: dns.TypeA},
		{server: "a.nic.com.", qname: "example.org.", qtype: dns.TypeA}, // refused, still counted
		{server: "ns1.example.com.", qname: "www.example.com.", qtype: dns.TypeA},
	} {
		exchange(t, in, q)
	}
	got := in.Queries()
	want := map[string]uint64{"a.root-servers.net.": 2, "a.nic.com.": 2, "ns1.example.com.": 1}
	for _, s := range in.Servers() {
		if !s.Bound {
			if _, ok := got[s.Name]; ok {
				t.Errorf("unbound %s has a counter", s.Name)
			}
			continue
		}
		if g, ok := got[s.Name]; !ok || g != want[s.Name] {
			t.Errorf("Queries()[%s] = %d (present %v), want %d", s.Name, g, ok, want[s.Name])
		}
	}
	in.ResetQueries()
	for name, n := range in.Queries() {
		if n != 0 {
			t.Errorf("after reset %s = %d", name, n)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  string // "" = valid
	}{
		{"lab", Config{Prefix4: netip.MustParsePrefix("198.51.100.0/24"), Prefix6: netip.MustParsePrefix("2001:db8:100::/64")}, ""},
		{"tests", Config{Prefix4: netip.MustParsePrefix("127.0.53.0/24")}, ""},
		{"smallest IPv4 that fits", Config{Prefix4: netip.MustParsePrefix("10.0.0.0/27")}, ""},
		{"no prefix4", Config{}, "prefix4"},
		{"IPv6 as prefix4", Config{Prefix4: netip.MustParsePrefix("2001:db8::/64")}, "want an IPv4 prefix"},
		{"prefix4 too small", Config{Prefix4: netip.MustParsePrefix("10.0.0.0/28")}, "too small"},
		{"IPv4 as prefix6", Config{Prefix4: testPrefix4, Prefix6: netip.MustParsePrefix("10.0.0.0/8")}, "want an IPv6 prefix"},
		{"prefix6 too small", Config{Prefix4: testPrefix4, Prefix6: netip.MustParsePrefix("2001:db8::/125")}, "prefix6"},
		{"both wrong at once", Config{Prefix6: netip.MustParsePrefix("10.0.0.0/8")}, "prefix6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestAddrs(t *testing.T) {
	cfg := Config{Prefix4: netip.MustParsePrefix("198.51.100.0/24"), Prefix6: netip.MustParsePrefix("2001:db8:100::/64")}
	got := Addrs(cfg)
	want := 0 // two per bound server, one for IPv6-only ones
	for _, s := range servers {
		switch {
		case s.unbound:
		case s.v6only:
			want++
		default:
			want += 2
		}
	}
	if len(got) != want {
		t.Fatalf("%d addresses, want %d", len(got), want)
	}
	for i, want := range []string{"198.51.100.1", "2001:db8:100::1", "198.51.100.2", "2001:db8:100::2"} {
		if got[i].String() != want {
			t.Errorf("Addrs()[%d] = %s, want %s", i, got[i], want)
		}
	}
	in, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range in.Servers() {
		if !s.Bound {
			for _, a := range s.Addrs {
				for _, b := range got {
					if a == b {
						t.Errorf("unbound %s address %s is in Addrs", s.Name, a)
					}
				}
			}
		}
	}
}

func TestAddHost(t *testing.T) {
	tests := []struct {
		base string
		n    int
		want string
	}{
		{"198.51.100.0", 1, "198.51.100.1"},
		{"10.0.0.250", 10, "10.0.1.4"},
		{"2001:db8:100::", 13, "2001:db8:100::d"},
		{"2001:db8::ff", 1, "2001:db8::100"},
	}
	for _, tt := range tests {
		if got := addHost(netip.MustParseAddr(tt.base), tt.n); got.String() != tt.want {
			t.Errorf("addHost(%s, %d) = %s, want %s", tt.base, tt.n, got, tt.want)
		}
	}
}

func TestRootHints(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		cfg := Config{Prefix4: testPrefix4}
		if v6 {
			cfg.Prefix6 = netip.MustParsePrefix("fd00:53::/64")
		}
		in, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		zp := dns.NewZoneParser(strings.NewReader(in.RootHints()), ".", "hints")
		var got []string
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			got = append(got, rrStrings([]dns.RR{rr})...)
		}
		if err := zp.Err(); err != nil {
			t.Fatalf("parse hints: %v", err)
		}
		want := []string{". NS a.root-servers.net.", ". NS b.root-servers.net.",
			"a.root-servers.net. A 127.0.53.1", "b.root-servers.net. A 127.0.53.2"}
		if v6 {
			want = []string{". NS a.root-servers.net.", ". NS b.root-servers.net.",
				"a.root-servers.net. A 127.0.53.1", "a.root-servers.net. AAAA fd00:53::1",
				"b.root-servers.net. A 127.0.53.2", "b.root-servers.net. AAAA fd00:53::2"}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("v6=%v hints:\n got %q\nwant %q", v6, got, want)
		}
	}
}

func TestStartFailsCleanlyWhenPortBusy(t *testing.T) {
	// Occupy UDP on the address of the 5th server, so Start fails midway.
	busy, err := net.ListenPacket("udp4", "127.0.53.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := uint16(busy.LocalAddr().(*net.UDPAddr).Port)

	in, err := New(Config{Prefix4: testPrefix4, Port: port}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = in.Start(t.Context())
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Start = %v, want EADDRINUSE", err)
	}
	busy.Close()
	// Nothing may stay bound: the port is free again on every address.
	for _, a := range Addrs(Config{Prefix4: testPrefix4}) {
		ap := net.JoinHostPort(a.String(), strconv.Itoa(int(port)))
		for _, network := range []string{"udp4", "tcp4"} {
			var c interface{ Close() error }
			if network == "udp4" {
				c, err = net.ListenPacket(network, ap)
			} else {
				c, err = net.Listen(network, ap)
			}
			if err != nil {
				t.Fatalf("%s %s still bound after failed Start: %v", network, ap, err)
			}
			c.Close()
		}
	}
	if err := in.Close(); err != nil {
		t.Errorf("Close after failed Start: %v", err)
	}
}

func TestStartTwiceAndCloseTwice(t *testing.T) {
	in := startTest(t)
	if err := in.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
	if in.Port() == 0 {
		t.Error("Port() = 0 after Start")
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeNS)
	if _, _, err := c.Exchange(m, serverAddr(t, in, "a.root-servers.net.")); err == nil {
		t.Error("server still answers after Close")
	}
}

// recorder is a dns.ResponseWriter that keeps the reply.
type recorder struct {
	dns.ResponseWriter
	msg *dns.Msg
}

func (r *recorder) LocalAddr() net.Addr       { return &net.UDPAddr{IP: net.IPv4(127, 0, 53, 1), Port: 53} }
func (r *recorder) WriteMsg(m *dns.Msg) error { r.msg = m; return nil }

func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, err := New(Config{Prefix4: testPrefix4, Latency: 150 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := in.handler(in.servers[0])
		req := new(dns.Msg)
		req.SetQuestion(".", dns.TypeSOA)

		start := time.Now()
		w := &recorder{}
		h.ServeDNS(w, req)
		if d := time.Since(start); d != 150*time.Millisecond {
			t.Errorf("answered after %v, want 150ms", d)
		}
		if w.msg == nil || w.msg.Rcode != dns.RcodeSuccess {
			t.Fatalf("reply %v", w.msg)
		}

		// Close releases answers still held back, without writing them.
		w = &recorder{}
		go h.ServeDNS(w, req)
		synctest.Wait()
		if err := in.Close(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if w.msg != nil {
			t.Error("held answer written after Close")
		}
	})
}
