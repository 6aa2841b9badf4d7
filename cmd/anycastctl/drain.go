package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

func runDrain(ctx context.Context, c *control.Client, args []string, stdout io.Writer) error {
	wait, force := false, false
	for _, a := range args {
		switch a {
		case "--wait", "-wait":
			wait = true
		case "--force", "-force":
			force = true
		default:
			return &exitError{2, fmt.Errorf("drain: unknown argument %q (only --wait and --force)", a)}
		}
	}
	r, err := c.Drain(ctx, force)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, r.Message)
	if !wait {
		return nil
	}
	return waitDrained(ctx, c, stdout, isTerminal(stdout))
}

// waitDrained polls the node and shows one progress line until the drain is
// done. On a terminal the line rewrites itself; elsewhere a line a second.
func waitDrained(ctx context.Context, c *control.Client, w io.Writer, tty bool) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var lastPrint time.Time
	for {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if st.State == control.StateDrained {
			if tty {
				fmt.Fprint(w, "\r\033[K")
			}
			fmt.Fprintf(w, "drained: routes withdrawn, %.1f client queries/s\n", st.QPS)
			return nil
		}
		if st.Drain == nil {
			return fmt.Errorf("the node is %s, no longer draining (%s)", st.State, st.Reason)
		}
		line := progressLine(st, time.Now())
		switch {
		case tty:
			fmt.Fprint(w, "\r\033[K"+line)
		case time.Since(lastPrint) >= time.Second:
			fmt.Fprintln(w, line)
			lastPrint = time.Now()
		}
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			return fmt.Errorf("gave up waiting (the drain goes on in the node): %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func progressLine(st *control.Status, now time.Time) string {
	d := st.Drain
	left := ""
	if !d.Deadline.IsZero() {
		left = fmt.Sprintf(", at most %s left", d.Deadline.Sub(now).Round(100*time.Millisecond))
	}
	switch d.Phase {
	case "taper":
		return fmt.Sprintf("draining (taper, GRACEFUL_SHUTDOWN announced): %.1f queries/s, withdraw at <= %.0f/s%s", d.QPS, d.MinQPS, left)
	default:
		return fmt.Sprintf("draining (%s, routes withdrawn): %.1f queries/s%s", d.Phase, d.QPS, left)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
