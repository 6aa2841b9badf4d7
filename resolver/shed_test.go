package resolver

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestShedQueueFull fills the workers' queue: a client's query is dropped
// and counted, the node's own (the canary) is answered anyway.
func TestShedQueueFull(t *testing.T) {
	in := startNet(t)
	r, reg := newResolver(t, netConfig(t, in))
	srv, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s := newUDPServer(r, netip.MustParseAddr("192.0.2.53"), []*net.UDPConn{srv})
	s.queue = make(chan udpJob) // no workers, no room: always full

	q, _ := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA).Pack()
	tests := []struct {
		name       string
		client     netip.Addr
		wantAnswer bool
		wantShed   float64
	}{
		{"client", netip.MustParseAddr("203.0.113.9"), false, 1},
		{"client, IPv6", netip.MustParseAddr("2001:db8::9"), false, 2},
		{"loopback", netip.MustParseAddr("127.0.0.1"), true, 2},
		{"the service address itself", netip.MustParseAddr("192.0.2.53"), true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.dispatch(srv, q, cli.LocalAddr(), tc.client)
			if got := counterValue(t, reg, "anycastd_queries_shed_total", map[string]string{"reason": shedQueueFull}); got != tc.wantShed {
				t.Errorf("shed queue_full = %v, want %v", got, tc.wantShed)
			}
			cli.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			buf := make([]byte, 1500)
			n, err := cli.Read(buf)
			if got := err == nil; got != tc.wantAnswer {
				t.Fatalf("answered = %v (err %v), want %v", got, err, tc.wantAnswer)
			}
			if tc.wantAnswer {
				m := new(dns.Msg)
				if err := m.Unpack(buf[:n]); err != nil || len(m.Answer) != 1 {
					t.Errorf("answer %v (%v)", m, err)
				}
			}
		})
	}
}

// TestShedResolutions takes every resolution slot: a cache miss is then
// dropped over UDP and SERVFAIL (EDE "overloaded") over TCP, while a cached
// name is still answered.
func TestShedResolutions(t *testing.T) {
	in := startNet(t)
	r, reg := newResolver(t, netConfig(t, in))
	client := netip.MustParseAddr("203.0.113.9")
	cachedQ := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	if resp := r.respond(cachedQ, client, true); resp == nil || len(resp.Answer) != 1 {
		t.Fatalf("priming: %v", resp)
	}
	for range maxResolutions {
		if !r.shed.acquire() {
			t.Fatal("slot taken before the test")
		}
	}
	t.Cleanup(func() {
		for range maxResolutions {
			r.shed.release()
		}
	})
	miss := func() *dns.Msg {
		m := new(dns.Msg).SetQuestion("mail.example.com.", dns.TypeA)
		m.SetEdns0(1232, false)
		return m
	}
	tests := []struct {
		name      string
		req       *dns.Msg
		udp       bool
		wantNil   bool
		wantRcode int
		wantEDE   string
	}{
		{"miss over UDP: dropped", miss(), true, true, 0, ""},
		{"miss over TCP: SERVFAIL", miss(), false, false, dns.RcodeServerFailure, "overloaded"},
		{"hit: answered", cachedQ, true, false, dns.RcodeSuccess, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := r.respond(tc.req, client, tc.udp)
			if tc.wantNil {
				if resp != nil {
					t.Fatalf("answered %v, want dropped", resp)
				}
				return
			}
			if resp == nil || resp.Rcode != tc.wantRcode {
				t.Fatalf("answer %v, want rcode %s", resp, dns.RcodeToString[tc.wantRcode])
			}
			if tc.wantEDE != "" {
				if ede := edeOfReply(resp); ede == nil || ede.ExtraText != tc.wantEDE {
					t.Errorf("EDE %v, want %q", ede, tc.wantEDE)
				}
			}
		})
	}
	if got := counterValue(t, reg, "anycastd_queries_shed_total", map[string]string{"reason": shedResolutions}); got != 2 {
		t.Errorf("shed resolutions = %v, want 2", got)
	}
}
