package bgp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// What a router sends is hostile input (docs/bgp.md, "Error handling"):
//
//   - a malformed attribute is handled as RFC 7606 allows (treat-as-withdraw,
//     attribute discard), without resetting the session, so our own
//     announcements to that router stay;
//   - a message that cannot be handled so resets the session with a
//     NOTIFICATION;
//   - a panic while GoBGP decodes or applies one peer's message is recovered
//     at the message boundary (third_party/gobgp AP-06) and resets that
//     session, never the process;
//   - a peer whose input reset its session (or panicked) FaultPolicy.Limit
//     times within FaultPolicy.Window is disabled for FaultPolicy.HoldDown:
//     no session, so a router that resends the same bad message on every
//     new session cannot keep the node's routes flapping. The disabled peer
//     is persisted in Config.StateFile, so a restart of the process does not
//     bring it back early.
//
// Every such event is counted per peer and action (MalformedCounts).

// Fault policy defaults.
const (
	DefaultFaultLimit    = 3
	DefaultFaultWindow   = 10 * time.Minute
	DefaultFaultHoldDown = 30 * time.Minute
)

// FaultPolicy bounds how often one peer's bad input may reset its session.
type FaultPolicy struct {
	Limit    int           // faults within Window that disable the peer; 0 means 3, negative never disables
	Window   time.Duration // 0 means 10m
	HoldDown time.Duration // how long a peer stays disabled; 0 means 30m
}

func (f FaultPolicy) withDefaults() FaultPolicy {
	if f.Limit == 0 {
		f.Limit = DefaultFaultLimit
	}
	if f.Window == 0 {
		f.Window = DefaultFaultWindow
	}
	if f.HoldDown == 0 {
		f.HoldDown = DefaultFaultHoldDown
	}
	return f
}

func (f FaultPolicy) validate() error {
	var errs []error
	if f.Window < 0 {
		errs = append(errs, fmt.Errorf("fault_window: must not be negative, got %v", f.Window))
	}
	if f.HoldDown < 0 {
		errs = append(errs, fmt.Errorf("fault_hold_down: must not be negative, got %v", f.HoldDown))
	}
	return errors.Join(errs...)
}

// Malformed actions, as counted by MalformedCounts and exported as
// anycastd_bgp_malformed_total{peer,action}.
const (
	ActionSessionReset     = string(server.InputSessionReset)
	ActionTreatAsWithdraw  = string(server.InputTreatAsWithdraw)
	ActionAttributeDiscard = string(server.InputAttributeDiscard)
	ActionAfiSafiDisable   = string(server.InputAfiSafiDisable)
	ActionPanic            = string(server.InputPanic)
)

// MalformedCount is how often one peer's input led to one action.
type MalformedCount struct {
	Peer   netip.Addr
	Action string
	Count  uint64
}

type peerAction struct {
	peer   netip.Addr
	action string
}

// disabledPeer is a peer switched off by the fault policy.
type disabledPeer struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// faults owns the counters, the recent faults per peer and the disabled
// peers. The hook feeds it from GoBGP's goroutines, so it only records and
// signals; the speaker's Run loop acts (GoBGP calls from inside a hook
// would deadlock the server loop).
type faults struct {
	policy    FaultPolicy
	stateFile string
	now       func() time.Time

	mu       sync.Mutex // guards what follows
	counts   map[peerAction]uint64
	recent   map[netip.Addr][]time.Time
	disabled map[netip.Addr]disabledPeer
	// pending holds peers that reached the limit and are not yet disabled.
	pending map[netip.Addr]string

	wake chan struct{} // one-slot: something to act on
}

func newFaults(policy FaultPolicy, stateFile string) *faults {
	return &faults{
		policy:    policy.withDefaults(),
		stateFile: stateFile,
		now:       time.Now,
		counts:    map[peerAction]uint64{},
		recent:    map[netip.Addr][]time.Time{},
		disabled:  map[netip.Addr]disabledPeer{},
		pending:   map[netip.Addr]string{},
		wake:      make(chan struct{}, 1),
	}
}

// observe is the GoBGP input hook. It must not block.
func (f *faults) observe(ev server.InputEvent) {
	peer, err := netip.ParseAddr(ev.Peer)
	if err != nil {
		return
	}
	now := f.now()
	f.mu.Lock()
	f.counts[peerAction{peer, string(ev.Action)}]++
	fault := ev.Action == server.InputSessionReset || ev.Action == server.InputPanic
	if fault && f.policy.Limit > 0 {
		recent := f.recent[peer][:0:0]
		for _, t := range f.recent[peer] {
			if now.Sub(t) < f.policy.Window {
				recent = append(recent, t)
			}
		}
		recent = append(recent, now)
		f.recent[peer] = recent
		if _, off := f.disabled[peer]; !off && len(recent) >= f.policy.Limit {
			f.pending[peer] = fmt.Sprintf("%d faults within %v, last: %s: %v", len(recent), f.policy.Window, ev.Action, ev.Err)
		}
	}
	n := len(f.pending)
	f.mu.Unlock()
	if n > 0 {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// counters returns every counter, sorted.
func (f *faults) counters() []MalformedCount {
	f.mu.Lock()
	out := make([]MalformedCount, 0, len(f.counts))
	for k, v := range f.counts {
		out = append(out, MalformedCount{Peer: k.peer, Action: k.action, Count: v})
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b MalformedCount) int {
		return cmp.Or(a.Peer.Compare(b.Peer), cmp.Compare(a.Action, b.Action))
	})
	return out
}

func (f *faults) disabledState(peer netip.Addr) (disabledPeer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.disabled[peer]
	return d, ok
}

// load reads the disabled peers a previous run persisted, dropping those
// whose hold-down has passed. A missing file is no error; an unreadable one
// is reported and ignored, since refusing to start would be worse.
func (f *faults) load() error {
	if f.stateFile == "" {
		return nil
	}
	b, err := os.ReadFile(f.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", f.stateFile, err)
	}
	var st struct {
		Disabled map[string]disabledPeer `json:"disabled"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("read %s: %w (delete the file to clear it)", f.stateFile, err)
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, d := range st.Disabled {
		a, err := netip.ParseAddr(k)
		if err != nil || !d.Until.After(now) {
			continue
		}
		f.disabled[a] = d
	}
	return nil
}

// saveLocked writes the disabled peers atomically.
func (f *faults) saveLocked() error {
	if f.stateFile == "" {
		return nil
	}
	st := struct {
		Disabled map[string]disabledPeer `json:"disabled"`
	}{Disabled: map[string]disabledPeer{}}
	for a, d := range f.disabled {
		st.Disabled[a.String()] = d
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := f.stateFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(f.stateFile), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", f.stateFile, err)
	}
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", f.stateFile, err)
	}
	if err := os.Rename(tmp, f.stateFile); err != nil {
		return fmt.Errorf("write %s: %w", f.stateFile, err)
	}
	return nil
}

// run disables peers that reached the limit and enables them again when
// their hold-down ends, until ctx is done.
func (s *Speaker) runFaults(ctx context.Context, srv *server.BgpServer) {
	f := s.faults
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := f.now()
		f.mu.Lock()
		pending := f.pending
		f.pending = map[netip.Addr]string{}
		for peer, reason := range pending {
			f.disabled[peer] = disabledPeer{Until: now.Add(f.policy.HoldDown), Reason: reason}
			delete(f.recent, peer)
		}
		var enable []netip.Addr
		next := now.Add(time.Hour)
		for peer, d := range f.disabled {
			if !d.Until.After(now) {
				enable = append(enable, peer)
				delete(f.disabled, peer)
			} else if d.Until.Before(next) {
				next = d.Until
			}
		}
		var saveErr error
		if len(pending) > 0 || len(enable) > 0 {
			saveErr = f.saveLocked()
		}
		f.mu.Unlock()
		if saveErr != nil {
			s.log.Error("persist disabled bgp peers", "err", saveErr)
		}
		for peer, reason := range pending {
			s.log.Error("bgp peer disabled: its input keeps resetting the session", "peer", peer,
				"hold_down", f.policy.HoldDown, "reason", reason)
			if err := srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: peer.String(),
				Communication: "anycastd: disabled after repeated malformed input"}); err != nil {
				s.log.Error("disable bgp peer", "peer", peer, "err", err)
			}
		}
		for _, peer := range enable {
			s.log.Warn("bgp peer enabled again after its hold-down", "peer", peer)
			if err := srv.EnablePeer(ctx, &api.EnablePeerRequest{Address: peer.String()}); err != nil {
				s.log.Error("enable bgp peer", "peer", peer, "err", err)
			}
		}
		timer.Reset(max(next.Sub(f.now()), 10*time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-timer.C:
		}
	}
}

// keepFilter returns the Adj-RIB-In filter: only routes for exactly the
// configured prefixes are kept (nil keep means every route).
func keepFilter(keep []netip.Prefix) func(string, bgp.AddrPrefixInterface) bool {
	if keep == nil {
		return nil
	}
	set := make(map[netip.Prefix]bool, len(keep))
	for _, p := range keep {
		set[p.Masked()] = true
	}
	return func(_ string, nlri bgp.AddrPrefixInterface) bool {
		var p netip.Prefix
		switch n := nlri.(type) {
		case *bgp.IPAddrPrefix:
			a, ok := netip.AddrFromSlice(n.Prefix.To4())
			if !ok {
				return false
			}
			p = netip.PrefixFrom(a, int(n.Length))
		case *bgp.IPv6AddrPrefix:
			a, ok := netip.AddrFromSlice(n.Prefix.To16())
			if !ok {
				return false
			}
			p = netip.PrefixFrom(a, int(n.Length))
		default:
			return false
		}
		return set[p.Masked()]
	}
}
