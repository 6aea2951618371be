// CPU used during a measured point: the whole machine from /proc/stat (split user, system,
// softirq, irq) and single processes from their cgroup's cpu.stat. Parsing is pure; sampling
// reads two files.
import { readFileSync } from 'node:fs';

/** Linux reports /proc/stat in USER_HZ ticks, fixed at 100 per second on every architecture's ABI. */
export const USER_HZ = 100;

export interface StatSample {
  at: number; // ms, monotonic
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** The aggregate `cpu` line of /proc/stat, in ticks. */
export function parseProcStat(text: string, at: number): StatSample {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat has no aggregate "cpu" line');
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return { at, user: user!, nice: nice!, system: system!, idle: idle!, iowait: iowait ?? 0, irq: irq ?? 0, softirq: softirq ?? 0, steal: steal ?? 0 };
}

/** usage_usec of a cgroup v2 cpu.stat, null when the file cannot be read. */
export function parseCpuStatUsec(text: string): number | null {
  const m = /^usage_usec (\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

export interface CpuSample {
  stat: StatSample;
  cgroups: (number | null)[];
}

export function sampleCpu(cgroups: string[]): CpuSample {
  const read = (path: string) => {
    try {
      return parseCpuStatUsec(readFileSync(`${path}/cpu.stat`, 'utf8'));
    } catch {
      return null;
    }
  };
  return { stat: parseProcStat(readFileSync('/proc/stat', 'utf8'), performance.now()), cgroups: cgroups.map(read) };
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Cores used between two samples: ticks / USER_HZ / elapsed seconds. */
export function cpuBetween(
  a: CpuSample,
  b: CpuSample,
): {
  seconds: number;
  cores: number;
  user: number;
  nice: number;
  system: number;
  softirq: number;
  irq: number;
  steal: number;
  cgroupCores: (number | null)[];
} {
  const seconds = (b.stat.at - a.stat.at) / 1000;
  const d = (k: keyof StatSample) => (b.stat[k] - a.stat[k]) / USER_HZ / seconds;
  const user = d('user');
  const nice = d('nice');
  const system = d('system');
  const softirq = d('softirq');
  const irq = d('irq');
  return {
    seconds: r3(seconds),
    // Every busy tick, nice included. Busy time as a whole is close to exact (with NO_HZ the idle
    // time is measured, not sampled); its split by kind is tick-sampled. The busy-poll spinners'
    // exact CPU is subtracted by the caller (lib/local/run.ts withoutSpinners).
    cores: r3(user + nice + system + softirq + irq),
    user: r3(user),
    nice: r3(nice),
    system: r3(system),
    softirq: r3(softirq),
    irq: r3(irq),
    // Ticks the hypervisor gave to someone else. The kernel books them as steal instead of
    // user or system, so on a starved VM `cores` can read 0 while our cgroups ran.
    steal: r3(d('steal')),
    cgroupCores: a.cgroups.map((u, i) => {
      const v = b.cgroups[i];
      return u === null || v === null || v === undefined ? null : r3((v - u) / 1e6 / seconds);
    }),
  };
}
