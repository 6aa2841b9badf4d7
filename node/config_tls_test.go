package node

import (
	"strings"
	"testing"
	"time"
)

func TestTLSConfig(t *testing.T) {
	c, err := Parse([]byte(fleetBase + `tls:
  cert_file: /etc/anycastd/tls/cert.pem
  key_file: /etc/anycastd/tls/key.pem
  transports: [dot, doq]
  dot_port: 8853
  max_connections: 50
  idle_timeout: 5s
`))
	if err != nil {
		t.Fatal(err)
	}
	ec := c.resolverEncrypted()
	if !ec.DoT || ec.DoH || ec.DoH3 || !ec.DoQ || ec.DoTPort != 8853 || ec.DoQPort != 853 || ec.MaxConnections != 50 ||
		ec.IdleTimeout != 5*time.Second || ec.HandshakeTimeout != 5*time.Second || len(ec.Addrs) != 1 {
		t.Errorf("resolver encrypted config = %+v", ec)
	}

	d, err := Parse([]byte(fleetBase))
	if err != nil {
		t.Fatal(err)
	}
	if d.TLS.Enabled() || len(d.TLS.Transports) != 4 || d.TLS.DoHPort != 443 {
		t.Errorf("defaults = %+v: want off, all four transports listed, DoH on 443", d.TLS)
	}
}

func TestTLSConfigProblems(t *testing.T) {
	const on = "tls: {cert_file: /c.pem, key_file: /k.pem, "
	for _, tc := range []struct{ yaml, want string }{
		{"tls: {key_file: /k.pem}", "tls.cert_file"},
		{"tls: {cert_file: /c.pem}", "tls.key_file"},
		{"tls: {cert_file: c.pem, key_file: /k.pem}", "tls.cert_file"},
		{on + "transports: []}", "tls.transports"},
		{on + "transports: [dot, dns-over-pigeon]}", "tls.transports[1]"},
		{on + "transports: [dot, dot]}", "tls.transports[1]"},
		{on + "dot_port: 53}", "tls.dot_port"},
		{on + "doh_port: 853}", "tls.doh_port"},
		{on + "transports: [doh3, doq], doq_port: 443}", "tls.doh_port"},
		{on + "max_connections: 0}", "tls.max_connections"},
		{on + "handshake_timeout: 1ms}", "tls.handshake_timeout"},
		{on + "alpn: [h2]}", "alpn"},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			_, err := Parse([]byte(fleetBase + tc.yaml + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
