package node

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/anycastd/anycastd/internal/control"
	"github.com/anycastd/anycastd/internal/mininet"
	"github.com/anycastd/anycastd/resolver"
)

// TestControlCache drives /v1/cache/flush and /v1/cache/stats through the
// control client against a real resolver that resolved names from the
// mini internet.
func TestControlCache(t *testing.T) {
	in, err := mininet.New(mininet.Config{Prefix4: netip.MustParsePrefix("127.0.57.0/24")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	hints, err := resolver.ParseRootHints(strings.NewReader(in.RootHints()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(resolver.Config{RootHints: hints, UpstreamPort: in.Port(), UpstreamTimeout: 300 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{resolver: res, log: slog.New(slog.DiscardHandler)}

	socket := filepath.Join(t.TempDir(), "c.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/cache/flush", n.handleCacheFlush)
	mux.HandleFunc("GET /v1/cache/stats", n.handleCacheStats)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	c := control.NewClient(socket)

	resolve := func(names ...string) {
		t.Helper()
		for _, name := range names {
			if _, err := res.Resolve(ctx, dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}); err != nil {
				t.Fatalf("resolve %s: %v", name, err)
			}
		}
	}
	resolve("www.example.com.", "short.example.com.", "www.example.net.")
	resolve("www.example.com.") // a hit

	st, err := c.CacheStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Hits != 1 || st.Misses != 3 || st.Entries < 3 || st.Bytes == 0 || st.Capacity == 0 {
		t.Errorf("stats %+v", st)
	}

	tests := []struct {
		name    string
		subtree bool
		removed func(int) bool
		msg     string
	}{
		{"www.example.com", false, func(n int) bool { return n == 1 }, "flushed www.example.com.: 1 entries removed"},
		{"www.example.com", false, func(n int) bool { return n == 0 }, "0 entries removed"}, // safe to repeat
		{"example.com", true, func(n int) bool { return n >= 2 }, "every name below it"},    // short + delegation
		{"", false, func(n int) bool { return n >= 1 }, "the whole cache"},
	}
	for _, tt := range tests {
		r, err := c.FlushCache(ctx, tt.name, tt.subtree)
		if err != nil {
			t.Fatalf("flush %q: %v", tt.name, err)
		}
		if !tt.removed(r.Removed) || !strings.Contains(r.Message, tt.msg) {
			t.Errorf("flush %q subtree=%v: %+v", tt.name, tt.subtree, r)
		}
	}
	if st, _ := c.CacheStats(ctx); st.Entries != 0 {
		t.Errorf("entries after flushing all: %d", st.Entries)
	}
	if _, err := c.FlushCache(ctx, "bad..name", false); err == nil || !strings.Contains(err.Error(), "not a domain name") {
		t.Errorf("flush of a bad name: %v", err)
	}

	// A request that is not exactly one of the two forms flushes nothing.
	resolve("www.example.com.")
	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	for _, body := range []string{
		``,                               // empty: once meant "flush everything"
		`{}`,                             // neither all nor name
		`{"nmae": "example.com"}`,        // a typo
		`{"all": true, "name": "a.com"}`, // both
		`{"subtree": true}`,              // subtree of nothing
		`{"all": true} {"all": true}`,    // trailing data
		`{"all": "yes"}`,                 // wrong type
		`{"name": "a.com", "extra": 1}`,  // unknown field
	} {
		resp, err := hc.Post("http://anycastd/v1/cache/flush", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: status %d (%s), want 400", body, resp.StatusCode, b)
		}
	}
	if st, _ := c.CacheStats(ctx); st.Entries == 0 {
		t.Errorf("a refused flush request emptied the cache")
	}
}
