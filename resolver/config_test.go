package resolver

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	hints := []netip.Addr{netip.MustParseAddr("127.0.53.1")}
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{"minimal", Config{RootHints: hints}, nil},
		{"no root hints", Config{}, []string{"root_hints: empty"}},
		{"all problems at once", Config{
			RootHints:       []netip.Addr{{}},
			Listen:          []netip.AddrPort{{}},
			CacheBytes:      -1,
			UpstreamTimeout: -time.Second,
		}, []string{"root_hints[0]", "listen[0]", "cache_bytes", "upstream_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg, nil, nil)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if r.cfg.UpstreamPort != 53 || r.cfg.CacheBytes != defaultCacheBytes {
					t.Errorf("defaults not applied: %+v", r.cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted the config")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
