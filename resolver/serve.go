package resolver

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// count records one answered client query. Transports call it before
// writing the answer, so a client that has its answer always finds it
// counted (tests and the drain's query rate both read the count).
func (r *Resolver) count(proto string, req, resp *dns.Msg) {
	var qtype uint16
	if len(req.Question) > 0 {
		qtype = req.Question[0].Qtype
	}
	r.m.queries.WithLabelValues(proto, qtypeLabel(qtype), rcodeLabel(resp.Rcode)).Inc()
	r.counters.answer(resp.Rcode)
}

// addrOf returns the IP of a client's net.Addr, unmapped; the zero Addr if
// it has none. It lives only as long as the query.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// respond builds the answer to req from client, sized for the transport;
// nil means send nothing. client is used for the allow list and the cookie
// hash, in memory only. It never panics on a parsed message: a bug here
// must cost one SERVFAIL, not the process.
func (r *Resolver) respond(req *dns.Msg, client netip.Addr, udp bool) *dns.Msg {
	proto := "tcp"
	if udp {
		proto = "udp"
	}
	return r.respondAs(req, client, proto)
}

// respondAs is respond for a transport named proto (udp, tcp, dot, doh,
// doh3, doq): only "udp" is sized and rate limited as UDP; the name goes
// into the query log and dnstap.
func (r *Resolver) respondAs(req *dns.Msg, client netip.Addr, proto string) (resp *dns.Msg) {
	udp := proto == "udp"
	if req.Response {
		return nil // never answer answers: that is how reflection loops start
	}
	if udp && r.priv.limit != nil {
		switch r.priv.limit.check(client, r.now()) {
		case rlDrop:
			r.priv.limited.WithLabelValues("drop").Inc()
			return nil
		case rlSlip:
			r.priv.limited.WithLabelValues("slip").Inc()
			tc := new(dns.Msg).SetReply(req)
			tc.Truncated = true
			return tc
		}
	}
	obs := &observation{start: r.now()}
	// Registered first, so it runs last: it sees the answer the panic
	// handler below may have put in place.
	defer func() { r.priv.observe(obs, req, resp, client, proto) }()
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("panic answering query", "err", p)
			resp = new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
			if opt, bad := clientOPT(req); opt != nil && !bad {
				o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
				o.SetUDPSize(serverUDPSize)
				o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeOther, ExtraText: "internal error"})
				resp.Extra = []dns.RR{o}
			}
		}
	}()
	resp = new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = true
	resp.Compress = true

	opt, optErr := clientOPT(req)
	r.priv.stripECS(opt)
	if optErr {
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	size := dns.MinMsgSize // RFC 1035: 512 bytes without EDNS
	var ropt *dns.OPT
	if opt != nil {
		size = min(max(int(opt.UDPSize()), dns.MinMsgSize), serverUDPSize)
		ropt = r.replyOPT(opt)
		resp.Extra = append(resp.Extra, ropt)
		if opt.Version() != 0 {
			resp.Rcode = dns.RcodeBadVers
			return resp
		}
		if !r.answerCookie(opt, ropt, client) {
			resp.Rcode = dns.RcodeFormatError // RFC 7873 section 5.2.2
			return resp
		}
	}
	var ede *dns.EDNS0_EDE
	if !r.allowed(client) {
		resp.Rcode = dns.RcodeRefused
		ede = &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeProhibited}
	} else {
		ede = r.fill(resp, req, obs)
	}
	if udp && ede == edeOverloaded {
		return nil // shed: the client retries (shed.go)
	}
	if ede == nil && resp.Rcode == dns.RcodeServerFailure {
		// Every SERVFAIL says why, even one no path explained.
		ede = &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeOther, ExtraText: "resolution failed"}
	}
	if ede != nil && ropt != nil {
		ropt.Option = append(ropt.Option, ede)
	}
	if udp {
		resp.Truncate(size)
	}
	return resp
}

// allowed reports whether client may use the resolver (Config.Allow).
func (r *Resolver) allowed(client netip.Addr) bool {
	if len(r.cfg.Allow) == 0 {
		return true
	}
	for _, p := range r.cfg.Allow {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// answerCookie handles a client's COOKIE option (RFC 7873 section 5.2): a
// well-formed one gets a server cookie in ropt, fresh unless the client
// echoed a valid one of ours, which is then renewed once it is half an hour
// old (RFC 9018 section 4.3). It returns false for a malformed option
// (FORMERR). A query without a cookie, or with a wrong server cookie, is
// answered normally: cookies are not required.
func (r *Resolver) answerCookie(opt, ropt *dns.OPT, client netip.Addr) bool {
	raw, present := cookieOption(opt)
	if !present {
		for _, o := range opt.Option {
			if o.Option() == dns.EDNS0COOKIE {
				return false // present but not even hex-decodable
			}
		}
		return true
	}
	if len(raw) != clientCookieLen && (len(raw) < clientCookieLen+8 || len(raw) > clientCookieLen+maxServerCookie) {
		return false
	}
	cc, sc := raw[:clientCookieLen], raw[clientCookieLen:]
	now := r.now()
	if r.cookies.validServerCookie(cc, sc, client, now) && now.Unix()-int64(binary.BigEndian.Uint32(sc[4:8])) < 1800 {
		ropt.Option = append(ropt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(raw)})
		return true
	}
	out := append(append([]byte(nil), cc...), r.cookies.serverCookie(cc, client, now)...)
	ropt.Option = append(ropt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(out)})
	return true
}

// anyTTL is the TTL of the synthesised RFC 8482 answer.
const anyTTL = 3600

// fill sets the rcode and sections of resp for the question of req. It
// returns the Extended DNS Error to attach, if any.
func (r *Resolver) fill(resp, req *dns.Msg, obs *observation) *dns.EDNS0_EDE {
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
		return nil
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
		return nil
	}
	q := req.Question[0]
	switch {
	case q.Qclass != dns.ClassINET:
		resp.Rcode = dns.RcodeRefused
		return nil
	case q.Qtype == dns.TypeOPT:
		resp.Rcode = dns.RcodeFormatError
		return nil
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		resp.Rcode = dns.RcodeNotImplemented
		return nil
	case q.Qtype == dns.TypeANY:
		// RFC 8482 section 4.2: one synthesised HINFO RRset instead of
		// everything at the name. No upstream query, so ANY is neither an
		// amplifier nor a way to make us ask authorities for it.
		resp.Answer = []dns.RR{&dns.HINFO{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: anyTTL},
			Cpu: "RFC8482",
		}}
		return nil
	}
	var (
		a   answer
		err error
	)
	if req.RecursionDesired {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ResolveTimeout)
		defer cancel()
		a, err = r.lookup(ctx, q)
	} else {
		// RD=0: what the cache holds, and no recursion on the client's
		// behalf.
		var ok bool
		if a.msg, ok = r.cached(q); !ok {
			resp.Rcode = dns.RcodeRefused
			return nil
		}
		a.hit = true
	}
	obs.hit = a.hit
	if err != nil && req.CheckingDisabled {
		if m, ok := checkingDisabled(err); ok {
			a, err = answer{msg: m}, nil
		}
	}
	if errors.Is(err, errOverloaded) {
		resp.Rcode = dns.RcodeServerFailure
		return edeOverloaded // shed.go: dropped over UDP
	}
	if err != nil {
		r.log.Debug("resolve failed", "qname", q.Name, "qtype", dns.TypeToString[q.Qtype], "err", err)
		resp.Rcode = dns.RcodeServerFailure
		code, text := edeOf(err)
		return &dns.EDNS0_EDE{InfoCode: code, ExtraText: text}
	}
	resp.Rcode = a.msg.Rcode
	resp.Answer = a.msg.Answer
	resp.Ns = a.msg.Ns
	r.secureReply(resp, req, a.msg)
	if a.stale {
		return &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeStaleAnswer}
	}
	return nil
}

// cached is Resolve without recursion.
func (r *Resolver) cached(q dns.Question) (*dns.Msg, bool) {
	if _, ok := dns.IsDomainName(q.Name); !ok {
		return nil, false
	}
	q.Name = dns.CanonicalName(q.Name)
	m, _, ok := r.cache.lookup(answerKey(q))
	if ok {
		r.m.cacheHits.Inc()
	} else {
		r.m.cacheMisses.Inc()
	}
	return m, ok
}

// clientOPT returns the query's OPT record; bad is true when the query has
// more than one (RFC 6891 section 6.1.1: FORMERR).
func clientOPT(req *dns.Msg) (opt *dns.OPT, bad bool) {
	for _, rr := range req.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			if opt != nil {
				return nil, true
			}
			opt = o
		}
	}
	return opt, false
}

// replyOPT is our OPT record for a client that sent copt: our buffer size,
// the DO bit copied (RFC 3225), and NSID when asked for (RFC 5001).
func (r *Resolver) replyOPT(copt *dns.OPT) *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(serverUDPSize)
	if copt.Do() {
		o.SetDo()
	}
	for _, e := range copt.Option {
		if e.Option() == dns.EDNS0NSID {
			o.Option = append(o.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: hex.EncodeToString([]byte(r.cfg.NodeName))})
			break
		}
	}
	return o
}
