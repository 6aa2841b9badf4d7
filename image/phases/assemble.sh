# shellcheck shell=bash
# Phase assemble: the partitions as files, then one raw GPT disk, then the
# copies an operator flashes: zstd, .bmap (bmaptool skips the empty slot B)
# and SHA-256 sums. No loop devices, no mounts: mksquashfs reads the tree,
# mkfs.vfat -C and mtools write the FAT partitions as files, dd places them.
#
#   1 anycastd-esp     FAT32 128 MiB  systemd-boot, kernel+initrd per slot, entries
#   2 anycastd-root-a  squashfs       slot A (this build)
#   3 anycastd-root-b  squashfs       slot B (empty until the first upgrade)
#   4 ANYCASTD         FAT16  32 MiB  node.yaml, network/, tls/, ssh/ (operator's)
#   (5 anycastd-state  ext4           made on first boot by systemd-repart: /var)

ESP_MB=128 SLOT_MB=768 CONFIG_MB=32
readonly ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
readonly ROOT_TYPE=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
readonly DATA_TYPE=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7

need_tools mksquashfs:squashfs-tools mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk \
	bmaptool:bmap-tools zstd:zstd
root=$WORK/rootfs-$VERSION
parts=$WORK/parts-$VERSION
[[ -d $root/usr ]] || die "no $root (phase configure)"
rm -rf "$parts"
mkdir -p "$parts"
export MTOOLS_SKIP_CHECK=1

say "squashfs of the root tree"
mksquashfs "$root" "$parts/root.sqfs" -comp zstd -noappend -quiet -processors "$(nproc)" \
	-wildcards -e 'proc/*' -e 'sys/*' -e 'dev/*' -e 'run/*' -e 'tmp/*' >/dev/null
sq_mb=$(( ($(stat -c %s "$parts/root.sqfs") + 1048575) / 1048576 ))
((sq_mb <= SLOT_MB)) || die "root squashfs is $sq_mb MiB, slot is $SLOT_MB MiB"
say "root squashfs $sq_mb MiB (slot $SLOT_MB MiB)"

say "EFI system partition"
kernel=$(readlink -f "$root/vmlinuz")
initrd=$(readlink -f "$root/initrd.img")
[[ -f $kernel && -f $initrd ]] || die "kernel or initrd missing in $root"
mkfs.vfat -C -F 32 -n ESP "$parts/esp.img" $((ESP_MB * 1024)) >/dev/null
esp=(-i "$parts/esp.img")
mmd "${esp[@]}" ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/loader ::/loader/entries ::/a ::/b
sdboot=$root/usr/lib/systemd/boot/efi/systemd-bootx64.efi
mcopy "${esp[@]}" "$sdboot" ::/EFI/BOOT/BOOTX64.EFI
mcopy "${esp[@]}" "$sdboot" ::/EFI/systemd/systemd-bootx64.efi
mcopy "${esp[@]}" "$kernel" ::/a/vmlinuz
mcopy "${esp[@]}" "$initrd" ::/a/initrd.img
# editor no: nobody at the console appends init=/bin/sh. The newest version
# sorts first and is the default; boot counting demotes a failed one.
printf 'timeout 2\neditor no\nconsole-mode keep\n' >"$parts/loader.conf"
# Slot A from the factory is trusted: no boot counter on its entry.
cat >"$parts/anycastd-a.conf" <<EOT
title      anycastd $VERSION (slot a)
version    $VERSION
sort-key   anycastd
linux      /a/vmlinuz
initrd     /a/initrd.img
options    root=PARTLABEL=anycastd-root-a $(<"$root/usr/lib/anycastd/kernel-cmdline")
EOT
mcopy "${esp[@]}" "$parts/loader.conf" ::/loader/loader.conf
mcopy "${esp[@]}" "$parts/anycastd-a.conf" ::/loader/entries/anycastd-a.conf

say "config partition (label ANYCASTD)"
mkfs.vfat -C -F 16 -n ANYCASTD "$parts/config.img" $((CONFIG_MB * 1024)) >/dev/null
mmd -i "$parts/config.img" ::/network ::/tls ::/ssh
mcopy -i "$parts/config.img" "$IMAGE_DIR/config/README.txt" ::/README.txt
mcopy -i "$parts/config.img" "$IMAGE_DIR/config/node.yaml.example" ::/node.yaml.example
mcopy -i "$parts/config.img" "$IMAGE_DIR/config/10-uplink.network.example" ::/network/10-uplink.network.example

say "disk"
img=$OUT/$NAME.img
rm -f "$img" "$img".*
truncate -s $(( (1 + ESP_MB + 2 * SLOT_MB + CONFIG_MB + 1) * 1048576 )) "$img"
sfdisk --quiet "$img" <<EOT
label: gpt
first-lba: 2048
size=${ESP_MB}MiB, type=$ESP_TYPE, name="anycastd-esp"
size=${SLOT_MB}MiB, type=$ROOT_TYPE, name="anycastd-root-a"
size=${SLOT_MB}MiB, type=$ROOT_TYPE, name="anycastd-root-b"
size=${CONFIG_MB}MiB, type=$DATA_TYPE, name="ANYCASTD"
EOT
mapfile -t starts < <(sfdisk --json "$img" | grep -o '"start": *[0-9]*' | grep -o '[0-9]*$')
((${#starts[@]} == 4)) || die "sfdisk made ${#starts[@]} partitions, want 4"
place() { dd if="$1" of="$img" bs=4M seek=$(($2 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none; }
place "$parts/esp.img" "${starts[0]}"
place "$parts/root.sqfs" "${starts[1]}"
place "$parts/config.img" "${starts[3]}"

say "zstd, bmap, sha256"
zstd -q -T0 -10 -o "$img.zst" "$img"
bmaptool -q create -o "$img.bmap" "$img"
(cd "$OUT" && sha256sum "$NAME.img" >"$NAME.img.sha256" && sha256sum "$NAME.img.zst" >"$NAME.img.zst.sha256")
say "$NAME.img $(du -h --apparent-size "$img" | cut -f1) raw, $(du -h "$img.zst" | cut -f1) zstd"
