package resolver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// TestQueryLogProtocol: each transport is logged under its own name, not
// folded into udp/tcp (encrypted queries were once all logged as tcp).
func TestQueryLogProtocol(t *testing.T) {
	r, _ := newResolver(t, Config{
		RootHints: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		NodeName:  "n1",
		Privacy:   Privacy{QueryLog: QueryLogConfig{Enabled: true, Size: 10}},
	})
	client := netip.MustParseAddr("203.0.113.7")
	req := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	req.RecursionDesired = false // from the (empty) cache: no upstream
	wire, err := req.Pack()
	if err != nil {
		t.Fatal(err)
	}
	protos := []string{"tcp", "dot", "doh", "doh3", "doq"}
	for _, p := range protos {
		if r.answerWire(wire, client, p, p != "tcp") == nil {
			t.Fatalf("%s: no answer", p)
		}
	}
	r.respond(req, client, true)
	var got []string
	for _, rec := range r.QueryLog() {
		got = append(got, rec.Protocol)
	}
	want := append(protos, "udp")
	if len(got) != len(want) {
		t.Fatalf("logged %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: protocol %q, want %q", i, got[i], want[i])
		}
	}
}
