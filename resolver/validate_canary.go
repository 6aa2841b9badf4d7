package resolver

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/miekg/dns"
)

// DNSSECCanary asks server, like a validating stub would (RD, DO, UDP),
// for the A record of name. With wantSecure it returns nil only for NOERROR
// with AD set and an A record; otherwise only for SERVFAIL, the answer to a
// name whose signatures are deliberately broken. The error names the rcode,
// the AD bit and the Extended DNS Error, and says when the EDE (7, 8) points
// at the clock rather than at the zone.
func DNSSECCanary(ctx context.Context, server netip.AddrPort, name string, wantSecure bool) error {
	name = dns.Fqdn(name)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, canaryTimeout)
		defer cancel()
	}
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	q.SetEdns0(serverUDPSize, true)
	c := &dns.Client{Net: "udp", UDPSize: serverUDPSize}
	resp, _, err := c.ExchangeContext(ctx, q, server.String())
	if err != nil {
		return fmt.Errorf("dnssec canary %s via %s: %w", name, server, err)
	}
	if err := checkDNSSECCanary(resp, wantSecure); err != nil {
		return fmt.Errorf("dnssec canary %s via %s: %w", name, server, err)
	}
	return nil
}

func checkDNSSECCanary(resp *dns.Msg, wantSecure bool) error {
	code, text, hasEDE := -1, "", false
	if o := resp.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ede, ok := e.(*dns.EDNS0_EDE); ok {
				code, text, hasEDE = int(ede.InfoCode), ede.ExtraText, true
			}
		}
	}
	got := fmt.Sprintf("rcode %s, AD %v", rcodeLabel(resp.Rcode), resp.AuthenticatedData)
	if hasEDE {
		got += fmt.Sprintf(", EDE %d %q", code, text)
	}
	if !wantSecure {
		if resp.Rcode != dns.RcodeServerFailure {
			return fmt.Errorf("a deliberately bogus name did not fail validation (%s): is the resolver validating?", got)
		}
		return nil
	}
	hasA := false
	for _, rr := range resp.Answer {
		hasA = hasA || rr.Header().Rrtype == dns.TypeA
	}
	if resp.Rcode == dns.RcodeSuccess && resp.AuthenticatedData && hasA {
		return nil
	}
	if code == int(dns.ExtendedErrorCodeSignatureExpired) || code == int(dns.ExtendedErrorCodeSignatureNotYetValid) {
		return fmt.Errorf("a signed name did not validate (%s): signature times disagree with this node's clock; check NTP", got)
	}
	return fmt.Errorf("a signed name did not validate (%s)", got)
}
