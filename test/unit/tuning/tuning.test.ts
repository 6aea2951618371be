// Host tuning (issue 5): CPU masks in the kernel's format for any CPU count, the study profile
// derived from a topology, each key on its own, the embedded lab's placement, and tuned plans.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { assertGolden } from '../../helpers/golden.ts';
import { join } from 'node:path';
import {
  perNamespace,
  placement,
  renderTuning,
  studyTuning,
  tuningSteps,
  workerCpuAffinity,
  type TuningHost,
  type TuningStep,
} from '../../../lib/tuning/plan.ts';
import { resolveTuning } from '../../../lib/tuning/profile.ts';
import { applyTuning, sameValue, type TuningRecord } from '../../../lib/tuning/apply.ts';
import { buildPlan, renderPlan } from '../../../lib/local/plan.ts';
import { cpuMask, formatCpuList, nodes, parseCpuList, parseLscpuP, physicalCpus } from '../../../lib/tuning/topology.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';
import { SpecError } from '../../../lib/spec/errors.ts';
import { tempDir } from '../../helpers/tmp.ts';

const c4 = parseLscpuP(readFileSync(join(FIXTURES, 'tuning', 'c4.8xlarge.lscpu-p.txt'), 'utf8'));

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
  t.deepEqual(steps[0], {
    kind: 'command',
    setting: 'irqAffinity',
    argv: ['systemctl', 'stop', 'irqbalance'],
    optional: false,
    why: 'irqbalance would move the pinned interrupts again',
  });
});

test('one node of 4 CPUs without SMT, and 2 nodes × 48 CPUs with SMT (96)', (t) => {
  const small = parseLscpuP('# CPU,Core,Socket,Node\n0,0,0,0\n1,1,0,0\n2,2,0,0\n3,3,0,0\n');
  t.is(
    renderTuning(studyTuning(small, { name: 'veth0', rxQueues: 1, txQueues: 1, irqs: [] })),
    [
      '# skipped irqAffinity: veth0: no per-queue interrupts (a veth has none), so neither IRQ pinning nor stopping irqbalance applies',
      'echo 0000000e > /sys/class/net/veth0/queues/rx-0/rps_cpus  # RPS on the physical cores but the IRQ CPUs (1-3)',
      'echo 0000000f > /sys/class/net/veth0/queues/tx-0/xps_cpus  # XPS: every CPU of NUMA node 0 (0-3)',
      'echo 65536 > /proc/sys/net/core/rps_sock_flow_entries  # RFS flow table (machine-wide)',
      'echo 32768 > /sys/class/net/veth0/queues/rx-0/rps_flow_cnt  # RFS per-queue flow count',
      '',
    ].join('\n'),
  );
  // 2 sockets × 24 cores × 2 threads: CPUs 0-23 and 48-71 on node 0, 24-47 and 72-95 on node 1.
  const lines = ['# CPU,Core,Socket,Node'];
  for (let cpu = 0; cpu < 96; cpu++) {
    const core = cpu % 48;
    const node = core < 24 ? 0 : 1;
    lines.push(`${cpu},${core},${node},${node}`);
  }
  const big = parseLscpuP(lines.join('\n'));
  const w = Object.fromEntries(
    studyTuning(big, { name: 'eth0', rxQueues: 2, txQueues: 2, irqs: [100, 101] }).flatMap((s) => (s.kind === 'write' ? [[s.path, s.value]] : [])),
  );
  t.is(w['/proc/irq/101/smp_affinity_list'], '24');
  t.is(w['/sys/class/net/eth0/queues/rx-0/rps_cpus'], '00000000,0000ffff,fefffffe'); // 1-23, 25-47
  t.is(w['/sys/class/net/eth0/queues/tx-1/xps_cpus'], 'ffffff00,0000ffff,ff000000'); // 24-47, 72-95
  t.throws(() => parseLscpuP('0,0,0,0\nx,1,0,0\n'), { message: /line 2/ });
});

const FIX = join(FIXTURES, 'tuning');
const golden = (t: import('ava').ExecutionContext, name: string, text: string) => assertGolden(t, join(FIX, name), text);
const aws = (kernel: string): TuningHost => ({
  topology: c4,
  kernel,
  nics: [{ name: 'eth0', rxQueues: 2, txQueues: 2, irqs: [265, 266] }],
  embedded: false,
  namespaces: [],
  iptables: 'iptables',
  traffic: { tcpPorts: [80], udpPorts: [] },
});

// Whole study profile on a c4.8xlarge, on a kernel of the study's time and on a current one:
// tcp_tw_recycle is gone since 4.12 and the migration cost moved to debugfs in 5.13.
test('exact study profile on the c4.8xlarge, kernel 4.4 and kernel 6.1', (t) => {
  const study = resolveTuning({ profile: 'study' });
  golden(t, 'c4.8xlarge-study-4.4.txt', renderTuning(tuningSteps(study, aws('4.4.0-1128-aws'))));
  golden(t, 'c4.8xlarge-study-6.1.txt', renderTuning(tuningSteps(study, aws('6.1.0-13-cloud-amd64'))));
  const text = renderTuning(tuningSteps(study, aws('6.1.0')));
  t.regex(text, /# skipped net\.ipv4\.tcp_tw_recycle: removed in Linux 4\.12/);
  t.regex(text, /unshare --mount sh -c 'mount -t debugfs none \/sys\/kernel\/debug && echo 10000000 > \/sys\/kernel\/debug\/sched\/migration_cost_ns'/);
  t.regex(text, /^tuned-adm profile network-latency/m);
});

test('each key switches its part; the profile none changes nothing', (t) => {
  t.deepEqual(tuningSteps(resolveTuning({}), aws('6.1')), []);
  const only = tuningSteps(
    resolveTuning({
      profile: 'study',
      irqAffinity: false,
      rps: false,
      xps: false,
      rfs: false,
      sysctls: { 'fs.file-max': null, 'net.core.somaxconn': '4096' },
      schedMigrationCostNs: null,
      tuned: null,
      notrack: false,
      pinning: false,
    }),
    aws('6.1'),
  );
  t.deepEqual(
    only.filter((s) => s.kind !== 'skip').map((s) => (s.kind === 'write' ? s.path : '')),
    [
      '/proc/sys/net/ipv4/ip_local_port_range',
      '/proc/sys/net/ipv4/tcp_max_tw_buckets',
      '/proc/sys/net/ipv4/tcp_tw_reuse',
      '/proc/sys/net/ipv4/tcp_fin_timeout',
      '/proc/sys/net/ipv4/tcp_slow_start_after_idle',
      '/proc/sys/net/ipv4/tcp_low_latency',
      '/proc/sys/net/core/somaxconn',
    ],
  );
  // optional settings are marked on their steps
  const opt = tuningSteps(resolveTuning({ profile: 'study', optional: ['rps', 'kernel.sched_migration_cost_ns'] }), aws('6.1'));
  t.true(opt.filter((s) => s.kind === 'write' && s.setting === 'rps').every((s) => s.kind === 'write' && s.optional));
  t.true(opt.filter((s) => s.kind === 'write' && s.setting === 'xps').every((s) => s.kind === 'write' && !s.optional));
});

test('embedded: namespaced sysctls go into every lab namespace, machine-wide ones once; veth IRQs and tuned are skipped', (t) => {
  const two = parseLscpuP('0,0,0,0\n1,1,0,0\n');
  const steps = tuningSteps(resolveTuning({ profile: 'study' }), {
    topology: two,
    kernel: '6.18.44',
    nics: [
      { name: 'eth0', rxQueues: 1, txQueues: 1, irqs: [], netns: 'a' },
      { name: 'eth0', rxQueues: 1, txQueues: 1, irqs: [], netns: 'b' },
    ],
    embedded: true,
    namespaces: ['a', 'b'],
    iptables: 'iptables-legacy',
    traffic: { tcpPorts: [80], udpPorts: [8472] },
  });
  const where = (setting: string) => steps.filter((s) => s.setting === setting).map((s) => (s.kind === 'skip' ? 'skip' : (s.netns ?? 'machine')));
  t.deepEqual(where('net.ipv4.tcp_fin_timeout'), ['a', 'b']);
  t.deepEqual(where('fs.file-max'), ['machine']);
  t.deepEqual(where('net.ipv4.tcp_low_latency'), ['machine']);
  t.deepEqual(where('rfs'), ['machine', 'a', 'b']);
  t.deepEqual(where('irqAffinity'), ['skip']);
  t.deepEqual(where('tuned'), ['skip']);
  // 2 chains × (tcp dport, tcp sport, udp dport) in each of the two namespaces
  t.is(steps.filter((s) => s.setting === 'notrack').length, 12);
  t.true(steps.some((s) => s.kind === 'command' && s.netns === 'b' && s.argv.join(' ') === 'iptables-legacy -t raw -A OUTPUT -p udp --dport 8472 -j NOTRACK'));
  t.true(perNamespace('net.core.somaxconn'));
  t.false(perNamespace('net.core.netdev_max_backlog'));
  t.false(perNamespace('kernel.pid_max'));
});

test('placement: the study pins both ends to the physical cores; one machine splits them', (t) => {
  t.deepEqual(placement(c4, false), { client: parseCpuList('0-17'), server: parseCpuList('0-17') });
  t.deepEqual(placement(c4, true), { client: parseCpuList('0-8'), server: parseCpuList('9-17') });
  t.deepEqual(placement(parseLscpuP('0,0,0,0\n1,1,0,0\n'), true), { client: [0], server: [1] });
  t.deepEqual(placement(parseLscpuP('0,0,0,0\n'), true), { client: [0], server: [0] });
  // seed 001: "worker_cpu_affinity 1 10 100 1000 10000 ..."
  t.is(workerCpuAffinity(parseCpuList('0-17'), 18).split(' ').slice(0, 5).join(' '), '1 10 100 1000 10000');
  t.is(workerCpuAffinity([1], 2), '10 10');
});

test('read-back comparison: masks as numbers, values by their words', (t) => {
  t.true(sameValue('rps', '00000002', '2'));
  t.true(sameValue('xps', '00000000,07fc01ff', '07fc01ff'));
  t.false(sameValue('rps', '00000002', '00000003'));
  t.true(sameValue('net.ipv4.ip_local_port_range', '2000 65535', '2000\t65535'));
  t.false(sameValue('fs.file-max', '1024000', '1024'));
});

const tunedSpec = (extra: Record<string, unknown> = {}) =>
  specFromStackDoc('tt', {
    config: {
      'netlab:datapath': 'hostgw',
      'netlab:workload': { tool: 'wrk', connections: [1, 16], threads: 1, keepalive: [true, false], durationSeconds: 10 },
      'netlab:tuning': { profile: 'study' },
      ...extra,
    },
  });
const twoCpus = { topology: parseLscpuP('0,0,0,0\n1,1,0,0\n'), kernel: '6.18.44' };

test('exact plan of a tuned stack on a 2-CPU machine: tuning steps, worker_cpu_affinity, taskset', (t) => {
  const text = renderPlan(buildPlan(tunedSpec(), { runDir: '/run/netlab/tt', rawDir: '/tmp/results/tt/run/raw', cgroupRoot: '/sys/fs/cgroup', host: twoCpus }));
  golden(t, 'plan-tuned-hostgw.txt', text);
  t.regex(text, /worker_cpu_affinity 10;/);
  t.regex(text, /ip netns exec netlab\.tt\.client\.pod0 taskset -c 0 wrk --threads 1/);
});

test('a tuned plan needs the topology; wrk threads must match the pinned CPUs', (t) => {
  t.throws(() => buildPlan(tunedSpec(), { runDir: '/r', rawDir: '/x' }), { message: /needs the machine's CPU topology/ });
  const four = { topology: parseLscpuP('0,0,0,0\n1,1,0,0\n2,2,0,0\n3,3,0,0\n'), kernel: '6.1' };
  const e = t.throws(() => buildPlan(tunedSpec(), { runDir: '/r', rawDir: '/x', host: four }), { instanceOf: SpecError });
  t.regex(e!.message, /netlab:workload\.threads = 1: .* the client gets 2 CPU\(s\) \(0-1\), so use threads: 2/);
  // untuned stacks plan without a topology
  t.notThrows(() => buildPlan(tunedSpec({ 'netlab:tuning': {} }), { runDir: '/r', rawDir: '/x' }));
});

// Ctrl-C while the hosts are being tuned (issue 19, item 13): an interruption, never a failed setting.
// Command steps on the machine itself (no namespace, nothing written), state files in a scratch folder.
const command = (argv: string[], optional = false): TuningStep => ({ kind: 'command', setting: 'tuned', argv, optional, why: 'test step' });

test("Ctrl-C reaching a tuning step's process: interrupted, and the step is not recorded as failed", async (t) => {
  process.env.NETLAB_STATE_DIR = tempDir('netlab-state-');
  // A SIGINT that reaches the step's process too (a kill of the process group) may kill it before
  // netlab's own handler has aborted the run.
  for (const optional of [false, true]) {
    const records: TuningRecord[] = [];
    await t.throwsAsync(
      applyTuning('tt', [command(['true']), command(['sh', '-c', 'kill -INT $$'], optional), command(['true'])], records, new AbortController().signal),
      { message: 'interrupted' },
    );
    t.deepEqual(
      records.map((r) => r.status),
      ['applied'],
      `optional: ${optional}`,
    );
  }
});

test('abort during a tuning step: interrupted at once, the step not recorded', async (t) => {
  process.env.NETLAB_STATE_DIR = tempDir('netlab-state-');
  const ac = new AbortController();
  const records: TuningRecord[] = [];
  setTimeout(() => ac.abort(), 200);
  const t0 = Date.now();
  await t.throwsAsync(applyTuning('tt', [command(['sleep', '10'], true), command(['true'])], records, ac.signal), { message: 'interrupted' });
  t.true(Date.now() - t0 < 5000);
  t.deepEqual(records, []);
});
