package bgp

// Unit tests for the anycastd patches to the vendored GoBGP
// (third_party/gobgp, "anycastd patch AP-NN" markers; see
// third_party/gobgp/ADVISORIES.draft.txt). Each test decodes the exact bytes
// a peer could send through the exported decoder, github.com/osrg/gobgp/v3/
// pkg/packet/bgp, and fails on the unpatched code (a panic or the wrong
// handling). The payload* vars are whole BGP messages (marker, length,
// type) for the session tests to send as they are.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// apOpen builds an OPEN message from AS 64497 (2 octets), hold time 90,
// identifier 10.0.0.9, with one Capabilities optional parameter holding caps.
func apOpen(caps ...[]byte) []byte {
	c := concat(caps...)
	body := []byte{4, 0xfb, 0xf1, 0, 90, 10, 0, 0, 9, byte(2 + len(c)), 2, byte(len(c))}
	return rawMessage(bgp.BGP_MSG_OPEN, append(body, c...))
}

var (
	apCapMP4     = []byte{1, 4, 0, 1, 0, 1}                          // multiprotocol ipv4-unicast
	apCapAS4     = []byte{65, 4, 0, 0, 0xfb, 0xf1}                   // 4-octet AS 64497
	apCapRR      = []byte{2, 0}                                      // route refresh
	apAttrAS4    = []byte{0xc0, 17, 6, 2, 1, 0xfa, 0x56, 0xea, 0x00} // AS4_PATH AS_SEQUENCE 4200000000
	apAttrASPath = []byte{0x40, 2, 4, 2, 1, 0x5b, 0xa0}              // AS_PATH AS_SEQUENCE 23456 (2-octet)
)

// apMPReachEVPN is an MP_REACH_NLRI of family l2vpn-evpn, next hop
// 10.0.0.1, holding nlri.
func apMPReachEVPN(nlri []byte) []byte {
	v := concat([]byte{0, 25, 70, 4, 10, 0, 0, 1, 0}, nlri)
	return concat([]byte{0x80, 14, byte(len(v))}, v)
}

// apEVPNType1 is a well-formed EVPN Ethernet Auto-discovery route (25 octets).
var apEVPNType1 = concat([]byte{1, 25}, []byte{0, 0, 0xfd, 0xe8, 0, 0, 0, 1}, make([]byte, 10), []byte{0, 0, 0, 1, 0, 0, 0x11})

var (
	// AP-10 (GHSA-8rxh-r2p6-7f2q): a well-formed AS4_PATH before the AS_PATH.
	payloadAS4PathBeforeASPath = rawUpdate(nil, concat(attrOrigin, attrNextHop, apAttrAS4, apAttrASPath), nlri24)

	// AP-11: MP_REACH_NLRI holding AFI 1 / SAFI 1 and nothing else: no
	// next hop length octet.
	payloadMPReachNoNexthopLen = rawUpdate(nil, concat(attrOrigin, attrASPath, []byte{0x80, 14, 3, 0, 1, 1}), nil)
	// AP-11: MP_REACH_NLRI / MP_UNREACH_NLRI of 2 octets: no SAFI.
	payloadMPReachNoSAFI   = rawUpdate(nil, concat(attrOrigin, attrASPath, []byte{0x80, 14, 2, 0, 1}), nil)
	payloadMPUnreachNoSAFI = rawUpdate(nil, []byte{0x80, 15, 2, 0, 1}, nil)
	// AP-11: ipv4-unicast MP_REACH_NLRI with a zero-length next hop.
	payloadMPReachZeroNexthop = rawUpdate(nil, concat(attrOrigin, attrASPath, []byte{0x80, 14, 9, 0, 1, 1, 0, 0, 24, 192, 0, 2}), nil)

	// AP-12 (GHSA-gjrg-jjr3-56cm): a 4-octet AS capability of length 0
	// followed by a multiprotocol capability, whose bytes the unpatched
	// decoder took as the AS number (0x01040001).
	payloadOpenAS4CapLenZero = apOpen([]byte{65, 0}, apCapMP4, apCapRR)

	// AP-13: an EVPN MP_REACH_NLRI whose route (type 1) is one octet long.
	payloadEVPNOneByteRoute = rawUpdate(nil, concat(attrOrigin, attrASPath, apMPReachEVPN([]byte{1, 1, 0})), nil)

	// AP-14: an ipv4-unicast UPDATE that also carries an EVPN MP_REACH_NLRI
	// (family not negotiated), here a well-formed one.
	payloadEVPNNotNegotiated = rawUpdate(nil, concat(attrOrigin, attrASPath, attrNextHop, apMPReachEVPN(apEVPNType1)), nlri24)
	// AP-14: an MP_UNREACH_NLRI for ipv6-unicast on an ipv4-unicast session.
	payloadIPv6UnreachNotNegotiated = rawUpdate(nil, []byte{0x80, 15, 8, 0, 2, 1, 32, 0x20, 0x01, 0x0d, 0xb8}, nil)

	// AP-15: an UPDATE of 4823 octets (1200 /24 routes), over 4096.
	payloadUpdateOver4096 = rawUpdate(nil, concat(attrOrigin, attrASPath, attrNextHop), bytes.Repeat(nlri24, 1200))

	// AP-16: an empty AS_PATH (as sent by an eBGP peer).
	payloadEmptyASPath = rawUpdate(nil, concat(attrOrigin, []byte{0x40, 2, 0}, attrNextHop), nlri24)

	// AP-17 (GHSA-pw7p-7fqv-hpj8): Total Path Attribute Length 3 with a
	// 4-octet ORIGIN: the attribute runs into the NLRI field, which holds
	// what looks like a LOCAL_PREF attribute.
	payloadAttrPastTotalLength = rawMessage(bgp.BGP_MSG_UPDATE, concat([]byte{0, 0, 0, 3}, attrOrigin, []byte{0x40, 5, 4, 0, 0, 0, 100}))
	// AP-17: Withdrawn Routes Length 1 holding the first octet of a /24.
	payloadWithdrawnPastLength = rawMessage(bgp.BGP_MSG_UPDATE, []byte{0, 1, 24, 192, 0, 2, 0, 0})

	// AP-18: a KEEPALIVE whose marker is not all ones.
	payloadBadMarker = append(make([]byte, 16), 0, 19, bgp.BGP_MSG_KEEPALIVE)

	// AP-19 (GHSA-vm3g-8xwv-mxfp): PREFIX_SID attributes, on an
	// otherwise valid ipv4-unicast UPDATE.
	payloadPrefixSIDUnknownSubTLV = apPrefixSID([]byte{5, 0, 4, 0, 0, 0, 0})                                                 // SRv6 L3 service TLV, one unknown sub-TLV of length 0
	payloadPrefixSIDEmptyService  = apPrefixSID([]byte{5, 0, 0, 0})                                                          // SRv6 L3 service TLV of length 0 (no RESERVED octet), then one octet
	payloadPrefixSIDShortInfo     = apPrefixSID([]byte{5, 0, 5, 0, 1, 0, 1, 0})                                              // SRv6 SID information sub-TLV of length 1
	payloadPrefixSIDSubSubTLVLen0 = apPrefixSID(concat([]byte{5, 0, 29, 0, 1, 0, 25}, make([]byte, 21), []byte{1, 0, 0, 0})) // structure sub-sub-TLV of length 0
)

var (
	// AP-21: TUNNEL_ENCAP attributes with an SR Policy tunnel (type 15).
	// A Binding SID sub-TLV of length 2 (no SID): unpatched, String,
	// MarshalJSON and apiutil (ListPath) dereferenced the nil BSID.
	payloadTunnelEncapEmptyBSID = apTunnelEncap([]byte{13, 2, 0, 0}, nlri24)
	// A Candidate Path Name sub-TLV of length 0, last in the message:
	// unpatched, the name was read up to 3 octets past the value.
	payloadTunnelEncapEmptyPathName = apTunnelEncap([]byte{129, 0, 0}, nil)
	// A Segment List sub-TLV holding a Weight sub-TLV of length 0.
	payloadTunnelEncapEmptyWeight = apTunnelEncap([]byte{128, 0, 3, 0, 9, 0}, nlri24)
	// A Segment List sub-TLV ending in a one-octet segment.
	payloadTunnelEncapTruncatedSegment = apTunnelEncap([]byte{128, 0, 2, 0, 1}, nil)

	// AP-22 (GHSA-4p9m-8gc4-rw2h): a NEXT_HOP of length 0 without the
	// transitive flag.
	payloadNextHopNoValue = rawUpdate(nil, concat(attrOrigin, attrASPath, []byte{0x00, 3, 0}), nlri24)
)

// apTunnelEncap is an ipv4-unicast UPDATE (with nlri) carrying a
// TUNNEL_ENCAP attribute of one SR Policy tunnel holding subTLVs.
func apTunnelEncap(subTLVs, nlri []byte) []byte {
	tlv := concat([]byte{0, 15, 0, byte(len(subTLVs))}, subTLVs)
	return rawUpdate(nil, concat(attrOrigin, attrASPath, attrNextHop, []byte{0xc0, 23, byte(len(tlv))}, tlv), nlri)
}

// apPrefixSID is an ipv4-unicast UPDATE carrying a PREFIX_SID attribute
// whose value is tlvs.
func apPrefixSID(tlvs []byte) []byte {
	return rawUpdate(nil, concat(attrOrigin, attrASPath, attrNextHop, []byte{0xc0, 40, byte(len(tlvs))}, tlvs), nlri24)
}

// apParse decodes msg as the fsm does (header, then body), turning a panic
// into a test failure.
func apParse(t *testing.T, msg []byte, opts ...*bgp.MarshallingOption) (m *bgp.BGPMessage, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("decoding %x panicked: %v", msg, r)
		}
	}()
	h := &bgp.BGPHeader{}
	if err := h.DecodeFromBytes(msg, opts...); err != nil {
		return nil, err
	}
	return bgp.ParseBGPBody(h, msg[bgp.BGP_HEADER_LENGTH:], opts...)
}

func apMessageError(t *testing.T, err error) *bgp.MessageError {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	me, ok := err.(*bgp.MessageError)
	if !ok {
		t.Fatalf("error %T %v is not a *bgp.MessageError", err, err)
	}
	return me
}

func apUpdate(t *testing.T, m *bgp.BGPMessage) *bgp.BGPUpdate {
	t.Helper()
	if m == nil {
		t.Fatal("no message")
	}
	u, ok := m.Body.(*bgp.BGPUpdate)
	if !ok {
		t.Fatalf("body is %T, not an UPDATE", m.Body)
	}
	return u
}

func apAttrTypes(u *bgp.BGPUpdate) []bgp.BGPAttrType {
	var out []bgp.BGPAttrType
	for _, a := range u.PathAttributes {
		out = append(out, a.GetType())
	}
	return out
}

// TestAP10_AS4PathBeforeASPath checks that the payload decodes with the
// AS4_PATH before the AS_PATH. The crash was in
// internal/pkg/table.UpdatePathAttrs4ByteAs, which this package cannot
// import: its failing test is TestAP10_AS4PathBeforeASPath in
// third_party/gobgp/internal/pkg/table/anycastd_patch_test.go, on the same
// bytes.
func TestAP10_AS4PathBeforeASPath(t *testing.T) {
	m, err := apParse(t, payloadAS4PathBeforeASPath)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(apAttrTypes(apUpdate(t, m)))
	want := fmt.Sprint([]bgp.BGPAttrType{bgp.BGP_ATTR_TYPE_ORIGIN, bgp.BGP_ATTR_TYPE_NEXT_HOP, bgp.BGP_ATTR_TYPE_AS4_PATH, bgp.BGP_ATTR_TYPE_AS_PATH})
	if got != want {
		t.Errorf("attributes %s, want %s", got, want)
	}
}

func TestAP11_MPReachLengths(t *testing.T) {
	for _, tc := range []struct {
		name     string
		payload  []byte
		handling bgp.ErrorHandling
		family   bgp.RouteFamily // for an AFI/SAFI disable
	}{
		// The unpatched decoder panicked: index out of range [0] with length 0.
		{"no next hop length", payloadMPReachNoNexthopLen, bgp.ERROR_HANDLING_AFISAFI_DISABLE, bgp.RF_IPv4_UC},
		// RFC 7606 7.11: no AFI/SAFI to disable, so a session reset (the
		// unpatched decoder asked for an AFI/SAFI disable of "family 0").
		{"MP_REACH without SAFI", payloadMPReachNoSAFI, bgp.ERROR_HANDLING_SESSION_RESET, 0},
		{"MP_UNREACH without SAFI", payloadMPUnreachNoSAFI, bgp.ERROR_HANDLING_SESSION_RESET, 0},
		// RFC 4760 3: ipv4-unicast needs a next hop (accepted unpatched).
		{"zero-length next hop", payloadMPReachZeroNexthop, bgp.ERROR_HANDLING_AFISAFI_DISABLE, bgp.RF_IPv4_UC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apParse(t, tc.payload)
			me := apMessageError(t, err)
			if me.ErrorHandling != tc.handling {
				t.Fatalf("handling %d, want %d (%v)", me.ErrorHandling, tc.handling, me)
			}
			if me.ErrorAttribute == nil {
				t.Fatal("no ErrorAttribute")
			}
			if tc.family != 0 {
				var rf bgp.RouteFamily
				switch a := (*me.ErrorAttribute).(type) {
				case *bgp.PathAttributeMpReachNLRI:
					rf = bgp.AfiSafiToRouteFamily(a.AFI, a.SAFI)
				case *bgp.PathAttributeMpUnreachNLRI:
					rf = bgp.AfiSafiToRouteFamily(a.AFI, a.SAFI)
				}
				if rf != tc.family {
					t.Errorf("family to disable %v, want %v", rf, tc.family)
				}
			}
		})
	}
}

func TestAP12_CapabilityLengths(t *testing.T) {
	// The GHSA-gjrg-jjr3-56cm case first: unpatched, the OPEN decoded and
	// ValidateOpenMsg took 0x01040001 as the peer's AS.
	t.Run("4-octet AS of length 0", func(t *testing.T) {
		m, err := apParse(t, payloadOpenAS4CapLenZero)
		if err == nil {
			as, verr := bgp.ValidateOpenMsg(m.Body.(*bgp.BGPOpen), 0, 64496, []byte{10, 0, 0, 1})
			t.Fatalf("OPEN accepted, peer AS %d (%v)", as, verr)
		}
		me := apMessageError(t, err)
		if me.TypeCode != bgp.BGP_ERROR_OPEN_MESSAGE_ERROR || me.SubTypeCode != 0 {
			t.Fatalf("error %d/%d (%v), want OPEN Message Error / Unspecific (RFC 4271 6.2)", me.TypeCode, me.SubTypeCode, me)
		}
	})
	for _, tc := range []struct {
		name string
		caps [][]byte
	}{
		{"multiprotocol of length 0", [][]byte{{1, 0}, apCapAS4}},
		{"multiprotocol of length 5", [][]byte{{1, 5, 0, 1, 0, 1, 0}, apCapAS4}},
		{"4-octet AS of length 2", [][]byte{{65, 2, 0xfb, 0xf1}, apCapMP4}},
		{"4-octet AS of length 6", [][]byte{{65, 6, 0, 0, 0xfb, 0xf1, 0, 0}, apCapMP4}},
		{"route refresh of length 1", [][]byte{apCapMP4, {2, 1, 0}}},
		{"enhanced route refresh of length 2", [][]byte{apCapMP4, {70, 2, 0, 0}}},
		{"graceful restart of length 3", [][]byte{apCapMP4, {64, 3, 0, 0x78, 0}}},
		{"add-path of length 3", [][]byte{apCapMP4, {69, 3, 0, 1, 1}}},
		{"extended next hop of length 4", [][]byte{apCapMP4, {5, 4, 0, 1, 0, 1}}},
		{"long-lived graceful restart of length 6", [][]byte{apCapMP4, {71, 6, 0, 1, 1, 0, 0, 0}}},
		// The names below ran past their capability into the next one.
		{"FQDN host name past the capability", [][]byte{{73, 2, 6, 0}, apCapMP4}},
		{"software version past the capability", [][]byte{{75, 2, 6, 'x'}, apCapMP4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apParse(t, apOpen(tc.caps...))
			me := apMessageError(t, err)
			if me.TypeCode != bgp.BGP_ERROR_OPEN_MESSAGE_ERROR {
				t.Fatalf("error code %d (%v), want OPEN Message Error", me.TypeCode, me)
			}
		})
	}
	// Well-formed OPENs of every kind of capability still decode, and to
	// the same capabilities.
	t.Run("well-formed", func(t *testing.T) {
		caps := []bgp.ParameterCapabilityInterface{
			bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
			bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
			bgp.NewCapRouteRefresh(),
			bgp.NewCapEnhancedRouteRefresh(),
			bgp.NewCapRouteRefreshCisco(),
			bgp.NewCapFourOctetASNumber(4200000000),
			bgp.NewCapAddPath([]*bgp.CapAddPathTuple{bgp.NewCapAddPathTuple(bgp.RF_IPv4_UC, bgp.BGP_ADD_PATH_BOTH)}),
			bgp.NewCapGracefulRestart(false, true, 120, []*bgp.CapGracefulRestartTuple{bgp.NewCapGracefulRestartTuple(bgp.RF_IPv4_UC, true)}),
			bgp.NewCapGracefulRestart(true, false, 90, nil),
			bgp.NewCapLongLivedGracefulRestart([]*bgp.CapLongLivedGracefulRestartTuple{bgp.NewCapLongLivedGracefulRestartTuple(bgp.RF_IPv4_UC, true, 3600)}),
			bgp.NewCapExtendedNexthop([]*bgp.CapExtendedNexthopTuple{bgp.NewCapExtendedNexthopTuple(bgp.RF_IPv4_UC, 2)}),
			bgp.NewCapFQDN("router1", "example.net"),
			bgp.NewCapFQDN("router1", ""),
			bgp.NewCapSoftwareVersion("BIRD 2.15"),
			bgp.NewCapUnknown(9, []byte{1}), // BGP role (RFC 9234)
		}
		msg, err := bgp.NewBGPOpenMessage(23456, 90, "10.0.0.9", []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		m, err := apParse(t, msg)
		if err != nil {
			t.Fatalf("well-formed OPEN: %v", err)
		}
		got := m.Body.(*bgp.BGPOpen).OptParams[0].(*bgp.OptionParameterCapability).Capability
		if len(got) != len(caps) {
			t.Fatalf("%d capabilities, want %d", len(got), len(caps))
		}
		for i := range caps {
			want, _ := caps[i].Serialize()
			b, _ := got[i].Serialize()
			if !bytes.Equal(b, want) {
				t.Errorf("capability %d decoded to %x, want %x", i, b, want)
			}
		}
	})
}

func TestAP13_EVPNShortRoutes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		// Unpatched: slice bounds out of range in GetRouteDistinguisher.
		{"type 1 of one octet", payloadEVPNOneByteRoute},
		// Unpatched: index out of range (IP address length octet).
		{"type 3 without IP length", rawUpdate(nil, concat(attrOrigin, attrASPath, apMPReachEVPN(concat([]byte{3, 12}, make([]byte, 12)))), nil)},
		// Unpatched: slice bounds out of range after the ESI.
		{"type 4 of RD and 2 octets", rawUpdate(nil, concat(attrOrigin, attrASPath, apMPReachEVPN(concat([]byte{4, 10}, make([]byte, 10)))), nil)},
		// An IPv4 address length with no room for the address.
		{"type 2 with a missing IP address", rawUpdate(nil, concat(attrOrigin, attrASPath, apMPReachEVPN(concat([]byte{2, 33}, make([]byte, 22), []byte{48, 0, 0, 0, 0, 0, 1, 32, 0, 0, 1}))), nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apParse(t, tc.payload)
			me := apMessageError(t, err)
			if me.ErrorHandling != bgp.ERROR_HANDLING_AFISAFI_DISABLE {
				t.Errorf("handling %d (%v), want AFI/SAFI disable", me.ErrorHandling, me)
			}
		})
	}
}

func TestAP14_AllowedFamilies(t *testing.T) {
	v4only := &bgp.MarshallingOption{AllowedFamilies: map[bgp.RouteFamily]bool{bgp.RF_IPv4_UC: true}}
	rfMap := map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_NONE}
	for _, tc := range []struct {
		name    string
		payload []byte
		attrs   []bgp.BGPAttrType
		nlri    int
	}{
		{"well-formed EVPN", payloadEVPNNotNegotiated, []bgp.BGPAttrType{bgp.BGP_ATTR_TYPE_ORIGIN, bgp.BGP_ATTR_TYPE_AS_PATH, bgp.BGP_ATTR_TYPE_NEXT_HOP}, 1},
		{"EVPN route of one octet", rawUpdate(nil, concat(attrOrigin, attrASPath, attrNextHop, apMPReachEVPN([]byte{1, 1, 0})), nlri24), []bgp.BGPAttrType{bgp.BGP_ATTR_TYPE_ORIGIN, bgp.BGP_ATTR_TYPE_AS_PATH, bgp.BGP_ATTR_TYPE_NEXT_HOP}, 1},
		{"ipv6 MP_UNREACH", payloadIPv6UnreachNotNegotiated, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := apParse(t, tc.payload, v4only)
			me := apMessageError(t, err)
			if me.ErrorHandling != bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD {
				t.Fatalf("handling %d (%v), want attribute discard", me.ErrorHandling, me)
			}
			if me.ErrorAttribute == nil {
				t.Error("no ErrorAttribute")
			}
			u := apUpdate(t, m)
			if got, want := fmt.Sprint(apAttrTypes(u)), fmt.Sprint(tc.attrs); got != want {
				t.Errorf("attributes kept %s, want %s", got, want)
			}
			if len(u.NLRI) != tc.nlri {
				t.Errorf("%d NLRI, want %d", len(u.NLRI), tc.nlri)
			}
			// The rest of the UPDATE goes through as it would alone.
			if ok, err := bgp.ValidateUpdateMsg(u, rfMap, true, false, true); !ok {
				t.Errorf("ValidateUpdateMsg after the discard: %v", err)
			}
		})
	}
	// A negotiated family decodes as before, and nil means all families.
	t.Run("negotiated family", func(t *testing.T) {
		m, err := apParse(t, rawUpdate(nil, concat(attrOrigin, attrASPath, []byte{0x80, 14, 13, 0, 1, 1, 4, 10, 0, 0, 1, 0, 24, 192, 0, 2}), nil), v4only)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(apAttrTypes(apUpdate(t, m))); got != fmt.Sprint([]bgp.BGPAttrType{bgp.BGP_ATTR_TYPE_ORIGIN, bgp.BGP_ATTR_TYPE_AS_PATH, bgp.BGP_ATTR_TYPE_MP_REACH_NLRI}) {
			t.Errorf("attributes %s", got)
		}
		if _, err := apParse(t, payloadEVPNNotNegotiated, &bgp.MarshallingOption{}); err != nil {
			t.Errorf("EVPN with AllowedFamilies nil: %v", err)
		}
	})
}

func TestAP15_MessageLength(t *testing.T) {
	if len(payloadUpdateOver4096) <= bgp.BGP_MAX_MESSAGE_LENGTH {
		t.Fatalf("payload of %d octets", len(payloadUpdateOver4096))
	}
	_, err := apParse(t, payloadUpdateOver4096)
	me := apMessageError(t, err)
	if me.TypeCode != bgp.BGP_ERROR_MESSAGE_HEADER_ERROR || me.SubTypeCode != bgp.BGP_ERROR_SUB_BAD_MESSAGE_LENGTH || !bytes.Equal(me.Data, payloadUpdateOver4096[16:18]) {
		t.Errorf("error %d/%d data %x (%v), want Bad Message Length with the Length field", me.TypeCode, me.SubTypeCode, me.Data, me)
	}
	ext := &bgp.MarshallingOption{ExtendedMessage: true}
	m, err := apParse(t, payloadUpdateOver4096, ext)
	if err != nil {
		t.Fatalf("with the extended message capability: %v", err)
	}
	if n := len(apUpdate(t, m).NLRI); n != 1200 {
		t.Errorf("%d NLRI, want 1200", n)
	}
	// RFC 8654 4: OPEN and KEEPALIVE stay at 4096 even then.
	open := apOpen(apCapMP4, apCapAS4, concat([]byte{128 + 72, 255}, make([]byte, 255)))
	open = append(open, make([]byte, 4097-len(open))...)
	binary.BigEndian.PutUint16(open[16:18], uint16(len(open)))
	if _, err := apParse(t, open, ext); err == nil {
		t.Error("OPEN of 4097 octets accepted")
	}
	// 4096 itself is fine.
	if _, err := apParse(t, rawUpdate(nil, concat(attrOrigin, attrASPath, attrNextHop), bytes.Repeat(nlri24, (4096-23-22)/4))); err != nil {
		t.Errorf("UPDATE of up to 4096 octets: %v", err)
	}
}

func TestAP16_EmptyASPathFromEBGP(t *testing.T) {
	m, err := apParse(t, payloadEmptyASPath)
	if err != nil {
		t.Fatal(err)
	}
	rfMap := map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_NONE}
	for _, tc := range []struct {
		name          string
		ebgp, confed  bool
		wantTreatAsWd bool
	}{
		{"eBGP", true, false, true},
		// GHSA-frrj-87jh-2772: unpatched this read p.Value[0] and panicked.
		{"confederation eBGP", true, true, true},
		// iBGP may send an empty AS_PATH (RFC 4271 5.1.2).
		{"iBGP", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("ValidateUpdateMsg panicked: %v", r)
				}
			}()
			ok, err := bgp.ValidateUpdateMsg(apUpdate(t, m), rfMap, tc.ebgp, tc.confed, true)
			if !tc.wantTreatAsWd {
				if !ok {
					t.Errorf("rejected: %v", err)
				}
				return
			}
			me := apMessageError(t, err)
			if me.ErrorHandling != bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW || me.SubTypeCode != bgp.BGP_ERROR_SUB_MALFORMED_AS_PATH {
				t.Errorf("handling %d subcode %d (%v), want treat-as-withdraw, Malformed AS_PATH", me.ErrorHandling, me.SubTypeCode, me)
			}
		})
	}
}

func TestAP17_LengthsPastTheirField(t *testing.T) {
	t.Run("attribute past Total Path Attribute Length", func(t *testing.T) {
		_, err := apParse(t, payloadAttrPastTotalLength)
		me := apMessageError(t, err)
		// RFC 7606 4: treat-as-withdraw (unpatched: parsed the NLRI field
		// as attributes, then reset the session).
		if me.ErrorHandling != bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW {
			t.Errorf("handling %d (%v), want treat-as-withdraw", me.ErrorHandling, me)
		}
	})
	t.Run("withdrawn route past Withdrawn Routes Length", func(t *testing.T) {
		m, err := apParse(t, payloadWithdrawnPastLength)
		apMessageError(t, err)
		if m != nil {
			if n := len(apUpdate(t, m).WithdrawnRoutes); n != 0 {
				t.Errorf("%d withdrawn routes decoded from a 1-octet field", n)
			}
		}
	})
}

func TestAP18_Marker(t *testing.T) {
	_, err := apParse(t, payloadBadMarker)
	me := apMessageError(t, err)
	if me.TypeCode != bgp.BGP_ERROR_MESSAGE_HEADER_ERROR || me.SubTypeCode != bgp.BGP_ERROR_SUB_CONNECTION_NOT_SYNCHRONIZED {
		t.Errorf("error %d/%d (%v), want Connection Not Synchronized", me.TypeCode, me.SubTypeCode, me)
	}
}

func TestAP19_PrefixSID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		discard bool // the attribute is malformed
	}{
		{"unknown sub-TLV", payloadPrefixSIDUnknownSubTLV, false},
		{"service TLV of length 0", payloadPrefixSIDEmptyService, true},
		{"short SID information sub-TLV", payloadPrefixSIDShortInfo, true},
		{"sub-sub-TLV of length 0", payloadPrefixSIDSubSubTLVLen0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := apParse(t, tc.payload)
			if !tc.discard {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			me := apMessageError(t, err)
			if me.ErrorHandling != bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD {
				t.Errorf("handling %d (%v), want attribute discard", me.ErrorHandling, me)
			}
			if got := apAttrTypes(apUpdate(t, m)); len(got) != 3 {
				t.Errorf("attributes kept %v, want ORIGIN, AS_PATH, NEXT_HOP", got)
			}
		})
	}
}

func TestAP20_IP6ExtendedCommunityShort(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("ParseIP6Extended panicked: %v", r)
		}
	}()
	if _, err := bgp.ParseIP6Extended([]byte{0, 2, 0x20, 0x01, 0x0d, 0xb8, 0, 0}); err == nil {
		t.Error("8 octets accepted as an IPv6 address specific extended community")
	}
}

func TestAP21_TunnelEncapSRPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		discard bool // the attribute is malformed
	}{
		{"empty binding SID", payloadTunnelEncapEmptyBSID, false},
		{"empty candidate path name", payloadTunnelEncapEmptyPathName, true},
		{"weight of length 0", payloadTunnelEncapEmptyWeight, true},
		{"truncated segment", payloadTunnelEncapTruncatedSegment, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := apParse(t, tc.payload)
			if tc.discard {
				me := apMessageError(t, err)
				if me.ErrorHandling != bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD {
					t.Errorf("handling %d (%v), want attribute discard", me.ErrorHandling, me)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			// What the speaker does with a stored path: log it, and
			// convert it for ListPath (OtherAnnouncers).
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("using the decoded attributes panicked: %v", r)
				}
			}()
			attrs := apUpdate(t, m).PathAttributes
			for _, a := range attrs {
				_ = a.String()
				if _, err := json.Marshal(a); err != nil {
					t.Error(err)
				}
			}
			if _, err := apiutil.MarshalPathAttributes(attrs); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAP22_NextHopWithoutValue(t *testing.T) {
	m, err := apParse(t, payloadNextHopNoValue)
	if me := apMessageError(t, err); me.ErrorHandling != bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW {
		t.Fatalf("handling %d (%v), want treat-as-withdraw", me.ErrorHandling, me)
	}
	// The fsm validates the treat-as-withdraw UPDATE; validating the
	// UPDATE as decoded must not panic either (it did in v4.2.0).
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("ValidateUpdateMsg panicked: %v", r)
		}
	}()
	rfMap := map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_NONE}
	if ok, _ := bgp.ValidateUpdateMsg(apUpdate(t, m), rfMap, true, false, false); ok {
		t.Error("a NEXT_HOP without a value validated")
	}
	if ok, err := bgp.ValidateUpdateMsg(bgp.TreatAsWithdraw(apUpdate(t, m)), rfMap, true, false, false); !ok {
		t.Errorf("the treat-as-withdraw UPDATE: %v", err)
	}
}
