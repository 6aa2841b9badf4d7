package resolver

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Overload behaviour (issue 9): above capacity the node drops queries
// instead of queueing them without bound, so memory stays bounded and
// cached answers keep flowing while cache misses wait on authorities.
//
//   - Cache hits that the fast path can serve (fast.go) are answered by the
//     socket's reader itself and never queue.
//   - Everything else goes to a bounded queue in front of a fixed pool of
//     workers per UDP server (udpQueueLen, udpWorkers). When the queue is
//     full the query is dropped: reason "queue_full". The client retries,
//     usually at another moment or another node.
//   - Client questions waiting on the authorities hold one of
//     maxResolutions slots. Without a free slot a question that has a stale
//     answer gets it; any other is dropped over UDP and answered SERVFAIL
//     (EDE 0, "overloaded") over TCP: reason "resolutions". So slow
//     authorities cannot take every worker from the cached answers that
//     need respond (cookies, NSID, RD=0).
//   - The node's own queries are never shed: the health canary asks the
//     service address from the node itself, and a busy node must not fail
//     its canary and withdraw (its neighbours would then take its load and
//     fall over in turn). A query counts as the node's own when it comes
//     from a loopback address or from the address it was sent to (which is
//     what the kernel chooses when a process asks a local address). Packets
//     from outside with a local source address are martians the kernel
//     drops, so this cannot be spoofed from the network. When the queue is
//     full such a query is answered by the reader itself.

const (
	// udpWorkers is the number of goroutines answering queries the fast
	// path could not, per UDP server (listen address).
	udpWorkers = 640
	// udpQueueLen bounds the queries waiting for a worker, per server; at
	// most udpReadSize bytes each.
	udpQueueLen = 1024
	// maxResolutions bounds client questions waiting on the authorities,
	// over all transports.
	maxResolutions = 512
)

// Shed reasons, the values of anycastd_queries_shed_total's reason label.
const (
	shedQueueFull   = "queue_full"
	shedResolutions = "resolutions"
)

// errOverloaded is lookup's error when no resolution slot was free.
var errOverloaded = errors.New("resolver overloaded")

// edeOverloaded is fill's answer to errOverloaded; respond drops a UDP
// query that gets it.
var edeOverloaded = &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeOther, ExtraText: "overloaded"}

// shedding holds the overload state shared by the listeners.
type shedding struct {
	resolutions chan struct{} // a slot per client question waiting on authorities
	shed        *prometheus.CounterVec
	queueFull   prometheus.Counter
	noSlot      prometheus.Counter
}

func newShedding(reg prometheus.Registerer) (*shedding, error) {
	s := &shedding{
		resolutions: make(chan struct{}, maxResolutions),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anycastd_queries_shed_total",
			Help: "Client queries dropped (or, over TCP, refused with SERVFAIL) because the node was over capacity, by reason (queue_full, resolutions).",
		}, []string{"reason"}),
	}
	s.queueFull = s.shed.WithLabelValues(shedQueueFull)
	s.noSlot = s.shed.WithLabelValues(shedResolutions)
	if reg != nil {
		if err := reg.Register(s.shed); err != nil {
			return nil, fmt.Errorf("register shed metrics: %w", err)
		}
	}
	return s, nil
}

// acquire takes a resolution slot without waiting; release gives it back.
func (s *shedding) acquire() bool {
	select {
	case s.resolutions <- struct{}{}:
		return true
	default:
		s.noSlot.Inc()
		return false
	}
}

func (s *shedding) release() { <-s.resolutions }

// ownQuery reports whether client is the node itself asking local, the
// address a query arrived on: see the package comment above.
func ownQuery(client, local netip.Addr) bool {
	return client.IsLoopback() || (client.IsValid() && client == local.Unmap())
}

// overloaded is lookup's answer when no resolution slot is free: the stale
// answer if there is one (RFC 8767 allows it whenever resolving is not
// possible), else errOverloaded.
func (r *Resolver) overloaded(q dns.Question, k cacheKey) (answer, error) {
	if m, ok := r.cache.getStale(k); ok {
		r.cache.stale.Add(1)
		r.m.staleAnswers.Inc()
		m.Question = []dns.Question{q}
		return answer{msg: m, stale: true}, nil
	}
	return answer{}, fmt.Errorf("resolve %s: %w", q.Name, errOverloaded)
}
