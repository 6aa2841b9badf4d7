# shellcheck shell=bash
# Phase verify: reads the outputs back the way a flasher and the boot chain
# will: checksums, the partition table, the ESP's boot files and entry, the
# version inside the root slot, the config partition, the compressed copy.

img=$OUT/$NAME.img
export MTOOLS_SKIP_CHECK=1
(cd "$OUT" && sha256sum --quiet -c "$NAME.img.sha256" "$NAME.img.zst.sha256") || die "checksum mismatch"

json=$(sfdisk --json "$img")
for label in anycastd-esp anycastd-root-a anycastd-root-b ANYCASTD; do
	grep -q "\"name\": *\"$label\"" <<<"$json" || die "partition $label missing"
done
mapfile -t starts < <(grep -o '"start": *[0-9]*' <<<"$json" | grep -o '[0-9]*$')

esp="$img@@$((starts[0] * 512))"
for f in EFI/BOOT/BOOTX64.EFI loader/loader.conf loader/entries/anycastd-a.conf a/vmlinuz a/initrd.img; do
	mdir -i "$esp" "::/$f" >/dev/null 2>&1 || die "ESP lacks /$f"
done
entry=$(mtype -i "$esp" ::/loader/entries/anycastd-a.conf)
grep -q "^version *$VERSION\$" <<<"$entry" || die "entry anycastd-a.conf has no 'version $VERSION'"
grep -q "^sort-key *anycastd\$" <<<"$entry" || die "entry anycastd-a.conf has no sort-key"
grep -q "root=PARTLABEL=anycastd-root-a" <<<"$entry" || die "entry anycastd-a.conf does not boot slot a"

got=$(unsquashfs -o $((starts[1] * 512)) -cat "$img" usr/lib/anycastd/image-version 2>/dev/null) ||
	die "slot a is not a readable squashfs"
[[ $got == "$VERSION" ]] || die "slot a holds version '$got', want $VERSION"
for f in usr/local/bin/anycastd usr/local/bin/anycastctl usr/lib/systemd/system/anycastd.service etc/fstab; do
	unsquashfs -o $((starts[1] * 512)) -l "$img" "$f" 2>/dev/null | grep -q "$f\$" || die "slot a lacks /$f"
done
# The journal may hold query names at log.level debug: it must expire (docs/privacy.md).
journald=$(unsquashfs -o $((starts[1] * 512)) -cat "$img" etc/systemd/journald.conf.d/anycastd.conf 2>/dev/null) ||
	die "slot a lacks /etc/systemd/journald.conf.d/anycastd.conf"
grep -Eq '^MaxRetentionSec=([1-9]|1[0-9]|2[0-5])h$' <<<"$journald" || grep -q '^Storage=volatile$' <<<"$journald" ||
	die "journald keeps logs for longer than 25h: set MaxRetentionSec=25h (or Storage=volatile)"
mdir -i "$img@@$((starts[3] * 512))" ::/README.txt >/dev/null 2>&1 || die "config partition unreadable"
zstd -q -t "$img.zst" || die "$img.zst is corrupt"
[[ -s $img.bmap ]] || die "no bmap"
say "ok: $NAME (raw $(du -h --apparent-size "$img" | cut -f1), data $(du -h "$img" | cut -f1), zstd $(du -h "$img.zst" | cut -f1))"
