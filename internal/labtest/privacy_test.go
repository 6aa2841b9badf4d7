package labtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/anycastd/anycastd/internal/control"
)

// TestPrivacy is issue 6's proof. One node with the query log (with client
// prefixes), dnstap to a file and debug sampling all on answers 1,000
// clients (240 IPv4, 760 IPv6, over UDP and TCP, a third sending ECS with
// their own address); then every file the node wrote and everything it
// exports is searched for each client address in text and binary form.
// A capture on the mini internet shows no ECS upstream and QNAME
// minimisation at the root and TLD servers; `anycastctl audit` passes.
func TestPrivacy(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil && os.Geteuid() == 0 {
		t.Fatal("tshark not found: run scripts/deps.sh (make test does)")
	}
	l := newLab(t, 1)
	nd := filepath.Join(l.dir, "n1")
	dnstapFile := filepath.Join(nd, "state", "dnstap.fstrm")
	conf, err := os.ReadFile(filepath.Join(nd, "anycastd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conf = append(conf, fmt.Sprintf(`log: {level: debug}
privacy:
  query_log: {enabled: true, size: 5000, client_prefix: true}
  dnstap: {file: %s, client_prefix: true}
  debug_sampling: {rate: 0.0005}
  rate_limit: {qps: 5000, burst: 5000}
`, dnstapFile)...)
	if err := os.WriteFile(filepath.Join(nd, "anycastd.yaml"), conf, 0o644); err != nil {
		t.Fatal(err)
	}

	clients := privacyClients()
	addClientAddrs(t, l, clients)

	// Capture everything the mini internet's servers receive.
	pcap := filepath.Join(t.TempDir(), "inet.pcap")
	capture := exec.Command("ip", "netns", "exec", l.ns("inet"), "tshark", "-q", "-i", "r1", "-w", pcap, "-f", "port 53")
	var capErr bytes.Buffer
	capture.Stderr = &capErr
	if err := capture.Start(); err != nil {
		t.Fatalf("start tshark: %v", err)
	}
	stopped := false
	stopCapture := func() {
		if !stopped {
			stopped = true
			capture.Process.Signal(syscall.SIGINT)
			capture.Wait()
		}
	}
	t.Cleanup(stopCapture)
	for i := 0; !strings.Contains(capErr.String(), "Capturing on"); i++ {
		if i > 200 {
			t.Fatalf("tshark did not start: %s", capErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	l.startNode(1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := l.status(1)
		if err == nil && st.State == control.StateAnnouncing {
			if st.Privacy == nil || !st.Privacy.QueryLog || !st.Privacy.Dnstap || !st.Privacy.DebugSampling || st.Privacy.CoreDumps {
				t.Fatalf("status privacy = %+v: want query log, dnstap and sampling on, core dumps off", st.Privacy)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 not announcing within 30s: %v %+v", err, st)
		}
		time.Sleep(100 * time.Millisecond)
	}

	answered := queryFromClients(t, l, clients)
	if answered < len(clients)*2*9/10 {
		t.Fatalf("only %d of %d queries answered", answered, 2*len(clients))
	}
	stopCapture()

	// What the node exports, saved as files to be searched with the rest.
	exports := t.TempDir()
	save := func(name string, args ...string) string {
		out, err := l.ctl(1, args...)
		if err != nil {
			t.Fatalf("anycastctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		os.WriteFile(filepath.Join(exports, name), []byte(out), 0o600)
		return out
	}
	save("status.json", "status", "--json")
	save("status.txt", "status")
	qlog := save("querylog.json", "querylog", "--json")
	save("querylog.txt", "querylog")
	save("samples.txt", "querylog", "--samples")
	save("cache-stats.json", "cache", "stats", "--json")
	auditJSON := save("audit.json", "audit", "--json")
	auditText := save("audit.txt", "audit")
	metrics, err := l.inNS("n1", "curl", "-sf", "http://127.0.0.1:9253/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	os.WriteFile(filepath.Join(exports, "metrics.txt"), []byte(metrics), 0o600)

	var ql control.QueryLog
	if err := json.Unmarshal([]byte(qlog), &ql); err != nil {
		t.Fatal(err)
	}
	if len(ql.Records) < answered*9/10 {
		t.Errorf("query log holds %d records for %d answers", len(ql.Records), answered)
	}
	prefixes := map[string]bool{}
	for _, r := range ql.Records {
		prefixes[r.ClientPrefix] = true
	}
	if !prefixes["203.0.113.0/24"] || !prefixes["2001:db8:c::/48"] {
		t.Errorf("query log client prefixes %v: want 203.0.113.0/24 and 2001:db8:c::/48", keys(prefixes))
	}
	var audit control.Audit
	if err := json.Unmarshal([]byte(auditJSON), &audit); err != nil {
		t.Fatal(err)
	}
	if !audit.Pass || !strings.Contains(auditText, "privacy checks pass") {
		t.Errorf("audit does not pass:\n%s", auditText)
	}
	t.Logf("anycastctl audit:\n%s", auditText)
	for _, want := range []string{"retention", "truncation", "ecs", "qname minimisation", "core dumps", "debug sampling", "query log fields", "dnstap", "metrics labels"} {
		found := false
		for _, c := range audit.Checks {
			found = found || c.Name == want
		}
		if !found {
			t.Errorf("audit has no %q check", want)
		}
	}

	// Stop the node so dnstap is flushed, then search everything.
	l.must("node-stop", "1")
	if fi, err := os.Stat(dnstapFile); err != nil || fi.Size() < int64(answered)*50 {
		t.Fatalf("dnstap file %v %v: want a record per answer", fi, err)
	}
	// The search must be able to fail: a planted address is found.
	planted := t.TempDir()
	os.WriteFile(filepath.Join(planted, "planted"), append([]byte("x"), clients[500].AsSlice()...), 0o600)
	if got := searchLeaks(t, clients, planted); len(got) != 1 {
		t.Fatalf("search missed a planted binary address: %v", got)
	}
	if leaks := searchLeaks(t, clients, nd, exports); len(leaks) > 0 {
		t.Errorf("client addresses found:\n%s", strings.Join(leaks, "\n"))
	}
	checkCapture(t, l, pcap)
}

// privacyClients are the 1,000 client addresses: 203.0.113.10-249 and
// 2001:db8:c::1000 onwards, none of them a prefix's network address.
func privacyClients() []netip.Addr {
	var out []netip.Addr
	for i := 10; i < 250; i++ {
		out = append(out, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	a := netip.MustParseAddr("2001:db8:c::1000")
	for len(out) < 1000 {
		out = append(out, a)
		a = a.Next()
	}
	return out
}

func addClientAddrs(t *testing.T, l *lab, clients []netip.Addr) {
	t.Helper()
	var b strings.Builder
	for _, a := range clients {
		if a.Is4() {
			fmt.Fprintf(&b, "addr add %s/24 dev r1\n", a)
		} else {
			fmt.Fprintf(&b, "addr add %s/64 dev r1 nodad\n", a)
		}
	}
	cmd := exec.Command("ip", "-n", l.ns("c1"), "-batch", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("add client addresses: %v\n%s", err, out)
	}
}

// queryFromClients sends, from each client address in c1, one query over
// UDP and one over TCP to the service address of its family. Sockets are
// made on a thread moved into c1's namespace and moved back before the
// thread is released. (It used to stay in c1 and die with the goroutine;
// but the runtime cannot end its main thread, which then stayed in c1, so
// `lab.sh down` listed the test binary among c1's processes and sent it
// SIGTERM: "signal: terminated" at the end of the run, now and then.)
func queryFromClients(t *testing.T, l *lab, clients []netip.Addr) int {
	t.Helper()
	type result struct {
		answered int
		err      error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- result{err: err}
			return // still locked: the thread exits with us
		}
		defer orig.Close()
		f, err := os.Open("/run/netns/" + l.ns("c1"))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("setns c1: %w", err)}
			return
		}
		// Back to the test's namespace before the thread is released; if
		// that fails it stays locked and exits with the goroutine.
		defer func() {
			if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
		}()
		names := []string{"www.example.com.", "a.b.c.d.example.com.", "example.com.", "nope.example.com."}
		n := 0
		for i, a := range clients {
			server := "192.0.2.53:53"
			if a.Is6() {
				server = "[2001:db8:53::53]:53"
			}
			for _, network := range []string{"udp", "tcp"} {
				m := new(dns.Msg).SetQuestion(names[i%len(names)], dns.TypeA)
				m.SetEdns0(1232, false)
				if i%3 == 0 {
					fam, bits := uint16(1), uint8(32)
					if a.Is6() {
						fam, bits = 2, 128
					}
					o := m.IsEdns0()
					o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, SourceNetmask: bits, Address: net.IP(a.AsSlice())})
				}
				var laddr net.Addr = &net.UDPAddr{IP: a.AsSlice()}
				if network == "tcp" {
					laddr = &net.TCPAddr{IP: a.AsSlice()}
				}
				c := &dns.Client{Net: network, Timeout: 3 * time.Second, Dialer: &net.Dialer{LocalAddr: laddr, Timeout: 3 * time.Second}}
				resp, _, err := c.Exchange(m, server)
				if err == nil && resp.Rcode != dns.RcodeServerFailure {
					n++
				}
			}
		}
		done <- result{answered: n}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.answered
}

// searchLeaks looks for every client address, as text and as its 4 or 16
// bytes, in every file under the dirs, and names each file that holds one.
func searchLeaks(t *testing.T, clients []netip.Addr, dirs ...string) []string {
	t.Helper()
	type form struct {
		b    []byte
		what string
	}
	var forms []form
	for _, a := range clients {
		forms = append(forms, form{[]byte(a.String()), a.String() + " as text"}, form{a.AsSlice(), a.String() + " in binary"})
		if a.Is6() {
			forms = append(forms, form{[]byte(a.StringExpanded()), a.String() + " as expanded text"})
		}
	}
	files := 0
	var leaks []string
	for _, dir := range dirs {
		filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("read %s: %v", path, err)
				return nil
			}
			files++
			var hits []string
			for _, f := range forms {
				if bytes.Contains(data, f.b) {
					hits = append(hits, f.what)
				}
			}
			if len(hits) > 0 {
				leaks = append(leaks, fmt.Sprintf("%s holds client addresses: %d hits, e.g. %s", path, len(hits), strings.Join(hits[:min(5, len(hits))], "; ")))
			}
			return nil
		})
	}
	t.Logf("searched %d files for %d client addresses in %d forms", files, len(clients), len(forms))
	if files == 0 {
		t.Errorf("no files searched in %v", dirs)
	}
	return leaks
}

// checkCapture reads the mini internet's capture: no ECS option at all,
// and for names under example.com the root servers saw one label and the
// com servers two.
func checkCapture(t *testing.T, l *lab, pcap string) {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-Y", "dns.flags.response == 0", "-T", "fields",
		"-e", "ip.dst", "-e", "ipv6.dst", "-e", "dns.qry.name", "-e", "dns.opt.code").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	roots := serversOf(t, l, ".")
	tlds := serversOf(t, l, "com.")
	var queries, deep int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 4 {
			continue
		}
		queries++
		dst, name := f[0]+f[1], strings.ToLower(strings.TrimSuffix(f[2], "."))
		for _, code := range strings.Split(f[3], ",") {
			if code == "8" {
				t.Errorf("query for %s to an authority carries ECS (option 8)", name)
			}
		}
		if !strings.HasSuffix(name, "example.com") {
			continue
		}
		labels := strings.Count(name, ".") + 1
		if name == "a.b.c.d.example.com" {
			deep++
		}
		if roots[dst] && labels > 1 {
			t.Errorf("root server %s saw %s: more labels than it needs", dst, name)
		}
		if tlds[dst] && labels > 2 {
			t.Errorf("com server %s saw %s: more labels than it needs", dst, name)
		}
	}
	if queries == 0 || deep == 0 || len(roots) == 0 || len(tlds) == 0 {
		t.Fatalf("capture: %d queries, %d for the deep name, %d root and %d com servers known: nothing to judge", queries, deep, len(roots), len(tlds))
	}
	t.Logf("capture: %d upstream queries, none with ECS; the full deep name went to the example.com servers only (%d times)", queries, deep)
}

// serversOf returns the addresses of zone's name servers, asked of the mini
// internet from inside it: the root hints for ".", the root's glue for a TLD.
func serversOf(t *testing.T, l *lab, zone string) map[string]bool {
	t.Helper()
	hints, err := os.ReadFile(filepath.Join(l.dir, "root.hints"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	var root string
	for _, line := range strings.Split(string(hints), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && (f[len(f)-2] == "A" || f[len(f)-2] == "AAAA") {
			got[f[len(f)-1]] = true
			if root == "" && f[len(f)-2] == "A" {
				root = f[len(f)-1]
			}
		}
	}
	if zone == "." {
		return got
	}
	out, err := l.inNS("inet", "dig", "+norec", "+time=2", "+tries=1", "@"+root, zone, "NS")
	if err != nil {
		t.Fatalf("dig @%s %s NS: %v\n%s", root, zone, err, out)
	}
	tld := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && (f[3] == "A" || f[3] == "AAAA") {
			tld[f[4]] = true
		}
	}
	return tld
}
