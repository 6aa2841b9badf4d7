// Command mininet runs the mini internet: the root, TLD and leaf
// authoritative DNS servers of internal/mininet, for the lab and the demo.
//
//	mininet -print-addrs            # addresses to put on the interface first
//	mininet -root-hints /run/lab/root.hints -trust-anchor /run/lab/root.ds
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/anycastd/anycastd/internal/mininet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "mininet:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mininet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix4 := fs.String("prefix4", "198.51.100.0/24", "IPv4 prefix; servers get host addresses 1, 2, ...")
	prefix6 := fs.String("prefix6", "2001:db8:100::/64", `IPv6 prefix, "" for none`)
	port := fs.Uint("port", 53, "port on every server address (0: a random free one, logged)")
	latency := fs.Duration("latency", 0, "delay added before every answer")
	printAddrs := fs.Bool("print-addrs", false, "print one server address per line and exit")
	rootHints := fs.String("root-hints", "", "write root hints (named.root format) to this file at start")
	trustAnchor := fs.String("trust-anchor", "", "write the mini root's DS (trust anchor, zone-file syntax) to this file at start")
	debug := fs.Bool("debug", false, "log every answer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mininet: unexpected arguments %q\n", fs.Args())
		return errUsage
	}

	cfg := mininet.Config{Latency: *latency}
	var err error
	if cfg.Prefix4, err = netip.ParsePrefix(*prefix4); err != nil {
		return fmt.Errorf("-prefix4: %w", err)
	}
	if *prefix6 != "" {
		if cfg.Prefix6, err = netip.ParsePrefix(*prefix6); err != nil {
			return fmt.Errorf("-prefix6: %w", err)
		}
	}
	if *port > 65535 {
		return fmt.Errorf("-port %d: want 0-65535", *port)
	}
	cfg.Port = uint16(*port)

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// New validates the prefixes, also for -print-addrs.
	in, err := mininet.New(cfg, log)
	if err != nil {
		return err
	}
	if *printAddrs {
		for _, a := range mininet.Addrs(cfg) {
			fmt.Fprintln(stdout, a)
		}
		return nil
	}
	if err := in.Start(ctx); err != nil {
		return err
	}
	// The anchor goes first: scripts wait for the root hints file, and
	// then both are there.
	if *trustAnchor != "" {
		if err := writeFileAtomic(*trustAnchor, []byte(in.TrustAnchor())); err != nil {
			return errors.Join(fmt.Errorf("write trust anchor: %w", err), in.Close())
		}
		log.Info("wrote trust anchor", "path", *trustAnchor)
	}
	if *rootHints != "" {
		if err := writeFileAtomic(*rootHints, []byte(in.RootHints())); err != nil {
			return errors.Join(fmt.Errorf("write root hints: %w", err), in.Close())
		}
		log.Info("wrote root hints", "path", *rootHints)
	}
	<-ctx.Done()
	log.Info("mininet stopping")
	closeDone := make(chan error, 1)
	go func() { closeDone <- in.Close() }()
	select {
	case err := <-closeDone:
		return err
	case <-time.After(5 * time.Second):
		return errors.New("close: timed out after 5s")
	}
}

// writeFileAtomic writes via a temporary file and a rename, so a script that
// polls for the file never reads half of it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
