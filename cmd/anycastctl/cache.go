package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/anycastd/anycastd/internal/control"
)

// runCache is `anycastctl cache flush [NAME [--subtree]]` and
// `anycastctl cache stats [--json]`. Flushing is safe to repeat: a second
// flush just removes nothing.
func runCache(ctx context.Context, c *control.Client, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return &exitError{2, fmt.Errorf("cache: missing subcommand: flush [NAME [--subtree]] or stats [--json]")}
	}
	switch args[0] {
	case "flush":
		var name string
		subtree := false
		for _, a := range args[1:] {
			switch {
			case a == "--subtree" || a == "-subtree":
				subtree = true
			case strings.HasPrefix(a, "-"):
				return &exitError{2, fmt.Errorf("cache flush: unknown argument %q (only --subtree)", a)}
			case name != "":
				return &exitError{2, fmt.Errorf("cache flush: one NAME at most, got %q and %q", name, a)}
			default:
				name = a
			}
		}
		if subtree && name == "" {
			return &exitError{2, fmt.Errorf("cache flush: --subtree needs a NAME (flush without arguments empties the whole cache)")}
		}
		r, err := c.FlushCache(ctx, name, subtree)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, r.Message)
		return nil
	case "stats":
		asJSON := false
		for _, a := range args[1:] {
			if a != "--json" && a != "-json" {
				return &exitError{2, fmt.Errorf("cache stats: unknown argument %q (only --json)", a)}
			}
			asJSON = true
		}
		s, err := c.CacheStats(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, s)
		}
		printCacheStats(stdout, s)
		return nil
	}
	return &exitError{2, fmt.Errorf("cache: unknown subcommand %q: known are flush, stats", args[0])}
}

func printCacheStats(w io.Writer, s *control.CacheStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	pct := 0.0
	if s.Capacity > 0 {
		pct = 100 * float64(s.Bytes) / float64(s.Capacity)
	}
	fmt.Fprintf(tw, "entries:\t%d\n", s.Entries)
	fmt.Fprintf(tw, "bytes:\t%d of %d (%.1f%%)\n", s.Bytes, s.Capacity, pct)
	fmt.Fprintf(tw, "hits:\t%d\n", s.Hits)
	fmt.Fprintf(tw, "misses:\t%d\n", s.Misses)
	fmt.Fprintf(tw, "hit ratio:\t%.1f%%\n", 100*s.HitRatio)
	fmt.Fprintf(tw, "stale answers:\t%d\n", s.StaleAnswers)
	fmt.Fprintf(tw, "prefetches:\t%d\n", s.Prefetches)
	fmt.Fprintf(tw, "evictions:\t%d\n", s.Evictions)
	tw.Flush()
}
