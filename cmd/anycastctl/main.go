// Command anycastctl controls a running anycastd through its control socket.
//
//	anycastctl [-socket PATH] status [--json]
//	anycastctl [-socket PATH] drain
//	anycastctl [-socket PATH] undrain
//	anycastctl [-socket PATH] cache flush [NAME [--subtree]]
//	anycastctl [-socket PATH] cache stats [--json]
//	anycastctl [-socket PATH] audit [--json]
//	anycastctl [-socket PATH] querylog [--json] [--samples]
//	anycastctl image configure IMG node.yaml [--cert F --key F] [--ssh-key F] [--network F]
//	anycastctl [-socket PATH] upgrade FILE [--force] [--tries N] | upgrade check
//
// Exit codes: 0 done (also "already drained"), 1 the node refused or failed
// the command, 2 usage error, 3 the node could not be reached.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

const usage = `usage: anycastctl [-socket PATH] COMMAND [ARGS]

Commands:
  status [--json]   lifecycle state, service addresses, BGP peers, announced
                    routes and every health check with its last result
  drain [--wait] [--force]
                    take the node out of rotation, also across restarts,
                    until undrain: routes are re-announced with
                    GRACEFUL_SHUTDOWN and prepends, withdrawn once client
                    queries fall off (or at drain.timeout), and listeners
                    answer on until idle (at most drain.lame_duck).
                    --wait shows the query rate falling and returns when
                    drained; --force drains even the last announcer of a
                    service prefix (refused otherwise: exit 1)
  undrain           return to rotation; routes come back once health checks pass
  cache flush [NAME [--subtree]]
                    drop cached answers: all of them; or every type of NAME
                    and its delegation; or NAME and every name below it
  cache stats [--json]
                    entries, bytes, capacity, hits, misses, hit ratio,
                    stale answers served, prefetches, evictions
  audit [--json]    the node checks itself against each privacy commitment
                    (docs/privacy.md): one PASS/FAIL line with its evidence
                    each; exit 1 if any fails
  querylog [--json] [--samples]
                    the in-memory query log (privacy.query_log), or the
                    debug samples; clients as /24 or /48 prefixes at most
  image configure IMG node.yaml [--cert F] [--key F] [--ssh-key F.pub]
                    [--network F.network] [--file F[:DEST]] [--hostname H]
                    validate node.yaml and write a node's files into an
                    appliance image's config partition before flashing
                    (no root needed; uses mtools). docs/image.md
  upgrade FILE [--sha256 HEX] [--force] [--tries N] [--no-reboot]
                    on an appliance: check FILE.sha256, drain, write the
                    inactive root slot, add a boot entry with N tries
                    (default 3), reboot. A slot that does not reach
                    announcing is abandoned and the old one boots again.
  upgrade check [--timeout D]
                    the new slot's boot check: passes once announcing
  help              this text

Flags:
  -socket PATH      the node's control socket (node.control_socket in its
                    config; default /run/anycastd/control.sock)
  -timeout DUR      give up after DUR (default 15s)

Exit codes: 0 done (also "already drained"), 1 the node refused or failed
the command, 2 usage error, 3 the node could not be reached.
`

// exitError carries an exit code with the message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "anycastctl:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("anycastctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	socket := fs.String("socket", "/run/anycastd/control.sock", "control socket")
	timeout := fs.Duration("timeout", 15*time.Second, "timeout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return &exitError{2, fmt.Errorf("%v\n\n%s", err, usage)}
	}
	if fs.NArg() == 0 {
		return &exitError{2, fmt.Errorf("missing command\n\n%s", usage)}
	}
	// image and upgrade run for minutes: they take the unshortened context.
	base := ctx
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := control.NewClient(*socket)
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	var err error
	switch cmd {
	case "status":
		err = runStatus(ctx, c, rest, stdout)
	case "drain":
		err = runDrain(ctx, c, rest, stdout)
	case "undrain":
		err = runSimple(ctx, "undrain", rest, c.Undrain, stdout)
	case "cache":
		err = runCache(ctx, c, rest, stdout)
	case "audit":
		err = runAudit(ctx, c, rest, stdout)
	case "querylog":
		err = runQueryLog(ctx, c, rest, stdout)
	case "image":
		err = runImage(base, rest, stdout)
	case "upgrade":
		err = runUpgrade(base, c, rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return &exitError{2, fmt.Errorf("unknown command %q: known commands are status, drain, undrain, cache, audit, querylog, image, upgrade, help", cmd)}
	}
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		if errors.Is(err, control.ErrUnreachable) {
			return &exitError{3, err}
		}
		return &exitError{1, fmt.Errorf("%s: %w", cmd, err)}
	}
	return nil
}

func runSimple(ctx context.Context, name string, args []string, f func(context.Context) (*control.Result, error), stdout io.Writer) error {
	if len(args) > 0 {
		return &exitError{2, fmt.Errorf("%s takes no arguments, got %q", name, args)}
	}
	r, err := f(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, r.Message)
	return nil
}

// printJSON writes v as indented JSON, the --json form of every command.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
