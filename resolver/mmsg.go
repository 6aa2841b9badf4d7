package resolver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched datagram I/O with recvmmsg and sendmmsg, called through the
// socket's syscall.RawConn so that an empty socket parks the goroutine on
// the runtime's netpoller like any other read. golang.org/x/net's
// ReadBatch did the same but built a net.UDPAddr (and its IP slice) for
// every datagram: two allocations per query on the hot path. Here every
// header, iovec and address buffer is allocated once per reader, and the
// client's address is read from the raw sockaddr the kernel filled in.

// mmsgBatch is one direction of a reader's batch: msgs[i] describes the
// datagram in iovs[i] and the peer address in names[i].
type mmsgBatch struct {
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // room for either family
}

func newMmsgBatch(n int) *mmsgBatch {
	b := &mmsgBatch{
		msgs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
	}
	for i := range b.msgs {
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
	}
	return b
}

// newRecvBatch is a batch of n receive buffers of size bytes each.
func newRecvBatch(n, size int) *mmsgBatch {
	b := newMmsgBatch(n)
	bufs := make([]byte, n*size)
	for i := range b.msgs {
		b.setBuf(i, bufs[i*size:(i+1)*size:(i+1)*size])
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	}
	return b
}

// setBuf points message i at p, which must not be empty.
func (b *mmsgBatch) setBuf(i int, p []byte) {
	b.iovs[i].Base = &p[0]
	b.iovs[i].SetLen(len(p))
}

// buf is datagram i as received: its first msgs[i].Len bytes.
func (b *mmsgBatch) buf(i int) []byte {
	return unsafe.Slice(b.iovs[i].Base, b.msgs[i].Len)
}

// truncated reports whether the kernel cut datagram i to fit its buffer.
func (b *mmsgBatch) truncated(i int) bool {
	return b.msgs[i].Hdr.Flags&unix.MSG_TRUNC != 0
}

// rearm makes the first n messages ready to receive again: the kernel
// overwrote their address lengths and flags.
func (b *mmsgBatch) rearm(n int) {
	for i := range n {
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.msgs[i].Hdr.Flags = 0
	}
}

// recvmmsg reads up to len(msgs) datagrams from the non-blocking socket
// fd. It never waits: with nothing to read it fails with EAGAIN.
//
// Both calls are raw system calls, without the runtime's entersyscall and
// exitsyscall: they cannot block, and the bookkeeping cost more than it
// saved. With it, a sendmmsg of a full batch ran long enough for sysmon to
// hand the reader's P to another thread, which the reader then had to win
// back, and at low rates every call woke a sleeping sysmon. In the netns
// bench, raw calls cut the CPU per cached answer by about a quarter.
func recvmmsg(fd uintptr, msgs []unix.Mmsghdr) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// sendmmsg sends msgs on the non-blocking socket fd and returns how many
// the kernel took. It fails only if it sent none.
func sendmmsg(fd uintptr, msgs []unix.Mmsghdr) (int, error) {
	sent, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(sent), nil
}

// sockaddrAddr is the IP address in a sockaddr the kernel wrote, with an
// IPv4-mapped IPv6 address (a dual-stack socket's IPv4 client) unmapped,
// as addrOf does. The IPv6 scope is left out: the address serves to match
// the allow list and the canary, which are written without zones. An
// unknown family gives the zero Addr.
func sockaddrAddr(sa *unix.RawSockaddrInet6) netip.Addr {
	switch sa.Family {
	case unix.AF_INET:
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(sa)).Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}

// sockaddrUDP converts a sockaddr to a *net.UDPAddr for WriteTo, scope
// included. It allocates; only queries that leave the fast path pay it.
func sockaddrUDP(sa *unix.RawSockaddrInet6) *net.UDPAddr {
	// The port is in network byte order whatever the host's.
	port := int(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:]))
	switch sa.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa)).Addr
		return &net.UDPAddr{IP: net.IP(a[:]), Port: port}
	case unix.AF_INET6:
		ua := &net.UDPAddr{IP: net.IP(append([]byte(nil), sa.Addr[:]...)), Port: port}
		if sa.Scope_id != 0 {
			// A numeric zone is an interface index to the net package.
			ua.Zone = strconv.FormatUint(uint64(sa.Scope_id), 10)
		}
		return ua
	}
	return nil
}
