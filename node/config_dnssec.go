package node

// The DNSSEC keys (issue 4): resolver.dnssec, resolver.trust_anchor
// (declared with the resolver keys), resolver.insecure_domains and the
// health.degrading.dnssec_good / dnssec_bad canaries. See docs/config.md.

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/anycastd/anycastd/resolver/dnssec"
)

// dnssecFields are the DNSSEC keys of the resolver section.
func (d *decoder) dnssecFields(r *ResolverConfig) fields {
	return fields{
		{"dnssec", d.boolean(&r.DNSSEC)},
		{"insecure_domains", func(n *yaml.Node, p string) {
			r.InsecureDomains = nil // the file's list replaces the default
			d.list(n, p, func(n *yaml.Node, p string) {
				var s string
				d.str(&s)(n, p)
				r.InsecureDomains = append(r.InsecureDomains, s)
			})
		}},
	}
}

// dnssecDegradingFields are the DNSSEC canary keys of health.degrading.
func (d *decoder) dnssecDegradingFields(dg *DegradingConfig) fields {
	return fields{
		{"dnssec_good", d.str(&dg.DNSSECGood)},
		{"dnssec_bad", d.str(&dg.DNSSECBad)},
	}
}

// dnssecProblems validates the DNSSEC keys.
func (c *Config) dnssecProblems(add adder) {
	seen := map[string]int{}
	for i, n := range c.Resolver.InsecureDomains {
		path := fmt.Sprintf("resolver.insecure_domains[%d]", i)
		if _, ok := dns.IsDomainName(n); !ok || n == "" {
			add(path, "must be a domain name such as corp.example., got %q", n)
			continue
		}
		cn := dns.CanonicalName(n)
		if j, dup := seen[cn]; dup {
			add(path, "%s is listed twice (also resolver.insecure_domains[%d]); remove one", cn, j)
		}
		seen[cn] = i
	}
	dg := c.Health.Degrading
	for _, k := range []struct{ path, v string }{
		{"health.degrading.dnssec_good", dg.DNSSECGood},
		{"health.degrading.dnssec_bad", dg.DNSSECBad},
	} {
		if k.v == "" {
			continue
		}
		if _, ok := dns.IsDomainName(k.v); !ok {
			add(k.path, "must be a domain name or \"\" (off), got %q", k.v)
			continue
		}
		if !c.Resolver.DNSSEC {
			add(k.path, "needs resolver.dnssec: true (a canary that validates needs a validating resolver)")
		}
	}
	if dg.DNSSECGood != "" && dns.CanonicalName(dg.DNSSECGood) == dns.CanonicalName(dg.DNSSECBad) {
		add("health.degrading.dnssec_bad", "must differ from health.degrading.dnssec_good (%s): one must validate and the other fail", dg.DNSSECGood)
	}
}

// dnssecValidator builds the resolver's validator from the config, or nil
// when validation is off. The built-in root KSKs belong to the built-in
// (real) root hints: with root_hints pointing elsewhere (a lab, a test)
// and no trust_anchor, validating against them would make every signed
// answer bogus, so validation stays off and a warning says why.
func dnssecValidator(r ResolverConfig, log *slog.Logger) (*dnssec.Validator, error) {
	if !r.DNSSEC {
		return nil, nil
	}
	cfg := dnssec.Config{Insecure: r.InsecureDomains}
	switch {
	case r.TrustAnchor != "":
		f, err := os.Open(r.TrustAnchor)
		if err != nil {
			return nil, fmt.Errorf("resolver.trust_anchor: %w", err)
		}
		defer f.Close()
		a, err := dnssec.ParseAnchors(f, r.TrustAnchor)
		if err != nil {
			return nil, fmt.Errorf("resolver.trust_anchor: %w", err)
		}
		cfg.Anchors = a
	case r.RootHints != "":
		log.Warn("DNSSEC validation off: resolver.root_hints is set but resolver.trust_anchor is not, and the built-in root keys cannot sign another root; set resolver.trust_anchor to validate",
			"root_hints", r.RootHints)
		return nil, nil
	}
	v, err := dnssec.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("resolver dnssec: %w", err)
	}
	return v, nil
}
