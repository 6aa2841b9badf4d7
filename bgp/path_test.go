package bgp

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

func TestAPIPath(t *testing.T) {
	tests := []struct {
		name        string
		route       Route
		wantNextHop string // as GoBGP holds it before next-hop-self
		wantMPReach bool
		wantAS      []uint32
		wantComm    []uint32
	}{
		{"v4 plain", Route{Prefix: svc4}, "0.0.0.0", false, nil, nil},
		{"v6 plain", Route{Prefix: svc6}, "::", true, nil, nil},
		{"v4 degraded", Route{Prefix: svc4, MED: 100, Prepend: 2, Communities: []uint32{1<<16 | 2}},
			"0.0.0.0", false, []uint32{64513, 64513}, []uint32{1<<16 | 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := apiPath(tc.route.canonical(), 64513)
			if err != nil {
				t.Fatal(err)
			}
			nlri, err := apiutil.GetNativeNlri(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := nlri.String(); got != tc.route.Prefix.String() {
				t.Errorf("NLRI %s, want %s", got, tc.route.Prefix)
			}
			attrs, err := apiutil.GetNativePathAttributes(p)
			if err != nil {
				t.Fatal(err)
			}
			var (
				origin  = -1
				nextHop string
				mpReach bool
				med     = int64(-1)
				as      []uint32
				comm    []uint32
			)
			for _, a := range attrs {
				switch a := a.(type) {
				case *bgp.PathAttributeOrigin:
					origin = int(a.Value)
				case *bgp.PathAttributeNextHop:
					nextHop = a.Value.String()
				case *bgp.PathAttributeMpReachNLRI:
					nextHop, mpReach = a.Nexthop.String(), true
				case *bgp.PathAttributeMultiExitDisc:
					med = int64(a.Value)
				case *bgp.PathAttributeAsPath:
					for _, seg := range a.Value {
						as = append(as, seg.GetAS()...)
					}
				case *bgp.PathAttributeCommunities:
					comm = a.Value
				}
			}
			if origin != int(bgp.BGP_ORIGIN_ATTR_TYPE_IGP) {
				t.Errorf("origin %d, want IGP", origin)
			}
			if nextHop != tc.wantNextHop || mpReach != tc.wantMPReach {
				t.Errorf("next hop %q (MP_REACH %v), want %q (MP_REACH %v)", nextHop, mpReach, tc.wantNextHop, tc.wantMPReach)
			}
			if med != int64(tc.route.MED) {
				t.Errorf("MED %d, want %d", med, tc.route.MED)
			}
			if !slices.Equal(as, tc.wantAS) {
				t.Errorf("AS path %v, want %v", as, tc.wantAS)
			}
			if !slices.Equal(comm, tc.wantComm) {
				t.Errorf("communities %v, want %v", comm, tc.wantComm)
			}
			if got := asPathContains(p, 64513); got != (len(tc.wantAS) > 0) {
				t.Errorf("asPathContains = %v", got)
			}
		})
	}
}

func TestRouteCanonicalEqual(t *testing.T) {
	a := Route{Prefix: svc4, Communities: []uint32{3, 1, 3, 2}}.canonical()
	b := Route{Prefix: svc4, Communities: []uint32{1, 2, 3}}.canonical()
	if !a.equal(b) {
		t.Errorf("%v and %v differ only in community order and duplicates", a, b)
	}
	if a.equal(Route{Prefix: svc4}.canonical()) {
		t.Error("routes with and without communities compare equal")
	}
	if (Route{Prefix: svc4, MED: 1}).equal(Route{Prefix: svc4}) {
		t.Error("routes with different MED compare equal")
	}
	if (Route{Prefix: svc4, Prepend: 1}).equal(Route{Prefix: svc4}) {
		t.Error("routes with different prepend compare equal")
	}
	orig := []uint32{2, 1}
	_ = Route{Prefix: svc4, Communities: orig}.canonical()
	if orig[0] != 2 {
		t.Error("canonical sorted the caller's slice")
	}
}

func TestSortedPrefixes(t *testing.T) {
	m := map[netip.Prefix]int{svc6: 0, svc4: 0, netip.MustParsePrefix("192.0.2.0/24"): 0}
	got := sortedPrefixes(m)
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), svc4, svc6}
	if !slices.Equal(got, want) {
		t.Errorf("sortedPrefixes = %v, want %v", got, want)
	}
}
