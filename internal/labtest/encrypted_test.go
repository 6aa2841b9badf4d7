package labtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/anycastd/anycastd/internal/control"
)

// TestEncrypted serves DoT, DoH (HTTP/2 and HTTP/3) and DoQ on the anycast
// addresses of a lab node with a certificate from a CA made here, and asks
// through them from c1 with kdig and curl, trusting only that CA. Then a
// broken certificate (a key that does not match, and SIGHUP) must keep the
// old one serving and make the node degraded, never withdrawn.
func TestEncrypted(t *testing.T) {
	l := newLab(t, 1)
	dir := filepath.Join(l.dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	caFile, issue := labCA(t, dir)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	issue(cert, key)
	cfg := filepath.Join(l.dir, "n1", "anycastd.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, fmt.Sprintf("tls:\n  cert_file: %s\n  key_file: %s\n  reload_interval: 1s\n", cert, key)...)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	l.startNode(1)
	l.waitPaths(v4, 30*time.Second, "n1 announced", has("n1"))
	l.waitState(1, 20*time.Second, control.StateAnnouncing)

	kdig := func(server string, args ...string) (string, error) {
		full := append([]string{"kdig", "+time=3", "+retry=0", "@" + server, "+tls-ca=" + caFile}, args...)
		return l.inNS("c1", append(full, "www.example.com", "A")...)
	}
	for _, server := range []string{"192.0.2.53", "2001:db8:53::53"} {
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"DoT", nil},
			{"DoH POST", []string{"+https"}},
			{"DoH GET", []string{"+https-get"}},
			{"DoQ", []string{"+quic"}},
		} {
			out, err := kdig(server, tc.args...)
			if err != nil || !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "ANSWER: 1;") {
				t.Errorf("kdig %s @%s: %v\n%s", tc.name, server, err, out)
			}
		}
	}
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	q.Id = 0
	wire, _ := q.Pack()
	out, err := l.inNS("c1", "curl", "-sS", "--http2", "--cacert", caFile, "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
		"https://192.0.2.53/dns-query?dns="+base64.RawURLEncoding.EncodeToString(wire))
	if err != nil || out != "2 200" {
		t.Errorf("curl --http2 DoH: %v %q", err, out)
	}

	// A key that does not match the certificate, then SIGHUP: the old
	// certificate keeps serving, the node degrades but stays announced.
	other := filepath.Join(dir, "other")
	issue(other+".crt", other+".key")
	kb, _ := os.ReadFile(other + ".key")
	if err := os.WriteFile(key+".tmp", kb, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(key+".tmp", key); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(l.pid(1), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	l.waitState(1, 20*time.Second, control.StateDegraded)
	if !l.paths(v4)["n1"] {
		t.Error("n1 withdrawn over a certificate problem; it must only degrade")
	}
	if out, err := kdig("192.0.2.53"); err != nil || !strings.Contains(out, "status: NOERROR") {
		t.Errorf("DoT with the old certificate after a bad reload: %v\n%s", err, out)
	}
	logb, _ := os.ReadFile(filepath.Join(l.dir, "n1", "anycastd.log"))
	if !strings.Contains(string(logb), "tls certificate reload failed, keeping the old certificate") {
		t.Error("no log line for the failed reload")
	}
}

// labCA makes a CA in dir and returns its file and a function that issues
// a certificate for the lab's service addresses.
func labCA(t *testing.T, dir string) (string, func(cert, key string)) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lab CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	serial := int64(1)
	return caFile, func(cert, key string) {
		serial++
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		leaf := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "anycast resolver"},
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(20 * 24 * time.Hour),
			IPAddresses: []net.IP{net.ParseIP("192.0.2.53"), net.ParseIP("2001:db8:53::53")},
			KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		d, err := x509.CreateCertificate(rand.Reader, leaf, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalPKCS8PrivateKey(k)
		os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
		os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d}), 0o644)
	}
}
