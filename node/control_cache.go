package node

import (
	"encoding/json"
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
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, control.Error{Error: fmt.Sprintf("cache flush: bad request body: %v", err)})
		return
	}
	if req.Name != "" {
		req.Name = dns.Fqdn(req.Name)
		if _, ok := dns.IsDomainName(req.Name); !ok {
			writeJSON(w, http.StatusBadRequest, control.Error{Error: fmt.Sprintf("cache flush: %q is not a domain name", req.Name)})
			return
		}
	} else if req.Subtree {
		req.Name = "."
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
