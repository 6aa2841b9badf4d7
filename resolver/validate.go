package resolver

// DNSSEC validation (issue 4): the glue between the iterator and the
// validation core in resolver/dnssec. The iterator asks with DO=1 and
// keeps the RRSIGs and NSEC/NSEC3 records of what it caches; every link of
// an answer (not the minimised steps) is validated before it is cached, by
// walking the chain of trust up from the signer zone: DNSKEY validated
// against the DS from the parent (or the anchor), the DS against the
// parent's keys, and so on. The conclusion per zone is cached in keyCache.
//
// The status of a cached answer travels in its header bits, which the
// cache keeps in wire form anyway: AD means Secure, CD means "not
// validated" (minimised steps and the DNSKEY/DS fetches of the chain walk,
// which clients must never be served from). Bogus data is never cached.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycastd/anycastd/resolver/dnssec"
)

// validation is the resolver's DNSSEC state; nil when validation is off.
type validation struct {
	v       *dnssec.Validator
	keys    *keyCache
	denials *denialStore

	verifications prometheus.Counter
	results       *prometheus.CounterVec // result
	bogus         *prometheus.CounterVec // ede
	synthesised   prometheus.Counter
}

// edeLabels bounds the ede label of anycastd_dnssec_bogus_total.
var edeLabels = []string{"0", "1", "2", "6", "7", "8", "9", "10", "12", "27", "other"}

func newValidation(v *dnssec.Validator, reg prometheus.Registerer) (*validation, error) {
	if v == nil {
		return nil, nil
	}
	val := &validation{
		v:       v,
		keys:    newKeyCache(),
		denials: newDenialStore(),
		verifications: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anycastd_dnssec_verifications_total",
			Help: "DNSSEC signature verifications run (each one costs a public-key operation).",
		}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anycastd_dnssec_validations_total",
			Help: "Answers validated from the authorities (not cache hits), by result: secure, insecure, bogus.",
		}, []string{"result"}),
		bogus: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anycastd_dnssec_bogus_total",
			Help: "Bogus answers by Extended DNS Error code (7 signature expired, 8 not yet valid: watch these for clock trouble).",
		}, []string{"ede"}),
		synthesised: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anycastd_dnssec_synthesised_total",
			Help: "Negative answers synthesised from cached validated NSEC/NSEC3 records (RFC 8198), without asking upstream.",
		}),
	}
	for _, r := range []string{"secure", "insecure", "bogus"} {
		val.results.WithLabelValues(r)
	}
	for _, l := range edeLabels {
		val.bogus.WithLabelValues(l)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{val.verifications, val.results, val.bogus, val.synthesised} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register dnssec metrics: %w", err)
			}
		}
	}
	return val, nil
}

// bogusError is a validation failure. It carries the unvalidated data so a
// client that set CD still gets it (RFC 4035 section 3.2.2); everyone else
// gets SERVFAIL with the EDE of err.
type bogusError struct {
	msg *dns.Msg
	err *Error
}

func (e *bogusError) Error() string { return e.err.Error() }
func (e *bogusError) Unwrap() error { return e.err }

// asError turns a validation failure into the resolver's Error.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if code, text, ok := dnssec.EDE(err); ok {
		return &Error{Code: code, Text: text, Err: err}
	}
	return &Error{Code: dns.ExtendedErrorCodeDNSBogus, Text: "dnssec validation failed", Err: err}
}

func (r *Resolver) countBogus(err error) {
	code := "other"
	if e := asError(err); e != nil {
		code = strconv.Itoa(int(e.Code))
	}
	found := false
	for _, l := range edeLabels {
		found = found || l == code
	}
	if !found {
		code = "other"
	}
	r.val.bogus.WithLabelValues(code).Inc()
	r.counters.bogusAnswer(code)
}

// setDO asks for DNSSEC records (RFC 3225) when the query's budget says
// the resolver validates.
func setDO(m *dns.Msg, b budget) {
	if b.val == nil {
		return
	}
	if o := m.IsEdns0(); o != nil {
		o.SetDo()
	}
}

// validated reports whether a cached message may be used on a path that
// needs validated data: always when validation is off, else unless it is
// marked as not validated.
func (r *Resolver) validated(m *dns.Msg, b budget) bool {
	return r.val == nil || b.raw || !m.CheckingDisabled
}

// keepDNSSEC adds to m, the scrubbed answer to q from a server of zone,
// the DNSSEC records of resp that go with it: the RRSIGs of the RRsets kept,
// and the NSEC/NSEC3 records in zone with their RRSIGs and the SOA's RRSIG
// (denials and wildcard proofs).
func keepDNSSEC(resp, m *dns.Msg, zone string) {
	type set struct {
		name string
		t    uint16
	}
	kept := map[set]bool{}
	for _, rr := range m.Answer {
		kept[set{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}] = true
	}
	for _, rr := range resp.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok && kept[set{strings.ToLower(sig.Hdr.Name), sig.TypeCovered}] {
			m.Answer = append(m.Answer, rr)
		}
	}
	hasSOA := findSOA(m.Ns) != nil
	for _, rr := range resp.Ns {
		h := rr.Header()
		if !isSubDomain(zone, h.Name) {
			continue
		}
		switch rr := rr.(type) {
		case *dns.NSEC, *dns.NSEC3:
			m.Ns = append(m.Ns, rr)
		case *dns.RRSIG:
			if rr.TypeCovered == dns.TypeNSEC || rr.TypeCovered == dns.TypeNSEC3 || (hasSOA && rr.TypeCovered == dns.TypeSOA) {
				m.Ns = append(m.Ns, rr)
			}
		}
	}
}

// validateLink validates m, one link of an answer: the scrubbed reply to q
// from a server of zone. On success m comes back marked (AD for Secure)
// with its TTLs capped by the signatures; Bogus is a *bogusError.
func (r *Resolver) validateLink(ctx context.Context, resp, m *dns.Msg, q dns.Question, zone string, minimised bool, b budget) (*dns.Msg, error) {
	keepDNSSEC(resp, m, zone)
	if minimised || b.raw {
		m.CheckingDisabled = true // cached, but never served to a client as is
		return m, nil
	}
	st, signer, err := r.validateMsg(ctx, m, q, zone, b)
	switch st {
	case dnssec.Secure:
		r.val.results.WithLabelValues("secure").Inc()
		m.AuthenticatedData = true
		if findSOA(m.Ns) != nil {
			r.val.denials.add(signer, m.Ns, r.now())
		}
	case dnssec.Bogus:
		r.val.results.WithLabelValues("bogus").Inc()
		r.countBogus(err)
		return nil, &bogusError{msg: m, err: asError(err)}
	default:
		r.val.results.WithLabelValues("insecure").Inc()
	}
	return m, nil
}

// rrset is one RRset of a message with the RRSIGs that cover it.
type rrset struct {
	rrs  []dns.RR
	sigs []*dns.RRSIG
}

// rrsets groups rrs (RRSIGs apart) into RRsets, in order of appearance.
func rrsets(rrs []dns.RR) []*rrset {
	type key struct {
		name string
		t    uint16
	}
	var out []*rrset
	idx := map[key]*rrset{}
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			continue
		}
		k := key{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		s := idx[k]
		if s == nil {
			s = &rrset{}
			idx[k] = s
			out = append(out, s)
		}
		s.rrs = append(s.rrs, rr)
	}
	for _, rr := range rrs {
		if sig, ok := rr.(*dns.RRSIG); ok {
			if s := idx[key{strings.ToLower(sig.Hdr.Name), sig.TypeCovered}]; s != nil {
				s.sigs = append(s.sigs, sig)
			}
		}
	}
	return out
}

// signerOf returns the zone whose keys must sign s: the signer its RRSIGs
// name, else fallback.
func (s *rrset) signerOf(fallback string) string {
	if len(s.sigs) > 0 {
		return dns.CanonicalName(s.sigs[0].SignerName)
	}
	return fallback
}

// combine keeps the weaker of two statuses: Secure only if both are.
func combine(st dnssec.Status, err error, st2 dnssec.Status, err2 error) (dnssec.Status, error) {
	if st2 == dnssec.Insecure && st == dnssec.Secure {
		return st2, err2
	}
	return st, err
}

// validateMsg validates every RRset and proof of m, the answer to q from
// a server of zone. It returns the status, the signer zone of the denial
// (for the aggressive cache), and for Bogus the reason.
func (r *Resolver) validateMsg(ctx context.Context, m *dns.Msg, q dns.Question, zone string, b budget) (dnssec.Status, string, error) {
	now := r.now()
	status, var0 := dnssec.Secure, error(nil)
	var wild []*dns.RRSIG
	for _, s := range rrsets(m.Answer) {
		owner := strings.ToLower(s.rrs[0].Header().Name)
		if s.rrs[0].Header().Rrtype == dns.TypeCNAME && len(s.sigs) == 0 && coveringDNAME(m.Answer, owner, zone) != nil {
			continue // synthesised from a DNAME: the DNAME's signature is what counts
		}
		signer := s.signerOf(zone)
		if !isSubDomain(zone, signer) || !isSubDomain(signer, owner) {
			return dnssec.Bogus, "", &Error{Code: dns.ExtendedErrorCodeDNSBogus, Text: fmt.Sprintf("%s signed by %s, outside zone %s", owner, signer, zone)}
		}
		zk, err := r.keysFor(ctx, signer, b)
		if err != nil {
			return dnssec.Bogus, "", err
		}
		switch zk.status {
		case dnssec.Bogus:
			return dnssec.Bogus, "", zk.err
		case dnssec.Insecure, dnssec.Indeterminate:
			status, var0 = combine(status, var0, dnssec.Insecure, zk.err)
			continue
		}
		res, err := r.verifyRRset(s.rrs, s.sigs, zk.keys, now, b)
		switch res.Status {
		case dnssec.Bogus:
			return dnssec.Bogus, "", err
		case dnssec.Secure:
			capTTLs(s, res, now)
			if res.Wildcard() {
				wild = append(wild, res.Sig)
			}
		default:
			status, var0 = combine(status, var0, dnssec.Insecure, err)
		}
	}
	negative := m.Rcode == dns.RcodeNameError || findSOA(m.Ns) != nil
	if !negative && len(wild) == 0 {
		if len(m.Answer) == 0 && m.Rcode == dns.RcodeSuccess {
			// NODATA without SOA or proof: fine from an unsigned zone.
			st, _, err := r.denialKeys(ctx, m, zone, b)
			if st == dnssec.Secure {
				return dnssec.Bogus, "", &Error{Code: dns.ExtendedErrorCodeNSECMissing, Text: "NODATA without proof from signed zone " + zone}
			}
			return st, "", err
		}
		return status, "", var0
	}
	st, dz, err := r.denialKeys(ctx, m, zone, b)
	switch st {
	case dnssec.Bogus:
		return st, "", err
	case dnssec.Insecure, dnssec.Indeterminate:
		status, var0 = combine(status, var0, dnssec.Insecure, err)
		return status, "", var0
	}
	proof, err := r.verifyDenial(m.Ns, dz.keys, now, b)
	if err != nil {
		return dnssec.Bogus, "", err
	}
	signer := denialSigner(m, zone)
	for _, sig := range wild {
		res, err := r.val.v.ProveWildcard(strings.ToLower(sig.Hdr.Name), sig, signer, proof, b.val)
		switch res.Status {
		case dnssec.Bogus:
			return dnssec.Bogus, "", err
		case dnssec.Insecure:
			status, var0 = combine(status, var0, dnssec.Insecure, err)
		}
	}
	if negative {
		name, _ := chainEnd(m, q.Name, q.Qtype)
		var res dnssec.Result
		if m.Rcode == dns.RcodeNameError {
			res, err = r.val.v.ProveNXDOMAIN(name, signer, proof, b.val)
		} else {
			res, err = r.val.v.ProveNODATA(name, q.Qtype, signer, proof, b.val)
		}
		switch res.Status {
		case dnssec.Bogus:
			return dnssec.Bogus, "", err
		case dnssec.Insecure, dnssec.Indeterminate:
			status, var0 = combine(status, var0, dnssec.Insecure, err)
		}
	}
	return status, signer, var0
}

// denialSigner is the zone of the negative part of m: the signer of its
// NSEC/NSEC3 or SOA signatures, else the SOA's owner, else zone.
func denialSigner(m *dns.Msg, zone string) string {
	for _, rr := range m.Ns {
		if sig, ok := rr.(*dns.RRSIG); ok {
			return dns.CanonicalName(sig.SignerName)
		}
	}
	if soa := findSOA(m.Ns); soa != nil {
		return dns.CanonicalName(soa.Hdr.Name)
	}
	return zone
}

// denialKeys returns the keys of the zone that must sign the negative part
// of m.
func (r *Resolver) denialKeys(ctx context.Context, m *dns.Msg, zone string, b budget) (dnssec.Status, zoneKeys, error) {
	signer := denialSigner(m, zone)
	if !isSubDomain(zone, signer) {
		return dnssec.Bogus, zoneKeys{}, &Error{Code: dns.ExtendedErrorCodeDNSBogus, Text: fmt.Sprintf("denial signed by %s, outside zone %s", signer, zone)}
	}
	zk, err := r.keysFor(ctx, signer, b)
	if err != nil {
		return dnssec.Bogus, zk, err
	}
	return zk.status, zk, zk.err
}

// verifyDenial verifies the SOA, NSEC and NSEC3 RRsets of ns with keys and
// returns the NSEC/NSEC3 records, ready for the Prove functions.
func (r *Resolver) verifyDenial(ns []dns.RR, keys []*dns.DNSKEY, now time.Time, b budget) ([]dns.RR, error) {
	var proof []dns.RR
	for _, s := range rrsets(ns) {
		t := s.rrs[0].Header().Rrtype
		if t != dns.TypeSOA && t != dns.TypeNSEC && t != dns.TypeNSEC3 {
			continue
		}
		res, err := r.verifyRRset(s.rrs, s.sigs, keys, now, b)
		if res.Status != dnssec.Secure {
			if res.Status == dnssec.Insecure {
				continue // a record we cannot check proves nothing
			}
			return nil, err
		}
		capTTLs(s, res, now)
		if t != dns.TypeSOA {
			proof = append(proof, s.rrs...)
		}
	}
	return proof, nil
}

// capTTLs lowers the TTLs of a validated RRset and its signatures to the
// signature's original TTL and to its expiry (RFC 4035 section 5.3.3), so
// the cache never serves it as Secure after either.
func capTTLs(s *rrset, res dnssec.Result, now time.Time) {
	limit := uint32(1<<31 - 1)
	if res.Sig != nil {
		limit = res.Sig.OrigTtl
	}
	if !res.Until.IsZero() {
		left := res.Until.Sub(now) / time.Second
		limit = min(limit, uint32(max(left, 0)))
	}
	for _, rr := range s.rrs {
		rr.Header().Ttl = min(rr.Header().Ttl, limit)
	}
	for _, sig := range s.sigs {
		sig.Hdr.Ttl = min(sig.Hdr.Ttl, limit)
	}
}

func (r *Resolver) verifyRRset(rrs []dns.RR, sigs []*dns.RRSIG, keys []*dns.DNSKEY, now time.Time, b budget) (dnssec.Result, error) {
	before := b.val.Verifications()
	defer func() { r.val.verifications.Add(float64(b.val.Verifications() - before)) }()
	return r.val.v.VerifyRRset(rrs, sigs, keys, now, b.val)
}

func (r *Resolver) verifyDNSKEYs(rrs []dns.RR, sigs []*dns.RRSIG, ds []*dns.DS, now time.Time, b budget) ([]*dns.DNSKEY, dnssec.Result, error) {
	before := b.val.Verifications()
	defer func() { r.val.verifications.Add(float64(b.val.Verifications() - before)) }()
	return r.val.v.VerifyDNSKEYs(rrs, sigs, ds, now, b.val)
}

// fetch asks for name and qtype without validating the answer: the chain
// walk validates DNSKEY and DS itself.
func (r *Resolver) fetch(ctx context.Context, name string, qtype uint16, b budget) (*dns.Msg, error) {
	b.raw = true
	return r.iterate(ctx, dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}, b)
}

// keysFor walks the chain of trust down to zone and returns its validated
// DNSKEYs, or why there are none (Insecure: provably unsigned; Bogus:
// should be signed and is not). An error is a failure to fetch.
func (r *Resolver) keysFor(ctx context.Context, zone string, b budget) (zoneKeys, error) {
	zone = dns.CanonicalName(zone)
	now := r.now()
	if zk, ok := r.val.keys.get(zone, now); ok {
		return zk, nil
	}
	zk, err := r.walkKeys(ctx, zone, b, now)
	if err != nil {
		return zk, err
	}
	if zk.status == dnssec.Bogus {
		if errors.Is(zk.err, dnssec.ErrBudgetExhausted) {
			return zk, nil // this query's budget, not a property of the zone
		}
		zk.expires = now.Add(bogusKeyTTL)
	}
	r.val.keys.set(zone, zk)
	return zk, nil
}

func (r *Resolver) walkKeys(ctx context.Context, zone string, b budget, now time.Time) (zoneKeys, error) {
	insecureFor := func(d time.Duration, err error) (zoneKeys, error) {
		return zoneKeys{status: dnssec.Insecure, err: err, expires: now.Add(d)}, nil
	}
	bogus := func(err error) (zoneKeys, error) {
		return zoneKeys{status: dnssec.Bogus, err: err}, nil
	}
	az, anchorDS, st := r.val.v.Anchor(zone)
	if st != dnssec.Secure {
		return insecureFor(r.cfg.MaxTTL, nil) // negative trust anchor, or no anchor above
	}
	ds := anchorDS
	expires := now.Add(r.cfg.MaxTTL)
	if zone != az {
		parent, dsRes, err := r.dsFor(ctx, zone, b, now)
		if err != nil || parent.status != dnssec.Secure {
			return parent, err
		}
		ds = dsRes.ds
		expires = dsRes.expires
	}
	m, err := r.fetch(ctx, zone, dns.TypeDNSKEY, b)
	if err != nil {
		return zoneKeys{}, err
	}
	var keys []dns.RR
	var sigs []*dns.RRSIG
	ttl := uint32(r.cfg.MaxTTL / time.Second)
	for _, rr := range m.Answer {
		if !strings.EqualFold(rr.Header().Name, zone) {
			continue
		}
		switch rr := rr.(type) {
		case *dns.DNSKEY:
			keys = append(keys, rr)
			ttl = min(ttl, rr.Hdr.Ttl)
		case *dns.RRSIG:
			sigs = append(sigs, rr)
		}
	}
	if len(keys) == 0 {
		return bogus(&Error{Code: dns.ExtendedErrorCodeDNSKEYMissing, Text: "no DNSKEY for " + zone})
	}
	valid, res, err := r.verifyDNSKEYs(keys, sigs, ds, now, b)
	switch res.Status {
	case dnssec.Secure:
		exp := now.Add(time.Duration(ttl) * time.Second)
		if !res.Until.IsZero() && res.Until.Before(exp) {
			exp = res.Until
		}
		if expires.Before(exp) {
			exp = expires
		}
		return zoneKeys{keys: valid, status: dnssec.Secure, expires: exp}, nil
	case dnssec.Insecure:
		return insecureFor(time.Duration(ttl)*time.Second, err)
	}
	return bogus(err)
}

// dsResult is the validated DS set of a zone.
type dsResult struct {
	ds      []*dns.DS
	expires time.Time
}

// dsFor fetches and validates the DS RRset of zone from its parent. The
// returned zoneKeys is Secure (go on with ds), or the final conclusion for
// zone: Insecure (provably no DS, or the parent is insecure) or Bogus.
func (r *Resolver) dsFor(ctx context.Context, zone string, b budget, now time.Time) (zoneKeys, dsResult, error) {
	m, err := r.fetch(ctx, zone, dns.TypeDS, b)
	if err != nil {
		return zoneKeys{}, dsResult{}, err
	}
	var dsRRs []dns.RR
	var sigs []*dns.RRSIG
	for _, rr := range m.Answer {
		if !strings.EqualFold(rr.Header().Name, zone) {
			continue
		}
		switch rr := rr.(type) {
		case *dns.DS:
			dsRRs = append(dsRRs, rr)
		case *dns.RRSIG:
			if rr.TypeCovered == dns.TypeDS {
				sigs = append(sigs, rr)
			}
		}
	}
	parent := ""
	switch {
	case len(sigs) > 0:
		parent = dns.CanonicalName(sigs[0].SignerName)
	case len(dsRRs) == 0 && (findSOA(m.Ns) != nil || len(m.Ns) > 0):
		parent = denialSigner(m, "")
	}
	if parent == "" {
		parent = r.closestCut(dns.Question{Name: zone, Qtype: dns.TypeDS, Qclass: dns.ClassINET}).zone
	}
	if parent == zone || !isSubDomain(parent, zone) {
		return zoneKeys{status: dnssec.Bogus, err: &Error{Code: dns.ExtendedErrorCodeDNSBogus, Text: fmt.Sprintf("DS of %s signed by %s", zone, parent)}}, dsResult{}, nil
	}
	pk, err := r.keysFor(ctx, parent, b)
	if err != nil || pk.status != dnssec.Secure {
		return pk, dsResult{}, err
	}
	if len(dsRRs) > 0 {
		res, err := r.verifyRRset(dsRRs, sigs, pk.keys, now, b)
		if res.Status != dnssec.Secure {
			return zoneKeys{status: res.Status, err: err, expires: now.Add(r.cfg.MaxNegativeTTL)}, dsResult{}, nil
		}
		ttl := dsRRs[0].Header().Ttl
		exp := now.Add(time.Duration(min(ttl, res.Sig.OrigTtl)) * time.Second)
		if res.Until.Before(exp) {
			exp = res.Until
		}
		out := dsResult{expires: exp}
		for _, rr := range dsRRs {
			out.ds = append(out.ds, rr.(*dns.DS))
		}
		return pk, out, nil
	}
	proof, err := r.verifyDenial(m.Ns, pk.keys, now, b)
	if err != nil {
		return zoneKeys{status: dnssec.Bogus, err: err}, dsResult{}, nil
	}
	res, err := r.val.v.ProveInsecureDelegation(zone, parent, proof, b.val)
	switch res.Status {
	case dnssec.Secure, dnssec.Insecure:
		// Proven unsigned (or opt-out: only insecure is possible).
		ttl := r.cfg.MaxNegativeTTL
		if soa := findSOA(m.Ns); soa != nil {
			ttl = min(ttl, time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second)
		}
		return zoneKeys{status: dnssec.Insecure, expires: now.Add(max(ttl, time.Second))}, dsResult{}, nil
	}
	if err == nil {
		err = &Error{Code: dns.ExtendedErrorCodeNSECMissing, Text: "no proof that " + zone + " is unsigned"}
	}
	return zoneKeys{status: dnssec.Bogus, err: err}, dsResult{}, nil
}

// synthesise answers q from the validated NSEC/NSEC3 records cached for
// its zone (RFC 8198), without asking upstream.
func (r *Resolver) synthesise(q dns.Question, b budget) (*dns.Msg, bool) {
	if r.val == nil || b.raw || b.val == nil {
		return nil, false
	}
	zone, denial, byOwner, soa, ok := r.val.denials.closest(q.Name, r.now())
	if !ok {
		return nil, false
	}
	// A zone cut known below the denial's zone: its records say nothing
	// about names there.
	if cut := r.closestCut(q).zone; !isSubDomain(cut, zone) {
		return nil, false
	}
	syn, used := r.val.v.Synthesize(q.Name, q.Qtype, zone, denial, b.val)
	if syn == dnssec.NoSynthesis {
		return nil, false
	}
	m := &dns.Msg{}
	m.Question = []dns.Question{q}
	m.AuthenticatedData = true
	if syn == dnssec.SynthNXDOMAIN {
		m.Rcode = dns.RcodeNameError
	}
	m.Ns = append(m.Ns, soa...)
	seen := map[string]bool{}
	for _, rr := range used {
		o := strings.ToLower(rr.Header().Name)
		if !seen[o] {
			seen[o] = true
			m.Ns = append(m.Ns, byOwner[o]...)
		}
	}
	m = m.Copy() // the store's records stay untouched by later TTL changes
	r.val.synthesised.Inc()
	return m, true
}

// secureReply finishes a client answer: AD only for Secure data and only
// when the client showed it understands it (DO or AD, RFC 6840 section
// 5.7); DNSSEC records only for a client that set DO (RFC 3225).
func (r *Resolver) secureReply(resp, req, data *dns.Msg) {
	do := false
	if opt, _ := clientOPT(req); opt != nil {
		do = opt.Do()
	}
	resp.AuthenticatedData = r.val != nil && data.AuthenticatedData && !data.CheckingDisabled && (do || req.AuthenticatedData)
	if do {
		return
	}
	q := req.Question[0].Qtype
	resp.Answer = withoutDNSSEC(resp.Answer, q)
	resp.Ns = withoutDNSSEC(resp.Ns, q)
}

// withoutDNSSEC drops RRSIG, NSEC and NSEC3 records unless asked for.
func withoutDNSSEC(rrs []dns.RR, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		switch t := rr.Header().Rrtype; t {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
			if t != qtype {
				continue
			}
		}
		out = append(out, rr)
	}
	return out
}

// checkingDisabled turns a validation failure into the unvalidated answer
// for a client that set CD.
func checkingDisabled(err error) (*dns.Msg, bool) {
	var be *bogusError
	if errors.As(err, &be) && be.msg != nil {
		m := be.msg.Copy()
		m.AuthenticatedData = false
		return m, true
	}
	return nil, false
}

// flushValidation forgets the validation caches with the answer cache:
// after a zone's keys change an operator flushes, and expects it to work.
func (r *Resolver) flushValidation() {
	if r.val == nil {
		return
	}
	r.val.keys.flush()
	r.val.denials.flush()
}
