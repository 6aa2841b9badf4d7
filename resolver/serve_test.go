package resolver

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func query(name string, qtype uint16, edns bool, bufsize uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns {
		m.SetEdns0(bufsize, false)
	}
	return m
}

func TestServe(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	addr := serve(t, r)

	withNSID := query("www.example.com", dns.TypeA, true, 1232)
	withNSID.IsEdns0().Option = append(withNSID.IsEdns0().Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
	badVers := query("www.example.com", dns.TypeA, true, 1232)
	badVers.IsEdns0().SetVersion(1)
	chaos := query("version.bind", dns.TypeTXT, false, 0)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	notify := query("example.com", dns.TypeSOA, false, 0)
	notify.Opcode = dns.OpcodeNotify
	withDO := query("www.example.com", dns.TypeA, true, 1232)
	withDO.IsEdns0().SetDo()

	tests := []struct {
		name    string
		network string
		q       *dns.Msg
		rcode   int
		answers int  // -1: do not check
		tc      bool // TC expected
		edns    bool // OPT expected in the reply
		check   func(t *testing.T, m *dns.Msg)
	}{
		{name: "plain UDP", network: "udp", q: query("www.example.com", dns.TypeA, false, 0), answers: 1},
		{name: "EDNS echoed", network: "udp", q: query("www.example.com", dns.TypeA, true, 4096), answers: 1, edns: true,
			check: func(t *testing.T, m *dns.Msg) {
				if s := m.IsEdns0().UDPSize(); s != serverUDPSize {
					t.Errorf("advertised UDP size %d, want %d", s, serverUDPSize)
				}
				if m.IsEdns0().Do() {
					t.Error("DO set though the client did not set it")
				}
			}},
		{name: "DO bit copied", network: "udp", q: withDO, answers: 1, edns: true,
			check: func(t *testing.T, m *dns.Msg) {
				if !m.IsEdns0().Do() {
					t.Error("DO not copied (RFC 3225)")
				}
			}},
		{name: "NSID", network: "udp", q: withNSID, answers: 1, edns: true,
			check: func(t *testing.T, m *dns.Msg) {
				for _, o := range m.IsEdns0().Option {
					if n, ok := o.(*dns.EDNS0_NSID); ok {
						if got, _ := hex.DecodeString(n.Nsid); string(got) != "test-node-1" {
							t.Errorf("NSID %q, want test-node-1", got)
						}
						return
					}
				}
				t.Error("no NSID in the reply")
			}},
		{name: "no NSID unless asked", network: "udp", q: query("www.example.com", dns.TypeA, true, 1232), answers: 1, edns: true,
			check: func(t *testing.T, m *dns.Msg) {
				if len(m.IsEdns0().Option) != 0 {
					t.Errorf("options %v in the reply", m.IsEdns0().Option)
				}
			}},
		{name: "answer larger than 512 without EDNS: TC", network: "udp", q: query("medium.example.com", dns.TypeTXT, false, 0), answers: -1, tc: true},
		{name: "answer larger than client buffer: TC", network: "udp", q: query("medium.example.com", dns.TypeTXT, true, 512), answers: -1, tc: true, edns: true},
		{name: "answer fits client buffer", network: "udp", q: query("medium.example.com", dns.TypeTXT, true, 1232), answers: 3, edns: true},
		{name: "buffer under 512 counts as 512", network: "udp", q: query("www.example.com", dns.TypeA, true, 100), answers: 1, edns: true},
		{name: "big answer: TC over UDP", network: "udp", q: query("big.example.com", dns.TypeTXT, true, 4096), answers: -1, tc: true, edns: true},
		{name: "big answer complete over TCP", network: "tcp", q: query("big.example.com", dns.TypeTXT, true, 4096), answers: 8, edns: true},
		{name: "NXDOMAIN with SOA", network: "udp", q: query("nope.example.com", dns.TypeA, false, 0), rcode: dns.RcodeNameError,
			check: func(t *testing.T, m *dns.Msg) {
				if findSOA(m.Ns) == nil {
					t.Error("no SOA in authority")
				}
			}},
		{name: "lame delegation: SERVFAIL", network: "udp", q: query("www.lame.com", dns.TypeA, false, 0), rcode: dns.RcodeServerFailure},
		{name: "EDNS version 1: BADVERS", network: "udp", q: badVers, rcode: dns.RcodeBadVers, edns: true},
		{name: "CHAOS class refused", network: "udp", q: chaos, rcode: dns.RcodeRefused},
		{name: "NOTIFY not implemented", network: "udp", q: notify, rcode: dns.RcodeNotImplemented},
		{name: "AXFR not implemented", network: "tcp", q: query("example.com", dns.TypeAXFR, false, 0), rcode: dns.RcodeNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := exchange(t, tt.network, addr, tt.q)
			if m.Id != tt.q.Id || !m.Response || !m.RecursionAvailable {
				t.Errorf("header: id %d (sent %d), qr %v, ra %v", m.Id, tt.q.Id, m.Response, m.RecursionAvailable)
			}
			if m.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
			}
			if tt.answers >= 0 && len(m.Answer) != tt.answers {
				t.Errorf("%d answers, want %d", len(m.Answer), tt.answers)
			}
			if m.Truncated != tt.tc {
				t.Errorf("TC = %v, want %v", m.Truncated, tt.tc)
			}
			if (m.IsEdns0() != nil) != tt.edns {
				t.Errorf("OPT in reply = %v, want %v", m.IsEdns0() != nil, tt.edns)
			}
			if tt.network == "udp" {
				size := 512
				if o := tt.q.IsEdns0(); o != nil {
					size = min(max(int(o.UDPSize()), 512), serverUDPSize)
				}
				if l := m.Len(); l > size {
					t.Errorf("reply of %d bytes over UDP, client buffer %d", l, size)
				}
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func TestServeRecursionNotDesired(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	addr := serve(t, r)
	noRD := query("www.example.net", dns.TypeA, false, 0)
	noRD.RecursionDesired = false

	before := sum(in.Queries())
	if m := exchange(t, "udp", addr, noRD); m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
		t.Errorf("RD=0 before caching: %s with %d answers, want REFUSED", dns.RcodeToString[m.Rcode], len(m.Answer))
	}
	if sum(in.Queries()) != before {
		t.Error("RD=0 query caused upstream queries")
	}
	exchange(t, "udp", addr, query("www.example.net", dns.TypeA, false, 0))
	m := exchange(t, "udp", addr, noRD)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.RecursionDesired {
		t.Errorf("RD=0 after caching: %s, %d answers, RD %v; want the cached answer", dns.RcodeToString[m.Rcode], len(m.Answer), m.RecursionDesired)
	}
}

func TestServeCountsAndMetrics(t *testing.T) {
	in := startNet(t)
	r, reg := newResolver(t, netConfig(t, in))
	addr := serve(t, r)
	for range 3 {
		exchange(t, "udp", addr, query("www.example.com", dns.TypeA, false, 0))
	}
	exchange(t, "tcp", addr, query("nope.example.com", dns.TypeAAAA, false, 0))
	if got := r.QueryCount(); got != 4 {
		t.Errorf("QueryCount = %d, want 4", got)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"anycastd_queries_total", map[string]string{"proto": "udp", "qtype": "A", "rcode": "NOERROR"}, 3},
		{"anycastd_queries_total", map[string]string{"proto": "tcp", "qtype": "AAAA", "rcode": "NXDOMAIN"}, 1},
		{"anycastd_cache_hits_total", nil, 2},
		{"anycastd_cache_misses_total", nil, 2},
	} {
		if got := counterValue(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := counterValue(t, reg, "anycastd_upstream_queries_total", map[string]string{"proto": "udp"}); got < 3 {
		t.Errorf("upstream udp queries = %v, want at least root, com, example.com", got)
	}
}

// TestServeMalformed sends broken packets: each gets FORMERR, NOTIMP (an
// opcode that is not QUERY) or nothing, and the server still answers a good
// query afterwards.
func TestServeMalformed(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	addr := serve(t, r)
	good, _ := query("www.example.com", dns.TypeA, false, 0).Pack()
	twoOPT := query("www.example.com", dns.TypeA, true, 1232)
	twoOPT.SetEdns0(1232, false)
	twoOPT.Extra = append(twoOPT.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}})
	twoOPTWire, _ := twoOPT.Pack()
	noQuestion := query("www.example.com", dns.TypeA, false, 0)
	noQuestion.Question = nil
	noQuestionWire, _ := noQuestion.Pack()
	response := query("www.example.com", dns.TypeA, false, 0)
	response.Response = true
	responseWire, _ := response.Pack()

	tests := []struct {
		name string
		pkt  []byte
	}{
		{"empty", nil},
		{"short header", []byte{0x12, 0x34, 0x01}},
		{"header only, qdcount 1", []byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0}},
		{"truncated question", good[:len(good)-3]},
		{"label pointer loop", append(append([]byte{}, good[:12]...), 0xc0, 0x0c, 0, 1, 0, 1)},
		{"two OPT records", twoOPTWire},
		{"no question", noQuestionWire},
		{"a response, not a query", responseWire},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	}
	conn, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := conn.Write(tt.pkt); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
			buf := make([]byte, 2048)
			n, err := conn.Read(buf)
			if err != nil {
				return // dropped: fine
			}
			m := new(dns.Msg)
			if err := m.Unpack(buf[:n]); err != nil {
				t.Fatalf("unparseable reply: %v", err)
			}
			if m.Rcode != dns.RcodeFormatError && m.Rcode != dns.RcodeNotImplemented {
				t.Errorf("rcode %s, want FORMERR, NOTIMP or no reply", dns.RcodeToString[m.Rcode])
			}
		})
	}
	if m := exchange(t, "udp", addr, query("www.example.com", dns.TypeA, false, 0)); len(m.Answer) != 1 {
		t.Errorf("after malformed packets: %v", m)
	}
}

// TestRunStopsGracefully cancels Run while a query waits on upstream: the
// query is still answered, then Run returns.
func TestRunStopsGracefully(t *testing.T) {
	auth := newSlowAuth(t)
	r, _ := newResolver(t, Config{
		RootHints:       []netip.Addr{auth.addr.Addr()},
		UpstreamPort:    auth.addr.Port(),
		UpstreamTimeout: 5 * time.Second,
		Listen:          []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	addr := r.Addrs()[0]

	reply := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Timeout: 5 * time.Second}
		m, _, err := c.Exchange(query("slow.test", dns.TypeA, false, 0), addr.String())
		if err != nil {
			t.Errorf("in-flight query: %v", err)
		}
		reply <- m
	}()
	waitFor(t, "the query to reach upstream", func() bool { return auth.queries.Load() == 1 })
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) with a query in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(auth.release)
	if m := <-reply; m == nil || len(m.Answer) != 1 {
		t.Errorf("in-flight query got %v", m)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := net.Dial("tcp", addr.String()); err == nil {
		t.Error("TCP listener still open after Run returned")
	}
}

func TestRunSharesPortAndBindsFreely(t *testing.T) {
	r, _ := newResolver(t, Config{
		RootHints: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Listen: []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.1:0"),
			// Not on any interface: only IP_FREEBIND lets this bind.
			netip.MustParseAddrPort("192.0.2.253:0"),
		},
	})
	serve(t, r)
	addrs := r.Addrs()
	if len(addrs) != 2 || addrs[1].Addr() != netip.MustParseAddr("192.0.2.253") {
		t.Fatalf("Addrs = %v", addrs)
	}
	for _, a := range addrs {
		if a.Port() == 0 {
			t.Errorf("%v: port not resolved", a)
		}
	}
}
