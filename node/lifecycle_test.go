package node

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

func TestDecide(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.53")
	v6 := netip.MustParseAddr("2001:db8:53::53")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := func() view {
		return view{now: t0, addrs: []netip.Addr{v4, v6}, healthy: map[netip.Addr]bool{}, lameDuck: 5 * time.Second}
	}
	tests := []struct {
		name     string
		edit     func(*view)
		state    string
		announce []netip.Addr
	}{
		{"cold start waits", func(v *view) {}, control.StateWarming, nil},
		{"both healthy announce both", func(v *view) { v.healthy[v4], v.healthy[v6] = true, true }, control.StateAnnouncing, []netip.Addr{v4, v6}},
		{"one healthy announces only it", func(v *view) { v.healthy[v6] = true }, control.StateAnnouncing, []netip.Addr{v6}},
		{"lost health after announcing withdraws", func(v *view) { v.announcedOnce = true; v.known = true }, control.StateWithdrawn, nil},
		{"drain beats health", func(v *view) {
			v.healthy[v4], v.healthy[v6] = true, true
			v.drainIntent, v.drainSince = true, t0.Add(-time.Second)
		}, control.StateDraining, nil},
		{"drain after lame duck is drained", func(v *view) {
			v.healthy[v4] = true
			v.drainIntent, v.drainSince = true, t0.Add(-6*time.Second)
		}, control.StateDrained, nil},
		{"stopping withdraws everything", func(v *view) {
			v.healthy[v4], v.healthy[v6] = true, true
			v.stopping = true
		}, control.StateStopping, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base()
			tt.edit(&v)
			d := decide(v)
			if d.state != tt.state {
				t.Errorf("state = %q (%s), want %q", d.state, d.reason, tt.state)
			}
			if !slices.Equal(d.announce, tt.announce) {
				t.Errorf("announce = %v, want %v", d.announce, tt.announce)
			}
			if d.reason == "" {
				t.Error("empty reason: status must always say why")
			}
		})
	}
}
