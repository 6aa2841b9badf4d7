package resolver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestCanary(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	addr := serve(t, r)

	// A UDP port where nothing answers: bound, never read.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentAddr := silent.LocalAddr().(*net.UDPAddr).AddrPort()

	tests := []struct {
		name    string
		server  netip.AddrPort
		qname   string
		qtype   uint16
		wantErr string // "" means success
	}{
		{"healthy", addr, "canary.anycastd.lab", dns.TypeA, ""},
		{"no trailing dot", addr, "canary.anycastd.lab", dns.TypeAAAA, ""},
		{"CNAME chain ending in the type", addr, "www.chain.com.", dns.TypeA, ""},
		{"NXDOMAIN", addr, "nope.anycastd.lab.", dns.TypeA, "rcode NXDOMAIN"},
		{"NODATA", addr, "canary.anycastd.lab.", dns.TypeMX, "no MX record in the answer"},
		{"SERVFAIL", addr, "www.lame.com.", dns.TypeA, "rcode SERVFAIL"},
		{"no answer at all", silentAddr, "canary.anycastd.lab.", dns.TypeA, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err := Canary(ctx, tt.server, tt.qname, tt.qtype)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Canary: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Canary = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckCanary(t *testing.T) {
	msg := func(rcode int, rrs ...string) *dns.Msg {
		m := &dns.Msg{MsgHdr: dns.MsgHdr{Rcode: rcode}}
		for _, s := range rrs {
			m.Answer = append(m.Answer, mustRR(t, s))
		}
		return m
	}
	tests := []struct {
		name    string
		m       *dns.Msg
		wantErr string
	}{
		{"direct", msg(0, "c.lab. 5 IN A 192.0.2.1"), ""},
		{"owner case differs", msg(0, "C.LAB. 5 IN A 192.0.2.1"), ""},
		{"chain", msg(0, "c.lab. 5 IN CNAME d.lab.", "d.lab. 5 IN A 192.0.2.1"), ""},
		{"chain without the type", msg(0, "c.lab. 5 IN CNAME d.lab."), "end of the CNAME chain (d.lab.)"},
		{"record of another name", msg(0, "x.lab. 5 IN A 192.0.2.1"), "no A record"},
		{"wrong type", msg(0, "c.lab. 5 IN AAAA 2001:db8::1"), "no A record"},
		{"REFUSED", msg(dns.RcodeRefused), "rcode REFUSED"},
		{"CNAME loop", msg(0, "c.lab. 5 IN CNAME d.lab.", "d.lab. 5 IN CNAME c.lab."), "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCanary(tt.m, "c.lab.", dns.TypeA)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("checkCanary: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("checkCanary = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
