package resolver

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// The wire-form answer path (DESIGN.md, "Resolver shape that keeps the
// fast path open"): a query for a fresh cached answer, over UDP or a
// stream transport (TCP, DoT), is served by
// copying a pre-packed answer, then patching the ID, the flags, the
// question's letter case and every TTL in place. No dns.Msg is built and,
// in the steady state, nothing is allocated. Anything the template cannot
// express exactly as respond would (EDNS options, cookies, NSID, ECS,
// truncation, RD=0, stale or unvalidated entries, the privacy hooks) is
// left to respond: fastAnswer then reports false and the caller falls back.

// fastQuery is what the fast path needs of a query, parsed in place.
type fastQuery struct {
	id       uint16
	rd, cd   bool
	ad       bool   // the client set AD (RFC 6840 section 5.7)
	nameEnd  int    // the question name is wire[12:nameEnd]
	qtype    uint16 // class is IN, or parseFast refused the query
	edns     bool   // an OPT record without options
	do       bool   // its DO bit
	udpSize  int    // the answer's size limit
	lowerLen int    // length of the lowercased presentation name in the scratch buffer
}

// zeros is the source of padding bytes: a padded answer never needs a
// whole block of them.
var zeros [paddingBlock]byte

// maxFastName bounds the presentation form of a name: 255 wire octets give
// at most 254 characters.
const maxFastName = 256

// parseFast parses a plain query: one IN question for a name of letters,
// digits, '-' and '_' only (no escapes needed in presentation form), no
// answer or authority records, and at most an OPT record without options.
// It writes the lowercased name, in the presentation form the cache keys
// use, into lower. ok is false for anything else: respond handles it.
func parseFast(wire []byte, lower *[maxFastName]byte) (q fastQuery, ok bool) {
	if len(wire) < 12+1+4 {
		return q, false
	}
	flags := binary.BigEndian.Uint16(wire[2:])
	// QR=0, opcode QUERY, no TC, Z=0; qdcount 1, an/ns 0, ar 0 or 1.
	if flags&0xF800 != 0 || flags&0x0200 != 0 || flags&0x0040 != 0 {
		return q, false
	}
	if binary.BigEndian.Uint16(wire[4:]) != 1 || binary.BigEndian.Uint32(wire[6:]) != 0 {
		return q, false
	}
	ar := binary.BigEndian.Uint16(wire[10:])
	if ar > 1 {
		return q, false
	}
	q.id = binary.BigEndian.Uint16(wire)
	q.rd = flags&0x0100 != 0
	q.ad = flags&0x0020 != 0
	q.cd = flags&0x0010 != 0
	off, n := 12, 0
	for {
		if off >= len(wire) {
			return q, false
		}
		l := int(wire[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(wire) || n+l+1 > maxFastName-1 {
			return q, false // a pointer, an extended label type, or too long
		}
		for _, c := range wire[off : off+l] {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return q, false // needs escaping in presentation form
			}
			lower[n] = c
			n++
		}
		lower[n] = '.'
		n++
		off += l
	}
	if n == 0 {
		lower[0] = '.'
		n = 1
	}
	q.nameEnd = off
	if off+4 > len(wire) {
		return q, false
	}
	q.qtype = binary.BigEndian.Uint16(wire[off:])
	if binary.BigEndian.Uint16(wire[off+2:]) != dns.ClassINET {
		return q, false
	}
	switch q.qtype {
	case dns.TypeANY, dns.TypeOPT, dns.TypeAXFR, dns.TypeIXFR, dns.TypeRRSIG:
		return q, false
	}
	off += 4
	q.udpSize = dns.MinMsgSize
	if ar == 1 {
		// OPT: root name, type 41, class = UDP size, TTL = extended rcode,
		// version, flags; no options (RDLENGTH 0).
		if off+11 != len(wire) || wire[off] != 0 || binary.BigEndian.Uint16(wire[off+1:]) != dns.TypeOPT {
			return q, false
		}
		size := int(binary.BigEndian.Uint16(wire[off+3:]))
		if wire[off+5] != 0 || wire[off+6] != 0 || binary.BigEndian.Uint16(wire[off+9:]) != 0 {
			return q, false // extended rcode, version > 0 (BADVERS), or options
		}
		q.edns = true
		q.do = wire[off+7]&0x80 != 0
		q.udpSize = min(max(size, dns.MinMsgSize), serverUDPSize)
		off += 11
	}
	if off != len(wire) {
		return q, false
	}
	q.lowerLen = n
	return q, true
}

// fastWire is a cached answer packed for the fast path: header (ID 0, the
// flags set per query), the question in lowercase, the answer and
// authority sections, no additional records. ttls holds the offset of every
// record's TTL field; the TTLs in b are those at the entry's stored time.
type fastWire struct {
	b     []byte
	ttls  []uint16
	rcode uint8
}

// fastForm is the fast path's view of one cache entry, built once on its
// first fast hit. plain is for clients without DO (DNSSEC records
// removed, as secureReply does); full for DO clients. They are the same
// when the answer holds no DNSSEC records. usable is false for an entry
// the fast path must leave to respond.
type fastForm struct {
	usable      bool
	ad          bool // validated Secure
	plain, full *fastWire
}

// fastFormOf returns e's fast form, building it on first use. Two callers
// racing build it twice; either result is right.
func fastFormOf(e *entry, name string, qtype uint16) *fastForm {
	if f := e.fast.Load(); f != nil {
		return f
	}
	f := buildFastForm(e.wire, name, qtype)
	e.fast.Store(f)
	return f
}

func buildFastForm(wire []byte, name string, qtype uint16) *fastForm {
	var m dns.Msg
	if err := m.Unpack(wire); err != nil || m.CheckingDisabled || m.Rcode > 0xF {
		return &fastForm{}
	}
	f := &fastForm{usable: true, ad: m.AuthenticatedData}
	q := dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
	var ok bool
	if f.full, ok = packFast(q, m.Rcode, m.Answer, m.Ns); !ok {
		return &fastForm{}
	}
	an, ns := withoutDNSSEC(m.Answer, qtype), withoutDNSSEC(m.Ns, qtype)
	if len(an) == len(m.Answer) && len(ns) == len(m.Ns) {
		f.plain = f.full
	} else if f.plain, ok = packFast(q, m.Rcode, an, ns); !ok {
		return &fastForm{}
	}
	return f
}

// packFast packs one template and records where its TTLs are.
func packFast(q dns.Question, rcode int, an, ns []dns.RR) (*fastWire, bool) {
	m := dns.Msg{Compress: true, Question: []dns.Question{q}, Answer: an, Ns: ns}
	m.Rcode = rcode
	b, err := m.Pack()
	// Stream transports carry answers up to 64 KiB; over UDP, fastAnswer
	// refuses a template larger than the client's buffer.
	if err != nil || len(b) > dns.MaxMsgSize {
		return nil, false
	}
	w := &fastWire{b: b, rcode: uint8(rcode)}
	off := 12
	if off = skipName(b, off); off < 0 {
		return nil, false
	}
	off += 4
	for range len(an) + len(ns) {
		if off = skipName(b, off); off < 0 || off+10 > len(b) {
			return nil, false
		}
		w.ttls = append(w.ttls, uint16(off+4))
		off += 10 + int(binary.BigEndian.Uint16(b[off+8:]))
	}
	if off != len(b) {
		return nil, false
	}
	return w, true
}

// skipName returns the offset after the (possibly compressed) name at off,
// or -1.
func skipName(b []byte, off int) int {
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			return off + 2
		case l > 63:
			return -1
		}
		off += 1 + l
	}
	return -1
}

// patchTTLs writes into out, a copy of w.b, every TTL lowered by age
// seconds (never below zero).
func patchTTLs(out []byte, w *fastWire, age uint32) {
	for _, o := range w.ttls {
		ttl := binary.BigEndian.Uint32(w.b[o:])
		if ttl > age {
			ttl -= age
		} else {
			ttl = 0
		}
		binary.BigEndian.PutUint32(out[o:], ttl)
	}
}

// fastPath holds what the fast path needs beyond the resolver for one
// transport: per-series query counters, looked up without building label
// slices, and how the transport sizes its answers.
type fastPath struct {
	counters map[uint32]prometheus.Counter // qtype<<8 | rcode
	proto    string                        // the metrics label
	// stream transports (TCP, DoT) have no UDP size limit: an answer may
	// take up to 64 KiB and is never truncated.
	stream bool
	// pad answers to clients that speak EDNS as packPadded does (RFC 8467):
	// set on encrypted transports.
	pad bool
}

func newFastPath(m *metrics, proto string) *fastPath {
	fp := &fastPath{counters: map[uint32]prometheus.Counter{}, proto: proto, stream: proto != "udp"}
	for t := range dns.TypeToString {
		for _, rc := range []int{dns.RcodeSuccess, dns.RcodeServerFailure, dns.RcodeNameError, dns.RcodeRefused} {
			fp.counters[uint32(t)<<8|uint32(rc)] = m.queries.WithLabelValues(proto, qtypeLabel(t), rcodeLabel(rc))
		}
	}
	return fp
}

// fastEligible reports whether the resolver's settings let the fast path
// serve at all: with a query log, debug sampling, dnstap or a rate limit on,
// every query goes through respond, which feeds them.
func (r *Resolver) fastEligible() bool {
	p := r.priv
	return p.qlog == nil && p.samples == nil && p.tap == nil && p.limit == nil
}

// fastAnswer answers wire, a query from client, from the cache in wire
// form, appending the answer to out, sized and counted for fp's
// transport. ok is false when respond must handle the query; then nothing
// was counted and out is returned as it came. lower is the caller's
// scratch buffer.
func (r *Resolver) fastAnswer(fp *fastPath, wire, out []byte, client netip.Addr, lower *[maxFastName]byte) ([]byte, bool) {
	q, ok := parseFast(wire, lower)
	if !ok || !q.rd {
		return out, false // RD=0 answers from the cache without prefetch: respond's
	}
	if len(r.cfg.Allow) > 0 && !r.allowed(client) {
		return out, false
	}
	// The key's name points into lower, which lives as long as this call;
	// otter only compares and hashes it.
	k := cacheKey{name: unsafe.String(&lower[0], q.lowerLen), qtype: q.qtype, qclass: dns.ClassINET, kind: kindAnswer}
	e, ok := r.cache.c.GetIfPresent(k)
	if !ok {
		return out, false
	}
	age := time.Duration(r.now().UnixNano() - e.stored)
	if age >= e.ttl {
		return out, false // expired: serve-stale and the refresh are respond's
	}
	f := e.fast.Load()
	if f == nil {
		f = fastFormOf(e, string(lower[:q.lowerLen]), q.qtype)
	}
	if !f.usable {
		return out, false
	}
	w := f.plain
	if q.do {
		w = f.full
	}
	size := len(w.b)
	padding := -1 // bytes of padding, when the OPT record carries the option
	if q.edns {
		size += 11
		if fp.pad {
			// As packPadded: an empty Padding option, then enough zeros
			// to reach a whole block, unless that would pass 64 KiB.
			size += 4
			padding = (paddingBlock - size%paddingBlock) % paddingBlock
			if size+padding > dns.MaxMsgSize {
				padding = 0
			}
		}
	}
	switch {
	case fp.stream && size+max(padding, 0) > dns.MaxMsgSize:
		return out, false
	case !fp.stream && size > q.udpSize:
		return out, false // needs truncation: respond's
	}
	start := len(out)
	out = append(out, w.b...)
	b := out[start:]
	binary.BigEndian.PutUint16(b, q.id)
	flags := uint16(0x8000 | 0x0080) // QR, RA
	if q.rd {
		flags |= 0x0100
	}
	if q.cd {
		flags |= 0x0010
	}
	if r.val != nil && f.ad && (q.do || q.ad) {
		flags |= 0x0020
	}
	flags |= uint16(w.rcode)
	binary.BigEndian.PutUint16(b[2:], flags)
	// 0x20: the client's question as sent, letter case included.
	copy(b[12:q.nameEnd], wire[12:q.nameEnd])
	patchTTLs(b, w, uint32(age/time.Second))
	if q.edns {
		binary.BigEndian.PutUint16(b[10:], 1)
		var do byte
		if q.do {
			do = 0x80
		}
		if padding < 0 {
			out = append(out, 0, 0, byte(dns.TypeOPT), byte(serverUDPSize>>8), byte(serverUDPSize&0xFF), 0, 0, do, 0, 0, 0)
		} else {
			rdlen := 4 + padding
			out = append(out, 0, 0, byte(dns.TypeOPT), byte(serverUDPSize>>8), byte(serverUDPSize&0xFF), 0, 0, do, 0,
				byte(rdlen>>8), byte(rdlen), 0, byte(dns.EDNS0PADDING), byte(padding>>8), byte(padding))
			out = append(out, zeros[:padding]...)
		}
	}

	r.cache.hits.Add(1)
	r.m.cacheHits.Inc()
	if r.cache.prefetchDue(e) {
		r.prefetch(dns.Question{Name: strings.Clone(k.name), Qtype: q.qtype, Qclass: dns.ClassINET}, e)
	}
	r.counters.answer(int(w.rcode))
	if c, ok := fp.counters[uint32(q.qtype)<<8|uint32(w.rcode)]; ok {
		c.Inc()
	} else {
		r.m.queries.WithLabelValues(fp.proto, qtypeLabel(q.qtype), rcodeLabel(int(w.rcode))).Inc()
	}
	return out, true
}
