package control

import "time"

// Encrypted is the DoT/DoH/DoQ part of the status (nil when tls.cert_file
// is not set).
type Encrypted struct {
	Certificate Certificate `json:"certificate"`
	Transports  []Transport `json:"transports"`
}

// Certificate is the certificate the encrypted listeners present.
type Certificate struct {
	Subject   string    `json:"subject"`
	NotAfter  time.Time `json:"not_after"`
	Reloaded  time.Time `json:"reloaded"`
	LastError string    `json:"last_error,omitempty"` // a reload that kept the old certificate
}

// Transport is one encrypted transport's counters.
type Transport struct {
	Proto             string   `json:"proto"` // dot, doh, doh3, doq
	Addrs             []string `json:"addrs"`
	OpenConnections   int64    `json:"open_connections"`
	Connections       uint64   `json:"connections"`
	Rejected          uint64   `json:"rejected"`
	Queries           uint64   `json:"queries"`
	Handshakes        uint64   `json:"handshakes"`
	HandshakeFailures uint64   `json:"handshake_failures"`
}
