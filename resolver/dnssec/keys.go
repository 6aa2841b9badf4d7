package dnssec

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"math/big"

	"github.com/miekg/dns"
)

// supportedAlgorithm lists the DNSKEY algorithms this validator verifies:
// RFC 8624 section 3.1 minus what Go or miekg/dns cannot do (RSAMD5, DSA,
// ECC-GOST, and ED448, which neither implements). RSASHA1 variants stay
// because RFC 8624 still says MUST validate and zones still use them.
func supportedAlgorithm(alg uint8) bool {
	switch alg {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512,
		dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519:
		return true
	}
	return false
}

// supportedDigest lists the DS digest types this validator computes
// (RFC 8624 section 3.3 minus GOST).
func supportedDigest(t uint8) bool {
	switch t {
	case dns.SHA1, dns.SHA256, dns.SHA384:
		return true
	}
	return false
}

// usableKey reports whether k is a key this validator can use: a zone key,
// protocol 3, not revoked, of a supported algorithm, and one Go's crypto
// accepts. An RSA key Go rejects (exponent over 2^31-1 or even, modulus
// under 1024 bits or over 4096) is treated like an unsupported algorithm,
// so it makes its zone Insecure rather than Bogus (RFC 6840 section 5.2).
func usableKey(k *dns.DNSKEY) bool {
	if k.Flags&dns.ZONE == 0 || k.Flags&dns.REVOKE != 0 || k.Protocol != 3 {
		return false
	}
	return supportedAlgorithm(k.Algorithm) && goAccepts(k)
}

// goAccepts mirrors the checks of miekg/dns's key decoding and of
// crypto/rsa, crypto/ecdsa and crypto/ed25519, so an unusable key is found
// before any signature work is spent on it.
func goAccepts(k *dns.DNSKEY) bool {
	buf, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil {
		return false
	}
	switch k.Algorithm {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512:
		return rsaAccepted(buf)
	case dns.ECDSAP256SHA256, dns.ECDSAP384SHA384:
		curve, size := elliptic.P256(), 64
		if k.Algorithm == dns.ECDSAP384SHA384 {
			curve, size = elliptic.P384(), 96
		}
		if len(buf) != size {
			return false
		}
		// Uncompressed point: 0x04 || X || Y. ecdh-style parsing rejects
		// points off the curve, which ecdsa.Verify would only fail on.
		pt := append([]byte{4}, buf...)
		_, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		return err == nil
	case dns.ED25519:
		return len(buf) == ed25519.PublicKeySize
	}
	return false
}

// rsaAccepted parses an RFC 3110 RSA public key the way miekg/dns does and
// applies the limits of crypto/rsa.
func rsaAccepted(buf []byte) bool {
	if len(buf) < 3 {
		return false
	}
	explen, off := int(buf[0]), 1
	if explen == 0 {
		explen, off = int(buf[1])<<8|int(buf[2]), 3
	}
	if explen == 0 || explen > 4 || off+explen >= len(buf) || buf[off] == 0 {
		return false
	}
	var e uint64
	for _, b := range buf[off : off+explen] {
		e = e<<8 | uint64(b)
	}
	mod := buf[off+explen:]
	if e < 3 || e&1 == 0 || e > 1<<31-1 {
		return false
	}
	if len(mod) < 64 || len(mod) > 512 || mod[0] == 0 || mod[len(mod)-1]&1 == 0 {
		return false
	}
	return new(big.Int).SetBytes(mod).BitLen() >= 1024
}
