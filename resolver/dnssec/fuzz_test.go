package dnssec

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// FuzzDenial feeds arbitrary DNS messages to every denial-proof entry
// point: the question gives qname and qtype, the authority section the
// NSEC/NSEC3 records, the zone is the question's parent, and labels is
// the wildcard RRSIG's Labels field. Nothing may panic, and a budget must
// bound the hashing.
func FuzzDenial(f *testing.F) {
	seed := func(qname string, qtype uint16, recs []dns.RR) {
		m := new(dns.Msg)
		m.SetQuestion(qname, qtype)
		for _, rr := range recs {
			// Packing wants the type bitmaps in order.
			switch rr := rr.(type) {
			case *dns.NSEC:
				slices.Sort(rr.TypeBitMap)
			case *dns.NSEC3:
				slices.Sort(rr.TypeBitMap)
			}
		}
		m.Ns = recs
		buf, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(buf, uint8(2))
	}
	var all3 []dns.RR
	for h := range rfc5155Zone {
		all3 = append(all3, nsec3s(f, h)...)
	}
	var all []dns.RR
	for o := range nsecZone {
		all = append(all, nsecs(f, o)...)
	}
	seed("a.c.x.w.example.", dns.TypeA, all3)
	seed("a.z.w.example.", dns.TypeAAAA, all3)
	seed("d.example.", dns.TypeA, all)
	seed("q.w.example.", dns.TypeMX, all)

	v, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, wire []byte, labels uint8) {
		m := new(dns.Msg)
		if m.Unpack(wire) != nil || len(m.Question) == 0 {
			return
		}
		q := m.Question[0]
		zone := parentName(q.Name)
		if labels&1 == 1 {
			zone = q.Name
		}
		sig := &dns.RRSIG{Hdr: dns.RR_Header{Name: q.Name}, Labels: labels}
		b := v.NewBudget()
		v.ProveNXDOMAIN(q.Name, zone, m.Ns, b)
		v.ProveNODATA(q.Name, q.Qtype, zone, m.Ns, b)
		v.ProveWildcard(q.Name, sig, zone, m.Ns, b)
		v.ProveInsecureDelegation(q.Name, zone, m.Ns, b)
		v.Synthesize(q.Name, q.Qtype, zone, m.Ns, b)
		if b.Hashes() > DefaultLimits.NSEC3Hashes {
			t.Fatalf("%d hashes, over the cap", b.Hashes())
		}
	})
}
