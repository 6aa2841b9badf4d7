package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// upstreamUDPSize is the EDNS0 buffer size offered to authoritative
// servers: the DNS flag day 2020 value, which avoids IP fragmentation.
const upstreamUDPSize = 1232

// errBudget means one client question has used up its upstream queries.
var errBudget = errors.New("query budget exhausted")

// budget bounds the work one client question may cause, so a hostile or
// broken delegation cannot turn one query into thousands.
type budget struct {
	queries *atomic.Int32 // remaining upstream queries, shared by all sub-lookups
	depth   int           // glueless NS lookups nested above this one
}

const (
	maxUpstreamQueries = 64
	maxGluelessDepth   = 3
)

func newBudget() budget {
	b := budget{queries: new(atomic.Int32)}
	b.queries.Store(maxUpstreamQueries)
	return b
}

func (b budget) spend() error {
	if b.queries.Add(-1) < 0 {
		return errBudget
	}
	return nil
}

func (b budget) deeper() budget { return budget{queries: b.queries, depth: b.depth + 1} }

// upstream is the only code that sends queries to authoritative servers. It
// owns what later work will grow here (0x20, RTT tracking, DoT): a random
// ID and a fresh socket, hence a kernel-randomised source port, per query;
// answers matched on ID and question; TCP when the UDP answer is truncated;
// a timeout per server and moving on to the next one.
type upstream struct {
	port    uint16
	timeout time.Duration
	m       *metrics
}

// query asks servers in order until one returns a response that accept
// takes. It returns the last error when none did.
func (u *upstream) query(ctx context.Context, servers []netip.Addr, q dns.Question, b budget, accept func(*dns.Msg) bool) (*dns.Msg, error) {
	if len(servers) == 0 {
		return nil, errors.New("no server addresses")
	}
	var lastErr error
	for _, s := range servers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := b.spend(); err != nil {
			return nil, err
		}
		resp, err := u.exchange(ctx, s, q)
		if err != nil {
			lastErr = err
			continue
		}
		if !accept(resp) {
			lastErr = fmt.Errorf("query %s: unusable answer (%s)", s, rcodeLabel(resp.Rcode))
			continue
		}
		return resp, nil
	}
	return nil, lastErr
}

// exchange sends one question to one server: UDP with EDNS0 first, TCP if
// the answer is truncated, and UDP without EDNS0 if the server does not
// understand it (FORMERR).
func (u *upstream) exchange(ctx context.Context, server netip.Addr, q dns.Question) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	addr := netip.AddrPortFrom(server, u.port)

	m := newQuery(q, true)
	resp, err := u.exchangeUDP(ctx, addr, m)
	if err != nil {
		return nil, err
	}
	if resp.Rcode == dns.RcodeFormatError && resp.IsEdns0() == nil {
		m = newQuery(q, false)
		if resp, err = u.exchangeUDP(ctx, addr, m); err != nil {
			return nil, err
		}
	}
	if resp.Truncated {
		m.Id = dns.Id()
		return u.exchangeTCP(ctx, addr, m)
	}
	return resp, nil
}

func newQuery(q dns.Question, edns bool) *dns.Msg {
	m := new(dns.Msg)
	m.Id = dns.Id()
	m.Question = []dns.Question{q}
	if edns {
		m.SetEdns0(upstreamUDPSize, false)
	}
	return m
}

func (u *upstream) exchangeUDP(ctx context.Context, addr netip.AddrPort, m *dns.Msg) (*dns.Msg, error) {
	u.m.upstream.WithLabelValues("udp").Inc()
	wire, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	// A connected socket per query: the kernel picks a random ephemeral
	// source port and drops datagrams from any other address.
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("query %s over udp: %w", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := conn.Write(wire); err != nil {
		return nil, fmt.Errorf("query %s over udp: %w", addr, err)
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("query %s over udp: %w", addr, err)
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(buf[:n]); err != nil {
			continue // garbage or a spoofing attempt: keep waiting for the real answer
		}
		if matches(m, resp) {
			return resp, nil
		}
	}
}

func (u *upstream) exchangeTCP(ctx context.Context, addr netip.AddrPort, m *dns.Msg) (*dns.Msg, error) {
	u.m.upstream.WithLabelValues("tcp").Inc()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("query %s over tcp: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	co := &dns.Conn{Conn: c}
	if err := co.WriteMsg(m); err != nil {
		return nil, fmt.Errorf("query %s over tcp: %w", addr, err)
	}
	for {
		resp, err := co.ReadMsg()
		if err != nil {
			return nil, fmt.Errorf("query %s over tcp: %w", addr, err)
		}
		if matches(m, resp) {
			return resp, nil
		}
	}
}

// matches reports whether resp answers q: same ID, and the same question
// (name compared without case, as 0x20 will need).
func matches(q, resp *dns.Msg) bool {
	if !resp.Response || resp.Id != q.Id || len(resp.Question) != 1 {
		return false
	}
	a, b := q.Question[0], resp.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}
