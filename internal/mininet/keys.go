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
	"math/big"
	"math/rand/v2"

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
	case dns.ED448:
		// Neither Go nor miekg/dns implements Ed448: a key that looks
		// right on the wire and can never be verified.
		pub = sd[:57]
	default:
		return zoneKey{}, fmt.Errorf("key %s %s: algorithm %d not supported", origin, role, alg)
	}
	k.dnskey.PublicKey = base64.StdEncoding.EncodeToString(pub)
	return k, nil
}

// badExponentKey returns an RSA/SHA-256 key with the modulus of a real key
// and the exponent 2^32+1, which crypto/rsa refuses (it takes at most
// 2^31-1): a validator must treat it as an unsupported algorithm.
func badExponentKey(origin string, flags uint16) zoneKey {
	mod := make([]byte, 256)
	r := rand.New(rand.NewChaCha8([32]byte(seed(origin, "bad exponent")[:32])))
	for i := range mod {
		mod[i] = byte(r.Uint32())
	}
	mod[0] |= 0x80 // full 2048 bits
	mod[255] |= 1  // odd
	pub := rsaPublic([]byte{1, 0, 0, 0, 1}, mod)
	return zoneKey{dnskey: &dns.DNSKEY{
		Hdr:   dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: dns.RSASHA256,
		PublicKey: base64.StdEncoding.EncodeToString(pub),
	}}
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
	case dns.ED448:
		return 114
	}
	return 256
}

func toBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func fromBase64(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}
