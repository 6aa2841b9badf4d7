package control

import (
	"context"
	"net/http"
)

// CacheFlushRequest is the body of POST /v1/cache/flush: either All, which
// flushes the whole cache, or a Name: every type of Name (and what the node
// knows of it as a zone cut), and with Subtree every name below it too. An
// empty body, unknown fields, or neither All nor Name are refused, so a
// malformed request never flushes everything.
type CacheFlushRequest struct {
	All     bool   `json:"all,omitempty"`
	Name    string `json:"name,omitempty"`
	Subtree bool   `json:"subtree,omitempty"`
}

// CacheFlushResult answers POST /v1/cache/flush.
type CacheFlushResult struct {
	Removed int    `json:"removed"`
	Message string `json:"message"`
}

// CacheStats answers GET /v1/cache/stats. Counters run from the daemon's
// start.
type CacheStats struct {
	Entries      int     `json:"entries"`
	Bytes        uint64  `json:"bytes"`
	Capacity     uint64  `json:"capacity"`
	Hits         uint64  `json:"hits"`
	Misses       uint64  `json:"misses"`
	HitRatio     float64 `json:"hit_ratio"`
	StaleAnswers uint64  `json:"stale_answers"`
	Prefetches   uint64  `json:"prefetches"`
	Evictions    uint64  `json:"evictions"`
}

// FlushCache asks the node to drop cached answers (see CacheFlushRequest).
func (c *Client) FlushCache(ctx context.Context, name string, subtree bool) (*CacheFlushResult, error) {
	var r CacheFlushResult
	if err := c.send(ctx, http.MethodPost, "/v1/cache/flush", CacheFlushRequest{All: name == "", Name: name, Subtree: subtree}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// CacheStats fetches the cache's size and counters.
func (c *Client) CacheStats(ctx context.Context) (*CacheStats, error) {
	var s CacheStats
	if err := c.do(ctx, http.MethodGet, "/v1/cache/stats", &s); err != nil {
		return nil, err
	}
	return &s, nil
}
