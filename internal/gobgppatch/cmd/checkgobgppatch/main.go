// Command checkgobgppatch fails on any change in third_party/gobgp that
// ANYCASTD-PATCH.txt does not name. scripts/check_gobgp_patch.sh runs it;
// the format of the list is gobgppatch.Format (printed by -h).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/anycastd/anycastd/internal/gobgppatch"
)

const usage = `usage: scripts/check_gobgp_patch.sh [--root DIR] [--upstream DIR] [--patched DIR] [--list FILE] [-v]

Diffs third_party/gobgp against pristine GoBGP %[1]s and fails (exit 1) on any
hunk that ANYCASTD-PATCH.txt does not name, printing one line per problem,
then "gobgp patch check: N hunks, M IDs, all listed" when there is none.
Exit 2: the check could not run.

  --root DIR      repository root; test: files are relative to it (the
                  script passes its repository; default .)
  --upstream DIR  pristine tree (default: %[2]s@%[1]s
                  in the Go module cache, downloaded there when missing)
  --patched DIR   patched tree (default ROOT/third_party/gobgp)
  --list FILE     patch list (default PATCHED/ANYCASTD-PATCH.txt)
  -v              also print each hunk and its IDs

%[3]s
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("check_gobgp_patch", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {} // -h prints the whole usage to stdout, below
	root := fl.String("root", ".", "")
	upstream := fl.String("upstream", "", "")
	patched := fl.String("patched", "", "")
	list := fl.String("list", "", "")
	verbose := fl.Bool("v", false, "")
	if err := fl.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprintf(stdout, usage, gobgppatch.Version, gobgppatch.Module, gobgppatch.Format)
			return 0
		}
		fmt.Fprintln(stderr, strings.SplitN(usage, "\n", 2)[0])
		fmt.Fprintln(stderr, "(-h: the options and the format of ANYCASTD-PATCH.txt)")
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "check_gobgp_patch: unexpected argument %q (-h for help)\n", fl.Arg(0))
		return 2
	}
	cfg := gobgppatch.Config{Root: *root, Upstream: *upstream, Patched: *patched, List: *list}
	if cfg.Patched == "" {
		cfg.Patched = filepath.Join(cfg.Root, "third_party", "gobgp")
	}
	if cfg.List == "" {
		cfg.List = filepath.Join(cfg.Patched, "ANYCASTD-PATCH.txt")
	}
	if cfg.Upstream == "" {
		dir, err := gobgppatch.FindUpstream(gobgppatch.Version, func(f string, a ...any) {
			fmt.Fprintf(stderr, "check_gobgp_patch: "+f+"\n", a...)
		})
		if err != nil {
			fmt.Fprintf(stderr, "check_gobgp_patch: cannot find pristine upstream: %v\n", err)
			return 2
		}
		cfg.Upstream = dir
	}
	res, err := gobgppatch.Check(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "check_gobgp_patch: %v\n", err)
		return 2
	}
	if *verbose {
		fmt.Fprintf(stdout, "upstream: %s\n", cfg.Upstream)
		for _, h := range res.Hunks {
			ids := strings.Join(h.IDs, ",")
			if ids == "" {
				ids = "-"
			}
			fmt.Fprintf(stdout, "hunk %s %s %s\n", h.File, h.Where(), ids)
		}
	}
	for _, p := range res.Problems {
		fmt.Fprintln(stdout, p)
	}
	fmt.Fprintln(stdout, res.Summary())
	if len(res.Problems) > 0 {
		return 1
	}
	return 0
}
