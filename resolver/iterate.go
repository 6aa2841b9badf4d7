package resolver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
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
	respBad      responseKind = iota // lame, upward referral, error rcode, forged chain: ask another server
	respAnswer                       // data, a CNAME, or a DNAME for the name
	respNegative                     // NXDOMAIN or NODATA
	respReferral                     // a delegation to a zone below
)

// resolve answers one client question: the whole chain, and every way of
// giving up turned into a resolver.Error with its Extended DNS Error.
func (r *Resolver) resolve(ctx context.Context, q dns.Question, b budget) (*dns.Msg, error) {
	m, err := r.resolveChain(ctx, q, b)
	if err == nil {
		return m, nil
	}
	if ctx.Err() != nil && !errors.Is(err, errLimit) {
		return nil, limitError(fmt.Sprintf("resolution time limit (%v) reached", r.cfg.ResolveTimeout), err)
	}
	var e *Error
	if errors.As(err, &e) {
		return nil, err
	}
	return nil, &Error{Code: dns.ExtendedErrorCodeOther, Text: "resolution failed", Err: err}
}

// resolveChain answers q, following CNAMEs and DNAMEs across zones. Each
// link is resolved by iterate, which caches it; a chain that spans links is
// cached as a whole under the first name too, so the next client finds it
// in one lookup.
func (r *Resolver) resolveChain(ctx context.Context, q dns.Question, b budget) (*dns.Msg, error) {
	var chain []dns.RR
	secure := true // every link validated Secure
	name := q.Name
	seen := map[string]bool{name: true}
	for link := 0; ; link++ {
		m, err := r.iterate(ctx, dns.Question{Name: name, Qtype: q.Qtype, Qclass: q.Qclass}, b)
		if err != nil {
			return nil, err
		}
		chain = append(chain, m.Answer...)
		secure = secure && m.AuthenticatedData
		if n := countLinks(chain); n > r.cfg.MaxCNAMEChain {
			return nil, limitError(fmt.Sprintf("CNAME chain limit (%d) reached", r.cfg.MaxCNAMEChain),
				fmt.Errorf("resolve %s: %d links: %w", q.Name, n, errLimit))
		}
		target, done := chainEnd(m, name, q.Qtype)
		if !done {
			if seen[target] {
				return nil, limitError("CNAME loop", fmt.Errorf("resolve %s: CNAME loop at %s: %w", q.Name, target, errLimit))
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
		out.AuthenticatedData = secure
		if link > 0 {
			r.cache.set(answerKey(q), out, ttlFor(out, r.cfg.MaxTTL, r.cfg.MaxNegativeTTL))
		}
		return out, nil
	}
}

// countLinks counts the CNAMEs in a chain; each DNAME step brings its
// synthesised CNAME, so DNAMEs count once.
func countLinks(rrs []dns.RR) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeCNAME {
			n++
		}
	}
	return n
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
	for range len(m.Answer) + 1 {
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
// from the closest known zone cut, with QNAME minimisation unless disabled.
// It does not follow a CNAME or DNAME out of the zone that answered;
// resolveChain does.
func (r *Resolver) iterate(ctx context.Context, q dns.Question, b budget) (*dns.Msg, error) {
	if m, ok := r.cache.get(answerKey(q)); ok && r.validated(m, b) {
		return m, nil
	}
	if m, ok := r.synthesise(q, b); ok {
		r.cache.set(answerKey(q), m, ttlFor(m, r.cfg.MaxTTL, r.cfg.MaxNegativeTTL))
		return m, nil
	}
	ns := r.closestCut(q)
	mz := minimiser{off: r.cfg.DisableQNAMEMinimisation}
	for referrals := 0; ; {
		mq, minimised := mz.next(q, ns.zone)
		if minimised {
			if m, ok := r.cache.get(answerKey(mq)); ok {
				mz.learn(m)
				continue
			}
		}
		resp, kind, err := r.ask(ctx, ns, mq, b, minimised)
		if err != nil {
			if minimised && !errors.Is(err, errLimit) && ctx.Err() == nil {
				// Relaxed mode (RFC 9156 section 3, as Unbound): a server
				// that fails on the minimised name may still answer the
				// full one.
				mz.off = true
				continue
			}
			return nil, fmt.Errorf("resolve %s %s in %s: %w", q.Name, dns.TypeToString[q.Qtype], ns.zone, err)
		}
		switch kind {
		case respAnswer, respNegative:
			m := scrubAnswer(resp, mq, ns.zone)
			if r.val != nil {
				if m, err = r.validateLink(ctx, resp, m, mq, ns.zone, minimised, b); err != nil {
					return nil, err
				}
			}
			r.cache.set(answerKey(mq), m, ttlFor(m, r.cfg.MaxTTL, r.cfg.MaxNegativeTTL))
			if minimised {
				mz.learn(m)
				continue
			}
			return m, nil
		case respReferral:
			referrals++
			if referrals > r.cfg.MaxReferrals {
				return nil, limitError(fmt.Sprintf("referral limit (%d) reached", r.cfg.MaxReferrals),
					fmt.Errorf("resolve %s: %w", q.Name, errLimit))
			}
			next, deleg := referral(resp, mq.Name, ns.zone)
			r.cache.set(delegationKey(next.zone), deleg, delegationTTL(deleg, r.cfg.MaxTTL))
			if !minimised && q.Qtype == dns.TypeDS && next.zone == q.Name {
				// The parent is authoritative for DS and delegated instead
				// of answering: an unsigned parent, so there is no DS. The
				// child would answer NODATA from the wrong side of the cut.
				return &dns.Msg{Question: []dns.Question{q}}, nil
			}
			r.fillAddrs(&next)
			ns = next
			mz.cut()
		}
	}
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
		cut, ok := r.cache.delegation(z)
		if !ok {
			continue
		}
		ns := *cut
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
// so a glueless server resolved once is not resolved again. The address
// map may be shared with the cache (cache.delegation), so it is copied
// before the first change.
func (r *Resolver) fillAddrs(ns *nsSet) {
	copied := false
	for _, n := range ns.names {
		if len(ns.addrs[n]) > 0 {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			m, ok := r.cache.get(answerKey(dns.Question{Name: n, Qtype: t, Qclass: dns.ClassINET}))
			if !ok {
				continue
			}
			a := addrsOf(m.Answer, n)
			if len(a) == 0 {
				continue
			}
			if !copied {
				old := ns.addrs
				ns.addrs, copied = make(map[string][]netip.Addr, len(old)+1), true
				maps.Copy(ns.addrs, old)
			}
			ns.addrs[n] = append(ns.addrs[n], a...)
		}
	}
}

// ask sends q to the servers of ns: first every address already known,
// best first, then the glueless names, resolved one by one, at most
// MaxGluelessPerDelegation of them (NXNSAttack: a delegation to many
// glueless names must not fan out into many lookups). Giving up returns a
// resolver.Error: EDE 22 (No Reachable Authority), or 0 for a limit.
//
// A server that fails a minimised question is not marked lame: some refuse
// or fail names that are not cuts and still answer the full question.
func (r *Resolver) ask(ctx context.Context, ns nsSet, q dns.Question, b budget, minimised bool) (*dns.Msg, responseKind, error) {
	var kind responseKind
	judge := func(m *dns.Msg) verdict {
		kind = classify(m, q, ns.zone)
		switch {
		case kind != respBad:
			return verdictAccept
		case !minimised && isLame(m):
			return verdictLame
		}
		return verdictRetry
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
	var errs []error
	fatal := func(err error) bool { return errors.Is(err, errLimit) || ctx.Err() != nil }
	if len(known) > 0 {
		resp, err := r.up.query(ctx, ns.zone, known, q, b, judge)
		if err == nil {
			return resp, kind, nil
		}
		if fatal(err) {
			return nil, respBad, err
		}
		errs = append(errs, err)
	}
	looked := 0
	gluelessLimit := false
	for _, n := range glueless {
		if isSubDomain(ns.zone, n) {
			// In-zone name server without glue: resolving it would need
			// this very zone. A broken delegation; skip it.
			errs = append(errs, fmt.Errorf("name server %s has no glue", n))
			continue
		}
		if looked >= r.cfg.MaxGluelessPerDelegation {
			gluelessLimit = true
			break
		}
		if b.depth >= maxGluelessDepth {
			errs = append(errs, fmt.Errorf("name server %s: glueless lookups nested deeper than %d", n, maxGluelessDepth))
			break
		}
		looked++
		addrs, err := r.lookupAddrs(ctx, n, b.deeper())
		if err != nil {
			if fatal(err) {
				return nil, respBad, err
			}
			errs = append(errs, err)
			continue
		}
		resp, err := r.up.query(ctx, ns.zone, addrs, q, b, judge)
		if err == nil {
			return resp, kind, nil
		}
		if fatal(err) {
			return nil, respBad, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no name servers"))
	}
	cause := fmt.Errorf("no server answered: %w", errors.Join(errs...))
	if gluelessLimit {
		return nil, respBad, limitError(fmt.Sprintf("glueless name server limit (%d) reached for %s", r.cfg.MaxGluelessPerDelegation, ns.zone), cause)
	}
	text := "no reachable authority for " + ns.zone
	var qe *queryError
	if errors.As(cause, &qe) && qe.answered {
		text = "no usable answer from the servers of " + ns.zone + " (lame or failing)"
	}
	return nil, respBad, &Error{Code: dns.ExtendedErrorCodeNoReachableAuthority, Text: text, Err: cause}
}

// isLame says whether a response shows its server does not serve the zone
// it was asked about: REFUSED or NOTAUTH, or a NOERROR that is neither
// authoritative nor a referral down (classify has already rejected it), as
// an upward referral is. SERVFAIL is not lameness: it may pass.
func isLame(m *dns.Msg) bool {
	switch m.Rcode {
	case dns.RcodeRefused, dns.RcodeNotAuth:
		return true
	case dns.RcodeSuccess, dns.RcodeNameError:
		return !m.Authoritative
	}
	return false
}

// lookupAddrs resolves a glueless name server: A first, AAAA only if there
// is no A (only the family in use if one is disabled). It bypasses
// coalescing on purpose: two glueless zones whose servers live in each
// other would otherwise wait on each other's flight.
func (r *Resolver) lookupAddrs(ctx context.Context, name string, b budget) ([]netip.Addr, error) {
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	switch {
	case r.cfg.DisableIPv4Upstream:
		types = []uint16{dns.TypeAAAA}
	case r.cfg.DisableIPv6Upstream:
		types = []uint16{dns.TypeA}
	}
	var errs []error
	for _, t := range types {
		m, err := r.resolveChain(ctx, dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET}, b)
		if err != nil {
			if errors.Is(err, errLimit) || ctx.Err() != nil {
				return nil, err
			}
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
