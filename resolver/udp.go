package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// The UDP server is our own rather than miekg/dns's, which reads one packet
// per system call and starts a goroutine per query. Here each listen
// address gets one socket per core (SO_REUSEPORT: the kernel spreads
// clients over them), each read by one goroutine with recvmmsg, a batch at
// a time (mmsg.go: no allocation per datagram). Fast-path answers (fast.go) are built by that reader in buffers
// it owns and go out with one sendmmsg per batch; every other query is
// copied to a bounded queue served by a fixed pool of workers (shed.go).

const (
	// udpBatch is how many datagrams one recvmmsg/sendmmsg moves at most.
	udpBatch = 32
	// udpReadSize is the read buffer per datagram. Longer queries are
	// dropped: a DNS query needs a few hundred bytes at most.
	udpReadSize = 4096
)

// udpServer answers DNS over UDP on one address.
type udpServer struct {
	r     *Resolver
	local netip.Addr // the address served, for ownQuery
	conns []*net.UDPConn
	fp    *fastPath
	fast  bool // Resolver.fastEligible, fixed at start
	queue chan udpJob

	closing atomic.Bool
	readers sync.WaitGroup
	workers sync.WaitGroup
	done    chan struct{} // closed when every worker has returned
}

// udpJob is one query for a worker. wire is its own copy.
type udpJob struct {
	conn   *net.UDPConn
	to     net.Addr
	client netip.Addr
	wire   []byte
}

// listenUDPGroup opens the extra sockets of first's group: n-1 more on the
// same address and port, all with SO_REUSEPORT.
func listenUDPGroup(ctx context.Context, first net.PacketConn, bound netip.AddrPort, n int) ([]*net.UDPConn, error) {
	conns := []*net.UDPConn{first.(*net.UDPConn)}
	lc := net.ListenConfig{Control: udpControl}
	for range n - 1 {
		pc, err := lc.ListenPacket(ctx, "udp", bound.String())
		if err != nil {
			for _, c := range conns[1:] {
				c.Close()
			}
			return nil, fmt.Errorf("listen udp %s (reuseport): %w", bound, err)
		}
		conns = append(conns, pc.(*net.UDPConn))
	}
	return conns, nil
}

// udpControl is freebind plus SO_REUSEPORT, which every socket of a group
// needs, the first included.
func udpControl(network, address string, c syscall.RawConn) error {
	if err := freebind(network, address, c); err != nil {
		return err
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		if serr == nil {
			// Room for bursts while readers are busy; the kernel caps it at
			// net.core.rmem_max.
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set reuseport: %w", serr)
	}
	return nil
}

// udpSockets is how many sockets each address gets: one per core.
func udpSockets() int { return max(runtime.GOMAXPROCS(0), 1) }

func newUDPServer(r *Resolver, local netip.Addr, conns []*net.UDPConn) *udpServer {
	return &udpServer{
		r:     r,
		local: local.Unmap(),
		conns: conns,
		fp:    newFastPath(r.m, "udp"),
		fast:  r.fastEligible(),
		queue: make(chan udpJob, udpQueueLen),
		done:  make(chan struct{}),
	}
}

// serve reads until shutdown closes the sockets. It returns nil then, or
// the first read error that stopped a reader.
func (s *udpServer) serve() error {
	for range udpWorkers {
		s.workers.Go(func() {
			for j := range s.queue {
				s.handle(j)
			}
		})
	}
	go func() { s.workers.Wait(); close(s.done) }()
	errs := make(chan error, len(s.conns))
	for _, c := range s.conns {
		s.readers.Go(func() { errs <- s.read(c) })
	}
	s.readers.Wait()
	close(s.queue) // readers were the only senders
	close(errs)
	var first error
	for err := range errs {
		if err != nil && first == nil {
			first = err
			s.closeConns() // one reader failed: stop the others
		}
	}
	return first
}

// udpReader is one socket's reader and everything it reuses from batch to
// batch, so that a fast-path answer costs no allocation.
type udpReader struct {
	s  *udpServer
	c  *net.UDPConn
	rc syscall.RawConn
	in *mmsgBatch // received datagrams
	// out is the batch of fast answers; each message's address points at
	// the query's in the received batch, which stays untouched until the
	// answers are sent.
	out     *mmsgBatch
	outBufs [][]byte
	lower   [maxFastName]byte

	// recv and send are r.recvmmsg and r.sendmmsg as func values, made
	// once: RawConn.Read and Write take a callback.
	recv, send func(fd uintptr) bool
	// What the callbacks report back.
	n       int
	err     error
	off, to int // send out.msgs[off:to]
}

func newUDPReader(s *udpServer, c *net.UDPConn) (*udpReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udp %s: %w", c.LocalAddr(), err)
	}
	r := &udpReader{
		s:       s,
		c:       c,
		rc:      rc,
		in:      newRecvBatch(udpBatch, udpReadSize),
		out:     newMmsgBatch(udpBatch),
		outBufs: make([][]byte, udpBatch),
	}
	for i := range r.outBufs {
		r.outBufs[i] = make([]byte, 0, serverUDPSize)
	}
	r.recv = r.recvmmsg
	r.send = r.sendmmsg
	return r, nil
}

// recvmmsg is RawConn.Read's callback: false asks the runtime to wait
// until the socket is readable and call it again.
func (r *udpReader) recvmmsg(fd uintptr) bool {
	r.n, r.err = recvmmsg(fd, r.in.msgs)
	return r.err != syscall.EAGAIN
}

// sendmmsg is RawConn.Write's callback, for out.msgs[off:to].
func (r *udpReader) sendmmsg(fd uintptr) bool {
	r.n, r.err = sendmmsg(fd, r.out.msgs[r.off:r.to])
	return r.err != syscall.EAGAIN
}

// read is one socket's loop: a batch in, fast answers out in one batch,
// the rest to the workers.
func (s *udpServer) read(c *net.UDPConn) error {
	r, err := newUDPReader(s, c)
	if err != nil {
		return err
	}
	for {
		if err := r.rc.Read(r.recv); err != nil {
			if s.closing.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("read udp %s: %w", c.LocalAddr(), err)
		}
		if r.err != nil {
			if r.err == syscall.EINTR || r.err == syscall.ECONNREFUSED {
				continue
			}
			return fmt.Errorf("read udp %s: %w", c.LocalAddr(), r.err)
		}
		r.batch(r.n)
	}
}

// batch answers the n datagrams just received.
func (r *udpReader) batch(n int) {
	s, in, out := r.s, r.in, r.out
	w := 0
	for i := range n {
		if in.msgs[i].Len < 12 || in.truncated(i) {
			continue // not a DNS header, or longer than any query
		}
		wire := in.buf(i)
		sa := &in.names[i]
		client := sockaddrAddr(sa)
		if s.fast {
			if b, ok := s.r.fastAnswer(s.fp, wire, r.outBufs[w][:0], client, &r.lower); ok {
				out.setBuf(w, b)
				out.msgs[w].Hdr.Name = in.msgs[i].Hdr.Name
				out.msgs[w].Hdr.Namelen = in.msgs[i].Hdr.Namelen
				w++
				continue
			}
		}
		if to := sockaddrUDP(sa); to != nil {
			s.dispatch(r.c, wire, to, client)
		}
	}
	if w > 0 {
		r.write(w)
	}
	in.rearm(n)
}

// write sends the first w answers of out; a datagram the kernel refuses
// is skipped.
func (r *udpReader) write(w int) {
	r.off, r.to = 0, w
	for r.off < r.to {
		if err := r.rc.Write(r.send); err != nil {
			return // the socket is closed
		}
		if r.err != nil {
			// Not the error itself: it may name the client's address.
			r.s.r.log.Debug("write answer failed", "proto", "udp")
			r.off++
			continue
		}
		r.off += r.n
	}
}

// dispatch hands a query to the workers, or sheds it when the queue is
// full (shed.go).
func (s *udpServer) dispatch(c *net.UDPConn, wire []byte, to net.Addr, client netip.Addr) {
	j := udpJob{conn: c, to: to, client: client, wire: append([]byte(nil), wire...)}
	select {
	case s.queue <- j:
		return
	default:
	}
	if ownQuery(client, s.local) {
		s.handle(j) // the canary: never shed
		return
	}
	s.r.shed.queueFull.Inc()
}

// handle answers one query through respond.
func (s *udpServer) handle(j udpJob) {
	req, resp := s.answer(j.wire, j.client)
	if resp == nil {
		return
	}
	b, err := resp.Pack()
	if err != nil {
		s.r.log.Debug("pack udp answer failed", "err", err)
		return
	}
	if req != nil {
		s.r.count("udp", req, resp) // before the write: see count
	}
	if _, err := j.conn.WriteTo(b, j.to); err != nil {
		s.r.log.Debug("write answer failed", "proto", "udp")
	}
}

// answer parses one query and builds its answer, as tcpServer.answer does:
// a query that does not parse gets a header-only FORMERR, a response
// nothing.
func (s *udpServer) answer(wire []byte, client netip.Addr) (*dns.Msg, *dns.Msg) {
	if wire[2]&0x80 != 0 {
		return nil, nil // never answer answers
	}
	req := new(dns.Msg)
	if err := req.Unpack(wire); err != nil {
		var h dns.Msg
		h.Id = binary.BigEndian.Uint16(wire)
		h.Response = true
		h.Rcode = dns.RcodeFormatError
		return nil, &h
	}
	return req, s.r.respond(req, client, true)
}

func (s *udpServer) closeConns() {
	for _, c := range s.conns {
		c.Close()
	}
}

// shutdown stops the readers and waits for the workers to answer what was
// queued, until ctx ends; then it closes the sockets. They stay open until
// then so that answers in flight can still be sent (lame duck).
func (s *udpServer) shutdown(ctx context.Context) error {
	s.closing.Store(true)
	for _, c := range s.conns {
		c.SetReadDeadline(time.Unix(1, 0)) // wakes the readers
	}
	defer s.closeConns()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("udp shutdown: %w", ctx.Err())
	}
}
