package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var quiet = slog.New(slog.DiscardHandler)

// start runs m in the current bubble and stops it at cleanup, checking that
// Run returned nil and closed Changes.
func start(t *testing.T, m *Monitor) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// scripted returns a probe that plays outcomes ('+' pass, '-' fail), one per
// call, and passes once the script is exhausted.
func scripted(outcomes string) func(context.Context) error {
	var n atomic.Int64
	return func(context.Context) error {
		i := int(n.Add(1) - 1)
		if i < len(outcomes) && outcomes[i] == '-' {
			return fmt.Errorf("scripted failure %d", i)
		}
		return nil
	}
}

// state renders a Status as 'u' (unknown), 'H' (healthy) or 'D' (down).
func state(s Status) byte {
	switch {
	case !s.Known:
		return 'u'
	case s.Healthy:
		return 'H'
	default:
		return 'D'
	}
}

func TestRiseFall(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		outcomes   string // one probe per interval
		want       string // state after each probe
	}{
		{"rise after three successes", 3, 2, "+++++", "uuHHH"},
		{"rise of one", 1, 1, "+", "H"},
		{"unknown to down after fall failures", 3, 2, "--", "uD"},
		{"healthy to down", 1, 2, "+--", "HHD"},
		{"flapping below fall stays healthy", 3, 2, "+++-+-+-+", "uuHHHHHHH"},
		{"flapping below rise stays down", 3, 2, "--++-++-++", "uDDDDDDDDD"},
		{"recovery needs rise again", 2, 2, "++--+-++", "uHHDDDDH"},
		{"streak reset by one failure before rise", 3, 3, "++-+++", "uuuuuH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const interval = time.Second
				m := New(RealClock{}, quiet, Check{
					Name: "canary", Interval: interval, Rise: tt.rise, Fall: tt.fall,
					Probe: scripted(tt.outcomes),
				})
				var mu sync.Mutex
				var got []Status
				start(t, m)
				go func() {
					for s := range m.Changes() {
						mu.Lock()
						got = append(got, s)
						mu.Unlock()
					}
				}()

				var states []byte
				var wantChanges []byte
				prev := byte('u')
				for i := range tt.want {
					if i > 0 {
						time.Sleep(interval)
					}
					synctest.Wait()
					s := m.Snapshot()[0]
					states = append(states, state(s))
					if tt.want[i] != prev {
						wantChanges = append(wantChanges, tt.want[i])
						prev = tt.want[i]
					}
				}
				if string(states) != tt.want {
					t.Errorf("states = %s, want %s", states, tt.want)
				}

				mu.Lock()
				defer mu.Unlock()
				var gotChanges []byte
				for _, s := range got {
					gotChanges = append(gotChanges, state(s))
				}
				if string(gotChanges) != string(wantChanges) {
					t.Errorf("changes = %s, want %s", gotChanges, wantChanges)
				}
			})
		})
	}
}

func TestStreaksAndErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		m := New(RealClock{}, quiet, Check{
			Name: "canary", Interval: time.Second, Rise: 2, Fall: 3,
			Probe: scripted("++--"),
		})
		start(t, m)
		time.Sleep(3 * time.Second) // four probes: t=0,1,2,3
		synctest.Wait()
		s := m.Snapshot()[0]
		want := Status{
			Name: "canary", Level: Critical, Healthy: true, Known: true,
			LastErr:    "scripted failure 3",
			LastRun:    t0.Add(3 * time.Second),
			LastChange: t0.Add(time.Second),
			Failures:   2,
		}
		if s != want {
			t.Errorf("status\n got %+v\nwant %+v", s, want)
		}
		time.Sleep(time.Second) // success clears the error and the failure streak
		synctest.Wait()
		s = m.Snapshot()[0]
		if s.LastErr != "" || s.Failures != 0 || s.Successes != 1 {
			t.Errorf("after success: LastErr=%q Failures=%d Successes=%d", s.LastErr, s.Failures, s.Successes)
		}
	})
}

func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		m := New(RealClock{}, quiet, Check{
			Name: "slow", Interval: time.Second, Timeout: 200 * time.Millisecond, Rise: 1, Fall: 1,
			Probe: func(ctx context.Context) error {
				if calls.Add(1) == 1 {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			},
		})
		start(t, m)
		synctest.Wait()
		if s := m.Snapshot()[0]; s.Known {
			t.Fatalf("decided before the timeout: %+v", s)
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		s := m.Snapshot()[0]
		if !s.Known || s.Healthy || !strings.Contains(s.LastErr, "timed out after 200ms") {
			t.Errorf("after timeout: %+v", s)
		}
		time.Sleep(800 * time.Millisecond)
		synctest.Wait()
		if s := m.Snapshot()[0]; !s.Healthy {
			t.Errorf("second probe passes, status %+v", s)
		}
	})
}

// A probe that ignores its context is abandoned at the timeout, and the
// check is not probed again (each run failing) until the late probe returns.
func TestProbeIgnoringContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		m := New(RealClock{}, quiet, Check{
			Name: "stubborn", Interval: time.Second, Timeout: 200 * time.Millisecond, Rise: 1, Fall: 1,
			Probe: func(context.Context) error {
				if calls.Add(1) == 1 {
					time.Sleep(2500 * time.Millisecond)
				}
				return nil
			},
		})
		start(t, m)
		steps := []struct {
			at      time.Duration
			wantErr string // substring; "" means healthy
		}{
			{200 * time.Millisecond, "timed out after 200ms"},
			{time.Second, "previous probe still running"},
			{2 * time.Second, "previous probe still running"},
			{3 * time.Second, ""},
		}
		t0 := time.Now()
		for _, st := range steps {
			time.Sleep(t0.Add(st.at).Sub(time.Now()))
			synctest.Wait()
			s := m.Snapshot()[0]
			if st.wantErr == "" {
				if !s.Healthy || s.LastErr != "" {
					t.Errorf("at %s: want healthy, got %+v", st.at, s)
				}
			} else if s.Healthy || !strings.Contains(s.LastErr, st.wantErr) {
				t.Errorf("at %s: want error containing %q, got %+v", st.at, st.wantErr, s)
			}
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("probe called %d times, want 2", n)
		}
	})
}

func TestPanicIsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(RealClock{}, quiet, Check{
			Name: "buggy", Interval: time.Second, Rise: 1, Fall: 1,
			Probe: func(context.Context) error { panic("boom") },
		})
		start(t, m)
		synctest.Wait()
		s := m.Snapshot()[0]
		if !s.Known || s.Healthy || s.LastErr != "probe panicked: boom" {
			t.Errorf("status %+v", s)
		}
	})
}

func TestSnapshotAndHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var addrFail atomic.Bool
		m := New(RealClock{}, quiet,
			Check{Name: "address", Interval: time.Second, Rise: 1, Fall: 1, Probe: func(context.Context) error {
				if addrFail.Load() {
					return errors.New("address missing")
				}
				return nil
			}},
			Check{Name: "upstreams", Level: Degrading, Interval: 2 * time.Second, Rise: 1, Fall: 1, Probe: scripted("-")},
			Check{Name: "canary", Interval: time.Second, Rise: 2, Fall: 1, Probe: scripted("")},
		)
		if m.Healthy() {
			t.Error("Healthy before any probe")
		}
		start(t, m)
		synctest.Wait()
		snap := m.Snapshot()
		var names []string
		for _, s := range snap {
			names = append(names, fmt.Sprintf("%s/%s/%c", s.Name, s.Level, state(s)))
		}
		if got, want := strings.Join(names, " "), "address/critical/H upstreams/degrading/D canary/critical/u"; got != want {
			t.Errorf("snapshot = %s, want %s", got, want)
		}
		if m.Healthy() {
			t.Error("Healthy while canary unknown")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !m.Healthy() {
			t.Errorf("not Healthy with critical checks up and a degrading one down: %+v", m.Snapshot())
		}
		addrFail.Store(true)
		time.Sleep(time.Second)
		synctest.Wait()
		if m.Healthy() {
			t.Error("Healthy with the address check down")
		}
		snap[0].Name = "mutated"
		if m.Snapshot()[0].Name != "address" {
			t.Error("Snapshot shares memory with the monitor")
		}
	})
}

// A reader that does not read must not stall probes; when it reads, it gets
// one Status per changed check, each the latest state, oldest change first.
func TestChangesCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Intervals are staggered so that no two checks change at the same
		// instant and the delivery order is deterministic.
		m := New(RealClock{}, quiet,
			// H at 0, D at 1, H at 2, D at 3
			Check{Name: "a", Interval: time.Second, Rise: 1, Fall: 1, Probe: scripted("+-+-")},
			// H at 1.5
			Check{Name: "b", Interval: 1500 * time.Millisecond, Rise: 2, Fall: 1, Probe: scripted("++")},
			// D at 2.5
			Check{Name: "c", Interval: 2500 * time.Millisecond, Rise: 1, Fall: 2, Probe: scripted("--")},
			// never reaches a threshold, so never changes
			Check{Name: "d", Interval: time.Second, Rise: 100, Fall: 100, Probe: scripted("")},
		)
		start(t, m)
		time.Sleep(3100 * time.Millisecond)
		synctest.Wait()
		if s := m.Snapshot()[0]; state(s) != 'D' || s.Failures != 1 || s.LastRun.Sub(s.LastChange) != 0 {
			t.Fatalf("probes stalled behind the reader: %+v", s)
		}
		var got []string
		for range 4 {
			s := <-m.Changes()
			got = append(got, fmt.Sprintf("%s:%c", s.Name, state(s)))
		}
		synctest.Wait()
		select {
		case s := <-m.Changes():
			t.Errorf("unexpected extra change %+v", s)
		default:
		}
		// a:H was already handed to the forwarder at t=0; a's later
		// D, H, D collapse into its latest state, D.
		if got, want := strings.Join(got, " "), "a:H a:D b:H c:D"; got != want {
			t.Errorf("changes = %s, want %s", got, want)
		}
	})
}

func TestInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		m := New(fixedClock{fixed}, quiet, Check{Name: "x", Interval: time.Second, Rise: 1, Fall: 1, Probe: scripted("")})
		start(t, m)
		synctest.Wait()
		if s := m.Snapshot()[0]; !s.LastRun.Equal(fixed) || !s.LastChange.Equal(fixed) {
			t.Errorf("times not from the injected clock: %+v", s)
		}
	})
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                   { return c.t }
func (c fixedClock) NewTicker(d time.Duration) Ticker { return RealClock{}.NewTicker(d) }

func TestRunValidates(t *testing.T) {
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name   string
		checks []Check
		want   string
	}{
		{"empty name", []Check{{Interval: time.Second, Rise: 1, Fall: 1, Probe: ok}}, "name is empty"},
		{"duplicate", []Check{
			{Name: "a", Interval: time.Second, Rise: 1, Fall: 1, Probe: ok},
			{Name: "a", Interval: time.Second, Rise: 1, Fall: 1, Probe: ok},
		}, `check "a": name used twice`},
		{"no interval", []Check{{Name: "a", Rise: 1, Fall: 1, Probe: ok}}, "interval must be positive"},
		{"zero rise", []Check{{Name: "a", Interval: time.Second, Fall: 1, Probe: ok}}, "rise and fall must be at least 1"},
		{"nil probe", []Check{{Name: "a", Interval: time.Second, Rise: 1, Fall: 1}}, "probe is nil"},
		{"bad level", []Check{{Name: "a", Level: 7, Interval: time.Second, Rise: 1, Fall: 1, Probe: ok}}, "unknown level 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New(nil, nil, tt.checks...).Run(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestRunTwiceAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(nil, nil, Check{Name: "a", Interval: time.Second, Rise: 1, Fall: 1, Probe: scripted("")})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		synctest.Wait()
		if err := m.Run(ctx); err == nil || !strings.Contains(err.Error(), "Run called twice") {
			t.Errorf("second Run = %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		// The undelivered change is dropped and the channel closed.
		if s, ok := <-m.Changes(); ok {
			t.Errorf("Changes not closed, got %+v", s)
		}
	})
}
