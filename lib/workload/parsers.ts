// Parsers for the load tools' raw output. Pure: text in, numbers out; anything missing is an
// error naming what was expected, never a silent zero.
import type { RpsReport } from './rps.ts';

export interface Measured {
  /** Responses received (wrk, ab: complete requests; rps: every request that ended, however). */
  requests: number;
  /** Requests the tool tried: completed ones plus those lost before any response (a failed connect, a reset). */
  attempts: number;
  errors: number;
  non2xx: number;
  reqPerSec: number;
  /** Mean bytes per response, headers included, where the tool reports it. */
  bytesPerResponse: number | null;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; p999: number | null; max: number };
  /** Seconds the tool measured for (its own figure). */
  toolSeconds: number;
  /** Tool-specific extras worth keeping (error breakdown, keep-alive count …). */
  detail: Record<string, number>;
}

export class ParseError extends Error {
  override name = 'ParseError';
}

function num(text: string, re: RegExp, what: string): number {
  const m = re.exec(text);
  if (!m) throw new ParseError(`${what} not found in the tool's output`);
  const v = Number(m[1]);
  if (!Number.isFinite(v)) throw new ParseError(`${what}: ${JSON.stringify(m[1])} is not a number`);
  return v;
}

function optNum(text: string, re: RegExp): number {
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * ApacheBench: the text report plus the `-e` CSV (percent → ms with µs resolution). ab's CSV has
 * whole percents only, so p99.9 is not available (null) rather than guessed.
 */
export function parseAb(stdout: string, csv: string): Measured {
  const complete = num(stdout, /^Complete requests:\s+(\d+)/m, 'ab "Complete requests"');
  const failed = num(stdout, /^Failed requests:\s+(\d+)/m, 'ab "Failed requests"');
  const non2xx = optNum(stdout, /^Non-2xx responses:\s+(\d+)/m);
  // ab counts a failed connect (with -r) in "Failed requests" but not in "Complete requests";
  // receive, length and exception failures are among the complete ones.
  const connectFailed = optNum(stdout, /^\s+\(Connect: (\d+),/m);
  const rps = num(stdout, /^Requests per second:\s+([\d.]+)/m, 'ab "Requests per second"');
  const mean = num(stdout, /^Time per request:\s+([\d.]+) \[ms\] \(mean\)$/m, 'ab "Time per request (mean)"');
  const taken = num(stdout, /^Time taken for tests:\s+([\d.]+) seconds/m, 'ab "Time taken for tests"');
  const transferred = num(stdout, /^Total transferred:\s+(\d+) bytes/m, 'ab "Total transferred"');
  const keepAlive = optNum(stdout, /^Keep-Alive requests:\s+(\d+)/m);
  const pct = new Map<number, number>();
  for (const line of csv.split('\n')) {
    const m = /^(\d+),([\d.]+)$/.exec(line.trim());
    if (m) pct.set(Number(m[1]), Number(m[2]));
  }
  const at = (p: number) => {
    const v = pct.get(p);
    if (v === undefined) throw new ParseError(`ab CSV has no ${p}% row`);
    return v;
  };
  return {
    requests: complete,
    attempts: complete + connectFailed,
    errors: failed,
    non2xx,
    reqPerSec: rps,
    bytesPerResponse: complete > 0 ? transferred / complete : null,
    latencyMs: { mean, p50: at(50), p90: at(90), p99: at(99), p999: null, max: at(100) },
    toolSeconds: taken,
    detail: { keepAliveRequests: keepAlive },
  };
}

interface WrkJson {
  duration_us: number;
  requests: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { min: number; max: number; mean: number; stdev: number; p50: number; p90: number; p99: number; p999: number };
}

/** wrk: the NETLAB_JSON line printed by our `done` hook (wrk-report.lua). */
export function parseWrk(stdout: string): Measured {
  const line = stdout.split('\n').find((l) => l.startsWith('NETLAB_JSON '));
  if (!line) {
    const why = stdout.split('\n').find((l) => /unable to connect|error|No route/i.test(l));
    throw new ParseError(`wrk printed no NETLAB_JSON summary line${why ? ` (${why.trim()})` : ''}`);
  }
  let j: WrkJson;
  try {
    j = JSON.parse(line.slice('NETLAB_JSON '.length)) as WrkJson;
  } catch {
    throw new ParseError('wrk NETLAB_JSON line is not valid JSON');
  }
  const e = j.errors;
  const ms = (us: number) => us / 1000;
  const secs = j.duration_us / 1e6;
  // wrk counts a non-2xx/3xx response as a "status" error; connect/read/write/timeout are
  // socket-level errors.
  return {
    requests: j.requests,
    // wrk's socket errors are not among its completed requests.
    attempts: j.requests + e.connect + e.read + e.write + e.timeout,
    errors: e.connect + e.read + e.write + e.timeout,
    non2xx: e.status,
    reqPerSec: secs > 0 ? j.requests / secs : 0,
    bytesPerResponse: j.requests > 0 ? j.bytes / j.requests : null,
    latencyMs: {
      mean: ms(j.latency_us.mean),
      p50: ms(j.latency_us.p50),
      p90: ms(j.latency_us.p90),
      p99: ms(j.latency_us.p99),
      p999: ms(j.latency_us.p999),
      max: ms(j.latency_us.max),
    },
    toolSeconds: secs,
    detail: { ...e, latencyStdevMs: ms(j.latency_us.stdev), latencyMinMs: ms(j.latency_us.min) },
  };
}

/** netlab rps: its one JSON line (the RpsReport). Returns the common figures and the report. */
export function parseRps(stdout: string): Measured & { report: RpsReport } {
  const line = stdout.split('\n').find((l) => l.startsWith('{"tool":"rps"'));
  if (!line) throw new ParseError('rps printed no JSON report line');
  let r: RpsReport;
  try {
    r = JSON.parse(line) as RpsReport;
  } catch {
    throw new ParseError('rps report line is not valid JSON');
  }
  const e = r.errors;
  if (typeof r.ok !== 'number' || !e || !r.latencyMs) throw new ParseError('rps report lacks ok/errors/latencyMs');
  const ended = r.ok + e.connect + e.timeout + e.reset + e.http + e.size;
  return {
    // rps counts every request that ended, however: they are its attempts too.
    requests: ended,
    attempts: ended,
    errors: e.connect + e.timeout + e.reset,
    non2xx: e.http + e.size,
    reqPerSec: r.achievedRate,
    bytesPerResponse: null,
    latencyMs: { mean: r.latencyMs.mean, p50: r.latencyMs.p50, p90: r.latencyMs.p90, p99: r.latencyMs.p99, p999: r.latencyMs.p999, max: r.latencyMs.max },
    toolSeconds: r.durationSeconds,
    detail: { ...e, p9999Ms: r.latencyMs.p9999 },
    report: r,
  };
}

export interface TcpkaliReport {
  sentBytes: number;
  receivedBytes: number;
  /** Steady-state seconds tcpkali measured (after ramp-up). */
  seconds: number;
  /** Percentile ("99.9") → latency in ms, from `--latency-percentiles`. */
  latencyMs: Record<string, number>;
}

/**
 * tcpkali's closing summary. Byte totals are exact; the latency line is what `--latency-marker`
 * measured (request sent → marker seen), at the percentiles asked with `--latency-percentiles`.
 */
export function parseTcpkali(stdout: string): TcpkaliReport {
  const sentBytes = num(stdout, /Total data sent:.*\((\d+) bytes\)/, 'tcpkali "Total data sent"');
  const receivedBytes = num(stdout, /Total data received:.*\((\d+) bytes\)/, 'tcpkali "Total data received"');
  const seconds = num(stdout, /Test duration:\s*([\d.]+) s/, 'tcpkali "Test duration"');
  const m = /Message latency at percentiles:\s*([\d./]+) ms \(([\d./]+)%\)/.exec(stdout);
  if (!m) throw new ParseError('tcpkali "Message latency at percentiles" not found in the output (was --latency-marker given?)');
  const values = m[1]!.split('/').map(Number);
  const labels = m[2]!.split('/');
  if (values.length !== labels.length || values.some((v) => !Number.isFinite(v)))
    throw new ParseError(`tcpkali latency line does not pair values with percentiles: ${JSON.stringify(m[0])}`);
  const latencyMs: Record<string, number> = {};
  labels.forEach((l, i) => (latencyMs[String(Number(l))] = values[i]!));
  return { sentBytes, receivedBytes, seconds, latencyMs };
}
