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

// TestCachedAnswersMakeNoUpstreamQuery checks that positive and negative
// answers (RFC 2308) are served from the cache the second time.
func TestCachedAnswersMakeNoUpstreamQuery(t *testing.T) {
	in := startNet(t)
	tests := []struct {
		name  string
		q     dns.Question
		rcode int
	}{
		{"positive", question("www.example.org", dns.TypeA), dns.RcodeSuccess},
		{"NXDOMAIN", question("nope.example.com", dns.TypeA), dns.RcodeNameError},
		{"NODATA", question("www.example.com", dns.TypeTXT), dns.RcodeSuccess},
		{"CNAME chain", question("www.chain.com", dns.TypeA), dns.RcodeSuccess},
		{"NXDOMAIN at the end of a chain", question("outside.example.com", dns.TypeMX), dns.RcodeSuccess},
	}
	r, _ := newResolver(t, netConfig(t, in))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, err := r.Resolve(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("first Resolve: %v", err)
			}
			if first.Rcode != tt.rcode {
				t.Fatalf("rcode = %s, want %s", dns.RcodeToString[first.Rcode], dns.RcodeToString[tt.rcode])
			}
			before := sum(in.Queries())
			second, err := r.Resolve(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("second Resolve: %v", err)
			}
			if after := sum(in.Queries()); after != before {
				t.Errorf("second Resolve sent %d upstream queries, want 0", after-before)
			}
			if !slices.Equal(rrStrings(first.Answer), rrStrings(second.Answer)) || first.Rcode != second.Rcode {
				t.Errorf("cached answer differs:\nfirst  %v\nsecond %v", first, second)
			}
		})
	}
}

// TestDSAskedAtTheParent checks that DS goes to the parent zone's servers,
// never to the child's, which would answer from the wrong side of the cut.
func TestDSAskedAtTheParent(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	m, err := r.Resolve(context.Background(), question("example.com", dns.TypeDS))
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		t.Errorf("DS example.com = %v, want NODATA", m)
	}
	q := in.Queries()
	if n := q["ns1.example.com."] + q["ns2.example.com."]; n != 0 {
		t.Errorf("child servers asked %d times for DS", n)
	}
	if n := q["a.nic.com."] + q["b.nic.com."]; n == 0 {
		t.Error("parent servers not asked")
	}
}

// TestDelegationCache checks that a sibling name starts at the closest
// known zone cut: neither the root nor com. is asked again.
func TestDelegationCache(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, netConfig(t, in))
	if _, err := r.Resolve(context.Background(), question("www.example.com", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	before := in.Queries()
	m, err := r.Resolve(context.Background(), question("mail.example.com", dns.TypeA))
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("Resolve mail.example.com = %v, %v", m, err)
	}
	after := in.Queries()
	for _, s := range []string{"a.root-servers.net.", "b.root-servers.net.", "a.nic.com.", "b.nic.com."} {
		if after[s] != before[s] {
			t.Errorf("%s asked %d more times, want 0", s, after[s]-before[s])
		}
	}
	leaf := after["ns1.example.com."] + after["ns2.example.com."] - before["ns1.example.com."] - before["ns2.example.com."]
	if leaf != 1 {
		t.Errorf("example.com servers asked %d times, want 1", leaf)
	}
}

// TestTruncatedAnswerRetriedOverTCP resolves a TXT set larger than the
// 1232-byte EDNS buffer: the UDP answer comes back with TC, the TCP one
// complete.
func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	in := startNet(t)
	r, reg := newResolver(t, netConfig(t, in))
	m, err := r.Resolve(context.Background(), question("big.example.com", dns.TypeTXT))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 8 {
		t.Fatalf("got %d TXT records, want 8", len(m.Answer))
	}
	if got := counterValue(t, reg, "anycastd_upstream_queries_total", map[string]string{"proto": "tcp"}); got != 1 {
		t.Errorf("upstream tcp queries = %v, want 1", got)
	}
}
