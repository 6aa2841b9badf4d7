package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

// tap writes one dnstap CLIENT_RESPONSE per answered query. What a dnstap
// message can carry about a client is limited here: query_address is the
// truncated prefix's network address or absent, query_port,
// response_address and response_port are never set, and both messages
// are written without EDNS option contents (tapMessage): a client's COOKIE
// links its queries (and with the fleet's cookie secret and the /24 its
// server cookie gives its address away), padding and unknown options can
// carry anything. Only the response's Extended DNS Errors, the node's own
// words, are kept.
type tap struct {
	cfg      DnstapConfig
	identity []byte

	written atomic.Uint64
	dropped atomic.Uint64 // output busy or closed: a record lost, never a query delayed

	// mu guards what follows.
	mu     sync.Mutex
	out    dnstap.Output
	closed bool
}

func newTap(cfg DnstapConfig, node string) *tap {
	return &tap{cfg: cfg, identity: []byte(node)}
}

// open starts the output: the file is created with mode 0600 (truncated),
// or the unix socket is dialled (and redialled) by the library.
func (t *tap) open() error {
	if t == nil {
		return nil
	}
	var out dnstap.Output
	if t.cfg.File != "" {
		f, err := os.OpenFile(t.cfg.File, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("open dnstap file: %w", err)
		}
		o, err := dnstap.NewFrameStreamOutput(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("open dnstap file %s: %w", t.cfg.File, err)
		}
		out = o
	} else {
		o, err := dnstap.NewFrameStreamSockOutput(&net.UnixAddr{Name: t.cfg.Socket, Net: "unix"})
		if err != nil {
			return fmt.Errorf("dnstap socket %s: %w", t.cfg.Socket, err)
		}
		o.SetTimeout(time.Second)
		o.SetRetryInterval(5 * time.Second)
		out = o
	}
	go out.RunOutputLoop()
	t.mu.Lock()
	t.out = out
	t.mu.Unlock()
	return nil
}

// close flushes and closes the output; later sends are dropped.
func (t *tap) close() {
	if t == nil {
		return
	}
	t.mu.Lock()
	out := t.out
	t.closed = true
	t.mu.Unlock()
	if out != nil {
		out.Close()
	}
}

func (t *tap) send(req, resp *dns.Msg, prefix netip.Prefix, withPrefix bool, transport string, start, end time.Time) {
	qwire, err := tapMessage(req, nil).Pack()
	if err != nil {
		t.dropped.Add(1)
		return
	}
	rwire, err := tapMessage(resp, tapKeptOptions).Pack()
	if err != nil {
		t.dropped.Add(1)
		return
	}
	typ := dnstap.Message_CLIENT_RESPONSE
	proto_ := socketProtocol(transport)
	m := &dnstap.Message{
		Type:             &typ,
		SocketProtocol:   &proto_,
		QueryTimeSec:     proto.Uint64(uint64(start.Unix())),
		QueryTimeNsec:    proto.Uint32(uint32(start.Nanosecond())),
		ResponseTimeSec:  proto.Uint64(uint64(end.Unix())),
		ResponseTimeNsec: proto.Uint32(uint32(end.Nanosecond())),
		QueryMessage:     qwire,
		ResponseMessage:  rwire,
	}
	if prefix.IsValid() {
		fam := dnstap.SocketFamily_INET6
		if prefix.Addr().Is4() {
			fam = dnstap.SocketFamily_INET
		}
		m.SocketFamily = &fam
		if withPrefix {
			// Masked already: the host bits are zero.
			m.QueryAddress = prefix.Masked().Addr().AsSlice()
		}
	}
	dt := &dnstap.Dnstap{
		Type:     dnstap.Dnstap_MESSAGE.Enum(),
		Identity: t.identity,
		Version:  []byte("anycastd"),
		Message:  m,
	}
	frame, err := proto.Marshal(dt)
	if err != nil {
		t.dropped.Add(1)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.out == nil || t.closed {
		t.dropped.Add(1)
		return
	}
	select {
	case t.out.GetOutputChannel() <- frame:
		t.written.Add(1)
	default:
		t.dropped.Add(1)
	}
}

// DnstapReport describes the dnstap output for the audit.
type DnstapReport struct {
	Enabled bool
	File    string
	Socket  string
	// QueryAddress is "prefix" (the /24 or /48 network address) or
	// "omitted"; response addresses and ports are never written.
	QueryAddress string
	Written      uint64
	Dropped      uint64
}

func (t *tap) report() DnstapReport {
	if t == nil {
		return DnstapReport{}
	}
	qa := "omitted"
	if t.cfg.ClientPrefix {
		qa = "prefix"
	}
	return DnstapReport{Enabled: true, File: t.cfg.File, Socket: t.cfg.Socket, QueryAddress: qa,
		Written: t.written.Load(), Dropped: t.dropped.Load()}
}

// socketProtocol is dnstap's name for a transport.
func socketProtocol(transport string) dnstap.SocketProtocol {
	switch transport {
	case "udp":
		return dnstap.SocketProtocol_UDP
	case "dot", "doq":
		// golang-dnstap v0.4.0 has no DoQ value; DoQ is closest to DoT
		// (TLS 1.3, one query per stream).
		return dnstap.SocketProtocol_DOT
	case "doh", "doh3":
		return dnstap.SocketProtocol_DOH
	}
	return dnstap.SocketProtocol_TCP
}

// tapKeptOptions are the EDNS options a response keeps in dnstap: Extended
// DNS Errors, which the node writes itself. Everything else (COOKIE, NSID,
// padding, ECS, unknown codes) is dropped.
var tapKeptOptions = map[uint16]bool{dns.EDNS0EDE: true}

// tapMessage returns m as dnstap may carry it: a shallow copy whose OPT
// record keeps its header (UDP size, version, DO) and only the options in
// keep. m itself is not changed: it is the message on its way to the client.
func tapMessage(m *dns.Msg, keep map[uint16]bool) *dns.Msg {
	if m == nil || len(m.Extra) == 0 {
		return m
	}
	c := *m
	c.Extra = make([]dns.RR, 0, len(m.Extra))
	for _, rr := range m.Extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			c.Extra = append(c.Extra, rr)
			continue
		}
		o := *opt
		o.Option = nil
		for _, e := range opt.Option {
			if keep[e.Option()] {
				o.Option = append(o.Option, e)
			}
		}
		c.Extra = append(c.Extra, &o)
	}
	return &c
}
