package resolver

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rawAuth answers each query on a socket of network at addr by calling
// reply with the query's wire form; each returned datagram is sent back.
func rawAuth(t *testing.T, network, addr string, reply func(q *dns.Msg) [][]byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			for _, d := range reply(q) {
				pc.WriteTo(d, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func answerTo(t *testing.T, q *dns.Msg) []byte {
	m := new(dns.Msg).SetReply(q)
	m.Answer = []dns.RR{mustRR(t, q.Question[0].Name+" 60 IN A 192.0.2.1")}
	wire, err := m.Pack()
	if err != nil {
		t.Error(err)
	}
	return wire
}

// TestUpstreamDialIPv6: the upstream socket (dialUpstream builds it from
// system calls) works for IPv6 servers too.
func TestUpstreamDialIPv6(t *testing.T) {
	addr := rawAuth(t, "udp6", "[::1]:0", func(q *dns.Msg) [][]byte { return [][]byte{answerTo(t, q)} })
	u := testUpstream(addr.Port(), time.Second)
	m, err := u.exchange(context.Background(), addr.Addr(), question("www.example.com", dns.TypeA), newBudget(64), true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 1 {
		t.Errorf("answer %v, want one A record", m.Answer)
	}
}

// TestUpstreamEmptyDatagram: an empty datagram before the answer is
// garbage to skip, not the end of the exchange (an os.File read reports it
// as EOF).
func TestUpstreamEmptyDatagram(t *testing.T) {
	addr := rawAuth(t, "udp4", "127.0.0.1:0", func(q *dns.Msg) [][]byte { return [][]byte{{}, answerTo(t, q)} })
	u := testUpstream(addr.Port(), time.Second)
	m, err := u.exchange(context.Background(), addr.Addr(), question("www.example.com", dns.TypeA), newBudget(64), true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 1 {
		t.Errorf("answer %v, want one A record", m.Answer)
	}
}

// TestUpstreamCancel: cancelling the caller's context ends a query waiting
// for a silent server at once, with the cancellation as the error.
func TestUpstreamCancel(t *testing.T) {
	addr := rawAuth(t, "udp4", "127.0.0.1:0", func(*dns.Msg) [][]byte { return nil })
	u := testUpstream(addr.Port(), 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := u.exchange(ctx, addr.Addr(), question("www.example.com", dns.TypeA), newBudget(64), false, 0)
	if err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled query returned after %v", d)
	}
}

// TestUpstreamWaitHoldsNoBuffer: queries waiting for their answers hold no
// receive buffer. With one 64 KiB buffer per waiting query, the 200 below
// would keep 12.5 MiB alive (the netns bench's memory phase kept 17 MiB).
func TestUpstreamWaitHoldsNoBuffer(t *testing.T) {
	const waiting = 200
	var got atomic.Int32
	addr := rawAuth(t, "udp4", "127.0.0.1:0", func(*dns.Msg) [][]byte { got.Add(1); return nil })
	u := testUpstream(addr.Port(), 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for range waiting {
		wg.Go(func() {
			u.exchange(ctx, addr.Addr(), question("www.example.com", dns.TypeA), newBudget(64), false, 0)
		})
	}
	waitFor(t, "every query to arrive", func() bool { return got.Load() == waiting })
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if held := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); held > 4<<20 {
		t.Errorf("%d queries waiting hold %d KiB of heap, want under 4 MiB", waiting, held>>10)
	}
}
