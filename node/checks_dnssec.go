package node

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/anycastd/anycastd/health"
	"github.com/anycastd/anycastd/resolver"
)

// The DNSSEC degrading checks (issue 4). A validation failure of a
// known-good name, or a known-bad name that passes, is the same on every
// node that shares the trust anchor and the time, so these de-prefer and
// never withdraw: a broken canary zone must not take the fleet down.

// Signature-time failures (EDE 7 expired, 8 not yet valid) in one interval
// that make the node suspect its own clock: at least this many, and at
// least this share of all bogus answers. A few zones with expired
// signatures are normal on a public resolver; most failures being about
// time is not.
const (
	sigTimeMin   = 20
	sigTimeShare = 0.5
)

// dnssecChecks builds the enabled DNSSEC checks: the good and bad canaries
// through the first service address, and the signature-time check when the
// clock check is on and the resolver validates.
func (n *Node) dnssecChecks() []health.Check {
	hc := n.cfg.Health
	dg := hc.Degrading
	mk := func(name string, probe func(context.Context) error) health.Check {
		return health.Check{Name: name, Level: health.Degrading, Interval: hc.Interval, Timeout: hc.Timeout, Rise: hc.Rise, Fall: hc.Fall, Probe: probe}
	}
	if !n.cfg.Resolver.DNSSEC || len(n.cfg.Service.Addresses) == 0 {
		return nil
	}
	target := netip.AddrPortFrom(n.cfg.Service.Addresses[0], n.cfg.Service.Port)
	var cs []health.Check
	if dg.DNSSECGood != "" {
		cs = append(cs, mk("dnssec good", func(ctx context.Context) error {
			n.canaryQueries.Add(1)
			return resolver.DNSSECCanary(ctx, target, dg.DNSSECGood, true)
		}))
	}
	if dg.DNSSECBad != "" {
		cs = append(cs, mk("dnssec bad", func(ctx context.Context) error {
			n.canaryQueries.Add(1)
			return resolver.DNSSECCanary(ctx, target, dg.DNSSECBad, false)
		}))
	}
	if dg.Clock {
		var cd counterDelta
		cs = append(cs, mk("dnssec signature time", func(context.Context) error {
			return signatureTimeVerdict(cd.delta(bogusSums(n.resolver.Counters())))
		}))
	}
	return cs
}

// signatureTimeVerdict judges one interval's bogus answers by EDE code.
func signatureTimeVerdict(d map[string]float64, primed bool) error {
	if !primed {
		return nil
	}
	var total float64
	for _, v := range d {
		total += v
	}
	timed := d["7"] + d["8"]
	if timed < sigTimeMin || timed < sigTimeShare*total {
		return nil
	}
	return fmt.Errorf("%.0f of %.0f bogus answers in the last interval failed on signature times (%.0f expired, %.0f not yet valid): this node's clock is probably wrong; check NTP",
		timed, total, d["7"], d["8"])
}
