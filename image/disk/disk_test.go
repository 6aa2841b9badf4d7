package disk

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeImage partitions a sparse file with sfdisk, the tool the image build
// uses, so the reader is checked against a real GPT writer.
func makeImage(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("sfdisk"); err != nil {
		t.Skip("sfdisk not installed (apt install fdisk)")
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sfdisk", "--quiet", img)
	cmd.Stdin = strings.NewReader(`label: gpt
first-lba: 2048
size=8MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="anycastd-esp"
size=16MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="anycastd-root-a"
size=16MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="anycastd-root-b"
size=4MiB, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="ANYCASTD"
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v: %s", err, out)
	}
	return img
}

func TestReadGPT(t *testing.T) {
	img := makeImage(t)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parts, err := ReadGPT(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, typ   string
		first, size int64
	}{
		{"anycastd-esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", 2048, 8 << 20},
		{"anycastd-root-a", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", 2048 + 16384, 16 << 20},
		{"anycastd-root-b", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", 2048 + 16384 + 32768, 16 << 20},
		{"ANYCASTD", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", 2048 + 16384 + 2*32768, 4 << 20},
	}
	if len(parts) != len(want) {
		t.Fatalf("got %d partitions, want %d: %+v", len(parts), len(want), parts)
	}
	for i, w := range want {
		p := parts[i]
		if p.Name != w.name || p.Type != w.typ || p.Offset() != w.first*SectorSize || p.Size() != w.size || p.Index != i+1 {
			t.Errorf("partition %d = %+v (offset %d size %d), want %+v", i+1, p, p.Offset(), p.Size(), w)
		}
	}
	if _, err := Find(parts, "ANYCASTD"); err != nil {
		t.Error(err)
	}
	if _, err := Find(parts, "anycastd-state"); err == nil {
		t.Error("Find of a missing name succeeded")
	}
}

func TestReadGPTRejects(t *testing.T) {
	img := makeImage(t)
	good, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		corrupt func(b []byte)
		want    string
	}{
		{"no table", func(b []byte) { copy(b[512:], make([]byte, 512)) }, "no GPT"},
		{"header CRC", func(b []byte) { b[512+40]++ }, "read GPT header: CRC"},
		{"entries CRC", func(b []byte) { b[1024+56] ^= 0xff }, "read GPT entries: CRC"},
		{"truncated", nil, "read GPT entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(good)
			if tt.corrupt != nil {
				tt.corrupt(b)
			} else {
				b = b[:1024]
			}
			_, err := ReadGPT(bytes.NewReader(b))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSquashfsSize(t *testing.T) {
	sb := func(magic string, major uint16, used uint64) []byte {
		b := make([]byte, 8192)
		copy(b[4096:], magic)
		binary.LittleEndian.PutUint16(b[4096+28:], major)
		binary.LittleEndian.PutUint64(b[4096+40:], used)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want int64
		err  string
	}{
		{"rounded up", sb("hsqs", 4, 5000), 8192, ""},
		{"aligned", sb("hsqs", 4, 8192), 8192, ""},
		{"bad magic", sb("XXXX", 4, 5000), 0, "not a squashfs"},
		{"version 3", sb("hsqs", 3, 5000), 0, "version 3"},
		{"empty", sb("hsqs", 4, 0), 0, "bytes_used"},
		{"short", make([]byte, 4100), 0, "read squashfs superblock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SquashfsSize(bytes.NewReader(tt.data), 4096)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
