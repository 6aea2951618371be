// The load client (tools/rps, compiled Go) against scripted servers on 127.0.0.1: a small Node
// net server per test that stalls, closes early, resets, answers slowly or wrongly, and counts
// requests per accepted socket. Each test checks a property the lab's figures rest on; the
// mutations each one kills are named in its comment. Serial: on 2 vCPUs, concurrent runs would
// measure each other. Needs the client built for this checkout
// (bash scripts/build-rps.sh; `npm run tools` runs it).
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import * as hdr from 'hdr-histogram-js';
import { rpsClient, rpsFlags, runRps, type RpsOptions, type RpsReport } from '../../lib/workload/rps.ts';
import { parseRps } from '../../lib/workload/parsers.ts';

test.serial.before(() => {
  rpsClient(); // a clear "not built: run …" instead of eight spawn failures
});

const BODY = 'x'.repeat(100);
const ok = (body = BODY, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

/** Seen by the server: each accepted socket's request heads, in order. */
interface Seen {
  sockets: string[][];
}

/**
 * A scripted HTTP/1.1 server: `answer(k, socket)` is called for the k-th request (0-based, in
 * arrival order over all sockets) and writes, delays, closes or resets as the test needs.
 */
async function scripted(answer: (k: number, s: Socket, head: string) => void): Promise<{ port: number; seen: Seen; close: () => Promise<void> }> {
  const seen: Seen = { sockets: [] };
  let k = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
    const heads: string[] = [];
    seen.sockets.push(heads);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        heads.push(head);
        answer(k++, s, head);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
}

const baseOpts = (port: number, o: Partial<RpsOptions>): RpsOptions => ({
  host: '127.0.0.1',
  hosts: 1,
  port,
  path: '/x',
  rate: 200,
  durationSeconds: 1,
  requestsPerConnection: 1,
  maxConnections: 100,
  timeoutMs: 2000,
  ...o,
});

/** Latencies (ms) of the report's histogram at or above `ms`. */
function countAtLeast(r: RpsReport, ms: number): number {
  // JsHistogram has both at run time; the package's Histogram type leaves them out.
  const h = hdr.decodeFromCompressedBase64(r.histogram) as hdr.Histogram & { nextNonEquivalentValue(v: number): number; getCountAtValue(v: number): number };
  let n = 0;
  for (let v = Math.round(ms * 1000); v <= h.maxValue; v = h.nextNonEquivalentValue(v)) n += h.getCountAtValue(v);
  return n;
}

// Every behaviour holds for both I/O engines of the client.
for (const engine of ['epoll', 'goroutines'] as const) {
  const opts = (port: number, o: Partial<RpsOptions>): RpsOptions => baseOpts(port, { engine, ...o });
  // A 200 ms stall of the server on one connection: the ~40 requests scheduled behind it wait for
  // it, and their latency from the intended send time must show the wait; their service time (from
  // the write on the connection) must not. Kills: latency measured from hand-out or from the write
  // instead of from the intended time (then latency ≈ service time, p99 of a few ms).
  test.serial(`${engine}: a server stall shows in the latency of the requests scheduled behind it, not in their service time`, async (t) => {
    const srv = await scripted((k, s) => (k === 100 ? setTimeout(() => s.write(ok()), 200) : s.write(ok())));
    try {
      const r = await runRps(opts(srv.port, { rate: 200, durationSeconds: 2, requestsPerConnection: 1000, maxConnections: 1 }));
      t.is(r.ok, 400, r.verdict);
      t.is(srv.seen.sockets.length, 1);
      // The stalled request itself and ~39 behind it (5 ms apart): 200, 195, …, 5 ms late.
      t.true(r.latencyMs.max >= 199 && r.latencyMs.max < 260, `latency max ${r.latencyMs.max}`);
      t.true(countAtLeast(r, 100) >= 18, `≥ 18 requests ≥ 100 ms late, got ${countAtLeast(r, 100)}`);
      t.true(r.latencyMs.p99 >= 150, `p99 ${r.latencyMs.p99}`);
      // Service time: only the stalled request itself is slow.
      t.true(r.serviceMs.p99 < 20, `service p99 ${r.serviceMs.p99}`);
      t.true(r.serviceMs.max >= 199);
    } finally {
      await srv.close();
    }
  });

  // The client itself stalls (SIGSTOP for 200 ms, like a long pause of a busy client): requests
  // whose slots fell in the pause leave late, and their latency counts from their slots. Kills:
  // latency from the scheduler's hand-out (the moment after the pause), and lag not recorded.
  test.serial(`${engine}: a stall of the client itself is charged to the requests scheduled during it (coordinated omission)`, async (t) => {
    const srv = await scripted((_k, s) => s.write(ok()));
    try {
      const child = spawn(rpsClient(), rpsFlags(opts(srv.port, { rate: 200, durationSeconds: 2 })), { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      setTimeout(() => {
        child.kill('SIGSTOP');
        setTimeout(() => child.kill('SIGCONT'), 200);
      }, 700);
      await new Promise((r) => child.on('close', r));
      const { report: r } = parseRps(out);
      t.is(r.ok, 400, r.verdict);
      // ~40 slots in the pause, 0 to 200 ms late: ≥ 15 of them ≥ 100 ms.
      t.true(countAtLeast(r, 100) >= 15, `≥ 15 requests ≥ 100 ms late, got ${countAtLeast(r, 100)}`);
      t.true(r.latencyMs.max >= 180, `latency max ${r.latencyMs.max}`);
      t.true(r.lagMs.max >= 180, `lag max ${r.lagMs.max}`);
      // Service time (from hand-out) does not carry the pause: those requests were handed out after it.
      t.true(r.serviceMs.p99 < r.latencyMs.p99 / 2, `service p99 ${r.serviceMs.p99}, latency p99 ${r.latencyMs.p99}`);
    } finally {
      await srv.close();
    }
  });

  // Server delays drawn from a known set: of each 1000 requests, 550 answered after 5 ms, 400 after
  // 20 ms, 45 after 40 ms, 5 after 80 ms. So p50 = 5, p90 = 20, p99 = 40, p99.9 = 80 ms, plus the
  // path and the server's timer (a few ms). Kills: p99.9 reading p99 (40 instead of 80), any
  // percentile read at the wrong rank, the mean from the wrong weights.
  test.serial(`${engine}: percentiles of a known delay distribution`, async (t) => {
    // The exact set, shuffled (a fixed seed).
    const delays: number[] = [...Array(550).fill(5), ...Array(400).fill(20), ...Array(45).fill(40), ...Array(5).fill(80)];
    let seed = 42;
    for (let i = delays.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const j = seed % (i + 1);
      [delays[i], delays[j]] = [delays[j]!, delays[i]!];
    }
    const srv = await scripted((k, s) => setTimeout(() => s.write(ok()), delays[k % 1000]!));
    try {
      // Delays only add: every lower bound must hold in every run (a misread percentile breaks
      // one). A busy machine adds its own stalls, so the upper bounds get up to three runs.
      let late = '';
      for (let attempt = 1; attempt <= 3; attempt++) {
        const r = await runRps(opts(srv.port, { rate: 500, durationSeconds: 2, requestsPerConnection: 1 }));
        t.is(r.ok, 1000, r.verdict);
        t.is(r.latencyMs.count, 1000);
        const want: [string, number, number][] = [
          ['p50', r.latencyMs.p50, 5],
          ['p90', r.latencyMs.p90, 20],
          ['p99', r.latencyMs.p99, 40],
          ['p99.9', r.latencyMs.p999, 80],
          ['max', r.latencyMs.max, 80],
          ['mean', r.latencyMs.mean, 12.95],
        ];
        // The lower bounds allow what the instrument itself rounds: HDR reports a bucket's lowest
        // value (0.1 % below), and libuv's timers count whole milliseconds, so a server timer can
        // fire up to 1 ms before its delay on a finer clock (CI saw p99.9 at 79.999 for 80).
        for (const [what, v, lo] of want) t.true(v >= lo * 0.999 - 1, `${what} ${v} below ${lo} (less 0.1 % and 1 ms)`);
        // HDR keeps 3 significant digits (0.1 %); the path and Node's timers add a few ms.
        late = want
          .filter(([, v, lo]) => v > lo * 1.001 + 8)
          .map(([what, v]) => `${what} ${v}`)
          .join(', ');
        if (!late) break;
      }
      t.is(late, '', 'upper bounds (lower bound × 1.001 + 8 ms) missed in three runs');
    } finally {
      await srv.close();
    }
  });

  // The kept-up verdict at its boundary: `keptUp` is "achieved within 1 % of the target". The
  // server fails a set share of 1500 requests (HTTP 500): 0.8 % short is held, 1.2 % short is not.
  // (Not exactly 1 %: a last request a few ms late on a busy 2-vCPU machine moves the achieved rate
  // by 0.1 %.) Kills: a 5 % (or any ≥ 1.2 %) tolerance, counting failed requests as achieved.
  for (const [failures, held] of [
    [12, true],
    [18, false],
  ] as const) {
    test.serial(`${engine}: kept-up verdict: ${failures} of 1500 requests failed → ${held ? 'held' : 'not held'}`, async (t) => {
      const fail = new Set(Array.from({ length: failures }, (_, i) => 50 + i * 80));
      const srv = await scripted((k, s) => s.write(fail.has(k) ? 'HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n' : ok()));
      try {
        const r = await runRps(opts(srv.port, { rate: 500, durationSeconds: 3 }));
        t.is(r.ok, 1500 - failures);
        t.is(r.errors.http, failures);
        t.is(r.keptUp, held, r.verdict);
        t.regex(
          r.verdict,
          held
            ? /^held 500 req\/s \(achieved 49\d\.\d, -0\.\d\d %\)$/
            : /^did not hold 500 req\/s: achieved 49\d\.\d req\/s \(-1\.\d %\); 18 requests failed \(first: HTTP 500\)/,
        );
      } finally {
        await srv.close();
      }
    });
  }

  // Exactly requestsPerConnection requests per connection, counted per accepted socket by the
  // server; only the last carries Connection: close. Kills: an off-by-one in the per-connection
  // count, keep-alive when 1 is asked, Connection: close on the wrong request.
  test.serial(`${engine}: exactly requestsPerConnection requests on each connection`, async (t) => {
    const srv = await scripted((_k, s) => s.write(ok()));
    try {
      const r = await runRps(opts(srv.port, { rate: 500, durationSeconds: 1, requestsPerConnection: 7, maxConnections: 1 }));
      t.is(r.ok, 500, r.verdict);
      const counts = srv.seen.sockets.map((h) => h.length);
      t.deepEqual(counts, [...Array(71).fill(7), 3]);
      t.is(r.connections, 72);
      t.is(r.connectMs.count, 72);
      for (const heads of srv.seen.sockets.slice(0, 71))
        t.deepEqual(
          heads.map((h) => /\r\nConnection: close/i.test(h)),
          [false, false, false, false, false, false, true],
        );
    } finally {
      await srv.close();
    }
    const one = await scripted((_k, s) => s.write(ok()));
    try {
      const r = await runRps(opts(one.port, { rate: 200, durationSeconds: 1, requestsPerConnection: 1 }));
      t.is(r.ok, 200);
      t.is(one.seen.sockets.length, 200);
      t.true(one.seen.sockets.every((h) => h.length === 1 && /\r\nConnection: close\r\n?/i.test(h[0]! + '\r\n')));
      t.is(r.connections, 200);
    } finally {
      await one.close();
    }
  });

  // Every way a request can fail, counted by kind: closed before the response and reset (reset),
  // non-2xx (http), wrong body size (size), no answer within --timeout (timeout); the rest ok.
  test.serial(`${engine}: errors by kind: early close, reset, non-2xx, wrong size, timeout`, async (t) => {
    const srv = await scripted((k, s) => {
      switch (k % 10) {
        case 3:
          return s.end(); // closes early, no response
        case 5:
          return s.resetAndDestroy();
        case 7:
          return s.write('HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n');
        case 8:
          return s.write(ok('x'.repeat(99)));
        case 9:
          return; // never answers
        default:
          s.write(ok());
      }
    });
    try {
      const r = await runRps(opts(srv.port, { rate: 100, durationSeconds: 2, timeoutMs: 300, expectBodyBytes: 100 }));
      t.deepEqual(r.errors, { connect: 0, timeout: 20, reset: 40, http: 20, size: 20 });
      t.is(r.ok, 100);
      t.is(r.sent, 200);
      t.false(r.keptUp);
    } finally {
      await srv.close();
    }
  });

  test.serial(`${engine}: a closed port: every request a refused connect, none a reset; exit 1`, async (t) => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const r = await runRps(opts(port, { rate: 20, durationSeconds: 1, maxConnections: 10 }));
    t.is(r.ok, 0);
    t.is(r.exitCode, 1);
    t.deepEqual(r.errors, { connect: r.sent, timeout: 0, reset: 0, http: 0, size: 0 });
    t.deepEqual(r.connectErrors, { dns: 0, refused: r.sent, unreachable: 0, other: 0 });
    t.regex(r.firstError!, /^127\.0\.0\.1:\d+: connection refused.*\(ECONNREFUSED\)$/);
    t.regex(r.verdict, /^no request succeeded: all 20 failed/);
  });

  test.serial(`${engine}: the report decodes with hdr-histogram-js and carries impl: ${engine === 'epoll' ? 'go-epoll' : 'go'}`, async (t) => {
    const srv = await scripted((_k, s) => s.write(ok()));
    try {
      const r = await runRps(opts(srv.port, { rate: 100, durationSeconds: 1 }));
      t.is(r.impl, engine === 'epoll' ? 'go-epoll' : 'go');
      const h = hdr.decodeFromCompressedBase64(r.histogram);
      t.is(h.totalCount, 100);
      t.is(Math.round(h.getValueAtPercentile(50)) / 1000, r.latencyMs.p50);
    } finally {
      await srv.close();
    }
  });

  // --busy-poll: one nice-19 spinner pinned to each online CPU, their CPU reported apart, and none
  // left after the run.
  test.serial(`${engine}: --busy-poll: spinners run during the run, are reported apart and are gone after it`, async (t) => {
    const srv = await scripted((_k, s) => s.write(ok()));
    try {
      const run = runRps(opts(srv.port, { rate: 200, durationSeconds: 1, busyPoll: true }));
      // Mid-run: one spinner pinned to each online CPU of the machine (the server's too).
      await new Promise((res) => setTimeout(res, 500));
      const pids = await new Promise<string>((res) => {
        let out = '';
        spawn('pgrep', ['-f', '^/proc/self/exe --spin [0-9]+$'])
          .stdout.on('data', (d: Buffer) => (out += d))
          .on('end', () => res(out));
      });
      const pinned = pids
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((p) => /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1]);
      const online = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
      const expand = (list: string) =>
        list.split(',').flatMap((x) => {
          const [a, b = a] = x.split('-').map(Number);
          return Array.from({ length: b! - a! + 1 }, (_, i) => String(a! + i));
        });
      t.deepEqual([...pinned].sort(), expand(online).sort(), `spinners pinned to ${pinned.join(' ')}; online CPUs ${online}`);
      // SCHED_IDLE (policy 5), so a waking task preempts them at once, and nice 19 (field 19 of
      // /proc/<pid>/stat), so /proc/stat books their time as nice.
      // Both are per thread: every thread of a spinner that has run must carry them (the spinning
      // goroutine is locked to its thread; the runtime's other threads stay idle).
      for (const pid of pids.trim().split('\n').filter(Boolean)) {
        t.regex(readFileSync(`/proc/${pid}/sched`, 'utf8'), /^policy\s+:\s+5$/m, `spinner ${pid} runs SCHED_IDLE`);
        for (const tid of readdirSync(`/proc/${pid}/task`)) {
          const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          if (Number(f[11]) > 2) t.is(f[16], '19', `spinner ${pid}, thread ${tid}: ${f[11]} ticks of user time at nice ${f[16]}`);
        }
      }
      const r = await run;
      t.is(r.ok, 200, r.verdict);
      t.true(r.cpu.busyPollSeconds! > 0.3, `spinners used ${r.cpu.busyPollSeconds} s`);
      t.true(r.cpu.cores < 0.5, `client cores ${r.cpu.cores} (spinners not included)`);
      const left = spawn('pgrep', ['-f', '^/proc/self/exe --spin [0-9]+$']);
      const code = await new Promise((res) => left.on('close', res));
      t.is(code, 1, 'no spinner process left');
    } finally {
      await srv.close();
    }
  });
}

// --busy-poll-around: another tool (ab, for the client's floor) under the same spinners. The
// command sees one spinner per online CPU, its exit status is passed on, and no spinner is left.
test.serial('--busy-poll-around runs a command under the spinners and passes its exit status on', async (t) => {
  const child = spawn(rpsClient(), ['--busy-poll-around', 'sh', '-c', 'sleep 0.5; pgrep -fc "^/proc/self/exe --spin [0-9]+$"; exit 3'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise((res) => child.on('close', res));
  t.is(code, 3);
  const cpus = readFileSync('/sys/devices/system/cpu/online', 'utf8')
    .trim()
    .split(',')
    .reduce((n, x) => {
      const [a, b = a] = x.split('-').map(Number);
      return n + b! - a! + 1;
    }, 0);
  t.is(out.trim(), String(cpus), 'one spinner per online CPU while the command ran');
  t.regex(err, /^busy-poll: \d+(\.\d+)? s$/m);
  const left = spawn('pgrep', ['-f', '^/proc/self/exe --spin [0-9]+$']);
  t.is(await new Promise((res) => left.on('close', res)), 1, 'no spinner process left');
  const missing = spawn(rpsClient(), ['--busy-poll-around', '/no/such/tool'], { stdio: 'ignore' });
  t.is(await new Promise((res) => missing.on('close', res)), 127, 'a command that cannot start: 127, as a shell says');
});
