package resolver

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNS Cookies (RFC 7873, with the interoperable server cookie of RFC 9018).
//
// Two roles share the secrets here:
//   - Towards clients (the listeners): a client that sends a client cookie
//     gets a server cookie back (serverCookie), which it can echo to prove
//     it sees our answers; we do not yet require one (no BADCOOKIE).
//   - Towards authorities (upstream): cookieFor gives the COOKIE option for
//     a query to a server, and learnCookie keeps the server cookie it
//     returned, so a spoofer must also guess 64 bits of client cookie.

const (
	clientCookieLen = 8
	// serverCookieLen is the RFC 9018 cookie: version, reserved,
	// timestamp, hash.
	serverCookieLen = 16
	maxServerCookie = 32
	// maxKnownServers bounds the server cookies kept; beyond it the table
	// starts over (a server whose cookie was forgotten simply gets a query
	// with only our client cookie, which RFC 7873 allows).
	maxKnownServers = 4096
)

// cookies holds the secrets and the server cookies learned from
// authorities.
type cookies struct {
	serverSecret [16]byte // keys our server cookies to clients
	clientSecret [16]byte // keys our client cookies to authorities

	// mu guards what follows.
	mu     sync.Mutex
	server map[netip.Addr][]byte // server cookie last returned by each authority
}

// newCookies makes the cookie state; a non-empty serverSecret (16 bytes,
// shared by the nodes of one service) keys the server cookies, else a
// random one does.
func newCookies(serverSecret []byte) *cookies {
	c := &cookies{server: map[netip.Addr][]byte{}}
	if len(serverSecret) == len(c.serverSecret) {
		copy(c.serverSecret[:], serverSecret)
	} else {
		rand.Read(c.serverSecret[:])
	}
	rand.Read(c.clientSecret[:])
	return c
}

// clientCookie is our client cookie for server: a keyed hash of its
// address (RFC 7873 section 4.1), stable for the process's life so a
// server's cookie stays valid, different per server so they cannot track
// us across servers.
func (c *cookies) clientCookie(server netip.Addr) []byte {
	a := server.Unmap().AsSlice()
	out := make([]byte, clientCookieLen)
	binary.BigEndian.PutUint64(out, sipHash24(c.clientSecret, a))
	return out
}

// cookieFor returns the COOKIE option payload (client cookie, then the
// server cookie if one was learned) for a query to server.
func (c *cookies) cookieFor(server netip.Addr) []byte {
	out := c.clientCookie(server)
	c.mu.Lock()
	sc := c.server[server.Unmap()]
	c.mu.Unlock()
	return append(out, sc...)
}

// addCookie puts our COOKIE option on m, a query to server that already
// carries an OPT record; without one it does nothing (cookies are EDNS).
func (c *cookies) addCookie(m *dns.Msg, server netip.Addr) {
	opt := m.IsEdns0()
	if c == nil || opt == nil {
		return
	}
	opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(c.cookieFor(server))})
}

// learnCookie keeps the server cookie in opt, the OPT record of a response
// from server, if it echoes our client cookie for that server.
func (c *cookies) learnCookie(server netip.Addr, opt *dns.OPT) {
	if c == nil || opt == nil {
		return
	}
	raw, ok := cookieOption(opt)
	if !ok || len(raw) < clientCookieLen+8 || len(raw) > clientCookieLen+maxServerCookie {
		return
	}
	want := c.clientCookie(server)
	if string(raw[:clientCookieLen]) != string(want) {
		return // not an answer to our cookie: ignore, never learn from it
	}
	server = server.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, known := c.server[server]; !known && len(c.server) >= maxKnownServers {
		clear(c.server)
	}
	c.server[server] = append([]byte(nil), raw[clientCookieLen:]...)
}

// cookieOption returns the raw bytes of the COOKIE option in opt.
func cookieOption(opt *dns.OPT) ([]byte, bool) {
	for _, o := range opt.Option {
		if ck, ok := o.(*dns.EDNS0_COOKIE); ok {
			b, err := hex.DecodeString(ck.Cookie)
			return b, err == nil
		}
	}
	return nil, false
}

// serverCookie returns the RFC 9018 server cookie for a client that sent
// clientCookie from client at time now:
//
//	Version (1) = 1 | Reserved (3) = 0 | Timestamp (4) | Hash (8)
//	Hash = SipHash-2-4(Client Cookie | Version | Reserved | Timestamp | Client IP)
//
// The client address is hashed in memory and forgotten; nothing keeps it.
func (c *cookies) serverCookie(clientCookie []byte, client netip.Addr, now time.Time) []byte {
	out := make([]byte, serverCookieLen)
	out[0] = 1
	binary.BigEndian.PutUint32(out[4:8], uint32(now.Unix()))
	binary.BigEndian.PutUint64(out[8:], c.cookieHash(clientCookie, out[:8], client))
	return out
}

func (c *cookies) cookieHash(clientCookie, head []byte, client netip.Addr) uint64 {
	var buf [8 + 8 + 16]byte
	msg := append(buf[:0], clientCookie...)
	msg = append(msg, head...)
	msg = append(msg, client.Unmap().AsSlice()...)
	return sipHash24(c.serverSecret, msg)
}

// validServerCookie reports whether sc is a server cookie we made for
// clientCookie and client less than an hour ago (RFC 9018 section 4.3:
// also at most 5 minutes in the future, for clock steps).
func (c *cookies) validServerCookie(clientCookie, sc []byte, client netip.Addr, now time.Time) bool {
	if len(sc) != serverCookieLen || sc[0] != 1 {
		return false
	}
	ts := int64(binary.BigEndian.Uint32(sc[4:8]))
	// Serial number arithmetic on the 32-bit timestamp (RFC 1982).
	delta := int32(uint32(now.Unix()) - uint32(ts))
	if delta > 3600 || delta < -300 {
		return false
	}
	return binary.BigEndian.Uint64(sc[8:]) == c.cookieHash(clientCookie, sc[:8], client)
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein), which RFC 9018 names
// for the server cookie hash; it is short enough not to need a module.
func sipHash24(key [16]byte, msg []byte) uint64 {
	k0 := binary.LittleEndian.Uint64(key[:8])
	k1 := binary.LittleEndian.Uint64(key[8:])
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
		msg = msg[8:]
	}
	var last [8]byte
	copy(last[:], msg)
	last[7] = byte(n)
	m := binary.LittleEndian.Uint64(last[:])
	v3 ^= m
	round()
	round()
	v0 ^= m
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
