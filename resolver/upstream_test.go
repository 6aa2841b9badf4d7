package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

// blackhole binds UDP on a fresh 127.0.0.x address at port and never
// answers; it counts what it receives.
func blackhole(t *testing.T, addr netip.Addr, port uint16) *atomic.Int32 {
	t.Helper()
	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(addr, port).String())
	if err != nil {
		t.Fatalf("blackhole: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	var n atomic.Int32
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return &n
}

// fakeAuth runs a UDP DNS server on 127.0.0.1:0 with handler h.
func fakeAuth(t *testing.T, h dns.HandlerFunc) netip.AddrPort { return fakeAuthF(t, h) }

func fakeAuthF(t testing.TB, h dns.HandlerFunc) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func testUpstream(port uint16, timeout time.Duration) *upstream {
	m, _ := newMetrics(nil, func() float64 { return 0 })
	u, err := newUpstream(Config{UpstreamPort: port, UpstreamTimeout: timeout}, m, nil, time.Now)
	if err != nil {
		panic(err)
	}
	return u
}

func acceptAll(*dns.Msg) verdict { return verdictAccept }

// TestUpstreamTimeoutTriesNextServer puts a server that never answers
// before a real root server: the query must time out on it and succeed on
// the next one.
func TestUpstreamTimeoutTriesNextServer(t *testing.T) {
	in := startNet(t)
	hole := netip.MustParseAddr("127.0.54.1")
	got := blackhole(t, hole, in.Port())
	root := netConfig(t, in).RootHints[0]
	u := testUpstream(in.Port(), 150*time.Millisecond)
	// The root looks slow, the blackhole unknown: the blackhole goes first.
	u.inf.exploreOne = 0
	u.inf.observe(root, time.Second, true)

	start := time.Now()
	m, err := u.query(context.Background(), ".", []netip.Addr{hole, root}, question("com", dns.TypeNS), newBudget(64), acceptAll)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if len(m.Ns) == 0 {
		t.Errorf("no referral from the root: %v", m)
	}
	if got.Load() != 1 {
		t.Errorf("blackhole got %d queries, want 1", got.Load())
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("answered after %v: the blackhole was not waited for", el)
	}
}

// TestUpstreamMatchesIDAndQuestion has a server send a reply from another
// port, one with the wrong ID and one with the wrong question before the
// right one: only the last may be accepted, and the others are counted.
func TestUpstreamMatchesIDAndQuestion(t *testing.T) {
	spoofPort := mustRR(t, "www.example.com. 60 IN A 192.0.2.65")
	spoofID := mustRR(t, "www.example.com. 60 IN A 192.0.2.66")
	spoofQ := mustRR(t, "www.example.com. 60 IN A 192.0.2.67")
	real := mustRR(t, "www.example.com. 60 IN A 192.0.2.1")
	other, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	addr := fakeAuth(t, func(w dns.ResponseWriter, req *dns.Msg) {
		wrongPort := new(dns.Msg).SetReply(req)
		wrongPort.Answer = []dns.RR{spoofPort}
		wire, _ := wrongPort.Pack()
		other.WriteTo(wire, w.RemoteAddr())
		bad := new(dns.Msg).SetReply(req)
		bad.Id = req.Id + 1
		bad.Answer = []dns.RR{spoofID}
		w.WriteMsg(bad)
		otherQ := new(dns.Msg).SetReply(req)
		otherQ.Question[0].Name = "evil.example."
		otherQ.Answer = []dns.RR{spoofQ}
		w.WriteMsg(otherQ)
		good := new(dns.Msg).SetReply(req)
		good.Answer = []dns.RR{real}
		w.WriteMsg(good)
	})
	u := testUpstream(addr.Port(), time.Second)
	m, err := u.exchange(context.Background(), addr.Addr(), question("www.example.com", dns.TypeA), newBudget(64), true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("accepted %v, want the matching answer 192.0.2.1", m.Answer)
	}
	for _, reason := range []string{"id", "question"} {
		var pb dto.Metric
		if err := u.mismatched.WithLabelValues(reason).Write(&pb); err != nil {
			t.Fatal(err)
		}
		if got := pb.GetCounter().GetValue(); got != 1 {
			t.Errorf("mismatched{reason=%q} = %v, want 1", reason, got)
		}
	}
}

// TestUpstreamQueryRandomisesIDAndPort sends several queries and checks
// that neither the ID nor the source port repeats.
func TestUpstreamQueryRandomisesIDAndPort(t *testing.T) {
	type seen struct {
		id   uint16
		port uint16
	}
	ch := make(chan seen, 16)
	addr := fakeAuth(t, func(w dns.ResponseWriter, req *dns.Msg) {
		ch <- seen{req.Id, w.RemoteAddr().(*net.UDPAddr).AddrPort().Port()}
		o := req.IsEdns0()
		if o == nil || o.UDPSize() != upstreamUDPSize || req.RecursionDesired {
			t.Errorf("query has OPT %v and RD %v; want EDNS0 with %d and no RD", o, req.RecursionDesired, upstreamUDPSize)
		}
		w.WriteMsg(new(dns.Msg).SetReply(req))
	})
	u := testUpstream(addr.Port(), time.Second)
	ids, ports := map[uint16]bool{}, map[uint16]bool{}
	const n = 8
	for range n {
		if _, err := u.exchange(context.Background(), addr.Addr(), question("example.com", dns.TypeA), newBudget(64), true, 0); err != nil {
			t.Fatal(err)
		}
		s := <-ch
		ids[s.id], ports[s.port] = true, true
	}
	// 8 draws from 2^16 IDs collide with probability ~4e-4; ports come
	// from the kernel's randomised ephemeral range.
	if len(ids) < n-1 || len(ports) < n-1 {
		t.Errorf("%d distinct IDs and %d distinct ports in %d queries", len(ids), len(ports), n)
	}
}

func TestUpstreamBudget(t *testing.T) {
	var calls atomic.Int32
	addr := fakeAuth(t, func(w dns.ResponseWriter, req *dns.Msg) {
		calls.Add(1)
		w.WriteMsg(new(dns.Msg).SetRcode(req, dns.RcodeServerFailure))
	})
	u := testUpstream(addr.Port(), time.Second)
	const limit = 5
	b := newBudget(limit)
	var err error
	for range limit + 10 {
		if _, err = u.query(context.Background(), ".", []netip.Addr{addr.Addr()}, question("example.com", dns.TypeA), b,
			func(m *dns.Msg) verdict { return verdictRetry }); errors.Is(err, errLimit) {
			break
		}
	}
	var e *Error
	if !errors.Is(err, errBudget) || !errors.As(err, &e) || e.Code != dns.ExtendedErrorCodeOther || !strings.Contains(e.Text, "upstream query limit (5)") {
		t.Errorf("err = %v, want the upstream query limit as a resolver.Error", err)
	}
	if calls.Load() != limit {
		t.Errorf("server got %d queries, want the budget of %d", calls.Load(), limit)
	}
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return rr
}
