import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultJsonSchema, RunResult } from '../../../lib/results/result.ts';
import { median, renderTable, summarize } from '../../../lib/results/summary.ts';
import { PROJECT } from '../../helpers/paths.ts';
import { bodyFor, headerBytes } from '../../../lib/server/http.ts';

test('response body sizes make the whole keep-alive response the asked size', (t) => {
  t.is(headerBytes(126), 224); // measured with curl against the lab's nginx: 224 B headers
  t.is(bodyFor(350), 126);
  t.is(bodyFor(4096), 3871); // 225 B headers (4-digit Content-Length)
  for (const n of [230, 231, 1225, 1226, 10_229, 1_048_576]) {
    const b = bodyFor(n);
    t.is(b + headerBytes(b), n, `size ${n}`);
  }
  t.throws(() => bodyFor(221), { message: /headers alone are 222 bytes/ });
  t.throws(() => bodyFor(1224), { message: /no body size gives a 1224-byte response/ });
});

test('docs/result.schema.json is generated from the zod schema (run `netlab schema` after a change)', (t) => {
  const committed = JSON.parse(readFileSync(join(PROJECT, 'docs', 'result.schema.json'), 'utf8'));
  t.deepEqual(committed, JSON.parse(JSON.stringify(resultJsonSchema())));
});

const point = (over: Record<string, unknown>) => ({
  id: 'p',
  tool: 'wrk',
  repetition: 1,
  params: { responseBytes: 350, keepalive: true, connections: 1, threads: 1, durationSeconds: 5 },
  status: 'ok',
  requests: 100,
  errors: 0,
  non2xx: 0,
  reqPerSec: 1000,
  bytesPerResponse: 350,
  latencyMs: { mean: 1, p50: 1, p90: 1, p99: 2, p999: 3, max: 4 },
  toolSeconds: 5,
  wallSeconds: 5.1,
  raw: ['raw/p.txt'],
  command: ['wrk'],
  ...over,
});
const run = (stack: string, datapath: string, points: unknown[]) =>
  RunResult.parse({
    schema: 'netlab.result/v1',
    runId: 'r',
    stack,
    target: 'local',
    status: 'ok',
    startedAt: 'a',
    finishedAt: 'b',
    spec: { datapath },
    setup: null,
    teardown: null,
    points,
    environment: { hostname: 'h', kernel: 'k', os: 'o', arch: 'x64', cpuModel: 'c', cpus: 2, memoryBytes: 1, node: 'v20', tools: { wrk: null } },
  });

test('median', (t) => {
  t.is(median([]), null);
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 2, 3]), 2.5);
});

test('summary: repetitions fold into medians, invalid points are counted and named, host is 1.0', (t) => {
  const host = run('h', 'host', [
    point({ repetition: 1, reqPerSec: 1000, latencyMs: { mean: 1, p50: 1, p90: 1, p99: 2, p999: 3, max: 4 } }),
    point({ repetition: 2, reqPerSec: 3000, latencyMs: { mean: 1, p50: 1, p90: 1, p99: 4, p999: 3, max: 4 } }),
  ]);
  const gw = run('g', 'hostgw', [
    point({ repetition: 1, reqPerSec: 1000, latencyMs: { mean: 1, p50: 1, p90: 1, p99: 6, p999: 3, max: 4 } }),
    point({ repetition: 2, status: 'invalid', reason: '5 of 100 requests failed', latencyMs: null, reqPerSec: null }),
  ]);
  const rows = summarize([host, gw]);
  t.is(rows.length, 2);
  t.like(rows[0], { stack: 'h', ok: 2, total: 2, reqPerSec: 2000, p99: 3, p50VsHost: 1, p99VsHost: 1, rpsVsHost: 1 });
  t.like(rows[1], { stack: 'g', ok: 1, total: 2, reqPerSec: 1000, p99: 6, p99VsHost: 2, rpsVsHost: 0.5 });
  t.deepEqual(rows[1]!.problems, ['p: invalid (5 of 100 requests failed)']);
  const text = renderTable(rows);
  t.regex(text, /p99 ×host/);
  t.regex(text, /! p: invalid \(5 of 100 requests failed\)/);
});
