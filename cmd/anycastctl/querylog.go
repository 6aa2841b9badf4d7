package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

// runQueryLog is `anycastctl querylog [--json] [--samples]`: the node's
// in-memory query log (and with --samples the debug samples), the only way
// they leave the node.
func runQueryLog(ctx context.Context, c *control.Client, args []string, stdout io.Writer) error {
	asJSON, samples := false, false
	for _, a := range args {
		switch a {
		case "--json", "-json":
			asJSON = true
		case "--samples", "-samples":
			samples = true
		default:
			return &exitError{2, fmt.Errorf("querylog: unknown argument %q (--json, --samples)", a)}
		}
	}
	q, err := c.QueryLog(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, q)
	}
	if samples {
		if !q.SamplingOn {
			fmt.Fprintln(stdout, "debug sampling is off (privacy.debug_sampling.rate)")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tPROTO\tQTYPE\tQNAME\tRCODE\tDURATION\tCLIENT")
		for _, s := range q.Samples {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Time.UTC().Format(time.RFC3339), s.Protocol, s.QType, s.QName, s.RCode,
				time.Duration(s.DurationMicros)*time.Microsecond, dash(s.ClientPrefix))
		}
		return tw.Flush()
	}
	if !q.Enabled {
		fmt.Fprintln(stdout, "the query log is off (privacy.query_log.enabled)")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tNODE\tPROTO\tQTYPE\tQNAME\tRCODE\tEDE\tCACHE\tDURATION\tCLIENT")
	for _, r := range q.Records {
		var ede []string
		for _, e := range r.EDE {
			ede = append(ede, fmt.Sprint(e))
		}
		cache := "miss"
		if r.CacheHit {
			cache = "hit"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Node, r.Protocol, r.QType, r.QName,
			r.RCode, dash(strings.Join(ede, ",")), cache, time.Duration(r.DurationMicros)*time.Microsecond, dash(r.ClientPrefix))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d records, kept in memory for at most %s\n", len(q.Records), q.Retention)
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
