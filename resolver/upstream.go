package resolver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// upstreamUDPSize is the EDNS0 buffer size offered to authoritative
// servers: the DNS flag day 2020 value, which avoids IP fragmentation.
const upstreamUDPSize = 1232

var (
	// errTimeout: the server sent nothing usable before its timeout.
	errTimeout = errors.New("timed out")
	// errCaseMismatch: the answer echoed the question in another case
	// than the 0x20-randomised one sent.
	errCaseMismatch = errors.New("question case not echoed")
	// errGarbage: only unparsable datagrams came back before the timeout.
	errGarbage = errors.New("unparsable answer")
)

// upstream is the only code that sends queries to authoritative servers.
// Per query it uses a random ID and a fresh connected socket (hence a
// kernel-randomised source port, and the kernel drops datagrams from any
// other address or port), 0x20 case randomisation on UDP, and matches
// answers on ID and question, case included. It learns per server: RTT
// (for the timeout and the choice of server), timeouts (backoff), EDNS
// intolerance and case mangling (see infra).
type upstream struct {
	port    uint16
	timeout time.Duration // the most one server is waited for
	m       *metrics
	inf     *infra
	no0x20  bool
	no4     bool
	no6     bool
	ck      *cookies // client cookies towards authorities (RFC 7873 section 5.1)
	priv    *privacy // counts any ECS option leaving us (must be none)

	mismatched        *prometheus.CounterVec // reason
	mismatchedGarbage prometheus.Counter     // mismatched{reason="garbage"}, looked up once
	rtt               prometheus.Histogram   // time to a matching answer
	cnt               *counters              // the resolver's, for the health checks; nil in some tests
}

// newUpstream builds the upstream of a resolver with cfg (defaults
// applied), registering its own metrics on reg unless nil.
func newUpstream(cfg Config, m *metrics, reg prometheus.Registerer, now func() time.Time) (*upstream, error) {
	u := &upstream{
		port:    cfg.UpstreamPort,
		timeout: cfg.UpstreamTimeout,
		m:       m,
		inf:     newInfra(now, cfg.UpstreamTimeout),
		no0x20:  cfg.Disable0x20,
		no4:     cfg.DisableIPv4Upstream,
		no6:     cfg.DisableIPv6Upstream,
		mismatched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anycastd_upstream_mismatched_total",
			Help: "Datagrams from authoritative servers dropped because they did not match the query sent (reason: id, question, case, garbage). Wrong source address or port never reach the resolver: the socket is connected.",
		}, []string{"reason"}),
		rtt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "anycastd_upstream_rtt_seconds",
			Help:    "Time from sending a query to an authoritative server to its matching answer (UDP and TCP; timeouts are not observed).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	for _, r := range []string{"id", "question", "case", "garbage"} {
		u.mismatched.WithLabelValues(r)
	}
	u.mismatchedGarbage = u.mismatched.WithLabelValues("garbage")
	if reg != nil {
		for _, c := range []prometheus.Collector{u.mismatched, u.rtt} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register upstream metrics: %w", err)
			}
		}
	}
	return u, nil
}

// verdict is what the caller makes of a response.
type verdict int

const (
	verdictAccept verdict = iota // the answer to use
	verdictRetry                 // unusable (SERVFAIL, forged chain): try the next server
	verdictLame                  // the server is not authoritative for the zone: remember it
)

// maxRetryRounds is how many more rounds query makes over servers that
// answered before when a whole round timed out.
const maxRetryRounds = 3

// queryError says why no server of a zone gave a usable answer.
type queryError struct {
	answered bool // at least one server sent a (rejected) response
	err      error
}

func (e *queryError) Error() string { return e.err.Error() }
func (e *queryError) Unwrap() error { return e.err }

// query asks the servers of zone, best first (see infra.order), until one
// returns a response that judge accepts. Limits (errLimit) and the
// context end the walk at once.
func (u *upstream) query(ctx context.Context, zone string, servers []netip.Addr, q dns.Question, b budget, judge func(*dns.Msg) verdict) (*dns.Msg, error) {
	order := u.inf.order(servers, zone, u.no4, u.no6)
	if len(order) == 0 {
		if len(servers) == 0 {
			return nil, &queryError{err: errors.New("no server addresses")}
		}
		return nil, &queryError{err: fmt.Errorf("all %d server addresses lame or of a disabled family", len(servers))}
	}
	qe := &queryError{}
	var errs []error
	for attempt := 0; ; attempt++ {
		timeouts := 0
		for i, s := range order {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			resp, err := u.exchange(ctx, s, q, b, i == len(order)-1, attempt)
			if err != nil {
				if errors.Is(err, errLimit) || ctx.Err() != nil {
					return nil, err
				}
				if errors.Is(err, errTimeout) {
					timeouts++
				}
				errs = append(errs, err)
				continue
			}
			qe.answered = true
			switch judge(resp) {
			case verdictAccept:
				return resp, nil
			case verdictLame:
				u.inf.markLame(s, zone)
				errs = append(errs, fmt.Errorf("query %s: lame for %s (%s)", s, zone, rcodeLabel(resp.Rcode)))
			default:
				errs = append(errs, fmt.Errorf("query %s: unusable answer (%s)", s, rcodeLabel(resp.Rcode)))
			}
		}
		// Every server was silent. Servers that answered before are
		// probably slow for a moment (a loaded host, a queue), not dead:
		// ask them again with a doubled timeout, as Unbound does with its
		// RTO backoff. Servers never heard from are not retried, so a dead
		// delegation costs no more than one round.
		if qe.answered || timeouts < len(order) || attempt >= maxRetryRounds {
			break
		}
		order = u.inf.measured(order)
		if len(order) == 0 {
			break
		}
	}
	qe.err = errors.Join(errs...)
	return nil, qe
}

// exchange sends one question to one server and returns its response:
// UDP first, then TCP if the answer is truncated. A server that does not
// echo the 0x20 case is asked again without it, one that rejects EDNS
// (FORMERR, NOTIMP, garbage, or silence while it never answered EDNS) is
// asked again without EDNS; both are remembered for a while. Silence is
// taken as EDNS trouble only from a server that never answered EDNS and
// only when it is the last one left (last): otherwise a dead server
// would cost two timeouts before the next server is tried.
func (u *upstream) exchange(ctx context.Context, server netip.Addr, q dns.Question, b budget, last bool, attempt int) (*dns.Msg, error) {
	addr := netip.AddrPortFrom(server, u.port)
	noEDNS, no0x20, ednsOK := u.inf.quirks(server)
	edns, mix := !noEDNS, !u.no0x20 && !no0x20
	ednsFallback := false
	for {
		resp, err := u.exchangeUDP(ctx, addr, q, edns, mix, b, attempt)
		switch {
		case errors.Is(err, errCaseMismatch) && mix:
			u.inf.setNo0x20(server)
			mix = false
			continue
		case edns && (errors.Is(err, errGarbage) || (errors.Is(err, errTimeout) && !ednsOK && last)) ||
			err == nil && edns && resp.IsEdns0() == nil &&
				(resp.Rcode == dns.RcodeFormatError || resp.Rcode == dns.RcodeNotImplemented):
			// Maybe a server (or middlebox) that cannot take EDNS: the
			// next try without it tells.
			edns, ednsFallback = false, true
			continue
		case errors.Is(err, errTimeout) || errors.Is(err, errGarbage):
			u.inf.timedOut(server)
			return nil, err
		case err != nil:
			return nil, err
		}
		if ednsFallback {
			u.inf.setNoEDNS(server)
		}
		if !resp.Truncated {
			return resp, nil
		}
		return u.exchangeTCP(ctx, addr, q, edns, b)
	}
}

// newQuery builds the query for q as sent: name as given (0x20 applied by
// the caller), RD=0, a random ID, EDNS0 with our buffer size or no OPT.
func newQuery(q dns.Question, edns bool) *dns.Msg {
	m := new(dns.Msg)
	m.Id = dns.Id()
	m.Question = []dns.Question{q}
	if edns {
		m.SetEdns0(upstreamUDPSize, false)
	}
	return m
}

// randomCase flips the case of each letter of name at random (0x20,
// draft-vixie-dnsext-dns0x20): up to one more bit of entropy per letter
// that a spoofer must guess along with the ID and port.
func randomCase(name string) string {
	b := []byte(name)
	bits := rand.Uint64()
	for i, c := range b {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			if bits == 0 {
				bits = rand.Uint64()
			}
			if bits&1 == 1 {
				c ^= 0x20
			}
			bits >>= 1
			b[i] = c
		}
	}
	return string(b)
}

// upstreamConn is the connected UDP socket of one upstream query
// (dialUpstream). Reads go through SyscallConn (recvMsg).
type upstreamConn interface {
	Write([]byte) (int, error)
	SetDeadline(time.Time) error
	SyscallConn() (syscall.RawConn, error)
	Close() error
}

// udpBufs holds receive buffers for recvMsg. A buffer must take the largest
// datagram a server may send (it may ignore our EDNS size), and a fresh
// 64 KiB per query was the largest allocation of the cold path: it was
// cleared on every query and drove the garbage collector. Unpack copies
// everything it keeps, so a buffer is free again once its answer is parsed.
var udpBufs = sync.Pool{New: func() any { return new([65535]byte) }}

// recvMsg waits for the next datagram on rc (until its deadline) and
// unpacks it. The second result is the unpack error of a datagram that is
// not a message, the third the error that ended the wait.
// The buffer is taken only once the socket is readable and given back
// before recvMsg returns, so the hundreds of queries waiting for answers
// at once hold none: holding one each through the wait kept 17 MiB of
// buffers alive in the netns bench's memory phase.
func recvMsg(rc syscall.RawConn) (*dns.Msg, error, error) {
	// One variable for everything the callback sets: one allocation.
	var st struct {
		resp      *dns.Msg
		bad, rerr error
	}
	err := rc.Read(func(fd uintptr) bool {
		buf := udpBufs.Get().(*[65535]byte)
		defer udpBufs.Put(buf)
		var n int
		for {
			n, st.rerr = syscall.Read(int(fd), buf[:])
			if st.rerr != syscall.EINTR {
				break
			}
		}
		if st.rerr == syscall.EAGAIN {
			return false // nothing yet: wait for the poller
		}
		if st.rerr == nil {
			// An empty datagram reads as n == 0 and fails to unpack.
			st.resp = new(dns.Msg)
			if st.bad = st.resp.Unpack(buf[:max(n, 0)]); st.bad != nil {
				st.resp = nil
			}
		}
		return true
	})
	if err == nil && st.rerr != nil {
		err = os.NewSyscallError("read", st.rerr)
	}
	return st.resp, st.bad, err
}

func (u *upstream) exchangeUDP(ctx context.Context, addr netip.AddrPort, q dns.Question, edns, mix bool, b budget, attempt int) (*dns.Msg, error) {
	if err := b.spend(); err != nil {
		return nil, err
	}
	u.m.upstreamUDP.Inc()
	sent := q
	if mix {
		sent.Name = randomCase(q.Name)
	}
	m := newQuery(sent, edns)
	setDO(m, b)
	u.ck.addCookie(m, addr.Addr())
	u.priv.outgoing(m)
	wire, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	// A connected socket per query: the kernel picks a random ephemeral
	// source port and drops datagrams from any other address or port.
	conn, err := dialUpstream(addr)
	if err != nil {
		return nil, fmt.Errorf("query %s over udp: %w", addr, err)
	}
	defer conn.Close()
	// The socket's deadline is the server's timeout or the context's,
	// whichever comes first: no timer or context of our own per query.
	deadline := time.Now().Add(u.inf.retryTimeout(addr.Addr(), attempt))
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("query %s over udp: %w", addr, err)
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	start := time.Now()
	if _, err := conn.Write(wire); err != nil {
		return nil, fmt.Errorf("query %s over udp: %w", addr, err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("query %s over udp: %w", addr, err)
	}
	garbage := false
	for {
		resp, bad, err := recvMsg(rc)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if pe := context.Cause(ctx); errors.Is(pe, context.Canceled) {
					return nil, pe
				}
				if garbage {
					return nil, fmt.Errorf("query %s over udp: %w", addr, errGarbage)
				}
				return nil, fmt.Errorf("query %s over udp: %w", addr, errTimeout)
			}
			return nil, fmt.Errorf("query %s over udp: %w", addr, err)
		}
		if bad != nil {
			// Garbage or a spoofing attempt: keep waiting for the real
			// answer, but remember it in case nothing else comes.
			u.mismatchedGarbage.Inc()
			garbage = true
			continue
		}
		switch reason := mismatch(m, resp, mix); reason {
		case "":
			rtt := time.Since(start)
			u.inf.observe(addr.Addr(), rtt, edns)
			u.rtt.Observe(rtt.Seconds())
			u.observed(rtt)
			u.ck.learnCookie(addr.Addr(), resp.IsEdns0())
			restoreCase(resp, sent.Name)
			return resp, nil
		case "case":
			u.mismatched.WithLabelValues(reason).Inc()
			return nil, fmt.Errorf("query %s over udp: %w", addr, errCaseMismatch)
		default:
			u.mismatched.WithLabelValues(reason).Inc()
		}
	}
}

func (u *upstream) exchangeTCP(ctx context.Context, addr netip.AddrPort, q dns.Question, edns bool, b budget) (*dns.Msg, error) {
	if err := b.spend(); err != nil {
		return nil, err
	}
	u.m.upstreamTCP.Inc()
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("query %s over tcp: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	m := newQuery(q, edns)
	setDO(m, b)
	u.ck.addCookie(m, addr.Addr())
	u.priv.outgoing(m)
	co := &dns.Conn{Conn: c}
	start := time.Now()
	if err := co.WriteMsg(m); err != nil {
		return nil, fmt.Errorf("query %s over tcp: %w", addr, err)
	}
	for {
		resp, err := co.ReadMsg()
		if err != nil {
			return nil, fmt.Errorf("query %s over tcp: %w", addr, err)
		}
		if reason := mismatch(m, resp, false); reason != "" {
			u.mismatched.WithLabelValues(reason).Inc()
			continue
		}
		rtt := time.Since(start)
		u.rtt.Observe(rtt.Seconds())
		u.observed(rtt)
		u.ck.learnCookie(addr.Addr(), resp.IsEdns0())
		restoreCase(resp, q.Name)
		return resp, nil
	}
}

// mismatch says why resp is not the answer to the query m ("" if it is):
// "id", "question" (another name, type or class), or "case" when the name
// matches only without case and exact was asked (0x20). A FORMERR or
// NOTIMP with the right ID and no question is accepted: servers that
// cannot parse a query often send no question back, and such an answer
// carries no data to poison with.
func mismatch(m, resp *dns.Msg, exact bool) string {
	if !resp.Response || resp.Id != m.Id {
		return "id"
	}
	if len(resp.Question) == 0 && (resp.Rcode == dns.RcodeFormatError || resp.Rcode == dns.RcodeNotImplemented) &&
		len(resp.Answer)+len(resp.Ns) == 0 {
		return ""
	}
	if len(resp.Question) != 1 {
		return "question"
	}
	a, b := m.Question[0], resp.Question[0]
	if a.Qtype != b.Qtype || a.Qclass != b.Qclass || !strings.EqualFold(a.Name, b.Name) {
		return "question"
	}
	if exact && a.Name != b.Name {
		return "case"
	}
	return ""
}

// restoreCase undoes 0x20 in resp: servers compress names against the
// question, so the randomised case shows up in owners and targets. The
// resolver's names are lowercase, and clients must not see our random case.
func restoreCase(resp *dns.Msg, sent string) {
	for i := range resp.Question {
		resp.Question[i].Name = strings.ToLower(resp.Question[i].Name)
	}
	for _, sec := range [][]dns.RR{resp.Answer, resp.Ns, resp.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			h.Name = unrandomise(h.Name, sent)
			switch rr := rr.(type) {
			case *dns.CNAME:
				rr.Target = unrandomise(rr.Target, sent)
			case *dns.DNAME:
				rr.Target = unrandomise(rr.Target, sent)
			case *dns.NS:
				rr.Ns = unrandomise(rr.Ns, sent)
			case *dns.MX:
				rr.Mx = unrandomise(rr.Mx, sent)
			case *dns.SOA:
				rr.Ns = unrandomise(rr.Ns, sent)
				rr.Mbox = unrandomise(rr.Mbox, sent)
			case *dns.PTR:
				rr.Ptr = unrandomise(rr.Ptr, sent)
			case *dns.SRV:
				rr.Target = unrandomise(rr.Target, sent)
			}
		}
	}
}

// unrandomise lowercases the longest suffix of name that is, case for
// case, a suffix of the 0x20 name sent: that part was compressed against
// our question. The rest of name keeps the server's case.
func unrandomise(name, sent string) string {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		rest := name[off:]
		if len(rest) > len(sent) {
			continue
		}
		if strings.HasSuffix(sent, rest) && (len(rest) == len(sent) || sent[len(sent)-len(rest)-1] == '.') {
			return name[:off] + strings.ToLower(rest)
		}
	}
	return name
}

// observed adds one timed answer to the health checks' counters.
func (u *upstream) observed(rtt time.Duration) {
	if u.cnt != nil {
		u.cnt.upstream(rtt)
	}
}
