package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/anycastd/anycastd/bgp"
	"github.com/anycastd/anycastd/internal/control"
	"github.com/anycastd/anycastd/resolver"
)

// nodeMetrics exports the node's own state. Peer and check values are read
// at scrape time from their owners, so they cannot go stale. Labels name
// routers, prefixes and checks, never a client.
type nodeMetrics struct {
	n *Node

	state      *prometheus.Desc
	announced  *prometheus.Desc
	peerUp     *prometheus.Desc
	checkUp    *prometheus.Desc
	drain      *prometheus.Desc
	guarded    *prometheus.Desc
	penalty    *prometheus.Desc
	flaps      *prometheus.Desc
	qps        *prometheus.Desc
	preference *prometheus.Desc
	malformed  *prometheus.Desc
	disabled   *prometheus.Desc

	mu         sync.Mutex // mu guards what follows
	announcedS map[netip.Addr]pref
}

func newNodeMetrics(n *Node) *nodeMetrics {
	return &nodeMetrics{
		n:          n,
		state:      prometheus.NewDesc("anycastd_node_state", "1 for the node's current lifecycle state.", []string{"state"}, nil),
		announced:  prometheus.NewDesc("anycastd_route_announced", "1 if the service prefix is announced over BGP.", []string{"prefix"}, nil),
		peerUp:     prometheus.NewDesc("anycastd_bgp_peer_established", "1 if the BGP session to the peer is established.", []string{"peer"}, nil),
		checkUp:    prometheus.NewDesc("anycastd_health_check_healthy", "1 if the health check currently passes (after rise/fall).", []string{"check", "level"}, nil),
		drain:      prometheus.NewDesc("anycastd_drain_intent", "1 if an operator drained the node.", nil, nil),
		guarded:    prometheus.NewDesc("anycastd_guarded_prefixes", "Service prefixes kept announced by the last-announcer guard although a critical check fails.", nil, nil),
		penalty:    prometheus.NewDesc("anycastd_damping_penalty", "Flap-damping penalty (decays with the half-life).", nil, nil),
		flaps:      prometheus.NewDesc("anycastd_health_withdrawals_total", "Health-driven withdrawals since start.", nil, nil),
		qps:        prometheus.NewDesc("anycastd_client_qps", "Client queries per second over the last second, canaries excluded.", nil, nil),
		preference: prometheus.NewDesc("anycastd_route_preference", "1 for the attribute set a service prefix is announced with.", []string{"prefix", "preference"}, nil),
		malformed:  prometheus.NewDesc("anycastd_bgp_malformed_total", "Messages from the peer not used as sent, by what was done: treat_as_withdraw, attribute_discard, afisafi_disable, session_reset, panic (recovered).", []string{"peer", "action"}, nil),
		disabled:   prometheus.NewDesc("anycastd_bgp_peer_disabled", "1 while the peer is disabled because its input kept resetting the session (bgp.faults).", []string{"peer"}, nil),
	}
}

func (m *nodeMetrics) setAnnounced(a map[netip.Addr]pref) {
	m.mu.Lock()
	m.announcedS = a
	m.mu.Unlock()
}

func (m *nodeMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.state, m.announced, m.peerUp, m.checkUp, m.drain, m.guarded, m.penalty, m.flaps, m.qps, m.preference, m.malformed, m.disabled} {
		ch <- d
	}
}

func (m *nodeMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var state string
	var drain bool
	var guarded int
	var penalty, qps float64
	var flaps int
	if err := m.n.do(ctx, func(l *loop) {
		state, drain, guarded, qps = l.state, l.drainIntent, len(l.guarded), l.rate.qps()
		penalty, _, flaps = l.damp.state(m.n.clock.Now())
	}); err == nil {
		ch <- prometheus.MustNewConstMetric(m.guarded, prometheus.GaugeValue, float64(guarded))
		ch <- prometheus.MustNewConstMetric(m.penalty, prometheus.GaugeValue, penalty)
		ch <- prometheus.MustNewConstMetric(m.flaps, prometheus.CounterValue, float64(flaps))
		ch <- prometheus.MustNewConstMetric(m.qps, prometheus.GaugeValue, qps)
		for _, s := range []string{control.StateStarting, control.StateWarming, control.StateAnnouncing, control.StateDegraded, control.StateGuarded, control.StateWithdrawn, control.StateDraining, control.StateDrained, control.StateStopping} {
			ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, b2f(s == state), s)
		}
		ch <- prometheus.MustNewConstMetric(m.drain, prometheus.GaugeValue, b2f(drain))
	}
	m.mu.Lock()
	on := m.announcedS
	m.mu.Unlock()
	for _, a := range m.n.cfg.Service.Addresses {
		p, ok := on[a]
		ch <- prometheus.MustNewConstMetric(m.announced, prometheus.GaugeValue, b2f(ok), hostPrefix(a).String())
		for _, level := range []pref{prefHealthy, prefDegraded, prefLowest} {
			ch <- prometheus.MustNewConstMetric(m.preference, prometheus.GaugeValue, b2f(ok && p == level), hostPrefix(a).String(), level.String())
		}
	}
	counts := malformedByPeer(m.n.speaker.MalformedCounts())
	if peers, err := m.n.speaker.Peers(ctx); err == nil {
		for _, p := range peers {
			// Every action of every peer, zeros included, so that rate()
			// sees the first malformed message.
			for _, a := range []string{bgp.ActionTreatAsWithdraw, bgp.ActionAttributeDiscard, bgp.ActionAfiSafiDisable, bgp.ActionSessionReset, bgp.ActionPanic} {
				ch <- prometheus.MustNewConstMetric(m.malformed, prometheus.CounterValue, float64(counts[p.Address][a]), p.Address.String(), a)
			}
			ch <- prometheus.MustNewConstMetric(m.peerUp, prometheus.GaugeValue, b2f(p.State == "established"), p.Address.String())
			ch <- prometheus.MustNewConstMetric(m.disabled, prometheus.GaugeValue, b2f(!p.DisabledUntil.IsZero()), p.Address.String())
		}
	}

	for _, c := range m.n.monitor.Snapshot() {
		ch <- prometheus.MustNewConstMetric(m.checkUp, prometheus.GaugeValue, b2f(c.Known && c.Healthy), c.Name, levelName(c.Level))
	}
}

// malformedByPeer indexes the speaker's malformed-input counters by peer
// and action, for status and metrics.
func malformedByPeer(cs []bgp.MalformedCount) map[netip.Addr]map[string]uint64 {
	out := map[netip.Addr]map[string]uint64{}
	for _, c := range cs {
		if out[c.Peer] == nil {
			out[c.Peer] = map[string]uint64{}
		}
		out[c.Peer][c.Action] = c.Count
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (n *Node) listenMetrics() (net.Listener, error) {
	l, err := net.Listen("tcp", n.cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", n.cfg.Metrics.Listen, err)
	}
	return l, nil
}

func (n *Node) serveMetrics(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func loadRootHints(path string) ([]netip.Addr, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("resolver.root_hints: %w", err)
	}
	defer f.Close()
	h, err := resolver.ParseRootHints(f)
	if err != nil {
		return nil, fmt.Errorf("resolver.root_hints %s: %w", path, err)
	}
	return h, nil
}
