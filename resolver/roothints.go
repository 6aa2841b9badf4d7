package resolver

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// ParseRootHints reads a named.root style file and returns the addresses
// (A and AAAA) of the name servers listed for ".", in file order. Address
// records of names that are not root servers are ignored, so a hints file
// cannot smuggle in unrelated addresses.
func ParseRootHints(r io.Reader) ([]netip.Addr, error) {
	zp := dns.NewZoneParser(r, ".", "root hints")
	var (
		servers = map[string]bool{}
		addrs   []hintAddr
	)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := strings.ToLower(rr.Header().Name)
		switch rr := rr.(type) {
		case *dns.NS:
			if name == "." {
				servers[strings.ToLower(rr.Ns)] = true
			}
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				addrs = append(addrs, hintAddr{name, a})
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA.To16()); ok {
				addrs = append(addrs, hintAddr{name, a})
			}
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("parse root hints: %w", err)
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("parse root hints: no NS records for \".\"")
	}
	var out []netip.Addr
	for _, a := range addrs {
		if servers[a.name] {
			out = append(out, a.addr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parse root hints: no addresses for the %d root server names", len(servers))
	}
	return out, nil
}

type hintAddr struct {
	name string
	addr netip.Addr
}

// DefaultRootHints returns the addresses of the real IANA root servers. It
// is a default for production configs only: no test, bench or lab may use
// it (DESIGN.md, safety rules).
func DefaultRootHints() []netip.Addr {
	addrs, err := ParseRootHints(strings.NewReader(ianaRootHints))
	if err != nil {
		// The text is a constant checked by TestDefaultRootHints.
		panic("resolver: built-in root hints: " + err.Error())
	}
	return addrs
}

// ianaRootHints is https://www.internic.net/domain/named.root (2024 edition),
// trimmed of comments.
const ianaRootHints = `
.                        3600000      NS    A.ROOT-SERVERS.NET.
A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30
.                        3600000      NS    B.ROOT-SERVERS.NET.
B.ROOT-SERVERS.NET.      3600000      A     170.247.170.2
B.ROOT-SERVERS.NET.      3600000      AAAA  2801:1b8:10::b
.                        3600000      NS    C.ROOT-SERVERS.NET.
C.ROOT-SERVERS.NET.      3600000      A     192.33.4.12
C.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2::c
.                        3600000      NS    D.ROOT-SERVERS.NET.
D.ROOT-SERVERS.NET.      3600000      A     199.7.91.13
D.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2d::d
.                        3600000      NS    E.ROOT-SERVERS.NET.
E.ROOT-SERVERS.NET.      3600000      A     192.203.230.10
E.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:a8::e
.                        3600000      NS    F.ROOT-SERVERS.NET.
F.ROOT-SERVERS.NET.      3600000      A     192.5.5.241
F.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2f::f
.                        3600000      NS    G.ROOT-SERVERS.NET.
G.ROOT-SERVERS.NET.      3600000      A     192.112.36.4
G.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:12::d0d
.                        3600000      NS    H.ROOT-SERVERS.NET.
H.ROOT-SERVERS.NET.      3600000      A     198.97.190.53
H.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:1::53
.                        3600000      NS    I.ROOT-SERVERS.NET.
I.ROOT-SERVERS.NET.      3600000      A     192.36.148.17
I.ROOT-SERVERS.NET.      3600000      AAAA  2001:7fe::53
.                        3600000      NS    J.ROOT-SERVERS.NET.
J.ROOT-SERVERS.NET.      3600000      A     192.58.128.30
J.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:c27::2:30
.                        3600000      NS    K.ROOT-SERVERS.NET.
K.ROOT-SERVERS.NET.      3600000      A     193.0.14.129
K.ROOT-SERVERS.NET.      3600000      AAAA  2001:7fd::1
.                        3600000      NS    L.ROOT-SERVERS.NET.
L.ROOT-SERVERS.NET.      3600000      A     199.7.83.42
L.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:9f::42
.                        3600000      NS    M.ROOT-SERVERS.NET.
M.ROOT-SERVERS.NET.      3600000      A     202.12.27.33
M.ROOT-SERVERS.NET.      3600000      AAAA  2001:dc3::35
`
