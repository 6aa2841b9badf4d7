package node

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestControlPprof: the profiler answers on the control socket (the
// operator's way to see where CPU and memory go), and an unknown path
// still names every command, the profiler included.
func TestControlPprof(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "node.pprof on", false: "off by default"}[on], func(t *testing.T) { testControlPprof(t, on) })
	}
}

func testControlPprof(t *testing.T, on bool) {
	cfg := &Config{}
	cfg.Node.ControlSocket = filepath.Join(t.TempDir(), "c.sock")
	cfg.Node.PProf = on
	n := &Node{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	l, err := n.listenControl()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.serveControl(ctx, l) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveControl: %v", err)
		}
	}()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", cfg.Node.ControlSocket)
		},
	}}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get("http://node" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if !on {
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=2", "/debug/pprof/profile?seconds=1"} {
			if code, body := get(p); code != http.StatusNotFound || !strings.Contains(body, "node.pprof: true") {
				t.Errorf("%s with the profiler off: %d %.200q", p, code, body)
			}
		}
		if _, body := get("/v1/nothing"); strings.Contains(body, "/debug/pprof/") {
			t.Errorf("unknown path names the profiler although it is off: %q", body)
		}
		return
	}
	if code, body := get("/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("heap profile: %d %.200q", code, body)
	}
	if code, body := get("/debug/pprof/profile?seconds=1"); code != http.StatusOK || len(body) == 0 {
		t.Errorf("cpu profile: %d, %d bytes", code, len(body))
	}
	if code, body := get("/v1/nothing"); code != http.StatusNotFound || !strings.Contains(body, "/debug/pprof/") {
		t.Errorf("unknown path: %d %q", code, body)
	}
}
