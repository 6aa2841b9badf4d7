package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfigure(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		files map[string]string
		err   string
	}{
		{"minimal", []string{"d.img", "n.yaml"}, map[string]string{"node.yaml": "n.yaml"}, ""},
		{"all", []string{"d.img", "n.yaml", "--cert", "/x/c.pem", "--key=/x/k.pem", "--network", "u.network", "--file", "h:root.hints"},
			map[string]string{"node.yaml": "n.yaml", "tls/c.pem": "/x/c.pem", "tls/k.pem": "/x/k.pem", "network/u.network": "u.network", "root.hints": "h"}, ""},
		{"not networkd", []string{"d.img", "n.yaml", "--network", "interfaces"}, nil, "only *.network"},
		{"clash", []string{"d.img", "n.yaml", "--cert", "a/c.pem", "--key", "b/c.pem"}, nil, "both go to tls/c.pem"},
		{"escape", []string{"d.img", "n.yaml", "--file", "x:../../etc/passwd"}, nil, "bad destination"},
		{"one arg", []string{"d.img"}, nil, "want IMG and node.yaml"},
		{"unknown", []string{"d.img", "n.yaml", "--frob", "1"}, nil, "unknown option --frob"},
		{"no value", []string{"d.img", "n.yaml", "--cert"}, nil, "--cert needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseConfigure(tt.args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.files) != len(tt.files) {
				t.Fatalf("files %v, want %v", p.files, tt.files)
			}
			for k, v := range tt.files {
				if p.files[k] != v {
					t.Errorf("files[%s] = %q, want %q", k, p.files[k], v)
				}
			}
		})
	}
}

// TestImageConfigure writes into a real GPT image with a FAT config
// partition made the way the image build makes it, then reads it back.
func TestImageConfigure(t *testing.T) {
	for _, tool := range []string{"sfdisk", "mkfs.vfat", "mcopy", "mtype"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt install fdisk dosfstools mtools)", tool)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	run := func(stdin string, name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
	}
	os.WriteFile(img, nil, 0o600)
	os.Truncate(img, 40<<20)
	run("label: gpt\nfirst-lba: 2048\nsize=8MiB, name=\"anycastd-esp\"\nsize=16MiB, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=\"ANYCASTD\"\n", "sfdisk", "--quiet", img)
	part := filepath.Join(dir, "config.img")
	run("", "mkfs.vfat", "-C", "-F", "16", "-n", "ANYCASTD", part, "16384")
	run("", "mmd", "-i", part, "::/network")
	run("", "dd", "if="+part, "of="+img, "bs=1M", "seek=9", "conv=notrunc", "status=none")

	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	hints := write("root.hints", ".  3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A 198.51.100.1\n")
	nodeYAML := write("node.yaml", `version: 1
node: {name: edge7}
service: {addresses: [192.0.2.53]}
resolver: {root_hints: root.hints}
bgp:
  asn: 64513
  router_id: 198.18.1.2
  peers: [{address: 198.18.1.1, asn: 64496}]
`)
	key := write("id.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample test@host\n")
	network := write("10-uplink.network", "[Match]\nName=en*\n")

	var out bytes.Buffer
	err := runImage(context.Background(), []string{"configure", img, nodeYAML, "--file", hints, "--ssh-key", key, "--network", network}, &out)
	if err != nil {
		t.Fatalf("configure: %v\n%s", err, out.String())
	}
	at := img + "@@" + "9437184"
	for file, want := range map[string]string{
		"node.yaml":                 "name: edge7",
		"root.hints":                "198.51.100.1",
		"hostname":                  "edge7",
		"ssh/authorized_keys":       "ssh-ed25519 AAAAC3",
		"network/10-uplink.network": "Name=en*",
	} {
		cmd := exec.Command("mtype", "-i", at, "::/"+file)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		got, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(got), want) {
			t.Errorf("%s on the partition: %q, %v; want it to contain %q", file, got, err, want)
		}
	}

	// Again, over the files now there: safe to repeat. Then an invalid
	// config: refused before anything is written.
	if err := runImage(context.Background(), []string{"configure", img, nodeYAML, "--file", hints}, &bytes.Buffer{}); err != nil {
		t.Fatalf("second configure: %v", err)
	}
	bad := write("bad.yaml", "version: 1\nnode: {name: edge8}\nbgp: {asn: 0}\n")
	err = runImage(context.Background(), []string{"configure", img, bad}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "node.yaml is not valid") || !strings.Contains(err.Error(), "bgp.asn") {
		t.Fatalf("bad config: err = %v, want a validation error naming bgp.asn", err)
	}
	privKey := write("id", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
	err = runImage(context.Background(), []string{"configure", img, nodeYAML, "--file", hints, "--ssh-key", privKey}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("private key: err = %v", err)
	}
	notImage := write("plain.img", strings.Repeat("x", 4096))
	err = runImage(context.Background(), []string{"configure", notImage, nodeYAML, "--file", hints}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no GPT") {
		t.Fatalf("not an image: err = %v", err)
	}
}
