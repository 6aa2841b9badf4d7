package difftest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/mininet"
	"github.com/anycastd/anycastd/resolver"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// childEnv marks the re-executed test binary that runs inside the private
// network namespace; its value is the name of the test to run there.
const childEnv = "ANYCASTD_DIFFTEST_CHILD"

// labConfig is the lab's numbering: the servers listen on port 53, as
// Unbound cannot be told another upstream port.
var labConfig = mininet.Config{
	Prefix4: netip.MustParsePrefix("198.51.100.0/24"),
	Prefix6: netip.MustParsePrefix("2001:db8:100::/64"),
	Port:    53,
}

// inNamespace reports whether the calling test runs inside its private
// network namespace. Outside, it re-executes the test binary for this one
// test in a fresh namespace (CLONE_NEWNET: it has only lo, so nothing can
// leave it, and it vanishes with the last process in it), relays the
// output, fails when the child fails and returns false: the caller returns.
func inNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "" {
			t.Skip("needs root for a private network namespace (CI unset)")
		}
		t.Fatal("needs root for a private network namespace, and CI is set")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	args := []string{"-test.run", "^" + t.Name() + "$", "-test.count=1", "-test.timeout=80s", "-test.v"}
	cmd := exec.CommandContext(ctx, "/proc/self/exe", args...)
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for line := range strings.Lines(out.String()) {
		t.Log(strings.TrimRight(line, "\n"))
	}
	switch {
	case err != nil && strings.Contains(out.String(), "--- SKIP"):
		t.Skip("child skipped")
	case err != nil:
		t.Fatalf("test in network namespace: %v", err)
	case !strings.Contains(out.String(), "--- PASS: "+t.Name()) && !strings.Contains(out.String(), "--- SKIP: "+t.Name()):
		t.Fatal("child did not run the test")
	}
	return false
}

// setupInternet brings lo up in the namespace, adds the mini internet's
// addresses and starts it on port 53.
func setupInternet(t *testing.T, cfg mininet.Config, log *slog.Logger) *mininet.Internet {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatalf("lo up: %v", err)
	}
	for _, a := range mininet.Addrs(cfg) {
		ipnet := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
		// nodad: a tentative address drops packets until DAD has run.
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipnet, Flags: unix.IFA_F_NODAD}); err != nil {
			t.Fatalf("add %s to lo: %v", a, err)
		}
	}
	if err := waitNotTentative(lo); err != nil {
		t.Fatal(err)
	}
	in, err := mininet.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func waitNotTentative(link netlink.Link) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
		if err != nil {
			return fmt.Errorf("list addresses: %w", err)
		}
		tentative := 0
		for _, a := range addrs {
			if a.Flags&unix.IFA_F_TENTATIVE != 0 {
				tentative++
			}
		}
		if tentative == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d IPv6 addresses still tentative after 5s", tentative)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startResolver runs anycastd's resolver on listen (UDP and TCP) against in
// until the test ends.
func startResolver(t *testing.T, in *mininet.Internet, listen netip.AddrPort, log *slog.Logger) *resolver.Resolver {
	t.Helper()
	hints, err := resolver.ParseRootHints(strings.NewReader(in.RootHints()))
	if err != nil {
		t.Fatal(err)
	}
	return runResolver(t, resolver.Config{
		NodeName:     "difftest",
		Listen:       []netip.AddrPort{listen},
		RootHints:    hints,
		UpstreamPort: in.Port(),
	}, log, nil)
}

// runResolver builds a resolver from cfg, runs it until the test ends and
// waits until its listeners are up.
func runResolver(t *testing.T, cfg resolver.Config, log *slog.Logger, reg prometheus.Registerer) *resolver.Resolver {
	t.Helper()
	r, err := resolver.New(cfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("resolver Run: %v", err)
		}
	})
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatalf("resolver stopped before ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("resolver not ready after 5s")
	}
	return r
}

// ask sends q (RD=1, EDNS 1232) over UDP to addr, retrying once on a
// timeout: Debian's Unbound gives up on a client after its own deadline
// and may answer only the retry from its cache.
func ask(addr netip.AddrPort, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 4 * time.Second, UDPSize: 1232}
	var err error
	for range 2 {
		var r *dns.Msg
		if r, _, err = c.Exchange(m, addr.String()); err == nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("ask %s %s @%s: %w", name, dns.TypeToString[qtype], addr, err)
}

// askTCP is ask over TCP, as a client does after TC=1.
func askTCP(addr netip.AddrPort, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: "tcp", Timeout: 4 * time.Second}
	r, _, err := c.Exchange(m, addr.String())
	if err != nil {
		return nil, fmt.Errorf("ask %s %s @%s over TCP: %w", name, dns.TypeToString[qtype], addr, err)
	}
	return r, nil
}

// testLog logs to stderr only with -v.
func testLog(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
