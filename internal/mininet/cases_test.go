package mininet

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestHardCases checks the zones and server behaviours added for the
// resolver's hard cases (docs/mininet.md, "Hard cases").
func TestHardCases(t *testing.T) {
	in := startTest(t)
	tests := []struct {
		name   string
		q      query
		rcode  int
		aa     bool
		answer []string
		ns     []string // only checked when non-nil
		extra  []string // only checked when non-nil
	}{
		{
			name:   "wildcard A",
			q:      query{server: "ns1.example.com.", qname: "any.wild.example.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"any.wild.example.com. A 198.51.100.91"},
		},
		{
			name:   "wildcard TXT, two labels deep",
			q:      query{server: "ns1.example.com.", qname: "a.b.wild.example.com.", qtype: dns.TypeTXT},
			aa:     true,
			answer: []string{`a.b.wild.example.com. TXT "wildcard"`},
		},
		{
			name:   "name beside the wildcard",
			q:      query{server: "ns1.example.com.", qname: "exists.wild.example.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"exists.wild.example.com. A 198.51.100.92"},
		},
		{
			name:  "no wildcard below an existing name",
			q:     query{server: "ns1.example.com.", qname: "x.exists.wild.example.com.", qtype: dns.TypeA},
			aa:    true,
			rcode: dns.RcodeNameError,
		},
		{
			name: "wildcard NODATA",
			q:    query{server: "ns1.example.com.", qname: "any.wild.example.com.", qtype: dns.TypeMX},
			aa:   true,
		},
		{
			name:   "wildcard CNAME chased in zone",
			q:      query{server: "ns1.example.com.", qname: "x.cw.example.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"x.cw.example.com. CNAME www.example.com.", "www.example.com. A 198.51.100.80"},
		},
		{
			name: "DNAME synthesis",
			q:    query{server: "ns.example.net.", qname: "www.dname.example.net.", qtype: dns.TypeA},
			aa:   true,
			answer: []string{"dname.example.net. DNAME target.example.org.",
				"www.dname.example.net. CNAME www.target.example.org."},
		},
		{
			name:   "DNAME itself",
			q:      query{server: "ns.example.net.", qname: "dname.example.net.", qtype: dns.TypeDNAME},
			aa:     true,
			answer: []string{"dname.example.net. DNAME target.example.org."},
		},
		{
			name:   "DNAME target",
			q:      query{server: "ns.example.org.", qname: "www.target.example.org.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"www.target.example.org. A 198.51.100.90"},
		},
		{
			name:  "poisoned glue from evil.",
			q:     query{server: "a.nic.evil.", qname: "www.victim.evil.", qtype: dns.TypeA},
			ns:    []string{"victim.evil. NS ns.example.org."},
			extra: []string{"ns.example.org. A 198.51.100.66", "www.example.com. A 198.51.100.66"},
		},
		{
			name:   "unrelated records from spam.net.",
			q:      query{server: "ns.spam.net.", qname: "www.spam.net.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"www.spam.net. A 198.51.100.106"},
			ns:     []string{"example.com. NS ns.spam.net."},
			extra:  []string{"www.example.com. A 198.51.100.66"},
		},
		{
			name: "NXNS delegation is glueless",
			q:    query{server: "a.nic.com.", qname: "www.nxns.com.", qtype: dns.TypeA},
		},
		{
			name:  "sink answers NXDOMAIN for the NXNS names",
			q:     query{server: "ns.sink.net.", qname: "ns7.sink.net.", qtype: dns.TypeA},
			aa:    true,
			rcode: dns.RcodeNameError,
		},
		{
			name:   "bench wildcard",
			q:      query{server: "ns.bench.lab.", qname: "n12345.bench.lab.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"n12345.bench.lab. A 198.51.100.108"},
		},
		{
			name:   "partly lame zone at its working server",
			q:      query{server: "ns2.example.com.", qname: "www.partlame.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"www.partlame.com. A 198.51.100.95"},
		},
		{
			name:   "CNAME into the lame zone",
			q:      query{server: "ns1.example.com.", qname: "tolame.example.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"tolame.example.com. CNAME www.lame.com."},
		},
		{
			name:   "FORMERR server without EDNS",
			q:      query{server: "ns.formerr.com.", qname: "www.formerr.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"www.formerr.com. A 198.51.100.96"},
		},
		{
			name:  "FORMERR server with EDNS",
			q:     query{server: "ns.formerr.com.", qname: "www.formerr.com.", qtype: dns.TypeA, edns: 1232},
			rcode: dns.RcodeFormatError,
			extra: []string{},
		},
		{
			name:   "EDNS-dropping server without EDNS",
			q:      query{server: "ns.dropedns.com.", qname: "www.dropedns.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"www.dropedns.com. A 198.51.100.97"},
		},
		{
			name:   "case-mangling server",
			q:      query{server: "ns.lower.com.", qname: "WwW.LoWeR.CoM.", qtype: dns.TypeA, edns: 1232},
			aa:     true,
			answer: []string{"www.lower.com. A 198.51.100.98"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(t, in, tt.q)
			if r.Rcode != tt.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if r.Authoritative != tt.aa {
				t.Errorf("AA = %v, want %v", r.Authoritative, tt.aa)
			}
			check := func(section string, got []dns.RR, want []string) {
				if g := rrStrings(got); strings.Join(g, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s:\n got %q\nwant %q", section, g, want)
				}
			}
			check("answer", r.Answer, tt.answer)
			if tt.ns != nil {
				check("authority", r.Ns, tt.ns)
			}
			if tt.extra != nil {
				check("additional", r.Extra, tt.extra)
			}
			if tt.q.server == "ns.lower.com." && r.Question[0].Name != "www.lower.com." {
				t.Errorf("question %q, want it lower-cased", r.Question[0].Name)
			}
		})
	}
}

func TestDropEDNS(t *testing.T) {
	in := startTest(t)
	m := new(dns.Msg)
	m.SetQuestion("www.dropedns.com.", dns.TypeA)
	m.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	if r, _, err := c.Exchange(m, serverAddr(t, in, "ns.dropedns.com.")); err == nil {
		t.Fatalf("EDNS query answered: %v", r)
	}
	if n := in.Queries()["ns.dropedns.com."]; n != 1 {
		t.Errorf("counted %d queries, want 1", n)
	}
}

func TestSlowServerAndHook(t *testing.T) {
	in := startTest(t)
	var seen atomic.Pointer[Query]
	in.SetQueryHook(func(q Query) { seen.Store(&q) })
	start := time.Now()
	r := exchange(t, in, query{server: "ns.slow.com.", qname: "www.slow.com.", qtype: dns.TypeA})
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("slow server answered in %v, want >= 300ms", d)
	}
	if len(r.Answer) != 1 {
		t.Errorf("answer %v", r.Answer)
	}
	q := seen.Load()
	if q == nil || q.Server != "ns.slow.com." || q.Msg.Id != r.Id || !q.Remote.IsValid() || q.Local.Port() != in.Port() {
		t.Errorf("hook saw %+v", q)
	}
}

func TestIPv6OnlyServer(t *testing.T) {
	in := startTest(t) // no Prefix6: the IPv6-only server has no address
	for _, s := range in.Servers() {
		if s.Name == "ns.v6only.com." && (s.Bound || len(s.Addrs) != 0) {
			t.Errorf("IPv6-only server without Prefix6: %+v", s)
		}
	}
	r := exchange(t, in, query{server: "a.nic.com.", qname: "www.v6only.com.", qtype: dns.TypeA})
	if len(r.Extra) != 0 {
		t.Errorf("glue without IPv6: %v", r.Extra)
	}
}
