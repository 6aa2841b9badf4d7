package dnssec

import (
	"strings"

	"github.com/miekg/dns"
)

// hash returns the NSEC3 hash of name with rr's parameters, computing each
// (name, parameters) pair at most once per proof and charging the budget.
// ok is false when the budget is spent (p.spent is then set) or the salt
// is malformed.
func (p *proof) hash(name string, rr *dns.NSEC3) (string, bool) {
	k := nsec3Key{name: strings.ToLower(dns.Fqdn(name)), iter: rr.Iterations, salt: strings.ToLower(rr.Salt)}
	if h, ok := p.memo[k]; ok {
		return h, h != ""
	}
	if !p.b.spendHash() {
		p.spent = true
		return "", false
	}
	h := dns.HashName(k.name, dns.SHA1, rr.Iterations, rr.Salt)
	p.memo[k] = h
	return h, h != ""
}

func (p *proof) nsec3Match(name string) *dns.NSEC3 {
	for _, rr := range p.nsec3 {
		h, ok := p.hash(name, rr)
		if p.spent {
			return nil
		}
		if ok && h == ownerHash(rr) {
			return rr
		}
	}
	return nil
}

// nsec3Cover returns the NSEC3 whose hash span holds name's hash.
// Base32hex keeps byte order, so the spans compare as strings.
func (p *proof) nsec3Cover(name string) *dns.NSEC3 {
	for _, rr := range p.nsec3 {
		h, ok := p.hash(name, rr)
		if p.spent {
			return nil
		}
		if !ok {
			continue
		}
		owner, next := ownerHash(rr), strings.ToUpper(rr.NextDomain)
		var covers bool
		switch {
		case owner == next: // the zone's only NSEC3
			covers = h != owner
		case owner < next:
			covers = owner < h && h < next
		default: // the last span wraps around
			covers = h > owner || h < next
		}
		if covers {
			return rr
		}
	}
	return nil
}

// closestEncloser runs the closest encloser proof (RFC 5155 section 8.3):
// the deepest ancestor of qname with a matching NSEC3, and the NSEC3
// covering the next closer name. exists is set when qname itself matches.
func (p *proof) closestEncloser(qname string) (ce string, ceRR, ncRR *dns.NSEC3, exists bool, reason string) {
	n := dns.CountLabel(qname)
	for l := n; l >= dns.CountLabel(p.zone); l-- {
		name := suffixLabels(qname, l)
		m := p.nsec3Match(name)
		if p.spent {
			return "", nil, nil, false, "budget"
		}
		if m == nil {
			continue
		}
		if l == n {
			return name, m, nil, true, ""
		}
		// An NSEC3 at a delegation point or DNAME belongs to the parent
		// side; it cannot be the closest encloser of names below it.
		if hasType(m.TypeBitMap, dns.TypeDNAME) ||
			(hasType(m.TypeBitMap, dns.TypeNS) && !hasType(m.TypeBitMap, dns.TypeSOA)) {
			return "", nil, nil, false, "closest encloser " + name + " is a delegation or DNAME"
		}
		nc := suffixLabels(qname, l+1)
		c := p.nsec3Cover(nc)
		if c == nil {
			if p.spent {
				return "", nil, nil, false, "budget"
			}
			return "", nil, nil, false, "no NSEC3 covers next closer name " + nc
		}
		return name, m, c, false, ""
	}
	return "", nil, nil, false, "no closest encloser for " + qname
}

func optOut(rr *dns.NSEC3) bool { return rr.Flags&1 == 1 }

func (p *proof) nsec3NXDOMAIN(qname string) (Result, error) {
	ce, ceRR, ncRR, exists, reason := p.closestEncloser(qname)
	if exists {
		return bogus(dns.ExtendedErrorCodeDNSBogus, "NXDOMAIN for %s but an NSEC3 matches it", qname)
	}
	if ceRR == nil {
		return p.missing("%s", reason)
	}
	wc := wildcardAt(ce)
	w := p.nsec3Cover(wc)
	if w == nil {
		if p.nsec3Match(wc) != nil {
			return bogus(dns.ExtendedErrorCodeDNSBogus, "NXDOMAIN for %s but wildcard %s exists", qname, wc)
		}
		return p.missing("no NSEC3 proves wildcard %s does not exist", wc)
	}
	p.use(ceRR)
	p.use(ncRR)
	p.use(w)
	if optOut(ncRR) {
		// An unsigned delegation may hide in an opt-out span.
		return Result{Status: Insecure}, nil
	}
	return p.secure()
}

func (p *proof) nsec3NODATA(qname string, qtype uint16) (Result, error) {
	if m := p.nsec3Match(qname); m != nil {
		if hasType(m.TypeBitMap, qtype) || hasType(m.TypeBitMap, dns.TypeCNAME) {
			return bogus(dns.ExtendedErrorCodeDNSBogus, "NSEC3 for %s lists %s or CNAME", qname, dns.Type(qtype))
		}
		if qtype != dns.TypeDS && hasType(m.TypeBitMap, dns.TypeNS) && !hasType(m.TypeBitMap, dns.TypeSOA) {
			return bogus(dns.ExtendedErrorCodeDNSBogus, "parent-side NSEC3 for %s cannot deny %s", qname, dns.Type(qtype))
		}
		p.use(m)
		return p.secure()
	}
	if p.spent {
		return p.missing("")
	}
	ce, ceRR, ncRR, _, reason := p.closestEncloser(qname)
	if ceRR == nil {
		return p.missing("NODATA for %s %s: %s", qname, dns.Type(qtype), reason)
	}
	if qtype == dns.TypeDS {
		// RFC 5155 section 8.6: no DS under an opt-out span.
		if optOut(ncRR) {
			p.use(ceRR)
			p.use(ncRR)
			return Result{Status: Insecure}, nil
		}
		return p.missing("no NSEC3 proves no DS for %s", qname)
	}
	// RFC 5155 section 8.7: wildcard NODATA.
	if w := p.nsec3Match(wildcardAt(ce)); w != nil && !hasType(w.TypeBitMap, qtype) && !hasType(w.TypeBitMap, dns.TypeCNAME) {
		p.use(ceRR)
		p.use(ncRR)
		p.use(w)
		return p.secure()
	}
	return p.missing("no NSEC3 proves NODATA for %s %s", qname, dns.Type(qtype))
}

func (p *proof) nsec3Wildcard(nextCloser string) (Result, error) {
	c := p.nsec3Cover(nextCloser)
	if c == nil {
		return p.missing("no NSEC3 proves %s does not exist for the wildcard answer", nextCloser)
	}
	p.use(c)
	return p.secure()
}

func (p *proof) nsec3InsecureDelegation(child string) (Result, error) {
	if m := p.nsec3Match(child); m != nil {
		switch {
		case hasType(m.TypeBitMap, dns.TypeDS):
			return bogus(dns.ExtendedErrorCodeDNSBogus, "NSEC3 for %s lists DS", child)
		case !hasType(m.TypeBitMap, dns.TypeNS) || hasType(m.TypeBitMap, dns.TypeSOA):
			return bogus(dns.ExtendedErrorCodeDNSBogus, "NSEC3 for %s is not a parent-side delegation", child)
		}
		p.use(m)
		return p.secure()
	}
	if p.spent {
		return p.missing("")
	}
	_, ceRR, ncRR, _, reason := p.closestEncloser(child)
	if ceRR == nil {
		return p.missing("delegation %s: %s", child, reason)
	}
	if !optOut(ncRR) {
		return p.missing("no NSEC3 proves %s is an unsigned delegation", child)
	}
	p.use(ceRR)
	p.use(ncRR)
	return p.secure()
}
