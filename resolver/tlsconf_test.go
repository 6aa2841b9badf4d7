package resolver

import (
	"crypto/tls"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestCertRotationUnderLoad swaps the certificate files while clients on
// DoT and DoH keep asking over new connections: no query may fail, new
// handshakes must end up on the new certificate, and an invalid pair
// afterwards must keep it (with the metric and CertProblem saying so).
func TestCertRotationUnderLoad(t *testing.T) {
	s := startEncrypted(t, func(c *EncryptedConfig) { c.ReloadInterval = 20 * time.Millisecond })
	serialOf := func() int64 {
		_, _, st, err := dotExchange(s.addr("dot"), s.clientTLS("dot"), query("www.example.com", dns.TypeA, false, 0))
		if err != nil {
			t.Fatalf("dot: %v", err)
		}
		return st.PeerCertificates[0].SerialNumber.Int64()
	}
	first := serialOf()

	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		asked   atomic.Int64
		failMu  sync.Mutex
		failure error
	)
	fail := func(err error) {
		failMu.Lock()
		if failure == nil {
			failure = err
		}
		failMu.Unlock()
	}
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				if _, _, _, err := dotExchange(s.addr("dot"), s.clientTLS("dot"), query("www.example.com", dns.TypeA, false, 0)); err != nil {
					fail(err)
				}
				asked.Add(1)
			}
		})
	}
	wg.Go(func() {
		h2 := h2Client(s.clientTLS())
		for !stop.Load() {
			h2.CloseIdleConnections()
			if _, _, _, err := dohExchange(h2, "https://"+s.addr("doh"), http.MethodGet, query("www.example.com", dns.TypeA, false, 0)); err != nil {
				fail(err)
			}
			asked.Add(1)
		}
	})
	var second int64
	for range 3 {
		time.Sleep(50 * time.Millisecond)
		second = s.pki.issue(t, s.certFile, s.keyFile, 48*time.Hour)
	}
	deadline := time.Now().Add(3 * time.Second)
	for serialOf() != second && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if failure != nil {
		t.Fatalf("a query failed during rotation (%d asked): %v", asked.Load(), failure)
	}
	if got := serialOf(); got != second || got == first {
		t.Fatalf("serving serial %d after rotation, want %d (first %d)", got, second, first)
	}
	if err := s.e.CertProblem(); err != nil {
		t.Errorf("CertProblem after a good rotation: %v", err)
	}

	// An invalid pair (a key that does not match) keeps the old one.
	other := s.pki.dir + "/other"
	s.pki.issue(t, other+".crt", other+".key", 48*time.Hour)
	key, _ := os.ReadFile(other + ".key")
	if err := os.WriteFile(s.keyFile+".bad", key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(s.keyFile+".bad", s.keyFile); err != nil { // atomically, so no poll sees half a file
		t.Fatal(err)
	}
	if err := s.e.Reload(); err == nil {
		t.Fatal("Reload of a mismatched pair succeeded")
	}
	if got := serialOf(); got != second {
		t.Errorf("serving serial %d after a bad reload, want the old %d", got, second)
	}
	if n := counterValue(t, s.reg, "anycastd_tls_cert_reload_errors_total", nil); n != 1 {
		t.Errorf("anycastd_tls_cert_reload_errors_total = %v, want 1", n)
	}
	if s.e.CertProblem() == nil {
		t.Error("CertProblem nil after a failed reload")
	}
	if st := s.e.Status().Certificate; st.LastError == "" {
		t.Errorf("status after a failed reload: %+v", st)
	}
	// Polling the same bad files again neither reloads nor counts again.
	time.Sleep(100 * time.Millisecond)
	if n := counterValue(t, s.reg, "anycastd_tls_cert_reload_errors_total", nil); n != 1 {
		t.Errorf("anycastd_tls_cert_reload_errors_total = %v after more polls, want 1", n)
	}
}

// TestCertLoadRejects: files that must never become the serving
// certificate.
func TestCertLoadRejects(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	tests := []struct {
		name  string
		write func(cert, key string)
	}{
		{"expired", func(cert, key string) { pki.issue(t, cert, key, -time.Second) }},
		{"garbage", func(cert, key string) {
			os.WriteFile(cert, []byte("not pem"), 0o600)
			os.WriteFile(key, []byte("not pem"), 0o600)
		}},
		{"missing key", func(cert, key string) { pki.issue(t, cert, key, time.Hour); os.Remove(key) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, key := dir+"/"+tt.name+".crt", dir+"/"+tt.name+".key"
			tt.write(cert, key)
			r, _ := newResolver(t, Config{RootHints: DefaultRootHints()})
			_, err := NewEncrypted(r, EncryptedConfig{CertFile: cert, KeyFile: key, DoT: true}, testLog(t), nil)
			if err == nil {
				t.Fatal("NewEncrypted accepted it")
			}
		})
	}
}

// TestTLSPolicy: TLS 1.1 is refused, resumption works with tickets.
func TestTLSPolicy(t *testing.T) {
	s := startEncrypted(t, func(c *EncryptedConfig) { c.DoH, c.DoH3, c.DoQ = false, false, false })
	old := s.clientTLS("dot")
	old.MaxVersion = tls.VersionTLS11
	if _, _, _, err := dotExchange(s.addr("dot"), old, query("www.example.com", dns.TypeA, false, 0)); err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}
	// The client learns of the failure before the server's handshake
	// goroutine has counted it: wait for the count, briefly.
	var n float64
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n = counterValue(t, s.reg, "anycastd_tls_handshake_failures_total", map[string]string{"proto": "dot"}); n >= 1 {
			break
		}
	}
	if n != 1 {
		t.Errorf("handshake failures = %v, want 1", n)
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		conf := s.clientTLS("dot")
		conf.MaxVersion = v
		conf.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		var resumed bool
		for range 3 { // TLS 1.3 tickets arrive after the first answer
			_, _, st, err := dotExchange(s.addr("dot"), conf, query("www.example.com", dns.TypeA, false, 0))
			if err != nil {
				t.Fatalf("TLS %x: %v", v, err)
			}
			resumed = resumed || st.DidResume
		}
		if !resumed {
			t.Errorf("TLS %x: no session resumed", v)
		}
	}
}
