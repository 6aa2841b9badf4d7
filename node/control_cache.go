package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/miekg/dns"

	"github.com/anycastd/anycastd/internal/control"
)

// handleCacheFlush serves POST /v1/cache/flush. The resolver owns its
// cache, so this needs nothing from the lifecycle loop.
func (n *Node) handleCacheFlush(w http.ResponseWriter, r *http.Request) {
	var req control.CacheFlushRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(&req)
		if err == nil && dec.More() {
			err = errors.New("more than one JSON object")
		}
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, control.Error{Error: fmt.Sprintf(`cache flush: bad request body (want {"all": true} or {"name": "example.com", "subtree": false}): %v`, err)})
		return
	}
	switch {
	case req.All && (req.Name != "" || req.Subtree):
		writeJSON(w, http.StatusBadRequest, control.Error{Error: `cache flush: "all" flushes everything and takes no "name" or "subtree"`})
		return
	case !req.All && req.Name == "":
		writeJSON(w, http.StatusBadRequest, control.Error{Error: `cache flush: name a domain ("name") or ask for everything ("all": true)`})
		return
	}
	if req.Name != "" {
		req.Name = dns.Fqdn(req.Name)
		if _, ok := dns.IsDomainName(req.Name); !ok {
			writeJSON(w, http.StatusBadRequest, control.Error{Error: fmt.Sprintf("cache flush: %q is not a domain name", req.Name)})
			return
		}
	}
	removed := n.resolver.FlushCache(req.Name, req.Subtree)
	what := "the whole cache"
	switch {
	case req.Subtree:
		what = req.Name + " and every name below it"
	case req.Name != "":
		what = req.Name
	}
	writeJSON(w, http.StatusOK, control.CacheFlushResult{
		Removed: removed,
		Message: fmt.Sprintf("flushed %s: %d entries removed", what, removed),
	})
}

// handleCacheStats serves GET /v1/cache/stats.
func (n *Node) handleCacheStats(w http.ResponseWriter, _ *http.Request) {
	s := n.resolver.CacheStats()
	writeJSON(w, http.StatusOK, control.CacheStats{
		Entries: s.Entries, Bytes: s.Bytes, Capacity: s.Capacity,
		Hits: s.Hits, Misses: s.Misses, HitRatio: s.HitRatio,
		StaleAnswers: s.StaleAnswers, Prefetches: s.Prefetches, Evictions: s.Evictions,
	})
}
