package main

import (
	"bytes"
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
