// Host tuning as data: (topology, NICs, kernel, tuning spec) → the exact writes and commands, in
// order. Pure; `netlab tuning-plan` prints it and the runners execute it. The `study` profile is
// seed 001's setup, derived from the topology rather than copied, so it fits any instance type.
import { cpuMask, formatCpuList, nodes, physicalCpus, type Topology } from './topology.ts';
import { PROFILES, SCHED_MIGRATION_COST, type Tuning } from './profile.ts';
import { shq } from '../core/shell.ts';

export interface Nic {
  name: string;
  rxQueues: number;
  txQueues: number;
  /** IRQ number of each queue (queue i ↔ irqs[i]); empty when unknown (e.g. a veth). */
  irqs: number[];
  /** Network namespace the NIC lives in; absent = the host itself. */
  netns?: string;
}

export interface TuningHost {
  topology: Topology;
  /** `uname -r` of the machine. */
  kernel: string;
  nics: Nic[];
  /**
   * true: both "hosts" are network namespaces of one machine (the embedded lab). Per-namespace
   * sysctls and NOTRACK rules then go into every lab namespace, machine-wide settings are saved
   * and restored, and what only a real NIC or a whole machine has (IRQs, tuned) is skipped.
   */
  embedded: boolean;
  /** The lab's namespaces (embedded only). */
  namespaces: string[];
  /** iptables command for the raw table (the embedded lab uses the legacy backend throughout). */
  iptables: string;
  /** Benchmark traffic that NOTRACK exempts. */
  traffic: { tcpPorts: number[]; udpPorts: number[] };
}

export type TuningStep =
  | {
      kind: 'write';
      /** The spec setting this belongs to (`rps`, a sysctl name, …): what `tuning.optional` names. */
      setting: string;
      /** Written inside this network namespace; absent = on the machine itself (saved and restored). */
      netns?: string;
      path: string;
      value: string;
      /** The file is in debugfs (mounted privately for the write). */
      debugfs?: boolean;
      optional: boolean;
      why: string;
    }
  | { kind: 'command'; setting: string; netns?: string; argv: string[]; optional: boolean; why: string }
  | { kind: 'skip'; setting: string; why: string };

export const RFS_SOCK_FLOW_ENTRIES = 65536;
export const RFS_FLOW_CNT = 32768;

/** `6.18.44-cloud-amd64` → [6, 18]. */
export function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) throw new Error(`cannot read a kernel version from ${JSON.stringify(release)}`);
  return [Number(m[1]), Number(m[2])];
}

const atLeast = (release: string, major: number, minor: number) => {
  const [a, b] = kernelVersion(release);
  return a > major || (a === major && b >= minor);
};

/** sysctls under net.core that the kernel keeps per network namespace (the rest of net.core is machine-wide). */
const NETNS_CORE = new Set([
  'somaxconn',
  'optmem_max',
  'rmem_default',
  'rmem_max',
  'wmem_default',
  'wmem_max',
  'rps_default_mask',
  'tstamp_allow_data',
  'txrehash',
]);
/** net.ipv4 sysctls that only the initial namespace shows (compared on Linux 6.18: root vs a new namespace). */
const MACHINE_WIDE_NET = new Set(
  [
    'cipso_cache_bucket_size',
    'cipso_cache_enable',
    'cipso_rbm_optfmt',
    'cipso_rbm_strictvalid',
    'fib_sync_mem',
    'inet_peer_maxttl',
    'inet_peer_minttl',
    'inet_peer_threshold',
    'ipfrag_secret_interval',
    'tcp_available_ulp',
    'tcp_low_latency',
    'tcp_max_orphans',
    'tcp_mem',
    'udp_mem',
  ].map((k) => `net.ipv4.${k}`),
);

/** Whether a sysctl belongs to a network namespace (true) or to the whole machine (false). */
export function perNamespace(key: string): boolean {
  if (!key.startsWith('net.') || MACHINE_WIDE_NET.has(key)) return false;
  if (key.startsWith('net.core.')) return NETNS_CORE.has(key.slice(9)) || key.startsWith('net.core.xfrm_');
  return true;
}

export const sysctlPath = (key: string) => `/proc/sys/${key.replace(/\./g, '/')}`;

/** Sysctls of seed 001 that newer kernels no longer have: skipped with the reason on those kernels. */
const REMOVED: Record<string, { since: [number, number]; why: string }> = {
  'net.ipv4.tcp_tw_recycle': { since: [4, 12], why: 'removed in Linux 4.12 (it broke clients behind NAT)' },
};

/** CPUs for the two ends' processes: the physical cores, shared by the ends only on one machine. */
export function placement(t: Topology, embedded: boolean): { client: number[]; server: number[] } {
  const phys = physicalCpus(t);
  if (!embedded || phys.length < 2) return { client: phys, server: phys };
  const half = Math.floor(phys.length / 2);
  return { client: phys.slice(0, half), server: phys.slice(half) };
}

/** nginx `worker_cpu_affinity`: worker i on CPU cpus[i mod n], as binary masks. */
export function workerCpuAffinity(cpus: number[], workers: number): string {
  return Array.from({ length: workers }, (_, i) => `1${'0'.repeat(cpus[i % cpus.length]!)}`).join(' ');
}

/** Every write and command a tuning spec asks for on one host, in order; skips carry the reason. */
export function tuningSteps(tuning: Tuning, host: TuningHost): TuningStep[] {
  const t = host.topology;
  const n = t.cpus.length;
  const byNode = nodes(t);
  const irqCpus = byNode.map((cpus) => cpus[0]!);
  const opt = (setting: string) => tuning.optional.includes(setting);
  const steps: TuningStep[] = [];
  const write = (setting: string, path: string, value: string, why: string, netns?: string, debugfs?: boolean) =>
    steps.push({ kind: 'write', setting, ...(netns ? { netns } : {}), path, value, ...(debugfs ? { debugfs } : {}), optional: opt(setting), why });
  const queue = (nic: Nic, dir: 'rx' | 'tx', q: number, file: string) => `/sys/class/net/${nic.name}/queues/${dir}-${q}/${file}`;

  if (tuning.irqAffinity) {
    const noIrq = host.nics.filter((nic) => !nic.irqs.length);
    if (host.embedded || noIrq.length === host.nics.length) {
      steps.push({
        kind: 'skip',
        setting: 'irqAffinity',
        why: `${host.nics.map((x) => x.name).join(', ') || 'no NIC'}: no per-queue interrupts (a veth has none), so neither IRQ pinning nor stopping irqbalance applies`,
      });
    } else {
      steps.push({
        kind: 'command',
        setting: 'irqAffinity',
        argv: ['systemctl', 'stop', 'irqbalance'],
        optional: opt('irqAffinity'),
        why: 'irqbalance would move the pinned interrupts again',
      });
      for (const nic of host.nics) {
        if (!nic.irqs.length) steps.push({ kind: 'skip', setting: 'irqAffinity', why: `${nic.name} has no per-queue interrupts` });
        nic.irqs.forEach((irq, q) =>
          write(
            'irqAffinity',
            `/proc/irq/${irq}/smp_affinity_list`,
            String(irqCpus[q % irqCpus.length]),
            `${nic.name} queue ${q}'s interrupt on the first CPU of NUMA node ${q % irqCpus.length}`,
          ),
        );
      }
    }
  }
  if (tuning.rps) {
    const rps = physicalCpus(t).filter((c) => !irqCpus.includes(c));
    const cpus = rps.length ? rps : physicalCpus(t);
    for (const nic of host.nics)
      for (let q = 0; q < nic.rxQueues; q++)
        write(
          'rps',
          queue(nic, 'rx', q, 'rps_cpus'),
          cpuMask(cpus, n),
          rps.length
            ? `RPS on the physical cores but the IRQ CPUs (${formatCpuList(cpus)})`
            : `RPS on every physical core (${formatCpuList(cpus)}): no core is left once the IRQ CPUs are out`,
          nic.netns,
        );
  }
  if (tuning.xps)
    for (const nic of host.nics)
      for (let q = 0; q < nic.txQueues; q++) {
        const node = byNode[q % byNode.length]!;
        write('xps', queue(nic, 'tx', q, 'xps_cpus'), cpuMask(node, n), `XPS: every CPU of NUMA node ${q % byNode.length} (${formatCpuList(node)})`, nic.netns);
      }
  if (tuning.rfs) {
    write('rfs', sysctlPath('net.core.rps_sock_flow_entries'), String(RFS_SOCK_FLOW_ENTRIES), 'RFS flow table (machine-wide)');
    for (const nic of host.nics)
      for (let q = 0; q < nic.rxQueues; q++) write('rfs', queue(nic, 'rx', q, 'rps_flow_cnt'), String(RFS_FLOW_CNT), 'RFS per-queue flow count', nic.netns);
  }
  for (const [key, value] of Object.entries(tuning.sysctls)) {
    const gone = REMOVED[key];
    if (gone && atLeast(host.kernel, ...gone.since)) {
      steps.push({ kind: 'skip', setting: key, why: `${gone.why}; this kernel is ${host.kernel}` });
      continue;
    }
    const why =
      key === 'net.ipv4.tcp_low_latency' && atLeast(host.kernel, 4, 14) ? `sysctl ${key} (accepted but without effect since Linux 4.14)` : `sysctl ${key}`;
    if (host.embedded && perNamespace(key)) for (const ns of host.namespaces) write(key, sysctlPath(key), value, why, ns);
    else write(key, sysctlPath(key), value, host.embedded ? `${why} (machine-wide)` : why);
  }
  if (tuning.schedMigrationCostNs !== null) {
    const v = String(tuning.schedMigrationCostNs);
    if (atLeast(host.kernel, 5, 13))
      write(
        SCHED_MIGRATION_COST,
        '/sys/kernel/debug/sched/migration_cost_ns',
        v,
        'scheduler migration cost: threads stay on their CPU (in debugfs since Linux 5.13)',
        undefined,
        true,
      );
    else write(SCHED_MIGRATION_COST, sysctlPath(SCHED_MIGRATION_COST), v, 'scheduler migration cost: threads stay on their CPU');
  }
  if (tuning.tuned !== null) {
    if (host.embedded)
      steps.push({
        kind: 'skip',
        setting: 'tuned',
        why: `tuned profile ${tuning.tuned} retunes the whole machine (CPU governor, scheduler, power), not the lab's namespaces; applied on AWS hosts only`,
      });
    else
      steps.push({
        kind: 'command',
        setting: 'tuned',
        argv: ['tuned-adm', 'profile', tuning.tuned],
        optional: opt('tuned'),
        why: `tuned profile ${tuning.tuned}`,
      });
  }
  if (tuning.notrack) {
    const rules: string[][] = [];
    for (const chain of ['PREROUTING', 'OUTPUT']) {
      for (const port of host.traffic.tcpPorts) rules.push([chain, '-p', 'tcp', '--dport', String(port)], [chain, '-p', 'tcp', '--sport', String(port)]);
      for (const port of host.traffic.udpPorts) rules.push([chain, '-p', 'udp', '--dport', String(port)]);
    }
    const ports = [...host.traffic.tcpPorts.map((p) => `tcp ${p}`), ...host.traffic.udpPorts.map((p) => `udp ${p}`)].join(', ');
    for (const ns of host.embedded ? host.namespaces : [undefined])
      for (const r of rules)
        steps.push({
          kind: 'command',
          setting: 'notrack',
          ...(ns ? { netns: ns } : {}),
          argv: [host.iptables, '-t', 'raw', '-A', ...r, '-j', 'NOTRACK'],
          optional: opt('notrack'),
          why: `no conntrack for the benchmark traffic (${ports})`,
        });
  }
  return steps;
}

/** Seed 001's IRQ/RPS/XPS/RFS part alone, as `netlab tuning-plan --only-nic` prints it. */
export function studyTuning(t: Topology, nic: Nic): TuningStep[] {
  const nicOnly: Tuning = { ...PROFILES.none, profile: 'study', irqAffinity: true, rps: true, xps: true, rfs: true };
  return tuningSteps(nicOnly, {
    topology: t,
    kernel: '6.1',
    nics: [nic],
    embedded: false,
    namespaces: [],
    iptables: 'iptables',
    traffic: { tcpPorts: [], udpPorts: [] },
  });
}

export function tuningStepText(s: TuningStep): string {
  const where = (ns?: string) => (ns ? `ip netns exec ${ns} ` : '');
  if (s.kind === 'write') {
    const echo = `echo ${shq(s.value)} > ${s.path}`;
    const cmd = s.netns
      ? `${where(s.netns)}sh -c ${shq(echo)}`
      : s.debugfs
        ? `unshare --mount sh -c ${shq(`mount -t debugfs none /sys/kernel/debug && ${echo}`)}`
        : echo;
    return `${cmd}  # ${s.why}${s.optional ? ' (optional)' : ''}`;
  }
  if (s.kind === 'command') return `${where(s.netns)}${s.argv.map(shq).join(' ')}  # ${s.why}${s.optional ? ' (optional)' : ''}`;
  return `# skipped ${s.setting}: ${s.why}`;
}

export function renderTuning(steps: TuningStep[]): string {
  return steps.map(tuningStepText).join('\n') + '\n';
}
