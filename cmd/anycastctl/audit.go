package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/anycastd/anycastd/internal/control"
)

// errAuditFailed makes `anycastctl audit` exit 1 after printing the report.
var errAuditFailed = errors.New("audit: at least one privacy commitment is not kept")

// runAudit is `anycastctl audit [--json]`: the node's check of itself
// against each privacy commitment, one line per commitment with its
// evidence. It exits non-zero when any check fails.
func runAudit(ctx context.Context, c *control.Client, args []string, stdout io.Writer) error {
	asJSON := false
	for _, a := range args {
		if a != "--json" && a != "-json" {
			return &exitError{2, fmt.Errorf("audit: unknown argument %q (only --json)", a)}
		}
		asJSON = true
	}
	a, err := c.Audit(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		if err := printJSON(stdout, a); err != nil {
			return err
		}
	} else {
		printAudit(stdout, a)
	}
	if !a.Pass {
		return &exitError{1, errAuditFailed}
	}
	return nil
}

func printAudit(w io.Writer, a *control.Audit) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range a.Checks {
		mark := "PASS"
		if !c.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, c.Name, c.Evidence)
	}
	tw.Flush()
	failed := 0
	for _, c := range a.Checks {
		if !c.Pass {
			failed++
		}
	}
	if failed == 0 {
		fmt.Fprintf(w, "node %s: all %d privacy checks pass\n", a.Node, len(a.Checks))
	} else {
		fmt.Fprintf(w, "node %s: %d of %d privacy checks FAIL\n", a.Node, failed, len(a.Checks))
	}
}
