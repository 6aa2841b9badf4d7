package resolver

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/miekg/dns"
)

// paddingBlock is RFC 8467 section 4.1's block length for responses: a
// padded answer's size says only which 468-byte block it falls in.
const paddingBlock = 468

// packPadded packs resp, padded with an EDNS(0) Padding option (RFC 7830)
// to a multiple of paddingBlock when it carries an OPT record. Responses on
// encrypted transports are padded whenever the client speaks EDNS: RFC 7830
// requires it when the query was padded and allows it otherwise, and the
// size of an unpadded answer leaks the name more than the bytes cost.
func packPadded(resp *dns.Msg) ([]byte, error) {
	opt := resp.IsEdns0()
	if opt == nil {
		return resp.Pack()
	}
	kept := opt.Option[:0]
	for _, o := range opt.Option {
		if o.Option() != dns.EDNS0PADDING {
			kept = append(kept, o)
		}
	}
	pad := &dns.EDNS0_PADDING{}
	opt.Option = append(kept, pad)
	out, err := resp.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack answer: %w", err)
	}
	// The padding sits in the last RR's rdata, so growing it moves no
	// compression pointer: the final size is exactly len(out)+n.
	n := (paddingBlock - len(out)%paddingBlock) % paddingBlock
	if n == 0 || len(out)+n > dns.MaxMsgSize {
		return out, nil
	}
	pad.Padding = make([]byte, n)
	return resp.Pack()
}

// answerWire is the answer path of every stream and encrypted transport:
// parse one query, answer it (no truncation, no UDP rate limit), count it
// under proto, and pack it, padded on encrypted transports. A query that
// does not parse gets a header-only FORMERR (RFC 1035 section 4.1.1), a
// response nothing. nil means send nothing.
func (r *Resolver) answerWire(wire []byte, client netip.Addr, proto string, pad bool) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(wire); err != nil {
		if len(wire) < 12 || wire[2]&0x80 != 0 {
			return nil // not a query header, or a response: never answer
		}
		// A header-only FORMERR (RFC 1035 section 4.1.1), as over UDP.
		h := make([]byte, 12)
		binary.BigEndian.PutUint16(h, binary.BigEndian.Uint16(wire))
		h[2] = 0x80 | wire[2]&0x78 // QR, opcode copied
		h[3] = dns.RcodeFormatError
		return h
	}
	resp := r.respondAs(req, client, proto)
	if resp == nil {
		return nil
	}
	pack := (*dns.Msg).Pack
	if pad {
		pack = packPadded
	}
	out, err := pack(resp)
	if err != nil {
		r.log.Debug("pack answer failed", "proto", proto, "err", err)
		return nil
	}
	r.count(proto, req, resp) // before the write: see count
	return out
}
