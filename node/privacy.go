package node

import (
	"fmt"
	"net/http"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anycastd/anycastd/internal/control"
	"github.com/anycastd/anycastd/resolver"
)

// coreDumpPolicy turns core dumps off for the whole process (not dumpable,
// RLIMIT_CORE 0): a core file would hold the client addresses of the
// queries in flight. privacy.allow_core_dumps leaves them as the system
// set them, and status and the audit say so.
func (n *Node) coreDumpPolicy() error {
	if n.cfg.Privacy.AllowCoreDumps {
		n.log.Warn("core dumps allowed by privacy.allow_core_dumps: a core file may hold client addresses")
		return nil
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("disable core dumps: set RLIMIT_CORE 0: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("disable core dumps: prctl PR_SET_DUMPABLE 0: %w", err)
	}
	return nil
}

// coreDumpState reads back what the kernel will do on a crash.
func coreDumpState() (dumpable int, core unix.Rlimit, err error) {
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return 0, core, fmt.Errorf("prctl PR_GET_DUMPABLE: %w", err)
	}
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &core); err != nil {
		return d, core, fmt.Errorf("getrlimit RLIMIT_CORE: %w", err)
	}
	return d, core, nil
}

// privacyStatus is the status document's privacy part.
func (n *Node) privacyStatus() *control.Privacy {
	pc := n.cfg.Privacy
	p := &control.Privacy{
		QueryLog:        pc.QueryLog.Enabled,
		Dnstap:          pc.Dnstap.File != "" || pc.Dnstap.Socket != "",
		DebugSampling:   pc.DebugSampling.Rate > 0,
		DebugSampleRate: pc.DebugSampling.Rate,
		RateLimit:       pc.RateLimit.QPS > 0,
		Retention:       pc.Retention.String(),
	}
	if d, core, err := coreDumpState(); err != nil || d != 0 || core.Cur != 0 {
		p.CoreDumps = true // unknown counts as on: status must not reassure wrongly
	}
	return p
}

// handleQueryLog exports the query log and the debug samples: the only
// way out of the process for either.
func (n *Node) handleQueryLog(w http.ResponseWriter, _ *http.Request) {
	q := n.queryLog()
	writeJSON(w, http.StatusOK, q)
}

func (n *Node) queryLog() *control.QueryLog {
	pc := n.cfg.Privacy
	q := &control.QueryLog{
		Enabled: pc.QueryLog.Enabled, SamplingOn: pc.DebugSampling.Rate > 0,
		Retention: pc.Retention.String(), ClientPrefix: pc.QueryLog.ClientPrefix,
		GeneratedAt:   n.clock.Now().UTC().Truncate(time.Second),
		PrefixLengths: map[string]int{"ipv4": 24, "ipv6": 48},
		Records:       []control.QueryRecord{},
		Fields:        resolver.QueryLogFields(),
	}
	for _, r := range n.resolver.QueryLog() {
		q.Records = append(q.Records, control.QueryRecord{
			Time: r.Time, QName: r.QName, QType: r.QType, RCode: r.RCode, Protocol: r.Protocol, Node: r.Node,
			DurationMicros: r.DurationMicros, CacheHit: r.CacheHit, EDE: r.EDE, ClientPrefix: r.ClientPrefix,
		})
	}
	for _, s := range n.resolver.DebugSamples() {
		q.Samples = append(q.Samples, control.QuerySample{
			Time: s.Time, QName: s.QName, QType: s.QType, RCode: s.RCode, Protocol: s.Protocol,
			DurationMicros: s.DurationMicros, ClientPrefix: s.ClientPrefix,
		})
	}
	return q
}
