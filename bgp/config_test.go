package bgp

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		ASN:      64513,
		RouterID: netip.MustParseAddr("198.18.1.2"),
		Peers: []Peer{
			{Address: netip.MustParseAddr("198.18.1.1"), ASN: 64496},
			{Address: netip.MustParseAddr("fd00:53:1::1"), ASN: 64496},
		},
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"asn zero", func(c *Config) { c.ASN = 0 }, []string{"asn: must not be 0"}},
		{"router id v6", func(c *Config) { c.RouterID = netip.MustParseAddr("::1") }, []string{"router_id: ::1 is not an IPv4"}},
		{"router id missing", func(c *Config) { c.RouterID = netip.Addr{} }, []string{"router_id"}},
		{"peer without address", func(c *Config) { c.Peers[0].Address = netip.Addr{} }, []string{"peers[0]: address"}},
		{"peer unspecified", func(c *Config) { c.Peers[1].Address = netip.IPv6Unspecified() }, []string{"peers[1]: address"}},
		{"peer asn zero", func(c *Config) { c.Peers[1].ASN = 0 }, []string{"peers[1]: asn"}},
		{"local address family", func(c *Config) { c.Peers[0].LocalAddress = netip.MustParseAddr("::1") }, []string{"peers[0]: local_address"}},
		{"hold too short", func(c *Config) { c.Peers[0].HoldTime = 2 * time.Second }, []string{"peers[0]: hold_time"}},
		{"hold fractional", func(c *Config) { c.Peers[0].HoldTime = 9500 * time.Millisecond }, []string{"hold_time"}},
		{"keepalive not below hold", func(c *Config) {
			c.Peers[0].HoldTime, c.Peers[0].Keepalive = 6*time.Second, 6*time.Second
		}, []string{"peers[0]: keepalive"}},
		{"short hold gets a fitting default keepalive", func(c *Config) { c.Peers[0].HoldTime = 3 * time.Second }, nil},
		{"duplicate peer", func(c *Config) { c.Peers = append(c.Peers, c.Peers[0]) }, []string{"peers[2]: duplicate address"}},
		{"api on IPv4 loopback", func(c *Config) { c.APIListen = "127.0.0.1:50051" }, nil},
		{"api on IPv6 loopback", func(c *Config) { c.APIListen = "[::1]:50051" }, nil},
		{"api on a public address", func(c *Config) { c.APIListen = "198.18.1.2:50051" }, []string{"api_listen: 198.18.1.2 is not a loopback"}},
		{"api on all addresses", func(c *Config) { c.APIListen = "0.0.0.0:50051" }, []string{"api_listen: 0.0.0.0 is not a loopback"}},
		{"api on all addresses v6", func(c *Config) { c.APIListen = "[::]:50051" }, []string{"api_listen: :: is not a loopback"}},
		{"api by name", func(c *Config) { c.APIListen = "localhost:50051" }, []string{"api_listen: \"localhost:50051\" is not an IP:port"}},
		{"api without port", func(c *Config) { c.APIListen = "127.0.0.1" }, []string{"api_listen"}},
		{"api port zero", func(c *Config) { c.APIListen = "127.0.0.1:0" }, []string{"api_listen: \"127.0.0.1:0\": port must be set"}},
		{"api unix socket", func(c *Config) { c.APIListen = "unix:///run/gobgp.sock" }, []string{"api_listen"}},
		{"ttl security with multihop", func(c *Config) { c.Peers[0].TTLSecurity = true; c.Peers[0].Multihop = 2 }, nil},
		{"all problems at once", func(c *Config) { c.ASN = 0; c.Peers[1].ASN = 0 }, []string{"asn: must not be 0", "peers[1]: asn"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			c.Peers = append([]Peer(nil), c.Peers...)
			tc.modify(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestPeerMinTTL(t *testing.T) {
	for _, tc := range []struct {
		multihop uint8
		want     uint32
	}{{0, 255}, {1, 255}, {2, 254}, {64, 192}, {255, 1}} {
		if got := (Peer{Multihop: tc.multihop, TTLSecurity: true}).minTTL(); got != tc.want {
			t.Errorf("multihop %d: min TTL %d, want %d", tc.multihop, got, tc.want)
		}
		ap := apiPeer(Peer{Address: netip.MustParseAddr("198.18.1.1"), ASN: 1, Multihop: tc.multihop, TTLSecurity: true})
		if ts := ap.GetTtlSecurity(); !ts.GetEnabled() || ts.GetTtlMin() != tc.want {
			t.Errorf("multihop %d: GoBGP TtlSecurity %v, want enabled with ttl_min %d", tc.multihop, ts, tc.want)
		}
	}
	if ap := apiPeer(Peer{Address: netip.MustParseAddr("198.18.1.1"), ASN: 1}); ap.GetTtlSecurity() != nil {
		t.Errorf("TTL security set without TTLSecurity: %v", ap.GetTtlSecurity())
	}
}

func TestReadOnlyMethod(t *testing.T) {
	for m, want := range map[string]bool{
		"/apipb.GobgpApi/ListPeer": true, "/apipb.GobgpApi/GetBgp": true, "/apipb.GobgpApi/ListPath": true,
		"/apipb.GobgpApi/WatchEvent": true, "/apipb.GobgpApi/AddPath": false, "/apipb.GobgpApi/DeletePeer": false,
		"/apipb.GobgpApi/StopBgp": false, "/apipb.GobgpApi/AddPathStream": false, "/apipb.GobgpApi/ResetPeer": false,
		"/apipb.GobgpApi/SetLogLevel": false, "/apipb.GobgpApi/ShutdownPeer": false,
	} {
		if got := readOnlyMethod(m); got != want {
			t.Errorf("readOnlyMethod(%s) = %v, want %v", m, got, want)
		}
	}
}

func TestPeerTimersDefault(t *testing.T) {
	tests := []struct {
		hold, keepalive         time.Duration
		wantHold, wantKeepalive time.Duration
	}{
		{0, 0, 9 * time.Second, 3 * time.Second},
		{30 * time.Second, 0, 30 * time.Second, 3 * time.Second},
		{3 * time.Second, 0, 3 * time.Second, time.Second},
		{90 * time.Second, 30 * time.Second, 90 * time.Second, 30 * time.Second},
	}
	for _, tc := range tests {
		h, k := Peer{HoldTime: tc.hold, Keepalive: tc.keepalive}.timers()
		if h != tc.wantHold || k != tc.wantKeepalive {
			t.Errorf("timers(%v, %v) = %v, %v; want %v, %v", tc.hold, tc.keepalive, h, k, tc.wantHold, tc.wantKeepalive)
		}
	}
}

func TestValidateRoutes(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		want   string // error substring; empty means valid
	}{
		{"empty", nil, ""},
		{"v4 and v6", []Route{{Prefix: svc4}, {Prefix: svc6}}, ""},
		{"a /24 is fine", []Route{{Prefix: netip.MustParsePrefix("192.0.2.0/24")}}, ""},
		{"invalid", []Route{{}}, "invalid prefix"},
		{"host bits", []Route{{Prefix: netip.MustParsePrefix("192.0.2.53/24")}}, "192.0.2.53/24: host bits set (want 192.0.2.0/24)"},
		{"v4-mapped", []Route{{Prefix: netip.MustParsePrefix("::ffff:192.0.2.53/128")}}, "IPv4-mapped"},
		{"negative prepend", []Route{{Prefix: svc4, Prepend: -1}}, "prepend -1 out of range"},
		{"huge prepend", []Route{{Prefix: svc4, Prepend: 17}}, "prepend 17 out of range"},
		{"duplicate", []Route{{Prefix: svc4}, {Prefix: svc4, MED: 1}}, "192.0.2.53/32: listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := validateRoutes(tc.routes)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("validateRoutes() = %v", err)
				}
				if len(got) != len(tc.routes) {
					t.Errorf("validateRoutes() kept %d of %d routes", len(got), len(tc.routes))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validateRoutes() = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestSetRejectsInvalidSetWhole(t *testing.T) {
	s := New(validConfig(), testLogger(t))
	ctx := context.Background()
	if err := s.Set(ctx, []Route{{Prefix: svc4}}); err != nil {
		t.Fatal(err)
	}
	err := s.Set(ctx, []Route{{Prefix: svc6}, {Prefix: svc4, Prepend: 99}})
	if err == nil || !strings.Contains(err.Error(), "set routes: route 192.0.2.53/32: prepend 99") {
		t.Fatalf("Set(invalid) = %v", err)
	}
	if len(s.desired) != 1 || s.desired[svc4].Prefix != svc4 {
		t.Errorf("invalid Set changed the desired set to %v", s.desired)
	}
}

func TestBeforeRun(t *testing.T) {
	s := New(validConfig(), testLogger(t))
	ctx := context.Background()
	if err := s.Set(ctx, []Route{{Prefix: svc4}}); err != nil {
		t.Fatalf("Set before Run: %v", err)
	}
	if got := s.Announced(); len(got) != 0 {
		t.Errorf("Announced() before Run = %v, want none", got)
	}
	peers, err := s.Peers(ctx)
	if err != nil {
		t.Fatalf("Peers before Run: %v", err)
	}
	if len(peers) != 2 || peers[0].State != "idle" || peers[1].State != "idle" {
		t.Errorf("Peers before Run = %+v, want two idle peers", peers)
	}
	if _, err := s.OtherAnnouncers(ctx, svc4); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("OtherAnnouncers before Run = %v, want not running", err)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	c := validConfig()
	c.RouterID = netip.Addr{}
	err := New(c, testLogger(t)).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start bgp: router_id") {
		t.Fatalf("Run(bad config) = %v", err)
	}
}

func TestRunTwiceConcurrently(t *testing.T) {
	// No peers: nothing leaves the process, this only exercises the
	// lifecycle of the embedded server.
	s := New(Config{ASN: 64513, RouterID: netip.MustParseAddr("127.0.0.2")}, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if err := s.Set(ctx, []Route{{Prefix: svc4}, {Prefix: svc6}}); err != nil {
		t.Fatal(err)
	}
	// Set may land before or after Run has the server up; either way
	// the routes must end up in GoBGP's RIB.
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Announced()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Announced() = %v, want both routes", s.Announced())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Run(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run = %v, want already running", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := s.Announced(); len(got) != 0 {
		t.Errorf("Announced() after Run = %v", got)
	}
	// The desired set survives, so a new Run announces it again.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- s.Run(ctx2) }()
	deadline = time.Now().Add(5 * time.Second)
	for len(s.Announced()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("second Run: Announced() = %v, want both routes", s.Announced())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel2()
	if err := <-done; err != nil {
		t.Fatalf("second Run: %v", err)
	}
}
