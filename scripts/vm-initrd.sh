#!/bin/bash
# The initramfs of a vm kernel (scripts/install-vm.sh): static busybox, the modules the guest needs
# before its root is mounted (virtio-mmio, virtiofs, overlayfs) with their dependencies in load
# order, and lib/vm/initrd-init.sh as /init. Usage: vm-initrd.sh <kernel dir> <release>
# Writes <kernel dir>/initrd.img.
set -euo pipefail
dir=$1
release=$2
here=$(cd "$(dirname "$0")" && pwd)
mods=$dir/modules/$release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,mnt,newroot,lib/modules}
cp /bin/busybox "$work/bin/busybox"

# Dependencies first (modules.dep lists each module's own), each once.
declare -A seen=()
order=()
add() {
  local rel=$1 dep
  [ -n "${seen[$rel]:-}" ] && return
  seen[$rel]=1
  for dep in $(grep -m1 "^$rel:" "$mods/modules.dep" | cut -d: -f2-); do add "$dep"; done
  order+=("$rel")
}
for name in virtio_mmio virtiofs overlay; do
  rel=$(grep -m1 -E "/$name\.ko(\.xz|\.zst)?:" "$mods/modules.dep" | cut -d: -f1 || true)
  if [ -z "$rel" ]; then
    # Built into the kernel: nothing to load.
    grep -qE "/$name\.ko" "$mods/modules.builtin" && continue
    echo "vm-initrd: kernel $release has no module $name and does not build it in" >&2
    exit 1
  fi
  add "$rel"
done
: > "$work/modules.order"
for rel in "${order[@]}"; do
  base=$(basename "$rel")
  case "$base" in
    *.xz) xz -dc "$mods/$rel" > "$work/lib/modules/${base%.xz}" ;;
    *.zst) zstd -qdc "$mods/$rel" > "$work/lib/modules/${base%.zst}" ;;
    *) cp "$mods/$rel" "$work/lib/modules/$base" ;;
  esac
  echo "${base%.*}" | sed 's/\.ko$//' >> "$work/modules.order"
done
install -m 0755 "$here/../lib/vm/initrd-init.sh" "$work/init"
(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) > "$dir/initrd.img"
