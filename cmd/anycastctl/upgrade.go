package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anycastd/anycastd/image/disk"
	"github.com/anycastd/anycastd/internal/control"
	"github.com/anycastd/anycastd/node"
)

// upgradeEnv is where an upgrade finds the running system. Tests point it
// at a temporary tree.
type upgradeEnv struct {
	cmdline string // /proc/cmdline: which slot booted
	byLabel string // /dev/disk/by-partlabel
	esp     string // mount point of the EFI system partition
	config  string // the node's config (state_dir)
	mount   func(dev, dir string) error
	unmount func(dir string) error
	reboot  func(ctx context.Context) error
}

func defaultUpgradeEnv() upgradeEnv {
	return upgradeEnv{
		cmdline: "/proc/cmdline",
		byLabel: "/dev/disk/by-partlabel",
		esp:     "/efi",
		config:  "/config/node.yaml",
		mount: func(dev, dir string) error {
			return unix.Mount(dev, dir, "squashfs", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, "")
		},
		unmount: func(dir string) error { return unix.Unmount(dir, 0) },
		reboot: func(ctx context.Context) error {
			return exec.CommandContext(ctx, "systemctl", "reboot").Run()
		},
	}
}

type upgradeOpts struct {
	file         string
	sum          string // expected SHA-256 hex; "" means read FILE.sha256
	force        bool   // drain even the last announcer
	noDrain      bool
	noReboot     bool
	tries        int
	drainTimeout time.Duration
}

const upgradeUsage = "upgrade FILE [--sha256 HEX] [--force] [--tries N] [--no-drain] [--no-reboot] [--drain-timeout D] | upgrade check [--timeout D]"

// runUpgrade is `anycastctl upgrade FILE`: verify, drain, write the
// inactive slot, add a boot-counted entry, reboot. `upgrade check` is the
// boot check of a new slot (anycastd-boot-check.service).
func runUpgrade(ctx context.Context, c *control.Client, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "check" {
		return runBootCheck(ctx, c, args[1:], stdout)
	}
	o := upgradeOpts{tries: 3, drainTimeout: 5 * time.Minute}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		needVal := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("--%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case !strings.HasPrefix(a, "-"):
			if o.file != "" {
				err = fmt.Errorf("one image file, got %q and %q", o.file, a)
			}
			o.file = a
		case name == "sha256":
			o.sum, err = needVal()
		case name == "force":
			o.force = true
		case name == "no-drain":
			o.noDrain = true
		case name == "no-reboot":
			o.noReboot = true
		case name == "tries":
			var v string
			if v, err = needVal(); err == nil {
				o.tries, err = strconv.Atoi(v)
				if err == nil && (o.tries < 1 || o.tries > 9) {
					err = fmt.Errorf("--tries must be 1..9, got %d", o.tries)
				}
			}
		case name == "drain-timeout":
			var v string
			if v, err = needVal(); err == nil {
				o.drainTimeout, err = time.ParseDuration(v)
			}
		default:
			err = fmt.Errorf("unknown option %s", a)
		}
		if err != nil {
			return &exitError{2, fmt.Errorf("upgrade: %w\nusage: anycastctl %s", err, upgradeUsage)}
		}
	}
	if o.file == "" {
		return &exitError{2, fmt.Errorf("upgrade: missing FILE\nusage: anycastctl %s", upgradeUsage)}
	}
	return upgrade(ctx, c, o, defaultUpgradeEnv(), stdout)
}

func upgrade(ctx context.Context, c *control.Client, o upgradeOpts, env upgradeEnv, stdout io.Writer) error {
	start := time.Now()
	step := func(format string, a ...any) {
		fmt.Fprintf(stdout, "upgrade: [%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	// 1. The image is what it claims to be, before anything changes.
	want := o.sum
	if want == "" {
		var err error
		if want, err = readSumFile(o.file + ".sha256"); err != nil {
			return fmt.Errorf("checksum: %w (or pass --sha256 HEX)", err)
		}
	}
	got, err := sha256File(o.file)
	if err != nil {
		return fmt.Errorf("checksum: %w", err)
	}
	if !strings.EqualFold(got, want) {
		return fmt.Errorf("checksum: %s has SHA-256 %s, want %s", o.file, got, want)
	}
	step("checksum ok (%s)", got[:16])

	img, err := os.Open(o.file)
	if err != nil {
		return err
	}
	defer img.Close()
	parts, err := disk.ReadGPT(img)
	if err != nil {
		return fmt.Errorf("read image: %w", err)
	}
	src, err := disk.Find(parts, "anycastd-root-a")
	if err != nil {
		return fmt.Errorf("read image: not an anycastd image: %w", err)
	}
	n, err := disk.SquashfsSize(img, src.Offset())
	if err != nil {
		return fmt.Errorf("read image: slot a: %w", err)
	}

	cmdline, err := os.ReadFile(env.cmdline)
	if err != nil {
		return err
	}
	active, err := activeSlot(string(cmdline))
	if err != nil {
		return err
	}
	target := otherSlot(active)
	dev := filepath.Join(env.byLabel, "anycastd-root-"+target)
	if size, err := deviceSize(dev); err != nil {
		return fmt.Errorf("slot %s: %w", target, err)
	} else if size < n {
		return fmt.Errorf("slot %s: the image's root is %d bytes, the slot only %d", target, n, size)
	}
	step("running slot %s, writing slot %s (%d MiB)", active, target, n>>20)

	// 2. Out of rotation before the disk gets busy and the machine reboots.
	// A node the operator had drained stays drained; one drained here comes
	// back by itself on the new slot (its intent is removed below).
	cfg, err := node.Load(env.config)
	if err != nil {
		return fmt.Errorf("read node config: %w", err)
	}
	drainedHere := false
	if !o.noDrain {
		st, err := c.Status(ctx)
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		if st.DrainIntent {
			step("node already drained by the operator; it stays drained after the upgrade")
		} else {
			if _, err := c.Drain(ctx, o.force); err != nil {
				return fmt.Errorf("drain: %w", err)
			}
			drainedHere = true
			step("draining")
			if err := waitState(ctx, c, control.StateDrained, o.drainTimeout); err != nil {
				return fmt.Errorf("drain: %w", err)
			}
			step("drained")
		}
	}
	undo := func(cause error) error {
		if drainedHere {
			if _, err := c.Undrain(ctx); err != nil {
				return fmt.Errorf("%w; undrain after the failure also failed: %v", cause, err)
			}
			return fmt.Errorf("%w (the node was undrained again)", cause)
		}
		return cause
	}

	// 3. The inactive slot, then its kernel and initrd onto the ESP.
	if err := copySlot(img, src.Offset(), n, dev); err != nil {
		return undo(fmt.Errorf("write slot %s: %w", target, err))
	}
	step("slot %s written", target)
	version, err := installKernel(env, dev, target, o.tries)
	if err != nil {
		return undo(fmt.Errorf("boot entry for slot %s: %w", target, err))
	}
	step("boot entry anycastd-%s+%d.conf: version %s, %d tries", target, o.tries, version, o.tries)

	// 4. The drain was for the reboot only.
	if drainedHere {
		if err := os.Remove(filepath.Join(cfg.Node.StateDir, "drained")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("clear drain intent: %w", err)
		}
	}
	unix.Sync()
	if o.noReboot {
		step("done; reboot to run version %s (--no-reboot)", version)
		return nil
	}
	step("rebooting into slot %s", target)
	return env.reboot(ctx)
}

// installKernel mounts the freshly written slot, copies its kernel and
// initrd to ESP/<slot>/ and writes a boot-counted entry for it, replacing
// the slot's old entry. It returns the image version found in the slot.
func installKernel(env upgradeEnv, dev, slot string, tries int) (string, error) {
	mnt, err := os.MkdirTemp("", "anycastd-slot-")
	if err != nil {
		return "", err
	}
	defer os.Remove(mnt)
	if err := env.mount(dev, mnt); err != nil {
		return "", fmt.Errorf("mount %s: %w", dev, err)
	}
	defer env.unmount(mnt)
	read := func(p string) (string, error) {
		b, err := os.ReadFile(filepath.Join(mnt, p))
		return strings.TrimSpace(string(b)), err
	}
	version, err := read("usr/lib/anycastd/image-version")
	if err != nil {
		return "", fmt.Errorf("the new slot has no image version: %w", err)
	}
	opts, err := read("usr/lib/anycastd/kernel-cmdline")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(env.esp, slot)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for _, f := range [][2]string{{"vmlinuz", "vmlinuz"}, {"initrd.img", "initrd.img"}} {
		// /vmlinuz is a relative symlink inside the slot; resolve it there.
		target, err := os.Readlink(filepath.Join(mnt, f[0]))
		if err != nil {
			return "", err
		}
		// Absolute or relative, the link means a path inside the slot.
		target = filepath.Join(mnt, target)
		if err := copyFile(target, filepath.Join(dir, f[1])); err != nil {
			return "", err
		}
	}
	entries := filepath.Join(env.esp, "loader", "entries")
	old, _ := filepath.Glob(filepath.Join(entries, "anycastd-"+slot+"*.conf"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return "", err
		}
	}
	entry := bootEntry(slot, version, opts)
	name := filepath.Join(entries, fmt.Sprintf("anycastd-%s+%d.conf", slot, tries))
	if err := os.WriteFile(name, []byte(entry), 0o600); err != nil {
		return "", err
	}
	return version, nil
}

// bootEntry renders a systemd-boot entry (Boot Loader Specification type 1).
// sort-key groups the slots; the higher version sorts first and is the
// default, until boot counting marks it bad.
func bootEntry(slot, version, opts string) string {
	return fmt.Sprintf("title      anycastd %s (slot %s)\nversion    %s\nsort-key   anycastd\nlinux      /%s/vmlinuz\ninitrd     /%s/initrd.img\noptions    root=PARTLABEL=anycastd-root-%s %s\n",
		version, slot, version, slot, slot, slot, opts)
}

// activeSlot reads the booted slot from the kernel command line.
func activeSlot(cmdline string) (string, error) {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "root=PARTLABEL=anycastd-root-"); ok && (v == "a" || v == "b") {
			return v, nil
		}
	}
	return "", errors.New("not booted from an anycastd root slot (no root=PARTLABEL=anycastd-root-a|b on the kernel command line)")
}

func otherSlot(s string) string {
	if s == "a" {
		return "b"
	}
	return "a"
}

func readSumFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 || len(f[0]) != 64 {
		return "", fmt.Errorf("%s: no SHA-256 in it", p)
	}
	if _, err := hex.DecodeString(f[0]); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return f[0], nil
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func deviceSize(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Seek(0, io.SeekEnd)
}

// copySlot writes n bytes of the image's slot to dev and syncs it.
func copySlot(img io.ReaderAt, off, n int64, dev string) error {
	out, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(out, io.NewSectionReader(img, off, n), make([]byte, 4<<20)); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyFile copies through a temporary name so a power cut leaves the old
// file or the new one, never half of one (FAT renames are atomic enough).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// waitState polls the node until it reports state, or d passes.
func waitState(ctx context.Context, c *control.Client, state string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	last := ""
	for {
		st, err := c.Status(ctx)
		switch {
		case err == nil && st.State == state:
			return nil
		case err == nil:
			last = st.State
			if st.Reason != "" {
				last += " (" + st.Reason + ")"
			}
		default:
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not %s after %s; last: %s", state, d, last)
		case <-time.After(time.Second):
		}
	}
}

// runBootCheck passes when the node announces within the timeout. A node
// the operator drained before the upgrade passes once it is drained with
// every health check healthy: it cannot announce, by the operator's wish.
func runBootCheck(ctx context.Context, c *control.Client, args []string, stdout io.Writer) error {
	timeout := 5 * time.Minute
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if name != "timeout" {
			return &exitError{2, fmt.Errorf("upgrade check: unknown option %s", args[i])}
		}
		if !hasVal {
			if i+1 >= len(args) {
				return &exitError{2, errors.New("upgrade check: --timeout needs a value")}
			}
			i++
			val = args[i]
		}
		var err error
		if timeout, err = time.ParseDuration(val); err != nil {
			return &exitError{2, fmt.Errorf("upgrade check: %w", err)}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	last := "no answer"
	for {
		st, err := c.Status(ctx)
		if err == nil {
			if ok, why := bootHealthy(st); ok {
				fmt.Fprintf(stdout, "boot check: %s after %s\n", why, time.Since(start).Round(time.Second))
				return nil
			}
			last = st.State
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("boot check: not announcing after %s (last: %s); this slot will not be marked good", timeout, last)
		case <-time.After(2 * time.Second):
		}
	}
}

// bootHealthy: the new slot is good once the node announces -- also when
// degraded, since a degrading check (slow upstreams, a clock not yet
// synced) fails on the old slot just the same and rolling back would not
// help -- or, if an operator had drained it, once every critical check
// passes.
func bootHealthy(st *control.Status) (bool, string) {
	switch st.State {
	case control.StateAnnouncing, control.StateDegraded:
		return true, st.State
	}
	if st.State != control.StateDrained || !st.DrainIntent {
		return false, ""
	}
	critical := 0
	for _, ch := range st.Checks {
		if ch.Level != "critical" {
			continue
		}
		critical++
		if !ch.Healthy {
			return false, ""
		}
	}
	if critical == 0 {
		return false, ""
	}
	return true, "drained by the operator, every critical check healthy"
}
