package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anycastd/anycastd/internal/control"
)

// fakeNode serves the cache endpoints on a unix socket and records the
// flush requests it gets.
type fakeNode struct {
	socket  string
	mu      sync.Mutex // guards flushes
	flushes []control.CacheFlushRequest
}

func newFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	f := &fakeNode{socket: filepath.Join(t.TempDir(), "control.sock")}
	l, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/cache/flush", func(w http.ResponseWriter, r *http.Request) {
		var req control.CacheFlushRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("flush body: %v", err)
		}
		f.mu.Lock()
		f.flushes = append(f.flushes, req)
		f.mu.Unlock()
		json.NewEncoder(w).Encode(control.CacheFlushResult{Removed: 3, Message: "flushed: 3 entries removed"})
	})
	mux.HandleFunc("GET /v1/cache/stats", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(control.CacheStats{Entries: 10, Bytes: 2048, Capacity: 4096, Hits: 3, Misses: 1, HitRatio: 0.75, StaleAnswers: 2, Prefetches: 5, Evictions: 7})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func TestCacheCommands(t *testing.T) {
	f := newFakeNode(t)
	tests := []struct {
		args      []string
		wantFlush *control.CacheFlushRequest
		wantOut   []string
	}{
		{[]string{"cache", "flush"}, &control.CacheFlushRequest{All: true}, []string{"3 entries removed"}},
		{[]string{"cache", "flush", "example.com"}, &control.CacheFlushRequest{Name: "example.com"}, nil},
		{[]string{"cache", "flush", "example.com", "--subtree"}, &control.CacheFlushRequest{Name: "example.com", Subtree: true}, nil},
		{[]string{"cache", "stats"}, nil, []string{"entries:", "10", "2048 of 4096 (50.0%)", "hit ratio:", "75.0%", "stale answers:", "prefetches:", "evictions:"}},
		{[]string{"cache", "stats", "--json"}, nil, []string{`"hit_ratio": 0.75`, `"stale_answers": 2`, `"evictions": 7`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f.mu.Lock()
			f.flushes = nil
			f.mu.Unlock()
			var out bytes.Buffer
			if err := run(context.Background(), append([]string{"-socket", f.socket}, tt.args...), &out, &bytes.Buffer{}); err != nil {
				t.Fatalf("run: %v", err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if tt.wantFlush != nil && (len(f.flushes) != 1 || f.flushes[0] != *tt.wantFlush) {
				t.Errorf("flush requests %+v, want %+v", f.flushes, *tt.wantFlush)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestCacheUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"cache"}, "missing subcommand"},
		{[]string{"cache", "purge"}, `unknown subcommand "purge"`},
		{[]string{"cache", "flush", "--subtree"}, "--subtree needs a NAME"},
		{[]string{"cache", "flush", "a.com", "b.com"}, "one NAME at most"},
		{[]string{"cache", "flush", "a.com", "--all"}, `unknown argument "--all"`},
		{[]string{"cache", "stats", "--yaml"}, `unknown argument "--yaml"`},
	}
	for _, tt := range tests {
		err := run(context.Background(), append([]string{"-socket", "/nonexistent/x.sock"}, tt.args...), &bytes.Buffer{}, &bytes.Buffer{})
		ee, ok := err.(*exitError)
		if !ok || ee.code != 2 || !strings.Contains(ee.Error(), tt.want) {
			t.Errorf("%v: %v, want exit 2 containing %q", tt.args, err, tt.want)
		}
	}
}
