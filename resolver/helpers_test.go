package resolver

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/mininet"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// testLog logs to stderr only with -v, so failures come with the story.
func testLog(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startNet starts the mini internet on 127.0.53.0/24 at a random port.
func startNet(t testing.TB) *mininet.Internet {
	t.Helper()
	in, err := mininet.New(mininet.Config{Prefix4: netip.MustParsePrefix("127.0.53.0/24")}, testLog(t))
	if err != nil {
		t.Fatalf("mininet.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.Start(ctx); err != nil {
		t.Fatalf("mininet.Start: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// netConfig is a resolver config that points at in, never at the real roots.
func netConfig(t testing.TB, in *mininet.Internet) Config {
	t.Helper()
	hints, err := ParseRootHints(strings.NewReader(in.RootHints()))
	if err != nil {
		t.Fatalf("ParseRootHints(mininet): %v", err)
	}
	return Config{
		NodeName:        "test-node-1",
		Listen:          []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		RootHints:       hints,
		UpstreamPort:    in.Port(),
		UpstreamTimeout: 300 * time.Millisecond,
		ResolveTimeout:  3 * time.Second,
	}
}

func newResolver(t testing.TB, cfg Config) (*Resolver, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := New(cfg, testLog(t), reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, reg
}

// serve runs r on 127.0.0.1:0 until the test ends and returns its address.
func serve(t testing.TB, r *Resolver) netip.AddrPort {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("resolver not ready after 5s")
	}
	return r.Addrs()[0]
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// exchange sends m to addr over network and fails the test on error.
func exchange(t testing.TB, network string, addr netip.AddrPort, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	resp, _, err := c.Exchange(m, addr.String())
	if err != nil {
		t.Fatalf("exchange %s: %v", network, err)
	}
	return resp
}

func question(name string, qtype uint16) dns.Question {
	return dns.Question{Name: dns.Fqdn(name), Qtype: qtype, Qclass: dns.ClassINET}
}

// rrStrings renders records without TTLs, for comparisons.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		out = append(out, c.String())
	}
	return out
}

// counterValue returns the value of the counter or gauge name with labels
// (a subset match), or 0 if absent.
func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}
