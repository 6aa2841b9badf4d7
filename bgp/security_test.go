package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestTTLSecurity checks GTSM (RFC 5082) both ways against BIRD: with it
// on at both ends the session comes up over IPv4 and IPv6; with it on at
// one end only, that end's kernel drops the other's low-TTL segments and
// the session never gets established. The one-sided cases are what show
// that the option reaches the socket at all.
func TestTTLSecurity(t *testing.T) {
	tests := []struct {
		name              string
		speaker, birdSide bool
		wantUp            bool
	}{
		{"both ends", true, true, true},
		// The speaker sends TTL 1 (directly connected eBGP); BIRD wants >= 192.
		{"only bird", false, true, false},
		// BIRD sends TTL 64 (its multihop default); the speaker wants 255.
		{"only speaker", true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, labOptions{ttlSecurity: tc.speaker, birdTTLSecurity: tc.birdSide, initial: []Route{{Prefix: svc4}, {Prefix: svc6}}})
			if tc.wantUp {
				l.waitEstablished(t, "anycastd4", "anycastd6")
				l.waitRoute(t, svc4, "reachable at BIRD", reachable)
				l.waitRoute(t, svc6, "reachable at BIRD", reachable)
				return
			}
			// The first connect comes 1-2 s after Run starts and each
			// dial is given 2 s; by 7 s at least two attempts failed.
			deadline := time.Now().Add(7 * time.Second)
			for time.Now().Before(deadline) {
				for _, p := range []string{"anycastd4", "anycastd6"} {
					st, _, err := l.bird.protocolState(p)
					if err != nil {
						t.Fatal(err)
					}
					if st == "Established" {
						t.Fatalf("%s established although GTSM is on at one end only", p)
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			// Only the router's view is asserted: GoBGP applies the TTL
			// to its socket after connecting, so its first OPEN can pass
			// and the speaker may call the session established until its
			// hold timer notices the router dropping everything after.
		})
	}
}

// TestAPIListen serves GoBGP's gRPC API on loopback and reads the speaker
// through it as the `gobgp` CLI would: global config, peers, the announced
// path. Writes are refused. With the CLI installed (Debian: gobgpd) it also
// runs `gobgp neighbor` and `gobgp global rib`.
func TestAPIListen(t *testing.T) {
	port := freePort(t, "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	l := newLab(t, labOptions{noIPv6: true, apiListen: addr, initial: []Route{{Prefix: svc4, MED: 42}}})
	l.waitEstablished(t, "anycastd4")
	l.waitRoute(t, svc4, "reachable at BIRD", reachable)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := api.NewGobgpApiClient(conn)

	g, err := c.GetBgp(ctx, &api.GetBgpRequest{})
	if err != nil {
		t.Fatalf("GetBgp: %v", err)
	}
	if g.GetGlobal().GetAsn() != speakerASN || g.GetGlobal().GetRouterId() != "127.0.0.2" {
		t.Errorf("GetBgp: %v, want asn %d router id 127.0.0.2", g.GetGlobal(), speakerASN)
	}

	ps, err := c.ListPeer(ctx, &api.ListPeerRequest{})
	if err != nil {
		t.Fatalf("ListPeer: %v", err)
	}
	var peers []string
	for {
		r, err := ps.Recv()
		if err != nil {
			break
		}
		peers = append(peers, fmt.Sprintf("%s %v", r.GetPeer().GetConf().GetNeighborAddress(), r.GetPeer().GetState().GetSessionState()))
	}
	if len(peers) != 1 || peers[0] != "127.0.0.1 ESTABLISHED" {
		t.Errorf("ListPeer: %q, want [127.0.0.1 ESTABLISHED]", peers)
	}

	paths, err := c.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: family(svc4)})
	if err != nil {
		t.Fatalf("ListPath: %v", err)
	}
	var prefixes []string
	for {
		r, err := paths.Recv()
		if err != nil {
			break
		}
		prefixes = append(prefixes, r.GetDestination().GetPrefix())
	}
	if len(prefixes) != 1 || prefixes[0] != svc4.String() {
		t.Errorf("ListPath global: %q, want [%v]", prefixes, svc4)
	}

	// A write through the API would go around the node's state machine.
	_, err = c.DeletePeer(ctx, &api.DeletePeerRequest{Address: "127.0.0.1"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("DeletePeer through the API: %v, want PermissionDenied", err)
	}
	if st, _, _ := l.bird.protocolState("anycastd4"); st != "Established" {
		t.Errorf("session %s after the refused DeletePeer", st)
	}

	if cli, err := exec.LookPath("gobgp"); err == nil {
		for _, args := range [][]string{{"neighbor"}, {"global", "rib"}} {
			out, err := exec.CommandContext(ctx, cli, append([]string{"-u", "127.0.0.1", "-p", fmt.Sprint(port)}, args...)...).CombinedOutput()
			if err != nil {
				t.Errorf("gobgp %s: %v\n%s", strings.Join(args, " "), err, out)
				continue
			}
			t.Logf("gobgp %s:\n%s", strings.Join(args, " "), out)
		}
	} else {
		t.Log("gobgp CLI not installed (Debian package gobgpd); checked with the Go gRPC client only")
	}

	// Stopping the speaker closes the API too.
	l.stop(t)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("API still listens on %s after Run returned", addr)
	}
}

// TestAPIListenPortTaken: a taken API port is an error from Run, not a
// panic in a GoBGP goroutine.
func TestAPIListenPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := New(Config{ASN: speakerASN, RouterID: netip.MustParseAddr("127.0.0.2"), APIListen: ln.Addr().String()}, testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = s.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "gobgp api on "+ln.Addr().String()) {
		t.Fatalf("Run with the API port taken: %v, want an error naming it", err)
	}
}

// TestNoTransit: a path one router sends is never passed on to another.
// BIRD announces 10.99.0.0/24 on two IPv4 sessions from two ASes (as two
// upstreams sending the other nodes' paths would; with one AS GoBGP's own
// AS-loop check would hide a leak, and so would one router ID); each session must be sent only
// the speaker's own route, while the path still counts as another announcer.
func TestNoTransit(t *testing.T) {
	requireBird(t)
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.3")
	conf := birdConfig("127.0.0.1", []birdNeighbor{
		{Name: "a", Local: "127.0.0.1", Port: pa, Neighbor: "127.0.0.2", LocalASN: birdASN, PeerASN: speakerASN},
		{Name: "b", Local: "127.0.0.3", Port: pb, Neighbor: "127.0.0.4", LocalASN: birdASN + 1, PeerASN: speakerASN},
	}, []string{"10.99.0.0/24"})
	// A router ID of its own for b, as a second router would have: GoBGP
	// does not send a path back to the router ID it came from.
	conf = strings.Replace(conf, "protocol bgp b {\n", "protocol bgp b {\n  router id 127.0.0.3;\n", 1)
	b := startBird(t, conf)
	s := New(Config{ASN: speakerASN, RouterID: netip.MustParseAddr("127.0.0.2"), Peers: []Peer{
		{Address: netip.MustParseAddr("127.0.0.1"), ASN: birdASN, Port: uint16(pa), LocalAddress: netip.MustParseAddr("127.0.0.2")},
		{Address: netip.MustParseAddr("127.0.0.3"), ASN: birdASN + 1, Port: uint16(pb), LocalAddress: netip.MustParseAddr("127.0.0.4")},
	}}, testLogger(t))
	if err := s.Set(context.Background(), []Route{{Prefix: svc4}}); err != nil {
		t.Fatal(err)
	}
	l := &lab{bird: b, speaker: s, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- s.Run(ctx) }()
	t.Cleanup(func() { l.stop(t) })
	l.waitEstablished(t, "a", "b")

	other := netip.MustParsePrefix("10.99.0.0/24")
	eventually(t, 10*time.Second, "10.99.0.0/24 received on both sessions", func() (bool, string) {
		n, err := s.OtherAnnouncers(context.Background(), other)
		return err == nil && n == 2, fmt.Sprint(n, err)
	})
	// Give a leak time to show: the path has been in the Adj-RIB-In above.
	time.Sleep(time.Second)
	peers, err := s.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p.Advertised != 1 || p.Received != 1 {
			t.Errorf("peer %v: advertised %d, received %d; want 1 and 1 (only our own route out)", p.Address, p.Advertised, p.Received)
		}
	}
}
