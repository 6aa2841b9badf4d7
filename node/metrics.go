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

	"github.com/anycastd/anycastd/internal/control"
	"github.com/anycastd/anycastd/resolver"
)

// nodeMetrics exports the node's own state. Peer and check values are read
// at scrape time from their owners, so they cannot go stale. Labels name
// routers, prefixes and checks, never a client.
type nodeMetrics struct {
	n *Node

	state     *prometheus.Desc
	announced *prometheus.Desc
	peerUp    *prometheus.Desc
	checkUp   *prometheus.Desc
	drain     *prometheus.Desc

	mu         sync.Mutex // mu guards what follows
	announcedS []netip.Addr
}

func newNodeMetrics(n *Node) *nodeMetrics {
	return &nodeMetrics{
		n:         n,
		state:     prometheus.NewDesc("anycastd_node_state", "1 for the node's current lifecycle state.", []string{"state"}, nil),
		announced: prometheus.NewDesc("anycastd_route_announced", "1 if the service prefix is announced over BGP.", []string{"prefix"}, nil),
		peerUp:    prometheus.NewDesc("anycastd_bgp_peer_established", "1 if the BGP session to the peer is established.", []string{"peer"}, nil),
		checkUp:   prometheus.NewDesc("anycastd_health_check_healthy", "1 if the health check currently passes (after rise/fall).", []string{"check", "level"}, nil),
		drain:     prometheus.NewDesc("anycastd_drain_intent", "1 if an operator drained the node.", nil, nil),
	}
}

func (m *nodeMetrics) setAnnounced(a []netip.Addr) {
	m.mu.Lock()
	m.announcedS = append(m.announcedS[:0], a...)
	m.mu.Unlock()
}

func (m *nodeMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.state, m.announced, m.peerUp, m.checkUp, m.drain} {
		ch <- d
	}
}

func (m *nodeMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var state string
	var drain bool
	if err := m.n.do(ctx, func(l *loop) { state, drain = l.state, l.drainIntent }); err == nil {
		for _, s := range []string{control.StateStarting, control.StateWarming, control.StateAnnouncing, control.StateWithdrawn, control.StateDraining, control.StateDrained, control.StateStopping} {
			ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, b2f(s == state), s)
		}
		ch <- prometheus.MustNewConstMetric(m.drain, prometheus.GaugeValue, b2f(drain))
	}
	m.mu.Lock()
	on := map[netip.Addr]bool{}
	for _, a := range m.announcedS {
		on[a] = true
	}
	m.mu.Unlock()
	for _, a := range m.n.cfg.Service.Addresses {
		ch <- prometheus.MustNewConstMetric(m.announced, prometheus.GaugeValue, b2f(on[a]), hostPrefix(a).String())
	}
	if peers, err := m.n.speaker.Peers(ctx); err == nil {
		for _, p := range peers {
			ch <- prometheus.MustNewConstMetric(m.peerUp, prometheus.GaugeValue, b2f(p.State == "established"), p.Address.String())
		}
	}
	for _, c := range m.n.monitor.Snapshot() {
		ch <- prometheus.MustNewConstMetric(m.checkUp, prometheus.GaugeValue, b2f(c.Known && c.Healthy), c.Name, levelName(c.Level))
	}
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
