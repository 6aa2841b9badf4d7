package difftest

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycastd/anycastd/internal/mininet"
	"github.com/anycastd/anycastd/resolver"
	"github.com/anycastd/anycastd/resolver/dnssec"
)

// The validating pair, inside the namespace.
var (
	unboundValAddr  = netip.MustParseAddrPort("127.0.0.1:5303")
	anycastdValAddr = netip.MustParseAddrPort("127.0.0.1:5304")
)

// unboundValConf is unboundConf with the validator: the mini root's trust
// anchor and Unbound's defaults for everything DNSSEC (NSEC3 iteration
// limit 150, aggressive NSEC, KeyTrap limits of 1.17 plus Debian's fixes).
// Unbound answers the special-use names test. and invalid. itself (RFC
// 6761) unless told not to; the mini internet serves them.
var unboundValConf = strings.Replace(unboundConf, "\tmodule-config: \"iterator\"\n", `	trust-anchor-file: "%[1]s/trust.anchor"
	module-config: "validator iterator"
	local-zone: "test." nodefault
	local-zone: "invalid." nodefault
	val-log-level: 2
	aggressive-nsec: yes
`, 1)

// TestDNSSECDifferential asks a validating Unbound and a validating
// anycastd, both anchored at the mini root, every name of the signed and
// broken zones with DO=1, and compares rcode, AD and the answer data
// (RRSIGs aside). Differences in testdata/dnssec_differences are logged;
// any other fails.
func TestDNSSECDifferential(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	queries := readQueries(t, "testdata/dnssec_queries.txt")
	j := newJudge(t, "testdata/dnssec_differences", "dnssec_queries.txt")
	in := setupInternet(t, labConfig, testLog(t))
	startValidatingUnbound(t, in, unboundValAddr)
	startValidatingResolver(t, in, anycastdValAddr)

	for _, q := range queries {
		ub, ubErr := askDO(unboundValAddr, q.name, q.qtype)
		ad, adErr := askDO(anycastdValAddr, q.name, q.qtype)
		j.judge(q, compareDNSSEC(ub, ubErr, ad, adErr), dnssecSummary(ad, adErr), msgText(ub, ubErr), msgText(ad, adErr))
	}
	j.unused()
}

// TestDNSSECKeyTrap: the KeyTrap zone (60 DNSKEYs with one key tag, junk
// signatures before each real one) ends in SERVFAIL with an EDE, answered
// well before the client gives up, after a bounded number of signature
// verifications (anycastd_dnssec_verifications_total), however often it is
// asked.
func TestDNSSECKeyTrap(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	in := setupInternet(t, labConfig, testLog(t))
	reg := startValidatingResolver(t, in, anycastdValAddr)
	// The chain above keytrap.test. first, so only the zone's own work counts.
	if m, err := askDO(anycastdValAddr, "www.good.test.", dns.TypeA); err != nil || !m.AuthenticatedData {
		t.Fatalf("www.good.test.: %s, want a validated answer", dnssecSummary(m, err))
	}
	before := counter(t, reg, "anycastd_dnssec_verifications_total")
	const asks = 5
	for i := range asks {
		// A distinct name each time, so no answer comes from the cache.
		name := fmt.Sprintf("x%d.keytrap.test.", i)
		m, err := askDO(anycastdValAddr, name, dns.TypeA)
		if err != nil {
			t.Fatalf("%s: %v (the resolver must answer, not stall)", name, err)
		}
		if m.Rcode != dns.RcodeServerFailure || edeOf(m) < 0 {
			t.Errorf("%s: %s, want SERVFAIL with an EDE", name, dnssecSummary(m, nil))
		}
	}
	spent := counter(t, reg, "anycastd_dnssec_verifications_total") - before
	limit := float64(asks * dnssec.DefaultLimits.Verifications)
	t.Logf("KeyTrap: %d queries, %.0f signature verifications (limit %.0f)", asks, spent, limit)
	if spent > limit {
		t.Errorf("KeyTrap cost %.0f verifications for %d queries, above the per-query budget (%d each)", spent, asks, dnssec.DefaultLimits.Verifications)
	}
}

// startValidatingUnbound is startUnbound with the validator and the mini
// root's trust anchor.
func startValidatingUnbound(t *testing.T, in *mininet.Internet, listen netip.AddrPort) {
	t.Helper()
	runUnbound(t, unboundValConf, listen, map[string]string{"root.hints": in.RootHints(), "trust.anchor": in.TrustAnchor()})
}

// startValidatingResolver runs anycastd's resolver with the mini root's
// trust anchor and returns its metrics registry.
func startValidatingResolver(t *testing.T, in *mininet.Internet, listen netip.AddrPort) *prometheus.Registry {
	t.Helper()
	hints, err := resolver.ParseRootHints(strings.NewReader(in.RootHints()))
	if err != nil {
		t.Fatal(err)
	}
	anchors, err := dnssec.ParseAnchors(strings.NewReader(in.TrustAnchor()), "mininet")
	if err != nil {
		t.Fatal(err)
	}
	v, err := dnssec.New(dnssec.Config{Anchors: anchors})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	runResolver(t, resolver.Config{
		NodeName:     "difftest",
		Listen:       []netip.AddrPort{listen},
		RootHints:    hints,
		UpstreamPort: in.Port(),
		DNSSEC:       v,
	}, testLog(t), reg)
	return reg
}

// askDO asks like a validating stub: RD, DO, EDNS 1232 over UDP (one retry
// on timeout), then TCP if truncated.
func askDO(addr netip.AddrPort, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, true)
	c := &dns.Client{Timeout: 4 * time.Second, UDPSize: 1232}
	var err error
	for range 2 {
		var r *dns.Msg
		if r, _, err = c.Exchange(m, addr.String()); err == nil {
			if !r.Truncated {
				return r, nil
			}
			tc := &dns.Client{Net: "tcp", Timeout: 4 * time.Second}
			if r, _, err = tc.Exchange(m, addr.String()); err == nil {
				return r, nil
			}
		}
	}
	return nil, fmt.Errorf("ask %s %s @%s with DO: %w", name, dns.TypeToString[qtype], addr, err)
}

// compareDNSSEC returns what differs for a validating client: rcode, AD,
// and the answer data without RRSIGs (which signatures a resolver keeps
// for a DO client is its own business).
func compareDNSSEC(a *dns.Msg, aErr error, b *dns.Msg, bErr error) []string {
	switch {
	case aErr != nil && bErr != nil:
		return nil
	case aErr != nil || bErr != nil:
		return []string{fmt.Sprintf("unbound: %s, anycastd: %s", dnssecSummary(a, aErr), dnssecSummary(b, bErr))}
	}
	var diffs []string
	if a.Rcode != b.Rcode {
		diffs = append(diffs, fmt.Sprintf("rcode %s vs %s", dns.RcodeToString[a.Rcode], dns.RcodeToString[b.Rcode]))
	}
	if a.AuthenticatedData != b.AuthenticatedData {
		diffs = append(diffs, fmt.Sprintf("AD %v vs %v", a.AuthenticatedData, b.AuthenticatedData))
	}
	noSigs := func(rrs []dns.RR) []dns.RR {
		return slices.DeleteFunc(slices.Clone(rrs), func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeRRSIG })
	}
	if ra, rb := rrsetKeys(noSigs(a.Answer)), rrsetKeys(noSigs(b.Answer)); !slices.Equal(ra, rb) {
		diffs = append(diffs, fmt.Sprintf("answer %q vs %q", ra, rb))
	}
	return diffs
}

func dnssecSummary(m *dns.Msg, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%s, AD %v, EDE %d, %d answers", dns.RcodeToString[m.Rcode], m.AuthenticatedData, edeOf(m), len(m.Answer))
}

// edeOf returns the first Extended DNS Error code of m, or -1.
func edeOf(m *dns.Msg) int {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ede, ok := e.(*dns.EDNS0_EDE); ok {
				return int(ede.InfoCode)
			}
		}
	}
	return -1
}

// counter sums the samples of a counter family.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}
