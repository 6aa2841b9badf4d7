package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/anycastd/anycastd/bgp"
	"github.com/anycastd/anycastd/health"
	"github.com/anycastd/anycastd/internal/control"
)

// loop is the node's event loop. It alone owns the lifecycle state: every
// field below is read and written only on the loop's goroutine, and other
// goroutines reach it by sending a closure on Node.cmds.
type loop struct {
	n *Node

	state, reason string
	since         time.Time
	drainIntent   bool
	drainSince    time.Time
	stopping      bool
	announcedOnce bool
	announced     []netip.Addr
	setErr        error // last failure handing the routes to the speaker
}

func newLoop(n *Node, intent bool) *loop {
	l := &loop{n: n, state: control.StateStarting, reason: "starting", since: n.clock.Now(), drainIntent: intent}
	if intent {
		// A node drained before a restart stays out of rotation; the lame
		// duck is long over.
		l.drainSince = time.Time{}
		n.log.Warn("drain intent found in state_dir: staying drained until `anycastctl undrain`", "state_dir", n.cfg.Node.StateDir)
	}
	return l
}

func (l *loop) run(ctx context.Context, failed <-chan error) error {
	tick := time.NewTicker(l.tickEvery())
	defer tick.Stop()
	l.reconcile()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			l.n.log.Error("component stopped", "err", err)
			return err
		case <-l.n.monitor.Changes():
			l.reconcile()
		case f := <-l.n.cmds:
			f(l)
		case <-tick.C:
			// The watchdog is fed from here so that only a live event loop
			// keeps systemd from killing the process.
			l.n.notify("WATCHDOG=1")
			l.reconcile()
		}
	}
}

func (l *loop) tickEvery() time.Duration {
	d := time.Second
	if wd := l.n.watchdogInterval(); wd > 0 && wd/2 < d {
		d = wd / 2
	}
	return d
}

// view gathers the inputs of decide from the health monitor.
func (l *loop) view() view {
	n := l.n
	v := view{
		now: n.clock.Now(), stopping: l.stopping,
		drainIntent: l.drainIntent, drainSince: l.drainSince, lameDuck: n.cfg.Drain.LameDuck,
		addrs: n.cfg.Service.Addresses, healthy: map[netip.Addr]bool{}, known: true,
		announcedOnce: l.announcedOnce,
	}
	snap := n.monitor.Snapshot()
	for _, a := range v.addrs {
		v.healthy[a] = true
	}
	for _, s := range snap {
		if s.Level != health.Critical {
			continue
		}
		if !s.Known {
			v.known = false
		}
		for _, a := range v.addrs {
			if checkCovers(s.Name, a) && !(s.Known && s.Healthy) {
				v.healthy[a] = false
			}
		}
	}
	return v
}

// checkCovers reports whether the check named name is about address a
// ("address 192.0.2.53", "canary 192.0.2.53").
func checkCovers(name string, a netip.Addr) bool {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == ' ' {
			return name[i+1:] == a.String()
		}
	}
	return false
}

// reconcile decides the state and hands the speaker the full route set.
func (l *loop) reconcile() {
	d := decide(l.view())
	if d.state != l.state || d.reason != l.reason {
		l.n.log.Info("state", "state", d.state, "reason", d.reason, "from", l.state)
		if d.state != l.state {
			l.since = l.n.clock.Now()
		}
		l.state, l.reason = d.state, d.reason
		l.n.notify("STATUS=" + d.state + ": " + d.reason)
	}
	if len(d.announce) > 0 {
		l.announcedOnce = true
	}
	l.setRoutes(d.announce)
}

func (l *loop) setRoutes(addrs []netip.Addr) {
	routes := make([]bgp.Route, 0, len(addrs))
	for _, a := range addrs {
		routes = append(routes, bgp.Route{Prefix: hostPrefix(a)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.n.speaker.Set(ctx, routes)
	if err != nil {
		// Keep the old announced set: the next reconcile retries.
		if l.setErr == nil || l.setErr.Error() != err.Error() {
			l.n.log.Error("hand routes to bgp speaker", "err", err)
		}
		l.setErr = err
		return
	}
	l.setErr = nil
	if !slices.Equal(addrs, l.announced) {
		for _, a := range addrs {
			if !slices.Contains(l.announced, a) {
				l.n.log.Info("announce", "prefix", hostPrefix(a).String())
			}
		}
		for _, a := range l.announced {
			if !slices.Contains(addrs, a) {
				l.n.log.Info("withdraw", "prefix", hostPrefix(a).String())
			}
		}
		l.announced = slices.Clone(addrs)
	}
	l.n.metrics.setAnnounced(l.announced)
}

// drain persists the intent first, so a crash right after still comes back
// drained, then withdraws.
func (l *loop) drain() (control.Result, error) {
	if l.drainIntent {
		return control.Result{Changed: false, State: l.state, Message: "already " + l.state}, nil
	}
	if err := writeIntent(l.n.cfg.Node.StateDir, l.n.clock.Now()); err != nil {
		return control.Result{}, err
	}
	l.drainIntent = true
	l.drainSince = l.n.clock.Now()
	l.reconcile()
	return control.Result{Changed: true, State: l.state,
		Message: fmt.Sprintf("draining: routes withdrawn; listeners keep answering for %s while routers converge", l.n.cfg.Drain.LameDuck)}, nil
}

func (l *loop) undrain() (control.Result, error) {
	if !l.drainIntent {
		return control.Result{Changed: false, State: l.state, Message: "not drained (state " + l.state + ")"}, nil
	}
	if err := clearIntent(l.n.cfg.Node.StateDir); err != nil {
		return control.Result{}, err
	}
	l.drainIntent = false
	l.announcedOnce = false
	// Put back an address an operator may have removed while drained.
	if err := l.n.addrs.Apply(); err != nil {
		l.n.log.Error("configure service addresses on undrain", "err", err)
	}
	l.reconcile()
	return control.Result{Changed: true, State: l.state, Message: "undrained: routes return as soon as health checks pass (state " + l.state + ")"}, nil
}

// shutdown withdraws every route and, if the node was taking traffic,
// keeps answering for the lame-duck time so in-flight and late-routed
// queries are not dropped. It is the same order a drain uses.
func (l *loop) shutdown() error {
	wasServing := len(l.announced) > 0 || (l.drainIntent && l.n.clock.Now().Sub(l.drainSince) < l.n.cfg.Drain.LameDuck)
	l.n.notify("STOPPING=1")
	l.stopping = true
	l.reconcile()
	if l.setErr != nil {
		return l.setErr
	}
	if wasServing {
		wait := l.n.cfg.Drain.LameDuck
		if l.drainIntent && !l.drainSince.IsZero() {
			wait -= l.n.clock.Now().Sub(l.drainSince)
		}
		if wait > 0 {
			l.n.log.Info("lame duck: routes withdrawn, still answering", "for", wait.String())
			time.Sleep(wait)
		}
	}
	return nil
}

// do runs f on the event loop and waits for it.
func (n *Node) do(ctx context.Context, f func(*loop)) error {
	done := make(chan struct{})
	select {
	case n.cmds <- func(l *loop) { f(l); close(done) }:
	case <-ctx.Done():
		return fmt.Errorf("node is busy or shutting down: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
