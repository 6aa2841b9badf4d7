package bgp

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

func TestLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	a := newLogAdapter(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	a.Info("Peer Up", gobgplog.Fields{"Topic": "Peer", "Key": "198.18.1.1", "State": "BGP_FSM_OPENCONFIRM", "AdminState": "up"})
	a.Warn("listen failed", gobgplog.Fields{"Topic": "Server", "Key": "0.0.0.0", "Error": "boom", gobgplog.FieldFacility: "x"})
	a.Debug("dropped", gobgplog.Fields{"Topic": "Peer"})
	got := buf.String()
	for _, want := range []string{
		`msg="Peer Up" component=gobgp admin_state=up peer=198.18.1.1 state=BGP_FSM_OPENCONFIRM topic=Peer`,
		`level=WARN msg="listen failed" component=gobgp err=boom key=0.0.0.0 topic=Server`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log missing %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "dropped") || strings.Contains(got, "facility") {
		t.Errorf("debug line or facility field logged at info level:\n%s", got)
	}
	if lvl := a.GetLevel(); lvl != gobgplog.InfoLevel {
		t.Errorf("GetLevel() = %v, want info", lvl)
	}
}

func TestLogAdapterLevels(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  gobgplog.LogLevel
	}{
		{slog.LevelDebug, gobgplog.DebugLevel},
		{slog.LevelInfo, gobgplog.InfoLevel},
		{slog.LevelWarn, gobgplog.WarnLevel},
		{slog.LevelError, gobgplog.ErrorLevel},
	}
	for _, tc := range tests {
		a := newLogAdapter(slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: tc.level})))
		if got := a.GetLevel(); got != tc.want {
			t.Errorf("handler level %v: GetLevel() = %v, want %v", tc.level, got, tc.want)
		}
	}
}

func TestLogAdapterFatalPanicsInsteadOfExiting(t *testing.T) {
	a := newLogAdapter(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	for name, f := range map[string]func(string, gobgplog.Fields){"Fatal": a.Fatal, "Panic": a.Panic} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f("unknown msg type", nil)
		}()
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"Topic": "topic", "AdminState": "admin_state", "VRF": "vrf", "ReceivedRf": "received_rf",
		"withdrawals": "withdrawals", "RouteType": "route_type", "PeerAS": "peer_as", "Rd": "rd",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}
