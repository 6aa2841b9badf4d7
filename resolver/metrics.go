package resolver

import (
	"fmt"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the resolver's collectors. They exist even without a
// Registerer so the hot path never checks for nil.
type metrics struct {
	queries      *prometheus.CounterVec // proto, qtype, rcode
	cacheHits    prometheus.Counter
	cacheMisses  prometheus.Counter
	upstream     *prometheus.CounterVec // proto
	upstreamUDP  prometheus.Counter     // upstream{proto="udp"}, looked up once: it is on every cold query
	upstreamTCP  prometheus.Counter     // upstream{proto="tcp"}
	cacheBytesFn prometheus.Collector
	staleAnswers prometheus.Counter
	prefetches   prometheus.Counter
	tcpRejected  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, cacheBytes func() float64) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anycastd_queries_total",
			Help: "Client queries answered, by transport, query type and response code.",
		}, []string{"proto", "qtype", "rcode"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anycastd_cache_hits_total",
			Help: "Client questions answered from the cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anycastd_cache_misses_total",
			Help: "Client questions not found in the cache.",
		}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anycastd_upstream_queries_total",
			Help: "Queries sent to authoritative servers, by transport.",
		}, []string{"proto"}),
		cacheBytesFn: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "anycastd_cache_bytes",
			Help: "Approximate bytes held by the cache (the weight that cache_bytes bounds).",
		}, cacheBytes),
		staleAnswers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anycastd_cache_stale_answers_total",
			Help: "Client questions answered from expired entries (RFC 8767 serve-stale).",
		}),
		prefetches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anycastd_cache_prefetches_total",
			Help: "Cache entries refreshed in the background before they expired.",
		}),
		tcpRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anycastd_tcp_connections_rejected_total",
			Help: "Client TCP connections closed at once because max_tcp_connections were open.",
		}),
	}
	m.upstreamUDP = m.upstream.WithLabelValues("udp")
	m.upstreamTCP = m.upstream.WithLabelValues("tcp")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.queries, m.cacheHits, m.cacheMisses, m.upstream, m.cacheBytesFn, m.staleAnswers, m.prefetches, m.tcpRejected} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register resolver metrics: %w", err)
		}
	}
	return m, nil
}

// qtypeLabel keeps the qtype label's cardinality bounded: a client choosing
// random type numbers must not grow the metric without limit.
func qtypeLabel(t uint16) string {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeMX, dns.TypeNS,
		dns.TypePTR, dns.TypeSOA, dns.TypeSRV, dns.TypeTXT, dns.TypeDS,
		dns.TypeDNSKEY, dns.TypeHTTPS, dns.TypeSVCB, dns.TypeCAA, dns.TypeANY,
		dns.TypeNAPTR, dns.TypeTLSA:
		return dns.TypeToString[t]
	}
	return "other"
}

func rcodeLabel(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return "other"
}
