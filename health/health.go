// Package health runs named checks on their own intervals and decides, with
// rise/fall hysteresis, whether each one is healthy. It knows nothing of BGP
// or DNS: a probe is a plain function, and the node decides what a change
// means (withdraw, de-prefer, nothing).
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// Level says what a failing check means for the node.
type Level int

const (
	// Critical checks gate the announcement: the node withdraws when one is
	// unhealthy. It is the zero value so that a check nobody classified
	// errs on the side of withdrawing.
	Critical Level = iota
	// Degrading checks only de-prefer the routes (MED, prepends).
	Degrading
)

// String returns "critical" or "degrading".
func (l Level) String() string {
	switch l {
	case Critical:
		return "critical"
	case Degrading:
		return "degrading"
	default:
		return fmt.Sprintf("level(%d)", int(l))
	}
}

// Check is one named probe with its schedule and thresholds.
type Check struct {
	Name     string
	Level    Level
	Interval time.Duration // time between probe starts; the first run is immediate
	Timeout  time.Duration // per probe; 0 means Interval
	Rise     int           // consecutive successes to become healthy
	Fall     int           // consecutive failures to become unhealthy
	// Probe returns nil when the check passes. It must honour ctx: a probe
	// that outlives its Timeout counts as failed, and the check is not
	// probed again until the late probe has returned.
	Probe func(ctx context.Context) error
}

// Status is the state of one check at a point in time.
type Status struct {
	Name       string
	Level      Level
	Healthy    bool
	Known      bool      // false until the first Rise or Fall threshold is met
	LastErr    string    // error of the last probe; "" after a success
	LastRun    time.Time // when the last probe result was recorded
	LastChange time.Time // when Healthy or Known last changed
	Successes  int       // current streak of successes
	Failures   int       // current streak of failures
}

// Monitor runs a fixed set of checks. Create it with New, then call Run once.
type Monitor struct {
	clock  Clock
	log    *slog.Logger
	checks []Check
	out    chan Status
	wake   chan struct{} // capacity 1: tells the forwarder that pending grew

	mu      sync.Mutex // guards what follows
	started bool
	status  []Status // in config order, parallel to checks
	pending []int    // checks with an undelivered change, oldest first
	queued  []bool   // queued[i] reports whether i is in pending
}

// New returns a Monitor for checks, in that order. It starts nothing; the
// checks are validated by Run. A nil clock means RealClock and a nil log
// discards.
func New(clock Clock, log *slog.Logger, checks ...Check) *Monitor {
	if clock == nil {
		clock = RealClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{
		clock:  clock,
		log:    log,
		checks: make([]Check, len(checks)),
		out:    make(chan Status),
		wake:   make(chan struct{}, 1),
		status: make([]Status, len(checks)),
		queued: make([]bool, len(checks)),
	}
	for i, c := range checks {
		if c.Timeout == 0 {
			c.Timeout = c.Interval
		}
		m.checks[i] = c
		m.status[i] = Status{Name: c.Name, Level: c.Level}
	}
	return m
}

func (m *Monitor) validate() error {
	var errs []error
	seen := make(map[string]bool)
	for i, c := range m.checks {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i)
			errs = append(errs, fmt.Errorf("health: check %s: name is empty", name))
		} else if seen[name] {
			errs = append(errs, fmt.Errorf("health: check %q: name used twice", name))
		}
		seen[name] = true
		if c.Level != Critical && c.Level != Degrading {
			errs = append(errs, fmt.Errorf("health: check %q: unknown level %d", name, int(c.Level)))
		}
		if c.Interval <= 0 {
			errs = append(errs, fmt.Errorf("health: check %q: interval must be positive, got %s", name, c.Interval))
		}
		if c.Timeout < 0 {
			errs = append(errs, fmt.Errorf("health: check %q: timeout must not be negative, got %s", name, c.Timeout))
		}
		if c.Rise < 1 || c.Fall < 1 {
			errs = append(errs, fmt.Errorf("health: check %q: rise and fall must be at least 1, got %d and %d", name, c.Rise, c.Fall))
		}
		if c.Probe == nil {
			errs = append(errs, fmt.Errorf("health: check %q: probe is nil", name))
		}
	}
	return errors.Join(errs...)
}

// Run probes every check on its interval, the first time immediately, until
// ctx is done. It returns an error at once if a check is invalid or Run was
// already called, and nil after ctx is done. When Run returns, Changes is
// closed. Run does not wait for a probe that ignores its context.
func (m *Monitor) Run(ctx context.Context) error {
	if err := m.validate(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("health: Run called twice")
	}
	m.started = true
	m.mu.Unlock()

	defer close(m.out)
	var wg sync.WaitGroup
	for i := range m.checks {
		wg.Go(func() { m.runCheck(ctx, i) })
	}
	wg.Go(func() { m.forward(ctx) })
	wg.Wait()
	return nil
}

// Changes delivers the Status of a check whose Healthy or Known changed.
//
// Delivery policy: the Monitor holds at most one undelivered change per
// check and never blocks a probe on the reader. If a check changes again
// before the reader took the previous change, the reader gets only the
// latest state of that check (so a quick unhealthy-healthy flap may arrive
// as a single Status equal to the one before; LastChange still moved).
// Checks are delivered in the order their first undelivered change happened.
// The reader therefore always converges on the current state of every
// check. The channel is closed when Run returns.
func (m *Monitor) Changes() <-chan Status { return m.out }

// Snapshot returns the status of every check, in the order given to New.
func (m *Monitor) Snapshot() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Status(nil), m.status...)
}

// Healthy reports whether every Critical check is Known and Healthy.
// With no Critical checks it reports true.
func (m *Monitor) Healthy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.status {
		if s.Level == Critical && !(s.Known && s.Healthy) {
			return false
		}
	}
	return true
}

func (m *Monitor) runCheck(ctx context.Context, i int) {
	c := m.checks[i]
	t := m.clock.NewTicker(c.Interval)
	defer t.Stop()
	var late chan error // result of a probe that outlived its timeout, while it runs
	for {
		err, ok := m.probe(ctx, c, &late)
		if !ok {
			return
		}
		m.record(i, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// probe runs c.Probe once with its timeout. ok is false when ctx ended
// during the probe, whose result then means nothing.
func (m *Monitor) probe(ctx context.Context, c Check, late *chan error) (err error, ok bool) {
	if *late != nil {
		select {
		case <-*late:
			*late = nil
		default:
			// Starting another probe would pile up goroutines behind one
			// that ignores its context.
			return errors.New("previous probe still running after its timeout; the probe must honour its context"), true
		}
	}
	pctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	done := make(chan error, 1) // buffered: a late probe must be able to finish
	go func() {
		defer func() {
			if r := recover(); r != nil {
				m.log.Error("health probe panicked", "check", c.Name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				done <- fmt.Errorf("probe panicked: %v", r)
			}
		}()
		done <- c.Probe(pctx)
	}()
	select {
	case err := <-done:
		if ctx.Err() != nil {
			return nil, false
		}
		if err != nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("probe timed out after %s: %w", c.Timeout, err)
		}
		return err, true
	case <-pctx.Done():
		if ctx.Err() != nil {
			return nil, false
		}
		*late = done
		return fmt.Errorf("probe timed out after %s", c.Timeout), true
	}
}

// record applies one probe result to check i.
func (m *Monitor) record(i int, err error) {
	now := m.clock.Now()
	c := m.checks[i]

	m.mu.Lock()
	s := &m.status[i]
	before := *s
	s.LastRun = now
	if err == nil {
		s.LastErr = ""
		s.Successes++
		s.Failures = 0
		if !s.Healthy && s.Successes >= c.Rise {
			s.Healthy, s.Known = true, true
		}
	} else {
		s.LastErr = err.Error()
		s.Failures++
		s.Successes = 0
		if (s.Healthy || !s.Known) && s.Failures >= c.Fall {
			s.Healthy, s.Known = false, true
		}
	}
	changed := s.Healthy != before.Healthy || s.Known != before.Known
	if changed {
		s.LastChange = now
		if !m.queued[i] {
			m.queued[i] = true
			m.pending = append(m.pending, i)
		}
	}
	after := *s
	m.mu.Unlock()

	if !changed {
		if err != nil {
			m.log.Debug("health probe failed", "check", c.Name, "failures", after.Failures, "err", err)
		}
		return
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
	if after.Healthy {
		m.log.Info("health check changed", "check", c.Name, "level", c.Level.String(), "state", "healthy")
	} else {
		m.log.Warn("health check changed", "check", c.Name, "level", c.Level.String(), "state", "unhealthy", "err", err)
	}
}

// forward hands pending changes to the reader of Changes, one at a time,
// taking each check's state at the moment it is handed over.
func (m *Monitor) forward(ctx context.Context) {
	for {
		m.mu.Lock()
		if len(m.pending) == 0 {
			m.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-m.wake:
				continue
			}
		}
		i := m.pending[0]
		m.pending = m.pending[1:]
		m.queued[i] = false
		s := m.status[i]
		m.mu.Unlock()

		select {
		case m.out <- s:
		case <-ctx.Done():
			return
		}
	}
}
