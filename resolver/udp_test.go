package resolver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// cachedResolver is a resolver with www.example.com A cached and no
// network: the entry is stored directly.
func cachedResolver(t testing.TB) *Resolver {
	t.Helper()
	r, _ := newResolver(t, Config{RootHints: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.Response = true
	for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		rr, _ := dns.NewRR("www.example.com. 3600 IN A " + ip)
		m.Answer = append(m.Answer, rr)
	}
	r.cache.set(answerKey(question("www.example.com", dns.TypeA)), m, time.Hour)
	return r
}

// rawSockaddr builds the sockaddr the kernel would write for ap, as an
// AF_INET one when v4 is set.
func rawSockaddr(ap netip.AddrPort, v4 bool, scope uint32) unix.RawSockaddrInet6 {
	var sa unix.RawSockaddrInet6
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
	if v4 {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
		sa4.Family = unix.AF_INET
		sa4.Addr = ap.Addr().As4()
		return sa
	}
	sa.Family = unix.AF_INET6
	sa.Addr = ap.Addr().As16()
	sa.Scope_id = scope
	return sa
}

// TestSockaddrAddr checks the conversion of the sockaddrs the kernel
// writes: IPv4, IPv6, IPv4-mapped IPv6 (a dual-stack socket's IPv4
// client, unmapped like addrOf does) and a family we do not know.
func TestSockaddrAddr(t *testing.T) {
	tests := []struct {
		name     string
		sa       unix.RawSockaddrInet6
		want     netip.Addr
		wantUDP  string // sockaddrUDP's String(); "" for nil
		wantZero bool
	}{
		{"IPv4", rawSockaddr(netip.MustParseAddrPort("203.0.113.9:5353"), true, 0),
			netip.MustParseAddr("203.0.113.9"), "203.0.113.9:5353", false},
		{"IPv6", rawSockaddr(netip.MustParseAddrPort("[2001:db8::9]:40000"), false, 0),
			netip.MustParseAddr("2001:db8::9"), "[2001:db8::9]:40000", false},
		{"IPv4-mapped", rawSockaddr(netip.MustParseAddrPort("[::ffff:198.51.100.7]:53"), false, 0),
			netip.MustParseAddr("198.51.100.7"), "198.51.100.7:53", false},
		{"IPv6 link-local with scope", rawSockaddr(netip.MustParseAddrPort("[fe80::1]:65535"), false, 3),
			netip.MustParseAddr("fe80::1"), "[fe80::1%3]:65535", false},
		{"unknown family", unix.RawSockaddrInet6{Family: unix.AF_UNIX}, netip.Addr{}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sockaddrAddr(&tc.sa); got != tc.want {
				t.Errorf("sockaddrAddr = %v, want %v", got, tc.want)
			}
			ua := sockaddrUDP(&tc.sa)
			if tc.wantZero {
				if ua != nil {
					t.Errorf("sockaddrUDP = %v, want nil", ua)
				}
				return
			}
			if ua == nil || ua.String() != tc.wantUDP {
				t.Errorf("sockaddrUDP = %v, want %s", ua, tc.wantUDP)
			}
		})
	}
}

// TestRecvmmsgAddrs receives through recvmmsg from real clients, over an
// IPv4 socket, an IPv6 one and a dual-stack one reached over IPv4: the
// address and port read from the raw sockaddr are the client's.
func TestRecvmmsgAddrs(t *testing.T) {
	tests := []struct {
		name         string
		network      string
		listen       string
		clientListen string
	}{
		{"IPv4 socket", "udp4", "127.0.0.1:0", "127.0.0.1:0"},
		{"IPv6 socket", "udp6", "[::1]:0", "[::1]:0"},
		{"dual-stack socket, IPv4 client", "udp", "[::]:0", "127.0.0.1:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.listen)))
			if err != nil {
				t.Skipf("no %s socket here: %v", tc.network, err)
			}
			defer srv.Close()
			cli, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.clientListen)))
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			to := srv.LocalAddr().(*net.UDPAddr).AddrPort()
			if tc.network == "udp" {
				to = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), to.Port())
			}
			if _, err := cli.WriteToUDPAddrPort([]byte("hello, server"), to); err != nil {
				t.Fatal(err)
			}
			b := newRecvBatch(4, 512)
			n := recvOnce(t, srv, b)
			if n != 1 || string(b.buf(0)) != "hello, server" {
				t.Fatalf("got %d datagrams, first %q", n, b.buf(0))
			}
			want := cli.LocalAddr().(*net.UDPAddr).AddrPort()
			if got := sockaddrAddr(&b.names[0]); got != want.Addr() {
				t.Errorf("sockaddrAddr = %v, want %v", got, want.Addr())
			}
			if got := sockaddrUDP(&b.names[0]).AddrPort(); got.Port() != want.Port() || got.Addr().Unmap() != want.Addr() {
				t.Errorf("sockaddrUDP = %v, want %v", got, want)
			}
		})
	}
}

// recvOnce waits for c to be readable and receives one batch into b.
func recvOnce(t *testing.T, c *net.UDPConn, b *mmsgBatch) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, rerr = recvmmsg(fd, b.msgs)
		return rerr != unix.EAGAIN
	})
	if err != nil || rerr != nil {
		t.Fatalf("recvmmsg: %v, %v", err, rerr)
	}
	return n
}

// TestUDPBatchSkipsBadDatagrams puts a datagram too long for the read
// buffer and one shorter than a DNS header between two cached queries in
// one batch: both queries are answered, the two others dropped. The
// answers go back to the raw sockaddrs the queries came from, over IPv4,
// IPv6 and a dual-stack socket's IPv4-mapped addresses.
func TestUDPBatchSkipsBadDatagrams(t *testing.T) {
	tests := []struct {
		name, network, listen, dial string
	}{
		{"IPv4", "udp4", "127.0.0.1:0", "127.0.0.1"},
		{"IPv6", "udp6", "[::1]:0", "::1"},
		{"dual-stack socket, IPv4 client", "udp", "[::]:0", "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.listen)))
			if err != nil {
				t.Skipf("no %s socket here: %v", tc.network, err)
			}
			defer srv.Close()
			to := netip.AddrPortFrom(netip.MustParseAddr(tc.dial), srv.LocalAddr().(*net.UDPAddr).AddrPort().Port())
			testBatchSkips(t, srv, to)
		})
	}
}

func testBatchSkips(t *testing.T, srv *net.UDPConn, to netip.AddrPort) {
	r := cachedResolver(t)
	srv.SetReadBuffer(1 << 20)
	cli, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	q := func(id uint16, rd bool) []byte {
		m := new(dns.Msg)
		m.SetQuestion("www.example.com.", dns.TypeA)
		m.Id = id
		m.RecursionDesired = rd
		w, _ := m.Pack()
		return w
	}
	// A query padded past udpReadSize: the kernel truncates it and sets
	// MSG_TRUNC. Padded with zeros it would otherwise parse.
	long := append(q(2, true), make([]byte, udpReadSize+100)...)
	// RD=0 is not the fast path's: the last query goes to the workers.
	for _, d := range [][]byte{q(1, true), long, {0xab, 0xcd, 0x01}, q(4, true), q(5, false)} {
		if _, err := cli.Write(d); err != nil {
			t.Fatal(err)
		}
	}

	s := newUDPServer(r, netip.MustParseAddr("192.0.2.53"), []*net.UDPConn{srv})
	rd, err := newUDPReader(s, srv)
	if err != nil {
		t.Fatal(err)
	}
	// All five were sent before this read, so one recvmmsg returns them
	// together; a loop would not prove they shared a batch.
	n := recvOnce(t, srv, rd.in)
	if n != 5 {
		t.Fatalf("one recvmmsg got %d datagrams, want 5", n)
	}
	if !rd.in.truncated(1) {
		t.Fatal("the long datagram was not marked MSG_TRUNC")
	}
	rd.batch(n)

	var ids []uint16
	buf := make([]byte, 2048)
	for {
		cli.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		k, err := cli.Read(buf)
		if err != nil {
			break
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:k]); err != nil {
			t.Fatalf("unparseable answer: %v", err)
		}
		if len(m.Answer) != 2 {
			t.Errorf("answer %d: %d records, want 2", m.Id, len(m.Answer))
		}
		ids = append(ids, m.Id)
	}
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 4 {
		t.Errorf("answered IDs %v, want [1 4]", ids)
	}
	if len(s.queue) != 1 {
		t.Fatalf("%d datagrams went to the workers, want 1", len(s.queue))
	}
	// The worker answers to a net.UDPAddr made from the sockaddr.
	j := <-s.queue
	want := cli.LocalAddr().(*net.UDPAddr).AddrPort()
	if got := j.to.(*net.UDPAddr).AddrPort(); got.Addr().Unmap() != want.Addr() || got.Port() != want.Port() {
		t.Errorf("worker job to %v, want %v", got, want)
	}
	if j.client != want.Addr() || binary.BigEndian.Uint16(j.wire) != 5 {
		t.Errorf("worker job from %v, ID %d; want %v, 5", j.client, binary.BigEndian.Uint16(j.wire), want.Addr())
	}
}

// TestUDPBatchAllocs checks that a batch of cached queries, received,
// answered and sent, allocates nothing: the point of mmsg.go.
func TestUDPBatchAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	r := cachedResolver(t)
	srv, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s := newUDPServer(r, netip.MustParseAddr("192.0.2.53"), []*net.UDPConn{srv})
	rd, err := newUDPReader(s, srv)
	if err != nil {
		t.Fatal(err)
	}
	// The answers go to a socket nobody reads: once its buffer is full the
	// kernel drops them, which costs the sender the same.
	sink, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	n := fillBatch(rd, queryWire(t), sink.LocalAddr().(*net.UDPAddr).AddrPort())
	if got := testing.AllocsPerRun(100, func() { rd.batch(n) }); got != 0 {
		t.Errorf("a batch of %d cached queries allocates %v times, want 0", n, got)
	}
	if len(s.queue) != 0 {
		t.Fatalf("%d queries left the fast path", len(s.queue))
	}
}

// queryWire is www.example.com A with EDNS, mixed case.
func queryWire(t testing.TB) []byte {
	m := new(dns.Msg)
	m.SetQuestion("WWW.Example.com.", dns.TypeA)
	m.SetEdns0(1232, false)
	w, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// fillBatch makes rd's received batch a full one of copies of wire from
// client, as recvmmsg would leave it, and returns its length.
func fillBatch(rd *udpReader, wire []byte, client netip.AddrPort) int {
	for i := range rd.in.msgs {
		rd.in.msgs[i].Len = uint32(len(wire))
		copy(rd.in.buf(i), wire)
		rd.in.names[i] = rawSockaddr(client, client.Addr().Is4(), 0)
		rd.in.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	}
	return len(rd.in.msgs)
}
