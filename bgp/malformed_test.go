package bgp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// rawMessage frames a BGP message body with the marker, length and type.
func rawMessage(typ byte, body []byte) []byte {
	m := bytes.Repeat([]byte{0xff}, 16)
	m = binary.BigEndian.AppendUint16(m, uint16(19+len(body)))
	m = append(m, typ)
	return append(m, body...)
}

// rawUpdate builds an UPDATE from raw withdrawn routes, attributes and NLRI.
func rawUpdate(withdrawn, attrs, nlri []byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(len(withdrawn)))
	b = append(b, withdrawn...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(attrs)))
	b = append(b, attrs...)
	return rawMessage(bgp.BGP_MSG_UPDATE, append(b, nlri...))
}

var (
	attrOrigin  = []byte{0x40, 1, 1, 0}                      // ORIGIN IGP
	attrNextHop = []byte{0x40, 3, 4, 127, 0, 0, 1}           // NEXT_HOP 127.0.0.1
	attrASPath  = []byte{0x40, 2, 6, 2, 1, 0, 0, 0xfb, 0xf0} // AS_SEQUENCE 64496
	nlri24      = []byte{24, 192, 0, 2}                      // 192.0.2.0/24
)

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func readMessage(r io.Reader) ([]byte, error) {
	h := make([]byte, 19)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[16:18]))
	if n < 19 {
		return nil, errors.New("short message")
	}
	body := make([]byte, n-19)
	_, err := io.ReadFull(r, body)
	return append(h, body...), err
}

// TestMalformedInputFromPeer sends broken messages from a fake peer; the
// speaker may reset the session or treat the update as a withdraw, but it
// must keep running and keep serving calls.
func TestMalformedInputFromPeer(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		bug     string // a known crash in GoBGP: the case is skipped, naming it
	}{
		{"attribute longer than the message", rawUpdate(nil, concat(attrOrigin, []byte{0x40, 3, 200, 1}), nil), ""},
		{"IPv4 prefix length 33", rawUpdate(nil, concat(attrOrigin, attrNextHop, attrASPath), []byte{33, 192, 0, 2, 53, 0}), ""},
		{"AS_PATH segment count past its end", rawUpdate(nil, concat(attrOrigin, attrNextHop, []byte{0x40, 2, 6, 2, 50, 0, 0, 0xfb, 0xf0}), nlri24), ""},
		{"unknown well-known attribute", rawUpdate(nil, concat(attrOrigin, attrNextHop, attrASPath, []byte{0x40, 200, 1, 0}), nlri24), ""},
		{"missing mandatory attributes", rawUpdate(nil, nil, nlri24), ""},
		{"MP_REACH with unknown family", rawUpdate(nil, concat(attrOrigin, attrASPath, []byte{0x80, 14, 5, 0, 99, 1, 0, 0}), nil), ""},
		{"withdrawn length past the end", rawUpdate([]byte{24, 192, 0}, nil, nil), ""},
		{"length field below the header", append(bytes.Repeat([]byte{0xff}, 16), 0, 5, 2), ""},
		{"bad marker", append(bytes.Repeat([]byte{0}, 16), 0, 19, 4), ""},
		// GoBGP v3.37.0 panicked here (nil *BGPMessage in
		// fsmHandler.handlingError); third_party/gobgp carries the fix.
		{"unknown message type", rawMessage(42, []byte{1, 2, 3}), ""},
		{"notification with garbage", rawMessage(bgp.BGP_MSG_NOTIFICATION, []byte{6}), ""},
	}
	// One speaker with one fake peer per case, on its own loopback
	// address, so that all cases run at once.
	var (
		peers []Peer
		fakes []*scriptedRouter
	)
	for i, tc := range tests {
		if tc.bug != "" {
			t.Run(tc.name, func(t *testing.T) { t.Skip(tc.bug) })
			continue
		}
		f := newScriptedRouter(t, fmt.Sprintf("127.0.0.%d", 10+i), nil, tc.payload)
		fakes = append(fakes, f)
		peers = append(peers, f.peer())
	}
	s := New(Config{ASN: speakerASN, RouterID: netip.MustParseAddr("127.0.0.2"), Peers: peers}, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	timeout := time.After(10 * time.Second)
	for i, f := range fakes {
		select {
		case <-f.ups:
		case err := <-done:
			t.Fatalf("Run returned before all sessions came up: %v", err)
		case <-timeout:
			t.Fatalf("no session to fake peer %d (%v) within 10s", i, f.addrPort())
		}
	}
	// Every payload has been sent. The speaker resets sessions or treats
	// updates as withdraws; meanwhile it must keep running and answering.
	if err := s.Set(ctx, []Route{{Prefix: svc4}}); err != nil {
		t.Errorf("Set after malformed input: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("Run returned after malformed input: %v", err)
		default:
		}
		got, err := s.Peers(ctx)
		if err != nil || len(got) != len(peers) {
			t.Fatalf("Peers after malformed input = %+v, %v", got, err)
		}
		if _, err := s.OtherAnnouncers(ctx, netip.MustParsePrefix("192.0.2.0/24")); err != nil {
			t.Fatalf("OtherAnnouncers after malformed input: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
