package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// canonical returns a copy with communities sorted and deduplicated: they
// are a set on the wire, and a stable order makes Set's diff exact.
func (r Route) canonical() Route {
	c := r
	c.Communities = slices.Clone(r.Communities)
	slices.Sort(c.Communities)
	c.Communities = slices.Compact(c.Communities)
	if len(c.Communities) == 0 {
		c.Communities = nil
	}
	c.LargeCommunities = slices.Clone(r.LargeCommunities)
	slices.SortFunc(c.LargeCommunities, compareLarge)
	c.LargeCommunities = slices.Compact(c.LargeCommunities)
	if len(c.LargeCommunities) == 0 {
		c.LargeCommunities = nil
	}
	return c
}

// equal reports whether two canonical routes would be announced identically.
func (r Route) equal(o Route) bool {
	return r.Prefix == o.Prefix && r.MED == o.MED && r.Prepend == o.Prepend &&
		slices.Equal(r.Communities, o.Communities) && slices.Equal(r.LargeCommunities, o.LargeCommunities)
}

func (r Route) clone() Route {
	c := r
	c.Communities = slices.Clone(r.Communities)
	c.LargeCommunities = slices.Clone(r.LargeCommunities)
	return c
}

// family returns the GoBGP address family of a prefix.
func family(p netip.Prefix) *api.Family {
	if p.Addr().Is4() {
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
}

// apiPath builds the GoBGP path for a locally originated route.
//
// The next hop is deliberately unspecified (0.0.0.0 or ::). GoBGP replaces
// an unspecified next hop on a local path with the local address of each
// session as it sends it (table.UpdatePathAttrs), which is next-hop-self
// per session. Because a peer is only configured for the family of its own
// address, an IPv4 prefix only ever goes to IPv4 sessions with an IPv4 next
// hop, and an IPv6 prefix to IPv6 sessions with an IPv6 next hop.
func apiPath(r Route, localASN uint32) (*api.Path, error) {
	addr := r.Prefix.Addr()
	bits := uint8(r.Prefix.Bits())
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
	}
	var nlri bgp.AddrPrefixInterface
	if addr.Is4() {
		nlri = bgp.NewIPAddrPrefix(bits, addr.String())
		attrs = append(attrs, bgp.NewPathAttributeNextHop("0.0.0.0"))
	} else {
		nlri = bgp.NewIPv6AddrPrefix(bits, addr.String())
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI("::", []bgp.AddrPrefixInterface{nlri}))
	}
	if r.Prepend > 0 {
		// The session adds our ASN once more on eBGP; these are the extras.
		asns := make([]uint32, r.Prepend)
		for i := range asns {
			asns[i] = localASN
		}
		attrs = append(attrs, bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
			bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, asns),
		}))
	}
	// MED 0 is still sent: receivers treat a missing MED inconsistently
	// (as 0 or as worst), and an explicit value keeps nodes comparable.
	attrs = append(attrs, bgp.NewPathAttributeMultiExitDisc(r.MED))
	if len(r.Communities) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(slices.Clone(r.Communities)))
	}
	if len(r.LargeCommunities) > 0 {
		lcs := make([]*bgp.LargeCommunity, len(r.LargeCommunities))
		for i, c := range r.LargeCommunities {
			lcs[i] = bgp.NewLargeCommunity(c.ASN, c.Data1, c.Data2)
		}
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(lcs))
	}
	p, err := apiutil.NewPath(nlri, false, attrs, time.Now())
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w", r.Prefix, err)
	}
	return p, nil
}

// asPathContains reports whether any AS_PATH segment of an API path holds asn.
func asPathContains(p *api.Path, asn uint32) bool {
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return false
	}
	for _, a := range attrs {
		ap, ok := a.(*bgp.PathAttributeAsPath)
		if !ok {
			continue
		}
		for _, seg := range ap.Value {
			if slices.Contains(seg.GetAS(), asn) {
				return true
			}
		}
	}
	return false
}
