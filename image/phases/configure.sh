# shellcheck shell=bash
# Phase configure: turns a copy of the Debian tree into the appliance: the
# project's binaries and units, the overlay in image/rootfs/overlay (fstab,
# repart, sysctls, networkd fallback, journald, sshd), an anycastd user, a
# read-only-root friendly /etc, enabled and masked units, and kernel modules
# pruned to storage, NIC, network and file system drivers.

base=$WORK/rootfs-base
root=$WORK/rootfs-$VERSION
[[ -d $base/usr ]] || die "no $base (phase rootfs)"
for b in anycastd anycastctl; do
	[[ -x $BIN/$b ]] || die "$BIN/$b missing: run make build first"
done
rm -rf "$root"
cp -a "$base" "$root"

# The project: binaries, the daemon's unit, the appliance overlay.
install -m 0755 "$BIN/anycastd" "$BIN/anycastctl" "$root/usr/local/bin/"
install -m 0644 "$IMAGE_DIR/systemd/anycastd.service" "$root/usr/lib/systemd/system/anycastd.service"
cp -a "$IMAGE_DIR/rootfs/overlay/." "$root/"
if [[ -n $VARIANT ]]; then
	say "variant $VARIANT"
	cp -a "$IMAGE_DIR/variants/$VARIANT/." "$root/"
fi

# A fixed uid/gid: the config partition (FAT) is mounted with gid=853 in
# fstab, so the daemon reads node.yaml and its TLS key as group anycastd.
chroot "$root" groupadd --system --gid 853 anycastd
chroot "$root" useradd --system --uid 853 --gid 853 --home-dir /var/lib/anycastd \
	--no-create-home --shell /usr/sbin/nologin anycastd
# No password login for anyone: root's password is locked, SSH takes keys.
chroot "$root" usermod --password '*' root

mkdir -p "$root/config" "$root/efi" "$root/etc/anycastd"
ln -sfn /config/node.yaml "$root/etc/anycastd/anycastd.yaml" # for anycastd -check by hand
echo anycastd >"$root/etc/hostname"
# Empty machine-id on a read-only root: systemd makes a transient one.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
printf 'nameserver 127.0.0.1\n' >"$root/etc/resolv.conf"

# What this image is: os-release for people, two files for anycastctl upgrade.
echo "$VERSION" >"$root/usr/lib/anycastd/image-version"
cat >>"$root/usr/lib/os-release" <<EOT
IMAGE_ID=anycastd
IMAGE_VERSION=$VERSION
EOT
# The command line every boot entry of this image gets, after root=.
echo "rootfstype=squashfs ro console=tty0 console=ttyS0,115200n8 loglevel=4 systemd.show_status=auto panic=10" \
	>"$root/usr/lib/anycastd/kernel-cmdline"

# wait-online: one link up is enough, and not forever.
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat >"$root/etc/systemd/system/systemd-networkd-wait-online.service.d/anycastd.conf" <<'EOT'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60
EOT

systemctl --root="$root" enable --quiet systemd-networkd.service systemd-timesyncd.service \
	anycastd.service anycastd-appliance-setup.service anycastd-boot-check.service ssh.service \
	systemd-repart.service 2>/dev/null || die "systemctl enable failed"
# Nothing on an appliance updates itself with apt or scrubs file systems it
# does not have.
systemctl --root="$root" mask --quiet apt-daily.timer apt-daily-upgrade.timer \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer 2>/dev/null || true

# Kernel modules: storage, NIC, network stack and the file systems the image
# uses; the rest (GPU, media, wireless, sound, other file systems) goes.
kv=$(basename "$(ls -d "$root"/lib/modules/*/ | head -n1)")
km=$root/lib/modules/$kv/kernel
before=$(du -sm "$root/lib/modules" | cut -f1)
rm -rf "$km"/sound "$km"/net/{wireless,mac80211,bluetooth,nfc,sunrpc,ceph,rxrpc} \
	"$km"/drivers/{gpu,media,staging,infiniband,bluetooth,iio,isdn,video,mtd,nfc,thunderbolt,mmc,memstick,firewire,misc,comedi,hid/amd-sfh-hid,input/touchscreen,input/joystick,input/tablet,usb/gadget,usb/serial,net/wireless,net/can,net/ieee802154,net/wwan,net/hamradio,platform/chrome,platform/surface,leds,w1,fpga,accel,soundwire,spi,power/supply}
for d in "$km"/fs/*/; do
	case $(basename "$d") in
	squashfs | fat | nls | ext4 | jbd2 | 9p | netfs | fscache | overlayfs | isofs | efivarfs) ;;
	*) rm -rf "$d" ;;
	esac
done
chroot "$root" depmod -a "$kv"
say "kernel modules $before MB -> $(du -sm "$root/lib/modules" | cut -f1) MB"

# Documentation and package caches are not read on an appliance.
rm -rf "$root"/usr/share/{doc,man,info,lintian,bug} "$root"/var/cache/* "$root"/var/log/*
mkdir -p "$root/var/lib/anycastd" "$root/var/lib/ssh"
say "root tree $(du -sh "$root" | cut -f1)"
