package mininet

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"slices"

	"github.com/miekg/dns"
)

// zoneKey is one DNSKEY of a signed zone with the means to sign with it.
// signer is nil for keys that cannot sign (an unsupported algorithm, an RSA
// exponent Go rejects): their "signatures" are random bytes of the right
// length, which is all a validator that must skip them gets to see.
type zoneKey struct {
	dnskey *dns.DNSKEY
	signer crypto.Signer
}

// keyGen derives the keys of one mini internet. ECDSA and Ed25519 keys come
// from a hash of the zone name and the key's role, so they (and the trust
// anchor) are the same on every run and cost microseconds; RSA keys are
// taken in order from the fixed keys in rsakeys.go.
type keyGen struct {
	nextRSA int
}

// seed returns 64 bytes determined by origin and role.
func seed(origin, role string) []byte {
	s := sha512.Sum512([]byte("mininet dnssec key\x00" + origin + "\x00" + role))
	return s[:]
}

// key returns a zone key of origin with algorithm alg and the given flags.
func (g *keyGen) key(origin, role string, alg uint8, flags uint16) (zoneKey, error) {
	k := zoneKey{dnskey: &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     flags,
		Protocol:  3,
		Algorithm: alg,
	}}
	sd := seed(origin, role)
	var pub []byte
	switch alg {
	case dns.RSASHA256, dns.RSASHA512:
		if g.nextRSA >= len(rsaKeys) {
			return zoneKey{}, fmt.Errorf("key %s %s: only %d fixed RSA keys", origin, role, len(rsaKeys))
		}
		der, err := base64.StdEncoding.DecodeString(rsaKeys[g.nextRSA])
		if err != nil {
			return zoneKey{}, fmt.Errorf("key %s %s: %w", origin, role, err)
		}
		g.nextRSA++
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return zoneKey{}, fmt.Errorf("key %s %s: %w", origin, role, err)
		}
		rk := priv.(*rsa.PrivateKey)
		pub = rsaPublic(big.NewInt(int64(rk.E)).Bytes(), rk.N.Bytes())
		k.signer = rk
	case dns.ECDSAP256SHA256, dns.ECDSAP384SHA384:
		curve, size := elliptic.P256(), 32
		if alg == dns.ECDSAP384SHA384 {
			curve, size = elliptic.P384(), 48
		}
		// A scalar at or above the group order is rejected; hash again.
		for i := 0; ; i++ {
			ek, err := ecdsa.ParseRawPrivateKey(curve, sd[:size])
			if err == nil {
				x, y := ek.X.FillBytes(make([]byte, size)), ek.Y.FillBytes(make([]byte, size))
				pub = append(x, y...)
				k.signer = ek
				break
			}
			if i == 10 {
				return zoneKey{}, fmt.Errorf("key %s %s: %w", origin, role, err)
			}
			sd = seed(origin, fmt.Sprintf("%s/%d", role, i))
		}
	case dns.ED25519:
		ek := ed25519.NewKeyFromSeed(sd[:ed25519.SeedSize])
		pub = ek.Public().(ed25519.PublicKey)
		k.signer = ek
	case dns.PRIVATEDNS:
		// A private algorithm (RFC 4034 appendix A.1.1): the key starts
		// with the name of the algorithm. No validator implements it, so
		// the zone must be treated as unsigned.
		name := make([]byte, 64)
		n, _ := dns.PackDomainName("mininet.example.", name, 0, nil, false)
		pub = append(name[:n], sd[:32]...)
	default:
		return zoneKey{}, fmt.Errorf("key %s %s: algorithm %d not supported", origin, role, alg)
	}
	k.dnskey.PublicKey = base64.StdEncoding.EncodeToString(pub)
	return k, nil
}

// badExponentKey returns an RSA/SHA-256 key with the exponent 2^32+1 (or
// the next odd number that works with its primes), which crypto/rsa
// refuses: Go-based validators must treat it as an unsupported algorithm,
// while OpenSSL-based ones (Unbound) verify its signatures, which are real.
func badExponentKey(origin string, flags uint16) (zoneKey, error) {
	der, err := base64.StdEncoding.DecodeString(rsaBadExponentKey)
	if err != nil {
		return zoneKey{}, fmt.Errorf("key %s: %w", origin, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return zoneKey{}, fmt.Errorf("key %s: %w", origin, err)
	}
	rk := priv.(*rsa.PrivateKey)
	one := big.NewInt(1)
	phi := new(big.Int).Mul(new(big.Int).Sub(rk.Primes[0], one), new(big.Int).Sub(rk.Primes[1], one))
	e := new(big.Int).Add(new(big.Int).Lsh(one, 32), one)
	var d *big.Int
	for d == nil {
		if d = new(big.Int).ModInverse(e, phi); d == nil {
			e.Add(e, big.NewInt(2))
		}
	}
	pub := rsaPublic(e.Bytes(), rk.N.Bytes())
	return zoneKey{
		dnskey: &dns.DNSKEY{
			Hdr:   dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
			Flags: flags, Protocol: 3, Algorithm: dns.RSASHA256,
			PublicKey: base64.StdEncoding.EncodeToString(pub),
		},
		signer: rawRSASigner{n: rk.N, d: d},
	}, nil
}

// rawRSASigner makes PKCS #1 v1.5 SHA-256 signatures with math/big, for
// a key crypto/rsa will not use.
type rawRSASigner struct{ n, d *big.Int }

func (s rawRSASigner) Public() crypto.PublicKey { return nil }

// sha256DigestInfo is the DER prefix of a SHA-256 DigestInfo (RFC 8017
// section 9.2, note 1).
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

func (s rawRSASigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, fmt.Errorf("raw rsa sign: want a SHA-256 digest")
	}
	k := (s.n.BitLen() + 7) / 8
	em := make([]byte, k)
	em[1] = 1
	t := append(slices.Clone(sha256DigestInfo), digest...)
	for i := 2; i < k-len(t)-1; i++ {
		em[i] = 0xff
	}
	copy(em[k-len(t):], t)
	m := new(big.Int).SetBytes(em)
	return m.Exp(m, s.d, s.n).FillBytes(make([]byte, k)), nil
}

// rsaPublic encodes an RSA public key as RFC 3110 says.
func rsaPublic(exp, mod []byte) []byte {
	var buf []byte
	if len(exp) > 255 {
		buf = append(buf, 0, byte(len(exp)>>8), byte(len(exp)))
	} else {
		buf = append(buf, byte(len(exp)))
	}
	return append(append(buf, exp...), mod...)
}

// collidingKeys returns n keys that share k's key tag, flags and algorithm
// but none of which is k: the key tag is a 16-bit one's-complement style
// sum of the RDATA's 16-bit words, so swapping two words of the public key
// keeps it. They are the KeyTrap decoys (CVE-2023-50387).
func collidingKeys(k *dns.DNSKEY, n int) []*dns.DNSKEY {
	pub, _ := base64.StdEncoding.DecodeString(k.PublicKey)
	words := len(pub) / 2
	seen := map[string]bool{string(pub): true}
	var out []*dns.DNSKEY
	for i := 0; i < words && len(out) < n; i++ {
		for j := i + 1; j < words && len(out) < n; j++ {
			p := append([]byte(nil), pub...)
			wi, wj := binary.BigEndian.Uint16(p[2*i:]), binary.BigEndian.Uint16(p[2*j:])
			binary.BigEndian.PutUint16(p[2*i:], wj)
			binary.BigEndian.PutUint16(p[2*j:], wi)
			if seen[string(p)] {
				continue
			}
			seen[string(p)] = true
			d := *k
			d.PublicKey = base64.StdEncoding.EncodeToString(p)
			out = append(out, &d)
		}
	}
	return out
}

// sigLen is the signature length of alg, for keys that cannot sign.
func sigLen(alg uint8) int {
	switch alg {
	case dns.ECDSAP256SHA256, dns.ED25519:
		return 64
	case dns.ECDSAP384SHA384:
		return 96
	}
	return 256
}

func toBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func fromBase64(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}
