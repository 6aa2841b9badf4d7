package resolver

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// TestSharedCookieSecret: two nodes of one anycast service with the same
// cookie_secret accept each other's server cookies (RFC 9018 section 5),
// so a client whose packets move to another node keeps a valid cookie;
// nodes with their own random secrets do not.
func TestSharedCookieSecret(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 16)
	a, b := newCookies(secret), newCookies(secret)
	lone := newCookies(nil)
	client := netip.MustParseAddr("203.0.113.9")
	cc := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	now := time.Now()
	sc := a.serverCookie(cc, client, now)
	if !b.validServerCookie(cc, sc, client, now.Add(time.Second)) {
		t.Error("a node with the same secret rejected the other node's server cookie")
	}
	if lone.validServerCookie(cc, sc, client, now.Add(time.Second)) {
		t.Error("a node with its own secret accepted another node's server cookie")
	}
	if _, err := (Config{RootHints: DefaultRootHints(), CookieSecret: []byte{1, 2, 3}}).withDefaults(); err == nil {
		t.Error("a 3-byte cookie secret was accepted")
	}
}
