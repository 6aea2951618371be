// Pure parts of the rps client, the CPU accounting and the proxy summary.
import test from 'ava';
import { cpuBetween, parseCpuStatUsec, parseProcStat } from '../lib/cpu.ts';
import { parseRps, ParseError } from '../lib/parsers.ts';
import { classifySocketError, parseHead, runRps } from '../lib/rps.ts';
import { createServer } from 'node:net';
import { proxyRatios } from '../lib/summary.ts';
import type { RunResult } from '../lib/result.ts';

test('HTTP response heads: status, Content-Length, Connection: close; incomplete is null', (t) => {
  const head = 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 126\r\nConnection: close\r\n\r\nxxxx';
  t.deepEqual(parseHead(Buffer.from(head)), { headBytes: head.length - 4, status: 200, contentLength: 126, close: true });
  t.is(parseHead(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1')), null);
  t.false(parseHead(Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nConnection: keep-alive\r\n\r\n'))!.close);
});

test('/proc/stat and cpu.stat deltas become cores, split by kind', (t) => {
  const a = parseProcStat('cpu  100 0 50 1000 0 0 10 0 0 0\ncpu0 1 2 3\n', 0);
  const b = parseProcStat('cpu  200 20 110 1100 5 2 30 7 0 0\n', 2000);
  t.is(parseCpuStatUsec('usage_usec 1500000\nuser_usec 1\n'), 1_500_000);
  t.is(parseCpuStatUsec('nothing'), null);
  const c = cpuBetween({ stat: a, cgroups: [1_000_000, null] }, { stat: b, cgroups: [2_000_000, 5] });
  // 2 s: user+nice 120 ticks = 0.6 cores, system 60 = 0.3, softirq 20 = 0.1, irq 2 = 0.01; steal is not ours.
  t.deepEqual(c, { seconds: 2, cores: 1.01, user: 0.6, system: 0.3, softirq: 0.1, irq: 0.01, cgroupCores: [0.5, null] });
  t.throws(() => parseProcStat('intr 1 2', 0));
});

test('rps report → common figures; a missing report is a parse error', (t) => {
  const dist = { mean: 0.4, p50: 0.3, p90: 0.6, p99: 2, p999: 4, p9999: 5, max: 6, count: 1000 };
  const report = {
    tool: 'rps', targetRate: 1000, durationSeconds: 1, requestsPerConnection: 1, planned: 1000, sent: 1000, ok: 997,
    errors: { connect: 1, timeout: 1, reset: 0, http: 1, size: 0 }, firstError: 'x', achievedRate: 997, keptUp: true, verdict: 'held',
    connections: 1000, latencyMs: dist, serviceMs: dist, connectMs: dist, connectStalls: 0, lagMs: dist, cpu: { userSeconds: 0.1, systemSeconds: 0.1, cores: 0.2 }, histogram: 'AAA',
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
    id: `p${services}${keepalive}`, tool: 'rps', repetition: 1, status: 'ok',
    params: { responseBytes: 350, keepalive, rate: 1000, durationSeconds: 20, services, proxyMode: 'iptables' },
    requests: 1000, errors: 0, non2xx: 0, reqPerSec: 1000, bytesPerResponse: null,
    latencyMs: { mean, p50: mean, p90: mean, p99: mean * 4, p999: null, max: mean * 9 }, toolSeconds: 20, wallSeconds: 20, raw: [], command: [],
    cpu: { seconds: 20, cores, user: 0, system: 0, softirq: 0, irq: 0, clientCores: cores, serverCores: 0.01 },
    rulesWalked: walked === null ? null : { connections: 1000, evaluations: walked * 1000, perConnection: walked },
  });
  const result = {
    stack: 's', spec: { datapath: 'hostgw' }, proxy: { mode: 'iptables', programs: [{ services: 1, seconds: 0.01 }, { services: 10000, seconds: 6 }] },
    points: [pt(1, false, 0.4, 0.28, 10.5), pt(1, true, 0.15, 0.14, 10.5), pt(10000, false, 1.0, 0.43, 10009.5), pt(10000, true, 0.18, 0.15, 10009.5)],
  } as unknown as RunResult;
  const rows = proxyRatios([result], 1, 10000);
  t.is(rows.length, 2);
  const off = rows.find((r) => !r.keepalive)!;
  t.is(off.meanRatio, 2.5);
  t.is(off.p99Ratio, 2.5);
  t.is(off.programSecondsHigh, 6);
  t.is(off.rulesWalkedHigh, 10009.5);
  t.deepEqual([off.coresLow, off.coresHigh], [0.28, 0.43]);
});

// Issue 19, item 14: a name that does not resolve, or a closed port, was counted as `reset`.
test('socket errors: before the connection, a connect failure with its cause; after it, a reset', (t) => {
  t.deepEqual(classifySocketError('ENOTFOUND', false), { kind: 'connect', cause: 'dns', text: 'the name does not resolve' });
  t.is(classifySocketError('EAI_AGAIN', false).cause, 'dns');
  t.is(classifySocketError('ECONNREFUSED', false).cause, 'refused');
  t.is(classifySocketError('EHOSTUNREACH', false).cause, 'unreachable');
  t.is(classifySocketError('EWHATEVER', false).cause, 'other');
  t.deepEqual(classifySocketError('ECONNRESET', true), { kind: 'reset', cause: null, text: 'connection reset' });
  t.is(classifySocketError('EPIPE', true).kind, 'reset');
  t.is(classifySocketError('ETIMEDOUT', false).kind, 'timeout');
});

test('rps against a closed port on 127.0.0.1: every request a refused connect, none a reset', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
  const r = await runRps({ host: '127.0.0.1', hosts: 1, port, path: '/', rate: 20, durationSeconds: 1, requestsPerConnection: 1, maxConnections: 10, timeoutMs: 2000 });
  t.is(r.ok, 0);
  t.deepEqual(r.errors, { connect: r.sent, timeout: 0, reset: 0, http: 0, size: 0 });
  t.deepEqual(r.connectErrors, { dns: 0, refused: r.sent, unreachable: 0, other: 0 });
  t.regex(r.firstError!, /^127\.0\.0\.1:\d+: connection refused.*\(ECONNREFUSED\)$/);
  t.regex(r.verdict, /^no request succeeded: all 20 failed/);
});
