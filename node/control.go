package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/anycastd/anycastd/health"
	"github.com/anycastd/anycastd/internal/control"
)

// listenControl opens the control socket with mode 0600: only root (or the
// daemon's user) may drain the node.
func (n *Node) listenControl() (net.Listener, error) {
	path := n.cfg.Node.ControlSocket
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: create directory: %w", path, err)
	}
	// A socket left by a crashed daemon would make Listen fail; if nobody
	// answers on it, it is stale and safe to remove. Anything else at the
	// path (a file, a directory, a symlink) is not ours to delete.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("control socket %s: the path exists and is not a socket (%v); remove it or set node.control_socket to another path", path, fi.Mode().Type())
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another anycastd is running with this node.control_socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
		}
	}
	// The socket is created 0600 (umask 0177 around Listen), so there is no
	// moment in which another user could connect before the chmod below.
	// The umask is process-wide; for that moment it only makes files other
	// goroutines create more private.
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: chmod 0600: %w", path, err)
	}
	return l, nil
}

func (n *Node) serveControl(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", n.handleStatus)
	mux.HandleFunc("POST /v1/drain", func(w http.ResponseWriter, r *http.Request) {
		force := r.URL.Query().Get("force") == "1"
		n.handleCommand(func(l *loop) (control.Result, error) { return l.drainCmd(force) })(w, r)
	})
	mux.HandleFunc("POST /v1/undrain", n.handleCommand(func(l *loop) (control.Result, error) { return l.undrainCmd() }))
	mux.HandleFunc("POST /v1/cache/flush", n.handleCacheFlush)
	mux.HandleFunc("GET /v1/cache/stats", n.handleCacheStats)
	mux.HandleFunc("GET /v1/querylog", n.handleQueryLog)
	mux.HandleFunc("GET /v1/audit", n.handleAudit)
	// Go's profiler, for operators chasing CPU or memory (docs/benchmarks.md
	// shows how): only with node.pprof, only on this root-only socket,
	// never on a network port.
	known := "GET /v1/status, POST /v1/drain, POST /v1/undrain, POST /v1/cache/flush, GET /v1/cache/stats, GET /v1/querylog, GET /v1/audit"
	if n.cfg.Node.PProf {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		known += ", GET /debug/pprof/"
	} else {
		mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, control.Error{Error: "the profiler is off: its goroutine dumps can hold client addresses; set node.pprof: true to turn it on (docs/privacy.md)"})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, control.Error{Error: fmt.Sprintf("unknown control command %s %s: the node knows %s", r.Method, r.URL.Path, known)})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	os.Remove(n.cfg.Node.ControlSocket)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (n *Node) handleCommand(f func(*loop) (control.Result, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		var res control.Result
		var ferr error
		if err := n.do(ctx, func(l *loop) { res, ferr = f(l) }); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, control.Error{Error: err.Error()})
			return
		}
		if errors.Is(ferr, control.ErrLastAnnouncer) {
			writeJSON(w, http.StatusConflict, control.Error{Error: ferr.Error()})
			return
		}
		if ferr != nil {
			writeJSON(w, http.StatusInternalServerError, control.Error{Error: ferr.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := n.status(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, control.Error{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// status assembles the status document: lifecycle state from the loop,
// the rest from the parts that own it.
func (n *Node) status(ctx context.Context) (*control.Status, error) {
	st := &control.Status{Node: n.cfg.Node.Name, Version: Version}
	var announced map[string]bool
	err := n.do(ctx, func(l *loop) {
		now := n.clock.Now()
		st.State, st.Reason, st.Since, st.DrainIntent = l.state, l.reason, l.since, l.drainIntent
		announced = map[string]bool{}
		for a := range l.announced {
			announced[a.String()] = true
		}
		for _, a := range l.guarded {
			st.Guarded = append(st.Guarded, a.String())
		}
		st.QPS = l.rate.qps()
		st.Damping.Penalty, st.Damping.Suppressed, st.Damping.Flaps = l.damp.state(now)
		st.Drain = l.progress(now)
	})
	if err != nil {
		return nil, err
	}
	for _, a := range n.cfg.Service.Addresses {
		present, _ := n.addrs.Present(a)
		st.Addresses = append(st.Addresses, control.Address{
			Address: a.String(), Interface: n.cfg.Service.Interface, Present: present, Announced: announced[a.String()],
		})
	}
	for _, r := range n.speaker.Announced() {
		cr := control.Route{Prefix: r.Prefix.String(), MED: r.MED, Prepend: r.Prepend}
		for _, c := range r.Communities {
			cr.Communities = append(cr.Communities, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
		}
		for _, c := range r.LargeCommunities {
			cr.Communities = append(cr.Communities, c.String())
		}
		st.Announced = append(st.Announced, cr)
	}
	sort.Slice(st.Announced, func(i, j int) bool { return st.Announced[i].Prefix < st.Announced[j].Prefix })
	peers, err := n.speaker.Peers(ctx)
	if err != nil {
		n.log.Warn("status: list bgp peers", "err", err)
	}
	malformed := malformedByPeer(n.speaker.MalformedCounts())
	for _, p := range peers {
		cp := control.Peer{
			Address: p.Address.String(), ASN: p.ASN, State: p.State,
			UptimeSecs: int64(p.Uptime / time.Second), Received: p.Received, Advertised: p.Advertised,
			DisabledReason: p.DisabledReason, Malformed: malformed[p.Address],
		}
		if !p.DisabledUntil.IsZero() {
			cp.DisabledUntil = &p.DisabledUntil
		}
		st.Peers = append(st.Peers, cp)
	}
	for _, c := range n.monitor.Snapshot() {
		st.Checks = append(st.Checks, control.Check{
			Name: c.Name, Level: levelName(c.Level), Healthy: c.Healthy, Known: c.Known,
			LastError: c.LastErr, LastRun: c.LastRun, LastChange: c.LastChange,
		})
	}
	st.Queries = n.clientQueries()
	if n.encrypted != nil {
		es := n.encrypted.Status()
		c := es.Certificate
		st.Encrypted = &control.Encrypted{Certificate: control.Certificate{Subject: c.Subject, NotAfter: c.NotAfter, Reloaded: c.Reloaded, LastError: c.LastError}}
		for _, t := range es.Transports {
			ct := control.Transport{Proto: t.Proto, OpenConnections: t.OpenConnections, Connections: t.Connections, Rejected: t.Rejected,
				Queries: t.Queries, Handshakes: t.Handshakes, HandshakeFailures: t.HandshakeFailures}
			for _, a := range t.Addrs {
				ct.Addrs = append(ct.Addrs, a.String())
			}
			st.Encrypted.Transports = append(st.Encrypted.Transports, ct)
		}
	}
	st.Privacy = n.privacyStatus()
	return st, nil
}

func levelName(l health.Level) string {
	if l == health.Critical {
		return "critical"
	}
	return "degrading"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
