package resolver

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestDoHDnsperf runs the client the bench measures DoH with, dnsperf 2.10
// (`-m doh`, nghttp2, pause after each message), for two seconds against
// the DoH server and requires every query answered. Before the cut in
// doh_records.go, dnsperf lost 14-60% of its queries here on loopback and
// 24% over a veth pair (issue 8), so the q/s collapsed to a few hundred.
// TestDoHOneResponsePerRecord checks the record layout the fix gives;
// this checks that the real client is satisfied with it.
func TestDoHDnsperf(t *testing.T) {
	dnsperf, err := exec.LookPath("dnsperf")
	if err != nil {
		t.Skip("dnsperf not installed (scripts/deps.sh installs it)")
	}
	s := startEncrypted(t, func(c *EncryptedConfig) { c.DoT, c.DoH3, c.DoQ = false, false, false })
	// Cached first: the answers are then ready together, which is when the
	// server used to write several into one TLS record.
	if _, _, _, err := dohExchange(h2Client(s.clientTLS()), "https://"+s.addr("doh"), http.MethodGet, query("www.example.com", dns.TypeA, false, 0)); err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(s.addr("doh"))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "queries")
	if err := os.WriteFile(data, []byte(strings.Repeat("www.example.com A\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The bench's load shape (scripts/bench/run.sh stream_qps), shorter,
	// and a timeout short enough that lost answers show within the test.
	out, err := exec.Command(dnsperf, "-m", "doh", "-s", host, "-p", port, "-d", data,
		"-l", "2", "-c", "4", "-T", "2", "-q", "200", "-t", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("dnsperf: %v\n%s", err, out)
	}
	completed, lost := dnsperfCount(t, out, "Queries completed"), dnsperfCount(t, out, "Queries lost")
	if lost != 0 || completed < 1000 {
		t.Fatalf("dnsperf -m doh: %d completed, %d lost; want 0 lost and >= 1000 completed\n%s", completed, lost, out)
	}
	t.Logf("dnsperf -m doh: %d completed in 2s, 0 lost", completed)
}

// dnsperfCount reads a count such as "  Queries lost:  3 (0.10%)" from
// dnsperf's statistics.
func dnsperfCount(t *testing.T, out []byte, label string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `:\s+(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in dnsperf output:\n%s", label, out)
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
