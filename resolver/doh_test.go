package resolver

import (
	"bytes"
	"net/http"
	"testing"
)

// TestDoHRejects: what /dns-query refuses, and with which status.
func TestDoHRejects(t *testing.T) {
	s := startEncrypted(t, func(c *EncryptedConfig) { c.DoT, c.DoH3, c.DoQ = false, false, false })
	client := h2Client(s.clientTLS())
	base := "https://" + s.addr("doh")
	tests := []struct {
		name   string
		method string
		url    string
		ctype  string
		body   []byte
		status int
	}{
		{"other path", http.MethodGet, "/other?dns=AAAA", "", nil, http.StatusNotFound},
		{"PUT", http.MethodPut, "/dns-query", "application/dns-message", []byte("x"), http.StatusMethodNotAllowed},
		{"GET without dns", http.MethodGet, "/dns-query", "", nil, http.StatusBadRequest},
		{"GET not base64url", http.MethodGet, "/dns-query?dns=***", "", nil, http.StatusBadRequest},
		{"POST wrong type", http.MethodPost, "/dns-query", "text/plain", []byte("0123456789abcdef"), http.StatusUnsupportedMediaType},
		{"POST too large", http.MethodPost, "/dns-query", "application/dns-message", bytes.Repeat([]byte{0}, 70000), http.StatusRequestEntityTooLarge},
		{"POST short", http.MethodPost, "/dns-query", "application/dns-message", []byte{1, 2, 3}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.url, bytes.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}
