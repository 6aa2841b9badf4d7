package resolver

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestResolve(t *testing.T) {
	in := startNet(t)
	tests := []struct {
		name   string
		q      dns.Question
		rcode  int
		answer []string // records without TTL, in order
		soa    string   // owner of the SOA expected in Ns, "" for none
	}{
		{
			name:   "referral with glue",
			q:      question("www.example.com", dns.TypeA),
			answer: []string{"www.example.com.\t0\tIN\tA\t198.51.100.80"},
		},
		{
			name:   "glueless NS",
			q:      question("www.glueless.com", dns.TypeA),
			answer: []string{"www.glueless.com.\t0\tIN\tA\t198.51.100.84"},
		},
		{
			name: "CNAME chain across three zones",
			q:    question("www.chain.com", dns.TypeA),
			answer: []string{
				"www.chain.com.\t0\tIN\tCNAME\talias.example.net.",
				"alias.example.net.\t0\tIN\tCNAME\tfinal.example.org.",
				"final.example.org.\t0\tIN\tA\t198.51.100.82",
			},
		},
		{
			name: "in-zone CNAME chased by the server",
			q:    question("alias.example.com", dns.TypeAAAA),
			answer: []string{
				"alias.example.com.\t0\tIN\tCNAME\twww.example.com.",
				"www.example.com.\t0\tIN\tAAAA\t2001:db8:100::80",
			},
		},
		{
			name: "CNAME out of zone is followed, not trusted",
			q:    question("outside.example.com", dns.TypeA),
			answer: []string{
				"outside.example.com.\t0\tIN\tCNAME\twww.example.org.",
				"www.example.org.\t0\tIN\tA\t198.51.100.83",
			},
		},
		{
			name:  "NXDOMAIN",
			q:     question("nope.example.com", dns.TypeA),
			rcode: dns.RcodeNameError,
			soa:   "example.com.",
		},
		{
			name: "NODATA",
			q:    question("www.example.com", dns.TypeMX),
			soa:  "example.com.",
		},
		{
			name: "NODATA at an empty non-terminal",
			q:    question("c.example.com", dns.TypeA),
			soa:  "example.com.",
		},
		{
			name:  "NXDOMAIN from a TLD",
			q:     question("nope.org", dns.TypeA),
			rcode: dns.RcodeNameError,
			soa:   "org.",
		},
		{
			name:   "one dead name server among working ones",
			q:      question("www.mixed.com", dns.TypeA),
			answer: []string{"www.mixed.com.\t0\tIN\tA\t198.51.100.88"},
		},
		{
			name:   "mixed case question",
			q:      question("WwW.ExAmPlE.oRg", dns.TypeA),
			answer: []string{"www.example.org.\t0\tIN\tA\t198.51.100.83"},
		},
		{
			name:   "canary",
			q:      question("canary.anycastd.lab", dns.TypeA),
			answer: []string{"canary.anycastd.lab.\t0\tIN\tA\t198.51.100.250"},
		},
	}
	r, _ := newResolver(t, netConfig(t, in))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			m, err := r.Resolve(ctx, tt.q)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if m.Rcode != tt.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
			}
			if got := rrStrings(m.Answer); !slices.Equal(got, tt.answer) {
				t.Errorf("answer:\n got %q\nwant %q", got, tt.answer)
			}
			soa := findSOA(m.Ns)
			switch {
			case tt.soa == "" && soa != nil:
				t.Errorf("unexpected SOA %v", soa)
			case tt.soa != "" && (soa == nil || soa.Hdr.Name != tt.soa):
				t.Errorf("Ns = %v, want SOA of %s", m.Ns, tt.soa)
			}
		})
	}
}

func TestResolveFailures(t *testing.T) {
	in := startNet(t)
	tests := []struct {
		name    string
		q       dns.Question
		wantErr string
	}{
		{"lame delegation", question("www.lame.com", dns.TypeA), "no server answered"},
		{"dead name server", question("www.dead.com", dns.TypeA), "no server answered"},
		{"not fully qualified", dns.Question{Name: "www.example.com", Qtype: dns.TypeA, Qclass: dns.ClassINET}, "not a fully qualified"},
	}
	r, _ := newResolver(t, netConfig(t, in))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := r.Resolve(context.Background(), tt.q)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Resolve = %v, %v; want error containing %q", m, err, tt.wantErr)
			}
		})
	}
}
