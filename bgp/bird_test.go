package bgp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file runs a real BIRD 2 as the upstream router. BIRD runs in the
// root network namespace but only ever talks to 127.0.0.0/8 and ::1.

// requireBird skips when the test cannot run here, and fails when it must.
func requireBird(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("skipping BIRD test: needs root (or CI set); run as root or with CI=1")
	}
	for _, bin := range []string{"bird", "birdc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found (install Debian package bird2, e.g. via make test): %v", bin, err)
		}
	}
}

// freePort returns a TCP port that was free on addr a moment ago, for BIRD
// to bind later. It comes from below the kernel's ephemeral range: a port
// from that range (what a bind to port 0 returns) can be handed to any
// other socket of any process (an outgoing connection, another test's
// listener) between this check and BIRD's bind, and under a load of many
// connections it was (BIRD: "bind: Address already in use"). Below the
// range only explicit binds take ports, and this one is checked.
func freePort(t *testing.T, addr string) int {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				lo = n
			}
		}
	}
	const from = 10000
	for range 100 {
		if lo <= from {
			break
		}
		port := from + rand.IntN(lo-from)
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("find free port on %s: %v", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// birdNeighbor is one BGP session in the BIRD config.
type birdNeighbor struct {
	Name      string // protocol name
	Local     string // BIRD's address
	Port      int    // BIRD's listening port
	Neighbor  string // the speaker's address
	LocalASN  uint32
	PeerASN   uint32
	IPv6      bool
	Password  string
	AddPathTx bool
	// TTLSecurity turns on GTSM at BIRD: it sends with TTL 255 and, for
	// these multihop sessions (default hop count 64), accepts TTL >= 192.
	TTLSecurity bool
}

// birdConfig renders a BIRD 2 configuration with one BGP protocol per
// neighbour, a static route per extra prefix (as if another node announced
// it), and nothing that touches the kernel.
func birdConfig(routerID string, ns []birdNeighbor, static4 []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "router id %s;\n", routerID)
	b.WriteString("log stderr all;\n")
	b.WriteString("protocol device { scan time 1; }\n")
	// BIRD refuses a loopback address as a directly connected neighbour
	// ("Invalid remote address": the kernel gives lo host scope), so the
	// sessions are multihop, and a multihop session resolves next hops
	// recursively. BIRD ignores 127.0.0.0/8 and ::1/128 as bogus, so
	// default routes via lo, in BIRD's tables only (there is no kernel
	// protocol), make the speaker's loopback next hops resolvable.
	b.WriteString("protocol static lo4 { ipv4; route 0.0.0.0/0 via \"lo\"; }\n")
	b.WriteString("protocol static lo6 { ipv6; route ::/0 via 2001:db8:ffff::1%lo onlink; }\n")
	if len(static4) > 0 {
		b.WriteString("protocol static other4 {\n  ipv4;\n")
		for _, p := range static4 {
			fmt.Fprintf(&b, "  route %s blackhole;\n", p)
		}
		b.WriteString("}\n")
	}
	for _, n := range ns {
		fam := "ipv4"
		if n.IPv6 {
			fam = "ipv6"
		}
		fmt.Fprintf(&b, "protocol bgp %s {\n", n.Name)
		fmt.Fprintf(&b, "  local %s port %d as %d;\n", n.Local, n.Port, n.LocalASN)
		// BIRD would connect out to port 179 where nothing listens;
		// passive keeps its log quiet and makes the speaker the one
		// that connects, as an embedded speaker does.
		fmt.Fprintf(&b, "  neighbor %s as %d;\n", n.Neighbor, n.PeerASN)
		b.WriteString("  passive on;\n  multihop;\n")
		b.WriteString("  hold time 9; keepalive time 3;\n")
		b.WriteString("  error wait time 1, 10;\n  connect retry time 1;\n")
		if n.Password != "" {
			fmt.Fprintf(&b, "  password %q;\n", n.Password)
		}
		if n.TTLSecurity {
			b.WriteString("  ttl security yes;\n")
		}
		fmt.Fprintf(&b, "  %s {\n    import all;\n", fam)
		if len(static4) > 0 && !n.IPv6 {
			b.WriteString("    export where proto = \"other4\";\n")
		} else {
			b.WriteString("    export none;\n")
		}
		if n.AddPathTx {
			b.WriteString("    add paths tx;\n")
		}
		b.WriteString("  };\n}\n")
	}
	return b.String()
}

// bird is a running BIRD process.
type bird struct {
	sock, confPath, conf string
	mu                   sync.Mutex // guards what follows
	out                  bytes.Buffer
	cmd                  *exec.Cmd
	exited               chan struct{}
}

func (b *bird) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

func (b *bird) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// startBird runs bird in the foreground with conf and waits until its
// control socket answers. It is killed when the test ends.
func startBird(t *testing.T, conf string) *bird {
	t.Helper()
	// A short directory: the control socket path must fit in sun_path.
	dir, err := os.MkdirTemp("", "bird")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &bird{sock: filepath.Join(dir, "bird.ctl"), confPath: filepath.Join(dir, "bird.conf"), conf: conf}
	if err := os.WriteFile(b.confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.kill()
		if t.Failed() {
			t.Logf("bird config:\n%s\nbird log:\n%s", conf, b.log())
		}
	})
	b.start(t)
	return b
}

func (b *bird) start(t *testing.T) {
	t.Helper()
	b.startUntil(t, 5*time.Second, "bird control socket", func() (bool, string) {
		out, err := b.birdc("show", "status")
		return err == nil && strings.Contains(out, "Daemon is up"), out
	})
}

// startUntil starts bird and waits within for ready, failing at once if
// bird exits meanwhile.
func (b *bird) startUntil(t *testing.T, within time.Duration, what string, ready func() (bool, string)) {
	t.Helper()
	cmd := exec.Command("bird", "-f", "-c", b.confPath, "-s", b.sock)
	cmd.Stdout, cmd.Stderr = b, b
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bird: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.mu.Lock()
	b.cmd, b.exited = cmd, exited
	b.mu.Unlock()
	eventually(t, within, what, func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("bird exited early:\n%s", b.log())
		default:
		}
		return ready()
	})
}

// kill stops bird abruptly, as a crashing router would, and waits for it.
func (b *bird) kill() {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

func (b *bird) birdc(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "birdc", append([]string{"-s", b.sock}, args...)...).CombinedOutput()
	return string(out), err
}

// protocolState returns the BGP state ("Established", "Active", ...) and
// the number of route updates BIRD has imported on protocol name.
func (b *bird) protocolState(name string) (state string, importUpdates int, err error) {
	out, err := b.birdc("show", "protocols", "all", name)
	if err != nil {
		return "", 0, fmt.Errorf("birdc show protocols %s: %w: %s", name, err, out)
	}
	return parseProtocol(out)
}

var (
	bgpStateRe      = regexp.MustCompile(`(?m)^\s*BGP state:\s+(\S+)`)
	importUpdatesRe = regexp.MustCompile(`(?m)^\s*Import updates:\s+(\d+)`)
)

func parseProtocol(out string) (state string, importUpdates int, err error) {
	m := bgpStateRe.FindStringSubmatch(out)
	if m == nil {
		return "", 0, fmt.Errorf("no BGP state in %q", out)
	}
	state = m[1]
	if m := importUpdatesRe.FindStringSubmatch(out); m != nil {
		importUpdates, _ = strconv.Atoi(m[1])
	}
	return state, importUpdates, nil
}

// birdRoute is what BIRD shows for one route.
type birdRoute struct {
	Prefix      netip.Prefix
	Unreachable bool
	Proto       string
	ASPath      string
	NextHop     string
	MED         string
	Communities string
	Large       string
}

// routes returns BIRD's routes, by prefix, as shown by `show route all`.
func (b *bird) routes() (map[netip.Prefix]birdRoute, error) {
	out, err := b.birdc("show", "route", "all")
	if err != nil {
		return nil, fmt.Errorf("birdc show route all: %w: %s", err, out)
	}
	return parseRoutes(out), nil
}

// routeLineRe matches the first line of a route: prefix, type, [protocol ...].
// Following routes for the same prefix leave the prefix column blank.
var routeLineRe = regexp.MustCompile(`^(\S+)?\s+(unicast|unreachable|blackhole|prohibited)\s+\[(\S+)`)

func parseRoutes(out string) map[netip.Prefix]birdRoute {
	routes := map[netip.Prefix]birdRoute{}
	var cur *birdRoute
	var last netip.Prefix
	flush := func() {
		// Only the speaker's routes matter to the tests; BIRD's own
		// static routes would otherwise hide them under the same prefix.
		if cur != nil && cur.Proto != "other4" {
			routes[cur.Prefix] = *cur
		}
		cur = nil
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := routeLineRe.FindStringSubmatch(line); m != nil {
			flush()
			if m[1] != "" {
				p, err := netip.ParsePrefix(m[1])
				if err != nil {
					continue
				}
				last = p
			}
			cur = &birdRoute{Prefix: last, Unreachable: m[2] == "unreachable", Proto: m[3]}
			continue
		}
		if cur == nil {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "BGP.as_path":
			cur.ASPath = v
		case "BGP.next_hop":
			cur.NextHop = v
		case "BGP.med":
			cur.MED = v
		case "BGP.community":
			cur.Communities = v
		case "BGP.large_community":
			cur.Large = v
		}
	}
	flush()
	return routes
}

// eventually polls cond until it holds or the deadline passes. It polls an
// external process, so there is nothing to synchronise on but its answers.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v; last: %s", what, within, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
