package resolver

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestEncryptedTransports asks every transport, with Go clients, and
// checks the answer, the RFC 8467 padding and the per-transport counts.
func TestEncryptedTransports(t *testing.T) {
	s := startEncrypted(t, nil)
	h2 := h2Client(s.clientTLS())
	h3, closeH3 := h3Client(s.clientTLS())
	defer closeH3()

	tests := []struct {
		name  string
		proto string
		ask   func(m *dns.Msg) (*dns.Msg, int, error)
	}{
		{"DoT", "dot", func(m *dns.Msg) (*dns.Msg, int, error) {
			r, n, st, err := dotExchange(s.addr("dot"), s.clientTLS("dot"), m)
			if err == nil && st.NegotiatedProtocol != "dot" {
				t.Errorf("ALPN %q, want dot", st.NegotiatedProtocol)
			}
			return r, n, err
		}},
		{"DoH GET over HTTP/2", "doh", func(m *dns.Msg) (*dns.Msg, int, error) {
			r, n, hr, err := dohExchange(h2, "https://"+s.addr("doh"), http.MethodGet, m)
			if err == nil {
				if hr.ProtoMajor != 2 {
					t.Errorf("HTTP/%d, want 2", hr.ProtoMajor)
				}
				if cc := hr.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "max-age=") {
					t.Errorf("Cache-Control %q", cc)
				}
				if hr.Header.Get("Alt-Svc") == "" {
					t.Error("no Alt-Svc advertising HTTP/3")
				}
			}
			return r, n, err
		}},
		{"DoH POST over HTTP/2", "doh", func(m *dns.Msg) (*dns.Msg, int, error) {
			r, n, _, err := dohExchange(h2, "https://"+s.addr("doh"), http.MethodPost, m)
			return r, n, err
		}},
		{"DoH GET over HTTP/3", "doh3", func(m *dns.Msg) (*dns.Msg, int, error) {
			r, n, hr, err := dohExchange(h3, "https://"+s.addr("doh3"), http.MethodGet, m)
			if err == nil && hr.ProtoMajor != 3 {
				t.Errorf("HTTP/%d, want 3", hr.ProtoMajor)
			}
			return r, n, err
		}},
		{"DoH POST over HTTP/3", "doh3", func(m *dns.Msg) (*dns.Msg, int, error) {
			r, n, _, err := dohExchange(h3, "https://"+s.addr("doh3"), http.MethodPost, m)
			return r, n, err
		}},
		{"DoQ", "doq", func(m *dns.Msg) (*dns.Msg, int, error) {
			return doqExchange(s.addr("doq"), s.clientTLS("doq"), m)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counterValue(t, s.reg, "anycastd_queries_total", map[string]string{"proto": tt.proto})
			resp, size, err := tt.ask(paddedQuery("www.example.com"))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
				t.Fatalf("answer: rcode %s, %d records", dns.RcodeToString[resp.Rcode], len(resp.Answer))
			}
			if size%paddingBlock != 0 {
				t.Errorf("answer is %d bytes, not a multiple of %d (RFC 8467)", size, paddingBlock)
			}
			if after := counterValue(t, s.reg, "anycastd_queries_total", map[string]string{"proto": tt.proto}); after != before+1 {
				t.Errorf("anycastd_queries_total{proto=%q}: %v -> %v, want +1", tt.proto, before, after)
			}
			if h := counterValue(t, s.reg, "anycastd_tls_handshakes_total", map[string]string{"proto": tt.proto}); h < 1 {
				t.Errorf("anycastd_tls_handshakes_total{proto=%q} = %v", tt.proto, h)
			}
		})
	}
	st := s.e.Status()
	if len(st.Transports) != 4 {
		t.Errorf("status has %d transports, want 4: %+v", len(st.Transports), st.Transports)
	}
	for _, tr := range st.Transports {
		if tr.Queries == 0 || tr.Handshakes == 0 || tr.Connections == 0 {
			t.Errorf("status %s: %+v, want queries, handshakes and connections counted", tr.Proto, tr)
		}
	}
}

// TestEncryptedRealClients asks through kdig (+tls, +https, +quic) and
// curl (HTTP/2), trusting only the test's CA.
func TestEncryptedRealClients(t *testing.T) {
	s := startEncrypted(t, nil)
	kdig, err := exec.LookPath("kdig")
	if err != nil {
		t.Skip("kdig not installed (scripts/deps.sh installs knot-dnsutils)")
	}
	tests := []struct {
		name string
		via  string // how kdig says it got the answer
		cmd  []string
	}{
		{"kdig DoT", "(TCP)", []string{kdig, "@127.0.0.1", "-p", port(s, "dot"), "+tls-ca=" + s.pki.caFile, "+tls-hostname=127.0.0.1", "www.example.com", "A"}},
		{"kdig DoH POST", "(TCP)", []string{kdig, "@127.0.0.1", "-p", port(s, "doh"), "+https", "+tls-ca=" + s.pki.caFile, "+tls-hostname=127.0.0.1", "www.example.com", "A"}},
		{"kdig DoH GET", "(TCP)", []string{kdig, "@127.0.0.1", "-p", port(s, "doh"), "+https-get", "+tls-ca=" + s.pki.caFile, "+tls-hostname=127.0.0.1", "www.example.com", "A"}},
		{"kdig DoQ", "(UDP)", []string{kdig, "@127.0.0.1", "-p", port(s, "doq"), "+tls-ca=" + s.pki.caFile, "+tls-hostname=127.0.0.1", "+quic", "www.example.com", "A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(tt.cmd[0], tt.cmd[1:]...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "status: NOERROR") || !strings.Contains(string(out), "ANSWER: 1;") || !strings.Contains(string(out), tt.via) {
				t.Fatalf("%s: %v\n%s", strings.Join(tt.cmd, " "), err, out)
			}
		})
	}
	t.Run("curl DoH over HTTP/2", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Skip("curl not installed")
		}
		q, _ := paddedQuery("www.example.com").Pack()
		url := "https://" + s.addr("doh") + "/dns-query?dns=" + base64.RawURLEncoding.EncodeToString(q)
		out, err := exec.Command(curl, "-sS", "--http2", "--cacert", s.pki.caFile, "-o", "-", "-w", "\n%{http_version} %{http_code} %{content_type}", url).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		i := strings.LastIndexByte(string(out), '\n')
		if tail := string(out[i+1:]); tail != "2 200 application/dns-message" {
			t.Fatalf("curl: %q, want HTTP/2 200 application/dns-message", tail)
		}
		var m dns.Msg
		if err := m.Unpack(out[:i]); err != nil || len(m.Answer) != 1 {
			t.Fatalf("curl body: %v, %v", err, m.Answer)
		}
	})
}

func port(s *encryptedSetup, proto string) string {
	_, p, _ := net.SplitHostPort(s.addr(proto))
	return p
}

// TestEncryptedFloodAndSlowloris fills DoT and DoH with connections that
// never finish a handshake, and with clients that send a byte at a time;
// a well-behaved client must still get answers, within the handshake
// timeout at worst, and every abusive connection must be cut.
func TestEncryptedFloodAndSlowloris(t *testing.T) {
	const limit = 8
	s := startEncrypted(t, func(c *EncryptedConfig) {
		c.MaxConnections = limit
		c.HandshakeTimeout = 300 * time.Millisecond
		c.IdleTimeout = 500 * time.Millisecond
	})
	h2 := h2Client(s.clientTLS())
	good := func(proto string) error {
		m := query("www.example.com", dns.TypeA, false, 0)
		if proto == "dot" {
			_, _, _, err := dotExchange(s.addr("dot"), s.clientTLS("dot"), m)
			return err
		}
		h2.CloseIdleConnections() // a new connection each time, like a new client
		_, _, _, err := dohExchange(h2, "https://"+s.addr("doh"), http.MethodPost, m)
		return err
	}
	for _, proto := range []string{"dot", "doh"} {
		t.Run(proto, func(t *testing.T) {
			var (
				wg    sync.WaitGroup
				conns []net.Conn
				mu    sync.Mutex
			)
			defer func() {
				mu.Lock()
				for _, c := range conns {
					c.Close()
				}
				mu.Unlock()
				wg.Wait()
			}()
			// The flood: twice the limit of silent TCP connections.
			for range 2 * limit {
				c, err := net.Dial("tcp", s.addr(proto))
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			// Slowloris: a handshake, then one byte of a query every 100ms.
			for range 2 {
				wg.Go(func() {
					c, err := tls.Dial("tcp", s.addr(proto), s.clientTLS())
					if err != nil {
						return // rejected at the limit: fine
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
					for _, b := range []byte("POST /dns-query HTTP/1.1\r\nHost: x\r\n") {
						if _, err := c.Write([]byte{b}); err != nil {
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
					t.Errorf("%s: slowloris connection still open after 3.6s", proto)
				})
			}
			deadline := time.Now().Add(3 * time.Second)
			var err error
			for time.Now().Before(deadline) {
				if err = good(proto); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("well-behaved client not served within 3s of the flood: %v", err)
			}
			// Once every abusive connection is cut, service is immediate.
			wg.Wait()
			if err := good(proto); err != nil {
				t.Fatalf("well-behaved client after the slowloris: %v", err)
			}
			if r := counterValue(t, s.reg, "anycastd_encrypted_connections_rejected_total", map[string]string{"proto": proto}); r == 0 {
				t.Errorf("no %s connection rejected at the limit of %d", proto, limit)
			}
		})
	}
}
