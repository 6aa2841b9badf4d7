package labtest

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

const (
	v4 = "192.0.2.53/32"
	v6 = "2001:db8:53::53/128"
	// The lab's node config: health interval 1s, rise 3, fall 2.
	interval = time.Second
	rise     = 3
	fall     = 2
)

func has(n string) func(map[string]bool) bool { return func(p map[string]bool) bool { return p[n] } }
func hasNot(n string) func(map[string]bool) bool {
	return func(p map[string]bool) bool { return !p[n] }
}

// TestNodeLifecycle walks two nodes through the lifecycle against BIRD in r1:
// announce only after rise, answer clients, drain without failed queries,
// stay drained across a restart, undrain, withdraw on a lost address, and
// withdraw on SIGKILL. The timings it logs are the ones the README quotes.
func TestNodeLifecycle(t *testing.T) {
	l := newLab(t, 2)

	// 1. Start-to-announce, and never before rise passes.
	start := time.Now()
	l.startNode(1)
	l.startNode(2)
	sawWarming := false
	for {
		// The route first, then the state: a route seen at BIRD must have
		// been announced by a node that is announcing by the time we ask
		// it. (In the other order the node can turn announcing and its
		// route arrive between the two reads, a false alarm seen once.)
		routed := l.paths(v4)["n1"]
		st, err := l.status(1)
		if err == nil && st.State != control.StateAnnouncing && routed {
			t.Fatalf("BIRD has n1's route while n1 is %s (%s): announced before rise passed", st.State, st.Reason)
		}
		if err == nil && st.State == control.StateWarming {
			sawWarming = true
		}
		if routed {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("n1 not announced within 30s (last status err %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	announceAfter := time.Since(start)
	t.Logf("MEASURED start-to-announce (n1, IPv4, seen at BIRD): %s", announceAfter.Round(10*time.Millisecond))
	if !sawWarming {
		t.Error("never saw n1 in state warming before it announced")
	}
	if min := time.Duration(rise-1) * interval; announceAfter < min {
		t.Errorf("announced after %s, before %d checks could pass (>= %s)", announceAfter, rise, min)
	}
	l.waitPaths(v6, 10*time.Second, "n1 IPv6 announced", has("n1"))
	l.waitPaths(v4, 20*time.Second, "n2 announced", has("n2"))
	l.waitPaths(v6, 10*time.Second, "n2 IPv6 announced", has("n2"))

	// 2. Clients resolve recursively through both anycast addresses; the
	// NSID names the node that answered.
	ctx := context.Background()
	for _, server := range []string{"192.0.2.53", "2001:db8:53::53"} {
		out, err := l.digC1(ctx, server, "www.example.com", "A")
		if err != nil || !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "ANSWER: 1") {
			t.Fatalf("dig @%s www.example.com: %v\n%s", server, err, out)
		}
		if !strings.Contains(out, `NSID: `) || !(strings.Contains(out, `"n1"`) || strings.Contains(out, `"n2"`)) {
			t.Errorf("dig @%s: no NSID naming n1 or n2:\n%s", server, out)
		}
	}

	// The lab's nodes validate against the mini internet's root key: a
	// signed name comes back with AD, a bogus one as SERVFAIL with its EDE.
	if out, err := l.digC1(ctx, "192.0.2.53", "good.canary.lab", "A", "+dnssec"); err != nil || !regexp.MustCompile(`flags:[^;]* ad[ ;]`).MatchString(out) {
		t.Errorf("signed name through the node: want AD set: %v\n%s", err, out)
	}
	if out, _ := l.digC1(ctx, "192.0.2.53", "www.expired.test", "A", "+dnssec"); !strings.Contains(out, "status: SERVFAIL") || !strings.Contains(out, "EDE: 7") {
		t.Errorf("expired signatures through the node: want SERVFAIL with EDE 7 (Signature Expired):\n%s", out)
	}

	// The node's own view: status, metrics, and a clear error for an
	// unknown control command. No client address may appear in metrics.
	st, err := l.status(1)
	if err != nil {
		t.Fatal(err)
	}
	critical := 0
	for _, c := range st.Checks {
		if c.Level == "critical" {
			critical++
		}
	}
	if st.State != control.StateAnnouncing || len(st.Announced) != 2 || critical != 4 {
		t.Errorf("status of n1: state %s (%s), announced %v, %d critical checks; want announcing, 2 routes, 4 critical checks", st.State, st.Reason, st.Announced, critical)
	}
	established := 0
	for _, p := range st.Peers {
		if p.State == "established" {
			established++
		}
	}
	if established != 2 {
		t.Errorf("status of n1: %d of %d peers established, want 2: %+v", established, len(st.Peers), st.Peers)
	}
	if out, err := l.ctl(1, "status"); err != nil || !strings.Contains(out, "state: announcing") || !strings.Contains(out, "canary 192.0.2.53") {
		t.Errorf("anycastctl status: %v\n%s", err, out)
	}
	metrics, err := l.inNS("n1", "curl", "-sS", "--max-time", "5", "http://127.0.0.1:9253/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v %s", err, metrics)
	}
	for _, want := range []string{
		`anycastd_route_announced{prefix="192.0.2.53/32"} 1`,
		`anycastd_node_state{state="announcing"} 1`,
		`anycastd_bgp_peer_established{peer="198.18.1.1"} 1`,
		`anycastd_health_check_healthy{check="canary 192.0.2.53",level="critical"} 1`,
		`anycastd_queries_total{`,
		`anycastd_cache_hits_total`,
		`anycastd_upstream_queries_total{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, client := range []string{"203.0.113.2", "2001:db8:c::2"} {
		if strings.Contains(metrics, client) {
			t.Errorf("metrics contain the client address %s", client)
		}
	}
	sock := l.dir + "/n1/control.sock"
	if out, _ := l.inNS("n1", "curl", "-sS", "--unix-socket", sock, "-X", "POST", "http://node/v1/reboot"); !strings.Contains(out, "unknown control command") {
		t.Errorf("unknown control command: want a clear error, got %s", out)
	}
	if out, _ := l.inNS("n1", "stat", "-c", "%a", sock); strings.TrimSpace(out) != "600" {
		t.Errorf("control socket mode %s, want 600", out)
	}

	// 3. Drain n1 under a client load: zero failed queries, n1's path gone,
	// n2's stays.
	var sent, failed atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				out, err := l.digC1(context.Background(), "192.0.2.53", "www.example.org", "A")
				sent.Add(1)
				if err != nil || !strings.Contains(out, "status: NOERROR") {
					failed.Add(1)
					t.Logf("failed query during drain: %v %s", err, tail(out, 5))
				}
			}
		}()
	}
	time.Sleep(time.Second)
	drainAt := time.Now()
	if out, err := l.ctl(1, "drain"); err != nil || !strings.Contains(out, "draining") {
		t.Fatalf("drain: %v %s", err, out)
	}
	l.waitPaths(v4, 5*time.Second, "n1 withdrawn after drain", hasNot("n1"))
	t.Logf("MEASURED drain-to-withdraw (command sent to path gone at BIRD): %s", time.Since(drainAt).Round(10*time.Millisecond))
	if !l.paths(v4)["n2"] {
		t.Error("drain of n1 also removed n2's path")
	}
	time.Sleep(3 * time.Second) // past the lame duck: queries keep flowing via n2
	stopLoad()
	wg.Wait()
	t.Logf("MEASURED queries during drain: %d sent, %d failed", sent.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d of %d client queries failed during the drain", failed.Load(), sent.Load())
	}
	if sent.Load() < 10 {
		t.Errorf("only %d queries sent during the drain: the load generator did not run", sent.Load())
	}
	if out, err := l.ctl(1, "drain"); err != nil || !strings.Contains(out, "already") {
		t.Errorf("second drain: want 'already ...', got %v %q", err, out)
	}
	if st, err := l.status(1); err != nil || st.State != control.StateDrained || !st.DrainIntent {
		t.Errorf("status after drain: %+v %v", st, err)
	}

	// 4. The drain survives a restart.
	l.must("node-stop", "1")
	l.startNode(1)
	time.Sleep(time.Duration(rise+2) * interval)
	if l.paths(v4)["n1"] || l.paths(v6)["n1"] {
		t.Fatal("a drained node announced again after a restart")
	}
	if st, err := l.status(1); err != nil || st.State != control.StateDrained {
		t.Fatalf("status after restart: %+v %v", st, err)
	}
	if out, err := l.ctl(1, "undrain"); err != nil || !strings.Contains(out, "undrained") {
		t.Fatalf("undrain: %v %s", err, out)
	}
	back := l.waitPaths(v4, 15*time.Second, "n1 back after undrain", has("n1"))
	t.Logf("MEASURED undrain-to-announce: %s", back.Round(10*time.Millisecond))

	// 5. Losing the service address withdraws within interval x fall + 1s.
	if out, err := l.inNS("n2", "ip", "addr", "del", v4, "dev", "lo"); err != nil {
		t.Fatalf("delete address: %v %s", err, out)
	}
	lost := l.waitPaths(v4, 10*time.Second, "n2 withdrawn after losing its address", hasNot("n2"))
	t.Logf("MEASURED address-loss-to-withdraw: %s (bound %s)", lost.Round(10*time.Millisecond), time.Duration(fall)*interval+time.Second)
	if bound := time.Duration(fall)*interval + time.Second; lost > bound {
		t.Errorf("withdrawal took %s, more than interval x fall + 1s = %s", lost, bound)
	}
	if !l.paths(v6)["n2"] {
		t.Error("losing the IPv4 address also withdrew the healthy IPv6 prefix")
	}
	if st, err := l.status(2); err != nil || st.Addresses[0].Present || st.Addresses[0].Announced {
		t.Errorf("status of n2 does not show the lost address: %+v %v", st, err)
	}

	// 6. SIGKILL withdraws within 1s (the kernel closes the sessions).
	l.waitPaths(v4, 5*time.Second, "n1 announced before kill", has("n1"))
	pid := l.pid(1)
	killAt := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	l.waitPaths(v4, 5*time.Second, "n1 withdrawn after SIGKILL", hasNot("n1"))
	killed := time.Since(killAt)
	t.Logf("MEASURED SIGKILL-to-withdraw (seen at BIRD): %s", killed.Round(10*time.Millisecond))
	if killed > time.Second {
		t.Errorf("SIGKILL withdrawal took %s, want < 1s", killed)
	}
}
