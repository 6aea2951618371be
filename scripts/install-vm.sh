#!/bin/bash
# What the vm hosts need (netlab:vm.kernel, lib/vm): qemu, and per kernel series a Debian cloud
# kernel with its modules, fetched as Debian packages and cached; plus one small Debian root
# filesystem (debootstrap) with the lab's tools. Usage: install-vm.sh [5.10] [6.1] [6.12]
# (default: all three). Prints nothing when everything is cached. Needs root.
#
# Cache layout (${NETLAB_CACHE:-~/.cache/netlab}/vm):
#   kernel-<series>/vmlinuz, initrd.img, modules/<release>/…, package (name=version), release
#   rootfs-bookworm-<hash>/            the guests' root (read-only lower layer, shared over 9p)
set -euo pipefail
cache=${NETLAB_CACHE:-$HOME/.cache/netlab}/vm
mirror=${NETLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
series=("$@")
[ ${#series[@]} -gt 0 ] || series=(5.10 6.1 6.12)
here=$(cd "$(dirname "$0")" && pwd)

suite_of() {
  case "$1" in
    5.10) echo bullseye ;;
    6.1) echo bookworm ;;
    6.12) echo bookworm-backports ;;
    *)
      echo "install-vm: kernel series $1 is not one netlab knows; allowed: 5.10, 6.1, 6.12" >&2
      exit 2
      ;;
  esac
}
for s in "${series[@]}"; do suite_of "$s" > /dev/null; done
[ "$(id -u)" = 0 ] || {
  echo 'install-vm: needs root (apt-get, debootstrap)' >&2
  exit 1
}

# Host packages: the emulator (with its virtiofsd), busybox, depmod and cpio for the initramfs,
# debootstrap for the root.
need=()
command -v qemu-system-x86_64 > /dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx switch_root || need+=(busybox-static)
command -v debootstrap > /dev/null || need+=(debootstrap)
command -v depmod > /dev/null || need+=(kmod)
command -v cpio > /dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-vm: installing Debian packages: ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
fi

mkdir -p "$cache"
# The kernels: apt with a private configuration (its own sources, lists and package cache), so
# the machine's apt sources are never changed.
apt_dir=$cache/apt
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=- -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache" -o "Dir::State::status=$apt_dir/status" -o APT::Architecture=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
updated=0
apt_update() {
  [ "$updated" = 1 ] && return
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  : > "$apt_dir/status"
  {
    echo "deb $mirror bullseye main"
    echo "deb $mirror bookworm main"
    echo "deb $mirror bookworm-backports main"
  } > "$apt_dir/sources.list"
  apt-get "${apt_opts[@]}" update -qq > /dev/null
  updated=1
}

for s in "${series[@]}"; do
  dir=$cache/kernel-$s
  [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ] && continue
  suite=$(suite_of "$s")
  apt_update
  echo "install-vm: fetching the Debian $suite cloud kernel (series $s)" >&2
  work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # The metapackage of the suite names the exact kernel package.
  (cd "$work" && apt-get "${apt_opts[@]}" download -qq "linux-image-cloud-amd64/$suite" > /dev/null)
  image=$(dpkg-deb -f "$work"/linux-image-cloud-amd64_*.deb Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*-cloud-amd64\).*/\1/p' | head -1)
  [ -n "$image" ] || {
    echo "install-vm: cannot tell the kernel package of linux-image-cloud-amd64/$suite" >&2
    exit 1
  }
  (cd "$work" && apt-get "${apt_opts[@]}" download -qq "$image/$suite" > /dev/null)
  deb=$(ls "$work/$image"_*.deb)
  dpkg-deb -x "$deb" "$work/x"
  release=${image#linux-image-}
  # The package leaves modules.dep to its postinst: made here, against the package's own tree.
  depmod -b "$work/x" "$release"
  mkdir -p "$work/out/modules"
  cp "$work/x/boot/vmlinuz-$release" "$work/out/vmlinuz"
  mv "$work/x/lib/modules/$release" "$work/out/modules/$release"
  echo "$release" > "$work/out/release"
  echo "$image=$(dpkg-deb -f "$deb" Version)" > "$work/out/package"
  bash "$here/vm-initrd.sh" "$work/out" "$release"
  rm -rf "$dir"
  mv "$work/out" "$dir"
  rm -rf "$work"
  trap - EXIT
done

# The guests' root: Debian 12 minbase with what the lab runs inside a host. Cached by the hash of
# this package list, shared read-only with every guest (each gets a tmpfs overlay).
pkgs=iproute2,iputils-ping,procps,kmod,util-linux,nginx-light,apache2-utils,wrk,curl,iptables,nftables,ipset,conntrack,ipvsadm,ca-certificates
hash=$(echo "$pkgs" | sha256sum | cut -c1-12)
root=$cache/rootfs-bookworm-$hash
if [ ! -x "$root/usr/sbin/ipvsadm" ]; then
  echo "install-vm: building the guests' Debian 12 root with debootstrap (a few minutes, once)" >&2
  work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # Debian would start the packaged nginx inside the build root; policy-rc.d stops it.
  timeout 1800 debootstrap --variant=minbase --include="$pkgs" bookworm "$work/root" "$mirror" > "$work/log" 2>&1 || {
    tail -20 "$work/log" >&2
    exit 1
  }
  # Mount points the guest's init uses.
  mkdir -p "$work/root/netlab/project" "$work/root/netlab/tools" "$work/root/netlab/results" "$work/root/netlab/state"
  rm -rf "$work/root/var/cache/apt/archives"/*.deb "$work/root/var/lib/apt/lists"/*_Packages
  rm -rf "$root"
  mv "$work/root" "$root"
  rm -rf "$work"
  trap - EXIT
fi
ln -sfn "$(basename "$root")" "$cache/rootfs"

# The guests run netlab with this machine's Node (a copy: the guest sees only the cache, the
# project and the results folder).
node_bin=$(readlink -f "$(command -v node)")
mkdir -p "$cache/node"
cmp -s "$node_bin" "$cache/node/node" || cp "$node_bin" "$cache/node/node"
