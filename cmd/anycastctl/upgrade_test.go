package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/anycastd/anycastd/internal/control"
)

func TestActiveSlot(t *testing.T) {
	tests := []struct {
		cmdline, want, err string
	}{
		{"BOOT_IMAGE=/a/vmlinuz root=PARTLABEL=anycastd-root-a rootfstype=squashfs ro", "a", ""},
		{"root=PARTLABEL=anycastd-root-b console=ttyS0\n", "b", ""},
		{"root=PARTLABEL=anycastd-root-c", "", "not booted from an anycastd root slot"},
		{"root=/dev/sda1 ro", "", "not booted from an anycastd root slot"},
	}
	for _, tt := range tests {
		got, err := activeSlot(tt.cmdline)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("activeSlot(%q) err = %v, want %q", tt.cmdline, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("activeSlot(%q) = %q, %v; want %q", tt.cmdline, got, err, tt.want)
		}
	}
}

func TestBootHealthy(t *testing.T) {
	healthy := []control.Check{{Name: "canary", Level: "critical", Healthy: true}, {Name: "clock sync", Level: "degrading", Healthy: false}}
	sick := []control.Check{{Name: "canary", Level: "critical", Healthy: true}, {Name: "address", Level: "critical", Healthy: false}}
	tests := []struct {
		name string
		st   control.Status
		want bool
	}{
		{"announcing", control.Status{State: control.StateAnnouncing}, true},
		{"degraded (announced, de-preferred)", control.Status{State: control.StateDegraded}, true},
		{"guarded (a critical check fails)", control.Status{State: control.StateGuarded}, false},
		{"withdrawn", control.Status{State: control.StateWithdrawn}, false},
		{"warming", control.Status{State: control.StateWarming, Checks: healthy}, false},
		{"drained by operator, healthy", control.Status{State: control.StateDrained, DrainIntent: true, Checks: healthy}, true},
		{"drained by operator, sick", control.Status{State: control.StateDrained, DrainIntent: true, Checks: sick}, false},
		{"drained without intent", control.Status{State: control.StateDrained, Checks: healthy}, false},
		{"drained, no checks yet", control.Status{State: control.StateDrained, DrainIntent: true}, false},
	}
	for _, tt := range tests {
		if got, _ := bootHealthy(&tt.st); got != tt.want {
			t.Errorf("%s: bootHealthy = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReadSumFile(t *testing.T) {
	dir := t.TempDir()
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		name, content, want, err string
	}{
		{"sha256sum format", sum + "  anycastd-1-amd64.img\n", sum, ""},
		{"bare", sum, sum, ""},
		{"short", "abcd  x.img\n", "", "no SHA-256"},
		{"not hex", strings.Repeat("zz", 32) + "  x.img", "", "invalid byte"},
		{"empty", "", "", "no SHA-256"},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
		if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readSumFile(p)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v", tt.name, got, err)
		}
	}
}

// TestInstallKernel runs the ESP half of an upgrade against a directory:
// the "mount" fills the slot the way a real image's root looks.
func TestInstallKernel(t *testing.T) {
	esp := t.TempDir()
	entries := filepath.Join(esp, "loader", "entries")
	if err := os.MkdirAll(entries, 0o700); err != nil {
		t.Fatal(err)
	}
	// The slot's previous entry, already counted down, and the other slot's.
	for _, f := range []string{"anycastd-b+1-2.conf", "anycastd-a.conf"} {
		if err := os.WriteFile(filepath.Join(entries, f), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	unmounted := false
	env := upgradeEnv{
		esp: esp,
		mount: func(dev, dir string) error {
			files := map[string]string{
				"boot/vmlinuz-6.1.0-42-amd64":     "KERNEL",
				"boot/initrd.img-6.1.0-42-amd64":  "INITRD",
				"usr/lib/anycastd/image-version":  "2026.1127.1\n",
				"usr/lib/anycastd/kernel-cmdline": "rootfstype=squashfs ro console=ttyS0\n",
			}
			for p, c := range files {
				os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
				if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
					return err
				}
			}
			if err := os.Symlink("boot/vmlinuz-6.1.0-42-amd64", filepath.Join(dir, "vmlinuz")); err != nil {
				return err
			}
			return os.Symlink("/boot/initrd.img-6.1.0-42-amd64", filepath.Join(dir, "initrd.img"))
		},
		unmount: func(dir string) error {
			unmounted = true
			// What the fake mount wrote goes, so the temp dir can be removed.
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
			return nil
		},
	}
	version, err := installKernel(env, "/dev/null", "b", 3)
	if err != nil {
		t.Fatal(err)
	}
	if version != "2026.1127.1" || !unmounted {
		t.Fatalf("version %q, unmounted %v", version, unmounted)
	}
	for f, want := range map[string]string{"b/vmlinuz": "KERNEL", "b/initrd.img": "INITRD"} {
		got, err := os.ReadFile(filepath.Join(esp, f))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", f, got, err, want)
		}
	}
	ents, _ := os.ReadDir(entries)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if strings.Join(names, " ") != "anycastd-a.conf anycastd-b+3.conf" {
		t.Fatalf("entries %v, want the old b entry replaced by anycastd-b+3.conf", names)
	}
	got, _ := os.ReadFile(filepath.Join(entries, "anycastd-b+3.conf"))
	want := `title      anycastd 2026.1127.1 (slot b)
version    2026.1127.1
sort-key   anycastd
linux      /b/vmlinuz
initrd     /b/initrd.img
options    root=PARTLABEL=anycastd-root-b rootfstype=squashfs ro console=ttyS0
`
	if string(got) != want {
		t.Errorf("entry:\n%s\nwant:\n%s", got, want)
	}
}

func TestUpgradeRefusesBadChecksum(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "x.img")
	os.WriteFile(img, []byte("not an image"), 0o600)
	os.WriteFile(img+".sha256", []byte(strings.Repeat("00", 32)+"  x.img\n"), 0o600)
	var out bytes.Buffer
	err := upgrade(context.Background(), control.NewClient(filepath.Join(dir, "none.sock")),
		upgradeOpts{file: img, tries: 3}, upgradeEnv{}, &out)
	if err == nil || !strings.Contains(err.Error(), "checksum: ") || !strings.Contains(err.Error(), "want 0000") {
		t.Fatalf("err = %v, want a checksum mismatch", err)
	}
}

func TestUpgradeArgs(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{nil, "missing FILE"},
		{[]string{"a.img", "b.img"}, "one image file"},
		{[]string{"a.img", "--tries", "0"}, "--tries must be 1..9"},
		{[]string{"a.img", "--tries"}, "--tries needs a value"},
		{[]string{"a.img", "--bogus"}, "unknown option --bogus"},
		{[]string{"check", "--timeout", "x"}, "invalid duration"},
	}
	for _, tt := range tests {
		err := runUpgrade(context.Background(), control.NewClient("/nonexistent"), tt.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("upgrade %q: err = %v, want %q", tt.args, err, tt.err)
		}
	}
}
