package node

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPrivacyConfig(t *testing.T) {
	c, err := Parse([]byte(fleetBase + `privacy:
  retention: 25h
  query_log: {enabled: true, size: 500, client_prefix: true}
  dnstap: {file: /var/lib/anycastd/dnstap.fstrm, client_prefix: true}
  debug_sampling: {rate: 0.0005}
  rate_limit: {qps: 20, burst: 40, slip: 2, expire: 10m}
`))
	if err != nil {
		t.Fatal(err)
	}
	rp := c.Privacy.resolverPrivacy()
	if rp.Retention != 25*time.Hour || !rp.QueryLog.Enabled || rp.QueryLog.Size != 500 || !rp.QueryLog.ClientPrefix ||
		rp.Dnstap.File != "/var/lib/anycastd/dnstap.fstrm" || !rp.Dnstap.ClientPrefix || rp.DebugSampleRate != 0.0005 ||
		rp.RateLimit.QPS != 20 || rp.RateLimit.Burst != 40 || rp.RateLimit.Expire != 10*time.Minute {
		t.Errorf("resolver privacy = %+v", rp)
	}

	d, err := Parse([]byte(fleetBase))
	if err != nil {
		t.Fatal(err)
	}
	p := d.Privacy
	if p.Retention != 24*time.Hour || p.QueryLog.Enabled || p.DebugSampling.Rate != 0 || p.RateLimit.QPS != 0 ||
		p.Dnstap.File != "" || p.AllowCoreDumps || p.RateLimit.Expire != 2*time.Minute {
		t.Errorf("defaults = %+v: want 24h retention and everything off", p)
	}
}

func TestPrivacyConfigProblems(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"privacy: {retention: 26h}", "privacy.retention"},
		{"privacy: {retention: 25h1s}", "privacy.retention"},
		{"privacy: {debug_sampling: {rate: 0.001}}", "privacy.debug_sampling.rate"},
		{"privacy: {rate_limit: {qps: 10, expire: 11m}}", "privacy.rate_limit.expire"},
		{"privacy: {rate_limit: {qps: -1}}", "privacy.rate_limit.qps"},
		{"privacy: {dnstap: {file: /a, socket: /b}}", "privacy.dnstap"},
		{"privacy: {dnstap: {file: relative.fstrm}}", "privacy.dnstap.file"},
		{"privacy: {query_log: {size: 0}}", "privacy.query_log.size"},
		{"privacy: {query_log: {enabled: true, fields: [client]}}", "fields"},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			_, err := Parse([]byte(fleetBase + tc.yaml + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestLabelAddr(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want string // "" means not an address
	}{
		{"203.0.113.9", "203.0.113.9"},
		{"192.0.2.53/32", "192.0.2.53"},
		{"[2001:db8::1]:53", "2001:db8::1"},
		{"::ffff:203.0.113.9", "203.0.113.9"},
		{"address 192.0.2.53", ""},
		{"NOERROR", ""},
		{"go1.26", ""},
	} {
		a, ok := labelAddr(tc.v)
		if tc.want == "" {
			if ok {
				t.Errorf("labelAddr(%q) = %s, want none", tc.v, a)
			}
			continue
		}
		if !ok || a != netip.MustParseAddr(tc.want) {
			t.Errorf("labelAddr(%q) = %v %v, want %s", tc.v, a, ok, tc.want)
		}
	}
}
