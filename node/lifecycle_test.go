package node

import (
	"maps"
	"net/netip"
	"testing"

	"github.com/anycastd/anycastd/internal/control"
)

func TestDecide(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.53")
	v6 := netip.MustParseAddr("2001:db8:53::53")
	base := func() view {
		return view{addrs: []netip.Addr{v4, v6}, healthy: map[netip.Addr]bool{}, known: true,
			announced: map[netip.Addr]bool{}, others: map[netip.Addr]int{}, mayAnnounce: true, guard: true}
	}
	up := func(v *view, as ...netip.Addr) {
		for _, a := range as {
			v.healthy[a] = true
		}
	}
	on := func(v *view, as ...netip.Addr) {
		v.announcedOnce = true
		for _, a := range as {
			v.announced[a] = true
		}
	}
	tests := []struct {
		name     string
		edit     func(*view)
		state    string
		announce map[netip.Addr]pref
	}{
		{"cold start waits", func(v *view) { v.known = false }, control.StateWarming, nil},
		{"both healthy announce both", func(v *view) { up(v, v4, v6) }, control.StateAnnouncing,
			map[netip.Addr]pref{v4: prefHealthy, v6: prefHealthy}},
		{"one healthy announces only it", func(v *view) { up(v, v6) }, control.StateAnnouncing, map[netip.Addr]pref{v6: prefHealthy}},
		{"a degrading check de-prefers, keeps the routes", func(v *view) { up(v, v4, v6); on(v, v4, v6); v.degraded = []string{"servfail ratio"} },
			control.StateDegraded, map[netip.Addr]pref{v4: prefDegraded, v6: prefDegraded}},
		{"lost health with other announcers withdraws", func(v *view) { on(v, v4, v6); v.others[v4], v.others[v6] = 2, 1 },
			control.StateWithdrawn, nil},
		{"lost health as last announcer is guarded", func(v *view) { on(v, v4, v6); v.others[v4], v.others[v6] = 0, 3 },
			control.StateGuarded, map[netip.Addr]pref{v4: prefLowest}},
		{"guard off withdraws the last announcer", func(v *view) { on(v, v4); v.others[v4] = 0; v.guard = false },
			control.StateWithdrawn, nil},
		{"unknown announcers do not guard", func(v *view) { on(v, v4) }, control.StateWithdrawn, nil},
		{"damping holds a recovered node back", func(v *view) {
			up(v, v4, v6)
			v.announcedOnce = true
			v.mayAnnounce, v.dampedWhy = false, "flap damping"
		}, control.StateWithdrawn, nil},
		{"damping never withdraws what is announced", func(v *view) {
			up(v, v4, v6)
			on(v, v4)
			v.mayAnnounce, v.dampedWhy = false, "flap damping"
		}, control.StateAnnouncing, map[netip.Addr]pref{v4: prefHealthy}},
		{"drain taper keeps routes at lowest preference", func(v *view) {
			up(v, v4, v6)
			on(v, v4, v6)
			v.drainIntent, v.drainPhase = true, drainTaper
		}, control.StateDraining, map[netip.Addr]pref{v4: prefLowest, v6: prefLowest}},
		{"drain lame duck has withdrawn", func(v *view) { up(v, v4); on(v, v4); v.drainIntent, v.drainPhase = true, drainLameDuck },
			control.StateDraining, nil},
		{"drain done is drained", func(v *view) { up(v, v4); v.drainIntent, v.drainPhase = true, drainDone }, control.StateDrained, nil},
		{"stopping withdraws everything", func(v *view) { up(v, v4, v6); on(v, v4, v6); v.stopping = true }, control.StateStopping, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base()
			tt.edit(&v)
			d := decide(v)
			if d.state != tt.state {
				t.Errorf("state = %q (%s), want %q", d.state, d.reason, tt.state)
			}
			want := tt.announce
			if want == nil {
				want = map[netip.Addr]pref{}
			}
			if !maps.Equal(d.announce, want) {
				t.Errorf("announce = %v, want %v", d.announce, want)
			}
			if d.reason == "" {
				t.Error("empty reason: status must always say why")
			}
		})
	}
}
