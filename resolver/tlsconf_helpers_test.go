package resolver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"
)

// testPKI is a CA made for one test, and the files it issued.
type testPKI struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	caFile string
	dir    string
	serial int64
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "anycastd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{ca: ca, caKey: key, pool: x509.NewCertPool(), dir: t.TempDir(), serial: 1}
	p.pool.AddCert(ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	return p
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes a leaf for 127.0.0.1 (and ips) valid for validFor into
// certFile and keyFile, and returns its serial number.
func (p *testPKI) issue(t testing.TB, certFile, keyFile string, validFor time.Duration, ips ...net.IP) int64 {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: fmt.Sprintf("resolver %d", p.serial)},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(validFor),
		IPAddresses: append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...), DNSNames: []string{"dns.test"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed, as a deployment tool would.
	writePEM(t, keyFile+".new", "PRIVATE KEY", kder)
	writePEM(t, certFile+".new", "CERTIFICATE", der)
	for _, f := range []string{keyFile, certFile} {
		if err := os.Rename(f+".new", f); err != nil {
			t.Fatal(err)
		}
	}
	return p.serial
}

// encryptedSetup is a resolver on the mini internet with every encrypted
// transport on 127.0.0.1.
type encryptedSetup struct {
	r        *Resolver
	e        *Encrypted
	reg      *prometheus.Registry
	pki      *testPKI
	certFile string
	keyFile  string
	addrs    map[string][]netip.AddrPort
}

func startEncrypted(t testing.TB, tweak func(*EncryptedConfig)) *encryptedSetup {
	t.Helper()
	in := startNet(t)
	r, reg := newResolver(t, netConfig(t, in))
	serve(t, r)
	s := &encryptedSetup{r: r, reg: reg, pki: newTestPKI(t)}
	s.certFile, s.keyFile = filepath.Join(s.pki.dir, "cert.pem"), filepath.Join(s.pki.dir, "key.pem")
	s.pki.issue(t, s.certFile, s.keyFile, 24*time.Hour)
	cfg := EncryptedConfig{
		CertFile: s.certFile, KeyFile: s.keyFile,
		Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		DoT:   true, DoH: true, DoH3: true, DoQ: true,
		ReloadInterval: -1,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := NewEncrypted(r, cfg, testLog(t), reg)
	if err != nil {
		t.Fatalf("NewEncrypted: %v", err)
	}
	s.e = e
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Encrypted.Run: %v", err)
		}
	})
	select {
	case <-e.Ready():
	case err := <-done:
		t.Fatalf("Encrypted.Run returned before ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("encrypted listeners not ready after 5s")
	}
	s.addrs = e.Addrs()
	return s
}

func (s *encryptedSetup) addr(proto string) string { return s.addrs[proto][0].String() }

func (s *encryptedSetup) clientTLS(alpn ...string) *tls.Config {
	return &tls.Config{RootCAs: s.pki.pool, ServerName: "127.0.0.1", NextProtos: alpn}
}

// dotExchange sends one query on a new DoT connection.
func dotExchange(addr string, conf *tls.Config, m *dns.Msg) (*dns.Msg, int, *tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return nil, 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, nil, err
	}
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...)); err != nil {
		return nil, 0, nil, err
	}
	resp, n, err := readFramed(c)
	st := c.ConnectionState()
	return resp, n, &st, err
}

func readFramed(r io.Reader) (*dns.Msg, int, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, 0, err
	}
	resp := new(dns.Msg)
	return resp, len(buf), resp.Unpack(buf)
}

// dohExchange sends m with GET or POST over client (HTTP/2 or HTTP/3).
func dohExchange(client *http.Client, base, method string, m *dns.Msg) (*dns.Msg, int, *http.Response, error) {
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, nil, err
	}
	var req *http.Request
	if method == http.MethodGet {
		req, err = http.NewRequest(method, base+"/dns-query?dns="+base64.RawURLEncoding.EncodeToString(wire), nil)
	} else {
		req, err = http.NewRequest(method, base+"/dns-query", bytes.NewReader(wire))
		req.Header.Set("Content-Type", "application/dns-message")
	}
	if err != nil {
		return nil, 0, nil, err
	}
	hr, err := client.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	defer hr.Body.Close()
	body, err := io.ReadAll(hr.Body)
	if err != nil {
		return nil, 0, hr, err
	}
	if hr.StatusCode != http.StatusOK {
		return nil, 0, hr, fmt.Errorf("status %s", hr.Status)
	}
	resp := new(dns.Msg)
	return resp, len(body), hr, resp.Unpack(body)
}

func h2Client(conf *tls.Config) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http2.Transport{TLSClientConfig: conf}}
}

func h3Client(conf *tls.Config) (*http.Client, func()) {
	tr := &http3.Transport{TLSClientConfig: conf}
	return &http.Client{Timeout: 5 * time.Second, Transport: tr}, func() { tr.Close() }
}

// doqExchange sends one query on a new DoQ connection.
func doqExchange(addr string, conf *tls.Config, m *dns.Msg) (*dns.Msg, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, addr, conf, nil)
	if err != nil {
		return nil, 0, err
	}
	defer c.CloseWithError(0, "")
	st, err := c.OpenStreamSync(ctx)
	if err != nil {
		return nil, 0, err
	}
	m = m.Copy()
	m.Id = 0 // RFC 9250 section 4.2.1
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, err
	}
	if _, err := st.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...)); err != nil {
		return nil, 0, err
	}
	st.Close() // FIN: one query per stream
	st.SetReadDeadline(time.Now().Add(5 * time.Second))
	return readFramed(st)
}

// paddedQuery is a query for name/A that carries EDNS padding, as a
// privacy-aware client sends it.
func paddedQuery(name string) *dns.Msg {
	m := query(name, dns.TypeA, true, 1232)
	opt := m.IsEdns0()
	opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, 40)})
	return m
}
