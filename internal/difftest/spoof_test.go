package difftest

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/anycastd/anycastd/internal/mininet"
	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// bogus is the address every forged answer carries; nothing real uses it.
var bogus = netip.MustParseAddr("198.51.100.66")

// forgery kinds, counted for the log and the sanity checks.
const (
	wrongID = iota
	wrongSrcPort
	wrongCase
	wrongQuestion
	blind
	kinds
)

var kindNames = [kinds]string{"wrong ID", "wrong source port", "wrong case", "wrong question", "blind (random ID, ports from /proc/net/udp)"}

// TestSpoofing resolves many cold names in spoof.com., whose server answers
// after 200 ms, while an attacker in the namespace floods forged answers at
// the resolver's upstream sockets. It sees each real query (mininet's query
// hook), so every forgery is exactly right but for one thing: the ID, the
// source port, the case of the name (0x20) or the question. A blind attacker
// also floods random IDs at every upstream socket in /proc/net/udp. No
// client answer may carry the forged address, during or after the attack.
func TestSpoofing(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	// IPv4 only: the forger writes raw IPv4 packets.
	cfg := labConfig
	cfg.Prefix6 = netip.Prefix{}
	in := setupInternet(t, cfg, testLog(t))
	for server, d := range map[string]time.Duration{
		"ns.spoof.com.": 200 * time.Millisecond,
		"a.nic.com.":    50 * time.Millisecond,
		"b.nic.com.":    50 * time.Millisecond,
	} {
		if err := in.SetLatency(server, d); err != nil {
			t.Fatal(err)
		}
	}
	addr := netip.MustParseAddrPort("127.0.0.1:5320")
	startResolver(t, in, addr, testLog(t))

	f, err := newForger()
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	in.SetQueryHook(f.onQuery)
	stop := make(chan struct{})
	var blindWG sync.WaitGroup
	blindWG.Go(func() { f.blindFlood(stop) })

	truth := func(name string) netip.Addr {
		if name == "www.spoof.com." {
			return netip.MustParseAddr("198.51.100.100")
		}
		return netip.MustParseAddr("198.51.100.101")
	}
	names := []string{"www.spoof.com."}
	for i := range 24 {
		names = append(names, fmt.Sprintf("n%d.spoof.com.", i))
	}
	check := func(phase, name string, r *dns.Msg, err error) {
		if err != nil {
			t.Errorf("%s: %s: %v", phase, name, err)
			return
		}
		if carriesBogus(r) {
			t.Errorf("%s: %s: forged record reached the client:\n%v", phase, name, r)
		}
		if r.Rcode != dns.RcodeSuccess {
			// Dropping a forged answer must not cost the real one; log it,
			// the cache check below decides.
			t.Logf("%s: %s: %s", phase, name, dns.RcodeToString[r.Rcode])
		}
	}
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			// Spread the look-ups so forged answers race several rounds.
			time.Sleep(time.Duration(i%5) * 30 * time.Millisecond)
			r, err := ask(addr, name, dns.TypeA)
			check("under attack", name, r, err)
		})
	}
	wg.Wait()
	in.SetQueryHook(nil)
	close(stop)
	blindWG.Wait()

	// The cache must hold the real data only: ask again (from the cache,
	// or from the servers if a failure was not cached) and compare.
	for _, name := range names {
		r, err := ask(addr, name, dns.TypeA)
		check("after the attack", name, r, err)
		if err == nil {
			want := fmt.Sprintf("%s A %s", name, truth(name))
			if got := answerAs(r); got != want {
				t.Errorf("after the attack: %s: answer %q, want %q", name, got, want)
			}
		}
	}

	sent := f.counts()
	for k, n := range sent {
		t.Logf("forged answers sent, %s: %d", kindNames[k], n)
	}
	for _, k := range []int{wrongID, wrongSrcPort, wrongQuestion, blind} {
		if sent[k] == 0 {
			t.Errorf("no forgery of kind %q was sent: the attack did not run", kindNames[k])
		}
	}
	if sent[wrongCase] == 0 {
		t.Log("the resolver's queries carried no upper case (0x20 off, or the server remembered as not echoing case): case forgeries skipped")
	}
}

// answerAs renders A records as "name A addr" (names lower-cased).
func answerAs(m *dns.Msg) string {
	var parts []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			parts = append(parts, strings.ToLower(a.Hdr.Name)+" A "+a.A.String())
		}
	}
	return strings.Join(parts, ", ")
}

// forger sends forged DNS answers with a raw socket (IPPROTO_RAW implies
// IP_HDRINCL), so it can use any source address and port, including the
// real server's address and port 53 while mininet is bound there.
type forger struct {
	fd int
	// real holds the IDs of real queries per resolver port, so the blind
	// flood never sends the one right ID by luck (a lucky guess is what 0x20
	// and port randomisation make rare, not impossible; the test must be
	// deterministic).
	mu   sync.Mutex
	real map[uint16]map[uint16]bool // mu guards it
	sent [kinds]atomic.Uint64
}

func newForger() (*forger, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	return &forger{fd: fd, real: map[uint16]map[uint16]bool{}}, nil
}

func (f *forger) close() { unix.Close(f.fd) }

func (f *forger) counts() [kinds]uint64 {
	var out [kinds]uint64
	for i := range out {
		out[i] = f.sent[i].Load()
	}
	return out
}

// onQuery is mininet's query hook: it races forgeries against the real
// answer, each wrong in exactly one way.
func (f *forger) onQuery(q mininet.Query) {
	if !q.Remote.Addr().Is4() || len(q.Msg.Question) != 1 {
		return
	}
	f.mu.Lock()
	if f.real[q.Remote.Port()] == nil {
		f.real[q.Remote.Port()] = map[uint16]bool{}
	}
	f.real[q.Remote.Port()][q.Msg.Id] = true
	f.mu.Unlock()
	go func() {
		qs := q.Msg.Question[0]
		for i := range 20 {
			f.send(wrongID, q.Local, q.Remote, forge(q.Msg, q.Msg.Id+uint16(i)+1, qs.Name))
		}
		wrongPort := netip.AddrPortFrom(q.Local.Addr(), q.Local.Port()+1)
		f.send(wrongSrcPort, wrongPort, q.Remote, forge(q.Msg, q.Msg.Id, qs.Name))
		if flipped := flipCase(qs.Name); flipped != qs.Name && strings.ToLower(qs.Name) != qs.Name {
			// Only meaningful when the resolver used 0x20: with an
			// all-lower-case query a case "forgery" would be the real
			// question, right ID and port, and no resolver can tell.
			f.send(wrongCase, q.Local, q.Remote, forge(q.Msg, q.Msg.Id, flipped))
		}
		f.send(wrongQuestion, q.Local, q.Remote, forge(q.Msg, q.Msg.Id, "x"+qs.Name))
	}()
}

// blindFlood forges answers with random IDs at every UDP socket connected
// to port 53, as found in /proc/net/udp, until stop is closed.
func (f *forger) blindFlood(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		for _, s := range upstreamSockets() {
			for range 8 {
				id := uint16(rand.Uint32())
				f.mu.Lock()
				lucky := f.real[s.local.Port()][id]
				f.mu.Unlock()
				if lucky {
					continue
				}
				q := new(dns.Msg)
				q.SetQuestion("www.spoof.com.", dns.TypeA)
				f.send(blind, s.remote, s.local, forge(q, id, "www.spoof.com."))
			}
		}
	}
}

// forge builds an authoritative answer to req with the given ID and
// question name, pointing the name (and, for NS questions, a delegation)
// at the bogus address.
func forge(req *dns.Msg, id uint16, name string) []byte {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Id = id
	m.Question[0].Name = name
	m.Authoritative = true
	hdr := func(owner string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: 86400}
	}
	m.Answer = append(m.Answer, &dns.A{Hdr: hdr(name, dns.TypeA), A: bogus.AsSlice()})
	if req.Question[0].Qtype == dns.TypeNS {
		m.Answer = append(m.Answer, &dns.NS{Hdr: hdr(name, dns.TypeNS), Ns: "ns.attacker.spoof.com."})
		m.Extra = append(m.Extra, &dns.A{Hdr: hdr("ns.attacker.spoof.com.", dns.TypeA), A: bogus.AsSlice()})
	}
	b, err := m.Pack()
	if err != nil {
		panic(err) // a bug in forge, not in the resolver
	}
	return b
}

// send writes one UDP datagram from src to dst with a hand-made IPv4
// header.
func (f *forger) send(kind int, src, dst netip.AddrPort, payload []byte) {
	b := make([]byte, 28+len(payload))
	b[0] = 0x45 // IPv4, 20-byte header
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[6] = 0x40 // DF
	b[8] = 64   // TTL
	b[9] = unix.IPPROTO_UDP
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	binary.BigEndian.PutUint16(b[20:], src.Port())
	binary.BigEndian.PutUint16(b[22:], dst.Port())
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	// UDP checksum 0: none, allowed over IPv4. The kernel fills in the IP
	// checksum.
	copy(b[28:], payload)
	if err := unix.Sendto(f.fd, b, 0, &unix.SockaddrInet4{Addr: d4}); err == nil {
		f.sent[kind].Add(1)
	}
}

// flipCase inverts the case of every letter.
func flipCase(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}, s)
}

type udpSocket struct{ local, remote netip.AddrPort }

// upstreamSockets lists IPv4 UDP sockets connected to a port-53 peer, from
// this namespace's /proc/net/udp.
func upstreamSockets() []udpSocket {
	fh, err := os.Open("/proc/net/udp")
	if err != nil {
		return nil
	}
	defer fh.Close()
	var out []udpSocket
	s := bufio.NewScanner(fh)
	s.Scan() // header
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 3 {
			continue
		}
		local, ok1 := parseProcAddr(f[1])
		remote, ok2 := parseProcAddr(f[2])
		if ok1 && ok2 && remote.Port() == 53 {
			out = append(out, udpSocket{local, remote})
		}
	}
	return out
}

// parseProcAddr parses "0100007F:1F90": the address in host byte order
// (little-endian here), the port in hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(a) != 8 {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], binary.LittleEndian.Uint32(raw))
	return netip.AddrPortFrom(netip.AddrFrom4(b), uint16(port)), true
}
