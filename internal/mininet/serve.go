package mininet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// portAttempts bounds the random port search when Config.Port is zero.
const portAttempts = 20

// Start binds UDP and TCP on every server address and returns once all are
// listening, or with the first error (nothing stays bound then). ctx bounds
// the start only; Close stops the servers.
func (in *Internet) Start(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.started || in.closed {
		return errors.New("start mininet: already started or closed")
	}
	var (
		conns []boundConn
		err   error
		port  = in.cfg.Port
	)
	for attempt := 1; ; attempt++ {
		if in.cfg.Port == 0 {
			port = uint16(20000 + rand.IntN(40000))
		}
		conns, err = in.bind(ctx, port)
		if err == nil {
			break
		}
		if in.cfg.Port != 0 || !errors.Is(err, syscall.EADDRINUSE) || attempt == portAttempts {
			return fmt.Errorf("start mininet: %w", err)
		}
	}
	in.port = port
	in.started = true

	for i, c := range conns {
		srv := &dns.Server{
			Handler: in.handler(c.server),
			// Read buffer for UDP queries; the default 512 would cut EDNS queries.
			UDPSize:    dns.MaxMsgSize,
			PacketConn: c.pc,
			Listener:   c.ln,
		}
		ready := make(chan error, 1)
		srv.NotifyStartedFunc = func() { ready <- nil }
		in.wg.Go(func() {
			err := srv.ActivateAndServe()
			select {
			case ready <- err:
			default:
			}
		})
		select {
		case err = <-ready:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			// Servers already running are shut down; the rest only hold sockets.
			for _, c := range conns[i:] {
				c.close()
			}
			in.closeLocked()
			return fmt.Errorf("start mininet: serve %s: %w", c.addr, err)
		}
		in.dnsServer = append(in.dnsServer, srv)
	}
	in.log.Info("mininet listening", "addrs", len(conns)/2, "port", port, "latency", in.cfg.Latency)
	return nil
}

// boundConn is one bound socket, UDP (pc) or TCP (ln), of one server.
type boundConn struct {
	server *server
	addr   netip.AddrPort
	pc     net.PacketConn
	ln     net.Listener
}

func (c boundConn) close() {
	if c.pc != nil {
		c.pc.Close()
	}
	if c.ln != nil {
		c.ln.Close()
	}
}

// bind opens UDP and TCP on every server address; on error it closes what it
// opened.
func (in *Internet) bind(ctx context.Context, port uint16) (conns []boundConn, err error) {
	defer func() {
		if err != nil {
			for _, c := range conns {
				c.close()
			}
		}
	}()
	lc := listenConfig()
	for _, s := range in.servers {
		for _, a := range s.addrs {
			ap := netip.AddrPortFrom(a, port)
			udp, tcp := "udp4", "tcp4"
			if a.Is6() {
				udp, tcp = "udp6", "tcp6"
			}
			pc, err := lc.ListenPacket(ctx, udp, ap.String())
			if err != nil {
				return conns, fmt.Errorf("bind %s %s: %w", s.name, ap, err)
			}
			conns = append(conns, boundConn{server: s, addr: ap, pc: pc})
			ln, err := lc.Listen(ctx, tcp, ap.String())
			if err != nil {
				return conns, fmt.Errorf("bind %s %s: %w", s.name, ap, err)
			}
			conns = append(conns, boundConn{server: s, addr: ap, ln: ln})
		}
	}
	return conns, nil
}

// Close stops every server and waits for them. It is safe to call more than
// once and before Start.
func (in *Internet) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.closeLocked()
}

func (in *Internet) closeLocked() error {
	if in.closed {
		return nil
	}
	in.closed = true
	close(in.done) // releases answers held back by Latency
	var errs []error
	for _, srv := range in.dnsServer {
		if err := srv.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	in.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close mininet: %w", err)
	}
	return nil
}

// handler answers queries for one server.
func (in *Internet) handler(s *server) dns.Handler {
	return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		s.queries.Add(1)
		if f := in.hook.Load(); f != nil {
			(*f)(Query{Server: s.name, Local: addrPort(w.LocalAddr()), Remote: addrPort(w.RemoteAddr()), Msg: req})
		}
		fault := Fault(s.fault.Load())
		if fault == Drop || (s.behave == DropEDNS && req.IsEdns0() != nil) {
			return
		}
		if d := in.cfg.Latency + time.Duration(s.latency.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-in.done:
				t.Stop()
				return
			}
		}
		var resp *dns.Msg
		size := dns.MinMsgSize
		if s.behave == FormErrEDNS && req.IsEdns0() != nil {
			resp = new(dns.Msg)
			resp.SetRcode(req, dns.RcodeFormatError)
		} else {
			resp, size = in.respond(s, req, fault)
		}
		if _, isUDP := w.LocalAddr().(*net.UDPAddr); isUDP {
			truncate(resp, size)
		} else {
			resp.Compress = true
		}
		if err := w.WriteMsg(resp); err != nil {
			in.log.Debug("mininet write failed", "server", s.name, "err", err)
		}
		if in.log.Enabled(context.Background(), slog.LevelDebug) && len(req.Question) == 1 {
			q := req.Question[0]
			in.log.Debug("mininet answer", "server", s.name, "qname", q.Name,
				"qtype", dns.TypeToString[q.Qtype], "rcode", dns.RcodeToString[resp.Rcode])
		}
	})
}

// respond builds the reply and returns the UDP size the client can take.
func (in *Internet) respond(s *server, req *dns.Msg, fault Fault) (*dns.Msg, int) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = false
	m.RecursionAvailable = false

	maxUDP := in.cfg.MaxUDPSize
	if maxUDP == 0 {
		maxUDP = defaultMaxUDPSize
	}
	size := dns.MinMsgSize
	opt := req.IsEdns0()
	if opt != nil {
		// RFC 6891: sizes below 512 count as 512.
		size = max(dns.MinMsgSize, min(int(opt.UDPSize()), int(maxUDP)))
	}
	// The OPT goes on last, after the zone has filled additional.
	defer func() {
		if opt != nil {
			m.SetEdns0(maxUDP, opt.Do())
		}
	}()

	switch {
	case opt != nil && opt.Version() != 0:
		m.Rcode = dns.RcodeBadVers
		return m, size
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		return m, size
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		return m, size
	case fault == ServFail:
		m.Rcode = dns.RcodeServerFailure
		return m, size
	case fault == Refuse:
		m.Rcode = dns.RcodeRefused
		return m, size
	}
	q := req.Question[0]
	switch {
	case q.Qclass != dns.ClassINET:
		m.Rcode = dns.RcodeRefused
		return m, size
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		m.Rcode = dns.RcodeRefused
		return m, size
	case q.Qtype == dns.TypeOPT:
		m.Rcode = dns.RcodeFormatError
		return m, size
	}
	z := s.zoneFor(q.Name)
	if z == nil {
		m.Rcode = dns.RcodeRefused
		return m, size
	}
	z.answer(m, q.Name, q.Qtype, opt != nil && opt.Do())
	for _, rr := range z.junk {
		if t := rr.Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA {
			m.Extra = append(m.Extra, rr)
		} else {
			m.Ns = append(m.Ns, rr)
		}
	}
	if s.behave == LowerCase {
		lowerCase(m)
	} else {
		echoCase(m, q.Name)
	}
	return m, size
}

// lowerCase lower-cases the question and every answer owner name, as some
// load balancers in front of authoritative servers do.
func lowerCase(m *dns.Msg) {
	for i := range m.Question {
		m.Question[i].Name = strings.ToLower(m.Question[i].Name)
	}
	for i, rr := range m.Answer {
		rr = dns.Copy(rr)
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		m.Answer[i] = rr
	}
}

// addrPort converts a socket address of the dns package to netip form.
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// echoCase gives answer records owned by the query name the query's spelling,
// as real servers do by compressing them against the question: resolvers
// that use 0x20 see their mixed case come back in the answer too.
func echoCase(m *dns.Msg, qname string) {
	for i, rr := range m.Answer {
		if name := rr.Header().Name; name != qname && strings.EqualFold(name, qname) {
			rr = dns.Copy(rr)
			rr.Header().Name = qname
			m.Answer[i] = rr
		}
	}
}

// zoneFor returns the closest enclosing zone the server serves, or nil.
func (s *server) zoneFor(qname string) *zone {
	name := dns.CanonicalName(qname)
	for _, z := range s.zones {
		if dns.IsSubDomain(z.origin, name) {
			return z
		}
	}
	return nil
}

// truncate fits a UDP reply into size bytes. TC is set only when answer or
// authority records had to go; dropping additional records alone is silent,
// as RFC 2181 section 9 asks.
func truncate(m *dns.Msg, size int) {
	nAnswer, nNs := len(m.Answer), len(m.Ns)
	m.Truncate(size)
	m.Truncated = len(m.Answer) < nAnswer || len(m.Ns) < nNs
}
