package dnssec

import (
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// failure remembers the most telling reason an RRset did not validate:
// the one that got furthest through the checks.
type failure struct {
	rank int
	code uint16
	text string
}

func (f *failure) note(rank int, code uint16, format string, args ...any) {
	if rank > f.rank {
		*f = failure{rank: rank, code: code, text: fmt.Sprintf(format, args...)}
	}
}

// Ranks for failure.note: later stages explain more.
const (
	rankMissing   = iota // no RRSIG at all
	rankMismatch         // RRSIG unusable on its face
	rankTimeOrKey        // outside its validity, or its key is absent
	rankCrypto           // a verification ran and failed
)

// VerifyRRset checks rrset against its signatures with keys, the
// already-validated DNSKEYs of the signer zone. sigs may hold RRSIGs for
// other RRsets; only those covering rrset are used. Cheap checks (type,
// name, labels, algorithm, validity period, key tag) run before any
// cryptography, and the work is charged to b.
//
// Secure: one signature verified; Result.Until and Result.Sig say which
// and how long for, and Result.Wildcard says whether ProveWildcard is
// needed. Insecure (EDE 1): the only keys that could verify are ones Go
// cannot use. Bogus: EDE 10 no RRSIG, 9 no matching key, 7 expired, 8 not
// yet valid, 6 verification failed, 0 budget exhausted.
func (v *Validator) VerifyRRset(rrset []dns.RR, sigs []*dns.RRSIG, keys []*dns.DNSKEY, now time.Time, b *Budget) (Result, error) {
	b = v.budgetOrNew(b)
	if len(rrset) == 0 || !dns.IsRRset(rrset) {
		return bogus(dns.ExtendedErrorCodeDNSBogus, "not an RRset")
	}
	h := rrset[0].Header()
	name, typ := h.Name, h.Rrtype
	what := name + " " + dns.Type(typ).String()
	ownerLabels := dns.CountLabel(name)
	if strings.HasPrefix(name, "*.") {
		ownerLabels--
	}

	byTag := make(map[uint16][]*dns.DNSKEY, len(keys))
	for _, k := range keys {
		if k != nil {
			byTag[k.KeyTag()] = append(byTag[k.KeyTag()], k)
		}
	}

	f := failure{rank: rankMissing, code: dns.ExtendedErrorCodeRRSIGsMissing, text: "no RRSIG for " + what}
	sawUnusable := false
	tried := 0
	for _, sig := range sigs {
		if sig == nil || sig.TypeCovered != typ || sig.Hdr.Class != h.Class || !equalName(sig.Hdr.Name, name) {
			continue
		}
		if tried == v.limits.SignaturesPerRRset {
			break
		}
		tried++
		if !supportedAlgorithm(sig.Algorithm) {
			f.note(rankMismatch, dns.ExtendedErrorCodeDNSBogus, "RRSIG for %s: unsupported algorithm %d", what, sig.Algorithm)
			continue
		}
		if int(sig.Labels) > ownerLabels || !isSubdomain(sig.SignerName, name) {
			f.note(rankMismatch, dns.ExtendedErrorCodeDNSBogus, "RRSIG for %s: labels or signer %s do not fit the owner", what, sig.SignerName)
			continue
		}
		if code := v.checkValidity(sig, now); code != 0 {
			word := "expired"
			if code != dns.ExtendedErrorCodeSignatureExpired {
				word = "not yet valid"
			}
			f.note(rankTimeOrKey, code, "RRSIG for %s by %s/%d %s", what, sig.SignerName, sig.KeyTag, word)
			continue
		}
		tries := 0
		found := false
		for _, k := range byTag[sig.KeyTag] {
			if k.Algorithm != sig.Algorithm || !equalName(k.Hdr.Name, sig.SignerName) ||
				k.Flags&dns.ZONE == 0 || k.Flags&dns.REVOKE != 0 || k.Protocol != 3 {
				continue
			}
			found = true
			// Unusable candidates count too: the cap bounds the parsing
			// as well as the cryptography.
			if tries == v.limits.KeysPerSignature {
				break
			}
			tries++
			if !goAccepts(k) {
				sawUnusable = true
				continue
			}
			if !b.spendVerification() {
				return exhausted(fmt.Sprintf("%d signature verifications (%d failed) at %s", b.verifications, b.failures, what))
			}
			if err := sig.Verify(k, rrset); err == nil {
				until := time.Unix(serialTime(sig.Expiration, now.Unix()), 0)
				return Result{Status: Secure, Until: until, Sig: sig}, nil
			}
			b.fail()
			f.note(rankCrypto, dns.ExtendedErrorCodeDNSBogus, "RRSIG for %s by %s/%d did not verify", what, sig.SignerName, sig.KeyTag)
		}
		if !found {
			f.note(rankTimeOrKey, dns.ExtendedErrorCodeDNSKEYMissing, "no DNSKEY %s/%d for %s", sig.SignerName, sig.KeyTag, what)
		}
	}
	if sawUnusable && f.rank < rankCrypto {
		return insecure(dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm, "%s is signed only with keys this validator cannot use", what)
	}
	return bogus(f.code, "%s", f.text)
}

// VerifyDNSKEYs establishes the DNSKEY RRset of a zone from its DS set
// (from the validated parent, or from Validator.Anchor) and returns the
// zone keys to use with VerifyRRset.
//
// DS digests 2 (SHA-256) and 4 (SHA-384) are used; digest 1 (SHA-1) only
// when neither is present (RFC 4509 section 3). If no DS has a supported
// digest and algorithm, the zone is Insecure with EDE 2 or 1 (RFC 4035
// section 5.2, RFC 6840 section 5.2); likewise when every key the DS set
// points at is one Go cannot use. Bogus: EDE 9 no key matches a DS, or
// whatever VerifyRRset says about the DNSKEY RRset's own signature.
func (v *Validator) VerifyDNSKEYs(dnskeys []dns.RR, sigs []*dns.RRSIG, ds []*dns.DS, now time.Time, b *Budget) ([]*dns.DNSKEY, Result, error) {
	b = v.budgetOrNew(b)
	keys := make([]*dns.DNSKEY, 0, len(dnskeys))
	for _, rr := range dnskeys {
		k, ok := rr.(*dns.DNSKEY)
		if !ok {
			r, err := bogus(dns.ExtendedErrorCodeDNSBogus, "DNSKEY RRset holds a %T", rr)
			return nil, r, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		r, err := bogus(dns.ExtendedErrorCodeDNSKEYMissing, "empty DNSKEY RRset")
		return nil, r, err
	}
	zone := keys[0].Hdr.Name

	var strong, weak []*dns.DS
	badDigest, badAlg := false, false
	for _, d := range ds {
		switch {
		case d == nil || !equalName(d.Hdr.Name, zone):
		case !supportedDigest(d.DigestType):
			badDigest = true
		case !supportedAlgorithm(d.Algorithm):
			badAlg = true
		case d.DigestType == dns.SHA1:
			weak = append(weak, d)
		default:
			strong = append(strong, d)
		}
	}
	use := strong
	if len(use) == 0 {
		use = weak
	}
	if len(use) == 0 {
		var r Result
		var err error
		switch {
		case badAlg:
			r, err = insecure(dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm, "DS for %s: no supported algorithm", zone)
		case badDigest:
			r, err = insecure(dns.ExtendedErrorCodeUnsupportedDSDigestType, "DS for %s: no supported digest type", zone)
		default:
			r, err = bogus(dns.ExtendedErrorCodeDNSKEYMissing, "no DS for %s", zone)
		}
		return nil, r, err
	}

	tags := make([]uint16, len(keys))
	for i, k := range keys {
		tags[i] = k.KeyTag()
	}
	var trusted []*dns.DNSKEY
	sawUnusable := false
	for _, d := range use {
		tries := 0
		for i, k := range keys {
			if tags[i] != d.KeyTag || k.Algorithm != d.Algorithm ||
				k.Flags&dns.ZONE == 0 || k.Flags&dns.REVOKE != 0 || k.Protocol != 3 {
				continue
			}
			if tries == v.limits.KeysPerSignature {
				break
			}
			tries++
			kd := k.ToDS(d.DigestType)
			if kd == nil || !strings.EqualFold(kd.Digest, d.Digest) {
				continue
			}
			if !goAccepts(k) {
				sawUnusable = true
				continue
			}
			trusted = append(trusted, k)
		}
	}
	if len(trusted) == 0 {
		var r Result
		var err error
		if sawUnusable {
			r, err = insecure(dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm, "DNSKEY for %s: key not usable by this validator", zone)
		} else {
			r, err = bogus(dns.ExtendedErrorCodeDNSKEYMissing, "no DNSKEY of %s matches its DS", zone)
		}
		return nil, r, err
	}
	r, err := v.VerifyRRset(dnskeys, sigs, trusted, now, b)
	if r.Status != Secure {
		return nil, r, err
	}
	zoneKeys := make([]*dns.DNSKEY, 0, len(keys))
	for _, k := range keys {
		if k.Flags&dns.ZONE != 0 && k.Flags&dns.REVOKE == 0 && k.Protocol == 3 {
			zoneKeys = append(zoneKeys, k)
		}
	}
	return zoneKeys, r, nil
}
