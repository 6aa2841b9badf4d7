package resolver

// One TLS record per DoH response. golang.org/x/net/http2 buffers the
// frames of every stream that is ready and flushes them together, so under
// load one TLS record carries the HEADERS and DATA of several responses.
// That is valid HTTP/2, but DoH clients built on nghttp2's pause-per-message
// pattern lose every response after the first in a record: dnsperf 2.10
// (Debian 12) returns NGHTTP2_ERR_PAUSE from its data-chunk callback once
// it holds one answer, and nghttp2 counts the paused chunk as consumed, so
// the next answer arrives empty and its query times out (issue 8: 14% of
// queries lost, 1,456 q/s against Knot Resolver's 20,732, whose nghttp2
// server writes each response by itself). Cutting the byte stream after
// every frame that ends a stream makes each answer its own Write on the
// tls.Conn, and so its own record, as Knot Resolver's are.

import (
	"context"
	"crypto/tls"
	"net/http"

	"golang.org/x/net/http2"
)

// HTTP/2 framing (RFC 9113 section 4.1): a 9-byte header of 24-bit length,
// type, flags and stream id.
const (
	h2FrameHeaderLen = 9
	h2FrameData      = 0x0
	h2FrameHeaders   = 0x1
	h2FlagEndStream  = 0x1
)

// serveH2PerRecord replaces http2.ConfigureServer's "h2" handler on srv
// with one that serves each connection through a streamEndConn. It must
// run after http2.ConfigureServer(srv, h2), whose graceful-shutdown hook
// and settings it keeps.
func serveH2PerRecord(srv *http.Server, h2 *http2.Server) {
	srv.TLSNextProto[http2.NextProtoTLS] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		// net/http hands its per-connection context down through an
		// unexported-by-convention method on h, as ConfigureServer's own
		// handler reads it.
		var ctx context.Context
		if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
			ctx = bc.BaseContext()
		}
		h2.ServeConn(&streamEndConn{Conn: c}, &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs})
	}
}

// streamEndConn passes the server's HTTP/2 bytes to the TLS connection in
// pieces that end where a frame with END_STREAM ends (the last frame of a
// response), so no TLS record holds the end of one response and anything
// after it. Only http2's single writer goroutine calls Write. The embedded
// *tls.Conn keeps ConnectionState, which http2 needs to check the TLS
// version and cipher suite.
type streamEndConn struct {
	*tls.Conn
	cut streamEndCutter
}

func (c *streamEndConn) Write(p []byte) (int, error) { return c.cut.write(p, c.Conn.Write) }

// streamEndCutter follows the HTTP/2 frames across Writes, which may split
// a frame anywhere (the writer's buffer is 4 KiB).
type streamEndCutter struct {
	hdr       [h2FrameHeaderLen]byte
	hdrN      int  // bytes of the current frame header seen
	left      int  // payload bytes of the current frame not yet seen
	endStream bool // the current frame ends its stream
}

// write passes p to w unchanged and uncopied, in as many calls as frames
// with END_STREAM end in p (plus one for a tail).
func (c *streamEndCutter) write(p []byte, w func([]byte) (int, error)) (int, error) {
	written, start := 0, 0
	for i := 0; i < len(p); {
		if c.hdrN < h2FrameHeaderLen {
			n := copy(c.hdr[c.hdrN:], p[i:])
			c.hdrN += n
			i += n
			if c.hdrN < h2FrameHeaderLen {
				break
			}
			c.left = int(c.hdr[0])<<16 | int(c.hdr[1])<<8 | int(c.hdr[2])
			typ, flags := c.hdr[3], c.hdr[4]
			c.endStream = (typ == h2FrameData || typ == h2FrameHeaders) && flags&h2FlagEndStream != 0
		} else {
			n := min(c.left, len(p)-i)
			c.left -= n
			i += n
		}
		if c.hdrN == h2FrameHeaderLen && c.left == 0 {
			c.hdrN = 0 // frame done
			if c.endStream {
				n, err := w(p[start:i])
				written += n
				if err != nil {
					return written, err
				}
				start = i
			}
		}
	}
	if start < len(p) {
		n, err := w(p[start:])
		written += n
		return written, err
	}
	return written, nil
}
