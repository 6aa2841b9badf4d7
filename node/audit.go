package node

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/anycastd/anycastd/internal/control"
	"github.com/anycastd/anycastd/resolver"
)

// queryLogAllowlist is every field a query log record or debug sample may
// have (docs/privacy.md).
var queryLogAllowlist = []string{"time", "qname", "qtype", "rcode", "protocol", "node", "duration_us", "cache_hit", "ede", "client_prefix"}

func (n *Node) handleAudit(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.audit())
}

// audit checks the running node against each privacy commitment. Every
// check reads the state in force (the resolver's settings and records, the
// kernel's core dump settings, the metrics registry), not the config file
// alone. Evidence never quotes a client address: a failing metrics check
// names the metric and label, not the value.
func (n *Node) audit() *control.Audit {
	rep := n.resolver.PrivacyReport()
	a := &control.Audit{Node: n.cfg.Node.Name, Time: n.clock.Now().UTC()}
	add := func(name string, pass bool, format string, args ...any) {
		a.Checks = append(a.Checks, control.AuditCheck{Name: name, Pass: pass, Evidence: fmt.Sprintf(format, args...)})
	}

	add("retention", rep.Retention <= resolver.MaxRetention && rep.OldestRecord <= rep.Retention+resolver.SweepInterval,
		"privacy.retention %v (at most %v); oldest retained record %v old; records are swept every %v",
		rep.Retention, resolver.MaxRetention, rep.OldestRecord.Round(1e9), resolver.SweepInterval)

	add("truncation", rep.PrefixBits4 <= 24 && rep.PrefixBits6 <= 48 && rep.LongestPrefix4 <= 24 && rep.LongestPrefix6 <= 48,
		"clients kept as /%d (IPv4) and /%d (IPv6) at most; longest prefix in %d retained records: /%d IPv4, /%d IPv6",
		rep.PrefixBits4, rep.PrefixBits6, rep.QueryLogRecords+rep.DebugSamples, rep.LongestPrefix4, rep.LongestPrefix6)

	add("ecs", rep.ECSSent == 0,
		"%d EDNS Client Subnet options sent to authorities; %d stripped from client queries and never forwarded",
		rep.ECSSent, rep.ECSStripped)

	add("qname minimisation", rep.QNAMEMinimisation, "resolver.qname_minimisation %v", rep.QNAMEMinimisation)

	if d, core, err := coreDumpState(); err != nil {
		add("core dumps", false, "cannot read the core dump state: %v", err)
	} else {
		ev := fmt.Sprintf("PR_GET_DUMPABLE=%d, RLIMIT_CORE soft %d hard %d", d, core.Cur, core.Max)
		if n.cfg.Privacy.AllowCoreDumps {
			ev += "; allowed by privacy.allow_core_dumps"
		}
		add("core dumps", d == 0 && core.Cur == 0, "%s", ev)
	}

	add("debug sampling", rep.DebugSampleRate <= resolver.MaxDebugSampleRate,
		"rate %g (at most %g, 0.05%%); %d samples retained, in memory, prefixes only",
		rep.DebugSampleRate, resolver.MaxDebugSampleRate, rep.DebugSamples)

	var extra []string
	for _, f := range append(resolver.QueryLogFields(), resolver.DebugSampleFields()...) {
		if !slices.Contains(queryLogAllowlist, f) && !slices.Contains(extra, f) {
			extra = append(extra, f)
		}
	}
	state := "off"
	if rep.QueryLogEnabled {
		state = fmt.Sprintf("on, %d of %d records, client prefix %v", rep.QueryLogRecords, rep.QueryLogSize, rep.QueryLogClientPrefix)
	}
	if len(extra) > 0 {
		add("query log fields", false, "fields outside the allowlist: %s", strings.Join(extra, ", "))
	} else {
		add("query log fields", true, "%s; fields %s; exported only by GET /v1/querylog", state, strings.Join(resolver.QueryLogFields(), ", "))
	}

	if dt := rep.Dnstap; !dt.Enabled {
		add("dnstap", true, "off")
	} else {
		where := "file " + dt.File
		if dt.Socket != "" {
			where = "unix socket " + dt.Socket
		}
		add("dnstap", dt.QueryAddress == "prefix" || dt.QueryAddress == "omitted",
			"%s; query_address %s (/%d, /%d); response_address, query_port, response_port never written; client ECS stripped; %d messages written, %d dropped",
			where, dt.QueryAddress, rep.PrefixBits4, rep.PrefixBits6, dt.Written, dt.Dropped)
	}

	if rep.RateLimitQPS == 0 {
		add("rate limit", true, "off (no per-client state)")
	} else {
		add("rate limit", rep.RateLimitExpire <= resolver.MaxRateLimitExpire,
			"%g qps per /24 or /48; %d prefixes in memory (at most %d), forgotten after %v idle (at most %v)",
			rep.RateLimitQPS, rep.RateLimitEntries, rep.RateLimitMaxEntries, rep.RateLimitExpire, resolver.MaxRateLimitExpire)
	}

	n.auditMetrics(add)

	a.Pass = true
	for _, c := range a.Checks {
		a.Pass = a.Pass && c.Pass
	}
	return a
}

// auditMetrics gathers the registry and fails on any label value that
// parses as an address (or prefix, or address:port) the node was not
// configured with: service addresses and prefixes, peers, router ID.
func (n *Node) auditMetrics(add func(string, bool, string, ...any)) {
	mfs, err := n.reg.Gather()
	if err != nil {
		add("metrics labels", false, "gather metrics: %v", err)
		return
	}
	known := map[netip.Addr]bool{n.cfg.BGP.RouterID: true}
	for _, a := range n.cfg.Service.Addresses {
		known[a] = true
	}
	for _, p := range n.cfg.BGP.Peers {
		known[p.Address], known[p.LocalAddress] = true, true
	}
	var series, values int
	var bad []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			series++
			for _, lp := range m.GetLabel() {
				values++
				if a, ok := labelAddr(lp.GetValue()); ok && !known[a] {
					bad = append(bad, mf.GetName()+"{"+lp.GetName()+"}")
				}
			}
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		bad = slices.Compact(bad)
		add("metrics labels", false, "label values that are addresses the node was not configured with: %s", strings.Join(bad, ", "))
		return
	}
	add("metrics labels", true, "%d series, %d label values; no address but configured service and peer addresses", series, values)
}

// labelAddr reports whether v is, or holds, an IP address.
func labelAddr(v string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(v); err == nil {
		return a.Unmap(), true
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Addr().Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
