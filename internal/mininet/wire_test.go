package mininet

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestTruncation(t *testing.T) {
	in := startTest(t)
	tests := []struct {
		name    string
		q       query
		tc      bool
		answers int
		opt     bool
	}{
		{"big over UDP with 1232 truncates", query{qname: "big.example.com.", edns: 1232}, true, -1, true},
		{"big over UDP with 4096 truncates at the server cap", query{qname: "big.example.com.", edns: 4096}, true, -1, true},
		{"big over TCP is whole", query{qname: "big.example.com.", edns: 1232, net: "tcp"}, false, 8, true},
		{"big over TCP without EDNS is whole", query{qname: "big.example.com.", net: "tcp"}, false, 8, false},
		{"medium without EDNS truncates", query{qname: "medium.example.com."}, true, -1, false},
		{"medium with EDNS fits", query{qname: "medium.example.com.", edns: 1232}, false, 3, true},
		{"EDNS size below 512 counts as 512", query{qname: "medium.example.com.", edns: 100}, true, -1, true},
		{"small answer without EDNS fits", query{qname: "www.example.com."}, false, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.server = "ns1.example.com."
			tt.q.qtype = dns.TypeTXT
			if tt.q.qname == "www.example.com." {
				tt.q.qtype = dns.TypeA
			}
			r := exchange(t, in, tt.q)
			if r.Truncated != tt.tc {
				t.Errorf("TC = %v, want %v", r.Truncated, tt.tc)
			}
			if tt.answers >= 0 && len(r.Answer) != tt.answers {
				t.Errorf("%d answers, want %d", len(r.Answer), tt.answers)
			}
			if tt.tc && tt.q.net != "tcp" {
				size := max(512, min(int(tt.q.edns), defaultMaxUDPSize))
				if l := r.Len(); l > size {
					t.Errorf("truncated reply is %d bytes, limit %d", l, size)
				}
			}
			opt := r.IsEdns0()
			if (opt != nil) != tt.opt {
				t.Fatalf("OPT present = %v, want %v", opt != nil, tt.opt)
			}
			if opt != nil && opt.UDPSize() != defaultMaxUDPSize {
				t.Errorf("advertised UDP size %d, want %d", opt.UDPSize(), defaultMaxUDPSize)
			}
		})
	}
}

// TestTruncationKeepsAnswerOverGlue checks that losing additional records
// alone does not set TC.
func TestTruncateDropsAdditionalSilently(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeNS)
	m.Answer = append(m.Answer, mustRR(t, "example.com. 3600 IN NS ns1.example.com."))
	for range 40 {
		m.Extra = append(m.Extra, mustRR(t, "ns1.example.com. 3600 IN AAAA 2001:db8::1"))
	}
	truncate(m, 512)
	if m.Truncated {
		t.Error("TC set although only additional records were dropped")
	}
	if len(m.Answer) != 1 || len(m.Extra) == 40 {
		t.Errorf("answer %d, extra %d: want 1 answer and fewer extras", len(m.Answer), len(m.Extra))
	}
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// rawExchange sends raw bytes over UDP and returns the reply, or nil after a
// short wait when the server stays silent.
func rawExchange(t *testing.T, addr string, b []byte, wait time.Duration) *dns.Msg {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatalf("unpack reply: %v", err)
	}
	return r
}

func TestOddQueries(t *testing.T) {
	in := startTest(t)
	addr := serverAddr(t, in, "a.root-servers.net.")
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	q := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		return m
	}
	noQuestion := q(".", dns.TypeNS)
	noQuestion.Question = nil
	twoQuestions := q(".", dns.TypeNS)
	twoQuestions.Question = append(twoQuestions.Question, dns.Question{Name: "com.", Qtype: dns.TypeNS, Qclass: dns.ClassINET})
	notify := q(".", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	update := q(".", dns.TypeSOA)
	update.Opcode = dns.OpcodeUpdate
	chaos := q("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	ednsV1 := q(".", dns.TypeNS)
	ednsV1.SetEdns0(1232, false)
	ednsV1.IsEdns0().SetVersion(1)
	truncatedQuestion := pack(q("www.example.com.", dns.TypeA))
	truncatedQuestion = truncatedQuestion[:len(truncatedQuestion)-3]
	response := q(".", dns.TypeNS)
	response.Response = true

	tests := []struct {
		name  string
		b     []byte
		rcode int // -1: expect no reply
	}{
		{"short garbage", []byte{1, 2, 3}, -1},
		{"a response", pack(response), -1},
		{"no question", pack(noQuestion), dns.RcodeFormatError},
		{"two questions", pack(twoQuestions), dns.RcodeFormatError},
		{"question cut short", truncatedQuestion, dns.RcodeFormatError},
		{"NOTIFY", pack(notify), dns.RcodeNotImplemented},
		{"UPDATE", pack(update), dns.RcodeNotImplemented},
		{"CHAOS class", pack(chaos), dns.RcodeRefused},
		{"AXFR", pack(q(".", dns.TypeAXFR)), dns.RcodeRefused},
		{"EDNS version 1", pack(ednsV1), dns.RcodeBadVers},
		{"mixed case", pack(q("wWw.ExAmPlE.cOm.", dns.TypeA)), dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait := 2 * time.Second
			if tt.rcode < 0 {
				wait = 200 * time.Millisecond
			}
			r := rawExchange(t, addr, tt.b, wait)
			switch {
			case tt.rcode < 0 && r != nil:
				t.Fatalf("got a reply (%s), want none", dns.RcodeToString[r.Rcode])
			case tt.rcode < 0:
				return
			case r == nil:
				t.Fatal("no reply")
			}
			if r.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if tt.name == "mixed case" && (len(r.Question) != 1 || r.Question[0].Name != "wWw.ExAmPlE.cOm.") {
				t.Errorf("question not echoed as sent: %v", r.Question)
			}
		})
	}
	// The server must still be alive after all that.
	if r := exchange(t, in, query{server: "a.root-servers.net.", qname: ".", qtype: dns.TypeSOA}); r.Rcode != dns.RcodeSuccess {
		t.Errorf("SOA after odd queries: %s", dns.RcodeToString[r.Rcode])
	}
}

// FuzzRespond feeds arbitrary wire messages through the answer path of every
// server; it must never panic and must always produce a packable reply.
func FuzzRespond(f *testing.F) {
	for _, name := range []string{".", "www.example.com.", "big.example.com.", "www.chain.com.", "b.c.example.com."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeANY)
		m.SetEdns0(1232, true)
		b, _ := m.Pack()
		f.Add(b)
	}
	in, err := New(Config{Prefix4: testPrefix4}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(dns.Msg)
		if req.Unpack(b) != nil {
			return
		}
		for _, s := range in.servers {
			resp, size := in.respond(s, req, Healthy)
			truncate(resp, size)
			if _, err := resp.Pack(); err != nil {
				t.Fatalf("%s: pack reply: %v", s.name, err)
			}
		}
	})
}
