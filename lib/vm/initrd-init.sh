#!/bin/busybox sh
# /init of a vm host's initramfs (scripts/vm-initrd.sh). Loads virtio-mmio, virtiofs and overlayfs,
# mounts the shares netlab's host side exports (lib/vm/qemu.ts), builds the root as a tmpfs overlay
# on the cached Debian root, and hands over to lib/vm/guest-init.sh. Any failure powers off with
# a line the host side reports.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() {
  echo "netlab-vm-error: initramfs: $*" > /dev/console
  echo o > /proc/sysrq-trigger
  sleep 10
}
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^netlab\.$1=//p" | tail -1; }
# The accelerator probe (lib/vm/accel.ts): the guest came up, which is all it asks.
if [ "$(arg probe)" = 1 ]; then
  echo 'netlab-vm-probe: ok' > /dev/console
  echo o > /proc/sysrq-trigger
  sleep 10
fi
# insmod does not read /proc/cmdline as modprobe does: a module's `<module>.<param>=…` words
# (virtio_mmio.device=…, which qemu's microvm adds) are passed to it here.
for m in $(cat /modules.order); do
  # shellcheck disable=SC2046 # one word per parameter
  insmod "/lib/modules/$m.ko" $(tr ' ' '\n' < /proc/cmdline | sed -n "s/^$m\.//p") 2> /dev/null || grep -q "^${m} " /proc/modules || fail "cannot load module $m"
done
root=$(arg root)
kernel=$(arg kernel)
mkdir -p /mnt/cache /mnt/rw
mount -t virtiofs -o ro cache /mnt/cache || fail 'cannot mount the cache share'
[ -d "/mnt/cache/$root/usr" ] || fail "no root filesystem at cache/$root"
mount -t tmpfs -o mode=0755 tmpfs /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o "lowerdir=/mnt/cache/$root,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work" overlay /newroot || fail 'cannot mount the overlay root'
mkdir -p /newroot/netlab/cache /newroot/netlab/project /newroot/netlab/results /newroot/lib/modules
mount --move /mnt/cache /newroot/netlab/cache
mount --bind "/newroot/netlab/cache/vm/kernel-$kernel/modules" /newroot/lib/modules || fail "no modules for kernel $kernel"
mount -t virtiofs -o ro project /newroot/netlab/project || fail 'cannot mount the project share'
mount -t virtiofs results /newroot/netlab/results || fail 'cannot mount the results share'
for d in proc sys dev; do mount --move "/$d" "/newroot/$d"; done
exec switch_root /newroot /bin/sh /netlab/project/lib/vm/guest-init.sh
