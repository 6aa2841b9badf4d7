package mininet

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
)

func TestFaults(t *testing.T) {
	in := startTest(t)
	const root = "b.root-servers.net."
	tests := []struct {
		fault Fault
		rcode int // -1: no answer
	}{
		{Healthy, dns.RcodeSuccess},
		{ServFail, dns.RcodeServerFailure},
		{Refuse, dns.RcodeRefused},
		{Drop, -1},
		{Healthy, dns.RcodeSuccess}, // recovers
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			if err := in.SetFault(root, tt.fault); err != nil {
				t.Fatal(err)
			}
			in.ResetQueries()
			m := new(dns.Msg)
			m.SetQuestion(".", dns.TypeNS)
			c := &dns.Client{Timeout: 300 * time.Millisecond}
			r, _, err := c.Exchange(m, serverAddr(t, in, root))
			switch {
			case tt.rcode < 0 && err == nil:
				t.Fatalf("got %s, want a timeout", dns.RcodeToString[r.Rcode])
			case tt.rcode >= 0 && err != nil:
				t.Fatal(err)
			case tt.rcode >= 0 && r.Rcode != tt.rcode:
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if n := in.Queries()[root]; n != 1 {
				t.Errorf("counted %d queries, want 1", n)
			}
			// The other root is untouched.
			if r := exchange(t, in, query{server: "a.root-servers.net.", qname: ".", qtype: dns.TypeNS}); r.Rcode != dns.RcodeSuccess {
				t.Errorf("other root: %s", dns.RcodeToString[r.Rcode])
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	in, err := New(Config{Prefix4: testPrefix4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.SetFault("nope.example.", Drop); err == nil {
		t.Error("SetFault on an unknown server succeeded")
	}
	if err := in.SetFault("ns.dead.com.", Drop); err == nil {
		t.Error("SetFault on an unbound server succeeded")
	}
	if err := in.SetFault("a.root-servers.net.", Refuse+1); err == nil {
		t.Error("SetFault with an unknown fault succeeded")
	}
	if err := in.SetLatency("a.root-servers.net.", -time.Second); err == nil {
		t.Error("negative latency accepted")
	}
}

func TestSetLatencyAddsToConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, err := New(Config{Prefix4: testPrefix4, Latency: 10 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.SetLatency("a.nic.com.", 90*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		req := new(dns.Msg)
		req.SetQuestion("com.", dns.TypeSOA)
		for _, tt := range []struct {
			server string
			want   time.Duration
		}{
			{"a.nic.com.", 100 * time.Millisecond},
			{"b.nic.com.", 10 * time.Millisecond},
		} {
			s, _ := in.server(tt.server)
			start := time.Now()
			w := &recorder{}
			in.handler(s).ServeDNS(w, req)
			if d := time.Since(start); d != tt.want {
				t.Errorf("%s answered after %v, want %v", tt.server, d, tt.want)
			}
			if w.msg == nil || !w.msg.Authoritative {
				t.Errorf("%s: reply %v", tt.server, w.msg)
			}
		}
		in.Close()
	})
}
