package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// canaryTimeout bounds a canary query whose context has no deadline.
const canaryTimeout = 2 * time.Second

// Canary asks server, over UDP with RD set, for name and qtype, the way a
// client would. It returns nil only for NOERROR with at least one record of
// qtype at name or at the end of a CNAME chain from name; otherwise the
// error says what was wrong (no reply, rcode, truncation, empty answer).
func Canary(ctx context.Context, server netip.AddrPort, name string, qtype uint16) error {
	name = dns.Fqdn(name)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, canaryTimeout)
		defer cancel()
	}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(serverUDPSize, false)
	c := &dns.Client{Net: "udp", UDPSize: serverUDPSize}
	resp, _, err := c.ExchangeContext(ctx, q, server.String())
	if err != nil {
		return fmt.Errorf("canary %s %s via %s: %w", name, dns.TypeToString[qtype], server, err)
	}
	if err := checkCanary(resp, name, qtype); err != nil {
		return fmt.Errorf("canary %s %s via %s: %w", name, dns.TypeToString[qtype], server, err)
	}
	return nil
}

func checkCanary(resp *dns.Msg, name string, qtype uint16) error {
	if resp.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("rcode %s", rcodeLabel(resp.Rcode))
	}
	if resp.Truncated && len(resp.Answer) == 0 {
		return errors.New("truncated answer")
	}
	cur := name
	for range maxCNAMEChain + 1 {
		next := ""
		for _, rr := range resp.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == qtype {
				return nil
			}
			if c, ok := rr.(*dns.CNAME); ok {
				next = c.Target
			}
		}
		if next == "" {
			if cur != name {
				return fmt.Errorf("no %s record at the end of the CNAME chain (%s)", dns.TypeToString[qtype], cur)
			}
			return fmt.Errorf("no %s record in the answer (%d records)", dns.TypeToString[qtype], len(resp.Answer))
		}
		cur = next
	}
	return errors.New("CNAME chain too long")
}
