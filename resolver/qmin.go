package resolver

import (
	"strings"

	"github.com/miekg/dns"
)

// QNAME minimisation (RFC 9156): each zone's servers are asked about one
// label more than the zone, not the full name, so the root and TLDs do not
// learn every name a client asks for.
const (
	// maxMinimiseCount and minimiseOneLab are RFC 9156 section 2.3's
	// MAX_MINIMISE_COUNT and MINIMISE_ONE_LAB: the first four labels are
	// added one at a time, the rest in bigger steps, so a name with many
	// labels costs at most ten extra queries.
	maxMinimiseCount = 10
	minimiseOneLab   = 4
)

// minimiser is the QNAME minimisation state of one iterate call.
type minimiser struct {
	off   bool   // send the full name from now on
	base  string // deepest name below the current cut known not to be a cut ("": the cut itself)
	count int    // minimised queries sent
	last  string // the name of the last minimised query
}

// next returns the question to send to the servers of zone, and whether
// it is minimised. The minimised question has type A, like Unbound: some
// servers still answer NS queries for names that are not cuts badly.
func (mz *minimiser) next(q dns.Question, zone string) (dns.Question, bool) {
	if mz.off || mz.count >= maxMinimiseCount {
		return q, false
	}
	base := zone
	if mz.base != "" {
		base = mz.base
	}
	name := minimisedName(q.Name, base, mz.count)
	if name == q.Name {
		return q, false
	}
	mz.count++
	mz.last = name
	return dns.Question{Name: name, Qtype: dns.TypeA, Qclass: q.Qclass}, true
}

// learn takes the (scrubbed) answer to the last minimised question. NOERROR
// without a CNAME or DNAME means no cut there: go one step deeper at the
// same servers. NXDOMAIN should mean nothing exists below (RFC 8020), but
// servers that answer NXDOMAIN for empty non-terminals exist, so, in
// relaxed mode like Unbound, the full name is asked instead. A CNAME or
// DNAME also ends minimisation: the full question gets the whole story.
func (mz *minimiser) learn(m *dns.Msg) {
	if m.Rcode != dns.RcodeSuccess {
		mz.off = true
		return
	}
	for _, rr := range m.Answer {
		if t := rr.Header().Rrtype; t == dns.TypeCNAME || t == dns.TypeDNAME {
			mz.off = true
			return
		}
	}
	mz.base = mz.last
}

// cut records that a referral moved the walk to a new zone.
func (mz *minimiser) cut() { mz.base = "" }

// minimisedName returns the name to ask at step (0-based) when base is
// known and qname wanted: base plus one label for the first
// minimiseOneLab steps, then enough labels per step to reach qname within
// maxMinimiseCount steps.
func minimisedName(qname, base string, step int) string {
	total := dns.CountLabel(qname)
	have := dns.CountLabel(base)
	if base == "." {
		have = 0
	}
	if !isSubDomain(base, qname) || total-have <= 1 {
		return qname
	}
	left := total - have
	add := 1
	if step >= minimiseOneLab {
		remaining := maxMinimiseCount - step
		if remaining <= 1 {
			return qname
		}
		add = (left + remaining - 1) / remaining
	}
	if add >= left {
		return qname
	}
	idx := dns.Split(qname)
	return strings.ToLower(qname[idx[total-have-add]:])
}
