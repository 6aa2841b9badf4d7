package node

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

func TestServfailRatioFromMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	q := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "anycastd_queries_total"}, []string{"proto", "qtype", "rcode"})
	reg.MustRegister(q)
	var cd counterDelta
	probe := func() error {
		now, err := sumMetric(reg, "anycastd_queries_total", "rcode")
		if err != nil {
			t.Fatal(err)
		}
		return servfailVerdict(cd.delta(now))(0.5, 20)
	}
	if err := probe(); err != nil {
		t.Fatalf("first probe has no interval to judge, got %v", err)
	}
	q.WithLabelValues("udp", "A", "NOERROR").Add(100)
	q.WithLabelValues("udp", "A", "SERVFAIL").Add(10)
	if err := probe(); err != nil {
		t.Errorf("9%% SERVFAIL flagged: %v", err)
	}
	q.WithLabelValues("tcp", "AAAA", "SERVFAIL").Add(30)
	q.WithLabelValues("udp", "A", "NOERROR").Add(10)
	if err := probe(); err == nil || !strings.Contains(err.Error(), "75% of 40 answers") {
		t.Errorf("75%% SERVFAIL: got %v", err)
	}
	q.WithLabelValues("udp", "A", "SERVFAIL").Add(5)
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

func TestUpstreamLatencyFromMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "anycastd_upstream_rtt_seconds"})
	reg.MustRegister(h)
	var cd counterDelta
	probe := func() error {
		now, err := sumMetric(reg, "anycastd_upstream_rtt_seconds", "")
		if err != nil {
			t.Fatal(err)
		}
		return latencyVerdict(cd.delta(now))(300 * time.Millisecond)
	}
	probe()
	for i := 0; i < 10; i++ {
		h.Observe(0.02)
	}
	if err := probe(); err != nil {
		t.Errorf("20ms mean flagged: %v", err)
	}
	for i := 0; i < 10; i++ {
		h.Observe(0.9)
	}
	if err := probe(); err == nil || !strings.Contains(err.Error(), "900ms") {
		t.Errorf("900ms mean: got %v", err)
	}
	h.Observe(5)
	if err := probe(); err != nil {
		t.Errorf("one slow answer is too few to judge, got %v", err)
	}
}
