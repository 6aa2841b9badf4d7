package mininet

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// inNewNetns runs f on a thread moved into a fresh network namespace that has
// only a loopback interface, so nothing f sends can leave it. The thread is
// never unlocked, so the runtime discards it afterwards and no other
// goroutine runs in that namespace. Sockets f creates stay in it.
func inNewNetns(t *testing.T, f func() error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- skipErr{err}
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		if s, ok := err.(skipErr); ok {
			t.Skipf("unshare network namespace: %v", s.err)
		}
		t.Fatal(err)
	}
}

type skipErr struct{ err error }

func (s skipErr) Error() string { return s.err.Error() }

// TestIPv6 serves the lab layout (IPv4 and IPv6) in a private namespace and
// checks that IPv6 servers answer and AAAA glue is published.
func TestIPv6(t *testing.T) {
	cfg := Config{
		Prefix4: netip.MustParsePrefix("198.51.100.0/24"),
		Prefix6: netip.MustParsePrefix("2001:db8:100::/64"),
		Port:    53,
	}
	in, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	var glue, answer *dns.Msg
	inNewNetns(t, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		for _, a := range Addrs(cfg) {
			bits := 32
			if a.Is6() {
				bits = 128
			}
			ipnet := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, bits)}
			if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipnet, Flags: unix.IFA_F_NODAD}); err != nil {
				return err
			}
		}
		if err := waitNotTentative(lo); err != nil {
			return err
		}
		if err := in.Start(t.Context()); err != nil {
			return err
		}
		m := new(dns.Msg)
		m.SetQuestion("www.example.com.", dns.TypeAAAA)
		// On a loaded machine the first exchange in a fresh namespace has
		// been seen to vanish; retry like any resolver would, then assert.
		c := &dns.Client{Timeout: 500 * time.Millisecond}
		for try := 1; ; try++ {
			if glue, _, err = c.Exchange(m, "[2001:db8:100::1]:53"); err == nil {
				break
			} else if try == 10 {
				return err
			}
		}
		c = &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		answer, _, err = c.Exchange(m, "[2001:db8:100::9]:53")
		return err
	})
	want := []string{"a.nic.com. A 198.51.100.3", "a.nic.com. AAAA 2001:db8:100::3",
		"b.nic.com. A 198.51.100.4", "b.nic.com. AAAA 2001:db8:100::4"}
	if got := rrStrings(glue.Extra); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("root referral glue over IPv6:\n got %q\nwant %q", got, want)
	}
	if got := rrStrings(answer.Answer); len(got) != 1 || got[0] != "www.example.com. AAAA 2001:db8:100::80" || !answer.Authoritative {
		t.Errorf("ns2.example.com over IPv6/TCP: %v", answer)
	}
	if n := in.Queries()["ns2.example.com."]; n != 1 {
		t.Errorf("ns2.example.com. counted %d, want 1", n)
	}
}

// waitNotTentative waits until no IPv6 address on link is tentative: the
// kernel finishes (or skips) DAD from a work queue, and until then packets
// to the address are dropped and it is not used as a source.
func waitNotTentative(link netlink.Link) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		tentative := 0
		for _, a := range addrs {
			if a.Flags&unix.IFA_F_TENTATIVE != 0 {
				tentative++
			}
		}
		if tentative == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d IPv6 addresses still tentative after 5s", tentative)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
