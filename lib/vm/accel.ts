// Which accelerator the vm hosts get here. KVM is only said to work when a probe guest really boots
// under it: /dev/kvm can exist on a machine that cannot run KVM guests (nested virtualisation that
// fails on a model-specific register, or a guest that hangs in early boot).
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { type Accel, GUEST_LINES, qemuArgv, tscKhzOf } from './qemu.ts';
import type { VmKernel } from '../spec/schema.ts';

export interface AccelState {
  accel: Accel;
  ok: boolean;
  /** Why not, or how long the probe guest took to come up. */
  detail: string;
  bootSeconds: number | null;
}

/** The probe guest: the kernel and initramfs alone (no root, no shares); /init prints a line and powers off. */
export async function probeAccel(accel: Accel, o: { qemu: string; kernel: VmKernel; kernelDir: string; timeoutMs?: number }): Promise<AccelState> {
  const no = (detail: string): AccelState => ({ accel, ok: false, detail, bootSeconds: null });
  if (accel === 'kvm') {
    if (!existsSync('/dev/kvm'))
      return no(
        'no /dev/kvm: the kvm module is not loaded (modprobe kvm_intel or kvm_amd), the CPU lacks VT-x/AMD-V, or this is a VM without nested virtualisation',
      );
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    } catch {
      return no('/dev/kvm is not readable and writable by this user (add it to group kvm, or run as root)');
    }
  }
  if (!existsSync(`${o.kernelDir}/vmlinuz`)) return no(`no vm kernel to probe with (${o.kernelDir}): run bash scripts/install-vm.sh ${o.kernel}`);
  const timeoutMs = o.timeoutMs ?? 20_000;
  const argv = qemuArgv({
    qemu: o.qemu,
    accel,
    kernel: o.kernel,
    kernelDir: o.kernelDir,
    rootfs: '-',
    memoryMiB: 256,
    cpus: 1,
    shares: [],
    args: { probe: '1' },
    tscKhz: hostTscKhz(),
  });
  const t0 = Date.now();
  return new Promise<AccelState>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(no(`cannot start ${o.qemu}: ${e.message}`));
    });
    child.on('close', () => {
      clearTimeout(timer);
      const seconds = (Date.now() - t0) / 1000;
      if (out.includes(GUEST_LINES.probe)) {
        resolve({ accel, ok: true, detail: `a probe guest (kernel ${o.kernel}) booted and powered off in ${seconds.toFixed(1)} s`, bootSeconds: seconds });
        return;
      }
      const qemuSaid = err
        .split('\n')
        .map((l) => l.replace(/^qemu-system-x86_64: /, '').trim())
        .find((l) => l && !/^warning:/.test(l));
      resolve(
        no(
          qemuSaid
            ? `qemu refused or failed under ${accel}: ${qemuSaid}`
            : `the probe guest printed nothing within ${timeoutMs / 1000} s under ${accel} (it hangs in early boot here)`,
        ),
      );
    });
  });
}

/** This machine's TSC rate for TCG guests (lib/vm/qemu.ts tscKhzOf), or null. */
export function hostTscKhz(): number | null {
  try {
    return tscKhzOf(
      readFileSync('/proc/cpuinfo', 'utf8'),
      readFileSync('/sys/devices/system/clocksource/clocksource0/current_clocksource', 'utf8'),
      existsSync('/sys/devices/system/cpu/cpu0/cpufreq'),
    );
  } catch {
    return null;
  }
}
