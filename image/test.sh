#!/usr/bin/env bash
# test.sh is `make image-test`: builds three images and proves the appliance
# end to end under QEMU (OVMF, TCG unless IMAGE_TEST_ACCEL=kvm):
#   1. v1 configured with `anycastctl image configure`, booted with its NIC on a
#      tap bridged into lab node n1 (scripts/lab.sh: BIRD 2 on r1, the mini
#      internet on inet): waits on the serial console for state=announcing,
#      checks the /32 at BIRD and a query through 192.0.2.53 from c1;
#   2. `anycastctl upgrade` to v2 over SSH: slot b, boot counted, blessed;
#   3. `anycastctl upgrade --tries 1` to v3, whose anycastd never announces:
#      the boot check fails, the machine reboots, systemd-boot falls back to
#      slot b (v2), which announces again. State on /var survives throughout.
# Prints the timings docs/image.md reports. Needs root. Cleans up on any exit.
#
# Env: IMAGE_TEST_ACCEL=tcg|kvm, IMAGE_TEST_SKIP_BUILD=1 (reuse out/ images),
#      IMAGE_TEST_BOOT_TIMEOUT=900 (seconds per boot), IMAGE_TEST_BIN=DIR (./bin).
set -euo pipefail

IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$IMAGE_DIR/.." && pwd)
ACCEL=${IMAGE_TEST_ACCEL:-tcg}
BOOT_TIMEOUT=${IMAGE_TEST_BOOT_TIMEOUT:-900}
LAB=acdimg
BIN=${IMAGE_TEST_BIN:-$REPO_DIR/bin}
OUT=$REPO_DIR/out
T=$OUT/image-test
V1=1.0.1 V2=1.0.2 V3=1.0.3
LAB_SH=$REPO_DIR/scripts/lab.sh

say() { printf 'image-test: %s\n' "$*" >&2; }
die() {
	say "FAIL: $*"
	[[ -f $T/console.log ]] && { say "console tail:"; tail -n 40 "$T/console.log" >&2; }
	exit 1
}
((EUID == 0)) || die "must run as root (namespaces, tap, qemu)"

cleanup() {
	local rc=$?
	if [[ -f $T/qemu.pid ]]; then
		kill "$(<"$T/qemu.pid")" 2>/dev/null || true
		rm -f "$T/qemu.pid"
	fi
	"$LAB_SH" down --name "$LAB" >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ images
t0=$SECONDS
if [[ ${IMAGE_TEST_SKIP_BUILD:-0} != 1 || ! -f $OUT/anycastd-$V3-amd64.img ]]; then
	"$IMAGE_DIR/build.sh" --bin "$BIN" --version "$V1"
	build_s=$((SECONDS - t0))
	"$IMAGE_DIR/build.sh" --bin "$BIN" --version "$V2" --reuse-rootfs
	"$IMAGE_DIR/build.sh" --bin "$BIN" --version "$V3" --reuse-rootfs --variant never-announces
	say "images built in $((SECONDS - t0)) s (v1 alone $build_s s)"
fi
for v in $V1 $V2 $V3; do [[ -f $OUT/anycastd-$v-amd64.img ]] || die "no image $v"; done
command -v qemu-system-x86_64 >/dev/null && [[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ]] ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-system-x86 ovmf >/dev/null

# ------------------------------------------------------------ lab
"$LAB_SH" down --name "$LAB" >/dev/null 2>&1 || true
rm -rf "$T"
mkdir -p "$T/images"
"$LAB_SH" up --name "$LAB" --nodes 1 --bin "$BIN" >/dev/null
labdir=/run/anycastd-lab/$LAB
n1() { ip netns exec "$LAB-n1" "$@"; }
# The VM takes node n1's place: n1's end of the veth to r1 loses its
# addresses and joins a bridge with the VM's tap. br0 gets a spare address
# so the test can reach the VM over SSH; nothing here touches the host.
n1 ip addr flush dev r1
n1 ip link add br0 type bridge
n1 ip link set r1 master br0
n1 ip tuntap add dev tap0 mode tap
n1 ip link set tap0 master br0
n1 ip link set tap0 up
n1 ip link set br0 up
n1 ip addr add 198.18.1.3/24 dev br0

# ------------------------------------------------------------ node files
cp "$labdir/root.hints" "$T/root.hints"
cat >"$T/node.yaml" <<EOT
version: 1
node: {name: img1, state_dir: /var/lib/anycastd}
service: {interface: lo, addresses: [192.0.2.53, "2001:db8:53::53"]}
# The mini internet's roots, copied onto the config partition: never the real ones.
resolver: {root_hints: root.hints}
bgp:
  asn: 64513
  router_id: 198.18.1.2
  peers:
    - {address: 198.18.1.1, asn: 64496}
    - {address: "fd00:53:1::1", asn: 64496}
health: {interval: 1s, rise: 3, fall: 2, canary_name: canary.anycastd.lab., canary_type: A, degrading: {clock: false}}
drain: {lame_duck: 2s}
EOT
cat >"$T/10-uplink.network" <<'EOT'
[Match]
Name=en*

[Network]
Address=198.18.1.2/24
Gateway=198.18.1.1
Address=fd00:53:1::2/64
Gateway=fd00:53:1::1
IPv6AcceptRA=no
EOT
echo "ANYCASTD_BOOT_CHECK_TIMEOUT=120s" >"$T/boot-check.env"
ssh-keygen -q -t ed25519 -N '' -f "$T/id" -C image-test
cp --sparse=always "$OUT/anycastd-$V1-amd64.img" "$T/disk.img"
"$BIN/anycastctl" image configure "$T/disk.img" "$T/node.yaml" \
	--network "$T/10-uplink.network" --ssh-key "$T/id.pub" \
	--file "$T/root.hints" --file "$T/boot-check.env" >/dev/null || die "image configure"
# A disk bigger than the image: systemd-repart makes /var in the rest.
truncate -s +1G "$T/disk.img"
for v in $V2 $V3; do
	ln "$OUT/anycastd-$v-amd64.img" "$T/images/" 2>/dev/null || cp --sparse=always "$OUT/anycastd-$v-amd64.img" "$T/images/"
	cp "$OUT/anycastd-$v-amd64.img.sha256" "$T/images/"
done
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T/vars.fd"

# ------------------------------------------------------------ boot
n1 qemu-system-x86_64 -name anycastd-image-test -machine q35 -accel "$ACCEL" -cpu max \
	-smp 2 -m 1024 -nodefaults -no-user-config -vga none -display none -monitor none \
	-drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
	-drive if=pflash,format=raw,file="$T/vars.fd" \
	-drive file="$T/disk.img",format=raw,if=virtio,cache=unsafe \
	-netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
	-device virtio-net-pci,netdev=n0,mac=52:54:00:53:00:01 \
	-virtfs local,path="$T/images",mount_tag=images,security_model=none,readonly=on \
	-serial file:"$T/console.log" -pidfile "$T/qemu.pid" -daemonize
boot_t0=$SECONDS

ssh_vm() {
	n1 ssh -i "$T/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes root@198.18.1.2 "$@"
}

# wait_console COUNT: until the console shows anycastd going from warming
# to announcing COUNT times in all: once per boot that reaches announcing.
wait_console() {
	local want=$1 deadline=$((SECONDS + BOOT_TIMEOUT)) n
	while ((SECONDS < deadline)); do
		# One per boot: the node leaves warming for announcing, or for
		# degraded when a degrading check (slow upstreams under TCG) fails.
		n=$(grep -acE 'msg=state .*state=(announcing|degraded) .*from=warming' "$T/console.log" 2>/dev/null || true)
		((n >= want)) && return 0
		[[ -f $T/qemu.pid ]] && kill -0 "$(<"$T/qemu.pid")" 2>/dev/null || die "qemu exited"
		sleep 2
	done
	die "no 'state=announcing' #$want on the serial console within $BOOT_TIMEOUT s"
}

# wait_vm VERSION SLOT: until the VM answers over SSH from that slot and
# version, announcing.
wait_vm() {
	local v=$1 slot=$2 deadline=$((SECONDS + BOOT_TIMEOUT)) got
	while ((SECONDS < deadline)); do
		got=$(ssh_vm 'echo "$(cat /usr/lib/anycastd/image-version) $(grep -o "anycastd-root-[ab]" /proc/cmdline) $(anycastctl status --json | grep -o "\"state\": *\"[a-z]*\"" | head -n1)"' 2>/dev/null || true)
		if [[ $got =~ ^$v\ anycastd-root-$slot\ .*(announcing|degraded) ]]; then
			return 0
		fi
		sleep 3
	done
	die "VM not at version $v slot $slot announcing within $BOOT_TIMEOUT s (last: $got)"
}

check_service() {
	"$LAB_SH" --name "$LAB" wait-paths 1 --timeout 60 192.0.2.53/32 >/dev/null ||
		die "BIRD on r1 has no path for 192.0.2.53/32"
	local ans
	ans=$(ip netns exec "$LAB-c1" dig +time=3 +tries=3 +short @192.0.2.53 www.example.com A) ||
		die "dig through 192.0.2.53 failed"
	[[ -n $ans ]] || die "empty answer for www.example.com through 192.0.2.53"
	say "BIRD has 192.0.2.53/32; www.example.com -> $(echo $ans)"
}

say "booting v$V1 (accel $ACCEL)"
wait_console 1
boot_s=$((SECONDS - boot_t0))
say "v$V1 announcing $boot_s s after qemu started"
check_service
wait_vm "$V1" a
ssh_vm 'findmnt -no SOURCE,FSTYPE,SIZE /var; echo survives >/var/lib/image-test-marker' >"$T/var.txt" ||
	die "no /var on the VM"
say "/var: $(<"$T/var.txt")"

upgrade() {
	ssh_vm "mkdir -p /run/images && (mountpoint -q /run/images || mount -t 9p -o trans=virtio,ro,version=9p2000.L images /run/images) && anycastctl upgrade --force $* " \
		>>"$T/upgrade.log" 2>&1 || true # the reboot cuts the session
	tail -n 3 "$T/upgrade.log" >&2
}

say "upgrade to v$V2"
up_t0=$SECONDS
upgrade --tries 3 "/run/images/anycastd-$V2-amd64.img"
wait_console 2
wait_vm "$V2" b
up_s=$((SECONDS - up_t0))
check_service
for _ in $(seq 30); do
	ents=$(ssh_vm 'ls /efi/loader/entries' 2>/dev/null | tr '\n' ' ')
	if [[ $ents == *anycastd-b.conf* ]]; then break; fi
	sleep 2
done
[[ $ents == *anycastd-b.conf* ]] || die "slot b not blessed (entries: $ents)"
say "v$V2 on slot b, blessed ($ents), $up_s s from upgrade to announcing"

say "upgrade to v$V3 (never announces), one try"
rb_t0=$SECONDS
upgrade --tries 1 "/run/images/anycastd-$V3-amd64.img"
wait_console 3
wait_vm "$V2" b
rb_s=$((SECONDS - rb_t0))
ents=$(ssh_vm 'ls /efi/loader/entries' | tr '\n' ' ')
[[ $ents == *anycastd-a+0-1.conf* ]] || die "slot a not marked bad (entries: $ents)"
grep -q 'boot check: not announcing' "$T/console.log" || say "warning: the boot check's failure is not on the console"
check_service
ssh_vm 'cat /var/lib/image-test-marker' | grep -q survives || die "/var did not survive"
say "rolled back to v$V2 on slot b ($ents), $rb_s s from upgrade"

img=$OUT/anycastd-$V1-amd64.img
cat <<EOT | tee "$T/results.txt"
image_raw_bytes=$(stat -c %s "$img")
image_data_bytes=$(($(du -B1 "$img" | cut -f1)))
image_zstd_bytes=$(stat -c %s "$img.zst")
build_seconds=$(sed -n 's/build_seconds=//p' "$OUT/anycastd-$V1-amd64.build-time")
accel=$ACCEL
boot_to_announce_seconds=$boot_s
upgrade_to_announce_seconds=$up_s
upgrade_rollback_seconds=$rb_s
EOT
say "PASS"
