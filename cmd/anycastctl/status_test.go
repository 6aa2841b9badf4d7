package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestStatusGolden(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	disabledUntil := now.Add(25 * time.Minute)
	st := &control.Status{
		Node: "n1", Version: "test", State: control.StateAnnouncing, Reason: "all checks healthy",
		Since: now.Add(-90 * time.Second), Queries: 1234, QPS: 12.5,
		Guarded: []string{"2001:db8:53::53"},
		Damping: control.Damping{Penalty: 1500, Suppressed: false, Flaps: 2},
		Encrypted: &control.Encrypted{
			Certificate: control.Certificate{Subject: "CN=resolver.example", NotAfter: now.Add(90 * 24 * time.Hour)},
			Transports: []control.Transport{
				{Proto: "dot", Addrs: []string{"192.0.2.53:853"}, OpenConnections: 3, Connections: 10, Queries: 200, Handshakes: 10, HandshakeFailures: 1},
				{Proto: "doq", Addrs: []string{"192.0.2.53:853"}, Queries: 5, Handshakes: 1},
			},
		},
		Privacy: &control.Privacy{QueryLog: true, DebugSampling: true, DebugSampleRate: 0.0005, Retention: "24h0m0s"},
		Drain:   &control.DrainProgress{Reason: "operator", Phase: "taper", Started: now.Add(-5 * time.Second), Deadline: now.Add(25 * time.Second), QPS: 12.5, MinQPS: 1},
		Addresses: []control.Address{
			{Address: "192.0.2.53", Interface: "lo", Present: true, Announced: true},
			{Address: "2001:db8:53::53", Interface: "lo", Present: false, Announced: false},
		},
		Announced: []control.Route{{Prefix: "192.0.2.53/32"}},
		Peers: []control.Peer{
			{Address: "198.18.1.1", ASN: 64496, State: "established", UptimeSecs: 80, Advertised: 1},
			{Address: "fd00:53:1::1", ASN: 64496, State: "active"},
			{Address: "198.18.2.1", ASN: 64497, State: "idle", DisabledUntil: &disabledUntil,
				DisabledReason: "3 faults within 10m0s, last: session_reset: bad message length",
				Malformed:      map[string]uint64{"session_reset": 3, "treat_as_withdraw": 12}},
		},
		Checks: []control.Check{
			{Name: "address 192.0.2.53", Level: "critical", Healthy: true, Known: true, LastRun: now.Add(-300 * time.Millisecond)},
			{Name: "address 2001:db8:53::53", Level: "critical", Known: true, LastRun: now.Add(-300 * time.Millisecond), LastError: "2001:db8:53::53 is not on lo"},
			{Name: "canary 192.0.2.53", Level: "critical"},
		},
	}
	var b bytes.Buffer
	printStatus(&b, st, now)
	golden := filepath.Join("testdata", "status.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("status output differs from %s (go test -update to accept):\n%s", golden, b.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "missing command"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"status", "--yaml"}, 2, `unknown argument "--yaml"`},
		{[]string{"drain", "now"}, 2, `drain: unknown argument "now"`},
		{[]string{"-socket", "/nonexistent/anycastd.sock", "status"}, 3, "does not exist"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
		ee, ok := err.(*exitError)
		if !ok {
			t.Errorf("%v: err = %v, want exit code %d", tt.args, err, tt.code)
			continue
		}
		if ee.code != tt.code || !strings.Contains(ee.Error(), tt.want) {
			t.Errorf("%v: exit %d %q, want exit %d containing %q", tt.args, ee.code, ee.Error(), tt.code, tt.want)
		}
	}
}
