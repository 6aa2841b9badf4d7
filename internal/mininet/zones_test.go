package mininet

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// zonesOf returns every zone of the internet by origin.
func zonesOf(in *Internet) map[string]*zone {
	out := map[string]*zone{}
	for _, s := range in.servers {
		for _, z := range s.zones {
			out[z.origin] = z
		}
	}
	return out
}

func nsTargets(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, dns.CanonicalName(rr.(*dns.NS).Ns))
	}
	slices.Sort(out)
	return out
}

// TestZoneData keeps the hand-written zones consistent: delegations match
// the child's apex, in-bailiwick targets have glue (A and AAAA), out-of-zone
// targets have none, and the servers named in NS sets serve the zone, except
// for the deliberately broken delegations.
func TestZoneData(t *testing.T) {
	in, err := New(Config{Prefix4: testPrefix4, Prefix6: netip.MustParsePrefix("fd00:53::/64")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	zones := zonesOf(in)
	if defined := len(zoneTexts) + len(moreZones) + len(brokenZones); len(zones) != defined {
		t.Errorf("%d zones served, %d defined: every zone needs a server", len(zones), defined)
	}
	serves := map[string][]string{} // server -> zones
	for _, s := range in.Servers() {
		serves[s.Name] = s.Zones
	}
	// Delegations that are broken on purpose: child zone -> why.
	broken := map[string]string{
		"lame.com.": "lame", "dead.com.": "dead server",
		"partlame.com.": "one lame, one dead, one working server",
		"nxns.com.":     "NXNSAttack: 50 name servers that do not exist",
	}
	v6only := map[string]bool{}
	for _, s := range servers {
		v6only[s.name] = s.v6only
	}

	for _, parent := range zones {
		for owner, n := range parent.nodes {
			if !parent.isCut(owner) {
				continue
			}
			targets := nsTargets(n.rrsets[dns.TypeNS])
			for _, target := range targets {
				glue := parent.nodes[target]
				if dns.IsSubDomain(parent.origin, target) {
					if glue == nil || (len(glue.rrsets[dns.TypeA]) == 0) != v6only[target] || len(glue.rrsets[dns.TypeAAAA]) == 0 {
						t.Errorf("%s: delegation %s NS %s lacks A/AAAA glue", parent.origin, owner, target)
					}
				} else if glue != nil {
					t.Errorf("%s: out-of-zone target %s has glue", parent.origin, target)
				}
				if _, ok := broken[owner]; ok {
					continue
				}
				if target == "ns.dead.com." {
					continue // mixed.com. lists it on purpose
				}
				if !slices.Contains(serves[target], owner) {
					t.Errorf("%s NS %s, but that server does not serve %s", owner, target, owner)
				}
			}
			child, ok := zones[owner]
			if !ok {
				if _, ok := broken[owner]; !ok {
					t.Errorf("%s delegates %s, which no server serves", parent.origin, owner)
				}
				continue
			}
			if apex := nsTargets(child.nodes[child.origin].rrsets[dns.TypeNS]); !slices.Equal(apex, targets) {
				t.Errorf("%s: NS at parent %v, at apex %v", owner, targets, apex)
			}
		}
	}
	if g := zones["com."].nodes["ns.hosting.net."]; g != nil {
		t.Error("com. holds records for ns.hosting.net.; glueless.com. would not be glueless")
	}
	if g := zones["."].nodes["ns1.example.com."]; g != nil {
		t.Error("the root holds addresses for ns1.example.com., which no root delegation needs")
	}
}

func TestZoneRejects(t *testing.T) {
	tests := []struct {
		name, origin, text string
	}{
		{"no SOA", "x.test.", "@ 60 IN NS ns.x.test.\n"},
		{"no NS", "x.test.", "@ 60 IN SOA ns hm 1 1 1 1 1\n"},
		{"two SOA", "x.test.", "@ 60 IN SOA ns hm 1 1 1 1 1\n@ 60 IN SOA ns hm 2 1 1 1 1\n@ 60 IN NS ns\n"},
		{"CNAME and other data", "x.test.", "@ 60 IN SOA ns hm 1 1 1 1 1\n@ 60 IN NS ns\nw 60 IN CNAME x.\nw 60 IN A 192.0.2.1\n"},
		{"out of zone", "x.test.", "@ 60 IN SOA ns hm 1 1 1 1 1\n@ 60 IN NS ns\ny.test. 60 IN A 192.0.2.1\n"},
		{"syntax", "x.test.", "@ 60 IN SOA ns hm 1 1 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rrs, err := parseZone(tt.origin, tt.text)
			if err == nil {
				_, err = newZone(tt.origin, rrs)
			}
			if err == nil {
				t.Fatal("zone accepted")
			}
		})
	}
}

func TestCNAMELoopIsBounded(t *testing.T) {
	rrs, err := parseZone("x.test.", "@ 60 IN SOA ns hm 1 1 1 1 1\n@ 60 IN NS ns\na 60 IN CNAME b\nb 60 IN CNAME a\n")
	if err != nil {
		t.Fatal(err)
	}
	z, err := newZone("x.test.", rrs)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("a.x.test.", dns.TypeA)
	z.answer(m, "a.x.test.", dns.TypeA, false)
	if len(m.Answer) != maxChase {
		t.Errorf("%d answers, want %d", len(m.Answer), maxChase)
	}
}
