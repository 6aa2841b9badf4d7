package mininet

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/anycastd/anycastd/resolver/dnssec"
)

// validator walks the chain of trust of the running mini internet from its
// trust anchor with the resolver's validation core, asking the real servers
// over TCP with DO=1. It is a small, strict resolver for one question.
type validator struct {
	t     *testing.T
	in    *Internet
	v     *dnssec.Validator
	zones map[string]*zone
	now   time.Time
}

func newValidator(t *testing.T, in *Internet) *validator {
	t.Helper()
	anchors, err := dnssec.ParseAnchors(strings.NewReader(in.TrustAnchor()), "mininet")
	if err != nil {
		t.Fatal(err)
	}
	v, err := dnssec.New(dnssec.Config{Anchors: anchors})
	if err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, in: in, v: v, zones: zonesOf(in), now: time.Now()}
}

// ask sends the question with DO=1 over TCP to a server of zone.
func (w *validator) ask(zone, qname string, qtype uint16) *dns.Msg {
	w.t.Helper()
	for _, s := range w.in.Servers() {
		for _, z := range s.Zones {
			if z == zone && s.Bound {
				m := new(dns.Msg)
				m.SetQuestion(qname, qtype)
				m.RecursionDesired = false
				m.SetEdns0(1232, true)
				c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
				r, _, err := c.Exchange(m, serverAddr(w.t, w.in, s.Name))
				if err != nil {
					w.t.Fatalf("%s %s @%s: %v", qname, dns.TypeToString[qtype], s.Name, err)
				}
				return r
			}
		}
	}
	w.t.Fatalf("no server for %s", zone)
	return nil
}

// zoneOf returns the zone that answers qname: the closest enclosing zone,
// or its parent for a DS at the apex.
func (w *validator) zoneOf(qname string, qtype uint16) string {
	name := dns.CanonicalName(qname)
	for p := name; p != ""; p = parent(p) {
		if _, ok := w.zones[p]; ok {
			if p == name && qtype == dns.TypeDS && p != "." {
				return w.zoneOf(parent(p), dns.TypeA)
			}
			return p
		}
	}
	w.t.Fatalf("no zone for %s", qname)
	return ""
}

// outcome is what validation concluded, with the EDE code for anything
// but Secure (0 when the validator gave none).
type outcome struct {
	status dnssec.Status
	ede    uint16
	err    error
}

func (o outcome) String() string {
	return fmt.Sprintf("%v EDE %d (%v)", o.status, o.ede, o.err)
}

func result(r dnssec.Result, err error) outcome {
	o := outcome{status: r.Status, err: err}
	if code, _, ok := dnssec.EDE(err); ok {
		o.ede = code
	}
	return o
}

// keys returns the validated DNSKEYs of zone, or the outcome that stops
// the walk (Insecure or Bogus).
func (w *validator) keys(zone string, b *dnssec.Budget) ([]*dns.DNSKEY, outcome) {
	var ds []*dns.DS
	if zone == "." {
		_, ds, _ = w.v.Anchor(".")
	} else {
		pz := w.zoneOf(zone, dns.TypeDS)
		pkeys, o := w.keys(pz, b)
		if o.status != dnssec.Secure {
			return nil, o
		}
		r := w.ask(pz, zone, dns.TypeDS)
		set, sigs := split(r.Answer, dns.TypeDS)
		if len(set) == 0 {
			if o := w.verifyDenial(r.Ns, pkeys, b); o.status != dnssec.Secure {
				return nil, o
			}
			res, err := w.v.ProveInsecureDelegation(zone, pz, denialOf(r.Ns), b)
			if res.Status == dnssec.Secure {
				return nil, outcome{status: dnssec.Insecure}
			}
			return nil, result(res, err)
		}
		if o := result(w.v.VerifyRRset(set, sigs, pkeys, w.now, b)); o.status != dnssec.Secure {
			return nil, o
		}
		for _, rr := range set {
			ds = append(ds, rr.(*dns.DS))
		}
	}
	r := w.ask(zone, zone, dns.TypeDNSKEY)
	set, sigs := split(r.Answer, dns.TypeDNSKEY)
	keys, res, err := w.v.VerifyDNSKEYs(set, sigs, ds, w.now, b)
	return keys, result(res, err)
}

// split returns the records of type t and the RRSIGs that cover t.
func split(rrs []dns.RR, t uint16) (set []dns.RR, sigs []*dns.RRSIG) {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			set = append(set, rr)
		}
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == t {
			sigs = append(sigs, s)
		}
	}
	return set, sigs
}

func denialOf(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if t := rr.Header().Rrtype; t == dns.TypeNSEC || t == dns.TypeNSEC3 {
			out = append(out, rr)
		}
	}
	return out
}

// verifyDenial checks the signatures of every NSEC/NSEC3 RRset in rrs.
func (w *validator) verifyDenial(rrs []dns.RR, keys []*dns.DNSKEY, b *dnssec.Budget) outcome {
	for _, rr := range denialOf(rrs) {
		var sigs []*dns.RRSIG
		for _, s := range rrs {
			if s, ok := s.(*dns.RRSIG); ok && s.TypeCovered == rr.Header().Rrtype && strings.EqualFold(s.Hdr.Name, rr.Header().Name) {
				sigs = append(sigs, s)
			}
		}
		if o := result(w.v.VerifyRRset([]dns.RR{rr}, sigs, keys, w.now, b)); o.status != dnssec.Secure {
			return o
		}
	}
	return outcome{status: dnssec.Secure}
}

// validate answers qname/qtype from its zone and validates the answer from
// the trust anchor: the RRsets in the answer section, or the NXDOMAIN or
// NODATA proof, and the wildcard proof of an expanded answer.
func (w *validator) validate(qname string, qtype uint16) (outcome, *dns.Msg, *dnssec.Budget) {
	b := w.v.NewBudget()
	zone := w.zoneOf(qname, qtype)
	keys, o := w.keys(zone, b)
	if o.status != dnssec.Secure {
		return o, nil, b
	}
	r := w.ask(zone, qname, qtype)
	if !r.Authoritative {
		w.t.Fatalf("%s %s: not authoritative: %v", qname, dns.TypeToString[qtype], r)
	}
	if o := w.verifyDenial(r.Ns, keys, b); o.status != dnssec.Secure {
		return o, r, b
	}
	// Answer RRsets from this zone, one type at a time.
	owner := dns.CanonicalName(qname)
	for _, rr := range r.Answer {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG || dns.CanonicalName(h.Name) != owner {
			continue
		}
		set, sigs := split(r.Answer, h.Rrtype)
		res, err := w.v.VerifyRRset(set, sigs, keys, w.now, b)
		if res.Status != dnssec.Secure {
			return result(res, err), r, b
		}
		if res.Wildcard() {
			if res, err := w.v.ProveWildcard(qname, res.Sig, zone, denialOf(r.Ns), b); res.Status != dnssec.Secure {
				return result(res, err), r, b
			}
		}
		if cname, ok := rr.(*dns.CNAME); ok {
			owner = dns.CanonicalName(cname.Target)
		}
	}
	switch {
	case r.Rcode == dns.RcodeNameError:
		return result(w.v.ProveNXDOMAIN(owner, zone, denialOf(r.Ns), b)), r, b
	case r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0:
		return result(w.v.ProveNODATA(owner, qtype, zone, denialOf(r.Ns), b)), r, b
	}
	return outcome{status: dnssec.Secure}, r, b
}

// TestChainOfTrust validates every signed zone from the mini root's trust
// anchor, the insecure delegations below signed parents, and each broken
// zone fails the way docs/mininet.md says.
func TestChainOfTrust(t *testing.T) {
	in := startTest(t)
	w := newValidator(t, in)
	const (
		secure   = dnssec.Secure
		insecure = dnssec.Insecure
		bogus    = dnssec.Bogus
	)
	tests := []struct {
		qname  string
		qtype  uint16
		status dnssec.Status
		ede    uint16 // checked unless Secure
	}{
		// Signed zones, every algorithm and key layout.
		{"a.root-servers.net.", dns.TypeA, insecure, 0}, // net. proves root-servers.net. unsigned with NSEC
		{".", dns.TypeSOA, secure, 0},
		{"a.nic.com.", dns.TypeA, secure, 0},
		{"a.nic.net.", dns.TypeA, secure, 0},
		{"a.nic.org.", dns.TypeA, secure, 0},
		{"a.nic.lab.", dns.TypeA, secure, 0},
		{"a.nic.test.", dns.TypeA, secure, 0},
		{"www.example.com.", dns.TypeA, secure, 0},
		{"www.example.com.", dns.TypeAAAA, secure, 0},
		{"example.com.", dns.TypeMX, secure, 0},
		{"alias.example.com.", dns.TypeA, secure, 0},
		{"www.example.net.", dns.TypeA, secure, 0},
		{"www.example.org.", dns.TypeA, secure, 0},
		{"canary.anycastd.lab.", dns.TypeA, secure, 0},
		{"good.canary.lab.", dns.TypeA, secure, 0},
		{"www.good.test.", dns.TypeA, secure, 0},
		{"example.com.", dns.TypeDS, secure, 0},
		{"example.org.", dns.TypeDS, secure, 0}, // SHA-256 and SHA-384 digests
		// Insecure delegations: no DS, and the parent proves it.
		{"www.chain.com.", dns.TypeCNAME, insecure, 0},  // NSEC3 opt-out span
		{"www.hosting.net.", dns.TypeA, insecure, 0},    // NSEC
		{"www.plain.org.", dns.TypeA, insecure, 0},      // NSEC3 without opt-out
		{"www.bench.lab.", dns.TypeA, insecure, 0},      // NSEC3, RSA/SHA-512 parent
		{"www.victim.evil.", dns.TypeA, insecure, 0},    // the root's NSEC
		{"www.formerr.com.", dns.TypeA, insecure, 0},    // opt-out again, another server
		{"chain.com.", dns.TypeDS, insecure, 0},         // DS NODATA in an opt-out span
		{"hosting.net.", dns.TypeDS, secure, 0},         // provably no DS
		{"nope.com.", dns.TypeA, insecure, 0},           // NXDOMAIN in an opt-out span
		{"nope.nsec3-iter500.test.", dns.TypeA, insecure, dns.ExtendedErrorCodeUnsupportedNSEC3IterValue},
		{"www.nsec3-iter500.test.", dns.TypeA, secure, 0}, // data is fine; only its denial is not
		{"www.alg-unsupported.test.", dns.TypeA, insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm},
		{"www.rsa-exponent.test.", dns.TypeA, insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm},
		// Broken on purpose.
		{"bad.canary.lab.", dns.TypeA, bogus, dns.ExtendedErrorCodeDNSBogus},
		{"www.ds-mismatch.test.", dns.TypeA, bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"www.expired.test.", dns.TypeA, bogus, dns.ExtendedErrorCodeSignatureExpired},
		{"www.not-yet-valid.test.", dns.TypeA, bogus, dns.ExtendedErrorCodeSignatureNotYetValid},
		{"www.missing-rrsig.test.", dns.TypeA, bogus, dns.ExtendedErrorCodeRRSIGsMissing},
		{"www.missing-rrsig.test.", dns.TypeTXT, bogus, dns.ExtendedErrorCodeRRSIGsMissing},
		{"missing-rrsig.test.", dns.TypeSOA, secure, 0}, // only www is unsigned
		{"www.zsk-only.test.", dns.TypeA, bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"nope.bad-nsec.test.", dns.TypeA, bogus, dns.ExtendedErrorCodeNSECMissing},
		{"www.bad-nsec.test.", dns.TypeA, secure, 0},
		{"www.keytrap.test.", dns.TypeA, bogus, dns.ExtendedErrorCodeOther},
	}
	for _, tt := range tests {
		t.Run(tt.qname+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			w.t = t
			got, _, b := w.validate(tt.qname, tt.qtype)
			if got.status != tt.status || (tt.status != secure && got.ede != tt.ede) {
				t.Errorf("got %v, want %v EDE %d", got, tt.status, tt.ede)
			}
			if tt.qname == "www.keytrap.test." && !errors.Is(got.err, dnssec.ErrBudgetExhausted) {
				t.Errorf("keytrap: %v, want the budget exhausted (verifications %d, failures %d)", got, b.Verifications(), b.Failures())
			}
		})
	}
}
