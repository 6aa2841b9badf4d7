package dnssec

import (
	"github.com/miekg/dns"
)

// nsecCovers reports whether n proves that name does not exist: owner <
// name < next in canonical order, or, for the last NSEC of the zone whose
// next name wraps to the apex, owner < name.
func nsecCovers(n *dns.NSEC, name string) bool {
	c1, ok1 := canonicalCompare(n.Hdr.Name, name)
	c2, ok2 := canonicalCompare(name, n.NextDomain)
	c3, ok3 := canonicalCompare(n.Hdr.Name, n.NextDomain)
	if !ok1 || !ok2 || !ok3 || c1 >= 0 {
		return false
	}
	if c3 < 0 {
		return c2 < 0
	}
	return true
}

// nsecSpeaksFor reports whether n may be used about name: an NSEC at a
// delegation point (NS without SOA) or at a DNAME says nothing about the
// names below it, which live in another zone (RFC 6840 section 4.1).
func nsecSpeaksFor(n *dns.NSEC, name string) bool {
	if !isStrictSubdomain(n.Hdr.Name, name) {
		return true
	}
	if hasType(n.TypeBitMap, dns.TypeDNAME) {
		return false
	}
	return !hasType(n.TypeBitMap, dns.TypeNS) || hasType(n.TypeBitMap, dns.TypeSOA)
}

// nsecCover returns an NSEC usable to prove name does not exist. An NSEC
// whose next name is below name covers it in canonical order yet shows it
// is an empty non-terminal, which exists.
func (p *proof) nsecCover(name string) *dns.NSEC {
	for _, n := range p.nsec {
		if nsecCovers(n, name) && nsecSpeaksFor(n, name) && !isStrictSubdomain(name, n.NextDomain) {
			return n
		}
	}
	return nil
}

func (p *proof) nsecMatch(name string) *dns.NSEC {
	for _, n := range p.nsec {
		if equalName(n.Hdr.Name, name) {
			return n
		}
	}
	return nil
}

// nsecClosestEncloser derives the closest encloser of a name that n
// covers: the deeper of its common ancestors with n's owner and next
// name, never above the zone.
func (p *proof) nsecClosestEncloser(name string, n *dns.NSEC) string {
	ce := commonAncestor(name, n.Hdr.Name)
	if alt := commonAncestor(name, n.NextDomain); dns.CountLabel(alt) > dns.CountLabel(ce) {
		ce = alt
	}
	if !isSubdomain(p.zone, ce) {
		ce = p.zone
	}
	return ce
}

func (p *proof) nsecNXDOMAIN(qname string) (Result, error) {
	c := p.nsecCover(qname)
	if c == nil {
		return p.missing("no NSEC proves %s does not exist", qname)
	}
	wc := wildcardAt(p.nsecClosestEncloser(qname, c))
	if p.nsecMatch(wc) != nil {
		return bogus(dns.ExtendedErrorCodeDNSBogus, "NXDOMAIN for %s but wildcard %s exists", qname, wc)
	}
	w := p.nsecCover(wc)
	if w == nil {
		return p.missing("no NSEC proves wildcard %s does not exist", wc)
	}
	p.use(c)
	p.use(w)
	return p.secure()
}

func (p *proof) nsecNODATA(qname string, qtype uint16) (Result, error) {
	if m := p.nsecMatch(qname); m != nil {
		if hasType(m.TypeBitMap, qtype) || hasType(m.TypeBitMap, dns.TypeCNAME) {
			return bogus(dns.ExtendedErrorCodeDNSBogus, "NSEC for %s lists %s or CNAME", qname, dns.Type(qtype))
		}
		if qtype != dns.TypeDS && hasType(m.TypeBitMap, dns.TypeNS) && !hasType(m.TypeBitMap, dns.TypeSOA) {
			return bogus(dns.ExtendedErrorCodeDNSBogus, "parent-side NSEC for %s cannot deny %s", qname, dns.Type(qtype))
		}
		p.use(m)
		return p.secure()
	}
	for _, n := range p.nsec {
		if nsecCovers(n, qname) && nsecSpeaksFor(n, qname) && isStrictSubdomain(qname, n.NextDomain) {
			// Empty non-terminal: something exists below qname, nothing at it.
			p.use(n)
			return p.secure()
		}
	}
	c := p.nsecCover(qname)
	if c == nil {
		return p.missing("no NSEC proves NODATA for %s %s", qname, dns.Type(qtype))
	}
	wc := wildcardAt(p.nsecClosestEncloser(qname, c))
	if w := p.nsecMatch(wc); w != nil && !hasType(w.TypeBitMap, qtype) && !hasType(w.TypeBitMap, dns.TypeCNAME) {
		p.use(c)
		p.use(w)
		return p.secure()
	}
	return p.missing("no NSEC proves NODATA for %s %s", qname, dns.Type(qtype))
}

func (p *proof) nsecWildcard(nextCloser string) (Result, error) {
	c := p.nsecCover(nextCloser)
	if c == nil {
		return p.missing("no NSEC proves %s does not exist for the wildcard answer", nextCloser)
	}
	p.use(c)
	return p.secure()
}

func (p *proof) nsecInsecureDelegation(child string) (Result, error) {
	m := p.nsecMatch(child)
	if m == nil {
		return p.missing("no NSEC for delegation %s", child)
	}
	switch {
	case hasType(m.TypeBitMap, dns.TypeDS):
		return bogus(dns.ExtendedErrorCodeDNSBogus, "NSEC for %s lists DS", child)
	case !hasType(m.TypeBitMap, dns.TypeNS) || hasType(m.TypeBitMap, dns.TypeSOA):
		return bogus(dns.ExtendedErrorCodeDNSBogus, "NSEC for %s is not a parent-side delegation", child)
	}
	p.use(m)
	return p.secure()
}

// wildcardAt returns the wildcard name directly below encloser: "*." at
// the root, not "*..".
func wildcardAt(encloser string) string {
	if encloser == "." {
		return "*."
	}
	return "*." + encloser
}
