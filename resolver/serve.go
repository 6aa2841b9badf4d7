package resolver

import (
	"context"
	"encoding/hex"

	"github.com/miekg/dns"
)

// handler answers client queries on one transport. Nothing here logs,
// counts or keeps the client's address.
type handler struct {
	r     *Resolver
	proto string // "udp" or "tcp", the metric label
}

func (h handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := h.r.respond(req, h.proto == "udp")
	if resp == nil {
		return
	}
	if err := w.WriteMsg(resp); err != nil {
		// Not the error itself: a net.OpError names the client's address.
		h.r.log.Debug("write answer failed", "proto", h.proto)
		return
	}
	h.r.answered.Add(1)
	var qtype uint16
	if len(req.Question) > 0 {
		qtype = req.Question[0].Qtype
	}
	h.r.m.queries.WithLabelValues(h.proto, qtypeLabel(qtype), rcodeLabel(resp.Rcode)).Inc()
}

// respond builds the answer to req, sized for the transport; nil means
// send nothing. It never panics on a parsed message: a bug here must cost
// one SERVFAIL, not the process.
func (r *Resolver) respond(req *dns.Msg, udp bool) (resp *dns.Msg) {
	if req.Response {
		return nil // never answer answers: that is how reflection loops start
	}
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("panic answering query", "err", p)
			resp = new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
		}
	}()
	resp = new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = true
	resp.Compress = true

	opt, optErr := clientOPT(req)
	if optErr {
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	size := dns.MinMsgSize
	if opt != nil {
		size = min(max(int(opt.UDPSize()), dns.MinMsgSize), serverUDPSize)
		resp.Extra = append(resp.Extra, r.replyOPT(opt))
		if opt.Version() != 0 {
			resp.Rcode = dns.RcodeBadVers
			return resp
		}
	}
	r.fill(resp, req)
	if udp {
		resp.Truncate(size)
	}
	return resp
}

// fill sets the rcode and sections of resp for the question of req.
func (r *Resolver) fill(resp, req *dns.Msg) {
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
		return
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
		return
	}
	q := req.Question[0]
	switch {
	case q.Qclass != dns.ClassINET:
		resp.Rcode = dns.RcodeRefused
		return
	case q.Qtype == dns.TypeOPT:
		resp.Rcode = dns.RcodeFormatError
		return
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		resp.Rcode = dns.RcodeNotImplemented
		return
	}
	var (
		m   *dns.Msg
		err error
	)
	if req.RecursionDesired {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ResolveTimeout)
		defer cancel()
		m, err = r.Resolve(ctx, q)
	} else {
		// RD=0: what the cache holds, and no recursion on the client's
		// behalf.
		var ok bool
		if m, ok = r.cached(q); !ok {
			resp.Rcode = dns.RcodeRefused
			return
		}
	}
	if err != nil {
		r.log.Debug("resolve failed", "qname", q.Name, "qtype", dns.TypeToString[q.Qtype], "err", err)
		resp.Rcode = dns.RcodeServerFailure
		return
	}
	resp.Rcode = m.Rcode
	resp.Answer = m.Answer
	resp.Ns = m.Ns
}

// cached is Resolve without recursion.
func (r *Resolver) cached(q dns.Question) (*dns.Msg, bool) {
	if _, ok := dns.IsDomainName(q.Name); !ok {
		return nil, false
	}
	q.Name = dns.CanonicalName(q.Name)
	m, ok := r.cache.get(answerKey(q))
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
