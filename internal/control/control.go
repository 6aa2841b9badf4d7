// Package control defines the node's control API: the JSON documents served
// on the unix control socket and a small client for them. The node serves it;
// anycastctl uses the client. Keeping both sides on these types is what keeps
// `anycastctl status --json` and the daemon in step.
//
// The transport is HTTP/1.1 over the unix socket (mode 0600): requests are
// GET /v1/status, POST /v1/drain, POST /v1/undrain, POST /v1/cache/flush
// (body CacheFlushRequest) and GET /v1/cache/stats. Errors come back as
// {"error": "..."} with a non-2xx status.
package control

import (
	"time"
)

// States of the node's lifecycle, as reported in Status.State.
const (
	StateStarting   = "starting"
	StateWarming    = "warming"
	StateAnnouncing = "announcing"
	StateWithdrawn  = "withdrawn"
	StateDraining   = "draining"
	StateDrained    = "drained"
	StateStopping   = "stopping"
	// StateDegraded: announced with de-preferring attributes because a
	// degrading check fails.
	StateDegraded = "degraded"
	// StateGuarded: a critical check fails, but no other announcer of the
	// service prefix is visible, so the node stays announced at the lowest
	// preference rather than take the service down.
	StateGuarded = "guarded"
)

// Status is the answer to GET /v1/status.
type Status struct {
	Node        string    `json:"node"`
	Version     string    `json:"version"`
	State       string    `json:"state"`
	Reason      string    `json:"reason"`
	Since       time.Time `json:"since"`
	DrainIntent bool      `json:"drain_intent"`
	Addresses   []Address `json:"addresses"`
	Announced   []Route   `json:"announced"`
	Peers       []Peer    `json:"peers"`
	Checks      []Check   `json:"checks"`
	Queries     uint64    `json:"queries"`
	// QPS is the client query rate over the last second (canaries excluded).
	QPS float64 `json:"qps"`
	// Guarded lists service addresses kept announced by the last-announcer
	// guard although a critical check fails.
	Guarded []string       `json:"guarded,omitempty"`
	Damping Damping        `json:"damping"`
	Drain   *DrainProgress `json:"drain,omitempty"`
	// Encrypted is nil when DoT/DoH/DoQ are not configured.
	Encrypted *Encrypted `json:"encrypted,omitempty"`
	// Privacy says what the node keeps about clients (privacy.go).
	Privacy *Privacy `json:"privacy,omitempty"`
}

// Damping is the flap damper's state.
type Damping struct {
	Penalty    float64 `json:"penalty"`
	Suppressed bool    `json:"suppressed"`
	Flaps      int     `json:"flaps"`
}

// DrainProgress is a drain (by the operator or by shutdown) under way.
type DrainProgress struct {
	Reason   string    `json:"reason"` // operator or shutdown
	Phase    string    `json:"phase"`  // taper, lame duck, done
	Started  time.Time `json:"started"`
	Deadline time.Time `json:"deadline,omitzero"` // end of the current phase at the latest
	QPS      float64   `json:"qps"`
	MinQPS   float64   `json:"min_qps"`
}

// Address is one service address and what the node knows of it.
type Address struct {
	Address   string `json:"address"`
	Interface string `json:"interface"`
	Present   bool   `json:"present"`
	Announced bool   `json:"announced"`
}

// Route is one prefix the speaker announces.
type Route struct {
	Prefix      string   `json:"prefix"`
	Communities []string `json:"communities,omitempty"`
	MED         uint32   `json:"med,omitempty"`
	Prepend     int      `json:"prepend,omitempty"`
}

// Peer is one BGP session.
type Peer struct {
	Address    string `json:"address"`
	ASN        uint32 `json:"asn"`
	State      string `json:"state"`
	UptimeSecs int64  `json:"uptime_seconds"`
	Received   int    `json:"received"`
	Advertised int    `json:"advertised"`
	// DisabledUntil is set while the node keeps the peer disabled because
	// its input kept resetting the session (bgp.faults), with the reason.
	DisabledUntil  *time.Time `json:"disabled_until,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	// Malformed counts, per action, messages from this peer that were not
	// used as sent (treat_as_withdraw, attribute_discard, session_reset, panic).
	Malformed map[string]uint64 `json:"malformed,omitempty"`
}

// Check is one health check's latest result.
type Check struct {
	Name       string    `json:"name"`
	Level      string    `json:"level"`
	Healthy    bool      `json:"healthy"`
	Known      bool      `json:"known"`
	LastError  string    `json:"last_error,omitempty"`
	LastRun    time.Time `json:"last_run"`
	LastChange time.Time `json:"last_change"`
}

// Result answers POST /v1/drain and /v1/undrain.
type Result struct {
	// Changed is false when the node was already in the asked-for state
	// (drain twice says "already draining").
	Changed bool   `json:"changed"`
	State   string `json:"state"`
	Message string `json:"message"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}
