package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var (
	srvA = netip.MustParseAddr("127.0.80.1")
	srvB = netip.MustParseAddr("127.0.80.2")
	srvC = netip.MustParseAddr("127.0.80.3")
	srv6 = netip.MustParseAddr("::1")
)

func TestInfraTimeout(t *testing.T) {
	tests := []struct {
		name string
		rtts []time.Duration
		want time.Duration
	}{
		{"unmeasured: the maximum", nil, 800 * time.Millisecond},
		{"fast: clamped to 50ms", []time.Duration{2 * time.Millisecond, 2 * time.Millisecond}, 50 * time.Millisecond},
		{"steady 100ms", []time.Duration{100 * time.Millisecond}, 300 * time.Millisecond}, // 100 + 4*50
		{"slow: clamped to the maximum", []time.Duration{2 * time.Second}, 800 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInfra(time.Now, 800*time.Millisecond)
			for _, r := range tt.rtts {
				in.observe(srvA, r, true)
			}
			if got := in.timeout(srvA); got != tt.want {
				t.Errorf("timeout = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestInfraOrder: the fastest first most of the time, the others explored
// now and then; backed-off servers last; lame ones and disabled families
// left out.
func TestInfraOrder(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	in := newInfra(clk.now, time.Second)
	in.observe(srvA, 10*time.Millisecond, true)
	in.observe(srvB, 100*time.Millisecond, true)
	const n = 2000
	first := map[netip.Addr]int{}
	for range n {
		first[in.order([]netip.Addr{srvB, srvA}, "example.", false, false)[0]]++
	}
	// Exploration is 1 in 12 (~167 of 2000); the bounds are many sigmas wide.
	if first[srvB] < n/40 || first[srvB] > n/6 {
		t.Errorf("slow server first %d of %d times, want about 1 in %d", first[srvB], n, exploreOneIn)
	}

	in.exploreOne = 0
	in.timedOut(srvA)
	if got := in.order([]netip.Addr{srvA, srvB}, "example.", false, false); got[0] != srvB || got[1] != srvA {
		t.Errorf("after a timeout: %v, want the timed-out server last", got)
	}
	clk.advance(backoffBase + time.Second)
	if got := in.order([]netip.Addr{srvA, srvB}, "example.", false, false); got[0] != srvA {
		t.Errorf("after the backoff: %v, want the fast server first again", got)
	}

	in.markLame(srvA, "example.")
	if got := in.order([]netip.Addr{srvA, srvB}, "example.", false, false); len(got) != 1 || got[0] != srvB {
		t.Errorf("lame for example.: %v, want only %v", got, srvB)
	}
	if got := in.order([]netip.Addr{srvA, srvB}, "other.", false, false); len(got) != 2 {
		t.Errorf("lameness leaked to another zone: %v", got)
	}
	clk.advance(lameTTL)
	if got := in.order([]netip.Addr{srvA, srvB}, "example.", false, false); len(got) != 2 {
		t.Errorf("lameness did not expire: %v", got)
	}

	if got := in.order([]netip.Addr{srvA, srv6}, "example.", false, true); len(got) != 1 || got[0] != srvA {
		t.Errorf("IPv6 disabled: %v", got)
	}
	if got := in.order([]netip.Addr{srvA, srv6}, "example.", true, false); len(got) != 1 || got[0] != srv6 {
		t.Errorf("IPv4 disabled: %v", got)
	}
}

func TestInfraBounded(t *testing.T) {
	in := newInfra(time.Now, time.Second)
	for i := range maxServers + 100 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		in.observe(a, time.Millisecond, true)
		in.markLame(a, "example.")
	}
	if len(in.servers) > maxServers || len(in.lame) > maxServers {
		t.Errorf("%d servers and %d lame entries kept, bound %d", len(in.servers), len(in.lame), maxServers)
	}
}

// leafNet serves root, com. and example.com. (127.0.x.1-3) with the
// example.com. server replaced by h; more example.com. servers may be
// named in extraNS (NS name -> address).
func leafNet(t *testing.T, x string, extraNS map[string]string, h dns.HandlerFunc) (*authNet, Config) {
	var com []string
	for name, addr := range extraNS {
		com = append(com, "example.com. 3600 IN NS "+name, name+" 3600 IN A "+addr)
	}
	n := newAuthNet(t)
	root, tld, _ := stdZones(t, x, map[string][]string{"com.": com})
	n.serve("127.0."+x+".1", zoneHandler(root...))
	n.serve("127.0."+x+".2", zoneHandler(tld...))
	n.serve("127.0."+x+".3", h)
	return n, n.config("127.0." + x + ".1")
}

func answerA(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg).SetReply(req)
	m.Authoritative = true
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
	return m
}

// TestDeadServerBackedOff: example.com. has a dead server beside a live
// one; over many questions the dead one is asked only a few times.
func TestDeadServerBackedOff(t *testing.T) {
	n, cfg := leafNet(t, "81", map[string]string{"ns-dead.example.com.": "127.0.81.9"}, func(w dns.ResponseWriter, req *dns.Msg) {
		w.WriteMsg(answerA(req))
	})
	dead := blackhole(t, netip.MustParseAddr("127.0.81.9"), n.port)
	r, _ := newResolver(t, cfg)
	// Without backoff, exploration alone would ask the dead server about
	// 1 in 12 times (8 of 100).
	for i := range 100 {
		if _, err := r.Resolve(context.Background(), question(fmt.Sprintf("h%d.example.com", i), dns.TypeA)); err != nil {
			t.Fatal(err)
		}
	}
	if got := dead.Load(); got > 2 {
		t.Errorf("dead server got %d queries for 100 questions, want at most 2", got)
	}
}

// TestRTTSelection: of two servers, the one 40ms slower gets few queries,
// but not none.
func TestRTTSelection(t *testing.T) {
	n, cfg := leafNet(t, "82", map[string]string{"ns-slow.example.com.": "127.0.82.9"}, func(w dns.ResponseWriter, req *dns.Msg) {
		w.WriteMsg(answerA(req))
	})
	n.serve("127.0.82.9", func(w dns.ResponseWriter, req *dns.Msg) {
		time.Sleep(100 * time.Millisecond) // the slow server's latency (far above a loaded host's jitter), not an assertion
		w.WriteMsg(answerA(req))
	})
	cfg.DisableQNAMEMinimisation = true
	r, _ := newResolver(t, cfg)
	const q = 120
	for i := range q {
		if _, err := r.Resolve(context.Background(), question(fmt.Sprintf("h%d.example.com", i), dns.TypeA)); err != nil {
			t.Fatal(err)
		}
	}
	fast, slow := len(n.queries("127.0.82.3")), len(n.queries("127.0.82.9"))
	t.Logf("fast %d, slow %d", fast, slow)
	// Preferred, not exclusive: exploration sends ~8% to the slow one, and
	// under -race on a loaded host the fast one's RTT-based timeout (floor
	// 50ms) sometimes fires, which moves that question on to the slow one.
	if slow > q/3 || fast < q/2 {
		t.Errorf("fast server got %d, slow %d of %d: want the fast one preferred", fast, slow, q)
	}
	if slow == 0 {
		t.Errorf("slow server never asked again: no exploration")
	}
}

// TestEDNSIntolerant: servers that cannot take EDNS are asked without it,
// and remembered, so the next question goes without EDNS at once.
func TestEDNSIntolerant(t *testing.T) {
	tests := []struct {
		name   string
		onEDNS func(w dns.ResponseWriter, req *dns.Msg)
	}{
		{"FORMERR", func(w dns.ResponseWriter, req *dns.Msg) {
			w.WriteMsg(new(dns.Msg).SetRcode(req, dns.RcodeFormatError))
		}},
		{"FORMERR without question", func(w dns.ResponseWriter, req *dns.Msg) {
			m := new(dns.Msg).SetRcode(req, dns.RcodeFormatError)
			m.Question = nil
			w.WriteMsg(m)
		}},
		{"NOTIMP", func(w dns.ResponseWriter, req *dns.Msg) {
			w.WriteMsg(new(dns.Msg).SetRcode(req, dns.RcodeNotImplemented))
		}},
		{"garbage", func(w dns.ResponseWriter, req *dns.Msg) {
			w.Write([]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3})
		}},
		{"silence", func(dns.ResponseWriter, *dns.Msg) {}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := fmt.Sprint(83 + i)
			n, cfg := leafNet(t, x, nil, func(w dns.ResponseWriter, req *dns.Msg) {
				if req.IsEdns0() != nil {
					tt.onEDNS(w, req)
					return
				}
				w.WriteMsg(answerA(req))
			})
			cfg.DisableQNAMEMinimisation = true
			r, _ := newResolver(t, cfg)
			for _, name := range []string{"a.example.com", "b.example.com"} {
				m, err := r.Resolve(context.Background(), question(name, dns.TypeA))
				if err != nil || len(m.Answer) != 1 {
					t.Fatalf("%s: %v, %v", name, m, err)
				}
			}
			msgs := n.msgs("127.0." + x + ".3")
			if len(msgs) != 3 || msgs[0].IsEdns0() == nil || msgs[1].IsEdns0() != nil || msgs[2].IsEdns0() != nil {
				t.Errorf("server saw %d queries (want EDNS, then none, then none): %v", len(msgs), msgs)
			}
		})
	}
}

// TestCaseRandomisation: names go out in random case; a server that does
// not echo the case still resolves (asked again without 0x20, and
// remembered); clients never see the random case.
func TestCaseRandomisation(t *testing.T) {
	tests := []struct {
		name    string
		mangle  bool
		wantMix bool // later queries still in mixed case
	}{
		{"echoing server", false, true},
		{"case-mangling server", true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := fmt.Sprint(90 + i)
			n, cfg := leafNet(t, x, nil, func(w dns.ResponseWriter, req *dns.Msg) {
				m := answerA(req)
				if tt.mangle {
					m.Question[0].Name = strings.ToLower(m.Question[0].Name)
				}
				w.WriteMsg(m)
			})
			cfg.DisableQNAMEMinimisation = true
			r, _ := newResolver(t, cfg)
			const name = "abcdefghijklmnopqrstuvwxyz.example.com."
			for i := range 3 {
				q := question(fmt.Sprintf("q%d%s", i, name), dns.TypeA)
				m, err := r.Resolve(context.Background(), q)
				if err != nil || len(m.Answer) != 1 {
					t.Fatalf("%v, %v", m, err)
				}
				if got := m.Answer[0].Header().Name; got != q.Name {
					t.Errorf("client sees owner %q, want %q", got, q.Name)
				}
			}
			qs := n.queries("127.0." + x + ".3")
			// 30 letters: all lowercase by chance once in 2^30.
			last := strings.Fields(qs[len(qs)-1])[0]
			mixed := last != strings.ToLower(last)
			if mixed != tt.wantMix {
				t.Errorf("queries %q: last mixed case %v, want %v", qs, mixed, tt.wantMix)
			}
		})
	}
}

// TestIPv6Upstream: a world served from ::1 only resolves, unless IPv6
// upstream is disabled.
func TestIPv6Upstream(t *testing.T) {
	if c, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skip("no ::1:", err)
	} else {
		c.Close()
	}
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprint("disabled=", disable), func(t *testing.T) {
			n := newAuthNet(t)
			n.serve("::1", zoneHandler(mkZone(t, ".", "www.example. 300 IN A 192.0.2.6")))
			cfg := n.config("::1")
			cfg.DisableIPv6Upstream = disable
			r, _ := newResolver(t, cfg)
			m, err := r.Resolve(context.Background(), question("www.example", dns.TypeA))
			if disable {
				if err == nil {
					t.Errorf("resolved over IPv6 with IPv6 disabled: %v", m)
				}
				return
			}
			if err != nil || len(m.Answer) != 1 {
				t.Errorf("%v, %v", m, err)
			}
		})
	}
}

// TestInfraOrderDuplicates: an address listed twice (two NS names with the
// same glue) is asked once, for short lists (scanned) and long ones (a
// map), and order allocates no map for a short list.
func TestInfraOrderDuplicates(t *testing.T) {
	in := newInfra(time.Now, time.Second)
	in.exploreOne = 0
	for _, n := range []int{3, 40} {
		var addrs []netip.Addr
		for i := range n {
			a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
			addrs = append(addrs, a, a)
		}
		got := in.order(addrs, "example.", false, false)
		seen := map[netip.Addr]bool{}
		for _, a := range got {
			if seen[a] {
				t.Errorf("%d addresses: %v asked twice", n, a)
			}
			seen[a] = true
		}
		if len(got) != n {
			t.Errorf("%d addresses listed twice each: order returned %d", n, len(got))
		}
	}
	short := []netip.Addr{srvA, srvB, srvA}
	if allocs := testing.AllocsPerRun(100, func() { in.order(short, "example.", false, false) }); allocs > 2 {
		t.Errorf("order of three addresses: %.0f allocations, want at most 2 (the candidates and the result)", allocs)
	}
}
