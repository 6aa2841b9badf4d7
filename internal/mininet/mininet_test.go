package mininet

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var testPrefix4 = netip.MustParsePrefix("127.0.53.0/24")

// startTest runs the mini internet on 127.0.53.0/24 with a random free port.
func startTest(t *testing.T) *Internet {
	t.Helper()
	in, err := New(Config{Prefix4: testPrefix4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.Close(); err != nil {
			t.Error(err)
		}
	})
	return in
}

// serverAddr returns host:port of the named server's IPv4 address.
func serverAddr(t *testing.T, in *Internet, name string) string {
	t.Helper()
	for _, s := range in.Servers() {
		if s.Name == name {
			return net.JoinHostPort(s.Addrs[0].String(), strconv.Itoa(int(in.Port())))
		}
	}
	t.Fatalf("no server %s", name)
	return ""
}

type query struct {
	server string // server name
	qname  string
	qtype  uint16
	net    string // "udp" (default) or "tcp"
	edns   uint16 // 0 = no EDNS
}

func exchange(t *testing.T, in *Internet, q query) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(q.qname, q.qtype)
	m.RecursionDesired = false
	if q.edns != 0 {
		m.SetEdns0(q.edns, false)
	}
	c := &dns.Client{Net: q.net, Timeout: 2 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, serverAddr(t, in, q.server))
	if err != nil {
		t.Fatalf("%s %s @%s: %v", q.qname, dns.TypeToString[q.qtype], q.server, err)
	}
	return r
}

// rrStrings returns the records of a section in a compact form for
// comparisons: "owner TYPE rdata" without TTL and class.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		f := strings.Fields(rr.String())
		out = append(out, f[0]+" "+strings.Join(f[3:], " "))
	}
	return out
}

func TestAnswers(t *testing.T) {
	in := startTest(t)
	addr := func(name string) string {
		for _, s := range in.Servers() {
			if s.Name == name {
				return s.Addrs[0].String()
			}
		}
		t.Fatalf("no server %s", name)
		return ""
	}

	tests := []struct {
		name   string
		q      query
		rcode  int
		aa     bool
		answer []string
		ns     []string
		extra  []string
	}{
		{
			name:  "root refers to com with glue",
			q:     query{server: "a.root-servers.net.", qname: "www.example.com.", qtype: dns.TypeA},
			ns:    []string{"com. NS a.nic.com.", "com. NS b.nic.com."},
			extra: []string{"a.nic.com. A " + addr("a.nic.com."), "b.nic.com. A " + addr("b.nic.com.")},
		},
		{
			name:   "root priming",
			q:      query{server: "b.root-servers.net.", qname: ".", qtype: dns.TypeNS},
			aa:     true,
			answer: []string{". NS a.root-servers.net.", ". NS b.root-servers.net."},
			extra:  []string{"a.root-servers.net. A " + addr("a.root-servers.net."), "b.root-servers.net. A " + addr("b.root-servers.net.")},
		},
		{
			name:  "com refers to example.com with in-zone glue",
			q:     query{server: "a.nic.com.", qname: "www.example.com.", qtype: dns.TypeA},
			ns:    []string{"example.com. NS ns1.example.com.", "example.com. NS ns2.example.com."},
			extra: []string{"ns1.example.com. A " + addr("ns1.example.com."), "ns2.example.com. A " + addr("ns2.example.com.")},
		},
		{
			name:   "example.com answers with AA",
			q:      query{server: "ns1.example.com.", qname: "www.example.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"www.example.com. A 198.51.100.80"},
		},
		{
			name:   "answer owner takes the query's case (0x20)",
			q:      query{server: "ns1.example.com.", qname: "wWw.ExAmPlE.cOm.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"wWw.ExAmPlE.cOm. A 198.51.100.80"},
		},
		{
			name:   "example.com AAAA",
			q:      query{server: "ns2.example.com.", qname: "www.example.com.", qtype: dns.TypeAAAA},
			aa:     true,
			answer: []string{"www.example.com. AAAA 2001:db8:100::80"},
		},
		{
			name: "glueless referral has no glue",
			q:    query{server: "a.nic.com.", qname: "www.glueless.com.", qtype: dns.TypeA},
			ns:   []string{"glueless.com. NS ns.hosting.net."},
		},
		{
			name:   "glueless zone answers from its host",
			q:      query{server: "ns.hosting.net.", qname: "www.glueless.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"www.glueless.com. A 198.51.100.84"},
		},
		{
			name:  "NXDOMAIN carries SOA with negative TTL",
			q:     query{server: "ns1.example.com.", qname: "nope.example.com.", qtype: dns.TypeA},
			rcode: dns.RcodeNameError,
			aa:    true,
			ns:    []string{"example.com. SOA ns1.example.com. hostmaster.example.com. 2025010101 7200 900 1209600 60"},
		},
		{
			name: "NODATA carries SOA",
			q:    query{server: "ns1.example.com.", qname: "www.example.com.", qtype: dns.TypeMX},
			aa:   true,
			ns:   []string{"example.com. SOA ns1.example.com. hostmaster.example.com. 2025010101 7200 900 1209600 60"},
		},
		{
			name: "empty non-terminal is NODATA",
			q:    query{server: "ns1.example.com.", qname: "b.c.example.com.", qtype: dns.TypeA},
			aa:   true,
			ns:   []string{"example.com. SOA ns1.example.com. hostmaster.example.com. 2025010101 7200 900 1209600 60"},
		},
		{
			name:  "NXDOMAIN at the root",
			q:     query{server: "a.root-servers.net.", qname: "nope.invalid.", qtype: dns.TypeA},
			rcode: dns.RcodeNameError,
			aa:    true,
			ns:    []string{". SOA a.root-servers.net. nstld.root-servers.net. 2025010101 1800 900 604800 300"},
		},
		{
			name:   "in-zone CNAME is chased",
			q:      query{server: "ns1.example.com.", qname: "alias.example.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"alias.example.com. CNAME www.example.com.", "www.example.com. A 198.51.100.80"},
		},
		{
			name:   "cross-zone CNAME is not chased",
			q:      query{server: "ns1.example.com.", qname: "www.chain.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"www.chain.com. CNAME alias.example.net."},
		},
		{
			name:   "MX answer gets in-zone address",
			q:      query{server: "ns1.example.com.", qname: "example.com.", qtype: dns.TypeMX},
			aa:     true,
			answer: []string{"example.com. MX 10 mail.example.com."},
			extra:  []string{"mail.example.com. A 198.51.100.25", "mail.example.com. AAAA 2001:db8:100::25"},
		},
		{
			name:  "leaf server refuses a zone it does not serve",
			q:     query{server: "ns1.example.com.", qname: "www.example.org.", qtype: dns.TypeA},
			rcode: dns.RcodeRefused,
		},
		{
			name:  "TLD server refuses another TLD",
			q:     query{server: "a.nic.com.", qname: "example.net.", qtype: dns.TypeA},
			rcode: dns.RcodeRefused,
		},
		{
			name:   "canary",
			q:      query{server: "ns.anycastd.lab.", qname: "canary.anycastd.lab.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"canary.anycastd.lab. A 198.51.100.250"},
		},
		{
			name: "DS at an unsigned cut is NODATA from the parent",
			q:    query{server: "a.nic.com.", qname: "example.com.", qtype: dns.TypeDS},
			aa:   true,
			ns:   []string{"com. SOA a.nic.com. hostmaster.nic.com. 2025010101 1800 900 604800 300"},
		},
		{
			name:  "dead server is published with glue",
			q:     query{server: "a.nic.com.", qname: "www.dead.com.", qtype: dns.TypeA},
			ns:    []string{"dead.com. NS ns.dead.com."},
			extra: []string{"ns.dead.com. A " + addr("ns.dead.com.")},
		},
		{
			name:  "NS query at a cut is a referral",
			q:     query{server: "a.root-servers.net.", qname: "com.", qtype: dns.TypeNS},
			ns:    []string{"com. NS a.nic.com.", "com. NS b.nic.com."},
			extra: []string{"a.nic.com. A " + addr("a.nic.com."), "b.nic.com. A " + addr("b.nic.com.")},
		},
		{
			name:   "root server names are authoritative on the roots",
			q:      query{server: "a.root-servers.net.", qname: "b.root-servers.net.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"b.root-servers.net. A " + addr("b.root-servers.net.")},
		},
		{
			name:   "TLD server name is data of its TLD",
			q:      query{server: "b.nic.com.", qname: "a.nic.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"a.nic.com. A " + addr("a.nic.com.")},
		},
		{
			name:   "ANY returns every set",
			q:      query{server: "ns.example.org.", qname: "www.example.org.", qtype: dns.TypeANY},
			aa:     true,
			answer: []string{"www.example.org. A 198.51.100.83", "www.example.org. AAAA 2001:db8:100::83"},
		},
		{
			name:   "last hop of the chain",
			q:      query{server: "ns.example.net.", qname: "alias.example.net.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"alias.example.net. CNAME final.example.org."},
		},
		{
			name:   "TTL-5 name",
			q:      query{server: "ns1.example.com.", qname: "short.example.com.", qtype: dns.TypeA},
			aa:     true,
			answer: []string{"short.example.com. A 198.51.100.87"},
		},
		{
			name:  "lame delegation is refused",
			q:     query{server: "ns.example.net.", qname: "www.lame.com.", qtype: dns.TypeA},
			rcode: dns.RcodeRefused,
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
			if r.RecursionAvailable {
				t.Error("RA set on an authoritative server")
			}
			check := func(section string, got []dns.RR, want []string) {
				if g := rrStrings(got); strings.Join(g, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s:\n got %q\nwant %q", section, g, want)
				}
			}
			check("answer", r.Answer, tt.answer)
			check("authority", r.Ns, tt.ns)
			check("additional", r.Extra, tt.extra)
		})
	}
}

// TestTTLs checks the TTLs tests and the lab rely on: negative caching from
// min(SOA TTL, SOA minimum), and the short canary.
func TestTTLs(t *testing.T) {
	in := startTest(t)
	tests := []struct {
		name    string
		q       query
		section string
		ttl     uint32
	}{
		{"NXDOMAIN in a leaf", query{server: "ns1.example.com.", qname: "nope.example.com.", qtype: dns.TypeA}, "ns", 60},
		{"NODATA in a leaf", query{server: "ns.example.org.", qname: "www.example.org.", qtype: dns.TypeTXT}, "ns", 60},
		{"NXDOMAIN at the root", query{server: "a.root-servers.net.", qname: "nope.", qtype: dns.TypeA}, "ns", 300},
		{"NODATA in a TLD", query{server: "a.nic.org.", qname: "org.", qtype: dns.TypeMX}, "ns", 300},
		{"canary", query{server: "ns.anycastd.lab.", qname: "canary.anycastd.lab.", qtype: dns.TypeA}, "answer", 5},
		{"delegation", query{server: "a.nic.com.", qname: "www.example.com.", qtype: dns.TypeA}, "ns", 172800},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(t, in, tt.q)
			rrs := r.Answer
			if tt.section == "ns" {
				rrs = r.Ns
			}
			if len(rrs) == 0 {
				t.Fatalf("empty %s section", tt.section)
			}
			for _, rr := range rrs {
				if rr.Header().Ttl != tt.ttl {
					t.Errorf("%s: TTL %d, want %d", rr, rr.Header().Ttl, tt.ttl)
				}
			}
		})
	}
}
