package resolver

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// slowAuth is an authoritative server for everything that holds each answer
// until release is closed, so a test controls what is in flight.
type slowAuth struct {
	addr    netip.AddrPort
	queries atomic.Int32
	release chan struct{}
}

func newSlowAuth(t *testing.T) *slowAuth {
	s := &slowAuth{release: make(chan struct{})}
	s.addr = fakeAuth(t, func(w dns.ResponseWriter, req *dns.Msg) {
		s.queries.Add(1)
		<-s.release
		m := new(dns.Msg).SetReply(req)
		m.Authoritative = true
		if q := req.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   []byte{192, 0, 2, 7},
			}}
		}
		w.WriteMsg(m)
	})
	// Unblock the handlers before fakeAuth's cleanup shuts the server
	// down (cleanups run last-in first-out).
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
	})
	return s
}

// waitFor polls cond until it holds or a deadline passes. It waits for a
// state the test cannot be told about; it asserts nothing by itself.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCoalescing starts N identical questions while the upstream answer is
// held back: all N must miss the cache, and the server must see one query.
func TestCoalescing(t *testing.T) {
	auth := newSlowAuth(t)
	r, reg := newResolver(t, Config{
		RootHints:       []netip.Addr{auth.addr.Addr()},
		UpstreamPort:    auth.addr.Port(),
		UpstreamTimeout: 5 * time.Second,
		// One server for every zone: minimisation would add a query
		// for "test." that this test does not count on.
		DisableQNAMEMinimisation: true,
	})
	const n = 20
	var wg sync.WaitGroup
	answers := make([]*dns.Msg, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			answers[i], errs[i] = r.Resolve(context.Background(), question("slow.test", dns.TypeA))
		})
	}
	waitFor(t, "all questions to miss the cache", func() bool {
		return counterValue(t, reg, "anycastd_cache_misses_total", nil) == n
	})
	close(auth.release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || len(answers[i].Answer) != 1 {
			t.Fatalf("caller %d: %v, %v", i, answers[i], errs[i])
		}
	}
	if got := auth.queries.Load(); got != 1 {
		t.Errorf("upstream got %d queries for %d identical questions, want 1", got, n)
	}
	// Each caller owns its copy.
	answers[0].Answer[0].Header().Ttl = 0
	if answers[1].Answer[0].Header().Ttl == 0 {
		t.Error("callers share one message")
	}
}

// TestCoalescingSurvivesCallerCancel: the caller that started the flight
// gives up, the others still get the answer.
func TestCoalescingSurvivesCallerCancel(t *testing.T) {
	auth := newSlowAuth(t)
	r, reg := newResolver(t, Config{
		RootHints:       []netip.Addr{auth.addr.Addr()},
		UpstreamPort:    auth.addr.Port(),
		UpstreamTimeout: 5 * time.Second,
		// One server for every zone: minimisation would add a query
		// for "test." that this test does not count on.
		DisableQNAMEMinimisation: true,
	})
	ctx, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, question("slow.test", dns.TypeA))
		firstErr <- err
	}()
	waitFor(t, "the flight to reach upstream", func() bool { return auth.queries.Load() == 1 })
	second := make(chan *dns.Msg, 1)
	go func() {
		m, err := r.Resolve(context.Background(), question("slow.test", dns.TypeA))
		if err != nil {
			t.Errorf("second caller: %v", err)
		}
		second <- m
	}()
	waitFor(t, "the second caller to join", func() bool {
		return counterValue(t, reg, "anycastd_cache_misses_total", nil) == 2
	})
	cancel()
	if err := <-firstErr; err == nil {
		t.Error("cancelled caller got no error")
	}
	close(auth.release)
	if m := <-second; m == nil || len(m.Answer) != 1 {
		t.Errorf("second caller got %v", m)
	}
}
