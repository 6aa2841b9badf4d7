package dnssec

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestWalk validates from a test root anchor down to answers and denials
// in a zone signed for the test, the way the resolver will chain the calls.
func TestWalk(t *testing.T) {
	root := newSignedZone(t, ".", dns.RSASHA256)
	anchors, err := ParseAnchors(strings.NewReader(root.ksk.key.String()+"\n"), "test-root.key")
	if err != nil {
		t.Fatal(err)
	}
	v := newTestValidator(t, Config{Anchors: anchors})
	b := v.NewBudget()

	// Root DNSKEYs from the anchor.
	zone, ds, st := v.Anchor("www.example.")
	if st != Secure || zone != "." {
		t.Fatalf("Anchor: %q %v", zone, st)
	}
	rootKeys, r, err := v.VerifyDNSKEYs(root.dnskeys, root.sigs, ds, testNow, b)
	wantStatus(t, r, err, Secure, 0)

	// example. DS, signed by the root ZSK, then example.'s keys.
	ex := newSignedZone(t, "example.", dns.ED25519)
	dsSet := []dns.RR{ex.ksk.key.ToDS(dns.SHA256)}
	r, err = v.VerifyRRset(dsSet, []*dns.RRSIG{root.zsk.signNow(t, dsSet)}, rootKeys, testNow, b)
	wantStatus(t, r, err, Secure, 0)
	exKeys, r, err := v.VerifyDNSKEYs(ex.dnskeys, ex.sigs, []*dns.DS{dsSet[0].(*dns.DS)}, testNow, b)
	wantStatus(t, r, err, Secure, 0)

	// A wildcard answer: *.w.example. TXT expanded for q.w.example.
	wild := mustRRs(t, "*.w.example. 300 IN TXT wild")
	sig := ex.zsk.signNow(t, wild)
	answer := mustRRs(t, "q.w.example. 300 IN TXT wild")
	sig.Hdr.Name = "q.w.example."
	r, err = v.VerifyRRset(answer, []*dns.RRSIG{sig}, exKeys, testNow, b)
	wantStatus(t, r, err, Secure, 0)
	if !r.Wildcard() {
		t.Fatal("expanded answer not reported as a wildcard")
	}
	nsec := nsecs(t, "*.w.example.")
	r, err = v.VerifyRRset(nsec, []*dns.RRSIG{ex.zsk.signNow(t, nsec)}, exKeys, testNow, b)
	wantStatus(t, r, err, Secure, 0)
	r, err = v.ProveWildcard("q.w.example.", sig, "example.", nsec, b)
	wantStatus(t, r, err, Secure, 0)

	// The wildcard's own owner name is not an expansion.
	r, err = v.VerifyRRset(wild, []*dns.RRSIG{ex.zsk.signNow(t, wild)}, exKeys, testNow, b)
	wantStatus(t, r, err, Secure, 0)
	if r.Wildcard() {
		t.Error("*.w.example. itself reported as a wildcard expansion")
	}

	// An unsigned delegation from the root: no DS for "unsigned.".
	rootNSEC := mustRRs(t, "unsigned. 300 IN NSEC zz. NS RRSIG NSEC")
	r, err = v.VerifyRRset(rootNSEC, []*dns.RRSIG{root.zsk.signNow(t, rootNSEC)}, rootKeys, testNow, b)
	wantStatus(t, r, err, Secure, 0)
	r, err = v.ProveInsecureDelegation("unsigned.", ".", rootNSEC, b)
	wantStatus(t, r, err, Secure, 0)

	// A whole chain costs a handful of verifications, well inside the budget.
	if b.Exhausted() || b.Verifications() > 10 {
		t.Errorf("chain used %d verifications, exhausted=%v", b.Verifications(), b.Exhausted())
	}
}
