package health

import "time"

// Clock is the time source of a Monitor. It is injected so that tests (and a
// node that wants to replay a scenario) control time; production code uses
// RealClock. Probe timeouts are context deadlines and so follow the runtime
// clock, which testing/synctest also fakes.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is the part of *time.Ticker a Monitor uses.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// RealClock is the Clock backed by package time.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// NewTicker returns a time.Ticker behind the Ticker interface.
func (RealClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }
