package resolver

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// panicCounter is a slog handler that counts the records respond logs when
// it recovers from a panic, so the fuzzer sees panics that never crash.
type panicCounter struct{ n *atomic.Int32 }

func (h panicCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h panicCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "panic answering query" {
		h.n.Add(1)
	}
	return nil
}
func (h panicCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicCounter) WithGroup(string) slog.Handler      { return h }

// FuzzServeDNS feeds arbitrary packets through the same steps as the
// listeners: miekg/dns parsing, then respond. The upstream is a server that
// refuses everything, so recursion ends quickly in SERVFAIL.
func FuzzServeDNS(f *testing.F) {
	for _, m := range []*dns.Msg{
		query("www.example.com", dns.TypeA, false, 0),
		query("www.example.com", dns.TypeA, true, 4096),
		query("example.com", dns.TypeAXFR, false, 0),
		func() *dns.Msg {
			m := query("x.", dns.TypeTXT, true, 512)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
			m.IsEdns0().SetVersion(3)
			return m
		}(),
		func() *dns.Msg {
			m := query("x.", dns.TypeA, false, 0)
			m.RecursionDesired = false
			return m
		}(),
	} {
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Add([]byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 41, 0, 0})

	refuser := fakeAuthF(f, func(w dns.ResponseWriter, req *dns.Msg) {
		w.WriteMsg(new(dns.Msg).SetRcode(req, dns.RcodeRefused))
	})
	var panics atomic.Int32
	r, err := New(Config{
		NodeName:        "fuzz",
		RootHints:       []netip.Addr{refuser.Addr()},
		UpstreamPort:    refuser.Port(),
		UpstreamTimeout: 100 * time.Millisecond,
		ResolveTimeout:  time.Second,
	}, slog.New(panicCounter{&panics}), nil)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, pkt []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(pkt); err != nil {
			return // miekg/dns answers these with FORMERR before our handler
		}
		for _, udp := range []bool{true, false} {
			resp := r.respond(req, netip.MustParseAddr("127.0.0.1"), udp)
			if n := panics.Load(); n > 0 {
				t.Fatalf("respond panicked (%d) on %v", n, req)
			}
			if resp == nil {
				if !req.Response {
					t.Errorf("no reply to a query")
				}
				continue
			}
			wire, err := resp.Pack()
			if err != nil {
				t.Fatalf("reply does not pack: %v\n%v", err, resp)
			}
			if resp.Id != req.Id || !resp.Response {
				t.Errorf("reply header: id %d (query %d), qr %v", resp.Id, req.Id, resp.Response)
			}
			size := dns.MinMsgSize
			if o := req.IsEdns0(); o != nil {
				size = min(max(int(o.UDPSize()), dns.MinMsgSize), serverUDPSize)
			}
			if udp && len(wire) > size {
				t.Errorf("UDP reply of %d bytes for a %d-byte buffer", len(wire), size)
			}
		}
	})
}
