package labtest

import (
	"context"
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
		st, err := l.status(1)
		if err == nil && st.State != control.StateAnnouncing && l.paths(v4)["n1"] {
			t.Fatalf("BIRD has n1's route while n1 is %s (%s): announced before rise passed", st.State, st.Reason)
		}
		if err == nil && st.State == control.StateWarming {
			sawWarming = true
		}
		if l.paths(v4)["n1"] {
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
