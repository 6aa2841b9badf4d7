package resolver

import (
	"testing"

	"github.com/miekg/dns"
)

// TestCountersMatchMetrics: the running totals the health checks read
// count what the Prometheus metrics count, on the slow path, the UDP and
// TCP fast paths, upstream answers and bogus (SERVFAIL) answers.
func TestCountersMatchMetrics(t *testing.T) {
	in := startNet(t)
	r, reg := newResolver(t, validatingConfig(t, in))
	addr := serve(t, r)
	ask := func(network, name string) int {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		return exchange(t, network, addr, m).Rcode
	}
	ask("udp", "www.example.com.") // a miss
	ask("udp", "www.example.com.") // the UDP fast path
	ask("tcp", "www.example.com.") // the TCP fast path
	if rc := ask("udp", "bad.canary.lab."); rc != dns.RcodeServerFailure {
		t.Fatalf("bad.canary.lab: rcode %s, want SERVFAIL", dns.RcodeToString[rc])
	}
	c := r.Counters()
	queries := counterValue(t, reg, "anycastd_queries_total", nil)
	servfails := counterValue(t, reg, "anycastd_queries_total", map[string]string{"rcode": "SERVFAIL"})
	if c.Answers != 4 || float64(c.Answers) != queries || c.Servfails != 1 || float64(c.Servfails) != servfails {
		t.Errorf("answers %d servfails %d; metrics %v and %v; want 4 and 1", c.Answers, c.Servfails, queries, servfails)
	}
	if bogus := counterValue(t, reg, "anycastd_dnssec_bogus_total", nil); c.Bogus == 0 || float64(c.Bogus) != bogus {
		t.Errorf("bogus %d, metric %v", c.Bogus, bogus)
	}
	if c.UpstreamAnswers == 0 || c.UpstreamRTT <= 0 {
		t.Errorf("no upstream answers timed: %+v", c)
	}
}
