package resolver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"
)

// EncryptedProtos are the transport names Canary accepts.
var EncryptedProtos = []string{protoDoT, protoDoH, protoDoH3, protoDoQ}

// Canary asks target over proto ("dot", "doh", "doh3", "doq") for name and
// qtype on a new connection, as a client from outside would, and checks
// the answer like the plain canary. The certificate presented must be the
// one this node loaded and valid now: a node whose clients would see a
// stale or broken certificate fails here even if its answers are fine.
func (e *Encrypted) Canary(ctx context.Context, proto string, target netip.AddrPort, name string, qtype uint16) error {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	wire, err := m.Pack()
	if err != nil {
		return fmt.Errorf("canary %s: %w", proto, err)
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is checked below against what we loaded, not against
		// a root store: the node may serve a private CA's certificate.
		InsecureSkipVerify: true,
		VerifyConnection:   e.verifyOwn,
	}
	var out []byte
	switch proto {
	case protoDoT:
		conf.NextProtos = []string{"dot"}
		out, err = canaryStream(ctx, func(ctx context.Context) (io.ReadWriteCloser, error) {
			d := tls.Dialer{Config: conf}
			return d.DialContext(ctx, "tcp", target.String())
		}, wire)
	case protoDoQ:
		conf.NextProtos = []string{"doq"}
		binary.BigEndian.PutUint16(wire, 0)
		out, err = canaryStream(ctx, func(ctx context.Context) (io.ReadWriteCloser, error) {
			c, err := quic.DialAddr(ctx, target.String(), conf, nil)
			if err != nil {
				return nil, err
			}
			st, err := c.OpenStreamSync(ctx)
			if err != nil {
				c.CloseWithError(0, "")
				return nil, err
			}
			return doqCanaryStream{st, c}, nil
		}, wire)
	case protoDoH, protoDoH3:
		var rt http.RoundTripper
		if proto == protoDoH {
			tr := &http2.Transport{TLSClientConfig: conf}
			defer tr.CloseIdleConnections()
			rt = tr
		} else {
			tr := &http3.Transport{TLSClientConfig: conf}
			defer tr.Close()
			rt = tr
		}
		out, err = canaryHTTP(ctx, rt, target, wire)
	default:
		return fmt.Errorf("canary: unknown transport %q", proto)
	}
	if err != nil {
		return fmt.Errorf("canary %s %s: %w", proto, target, err)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil {
		return fmt.Errorf("canary %s %s: %w", proto, target, err)
	}
	return checkCanary(resp, dns.Fqdn(name), qtype)
}

// verifyOwn accepts the connection only if the server presented the
// certificate this node is serving, valid now.
func (e *Encrypted) verifyOwn(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate presented")
	}
	leaf := cs.PeerCertificates[0]
	own := e.certs.cert.Load()
	if !bytes.Equal(leaf.Raw, own.Leaf.Raw) {
		return errors.New("presented certificate is not the one loaded")
	}
	if now := e.r.now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return fmt.Errorf("certificate not valid now (valid %s to %s)", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// canaryStream sends one length-prefixed query on a new stream and reads
// the answer (DoT and DoQ framing).
func canaryStream(ctx context.Context, dial func(context.Context) (io.ReadWriteCloser, error), wire []byte) ([]byte, error) {
	c, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		if d, ok := c.(interface{ SetDeadline(time.Time) error }); ok {
			d.SetDeadline(dl)
		}
	}
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...)); err != nil {
		return nil, err
	}
	if h, ok := c.(interface{ CloseWrite() error }); ok {
		h.CloseWrite()
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	out := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err = io.ReadFull(c, out)
	return out, err
}

// doqCanaryStream is a DoQ stream that closes its connection with it;
// CloseWrite sends the FIN the server waits for.
type doqCanaryStream struct {
	*quic.Stream
	c *quic.Conn
}

func (s doqCanaryStream) CloseWrite() error { return s.Stream.Close() }

func (s doqCanaryStream) Close() error {
	s.Stream.CancelRead(0)
	return s.c.CloseWithError(0, "")
}

// canaryHTTP asks with a DoH GET.
func canaryHTTP(ctx context.Context, rt http.RoundTripper, target netip.AddrPort, wire []byte) ([]byte, error) {
	url := "https://" + net.JoinHostPort(target.Addr().String(), fmt.Sprint(target.Port())) + dohPath + "?dns=" + base64.RawURLEncoding.EncodeToString(wire)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", dohContentType)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("http status %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, dns.MaxMsgSize))
}
