package control

import (
	"context"
	"net/http"
	"time"
)

// Privacy is the part of the status that says what the node keeps about
// clients, so an operator sees at once when core dumps or debug sampling
// are on.
type Privacy struct {
	CoreDumps       bool    `json:"core_dumps"` // allowed by privacy.allow_core_dumps
	QueryLog        bool    `json:"query_log"`
	Dnstap          bool    `json:"dnstap"`
	DebugSampling   bool    `json:"debug_sampling"`
	DebugSampleRate float64 `json:"debug_sample_rate,omitempty"`
	RateLimit       bool    `json:"rate_limit"`
	Retention       string  `json:"retention"`
}

// QueryLog answers GET /v1/querylog: the retained query log records and
// debug samples, oldest first. Client locations are /24 or /48 prefixes at
// most.
type QueryLog struct {
	Enabled       bool           `json:"enabled"`
	Records       []QueryRecord  `json:"records"`
	SamplingOn    bool           `json:"sampling"`
	Samples       []QuerySample  `json:"samples,omitempty"`
	Retention     string         `json:"retention"`
	Fields        []string       `json:"fields"`
	ClientPrefix  bool           `json:"client_prefix"`
	GeneratedAt   time.Time      `json:"generated_at"`
	PrefixLengths map[string]int `json:"prefix_lengths"` // "ipv4": 24, "ipv6": 48
}

// QueryRecord is one query log entry: the allowlisted fields only.
type QueryRecord struct {
	Time           time.Time `json:"time"`
	QName          string    `json:"qname"`
	QType          string    `json:"qtype"`
	RCode          string    `json:"rcode"`
	Protocol       string    `json:"protocol"`
	Node           string    `json:"node"`
	DurationMicros int64     `json:"duration_us"`
	CacheHit       bool      `json:"cache_hit"`
	EDE            []uint16  `json:"ede,omitempty"`
	ClientPrefix   string    `json:"client_prefix,omitempty"`
}

// QuerySample is one debug sample.
type QuerySample struct {
	Time           time.Time `json:"time"`
	QName          string    `json:"qname"`
	QType          string    `json:"qtype"`
	RCode          string    `json:"rcode"`
	Protocol       string    `json:"protocol"`
	DurationMicros int64     `json:"duration_us"`
	ClientPrefix   string    `json:"client_prefix,omitempty"`
}

// Audit answers GET /v1/audit: the node's check of itself against each
// privacy commitment (docs/privacy.md).
type Audit struct {
	Node   string       `json:"node"`
	Time   time.Time    `json:"time"`
	Pass   bool         `json:"pass"` // every check passed
	Checks []AuditCheck `json:"checks"`
}

// AuditCheck is one commitment, whether the node keeps it, and the
// evidence it looked at.
type AuditCheck struct {
	Name     string `json:"name"`
	Pass     bool   `json:"pass"`
	Evidence string `json:"evidence"`
}

// QueryLog fetches the node's in-memory query log and debug samples.
func (c *Client) QueryLog(ctx context.Context) (*QueryLog, error) {
	var q QueryLog
	if err := c.do(ctx, http.MethodGet, "/v1/querylog", &q); err != nil {
		return nil, err
	}
	return &q, nil
}

// Audit asks the node to check itself against its privacy commitments.
func (c *Client) Audit(ctx context.Context) (*Audit, error) {
	var a Audit
	if err := c.do(ctx, http.MethodGet, "/v1/audit", &a); err != nil {
		return nil, err
	}
	return &a, nil
}
