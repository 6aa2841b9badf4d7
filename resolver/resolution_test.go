package resolver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// lower lowercases the names of "name TYPE" strings.
func lower(qs []string) []string {
	out := make([]string, len(qs))
	for i, q := range qs {
		name, typ, _ := strings.Cut(q, " ")
		out[i] = strings.ToLower(name) + " " + typ
	}
	return out
}

// TestQNAMEMinimisation checks what each server saw: one label more than
// its zone, type A, and the full question only at the zone that holds it.
func TestQNAMEMinimisation(t *testing.T) {
	extra := map[string][]string{"example.com.": {`a.b.c.example.com. 300 IN TXT "deep"`}}
	tests := []struct {
		name              string
		disable           bool
		root, tld, leaves []string
	}{
		{
			name:   "on",
			root:   []string{"com. A"},
			tld:    []string{"example.com. A"},
			leaves: []string{"c.example.com. A", "b.c.example.com. A", "a.b.c.example.com. TXT"},
		},
		{
			name:    "off",
			disable: true,
			root:    []string{"a.b.c.example.com. TXT"},
			tld:     []string{"a.b.c.example.com. TXT"},
			leaves:  []string{"a.b.c.example.com. TXT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, cfg := startStd(t, "70", extra)
			cfg.DisableQNAMEMinimisation = tt.disable
			r, _ := newResolver(t, cfg)
			m, err := r.Resolve(context.Background(), question("a.b.c.example.com", dns.TypeTXT))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Answer) != 1 {
				t.Fatalf("answer %v", m.Answer)
			}
			for _, s := range []struct {
				addr string
				want []string
			}{{"127.0.70.1", tt.root}, {"127.0.70.2", tt.tld}, {"127.0.70.3", tt.leaves}} {
				if got := lower(n.queries(s.addr)); !slices.Equal(got, s.want) {
					t.Errorf("%s saw %q, want %q", s.addr, got, s.want)
				}
			}
		})
	}
}

// TestQNAMEMinimisationRelaxed: servers that answer NXDOMAIN for empty
// non-terminals, or fail minimised questions, still get the full question.
func TestQNAMEMinimisationRelaxed(t *testing.T) {
	leaf := mkZone(t, "example.com.", `a.b.c.example.com. 300 IN TXT "deep"`)
	tests := []struct {
		name   string
		break_ func(req, m *dns.Msg)
	}{
		{"nxdomain for empty non-terminals", func(req, m *dns.Msg) {
			if strings.EqualFold(req.Question[0].Name, "c.example.com.") || strings.EqualFold(req.Question[0].Name, "b.c.example.com.") {
				m.Rcode, m.Answer = dns.RcodeNameError, nil
			}
		}},
		{"servfail on type A", func(req, m *dns.Msg) {
			if req.Question[0].Qtype == dns.TypeA {
				m.Rcode, m.Answer, m.Ns = dns.RcodeServerFailure, nil, nil
			}
		}},
		{"refused on type A", func(req, m *dns.Msg) {
			if req.Question[0].Qtype == dns.TypeA {
				m.Rcode, m.Answer, m.Ns = dns.RcodeRefused, nil, nil
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newAuthNet(t)
			root, tld, _ := stdZones(t, "71", nil)
			n.serve("127.0.71.1", zoneHandler(root...))
			n.serve("127.0.71.2", zoneHandler(tld...))
			n.serve("127.0.71.3", func(w dns.ResponseWriter, req *dns.Msg) {
				m := zoneAnswer(req, leaf)
				tt.break_(req, m)
				w.WriteMsg(m)
			})
			r, _ := newResolver(t, n.config("127.0.71.1"))
			m, err := r.Resolve(context.Background(), question("a.b.c.example.com", dns.TypeTXT))
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Errorf("got %v", m)
			}
		})
	}
}

func TestMinimisedName(t *testing.T) {
	tests := []struct {
		qname, base string
		step        int
		want        string
	}{
		{"www.example.com.", ".", 0, "com."},
		{"www.example.com.", "com.", 1, "example.com."},
		{"www.example.com.", "example.com.", 2, "www.example.com."},
		{"a.b.c.d.e.f.g.h.i.j.k.l.m.n.", "n.", 4, "k.l.m.n."},                                         // 13 labels left, 6 steps left: 3 at a time
		{"a.b.c.d.e.f.g.h.i.j.k.l.m.n.", "d.e.f.g.h.i.j.k.l.m.n.", 9, "a.b.c.d.e.f.g.h.i.j.k.l.m.n."}, // last step: full name
		{"com.", ".", 0, "com."},
	}
	for _, tt := range tests {
		if got := minimisedName(tt.qname, tt.base, tt.step); got != tt.want {
			t.Errorf("minimisedName(%s, %s, %d) = %s, want %s", tt.qname, tt.base, tt.step, got, tt.want)
		}
	}
	// However long the name, the walk down one zone takes at most
	// maxMinimiseCount minimised questions.
	q := question(strings.Repeat("x.", 60)+"example.com", dns.TypeA)
	mz := minimiser{}
	steps := 0
	for {
		mq, minimised := mz.next(q, "example.com.")
		if !minimised {
			break
		}
		mz.last = mq.Name
		mz.base = mq.Name
		steps++
	}
	if steps > maxMinimiseCount {
		t.Errorf("%d minimised steps for 62 labels, want at most %d", steps, maxMinimiseCount)
	}
}

// TestDNAME: a DNAME answer is followed into another zone; the client gets
// DNAME, the synthesised CNAME (with the DNAME's TTL) and the data. A server
// whose CNAME disagrees with its DNAME is not believed.
func TestDNAME(t *testing.T) {
	dname := "old.example.com. 900 IN DNAME new.example.net."
	tests := []struct {
		name    string
		mangle  func(m *dns.Msg)
		wantErr bool
	}{
		{"server synthesises", func(*dns.Msg) {}, false},
		{"server sends only the DNAME", func(m *dns.Msg) { m.Answer = m.Answer[:1] }, false},
		{"forged CNAME", func(m *dns.Msg) {
			if len(m.Answer) == 2 {
				m.Answer[1].(*dns.CNAME).Target = "www.evil.example.net."
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newAuthNet(t)
			root, tld, leaf := stdZones(t, "72", map[string][]string{
				"example.com.": {dname},
				"example.net.": {"www.new.example.net. 300 IN A 192.0.2.3", "www.evil.example.net. 300 IN A 192.0.2.66"},
			})
			n.serve("127.0.72.1", zoneHandler(root...))
			n.serve("127.0.72.2", zoneHandler(tld...))
			n.serve("127.0.72.3", func(w dns.ResponseWriter, req *dns.Msg) {
				m := zoneAnswer(req, leaf...)
				if len(m.Answer) > 0 && m.Answer[0].Header().Rrtype == dns.TypeDNAME {
					tt.mangle(m)
				}
				w.WriteMsg(m)
			})
			r, _ := newResolver(t, n.config("127.0.72.1"))
			m, err := r.Resolve(context.Background(), question("www.old.example.com", dns.TypeA))
			if tt.wantErr {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("got %v, %v; want a resolver.Error", m, err)
				}
				for _, q := range lower(n.queries("127.0.72.3")) {
					if strings.Contains(q, "evil") {
						t.Errorf("followed the forged CNAME: %s", q)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"old.example.com.\t0\tIN\tDNAME\tnew.example.net.",
				"www.old.example.com.\t0\tIN\tCNAME\twww.new.example.net.",
				"www.new.example.net.\t0\tIN\tA\t192.0.2.3",
			}
			if got := rrStrings(m.Answer); !slices.Equal(got, want) {
				t.Errorf("answer %q, want %q", got, want)
			}
			if len(m.Answer) == 3 && m.Answer[1].Header().Ttl != 900 {
				t.Errorf("CNAME TTL %d, want the DNAME's 900", m.Answer[1].Header().Ttl)
			}
		})
	}
}

// TestWildcard: an answer synthesised from *.wild.example.com is accepted
// and cached under the query name.
func TestWildcard(t *testing.T) {
	n, cfg := startStd(t, "73", map[string][]string{"example.com.": {"*.wild.example.com. 300 IN A 192.0.2.9"}})
	r, _ := newResolver(t, cfg)
	q := question("x.wild.example.com", dns.TypeA)
	m, err := r.Resolve(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if got := rrStrings(m.Answer); !slices.Equal(got, []string{"x.wild.example.com.\t0\tIN\tA\t192.0.2.9"}) {
		t.Errorf("answer %q", got)
	}
	n.reset()
	if _, err := r.Resolve(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if n.total() != 0 {
		t.Errorf("second question sent %d upstream queries, want 0 (cached)", n.total())
	}
}

// TestBailiwick: servers slip records for other names into every section;
// none of them is cached, so asking for those names afterwards gets the
// real answers from their own servers.
func TestBailiwick(t *testing.T) {
	tests := []struct {
		name   string
		server string // who poisons: "127.0.74.2" (com. referral) or "127.0.74.3" (answer)
		poison func(m *dns.Msg)
		victim dns.Question
		want   string
	}{
		{"answer for another zone", "127.0.74.3", func(m *dns.Msg) {
			m.Answer = append(m.Answer, mustRR(t, "www.example.net. 300 IN A 127.0.74.9"))
		}, question("www.example.net", dns.TypeA), "192.0.2.2"},
		{"answer for another name in the zone", "127.0.74.3", func(m *dns.Msg) {
			m.Answer = append(m.Answer, mustRR(t, "mail.example.com. 300 IN A 127.0.74.9"))
		}, question("mail.example.com", dns.TypeA), "192.0.2.25"},
		{"authority NS and additional for another zone", "127.0.74.3", func(m *dns.Msg) {
			m.Ns = append(m.Ns, mustRR(t, "example.net. 300 IN NS ns.evil.com."))
			m.Extra = append(m.Extra, mustRR(t, "ns.example.net. 300 IN A 127.0.74.9"), mustRR(t, "www.example.net. 300 IN A 127.0.74.9"))
		}, question("www.example.net", dns.TypeA), "192.0.2.2"},
		{"out-of-bailiwick glue in a referral", "127.0.74.2", func(m *dns.Msg) {
			if len(m.Ns) > 0 {
				m.Ns = append(m.Ns, mustRR(t, "example.com. 3600 IN NS ns.example.net."))
				m.Extra = append(m.Extra, mustRR(t, "www.example.net. 300 IN A 127.0.74.9"), mustRR(t, "ns.example.net. 300 IN A 127.0.74.9"))
			}
		}, question("ns.example.net", dns.TypeA), "127.0.74.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newAuthNet(t)
			root, tld, leaf := stdZones(t, "74", map[string][]string{"example.com.": {"mail.example.com. 300 IN A 192.0.2.25"}})
			zones := map[string][]*zone{"127.0.74.1": root, "127.0.74.2": tld, "127.0.74.3": leaf}
			for addr, zs := range zones {
				n.serve(addr, func(w dns.ResponseWriter, req *dns.Msg) {
					m := zoneAnswer(req, zs...)
					qn := strings.ToLower(req.Question[0].Name)
					if addr == tt.server && strings.HasSuffix(qn, "example.com.") && qn != tt.victim.Name {
						tt.poison(m)
					}
					w.WriteMsg(m)
				})
			}
			// The poisoned addresses point at a server that claims
			// everything: if the resolver ever asks it, answers go wrong.
			n.serve("127.0.74.9", func(w dns.ResponseWriter, req *dns.Msg) {
				m := new(dns.Msg).SetReply(req)
				m.Authoritative = true
				m.Answer = []dns.RR{mustRR(t, req.Question[0].Name+" 300 IN A 127.0.74.99")}
				w.WriteMsg(m)
			})
			r, _ := newResolver(t, n.config("127.0.74.1"))
			if _, err := r.Resolve(context.Background(), question("www.example.com", dns.TypeA)); err != nil {
				t.Fatal(err)
			}
			m, err := r.Resolve(context.Background(), tt.victim)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != tt.want {
				t.Errorf("%s: %v, want %s", tt.victim.Name, m.Answer, tt.want)
			}
			if q := n.queries("127.0.74.9"); len(q) > 0 {
				t.Errorf("the poisoned address was asked %q", q)
			}
		})
	}
}

// TestWorkLimits: each limit ends the question with a resolver.Error
// naming it, and no more upstream queries than allowed are sent.
func TestWorkLimits(t *testing.T) {
	var chain []string
	for i := range 20 {
		chain = append(chain, fmt.Sprintf("c%d.example.com. 300 IN CNAME c%d.example.net.", i, i+1))
		chain = append(chain, fmt.Sprintf("c%d.example.net. 300 IN CNAME c%d.example.com.", i+1, i+2))
	}
	// 20 nested zones, each on its own server (127.0.75.11 and up),
	// each delegating to the next.
	var deep []*zone
	name := "example.com."
	deleg := func(i int, child string) []string {
		return []string{child + " 300 IN NS ns." + child, fmt.Sprintf("ns.%s 300 IN A 127.0.75.%d", child, 11+i)}
	}
	for i := range 20 {
		child := fmt.Sprintf("d%d.%s", i, name)
		if i > 0 {
			deep = append(deep, mkZone(t, name, deleg(i, child)...))
		}
		name = child
	}
	deep = append(deep, mkZone(t, name))
	tests := []struct {
		name     string
		extra    map[string][]string
		q        dns.Question
		cfg      func(*Config)
		wantText string
	}{
		{"CNAME chain", map[string][]string{"example.com.": chain, "example.net.": chain}, question("c0.example.com", dns.TypeA),
			func(*Config) {}, "CNAME chain limit (12) reached"},
		{"referrals", map[string][]string{"example.com.": deleg(0, "d0.example.com.")}, question("x."+name, dns.TypeA),
			func(c *Config) { c.DisableQNAMEMinimisation = true }, "referral limit (16) reached"},
		{"upstream queries", nil, question("www.example.com", dns.TypeA),
			func(c *Config) { c.MaxUpstreamQueries = 2 }, "upstream query limit (2) reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newAuthNet(t)
			root, tld, leaf := stdZones(t, "75", tt.extra)
			n.serve("127.0.75.1", zoneHandler(root...))
			n.serve("127.0.75.2", zoneHandler(tld...))
			n.serve("127.0.75.3", zoneHandler(leaf...))
			for i, z := range deep {
				n.serve(fmt.Sprintf("127.0.75.%d", 11+i), zoneHandler(z))
			}
			cfg := n.config("127.0.75.1")
			tt.cfg(&cfg)
			r, _ := newResolver(t, cfg)
			_, err := r.Resolve(context.Background(), tt.q)
			var e *Error
			if !errors.As(err, &e) || e.Code != dns.ExtendedErrorCodeOther || e.Text != tt.wantText {
				t.Fatalf("err = %v, want resolver.Error %q", err, tt.wantText)
			}
			limit := 64
			if cfg.MaxUpstreamQueries > 0 {
				limit = cfg.MaxUpstreamQueries
			}
			if n.total() > limit {
				t.Errorf("%d upstream queries, limit %d", n.total(), limit)
			}
		})
	}
}

// TestNXNS: a delegation to 50 glueless name servers, each in its own
// zone whose servers never answer usefully, must not fan out: at most
// MaxGluelessPerDelegation of them are looked up and the total stays
// under MaxUpstreamQueries.
func TestNXNS(t *testing.T) {
	var nsRecords, victims []string
	for i := range 50 {
		nsRecords = append(nsRecords, fmt.Sprintf("attack.com. 300 IN NS ns%d.victim%d.net.", i, i))
		victims = append(victims, fmt.Sprintf("victim%d.net. 300 IN NS ns.victim.example.net.", i))
	}
	n := newAuthNet(t)
	root, tld, leaf := stdZones(t, "76", map[string][]string{
		"com.": nsRecords,
		"net.": append(victims, "ns.victim.example.net. 300 IN A 127.0.76.4"),
	})
	n.serve("127.0.76.1", zoneHandler(root...))
	n.serve("127.0.76.2", zoneHandler(tld...))
	n.serve("127.0.76.3", zoneHandler(leaf...))
	// The victim: every zone's server, answering NXDOMAIN for all.
	n.serve("127.0.76.4", func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg).SetRcode(req, dns.RcodeNameError)
		m.Authoritative = true
		w.WriteMsg(m)
	})
	cfg := n.config("127.0.76.1")
	r, _ := newResolver(t, cfg)
	_, err := r.Resolve(context.Background(), question("www.attack.com", dns.TypeA))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a resolver.Error", err)
	}
	if got := n.total(); got > defaultMaxUpstreamQueries {
		t.Errorf("%d upstream queries, want at most %d", got, defaultMaxUpstreamQueries)
	}
	looked := map[string]bool{}
	for _, q := range lower(n.queries("127.0.76.4")) {
		looked[strings.Fields(q)[0]] = true
	}
	if len(looked) > defaultMaxGluelessPerDelegation {
		t.Errorf("victim asked about %d names: %v", len(looked), looked)
	}
	t.Logf("%d upstream queries, %d at the victim, err %v", n.total(), len(n.queries("127.0.76.4")), err)
}
