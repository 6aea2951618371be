// Host tuning as data: (topology, NIC, profile) → the exact writes and commands, in order. Pure;
// `netlab tuning-plan` prints it. The `study` profile is seed 001's setup, derived from the
// topology rather than copied, so it fits any instance type.
import { cpuMask, formatCpuList, nodes, physicalCpus, type Topology } from './topology.ts';

export interface Nic {
  name: string;
  rxQueues: number;
  txQueues: number;
  /** IRQ number of each queue (queue i ↔ irqs[i]); empty when unknown (e.g. a veth). */
  irqs: number[];
}

export type TuningStep =
  | { kind: 'write'; path: string; value: string; why: string }
  | { kind: 'command'; argv: string[]; why: string }
  | { kind: 'skip'; what: string; why: string };

export const RFS_SOCK_FLOW_ENTRIES = 65536;
export const RFS_FLOW_CNT = 32768;

/** Seed 001: IRQs on the first CPU of each NUMA node, RPS on the other physical cores, XPS per node, RFS. */
export function studyTuning(t: Topology, nic: Nic): TuningStep[] {
  const n = t.cpus.length;
  const byNode = nodes(t);
  const irqCpus = byNode.map((cpus) => cpus[0]!);
  const steps: TuningStep[] = [];
  steps.push({ kind: 'command', argv: ['systemctl', 'stop', 'irqbalance'], why: 'irqbalance would move the pinned interrupts again' });
  if (!nic.irqs.length) steps.push({ kind: 'skip', what: 'IRQ affinity', why: `${nic.name} has no per-queue interrupts (a veth has none)` });
  nic.irqs.forEach((irq, q) =>
    steps.push({ kind: 'write', path: `/proc/irq/${irq}/smp_affinity_list`, value: String(irqCpus[q % irqCpus.length]), why: `queue ${q}'s interrupt on the first CPU of NUMA node ${q % irqCpus.length}` }),
  );
  const rps = physicalCpus(t).filter((c) => !irqCpus.includes(c));
  for (let q = 0; q < nic.rxQueues; q++)
    steps.push({ kind: 'write', path: `/sys/class/net/${nic.name}/queues/rx-${q}/rps_cpus`, value: cpuMask(rps, n), why: `RPS on the physical cores but the IRQ CPUs (${formatCpuList(rps)})` });
  for (let q = 0; q < nic.txQueues; q++) {
    const node = byNode[q % byNode.length]!;
    steps.push({ kind: 'write', path: `/sys/class/net/${nic.name}/queues/tx-${q}/xps_cpus`, value: cpuMask(node, n), why: `XPS: every CPU of NUMA node ${q % byNode.length} (${formatCpuList(node)})` });
  }
  steps.push({ kind: 'write', path: '/proc/sys/net/core/rps_sock_flow_entries', value: String(RFS_SOCK_FLOW_ENTRIES), why: 'RFS flow table' });
  for (let q = 0; q < nic.rxQueues; q++)
    steps.push({ kind: 'write', path: `/sys/class/net/${nic.name}/queues/rx-${q}/rps_flow_cnt`, value: String(RFS_FLOW_CNT), why: 'RFS per-queue flow count' });
  return steps;
}

export function renderTuning(steps: TuningStep[]): string {
  return (
    steps
      .map((s) => (s.kind === 'write' ? `echo ${s.value} > ${s.path}  # ${s.why}` : s.kind === 'command' ? `${s.argv.join(' ')}  # ${s.why}` : `# skipped ${s.what}: ${s.why}`))
      .join('\n') + '\n'
  );
}
