package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestPackPadded(t *testing.T) {
	big := new(dns.Msg)
	big.SetQuestion("example.com.", dns.TypeTXT)
	for range 20 {
		big.Answer = append(big.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeTXT, Class: dns.ClassINET},
			Txt: []string{strings.Repeat("x", 200)}})
	}
	tests := []struct {
		name   string
		msg    *dns.Msg
		edns   bool
		padded bool // size must be a multiple of 468
	}{
		{"small with EDNS", query("www.example.com", dns.TypeA, false, 0), true, true},
		{"several blocks", big, true, true},
		{"no EDNS: no OPT to pad in", query("www.example.com", dns.TypeA, false, 0), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.msg.Copy()
			if tt.edns {
				m.SetEdns0(1232, false)
				// A padding option already there is replaced, not added to.
				m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_PADDING{Padding: make([]byte, 3)})
			}
			plain, _ := m.Copy().Pack()
			out, err := packPadded(m)
			if err != nil {
				t.Fatal(err)
			}
			if tt.padded && len(out)%paddingBlock != 0 {
				t.Errorf("%d bytes, not a multiple of %d", len(out), paddingBlock)
			}
			if !tt.padded && len(out) != len(plain) {
				t.Errorf("%d bytes, want %d unpadded", len(out), len(plain))
			}
			var back dns.Msg
			if err := back.Unpack(out); err != nil {
				t.Fatalf("unpack: %v", err)
			}
			if len(back.Answer) != len(m.Answer) {
				t.Errorf("%d answers after padding, want %d", len(back.Answer), len(m.Answer))
			}
			if tt.edns {
				n := 0
				for _, o := range back.IsEdns0().Option {
					if o.Option() == dns.EDNS0PADDING {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d padding options, want 1", n)
				}
			}
		})
	}
}
