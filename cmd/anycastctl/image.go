package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/anycastd/anycastd/image/disk"
	"github.com/anycastd/anycastd/node"
)

// configLabel is the GPT name (and FAT label) of the operator's partition.
const configLabel = "ANYCASTD"

// runImage is `anycastctl image configure IMG node.yaml [options]`: it writes
// one node's files into an image's config partition before flashing. No root
// needed: the partition is found in the GPT and written with mtools at its
// byte offset (mtools' IMG@@OFFSET), the way the image build writes it.
func runImage(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "configure" {
		return &exitError{2, errors.New("image: usage: image configure IMG node.yaml [--cert F --key F] [--ssh-key F] [--network F] [--file F[:DEST]] [--hostname H]")}
	}
	plan, err := parseConfigure(args[1:])
	if err != nil {
		return &exitError{2, fmt.Errorf("image configure: %w", err)}
	}
	return configureImage(ctx, plan, stdout)
}

// configurePlan is what goes where on the config partition.
type configurePlan struct {
	image string
	files map[string]string // destination on the partition -> source file
	keys  []string          // SSH public key files, concatenated into ssh/authorized_keys
	host  string            // hostname; "" means node.name
}

func parseConfigure(args []string) (*configurePlan, error) {
	p := &configurePlan{files: map[string]string{}}
	var pos []string
	add := func(dest, src string) error {
		if prev, ok := p.files[dest]; ok {
			return fmt.Errorf("%s and %s both go to %s", prev, src, dest)
		}
		p.files[dest] = src
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := strings.TrimPrefix(args[i], "-")
		a = strings.TrimPrefix(a, "-")
		name, val, hasVal := strings.Cut(a, "=")
		if !strings.HasPrefix(args[i], "-") {
			pos = append(pos, args[i])
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = args[i]
		}
		var err error
		switch name {
		case "cert", "key":
			err = add("tls/"+filepath.Base(val), val)
		case "network":
			if !strings.HasSuffix(val, ".network") && !strings.HasSuffix(val, ".netdev") && !strings.HasSuffix(val, ".link") {
				err = fmt.Errorf("--network %s: systemd-networkd reads only *.network, *.netdev and *.link", val)
				break
			}
			err = add("network/"+filepath.Base(val), val)
		case "ssh-key":
			p.keys = append(p.keys, val)
		case "file":
			src, dest, ok := strings.Cut(val, ":")
			if !ok {
				dest = filepath.Base(src)
			}
			dest = path.Clean(strings.TrimPrefix(dest, "/"))
			if dest == "." || strings.HasPrefix(dest, "..") {
				err = fmt.Errorf("--file %s: bad destination", val)
				break
			}
			err = add(dest, src)
		case "hostname":
			p.host = val
		default:
			err = fmt.Errorf("unknown option --%s", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(pos) != 2 {
		return nil, fmt.Errorf("want IMG and node.yaml, got %d arguments", len(pos))
	}
	p.image = pos[0]
	if err := add("node.yaml", pos[1]); err != nil {
		return nil, err
	}
	return p, nil
}

// configureImage stages the files as the node will see them under /config,
// validates node.yaml there (so its relative paths resolve to the staged
// files), then copies the stage onto the partition.
func configureImage(ctx context.Context, p *configurePlan, stdout io.Writer) error {
	stage, err := os.MkdirTemp("", "anycastctl-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for dest, src := range p.files {
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("image configure: %w", err)
		}
		if err := writeStaged(stage, dest, data); err != nil {
			return err
		}
	}
	if len(p.keys) > 0 {
		var keys bytes.Buffer
		for _, k := range p.keys {
			data, err := os.ReadFile(k)
			if err != nil {
				return fmt.Errorf("image configure: %w", err)
			}
			if bytes.Contains(data, []byte("PRIVATE KEY")) {
				return fmt.Errorf("image configure: --ssh-key %s is a private key; give the .pub file", k)
			}
			keys.Write(bytes.TrimSpace(data))
			keys.WriteByte('\n')
		}
		if err := writeStaged(stage, "ssh/authorized_keys", keys.Bytes()); err != nil {
			return err
		}
	}
	cfg, err := node.Load(filepath.Join(stage, "node.yaml"))
	if err != nil {
		return fmt.Errorf("image configure: node.yaml is not valid (relative paths are relative to the config partition):\n%w", err)
	}
	host := p.host
	if host == "" {
		host = cfg.Node.Name
	}
	if err := writeStaged(stage, "hostname", []byte(host+"\n")); err != nil {
		return err
	}

	off, err := configOffset(p.image)
	if err != nil {
		return fmt.Errorf("image configure: %s: %w", p.image, err)
	}
	target := fmt.Sprintf("%s@@%d", p.image, off)
	dests := make([]string, 0, len(p.files)+2)
	if err := filepath.WalkDir(stage, func(f string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(stage, f)
			dests = append(dests, filepath.ToSlash(rel))
		}
		return err
	}); err != nil {
		return err
	}
	sort.Strings(dests)
	for _, dest := range dests {
		if dir := path.Dir(dest); dir != "." {
			// mmd fails on an existing directory; -D s would skip a clash
			// for files only, so ask first.
			if mtools(ctx, "mdir", "-b", "-i", target, "::/"+dir) != nil {
				if err := mtools(ctx, "mmd", "-i", target, "::/"+dir); err != nil {
					return fmt.Errorf("image configure: %w", err)
				}
			}
		}
		if err := mtools(ctx, "mcopy", "-o", "-i", target, filepath.Join(stage, filepath.FromSlash(dest)), "::/"+dest); err != nil {
			return fmt.Errorf("image configure: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s\n", dest)
	}
	fmt.Fprintf(stdout, "configured %s for node %s\n", p.image, cfg.Node.Name)
	return nil
}

func writeStaged(stage, dest string, data []byte) error {
	f := filepath.Join(stage, filepath.FromSlash(dest))
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return err
	}
	return os.WriteFile(f, data, 0o600)
}

// configOffset finds the config partition's byte offset in an image file.
func configOffset(img string) (int64, error) {
	f, err := os.Open(img)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	parts, err := disk.ReadGPT(f)
	if err != nil {
		return 0, err
	}
	p, err := disk.Find(parts, configLabel)
	if err != nil {
		return 0, fmt.Errorf("not an anycastd image: %w", err)
	}
	return p.Offset(), nil
}

// mtools runs one mtools command; MTOOLS_SKIP_CHECK because the partition
// is a file with no MBR of its own.
func mtools(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s not found: install mtools (Debian: apt install mtools; macOS: brew install mtools)", name)
		}
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
