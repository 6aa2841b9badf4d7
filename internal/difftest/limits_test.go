package difftest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// maxUpstreamQueries is the resolver's per-client-question budget of
// upstream queries (resolver/upstream.go, maxUpstreamQueries). It is a
// constant there today; when it becomes a config field, set it in
// startResolver and use that value here.
const maxUpstreamQueries = 64

// TestNXNSLimit resolves a name in nxns.com., delegated to 50 glueless name
// servers in sink.net. that do not exist (NXNSAttack), and counts every
// query the mini internet receives: one client question must stay within
// the budget and end in SERVFAIL.
func TestNXNSLimit(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	in := setupInternet(t, labConfig, testLog(t))
	// Unbound's count, for the log only: how a mature resolver fares.
	startUnbound(t, in, unboundAddr)
	in.ResetQueries()
	if r, err := ask(unboundAddr, "www.nxns.com.", dns.TypeA); err == nil {
		t.Logf("unbound: %d upstream queries, %s", sum(in.Queries()), dns.RcodeToString[r.Rcode])
	}
	tests := []struct {
		name string
		sink time.Duration // latency of ns.sink.net.
		port uint16
	}{
		{"sink answers NXDOMAIN at once", 0, 5310},
		{"sink answers NXDOMAIN slowly", 150 * time.Millisecond, 5311},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := in.SetLatency("ns.sink.net.", tt.sink); err != nil {
				t.Fatal(err)
			}
			addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tt.port)
			startResolver(t, in, addr, testLog(t)) // fresh cache
			in.ResetQueries()
			start := time.Now()
			r, err := ask(addr, "www.nxns.com.", dns.TypeA)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			total := sum(in.Queries())
			t.Logf("%d upstream queries (%d to ns.sink.net.), %v, %s", total,
				in.Queries()["ns.sink.net."], elapsed.Round(time.Millisecond), dns.RcodeToString[r.Rcode])
			if total > maxUpstreamQueries {
				t.Errorf("one client question caused %d upstream queries, budget %d", total, maxUpstreamQueries)
			}
			if r.Rcode != dns.RcodeServerFailure {
				t.Errorf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
			}
			if ede := edeCodes(r); len(ede) == 0 {
				// R2 adds an Extended DNS Error to every SERVFAIL; until
				// then its absence is only noted.
				t.Log("no Extended DNS Error on the SERVFAIL (expected once R2's work lands)")
			} else {
				t.Logf("EDE %v", ede)
			}
		})
	}
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// edeCodes returns the Extended DNS Error info codes of m (RFC 8914).
func edeCodes(m *dns.Msg) []uint16 {
	var out []uint16
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, e.InfoCode)
			}
		}
	}
	return out
}
