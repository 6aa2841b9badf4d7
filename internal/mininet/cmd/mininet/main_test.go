package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestPrintAddrsAndFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		first []string // first lines of stdout
		lines int
		err   string
	}{
		{"lab default", []string{"-print-addrs"}, []string{"198.51.100.1", "2001:db8:100::1", "198.51.100.2"}, 49, ""},
		{"no IPv6", []string{"-print-addrs", "-prefix6", ""}, []string{"198.51.100.1", "198.51.100.2"}, 24, ""},
		{"tests", []string{"-print-addrs", "-prefix4", "127.0.53.0/24", "-prefix6="}, []string{"127.0.53.1"}, 24, ""},
		{"bad prefix4", []string{"-prefix4", "198.51.100.0"}, nil, 0, "-prefix4"},
		{"bad prefix6", []string{"-prefix6", "x"}, nil, 0, "-prefix6"},
		{"port too big", []string{"-port", "70000"}, nil, 0, "-port"},
		{"prefix too small", []string{"-prefix4", "10.0.0.0/30", "-print-addrs"}, nil, 0, "too small"},
		{"stray argument", []string{"extra"}, nil, 0, "usage"},
		{"unknown flag", []string{"-nope"}, nil, 0, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, &stdout, &stderr)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if len(lines) != tt.lines {
				t.Errorf("%d lines, want %d", len(lines), tt.lines)
			}
			for i, want := range tt.first {
				if lines[i] != want {
					t.Errorf("line %d = %q, want %q", i, lines[i], want)
				}
			}
		})
	}
}

// TestRunServesUntilCancelled starts the binary's run on loopback with a
// random port, waits for the root hints file, queries a root and stops it.
func TestRunServesUntilCancelled(t *testing.T) {
	hints := filepath.Join(t.TempDir(), "root.hints")
	anchor := filepath.Join(t.TempDir(), "root.ds")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() {
		done <- run(ctx, []string{"-prefix4", "127.0.56.0/24", "-prefix6", "", "-port", "0", "-root-hints", hints, "-trust-anchor", anchor}, &bytes.Buffer{}, &stderr)
	}()
	deadline := time.Now().Add(5 * time.Second)
	var text []byte
	for {
		var err error
		if text, err = os.ReadFile(hints); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no root hints after 5s\n%s", stderr.String())
		}
	}
	if !strings.Contains(string(text), "a.root-servers.net.\t3600000\tIN\tA\t127.0.56.1") {
		t.Errorf("hints:\n%s", text)
	}
	ds, err := os.ReadFile(anchor)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ds), ".\t86400\tIN\tDS\t") {
		t.Errorf("trust anchor:\n%s", ds)
	}
	port := portFromLog(t, stderr.String())
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeSOA)
	r, err := dns.Exchange(m, "127.0.56.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Authoritative || len(r.Answer) != 1 {
		t.Errorf("root SOA: %v", r)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
}

func portFromLog(t *testing.T, log string) string {
	t.Helper()
	for _, f := range strings.Fields(log) {
		if p, ok := strings.CutPrefix(f, "port="); ok {
			return p
		}
	}
	t.Fatalf("no port in log:\n%s", log)
	return ""
}
