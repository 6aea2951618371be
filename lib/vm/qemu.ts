// The vm host's commands, pure: qemu's command line for one microVM, virtiofsd's for each share,
// and the cache layout scripts/install-vm.sh fills. lib/vm/run.ts runs them.
import { join } from 'node:path';
import type { VmKernel } from '../spec/schema.ts';

/** Which accelerator runs the guest: KVM (hardware virtualisation) or TCG (qemu's emulation). */
export type Accel = 'kvm' | 'tcg';

/** The Debian suite whose cloud kernel is each series (scripts/install-vm.sh fetches the same). */
export const KERNEL_SUITES: Record<VmKernel, string> = { '5.10': 'bullseye', '6.1': 'bookworm', '6.12': 'bookworm-backports' };

/** Where install-vm.sh caches things, under the netlab cache (~/.cache/netlab). */
export interface VmCache {
  /** The netlab cache itself, shared read-only with the guest as `cache`. */
  root: string;
  kernelDir: (k: VmKernel) => string;
  /** The guests' Debian root, relative to `root` (a symlink install-vm.sh points at the current build). */
  rootfs: string;
  /** This machine's Node, copied for the guest. */
  node: string;
}

export function vmCache(cacheRoot: string): VmCache {
  return {
    root: cacheRoot,
    kernelDir: (k) => join(cacheRoot, 'vm', `kernel-${k}`),
    rootfs: 'vm/rootfs',
    node: join(cacheRoot, 'vm', 'node', 'node'),
  };
}

/** A directory of this machine the guest mounts over virtio-fs (one virtiofsd each). */
export interface Share {
  tag: 'cache' | 'project' | 'results';
  dir: string;
  socket: string;
}

/** The three shares of a VM: the netlab cache and the project (mounted read-only), the results
 * folder (read-write); their sockets in `sockDir`, named after the VM when there are two
 * (`client-cache.sock`: a virtiofsd serves one VM). The run and `netlab plan` both take them here. */
export const vmShares = (sockDir: string, dirs: { cache: string; project: string; results: string }, vm?: VmRole): Share[] =>
  (['cache', 'project', 'results'] as const).map((tag) => ({ tag, dir: dirs[tag], socket: join(sockDir, `${vm ? `${vm}-` : ''}${tag}.sock`) }));

/** Which lab host a VM is, when each has its own (netlab:vm.hosts: 2). */
export type VmRole = 'client' | 'server';

/** A NIC of a VM: a virtio-net device on tap `tap` (in the namespace qemu runs in), with a fixed MAC. */
export interface Nic {
  /** `wire` (the lab's wire between the hosts) or `ctl` (the control link to the server VM's agent). */
  id: 'wire' | 'ctl';
  tap: string;
  mac: string;
}

/**
 * Two VMs, one per lab host, are joined on this machine inside the lab namespace `netns`: bridge
 * `wire` with each VM's tap on the lab's wire, and bridge `ctl` with each VM's tap on the control link.
 * Nothing is in the root namespace, and deleting `netns` removes the taps and bridges.
 */
export interface PairNet {
  netns: string;
  mtu: number;
  nics: Record<VmRole, Nic[]>;
}

export function pairNet(netns: string, mtu: number): PairNet {
  const nics = (role: VmRole, i: number): Nic[] => [
    { id: 'wire', tap: `${role[0]}-wire`, mac: `0e:6e:6c:00:02:0${i}` },
    { id: 'ctl', tap: `${role[0]}-ctl`, mac: `0e:6e:6c:00:03:0${i}` },
  ];
  return { netns, mtu, nics: { client: nics('client', 1), server: nics('server', 2) } };
}

/** The commands that make a PairNet (the namespace first; lib/vm/run.ts records it for every teardown). */
export function pairNetSetup(p: PairNet): string[][] {
  const n = (...args: string[]) => ['ip', '-n', p.netns, ...args];
  const out: string[][] = [['ip', 'netns', 'add', p.netns]];
  for (const br of ['wire', 'ctl']) out.push(n('link', 'add', br, 'mtu', String(p.mtu), 'type', 'bridge'));
  for (const nic of [...p.nics.client, ...p.nics.server]) {
    out.push(n('tuntap', 'add', 'mode', 'tap', 'name', nic.tap));
    out.push(n('link', 'set', nic.tap, 'mtu', String(p.mtu), 'master', nic.id, 'up'));
  }
  for (const br of ['wire', 'ctl']) out.push(n('link', 'set', br, 'up'));
  return out;
}

export interface VmLaunch {
  qemu: string;
  accel: Accel;
  kernel: VmKernel;
  kernelDir: string;
  /** The guest's root relative to the cache share. */
  rootfs: string;
  memoryMiB: number;
  cpus: number;
  shares: Share[];
  /** Kernel command-line words netlab's init reads (netlab.stack, netlab.probe, …). */
  args: Record<string, string>;
  /** NICs (two VMs); none: the guest has no network device at all. */
  nics?: Nic[];
  /**
   * TCG: this machine's TSC rate in kHz (hostTscKhz), which is the guest's too (qemu's emulated
   * TSC reads the host's). Without it the guest calibrates its TSC against the emulated PIT, which
   * fails when this machine is busy (the guest then hangs in early boot), and even when it works
   * the guest finds its vCPUs' TSCs "unsynchronized" and keeps time in 4 ms jiffies, so every
   * latency it measures is rounded to 4 ms. Given, the guest takes the rate as is and the TSC as
   * its clock source (tsc=reliable).
   */
  tscKhz?: number | null;
}

/**
 * The CPU model a TCG guest gets: Nehalem (x86-64-v2: SSE4.2 and POPCNT; no AVX, no XSAVE), with
 * `nopti` on the kernel command line (see qemuArgv). Against `max`, measured in guests of 6.1 here
 * (README, "The kernel as a variable"): 20 process starts 1.9–2.1 s instead of 4.2 s, boot 5.4–6.3 s
 * instead of 8.4–9.3 s, and wrk over loopback as fast or faster.
 */
export const TCG_CPU = 'Nehalem';

/**
 * qemu's microvm: no firmware, no PCI, virtio-mmio devices only, the serial port as the console on
 * stdio. PIT, PIC and RTC are on: without a PIT the kernel cannot calibrate the TSC under TCG and
 * hangs. The guest's memory is a shared memfd, which vhost-user (virtiofsd) needs; -no-reboot makes
 * any reboot or panic (panic=-1) end qemu.
 */
export function qemuArgv(l: VmLaunch): string[] {
  const append = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    ...Object.entries(l.args).map(([k, v]) => `netlab.${k}=${v}`),
    `netlab.kernel=${l.kernel}`,
    `netlab.root=${l.rootfs}`,
    ...(l.accel === 'tcg' && l.tscKhz ? [`tsc_early_khz=${l.tscKhz}`, 'tsc=reliable'] : []),
    // TCG_CPU claims an Intel CPU that Meltdown affects, so the guest would isolate its page
    // tables: a CR3 switch on every system call, and each one flushes qemu's software TLB. qemu's
    // emulated CPU does not speculate; the isolation only halved the guest's network throughput.
    ...(l.accel === 'tcg' ? ['nopti'] : []),
  ].join(' ');
  const argv = [
    l.qemu,
    '-M',
    'microvm,pit=on,pic=on,rtc=on,memory-backend=mem',
    // virtio 1.0 devices: vhost-user (virtiofsd) refuses microvm's default legacy virtio-mmio.
    '-global',
    'virtio-mmio.force-legacy=false',
    '-accel',
    l.accel,
    // KVM: the host's CPU as it is. TCG: TCG_CPU.
    '-cpu',
    l.accel === 'kvm' ? 'host' : TCG_CPU,
    '-smp',
    String(l.cpus),
    '-m',
    `${l.memoryMiB}M`,
    '-object',
    `memory-backend-memfd,id=mem,size=${l.memoryMiB}M,share=on`,
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    '-serial',
    'stdio',
    '-kernel',
    join(l.kernelDir, 'vmlinuz'),
    '-initrd',
    join(l.kernelDir, 'initrd.img'),
    '-append',
    append,
  ];
  for (const [i, s] of l.shares.entries())
    argv.push('-chardev', `socket,id=fs${i},path=${s.socket}`, '-device', `vhost-user-fs-device,chardev=fs${i},tag=${s.tag}`);
  for (const nic of l.nics ?? [])
    argv.push('-netdev', `tap,id=${nic.id},ifname=${nic.tap},script=no,downscript=no`, '-device', `virtio-net-device,netdev=${nic.id},mac=${nic.mac}`);
  return argv;
}

/** One virtiofsd serving `dir` on `socket`. It sandboxes itself in namespaces of its own (mount,
 * pid, net), which end with it; the guest mounts read-only every share but results. */
export const virtiofsdArgv = (bin: string, s: Share): string[] => [bin, `--socket-path=${s.socket}`, '-o', `source=${s.dir}`, '-o', 'cache=auto'];

/** Lines the guest prints on its serial console that the host side reads (lib/vm/*.sh). */
export const GUEST_LINES = {
  probe: 'netlab-vm-probe: ok',
  /** `netlab-vm-ready: <uname -r> <uptime seconds> <clock source>`: the guest's init has its root and mounts. */
  ready: /^netlab-vm-ready: (\S+) ([\d.]+) (\S+)\s*$/,
  /** `netlab-vm-exit: <status>`: netlab up inside the guest ended with this status. */
  exit: /^netlab-vm-exit: (\d+)\s*$/,
  error: /^netlab-vm-error: (.*)$/,
} as const;

/**
 * This machine's TSC rate in kHz, when it is one fixed rate the kernel trusts: constant and
 * nonstop TSC, TSC as the clock source, and no frequency scaling (then /proc/cpuinfo's "cpu MHz"
 * is the TSC's rate). Otherwise null, and a TCG guest calibrates on its own.
 */
export function tscKhzOf(cpuinfo: string, clocksource: string, cpufreq: boolean): number | null {
  const flags = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)$/m.exec(cpuinfo)?.[1]);
  if (!flags.includes('constant_tsc') || !flags.includes('nonstop_tsc') || clocksource.trim() !== 'tsc' || cpufreq || !(mhz > 100)) return null;
  return Math.round(mhz * 1000);
}
