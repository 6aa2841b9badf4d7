package node

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// problems splits a joined config error into its lines.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// checkProblems fails unless err holds exactly one problem per want, each
// containing its substring (in any order).
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	got := problems(err)
	missing := false
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.Contains(g, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no problem contains %q", w)
			missing = true
		}
	}
	if missing || len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n  %s", len(got), len(want), strings.Join(got, "\n  "))
	}
}

func TestLoadTestdata(t *testing.T) {
	testdataDir := must(filepath.Abs("testdata/config"))
	tests := map[string][]string{ // file -> expected problems; nil means valid
		"example.yaml": nil,
		"minimal.yaml": nil,
		"lab.yaml":     nil,
		"bad-empty.yaml": {
			"version: the file is empty; start it with `version: 1`",
		},
		"bad-syntax.yaml": {
			"parse YAML: yaml: line 4: mapping values are not allowed",
		},
		"bad-missing-version.yaml": {
			"version: is missing (or 0); add `version: 1`",
		},
		"bad-version.yaml": {
			"line 1: version: must be 1, got 2",
		},
		"bad-unknown-keys.yaml": {
			"line 2: frobnicate: unknown key; known keys here are version, node,",
			`line 4: node.nmae: unknown key; did you mean "name"?`,
			"line 16: bgp.peers[1].foo: unknown key",
			`line 17: bgp.peers[1].hold-time: unknown key; did you mean "hold_time"?`,
			"line 19: health.canary: unknown key",
		},
		"bad-types.yaml": {
			"line 4: node.state_dir: must be a string, got a list",
			`line 6: service.addresses: must be a list (one ` + "`- item`" + ` per line), got "192.0.2.53"`,
			"line 7: service.port: must be 1..65535, got 70000",
			`line 9: resolver.cache_size: must be a size such as 64MiB, 1GB or a number of bytes, got "lots"`,
			`line 10: resolver.upstream_timeout: must be a duration such as "1s" or "1500ms", got 2`,
			`line 12: bgp.asn: must be an integer (no quotes), got "64513"`,
			`line 13: bgp.router_id: must be an address without a prefix length, got "198.18.1.0/24"`,
			`line 15: bgp.peers[0].address: must be an IP address such as 192.0.2.1 or 2001:db8::1, got "not-an-ip"`,
			"line 16: bgp.peers[0].asn: must be 1..4294967295, got -1",
			"line 17: bgp.peers[0].hold_time: must be a duration",
			"line 18: bgp.peers[0].multihop: must be 0..255, got 256",
			`line 20: health.rise: must be an integer (no quotes), got "three"`,
			"line 21: health.interval: must be a duration such as \"1s\" or \"1500ms\", got a mapping",
		},
		"bad-values.yaml": {
			`line 3: node.name: must be a DNS name`,
			`line 4: node.state_dir: must be an absolute path, got "relative/dir"`,
			`line 6: service.interface: must be an interface name`,
			"line 9: service.addresses[1]: must be a routable unicast address, got 224.0.0.1",
			"line 10: service.addresses[2]: 192.0.2.53 is listed twice (also service.addresses[0])",
			"line 11: service.addresses[3]: must be written as IPv4 (192.0.2.54)",
			"line 13: resolver.cache_size: must be at least 1MiB, got 1024 bytes",
			"line 14: resolver.upstream_timeout: must be between 10ms and 30s, got 0s",
			"line 17: bgp.router_id: must be a non-zero IPv4 address",
			"line 18: bgp.listen_port: must be -1 (do not accept incoming sessions) or 1..65535, got 0",
			"line 21: bgp.peers[0].asn: must be 1..4294967295, got 0",
			"line 22: bgp.peers[0].local_address: must be of the same address family as address",
			"line 23: bgp.peers[0].hold_time: must be 0 (no keepalives) or whole seconds from 3s to 65535s, got 2s",
			"line 24: bgp.peers[1].address: 198.18.1.1 is also bgp.peers[0]",
			"line 27: bgp.peers[1].keepalive: must be whole seconds, at least 1s and less than hold_time (9s), got 9s",
			"line 30: health.timeout: must be positive and at most health.interval (1s), got 2s",
			"line 31: health.rise: must be at least 1, got 0",
			`line 32: health.canary_name: must be a fully qualified name ending in a dot`,
			`line 33: health.canary_type: must be a DNS record type such as NS, SOA, A or AAAA, got "BOGUS"`,
			`line 35: metrics.listen: must be IP:port`,
			"line 37: drain.lame_duck: must be between 0s and 10m0s, got -1s",
			`line 39: log.level: must be one of debug, info, warn, error, got "verbose"`,
			`line 40: log.format: must be text or json, got "xml"`,
		},
		"bad-required.yaml": {
			"line 2: node.name: is required",
			"line 4: service.addresses: needs at least one address",
			"line 5: bgp.asn: must be 1..4294967295, got 0",
			"line 5: bgp.router_id: is required",
			"line 7: bgp.peers[0].address: is required",
			"line 7: bgp.peers[0].asn: must be 1..4294967295, got 0",
		},
		// A section of the wrong type is one problem, not one per key in it.
		"bad-sections.yaml": {
			`line 2: node: must be a mapping of keys, got "n1"`,
			"line 4: service: must be a mapping of keys, got a list",
			"line 5: bgp: must be a mapping of keys, got 5",
		},
		"bad-duplicate-key.yaml": {
			"line 4: node.name: set twice (first at line 3); keep one",
			"line 11: bgp: set twice (first at line 7)",
		},
		"bad-files.yaml": {
			`line 7: resolver.root_hints: cannot read "` + testdataDir + `/does-not-exist.hints": no such file or directory; fix the path or remove the key`,
			`line 8: resolver.trust_anchor: "` + testdataDir + `" is a directory`,
		},
	}
	files, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expectations in this table", f)
		}
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata/config", name)
			c, err := Load(path)
			checkProblems(t, err, want)
			if err == nil && c == nil {
				t.Fatal("Load returned neither config nor error")
			}
			for _, p := range problems(err) {
				if !strings.HasPrefix(p, "config "+path+": ") {
					t.Errorf("problem not prefixed with the file: %q", p)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load("testdata/config/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Version: 1,
		Node:    NodeConfig{Name: "n1", StateDir: "/var/lib/anycastd", ControlSocket: "/run/anycastd/control.sock"},
		Service: ServiceConfig{
			Interface: "lo",
			Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8:53::53")},
			Port:      53,
		},
		Resolver: ResolverConfig{CacheSize: 64 << 20, UpstreamTimeout: 1500 * time.Millisecond, UpstreamPort: 53,
			ResolveTimeout: 5 * time.Second, MaxTTL: 24 * time.Hour, MaxNegativeTTL: time.Hour,
			ServeStale: 24 * time.Hour, StaleAnswerAfter: 1800 * time.Millisecond,
			TCPIdleTimeout: 10 * time.Second, MaxTCPConnections: 1000,
			QNAMEMinimisation: true, CaseRandomisation: true, DNSSEC: true,
			MaxReferrals: 16, MaxCNAMEChain: 12, MaxGluelessPerDelegation: 4, MaxUpstreamQueries: 64},
		BGP: BGPConfig{
			ASN: 64513, RouterID: netip.MustParseAddr("198.18.1.2"), ListenPort: -1,
			Peers: []PeerConfig{{
				Address: netip.MustParseAddr("198.18.1.1"), ASN: 64496, Port: 179,
				HoldTime: 9 * time.Second, Keepalive: 3 * time.Second,
			}},
			Guard: true,
			Attributes: AttributesConfig{
				Degraded: AttrConfig{MED: 100, Prepend: 2},
				Draining: AttrConfig{Communities: []uint32{65535 << 16}, MED: 1000, Prepend: 4},
			},
			Damping:    DampingConfig{Enabled: true, HalfLife: time.Minute, Suppress: 2000, Reuse: 750, MaxAnnounces: 4, Window: time.Minute},
			RiseJitter: 2 * time.Second,
			Faults:     FaultsConfig{Limit: 3, Window: 10 * time.Minute, HoldDown: 30 * time.Minute},
		},
		Health: HealthConfig{Interval: time.Second, Timeout: time.Second, Rise: 3, Fall: 2, CanaryName: ".", CanaryType: "NS",
			Degrading: DegradingConfig{ServfailRatio: 0.5, ServfailMin: 20, UpstreamLatency: time.Second, Clock: true, TLSCanaryInterval: 10 * time.Second}},
		Metrics: MetricsConfig{Listen: "127.0.0.1:9253"},
		Drain:   DrainConfig{LameDuck: 5 * time.Second, Timeout: 30 * time.Second, MinQPS: 5, IdleAfter: time.Second},
		Log:     LogConfig{Level: "info", Format: "text"},
		Privacy: defaultPrivacy(),
		TLS:     defaultTLS(),
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("minimal config\n got %+v\nwant %+v", c, want)
	}
}

func TestExplicitValues(t *testing.T) {
	ex, err := Load("testdata/config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p0 := ex.BGP.Peers[0]
	wantP0 := PeerConfig{
		Address: netip.MustParseAddr("192.0.2.1"), ASN: 64496, LocalAddress: netip.MustParseAddr("192.0.2.10"),
		Port: 179, Password: "change-me", HoldTime: 9 * time.Second, Keepalive: 3 * time.Second,
	}
	if r := ex.Resolver; r.ServeStale != 24*time.Hour || r.StaleAnswerAfter != 1800*time.Millisecond || r.MaxTCPConnections != 1000 ||
		len(r.Allow) != 2 || r.Allow[1] != netip.MustParsePrefix("::/0") || !r.QNAMEMinimisation || r.MaxGluelessPerDelegation != 4 {
		t.Errorf("example resolver keys: %+v", r)
	}
	if p0 != wantP0 || len(ex.BGP.Peers) != 2 || ex.Resolver.CacheSize != 1<<30 {
		t.Errorf("example: peer 0 %+v, %d peers, cache %d", p0, len(ex.BGP.Peers), ex.Resolver.CacheSize)
	}

	lab, err := Load("testdata/config/lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"root_hints relative to the file", lab.Resolver.RootHints, must(filepath.Abs("testdata/config/lab-root.hints"))},
		{"canary_type upper-cased", lab.Health.CanaryType, "SOA"},
		{"keepalive follows hold_time 3s", lab.BGP.Peers[0].Keepalive, time.Second},
		{"keepalive 0 with hold_time 0", lab.BGP.Peers[1].Keepalive, time.Duration(0)},
		{"metrics disabled", lab.Metrics.Listen, ""},
		{"listen_port", lab.BGP.ListenPort, int32(1179)},
		{"cache_size as int", lab.Resolver.CacheSize, int64(8 << 20)},
		{"lame_duck 0", lab.Drain.LameDuck, time.Duration(0)},
		{"upstream_port", lab.Resolver.UpstreamPort, uint16(5300)},
		{"log", lab.Log, LogConfig{Level: "debug", Format: "json"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

// base is a valid config body; tests append or substitute sections.
const base = `version: 1
node: {name: n1}
service: {addresses: [192.0.2.53]}
bgp:
  asn: 64513
  router_id: 198.18.1.2
  peers:
    - address: 198.18.1.1
      asn: 64496
`

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // nil: valid
	}{
		{"base is valid", base, nil},
		{"unknown top-level key", base + "colour: blue\n", []string{"line 10: colour: unknown key"}},
		{"unknown key in a section", base + "metrics: {listne: x}\n", []string{`metrics.listne: unknown key; did you mean "listen"?`}},
		{"unknown key in a list item", base + "      md5: x\n", []string{"line 10: bgp.peers[0].md5: unknown key"}},
		{"unknown keys at three depths at once", base + "      ttl: 1\n    - {address: 198.18.1.3, asn: 1, x: 1}\nextra: 1\n", []string{
			"bgp.peers[0].ttl: unknown key", "bgp.peers[1].x: unknown key", "line 12: extra: unknown key",
		}},
		{"merge keys are not supported", base + "drain:\n  <<: {timeout: 3s}\n", []string{"drain.<<: unknown key"}},
		{"type error in a list", strings.Replace(base, "[192.0.2.53]", "[192.0.2.53, [1]]", 1), []string{"service.addresses[1]: must be an IP address, got a list"}},
		{"string where a list item mapping belongs", strings.Replace(base, "    - address: 198.18.1.1\n      asn: 64496\n", "    - 198.18.1.1\n", 1), []string{
			`line 8: bgp.peers[0]: must be a mapping of keys, got "198.18.1.1"`,
		}},
		{"null duration", base + "health: {interval: ~}\n", []string{"health.interval: must be a duration"}},
		{"huge integer", strings.Replace(base, "64513", "99999999999999999999999", 1), []string{"line 5: bgp.asn: must be an integer in 1..4294967295, got 99999999999999999999999"}},
		{"size too large", base + "resolver: {cache_size: 99999999TiB}\n", []string{"resolver.cache_size: must be a size"}},
		{"anchors and aliases work", strings.Replace(base, "asn: 64496", "asn: &up 64496\n    - {address: 198.18.1.3, asn: *up}", 1), nil},
		{"two documents", base + "---\nversion: 1\n", []string{"more than one document"}},
		{"document is a list", "- version: 1\n", []string{"line 1: (top level): must be a mapping"}},
		{"non-scalar key", base + "? [a]\n: 1\n", []string{"line 10: ?: keys must be plain words"}},
		{"explicit empty string password is fine", base + `      password: ""` + "\n", nil},
		{"password too long", base + "      password: " + strings.Repeat("x", 81) + "\n", []string{"bgp.peers[0].password: is 81 bytes long"}},
		{"keepalive without hold time", base + "      hold_time: 0s\n      keepalive: 3s\n", []string{"bgp.peers[0].keepalive: must be 0 when hold_time is 0"}},
		{"hold_time fraction", base + "      hold_time: 3500ms\n", []string{"bgp.peers[0].hold_time: must be 0 (no keepalives) or whole seconds"}},
		{"local address family ok", base + "      local_address: 198.18.1.2\n", nil},
		{"metrics on all addresses", base + `metrics: {listen: ":9253"}` + "\n", nil},
		{"metrics port 0", base + `metrics: {listen: "127.0.0.1:0"}` + "\n", []string{"metrics.listen: must be IP:port"}},
		{"canary_name not a name", base + `health: {canary_name: "a..b."}` + "\n", []string{"health.canary_name: must be a valid domain name"}},
		{"loopback service address allowed", strings.Replace(base, "[192.0.2.53]", "[127.0.0.53]", 1), nil},
		{"link-local service address", strings.Replace(base, "[192.0.2.53]", `["fe80::1"]`, 1), []string{"service.addresses[0]: must be a routable unicast address"}},
		{"cidr as a service address", strings.Replace(base, "[192.0.2.53]", "[192.0.2.53/32]", 1), []string{"service.addresses[0]: must be an address without a prefix length"}},
		{"bad node name chars", strings.Replace(base, "n1", "n_1", 1), []string{"node.name: must be a DNS name"}},
		{"control socket too long", base + "node: {control_socket: /" + strings.Repeat("s", 120) + "}\n", []string{
			"line 10: node: set twice",
		}},
		{"version as string", strings.Replace(base, "version: 1", `version: "1"`, 1), []string{`version: must be an integer (no quotes), got "1"`}},
		// Resolver keys of issue 3.
		{"resolver keys valid", base + "resolver:\n  min_ttl: 30s\n  max_ttl: 12h\n  max_negative_ttl: 15m\n  serve_stale: 0s\n  stale_answer_after: 0s\n  tcp_idle_timeout: 5s\n  max_tcp_connections: 50\n  allow: [203.0.113.0/24, 198.51.100.7, \"2001:db8::/32\"]\n  qname_minimisation: false\n  case_randomisation: false\n  max_referrals: 8\n  max_cname_chain: 4\n  max_glueless_per_delegation: 2\n  max_upstream_queries: 32\n  resolve_timeout: 3s\n", nil},
		{"allow not a prefix", base + "resolver:\n  allow: [203.0.113.0/24, 10.0.0.0/8, x]\n", []string{`line 11: resolver.allow[2]: must be a prefix such as 203.0.113.0/24 or 2001:db8::/32, got "x"`}},
		{"allow bad length", base + "resolver: {allow: [10.0.0.0/33]}\n", []string{"resolver.allow[0]: must be a prefix"}},
		{"allow twice", base + "resolver: {allow: [10.0.0.0/8, 10.1.0.0/8]}\n", []string{"resolver.allow[1]: 10.0.0.0/8 is listed twice (also resolver.allow[0])"}},
		{"allow not a list", base + "resolver: {allow: 10.0.0.0/8}\n", []string{"resolver.allow: must be a list"}},
		{"min_ttl above max_ttl", base + "resolver: {min_ttl: 2h, max_ttl: 1h}\n", []string{"resolver.min_ttl: must be whole seconds between 0s and 1h0m0s, got 2h0m0s", "resolver.min_ttl: must not be above resolver.max_ttl (1h0m0s)"}},
		{"max_ttl fraction", base + "resolver: {max_ttl: 1500ms}\n", []string{"resolver.max_ttl: must be whole seconds between 1s and 168h0m0s, got 1.5s"}},
		{"max_negative_ttl zero", base + "resolver: {max_negative_ttl: 0s}\n", []string{"resolver.max_negative_ttl: must be whole seconds between 1s and 24h0m0s"}},
		{"serve_stale too long", base + "resolver: {serve_stale: 200h}\n", []string{"resolver.serve_stale: must be between 0s and 168h0m0s, got 200h0m0s"}},
		{"stale_answer_after past resolve_timeout", base + "resolver: {stale_answer_after: 6s}\n", []string{"resolver.stale_answer_after: must be 0 (wait for the resolution to fail) or from 10ms to less than resolver.resolve_timeout (5s), got 6s"}},
		{"resolve_timeout below upstream_timeout", base + "resolver: {resolve_timeout: 1s, stale_answer_after: 500ms}\n", []string{"resolver.resolve_timeout: must be at least resolver.upstream_timeout (1.5s), got 1s"}},
		{"tcp_idle_timeout zero", base + "resolver: {tcp_idle_timeout: 0s}\n", []string{"resolver.tcp_idle_timeout: must be between 100ms and 10m0s, got 0s"}},
		{"max_tcp_connections zero", base + "resolver: {max_tcp_connections: 0}\n", []string{"resolver.max_tcp_connections: must be 1..1000000, got 0"}},
		{"limits out of range", base + "resolver: {max_referrals: 0, max_cname_chain: 65, max_glueless_per_delegation: 33, max_upstream_queries: 1001}\n", []string{
			"resolver.max_referrals: must be 1..64, got 0", "resolver.max_cname_chain: must be 1..64, got 65",
			"resolver.max_glueless_per_delegation: must be 1..32, got 33", "resolver.max_upstream_queries: must be 1..1000, got 1001",
		}},
		{"qname_minimisation not a bool", base + "resolver: {qname_minimisation: often}\n", []string{"resolver.qname_minimisation: must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			checkProblems(t, err, tt.want)
			if err == nil {
				if verr := c.Validate(); verr != nil {
					t.Errorf("Parse accepted a config Validate rejects: %v", verr)
				}
			}
		})
	}
}

func TestHealthTimeoutDefault(t *testing.T) {
	tests := []struct {
		health string
		want   time.Duration
	}{
		{"{}", time.Second},
		{"{interval: 500ms}", 500 * time.Millisecond},
		{"{interval: 5s}", time.Second},
		{"{interval: 5s, timeout: 3s}", 3 * time.Second},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(base + "health: " + tt.health + "\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.health, err)
		}
		if c.Health.Timeout != tt.want {
			t.Errorf("health %s: timeout = %s, want %s", tt.health, c.Health.Timeout, tt.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestKeepaliveDefault(t *testing.T) {
	tests := []struct {
		hold string
		want time.Duration
	}{
		{"9s", 3 * time.Second},
		{"3s", time.Second},
		{"4s", time.Second},
		{"90s", 30 * time.Second},
		{"0s", 0},
	}
	for _, tt := range tests {
		t.Run(tt.hold, func(t *testing.T) {
			c, err := Parse([]byte(base + "      hold_time: " + tt.hold + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.BGP.Peers[0].Keepalive; got != tt.want {
				t.Errorf("keepalive = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"64MiB", 64 << 20, true},
		{"1GB", 1e9, true},
		{"1 GiB", 1 << 30, true},
		{"512", 512, true},
		{"10KB", 10000, true},
		{"1.5GiB", 0, false},
		{"1gb", 0, false},
		{"-1MiB", 0, false},
		{"9999999999TiB", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestRedacted(t *testing.T) {
	c, err := Load("testdata/config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	if r.BGP.Peers[0].Password != "<redacted>" {
		t.Errorf("password shown: %q", r.BGP.Peers[0].Password)
	}
	if r.BGP.Peers[1].Password != "" {
		t.Errorf("an unset password should stay empty, got %q", r.BGP.Peers[1].Password)
	}
	if c.BGP.Peers[0].Password != "change-me" {
		t.Error("Redacted changed the original")
	}
	r.Service.Addresses[0] = netip.MustParseAddr("192.0.2.99")
	if c.Service.Addresses[0] == r.Service.Addresses[0] {
		t.Error("Redacted shares the addresses slice with the original")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/config/nope.yaml")
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "config testdata/config/nope.yaml: ") {
		t.Errorf("Load = %v", err)
	}
}

func TestValidateInCode(t *testing.T) {
	c := defaultConfig()
	c.Version = 1
	c.Node.Name = "lab-n1"
	c.Service.Addresses = []netip.Addr{netip.MustParseAddr("192.0.2.53")}
	c.BGP.ASN = 64513
	c.BGP.RouterID = netip.MustParseAddr("198.18.1.2")
	c.BGP.Peers = []PeerConfig{{Address: netip.MustParseAddr("198.18.1.1"), ASN: 64496, Port: 179, HoldTime: 9 * time.Second, Keepalive: 3 * time.Second}}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c.BGP.Peers[0].ASN = 0
	err := c.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "bgp.peers[0].asn" || fe.Error() != "bgp.peers[0].asn: must be 1..4294967295, got 0" {
		t.Errorf("Validate = %v", err)
	}
}
