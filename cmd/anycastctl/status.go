package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

func runStatus(ctx context.Context, c *control.Client, args []string, stdout io.Writer) error {
	asJSON := false
	for _, a := range args {
		switch a {
		case "--json", "-json":
			asJSON = true
		default:
			return &exitError{2, fmt.Errorf("status: unknown argument %q (only --json)", a)}
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, st)
	}
	printStatus(stdout, st, time.Now())
	return nil
}

// printStatus renders the human view. now is a parameter so the golden test
// is stable.
func printStatus(w io.Writer, st *control.Status, now time.Time) {
	fmt.Fprintf(w, "node %s (anycastd %s)\n", st.Node, st.Version)
	fmt.Fprintf(w, "state: %s for %s\n", st.State, ago(now, st.Since))
	fmt.Fprintf(w, "reason: %s\n", st.Reason)
	if st.DrainIntent {
		fmt.Fprintln(w, "drain intent: set (persisted; `anycastctl undrain` clears it)")
	}
	fmt.Fprintf(w, "queries answered: %d (%.1f/s now)\n", st.Queries, st.QPS)
	if len(st.Guarded) > 0 {
		fmt.Fprintf(w, "GUARDED: %s stay announced at the lowest preference (no other announcer visible)\n", strings.Join(st.Guarded, ", "))
	}
	if st.Damping.Flaps > 0 {
		sup := ""
		if st.Damping.Suppressed {
			sup = ", re-announcing suppressed"
		}
		fmt.Fprintf(w, "flap damping: penalty %.0f after %d health withdrawals%s\n", st.Damping.Penalty, st.Damping.Flaps, sup)
	}
	if st.Drain != nil {
		fmt.Fprintf(w, "drain (%s): %s\n", st.Drain.Reason, progressLine(st, now))
	}
	if p := st.Privacy; p != nil {
		var on []string
		if p.QueryLog {
			on = append(on, "query log")
		}
		if p.Dnstap {
			on = append(on, "dnstap")
		}
		if p.DebugSampling {
			on = append(on, fmt.Sprintf("debug sampling %.3f%%", 100*p.DebugSampleRate))
		}
		if p.RateLimit {
			on = append(on, "rate limit")
		}
		if p.CoreDumps {
			on = append(on, "CORE DUMPS ALLOWED")
		}
		if len(on) == 0 {
			on = append(on, "no query records kept")
		}
		fmt.Fprintf(w, "privacy: %s (retention %s; `anycastctl audit` checks every commitment)\n", strings.Join(on, ", "), p.Retention)
	}

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\naddresses:")
	for _, a := range st.Addresses {
		fmt.Fprintf(tw, "  %s\ton %s\t%s\t%s\n", a.Address, a.Interface, yes(a.Present, "present", "MISSING"), yes(a.Announced, "announced", "not announced"))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nannounced routes:")
	if len(st.Announced) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, r := range st.Announced {
		var extra []string
		if len(r.Communities) > 0 {
			extra = append(extra, "communities "+strings.Join(r.Communities, " "))
		}
		if r.MED != 0 {
			extra = append(extra, fmt.Sprintf("med %d", r.MED))
		}
		if r.Prepend != 0 {
			extra = append(extra, fmt.Sprintf("prepend %d", r.Prepend))
		}
		if len(extra) == 0 {
			fmt.Fprintf(w, "  %s\n", r.Prefix)
			continue
		}
		fmt.Fprintf(w, "  %s (%s)\n", r.Prefix, strings.Join(extra, ", "))
	}

	fmt.Fprintln(w, "\nbgp peers:")
	if len(st.Peers) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, p := range st.Peers {
		up := ""
		if p.State == "established" {
			up = "up " + (time.Duration(p.UptimeSecs) * time.Second).String()
		}
		fmt.Fprintf(tw, "  %s\tAS%d\t%s\t%s\tadvertised %d\treceived %d\n", p.Address, p.ASN, p.State, up, p.Advertised, p.Received)
		if p.DisabledUntil != nil {
			fmt.Fprintf(tw, "    DISABLED until %s (in %s): %s\n", p.DisabledUntil.UTC().Format(time.RFC3339),
				p.DisabledUntil.Sub(now).Round(time.Second), p.DisabledReason)
		}
		if len(p.Malformed) > 0 {
			var parts []string
			for _, a := range slices.Sorted(maps.Keys(p.Malformed)) {
				parts = append(parts, fmt.Sprintf("%s %d", a, p.Malformed[a]))
			}
			fmt.Fprintf(tw, "    malformed input: %s\n", strings.Join(parts, ", "))
		}
	}
	tw.Flush()

	if e := st.Encrypted; e != nil {
		fmt.Fprintln(w, "\nencrypted transports:")
		c := e.Certificate
		fmt.Fprintf(w, "  certificate %s, expires %s (in %.1f days)", c.Subject, c.NotAfter.UTC().Format(time.DateOnly), c.NotAfter.Sub(now).Hours()/24)
		if c.LastError != "" {
			fmt.Fprintf(w, "; LAST RELOAD FAILED, old certificate kept: %s", c.LastError)
		}
		fmt.Fprintln(w)
		for _, t := range e.Transports {
			fmt.Fprintf(tw, "  %s\t%s\t%d open\t%d queries\t%d handshakes (%d failed)\t%d rejected\n",
				t.Proto, strings.Join(t.Addrs, " "), t.OpenConnections, t.Queries, t.Handshakes, t.HandshakeFailures, t.Rejected)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nhealth checks:")
	for _, c := range st.Checks {
		res := "ok"
		switch {
		case !c.Known:
			res = "pending"
		case !c.Healthy:
			res = "FAILING"
		}
		last := "never run"
		if !c.LastRun.IsZero() {
			last = "ran " + ago(now, c.LastRun) + " ago"
		}
		errText := ""
		if c.LastError != "" {
			errText = "last error: " + c.LastError
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Name, c.Level, res, last, errText)
	}
	tw.Flush()
}

func yes(b bool, t, f string) string {
	if b {
		return t
	}
	return f
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
