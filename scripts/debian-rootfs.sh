#!/bin/bash
# A Debian 12 (bookworm) root filesystem for the aws rehearsal (test/aws-rehearsal.test.ts), built
# once with debootstrap and cached as a tarball: ${NETLAB_CACHE:-~/.cache/netlab}/rehearsal/debian-12.tar.
# Prints the tarball's path. Needs root and debootstrap (apt-get install debootstrap).
set -euo pipefail
cache=${NETLAB_CACHE:-$HOME/.cache/netlab}/rehearsal
tarball=$cache/debian-12.tar
mirror=${NETLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -s "$tarball" ]; then echo "$tarball"; exit 0; fi
command -v debootstrap > /dev/null || { echo 'debian-rootfs: debootstrap missing (apt-get install debootstrap)' >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo 'debian-rootfs: needs root' >&2; exit 1; }
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# minbase plus what every cloud image has: systemd's tools, the iproute2 and procps basics.
timeout 1200 debootstrap --variant=minbase --include=ca-certificates,iproute2,procps,kmod,systemd bookworm "$work/root" "$mirror" > "$work/log" 2>&1 || {
  tail -20 "$work/log" >&2
  exit 1
}
tar -C "$work/root" -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
echo "$tarball"
