package mininet

import (
	"fmt"
	"time"
)

// Fault makes one server misbehave, so tests can watch a resolver cope with
// outages: every node in the fleet sees the same broken upstream at once.
type Fault uint32

const (
	// Healthy servers answer normally.
	Healthy Fault = iota
	// Drop counts queries and never answers: the server times out.
	Drop
	// ServFail answers every query with SERVFAIL.
	ServFail
	// Refuse answers every query with REFUSED, like a lame server.
	Refuse
)

func (f Fault) String() string {
	switch f {
	case Healthy:
		return "healthy"
	case Drop:
		return "drop"
	case ServFail:
		return "servfail"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("fault(%d)", uint32(f))
}

// SetFault sets how the named server (e.g. "a.root-servers.net.") behaves from
// the next query on. It is safe to call while the servers run.
func (in *Internet) SetFault(server string, f Fault) error {
	if f > Refuse {
		return fmt.Errorf("set fault %s: unknown fault %d", server, f)
	}
	s, err := in.server(server)
	if err != nil {
		return fmt.Errorf("set fault: %w", err)
	}
	s.fault.Store(uint32(f))
	return nil
}

// SetLatency adds d before every answer of the named server, on top of
// Config.Latency, so server selection by RTT can be tested. Zero removes it.
func (in *Internet) SetLatency(server string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("set latency %s: negative %v", server, d)
	}
	s, err := in.server(server)
	if err != nil {
		return fmt.Errorf("set latency: %w", err)
	}
	s.latency.Store(int64(d))
	return nil
}

// server finds a bound server by name.
func (in *Internet) server(name string) (*server, error) {
	for _, s := range in.servers {
		if s.name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no server %q", name)
}
