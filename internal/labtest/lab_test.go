// Package labtest holds the end-to-end tests of a whole node: real anycastd
// processes in network namespaces, announcing to a real BIRD 2 router, and
// resolving through the mini internet. They build the lab with
// scripts/lab.sh, the same script the demo uses.
package labtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/anycastd/anycastd/internal/control"
)

var (
	repoRoot string
	binDir   string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if os.Geteuid() != 0 {
		// Each test skips (or fails under CI) with the reason.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "anycastd-labtest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	for _, b := range []struct{ out, pkg string }{
		{"anycastd", "./cmd/anycastd"}, {"anycastctl", "./cmd/anycastctl"}, {"mininet", "./internal/mininet/cmd/mininet"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

// needRoot skips without root unless CI is set: in CI these tests must run.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		for _, tool := range []string{"ip", "bird", "birdc", "dig"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Fatalf("%s not found: run scripts/deps.sh (make test does)", tool)
			}
		}
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("lab tests need root to create network namespaces, and CI must run them")
	}
	t.Skip("skipped: lab tests need root to create network namespaces (CI runs them as root)")
}

// lab is one namespace lab with its own name, torn down by t.Cleanup.
type lab struct {
	t    *testing.T
	name string
	dir  string
}

func newLab(t *testing.T, nodes int) *lab { t.Helper(); return newLabWith(t, nodes) }

// newLabWith builds a lab with extra `lab.sh up` options (--router frr,
// --routers 2).
func newLabWith(t *testing.T, nodes int, upArgs ...string) *lab {
	t.Helper()
	needRoot(t)
	name := fmt.Sprintf("t%d%s", os.Getpid()%10000, strings.ToLower(t.Name()[len("Test"):][:3]))
	l := &lab{t: t, name: name, dir: "/run/anycastd-lab/" + name}
	t.Cleanup(func() {
		if t.Failed() {
			for i := 1; i <= nodes; i++ {
				if b, err := os.ReadFile(filepath.Join(l.dir, fmt.Sprintf("n%d", i), "anycastd.log")); err == nil {
					t.Logf("n%d anycastd.log (tail):\n%s", i, tail(string(b), 40))
				}
			}
		}
		l.script("down")
	})
	if out, err := l.script(append([]string{"up", "--nodes", fmt.Sprint(nodes), "--bin", binDir}, upArgs...)...); err != nil {
		t.Fatalf("lab up: %v\n%s", err, out)
	}
	return l
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (l *lab) script(args ...string) (string, error) {
	args = append(args, "--name", l.name)
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "lab.sh"), args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "LAB_BIN="+binDir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (l *lab) must(args ...string) string {
	l.t.Helper()
	out, err := l.script(args...)
	if err != nil {
		l.t.Fatalf("lab.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (l *lab) ns(role string) string { return l.name + "-" + role }

// inNS runs a command inside one of the lab's namespaces.
func (l *lab) inNS(role string, args ...string) (string, error) {
	full := append([]string{"netns", "exec", l.ns(role)}, args...)
	out, err := exec.Command("ip", full...).CombinedOutput()
	return string(out), err
}

func (l *lab) pid(i int) int {
	l.t.Helper()
	b, err := os.ReadFile(filepath.Join(l.dir, fmt.Sprintf("n%d", i), "anycastd.pid"))
	if err != nil {
		l.t.Fatalf("pid of n%d: %v", i, err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		l.t.Fatalf("pid of n%d: %v", i, err)
	}
	return pid
}

func (l *lab) startNode(i int) { l.t.Helper(); l.must("node-start", fmt.Sprint(i)) }

func (l *lab) status(i int) (*control.Status, error) {
	out, err := l.inNS(fmt.Sprintf("n%d", i), filepath.Join(binDir, "anycastctl"), "-socket",
		filepath.Join(l.dir, fmt.Sprintf("n%d", i), "control.sock"), "status", "--json")
	if err != nil {
		return nil, fmt.Errorf("status n%d: %v: %s", i, err, out)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("status n%d: %v: %s", i, err, out)
	}
	return &st, nil
}

func (l *lab) ctl(i int, args ...string) (string, error) {
	full := append([]string{filepath.Join(binDir, "anycastctl"), "-socket", filepath.Join(l.dir, fmt.Sprintf("n%d", i), "control.sock")}, args...)
	return l.inNS(fmt.Sprintf("n%d", i), full...)
}

var viaRE = regexp.MustCompile(`via (198\.18\.(\d+)\.2|fd00:53:(\d+)::2)`)

// paths returns, for a prefix, the set of nodes BIRD in r1 has a route from.
func (l *lab) paths(prefix string) map[string]bool {
	out, _ := l.inNS("r1", "birdc", "-s", filepath.Join(l.dir, "r1", "bird.ctl"), "show", "route", "for", prefix, "all")
	got := map[string]bool{}
	for _, m := range viaRE.FindAllStringSubmatch(out, -1) {
		n := m[2]
		if n == "" {
			n = m[3]
		}
		got["n"+n] = true
	}
	return got
}

// waitPaths polls BIRD until cond holds, and returns how long it took.
func (l *lab) waitPaths(prefix string, within time.Duration, what string, cond func(map[string]bool) bool) time.Duration {
	l.t.Helper()
	start := time.Now()
	for {
		p := l.paths(prefix)
		if cond(p) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			l.t.Fatalf("%s: not within %s; BIRD has paths for %s from %v", what, within, prefix, keys(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keys(m map[string]bool) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	return k
}

// digC1 resolves a name from the client through the anycast address.
func (l *lab) digC1(ctx context.Context, server, name, qtype string, opts ...string) (string, error) {
	args := append([]string{"netns", "exec", l.ns("c1"), "dig", "+time=2", "+tries=1", "+nsid"}, opts...)
	cmd := exec.CommandContext(ctx, "ip", append(args, "@"+server, name, qtype)...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}
