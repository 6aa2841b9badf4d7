package resolver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// answer is what lookup found for a client question. stale means it came
// from an expired entry (RFC 8767) and the listener must say so with EDE 3.
type answer struct {
	msg   *dns.Msg
	stale bool
	hit   bool // from a fresh cache entry
}

// lookup answers q for a client: a fresh cache entry (starting a prefetch
// when the entry is popular and about to expire), else the resolution from
// the authorities, joined if already in flight. When an expired entry is
// still within Config.ServeStale, it is the answer if the resolution fails
// or takes longer than Config.StaleAnswerAfter; the resolution goes on in
// the background either way and refreshes the cache when it succeeds.
func (r *Resolver) lookup(ctx context.Context, q dns.Question) (answer, error) {
	if _, ok := dns.IsDomainName(q.Name); !ok || !dns.IsFqdn(q.Name) {
		return answer{}, fmt.Errorf("resolve %q: not a fully qualified domain name", q.Name)
	}
	q.Name = strings.ToLower(q.Name)
	k := answerKey(q)
	if m, e, ok := r.cache.lookup(k); ok {
		r.m.cacheHits.Inc()
		if r.cache.prefetchDue(e) {
			r.prefetch(q, e)
		}
		m.Question = []dns.Question{q}
		return answer{msg: m, hit: true}, nil
	}
	r.m.cacheMisses.Inc()
	if !r.shed.acquire() {
		return r.overloaded(q, k) // shed.go
	}
	defer r.shed.release()
	ch := r.flight(ctx, q)

	stale, haveStale := r.cache.getStale(k)
	var timer <-chan time.Time
	if haveStale && r.cfg.StaleAnswerAfter > 0 {
		t := time.NewTimer(r.cfg.StaleAnswerAfter)
		defer t.Stop()
		timer = t.C
	}
	serveStale := func() (answer, error) {
		r.cache.stale.Add(1)
		r.m.staleAnswers.Inc()
		stale.Question = []dns.Question{q}
		return answer{msg: stale, stale: true}, nil
	}
	select {
	case <-ctx.Done():
		return answer{}, fmt.Errorf("resolve %s: %w", q.Name, ctx.Err())
	case <-timer:
		// RFC 8767 section 5: the client response timer. The flight keeps
		// going and caches the fresh answer for the next client.
		return serveStale()
	case res := <-ch:
		if res.Err != nil {
			if haveStale {
				r.log.Debug("serving stale", "qname", q.Name, "qtype", dns.TypeToString[q.Qtype], "err", res.Err)
				return serveStale()
			}
			return answer{}, res.Err
		}
		// Each caller gets its own message: a copy when the flight's
		// answer went to others too, else the flight's own (nothing else
		// holds it: the cache keeps wire form).
		m := res.Val.(*dns.Msg)
		if res.Shared {
			m = m.Copy()
		}
		return answer{msg: m}, nil
	}
}

// prefetch refreshes e, the entry of q, in the background before it
// expires, so a popular name is never a miss (Unbound's prefetch). It joins
// any flight for q, so a refresh costs at most one resolution. Until the
// refresh stores its answer, clients keep getting e.
func (r *Resolver) prefetch(q dns.Question, e *entry) {
	r.cache.prefetches.Add(1)
	r.m.prefetches.Inc()
	ch := r.flight(context.Background(), q)
	go func() {
		res := <-ch
		if res.Err != nil {
			r.log.Debug("prefetch failed", "qname", q.Name, "qtype", dns.TypeToString[q.Qtype], "err", res.Err)
		}
		// On success e has been replaced and this is moot; on failure (or
		// an uncacheable answer) e serves on until it expires.
		e.refreshing.Store(false)
	}()
}

// FlushCache removes cached answers and delegations: with name "" all of
// them; otherwise every type of name, including what the resolver knows of
// name as a zone cut (its NS and glue); with subtree also every name below
// it. It returns the number of entries removed. Answers being resolved
// while the flush runs may be cached right after it.
func (r *Resolver) FlushCache(name string, subtree bool) (removed int) {
	if name != "" {
		name = dns.Fqdn(name)
	}
	n := r.cache.flush(name, subtree)
	r.flushValidation()
	r.log.Info("cache flushed", "qname", name, "subtree", subtree, "removed", n)
	return n
}

// CacheStats returns a snapshot of the cache's size and counters.
func (r *Resolver) CacheStats() CacheStats { return r.cache.stats() }
