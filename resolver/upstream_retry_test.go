package resolver

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestSlowMomentIsRetried: a zone's only server, measured fast, stalls
// once for longer than its RTT-based timeout. The resolver asks it again
// with a doubled timeout instead of answering SERVFAIL (Unbound's RTO
// backoff); found by `make bench` on a loaded machine.
func TestSlowMomentIsRetried(t *testing.T) {
	n := newAuthNet(t)
	var stall atomic.Bool
	root := n.serve("127.0.77.1", func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.Authoritative = true
		if req.Question[0].Qtype == dns.TypeA {
			resp.Answer = append(resp.Answer, mustRR(t, req.Question[0].Name+" 300 IN A 192.0.2.1"))
		}
		if stall.CompareAndSwap(true, false) {
			time.Sleep(120 * time.Millisecond) // well past the ~50ms RTT-based timeout
		}
		w.WriteMsg(resp)
	})
	cfg := n.config(root.String())
	cfg.DisableQNAMEMinimisation = true
	cfg.UpstreamTimeout = time.Second
	r, _ := newResolver(t, cfg)
	for i, name := range []string{"a.test.", "b.test.", "c.test."} {
		if _, err := r.Resolve(context.Background(), question(name, dns.TypeA)); err != nil {
			t.Fatalf("warm-up %d: %v", i, err)
		}
	}
	stall.Store(true)
	if _, err := r.Resolve(context.Background(), question("d.test.", dns.TypeA)); err != nil {
		t.Fatalf("one slow answer from a known server became a failure: %v", err)
	}
	if stall.Load() {
		t.Fatal("the stall never happened: the test did not test anything")
	}
}
