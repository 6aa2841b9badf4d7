package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	birdASN    = 64496
	speakerASN = 64513
)

var (
	svc4 = netip.MustParsePrefix("192.0.2.53/32")
	svc6 = netip.MustParsePrefix("2001:db8:53::53/128")
)

// testLogger writes the speaker's log lines into the test log, and drops
// them once the test has ended: GoBGP's goroutines can outlive a test by a
// moment, and t.Log after the end panics.
func testLogger(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct {
	t    *testing.T
	mu   sync.Mutex // guards done
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// lab is one BIRD with one IPv4 and one IPv6 session to a speaker.
type lab struct {
	bird    *bird
	speaker *Speaker
	cancel  context.CancelFunc
	done    chan error
}

type labOptions struct {
	password  string
	static4   []string // prefixes BIRD also announces, as another node would
	addPathTx bool
	noIPv6    bool
	initial   []Route // given to Set before Run starts
	// ttlSecurity and birdTTLSecurity turn on GTSM at the speaker and at
	// BIRD, independently, so tests can show a one-sided setup fails.
	ttlSecurity, birdTTLSecurity bool
	apiListen                    string // Config.APIListen
}

func newLab(t *testing.T, o labOptions) *lab {
	t.Helper()
	requireBird(t)
	p4 := freePort(t, "127.0.0.1")
	ns := []birdNeighbor{{
		Name: "anycastd4", Local: "127.0.0.1", Port: p4, Neighbor: "127.0.0.2",
		LocalASN: birdASN, PeerASN: speakerASN, Password: o.password, AddPathTx: o.addPathTx,
		TTLSecurity: o.birdTTLSecurity,
	}}
	peers := []Peer{{
		Address: netip.MustParseAddr("127.0.0.1"), ASN: birdASN, Port: uint16(p4),
		LocalAddress: netip.MustParseAddr("127.0.0.2"), Password: o.password, TTLSecurity: o.ttlSecurity,
	}}
	if !o.noIPv6 {
		p6 := freePort(t, "::1")
		ns = append(ns, birdNeighbor{
			Name: "anycastd6", Local: "::1", Port: p6, Neighbor: "::1",
			LocalASN: birdASN, PeerASN: speakerASN, IPv6: true, Password: o.password,
			TTLSecurity: o.birdTTLSecurity,
		})
		peers = append(peers, Peer{
			Address: netip.MustParseAddr("::1"), ASN: birdASN, Port: uint16(p6),
			LocalAddress: netip.MustParseAddr("::1"), Password: o.password, TTLSecurity: o.ttlSecurity,
		})
	}
	b := startBird(t, birdConfig("127.0.0.1", ns, o.static4))
	s := New(Config{ASN: speakerASN, RouterID: netip.MustParseAddr("127.0.0.2"), Peers: peers, APIListen: o.apiListen}, testLogger(t))
	if o.initial != nil {
		if err := s.Set(context.Background(), o.initial); err != nil {
			t.Fatalf("Set before Run: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &lab{bird: b, speaker: s, cancel: cancel, done: make(chan error, 1)}
	go func() { l.done <- s.Run(ctx) }()
	t.Cleanup(func() { l.stop(t) })
	return l
}

// stop cancels Run and waits for it; safe to call twice.
func (l *lab) stop(t *testing.T) {
	t.Helper()
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	select {
	case err := <-l.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Run did not return within 10s of cancel")
	}
}

func (l *lab) waitEstablished(t *testing.T, protos ...string) {
	t.Helper()
	for _, p := range protos {
		eventually(t, 10*time.Second, p+" established at BIRD", func() (bool, string) {
			st, _, err := l.bird.protocolState(p)
			if err != nil {
				return false, err.Error()
			}
			return st == "Established", st
		})
	}
}

// waitRoute waits until BIRD's route for prefix satisfies ok.
func (l *lab) waitRoute(t *testing.T, prefix netip.Prefix, what string, ok func(r birdRoute, present bool) bool) birdRoute {
	t.Helper()
	var got birdRoute
	eventually(t, 10*time.Second, fmt.Sprintf("%v %s", prefix, what), func() (bool, string) {
		rs, err := l.bird.routes()
		if err != nil {
			return false, err.Error()
		}
		r, present := rs[prefix]
		got = r
		return ok(r, present), fmt.Sprintf("%+v (present %v)", r, present)
	})
	return got
}

func reachable(r birdRoute, present bool) bool { return present && !r.Unreachable }
func absent(_ birdRoute, present bool) bool    { return !present }

func TestAnnounceIPv4AndIPv6(t *testing.T) {
	l := newLab(t, labOptions{})
	l.waitEstablished(t, "anycastd4", "anycastd6")
	ctx := context.Background()
	if err := l.speaker.Set(ctx, []Route{{Prefix: svc6}, {Prefix: svc4}}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	// Next hop self per session, in the session's own family: BIRD marks
	// a route whose next hop it cannot use as unreachable.
	for prefix, nextHop := range map[netip.Prefix]string{svc4: "127.0.0.2", svc6: "::1"} {
		r := l.waitRoute(t, prefix, "reachable at BIRD", reachable)
		if r.NextHop != nextHop {
			t.Errorf("%v: next hop %q, want %q", prefix, r.NextHop, nextHop)
		}
		if r.ASPath != fmt.Sprint(speakerASN) {
			t.Errorf("%v: AS path %q, want %d", prefix, r.ASPath, speakerASN)
		}
		if r.MED != "0" {
			t.Errorf("%v: MED %q, want 0", prefix, r.MED)
		}
	}
	// Each prefix went only to the session of its own family.
	rs, err := l.bird.routes()
	if err != nil {
		t.Fatal(err)
	}
	if got := rs[svc4].Proto; got != "anycastd4" {
		t.Errorf("%v learned via %q, want anycastd4", svc4, got)
	}
	if got := rs[svc6].Proto; got != "anycastd6" {
		t.Errorf("%v learned via %q, want anycastd6", svc6, got)
	}
	if got, want := l.speaker.Announced(), []Route{{Prefix: svc4}, {Prefix: svc6}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Announced() = %v, want %v", got, want)
	}

	peers, err := l.speaker.Peers(ctx)
	if err != nil {
		t.Fatalf("Peers: %v", err)
	}
	if len(peers) != 2 {
		t.Fatalf("Peers() = %+v, want 2 peers", peers)
	}
	for _, p := range peers {
		if p.State != "established" || p.ASN != birdASN || p.Advertised != 1 || p.Received != 0 {
			t.Errorf("peer %+v: want established, asn %d, 1 advertised, 0 received", p, birdASN)
		}
		if p.Uptime < 0 || p.Uptime > time.Minute {
			t.Errorf("peer %v: uptime %v for a session seconds old", p.Address, p.Uptime)
		}
	}
}

func TestSessionParameters(t *testing.T) {
	l := newLab(t, labOptions{noIPv6: true})
	l.waitEstablished(t, "anycastd4")
	out, err := l.bird.birdc("show", "protocols", "all", "anycastd4")
	if err != nil {
		t.Fatal(err)
	}
	_, neighborCaps, _ := strings.Cut(out, "Neighbor capabilities")
	neighborCaps, _, _ = strings.Cut(neighborCaps, "Session:")
	tests := []struct {
		name string
		text string
		want string
		not  bool
	}{
		{"hold time 9s", out, "Hold timer:", false},
		{"graceful restart never advertised", neighborCaps, "Graceful restart", true},
		{"long-lived graceful restart never advertised", neighborCaps, "Long-lived", true},
		{"only IPv4 on an IPv4 session", neighborCaps, "AF announced: ipv4\n", false},
		{"4-octet AS", neighborCaps, "4-octet AS numbers", false},
	}
	for _, tc := range tests {
		if got := strings.Contains(tc.text, tc.want); got == tc.not {
			t.Errorf("%s: contains %q = %v\n%s", tc.name, tc.want, got, out)
		}
	}
	if !regexp.MustCompile(`Hold timer:\s+[\d.]+/9\n`).MatchString(out) {
		t.Errorf("negotiated hold time is not 9s:\n%s", out)
	}
}

func TestAttributesReachBird(t *testing.T) {
	l := newLab(t, labOptions{noIPv6: true})
	l.waitEstablished(t, "anycastd4")
	ctx := context.Background()
	tests := []struct {
		name        string
		route       Route
		asPath      string
		med         string
		communities string
		large       string
	}{
		{"healthy", Route{Prefix: svc4}, "64513", "0", "", ""},
		{"degraded", Route{Prefix: svc4, MED: 200, Prepend: 2, Communities: []uint32{speakerASN<<16 | 100},
			LargeCommunities: []LargeCommunity{{speakerASN, 2, 1}, {speakerASN, 1, 7}}},
			"64513 64513 64513", "200", "(64513,100)", "(64513, 1, 7) (64513, 2, 1)"},
		{"draining with GRACEFUL_SHUTDOWN", Route{Prefix: svc4, MED: 500, Prepend: 3, Communities: []uint32{speakerASN<<16 | 100, 65535 << 16}},
			"64513 64513 64513 64513", "500", "(64513,100) (65535,0)", ""},
		{"back to healthy", Route{Prefix: svc4}, "64513", "0", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := l.speaker.Set(ctx, []Route{tc.route}); err != nil {
				t.Fatalf("Set: %v", err)
			}
			l.waitRoute(t, svc4, "with attributes", func(r birdRoute, present bool) bool {
				return reachable(r, present) && r.ASPath == tc.asPath && r.MED == tc.med && r.Communities == tc.communities && r.Large == tc.large
			})
		})
	}
}

func TestSetSameSetSendsNothing(t *testing.T) {
	routes := []Route{{Prefix: svc4, MED: 10, Communities: []uint32{2, 1}}}
	l := newLab(t, labOptions{noIPv6: true, initial: routes})
	l.waitEstablished(t, "anycastd4")
	l.waitRoute(t, svc4, "reachable at BIRD", reachable)
	_, before, err := l.bird.protocolState("anycastd4")
	if err != nil {
		t.Fatal(err)
	}
	uuidBefore := l.announcedUUID(svc4)
	ctx := context.Background()
	// The same set again, with communities in another order: still the same.
	for range 3 {
		if err := l.speaker.Set(ctx, []Route{{Prefix: svc4, MED: 10, Communities: []uint32{1, 2, 1}}}); err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	// A change to another prefix flushes the session: once BIRD has it,
	// any UPDATE sent for svc4 by the repeated Sets would have arrived too.
	other := netip.MustParsePrefix("192.0.2.54/32")
	if err := l.speaker.Set(ctx, append(routes, Route{Prefix: other, MED: 99})); err != nil {
		t.Fatalf("Set: %v", err)
	}
	l.waitRoute(t, other, "reachable at BIRD", reachable)
	_, after, err := l.bird.protocolState("anycastd4")
	if err != nil {
		t.Fatal(err)
	}
	// GoBGP itself drops a re-added identical path, so also check that
	// the speaker did not hand it one: the path GoBGP holds is the first.
	if got := l.announcedUUID(svc4); string(got) != string(uuidBefore) {
		t.Errorf("%v was re-added to GoBGP by an identical Set", svc4)
	}
	if after != before+1 {
		t.Errorf("BIRD import updates went from %d to %d, want exactly one more (for %v)", before, after, other)
	}
}

func TestEmptySetWithdraws(t *testing.T) {
	l := newLab(t, labOptions{initial: []Route{{Prefix: svc4}, {Prefix: svc6}}})
	l.waitEstablished(t, "anycastd4", "anycastd6")
	l.waitRoute(t, svc4, "reachable at BIRD", reachable)
	l.waitRoute(t, svc6, "reachable at BIRD", reachable)
	if err := l.speaker.Set(context.Background(), nil); err != nil {
		t.Fatalf("Set(nil): %v", err)
	}
	l.waitRoute(t, svc4, "withdrawn at BIRD", absent)
	l.waitRoute(t, svc6, "withdrawn at BIRD", absent)
	if got := l.speaker.Announced(); len(got) != 0 {
		t.Errorf("Announced() = %v after empty Set", got)
	}
	// Sessions stay up: withdrawing is not shutting down.
	for _, p := range []string{"anycastd4", "anycastd6"} {
		if st, _, err := l.bird.protocolState(p); err != nil || st != "Established" {
			t.Errorf("%s: state %q (%v) after withdraw, want Established", p, st, err)
		}
	}
}

func TestStopRemovesRoutesQuickly(t *testing.T) {
	l := newLab(t, labOptions{initial: []Route{{Prefix: svc4}, {Prefix: svc6}}})
	l.waitEstablished(t, "anycastd4", "anycastd6")
	l.waitRoute(t, svc4, "reachable at BIRD", reachable)
	l.waitRoute(t, svc6, "reachable at BIRD", reachable)
	l.stop(t)
	// Well under the 9s hold time: the routes go because of the Cease,
	// not because BIRD's hold timer ran out.
	for _, p := range []netip.Prefix{svc4, svc6} {
		eventually(t, 2*time.Second, fmt.Sprintf("%v gone after stop", p), func() (bool, string) {
			rs, err := l.bird.routes()
			if err != nil {
				return false, err.Error()
			}
			_, present := rs[p]
			return !present, fmt.Sprint(rs)
		})
	}
	if got := l.speaker.Announced(); len(got) != 0 {
		t.Errorf("Announced() = %v after Run returned", got)
	}
	peers, err := l.speaker.Peers(context.Background())
	if err != nil {
		t.Fatalf("Peers after stop: %v", err)
	}
	for _, p := range peers {
		if p.State != "idle" {
			t.Errorf("peer %v: state %q after stop, want idle", p.Address, p.State)
		}
	}
}

func TestOtherAnnouncers(t *testing.T) {
	// BIRD also has 192.0.2.53/32 from "another node" and sends it to us
	// with ADD-PATH, as an upstream with several anycast nodes would.
	l := newLab(t, labOptions{static4: []string{svc4.String()}, addPathTx: true, initial: []Route{{Prefix: svc4}}})
	l.waitEstablished(t, "anycastd4", "anycastd6")
	ctx := context.Background()
	eventually(t, 10*time.Second, "one other announcer of "+svc4.String(), func() (bool, string) {
		n, err := l.speaker.OtherAnnouncers(ctx, svc4)
		return err == nil && n == 1, fmt.Sprint(n, err)
	})
	tests := []struct {
		prefix netip.Prefix
		want   int
	}{
		{svc6, 0},
		{netip.MustParsePrefix("192.0.2.0/24"), 0}, // exact match only
		{netip.MustParsePrefix("192.0.2.54/32"), 0},
	}
	for _, tc := range tests {
		n, err := l.speaker.OtherAnnouncers(ctx, tc.prefix)
		if err != nil || n != tc.want {
			t.Errorf("OtherAnnouncers(%v) = %d, %v; want %d", tc.prefix, n, err, tc.want)
		}
	}
	// Our own route does not come back to us; BIRD's is still there.
	peers, err := l.speaker.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := peers[0]; p.Address.Is4() && p.Received != 1 {
		t.Errorf("IPv4 peer received %d paths, want 1", p.Received)
	}
}

func TestTCPMD5(t *testing.T) {
	l := newLab(t, labOptions{noIPv6: true, password: "anycast-md5-secret", initial: []Route{{Prefix: svc4}}})
	l.waitEstablished(t, "anycastd4")
	l.waitRoute(t, svc4, "reachable at BIRD", reachable)
}

func (l *lab) announcedUUID(p netip.Prefix) []byte {
	l.speaker.mu.Lock()
	defer l.speaker.mu.Unlock()
	return l.speaker.announced[p].uuid
}

func TestSessionReturnsAfterRouterRestart(t *testing.T) {
	l := newLab(t, labOptions{noIPv6: true, initial: []Route{{Prefix: svc4, MED: 7}}})
	l.waitEstablished(t, "anycastd4")
	l.waitRoute(t, svc4, "reachable at BIRD", reachable)
	l.bird.kill()
	l.bird.start(t)
	// The killed BIRD sent no NOTIFICATION; the speaker notices the
	// closed TCP connection, reconnects within its retry interval and
	// sends the whole set again. Retries are 3-6s apart, hence 15s.
	eventually(t, 15*time.Second, "anycastd4 re-established", func() (bool, string) {
		st, _, err := l.bird.protocolState("anycastd4")
		return err == nil && st == "Established", fmt.Sprint(st, err)
	})
	l.waitRoute(t, svc4, "back at BIRD after restart", func(r birdRoute, present bool) bool {
		return reachable(r, present) && r.MED == "7"
	})
}
