package mininet

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// zone is one zone's data, indexed for lookups. It is immutable once built, so
// servers share it without locking.
//
// Building is parse (plus generated address records, DNSKEY and the DS of
// signed children) into a flat record list, index, then sign (sign.go): the
// RRSIGs and the NSEC/NSEC3 chain live in sec, beside the nodes, so answers
// to queries without DO are the same as for an unsigned zone.
type zone struct {
	origin string // canonical (lower case) FQDN
	soa    *dns.SOA
	nodes  map[string]*node // by canonical owner name, including empty non-terminals
	junk   []dns.RR         // out-of-zone records added to every response (zoneSpec.junk)
	sec    *signedZone      // nil for an unsigned zone
}

// node holds the record sets at one owner name.
type node struct {
	rrsets map[uint16][]dns.RR
}

// parseZone parses master-file text into records for origin.
func parseZone(origin, text string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(text), origin, origin)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if !dns.IsSubDomain(origin, rr.Header().Name) {
			return nil, fmt.Errorf("parse zone %s: %s is out of zone", origin, rr.Header().Name)
		}
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("parse zone %s: %w", origin, err)
	}
	return rrs, nil
}

// hostAddrs is one server name with its addresses.
type hostAddrs struct {
	name  string
	addrs []netip.Addr
}

// withAddresses appends A/AAAA records for every host that belongs in the
// zone: names the zone is authoritative for, and glue, i.e. names below a
// delegation that some NS record of the zone points at. The TTL follows the
// first NS record naming the host, as glue in real zones does.
func withAddresses(origin string, rrs []dns.RR, hosts []hostAddrs) []dns.RR {
	cuts := map[string]bool{}
	nsTTL := map[string]uint32{}
	for _, rr := range rrs {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		owner := dns.CanonicalName(ns.Hdr.Name)
		if owner != origin {
			cuts[owner] = true
		}
		target := dns.CanonicalName(ns.Ns)
		if _, seen := nsTTL[target]; !seen {
			nsTTL[target] = ns.Hdr.Ttl
		}
	}
	for _, h := range hosts {
		name := dns.CanonicalName(h.name)
		if !dns.IsSubDomain(origin, name) {
			continue
		}
		ttl, isTarget := nsTTL[name]
		if highestCut(origin, name, func(n string) bool { return cuts[n] }) != "" && !isTarget {
			continue
		}
		if !isTarget {
			ttl = 3600
		}
		for _, a := range h.addrs {
			hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: ttl}
			if a.Is4() {
				hdr.Rrtype = dns.TypeA
				rrs = append(rrs, &dns.A{Hdr: hdr, A: a.AsSlice()})
			} else {
				hdr.Rrtype = dns.TypeAAAA
				rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}
	return rrs
}

// highestCut returns the highest delegation point at or above name and
// below origin, or "" when name is authoritative data of the zone.
func highestCut(origin, name string, isCut func(string) bool) string {
	originLabels := dns.CountLabel(origin)
	idx := dns.Split(name)
	// idx runs from the full name towards the top; walk from the top down.
	for i := len(idx) - 1; i >= 0; i-- {
		cand := name[idx[i]:]
		if dns.CountLabel(cand) > originLabels && isCut(cand) {
			return cand
		}
	}
	return ""
}

// newZone indexes records into a zone. The zone must have exactly one SOA at
// the apex.
func newZone(origin string, rrs []dns.RR) (*zone, error) {
	z := &zone{origin: dns.CanonicalName(origin), nodes: map[string]*node{}}
	for _, rr := range rrs {
		owner := dns.CanonicalName(rr.Header().Name)
		rr.Header().Name = owner
		n := z.nodes[owner]
		if n == nil {
			n = &node{rrsets: map[uint16][]dns.RR{}}
			z.nodes[owner] = n
		}
		t := rr.Header().Rrtype
		if soa, ok := rr.(*dns.SOA); ok {
			if owner != z.origin || z.soa != nil {
				return nil, fmt.Errorf("index zone %s: unexpected SOA at %s", z.origin, owner)
			}
			z.soa = soa
		}
		n.rrsets[t] = append(n.rrsets[t], rr)
		// Every ancestor up to the apex exists, even without records: an
		// empty non-terminal answers NODATA, not NXDOMAIN (RFC 8020).
		for p := parent(owner); p != "" && dns.IsSubDomain(z.origin, p) && z.nodes[p] == nil; p = parent(p) {
			z.nodes[p] = &node{rrsets: map[uint16][]dns.RR{}}
		}
	}
	if z.soa == nil {
		return nil, fmt.Errorf("index zone %s: no SOA", z.origin)
	}
	if len(z.nodes[z.origin].rrsets[dns.TypeNS]) == 0 {
		return nil, fmt.Errorf("index zone %s: no apex NS", z.origin)
	}
	for owner, n := range z.nodes {
		if _, ok := n.rrsets[dns.TypeCNAME]; ok && len(n.rrsets) > 1 {
			return nil, fmt.Errorf("index zone %s: CNAME and other data at %s", z.origin, owner)
		}
	}
	return z, nil
}

// parent returns the name one label up, or "" for the root.
func parent(name string) string {
	if name == "." {
		return ""
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

// isCut reports whether owner is a delegation point of the zone.
func (z *zone) isCut(owner string) bool {
	if owner == z.origin {
		return false
	}
	n := z.nodes[owner]
	return n != nil && len(n.rrsets[dns.TypeNS]) > 0
}

// delegation returns the highest delegation point at or above name, or "".
func (z *zone) delegation(name string) string {
	return highestCut(z.origin, name, z.isCut)
}

// maxChase bounds in-zone CNAME chasing, so a loop in the data cannot spin.
const maxChase = 8

// answer fills m (already a reply to the query) from the zone, the way an
// authoritative-only server does: a referral below a cut, the data with AA,
// in-zone CNAME chasing, and NXDOMAIN/NODATA with the SOA. With do (the
// query's DO bit) and a signed zone, the RRSIGs, DS and NSEC/NSEC3 proofs go
// with it.
func (z *zone) answer(m *dns.Msg, qname string, qtype uint16, do bool) {
	signed := do && z.sec != nil
	name := dns.CanonicalName(qname)
	if cut := z.delegation(name); cut != "" && !(cut == name && qtype == dns.TypeDS) {
		z.referral(m, cut, signed)
		return
	}
	m.Authoritative = true
	for range maxChase {
		if dname := z.dnameAbove(name); dname != nil {
			// RFC 6672: the DNAME, then a CNAME synthesised from it.
			m.Answer = append(m.Answer, dname)
			if signed {
				m.Answer = append(m.Answer, z.sigsOf(dname.Hdr.Name, dns.TypeDNAME, "")...)
			}
			target := name[:len(name)-len(dname.Hdr.Name)] + dns.CanonicalName(dname.Target)
			if _, ok := dns.IsDomainName(target); !ok || len(target) > 255 {
				m.Rcode = dns.RcodeYXDomain
				return
			}
			m.Answer = append(m.Answer, &dns.CNAME{
				Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: dname.Hdr.Ttl},
				Target: target,
			})
			if !dns.IsSubDomain(z.origin, target) || z.delegation(target) != "" {
				return
			}
			name = target
			continue
		}
		n, wild := z.lookup(name)
		if n == nil {
			m.Rcode = dns.RcodeNameError
			z.negative(m, signed)
			if signed {
				m.Ns = append(m.Ns, z.proveNXDOMAIN(name)...)
			}
			return
		}
		if qtype == dns.TypeANY {
			// RFC 8482 would allow one set; the lab wants to see everything.
			for _, t := range sortedTypes(n) {
				m.Answer = append(m.Answer, n.rrsets[t]...)
				if signed {
					m.Answer = append(m.Answer, z.sigsOf(ownerOr(wild, name), t, name)...)
				}
			}
			if len(n.rrsets) == 0 {
				z.negative(m, signed)
				if signed {
					m.Ns = append(m.Ns, z.proveNODATA(name, wild)...)
				}
			}
			return
		}
		if rrs := n.rrsets[qtype]; len(rrs) > 0 {
			m.Answer = append(m.Answer, rrs...)
			if signed {
				m.Answer = append(m.Answer, z.sigsOf(ownerOr(wild, name), qtype, name)...)
				if wild != "" {
					m.Ns = append(m.Ns, z.proveWildcard(name, wild)...)
				}
			}
			z.additional(m, rrs)
			return
		}
		cname, ok := n.rrsets[dns.TypeCNAME]
		if !ok {
			z.negative(m, signed)
			if signed {
				m.Ns = append(m.Ns, z.proveNODATA(name, wild)...)
			}
			return
		}
		m.Answer = append(m.Answer, cname...)
		if signed {
			m.Answer = append(m.Answer, z.sigsOf(ownerOr(wild, name), dns.TypeCNAME, name)...)
			if wild != "" {
				m.Ns = append(m.Ns, z.proveWildcard(name, wild)...)
			}
		}
		target := dns.CanonicalName(cname[0].(*dns.CNAME).Target)
		// Only data this zone is authoritative for is chased; the resolver
		// follows the rest itself.
		if !dns.IsSubDomain(z.origin, target) || z.delegation(target) != "" {
			return
		}
		name = target
	}
}

// ownerOr returns wild when set (the owner the records were signed under),
// else name.
func ownerOr(wild, name string) string {
	if wild != "" {
		return wild
	}
	return name
}

// dnameAbove returns the DNAME record owned by a proper ancestor of name
// inside the zone, or nil. A DNAME at name itself is ordinary data.
func (z *zone) dnameAbove(name string) *dns.DNAME {
	for p := parent(name); p != "" && dns.IsSubDomain(z.origin, p); p = parent(p) {
		if n := z.nodes[p]; n != nil {
			if rrs := n.rrsets[dns.TypeDNAME]; len(rrs) > 0 {
				return rrs[0].(*dns.DNAME)
			}
		}
	}
	return nil
}

// lookup returns the node at name, or the wildcard node that matches it
// (RFC 4592: "*." plus the closest encloser, the longest existing ancestor),
// with its records renamed to name, and then also the wildcard's owner.
// nil means NXDOMAIN.
func (z *zone) lookup(name string) (*node, string) {
	if n := z.nodes[name]; n != nil {
		return n, ""
	}
	for p := parent(name); p != "" && dns.IsSubDomain(z.origin, p); p = parent(p) {
		if z.nodes[p] == nil {
			continue
		}
		// p is the closest encloser.
		wild := wildcardAt(p)
		w := z.nodes[wild]
		if w == nil {
			return nil, ""
		}
		out := &node{rrsets: make(map[uint16][]dns.RR, len(w.rrsets))}
		for t, rrs := range w.rrsets {
			for _, rr := range rrs {
				rr = dns.Copy(rr)
				rr.Header().Name = name
				out.rrsets[t] = append(out.rrsets[t], rr)
			}
		}
		return out, wild
	}
	return nil, ""
}

// referral puts the NS set of the cut in authority and the glue the zone
// holds for its targets in additional. AA stays clear. Signed, the DS and
// its RRSIGs follow the NS, or the proof that the cut has no DS.
func (z *zone) referral(m *dns.Msg, cut string, signed bool) {
	ns := z.nodes[cut].rrsets[dns.TypeNS]
	m.Ns = append(m.Ns, ns...)
	if signed {
		m.Ns = append(m.Ns, z.dsAtCut(cut)...)
	}
	z.additional(m, ns)
}

// additional adds addresses the zone holds for NS and MX targets.
func (z *zone) additional(m *dns.Msg, rrs []dns.RR) {
	for _, rr := range rrs {
		var target string
		switch rr := rr.(type) {
		case *dns.NS:
			target = rr.Ns
		case *dns.MX:
			target = rr.Mx
		default:
			continue
		}
		n := z.nodes[dns.CanonicalName(target)]
		if n == nil {
			continue
		}
		m.Extra = append(m.Extra, n.rrsets[dns.TypeA]...)
		m.Extra = append(m.Extra, n.rrsets[dns.TypeAAAA]...)
	}
}

// negative adds the SOA with the negative-caching TTL of RFC 2308, and its
// RRSIGs when signed.
func (z *zone) negative(m *dns.Msg, signed bool) {
	soa := dns.Copy(z.soa).(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	m.Ns = append(m.Ns, soa)
	if signed {
		for _, s := range z.sigsOf(z.origin, dns.TypeSOA, "") {
			s = dns.Copy(s)
			s.Header().Ttl = soa.Hdr.Ttl
			m.Ns = append(m.Ns, s)
		}
	}
}

// sortedTypes returns the node's types in ascending order, for stable output.
func sortedTypes(n *node) []uint16 {
	return slices.Sorted(maps.Keys(n.rrsets))
}
