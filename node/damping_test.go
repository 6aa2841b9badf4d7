package node

import (
	"testing"
	"time"
)

func TestDamperFlapsAreSuppressed(t *testing.T) {
	d := newDamper(defaultDamping())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A check flapping every 6 s for a minute: count how many
	// withdraw/re-announce cycles the damper lets through.
	withdrawals := 0
	announced := true
	for i := 0; i < 20; i++ {
		now = now.Add(3 * time.Second)
		if i%2 == 0 { // check fails
			if announced {
				d.withdrawn(now)
				withdrawals++
				announced = false
			}
			continue
		}
		if ok, _ := d.mayAnnounce(now); ok && !announced {
			d.announced(now)
			announced = true
		}
	}
	if withdrawals >= 10 || withdrawals < 2 {
		t.Errorf("%d withdrawals for 10 flaps in a minute; want damping to keep it to a few", withdrawals)
	}
	if _, suppressed, _ := d.state(now); !suppressed {
		t.Error("not suppressed after repeated flaps")
	}
	ok, why := d.mayAnnounce(now)
	if ok || why == "" {
		t.Errorf("mayAnnounce = %v %q, want refused with a reason", ok, why)
	}
	// After enough half-lives the node may come back.
	now = now.Add(3 * time.Minute)
	if ok, why := d.mayAnnounce(now); !ok {
		t.Errorf("still refused after 3 half-lives: %s", why)
	}
}

func TestDamperOneFlapIsForgiven(t *testing.T) {
	d := newDamper(defaultDamping())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.withdrawn(now)
	if ok, why := d.mayAnnounce(now.Add(time.Second)); !ok {
		t.Fatalf("a single flap suppressed re-announcing: %s", why)
	}
	p, _, flaps := d.state(now.Add(time.Minute))
	if flaps != 1 || p < 490 || p > 510 {
		t.Errorf("after one half-life: penalty %.0f flaps %d, want ~500 and 1", p, flaps)
	}
}

func TestDamperRateLimit(t *testing.T) {
	pol := defaultDamping()
	pol.Suppress = 1e9 // only the rate limit
	pol.MaxPenalty = 2e9
	d := newDamper(pol)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	allowed := 0
	for i := 0; i < 10; i++ {
		now = now.Add(time.Second)
		d.withdrawn(now)
		if ok, _ := d.mayAnnounce(now); ok {
			d.announced(now)
			allowed++
		}
	}
	if allowed != pol.MaxAnnounces {
		t.Errorf("%d re-announcements within a window, want %d", allowed, pol.MaxAnnounces)
	}
}

func TestDamperOff(t *testing.T) {
	d := newDamper(dampingPolicy{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		d.withdrawn(now)
		if ok, why := d.mayAnnounce(now); !ok {
			t.Fatalf("damping off but re-announce refused: %s", why)
		}
		d.announced(now)
	}
	if _, _, flaps := d.state(now); flaps != 10 {
		t.Errorf("flaps = %d, want 10 (still counted)", flaps)
	}
}
