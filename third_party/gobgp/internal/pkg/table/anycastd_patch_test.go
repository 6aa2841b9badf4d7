// anycastd patch AP-10: test of the fix in UpdatePathAttrs4ByteAs
// (GHSA-8rxh-r2p6-7f2q). Not in upstream GoBGP; see ANYCASTD-PATCH.txt.
// Run from the anycastd module with
// go test github.com/osrg/gobgp/v3/internal/pkg/table

package table

import (
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// TestAP10_AS4PathBeforeASPath decodes payloadAS4PathBeforeASPath of
// bgp/gobgp_patch_test.go (ORIGIN, NEXT_HOP, AS4_PATH [4200000000], AS_PATH
// [23456], 192.0.2.0/24) and merges the paths as the fsm does. Unpatched:
// index out of range [3] with length 3.
func TestAP10_AS4PathBeforeASPath(t *testing.T) {
	msg, _ := hex.DecodeString("ffffffffffffffffffffffffffffffff0036020000001b40010100400304" +
		"7f000001c011060201fa56ea0040020402015ba018c00002")
	m, err := bgp.ParseBGPMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	u := m.Body.(*bgp.BGPUpdate)
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("UpdatePathAttrs4ByteAs panicked: %v", r)
		}
	}()
	if err := UpdatePathAttrs4ByteAs(log.NewDefaultLogger(), u); err != nil {
		t.Fatal(err)
	}
	if len(u.PathAttributes) != 3 {
		t.Fatalf("attributes %v, want ORIGIN, NEXT_HOP, AS_PATH", u.PathAttributes)
	}
	as, ok := u.PathAttributes[2].(*bgp.PathAttributeAsPath)
	if !ok {
		t.Fatalf("third attribute is %v, want the AS_PATH", u.PathAttributes[2])
	}
	if got := as.String(); got != "{AsPath: 4200000000}" {
		t.Errorf("AS_PATH %q, want 4200000000 from the AS4_PATH", got)
	}
}

// TestAP23_AdjRibUnknownFamily hands AdjRib.Update and UpdateAdjRibOut a
// path of a family the Adj-RIB has no table for (GHSA-p3w2-64xm-833j).
// Unpatched: nil pointer dereference.
func TestAP23_AdjRibUnknownFamily(t *testing.T) {
	adj := NewAdjRib(log.NewDefaultLogger(), []bgp.RouteFamily{bgp.RF_IPv4_UC})
	peer := &PeerInfo{AS: 64497, Address: net.ParseIP("10.0.0.9")}
	nlri := bgp.NewIPv6AddrPrefix(32, "2001:db8::")
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), bgp.NewPathAttributeMpReachNLRI("2001:db8::1", []bgp.AddrPrefixInterface{nlri})}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panicked: %v", r)
		}
	}()
	for _, withdraw := range []bool{false, true} {
		adj.Update([]*Path{NewPath(peer, nlri, withdraw, attrs, time.Now(), false)})
	}
	adj.UpdateAdjRibOut([]*Path{NewPath(peer, nlri, false, attrs, time.Now(), false)})
	if n := adj.Count([]bgp.RouteFamily{bgp.RF_IPv6_UC}); n != 0 {
		t.Errorf("%d ipv6 paths in an ipv4 Adj-RIB", n)
	}
}
