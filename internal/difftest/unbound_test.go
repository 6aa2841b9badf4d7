package difftest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/mininet"
	"github.com/miekg/dns"
)

// unboundConf is the whole Unbound configuration: nothing of the Debian
// package's own config is used. Validation is off (module-config iterator)
// until the mini internet is signed.
const unboundConf = `server:
	verbosity: 1
	interface: %[2]s
	port: %[3]d
	do-ip4: yes
	do-ip6: yes
	do-udp: yes
	do-tcp: yes
	do-daemonize: no
	use-syslog: no
	chroot: ""
	username: ""
	directory: "%[1]s"
	pidfile: "%[1]s/unbound.pid"
	logfile: "%[1]s/unbound.log"
	root-hints: "%[1]s/root.hints"
	access-control: 127.0.0.0/8 allow
	module-config: "iterator"
	qname-minimisation: yes
	harden-glue: yes
	use-caps-for-id: yes
	num-threads: 1
	msg-cache-size: 4m
	rrset-cache-size: 4m
	prefetch: no
	edns-buffer-size: 1232
remote-control:
	control-enable: no
`

// startUnbound runs Unbound in the foreground on listen against in until
// the test ends, and waits until it answers.
func startUnbound(t *testing.T, in *mininet.Internet, listen netip.AddrPort) {
	t.Helper()
	runUnbound(t, unboundConf, listen, map[string]string{"root.hints": in.RootHints()})
}

// runUnbound writes files and the config (conf, formatted with the
// directory and the listen address and port) into a temporary directory,
// runs Unbound on it until the test ends, and waits until it answers.
func runUnbound(t *testing.T, conf string, listen netip.AddrPort, files map[string]string) {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("unbound not installed (Debian package unbound), and CI is set")
		}
		t.Skip("unbound not installed (Debian package unbound)")
	}
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	confPath := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(confPath, []byte(fmt.Sprintf(conf, dir, listen.Addr(), listen.Port())), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-d", "-c", confPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	// Killed with this process even if the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unbound: %v", err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "unbound.log"))
			t.Logf("unbound output:\n%s\nunbound.log:\n%s", out.String(), log)
		}
	})
	// localhost. is Unbound's own local data: it answers without upstream.
	m := new(dns.Msg)
	m.SetQuestion("localhost.", dns.TypeA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, err := c.Exchange(m, listen.String()); err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("unbound exited: %v", waitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("unbound not answering after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
