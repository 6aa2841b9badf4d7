package resolver

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.77", "203.0.113.0/24"},
		{"::ffff:203.0.113.77", "203.0.113.0/24"},
		{"2001:db8:c:1234::77", "2001:db8:c::/48"},
		{"127.0.0.1", "127.0.0.0/24"},
	} {
		if got := Truncate(netip.MustParseAddr(tc.in)); got.String() != tc.want {
			t.Errorf("Truncate(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := Truncate(netip.Addr{}); got.IsValid() {
		t.Errorf("Truncate(invalid) = %s, want the zero Prefix", got)
	}
}

func TestPrivacyLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Privacy
		want string // error substring; "" means valid
	}{
		{"zero", Privacy{}, ""},
		{"max retention", Privacy{Retention: 25 * time.Hour}, ""},
		{"retention above 25h", Privacy{Retention: 25*time.Hour + time.Second}, "privacy.retention"},
		{"max sampling", Privacy{DebugSampleRate: 0.0005}, ""},
		{"sampling above 0.05%", Privacy{DebugSampleRate: 0.0006}, "debug_sampling.rate"},
		{"expire above 10m", Privacy{RateLimit: RateLimitConfig{QPS: 10, Expire: 11 * time.Minute}}, "rate_limit.expire"},
		{"dnstap twice", Privacy{Dnstap: DnstapConfig{File: "/x", Socket: "/y"}}, "both set"},
		{"negative qps", Privacy{RateLimit: RateLimitConfig{QPS: -1}}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.withDefaults()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("withDefaults: %v", err)
				}
				if got.Retention == 0 || got.Retention > MaxRetention {
					t.Errorf("retention %v after defaults", got.Retention)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("withDefaults error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestRecordsGoneAfter25Hours fills the query log and the debug samples
// from many clients, then moves a fake clock: at the maximum retention
// every record is still there just before 25 hours and none just after.
func TestRecordsGoneAfter25Hours(t *testing.T) {
	for _, retention := range []time.Duration{0 /* default 24h */, MaxRetention} {
		t.Run(retention.String(), func(t *testing.T) {
			r, _ := newResolver(t, Config{
				RootHints: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
				NodeName:  "n1",
				Privacy: Privacy{
					Retention:       retention,
					QueryLog:        QueryLogConfig{Enabled: true, ClientPrefix: true, Size: 500},
					DebugSampleRate: MaxDebugSampleRate,
				},
			})
			clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			r.now = clk.now
			want := r.priv.cfg.Retention
			for i := range 200 {
				client := netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)})
				if i%2 == 1 {
					client = netip.MustParseAddr("2001:db8:c::").Next()
					for range i {
						client = client.Next()
					}
				}
				req := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
				req.RecursionDesired = false // answered from the (empty) cache: no upstream
				if resp := r.respond(req, client, i%3 == 0); resp == nil {
					t.Fatal("no answer")
				}
				// Sampling is random; put samples in directly as well.
				r.priv.samples.add(clk.now(), DebugSample{Time: clk.now(), QName: "x.", ClientPrefix: Truncate(client).String()})
				clk.advance(time.Second)
			}
			if n := len(r.QueryLog()); n != 200 {
				t.Fatalf("query log holds %d records, want 200", n)
			}
			for _, q := range r.QueryLog() {
				if p := netip.MustParsePrefix(q.ClientPrefix); p.Bits() != 24 && p.Bits() != 48 {
					t.Fatalf("record with client prefix %s", q.ClientPrefix)
				}
			}
			rep := r.PrivacyReport()
			if rep.LongestPrefix4 != 24 || rep.LongestPrefix6 != 48 {
				t.Errorf("longest prefixes /%d, /%d; want /24, /48", rep.LongestPrefix4, rep.LongestPrefix6)
			}
			// The last record is now 1s old; just before the retention it
			// is still kept, and once the retention has passed since the
			// last record, the sweep leaves nothing.
			clk.advance(want - 2*time.Second)
			r.priv.sweep()
			if n := len(r.QueryLog()); n == 0 {
				t.Fatalf("every record gone before the retention %v", want)
			}
			clk.advance(2 * time.Second)
			r.priv.sweep()
			if q, s := r.priv.qlog.n, r.priv.samples.n; q != 0 || s != 0 {
				t.Fatalf("after %v: %d query log records and %d samples left", want, q, s)
			}
			for i, v := range r.priv.qlog.buf {
				if v.QName != "" || !r.priv.qlog.at[i].IsZero() {
					t.Fatalf("slot %d not zeroed after purge: %+v", i, v)
				}
			}
			if rep := r.PrivacyReport(); rep.QueryLogRecords != 0 || rep.DebugSamples != 0 || rep.OldestRecord != 0 {
				t.Errorf("report after purge: %+v", rep)
			}
		})
	}
}

func TestQueryLogFieldsAllowlisted(t *testing.T) {
	allow := []string{"time", "qname", "qtype", "rcode", "protocol", "node", "duration_us", "cache_hit", "ede", "client_prefix"}
	for _, f := range append(QueryLogFields(), DebugSampleFields()...) {
		if !slices.Contains(allow, f) {
			t.Errorf("field %q is not on the allowlist", f)
		}
	}
}

func TestRateLimit(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("203.0.113.7")
	sameNet := netip.MustParseAddr("203.0.113.200")
	other := netip.MustParseAddr("198.51.100.7")
	type step struct {
		at     time.Duration
		client netip.Addr
		want   rlVerdict
	}
	for _, tc := range []struct {
		name  string
		cfg   RateLimitConfig
		steps []step
	}{
		{"burst then drop, prefix shared", RateLimitConfig{QPS: 1, Burst: 2}, []step{
			{0, a, rlPass}, {0, sameNet, rlPass}, {0, a, rlDrop}, {0, other, rlPass}, {time.Second, sameNet, rlPass}, {time.Second, a, rlDrop},
		}},
		{"slip every second", RateLimitConfig{QPS: 1, Burst: 1, Slip: 2}, []step{
			{0, a, rlPass}, {0, a, rlDrop}, {0, a, rlSlip}, {0, a, rlDrop}, {0, a, rlSlip},
		}},
		{"slip 1 truncates all", RateLimitConfig{QPS: 1, Burst: 1, Slip: 1}, []step{
			{0, a, rlPass}, {0, a, rlSlip}, {0, a, rlSlip},
		}},
		{"full table fails open", RateLimitConfig{QPS: 1, Burst: 1, MaxEntries: 1}, []step{
			{0, a, rlPass}, {0, other, rlPass}, {0, other, rlPass}, {0, a, rlDrop},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Privacy{RateLimit: tc.cfg}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			l := newLimiter(p.RateLimit)
			for i, s := range tc.steps {
				if got := l.check(s.client, t0.Add(s.at)); got != s.want {
					t.Errorf("step %d (%s at %v): %d, want %d", i, s.client, s.at, got, s.want)
				}
			}
		})
	}
}

func TestRateLimitTableExpires(t *testing.T) {
	p, _ := Privacy{RateLimit: RateLimitConfig{QPS: 5}}.withDefaults()
	l := newLimiter(p.RateLimit)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 50 {
		l.check(netip.AddrFrom4([4]byte{10, byte(i), 0, 1}), t0)
	}
	for k := range l.buckets {
		if k.Bits() != 24 {
			t.Fatalf("table keyed by %s, not a /24", k)
		}
	}
	l.expire(t0.Add(DefaultRateLimitExpire))
	if l.len() != 50 {
		t.Fatalf("entries expired early: %d left", l.len())
	}
	l.expire(t0.Add(DefaultRateLimitExpire + time.Second))
	if l.len() != 0 {
		t.Fatalf("%d entries left after expire", l.len())
	}
}

// TestRateLimitServe: over UDP the limited prefix gets TC=1 (slip 1) and
// answers again over TCP.
func TestRateLimitServe(t *testing.T) {
	in := startNet(t)
	cfg := netConfig(t, in)
	cfg.Privacy.RateLimit = RateLimitConfig{QPS: 0.001, Burst: 2, Slip: 1}
	r, reg := newResolver(t, cfg)
	addr := serve(t, r)
	tc := 0
	for range 5 {
		if resp := exchange(t, "udp", addr, query("www.example.com", dns.TypeA, true, 1232)); resp.Truncated {
			tc++
		}
	}
	if tc != 3 {
		t.Errorf("%d of 5 UDP answers truncated, want 3 (burst 2)", tc)
	}
	if resp := exchange(t, "tcp", addr, query("www.example.com", dns.TypeA, true, 1232)); resp.Truncated || len(resp.Answer) == 0 {
		t.Errorf("TCP answer: TC=%v, %d answers", resp.Truncated, len(resp.Answer))
	}
	if v := counterValue(t, reg, "anycastd_rate_limited_total", map[string]string{"action": "slip"}); v != 3 {
		t.Errorf("anycastd_rate_limited_total{action=slip} = %v, want 3", v)
	}
}

func withECS(m *dns.Msg, subnet netip.Addr) *dns.Msg {
	o := m.IsEdns0()
	fam, bits := uint16(1), uint8(32)
	if subnet.Is6() {
		fam, bits = 2, 128
	}
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, SourceNetmask: bits, Address: net.IP(subnet.AsSlice())})
	return m
}

// TestECSStrippedAndDnstapTruncated sends queries with ECS options over
// UDP and TCP with dnstap to a file: answers carry no ECS, no ECS goes
// upstream, and the dnstap file holds only the client's /24, no ports, no
// response address and none of the ECS addresses.
func TestECSStrippedAndDnstapTruncated(t *testing.T) {
	in := startNet(t)
	cfg := netConfig(t, in)
	file := filepath.Join(t.TempDir(), "dnstap.fstrm")
	cfg.Privacy = Privacy{Dnstap: DnstapConfig{File: file, ClientPrefix: true}, QueryLog: QueryLogConfig{Enabled: true}}
	r, _ := newResolver(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	addr := r.Addrs()[0]
	secrets := []netip.Addr{netip.MustParseAddr("192.0.2.201"), netip.MustParseAddr("2001:db8:77::99")}
	for i, name := range []string{"www.example.com", "a.b.c.d.example.com", "www.example.com"} {
		for _, network := range []string{"udp", "tcp"} {
			resp := exchange(t, network, addr, withECS(query(name, dns.TypeA, true, 1232), secrets[i%2]))
			if o := resp.IsEdns0(); o != nil {
				for _, e := range o.Option {
					if e.Option() == dns.EDNS0SUBNET {
						t.Errorf("answer to %s over %s carries ECS %v", name, network, e)
					}
				}
			}
		}
	}
	rep := r.PrivacyReport()
	if rep.ECSStripped != 6 || rep.ECSSent != 0 {
		t.Errorf("ECS stripped %d (want 6), sent %d (want 0)", rep.ECSStripped, rep.ECSSent)
	}
	if !rep.Dnstap.Enabled || rep.Dnstap.Written != 6 || rep.Dnstap.QueryAddress != "prefix" {
		t.Errorf("dnstap report %+v, want enabled, 6 written, prefix", rep.Dnstap)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append(secrets, netip.MustParseAddr("127.0.0.1")) {
		if bytes.Contains(raw, a.AsSlice()) || bytes.Contains(raw, []byte(a.String())) {
			t.Errorf("dnstap file holds %s", a)
		}
	}
	fin, err := dnstap.NewFrameStreamInputFromFilename(file)
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan []byte, 64)
	go func() { fin.ReadInto(frames); close(frames) }()
	n := 0
	for f := range frames {
		var dt dnstap.Dnstap
		if err := proto.Unmarshal(f, &dt); err != nil {
			t.Fatal(err)
		}
		m := dt.GetMessage()
		n++
		if got := m.GetQueryAddress(); !bytes.Equal(got, []byte{127, 0, 0, 0}) {
			t.Errorf("query_address %v, want 127.0.0.0", got)
		}
		if m.ResponseAddress != nil || m.QueryPort != nil || m.ResponsePort != nil {
			t.Errorf("message carries response address or ports: %v", m)
		}
		var q dns.Msg
		if err := q.Unpack(m.GetQueryMessage()); err != nil {
			t.Fatal(err)
		}
		if o := q.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if e.Option() == dns.EDNS0SUBNET {
					t.Errorf("dnstap query message keeps ECS %v", e)
				}
			}
		}
	}
	if n != 6 {
		t.Errorf("dnstap file holds %d messages, want 6", n)
	}
}

// TestDnstapKeepsNoClientOptions: a client's COOKIE, padding and unknown
// EDNS options never reach dnstap, nor the server cookie the node answers
// with (computed from the fleet's cookie secret and the client's full
// address, it would give the address away); the OPT header stays.
func TestDnstapKeepsNoClientOptions(t *testing.T) {
	in := startNet(t)
	cfg := netConfig(t, in)
	file := filepath.Join(t.TempDir(), "dnstap.fstrm")
	cfg.Privacy = Privacy{Dnstap: DnstapConfig{File: file, ClientPrefix: true}}
	r, _ := newResolver(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	addr := r.Addrs()[0]

	clientCookie := "a1b2c3d4e5f60718"
	unknown := []byte("client-secret-bytes")
	var serverCookies []string
	for _, network := range []string{"udp", "tcp"} {
		q := query("www.example.com", dns.TypeA, true, 1232)
		o := q.IsEdns0()
		o.Option = append(o.Option,
			&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: clientCookie},
			&dns.EDNS0_PADDING{Padding: make([]byte, 32)},
			&dns.EDNS0_LOCAL{Code: 65001, Data: unknown})
		resp := exchange(t, network, addr, q)
		if ro := resp.IsEdns0(); ro != nil {
			for _, e := range ro.Option {
				if c, ok := e.(*dns.EDNS0_COOKIE); ok {
					serverCookies = append(serverCookies, c.Cookie)
				}
			}
		}
	}
	if len(serverCookies) == 0 {
		t.Fatal("the node answered no COOKIE; the test needs one to look for")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ccBytes, _ := hex.DecodeString(clientCookie)
	for what, b := range map[string][]byte{"client cookie": ccBytes, "unknown option": unknown} {
		if bytes.Contains(raw, b) {
			t.Errorf("dnstap file holds the %s", what)
		}
	}
	for _, sc := range serverCookies {
		b, _ := hex.DecodeString(sc)
		if bytes.Contains(raw, b[8:]) {
			t.Errorf("dnstap file holds the server cookie %s", sc)
		}
	}
	fin, err := dnstap.NewFrameStreamInputFromFilename(file)
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan []byte, 64)
	go func() { fin.ReadInto(frames); close(frames) }()
	n := 0
	for f := range frames {
		var dt dnstap.Dnstap
		if err := proto.Unmarshal(f, &dt); err != nil {
			t.Fatal(err)
		}
		n++
		for which, wire := range map[string][]byte{"query": dt.GetMessage().GetQueryMessage(), "response": dt.GetMessage().GetResponseMessage()} {
			var m dns.Msg
			if err := m.Unpack(wire); err != nil {
				t.Fatal(err)
			}
			o := m.IsEdns0()
			if o == nil {
				t.Errorf("dnstap %s lost its OPT record (its header is kept)", which)
				continue
			}
			for _, e := range o.Option {
				if e.Option() != dns.EDNS0EDE {
					t.Errorf("dnstap %s keeps EDNS option %d", which, e.Option())
				}
			}
		}
	}
	if n != 2 {
		t.Errorf("dnstap file holds %d messages, want 2", n)
	}
}
