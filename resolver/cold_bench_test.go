package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// coldNet is a two-server internet for measuring the cold path: a root
// (miekg/dns, used only while warming up) that delegates bench.lab. with
// glue, and a bench.lab. server that answers every name with one A record
// from a hand-written loop that allocates nothing, so allocation counts
// measured beside it are the resolver's own.
type coldNet struct {
	port    uint16
	root    netip.Addr
	leaf    netip.Addr
	queries atomic.Int64 // datagrams the leaf answered
}

const coldZone = "bench.lab."

func startColdNet(tb testing.TB) *coldNet {
	tb.Helper()
	n := &coldNet{root: netip.MustParseAddr("127.0.54.1"), leaf: netip.MustParseAddr("127.0.54.2")}
	// The port is the leaf's, picked by the kernel; the root then takes
	// the same port on its own address (every upstream shares one port).
	lc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.leaf, 0)))
	if err != nil {
		tb.Skipf("listen on %s: %v", n.leaf, err)
	}
	n.port = uint16(lc.LocalAddr().(*net.UDPAddr).Port)
	rc, err := net.ListenPacket("udp", netip.AddrPortFrom(n.root, n.port).String())
	if err != nil {
		lc.Close()
		tb.Skipf("listen on %s: %v", n.root, err)
	}
	srv := &dns.Server{PacketConn: rc, Handler: dns.HandlerFunc(n.rootAnswer)}
	go srv.ActivateAndServe()
	for range 2 {
		go n.leafLoop(lc)
	}
	tb.Cleanup(func() {
		srv.Shutdown()
		lc.Close()
	})
	return n
}

// rootAnswer is the root zone: "lab." is an empty non-terminal, anything at
// or below bench.lab. is delegated to the leaf, the rest does not exist.
func (n *coldNet) rootAnswer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(1232, false)
	}
	q := req.Question[0]
	soa, _ := dns.NewRR(". 86400 IN SOA a.root. hostmaster.root. 1 1800 900 604800 86400")
	switch name := dns.CanonicalName(q.Name); {
	case dns.IsSubDomain(coldZone, name):
		ns, _ := dns.NewRR(coldZone + " 172800 IN NS ns." + coldZone)
		glue, _ := dns.NewRR("ns." + coldZone + " 172800 IN A " + n.leaf.String())
		m.Ns = []dns.RR{ns}
		m.Extra = append(m.Extra, glue)
	case name == "lab.":
		m.Authoritative = true
		m.Ns = []dns.RR{soa}
	default:
		m.Authoritative = true
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa}
	}
	w.WriteMsg(m)
}

// leafLoop answers each query with its question (case kept, for 0x20), one
// A record compressed against it, and an OPT record: the shape of a typical
// authoritative answer, built in a reused buffer.
func (n *coldNet) leafLoop(c *net.UDPConn) {
	buf := make([]byte, 1500)
	out := make([]byte, 0, 1500)
	for {
		l, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		q := buf[:l]
		if len(q) < 12+5 {
			continue
		}
		end := 12
		for end < len(q) && q[end] != 0 {
			end += int(q[end]) + 1
		}
		end += 5 // root label, type, class
		if end > len(q) {
			continue
		}
		qtype := binary.BigEndian.Uint16(q[end-4:])
		out = append(out[:0], q[:12]...)
		out[2] = 0x84 | q[2]&0x01 // QR, AA, RD copied
		out[3] = 0
		binary.BigEndian.PutUint16(out[4:], 1)
		binary.BigEndian.PutUint16(out[6:], 0)
		binary.BigEndian.PutUint16(out[8:], 0)
		binary.BigEndian.PutUint16(out[10:], 1)
		out = append(out, q[12:end]...)
		if qtype == dns.TypeA {
			binary.BigEndian.PutUint16(out[6:], 1)
			out = append(out, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 198, 51, 100, 108)
		}
		out = append(out, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0)
		c.WriteToUDPAddrPort(out, from)
		n.queries.Add(1)
	}
}

// coldResolver is a resolver pointed at n that has already resolved a name
// in bench.lab., so the delegation is cached and each new name costs one
// upstream query, as in the netns bench's cold phases.
func coldResolver(tb testing.TB, n *coldNet) *Resolver {
	tb.Helper()
	r, err := New(Config{
		RootHints:    []netip.Addr{n.root},
		UpstreamPort: n.port,
		// Generous: on a loaded machine (or under -memprofilerate=1) a
		// query may wait long for the CPU, and a timeout is not the
		// subject here.
		UpstreamTimeout: 5 * time.Second,
		ResolveTimeout:  10 * time.Second,
		CacheBytes:      1 << 30,
	}, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := r.Resolve(context.Background(), question("www."+coldZone, dns.TypeA))
	if err != nil || len(m.Answer) != 1 {
		tb.Fatalf("warm-up: %v %v", m, err)
	}
	return r
}

// coldNames returns count distinct names below bench.lab., made before the
// measurement so their allocation is not counted.
func coldNames(prefix string, count int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i) + "." + coldZone
	}
	return out
}

// BenchmarkColdResolve is the cache-miss path of the netns bench without
// its 20 ms: distinct names, many in flight, each one upstream query to a
// server that costs next to nothing. ns/op is the CPU and wall time per
// resolved name on this machine; allocs/op and B/op are the resolver's.
func BenchmarkColdResolve(b *testing.B) {
	n := startColdNet(b)
	r := coldResolver(b, n)
	names := coldNames("n", b.N)
	var next atomic.Int64
	b.SetParallelism(32)
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	resolveParallel(b, r, names, &next)
	b.StopTimer()
	// CPU time is what the netns bench's cold names/s depends on, and it
	// is steadier than ns/op on a shared machine. It includes the leaf's
	// few microseconds per query.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the process's user and system CPU time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var heapProfile = flag.String("cachedheap", "", "BenchmarkCachedNameHeap writes a heap profile here while the names are cached")

// BenchmarkCachedNameHeap resolves b.N distinct names (use -benchtime
// 200000x for the netns bench's memory phase) and reports the live heap
// per cached name after a collection: what the cache costs beyond the
// wire bytes its weight counts.
func BenchmarkCachedNameHeap(b *testing.B) {
	n := startColdNet(b)
	r := coldResolver(b, n)
	names := coldNames("mem", b.N)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	resolveParallel(b, r, names, &next)
	b.StopTimer()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/name")
	b.ReportMetric(float64(r.cache.bytes())/float64(b.N), "weight-B/name")
	b.ReportMetric(float64(after.Sys)/(1<<20), "sys-MiB")
	if *heapProfile != "" {
		f, err := os.Create(*heapProfile)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
	}
	runtime.KeepAlive(r)
}

// resolveParallel resolves names[next], names[next+1], ... from b's
// parallel goroutines, one name per iteration.
func resolveParallel(b *testing.B, r *Resolver, names []string, next *atomic.Int64) {
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := next.Add(1) - 1
			if _, err := r.Resolve(ctx, dns.Question{Name: names[i], Qtype: dns.TypeA, Qclass: dns.ClassINET}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
