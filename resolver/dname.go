package resolver

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// DNAME (RFC 6672): a DNAME at owner redirects every name below owner to
// the same name below target. A server answers with the DNAME and a CNAME
// it synthesised for the query name; the resolver does not trust that
// CNAME but synthesises its own from the DNAME and rejects a response whose
// CNAME disagrees (a forged or broken CNAME).

// coveringDNAME returns the DNAME in rrs that rewrites name: owned by a
// proper ancestor of name inside zone (the deepest if several), or nil.
func coveringDNAME(rrs []dns.RR, name, zone string) *dns.DNAME {
	var best *dns.DNAME
	for _, rr := range rrs {
		d, ok := rr.(*dns.DNAME)
		if !ok || strings.EqualFold(d.Hdr.Name, name) || !isSubDomain(d.Hdr.Name, name) || !isSubDomain(zone, d.Hdr.Name) {
			continue
		}
		if best == nil || dns.CountLabel(d.Hdr.Name) > dns.CountLabel(best.Hdr.Name) {
			best = d
		}
	}
	return best
}

// synthesise builds the CNAME that d implies for name (below d's owner),
// with the DNAME's TTL (RFC 6672 section 3.1). It fails when the new name
// is too long: the server should have said YXDOMAIN.
func synthesise(d *dns.DNAME, name string) (*dns.CNAME, error) {
	prefix := name[:len(name)-len(d.Hdr.Name)]
	target := strings.ToLower(prefix + dns.Fqdn(d.Target))
	if _, ok := dns.IsDomainName(target); !ok || len(target) > 255 {
		return nil, fmt.Errorf("DNAME %s -> %s: %s does not fit", d.Hdr.Name, d.Target, target)
	}
	return &dns.CNAME{
		Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: d.Hdr.Class, Ttl: d.Hdr.Ttl},
		Target: target,
	}, nil
}

// checkDNAME returns an error if a CNAME in the answer section disagrees
// with the DNAME (inside zone) that covers its owner.
func checkDNAME(m *dns.Msg, zone string) error {
	for _, rr := range m.Answer {
		c, ok := rr.(*dns.CNAME)
		if !ok {
			continue
		}
		d := coveringDNAME(m.Answer, c.Hdr.Name, zone)
		if d == nil {
			continue
		}
		want, err := synthesise(d, strings.ToLower(c.Hdr.Name))
		if err != nil {
			return err
		}
		if !strings.EqualFold(want.Target, c.Target) {
			return fmt.Errorf("CNAME %s -> %s disagrees with DNAME %s -> %s", c.Hdr.Name, c.Target, d.Hdr.Name, d.Target)
		}
	}
	return nil
}
