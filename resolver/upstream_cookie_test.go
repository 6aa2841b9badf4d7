package resolver

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/miekg/dns"
)

// TestUpstreamCookies: queries to authorities carry our client cookie, and
// once a server has answered with a server cookie, later queries to it carry
// both (RFC 7873 section 5.1). A server cookie that does not echo our client
// cookie is never learned.
func TestUpstreamCookiesSent(t *testing.T) {
	n := newAuthNet(t)
	const serverCookie = "0102030405060708"
	root := n.serve("127.0.76.1", func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.Authoritative = true
		if req.Question[0].Qtype == dns.TypeA {
			resp.Answer = append(resp.Answer, mustRR(t, req.Question[0].Name+" 300 IN A 192.0.2.1"))
		}
		if opt := req.IsEdns0(); opt != nil {
			ro := resp.SetEdns0(1232, false).IsEdns0()
			for _, o := range opt.Option {
				if c, ok := o.(*dns.EDNS0_COOKIE); ok && len(c.Cookie) >= 16 {
					ro.Option = append(ro.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c.Cookie[:16] + serverCookie})
				}
			}
		}
		w.WriteMsg(resp)
	})
	cfg := n.config(root.String())
	cfg.DisableQNAMEMinimisation = true
	r, _ := newResolver(t, cfg)
	for _, name := range []string{"a.test.", "b.test.", "c.test."} {
		if _, err := r.Resolve(context.Background(), question(name, dns.TypeA)); err != nil {
			t.Fatalf("resolve %s: %v", name, err)
		}
	}
	msgs := n.msgs(root.String())
	if len(msgs) < 2 {
		t.Fatalf("%d queries seen, want at least 2", len(msgs))
	}
	cookieOf := func(m *dns.Msg) string {
		if opt := m.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if c, ok := o.(*dns.EDNS0_COOKIE); ok {
					return c.Cookie
				}
			}
		}
		return ""
	}
	first, last := cookieOf(msgs[0]), cookieOf(msgs[len(msgs)-1])
	if b, err := hex.DecodeString(first); err != nil || len(b) != 8 {
		t.Errorf("first query's cookie %q: want a lone 8-byte client cookie", first)
	}
	if last != first+serverCookie {
		t.Errorf("later query's cookie %q, want the client cookie followed by the server's %s", last, serverCookie)
	}
}
