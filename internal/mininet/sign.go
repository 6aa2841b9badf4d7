package mininet

import (
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Denial is how a signed zone proves that names and types do not exist.
type Denial uint8

const (
	NSEC        Denial = iota // RFC 4034
	NSEC3                     // RFC 5155, iterations and salt per signing (RFC 9276: 0 and none)
	NSEC3OptOut               // NSEC3 with opt-out: unsigned delegations get no NSEC3
)

func (d Denial) String() string {
	switch d {
	case NSEC:
		return "NSEC"
	case NSEC3:
		return "NSEC3"
	case NSEC3OptOut:
		return "NSEC3 opt-out"
	}
	return fmt.Sprintf("Denial(%d)", uint8(d))
}

// breakage is what is deliberately wrong with a signed zone, for the
// validation tests (docs/mininet.md, "Signed zones").
type breakage uint8

const (
	intact         breakage = iota
	dsMismatch              // the parent's DS matches no key of the zone
	expired                 // every signature expired a week ago
	notYetValid             // every signature becomes valid in a week
	missingSig              // data RRsets owned by www.<zone> have no RRSIG (its NSEC has)
	badSig                  // RRsets owned by bad.<zone> have a corrupted RRSIG
	keyTrap                 // 60 DNSKEYs share the key tag; 4 junk RRSIGs before each real one
	unsupportedAlg          // DS and DNSKEY use the private algorithm 253, which no validator implements
	badExponent             // RSA key with an exponent crypto/rsa rejects (OpenSSL accepts it)
	zskOnly                 // the DNSKEY RRset is signed only by the ZSK, not by the key the DS names
	bogusNXDOMAIN           // NXDOMAIN answers carry an NSEC that does not cover the name
)

// signing says how one zone is signed (the signed table in zones.go).
type signing struct {
	alg        uint8
	csk        bool // one combined signing key; otherwise a KSK and a ZSK
	denial     Denial
	iterations uint16 // NSEC3 only; the salt is always empty (RFC 9276)
	broken     breakage
}

// Signature validity: long enough for a lab to run for weeks, and the
// inception an hour back so a validator's clock may be a little behind.
const (
	sigInception  = time.Hour
	sigExpiration = 21 * 24 * time.Hour
	keyTrapKeys   = 60 // DNSKEYs sharing one key tag in keytrap.test.
	keyTrapJunk   = 4  // junk RRSIGs before each real one in keytrap.test.
)

// zoneSigner holds one zone's keys while the mini internet is built.
type zoneSigner struct {
	origin  string
	spec    signing
	ksk     zoneKey // signs the DNSKEY RRset; the DS names it
	zsk     zoneKey // signs everything else; the same as ksk for a CSK
	dnskeys []dns.RR
	ds      []dns.RR // for the parent
}

// newZoneSigner makes the keys of one zone and the DS its parent publishes.
func newZoneSigner(g *keyGen, origin string, spec signing) (*zoneSigner, error) {
	s := &zoneSigner{origin: origin, spec: spec}
	kskFlags := uint16(dns.ZONE | dns.SEP)
	var err error
	switch spec.broken {
	case badExponent:
		s.ksk, err = badExponentKey(origin, kskFlags)
	case unsupportedAlg:
		s.ksk, err = g.key(origin, "ksk", dns.PRIVATEDNS, kskFlags)
	default:
		s.ksk, err = g.key(origin, "ksk", spec.alg, kskFlags)
	}
	if err != nil {
		return nil, err
	}
	s.zsk = s.ksk
	if !spec.csk {
		if s.zsk, err = g.key(origin, "zsk", s.ksk.dnskey.Algorithm, dns.ZONE); err != nil {
			return nil, err
		}
	}
	s.dnskeys = append(s.dnskeys, s.ksk.dnskey)
	if !spec.csk {
		s.dnskeys = append(s.dnskeys, s.zsk.dnskey)
	}
	if spec.broken == keyTrap {
		// The real key first, so the DS matches at once and the work goes
		// into the signatures: each junk RRSIG names the shared tag, and
		// a validator without caps tries every key for every one.
		for _, k := range collidingKeys(s.ksk.dnskey, keyTrapKeys-1) {
			s.dnskeys = append(s.dnskeys, k)
		}
	}
	dsKey := s.ksk.dnskey
	if spec.broken == dsMismatch {
		other, err := g.key(origin, "unrelated", spec.alg, kskFlags)
		if err != nil {
			return nil, err
		}
		dsKey = other.dnskey
	}
	ds := dsKey.ToDS(dns.SHA256)
	ds.Hdr.Ttl = 86400
	s.ds = []dns.RR{ds}
	// Some parents publish a SHA-384 digest beside it, as real TLDs do.
	if spec.alg == dns.ECDSAP384SHA384 {
		ds384 := dsKey.ToDS(dns.SHA384)
		ds384.Hdr.Ttl = 86400
		s.ds = append(s.ds, ds384)
	}
	return s, nil
}

// signedZone is the DNSSEC data of a zone, kept beside its nodes so answers
// without DO are exactly what they were before signing.
type signedZone struct {
	denial Denial
	broken breakage
	sigs   map[rrKey][]dns.RR // RRSIGs by owner and covered type
	// NSEC: one record per authoritative name, in canonical order.
	nsec       map[string]*dns.NSEC
	nsecOwners []string
	// NSEC3: one record per hashed name, in hash order.
	nsec3       []*dns.NSEC3
	nsec3ByHash map[string]*dns.NSEC3
	iterations  uint16
}

type rrKey struct {
	owner string
	t     uint16
}

// sign adds the zone's DNSSEC data: DNSKEY (already in the records), the
// NSEC or NSEC3 chain, NSEC3PARAM and the RRSIGs. now sets the validity.
func (s *zoneSigner) sign(z *zone, now time.Time) error {
	sz := &signedZone{denial: s.spec.denial, broken: s.spec.broken, sigs: map[rrKey][]dns.RR{},
		iterations: s.spec.iterations}
	inception, expiration := now.Add(-sigInception), now.Add(sigExpiration)
	switch s.spec.broken {
	// A week off: validators allow clock skew, Unbound up to a day.
	case expired:
		inception, expiration = now.Add(-30*24*time.Hour), now.Add(-7*24*time.Hour)
	case notYetValid:
		inception, expiration = now.Add(7*24*time.Hour), now.Add(30*24*time.Hour)
	}
	negTTL := min(z.soa.Hdr.Ttl, z.soa.Minttl)

	names := z.authNames()
	switch s.spec.denial {
	case NSEC:
		sz.buildNSEC(z, names, negTTL)
	case NSEC3, NSEC3OptOut:
		param := &dns.NSEC3PARAM{
			Hdr:  dns.RR_Header{Name: z.origin, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET, Ttl: 0},
			Hash: dns.SHA1, Iterations: s.spec.iterations,
		}
		z.nodes[z.origin].rrsets[dns.TypeNSEC3PARAM] = []dns.RR{param}
		sz.buildNSEC3(z, names, negTTL, s.spec.denial == NSEC3OptOut)
	}

	signSet := func(rrset []dns.RR) error {
		h := rrset[0].Header()
		owner, t := h.Name, h.Rrtype
		if s.spec.broken == missingSig && owner == "www."+z.origin && t != dns.TypeNSEC {
			return nil
		}
		var signers []zoneKey
		switch {
		case t == dns.TypeDNSKEY && s.spec.broken == zskOnly:
			signers = []zoneKey{s.zsk}
		case t == dns.TypeDNSKEY:
			signers = []zoneKey{s.ksk}
		default:
			signers = []zoneKey{s.zsk}
		}
		var sigs []dns.RR
		for _, k := range signers {
			if s.spec.broken == keyTrap {
				for range keyTrapJunk {
					sigs = append(sigs, junkSig(k, rrset, inception, expiration))
				}
			}
			sig := newRRSIG(k.dnskey, inception, expiration)
			if k.signer == nil {
				sig = junkSig(k, rrset, inception, expiration)
			} else if err := sig.Sign(k.signer, rrset); err != nil {
				return fmt.Errorf("sign %s %s: %w", owner, dns.TypeToString[t], err)
			}
			sig.Hdr.Ttl = h.Ttl
			if s.spec.broken == badSig && owner == "bad."+z.origin {
				sig = corrupt(sig)
			}
			sigs = append(sigs, sig)
		}
		sz.sigs[rrKey{owner, t}] = sigs
		return nil
	}

	for _, owner := range names {
		n := z.nodes[owner]
		cut := z.isCut(owner)
		for _, t := range sortedTypes(n) {
			// At a cut only the DS is the parent's data; the NS and glue
			// belong to the child and stay unsigned (RFC 4035 section 2.2).
			if cut && t != dns.TypeDS {
				continue
			}
			if err := signSet(n.rrsets[t]); err != nil {
				return fmt.Errorf("sign zone %s: %w", z.origin, err)
			}
		}
	}
	for _, owner := range sz.nsecOwners {
		if err := signSet([]dns.RR{sz.nsec[owner]}); err != nil {
			return fmt.Errorf("sign zone %s: %w", z.origin, err)
		}
	}
	for _, rr := range sz.nsec3 {
		if err := signSet([]dns.RR{rr}); err != nil {
			return fmt.Errorf("sign zone %s: %w", z.origin, err)
		}
	}
	z.sec = sz
	return nil
}

func newRRSIG(k *dns.DNSKEY, inception, expiration time.Time) *dns.RRSIG {
	return &dns.RRSIG{
		Hdr:        dns.RR_Header{Ttl: 0},
		Algorithm:  k.Algorithm,
		KeyTag:     k.KeyTag(),
		SignerName: k.Hdr.Name,
		Inception:  uint32(inception.Unix()),
		Expiration: uint32(expiration.Unix()),
	}
}

// junkSig is an RRSIG that fits the RRset and names k but whose signature
// is random bytes.
func junkSig(k zoneKey, rrset []dns.RR, inception, expiration time.Time) *dns.RRSIG {
	h := rrset[0].Header()
	sig := newRRSIG(k.dnskey, inception, expiration)
	sig.Hdr = dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: h.Class, Ttl: h.Ttl}
	sig.TypeCovered, sig.OrigTtl = h.Rrtype, h.Ttl
	sig.Labels = uint8(dns.CountLabel(h.Name))
	if strings.HasPrefix(h.Name, "*.") {
		sig.Labels--
	}
	b := make([]byte, sigLen(k.dnskey.Algorithm))
	rand.Read(b)
	sig.Signature = toBase64(b)
	return sig
}

// corrupt returns sig with one bit of its signature flipped.
func corrupt(sig *dns.RRSIG) *dns.RRSIG {
	b := fromBase64(sig.Signature)
	b[len(b)/2] ^= 0x01
	c := *sig
	c.Signature = toBase64(b)
	return &c
}

// authNames returns the zone's authoritative names and delegation points
// (no empty non-terminals, nothing below a cut), in canonical order.
func (z *zone) authNames() []string {
	var names []string
	for owner, n := range z.nodes {
		if len(n.rrsets) == 0 {
			continue
		}
		if cut := z.delegation(owner); cut != "" && cut != owner {
			continue
		}
		names = append(names, owner)
	}
	slices.SortFunc(names, canonicalCompare)
	return names
}

// bitmap returns the types at owner as an NSEC/NSEC3 type bitmap would list
// them, without NSEC/NSEC3 and RRSIG.
func (z *zone) bitmapTypes(owner string) []uint16 {
	n := z.nodes[owner]
	if n == nil {
		return nil
	}
	types := slices.Collect(maps.Keys(n.rrsets))
	if z.isCut(owner) {
		types = slices.DeleteFunc(types, func(t uint16) bool { return t != dns.TypeNS && t != dns.TypeDS })
	}
	return types
}

// signed reports whether owner holds any RRset the zone signs.
func (z *zone) signedAt(owner string) bool {
	n := z.nodes[owner]
	if n == nil || len(n.rrsets) == 0 {
		return false
	}
	return !z.isCut(owner) || len(n.rrsets[dns.TypeDS]) > 0
}

func (sz *signedZone) buildNSEC(z *zone, names []string, ttl uint32) {
	sz.nsec = map[string]*dns.NSEC{}
	sz.nsecOwners = names
	for i, owner := range names {
		types := append(z.bitmapTypes(owner), dns.TypeNSEC, dns.TypeRRSIG)
		slices.Sort(types)
		sz.nsec[owner] = &dns.NSEC{
			Hdr:        dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
			NextDomain: names[(i+1)%len(names)],
			TypeBitMap: types,
		}
	}
}

func (sz *signedZone) buildNSEC3(z *zone, names []string, ttl uint32, optOut bool) {
	// Hashed names: every authoritative name (with opt-out, not the
	// unsigned delegations) and the empty non-terminals above them.
	hashed := map[string]bool{}
	for _, owner := range names {
		if optOut && z.isCut(owner) && len(z.nodes[owner].rrsets[dns.TypeDS]) == 0 {
			continue
		}
		for p := owner; p != "" && dns.IsSubDomain(z.origin, p); p = parent(p) {
			hashed[p] = true
		}
	}
	var flags uint8
	if optOut {
		flags = 1
	}
	sz.nsec3ByHash = map[string]*dns.NSEC3{}
	for owner := range hashed {
		h := dns.HashName(owner, dns.SHA1, sz.iterations, "")
		var types []uint16
		if z.signedAt(owner) {
			types = append(z.bitmapTypes(owner), dns.TypeRRSIG)
		} else {
			types = z.bitmapTypes(owner) // an empty non-terminal: no types
		}
		slices.Sort(types)
		rr := &dns.NSEC3{
			Hdr:        dns.RR_Header{Name: strings.ToLower(h) + "." + z.origin, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: ttl},
			Hash:       dns.SHA1,
			Flags:      flags,
			Iterations: sz.iterations,
			HashLength: 20,
			TypeBitMap: types,
		}
		sz.nsec3 = append(sz.nsec3, rr)
		sz.nsec3ByHash[h] = rr
	}
	slices.SortFunc(sz.nsec3, func(a, b *dns.NSEC3) int { return strings.Compare(a.Hdr.Name, b.Hdr.Name) })
	for i, rr := range sz.nsec3 {
		next := sz.nsec3[(i+1)%len(sz.nsec3)].Hdr.Name
		rr.NextDomain = strings.ToUpper(next[:strings.IndexByte(next, '.')])
	}
}

// canonicalCompare orders names as RFC 4034 section 6.1 does: by labels
// from the right, each compared as lower-case bytes. Zone names here carry
// no escapes, so splitting on dots is exact.
func canonicalCompare(a, b string) int {
	la, lb := dns.SplitDomainName(strings.ToLower(a)), dns.SplitDomainName(strings.ToLower(b))
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := strings.Compare(la[i], lb[j]); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}
