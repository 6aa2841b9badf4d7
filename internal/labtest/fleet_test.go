package labtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

// The fleet tests prove issue 5 against real routers: BIRD 2 (with a second
// BIRD router) and FRR. Every timing is logged as a MEASURED line; the
// numbers in docs/benchmarks.md come from them.

// fleetAttrs are the per-state attributes the fleet tests configure, so
// that each state is told apart at the router by its community alone.
const fleetAttrs = `  attributes:
    healthy: {communities: ["65000:1"], large_communities: ["65000:1:1"]}
    degraded: {communities: ["65000:2"], large_communities: ["65000:1:2"], med: 100, prepend: 2}
    draining: {communities: ["65000:3"], large_communities: ["65000:1:3"], med: 1000, prepend: 4}
`

// want is what one node's path must look like at the router.
type want struct {
	community string // the state's own community
	med       int
	asPathLen int // the node's ASN 1 + prepend times
	gshut     bool
}

var (
	wantHealthy  = want{"65000:1", 0, 1, false}
	wantDegraded = want{"65000:2", 100, 3, false}
	wantDraining = want{"65000:3", 1000, 5, true}
)

// path is one node's BGP path for a prefix as a router shows it.
type path struct {
	ASPath      []string
	MED         int
	Communities []string // "65000:1"; 65535:0 for GRACEFUL_SHUTDOWN
	Large       []string // "65000:1:2"
}

func (p path) matches(w want) bool {
	return p.MED == w.med && len(p.ASPath) == w.asPathLen &&
		slices.Contains(p.Communities, w.community) &&
		slices.Contains(p.Communities, "65535:0") == w.gshut &&
		slices.Contains(p.Large, "65000:1:"+w.community[len("65000:"):])
}

func (l *lab) configure(nodes int) {
	l.t.Helper()
	for i := 1; i <= nodes; i++ {
		f := filepath.Join(l.dir, fmt.Sprintf("n%d", i), "anycastd.yaml")
		b, err := os.ReadFile(f)
		if err != nil {
			l.t.Fatal(err)
		}
		s := strings.Replace(string(b), "  peers:\n", fleetAttrs+"  peers:\n", 1)
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			l.t.Fatal(err)
		}
	}
}

// routerPaths returns, per node ("n1"), its path for prefix at router r.
func (l *lab) routerPaths(r, kind, prefix string) map[string]path {
	if kind == "frr" {
		return l.frrPaths(prefix)
	}
	return l.birdPaths(r, prefix)
}

var (
	birdRouteRE = regexp.MustCompile(`\[n(\d+)_v[46] `)
	birdPairRE  = regexp.MustCompile(`\((\d+),\s*(\d+)\)`)
	birdLargeRE = regexp.MustCompile(`\((\d+),\s*(\d+),\s*(\d+)\)`)
)

func (l *lab) birdPaths(r, prefix string) map[string]path {
	out, _ := l.inNS(r, "birdc", "-s", filepath.Join(l.dir, r, "bird.ctl"), "show", "route", "for", prefix, "all")
	got := map[string]path{}
	var cur string
	for _, line := range strings.Split(out, "\n") {
		if m := birdRouteRE.FindStringSubmatch(line); m != nil {
			cur = "n" + m[1]
			got[cur] = path{}
			continue
		}
		if cur == "" {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		p := got[cur]
		switch k {
		case "BGP.as_path":
			p.ASPath = strings.Fields(v)
		case "BGP.med":
			p.MED, _ = strconv.Atoi(v)
		case "BGP.community":
			for _, m := range birdPairRE.FindAllStringSubmatch(v, -1) {
				p.Communities = append(p.Communities, m[1]+":"+m[2])
			}
		case "BGP.large_community":
			for _, m := range birdLargeRE.FindAllStringSubmatch(v, -1) {
				p.Large = append(p.Large, m[1]+":"+m[2]+":"+m[3])
			}
		}
		got[cur] = p
	}
	return got
}

var nodeAddrRE = regexp.MustCompile(`^(?:198\.18\.(\d+)\.2|fd00:53:(\d+)::2)$`)

func (l *lab) frrPaths(prefix string) map[string]path {
	afi := "ipv4"
	if strings.Contains(prefix, ":") {
		afi = "ipv6"
	}
	out, err := exec.Command("vtysh", "--vty_socket", filepath.Join(l.dir, "r1", "frr"), "-d", "bgpd",
		"-c", "show bgp "+afi+" unicast "+prefix+" json").Output()
	got := map[string]path{}
	if err != nil {
		return got
	}
	var v struct {
		Paths []struct {
			ASPath struct{ String string } `json:"aspath"`
			MED    int                     `json:"metric"` // FRR calls the MED "metric"
			Comm   struct{ String string } `json:"community"`
			Large  struct{ String string } `json:"largeCommunity"`
			Peer   struct {
				PeerID string `json:"peerId"`
			} `json:"peer"`
		} `json:"paths"`
	}
	if json.Unmarshal(out, &v) != nil {
		return got
	}
	for _, p := range v.Paths {
		m := nodeAddrRE.FindStringSubmatch(p.Peer.PeerID)
		if m == nil {
			continue
		}
		n := "n" + m[1] + m[2]
		cs := strings.Fields(p.Comm.String)
		for i, c := range cs {
			if c == "graceful-shutdown" {
				cs[i] = "65535:0"
			}
		}
		got[n] = path{ASPath: strings.Fields(p.ASPath.String), MED: p.MED, Communities: cs, Large: strings.Fields(p.Large.String)}
	}
	return got
}

// waitPath polls router r until node n's path for prefix satisfies ok,
// and returns how long that took.
func (l *lab) waitPath(r, kind, prefix, n string, within time.Duration, what string, ok func(p path, present bool) bool) time.Duration {
	l.t.Helper()
	start := time.Now()
	for {
		ps := l.routerPaths(r, kind, prefix)
		p, present := ps[n]
		if ok(p, present) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			l.t.Fatalf("%s: not within %s; %s has %s's path for %s: %v %+v", what, within, r, n, prefix, present, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitKernel polls r1's kernel route for the IPv4 service address.
func (l *lab) waitKernel(within time.Duration, what string, ok func(string) bool) {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, _ := l.inNS("r1", "ip", "route", "show", v4)
		if ok(out) {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: not within %s; r1's kernel route:\n%s", what, within, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func with(w want) func(path, bool) bool {
	return func(p path, ok bool) bool { return ok && p.matches(w) }
}
func gone(_ path, ok bool) bool { return !ok }

func needFleetTools(t *testing.T, frr bool) {
	t.Helper()
	tools := []string{"dnsperf"}
	if frr {
		tools = append(tools, "vtysh", "/usr/lib/frr/bgpd", "/usr/lib/frr/zebra")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/deps.sh (make test does)", tool)
		}
	}
}

// writeQueries writes a dnsperf query file and returns its path.
func (l *lab) writeQueries(name string, lines ...string) string {
	f := filepath.Join(l.dir, name)
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return f
}

// dnsperf runs dnsperf in namespace ns against the IPv4 service address.
func (l *lab) dnsperf(ctx context.Context, ns, file string, qps, secs int) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns(ns), "dnsperf", "-s", "192.0.2.53",
		"-d", file, "-Q", fmt.Sprint(qps), "-l", fmt.Sprint(secs), "-t", "2")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var lostRE = regexp.MustCompile(`Queries lost:\s+(\d+)`)

func (l *lab) waitState(i int, within time.Duration, states ...string) *control.Status {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := l.status(i)
		if err == nil && slices.Contains(states, st.State) {
			return st
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("n%d not %v within %s: %+v %v", i, states, within, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// degrade makes node i answer mostly SERVFAIL (names in the mini
// internet's lame zone, asked from inside the node) for secs seconds.
func (l *lab) degrade(ctx context.Context, i, secs int) <-chan string {
	f := l.writeQueries(fmt.Sprintf("lame%d.txt", i), "www.lame.com A", "tolame.example.com A", "www.lame.com AAAA")
	done := make(chan string, 1)
	go func() {
		out, _ := l.dnsperf(ctx, fmt.Sprintf("n%d", i), f, 60, secs)
		done <- out
	}()
	return done
}

// fleetStart starts nodes 1..n and waits until r1 has each one's path
// with the healthy attributes.
func (l *lab) fleetStart(kind string, n int) {
	l.t.Helper()
	for i := 1; i <= n; i++ {
		l.startNode(i)
	}
	for i := 1; i <= n; i++ {
		d := l.waitPath("r1", kind, v4, fmt.Sprintf("n%d", i), 30*time.Second, "healthy path", with(wantHealthy))
		l.t.Logf("MEASURED healthy path at %s (n%d), counted from the last node-start returning: %s", kind, i, d.Round(10*time.Millisecond))
	}
}

// TestFleetBird walks three nodes through every state against BIRD on r1
// and a second BIRD router r2.
func TestFleetBird(t *testing.T) {
	needRoot(t)
	needFleetTools(t, false)
	l := newLabWith(t, 3, "--routers", "2")
	l.configure(3)
	l.fleetStart("bird", 3)
	ctx := context.Background()

	t.Run("healthy attributes at both routers", func(t *testing.T) {
		for _, r := range []string{"r1", "r2"} {
			for _, prefix := range []string{v4, v6} {
				l.waitPath(r, "bird", prefix, "n1", 10*time.Second, r+" healthy "+prefix, with(wantHealthy))
			}
		}
	})

	t.Run("degrading failure keeps the route with worse attributes", func(t *testing.T) {
		done := l.degrade(ctx, 1, 10)
		d := l.waitPath("r1", "bird", v4, "n1", 10*time.Second, "n1 degraded", with(wantDegraded))
		t.Logf("MEASURED degrading-failure-to-de-preference (SERVFAIL ratio, seen at BIRD): %s", d.Round(10*time.Millisecond))
		if st, err := l.status(1); err != nil || st.State != control.StateDegraded {
			t.Errorf("status of n1: %+v %v, want degraded", st, err)
		}
		if got := l.paths(v4); !got["n2"] || !got["n3"] {
			t.Errorf("n1 degraded, but BIRD lost other paths: %v", keys(got))
		}
		<-done
		d = l.waitPath("r1", "bird", v4, "n1", 20*time.Second, "n1 healthy again", with(wantHealthy))
		t.Logf("MEASURED degraded-to-healthy after the SERVFAILs stop: %s", d.Round(10*time.Millisecond))
	})

	t.Run("drain under dnsperf load loses no query", func(t *testing.T) {
		names := l.writeQueries("load.txt", "www.example.com A", "www.example.org A", "www.example.net A",
			"www.example.org AAAA", "a.bench.lab A", "b.bench.lab AAAA", "www.hosting.net A")
		// Warm the caches so that load is load, not first resolutions.
		if out, err := l.dnsperf(ctx, "c1", names, 200, 2); err != nil {
			t.Fatalf("dnsperf warm-up: %v\n%s", err, out)
		}
		perf := make(chan string, 1)
		go func() { out, _ := l.dnsperf(ctx, "c1", names, 2000, 15); perf <- out }()
		time.Sleep(3 * time.Second)
		start := time.Now()
		if out, err := l.ctl(2, "drain"); err != nil {
			t.Fatalf("drain: %v %s", err, out)
		}
		l.waitPath("r1", "bird", v4, "n2", 5*time.Second, "n2 draining attributes", with(wantDraining))
		l.waitPath("r1", "bird", v4, "n2", 35*time.Second, "n2 withdrawn", gone)
		t.Logf("MEASURED drain command to withdrawal at BIRD (2000 q/s from c1): %s", time.Since(start).Round(10*time.Millisecond))
		l.waitState(2, 35*time.Second, control.StateDrained)
		t.Logf("MEASURED drain duration (command to drained, lame duck included): %s", time.Since(start).Round(10*time.Millisecond))
		out := <-perf
		m := lostRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no 'Queries lost' in dnsperf output:\n%s", out)
		}
		t.Logf("MEASURED queries lost during drain under 2000 q/s: %s\n%s", m[1], tail(out, 14))
		if m[1] != "0" {
			t.Errorf("%s queries lost during the drain", m[1])
		}
	})

	t.Run("critical failure withdraws", func(t *testing.T) {
		start := time.Now()
		if out, err := l.inNS("n3", "ip", "addr", "del", v4, "dev", "lo"); err != nil {
			t.Fatalf("delete address: %v %s", err, out)
		}
		l.waitPath("r1", "bird", v4, "n3", 10*time.Second, "n3 withdrawn", gone)
		t.Logf("MEASURED failure-to-withdraw (address deleted, path gone at BIRD): %s", time.Since(start).Round(10*time.Millisecond))
		if !l.paths(v4)["n1"] {
			t.Error("n3's failure withdrew n1's path")
		}
		if out, err := l.inNS("n3", "ip", "addr", "add", v4, "dev", "lo"); err != nil {
			t.Fatalf("re-add address: %v %s", err, out)
		}
	})

	t.Run("ten flaps do not make ten withdrawals", func(t *testing.T) {
		withdraws := func() int {
			out, _ := l.inNS("r1", "birdc", "-s", filepath.Join(l.dir, "r1", "bird.ctl"), "show", "protocols", "all", "n3_v4")
			m := regexp.MustCompile(`Import withdraws:\s+(\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no import withdraws for n3_v4:\n%s", out)
			}
			n, _ := strconv.Atoi(m[1])
			return n
		}
		before := withdraws()
		start := time.Now()
		for i := 0; i < 10; i++ {
			l.inNS("n3", "ip", "addr", "del", v4, "dev", "lo")
			time.Sleep(2500 * time.Millisecond)
			l.inNS("n3", "ip", "addr", "add", v4, "dev", "lo")
			time.Sleep(2500 * time.Millisecond)
		}
		got := withdraws() - before
		st, _ := l.status(3)
		t.Logf("MEASURED 10 address flaps in %s: %d withdrawals at BIRD; damping %+v", time.Since(start).Round(time.Second), got, st.Damping)
		if got >= 10 {
			t.Errorf("%d withdrawals for 10 flaps: damping did not hold", got)
		}
		if got == 0 {
			t.Errorf("no withdrawal at all for 10 flaps: the flaps did not reach the node")
		}
	})

	t.Run("restarted router gets the route back", func(t *testing.T) {
		l.waitPath("r2", "bird", v4, "n1", 5*time.Second, "n1 at r2", with(wantHealthy))
		l.must("router-stop", "r2")
		l.must("router-start", "r2")
		d := l.waitPath("r2", "bird", v4, "n1", 20*time.Second, "n1 back at r2", with(wantHealthy))
		t.Logf("MEASURED router restart to route back (r2 killed and restarted, n1): %s", d.Round(10*time.Millisecond))
		if !l.paths(v4)["n1"] {
			t.Error("r2's restart took n1's path off r1")
		}
	})

	t.Run("last node standing stays announced", func(t *testing.T) {
		l.must("node-stop", "2")
		l.must("node-stop", "3")
		l.waitPaths(v4, 10*time.Second, "only n1 left", func(p map[string]bool) bool { return len(p) == 1 && p["n1"] })
		if out, err := l.inNS("n1", "ip", "addr", "del", v4, "dev", "lo"); err != nil {
			t.Fatalf("delete address: %v %s", err, out)
		}
		st := l.waitState(1, 10*time.Second, control.StateGuarded)
		l.waitPath("r1", "bird", v4, "n1", 5*time.Second, "n1 guarded at lowest preference", with(wantDraining))
		time.Sleep(2 * time.Second)
		if !l.paths(v4)["n1"] {
			t.Fatal("the last announcer withdrew")
		}
		t.Logf("n1 guarded: %s %v", st.Reason, st.Guarded)
		l.inNS("n1", "ip", "addr", "add", v4, "dev", "lo")
		l.waitPath("r1", "bird", v4, "n1", 20*time.Second, "n1 healthy again", with(wantHealthy))
	})

	t.Run("SIGSTOP loses the route within the hold time", func(t *testing.T) {
		pid := l.pid(1)
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
		l.waitPath("r1", "bird", v4, "n1", 15*time.Second, "n1 gone after SIGSTOP", gone)
		d := time.Since(start)
		t.Logf("MEASURED SIGSTOP-to-withdraw (hold time 9s, seen at BIRD): %s", d.Round(10*time.Millisecond))
		if d > 10*time.Second {
			t.Errorf("SIGSTOP withdrawal took %s, more than the 9s hold time (+1s polling)", d)
		}
	})
}

// TestFrrFleet runs the attribute, withdraw and guard subset against FRR.
func TestFrrFleet(t *testing.T) {
	needRoot(t)
	needFleetTools(t, true)
	l := newLabWith(t, 2, "--router", "frr")
	l.configure(2)
	l.fleetStart("frr", 2)
	ctx := context.Background()

	t.Run("healthy attributes", func(t *testing.T) {
		l.waitPath("r1", "frr", v6, "n1", 10*time.Second, "healthy v6", with(wantHealthy))
		l.waitKernel(5*time.Second, "zebra's kernel route ECMP over both nodes", func(out string) bool {
			return strings.Count(out, "nexthop") == 2
		})
	})
	t.Run("degraded", func(t *testing.T) {
		done := l.degrade(ctx, 1, 10)
		d := l.waitPath("r1", "frr", v4, "n1", 10*time.Second, "n1 degraded", with(wantDegraded))
		t.Logf("MEASURED degrading-failure-to-de-preference at FRR: %s", d.Round(10*time.Millisecond))
		l.waitKernel(5*time.Second, "degraded n1 (higher MED) out of FRR's ECMP set", func(out string) bool {
			return !strings.Contains(out, "198.18.1.2") && strings.Contains(out, "198.18.2.2")
		})
		<-done
		l.waitPath("r1", "frr", v4, "n1", 20*time.Second, "n1 healthy again", with(wantHealthy))
	})
	t.Run("draining", func(t *testing.T) {
		if out, err := l.ctl(2, "drain"); err != nil {
			t.Fatalf("drain: %v %s", err, out)
		}
		l.waitPath("r1", "frr", v4, "n2", 5*time.Second, "n2 draining", with(wantDraining))
		d := l.waitPath("r1", "frr", v4, "n2", 35*time.Second, "n2 withdrawn", gone)
		t.Logf("MEASURED drain (no load) GRACEFUL_SHUTDOWN to withdrawal at FRR: %s", d.Round(10*time.Millisecond))
	})
	t.Run("critical failure withdraws, unless last", func(t *testing.T) {
		// n2 is drained: n1 is the last announcer, so losing its address
		// guards instead of withdrawing.
		l.inNS("n1", "ip", "addr", "del", v4, "dev", "lo")
		l.waitState(1, 10*time.Second, control.StateGuarded)
		l.waitPath("r1", "frr", v4, "n1", 5*time.Second, "n1 guarded", with(wantDraining))
		l.inNS("n1", "ip", "addr", "add", v4, "dev", "lo")
		l.waitPath("r1", "frr", v4, "n1", 20*time.Second, "n1 healthy again", with(wantHealthy))
		if out, err := l.ctl(2, "undrain"); err != nil {
			t.Fatalf("undrain: %v %s", err, out)
		}
		l.waitPath("r1", "frr", v4, "n2", 20*time.Second, "n2 back", with(wantHealthy))
		start := time.Now()
		l.inNS("n2", "ip", "addr", "del", v4, "dev", "lo")
		l.waitPath("r1", "frr", v4, "n2", 10*time.Second, "n2 withdrawn", gone)
		t.Logf("MEASURED failure-to-withdraw at FRR: %s", time.Since(start).Round(10*time.Millisecond))
	})
}
