package mininet

import (
	"fmt"
	"net/netip"

	"github.com/miekg/dns"
)

// Behaviour is a protocol quirk of one server, fixed in the servers table:
// the broken-but-real server software a resolver meets on the internet.
type Behaviour uint32

const (
	// Normal servers behave like NSD (docs/mininet.md).
	Normal Behaviour = iota
	// FormErrEDNS answers FORMERR, without an OPT record, to every query
	// that carries one: pre-EDNS server software.
	FormErrEDNS
	// DropEDNS never answers a query that carries an OPT record, as behind
	// a firewall that drops "unknown" DNS: only a retry without EDNS works.
	DropEDNS
	// LowerCase answers with the question and answer names lower-cased,
	// whatever the case of the query: it defeats 0x20 matching.
	LowerCase
)

func (b Behaviour) String() string {
	switch b {
	case Normal:
		return "normal"
	case FormErrEDNS:
		return "formerr-edns"
	case DropEDNS:
		return "drop-edns"
	case LowerCase:
		return "lower-case"
	}
	return fmt.Sprintf("behaviour(%d)", uint32(b))
}

// Query is one query as a server received it, for SetQueryHook.
type Query struct {
	Server string         // e.g. "ns.spoof.com."
	Local  netip.AddrPort // the server's address and port
	Remote netip.AddrPort // the resolver's source address and port
	Msg    *dns.Msg       // the query; the hook must not modify it
}

// SetQueryHook calls f for every query any server receives, before latency,
// faults and behaviours apply. Tests use it to see the resolver's ports,
// IDs and 0x20 case, e.g. to race forged answers. nil removes the hook. f
// runs on the server's goroutine and must not block for long.
func (in *Internet) SetQueryHook(f func(Query)) {
	if f == nil {
		in.hook.Store(nil)
		return
	}
	in.hook.Store(&f)
}
