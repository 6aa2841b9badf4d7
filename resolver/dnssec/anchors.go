package dnssec

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Root KSK trust anchors as published by IANA in
// https://data.iana.org/root-anchors/root-anchors.xml (also shipped by
// Debian's dns-root-data as /usr/share/dns/root.ds).
const (
	// RootKSK2017 is KSK-2017, key tag 20326, RSASHA256.
	RootKSK2017 = ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
	// RootKSK2024 is KSK-2024, key tag 38696, RSASHA256.
	RootKSK2024 = ". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16"
)

// Anchors is an immutable set of trust anchors, kept as DS records per
// zone: a DNSKEY anchor is turned into its SHA-256 DS when parsed, so the
// chain of trust starts the same way at an anchor as at any delegation.
type Anchors struct {
	ds map[string][]*dns.DS // canonical zone name -> anchors
}

// RootAnchors returns the built-in root anchors (KSK-2017 and KSK-2024).
func RootAnchors() *Anchors {
	a, err := ParseAnchors(strings.NewReader(RootKSK2017+"\n"+RootKSK2024+"\n"), "built-in")
	if err != nil {
		// The constants are fixed text covered by a test; failing here
		// is a build defect, not a runtime condition.
		panic(err)
	}
	return a
}

// ParseAnchors reads DS and/or DNSKEY records in zone-file syntax (the
// format of unbound-anchor's root.key and of dns-root-data's root.ds);
// file names the source in errors. A DNSKEY anchor must have the Zone Key
// flag, must not be revoked, and must use a digestable algorithm.
func ParseAnchors(r io.Reader, file string) (*Anchors, error) {
	a := &Anchors{ds: make(map[string][]*dns.DS)}
	zp := dns.NewZoneParser(r, ".", file)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		var ds *dns.DS
		switch rr := rr.(type) {
		case *dns.DS:
			ds = rr
		case *dns.DNSKEY:
			if rr.Flags&dns.ZONE == 0 || rr.Flags&dns.REVOKE != 0 || rr.Protocol != 3 {
				return nil, fmt.Errorf("parse trust anchors %s: %s DNSKEY %d: not a usable zone key", file, h.Name, rr.KeyTag())
			}
			if ds = rr.ToDS(dns.SHA256); ds == nil {
				return nil, fmt.Errorf("parse trust anchors %s: %s DNSKEY: cannot compute DS", file, h.Name)
			}
		default:
			return nil, fmt.Errorf("parse trust anchors %s: %s: type %s is not DS or DNSKEY", file, h.Name, dns.TypeToString[h.Rrtype])
		}
		zone := dns.CanonicalName(h.Name)
		a.ds[zone] = append(a.ds[zone], ds)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("parse trust anchors %s: %w", file, err)
	}
	if len(a.ds) == 0 {
		return nil, fmt.Errorf("parse trust anchors %s: no DS or DNSKEY records", file)
	}
	return a, nil
}

// Zones returns the anchored zone names, sorted.
func (a *Anchors) Zones() []string {
	zones := make([]string, 0, len(a.ds))
	for z := range a.ds {
		zones = append(zones, z)
	}
	slices.Sort(zones)
	return zones
}

// Closest returns the deepest anchored zone at or above name and its DS
// set (shared: do not modify).
func (a *Anchors) Closest(name string) (zone string, ds []*dns.DS, ok bool) {
	name = dns.CanonicalName(name)
	for {
		if ds, ok := a.ds[name]; ok {
			return name, ds, true
		}
		if name == "." {
			return "", nil, false
		}
		name = parentName(name)
	}
}

// closestName returns the deepest name of set at or above name.
func closestName(set map[string]bool, name string) (string, bool) {
	name = dns.CanonicalName(name)
	for {
		if set[name] {
			return name, true
		}
		if name == "." {
			return "", false
		}
		name = parentName(name)
	}
}
