package mininet

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// This file picks the DNSSEC records an answer to a DO=1 query carries: the
// RRSIGs of each RRset, and the NSEC or NSEC3 records that prove a name or
// type does not exist, as an authoritative server does (RFC 4035 section
// 3.1, RFC 5155 section 7.2).

// proof collects denial records with their RRSIGs, each once.
type proof struct {
	z    *zone
	seen map[string]bool
	rrs  []dns.RR
}

func (z *zone) newProof() *proof { return &proof{z: z, seen: map[string]bool{}} }

func (p *proof) add(rr dns.RR) {
	if rr == nil {
		return
	}
	key := rr.Header().Name + "/" + dns.TypeToString[rr.Header().Rrtype]
	if p.seen[key] {
		return
	}
	p.seen[key] = true
	p.rrs = append(p.rrs, rr)
	p.rrs = append(p.rrs, p.z.sigsOf(rr.Header().Name, rr.Header().Rrtype, "")...)
}

// sigsOf returns the RRSIGs over owner's RRset of type t; with rename set,
// copies owned by rename (a wildcard expansion keeps the signature, whose
// label count tells the validator it was expanded).
func (z *zone) sigsOf(owner string, t uint16, rename string) []dns.RR {
	sigs := z.sec.sigs[rrKey{owner, t}]
	if rename == "" || rename == owner {
		return sigs
	}
	out := make([]dns.RR, len(sigs))
	for i, s := range sigs {
		c := dns.Copy(s)
		c.Header().Name = rename
		out[i] = c
	}
	return out
}

// closestEncloser returns the longest ancestor of name (or name) that
// exists in the zone, empty non-terminals included.
func (z *zone) closestEncloser(name string) string {
	for p := name; p != "" && dns.IsSubDomain(z.origin, p); p = parent(p) {
		if z.nodes[p] != nil {
			return p
		}
	}
	return z.origin
}

// nextCloser returns the ancestor of name one label below ce.
func nextCloser(name, ce string) string {
	labels := dns.Split(name)
	return name[labels[len(labels)-dns.CountLabel(ce)-1]:]
}

// nsecCover returns the NSEC whose span holds name: the one with the
// greatest owner before it in canonical order.
func (z *zone) nsecCover(name string) *dns.NSEC {
	owners := z.sec.nsecOwners
	i, _ := slices.BinarySearchFunc(owners, name, canonicalCompare)
	if i == 0 {
		i = len(owners)
	}
	return z.sec.nsec[owners[i-1]]
}

func (z *zone) nsec3Hash(name string) string {
	return dns.HashName(name, dns.SHA1, z.sec.iterations, "")
}

func (z *zone) nsec3Match(name string) *dns.NSEC3 {
	return z.sec.nsec3ByHash[z.nsec3Hash(name)]
}

// nsec3Cover returns the NSEC3 whose hash span holds the hash of name.
func (z *zone) nsec3Cover(name string) *dns.NSEC3 {
	h := strings.ToLower(z.nsec3Hash(name)) + "." + z.origin
	recs := z.sec.nsec3
	i, _ := slices.BinarySearchFunc(recs, h, func(rr *dns.NSEC3, h string) int { return strings.Compare(rr.Hdr.Name, h) })
	if i == 0 {
		i = len(recs)
	}
	return recs[i-1]
}

// provableEncloser returns the closest ancestor of name (name excluded)
// that has an NSEC3: with opt-out, names above unsigned delegations have
// none.
func (z *zone) provableEncloser(name string) (string, *dns.NSEC3) {
	for p := parent(name); p != "" && dns.IsSubDomain(z.origin, p); p = parent(p) {
		if rr := z.nsec3Match(p); rr != nil {
			return p, rr
		}
	}
	return z.origin, z.nsec3Match(z.origin)
}

// wildcardAt returns the wildcard name directly below ce.
func wildcardAt(ce string) string {
	if ce == "." {
		return "*."
	}
	return "*." + ce
}

func (z *zone) nsec3Mode() bool { return z.sec.denial != NSEC }

// proveNXDOMAIN: name does not exist, and no wildcard could have matched.
func (z *zone) proveNXDOMAIN(name string) []dns.RR {
	p := z.newProof()
	if z.nsec3Mode() {
		ce, ceRR := z.provableEncloser(name)
		p.add(ceRR)
		p.add(z.nsec3Cover(nextCloser(name, ce)))
		p.add(z.nsec3Cover(wildcardAt(ce)))
		return p.rrs
	}
	if z.sec.broken == bogusNXDOMAIN {
		// Only a record that does not cover the name (the wildcard proof
		// could cover it by accident).
		p.add(z.nsecNotCovering(name))
		return p.rrs
	}
	p.add(z.nsecCover(name))
	p.add(z.nsecCover(wildcardAt(z.closestEncloser(name))))
	return p.rrs
}

// nsecNotCovering returns an NSEC of the zone whose span does not hold name
// (bad-nsec.test.: a proof that proves nothing).
func (z *zone) nsecNotCovering(name string) *dns.NSEC {
	right := z.nsecCover(name)
	for _, owner := range z.sec.nsecOwners {
		if n := z.sec.nsec[owner]; n != right {
			return n
		}
	}
	return right
}

// proveNODATA: name exists (or, with wild set, the wildcard wild matched it)
// but has no record of the asked type.
func (z *zone) proveNODATA(name, wild string) []dns.RR {
	p := z.newProof()
	switch {
	case wild != "" && z.nsec3Mode():
		ce := parent(wild)
		p.add(z.nsec3Match(ce))
		p.add(z.nsec3Cover(nextCloser(name, ce)))
		p.add(z.nsec3Match(wild))
	case wild != "":
		p.add(z.nsecCover(name))
		p.add(z.sec.nsec[wild])
	case z.nsec3Mode():
		if rr := z.nsec3Match(name); rr != nil {
			p.add(rr)
			break
		}
		// An unsigned delegation in an opt-out zone (the DS query):
		// the closest provable encloser and the opt-out span.
		ce, ceRR := z.provableEncloser(name)
		p.add(ceRR)
		p.add(z.nsec3Cover(nextCloser(name, ce)))
	default:
		if n := z.sec.nsec[name]; n != nil {
			p.add(n)
		} else {
			// An empty non-terminal: the NSEC before it points below it.
			p.add(z.nsecCover(name))
		}
	}
	return p.rrs
}

// proveWildcard: the answer was expanded from wild, and name itself does
// not exist (RFC 4035 section 3.1.3.3, RFC 5155 section 7.2.6).
func (z *zone) proveWildcard(name, wild string) []dns.RR {
	p := z.newProof()
	if z.nsec3Mode() {
		p.add(z.nsec3Cover(nextCloser(name, parent(wild))))
	} else {
		p.add(z.nsecCover(name))
	}
	return p.rrs
}

// proveNoDS: the delegation cut has no DS, so the child is unsigned.
func (z *zone) proveNoDS(cut string) []dns.RR {
	return z.proveNODATA(cut, "")
}

// dsAtCut returns the DS RRset of the cut with its RRSIGs, or the proof
// that there is none.
func (z *zone) dsAtCut(cut string) []dns.RR {
	ds := z.nodes[cut].rrsets[dns.TypeDS]
	if len(ds) == 0 {
		return z.proveNoDS(cut)
	}
	return append(slices.Clone(ds), z.sigsOf(cut, dns.TypeDS, "")...)
}
