package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// listeners is the set of miekg/dns servers Run started, one UDP and one TCP
// per configured address.
type listeners struct {
	servers []*dns.Server
	addrs   []netip.AddrPort
	started chan struct{} // one value per server once it serves
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
		ls.addrs = append(ls.addrs, bound)
		notify := func() { ls.started <- struct{}{} }
		ls.servers = append(ls.servers,
			&dns.Server{
				PacketConn:        pc,
				Handler:           handler{r: r, proto: "udp"},
				UDPSize:           dns.MaxMsgSize, // read buffer for queries; answers are sized per client
				NotifyStartedFunc: notify,
			},
			&dns.Server{
				Listener:          ln,
				Handler:           handler{r: r, proto: "tcp"},
				ReadTimeout:       2 * time.Second,
				IdleTimeout:       func() time.Duration { return 8 * time.Second },
				NotifyStartedFunc: notify,
			})
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
	for _, s := range ls.servers {
		wg.Go(func() {
			if err := s.ShutdownContext(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
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
		pc, err := lc.ListenPacket(ctx, "udp", ap.String())
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
