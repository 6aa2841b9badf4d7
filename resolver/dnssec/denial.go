package dnssec

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// The Prove* functions check denial-of-existence proofs made of NSEC or
// NSEC3 records whose RRSIGs the caller has already verified (with
// VerifyRRset against zone's keys); zone is their signer. They return
// Secure when the proof holds, Insecure when only an insecure conclusion
// is possible (NSEC3 opt-out, iterations over the limit, only unknown NSEC3
// hash algorithms), and Bogus with EDE 12 (or 6, 27, 0) when it does not.
// Records outside zone are ignored. When the records hold any NSEC3 the
// NSEC3 rules apply (RFC 5155 section 8), otherwise the NSEC rules (RFC
// 4035 section 5.4, RFC 6840 section 4).

// ProveNXDOMAIN checks that qname does not exist and that no wildcard could
// have produced it.
func (v *Validator) ProveNXDOMAIN(qname, zone string, denial []dns.RR, b *Budget) (Result, error) {
	p, r, err := v.newProof(qname, zone, denial, b)
	if p == nil {
		return r, err
	}
	return p.nxdomain(qname)
}

// ProveNODATA checks that qname exists without qtype: an exact match, an
// empty non-terminal, or a wildcard that lacks qtype. For qtype DS this
// proves only that no DS RRset exists; to conclude that a child zone is
// unsigned use ProveInsecureDelegation, which insists on a parent-side
// proof.
func (v *Validator) ProveNODATA(qname string, qtype uint16, zone string, denial []dns.RR, b *Budget) (Result, error) {
	p, r, err := v.newProof(qname, zone, denial, b)
	if p == nil {
		return r, err
	}
	return p.nodata(qname, qtype)
}

// ProveWildcard checks a positive answer for qname that VerifyRRset
// validated with sig, a signature whose Labels field is smaller than
// qname's label count (Result.Wildcard): the wildcard is *.<the rightmost
// sig.Labels labels of qname>, and the records must prove that the next
// closer name, hence qname, does not exist (RFC 4035 section 5.3.4, RFC
// 5155 section 8.8).
func (v *Validator) ProveWildcard(qname string, sig *dns.RRSIG, zone string, denial []dns.RR, b *Budget) (Result, error) {
	if sig == nil {
		return bogus(dns.ExtendedErrorCodeDNSBogus, "wildcard proof for %s without its RRSIG", qname)
	}
	p, r, err := v.newProof(qname, zone, denial, b)
	if p == nil {
		return r, err
	}
	n := dns.CountLabel(qname)
	if int(sig.Labels) >= n {
		return bogus(dns.ExtendedErrorCodeDNSBogus, "RRSIG for %s is not a wildcard expansion", qname)
	}
	ce := suffixLabels(qname, int(sig.Labels))
	if !isSubdomain(zone, ce) {
		return bogus(dns.ExtendedErrorCodeDNSBogus, "wildcard for %s outside zone %s", qname, zone)
	}
	return p.wildcard(suffixLabels(qname, int(sig.Labels)+1))
}

// ProveInsecureDelegation checks a referral from zone to child that has no
// DS: a parent-side NSEC/NSEC3 for child with NS and without DS and SOA, or
// an NSEC3 opt-out span covering child (RFC 4035 section 5.2, RFC 5155
// section 8.9, RFC 6840 section 4.4). Secure means "child is provably
// unsigned": the resolver then treats data below child as Insecure.
func (v *Validator) ProveInsecureDelegation(child, zone string, denial []dns.RR, b *Budget) (Result, error) {
	if equalName(child, zone) {
		return bogus(dns.ExtendedErrorCodeDNSBogus, "delegation proof for %s from itself", child)
	}
	p, r, err := v.newProof(child, zone, denial, b)
	if p == nil {
		return r, err
	}
	return p.insecureDelegation(child)
}

// Synthesis is what aggressive negative caching can answer.
type Synthesis uint8

const (
	NoSynthesis Synthesis = iota
	SynthNXDOMAIN
	SynthNODATA
)

func (s Synthesis) String() string {
	switch s {
	case SynthNXDOMAIN:
		return "NXDOMAIN"
	case SynthNODATA:
		return "NODATA"
	}
	return "none"
}

// Synthesize implements RFC 8198: given validated NSEC or NSEC3 records
// cached for zone, it says whether qname/qtype is provably NXDOMAIN or
// NODATA, and returns the records that prove it (to put, with their
// RRSIGs, in the authority section). Only Secure proofs count: nothing is
// synthesised from opt-out spans or over-limit NSEC3 (RFC 8198 section
// 4.2). It is a pure function; the resolver owns the cache.
func (v *Validator) Synthesize(qname string, qtype uint16, zone string, cached []dns.RR, b *Budget) (Synthesis, []dns.RR) {
	p, _, _ := v.newProof(qname, zone, cached, b)
	if p == nil {
		return NoSynthesis, nil
	}
	if r, _ := p.nxdomain(qname); r.Status == Secure {
		return SynthNXDOMAIN, p.used
	}
	p.used = p.used[:0]
	if r, _ := p.nodata(qname, qtype); r.Status == Secure {
		return SynthNODATA, p.used
	}
	return NoSynthesis, nil
}

// proof is the state of one denial check: the records that may be used,
// NSEC3 hashes already computed, and which records the proof relied on.
type proof struct {
	v       *Validator
	b       *Budget
	zone    string
	nsec    []*dns.NSEC
	nsec3   []*dns.NSEC3
	memo    map[nsec3Key]string
	used    []dns.RR
	spent   bool // the budget ran out during this proof
	unknown bool // NSEC3 with an unknown hash algorithm or flags was seen
}

type nsec3Key struct {
	name string
	iter uint16
	salt string
}

// newProof sorts the usable records out of denial. A nil proof comes with
// the final result: no records, unusable NSEC3 only, or iterations over a
// limit. Names that do not pack are skipped, so no input can make the
// label helpers misbehave.
func (v *Validator) newProof(qname, zone string, denial []dns.RR, b *Budget) (*proof, Result, error) {
	if _, ok := wireLabels(qname); !ok {
		r, err := bogus(dns.ExtendedErrorCodeDNSBogus, "bad name %q", qname)
		return nil, r, err
	}
	if _, ok := wireLabels(zone); !ok || !isSubdomain(zone, qname) {
		r, err := bogus(dns.ExtendedErrorCodeDNSBogus, "%s is not in zone %q", qname, zone)
		return nil, r, err
	}
	p := &proof{v: v, b: v.budgetOrNew(b), zone: dns.Fqdn(zone)}
	var maxIter uint16
	for _, rr := range denial {
		switch rr := rr.(type) {
		case *dns.NSEC:
			if _, ok := wireLabels(rr.Hdr.Name); !ok || !isSubdomain(zone, rr.Hdr.Name) {
				continue
			}
			if _, ok := wireLabels(rr.NextDomain); !ok || !isSubdomain(zone, rr.NextDomain) {
				continue
			}
			p.nsec = append(p.nsec, rr)
		case *dns.NSEC3:
			if _, ok := wireLabels(rr.Hdr.Name); !ok || !equalName(parentName(rr.Hdr.Name), zone) {
				continue
			}
			if rr.Hash != dns.SHA1 || rr.Flags > 1 {
				// RFC 5155 section 8.2: ignore unknown hash algorithms
				// and flags.
				p.unknown = true
				continue
			}
			if len(ownerHash(rr)) != 32 || len(rr.NextDomain) != 32 {
				continue
			}
			maxIter = max(maxIter, rr.Iterations)
			p.nsec3 = append(p.nsec3, rr)
		}
	}
	switch {
	case len(p.nsec3) > 0:
		p.nsec = nil // never mix the two rule sets
		if maxIter > v.iterHard {
			r, err := bogus(dns.ExtendedErrorCodeUnsupportedNSEC3IterValue, "NSEC3 iterations %d in %s over hard limit %d", maxIter, zone, v.iterHard)
			return nil, r, err
		}
		if maxIter > v.iterSoft {
			r, err := insecure(dns.ExtendedErrorCodeUnsupportedNSEC3IterValue, "NSEC3 iterations %d in %s over limit %d", maxIter, zone, v.iterSoft)
			return nil, r, err
		}
		p.memo = make(map[nsec3Key]string)
		return p, Result{}, nil
	case p.unknown:
		// RFC 5155 section 8.1: no NSEC3 with a known hash algorithm.
		return nil, Result{Status: Insecure}, nil
	case len(p.nsec) > 0:
		return p, Result{}, nil
	}
	r, err := bogus(dns.ExtendedErrorCodeNSECMissing, "no NSEC or NSEC3 records from %s", zone)
	return nil, r, err
}

func (p *proof) use(rr dns.RR) {
	for _, u := range p.used {
		if u == rr {
			return
		}
	}
	p.used = append(p.used, rr)
}

func (p *proof) nxdomain(qname string) (Result, error) {
	if p.nsec3 != nil {
		return p.nsec3NXDOMAIN(qname)
	}
	return p.nsecNXDOMAIN(qname)
}

func (p *proof) nodata(qname string, qtype uint16) (Result, error) {
	if p.nsec3 != nil {
		return p.nsec3NODATA(qname, qtype)
	}
	return p.nsecNODATA(qname, qtype)
}

func (p *proof) wildcard(nextCloser string) (Result, error) {
	if p.nsec3 != nil {
		return p.nsec3Wildcard(nextCloser)
	}
	return p.nsecWildcard(nextCloser)
}

func (p *proof) insecureDelegation(child string) (Result, error) {
	if p.nsec3 != nil {
		return p.nsec3InsecureDelegation(child)
	}
	return p.nsecInsecureDelegation(child)
}

func (p *proof) secure() (Result, error) { return Result{Status: Secure}, nil }

func (p *proof) missing(format string, args ...any) (Result, error) {
	if p.spent {
		return exhausted(fmt.Sprintf("%d NSEC3 hashes in %s", p.b.hashes, p.zone))
	}
	return bogus(dns.ExtendedErrorCodeNSECMissing, format, args...)
}

// ownerHash is the hash label of an NSEC3 owner name, upper case like
// dns.HashName's output and NextDomain.
func ownerHash(rr *dns.NSEC3) string {
	name := rr.Hdr.Name
	if i := strings.IndexByte(name, '.'); i > 0 {
		return strings.ToUpper(name[:i])
	}
	return ""
}
