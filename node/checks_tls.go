package node

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycastd/anycastd/health"
	"github.com/anycastd/anycastd/resolver"
)

// Encrypted DNS (issue 8): building the listeners, their health checks,
// and SIGHUP. Every check here is Degrading: a certificate problem or a
// broken encrypted transport de-prefers the node, it never withdraws it,
// because plain DNS still answers and the same expired certificate is
// usually on every node at once.

// newEncrypted builds the encrypted listeners when tls.cert_file is set;
// nil otherwise.
func newEncrypted(cfg *Config, res *resolver.Resolver, log *slog.Logger, reg prometheus.Registerer) (*resolver.Encrypted, error) {
	if !cfg.TLS.Enabled() {
		return nil, nil
	}
	return resolver.NewEncrypted(res, cfg.resolverEncrypted(), log.With("component", "encrypted"), reg)
}

// tlsChecks are the certificate check and, per enabled transport, the
// canary through the first service address.
func (n *Node) tlsChecks() []health.Check {
	if n.encrypted == nil || len(n.cfg.Service.Addresses) == 0 {
		return nil
	}
	hc := n.cfg.Health
	mk := func(name string, probe func(context.Context) error) health.Check {
		return health.Check{Name: name, Level: health.Degrading, Interval: hc.Interval, Timeout: hc.Timeout, Rise: hc.Rise, Fall: hc.Fall, Probe: probe}
	}
	cs := []health.Check{mk("tls certificate", func(context.Context) error { return n.encrypted.CertProblem() })}
	qtype := dns.StringToType[hc.CanaryType]
	a := n.cfg.Service.Addresses[0]
	ec := n.cfg.resolverEncrypted()
	for _, t := range []struct {
		proto string
		on    bool
		port  uint16
	}{{"dot", ec.DoT, ec.DoTPort}, {"doh", ec.DoH, ec.DoHPort}, {"doh3", ec.DoH3, ec.DoHPort}, {"doq", ec.DoQ, ec.DoQPort}} {
		if !t.on {
			continue
		}
		target := netip.AddrPortFrom(a, t.port)
		c := mk("canary "+t.proto+" "+a.String(), func(ctx context.Context) error {
			n.canaryQueries.Add(1)
			return n.encrypted.Canary(ctx, t.proto, target, hc.CanaryName, qtype)
		})
		c.Interval = tlsCanaryInterval(hc)
		cs = append(cs, c)
	}
	return cs
}

// tlsCanaryInterval is how often each TLS canary runs: a full handshake on
// a new connection costs enough CPU that doing it every health interval
// showed in the node's own answer latency, so it has its own, longer
// interval (health.degrading.tls_canary_interval), never shorter than the
// health interval.
func tlsCanaryInterval(hc HealthConfig) time.Duration {
	return max(hc.Interval, hc.Degrading.TLSCanaryInterval)
}

// reloadOnSIGHUP reloads the certificate on every SIGHUP until ctx ends.
// A failed reload keeps the old certificate; the store logs and counts it.
func (n *Node) reloadOnSIGHUP(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			n.log.Info("SIGHUP: reloading the tls certificate")
			n.encrypted.Reload()
		}
	}
}
