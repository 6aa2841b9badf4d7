// Command anycastd is the anycast DNS resolver node daemon.
//
//	anycastd -config /etc/anycastd/anycastd.yaml
//	anycastd -check -config FILE     # validate only; exit 0 if valid, 2 if not
//
// Exit codes: 0 clean shutdown or valid config, 1 runtime failure,
// 2 invalid config or usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/anycastd/anycastd/node"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("anycastd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/anycastd/anycastd.yaml", "path of the node's YAML config")
	check := fs.Bool("check", false, "validate the config, print every problem, and exit (0 valid, 2 invalid)")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "anycastd: unexpected argument %q (anycastd takes only flags; see -help)\n", fs.Arg(0))
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, "anycastd", node.Version)
		return 0
	}
	cfg, err := node.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *check {
		fmt.Fprintf(stdout, "config %s: ok\n", *cfgPath)
		return 0
	}
	log := node.NewLogger(cfg, stderr)
	if limit, ok := setMemoryLimit(cfg.Resolver.CacheSize, os.Getenv); ok {
		log.Debug("soft memory limit", "bytes", limit)
	}
	n, err := node.New(cfg, log)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := n.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("stopped cleanly")
	return 0
}

// memoryLimit is the Go runtime's soft memory limit for a node whose answer
// cache holds up to cacheSize bytes (the cache's weight counts what an
// entry really costs on the heap): the cache, a quarter of it again as room
// for the collector, and 48MiB for everything else (listeners, TLS, BGP,
// the validation caches, metrics, goroutine stacks). Without a limit the
// collector lets the heap grow to twice what is live (GOGC=100), which put
// RSS after 200,000 cached names at 2.2x Unbound's. A node well below the
// limit collects as before, so the cold path pays nothing for it; near it
// the collector runs more often. The limit is soft: a heap that needs more
// gets it.
func memoryLimit(cacheSize int64) int64 {
	return cacheSize + cacheSize/4 + 48<<20
}

// setMemoryLimit applies memoryLimit unless the operator chose a limit with
// the runtime's own GOMEMLIMIT variable, which the runtime has applied
// already. It returns the limit it set.
func setMemoryLimit(cacheSize int64, getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit := memoryLimit(cacheSize)
	debug.SetMemoryLimit(limit)
	return limit, true
}
