// The rps report's parsing, the CPU accounting and the proxy summary (the client itself: rps-client.test.ts).
import test from 'ava';
import { cpuBetween, parseCpuStatUsec, parseProcStat } from '../../../lib/core/cpu.ts';
import { parseRps, ParseError } from '../../../lib/workload/parsers.ts';
import { proxyRatios } from '../../../lib/results/summary.ts';
import type { RunResult } from '../../../lib/results/result.ts';
import { withoutSpinners } from '../../../lib/local/run.ts';

test('/proc/stat and cpu.stat deltas become cores, split by kind', (t) => {
  const a = parseProcStat('cpu  100 0 50 1000 0 0 10 0 0 0\ncpu0 1 2 3\n', 0);
  const b = parseProcStat('cpu  200 20 110 1100 5 2 30 7 0 0\n', 2000);
  t.is(parseCpuStatUsec('usage_usec 1500000\nuser_usec 1\n'), 1_500_000);
  t.is(parseCpuStatUsec('nothing'), null);
  const c = cpuBetween({ stat: a, cgroups: [1_000_000, null] }, { stat: b, cgroups: [2_000_000, 5] });
  // 2 s: user 100 ticks = 0.5 cores, nice 20 = 0.1, system 60 = 0.3, softirq 20 = 0.1, irq 2 = 0.01;
  // cores is every busy tick but steal 7 = 0.035 (the hypervisor's, not ours): 0.5 + 0.1 + 0.3 + 0.1 + 0.01.
  t.deepEqual(c, { seconds: 2, cores: 1.01, user: 0.5, nice: 0.1, system: 0.3, softirq: 0.1, irq: 0.01, steal: 0.035, cgroupCores: [0.5, null] });
  t.throws(() => parseProcStat('intr 1 2', 0));
});

test("busy-poll spinners' CPU comes out of the client cgroup's and is recorded apart", (t) => {
  const cpu = { seconds: 10, cores: 2, user: 0.2, nice: 1.5, system: 0.2, softirq: 0.1, irq: 0, steal: 0, clientCores: 1.75, serverCores: 0.1 };
  // 16 s of spinning over 10 s = 1.6 cores; the cgroup's 1.75 leaves 0.15 for the client itself,
  // the machine's 2 leave 0.4 for the lab.
  t.deepEqual(withoutSpinners(cpu, 16), { ...cpu, cores: 0.4, clientCores: 0.15, busyPollCores: 1.6 });
  t.is(withoutSpinners(cpu, 0), cpu);
  t.is(withoutSpinners(cpu, undefined), cpu);
  // Never below zero, and an unreadable cgroup stays unknown.
  t.is(withoutSpinners({ ...cpu, clientCores: 1 }, 16).clientCores, 0);
  t.is(withoutSpinners({ ...cpu, clientCores: null }, 16).clientCores, null);
});

test('rps report → common figures; a missing report is a parse error', (t) => {
  const dist = { mean: 0.4, p50: 0.3, p90: 0.6, p99: 2, p999: 4, p9999: 5, max: 6, count: 1000 };
  const report = {
    tool: 'rps',
    impl: 'go',
    targetRate: 1000,
    durationSeconds: 1,
    requestsPerConnection: 1,
    planned: 1000,
    sent: 1000,
    ok: 997,
    errors: { connect: 1, timeout: 1, reset: 0, http: 1, size: 0 },
    firstError: 'x',
    achievedRate: 997,
    keptUp: true,
    verdict: 'held',
    connections: 1000,
    latencyMs: dist,
    serviceMs: dist,
    connectMs: dist,
    connectStalls: 0,
    lagMs: dist,
    cpu: { userSeconds: 0.1, systemSeconds: 0.1, cores: 0.2 },
    histogram: 'AAA',
  };
  const m = parseRps(`noise\n${JSON.stringify(report)}\n`);
  t.is(m.requests, 1000);
  t.is(m.errors, 2);
  t.is(m.non2xx, 1);
  t.is(m.reqPerSec, 997);
  t.deepEqual(m.latencyMs, { mean: 0.4, p50: 0.3, p90: 0.6, p99: 2, p999: 4, max: 6 });
  t.throws(() => parseRps('rps: could not connect\n'), { instanceOf: ParseError });
});

test('proxy ratios compare the two Service counts of one stack at the same keep-alive', (t) => {
  const pt = (services: number, keepalive: boolean, mean: number, cores: number, walked: number | null) => ({
    id: `p${services}${keepalive}`,
    tool: 'rps',
    repetition: 1,
    status: 'ok',
    params: { responseBytes: 350, keepalive, rate: 1000, durationSeconds: 20, services, proxyMode: 'iptables' },
    requests: 1000,
    errors: 0,
    non2xx: 0,
    reqPerSec: 1000,
    bytesPerResponse: null,
    latencyMs: { mean, p50: mean, p90: mean, p99: mean * 4, p999: null, max: mean * 9 },
    toolSeconds: 20,
    wallSeconds: 20,
    raw: [],
    command: [],
    cpu: { seconds: 20, cores, user: 0, system: 0, softirq: 0, irq: 0, clientCores: cores, serverCores: 0.01 },
    rulesWalked: walked === null ? null : { connections: 1000, evaluations: walked * 1000, perConnection: walked },
  });
  const result = {
    stack: 's',
    spec: { datapath: 'hostgw' },
    proxy: {
      mode: 'iptables',
      programs: [
        { services: 1, seconds: 0.01 },
        { services: 10000, seconds: 6 },
        { services: 1, seconds: 0.03 },
        { services: 10000, seconds: 8 },
        { services: 10000, seconds: 7 },
      ],
      clientFloor: { ratio: 1.12 },
    },
    points: [pt(1, false, 0.4, 0.28, 10.5), pt(1, true, 0.15, 0.14, 10.5), pt(10000, false, 1.0, 0.43, 10009.5), pt(10000, true, 0.18, 0.15, 10009.5)],
  } as unknown as RunResult;
  const rows = proxyRatios([result], 1, 10000);
  t.is(rows.length, 2);
  const off = rows.find((r) => !r.keepalive)!;
  t.is(off.mode, 'iptables-legacy', 'a result without iptablesBackend was loaded with iptables-legacy');
  t.deepEqual(off.meanRatio, { value: 2.5, low: 2.5, high: 2.5, n: [1, 1], significant: null });
  t.is(off.slope!.per, 'rule walked');
  t.is(off.slope!.value.toFixed(3), (600_000 / 9999).toFixed(3));
  t.is(off.p99Ratio, 2.5);
  // Alternating runs program each count more than once: the median of its programmings.
  t.is(off.programSecondsHigh, 7);
  t.is(off.clientFloor, 1.12);
  t.is(off.rulesWalkedHigh, 10009.5);
  t.deepEqual([off.coresLow, off.coresHigh], [0.28, 0.43]);
});
