package difftest

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// The two resolvers under comparison, inside the namespace.
var (
	unboundAddr  = netip.MustParseAddrPort("127.0.0.1:5301")
	anycastdAddr = netip.MustParseAddrPort("127.0.0.1:5302")
)

// TestDifferential asks Unbound and anycastd's resolver the same questions
// about the same mini internet and compares what a client sees: rcode, the
// AA/TC/RA flags and the answer section as a set of RRsets. Differences
// listed in testdata/differences are logged; any other one fails.
func TestDifferential(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	queries := readQueries(t, "testdata/queries.txt")
	j := newJudge(t, "testdata/differences", "queries.txt")
	in := setupInternet(t, labConfig, testLog(t))
	startUnbound(t, in, unboundAddr)
	startResolver(t, in, anycastdAddr, testLog(t))

	for _, q := range queries {
		key := q.key()
		ub, ubErr := ask(unboundAddr, q.name, q.qtype)
		ad, adErr := ask(anycastdAddr, q.name, q.qtype)
		diffs := compare(ub, ubErr, ad, adErr)
		if len(diffs) == 0 && ubErr == nil && ub.Truncated {
			// A client throws a truncated answer away and asks over TCP:
			// that answer is the one to compare.
			ub, ubErr = askTCP(unboundAddr, q.name, q.qtype)
			ad, adErr = askTCP(anycastdAddr, q.name, q.qtype)
			diffs = compare(ub, ubErr, ad, adErr)
		}
		for who, m := range map[string]*dns.Msg{"unbound": ub, "anycastd": ad} {
			if m != nil && carriesBogus(m) {
				t.Errorf("%s: %s returned the forged address %s:\n%s", key, who, bogus, m)
			}
		}
		j.judge(q, diffs, summary(ad, adErr), msgText(ub, ubErr), msgText(ad, adErr))
	}
	j.unused()
}

// judge holds a list of allowed differences and checks each query's
// outcome against it: an unlisted difference fails the test, a listed one
// is logged, and a listed entry that no longer differs (or is not asked at
// all) is reported so the list stays true.
type judge struct {
	t                 *testing.T
	list, queriesFile string
	allowed           map[string]string
	seen              map[string]bool
}

func newJudge(t *testing.T, list, queriesFile string) *judge {
	return &judge{t: t, list: list, queriesFile: queriesFile, allowed: readDifferences(t, list), seen: map[string]bool{}}
}

func (j *judge) judge(q question, diffs []string, same, ubText, adText string) {
	j.t.Helper()
	key := q.key()
	reason, isAllowed := j.allowed[key]
	j.seen[key] = true
	switch {
	case len(diffs) == 0 && isAllowed:
		j.t.Logf("%s: listed in %s (%s) but both agree now: remove the entry", key, j.list, reason)
	case len(diffs) == 0:
		j.t.Logf("%s: same (%s)", key, same)
	case isAllowed:
		j.t.Logf("%s: known difference (%s): %s", key, reason, strings.Join(diffs, "; "))
	default:
		j.t.Errorf("%s (%s): %s\n--- unbound:\n%s\n--- anycastd:\n%s", key, q.comment, strings.Join(diffs, "; "), ubText, adText)
	}
}

func (j *judge) unused() {
	j.t.Helper()
	for key := range j.allowed {
		if !j.seen[key] {
			j.t.Errorf("%s lists %q, which is not in %s", j.list, key, j.queriesFile)
		}
	}
}

type question struct {
	name    string
	qtype   uint16
	comment string
}

func (q question) key() string { return q.name + " " + dns.TypeToString[q.qtype] }

// readQueries parses "name type # comment" lines.
func readQueries(t *testing.T, path string) []question {
	t.Helper()
	var out []question
	for i, line := range readLines(t, path) {
		text, comment, _ := strings.Cut(line, "#")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		qt, ok := dns.StringToType[strings.ToUpper(f[1%len(f)])]
		if len(f) != 2 || !ok || !dns.IsFqdn(f[0]) {
			t.Fatalf("%s:%d: want \"name. TYPE # comment\", got %q", path, i+1, line)
		}
		out = append(out, question{name: f[0], qtype: qt, comment: strings.TrimSpace(comment)})
	}
	return out
}

// readDifferences parses "name TYPE<tab>reason" lines into key -> reason.
func readDifferences(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i, line := range readLines(t, path) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("%s:%d: want \"name. TYPE reason\", got %q", path, i+1, line)
		}
		out[f[0]+" "+strings.ToUpper(f[1])] = strings.Join(f[2:], " ")
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return lines
}

// compare returns what differs between two answers, empty when the client
// would see the same thing.
func compare(a *dns.Msg, aErr error, b *dns.Msg, bErr error) []string {
	switch {
	case aErr != nil && bErr != nil:
		return nil
	case aErr != nil || bErr != nil:
		return []string{fmt.Sprintf("unbound: %s, anycastd: %s", summary(a, aErr), summary(b, bErr))}
	}
	var diffs []string
	if a.Rcode != b.Rcode {
		diffs = append(diffs, fmt.Sprintf("rcode %s vs %s", dns.RcodeToString[a.Rcode], dns.RcodeToString[b.Rcode]))
	}
	for _, f := range []struct {
		name string
		a, b bool
	}{
		{"AA", a.Authoritative, b.Authoritative},
		{"TC", a.Truncated, b.Truncated},
		{"RA", a.RecursionAvailable, b.RecursionAvailable},
	} {
		if f.a != f.b {
			diffs = append(diffs, fmt.Sprintf("%s %v vs %v", f.name, f.a, f.b))
		}
	}
	// With TC set both answers are partial, and clients discard them.
	if ra, rb := rrsetKeys(a.Answer), rrsetKeys(b.Answer); !slices.Equal(ra, rb) && !(a.Truncated && b.Truncated) {
		diffs = append(diffs, fmt.Sprintf("answer %q vs %q", ra, rb))
	}
	return diffs
}

// rrsetKeys turns a section into a sorted list of records with names
// lower-cased and TTLs zeroed, so order, case and TTL do not count.
func rrsetKeys(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		rr = dns.Copy(rr)
		rr.Header().Ttl = 0
		s := rr.String()
		if rr.Header().Rrtype != dns.TypeTXT {
			s = strings.ToLower(s)
		} else {
			s = strings.ToLower(rr.Header().Name) + s[len(rr.Header().Name):]
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// carriesBogus reports whether any section holds the address that only
// junk and forged data in the mini internet use.
func carriesBogus(m *dns.Msg) bool {
	for _, rr := range slices.Concat(m.Answer, m.Ns, m.Extra) {
		if a, ok := rr.(*dns.A); ok {
			if got, _ := netip.AddrFromSlice(a.A); got.Unmap() == bogus {
				return true
			}
		}
	}
	return false
}

func summary(m *dns.Msg, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%s, %d answers", dns.RcodeToString[m.Rcode], len(m.Answer))
}

func msgText(m *dns.Msg, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return m.String()
}
