package main

import (
	"bytes"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string // substrings of stdout+stderr
	}{
		{"valid config checks ok", []string{"-check", "-config", "../../node/testdata/config/lab.yaml"}, 0, []string{": ok"}},
		{"every problem is listed", []string{"-check", "-config", "../../node/testdata/config/bad-values.yaml"}, 2, []string{
			"node.name:", "bgp.peers[0].asn: must be 1..4294967295, got 0", "health.rise:", "log.format:",
		}},
		{"missing file", []string{"-check", "-config", "/nonexistent/anycastd.yaml"}, 2, []string{"/nonexistent/anycastd.yaml"}},
		{"bad config also stops a real start", []string{"-config", "../../node/testdata/config/bad-unknown-keys.yaml"}, 2, []string{"unknown key"}},
		{"stray argument", []string{"run"}, 2, []string{`unexpected argument "run"`}},
		{"unknown flag", []string{"-frobnicate"}, 2, []string{"frobnicate"}},
		{"version", []string{"-version"}, 0, []string{"anycastd "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(tt.args, &out, &out)
			if code != tt.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.code, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestMemoryLimit: the runtime gets a soft memory limit from the cache
// size, and an operator's GOMEMLIMIT is left alone.
func TestMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })

	debug.SetMemoryLimit(math.MaxInt64)
	limit, ok := setMemoryLimit(64<<20, func(string) string { return "" })
	if want := int64(128 << 20); !ok || limit != want {
		t.Fatalf("setMemoryLimit(64MiB) = %d, %v; want %d, true", limit, ok, want)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("runtime memory limit %d, want %d", got, limit)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	if _, ok := setMemoryLimit(64<<20, env); ok {
		t.Error("setMemoryLimit overrode GOMEMLIMIT")
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("runtime memory limit %d after GOMEMLIMIT was set, want it untouched", got)
	}
}
