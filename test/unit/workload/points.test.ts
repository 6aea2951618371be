import test from 'ava';
import { abTimeoutSeconds, AB_MAX_SECONDS, AB_MIN_SECONDS, gridPoints, pointId } from '../../../lib/workload/points.ts';
import { buildPlan } from '../../../lib/local/plan.ts';
import { awsPoints, CONN_REUSE_CONCURRENCY } from '../../../lib/aws/workload.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';
import { loadStack } from '../../../lib/spec/stackfile.ts';
import type { AwsSpec, Spec } from '../../../lib/spec/schema.ts';

const local = (config: Record<string, unknown>): Spec => specFromStackDoc('t', { config: { 'netlab:datapath': 'hostgw', ...config } });
const aws = (name: string, over: Partial<AwsSpec> = {}): AwsSpec => ({ ...(loadStack(name) as AwsSpec), ...over });
const ids = (spec: Spec, o?: Parameters<typeof gridPoints>[1]) => gridPoints(spec, o).map((p) => p.id);

test('ab: size × keep-alive × concurrency, repetitions outside sizes; ids say size, concurrency, keep-alive and repetition', (t) => {
  const spec = local({
    'netlab:server': { responseBytes: [350, 4096] },
    'netlab:workload': { tool: 'ab', requests: 100, concurrency: [1, 4], keepalive: [false, true] },
    'netlab:repetitions': 2,
  });
  t.deepEqual(
    ids(spec),
    [1, 2].flatMap((r) => [350, 4096].flatMap((b) => ['noka', 'ka'].flatMap((ka) => [1, 4].map((c) => `ab-b${b}-c${c}-${ka}-r${r}`)))),
  );
  t.deepEqual(ids(spec).slice(0, 5), ['ab-b350-c1-noka-r1', 'ab-b350-c4-noka-r1', 'ab-b350-c1-ka-r1', 'ab-b350-c4-ka-r1', 'ab-b4096-c1-noka-r1']);
  t.deepEqual(gridPoints(spec)[1], {
    id: 'ab-b350-c4-noka-r1',
    tool: 'ab',
    repetition: 1,
    params: { responseBytes: 350, keepalive: false, concurrency: 4, requests: 100 },
    timeoutSeconds: abTimeoutSeconds(100, 10, 4),
  });
});

test('wrk: connections are the load (c), with threads and duration in the params', (t) => {
  const spec = local({ 'netlab:workload': { tool: 'wrk', connections: [1, 16], threads: 1, keepalive: [true, false], durationSeconds: 5, timeoutSeconds: 2 } });
  t.deepEqual(ids(spec), ['wrk-b350-c1-ka-r1', 'wrk-b350-c16-ka-r1', 'wrk-b350-c1-noka-r1', 'wrk-b350-c16-noka-r1']);
  t.deepEqual(gridPoints(spec)[0]!.params, { responseBytes: 350, keepalive: true, connections: 1, threads: 1, durationSeconds: 5 });
  t.is(gridPoints(spec)[0]!.timeoutSeconds, 5 + 2 + 15);
});

test('rps: the rate is the load (q); one request per connection without keep-alive', (t) => {
  const spec = local({
    'netlab:workload': { tool: 'rps', rate: [100, 2000], keepalive: [false, true], requestsPerConnection: 7, durationSeconds: 10, timeoutSeconds: 3 },
  });
  t.deepEqual(ids(spec), ['rps-b350-q100-noka-r1', 'rps-b350-q2000-noka-r1', 'rps-b350-q100-ka-r1', 'rps-b350-q2000-ka-r1']);
  t.deepEqual(
    gridPoints(spec).map((p) => p.params.requestsPerConnection),
    [1, 1, 7, 7],
  );
  t.is(gridPoints(spec)[0]!.timeoutSeconds, 10 + 3 + 30);
});

test('a proxy adds the Service count (in the order given, outermost) and ipvs its conn_reuse_mode', (t) => {
  const spec = local({
    'netlab:proxy': { mode: 'ipvs', services: [10, 2], ipvs: { connReuseMode: [1, 0] } },
    'netlab:workload': { tool: 'rps', rate: [100], keepalive: [false] },
    'netlab:repetitions': 2,
  });
  t.deepEqual(ids(spec), [
    'rps-b350-q100-noka-s10-crm1-r1',
    'rps-b350-q100-noka-s10-crm1-r2',
    'rps-b350-q100-noka-s10-crm0-r1',
    'rps-b350-q100-noka-s10-crm0-r2',
    'rps-b350-q100-noka-s2-crm1-r1',
    'rps-b350-q100-noka-s2-crm1-r2',
    'rps-b350-q100-noka-s2-crm0-r1',
    'rps-b350-q100-noka-s2-crm0-r2',
  ]);
  t.like(gridPoints(spec)[0]!.params, { services: 10, proxyMode: 'ipvs', target: 'last', connReuseMode: 1 });
  const ipt = local({ 'netlab:proxy': { mode: 'iptables', services: [3] }, 'netlab:workload': { tool: 'ab', concurrency: [2] } });
  t.deepEqual(ids(ipt), ['ab-b350-c2-noka-s3-r1']);
});

test("conn-reuse: no keep-alive tag; the rate as load in the lab, the closed loop's workers as load on aws", (t) => {
  const spec = local({
    'netlab:proxy': { mode: 'ipvs', services: [4], ipvs: { connReuseMode: [0, 1] } },
    'netlab:workload': { tool: 'conn-reuse', rate: 100, durationSeconds: 20, timeoutSeconds: 5 },
  });
  t.deepEqual(ids(spec), ['conn-reuse-b350-q100-s4-crm0-r1', 'conn-reuse-b350-q100-s4-crm1-r1']);
  t.deepEqual(ids(spec, { connReuseWorkers: 8 }), ['conn-reuse-b350-c8-s4-crm0-r1', 'conn-reuse-b350-c8-s4-crm1-r1']);
  t.is(gridPoints(spec)[0]!.timeoutSeconds, 20 + 5 + 30);
});

test('tcpkali: the rate is the load, keep-alive always (no tag), bound = duration + 120 s', (t) => {
  const spec = aws('aws-e2-vxlan');
  t.deepEqual(ids(spec).slice(0, 6), [
    'tcpkali-b350-q50000-r1',
    'tcpkali-b350-q150000-r1',
    'tcpkali-b350-q250000-r1',
    'tcpkali-b350-q350000-r1',
    'tcpkali-b350-q450000-r1',
    'tcpkali-b4096-q50000-r1',
  ]);
  t.deepEqual(gridPoints(spec)[0]!.params, { responseBytes: 350, keepalive: true, rate: 50000, connections: 1000, durationSeconds: 60 });
  t.is(gridPoints(spec)[0]!.timeoutSeconds, 60 + 120);
});

test('pointId: one format for every tool', (t) => {
  t.is(pointId('ab', { responseBytes: 230, keepalive: true, concurrency: 1000 }, 100), 'ab-b230-c1000-ka-r100');
  t.is(pointId('wrk', { responseBytes: 350, keepalive: false, connections: 8, services: 1, connReuseMode: 0 }, 1), 'wrk-b350-c8-noka-s1-crm0-r1');
  t.is(pointId('tcpkali', { responseBytes: 350, keepalive: true, rate: 5, connections: 9 }, 1), 'tcpkali-b350-q5-r1');
});

test('ab timeout: requests × per-request timeout spread over the clients, /100, rounded up, plus 30 s, at most an hour', (t) => {
  t.is(AB_MIN_SECONDS, 30);
  t.is(AB_MAX_SECONDS, 3600);
  // concurrency == requests: every client sends one request.
  t.is(abTimeoutSeconds(1, 1, 1), 31);
  t.is(abTimeoutSeconds(100, 10, 100), 31);
  t.is(abTimeoutSeconds(1000, 60, 1000), 31);
  // Rounding up: 10,000 × 10 / 1 / 100 = 1000 exactly; one request more is 1000.1 → 1001.
  t.is(abTimeoutSeconds(10_000, 10, 1), 1030);
  t.is(abTimeoutSeconds(10_001, 10, 1), 1031);
  t.is(abTimeoutSeconds(10, 1, 3), 31); // 0.033… → 1
  // The cap: 3570 s below it is exactly 3600; above it stays 3600.
  t.is(abTimeoutSeconds(357_000, 1, 1), 3600);
  t.is(abTimeoutSeconds(357_100, 1, 1), 3600);
  t.is(abTimeoutSeconds(356_900, 1, 1), 3599);
  t.is(abTimeoutSeconds(1_000_000, 60, 1), 3600);
});

test("the lab's plan measures exactly the grid's points, in its alternating order", (t) => {
  const spec = local({
    'netlab:proxy': { mode: 'ipvs', services: [2, 1], ipvs: { connReuseMode: [0, 1] } },
    'netlab:workload': { tool: 'ab', concurrency: [1, 3], keepalive: [false, true], requests: 50 },
    'netlab:repetitions': 2,
  });
  const plan = buildPlan(spec, { runDir: '/run/netlab/t', rawDir: '/tmp/raw' });
  t.deepEqual(
    plan.points.map(({ id, tool, repetition, params, timeoutSeconds }) => ({ id, tool, repetition, params, timeoutSeconds })),
    gridPoints(spec, { order: 'alternating' }),
  );
});

test('alternating order: repetition outermost, the Service counts reversed on every other one; grouped keeps each count together', (t) => {
  const spec = local({
    'netlab:proxy': { mode: 'ipvs', services: [1, 100, 10000], ipvs: { connReuseMode: [0, 1] } },
    'netlab:workload': { tool: 'rps', rate: [1000], keepalive: [false] },
    'netlab:repetitions': 3,
  });
  const cell = (g: { params: { services?: number; connReuseMode?: number }; repetition: number }) =>
    `s${g.params.services}/crm${g.params.connReuseMode}/r${g.repetition}`;
  t.deepEqual(gridPoints(spec, { order: 'alternating' }).map(cell), [
    ...['s1', 's100', 's10000'].flatMap((s) => [`${s}/crm0/r1`, `${s}/crm1/r1`]),
    ...['s10000', 's100', 's1'].flatMap((s) => [`${s}/crm0/r2`, `${s}/crm1/r2`]),
    ...['s1', 's100', 's10000'].flatMap((s) => [`${s}/crm0/r3`, `${s}/crm1/r3`]),
  ]);
  t.deepEqual(
    gridPoints(spec).map(cell),
    ['s1', 's100', 's10000'].flatMap((s) => ['crm0', 'crm1'].flatMap((m) => [1, 2, 3].map((r) => `${s}/${m}/r${r}`))),
  );
  // The same points either way, only in another order.
  t.deepEqual(
    gridPoints(spec, { order: 'alternating' })
      .map((g) => g.id)
      .sort(),
    gridPoints(spec)
      .map((g) => g.id)
      .sort(),
  );
});

test("aws measures the grid's points with Service counts ascending: over repetitions the fleet only grows", (t) => {
  const spec = aws('aws-e1-ipvs', { repetitions: 2 });
  const pts = awsPoints({ ...spec, proxy: { ...spec.proxy!, services: [5000, 1, 10000, 1000] } });
  t.deepEqual(
    pts.map(({ command: _, ...g }) => g),
    gridPoints({ ...spec, proxy: { ...spec.proxy!, services: [1, 1000, 5000, 10000] } }),
  );
  const counts = pts.map((p) => p.params.services!);
  t.deepEqual(
    counts,
    [...counts].sort((a, b) => a - b),
  );
  t.deepEqual(
    pts.slice(0, 2).map((p) => p.id),
    ['ab-b350-c16-noka-s1-crm1-r1', 'ab-b350-c16-ka-s1-crm1-r1'],
  );
  t.deepEqual(
    awsPoints(aws('aws-e3-ipvs-6-1')).map((p) => [p.id, p.params.concurrency]),
    [
      ['conn-reuse-b350-c8-s1-crm0-r1', CONN_REUSE_CONCURRENCY],
      ['conn-reuse-b350-c8-s1-crm1-r1', CONN_REUSE_CONCURRENCY],
    ],
  );
});
