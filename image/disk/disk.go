// Package disk reads what anycastctl needs from an anycastd image file or
// disk: the GPT partition table (to find the root slot and the config
// partition by label) and the length of a squashfs inside a partition. It
// only reads; writing is left to mtools and to the caller.
package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

// SectorSize is the logical sector size of the images the pipeline builds.
const SectorSize = 512

// Partition is one entry of a GPT.
type Partition struct {
	Index    int    // 1-based, as in /dev/vda1
	Name     string // GPT partition name (PARTLABEL)
	Type     string // type GUID, upper case
	FirstLBA uint64
	LastLBA  uint64 // inclusive
}

// Offset is the byte offset of the partition's first sector.
func (p Partition) Offset() int64 { return int64(p.FirstLBA) * SectorSize }

// Size is the partition's length in bytes.
func (p Partition) Size() int64 { return int64(p.LastLBA-p.FirstLBA+1) * SectorSize }

// ErrNoGPT means the file has no valid primary GPT header.
var ErrNoGPT = errors.New("no GPT partition table")

// ReadGPT reads the primary GPT at LBA 1 and returns the used entries in
// table order. Header and entry-array CRCs are checked, so a truncated or
// foreign file is refused instead of half-read.
func ReadGPT(r io.ReaderAt) ([]Partition, error) {
	hdr := make([]byte, SectorSize)
	if _, err := r.ReadAt(hdr, SectorSize); err != nil {
		return nil, fmt.Errorf("read GPT header: %w", err)
	}
	if string(hdr[:8]) != "EFI PART" {
		return nil, ErrNoGPT
	}
	hsize := binary.LittleEndian.Uint32(hdr[12:])
	if hsize < 92 || hsize > SectorSize {
		return nil, fmt.Errorf("read GPT header: bad header size %d", hsize)
	}
	want := binary.LittleEndian.Uint32(hdr[16:])
	h := bytes.Clone(hdr[:hsize])
	binary.LittleEndian.PutUint32(h[16:], 0)
	if got := crc32.ChecksumIEEE(h); got != want {
		return nil, fmt.Errorf("read GPT header: CRC %08x, want %08x", got, want)
	}
	entLBA := binary.LittleEndian.Uint64(hdr[72:])
	n := binary.LittleEndian.Uint32(hdr[80:])
	esize := binary.LittleEndian.Uint32(hdr[84:])
	if esize < 128 || esize > 4096 || n > 1024 {
		return nil, fmt.Errorf("read GPT entries: %d entries of %d bytes is not a GPT", n, esize)
	}
	ents := make([]byte, int(n)*int(esize))
	if _, err := r.ReadAt(ents, int64(entLBA)*SectorSize); err != nil {
		return nil, fmt.Errorf("read GPT entries: %w", err)
	}
	if got, want := crc32.ChecksumIEEE(ents), binary.LittleEndian.Uint32(hdr[88:]); got != want {
		return nil, fmt.Errorf("read GPT entries: CRC %08x, want %08x", got, want)
	}
	var parts []Partition
	for i := range int(n) {
		e := ents[i*int(esize) : (i+1)*int(esize)]
		if allZero(e[:16]) {
			continue
		}
		p := Partition{
			Index:    i + 1,
			Type:     guid(e[:16]),
			FirstLBA: binary.LittleEndian.Uint64(e[32:]),
			LastLBA:  binary.LittleEndian.Uint64(e[40:]),
			Name:     utf16Name(e[56:128]),
		}
		if p.LastLBA < p.FirstLBA {
			return nil, fmt.Errorf("read GPT entries: partition %d ends before it starts", p.Index)
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// Find returns the partition with the given GPT name.
func Find(parts []Partition, name string) (Partition, error) {
	for _, p := range parts {
		if p.Name == name {
			return p, nil
		}
	}
	return Partition{}, fmt.Errorf("no partition named %q", name)
}

// SquashfsSize returns bytes_used from the squashfs superblock at off: how
// much of a root slot has to be copied. Rounded up to 4 KiB, the block
// size squashfs pads to.
func SquashfsSize(r io.ReaderAt, off int64) (int64, error) {
	sb := make([]byte, 96)
	if _, err := r.ReadAt(sb, off); err != nil {
		return 0, fmt.Errorf("read squashfs superblock: %w", err)
	}
	if string(sb[:4]) != "hsqs" {
		return 0, errors.New("read squashfs superblock: not a squashfs (bad magic)")
	}
	if major := binary.LittleEndian.Uint16(sb[28:]); major != 4 {
		return 0, fmt.Errorf("read squashfs superblock: version %d, want 4", major)
	}
	used := int64(binary.LittleEndian.Uint64(sb[40:]))
	if used <= 96 {
		return 0, fmt.Errorf("read squashfs superblock: bytes_used %d", used)
	}
	return (used + 4095) &^ 4095, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// guid formats a mixed-endian GPT GUID the way sfdisk prints it.
func guid(b []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X",
		binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
