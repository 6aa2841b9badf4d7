package node

import (
	"strings"
	"testing"
	"time"

	"github.com/anycastd/anycastd/resolver"
)

// TestTLSCanaryInterval: the TLS canaries (a full handshake each) run on
// health.degrading.tls_canary_interval, the cheap certificate check on the
// health interval; the canaries never run more often than that interval.
func TestTLSCanaryInterval(t *testing.T) {
	c, err := Parse([]byte(fleetBase + `tls: {cert_file: /c.pem, key_file: /k.pem, transports: [dot, doh]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Health.Degrading.TLSCanaryInterval; got != 10*time.Second {
		t.Fatalf("default tls_canary_interval %s, want 10s", got)
	}
	n := &Node{cfg: c, encrypted: new(resolver.Encrypted)}
	canaries := 0
	for _, ch := range n.tlsChecks() {
		want := c.Health.Interval
		if strings.HasPrefix(ch.Name, "canary ") {
			want = 10 * time.Second
			canaries++
		}
		if ch.Interval != want {
			t.Errorf("%s: interval %s, want %s", ch.Name, ch.Interval, want)
		}
	}
	if canaries != 2 {
		t.Errorf("%d TLS canaries, want 2 (dot, doh)", canaries)
	}

	c.Health.Interval = 30 * time.Second
	if got := tlsCanaryInterval(c.Health); got != 30*time.Second {
		t.Errorf("with health.interval 30s the canaries run every %s, want 30s", got)
	}

	_, err = Parse([]byte(fleetBase + "health: {degrading: {tls_canary_interval: 2h}}\n"))
	checkProblems(t, err, []string{"health.degrading.tls_canary_interval: must be between 10ms and 1h0m0s, got 2h0m0s"})
}
