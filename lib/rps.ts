// `rps`: an open-loop HTTP/1.1 load client (the E1 client). Requests are scheduled at a fixed
// rate whatever the server does; each request's latency is measured from its intended send time,
// so a stall delays the clock of every request behind it (coordinated omission corrected), and
// recorded in HDR histograms. Connections carry a fixed number of requests each (1 = a new
// connection per request), and their connect times are kept apart, so 1 s SYN-retransmit stalls
// (E3) are visible.
//
// Raw sockets rather than an HTTP library: the client must decide exactly how many requests a
// connection carries, time connect() on its own, and spread connections over a range of
// addresses; the responses are nginx static files with Content-Length, so the parser is small.
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { intToIp, ipToInt } from './spec.ts';

export interface RpsOptions {
  /** First target address; with `hosts` > 1, each connection picks one of `hosts` consecutive addresses at random. */
  host: string;
  hosts: number;
  port: number;
  path: string;
  rate: number;
  durationSeconds: number;
  /** Requests one connection carries before the client closes it; 1 sends `Connection: close`. */
  requestsPerConnection: number;
  /** Open connections allowed at once; a request that finds none free waits (and its latency grows). */
  maxConnections: number;
  timeoutMs: number;
  /** Count a response whose body is not exactly this many bytes as an error. */
  expectBodyBytes?: number;
  /** Count but do not record the first seconds (none by default). */
  warmupSeconds?: number;
}

export interface Percentiles {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  p9999: number;
  max: number;
  count: number;
}

export interface RpsReport {
  tool: 'rps';
  targetRate: number;
  durationSeconds: number;
  requestsPerConnection: number;
  planned: number;
  sent: number;
  ok: number;
  /** Failed requests by kind: `connect` = the connection was never made (why: `connectErrors`), `reset` = it broke before the response. */
  errors: { connect: number; timeout: number; reset: number; http: number; size: number };
  /** Why connections could not be made (they count in errors.connect). */
  connectErrors: Record<ConnectCause, number>;
  firstError: string | null;
  achievedRate: number;
  /** achievedRate within 1 % of targetRate. */
  keptUp: boolean;
  verdict: string;
  connections: number;
  /**
   * Intended send time → response complete, ms: coordinated-omission corrected (a stall delays
   * every request scheduled behind it), except for the first TIMER_SLACK_MS of scheduler lateness.
   */
  latencyMs: Percentiles;
  /** Hand-out (connect start, or write on an open connection) → response complete, ms: what a closed-loop tool reports. */
  serviceMs: Percentiles;
  /** connect() start → established, per connection, ms. */
  connectMs: Percentiles;
  /** Connections whose connect took ≥ 900 ms (a lost SYN is retransmitted after 1 s). */
  connectStalls: number;
  /** How late requests left the client compared with their schedule, ms. */
  lagMs: Percentiles;
  /** The client process's own CPU over the run. */
  cpu: { userSeconds: number; systemSeconds: number; cores: number };
  /** Latency histogram, HdrHistogram compressed base64, µs. */
  histogram: string;
}

export type ConnectCause = 'dns' | 'refused' | 'unreachable' | 'other';

const CAUSE_OF: Record<string, ConnectCause> = {
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NODATA: 'dns',
  EAI_NONAME: 'dns',
  ECONNREFUSED: 'refused',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
};

const CAUSE_TEXT: Record<ConnectCause, string> = {
  dns: 'the name does not resolve',
  refused: 'connection refused, nothing listens there',
  unreachable: 'no route to the address',
  other: 'could not connect',
};

/** A socket error as the report counts it: before the connection was made, a connect failure and its cause; after, a reset. */
export function classifySocketError(code: string | undefined, established: boolean): { kind: 'connect' | 'timeout' | 'reset'; cause: ConnectCause | null; text: string } {
  if (code === 'ETIMEDOUT') return { kind: 'timeout', cause: null, text: 'timed out in the kernel' };
  if (established) return { kind: 'reset', cause: null, text: code === 'ECONNRESET' ? 'connection reset' : 'connection broken' };
  const cause = CAUSE_OF[code ?? ''] ?? 'other';
  return { kind: 'connect', cause, text: CAUSE_TEXT[cause] };
}

/**
 * Node's timers fire on whole milliseconds, so a request leaves up to ~1 ms after its slot even
 * on an idle client. That quantization is not charged to the request; lateness beyond it (a busy
 * client, a request waiting for a free connection) is. See `latencyMs`.
 */
export const TIMER_SLACK_MS = 1;

interface Req {
  intended: number;
  /** When the scheduler handed the request out (connect start for a new connection). */
  due: number;
  sent: number;
  timer?: NodeJS.Timeout;
}

const newHist = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

function percentiles(h: hdr.Histogram): Percentiles {
  const ms = (us: number) => Math.round(us) / 1000;
  if (h.totalCount === 0) return { mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, p9999: 0, max: 0, count: 0 };
  return {
    mean: Math.round(h.mean) / 1000,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    p9999: ms(h.getValueAtPercentile(99.99)),
    max: ms(h.maxValue),
    count: h.totalCount,
  };
}

/** Parse one HTTP/1.1 response head; null while incomplete. */
export function parseHead(buf: Buffer): { headBytes: number; status: number; contentLength: number; close: boolean } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const close = /\r\nconnection:\s*close/i.test(head);
  return { headBytes: end + 4, status, contentLength: cl ? Number(cl[1]) : NaN, close };
}

export function runRps(o: RpsOptions): Promise<RpsReport> {
  const lat = newHist();
  const svc = newHist();
  const conn = newHist();
  const lag = newHist();
  const planned = Math.round(o.rate * o.durationSeconds);
  const interval = 1000 / o.rate;
  const recordFrom = (o.warmupSeconds ?? 0) * 1000;
  const errors = { connect: 0, timeout: 0, reset: 0, http: 0, size: 0 };
  const connectErrors: Record<ConnectCause, number> = { dns: 0, refused: 0, unreachable: 0, other: 0 };
  let firstError: string | null = null;
  let sent = 0;
  let ok = 0;
  let connections = 0;
  let stalls = 0;
  let lastSend = 0;
  let open = 0;
  const queue: Req[] = [];
  const idle: Conn[] = [];
  const base = ipToInt(o.host);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now() + 20;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let dispatched = 0;

  const fail = (kind: keyof typeof errors, why: string, cause: ConnectCause = 'other') => {
    errors[kind]++;
    if (kind === 'connect') connectErrors[cause]++;
    firstError ??= why;
  };

  class Conn {
    sock: Socket;
    served = 0;
    current: Req | null = null;
    buf: Buffer = Buffer.alloc(0);
    dead = false;
    established = false;
    constructor(first: Req) {
      open++;
      connections++;
      const ip = o.hosts > 1 ? intToIp(base + Math.floor(Math.random() * o.hosts)) : o.host;
      const c0 = performance.now();
      this.current = first;
      this.sock = connect({ host: ip, port: o.port, noDelay: true });
      this.sock.once('connect', () => {
        this.established = true;
        const took = performance.now() - c0;
        conn.recordValue(Math.max(1, Math.round(took * 1000)));
        if (took >= 900) stalls++;
        if (this.current) this.send(this.current);
      });
      this.sock.on('data', (d) => this.onData(d));
      this.sock.on('error', (e: NodeJS.ErrnoException) => {
        const c = classifySocketError(e.code, this.established);
        this.die(c.kind, `${ip}:${o.port}: ${c.text} (${e.code ?? e.message})`, c.cause ?? undefined);
      });
      this.sock.on('close', () => this.die(this.established ? 'reset' : 'connect', `${ip}:${o.port}: connection closed before the response`));
      // One time limit covers connect and response.
      first.timer = setTimeout(() => this.die('timeout', `no connection or response within ${o.timeoutMs} ms`), o.timeoutMs);
    }
    send(r: Req) {
      this.current = r;
      r.sent = performance.now();
      lastSend = r.sent;
      this.served++;
      const last = this.served >= o.requestsPerConnection;
      this.sock.write(`GET ${o.path} HTTP/1.1\r\nHost: ${o.host}\r\nUser-Agent: netlab-rps\r\n${last ? 'Connection: close\r\n' : ''}\r\n`);
      r.timer ??= setTimeout(() => this.die('timeout', `no response within ${o.timeoutMs} ms`), o.timeoutMs);
    }
    onData(d: Buffer) {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      const r = this.current;
      if (!r) return;
      const h = parseHead(this.buf);
      if (!h) return;
      if (!Number.isFinite(h.contentLength)) return this.die('http', 'response without Content-Length');
      const total = h.headBytes + h.contentLength;
      if (this.buf.length < total) return;
      const now = performance.now();
      clearTimeout(r.timer);
      this.current = null;
      this.buf = this.buf.subarray(total);
      if (h.status < 200 || h.status > 299) fail('http', `HTTP ${h.status}`);
      else if (o.expectBodyBytes !== undefined && h.contentLength !== o.expectBodyBytes) fail('size', `body of ${h.contentLength} B, expected ${o.expectBodyBytes} B`);
      else {
        ok++;
        if (r.intended - t0 >= recordFrom) {
          lat.recordValue(Math.max(1, Math.round((now - Math.min(r.due, r.intended + TIMER_SLACK_MS)) * 1000)));
          svc.recordValue(Math.max(1, Math.round((now - r.due) * 1000)));
        }
      }
      settle();
      if (h.close || this.served >= o.requestsPerConnection) this.retire();
      else this.free();
    }
    free() {
      const next = queue.shift();
      if (next) this.send(next);
      else idle.push(this);
    }
    retire() {
      if (this.dead) return;
      this.dead = true;
      open--;
      this.sock.removeAllListeners('close');
      this.sock.on('error', () => {});
      this.sock.end();
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      const next = queue.shift();
      if (next) new Conn(next);
    }
    die(kind: keyof typeof errors, why: string, cause?: ConnectCause) {
      if (this.dead) return;
      if (this.current) {
        clearTimeout(this.current.timer);
        this.current = null;
        fail(kind, why, cause);
        settle();
      }
      this.sock.destroy();
      this.retire();
    }
  }

  let settled = 0;
  function settle() {
    settled++;
    if (dispatched === planned && settled === planned) done();
  }

  function dispatch(r: Req) {
    sent++;
    const c = idle.pop();
    if (c) c.send(r);
    else if (open < o.maxConnections) new Conn(r);
    else queue.push(r);
  }

  function tick() {
    const now = performance.now();
    const due = Math.min(planned, Math.floor((now - t0) / interval) + 1);
    while (dispatched < due) {
      const r: Req = { intended: t0 + dispatched * interval, due: now, sent: 0 };
      lag.recordValue(Math.max(1, Math.round((now - r.intended) * 1000)));
      dispatched++;
      dispatch(r);
    }
    if (dispatched < planned) setTimeout(tick, Math.max(0, t0 + dispatched * interval - performance.now()));
    else if (settled === planned) done();
  }
  setTimeout(tick, Math.max(0, t0 - performance.now()));

  // Hard bound on the whole run whatever happens.
  const hard = setTimeout(() => {
    const stuck = queue.splice(0).length;
    for (let i = 0; i < stuck; i++) fail('timeout', 'still queued at the end of the run');
    settled += stuck;
    done();
  }, o.durationSeconds * 1000 + o.timeoutMs + 5000);

  return finished.then(() => {
    clearTimeout(hard);
    const cpu = process.cpuUsage(cpu0);
    const wall = (performance.now() - t0) / 1000;
    for (const c of idle.splice(0)) c.retire();
    const window = Math.max(o.durationSeconds, (lastSend - t0) / 1000 + interval / 1000);
    const achievedRate = ok / window;
    const keptUp = Math.abs(achievedRate - o.rate) / o.rate <= 0.01;
    const pct = ((achievedRate - o.rate) / o.rate) * 100;
    const verdict = !ok
      ? `no request succeeded: all ${sent} failed (first: ${firstError})`
      : keptUp
      ? `held ${o.rate} req/s (achieved ${achievedRate.toFixed(1)}, ${pct >= 0 ? '+' : ''}${pct.toFixed(2)} %)`
      : `did not hold ${o.rate} req/s: achieved ${achievedRate.toFixed(1)} req/s (${pct.toFixed(1)} %)` +
        (sent - ok > planned * 0.01 ? `; ${sent - ok} requests failed (first: ${firstError})` : '; the client or the server could not keep up') +
        '. Latencies are for the achieved rate, not the target.';
    return {
      tool: 'rps',
      targetRate: o.rate,
      durationSeconds: o.durationSeconds,
      requestsPerConnection: o.requestsPerConnection,
      planned,
      sent,
      ok,
      errors,
      connectErrors,
      firstError,
      achievedRate: Math.round(achievedRate * 100) / 100,
      keptUp,
      verdict,
      connections,
      latencyMs: percentiles(lat),
      serviceMs: percentiles(svc),
      connectMs: percentiles(conn),
      connectStalls: stalls,
      lagMs: percentiles(lag),
      cpu: { userSeconds: cpu.user / 1e6, systemSeconds: cpu.system / 1e6, cores: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 1000) / 1000 },
      histogram: hdr.encodeIntoCompressedBase64(lat),
    } satisfies RpsReport;
  });
}
