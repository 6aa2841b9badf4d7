package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// listeners are the servers Run started: per configured address, our
// batched UDP server (udp.go) and our own pipelining server for TCP (tcp.go).
type listeners struct {
	udp     []*udpServer
	tcp     []*streamServer
	addrs   []netip.AddrPort
	started chan struct{} // one value per server once it serves
}

// count is the number of servers, each of which reports on started once.
func (ls *listeners) count() int { return len(ls.udp) + len(ls.tcp) }

// serve starts every server; each sends its error (or nil) on errc when it
// stops.
func (ls *listeners) serve(errc chan<- error) {
	for _, s := range ls.udp {
		go func() {
			// Bound already, like TCP below: queries queue from now on.
			ls.started <- struct{}{}
			errc <- s.serve()
		}()
	}
	for _, s := range ls.tcp {
		go func() {
			// The listener is bound already: it queues connections from
			// now on, so the server counts as started.
			ls.started <- struct{}{}
			errc <- s.serve()
		}()
	}
}

// serverUDPSize is the largest UDP answer sent to clients whatever buffer
// they advertise: the DNS flag day 2020 value, so answers never fragment.
// It is also what we advertise in our OPT record.
const serverUDPSize = 1232

// listen binds every address in cfg.Listen. On error nothing stays open.
func (r *Resolver) listen(ctx context.Context) (*listeners, error) {
	ls := &listeners{started: make(chan struct{}, 2*len(r.cfg.Listen))}
	var closers []func()
	fail := func(err error) (*listeners, error) {
		for _, c := range closers {
			c()
		}
		return nil, err
	}
	for _, ap := range r.cfg.Listen {
		pc, ln, bound, err := listenPair(ctx, ap)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() { pc.Close(); ln.Close() })
		conns, err := listenUDPGroup(ctx, pc, bound, udpSockets())
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() {
			for _, c := range conns[1:] {
				c.Close()
			}
		})
		ls.addrs = append(ls.addrs, bound)
		ls.udp = append(ls.udp, newUDPServer(r, bound.Addr(), conns))
		ls.tcp = append(ls.tcp, newTCPServer(r, ln))
	}
	return ls, nil
}

// shutdown stops every server; each finishes the queries it is answering
// unless ctx ends first.
func (ls *listeners) shutdown(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	keep := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	for _, s := range ls.udp {
		wg.Go(func() { keep(s.shutdown(ctx)) })
	}
	for _, s := range ls.tcp {
		wg.Go(func() { keep(s.shutdown(ctx)) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// listenPair binds UDP and TCP on ap. With port 0, UDP picks the port and
// TCP takes the same one, retrying if another socket holds it for TCP.
func listenPair(ctx context.Context, ap netip.AddrPort) (net.PacketConn, net.Listener, netip.AddrPort, error) {
	lc := net.ListenConfig{Control: freebind}
	var lastErr error
	for range 16 {
		pc, err := (&net.ListenConfig{Control: udpControl}).ListenPacket(ctx, "udp", ap.String())
		if err != nil {
			return nil, nil, netip.AddrPort{}, fmt.Errorf("listen udp %s: %w", ap, err)
		}
		bound := pc.LocalAddr().(*net.UDPAddr).AddrPort()
		bound = netip.AddrPortFrom(ap.Addr(), bound.Port())
		ln, err := lc.Listen(ctx, "tcp", bound.String())
		if err == nil {
			return pc, ln, bound, nil
		}
		pc.Close()
		lastErr = fmt.Errorf("listen tcp %s: %w", bound, err)
		if ap.Port() != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, nil, netip.AddrPort{}, lastErr
}

// freebind lets a socket bind an address that is not (yet) on any
// interface: the node starts its listeners before the service address is
// configured, and withdrawal may remove the address under a live socket.
func freebind(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		switch network {
		case "udp4", "tcp4":
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		case "udp6", "tcp6":
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set freebind: %w", serr)
	}
	return nil
}
