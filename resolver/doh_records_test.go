package resolver

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestDoHOneResponsePerRecord is issue 8's regression test: many
// concurrent streams on one HTTP/2 connection all complete within a bound,
// and no TLS record carries anything after the end of a response, which
// nghttp2 clients that pause after one message (dnsperf 2.10) lose.
func TestDoHOneResponsePerRecord(t *testing.T) {
	const (
		streams = 100 // the default MaxStreams: all in flight at once
		rounds  = 5
	)
	s := startEncrypted(t, func(c *EncryptedConfig) { c.DoT, c.DoH3, c.DoQ = false, false, false })
	// Cached first, so the answers are ready together and the server has
	// every reason to write them together.
	if _, _, _, err := dohExchange(h2Client(s.clientTLS()), "https://"+s.addr("doh"), http.MethodGet, query("www.example.com", dns.TypeA, false, 0)); err != nil {
		t.Fatal(err)
	}

	c, err := tls.Dial("tcp", s.addr("doh"), s.clientTLS(http2.NextProtoTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var out bytes.Buffer
	out.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&out, nil)
	fr.WriteSettings()
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	dec := hpack.NewDecoder(4096, nil)
	var pending []byte // an incomplete frame, continued in the next record
	rec := make([]byte, 1<<16)
	// Several rounds: whether the server happens to coalesce depends on
	// scheduling, and one round alone misses it now and then.
	for round := range rounds {
		for i := range streams {
			m := query("www.example.com", dns.TypeA, false, 0)
			m.Id = uint16(i)
			wire, _ := m.Pack()
			hbuf.Reset()
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "127.0.0.1"},
				{":path", "/dns-query?dns=" + base64.RawURLEncoding.EncodeToString(wire)}, {"accept", dohContentType}} {
				enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			id := uint32(2*(round*streams+i) + 1)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndStream: true, EndHeaders: true})
		}
		if _, err := c.Write(out.Bytes()); err != nil {
			t.Fatal(err)
		}
		out.Reset()

		// A tls.Conn Read returns at most one record's plaintext.
		done := 0
		for done < streams {
			n, err := c.Read(rec)
			if err != nil {
				t.Fatalf("round %d: %d of %d responses, then: %v", round, done, streams, err)
			}
			buf := append(pending, rec[:n]...)
			for len(buf) >= h2FrameHeaderLen {
				l := int(buf[0])<<16 | int(buf[1])<<8 | int(buf[2])
				if len(buf) < h2FrameHeaderLen+l {
					break
				}
				typ, flags, id := buf[3], buf[4], binary.BigEndian.Uint32(buf[5:9])&(1<<31-1)
				payload := buf[h2FrameHeaderLen : h2FrameHeaderLen+l]
				buf = buf[h2FrameHeaderLen+l:]
				switch typ {
				case h2FrameHeaders:
					fields, err := dec.DecodeFull(payload)
					if err != nil {
						t.Fatal(err)
					}
					if i := slices.IndexFunc(fields, func(f hpack.HeaderField) bool { return f.Name == ":status" }); i < 0 || fields[i].Value != "200" {
						t.Fatalf("stream %d: headers %v", id, fields)
					}
				case 0x4: // SETTINGS
					if flags&0x1 == 0 {
						fr.WriteSettingsAck()
						c.Write(out.Bytes())
						out.Reset()
					}
				}
				if (typ == h2FrameData || typ == h2FrameHeaders) && flags&h2FlagEndStream != 0 {
					done++
					if len(buf) > 0 {
						t.Fatalf("a TLS record holds %d bytes after the end of stream %d's response", len(buf), id)
					}
				}
			}
			pending = append(pending[:0], buf...)
		}
	}
}

// TestStreamEndCutter: the bytes pass unchanged, and the writes end
// exactly at the ends of END_STREAM frames and of the caller's writes,
// however the caller splits the frames.
func TestStreamEndCutter(t *testing.T) {
	var stream bytes.Buffer
	fr := http2.NewFramer(&stream, nil)
	var ends []int // offsets where an END_STREAM frame ends
	mark := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, stream.Len())
	}
	fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte("hdr"), EndHeaders: true})
	mark(fr.WriteData(1, true, bytes.Repeat([]byte{1}, 300)))
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: []byte("hdr"), EndHeaders: true})
	fr.WriteData(3, false, []byte("part"))
	mark(fr.WriteData(3, true, nil)) // empty final DATA
	mark(fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: []byte("hdr"), EndStream: true, EndHeaders: true}))
	fr.WriteWindowUpdate(0, 1000)
	fr.WritePing(false, [8]byte{})
	mark(fr.WriteData(7, true, []byte("x")))
	fr.WriteGoAway(7, http2.ErrCodeNo, nil)
	all := stream.Bytes()

	for _, chunk := range []int{1, 2, 9, 10, 64, 4096, len(all)} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			var cut streamEndCutter
			var got bytes.Buffer
			var gotEnds []int
			want := slices.Clone(ends)
			for off := 0; off < len(all); off += chunk {
				p := all[off:min(off+chunk, len(all))]
				n, err := cut.write(p, func(b []byte) (int, error) {
					got.Write(b)
					gotEnds = append(gotEnds, got.Len())
					return len(b), nil
				})
				if n != len(p) || err != nil {
					t.Fatalf("write: %d, %v; want %d, nil", n, err, len(p))
				}
				want = append(want, off+len(p))
			}
			slices.Sort(want)
			want = slices.Compact(want)
			if !bytes.Equal(got.Bytes(), all) {
				t.Fatal("bytes changed on the way")
			}
			if !slices.Equal(gotEnds, want) {
				t.Errorf("writes end at %v, want %v", gotEnds, want)
			}
		})
	}

	t.Run("write error", func(t *testing.T) {
		var cut streamEndCutter
		boom := errors.New("boom")
		calls := 0
		n, err := cut.write(all, func(b []byte) (int, error) {
			if calls++; calls == 2 {
				return 1, boom
			}
			return len(b), nil
		})
		if !errors.Is(err, boom) || n != ends[0]+1 {
			t.Errorf("write: %d, %v; want %d, boom", n, err, ends[0]+1)
		}
	})
}
