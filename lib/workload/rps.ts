// `rps`: netlab's open-loop HTTP/1.1 load client (the E1 client). The client itself is compiled
// Go (tools/rps/main.go, built into the tools cache by scripts/build-rps.sh): a Node.js client
// added ~0.13 ms of its own to every request, more than the effects the lab measures (README,
// "The constant-rate client"). This file holds its report's type, finds the binary built from
// this checkout's sources, and runs it.
//
// What the client does: requests are scheduled at a fixed rate whatever the server does; each
// request's latency is measured from its intended send time, so a stall delays the clock of every
// request behind it (coordinated omission corrected), and recorded in HDR histograms. Connections
// carry a fixed number of requests each (1 = a new connection per request), and their connect
// times are kept apart, so 1 s SYN-retransmit stalls (E3) are visible.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toolsCache } from '../core/project.ts';
import { PROJECT_DIR } from '../spec/stackfile.ts';

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
  /** Keep the client's CPUs out of idle with nice-19 spinner processes (README, "The constant-rate client"). */
  busyPoll?: boolean;
  /** The client's I/O engine: `epoll` (the default: one thread, its own epoll loop, hot while a
   * request is in flight) or `goroutines` (a goroutine per connection on Go's netpoller). */
  engine?: 'epoll' | 'goroutines';
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

export type ConnectCause = 'dns' | 'refused' | 'unreachable' | 'other';

export interface RpsReport {
  tool: 'rps';
  /** Which client produced the report: `go` (tools/rps). Reports written before it have none (the Node.js client). */
  impl?: 'go' | 'go-epoll';
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
  /** The client process's own CPU over the run; with --busy-poll its spinners' CPU apart. */
  cpu: { userSeconds: number; systemSeconds: number; cores: number; busyPollSeconds?: number };
  /** Latency histogram, HdrHistogram compressed base64, µs. */
  histogram: string;
}

/**
 * The Go runtime sleeps in whole milliseconds (epoll timeouts), so a request can leave up to
 * ~1 ms after its slot even on an idle client. That lateness is not charged to the request;
 * lateness beyond it (a busy client, a request waiting for a free connection) is. See `latencyMs`.
 */
export const TIMER_SLACK_MS = 1;

export class RpsClientMissing extends Error {
  override name = 'RpsClientMissing';
}

const SOURCE_DIR = join(PROJECT_DIR, 'tools', 'rps');

/** Hash of the client's sources: go.mod, go.sum, then the non-test .go files in C order (as scripts/build-rps.sh). */
export function rpsSourceHash(dir = SOURCE_DIR): string {
  const h = createHash('sha256');
  const go = readdirSync(dir)
    .filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'))
    .sort();
  for (const f of ['go.mod', 'go.sum', ...go]) h.update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 16);
}

/** Where the client built from this checkout's sources lives (whether or not it is built yet). */
export function rpsClientPath(): string {
  return join(toolsCache(), `rps-${rpsSourceHash()}`, 'netlab-rps');
}

/** The client built from this checkout's sources; a clear error saying how to build it when it is not. */
export function rpsClient(): string {
  const path = rpsClientPath();
  if (!existsSync(path))
    throw new RpsClientMissing(
      `the load client is not built for this checkout (${path} is missing): run bash scripts/build-rps.sh (or npm run tools); it needs Go >= 1.25`,
    );
  return path;
}

/** The client's flags for these options (the same as `netlab rps`'s). */
export function rpsFlags(o: RpsOptions): string[] {
  const a = [
    `http://${o.host}:${o.port}${o.path}`,
    '--rate',
    String(o.rate),
    '--duration',
    String(o.durationSeconds),
    '--requests-per-connection',
    String(o.requestsPerConnection),
    '--hosts',
    String(o.hosts),
    '--max-connections',
    String(o.maxConnections),
    '--timeout',
    String(o.timeoutMs),
  ];
  if (o.expectBodyBytes !== undefined) a.push('--expect-body', String(o.expectBodyBytes));
  if (o.busyPoll) a.push('--busy-poll', 'true');
  if (o.engine) a.push('--engine', o.engine);
  return a;
}

/** Run the client; its report (the JSON line it prints). */
export function runRps(o: RpsOptions, binary = rpsClient()): Promise<RpsReport & { exitCode: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, rpsFlags(o), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{"tool":"rps"'));
      if (!line) return reject(new Error(`${binary} printed no report (exit ${code}): ${err.trim()}`));
      resolve({ ...(JSON.parse(line) as RpsReport), exitCode: code, stderr: err });
    });
  });
}
