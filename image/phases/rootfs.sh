# shellcheck shell=bash
# Phase rootfs: a Debian 12 root tree from bookworm, -updates and -security,
# built by mmdebstrap in WORK/rootfs-base. systemd-boot is there for
# systemd-bless-boot and its generator, which mark a boot-counted entry good
# (the image never runs bootctl install). The kernel's initramfs is built
# with a module list (MODULES=list, see image/rootfs/initramfs/), which takes
# seconds instead of a minute. With --reuse-rootfs a base built from the same
# package list is kept.

PACKAGES=(
	systemd systemd-sysv udev systemd-timesyncd kmod
	linux-image-amd64 initramfs-tools zstd systemd-boot-efi systemd-boot
	openssh-server iproute2 e2fsprogs procps ca-certificates less
)
base=$WORK/rootfs-base
stamp=$(printf '%s\n' "${PACKAGES[@]}" | cat - "$IMAGE_DIR"/rootfs/initramfs/* "$IMAGE_DIR/phases/rootfs.sh" | sha256sum | cut -c1-16)

if ((REUSE_ROOTFS)) && [[ -f $base.stamp && $(<"$base.stamp") == "$stamp" && -d $base/usr ]]; then
	say "reusing $base (same package list)"
	return 0
fi

need_tools mmdebstrap:mmdebstrap
rm -rf "$base" "$base.stamp"
mkdir -p "$WORK"
mirror=http://deb.debian.org/debian
security=http://deb.debian.org/debian-security
say "mmdebstrap bookworm (${#PACKAGES[@]} packages); takes a few minutes"
mmdebstrap --variant=minbase --mode=root --format=directory \
	--include="$(IFS=,; echo "${PACKAGES[*]}")" \
	--setup-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"' \
	--setup-hook="cp $IMAGE_DIR/rootfs/initramfs/anycastd.conf \"\$1/etc/initramfs-tools/conf.d/\"" \
	--setup-hook="cp $IMAGE_DIR/rootfs/initramfs/modules \"\$1/usr/share/initramfs-tools/modules.d/anycastd\"" \
	--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
	bookworm "$base" \
	"deb $mirror bookworm main" \
	"deb $mirror bookworm-updates main" \
	"deb $security bookworm-security main" >"$WORK/mmdebstrap.log" 2>&1 || {
	tail -n 30 "$WORK/mmdebstrap.log" >&2
	die "mmdebstrap failed (log $WORK/mmdebstrap.log)"
}
ls "$base"/boot/vmlinuz-* "$base"/boot/initrd.img-* >/dev/null 2>&1 || die "no kernel or initrd in $base/boot"
echo "$stamp" >"$base.stamp"
say "rootfs: $(du -sh "$base" | cut -f1), initrd $(du -h "$base"/boot/initrd.img-* | cut -f1)"
