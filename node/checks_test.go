package node

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anycastd/anycastd/resolver"
)

// TestServfailRatioFromCounters: the servfail check judges the interval
// since its last probe from the resolver's running totals.
func TestServfailRatioFromCounters(t *testing.T) {
	var c resolver.Counters
	var cd counterDelta
	probe := func() error { return servfailVerdict(cd.delta(rcodeSums(c)))(0.5, 20) }
	if err := probe(); err != nil {
		t.Fatalf("first probe has no interval to judge, got %v", err)
	}
	c.Answers, c.Servfails = 110, 10
	if err := probe(); err != nil {
		t.Errorf("9%% SERVFAIL flagged: %v", err)
	}
	c.Answers, c.Servfails = 150, 40 // +40 answers, 30 of them SERVFAIL
	if err := probe(); err == nil || !strings.Contains(err.Error(), "75% of 40 answers") {
		t.Errorf("75%% SERVFAIL: got %v", err)
	}
	c.Answers, c.Servfails = 155, 45
	if err := probe(); err != nil {
		t.Errorf("5 answers are too few to judge, got %v", err)
	}
}

func TestClockVerdict(t *testing.T) {
	tests := []struct {
		s    timexState
		want string
	}{
		{timexState{state: unix.TIME_OK, maxError: 10 * time.Millisecond}, ""},
		{timexState{state: unix.TIME_ERROR, unsynced: true}, "not synchronised"},
		{timexState{state: unix.TIME_OK, unsynced: true}, "not synchronised"},
		{timexState{state: unix.TIME_OK, maxError: 3 * time.Second}, "above 1s"},
	}
	for _, tt := range tests {
		err := clockVerdict(tt.s)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("clockVerdict(%+v) = %v, want %q", tt.s, err, tt.want)
		}
	}
	// The real kernel answers without error (synchronised or not).
	if s := adjtimex(); s.err != nil {
		t.Errorf("adjtimex: %v", s.err)
	}
}

func TestUpstreamLatencyFromCounters(t *testing.T) {
	var c resolver.Counters
	var cd counterDelta
	probe := func() error { return latencyVerdict(cd.delta(rttSums(c)))(300 * time.Millisecond) }
	probe()
	c.UpstreamAnswers, c.UpstreamRTT = 10, 200*time.Millisecond
	if err := probe(); err != nil {
		t.Errorf("20ms mean flagged: %v", err)
	}
	c.UpstreamAnswers, c.UpstreamRTT = 20, c.UpstreamRTT+9*time.Second
	if err := probe(); err == nil || !strings.Contains(err.Error(), "900ms") {
		t.Errorf("900ms mean: got %v", err)
	}
	c.UpstreamAnswers, c.UpstreamRTT = 21, c.UpstreamRTT+5*time.Second
	if err := probe(); err != nil {
		t.Errorf("one slow answer is too few to judge, got %v", err)
	}
}

// TestSignatureTimeFromCounters: expired and not-yet-valid bogus answers
// reach the clock verdict from the resolver's totals.
func TestSignatureTimeFromCounters(t *testing.T) {
	var c resolver.Counters
	var cd counterDelta
	probe := func() error { return signatureTimeVerdict(cd.delta(bogusSums(c))) }
	if err := probe(); err != nil {
		t.Fatalf("first probe: %v", err)
	}
	c.Bogus, c.BogusExpired, c.BogusNotYet = 30, 20, 5
	if err := probe(); err == nil || !strings.Contains(err.Error(), "25 of 30 bogus answers") || !strings.Contains(err.Error(), "20 expired, 5 not yet valid") {
		t.Errorf("25 of 30 on signature times: got %v", err)
	}
	c.Bogus = 60 // 30 more, none on times
	if err := probe(); err != nil {
		t.Errorf("no signature-time failures in the interval: %v", err)
	}
}
