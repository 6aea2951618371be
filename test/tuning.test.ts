// Host tuning plans (issue 5, pure part): CPU masks in the kernel's format for any CPU count, and
// the study profile derived from a topology.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTuning, studyTuning } from '../lib/tuning/plan.ts';
import { cpuMask, formatCpuList, nodes, parseCpuList, parseLscpuP, physicalCpus } from '../lib/tuning/topology.ts';

const c4 = parseLscpuP(readFileSync(join(import.meta.dirname, 'fixtures', 'tuning', 'c4.8xlarge.lscpu-p.txt'), 'utf8'));

test('CPU masks: 32-bit words, most significant first, as many as the CPU count needs', (t) => {
  t.is(cpuMask([0], 1), '00000001');
  t.is(cpuMask([0, 1, 2, 3], 4), '0000000f');
  t.is(cpuMask([31], 32), '80000000');
  t.is(cpuMask([32], 33), '00000001,00000000');
  t.is(cpuMask([0, 63], 64), '80000000,00000001');
  t.is(cpuMask([64], 65), '00000001,00000000,00000000');
  t.is(cpuMask([], 96), '00000000,00000000,00000000');
  t.is(cpuMask(parseCpuList('0-95'), 96), 'ffffffff,ffffffff,ffffffff');
  t.throws(() => cpuMask([4], 4), { message: /CPU 4 is outside 0-3/ });
  t.deepEqual(parseCpuList('0-2,5,7-8'), [0, 1, 2, 5, 7, 8]);
  t.is(formatCpuList([9, 1, 2, 3, 10, 5]), '1-3,5,9-10');
});

test('c4.8xlarge topology: 2 NUMA nodes of 0-8,18-26 and 9-17,27-35; 18 physical cores', (t) => {
  t.deepEqual(nodes(c4).map(formatCpuList), ['0-8,18-26', '9-17,27-35']);
  t.is(formatCpuList(physicalCpus(c4)), '0-17');
});

test('study profile on the c4.8xlarge reproduces the published masks exactly', (t) => {
  const steps = studyTuning(c4, { name: 'eth0', rxQueues: 2, txQueues: 2, irqs: [265, 266] });
  const writes = Object.fromEntries(steps.flatMap((s) => (s.kind === 'write' ? [[s.path, s.value]] : [])));
  t.deepEqual(writes, {
    '/proc/irq/265/smp_affinity_list': '0',
    '/proc/irq/266/smp_affinity_list': '9',
    '/sys/class/net/eth0/queues/rx-0/rps_cpus': '00000000,0003fdfe',
    '/sys/class/net/eth0/queues/rx-1/rps_cpus': '00000000,0003fdfe',
    '/sys/class/net/eth0/queues/tx-0/xps_cpus': '00000000,07fc01ff',
    '/sys/class/net/eth0/queues/tx-1/xps_cpus': '0000000f,f803fe00',
    '/proc/sys/net/core/rps_sock_flow_entries': '65536',
    '/sys/class/net/eth0/queues/rx-0/rps_flow_cnt': '32768',
    '/sys/class/net/eth0/queues/rx-1/rps_flow_cnt': '32768',
  });
  t.deepEqual(steps[0], { kind: 'command', argv: ['systemctl', 'stop', 'irqbalance'], why: 'irqbalance would move the pinned interrupts again' });
});

test('one node of 4 CPUs without SMT, and 2 nodes × 48 CPUs with SMT (96)', (t) => {
  const small = parseLscpuP('# CPU,Core,Socket,Node\n0,0,0,0\n1,1,0,0\n2,2,0,0\n3,3,0,0\n');
  t.is(renderTuning(studyTuning(small, { name: 'veth0', rxQueues: 1, txQueues: 1, irqs: [] })), [
    'systemctl stop irqbalance  # irqbalance would move the pinned interrupts again',
    '# skipped IRQ affinity: veth0 has no per-queue interrupts (a veth has none)',
    'echo 0000000e > /sys/class/net/veth0/queues/rx-0/rps_cpus  # RPS on the physical cores but the IRQ CPUs (1-3)',
    'echo 0000000f > /sys/class/net/veth0/queues/tx-0/xps_cpus  # XPS: every CPU of NUMA node 0 (0-3)',
    'echo 65536 > /proc/sys/net/core/rps_sock_flow_entries  # RFS flow table',
    'echo 32768 > /sys/class/net/veth0/queues/rx-0/rps_flow_cnt  # RFS per-queue flow count',
    '',
  ].join('\n'));
  // 2 sockets × 24 cores × 2 threads: CPUs 0-23 and 48-71 on node 0, 24-47 and 72-95 on node 1.
  const lines = ['# CPU,Core,Socket,Node'];
  for (let cpu = 0; cpu < 96; cpu++) {
    const core = cpu % 48;
    const node = core < 24 ? 0 : 1;
    lines.push(`${cpu},${core},${node},${node}`);
  }
  const big = parseLscpuP(lines.join('\n'));
  const w = Object.fromEntries(studyTuning(big, { name: 'eth0', rxQueues: 2, txQueues: 2, irqs: [100, 101] }).flatMap((s) => (s.kind === 'write' ? [[s.path, s.value]] : [])));
  t.is(w['/proc/irq/101/smp_affinity_list'], '24');
  t.is(w['/sys/class/net/eth0/queues/rx-0/rps_cpus'], '00000000,0000ffff,fefffffe'); // 1-23, 25-47
  t.is(w['/sys/class/net/eth0/queues/tx-1/xps_cpus'], 'ffffff00,0000ffff,ff000000'); // 24-47, 72-95
  t.throws(() => parseLscpuP('0,0,0,0\nx,1,0,0\n'), { message: /line 2/ });
});
