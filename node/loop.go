package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/anycastd/anycastd/bgp"
	"github.com/anycastd/anycastd/health"
	"github.com/anycastd/anycastd/internal/control"
)

// tickEvery is how often the loop measures the query rate, advances a drain
// and feeds the watchdog.
const tickEvery = 250 * time.Millisecond

// loop is the node's event loop. It alone owns the lifecycle state: every
// field below is read and written only on the loop's goroutine, and other
// goroutines reach it by sending a closure on Node.cmds.
type loop struct {
	n    *Node
	pol  policy
	damp *damper
	rate rateMeter

	state, reason string
	since         time.Time
	drainIntent   bool      // the operator's, persisted in state_dir
	drain         *drainRun // a drain or shutdown in progress
	stopping      bool      // the end: everything withdrawn
	announcedOnce bool
	announced     map[netip.Addr]pref
	guarded       []netip.Addr
	holdUntil     time.Time // jittered rise after a withdrawal
	setErr        error     // last failure handing the routes to the speaker
}

// drainRun is one drain, by the operator or by shutdown: the same steps.
type drainRun struct {
	why         string // "operator" or "shutdown"
	phase       drainPhase
	started     time.Time
	withdrawnAt time.Time
	quietSince  time.Time // rate below the threshold since
}

func newLoop(n *Node, intent bool) *loop {
	l := &loop{
		n: n, pol: n.policy, damp: newDamper(n.policy.Damping),
		state: control.StateStarting, reason: "starting", since: n.clock.Now(),
		drainIntent: intent, announced: map[netip.Addr]pref{},
	}
	if intent {
		// A node drained before a restart stays out of rotation; there is
		// nothing to taper.
		l.drain = &drainRun{why: "operator", phase: drainDone, started: n.clock.Now()}
		n.log.Warn("drain intent found in state_dir: staying drained until `anycastctl undrain`", "state_dir", n.cfg.Node.StateDir)
	}
	return l
}

// run serves events until ctx is done and the shutdown drain has finished,
// or a component fails.
func (l *loop) run(ctx context.Context, failed <-chan error) error {
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	l.rate.sample(l.n.clock.Now(), l.n.clientQueries())
	l.reconcile()
	done := ctx.Done()
	for {
		select {
		case <-done:
			done = nil
			l.beginShutdown()
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
			l.tick()
		}
		if done == nil && (l.drain == nil || l.drain.phase == drainDone) {
			return ctx.Err()
		}
	}
}

func (l *loop) tick() {
	now := l.n.clock.Now()
	l.rate.sample(now, l.n.clientQueries())
	if l.drain != nil {
		l.advanceDrain(now)
	}
	l.reconcile()
}

// advanceDrain moves a drain on: taper until the rate falls or the deadline
// passes, withdraw, then lame duck until quiet or the lame-duck time passes.
func (l *loop) advanceDrain(now time.Time) {
	d := l.drain
	qps := l.rate.qps()
	quiet := qps <= l.pol.MinQPS
	if !quiet {
		d.quietSince = time.Time{}
	} else if d.quietSince.IsZero() {
		d.quietSince = now
	}
	switch d.phase {
	case drainTaper:
		deadline := now.Sub(d.started) >= l.pol.Timeout
		if len(l.announced) == 0 || (quiet && now.Sub(d.quietSince) >= l.pol.IdleAfter) || deadline {
			why := "query rate below threshold"
			if deadline {
				why = "drain.timeout reached"
			}
			l.n.log.Info("drain: withdrawing", "reason", why, "qps", fmt.Sprintf("%.1f", qps), "after", now.Sub(d.started).Round(time.Millisecond).String())
			d.phase, d.withdrawnAt, d.quietSince = drainLameDuck, now, time.Time{}
		}
	case drainLameDuck:
		if (quiet && !d.quietSince.IsZero() && now.Sub(d.quietSince) >= l.pol.IdleAfter) || now.Sub(d.withdrawnAt) >= l.pol.LameDuck {
			l.n.log.Info("drain: done", "after", now.Sub(d.started).Round(time.Millisecond).String())
			d.phase = drainDone
		}
	}
}

func (l *loop) beginShutdown() {
	l.n.notify("STOPPING=1")
	if l.drain != nil {
		return // an operator drain is already taking the routes away
	}
	l.n.log.Info("shutdown: draining before closing")
	l.drain = &drainRun{why: "shutdown", phase: drainTaper, started: l.n.clock.Now()}
	l.reconcile()
}

// view gathers the inputs of decide.
func (l *loop) view(now time.Time) view {
	n := l.n
	v := view{
		stopping:    l.stopping,
		drainIntent: l.drain != nil,
		addrs:       n.cfg.Service.Addresses, healthy: map[netip.Addr]bool{}, known: true,
		announced: map[netip.Addr]bool{}, announcedOnce: l.announcedOnce,
		guard: l.pol.Guard, others: map[netip.Addr]int{},
	}
	if l.drain != nil {
		v.drainPhase = l.drain.phase
	}
	for a := range l.announced {
		v.announced[a] = true
	}
	for _, a := range v.addrs {
		v.healthy[a] = true
	}
	for _, s := range n.monitor.Snapshot() {
		if !s.Known {
			v.known = false
		}
		if s.Level == health.Degrading {
			if s.Known && !s.Healthy {
				v.degraded = append(v.degraded, s.Name)
			}
			continue
		}
		for _, a := range v.addrs {
			if checkCovers(s.Name, a) && !(s.Known && s.Healthy) {
				v.healthy[a] = false
			}
		}
	}
	// Only a withdrawal needs to know who else announces; ask then.
	for _, a := range v.addrs {
		if v.announced[a] && (!v.healthy[a] || v.drainIntent) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c, err := n.speaker.OtherAnnouncers(ctx, hostPrefix(a))
			cancel()
			if err == nil {
				v.others[a] = c
			}
		}
	}
	v.mayAnnounce, v.dampedWhy = true, ""
	if l.announcedOnce {
		if now.Before(l.holdUntil) {
			v.mayAnnounce, v.dampedWhy = false, "rise jitter, "+l.holdUntil.Sub(now).Round(100*time.Millisecond).String()+" left"
		} else {
			v.mayAnnounce, v.dampedWhy = l.damp.mayAnnounce(now)
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
	now := l.n.clock.Now()
	d := decide(l.view(now))
	if d.state != l.state || d.reason != l.reason {
		l.n.log.Info("state", "state", d.state, "reason", d.reason, "from", l.state)
		if d.state != l.state {
			l.since = now
		}
		l.state, l.reason = d.state, d.reason
		l.n.notify("STATUS=" + d.state + ": " + d.reason)
	}
	if len(d.guarded) > 0 && !slices.Equal(d.guarded, l.guarded) {
		l.n.log.Warn("last-announcer guard: a critical check fails but no other node announces the service; staying announced at the lowest preference",
			"prefix", joinAddrs(d.guarded))
	}
	l.guarded = d.guarded
	if l.drain == nil && !l.stopping {
		l.account(now, d)
	}
	if len(d.announce) > 0 {
		l.announcedOnce = true
	}
	l.setRoutes(d.announce)
}

// account feeds health-driven withdrawals and re-announcements to the
// damper; drains and shutdown are the operator's and do not count.
func (l *loop) account(now time.Time, d decision) {
	lost, gained := false, false
	for a := range l.announced {
		if _, ok := d.announce[a]; !ok {
			lost = true
		}
	}
	for a := range d.announce {
		if _, ok := l.announced[a]; !ok && l.announcedOnce {
			gained = true
		}
	}
	if lost {
		l.damp.withdrawn(now)
		if l.pol.RiseJitter > 0 {
			l.holdUntil = now.Add(rand.N(l.pol.RiseJitter))
		}
	}
	if gained {
		l.damp.announced(now)
	}
}

func (l *loop) setRoutes(want map[netip.Addr]pref) {
	routes := make([]bgp.Route, 0, len(want))
	for _, a := range l.n.cfg.Service.Addresses {
		if p, ok := want[a]; ok {
			routes = append(routes, l.pol.route(routeAddr{a, p}))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.n.speaker.Set(ctx, routes); err != nil {
		// Keep the old announced set: the next reconcile retries.
		if l.setErr == nil || l.setErr.Error() != err.Error() {
			l.n.log.Error("hand routes to bgp speaker", "err", err)
		}
		l.setErr = err
		return
	}
	l.setErr = nil
	for a, p := range want {
		if old, ok := l.announced[a]; !ok || old != p {
			l.n.log.Info("announce", "prefix", hostPrefix(a).String(), "preference", p.String())
		}
	}
	for a := range l.announced {
		if _, ok := want[a]; !ok {
			l.n.log.Info("withdraw", "prefix", hostPrefix(a).String())
		}
	}
	l.announced = want
	l.n.metrics.setAnnounced(want)
}

// lastAnnouncer lists announced prefixes no other node is seen announcing.
func (l *loop) lastAnnouncer() []netip.Addr {
	var last []netip.Addr
	for _, a := range l.n.cfg.Service.Addresses {
		if _, ok := l.announced[a]; !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := l.n.speaker.OtherAnnouncers(ctx, hostPrefix(a))
		cancel()
		if err == nil && c == 0 {
			last = append(last, a)
		}
	}
	return last
}

// drainCmd persists the intent first, so a crash right after still comes
// back drained, then starts the taper.
func (l *loop) drainCmd(force bool) (control.Result, error) {
	if l.drainIntent {
		return control.Result{Changed: false, State: l.state, Message: "already " + l.state}, nil
	}
	if last := l.lastAnnouncer(); len(last) > 0 && !force {
		return control.Result{}, fmt.Errorf("%s: this node is the last announcer of %s that its routers show; draining it takes the service down there. Use `anycastctl drain --force` to drain anyway: %w",
			l.n.cfg.Node.Name, joinAddrs(last), control.ErrLastAnnouncer)
	}
	if err := writeIntent(l.n.cfg.Node.StateDir, l.n.clock.Now()); err != nil {
		return control.Result{}, err
	}
	l.drainIntent = true
	if l.drain == nil {
		l.drain = &drainRun{why: "operator", phase: drainTaper, started: l.n.clock.Now()}
	}
	l.reconcile()
	return control.Result{Changed: true, State: l.state,
		Message: fmt.Sprintf("draining: routes re-announced with GRACEFUL_SHUTDOWN; withdrawn when client queries fall to %.0f/s or after %s, then lame duck up to %s",
			l.pol.MinQPS, l.pol.Timeout, l.pol.LameDuck)}, nil
}

func (l *loop) undrainCmd() (control.Result, error) {
	if !l.drainIntent {
		return control.Result{Changed: false, State: l.state, Message: "not drained (state " + l.state + ")"}, nil
	}
	if err := clearIntent(l.n.cfg.Node.StateDir); err != nil {
		return control.Result{}, err
	}
	l.drainIntent = false
	l.drain = nil
	l.announcedOnce = false
	l.holdUntil = time.Time{}
	// Put back an address an operator may have removed while drained.
	if err := l.n.addrs.Apply(); err != nil {
		l.n.log.Error("configure service addresses on undrain", "err", err)
	}
	l.reconcile()
	return control.Result{Changed: true, State: l.state, Message: "undrained: routes return as soon as health checks pass (state " + l.state + ")"}, nil
}

// withdrawAll is the last step of shutdown (or a failure): no routes.
func (l *loop) withdrawAll() error {
	l.stopping = true
	l.reconcile()
	return l.setErr
}

// progress is the drain part of the status.
func (l *loop) progress(now time.Time) *control.DrainProgress {
	if l.drain == nil {
		return nil
	}
	d := l.drain
	p := &control.DrainProgress{
		Reason: d.why, Phase: [...]string{"taper", "lame duck", "done"}[d.phase],
		Started: d.started, QPS: l.rate.qps(), MinQPS: l.pol.MinQPS,
	}
	switch d.phase {
	case drainTaper:
		p.Deadline = d.started.Add(l.pol.Timeout)
	case drainLameDuck:
		p.Deadline = d.withdrawnAt.Add(l.pol.LameDuck)
	}
	return p
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

// rateMeter turns the client query counter into a rate over the last
// second or so.
type rateMeter struct {
	samples []rateSample
}

type rateSample struct {
	at    time.Time
	count uint64
}

func (r *rateMeter) sample(now time.Time, count uint64) {
	r.samples = append(r.samples, rateSample{now, count})
	// Keep a little over one second of samples.
	for len(r.samples) > 2 && now.Sub(r.samples[1].at) >= time.Second {
		r.samples = r.samples[1:]
	}
}

func (r *rateMeter) qps() float64 {
	if len(r.samples) < 2 {
		return 0
	}
	a, b := r.samples[0], r.samples[len(r.samples)-1]
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 || b.count < a.count {
		return 0
	}
	return float64(b.count-a.count) / dt
}
