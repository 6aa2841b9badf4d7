package resolver

import (
	"net/netip"
	"sync"
	"time"
)

// limiter is a response-rate limit for UDP: one token bucket per client
// prefix (/24, /48), never per address, kept in memory and forgotten once
// idle for RateLimitConfig.Expire.
type limiter struct {
	cfg RateLimitConfig

	// mu guards what follows.
	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	over   int // queries over the limit since the last slip
}

// rlVerdict is what the limiter says about one UDP query.
type rlVerdict int

const (
	rlPass rlVerdict = iota
	rlDrop
	rlSlip // answer empty with TC=1
)

func newLimiter(cfg RateLimitConfig) *limiter {
	return &limiter{cfg: cfg, buckets: map[netip.Prefix]*bucket{}}
}

// check takes a token for client's prefix at now.
func (l *limiter) check(client netip.Addr, now time.Time) rlVerdict {
	p := Truncate(client)
	if !p.IsValid() {
		return rlPass
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[p]
	if b == nil {
		if len(l.buckets) >= l.cfg.MaxEntries {
			return rlPass // table full: fail open until entries expire
		}
		b = &bucket{tokens: float64(l.cfg.Burst), last: now}
		l.buckets[p] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(float64(l.cfg.Burst), b.tokens+dt*l.cfg.QPS)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return rlPass
	}
	if l.cfg.Slip > 0 {
		b.over++
		if b.over >= l.cfg.Slip {
			b.over = 0
			return rlSlip
		}
	}
	return rlDrop
}

// expire forgets prefixes idle for longer than Expire.
func (l *limiter) expire(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, b := range l.buckets {
		if now.Sub(b.last) > l.cfg.Expire {
			delete(l.buckets, p)
		}
	}
}

func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
