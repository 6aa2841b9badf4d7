package resolver

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// authNet is a set of in-test authoritative servers on 127.0.0.x (or ::1)
// addresses sharing one port, as the resolver expects of the world
// (Config.UpstreamPort). Each server records the questions it received, as
// received (0x20 case included), for assertions on what the resolver sent.
type authNet struct {
	t    *testing.T
	port uint16

	// mu guards what follows.
	mu   sync.Mutex
	seen map[netip.Addr][]*dns.Msg
}

func newAuthNet(t *testing.T) *authNet {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	pc.Close()
	return &authNet{t: t, port: port, seen: map[netip.Addr][]*dns.Msg{}}
}

// serve runs h on addr (UDP and TCP) at the net's port.
func (n *authNet) serve(addr string, h dns.HandlerFunc) netip.Addr {
	t := n.t
	t.Helper()
	a := netip.MustParseAddr(addr)
	ap := netip.AddrPortFrom(a, n.port).String()
	pc, err := net.ListenPacket("udp", ap)
	if err != nil {
		t.Fatalf("listen %s: %v", ap, err)
	}
	l, err := net.Listen("tcp", ap)
	if err != nil {
		pc.Close()
		t.Fatalf("listen tcp %s: %v", ap, err)
	}
	rec := func(w dns.ResponseWriter, req *dns.Msg) {
		n.mu.Lock()
		n.seen[a] = append(n.seen[a], req.Copy())
		n.mu.Unlock()
		h(w, req)
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: dns.HandlerFunc(rec)}, {Listener: l, Handler: dns.HandlerFunc(rec)}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return a
}

// queries returns the questions addr received, as "name TYPE" with the
// name as sent.
func (n *authNet) queries(addr string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, m := range n.seen[netip.MustParseAddr(addr)] {
		q := m.Question[0]
		out = append(out, q.Name+" "+dns.TypeToString[q.Qtype])
	}
	return out
}

// msgs returns the queries addr received.
func (n *authNet) msgs(addr string) []*dns.Msg {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*dns.Msg(nil), n.seen[netip.MustParseAddr(addr)]...)
}

func (n *authNet) total() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, ms := range n.seen {
		c += len(ms)
	}
	return c
}

func (n *authNet) reset() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seen = map[netip.Addr][]*dns.Msg{}
}

// config is a resolver config whose root hints are roots, in this net.
func (n *authNet) config(roots ...string) Config {
	var hints []netip.Addr
	for _, r := range roots {
		hints = append(hints, netip.MustParseAddr(r))
	}
	return Config{
		RootHints:       hints,
		UpstreamPort:    n.port,
		UpstreamTimeout: 200 * time.Millisecond,
		ResolveTimeout:  3 * time.Second,
	}
}

// zone is the data of one zone for zoneHandler.
type zone struct {
	origin string
	rrs    []dns.RR
}

// mkZone parses records (absolute names) into a zone and adds its SOA.
func mkZone(t testing.TB, origin string, records ...string) *zone {
	t.Helper()
	z := &zone{origin: dns.Fqdn(origin)}
	z.rrs = append(z.rrs, mustRR(t, z.origin+" 300 IN SOA ns.invalid. h.example. 1 3600 600 86400 60"))
	for _, s := range records {
		z.rrs = append(z.rrs, mustRR(t, s))
	}
	return z
}

// zoneHandler answers like a simple authoritative server (NSD-like enough
// for the resolver): referrals with glue, DNAME with a synthesised CNAME,
// one-level wildcards, CNAME without chasing, NODATA and NXDOMAIN with the
// SOA. Records owned by the query name carry the query's spelling.
func zoneHandler(zones ...*zone) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		w.WriteMsg(zoneAnswer(req, zones...))
	}
}

func zoneAnswer(req *dns.Msg, zones ...*zone) *dns.Msg {
	m := new(dns.Msg).SetReply(req)
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(1232, false)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	var z *zone
	for _, c := range zones {
		if dns.IsSubDomain(c.origin, name) && (z == nil || dns.CountLabel(c.origin) > dns.CountLabel(z.origin)) {
			z = c
		}
	}
	if z == nil {
		m.Rcode = dns.RcodeRefused
		return m
	}
	own := func(rr dns.RR) dns.RR {
		c := dns.Copy(rr)
		c.Header().Name = q.Name
		return c
	}
	soa := z.rrs[0]
	// Delegations below the apex.
	for _, rr := range z.rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeNS && !strings.EqualFold(h.Name, z.origin) && dns.IsSubDomain(h.Name, name) {
			cut := strings.ToLower(h.Name)
			for _, r2 := range z.rrs {
				if ns, ok := r2.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, cut) {
					m.Ns = append(m.Ns, r2)
					for _, g := range z.rrs {
						if t := g.Header().Rrtype; (t == dns.TypeA || t == dns.TypeAAAA) && strings.EqualFold(g.Header().Name, ns.Ns) {
							m.Extra = append(m.Extra, g)
						}
					}
				}
			}
			return m
		}
	}
	m.Authoritative = true
	for _, rr := range z.rrs {
		if d, ok := rr.(*dns.DNAME); ok && dns.IsSubDomain(d.Hdr.Name, name) && !strings.EqualFold(d.Hdr.Name, name) {
			c, _ := synthesise(d, name)
			c.Hdr.Name = q.Name
			m.Answer = append(m.Answer, d, c)
			return m
		}
	}
	lookup := func(owner string) (data []dns.RR, exists bool) {
		for _, rr := range z.rrs {
			h := rr.Header()
			if strings.EqualFold(h.Name, owner) {
				exists = true
				if h.Rrtype == q.Qtype || h.Rrtype == dns.TypeCNAME {
					data = append(data, own(rr))
				}
			} else if dns.IsSubDomain(owner, h.Name) {
				exists = true // empty non-terminal
			}
		}
		return data, exists
	}
	data, exists := lookup(name)
	if !exists {
		data, exists = lookup("*." + parentName(name))
	}
	switch {
	case len(data) > 0:
		m.Answer = data
	case exists:
		m.Ns = []dns.RR{soa}
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa}
	}
	return m
}

// stdZones is the usual small world for these tests: a root at .1, com.
// and net. at .2, and example.com. / example.net. at .3, all on 127.0.x.
// extra records go into the zone named by their key.
func stdZones(t testing.TB, x string, extra map[string][]string) (root, tld, leaf []*zone) {
	root = []*zone{mkZone(t, ".", append([]string{
		"com. 3600 IN NS ns.tld.",
		"net. 3600 IN NS ns.tld.",
		"tld. 3600 IN NS ns.tld.",
		"ns.tld. 3600 IN A 127.0." + x + ".2",
	}, extra["."]...)...)}
	tld = []*zone{
		mkZone(t, "com.", append([]string{
			"example.com. 3600 IN NS ns.example.com.",
			"ns.example.com. 3600 IN A 127.0." + x + ".3",
		}, extra["com."]...)...),
		mkZone(t, "net.", append([]string{
			"example.net. 3600 IN NS ns.example.net.",
			"ns.example.net. 3600 IN A 127.0." + x + ".3",
		}, extra["net."]...)...),
	}
	leaf = []*zone{
		mkZone(t, "example.com.", append([]string{
			"www.example.com. 300 IN A 192.0.2.1",
			"ns.example.com. 300 IN A 127.0." + x + ".3",
		}, extra["example.com."]...)...),
		mkZone(t, "example.net.", append([]string{
			"www.example.net. 300 IN A 192.0.2.2",
			"ns.example.net. 300 IN A 127.0." + x + ".3",
		}, extra["example.net."]...)...),
	}
	return root, tld, leaf
}

// startStd serves stdZones on 127.0.x.1-3 and returns the net and the
// resolver config pointing at it.
func startStd(t *testing.T, x string, extra map[string][]string) (*authNet, Config) {
	t.Helper()
	n := newAuthNet(t)
	root, tld, leaf := stdZones(t, x, extra)
	n.serve("127.0."+x+".1", zoneHandler(root...))
	n.serve("127.0."+x+".2", zoneHandler(tld...))
	n.serve("127.0."+x+".3", zoneHandler(leaf...))
	return n, n.config("127.0." + x + ".1")
}
