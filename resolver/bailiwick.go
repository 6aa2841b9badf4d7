package resolver

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Bailiwick: a server is trusted only for the zone it was asked as a
// server of (the zone cut being walked). What it says about other names,
// in any section, is dropped before anything is cached: the classic cache
// poisoning vectors are out-of-zone glue, NS records for other zones in
// authority, and answer records beside the chain asked for.

// classify says what a response from a server of zone means for q.
func classify(m *dns.Msg, q dns.Question, zone string) responseKind {
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return respBad
	}
	if checkDNAME(m, zone) != nil {
		return respBad
	}
	for _, rr := range m.Answer {
		h := rr.Header()
		if strings.EqualFold(h.Name, q.Name) && isSubDomain(zone, h.Name) &&
			(h.Rrtype == q.Qtype || h.Rrtype == dns.TypeCNAME || q.Qtype == dns.TypeANY) {
			return respAnswer
		}
	}
	if coveringDNAME(m.Answer, q.Name, zone) != nil {
		return respAnswer
	}
	if m.Rcode == dns.RcodeNameError {
		return respNegative
	}
	if soa := findSOA(m.Ns); soa != nil && soaCovers(soa, q.Name, zone) {
		return respNegative
	}
	if cut := referralZone(m, q.Name, zone); cut != "" {
		return respReferral
	}
	if m.Authoritative {
		return respNegative // NODATA without SOA: true, but not cacheable
	}
	return respBad
}

// soaCovers says whether soa may prove a negative answer for name from a
// server of zone: the SOA's zone is inside zone and above name.
func soaCovers(soa *dns.SOA, name, zone string) bool {
	return isSubDomain(zone, soa.Hdr.Name) && isSubDomain(soa.Hdr.Name, name)
}

// referralZone returns the child zone m delegates to, if it is a proper
// referral: NS records for a zone strictly below zone and at or above name.
// Anything else (the zone itself, an upward or sideways referral) is lame.
func referralZone(m *dns.Msg, name, zone string) string {
	for _, rr := range m.Ns {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		child := strings.ToLower(ns.Hdr.Name)
		if child != zone && isSubDomain(zone, child) && isSubDomain(child, name) {
			return child
		}
	}
	return ""
}

// referral extracts the delegation from m: the NS set of the child zone and
// the glue the parent may vouch for, that is addresses of NS names inside
// the parent zone (in-bailiwick). Other glue is dropped: the parent has no
// authority over it and it is the classic cache poisoning vector.
func referral(m *dns.Msg, name, zone string) (nsSet, *dns.Msg) {
	child := referralZone(m, name, zone)
	ns := nsSet{zone: child, addrs: map[string][]netip.Addr{}}
	deleg := &dns.Msg{}
	deleg.Question = []dns.Question{{Name: child, Qtype: dns.TypeNS, Qclass: dns.ClassINET}}
	for _, rr := range m.Ns {
		if n, ok := rr.(*dns.NS); ok && strings.EqualFold(n.Hdr.Name, child) {
			target := strings.ToLower(n.Ns)
			ns.names = append(ns.names, target)
			deleg.Ns = append(deleg.Ns, rr)
		}
	}
	for _, rr := range m.Extra {
		h := rr.Header()
		if h.Rrtype != dns.TypeA && h.Rrtype != dns.TypeAAAA {
			continue
		}
		owner := strings.ToLower(h.Name)
		if !isSubDomain(zone, owner) || !slices.Contains(ns.names, owner) {
			continue
		}
		deleg.Extra = append(deleg.Extra, rr)
		ns.addrs[owner] = append(ns.addrs[owner], addrsOf([]dns.RR{rr}, "")...)
	}
	return ns, deleg
}

// nsSetFrom rebuilds a zone cut from its cached delegation message.
func nsSetFrom(zone string, m *dns.Msg) nsSet {
	ns := nsSet{zone: zone, addrs: map[string][]netip.Addr{}}
	for _, rr := range m.Ns {
		if n, ok := rr.(*dns.NS); ok {
			ns.names = append(ns.names, strings.ToLower(n.Ns))
		}
	}
	for _, rr := range m.Extra {
		owner := strings.ToLower(rr.Header().Name)
		ns.addrs[owner] = append(ns.addrs[owner], addrsOf([]dns.RR{rr}, "")...)
	}
	return ns
}

func delegationTTL(m *dns.Msg, maxTTL time.Duration) time.Duration {
	if len(m.Ns) == 0 {
		return 0
	}
	ttl := m.Ns[0].Header().Ttl
	for _, sec := range [][]dns.RR{m.Ns, m.Extra} {
		for _, rr := range sec {
			ttl = min(ttl, rr.Header().Ttl)
		}
	}
	return min(time.Duration(ttl)*time.Second, maxTTL)
}

// scrubAnswer keeps what a server of zone may say about q: the CNAME and
// DNAME chain from q.Name and the data at its end, as far as both stay
// inside zone, and for a negative answer the zone's SOA. CNAMEs covered by
// a DNAME are replaced by the resolver's own synthesis. The rest of the
// response (other names, out-of-zone records, authority NS, additional
// data) is dropped. Records owned by a wildcard match carry the query name
// as owner, so they are kept and cached under it like any other.
func scrubAnswer(resp *dns.Msg, q dns.Question, zone string) *dns.Msg {
	m := &dns.Msg{}
	m.Question = []dns.Question{q}
	m.Rcode = resp.Rcode
	cur := q.Name
	seen := map[string]bool{}
	for !seen[cur] && isSubDomain(zone, cur) {
		seen[cur] = true
		next := ""
		var cname dns.RR
		for _, rr := range resp.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
				m.Answer = append(m.Answer, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && cname == nil {
				cname, next = rr, strings.ToLower(c.Target)
			}
		}
		if hasData(m.Answer, cur, q.Qtype) {
			break
		}
		if d := coveringDNAME(resp.Answer, cur, zone); d != nil {
			c, err := synthesise(d, cur)
			if err != nil {
				break
			}
			m.Answer = append(m.Answer, d, c)
			cname, next = nil, c.Target
		}
		if cname != nil {
			m.Answer = append(m.Answer, cname)
		}
		if next == "" || q.Qtype == dns.TypeCNAME || q.Qtype == dns.TypeANY {
			break
		}
		cur = next
	}
	if !isSubDomain(zone, cur) {
		// The chain left the zone: whatever this server said about the
		// target (even NXDOMAIN) is not its to say. resolve goes on from cur.
		m.Rcode = dns.RcodeSuccess
		return m
	}
	if m.Rcode == dns.RcodeNameError || !hasData(m.Answer, cur, q.Qtype) {
		if soa := findSOA(resp.Ns); soa != nil && soaCovers(soa, cur, zone) {
			m.Ns = []dns.RR{soa}
		}
	}
	return m
}

func hasData(rrs []dns.RR, name string, qtype uint16) bool {
	for _, rr := range rrs {
		h := rr.Header()
		if strings.EqualFold(h.Name, name) && (h.Rrtype == qtype || qtype == dns.TypeANY) {
			return true
		}
	}
	return false
}
