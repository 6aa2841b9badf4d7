package resolver

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// primed returns a resolver whose cache holds the answers to qs, with its
// clock then moved 10 s on and stopped, so both answer paths lower the
// TTLs by the same age.
func primed(t *testing.T, cfg Config, qs ...dns.Question) *Resolver {
	t.Helper()
	r, _ := newResolver(t, cfg)
	for _, q := range qs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := r.Resolve(ctx, q); err != nil {
			t.Fatalf("Resolve(%s): %v", q.Name, err)
		}
		cancel()
	}
	later := time.Now().Add(10 * time.Second)
	r.now = func() time.Time { return later }
	return r
}

// TestFastPathMatchesRespond checks that the wire-form path answers
// exactly what respond does (header, question case, records, TTLs, OPT),
// and that it leaves to respond every query it cannot answer exactly.
func TestFastPathMatchesRespond(t *testing.T) {
	in := startNet(t)
	plain := primed(t, netConfig(t, in),
		question("www.example.com", dns.TypeA), question("nope.example.com", dns.TypeA), question("www.example.com", dns.TypeTXT))
	signed := primed(t, validatingConfig(t, in),
		question("www.example.net", dns.TypeA), question("nope.example.net", dns.TypeA))
	client := netip.MustParseAddr("192.0.2.7")

	tests := []struct {
		name   string
		r      *Resolver
		qname  string
		qtype  uint16
		edit   func(m *dns.Msg)
		wantOK bool
	}{
		{"no EDNS", plain, "www.example.com.", dns.TypeA, nil, true},
		{"EDNS, mixed case", plain, "WwW.eXample.COM.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(4096, false) }, true},
		{"EDNS small buffer", plain, "www.example.com.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(100, false) }, true},
		{"DO", plain, "www.example.com.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, true) }, true},
		{"NXDOMAIN", plain, "nope.example.com.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false) }, true},
		{"TXT", plain, "www.example.com.", dns.TypeTXT, nil, true},
		{"CD", plain, "www.example.com.", dns.TypeA, func(m *dns.Msg) { m.CheckingDisabled = true }, true},
		{"signed, no DO: records stripped, no AD", signed, "www.example.net.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false) }, true},
		{"signed, AD asked", signed, "www.example.net.", dns.TypeA, func(m *dns.Msg) { m.AuthenticatedData = true }, true},
		{"signed, DO: RRSIGs and AD", signed, "WWW.example.net.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, true) }, true},
		{"signed NXDOMAIN, DO", signed, "nope.example.net.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, true) }, true},
		{"not cached", plain, "mail.example.com.", dns.TypeA, nil, false},
		{"RD=0", plain, "www.example.com.", dns.TypeA, func(m *dns.Msg) { m.RecursionDesired = false }, false},
		{"cookie", plain, "www.example.com.", dns.TypeA, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}, false},
		{"NSID", plain, "www.example.com.", dns.TypeA, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
		}, false},
		{"ECS", plain, "www.example.com.", dns.TypeA, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: client.AsSlice()})
		}, false},
		{"EDNS version 1", plain, "www.example.com.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }, false},
		{"ANY", plain, "www.example.com.", dns.TypeANY, nil, false},
		{"class CH", plain, "www.example.com.", dns.TypeA, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }, false},
		{"escaped name", plain, "w\\.w.example.com.", dns.TypeA, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := new(dns.Msg)
			req.SetQuestion(tc.qname, tc.qtype)
			req.Id = 0xBEEF
			if tc.edit != nil {
				tc.edit(req)
			}
			wire, err := req.Pack()
			if err != nil {
				t.Fatalf("pack query: %v", err)
			}
			var lower [maxFastName]byte
			fp := newFastPath(tc.r.m, "udp")
			before := tc.r.QueryCount()
			b, ok := tc.r.fastAnswer(fp, wire, nil, client, &lower)
			if ok != tc.wantOK {
				t.Fatalf("fastAnswer ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				if got := tc.r.QueryCount(); got != before {
					t.Errorf("a refused fast answer was counted (%d -> %d)", before, got)
				}
				return
			}
			if got := tc.r.QueryCount(); got != before+1 {
				t.Errorf("QueryCount %d -> %d, want +1", before, got)
			}
			fast := new(dns.Msg)
			if err := fast.Unpack(b); err != nil {
				t.Fatalf("unpack fast answer: %v", err)
			}
			slowReq := new(dns.Msg)
			if err := slowReq.Unpack(wire); err != nil {
				t.Fatal(err)
			}
			slowResp := tc.r.respond(slowReq, client, true)
			sb, err := slowResp.Pack()
			if err != nil {
				t.Fatal(err)
			}
			slow := new(dns.Msg)
			if err := slow.Unpack(sb); err != nil {
				t.Fatal(err)
			}
			if fast.MsgHdr != slow.MsgHdr {
				t.Errorf("header\nfast %+v\nslow %+v", fast.MsgHdr, slow.MsgHdr)
			}
			if !slices.Equal(fast.Question, slow.Question) || fast.Question[0].Name != tc.qname {
				t.Errorf("question fast %v slow %v, want name %q", fast.Question, slow.Question, tc.qname)
			}
			for _, sec := range []struct {
				name       string
				fast, slow []dns.RR
			}{{"answer", fast.Answer, slow.Answer}, {"authority", fast.Ns, slow.Ns}, {"additional", fast.Extra, slow.Extra}} {
				if f, s := withTTLs(sec.fast), withTTLs(sec.slow); !slices.Equal(f, s) {
					t.Errorf("%s\nfast %q\nslow %q", sec.name, f, s)
				}
			}
			if len(b) > 512 && req.IsEdns0() == nil {
				t.Errorf("answer of %d bytes to a client without EDNS", len(b))
			}
		})
	}
}

// withTTLs renders records with TTLs, owner names lowercased: the fast
// path's answer names follow the question's case through compression.
func withTTLs(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = dns.CanonicalName(c.Header().Name)
		out = append(out, c.String())
	}
	return out
}

func TestParseFastRejects(t *testing.T) {
	ok := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	good, _ := ok.Pack()
	resp := ok.Copy()
	resp.Response = true
	rb, _ := resp.Pack()
	tests := []struct {
		name string
		wire []byte
	}{
		{"short", good[:11]},
		{"truncated question", good[:len(good)-2]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"response", rb},
		{"pointer in name", append(append([]byte(nil), good[:12]...), 0xC0, 12, 0, 1, 0, 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var lower [maxFastName]byte
			if _, ok := parseFast(tc.wire, &lower); ok {
				t.Errorf("parseFast accepted %x", tc.wire)
			}
		})
	}
	var lower [maxFastName]byte
	q, okp := parseFast(good, &lower)
	if !okp || string(lower[:q.lowerLen]) != "www.example.com." || q.qtype != dns.TypeA || q.nameEnd != 12+17 {
		t.Errorf("parseFast(good) = %+v %v %q", q, okp, lower[:q.lowerLen])
	}
}
