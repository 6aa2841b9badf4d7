package node

// The encrypted-transport part of the config (issue 8): the `tls:` section.
// Without tls.cert_file the node serves plain DNS only. See docs/config.md
// and docs/encrypted.md.

import (
	"fmt"
	"math"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/anycastd/anycastd/resolver"
)

// TLSConfig is DoT, DoH (HTTP/2 and HTTP/3) and DoQ on the service
// addresses.
type TLSConfig struct {
	CertFile         string        `json:"cert_file"` // PEM chain, leaf first; "" turns encrypted DNS off
	KeyFile          string        `json:"key_file"`
	Transports       []string      `json:"transports"` // dot, doh, doh3, doq
	DoTPort          uint16        `json:"dot_port"`
	DoHPort          uint16        `json:"doh_port"` // TCP for HTTP/2, UDP for HTTP/3
	DoQPort          uint16        `json:"doq_port"`
	MaxConnections   int           `json:"max_connections"` // per transport and address
	MaxStreams       int           `json:"max_streams"`     // queries in flight per connection
	HandshakeTimeout time.Duration `json:"handshake_timeout"`
	IdleTimeout      time.Duration `json:"idle_timeout"`
	ReloadInterval   time.Duration `json:"reload_interval"` // how often the files are checked
}

func defaultTLS() TLSConfig {
	return TLSConfig{
		Transports: append([]string(nil), resolver.EncryptedProtos...),
		DoTPort:    853, DoHPort: 443, DoQPort: 853,
		MaxConnections: 1000, MaxStreams: 100,
		HandshakeTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second, ReloadInterval: 10 * time.Second,
	}
}

// Enabled reports whether the node serves encrypted DNS.
func (tc TLSConfig) Enabled() bool { return tc.CertFile != "" }

func (d *decoder) tls(dst *TLSConfig) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		transportsSet := false
		d.mapping(n, p, fields{
			{"cert_file", d.str(&dst.CertFile)},
			{"key_file", d.str(&dst.KeyFile)},
			{"transports", func(n *yaml.Node, p string) {
				if !transportsSet {
					dst.Transports, transportsSet = nil, true
				}
				d.list(n, p, func(n *yaml.Node, p string) {
					var s string
					d.str(&s)(n, p)
					dst.Transports = append(dst.Transports, s)
				})
			}},
			{"dot_port", intField(d, &dst.DoTPort, 1, math.MaxUint16)},
			{"doh_port", intField(d, &dst.DoHPort, 1, math.MaxUint16)},
			{"doq_port", intField(d, &dst.DoQPort, 1, math.MaxUint16)},
			{"max_connections", intField(d, &dst.MaxConnections, math.MinInt32, math.MaxInt32)},
			{"max_streams", intField(d, &dst.MaxStreams, math.MinInt32, math.MaxInt32)},
			{"handshake_timeout", d.duration(&dst.HandshakeTimeout)},
			{"idle_timeout", d.duration(&dst.IdleTimeout)},
			{"reload_interval", d.duration(&dst.ReloadInterval)},
		})
	}
}

// tlsProblems validates the tls keys.
func (c *Config) tlsProblems(add adder) {
	tc := c.TLS
	if !tc.Enabled() {
		if tc.KeyFile != "" {
			add("tls.cert_file", "is required when tls.key_file is set")
		}
		return
	}
	absPath(add, "tls.cert_file", tc.CertFile)
	if tc.KeyFile == "" {
		add("tls.key_file", "is required when tls.cert_file is set")
	} else {
		absPath(add, "tls.key_file", tc.KeyFile)
	}
	if len(tc.Transports) == 0 {
		add("tls.transports", "is empty; list at least one of dot, doh, doh3, doq, or remove tls.cert_file")
	}
	seen := map[string]bool{}
	for i, t := range tc.Transports {
		known := false
		for _, p := range resolver.EncryptedProtos {
			known = known || p == t
		}
		switch {
		case !known:
			add(fmt.Sprintf("tls.transports[%d]", i), "must be one of dot, doh, doh3, doq, got %q", t)
		case seen[t]:
			add(fmt.Sprintf("tls.transports[%d]", i), "%q is listed twice", t)
		}
		seen[t] = true
	}
	for _, p := range []struct {
		name string
		v    uint16
		on   bool
	}{{"tls.dot_port", tc.DoTPort, seen["dot"]}, {"tls.doh_port", tc.DoHPort, seen["doh"] || seen["doh3"]}, {"tls.doq_port", tc.DoQPort, seen["doq"]}} {
		if p.on && p.v == c.Service.Port {
			add(p.name, "%d is service.port, where plain DNS already listens", p.v)
		}
	}
	if (seen["doh"] || seen["doh3"]) && seen["dot"] && tc.DoHPort == tc.DoTPort {
		add("tls.doh_port", "%d is also tls.dot_port; DoT and DoH need their own TCP ports", tc.DoHPort)
	}
	if seen["doh3"] && seen["doq"] && tc.DoHPort == tc.DoQPort {
		add("tls.doh_port", "%d is also tls.doq_port; HTTP/3 and DoQ need their own UDP ports", tc.DoHPort)
	}
	intBetween(add, "tls.max_connections", tc.MaxConnections, 1, 1<<20)
	intBetween(add, "tls.max_streams", tc.MaxStreams, 1, 10000)
	between(add, "tls.handshake_timeout", tc.HandshakeTimeout, 100*time.Millisecond, time.Minute)
	between(add, "tls.idle_timeout", tc.IdleTimeout, time.Second, 10*time.Minute)
	between(add, "tls.reload_interval", tc.ReloadInterval, time.Second, time.Hour)
}

// resolverEncrypted maps the keys onto resolver.EncryptedConfig.
func (c *Config) resolverEncrypted() resolver.EncryptedConfig {
	tc := c.TLS
	ec := resolver.EncryptedConfig{
		CertFile: tc.CertFile, KeyFile: tc.KeyFile, Addrs: c.Service.Addresses,
		DoTPort: tc.DoTPort, DoHPort: tc.DoHPort, DoQPort: tc.DoQPort,
		MaxConnections: tc.MaxConnections, MaxStreams: tc.MaxStreams,
		HandshakeTimeout: tc.HandshakeTimeout, IdleTimeout: tc.IdleTimeout, ReloadInterval: tc.ReloadInterval,
	}
	for _, t := range tc.Transports {
		switch t {
		case "dot":
			ec.DoT = true
		case "doh":
			ec.DoH = true
		case "doh3":
			ec.DoH3 = true
		case "doq":
			ec.DoQ = true
		}
	}
	return ec
}
