#!/usr/bin/env bash
# build.sh builds the anycastd appliance image: a raw GPT disk with
# systemd-boot, two read-only squashfs root slots, a FAT config partition
# (label ANYCASTD) and a state partition made on first boot. See docs/image.md.
#
# usage: image/build.sh [--out DIR] [--version V] [--bin DIR] [--variant NAME]
#                       [--reuse-rootfs] [--keep-work]
#
# The pipeline is four phases, one file each under image/phases/: rootfs
# (mmdebstrap), configure (the appliance's files), assemble (partitions, disk,
# compressed copy, bmap, SHA-256), verify (reads the outputs back). Each phase
# is timed; a failure names the phase. Needs root (mmdebstrap chroots), the
# Debian mirror and nothing else: no loop devices, no mounts of vfat.
set -euo pipefail

IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$IMAGE_DIR/.." && pwd)
export IMAGE_DIR REPO_DIR

OUT=$REPO_DIR/out
VERSION=${IMAGE_VERSION:-}
BIN=$REPO_DIR/bin
# A variant is a directory under image/variants/ copied over the rootfs last;
# the image test uses one to make an image whose node never announces.
VARIANT=
REUSE_ROOTFS=0
KEEP_WORK=0

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($# > 0)); do
	case $1 in
	--out) OUT=${2:?}; shift 2 ;;
	--version) VERSION=${2:?}; shift 2 ;;
	--bin) BIN=${2:?}; shift 2 ;;
	--variant) VARIANT=${2:?}; shift 2 ;;
	--reuse-rootfs) REUSE_ROOTFS=1; shift ;;
	--keep-work) KEEP_WORK=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

# The version orders boot entries (systemd-boot compares them like
# strverscmp), so the default is the last commit's time, which grows.
if [[ -z $VERSION ]]; then
	VERSION=$(git -C "$REPO_DIR" log -1 --format=%cd --date=format:%Y.%m%d.%H%M%S 2>/dev/null || date -u +%Y.%m%d.%H%M%S)
fi
[[ $VERSION =~ ^[0-9][0-9A-Za-z.+~_-]*$ ]] || { echo "image: bad version '$VERSION'" >&2; exit 2; }
[[ -z $VARIANT || -d $IMAGE_DIR/variants/$VARIANT ]] || { echo "image: no variant $VARIANT" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BIN=$(cd "$BIN" && pwd)
WORK=$OUT/work
NAME=anycastd-$VERSION-amd64
export OUT VERSION BIN VARIANT REUSE_ROOTFS WORK NAME
# The daemon's own version string (git describe), shown in the boot entry.
DAEMON_VERSION=$(git -C "$REPO_DIR" describe --always --dirty 2>/dev/null || echo dev)
export DAEMON_VERSION

((EUID == 0)) || { echo "image: must run as root (mmdebstrap chroots into the rootfs)" >&2; exit 1; }

# shellcheck source=image/phases/lib.sh
source "$IMAGE_DIR/phases/lib.sh"

start=$SECONDS
for phase in rootfs configure assemble verify; do
	run_phase "$phase"
done
say "done in $((SECONDS - start)) s: $OUT/$NAME.img"
printf 'build_seconds=%d\n' "$((SECONDS - start))" >"$OUT/$NAME.build-time"
((KEEP_WORK)) || rm -rf "$WORK/rootfs-$VERSION" "$WORK/parts-$VERSION"
