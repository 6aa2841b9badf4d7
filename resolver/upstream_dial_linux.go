package resolver

import (
	"net/netip"
	"os"
	"syscall"
)

// dialUpstream opens the connected UDP socket of one upstream query with
// four system calls (socket, connect, fcntl, epoll_ctl) where net.DialUDP
// makes seven (it also sets SO_BROADCAST and asks for both addresses,
// which the query never needs): the socket is the largest cost of a cache
// miss, and the kernel still picks a random ephemeral port on connect.
func dialUpstream(addr netip.AddrPort) (upstreamConn, error) {
	var (
		family = syscall.AF_INET
		sa     syscall.Sockaddr
	)
	if a := addr.Addr(); a.Is4() {
		sa = &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: a.As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(addr.Port()), Addr: a.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	// A non-blocking descriptor joins the runtime's poller, so reads park
	// the goroutine and deadlines work as on a net.Conn.
	return os.NewFile(uintptr(fd), "udp"), nil
}
