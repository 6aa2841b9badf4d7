package resolver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

const (
	maxCNAMEChain = 12 // links followed across responses for one question
	maxReferrals  = 16 // zone cuts walked down for one name
)

// nsSet is a zone cut: the zone's name servers and the addresses known for
// them (glue, or addresses resolved and cached earlier).
type nsSet struct {
	zone  string
	names []string
	addrs map[string][]netip.Addr // by NS name; missing means glueless
}

// responseKind is what a response from a zone's server means for a question.
type responseKind int

const (
	respBad      responseKind = iota // lame, upward referral, error rcode: ask another server
	respAnswer                       // data or a CNAME for the name
	respNegative                     // NXDOMAIN or NODATA
	respReferral                     // a delegation to a zone below
)

// resolve answers q, following CNAMEs across zones. Each link is resolved by
// iterate, which caches it; a chain that spans links is cached as a whole
// under the first name too, so the next client finds it in one lookup.
func (r *Resolver) resolve(ctx context.Context, q dns.Question, b budget) (*dns.Msg, error) {
	var chain []dns.RR
	name := q.Name
	seen := map[string]bool{name: true}
	for link := 0; link <= maxCNAMEChain; link++ {
		m, err := r.iterate(ctx, dns.Question{Name: name, Qtype: q.Qtype, Qclass: q.Qclass}, b)
		if err != nil {
			return nil, err
		}
		chain = append(chain, m.Answer...)
		target, done := chainEnd(m, name, q.Qtype)
		if !done {
			if seen[target] {
				return nil, fmt.Errorf("resolve %s: CNAME loop at %s", q.Name, target)
			}
			seen[target] = true
			name = target
			continue
		}
		out := &dns.Msg{}
		out.Rcode = m.Rcode
		out.Question = []dns.Question{q}
		out.Answer = chain
		out.Ns = m.Ns
		if link > 0 {
			r.cache.set(answerKey(q), out, ttlFor(out, r.cfg.MaxTTL, r.cfg.MaxNegativeTTL))
		}
		return out, nil
	}
	return nil, fmt.Errorf("resolve %s: CNAME chain longer than %d", q.Name, maxCNAMEChain)
}

// chainEnd walks the CNAMEs of m from name. done is false when the chain
// leaves m at target with nothing said about target, so the caller must
// resolve target itself.
func chainEnd(m *dns.Msg, name string, qtype uint16) (target string, done bool) {
	if qtype == dns.TypeCNAME || qtype == dns.TypeANY {
		return name, true
	}
	if m.Rcode != dns.RcodeSuccess || findSOA(m.Ns) != nil {
		return name, true // negative answers are final wherever the chain got
	}
	cur := name
	for range maxCNAMEChain + 1 {
		next := ""
		for _, rr := range m.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == qtype {
				return cur, true
			}
			if c, ok := rr.(*dns.CNAME); ok {
				next = strings.ToLower(c.Target)
			}
		}
		if next == "" {
			// No data and no CNAME: a NODATA the server could not prove
			// with an SOA. Nothing more to follow.
			return cur, cur == name
		}
		cur = next
	}
	return cur, true
}

// iterate answers q for exactly its name, from the cache or by walking down
// from the closest known zone cut. It does not follow a CNAME out of the
// zone that answered; resolve does.
func (r *Resolver) iterate(ctx context.Context, q dns.Question, b budget) (*dns.Msg, error) {
	if m, ok := r.cache.get(answerKey(q)); ok {
		return m, nil
	}
	ns := r.closestCut(q)
	for range maxReferrals {
		resp, kind, err := r.ask(ctx, ns, q, b)
		if err != nil {
			return nil, fmt.Errorf("resolve %s %s in %s: %w", q.Name, dns.TypeToString[q.Qtype], ns.zone, err)
		}
		switch kind {
		case respAnswer, respNegative:
			m := scrubAnswer(resp, q, ns.zone)
			r.cache.set(answerKey(q), m, ttlFor(m, r.cfg.MaxTTL, r.cfg.MaxNegativeTTL))
			return m, nil
		case respReferral:
			next, deleg := referral(resp, q.Name, ns.zone)
			if q.Qtype == dns.TypeDS && next.zone == q.Name {
				// The parent is authoritative for DS and delegated instead
				// of answering: an unsigned parent, so there is no DS. The
				// child would answer NODATA from the wrong side of the cut.
				r.cache.set(delegationKey(next.zone), deleg, delegationTTL(deleg, r.cfg.MaxTTL))
				return &dns.Msg{Question: []dns.Question{q}}, nil
			}
			r.cache.set(delegationKey(next.zone), deleg, delegationTTL(deleg, r.cfg.MaxTTL))
			r.fillAddrs(&next)
			ns = next
		}
	}
	return nil, fmt.Errorf("resolve %s: more than %d referrals", q.Name, maxReferrals)
}

// closestCut returns the deepest cached delegation above q.Name, or the
// root from the hints. DS lives in the parent, so for DS the search starts
// one label up.
func (r *Resolver) closestCut(q dns.Question) nsSet {
	name := q.Name
	if q.Qtype == dns.TypeDS && name != "." {
		name = parentName(name)
	}
	for z := name; z != "."; z = parentName(z) {
		m, ok := r.cache.get(delegationKey(z))
		if !ok {
			continue
		}
		ns := nsSetFrom(z, m)
		r.fillAddrs(&ns)
		return ns
	}
	return nsSet{zone: ".", names: []string{"."}, addrs: map[string][]netip.Addr{".": r.cfg.RootHints}}
}

// parentName returns name without its first label; always shorter, so
// loops that walk up the tree end even on odd escapes.
func parentName(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end || i <= 0 || i >= len(name) {
		return "."
	}
	return name[i:]
}

// fillAddrs adds addresses from the answer cache for NS names without glue,
// so a glueless server resolved once is not resolved again.
func (r *Resolver) fillAddrs(ns *nsSet) {
	for _, n := range ns.names {
		if len(ns.addrs[n]) > 0 {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if m, ok := r.cache.get(answerKey(dns.Question{Name: n, Qtype: t, Qclass: dns.ClassINET})); ok {
				ns.addrs[n] = append(ns.addrs[n], addrsOf(m.Answer, n)...)
			}
		}
	}
}

// ask sends q to the servers of ns: first every address already known, in
// random order, then, one by one, the glueless names once resolved.
func (r *Resolver) ask(ctx context.Context, ns nsSet, q dns.Question, b budget) (*dns.Msg, responseKind, error) {
	var kind responseKind
	accept := func(m *dns.Msg) bool {
		kind = classify(m, q, ns.zone)
		return kind != respBad
	}
	var known []netip.Addr
	var glueless []string
	for _, n := range ns.names {
		if a := ns.addrs[n]; len(a) > 0 {
			known = append(known, a...)
		} else {
			glueless = append(glueless, n)
		}
	}
	rand.Shuffle(len(known), func(i, j int) { known[i], known[j] = known[j], known[i] })
	var errs []error
	if len(known) > 0 {
		resp, err := r.up.query(ctx, known, q, b, accept)
		if err == nil {
			return resp, kind, nil
		}
		if errors.Is(err, errBudget) || ctx.Err() != nil {
			return nil, respBad, err
		}
		errs = append(errs, err)
	}
	for _, n := range glueless {
		if dns.IsSubDomain(ns.zone, n) {
			// In-zone name server without glue: resolving it would need
			// this very zone. A broken delegation; skip it.
			errs = append(errs, fmt.Errorf("name server %s has no glue", n))
			continue
		}
		if b.depth >= maxGluelessDepth {
			errs = append(errs, fmt.Errorf("name server %s: glueless lookups nested deeper than %d", n, maxGluelessDepth))
			break
		}
		addrs, err := r.lookupAddrs(ctx, n, b.deeper())
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, errBudget) || ctx.Err() != nil {
				break
			}
			continue
		}
		resp, err := r.up.query(ctx, addrs, q, b, accept)
		if err == nil {
			return resp, kind, nil
		}
		errs = append(errs, err)
		if errors.Is(err, errBudget) || ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no name servers"))
	}
	return nil, respBad, fmt.Errorf("no server answered: %w", errors.Join(errs...))
}

// lookupAddrs resolves a glueless name server: A first, AAAA only if there
// is no A. It bypasses coalescing on purpose: two glueless zones whose
// servers live in each other would otherwise wait on each other's flight.
func (r *Resolver) lookupAddrs(ctx context.Context, name string, b budget) ([]netip.Addr, error) {
	var errs []error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m, err := r.resolve(ctx, dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET}, b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a := addrsOf(m.Answer, ""); len(a) > 0 {
			return a, nil
		}
	}
	errs = append(errs, fmt.Errorf("no address for name server %s", name))
	return nil, errors.Join(errs...)
}

// addrsOf returns the addresses in A and AAAA records, of owner if given.
func addrsOf(rrs []dns.RR, owner string) []netip.Addr {
	var out []netip.Addr
	for _, rr := range rrs {
		if owner != "" && !strings.EqualFold(rr.Header().Name, owner) {
			continue
		}
		switch rr := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				out = append(out, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA.To16()); ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// classify says what a response from a server of zone means for q.
func classify(m *dns.Msg, q dns.Question, zone string) responseKind {
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return respBad
	}
	for _, rr := range m.Answer {
		h := rr.Header()
		if strings.EqualFold(h.Name, q.Name) && dns.IsSubDomain(zone, h.Name) &&
			(h.Rrtype == q.Qtype || h.Rrtype == dns.TypeCNAME || q.Qtype == dns.TypeANY) {
			return respAnswer
		}
	}
	if m.Rcode == dns.RcodeNameError {
		return respNegative
	}
	if soa := findSOA(m.Ns); soa != nil && dns.IsSubDomain(zone, soa.Hdr.Name) {
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
		if child != zone && dns.IsSubDomain(zone, child) && dns.IsSubDomain(child, name) {
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
		if !dns.IsSubDomain(zone, owner) || !contains(ns.names, owner) {
			continue
		}
		deleg.Extra = append(deleg.Extra, rr)
		ns.addrs[owner] = append(ns.addrs[owner], addrsOf([]dns.RR{rr}, "")...)
	}
	return ns, deleg
}

func contains(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
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

// scrubAnswer keeps what a server of zone may say about q: the CNAME chain
// from q.Name and the data at its end, as far as both stay inside zone, and
// for a negative answer the zone's SOA. The rest of the response (other
// names, out-of-zone records, additional data) is dropped.
func scrubAnswer(resp *dns.Msg, q dns.Question, zone string) *dns.Msg {
	m := &dns.Msg{}
	m.Question = []dns.Question{q}
	m.Rcode = resp.Rcode
	cur := q.Name
	seen := map[string]bool{}
	for !seen[cur] && dns.IsSubDomain(zone, cur) {
		seen[cur] = true
		next := ""
		for _, rr := range resp.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
				m.Answer = append(m.Answer, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && next == "" {
				m.Answer = append(m.Answer, rr)
				next = strings.ToLower(c.Target)
			}
		}
		if next == "" || q.Qtype == dns.TypeCNAME || q.Qtype == dns.TypeANY {
			break
		}
		cur = next
	}
	if !dns.IsSubDomain(zone, cur) {
		// The chain left the zone: whatever this server said about the
		// target (even NXDOMAIN) is not its to say. resolve goes on from cur.
		m.Rcode = dns.RcodeSuccess
		return m
	}
	if m.Rcode == dns.RcodeNameError || !hasData(m.Answer, cur, q.Qtype) {
		if soa := findSOA(resp.Ns); soa != nil && dns.IsSubDomain(zone, soa.Hdr.Name) {
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
