package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// addrs keeps the service addresses on the service interface. It is
// declarative and idempotent: Apply adds what is missing and touches nothing
// else on the interface; Remove deletes exactly the configured service
// addresses and nothing else.
//
// It never re-adds an address on its own between Apply calls: an address
// that disappears is a health failure for the node to see and withdraw on,
// not something to paper over.
type addrs struct {
	link string
	want []netip.Addr
	log  *slog.Logger
}

func hostPrefix(a netip.Addr) netip.Prefix {
	return netip.PrefixFrom(a, a.BitLen())
}

func (a *addrs) nlAddr(ip netip.Addr) *netlink.Addr {
	p := hostPrefix(ip)
	na := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(ip.AsSlice()), Mask: net.CIDRMask(p.Bits(), ip.BitLen())}}
	if ip.Is6() {
		// A service address is shared by the whole fleet by design, and on a
		// loopback-class interface duplicate address detection only delays it.
		na.Flags = unix.IFA_F_NODAD
	}
	return na
}

func (a *addrs) linkByName() (netlink.Link, error) {
	l, err := netlink.LinkByName(a.link)
	if err != nil {
		return nil, fmt.Errorf("service.interface %q: %w (create the interface or fix service.interface)", a.link, err)
	}
	return l, nil
}

// Apply puts every wanted address on the interface. Safe to repeat.
func (a *addrs) Apply() error {
	l, err := a.linkByName()
	if err != nil {
		return err
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", a.link, err)
		}
	}
	var errs []error
	for _, ip := range a.want {
		ok, err := a.present(l, ip)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			continue
		}
		if err := netlink.AddrReplace(l, a.nlAddr(ip)); err != nil {
			errs = append(errs, fmt.Errorf("add %s to %s: %w", hostPrefix(ip), a.link, err))
			continue
		}
		a.log.Info("service address added", "addr", hostPrefix(ip).String(), "interface", a.link)
	}
	return errors.Join(errs...)
}

// Present reports whether ip is on the interface.
func (a *addrs) Present(ip netip.Addr) (bool, error) {
	l, err := a.linkByName()
	if err != nil {
		return false, err
	}
	return a.present(l, ip)
}

func (a *addrs) present(l netlink.Link, ip netip.Addr) (bool, error) {
	fam := netlink.FAMILY_V4
	if ip.Is6() {
		fam = netlink.FAMILY_V6
	}
	list, err := netlink.AddrList(l, fam)
	if err != nil {
		return false, fmt.Errorf("list addresses of %s: %w", a.link, err)
	}
	for _, x := range list {
		got, ok := netip.AddrFromSlice(x.IP)
		if ok && got.Unmap() == ip {
			return true, nil
		}
	}
	return false, nil
}

// Remove deletes the service addresses, and only them.
func (a *addrs) Remove() error {
	l, err := a.linkByName()
	if err != nil {
		return err
	}
	var errs []error
	for _, ip := range a.want {
		ok, err := a.present(l, ip)
		if err != nil || !ok {
			continue
		}
		if err := netlink.AddrDel(l, a.nlAddr(ip)); err != nil {
			errs = append(errs, fmt.Errorf("remove %s from %s: %w", hostPrefix(ip), a.link, err))
			continue
		}
		a.log.Info("service address removed", "addr", hostPrefix(ip).String(), "interface", a.link)
	}
	return errors.Join(errs...)
}
