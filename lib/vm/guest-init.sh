#!/bin/sh
# PID 1 of a vm host (lib/vm), after the initramfs: the mounts a Debian host has, then one
# `netlab up` of the stack named on the kernel command line, on this kernel, as the embedded lab
# (its hosts are network namespaces inside this VM). Its output goes to the serial console, which
# the host side streams; the last line says how it ended. Then the VM powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/netlab/cache/vm/node
export HOME=/root NETLAB_TOOLS_CACHE=/netlab/cache/tools NETLAB_VM_GUEST=1 LANG=C.UTF-8
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^netlab\.$1=//p" | tail -1; }
finish() {
  echo "netlab-vm-exit: $1"
  sync
  echo o > /proc/sysrq-trigger
  sleep 10
}
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /run/netns /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf 2> /dev/null
ip link set lo up
# Two VMs (netlab:vm.hosts: 2): netlab.role says which lab host this VM is. Its NICs are found by the
# MACs the host side gave them: the one on the lab's wire is renamed `wire` and left down for the
# plan (it becomes the host namespace's eth0); the control link gets its address here.
role=$(arg role)
hostname "netlab-${role:-vm}"
if [ -n "$role" ]; then
  modprobe virtio_net 2> /dev/null
  nic() { for d in /sys/class/net/*; do [ "$(cat "$d/address")" = "$1" ] && basename "$d" && return 0; done; return 1; }
  wire=$(nic "$(arg wire)") || finish_early=1
  ctl=$(nic "$(arg ctl)") || finish_early=1
  if [ -z "$finish_early" ]; then
    ip link set "$wire" name wire
    ip link set "$ctl" name ctl
    ip addr add "$(arg ctlip)" dev ctl
    ip link set ctl up
  fi
fi
stack=$(arg stack)
NETLAB_RUN_ID=$(arg runid)
export NETLAB_RUN_ID
flags=$(arg flags | tr ',' ' ')
# netlab.entry: netlab bundled on the host side (lib/vm/bundle.ts), which starts in half the time
# of bin/netlab.js under emulation; bin/netlab.js (through tsx) where none is given.
entry=$(arg entry)
echo "netlab-vm-ready: $(uname -r) $(cut -d' ' -f1 /proc/uptime) $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
cd /netlab/project || finish 1
if [ -n "$finish_early" ]; then
  echo "netlab-vm-error: the VM's NICs with MACs $(arg wire) and $(arg ctl) were not found (virtio_net: $(lsmod | grep -c '^virtio_net'))"
  finish 1
fi
# netlab.exec: a base64 shell command run instead of the stack (the tests' and netlab doctor's probes).
exec_b64=$(arg exec)
if [ -n "$exec_b64" ]; then
  echo "$exec_b64" | base64 -d > /run/netlab-exec.sh
  sh /run/netlab-exec.sh < /dev/null 2>&1
  finish $?
fi
# The server VM: the agent carries out the client VM's requests until this side powers it off.
if [ "$role" = server ]; then
  node "${entry:-bin/netlab.js}" agent < /dev/null 2>&1 | cat
  finish 1
fi
if [ "$role" = client ]; then
  NETLAB_VM_PEER=$(arg peer) NETLAB_VM_WIRE=wire
  export NETLAB_VM_PEER NETLAB_VM_WIRE
fi
# Through a pipe, so netlab prints plain progress lines (no spinner redrawn over a serial line).
# shellcheck disable=SC2086 # flags are netlab's own (--keep is never passed: the VM ends with the run)
{
  node "${entry:-bin/netlab.js}" up "$stack" --results /netlab/results $flags < /dev/null
  echo $? > /run/netlab-status
} 2>&1 | cat
finish "$(cat /run/netlab-status 2> /dev/null || echo 1)"
