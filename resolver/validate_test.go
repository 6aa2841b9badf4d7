package resolver

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/anycastd/anycastd/internal/mininet"
	"github.com/anycastd/anycastd/resolver/dnssec"
)

// validatingConfig is netConfig with the mini internet's trust anchor and
// the given negative trust anchors.
func validatingConfig(t testing.TB, in *mininet.Internet, insecure ...string) Config {
	t.Helper()
	anchors, err := dnssec.ParseAnchors(strings.NewReader(in.TrustAnchor()), "mininet")
	if err != nil {
		t.Fatalf("ParseAnchors: %v", err)
	}
	v, err := dnssec.New(dnssec.Config{Anchors: anchors, Insecure: insecure})
	if err != nil {
		t.Fatalf("dnssec.New: %v", err)
	}
	cfg := netConfig(t, in)
	cfg.DNSSEC = v
	return cfg
}

// askDNSSEC asks addr over UDP (TCP when truncated) with the given DO, AD and CD bits.
func askDNSSEC(t testing.TB, addr netip.AddrPort, name string, qtype uint16, do, ad, cd bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, do)
	m.AuthenticatedData = ad
	m.CheckingDisabled = cd
	resp := exchange(t, "udp", addr, m)
	if resp.Truncated {
		resp = exchange(t, "tcp", addr, m)
	}
	return resp
}

// edeCode returns the EDE info code of resp, or -1.
func edeCode(resp *dns.Msg) int {
	if o := resp.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ede, ok := e.(*dns.EDNS0_EDE); ok {
				return int(ede.InfoCode)
			}
		}
	}
	return -1
}

func describeResp(resp *dns.Msg) string {
	return fmt.Sprintf("%s AD=%v EDE=%d answers=%d", dns.RcodeToString[resp.Rcode], resp.AuthenticatedData, edeCode(resp), len(resp.Answer))
}

// TestValidation resolves every kind of signed, unsigned and broken name
// of the mini internet with its trust anchor and checks rcode, AD and the
// Extended DNS Error.
func TestValidation(t *testing.T) {
	in := startNet(t)
	r, reg := newResolver(t, validatingConfig(t, in))
	addr := serve(t, r)
	const none = -1
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		ad    bool
		ede   int
	}{
		{"www.example.org", dns.TypeA, dns.RcodeSuccess, true, none},       // NSEC zone under NSEC3 org.
		{"www.example.net", dns.TypeA, dns.RcodeSuccess, true, none},       // NSEC3, KSK+ZSK
		{"nope.example.net", dns.TypeA, dns.RcodeNameError, true, none},    // NSEC3 NXDOMAIN
		{"www.example.net", dns.TypeMX, dns.RcodeSuccess, true, none},      // NSEC3 NODATA
		{"nope.example.org", dns.TypeA, dns.RcodeNameError, true, none},    // NSEC NXDOMAIN
		{"www.example.org", dns.TypeMX, dns.RcodeSuccess, true, none},      // NSEC NODATA
		{"any.wild.example.org", dns.TypeA, dns.RcodeSuccess, true, none},  // wildcard expansion with proof
		{"any.wild.example.org", dns.TypeMX, dns.RcodeSuccess, true, none}, // wildcard NODATA
		{"b.c.example.org", dns.TypeA, dns.RcodeSuccess, true, none},       // empty non-terminal
		{"www.chain.com", dns.TypeA, dns.RcodeSuccess, true, none},         // CNAME chain over three signed zones
		{"www.dname.example.net", dns.TypeA, dns.RcodeSuccess, true, none}, // signed DNAME, synthesised CNAME
		{"www.example.com", dns.TypeA, dns.RcodeSuccess, false, none},      // unsigned: com. opt-out proves no DS
		{"www.glueless.com", dns.TypeA, dns.RcodeSuccess, false, none},     // unsigned
		{"www.plain.org", dns.TypeA, dns.RcodeSuccess, false, none},        // unsigned: org. NSEC3 proves no DS
		{"good.canary.lab", dns.TypeA, dns.RcodeSuccess, true, none},       // Ed25519 under RSASHA512
		{"canary.anycastd.lab", dns.TypeA, dns.RcodeSuccess, true, none},   // RSASHA256 NSEC3
		{"bad.canary.lab", dns.TypeA, dns.RcodeServerFailure, false, 6},    // corrupted signature
		{"www.good.test", dns.TypeA, dns.RcodeSuccess, true, none},
		{"www.ds-mismatch.test", dns.TypeA, dns.RcodeServerFailure, false, 9},
		{"www.expired.test", dns.TypeA, dns.RcodeServerFailure, false, 7},
		{"www.not-yet-valid.test", dns.TypeA, dns.RcodeServerFailure, false, 8},
		{"www.missing-rrsig.test", dns.TypeA, dns.RcodeServerFailure, false, 10},
		{"www.zsk-only.test", dns.TypeA, dns.RcodeServerFailure, false, 9},
		{"nope.bad-nsec.test", dns.TypeA, dns.RcodeServerFailure, false, 12},
		{"www.bad-nsec.test", dns.TypeA, dns.RcodeSuccess, true, none},
		{"www.keytrap.test", dns.TypeA, dns.RcodeServerFailure, false, 0},       // budget exhausted
		{"www.alg-unsupported.test", dns.TypeA, dns.RcodeSuccess, false, none},  // Ed448: insecure
		{"www.rsa-exponent.test", dns.TypeA, dns.RcodeSuccess, false, none},     // key Go rejects: insecure
		{"nope.nsec3-iter500.test", dns.TypeA, dns.RcodeNameError, false, none}, // iterations over the limit: insecure
		{"www.nsec3-iter500.test", dns.TypeA, dns.RcodeSuccess, true, none},     // positive answers still validate
	} {
		t.Run(tc.name+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			resp := askDNSSEC(t, addr, tc.name, tc.qtype, true, false, false)
			if resp.Rcode != tc.rcode || resp.AuthenticatedData != tc.ad || edeCode(resp) != tc.ede {
				t.Errorf("got %s, want %s AD=%v EDE=%d", describeResp(resp), dns.RcodeToString[tc.rcode], tc.ad, tc.ede)
			}
		})
	}
	if v := counterValue(t, reg, "anycastd_dnssec_verifications_total", nil); v == 0 {
		t.Errorf("anycastd_dnssec_verifications_total = 0 after validating")
	}
}

// TestValidationFlags checks the AD, CD and DO rules on answers.
func TestValidationFlags(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, validatingConfig(t, in))
	addr := serve(t, r)
	hasType := func(rrs []dns.RR, typ uint16) bool {
		for _, rr := range rrs {
			if rr.Header().Rrtype == typ {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		desc        string
		name        string
		do, ad, cd  bool
		rcode       int
		wantAD      bool
		wantRRSIG   bool
		wantAnswers bool
	}{
		{"DO gets AD and RRSIGs", "www.example.org", true, false, false, dns.RcodeSuccess, true, true, true},
		{"AD without DO gets AD, no RRSIGs", "www.example.org", false, true, false, dns.RcodeSuccess, true, false, true},
		{"neither gets no AD", "www.example.org", false, false, false, dns.RcodeSuccess, false, false, true},
		{"insecure never AD", "www.example.com", true, true, false, dns.RcodeSuccess, false, false, true},
		{"bogus is SERVFAIL", "bad.canary.lab", true, false, false, dns.RcodeServerFailure, false, false, false},
		{"CD gets bogus data without AD", "bad.canary.lab", true, false, true, dns.RcodeSuccess, false, true, true},
		{"bogus again after CD: not cached", "bad.canary.lab", true, false, false, dns.RcodeServerFailure, false, false, false},
		{"CD on secure data", "www.example.org", true, false, true, dns.RcodeSuccess, true, true, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			resp := askDNSSEC(t, addr, tc.name, dns.TypeA, tc.do, tc.ad, tc.cd)
			if resp.Rcode != tc.rcode || resp.AuthenticatedData != tc.wantAD ||
				hasType(resp.Answer, dns.TypeRRSIG) != tc.wantRRSIG || (len(resp.Answer) > 0) != tc.wantAnswers {
				t.Errorf("got %s RRSIG=%v, want %s AD=%v RRSIG=%v answers=%v", describeResp(resp), hasType(resp.Answer, dns.TypeRRSIG),
					dns.RcodeToString[tc.rcode], tc.wantAD, tc.wantRRSIG, tc.wantAnswers)
			}
		})
	}
}

// TestNegativeTrustAnchor: below an insecure_domains name, bogus data is
// answered (without AD), and data elsewhere still validates.
func TestNegativeTrustAnchor(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, validatingConfig(t, in, "canary.lab."))
	addr := serve(t, r)
	if resp := askDNSSEC(t, addr, "bad.canary.lab", dns.TypeA, true, false, false); resp.Rcode != dns.RcodeSuccess || resp.AuthenticatedData {
		t.Errorf("bad.canary.lab under a negative trust anchor: %s, want NOERROR without AD", describeResp(resp))
	}
	if resp := askDNSSEC(t, addr, "www.expired.test", dns.TypeA, true, false, false); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("www.expired.test outside the negative trust anchor: %s, want SERVFAIL", describeResp(resp))
	}
	if resp := askDNSSEC(t, addr, "canary.anycastd.lab", dns.TypeA, true, false, false); !resp.AuthenticatedData {
		t.Errorf("canary.anycastd.lab: %s, want AD", describeResp(resp))
	}
}

// TestAggressiveNSEC: once an NXDOMAIN from an NSEC zone is validated, a
// second name in the same NSEC range is answered from the cache (RFC 8198)
// without a query to the zone's server.
func TestAggressiveNSEC(t *testing.T) {
	in := startNet(t)
	r, reg := newResolver(t, validatingConfig(t, in))
	addr := serve(t, r)
	// Canonical order in example.org.: ... mail < nope < nopf < ns ...
	if resp := askDNSSEC(t, addr, "nope.example.org", dns.TypeA, true, false, false); resp.Rcode != dns.RcodeNameError || !resp.AuthenticatedData {
		t.Fatalf("nope.example.org: %s, want secure NXDOMAIN", describeResp(resp))
	}
	in.ResetQueries()
	resp := askDNSSEC(t, addr, "nopf.example.org", dns.TypeA, true, false, false)
	if resp.Rcode != dns.RcodeNameError || !resp.AuthenticatedData {
		t.Errorf("nopf.example.org: %s, want secure NXDOMAIN", describeResp(resp))
	}
	if n := sum(in.Queries()); n != 0 {
		t.Errorf("nopf.example.org sent %d upstream queries (%v), want 0: the cached NSEC covers it", n, in.Queries())
	}
	if v := counterValue(t, reg, "anycastd_dnssec_synthesised_total", nil); v != 1 {
		t.Errorf("anycastd_dnssec_synthesised_total = %v, want 1", v)
	}
	// A name outside the cached ranges still goes upstream.
	in.ResetQueries()
	if resp := askDNSSEC(t, addr, "zzz.example.org", dns.TypeA, true, false, false); resp.Rcode != dns.RcodeNameError {
		t.Errorf("zzz.example.org: %s, want NXDOMAIN", describeResp(resp))
	}
	if sum(in.Queries()) == 0 {
		t.Errorf("zzz.example.org sent no upstream query; its range was never seen")
	}
}

// TestKeyTrapBounded: the KeyTrap zone costs a bounded number of signature
// verifications and ends in SERVFAIL, also when asked again.
func TestKeyTrapBounded(t *testing.T) {
	in := startNet(t)
	r, reg := newResolver(t, validatingConfig(t, in))
	addr := serve(t, r)
	// Warm the chain above keytrap.test. so only its own work is counted.
	askDNSSEC(t, addr, "www.good.test", dns.TypeA, true, false, false)
	before := counterValue(t, reg, "anycastd_dnssec_verifications_total", nil)
	for range 3 {
		resp := askDNSSEC(t, addr, "www.keytrap.test", dns.TypeA, true, false, false)
		if resp.Rcode != dns.RcodeServerFailure {
			t.Fatalf("www.keytrap.test: %s, want SERVFAIL", describeResp(resp))
		}
	}
	limit := float64(3 * dnssec.DefaultLimits.Verifications)
	if n := counterValue(t, reg, "anycastd_dnssec_verifications_total", nil) - before; n > limit || n == 0 {
		t.Errorf("3 KeyTrap queries cost %v verifications, want 1..%v", n, limit)
	}
}

// TestDNSSECCanary: the health probe passes for a validated name and for a
// bogus one that fails, and says so when either does the opposite.
func TestDNSSECCanary(t *testing.T) {
	in := startNet(t)
	r, _ := newResolver(t, validatingConfig(t, in))
	addr := serve(t, r)
	plain, _ := newResolver(t, netConfig(t, in)) // not validating
	plainAddr := serve(t, plain)
	for _, tc := range []struct {
		desc    string
		server  netip.AddrPort
		name    string
		secure  bool
		wantErr string
	}{
		{"good validates", addr, "good.canary.lab", true, ""},
		{"bad fails", addr, "bad.canary.lab", false, ""},
		{"bad is not good", addr, "bad.canary.lab", true, "EDE 6"},
		{"expired names the clock", addr, "www.expired.test", true, "clock"},
		{"good is not bad", addr, "good.canary.lab", false, "is the resolver validating"},
		{"no AD without validation", plainAddr, "good.canary.lab", true, "AD false"},
		{"bad passes without validation", plainAddr, "bad.canary.lab", false, "is the resolver validating"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := DNSSECCanary(t.Context(), tc.server, tc.name, tc.secure)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
