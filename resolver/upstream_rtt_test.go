package resolver

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// TestUpstreamRTTHistogram: every matched upstream answer is observed in
// anycastd_upstream_rtt_seconds, which the node's upstream-latency check reads.
func TestUpstreamRTTHistogram(t *testing.T) {
	in := startNet(t)
	r, reg := newResolver(t, netConfig(t, in))
	if _, err := r.Resolve(context.Background(), question("www.example.com", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	for _, mf := range mfs {
		if mf.GetName() == "anycastd_upstream_rtt_seconds" {
			count = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if sent := sum(in.Queries()); count == 0 || count > sent {
		t.Errorf("rtt histogram has %d observations for %d upstream queries; want 1..%d", count, sent, sent)
	}
}
