package node

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDNSSECConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		extra   string
		wantErr []string // substrings; nil means valid
		check   func(t *testing.T, c *Config)
	}{
		{name: "defaults", check: func(t *testing.T, c *Config) {
			if !c.Resolver.DNSSEC || len(c.Resolver.InsecureDomains) != 0 || c.Health.Degrading.DNSSECGood != "" {
				t.Errorf("defaults: dnssec %v, insecure %v, good %q", c.Resolver.DNSSEC, c.Resolver.InsecureDomains, c.Health.Degrading.DNSSECGood)
			}
		}},
		{name: "all keys", extra: "resolver: {dnssec: true, insecure_domains: [corp.example., lab]}\nhealth: {degrading: {dnssec_good: good.canary.lab., dnssec_bad: bad.canary.lab.}}\n",
			check: func(t *testing.T, c *Config) {
				if !slices.Equal(c.Resolver.InsecureDomains, []string{"corp.example.", "lab"}) {
					t.Errorf("insecure_domains = %v", c.Resolver.InsecureDomains)
				}
				if dg := c.Health.Degrading; dg.DNSSECGood != "good.canary.lab." || dg.DNSSECBad != "bad.canary.lab." {
					t.Errorf("canaries = %q %q", dg.DNSSECGood, dg.DNSSECBad)
				}
			}},
		{name: "off", extra: "resolver: {dnssec: false}\n", check: func(t *testing.T, c *Config) {
			if c.Resolver.DNSSEC {
				t.Error("dnssec: false not applied")
			}
		}},
		{name: "bad domain", extra: "resolver: {insecure_domains: [\"a..b\"]}\n", wantErr: []string{"resolver.insecure_domains[0]"}},
		{name: "duplicate", extra: "resolver: {insecure_domains: [corp.example, Corp.Example.]}\n", wantErr: []string{"resolver.insecure_domains[1]", "listed twice"}},
		{name: "canary needs validation", extra: "resolver: {dnssec: false}\nhealth: {degrading: {dnssec_good: good.canary.lab.}}\n",
			wantErr: []string{"health.degrading.dnssec_good", "resolver.dnssec: true"}},
		{name: "same canary twice", extra: "health: {degrading: {dnssec_good: x.lab., dnssec_bad: X.lab}}\n",
			wantErr: []string{"health.degrading.dnssec_bad", "must differ"}},
		{name: "bad type", extra: "resolver: {insecure_domains: corp.example}\n", wantErr: []string{"resolver.insecure_domains"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(fleetBase + tc.extra))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				tc.check(t, c)
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want an error with %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDNSSECValidator(t *testing.T) {
	dir := t.TempDir()
	anchor := filepath.Join(dir, "trust.anchor")
	if err := os.WriteFile(anchor, []byte("lab. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("lab. IN A 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name    string
		r       ResolverConfig
		on      bool
		wantErr string
		zone    string // anchored zone expected
	}{
		{name: "built-in root", r: ResolverConfig{DNSSEC: true}, on: true, zone: "."},
		{name: "off", r: ResolverConfig{DNSSEC: false}},
		{name: "own hints without anchor: off", r: ResolverConfig{DNSSEC: true, RootHints: "lab.hints"}},
		{name: "anchor file", r: ResolverConfig{DNSSEC: true, RootHints: "lab.hints", TrustAnchor: anchor}, on: true, zone: "lab."},
		{name: "anchor file of junk", r: ResolverConfig{DNSSEC: true, TrustAnchor: junk}, wantErr: "not DS or DNSKEY"},
		{name: "missing anchor file", r: ResolverConfig{DNSSEC: true, TrustAnchor: filepath.Join(dir, "nope")}, wantErr: "resolver.trust_anchor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := dnssecValidator(tc.r, log)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (v != nil) != tc.on {
				t.Fatalf("validator on = %v, want %v", v != nil, tc.on)
			}
			if v != nil {
				if z, _, _ := v.Anchor("www." + strings.TrimPrefix(tc.zone, ".")); z != tc.zone {
					t.Errorf("anchor zone = %q, want %q", z, tc.zone)
				}
			}
		})
	}
}
