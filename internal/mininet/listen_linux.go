package mininet

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenConfig binds with IP_FREEBIND, so the lab can start the servers
// before its addresses are configured or while IPv6 DAD still runs.
func listenConfig() net.ListenConfig {
	return net.ListenConfig{Control: func(network, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			switch network {
			case "udp6", "tcp6":
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1)
			default:
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
}
