// An aws run, back on the machine running Pulumi: copy the client's tarball over SSH, unpack it
// into results/<stack>/<run-id>/ and write result.json in the same schema as the embedded lab.
// The parsing half (readRunDir) is pure apart from reading the unpacked files.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { judge } from '../local/run.ts';
import { parseAb, parseTcpkali, parseWrk, ParseError } from '../workload/parsers.ts';
import { RESULT_SCHEMA_ID, RunResult, type Environment, type PointResult } from '../results/result.ts';
import type { RemoteSpec } from '../spec/schema.ts';
import { awsPoints, parseReuseLog } from './workload.ts';

/** A constant-rate point holds when the response rate is within 1 % of the target. */
export const KEPT_UP_SHARE = 0.99;

function pointFrom(dir: string, row: string[], commands: Map<string, string>): PointResult {
  const [id, tool, rep, paramsJson, exit, wall] = row as [string, PointResult['tool'], string, string, string, string];
  const params = JSON.parse(paramsJson) as PointResult['params'];
  const code = Number(exit);
  const txt = join(dir, 'raw', `${id}.txt`);
  const abLike = tool === 'ab';
  const raw = [`raw/${id}.txt`, `raw/${id}.err`, ...(abLike ? [`raw/${id}.csv`] : []), ...(tool === 'conn-reuse' ? [`raw/${id}.rollout`] : [])];
  // As the run script ran it: `bash -c` with RUN, RAW, ID, URL, HOSTPORT, CPUS and NCPUS exported.
  const base = { id, tool, repetition: Number(rep), params, wallSeconds: Number(wall), raw, command: ['bash', '-c', commands.get(id) ?? tool] };
  const empty = { requests: null, errors: null, non2xx: null, reqPerSec: null, bytesPerResponse: null, latencyMs: null, toolSeconds: null };
  const stdout = existsSync(txt) ? readFileSync(txt, 'utf8') : '';
  const stderr = existsSync(join(dir, 'raw', `${id}.err`))
    ? (readFileSync(join(dir, 'raw', `${id}.err`), 'utf8')
        .trim()
        .split('\n')[0] ?? '')
    : '';
  if ((code === 124 || code === 137) && tool !== 'conn-reuse') return { ...base, ...empty, status: 'failed', reason: 'killed at its time limit' };
  try {
    if (tool === 'tcpkali') {
      const r = parseTcpkali(stdout);
      const responses = Math.floor(r.receivedBytes / params.responseBytes);
      const reqPerSec = responses / r.seconds;
      const target = params.rate ?? 0;
      const l = r.latencyMs;
      const latencyMs = { mean: null, p50: l['50']!, p90: l['90']!, p99: l['99']!, p999: l['99.9'] ?? null, max: l['100']! };
      if ([latencyMs.p50, latencyMs.p90, latencyMs.p99, latencyMs.max].some((v) => v === undefined))
        throw new ParseError('tcpkali latency line lacks one of the 50/90/99/100 percentiles netlab asks for');
      const held = reqPerSec >= target * KEPT_UP_SHARE;
      const detail: Record<string, number> = { sentBytes: r.sentBytes, receivedBytes: r.receivedBytes };
      for (const [k, v] of Object.entries(l)) detail[`p${k}Ms`] = v;
      return {
        ...base,
        requests: responses,
        errors: null,
        non2xx: null,
        reqPerSec,
        bytesPerResponse: params.responseBytes,
        latencyMs,
        toolSeconds: r.seconds,
        detail,
        ...(code !== 0
          ? { status: 'failed' as const, reason: `tcpkali exited ${code}${stderr ? `: ${stderr}` : ''}` }
          : held
            ? { status: 'ok' as const }
            : { status: 'invalid' as const, reason: `did not keep up: ${Math.round(reqPerSec)} of ${target} req/s` }),
      };
    }
    if (tool === 'conn-reuse') {
      const rollFile = join(dir, 'raw', `${id}.rollout`);
      const rollout = existsSync(rollFile) ? Number(readFileSync(rollFile, 'utf8').trim()) : undefined;
      const m = parseReuseLog(stdout, rollout !== undefined && Number.isFinite(rollout) ? rollout : undefined);
      // reuse_load is killed at its time limit only if a worker hangs past curl's own timeout; its log still counts.
      const why = code !== 0 && code !== 124 ? { status: 'failed' as const, reason: `reuse_load exited ${code}${stderr ? `: ${stderr}` : ''}` } : judge(m);
      return { ...base, ...m, ...why };
    }
    const m = abLike ? parseAb(stdout, readFileSync(join(dir, 'raw', `${id}.csv`), 'utf8')) : parseWrk(stdout);
    const why = code !== 0 ? { status: 'failed' as const, reason: `${tool} exited ${code}${stderr ? `: ${stderr}` : ''}` } : judge(m);
    return { ...base, ...m, ...why };
  } catch (e) {
    if (!(e instanceof ParseError) && (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return { ...base, ...empty, status: 'failed', reason: `${(e as Error).message}${code ? `; exit ${code}` : ''}${stderr ? `; ${stderr}` : ''}` };
  }
}

/** Tuning steps as the host's tuning script recorded them (tuning.tsv). */
function tuningFrom(dir: string, spec: RemoteSpec): RunResult['tuning'] {
  const f = join(dir, 'tuning.tsv');
  if (!existsSync(f)) return null;
  const steps = readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [status, setting, target, asked, got, why] = line.split('\t') as [string, string, string, string, string, string];
      const kind: 'write' | 'command' | 'skip' = status === 'skipped' ? 'skip' : target.startsWith('/') ? 'write' : 'command';
      return {
        setting,
        kind,
        netns: null,
        target,
        asked: asked || null,
        got: got || null,
        previous: null,
        status: (status === 'skipped' ? 'skipped' : status === 'failed' ? 'failed' : 'applied') as 'applied' | 'skipped' | 'failed',
        optional: spec.tuning.optional.includes(setting),
        why,
      };
    });
  return { profile: spec.tuning.profile, steps, placement: null, restored: [] };
}

/** What the run script's exit trap recorded when the run failed (failure.tsv), if it did. */
export function runFailure(dir: string): { exit: string; line: string; command: string; point: string } | null {
  const f = join(dir, 'failure.tsv');
  if (!existsSync(f)) return null;
  const kv = Object.fromEntries(
    readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.split('\t')[0]!, l.split('\t').slice(1).join('\t')]),
  );
  return { exit: kv.exit ?? '?', line: kv.line ?? '?', command: kv.command ?? '?', point: kv.point ?? '' };
}

/** A spot interruption as the run script's watcher recorded it (interrupted.tsv): EC2's notice, when it was seen, the point it cut short. */
export interface RunInterruption {
  /** The notice as the instance metadata served it, e.g. {"action": "terminate", "time": "2026-11-21T10:31:02Z"}. */
  notice: string;
  /** The notice's action and time, when it parses; null otherwise. */
  action: string | null;
  time: string | null;
  /** When the watcher saw it (UTC, ISO). */
  seen: string;
  /** The point being measured then; '' between points. */
  point: string;
}

/** What the spot watcher recorded (interrupted.tsv), if it did. */
export function runInterruption(dir: string): RunInterruption | null {
  const f = join(dir, 'interrupted.tsv');
  if (!existsSync(f)) return null;
  const kv = Object.fromEntries(
    readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.split('\t')[0]!, l.split('\t').slice(1).join('\t')]),
  );
  let action: string | null = null;
  let time: string | null = null;
  try {
    const n = JSON.parse(kv.notice ?? '') as { action?: unknown; time?: unknown };
    if (typeof n.action === 'string') action = n.action;
    if (typeof n.time === 'string') time = n.time;
  } catch {
    /* not JSON: the raw notice is kept as it came */
  }
  return { notice: kv.notice ?? '', action, time, seen: kv.seen ?? '?', point: kv.point ?? '' };
}

const UNKNOWN_ENV: Omit<Environment, 'node'> = {
  hostname: 'unknown',
  kernel: 'unknown',
  os: 'unknown',
  arch: 'unknown',
  cpuModel: 'unknown',
  cpus: 0,
  memoryBytes: 0,
  tools: {},
};

/**
 * Build result.json from an unpacked run directory (points.tsv, raw/, env.json, tuning.tsv, and
 * failure.tsv when the run failed). A failed run keeps every point it measured; the points it never
 * reached are listed as failed with the reason, and the run is failed with the script's failure.
 * A run stopped by a spot interruption notice (interrupted.tsv) is `interrupted`, never ok: no point
 * of it is presented as a result (measured ones are kept, marked invalid, with their raw output).
 */
export function readRunDir(dir: string, spec: RemoteSpec, o: { runId: string; startedAt: string; finishedAt: string }): RunResult {
  const tsv = join(dir, 'points.tsv');
  const rows = existsSync(tsv)
    ? readFileSync(tsv, 'utf8')
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split('\t'))
    : [];
  const envFile = join(dir, 'env.json');
  let env = UNKNOWN_ENV;
  if (existsSync(envFile)) {
    try {
      env = JSON.parse(readFileSync(envFile, 'utf8')) as Omit<Environment, 'node'>;
    } catch {
      /* a run that died while writing it: keep the points, environment unknown */
    }
  }
  const planned = awsPoints(spec);
  const commands = new Map(planned.map((p) => [p.id, p.command]));
  const points = rows.map((r) => pointFrom(dir, r, commands));
  const failure = runFailure(dir);
  const spot = runInterruption(dir);
  if (spot)
    for (const p of points)
      if (p.status === 'ok') Object.assign(p, { status: 'invalid', reason: 'measured before a spot interruption cut the run short: kept, not a result' });
  if (failure || spot) {
    const seen = new Set(points.map((p) => p.id));
    for (const p of planned)
      if (!seen.has(p.id))
        points.push({
          id: p.id,
          tool: p.tool,
          repetition: p.repetition,
          params: p.params as PointResult['params'],
          wallSeconds: 0,
          raw: [],
          command: ['bash', '-c', p.command],
          requests: null,
          errors: null,
          non2xx: null,
          reqPerSec: null,
          bytesPerResponse: null,
          latencyMs: null,
          toolSeconds: null,
          status: 'failed',
          reason: spot
            ? p.id === spot.point
              ? 'cut short by the spot interruption notice'
              : 'not measured: the spot interruption notice stopped the run before this point'
            : `not measured: the run script stopped before this point (exit ${failure!.exit} at line ${failure!.line})`,
        });
  }
  const failed = points.filter((p) => p.status === 'failed');
  const measured = rows.length;
  const error = spot
    ? `spot interruption: EC2 gave notice${spot.action ? ` to ${spot.action}` : ''}${spot.time ? ` at ${spot.time}` : ''} (${spot.notice || 'no notice text'}), seen ${spot.seen}${spot.point ? ` during point ${spot.point}` : ' between points'}; the run stopped measuring; ${measured} of ${planned.length} points measured, kept as raw data, none presented as results`
    : failure
      ? `the run script failed (exit ${failure.exit} at line ${failure.line}: ${failure.command})${failure.point ? ` during point ${failure.point}` : ''}; ${measured} of ${planned.length} points measured and kept`
      : failed.length === points.length && points.length
        ? `every point failed; first: ${failed[0]!.reason}`
        : null;
  const result: RunResult = {
    schema: RESULT_SCHEMA_ID,
    runId: o.runId,
    stack: spec.name,
    target: 'aws',
    status: spot ? 'interrupted' : error ? 'failed' : 'ok',
    ...(error ? { error } : {}),
    startedAt: o.startedAt,
    finishedAt: o.finishedAt,
    spec: spec as unknown as Record<string, unknown>,
    environment: { ...env, node: 'none (client host of the EC2 pair)', tools: Object.fromEntries(Object.entries(env.tools).map(([k, v]) => [k, v || null])) },
    setup: null,
    teardown: null,
    proxy: null,
    tuning: tuningFrom(dir, spec),
    points,
  };
  return RunResult.parse(result);
}

/** `20261121T101500Z` (the run script's id) → ISO time. */
export function runIdTime(runId: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(runId);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z` : new Date().toISOString();
}

/** Unpack a run tarball into results/<stack>/<run-id>/ and write result.json there; returns the directory. */
export function collectTarball(tgz: string, spec: RemoteSpec, resultsRoot: string): string {
  const runId = basename(tgz).replace(/\.tgz$/, '');
  const dir = join(resultsRoot, spec.name, runId);
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', tgz, '-C', dir]);
  const result = readRunDir(dir, spec, { runId, startedAt: runIdTime(runId), finishedAt: new Date().toISOString() });
  writeFileSync(join(dir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  return dir;
}

/** Where the run step leaves a run's tarball on the client host. */
export const RUN_TARBALL = /^\/var\/lib\/netlab\/runs\/\d{8}T\d{6}Z\.tgz$/;

/** Copy the tarball from the client host (key from NETLAB_SSH_KEY, never written outside a 0700 temp dir). */
export function fetchTarball(o: { host: string; user: string; port?: number; remote: string; key: string }): string {
  if (!RUN_TARBALL.test(o.remote)) throw new Error(`not a netlab run tarball path: ${JSON.stringify(o.remote)}`);
  const tmp = mkdtempSync(join(tmpdir(), 'netlab-collect-'));
  try {
    const keyFile = join(tmp, 'key');
    writeFileSync(keyFile, o.key.endsWith('\n') ? o.key : `${o.key}\n`, { mode: 0o600 });
    const local = join(tmp, basename(o.remote));
    execFileSync(
      'scp',
      [
        '-q',
        '-P',
        String(o.port ?? 22),
        '-i',
        keyFile,
        '-o',
        'StrictHostKeyChecking=accept-new',
        '-o',
        `UserKnownHostsFile=${join(tmp, 'known_hosts')}`,
        '-o',
        'ConnectTimeout=20',
        `${o.user}@${o.host}:${o.remote}`,
        local,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 },
    );
    rmSync(keyFile);
    return local;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
